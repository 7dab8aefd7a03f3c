/* session_test.c - overlay session handshake, keys, rekeying and replay,
 * driven by a fake clock (every call takes `now`). */
#include "crypto/session.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <sodium.h>

typedef struct {
    uint8_t sk[32], pk[32];
} node_keys_t;

typedef struct {
    node_keys_t a, b, c; //  a initiates to b; c is a stranger
    shed_session_t *ab;  //  a's session with b
    shed_session_t *ba;  //  b's session with a
    uint64_t now;        //  fake monotonic clock, ms
    uint64_t wall;       //  fake wall clock, ns
    shed_session_cfg_t cfg;
} fixture_t;

static void
s_keys (node_keys_t *k)
{
    crypto_box_keypair (k->pk, k->sk);
}

static void
s_fixture_make (fixture_t *f, uint8_t aead_mask)
{
    memset (f, 0, sizeof *f);
    s_keys (&f->a);
    s_keys (&f->b);
    s_keys (&f->c);
    shed_session_cfg_default (&f->cfg);
    f->cfg.aead_mask = aead_mask;
    f->ab = shed_session_new (f->a.sk, f->a.pk, f->b.pk, &f->cfg);
    f->ba = shed_session_new (f->b.sk, f->b.pk, f->a.pk, &f->cfg);
    assert_non_null (f->ab);
    assert_non_null (f->ba);
    f->now = 1000;
    f->wall = 1700000000ull * 1000000000ull;
}

static int
s_setup (void **state)
{
    fixture_t *f = calloc (1, sizeof *f);
    s_fixture_make (f, shed_session_aead_available ());
    *state = f;
    return 0;
}

static int
s_teardown (void **state)
{
    fixture_t *f = *state;
    shed_session_destroy (&f->ab);
    shed_session_destroy (&f->ba);
    assert_null (f->ab);
    shed_session_destroy (&f->ab); //  NULL-safe
    free (f);
    return 0;
}

//  Full handshake from `ini` (keys ik) to `resp` (keys rk). Returns the
//  response's result; the initiator ends with a confirmed key.
static void
s_handshake (fixture_t *f, shed_session_t *ini, shed_session_t *resp, const node_keys_t *rk)
{
    uint8_t init_msg[SHED_MSG_INITIATION_SIZE], resp_msg[SHED_MSG_RESPONSE_SIZE];
    shed_initiation_t init;
    f->wall += 1000;
    assert_int_equal (shed_session_initiate (ini, f->now, f->wall, init_msg), SHED_SESSION_OK);
    assert_int_equal (
        shed_session_initiation_open (rk->sk, rk->pk, init_msg, sizeof init_msg, &init),
        SHED_SESSION_OK);
    assert_int_equal (shed_session_respond (resp, &init, f->now, resp_msg), SHED_SESSION_OK);
    assert_int_equal (shed_session_consume_response (ini, resp_msg, sizeof resp_msg, f->now),
                      SHED_SESSION_OK);
}

//  Seal `text` from `tx`, open on `rx`; returns open()'s result.
static int
s_send (fixture_t *f, shed_session_t *tx, shed_session_t *rx, const char *text, uint8_t *keep,
        size_t *keep_len)
{
    uint8_t buf[256];
    size_t len = strlen (text), outlen, ptlen;
    memcpy (buf + SHED_SESSION_DATA_HEADER, text, len);
    int rc = shed_session_seal (tx, f->now, buf, len, sizeof buf, &outlen);
    if (rc != SHED_SESSION_OK)
        return rc;
    if (keep) {
        memcpy (keep, buf, outlen);
        *keep_len = outlen;
    }
    rc = shed_session_open (rx, f->now, buf, outlen, &ptlen);
    if (rc == SHED_SESSION_OK) {
        assert_int_equal (ptlen, len);
        assert_memory_equal (buf + SHED_SESSION_DATA_HEADER, text, len);
    }
    return rc;
}

