/* replay_test.c - the sliding replay window, alone and behind the keyring. */
#include "crypto/replay.h"
#include "crypto/keyring.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <sodium.h>

static void
test_in_order (void **state)
{
    shed_replay_t r;
    shed_replay_init (&r);
    for (uint64_t c = 1; c <= 10000; c++)
        assert_true (shed_replay_check (&r, c));
    assert_int_equal (r.top, 10000);
}

static void
test_duplicates (void **state)
{
    shed_replay_t r;
    shed_replay_init (&r);
    assert_true (shed_replay_check (&r, 5));
    assert_false (shed_replay_check (&r, 5));
    assert_true (shed_replay_check (&r, 6));
    assert_false (shed_replay_check (&r, 5));
    assert_false (shed_replay_check (&r, 6));
    //  Every counter of a long run is rejected the second time.
    for (uint64_t c = 7; c < 3000; c++)
        assert_true (shed_replay_check (&r, c));
    for (uint64_t c = 3000 - SHED_REPLAY_ACCEPT + 1; c < 3000; c++)
        assert_false (shed_replay_check (&r, c));
}

static void
test_out_of_order (void **state)
{
    shed_replay_t r;
    shed_replay_init (&r);
    assert_true (shed_replay_check (&r, 1000));
    //  Everything within the window behind the top is accepted once, in any
    //  order (here: descending, then interleaved), and only once.
    for (uint64_t c = 999; c > 1000 - 500; c -= 2)
        assert_true (shed_replay_check (&r, c));
    for (uint64_t c = 998; c > 1000 - 500; c -= 2)
        assert_true (shed_replay_check (&r, c));
    for (uint64_t c = 999; c > 1000 - 500; c--)
        assert_false (shed_replay_check (&r, c));
    //  A higher one, then the gap just below it.
    assert_true (shed_replay_check (&r, 1100));
    for (uint64_t c = 1099; c > 1000; c--)
        assert_true (shed_replay_check (&r, c));
    assert_false (shed_replay_check (&r, 1000));
}

static void
test_window_edge (void **state)
{
    shed_replay_t r;
    shed_replay_init (&r);
    //  Try every alignment of the top within a block.
    for (uint64_t top = 5000; top < 5000 + 64; top++) {
        shed_replay_init (&r);
        assert_true (shed_replay_check (&r, top));
        //  The oldest counter still inside the guaranteed window.
        assert_true (shed_replay_check (&r, top - (SHED_REPLAY_ACCEPT - 1)));
        assert_false (shed_replay_check (&r, top - (SHED_REPLAY_ACCEPT - 1)));
        //  One further back: too old.
        assert_false (shed_replay_check (&r, top - SHED_REPLAY_ACCEPT));
        assert_false (shed_replay_check (&r, 0));
    }
}

static void
test_too_old (void **state)
{
    shed_replay_t r;
    shed_replay_init (&r);
    assert_true (shed_replay_check (&r, 100));
    assert_true (shed_replay_check (&r, 100 + SHED_REPLAY_WINDOW * 4));
    //  Never seen, but far behind the top: rejected.
    assert_false (shed_replay_check (&r, 100));
    assert_false (shed_replay_check (&r, 101));
    assert_false (shed_replay_check (&r, 100 + SHED_REPLAY_WINDOW * 3));
}

static void
test_big_jump (void **state)
{
    shed_replay_t r;
    shed_replay_init (&r);
    //  Fill the whole ring, then jump exactly to where the ring wraps onto
    //  old blocks: stale bits must not make new counters look seen.
    for (uint64_t c = 0; c < SHED_REPLAY_WINDOW; c++)
        assert_true (shed_replay_check (&r, c));
    uint64_t jump = SHED_REPLAY_WINDOW * 2;
    assert_true (shed_replay_check (&r, jump));
    for (uint64_t c = jump - 1; c > jump - SHED_REPLAY_ACCEPT; c--)
        assert_true (shed_replay_check (&r, c));
    //  Jumps of every size up to more than a ring, on a full bitmap.
    for (uint64_t step = 1; step < SHED_REPLAY_WINDOW + 200; step += 61) {
        shed_replay_init (&r);
        for (uint64_t c = 10000; c < 10000 + SHED_REPLAY_WINDOW; c++)
            assert_true (shed_replay_check (&r, c));
        uint64_t top = 10000 + SHED_REPLAY_WINDOW - 1;
        assert_true (shed_replay_check (&r, top + step));
        //  Between old top and new top: new if inside the window, else too old.
        for (uint64_t c = top + 1; c < top + step; c++)
            assert_int_equal (shed_replay_check (&r, c), top + step - c < SHED_REPLAY_ACCEPT);
        //  Old counters still inside the window remain seen.
        for (uint64_t c = top + step - SHED_REPLAY_ACCEPT + 1; c <= top; c++)
            assert_false (shed_replay_check (&r, c));
    }
}