static void
test_handshake_both_directions (void **state)
{
    fixture_t *f = *state;
    uint8_t buf[64];
    size_t outlen;
    //  Nothing to send with before a handshake.
    assert_int_equal (shed_session_seal (f->ab, f->now, buf, 4, sizeof buf, &outlen),
                      SHED_SESSION_ERR_NOKEY);
    assert_true (shed_session_want_handshake (f->ab, f->now));
    s_handshake (f, f->ab, f->ba, &f->b);

    //  Make-before-break: the responder may not send until confirmed.
    assert_int_equal (s_send (f, f->ba, f->ab, "early", NULL, NULL), SHED_SESSION_ERR_NOKEY);
    assert_false (shed_session_want_handshake (f->ba, f->now));
    assert_int_equal (s_send (f, f->ab, f->ba, "hello b", NULL, NULL), SHED_SESSION_OK);
    assert_int_equal (s_send (f, f->ba, f->ab, "hello a", NULL, NULL), SHED_SESSION_OK);
    for (int i = 0; i < 100; i++) {
        assert_int_equal (s_send (f, f->ab, f->ba, "ping", NULL, NULL), SHED_SESSION_OK);
        assert_int_equal (s_send (f, f->ba, f->ab, "pong", NULL, NULL), SHED_SESSION_OK);
    }
    shed_session_info_t ia, ib;
    shed_session_info (f->ab, f->now, &ia);
    shed_session_info (f->ba, f->now, &ib);
    assert_true (ia.has_send_key && ib.has_send_key);
    assert_int_equal (ia.send_key_id, ib.recv_key_id);
    assert_int_equal (ib.send_key_id, ia.recv_key_id);
    assert_int_equal (ia.aead, ib.aead);
    uint8_t expect = (shed_session_aead_available () & SHED_AEAD_AES256GCM)
                         ? SHED_AEAD_AES256GCM
                         : SHED_AEAD_CHACHA20POLY1305;
    assert_int_equal (ia.aead, expect);
    assert_int_equal (ia.send_counter, 101);
    assert_false (shed_session_want_handshake (f->ab, f->now));
}

static void
test_keepalive_confirms (void **state)
{
    fixture_t *f = *state;
    s_handshake (f, f->ab, f->ba, &f->b);
    uint8_t buf[64];
    size_t outlen, ptlen;
    assert_int_equal (shed_session_seal (f->ab, f->now, buf, 0, sizeof buf, &outlen),
                      SHED_SESSION_OK);
    assert_int_equal (outlen, SHED_SESSION_DATA_OVERHEAD);
    assert_int_equal (shed_session_open (f->ba, f->now, buf, outlen, &ptlen), SHED_SESSION_OK);
    assert_int_equal (ptlen, 0);
    shed_session_info_t ib;
    shed_session_info (f->ba, f->now, &ib);
    assert_true (ib.has_send_key);
    assert_false (ib.has_next);
}

static void
test_chacha_only (void **state)
{
    fixture_t *f = *state;
    //  b refuses AES: the pair must agree on ChaCha20-Poly1305.
    shed_session_destroy (&f->ba);
    shed_session_cfg_t cfg = f->cfg;
    cfg.aead_mask = SHED_AEAD_CHACHA20POLY1305;
    f->ba = shed_session_new (f->b.sk, f->b.pk, f->a.pk, &cfg);
    s_handshake (f, f->ab, f->ba, &f->b);
    assert_int_equal (s_send (f, f->ab, f->ba, "x", NULL, NULL), SHED_SESSION_OK);
    assert_int_equal (s_send (f, f->ba, f->ab, "y", NULL, NULL), SHED_SESSION_OK);
    shed_session_info_t ia;
    shed_session_info (f->ab, f->now, &ia);
    assert_int_equal (ia.aead, SHED_AEAD_CHACHA20POLY1305);
    assert_string_equal (shed_session_aead_name (ia.aead), "chacha20-poly1305");
}

static void
test_rekey_by_time_and_grace (void **state)
{
    fixture_t *f = *state;
    uint8_t old_pkt[256], late_pkt[256];
    size_t old_len, late_len, ptlen;
    s_handshake (f, f->ab, f->ba, &f->b);
    assert_int_equal (s_send (f, f->ab, f->ba, "confirm", NULL, NULL), SHED_SESSION_OK);
    assert_int_equal (s_send (f, f->ba, f->ab, "b1", NULL, NULL), SHED_SESSION_OK);
    shed_session_info_t before;
    shed_session_info (f->ab, f->now, &before);

    f->now += f->cfg.rekey_after_ms - 1;
    assert_false (shed_session_want_handshake (f->ab, f->now));
    f->now += 1;
    assert_true (shed_session_want_handshake (f->ab, f->now));
    //  The responder of the current key waits for the initiator.
    assert_false (shed_session_want_handshake (f->ba, f->now));

    //  b sealed a packet under the old key that arrives late at a.
    uint8_t *p = late_pkt + SHED_SESSION_DATA_HEADER;
    memcpy (p, "late", 4);
    assert_int_equal (shed_session_seal (f->ba, f->now, late_pkt, 4, sizeof late_pkt, &late_len),
                      SHED_SESSION_OK);
    //  And a's last packet under the old key, not yet delivered to b.
    memcpy (old_pkt + SHED_SESSION_DATA_HEADER, "old", 3);
    assert_int_equal (shed_session_seal (f->ab, f->now, old_pkt, 3, sizeof old_pkt, &old_len),
                      SHED_SESSION_OK);

    s_handshake (f, f->ab, f->ba, &f->b);
    shed_session_info_t after;
    shed_session_info (f->ab, f->now, &after);
    assert_int_not_equal (after.send_key_id, before.send_key_id);
    assert_int_equal (after.key_age_ms, 0);
    assert_true (after.has_previous);
    //  Until a confirms, b still sends under the old key, which a accepts.
    assert_int_equal (s_send (f, f->ba, f->ab, "still old", NULL, NULL), SHED_SESSION_OK);
    //  a's first packet under the new key confirms it at b.
    assert_int_equal (s_send (f, f->ab, f->ba, "new", NULL, NULL), SHED_SESSION_OK);
    shed_session_info_t binfo;
    shed_session_info (f->ba, f->now, &binfo);
    assert_int_equal (binfo.recv_key_id, after.send_key_id);
    assert_true (binfo.has_previous);
    assert_int_equal (s_send (f, f->ba, f->ab, "b new", NULL, NULL), SHED_SESSION_OK);

    //  During the grace period the old keys still open in-flight packets...
    f->now += f->cfg.grace_ms - 1;
    uint8_t copy[256];
    memcpy (copy, old_pkt, old_len);
    assert_int_equal (shed_session_open (f->ba, f->now, copy, old_len, &ptlen), SHED_SESSION_OK);
    //  ...once each.
    memcpy (copy, old_pkt, old_len);
    assert_int_equal (shed_session_open (f->ba, f->now, copy, old_len, &ptlen),
                      SHED_SESSION_ERR_REPLAY);
    //  After it, they are refused.
    f->now += 1;
    assert_int_equal (shed_session_open (f->ab, f->now, late_pkt, late_len, &ptlen),
                      SHED_SESSION_ERR_EXPIRED);
    //  The new keys keep working both ways.
    assert_int_equal (s_send (f, f->ab, f->ba, "n2", NULL, NULL), SHED_SESSION_OK);
    assert_int_equal (s_send (f, f->ba, f->ab, "n3", NULL, NULL), SHED_SESSION_OK);
}