static void
test_counter_zero (void **state)
{
    shed_replay_t r;
    shed_replay_init (&r);
    assert_true (shed_replay_check (&r, 0));
    assert_false (shed_replay_check (&r, 0));
    assert_true (shed_replay_check (&r, 1));
    //  0 after a later first counter is fine while inside the window.
    shed_replay_init (&r);
    assert_true (shed_replay_check (&r, 7));
    assert_true (shed_replay_check (&r, 0));
    assert_false (shed_replay_check (&r, 0));
    assert_false (shed_replay_check (&r, 7));
}

static void
test_near_max (void **state)
{
    shed_replay_t r;
    shed_replay_init (&r);
    uint64_t base = UINT64_MAX - 3000;
    assert_true (shed_replay_check (&r, base));
    assert_true (shed_replay_check (&r, UINT64_MAX - 1));
    assert_true (shed_replay_check (&r, UINT64_MAX));
    assert_false (shed_replay_check (&r, UINT64_MAX));
    assert_false (shed_replay_check (&r, UINT64_MAX - 1));
    assert_true (shed_replay_check (&r, UINT64_MAX - 2));
    assert_false (shed_replay_check (&r, base)); //  too old now
    assert_false (shed_replay_check (&r, 0));
    assert_true (shed_replay_check (&r, UINT64_MAX - SHED_REPLAY_ACCEPT + 1));
    assert_false (shed_replay_check (&r, UINT64_MAX - SHED_REPLAY_ACCEPT));
    //  Straight from 0 to the maximum.
    shed_replay_init (&r);
    assert_true (shed_replay_check (&r, 0));
    assert_true (shed_replay_check (&r, UINT64_MAX));
    assert_false (shed_replay_check (&r, 0));
    assert_true (shed_replay_check (&r, UINT64_MAX - 5));
}

static void
test_random_against_model (void **state)
{
    //  Compare with a naive model: a set of accepted counters plus the rule
    //  "reject if >= ACCEPT behind the top". Counters stay within a small
    //  range so duplicates and out-of-order arrivals are common.
    enum { RANGE = 20000 };
    static bool seen[RANGE];
    memset (seen, 0, sizeof seen);
    shed_replay_t r;
    shed_replay_init (&r);
    uint64_t top = 0;
    bool any = false;
    uint64_t base = 0;
    for (int i = 0; i < 200000; i++) {
        //  Drift forward slowly with jitter of up to about 1.5 windows.
        base = (uint64_t) i / 12;
        uint64_t jitter = randombytes_uniform (3000);
        uint64_t c = base + jitter;
        if (c >= RANGE)
            break;
        bool want;
        if (!any || c > top)
            want = true;
        else if (top - c >= SHED_REPLAY_ACCEPT)
            want = false;
        else
            want = !seen[c];
        bool got = shed_replay_check (&r, c);
        if (got != want)
            fail_msg ("step %d counter %llu top %llu: got %d want %d", i, (unsigned long long) c,
                      (unsigned long long) top, got, want);
        if (got) {
            seen[c] = true;
            if (!any || c > top)
                top = c;
            any = true;
        }
    }
}

//  --------------------------------------------------------------------------
//  The replay filter behind the keyring, as a receiver uses them together:
//  open (authenticate) first, only then check the counter.

/* Receiver: returns true if the datagram is accepted. */
static bool
s_receive (const shed_keyring_t *ring, shed_replay_t *window, const uint8_t *dgram, size_t len,
           int *seal_rc)
{
    uint8_t pt[256];
    size_t ptlen = 0;
    *seal_rc = shed_keyring_open (ring, NULL, 0, dgram, len, pt, sizeof pt, &ptlen, NULL);
    if (*seal_rc != SHED_SEAL_OK)
        return false; //  never touches the window
    if (ptlen < 8)
        return false;
    uint64_t counter = 0;
    for (int i = 0; i < 8; i++)
        counter = counter << 8 | pt[i];
    return shed_replay_check (window, counter);
}