static void
test_reject_after_time (void **state)
{
    fixture_t *f = *state;
    uint8_t pkt[256];
    size_t len, ptlen;
    s_handshake (f, f->ab, f->ba, &f->b);
    memcpy (pkt + SHED_SESSION_DATA_HEADER, "x", 1);
    assert_int_equal (shed_session_seal (f->ab, f->now, pkt, 1, sizeof pkt, &len), SHED_SESSION_OK);
    f->now += f->cfg.reject_after_ms;
    assert_int_equal (shed_session_open (f->ba, f->now, pkt, len, &ptlen),
                      SHED_SESSION_ERR_EXPIRED);
    assert_int_equal (s_send (f, f->ab, f->ba, "y", NULL, NULL), SHED_SESSION_ERR_NOKEY);
    assert_true (shed_session_want_handshake (f->ab, f->now));
    assert_true (shed_session_want_handshake (f->ba, f->now));
}

static void
test_rekey_by_count (void **state)
{
    fixture_t *f = *state;
    f->cfg.rekey_after_messages = 10;
    f->cfg.reject_after_messages = 12;
    shed_session_destroy (&f->ab);
    shed_session_destroy (&f->ba);
    f->ab = shed_session_new (f->a.sk, f->a.pk, f->b.pk, &f->cfg);
    f->ba = shed_session_new (f->b.sk, f->b.pk, f->a.pk, &f->cfg);
    s_handshake (f, f->ab, f->ba, &f->b);
    for (int i = 0; i < 10; i++) {
        assert_false (shed_session_want_handshake (f->ab, f->now));
        assert_int_equal (s_send (f, f->ab, f->ba, "m", NULL, NULL), SHED_SESSION_OK);
    }
    assert_true (shed_session_want_handshake (f->ab, f->now));
    //  Soft limit: still sending while the handshake runs, up to the hard one.
    assert_int_equal (s_send (f, f->ab, f->ba, "m", NULL, NULL), SHED_SESSION_OK);
    assert_int_equal (s_send (f, f->ab, f->ba, "m", NULL, NULL), SHED_SESSION_OK);
    assert_int_equal (s_send (f, f->ab, f->ba, "m", NULL, NULL), SHED_SESSION_ERR_NOKEY);
    s_handshake (f, f->ab, f->ba, &f->b);
    assert_int_equal (s_send (f, f->ab, f->ba, "m", NULL, NULL), SHED_SESSION_OK);
    assert_false (shed_session_want_handshake (f->ab, f->now));
}

static void
test_handshake_retry (void **state)
{
    fixture_t *f = *state;
    uint8_t msg[SHED_MSG_INITIATION_SIZE];
    assert_int_equal (shed_session_initiate (f->ab, f->now, ++f->wall, msg), SHED_SESSION_OK);
    assert_false (shed_session_want_handshake (f->ab, f->now));
    f->now += f->cfg.rekey_timeout_ms;
    assert_true (shed_session_want_handshake (f->ab, f->now));
}

static void
test_replay_tamper_truncate (void **state)
{
    fixture_t *f = *state;
    uint8_t pkt[256], copy[256];
    size_t len, ptlen;
    s_handshake (f, f->ab, f->ba, &f->b);
    assert_int_equal (s_send (f, f->ab, f->ba, "first", pkt, &len), SHED_SESSION_OK);
    //  Replay: authenticates, refused by the window.
    memcpy (copy, pkt, len);
    assert_int_equal (shed_session_open (f->ba, f->now, copy, len, &ptlen),
                      SHED_SESSION_ERR_REPLAY);
    //  Every single-bit flip, in header, ciphertext or tag, is refused.
    assert_int_equal (s_send (f, f->ab, f->ba, "second", pkt, &len), SHED_SESSION_OK);
    for (size_t byte = 0; byte < len; byte++) {
        memcpy (copy, pkt, len);
        copy[byte] ^= 0x10;
        int rc = shed_session_open (f->ba, f->now, copy, len, &ptlen);
        assert_int_not_equal (rc, SHED_SESSION_OK);
        if (byte >= 8) //  past type and key id: the AEAD catches it
            assert_int_equal (rc, SHED_SESSION_ERR_AUTH);
    }
    copy[0] = SHED_MSG_DATA;
    //  Truncated anywhere.
    for (size_t cut = 0; cut < len; cut++) {
        memcpy (copy, pkt, len);
        int rc = shed_session_open (f->ba, f->now, copy, cut, &ptlen);
        assert_true (rc == SHED_SESSION_ERR_SHORT || rc == SHED_SESSION_ERR_AUTH);
    }
    //  Unknown key id.
    memcpy (copy, pkt, len);
    copy[4] ^= 0xff;
    assert_int_equal (shed_session_open (f->ba, f->now, copy, len, &ptlen), SHED_SESSION_ERR_KEYID);
    //  Wrong type.
    memcpy (copy, pkt, len);
    copy[0] = 0x08;
    assert_int_equal (shed_session_open (f->ba, f->now, copy, len, &ptlen), SHED_SESSION_ERR_TYPE);
    //  Reordered within the window: accepted once each.
    uint8_t pk[5][256];
    size_t pl[5];
    for (int i = 0; i < 5; i++) {
        memcpy (pk[i] + SHED_SESSION_DATA_HEADER, "r", 1);
        assert_int_equal (shed_session_seal (f->ab, f->now, pk[i], 1, 256, &pl[i]),
                          SHED_SESSION_OK);
    }
    for (int i = 4; i >= 0; i--)
        assert_int_equal (shed_session_open (f->ba, f->now, pk[i], pl[i], &ptlen), SHED_SESSION_OK);
    //  Space check.
    assert_int_equal (shed_session_seal (f->ab, f->now, pkt, 100, 100, &len),
                      SHED_SESSION_ERR_SPACE);
}

static void
test_stranger_refused (void **state)
{
    fixture_t *f = *state;
    uint8_t msg[SHED_MSG_INITIATION_SIZE], resp[SHED_MSG_RESPONSE_SIZE];
    shed_initiation_t init;
    //  c knows b's public key and calls it; b holds no session for c.
    shed_session_t *cb = shed_session_new (f->c.sk, f->c.pk, f->b.pk, &f->cfg);
    assert_int_equal (shed_session_initiate (cb, f->now, ++f->wall, msg), SHED_SESSION_OK);
    assert_int_equal (shed_session_initiation_open (f->b.sk, f->b.pk, msg, sizeof msg, &init),
                      SHED_SESSION_OK);
    //  The allow-list lookup (the caller's) finds no session with c's key;
    //  answering with a's session is refused too.
    assert_memory_equal (init.peer_public, f->c.pk, 32);
    assert_memory_not_equal (init.peer_public, shed_session_peer_public (f->ba), 32);
    assert_int_equal (shed_session_respond (f->ba, &init, f->now, resp), SHED_SESSION_ERR_PEER);
    //  respond() wiped the state.
    uint8_t zero[32] = { 0 };
    assert_memory_equal (init.ck, zero, 32);

    //  An initiation meant for someone else fails mac1 before any DH.
    assert_int_equal (shed_session_initiation_open (f->a.sk, f->a.pk, msg, sizeof msg, &init),
                      SHED_SESSION_ERR_MAC);
    //  Tampered after mac1 recomputed? Not possible without the key; a flipped
    //  byte fails mac1; a wrong length or type is refused first.
    msg[50] ^= 1;
    assert_int_equal (shed_session_initiation_open (f->b.sk, f->b.pk, msg, sizeof msg, &init),
                      SHED_SESSION_ERR_MAC);
    assert_int_equal (shed_session_initiation_open (f->b.sk, f->b.pk, msg, sizeof msg - 1, &init),
                      SHED_SESSION_ERR_SHORT);
    msg[0] = SHED_MSG_RESPONSE;
    assert_int_equal (shed_session_initiation_open (f->b.sk, f->b.pk, msg, sizeof msg, &init),
                      SHED_SESSION_ERR_TYPE);
    shed_session_destroy (&cb);
}