/* Sender: seal [counter BE64 | payload]. */
static size_t
s_send (const shed_keyring_t *ring, uint64_t counter, const char *payload, uint8_t *out, size_t cap)
{
    uint8_t pt[256];
    for (int i = 0; i < 8; i++)
        pt[i] = (uint8_t) (counter >> (56 - 8 * i));
    size_t plen = strlen (payload);
    memcpy (pt + 8, payload, plen);
    size_t outlen = 0;
    assert_int_equal (shed_keyring_seal (ring, NULL, 0, pt, 8 + plen, out, cap, &outlen),
                      SHED_SEAL_OK);
    return outlen;
}

static void
test_replay_of_sealed_datagram (void **state)
{
    uint8_t key[SHED_KEY_BYTES];
    shed_keyring_generate (key);
    shed_keyring_t *sender = shed_keyring_new ();
    shed_keyring_t *receiver = shed_keyring_new ();
    assert_int_equal (shed_keyring_install (sender, key), SHED_KR_OK);
    assert_int_equal (shed_keyring_install (receiver, key), SHED_KR_OK);
    shed_replay_t window;
    shed_replay_init (&window);
    int rc;

    uint8_t d1[128], d2[128], d3[128];
    size_t l1 = s_send (sender, 1, "alive node-a", d1, sizeof d1);
    size_t l2 = s_send (sender, 2, "alive node-a", d2, sizeof d2);
    assert_true (s_receive (receiver, &window, d1, l1, &rc));
    assert_true (s_receive (receiver, &window, d2, l2, &rc));
    //  An attacker captures d1 and sends it again: it authenticates but is
    //  rejected by the window.
    assert_false (s_receive (receiver, &window, d1, l1, &rc));
    assert_int_equal (rc, SHED_SEAL_OK);
    assert_false (s_receive (receiver, &window, d2, l2, &rc));

    //  A forged datagram claiming a huge counter: built with a key the
    //  receiver does not have but, worse, labelled with the right key id.
    //  It fails authentication and must not move the window.
    uint8_t forged_key[SHED_KEY_BYTES];
    shed_keyring_generate (forged_key);
    shed_keyring_t *attacker = shed_keyring_new ();
    assert_int_equal (shed_keyring_install (attacker, forged_key), SHED_KR_OK);
    uint8_t forged[128];
    size_t fl = s_send (attacker, UINT64_MAX - 1, "alive node-a", forged, sizeof forged);
    uint32_t id = shed_keyring_key_id (key);
    forged[1] = (uint8_t) (id >> 24);
    forged[2] = (uint8_t) (id >> 16);
    forged[3] = (uint8_t) (id >> 8);
    forged[4] = (uint8_t) id;
    assert_false (s_receive (receiver, &window, forged, fl, &rc));
    assert_int_equal (rc, SHED_SEAL_ERR_AUTH);
    //  Also a genuine datagram whose counter bytes were flipped in transit.
    uint8_t d9[128];
    size_t l9 = s_send (sender, 9, "alive node-a", d9, sizeof d9);
    d9[SHED_SEAL_HEADER] ^= 0x80; //  high bit of the (encrypted) counter
    assert_false (s_receive (receiver, &window, d9, l9, &rc));
    assert_int_equal (rc, SHED_SEAL_ERR_AUTH);

    assert_int_equal (window.top, 2);
    //  So the next genuine counters still get through.
    size_t l3 = s_send (sender, 3, "alive node-a", d3, sizeof d3);
    assert_true (s_receive (receiver, &window, d3, l3, &rc));
    d9[SHED_SEAL_HEADER] ^= 0x80;
    assert_true (s_receive (receiver, &window, d9, l9, &rc));
    assert_false (s_receive (receiver, &window, d3, l3, &rc));

    sodium_memzero (key, sizeof key);
    sodium_memzero (forged_key, sizeof forged_key);
    shed_keyring_destroy (&attacker);
    shed_keyring_destroy (&sender);
    shed_keyring_destroy (&receiver);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_in_order),
        cmocka_unit_test (test_duplicates),
        cmocka_unit_test (test_out_of_order),
        cmocka_unit_test (test_window_edge),
        cmocka_unit_test (test_too_old),
        cmocka_unit_test (test_big_jump),
        cmocka_unit_test (test_counter_zero),
        cmocka_unit_test (test_near_max),
        cmocka_unit_test (test_random_against_model),
        cmocka_unit_test (test_replay_of_sealed_datagram),
    };
    if (sodium_init () < 0)
        return 1;
    return cmocka_run_group_tests (tests, NULL, NULL);
}