static void
test_replayed_initiation (void **state)
{
    fixture_t *f = *state;
    uint8_t msg[SHED_MSG_INITIATION_SIZE], resp[SHED_MSG_RESPONSE_SIZE];
    shed_initiation_t init;
    assert_int_equal (shed_session_initiate (f->ab, f->now, ++f->wall, msg), SHED_SESSION_OK);
    assert_int_equal (shed_session_initiation_open (f->b.sk, f->b.pk, msg, sizeof msg, &init),
                      SHED_SESSION_OK);
    assert_int_equal (shed_session_respond (f->ba, &init, f->now, resp), SHED_SESSION_OK);
    //  The same initiation again: timestamp not newer.
    assert_int_equal (shed_session_initiation_open (f->b.sk, f->b.pk, msg, sizeof msg, &init),
                      SHED_SESSION_OK);
    assert_int_equal (shed_session_respond (f->ba, &init, f->now, resp), SHED_SESSION_ERR_STALE);
}

static void
test_bad_response (void **state)
{
    fixture_t *f = *state;
    uint8_t msg[SHED_MSG_INITIATION_SIZE], resp[SHED_MSG_RESPONSE_SIZE];
    shed_initiation_t init;
    //  A response with no handshake in flight.
    memset (resp, 0, sizeof resp);
    resp[0] = SHED_MSG_RESPONSE;
    assert_int_equal (shed_session_consume_response (f->ab, resp, sizeof resp, f->now),
                      SHED_SESSION_ERR_STATE);
    assert_int_equal (shed_session_initiate (f->ab, f->now, ++f->wall, msg), SHED_SESSION_OK);
    assert_int_equal (shed_session_initiation_open (f->b.sk, f->b.pk, msg, sizeof msg, &init),
                      SHED_SESSION_OK);
    assert_int_equal (shed_session_respond (f->ba, &init, f->now, resp), SHED_SESSION_OK);
    //  Tampered payload: mac1 refuses; wrong size refused first.
    uint8_t bad[SHED_MSG_RESPONSE_SIZE];
    memcpy (bad, resp, sizeof bad);
    bad[60] ^= 1;
    assert_int_equal (shed_session_consume_response (f->ab, bad, sizeof bad, f->now),
                      SHED_SESSION_ERR_MAC);
    assert_int_equal (shed_session_consume_response (f->ab, resp, sizeof resp - 1, f->now),
                      SHED_SESSION_ERR_SHORT);
    //  The real one still completes (the forgery spoiled nothing).
    assert_int_equal (shed_session_consume_response (f->ab, resp, sizeof resp, f->now),
                      SHED_SESSION_OK);
    assert_int_equal (shed_session_consume_response (f->ab, resp, sizeof resp, f->now),
                      SHED_SESSION_ERR_STATE);
    assert_int_equal (s_send (f, f->ab, f->ba, "ok", NULL, NULL), SHED_SESSION_OK);
}

static void
test_crossing_handshakes (void **state)
{
    fixture_t *f = *state;
    //  Both start at once; both complete; traffic flows both ways.
    uint8_t ma[SHED_MSG_INITIATION_SIZE], mb[SHED_MSG_INITIATION_SIZE];
    uint8_t ra[SHED_MSG_RESPONSE_SIZE], rb[SHED_MSG_RESPONSE_SIZE];
    shed_initiation_t init;
    assert_int_equal (shed_session_initiate (f->ab, f->now, ++f->wall, ma), SHED_SESSION_OK);
    assert_int_equal (shed_session_initiate (f->ba, f->now, ++f->wall, mb), SHED_SESSION_OK);
    assert_int_equal (shed_session_initiation_open (f->b.sk, f->b.pk, ma, sizeof ma, &init), 0);
    assert_int_equal (shed_session_respond (f->ba, &init, f->now, rb), SHED_SESSION_OK);
    assert_int_equal (shed_session_initiation_open (f->a.sk, f->a.pk, mb, sizeof mb, &init), 0);
    assert_int_equal (shed_session_respond (f->ab, &init, f->now, ra), SHED_SESSION_OK);
    assert_int_equal (shed_session_consume_response (f->ab, rb, sizeof rb, f->now), 0);
    assert_int_equal (shed_session_consume_response (f->ba, ra, sizeof ra, f->now), 0);
    for (int i = 0; i < 3; i++) {
        assert_int_equal (s_send (f, f->ab, f->ba, "a", NULL, NULL), SHED_SESSION_OK);
        assert_int_equal (s_send (f, f->ba, f->ab, "b", NULL, NULL), SHED_SESSION_OK);
    }
}

//  A batch takes consecutive counters under one key; each message opens on
//  its own, in any order, once (the replay window sees each counter).
static void
test_seal_batch (void **state)
{
    fixture_t *f = *state;
    enum { N = 5, LEN = 100 };
    uint8_t msgs[N][LEN + SHED_SESSION_DATA_OVERHEAD], copy[LEN + SHED_SESSION_DATA_OVERHEAD];
    uint8_t *bufs[N];
    size_t lens[N], ptlen;
    for (int i = 0; i < N; i++) {
        bufs[i] = msgs[i];
        lens[i] = LEN - (size_t) i;
        memset (msgs[i] + SHED_SESSION_DATA_HEADER, 'a' + i, lens[i]);
    }
    assert_int_equal (shed_session_seal_batch (f->ab, f->now, bufs, lens, N),
                      SHED_SESSION_ERR_NOKEY);
    s_handshake (f, f->ab, f->ba, &f->b);
    assert_int_equal (s_send (f, f->ab, f->ba, "first", NULL, NULL), SHED_SESSION_OK);
    assert_int_equal (shed_session_seal_batch (f->ab, f->now, bufs, lens, 0), SHED_SESSION_OK);
    assert_int_equal (shed_session_seal_batch (f->ab, f->now, bufs, lens, N), SHED_SESSION_OK);
    for (int i = 0; i < N; i++) //  counter 0 went to "first"
        assert_int_equal (msgs[i][8], 1 + i);
    for (int i = N - 1; i >= 0; i--) {
        memcpy (copy, msgs[i], lens[i] + SHED_SESSION_DATA_OVERHEAD);
        assert_int_equal (shed_session_open (f->ba, f->now, msgs[i],
                                             lens[i] + SHED_SESSION_DATA_OVERHEAD, &ptlen),
                          SHED_SESSION_OK);
        assert_int_equal (ptlen, lens[i]);
        assert_int_equal (msgs[i][SHED_SESSION_DATA_HEADER + ptlen - 1], 'a' + i);
        assert_int_equal (
            shed_session_open (f->ba, f->now, copy, lens[i] + SHED_SESSION_DATA_OVERHEAD, &ptlen),
            SHED_SESSION_ERR_REPLAY);
    }
    shed_session_info_t info;
    shed_session_info (f->ab, f->now, &info);
    assert_int_equal (info.send_counter, 1 + N);
}

static void
test_strerror (void **state)
{
    assert_string_equal (shed_session_strerror (SHED_SESSION_ERR_REPLAY),
                         "counter replayed or too old");
    assert_string_equal (shed_session_strerror (12345), "unknown error");
    //  A small-order peer key is refused at creation.
    uint8_t sk[32], pk[32], zero[32] = { 0 };
    crypto_box_keypair (pk, sk);
    assert_null (shed_session_new (sk, pk, zero, NULL));
}

int
main (void)
{
    if (sodium_init () < 0)
        return 1;
    printf ("session_test: AES-256-GCM %s\n",
            (shed_session_aead_available () & SHED_AEAD_AES256GCM) ? "available" : "not available");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown (test_handshake_both_directions, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_keepalive_confirms, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_chacha_only, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_rekey_by_time_and_grace, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_reject_after_time, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_rekey_by_count, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_handshake_retry, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_replay_tamper_truncate, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_stranger_refused, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_replayed_initiation, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_bad_response, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_crossing_handshakes, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_seal_batch, s_setup, s_teardown),
        cmocka_unit_test (test_strerror),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
