/* keyring_test.c - sealing, opening, tampering, rotation, keyring files. */
#include "crypto/keyring.h"
#include "crypto/identity.h"
#include "common/fileutil.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>
#include <sodium.h>

static const uint8_t s_ad[] = "cluster=test";

/* A keyring holding one fresh key (returned in key if non-NULL). */
static shed_keyring_t *
s_ring_with_key (uint8_t *key)
{
    uint8_t k[SHED_KEY_BYTES];
    shed_keyring_generate (k);
    shed_keyring_t *ring = shed_keyring_new ();
    assert_non_null (ring);
    assert_int_equal (shed_keyring_install (ring, k), SHED_KR_OK);
    if (key)
        memcpy (key, k, sizeof k);
    sodium_memzero (k, sizeof k);
    return ring;
}

/* Seal `msg` and return its sealed length in buf. */
static size_t
s_seal (const shed_keyring_t *ring, const char *msg, uint8_t *buf, size_t cap)
{
    size_t len = 0;
    assert_int_equal (shed_keyring_seal (ring, s_ad, sizeof s_ad, (const uint8_t *) msg,
                                         strlen (msg), buf, cap, &len),
                      SHED_SEAL_OK);
    assert_int_equal (len, strlen (msg) + SHED_SEAL_OVERHEAD);
    return len;
}

static int
s_open (const shed_keyring_t *ring, const uint8_t *in, size_t inlen)
{
    uint8_t pt[2048];
    size_t ptlen;
    return shed_keyring_open (ring, s_ad, sizeof s_ad, in, inlen, pt, sizeof pt, &ptlen, NULL);
}

static void
test_round_trip (void **state)
{
    uint8_t key[SHED_KEY_BYTES];
    shed_keyring_t *ring = s_ring_with_key (key);
    uint8_t pt[600], sealed[600 + SHED_SEAL_OVERHEAD], back[600];
    randombytes_buf (pt, sizeof pt);
    for (size_t len = 0; len <= sizeof pt; len += (len < 40 ? 1 : 37)) {
        size_t slen = 0, blen = 0;
        uint32_t id = 0;
        assert_int_equal (
            shed_keyring_seal (ring, s_ad, sizeof s_ad, pt, len, sealed, sizeof sealed, &slen),
            SHED_SEAL_OK);
        assert_int_equal (slen, len + SHED_SEAL_OVERHEAD);
        assert_int_equal (sealed[0], SHED_SEAL_VERSION);
        uint32_t wire_id = (uint32_t) sealed[1] << 24 | (uint32_t) sealed[2] << 16
                           | (uint32_t) sealed[3] << 8 | sealed[4];
        assert_int_equal (wire_id, shed_keyring_key_id (key));
        assert_int_equal (shed_keyring_open (ring, s_ad, sizeof s_ad, sealed, slen, back,
                                             sizeof back, &blen, &id),
                          SHED_SEAL_OK);
        assert_int_equal (blen, len);
        assert_int_equal (id, shed_keyring_key_id (key));
        if (len)
            assert_memory_equal (back, pt, len);
    }
    //  No AD at all, and an empty plaintext without a buffer.
    size_t slen, blen = 99;
    assert_int_equal (shed_keyring_seal (ring, NULL, 0, NULL, 0, sealed, sizeof sealed, &slen),
                      SHED_SEAL_OK);
    assert_int_equal (slen, SHED_SEAL_OVERHEAD);
    assert_int_equal (shed_keyring_open (ring, NULL, 0, sealed, slen, NULL, 0, &blen, NULL),
                      SHED_SEAL_OK);
    assert_int_equal (blen, 0);
    shed_keyring_destroy (&ring);
    assert_null (ring);
    shed_keyring_destroy (&ring);
}

static void
test_nonces_differ (void **state)
{
    shed_keyring_t *ring = s_ring_with_key (NULL);
    uint8_t a[64], b[64];
    s_seal (ring, "same", a, sizeof a);
    s_seal (ring, "same", b, sizeof b);
    assert_memory_not_equal (a + 5, b + 5, 24);
    shed_keyring_destroy (&ring);
}

static void
test_ad_is_authenticated (void **state)
{
    shed_keyring_t *ring = s_ring_with_key (NULL);
    uint8_t sealed[64], pt[64];
    size_t slen, plen;
    s_seal (ring, "hello", sealed, sizeof sealed);
    slen = 5 + SHED_SEAL_OVERHEAD;
    const uint8_t other[] = "cluster=prod";
    assert_int_equal (
        shed_keyring_open (ring, other, sizeof other, sealed, slen, pt, sizeof pt, &plen, NULL),
        SHED_SEAL_ERR_AUTH);
    assert_int_equal (shed_keyring_open (ring, NULL, 0, sealed, slen, pt, sizeof pt, &plen, NULL),
                      SHED_SEAL_ERR_AUTH);
    //  Large AD takes the heap path; round trip and mismatch both work.
    size_t big = 5000;
    uint8_t *ad = malloc (big);
    assert_non_null (ad);
    randombytes_buf (ad, big);
    assert_int_equal (
        shed_keyring_seal (ring, ad, big, (const uint8_t *) "x", 1, sealed, sizeof sealed, &slen),
        SHED_SEAL_OK);
    assert_int_equal (shed_keyring_open (ring, ad, big, sealed, slen, pt, sizeof pt, &plen, NULL),
                      SHED_SEAL_OK);
    ad[big - 1] ^= 1;
    assert_int_equal (shed_keyring_open (ring, ad, big, sealed, slen, pt, sizeof pt, &plen, NULL),
                      SHED_SEAL_ERR_AUTH);
    free (ad);
    shed_keyring_destroy (&ring);
}

static void
test_wrong_keyring (void **state)
{
    shed_keyring_t *a = s_ring_with_key (NULL);
    shed_keyring_t *b = s_ring_with_key (NULL);
    uint8_t sealed[64];
    size_t slen = s_seal (a, "secret", sealed, sizeof sealed);
    assert_int_equal (s_open (b, sealed, slen), SHED_SEAL_ERR_KEYID);
    assert_int_equal (s_open (a, sealed, slen), SHED_SEAL_OK);
    shed_keyring_destroy (&a);
    shed_keyring_destroy (&b);
}

static void
test_tamper_every_byte (void **state)
{
    shed_keyring_t *ring = s_ring_with_key (NULL);
    uint8_t sealed[128];
    size_t slen = s_seal (ring, "membership update: node-b alive", sealed, sizeof sealed);
    uint8_t pt[128];
    for (size_t i = 0; i < slen; i++) {
        for (int bit = 0; bit < 8; bit++) {
            sealed[i] ^= (uint8_t) (1u << bit);
            memset (pt, 0xaa, sizeof pt);
            size_t plen;
            int rc = shed_keyring_open (ring, s_ad, sizeof s_ad, sealed, slen, pt, sizeof pt, &plen,
                                        NULL);
            int want;
            if (i == 0)
                want = SHED_SEAL_ERR_FORMAT; //  version byte
            else if (i < 1 + SHED_KEYID_BYTES)
                want = SHED_SEAL_ERR_KEYID; //  key id: no such key
            else
                want = SHED_SEAL_ERR_AUTH; //  nonce, ciphertext, tag
            if (rc != want)
                fail_msg ("byte %zu bit %d: got %d (%s), want %d", i, bit, rc,
                          shed_seal_strerror (rc), want);
            //  A failed open leaves no plaintext behind.
            if (rc == SHED_SEAL_ERR_AUTH)
                for (size_t j = 0; j < slen - SHED_SEAL_OVERHEAD; j++)
                    assert_int_equal (pt[j], 0);
            sealed[i] ^= (uint8_t) (1u << bit);
        }
    }
    assert_int_equal (s_open (ring, sealed, slen), SHED_SEAL_OK);
    shed_keyring_destroy (&ring);
}

static void
test_truncate_every_length (void **state)
{
    shed_keyring_t *ring = s_ring_with_key (NULL);
    uint8_t sealed[128];
    size_t slen = s_seal (ring, "some gossip payload", sealed, sizeof sealed);
    for (size_t len = 0; len < slen; len++) {
        int rc = s_open (ring, sealed, len);
        int want = len < SHED_SEAL_OVERHEAD ? SHED_SEAL_ERR_SHORT : SHED_SEAL_ERR_AUTH;
        if (rc != want)
            fail_msg ("length %zu: got %d, want %d", len, rc, want);
    }
    //  A NULL input of length 0 is just short.
    uint8_t pt[8];
    size_t plen;
    assert_int_equal (shed_keyring_open (ring, NULL, 0, NULL, 0, pt, sizeof pt, &plen, NULL),
                      SHED_SEAL_ERR_SHORT);
    //  Extended by a byte.
    sealed[slen] = 0;
    assert_int_equal (s_open (ring, sealed, slen + 1), SHED_SEAL_ERR_AUTH);
    assert_int_equal (s_open (ring, sealed, slen), SHED_SEAL_OK);
    shed_keyring_destroy (&ring);
}

static void
test_buffer_too_small (void **state)
{
    shed_keyring_t *ring = s_ring_with_key (NULL);
    const uint8_t msg[10] = "0123456789";
    uint8_t sealed[10 + SHED_SEAL_OVERHEAD];
    size_t slen;
    assert_int_equal (
        shed_keyring_seal (ring, NULL, 0, msg, sizeof msg, sealed, sizeof sealed - 1, &slen),
        SHED_SEAL_ERR_SPACE);
    assert_int_equal (
        shed_keyring_seal (ring, NULL, 0, msg, sizeof msg, sealed, sizeof sealed, &slen),
        SHED_SEAL_OK);
    uint8_t pt[10];
    size_t plen;
    assert_int_equal (shed_keyring_open (ring, NULL, 0, sealed, slen, pt, 9, &plen, NULL),
                      SHED_SEAL_ERR_SPACE);
    assert_int_equal (shed_keyring_open (ring, NULL, 0, sealed, slen, pt, 10, &plen, NULL),
                      SHED_SEAL_OK);
    assert_memory_equal (pt, msg, 10);
    shed_keyring_destroy (&ring);
}

static void
test_empty_keyring (void **state)
{
    shed_keyring_t *empty = shed_keyring_new ();
    assert_non_null (empty);
    assert_int_equal (shed_keyring_count (empty), 0);
    uint8_t sealed[64];
    size_t slen;
    assert_int_equal (
        shed_keyring_seal (empty, NULL, 0, (const uint8_t *) "x", 1, sealed, sizeof sealed, &slen),
        SHED_SEAL_ERR_NOKEY);
    shed_keyring_t *ring = s_ring_with_key (NULL);
    slen = s_seal (ring, "x", sealed, sizeof sealed);
    assert_int_equal (s_open (empty, sealed, slen), SHED_SEAL_ERR_NOKEY);
    shed_keyring_entry_t e;
    assert_int_equal (shed_keyring_entry (empty, 0, &e), -1);
    shed_keyring_destroy (&ring);
    shed_keyring_destroy (&empty);
}

static void
test_rotation (void **state)
{
    uint8_t a[SHED_KEY_BYTES], b[SHED_KEY_BYTES];
    shed_keyring_generate (a);
    shed_keyring_generate (b);
    shed_keyring_t *sender = shed_keyring_new ();
    shed_keyring_t *receiver = shed_keyring_new ();
    assert_int_equal (shed_keyring_install (sender, a), SHED_KR_OK);
    assert_int_equal (shed_keyring_install (receiver, a), SHED_KR_OK);

    //  Step 1: install B everywhere; A stays primary.
    assert_int_equal (shed_keyring_install (sender, b), SHED_KR_OK);
    assert_int_equal (shed_keyring_install (receiver, b), SHED_KR_OK);
    uint8_t old[64], fresh[64], pt[64];
    size_t oldlen = s_seal (sender, "sealed with A", old, sizeof old);
    size_t plen;
    uint32_t id = 0;
    assert_int_equal (
        shed_keyring_open (receiver, s_ad, sizeof s_ad, old, oldlen, pt, sizeof pt, &plen, &id),
        SHED_SEAL_OK);
    assert_int_equal (id, shed_keyring_key_id (a));

    //  Step 2: use B everywhere. New packets carry B's id; A's still open.
    assert_int_equal (shed_keyring_use (receiver, b), SHED_KR_OK);
    assert_int_equal (shed_keyring_use (sender, b), SHED_KR_OK);
    size_t freshlen = s_seal (sender, "sealed with B", fresh, sizeof fresh);
    assert_int_equal (
        shed_keyring_open (receiver, s_ad, sizeof s_ad, fresh, freshlen, pt, sizeof pt, &plen, &id),
        SHED_SEAL_OK);
    assert_int_equal (id, shed_keyring_key_id (b));
    assert_int_equal (s_open (receiver, old, oldlen), SHED_SEAL_OK);

    //  Step 3: remove A. Old packets now fail with KEYID; new ones still open.
    assert_int_equal (shed_keyring_remove (receiver, a), SHED_KR_OK);
    assert_int_equal (shed_keyring_remove (sender, a), SHED_KR_OK);
    assert_int_equal (s_open (receiver, old, oldlen), SHED_SEAL_ERR_KEYID);
    assert_int_equal (s_open (receiver, fresh, freshlen), SHED_SEAL_OK);
    assert_int_equal (shed_keyring_count (receiver), 1);
    shed_keyring_entry_t e;
    assert_int_equal (shed_keyring_entry (receiver, 0, &e), 0);
    assert_memory_equal (e.key, b, SHED_KEY_BYTES);
    assert_true (e.primary);
    sodium_memzero (&e, sizeof e);

    //  A receiver that skipped step 1 cannot read B packets.
    shed_keyring_t *laggard = shed_keyring_new ();
    assert_int_equal (shed_keyring_install (laggard, a), SHED_KR_OK);
    assert_int_equal (s_open (laggard, fresh, freshlen), SHED_SEAL_ERR_KEYID);

    shed_keyring_destroy (&laggard);
    shed_keyring_destroy (&sender);
    shed_keyring_destroy (&receiver);
    sodium_memzero (a, sizeof a);
    sodium_memzero (b, sizeof b);
}

static void
test_management (void **state)
{
    uint8_t a[SHED_KEY_BYTES], b[SHED_KEY_BYTES], c[SHED_KEY_BYTES];
    shed_keyring_generate (a);
    shed_keyring_generate (b);
    shed_keyring_generate (c);
    shed_keyring_t *ring = shed_keyring_new ();
    assert_int_equal (shed_keyring_use (ring, a), SHED_KR_ERR_ABSENT);
    assert_int_equal (shed_keyring_remove (ring, a), SHED_KR_ERR_ABSENT);
    assert_int_equal (shed_keyring_install (ring, a), SHED_KR_OK);
    assert_int_equal (shed_keyring_install (ring, a), SHED_KR_OK); //  idempotent
    assert_int_equal (shed_keyring_count (ring), 1);
    assert_int_equal (shed_keyring_install (ring, b), SHED_KR_OK);
    assert_int_equal (shed_keyring_install (ring, c), SHED_KR_OK);
    assert_int_equal (shed_keyring_install (ring, b), SHED_KR_OK);
    assert_int_equal (shed_keyring_count (ring), 3);
    //  First installed is primary; it cannot be removed.
    shed_keyring_entry_t e;
    assert_int_equal (shed_keyring_entry (ring, 0, &e), 0);
    assert_true (e.primary);
    assert_memory_equal (e.key, a, SHED_KEY_BYTES);
    assert_int_equal (e.id, shed_keyring_key_id (a));
    assert_int_equal (shed_keyring_remove (ring, a), SHED_KR_ERR_PRIMARY);
    //  Make c primary, remove b (before it): primary must still be c.
    assert_int_equal (shed_keyring_use (ring, c), SHED_KR_OK);
    assert_int_equal (shed_keyring_remove (ring, b), SHED_KR_OK);
    assert_int_equal (shed_keyring_remove (ring, b), SHED_KR_ERR_ABSENT);
    assert_int_equal (shed_keyring_count (ring), 2);
    assert_int_equal (shed_keyring_entry (ring, 1, &e), 0);
    assert_memory_equal (e.key, c, SHED_KEY_BYTES);
    assert_true (e.primary);
    assert_int_equal (shed_keyring_entry (ring, 0, &e), 0);
    assert_false (e.primary);
    assert_int_equal (shed_keyring_entry (ring, 2, &e), -1);
    //  Sealing uses c.
    uint8_t sealed[64];
    s_seal (ring, "x", sealed, sizeof sealed);
    uint32_t wire = (uint32_t) sealed[1] << 24 | (uint32_t) sealed[2] << 16
                    | (uint32_t) sealed[3] << 8 | sealed[4];
    assert_int_equal (wire, shed_keyring_key_id (c));
    //  Now a is removable.
    assert_int_equal (shed_keyring_remove (ring, a), SHED_KR_OK);
    assert_int_equal (shed_keyring_count (ring), 1);
    sodium_memzero (&e, sizeof e);
    shed_keyring_destroy (&ring);
}

static void
test_capacity (void **state)
{
    shed_keyring_t *ring = shed_keyring_new ();
    uint8_t keys[SHED_KEYRING_MAX + 1][SHED_KEY_BYTES];
    for (int i = 0; i <= SHED_KEYRING_MAX; i++)
        shed_keyring_generate (keys[i]);
    for (int i = 0; i < SHED_KEYRING_MAX; i++)
        assert_int_equal (shed_keyring_install (ring, keys[i]), SHED_KR_OK);
    assert_int_equal (shed_keyring_install (ring, keys[SHED_KEYRING_MAX]), SHED_KR_ERR_FULL);
    //  Re-installing a present key is still fine when full.
    assert_int_equal (shed_keyring_install (ring, keys[3]), SHED_KR_OK);
    assert_int_equal (shed_keyring_count (ring), SHED_KEYRING_MAX);
    //  Every key can open what it sealed.
    for (int i = 0; i < SHED_KEYRING_MAX; i++) {
        shed_keyring_t *one = shed_keyring_new ();
        assert_int_equal (shed_keyring_install (one, keys[i]), SHED_KR_OK);
        uint8_t sealed[64];
        size_t slen = s_seal (one, "k", sealed, sizeof sealed);
        assert_int_equal (s_open (ring, sealed, slen), SHED_SEAL_OK);
        shed_keyring_destroy (&one);
    }
    assert_int_equal (shed_keyring_remove (ring, keys[5]), SHED_KR_OK);
    assert_int_equal (shed_keyring_install (ring, keys[SHED_KEYRING_MAX]), SHED_KR_OK);
    sodium_memzero (keys, sizeof keys);
    shed_keyring_destroy (&ring);
}

static void
test_key_id (void **state)
{
    uint8_t key[SHED_KEY_BYTES], digest[32], buf[10 + SHED_KEY_BYTES];
    for (int round = 0; round < 20; round++) {
        shed_keyring_generate (key);
        memcpy (buf, "shed-keyid", 10);
        memcpy (buf + 10, key, SHED_KEY_BYTES);
        crypto_generichash (digest, sizeof digest, buf, sizeof buf, NULL, 0);
        uint32_t want = (uint32_t) digest[0] << 24 | (uint32_t) digest[1] << 16
                        | (uint32_t) digest[2] << 8 | digest[3];
        assert_int_equal (shed_keyring_key_id (key), want);
    }
}

static void
test_strerror (void **state)
{
    for (int code = 0; code >= -6; code--) {
        assert_non_null (shed_seal_strerror (code));
        assert_string_not_equal (shed_seal_strerror (code), "unknown error");
    }
    assert_string_equal (shed_seal_strerror (42), "unknown error");
}

//  --------------------------------------------------------------------------
//  Files

static int
s_setup (void **state)
{
    char *dir = strdup ("/tmp/shed-keyring-XXXXXX");
    assert_non_null (dir);
    assert_non_null (mkdtemp (dir));
    *state = dir;
    return 0;
}

static int
s_teardown (void **state)
{
    char cmd[PATH_MAX + 16];
    snprintf (cmd, sizeof cmd, "rm -rf '%s'", (char *) *state);
    assert_int_equal (system (cmd), 0);
    free (*state);
    return 0;
}

static void
test_save_load (void **state)
{
    char path[PATH_MAX], err[256] = "";
    snprintf (path, sizeof path, "%s/%s", (char *) *state, SHED_KEYRING_FILE);
    uint8_t k[3][SHED_KEY_BYTES];
    shed_keyring_t *ring = shed_keyring_new ();
    for (int i = 0; i < 3; i++) {
        shed_keyring_generate (k[i]);
        assert_int_equal (shed_keyring_install (ring, k[i]), SHED_KR_OK);
    }
    assert_int_equal (shed_keyring_use (ring, k[1]), SHED_KR_OK);
    assert_int_equal (shed_keyring_save (ring, path), 0);
    struct stat st;
    assert_int_equal (stat (path, &st), 0);
    assert_int_equal (st.st_mode & 07777, 0600);

    shed_keyring_t *back = shed_keyring_load (path, err, sizeof err);
    if (!back)
        fail_msg ("load: %s", err);
    assert_int_equal (shed_keyring_count (back), 3);
    for (size_t i = 0; i < 3; i++) {
        shed_keyring_entry_t a, b;
        assert_int_equal (shed_keyring_entry (ring, i, &a), 0);
        assert_int_equal (shed_keyring_entry (back, i, &b), 0);
        assert_memory_equal (a.key, b.key, SHED_KEY_BYTES);
        assert_int_equal (a.id, b.id);
        assert_int_equal (a.primary, b.primary);
        assert_int_equal (b.primary, i == 1);
        sodium_memzero (&a, sizeof a);
        sodium_memzero (&b, sizeof b);
    }
    uint8_t sealed[64];
    size_t slen = s_seal (back, "after reload", sealed, sizeof sealed);
    assert_int_equal (s_open (ring, sealed, slen), SHED_SEAL_OK);

    //  An empty keyring round-trips too.
    shed_keyring_t *empty = shed_keyring_new ();
    assert_int_equal (shed_keyring_save (empty, path), 0);
    shed_keyring_destroy (&empty);
    empty = shed_keyring_load (path, err, sizeof err);
    assert_non_null (empty);
    assert_int_equal (shed_keyring_count (empty), 0);
    shed_keyring_destroy (&empty);

    sodium_memzero (k, sizeof k);
    shed_keyring_destroy (&ring);
    shed_keyring_destroy (&back);
}

static void
s_expect_load_error (const char *path, const char *content, mode_t mode, const char *needle)
{
    assert_int_equal (shed_write_file_atomic (path, content, strlen (content), mode), 0);
    char err[256] = "";
    shed_keyring_t *ring = shed_keyring_load (path, err, sizeof err);
    if (ring || !strstr (err, needle))
        fail_msg ("content \"%s\": want error with \"%s\", got \"%s\"", content, needle, err);
}

static void
test_load_errors (void **state)
{
    char path[PATH_MAX], err[256] = "";
    snprintf (path, sizeof path, "%s/%s", (char *) *state, SHED_KEYRING_FILE);
    errno = 0;
    assert_null (shed_keyring_load (path, err, sizeof err));
    assert_int_equal (errno, ENOENT);
    assert_non_null (strstr (err, path));

    char k1[SHED_KEY_TEXT_MAX], k2[SHED_KEY_TEXT_MAX];
    uint8_t key[SHED_KEY_BYTES];
    shed_keyring_generate (key);
    shed_key_to_text (key, k1);
    shed_keyring_generate (key);
    shed_key_to_text (key, k2);
    char text[512];

    snprintf (text, sizeof text, "primary %s\n", k1);
    s_expect_load_error (path, text, 0644, "mode 0644, expected 0600");
    s_expect_load_error (path, text, 0640, "mode 0640");
    s_expect_load_error (path, "primary notbase64\n", 0600, "line 1: bad base64");
    snprintf (text, sizeof text, "# comment\nprimary %s\nsecondary %s\n", k1, k2);
    s_expect_load_error (path, text, 0600, "line 3: expected");
    snprintf (text, sizeof text, "primary %s\nprimary %s\n", k1, k2);
    s_expect_load_error (path, text, 0600, "line 2: second primary");
    snprintf (text, sizeof text, "primary %s\nkey %s\n", k1, k1);
    s_expect_load_error (path, text, 0600, "line 2: duplicate key");
    snprintf (text, sizeof text, "key %s\nkey %s\n", k1, k2);
    s_expect_load_error (path, text, 0600, "no primary key");
    snprintf (text, sizeof text, "primary  %s\n", k1);
    s_expect_load_error (path, text, 0600, "line 1: bad base64");
    snprintf (text, sizeof text, "primary %.40s\n", k1);
    s_expect_load_error (path, text, 0600, "line 1: bad base64");
    s_expect_load_error (path, "primary\n", 0600, "line 1: expected");

    //  Owned by another uid: refused even at 0600 (that user can read the
    //  keys or have written their own). chown needs root.
    if (geteuid () == 0) {
        snprintf (text, sizeof text, "primary %s\n", k1);
        assert_int_equal (shed_write_file_atomic (path, text, strlen (text), 0600), 0);
        assert_int_equal (chown (path, 54321, 54321), 0);
        shed_keyring_t *ring = shed_keyring_load (path, err, sizeof err);
        if (ring || !strstr (err, "owned by uid 54321"))
            fail_msg ("foreign owner: want \"owned by uid 54321\", got \"%s\"", err);
        assert_int_equal (chown (path, geteuid (), getegid ()), 0);
        ring = shed_keyring_load (path, err, sizeof err);
        assert_non_null (ring);
        shed_keyring_destroy (&ring);
    }

    //  Too many keys.
    char many[SHED_KEYRING_MAX * 64 + 128] = "";
    for (int i = 0; i <= SHED_KEYRING_MAX; i++) {
        shed_keyring_generate (key);
        shed_key_to_text (key, k2);
        snprintf (many + strlen (many), sizeof many - strlen (many), "%s %s\n",
                  i == 0 ? "primary" : "key", k2);
    }
    s_expect_load_error (path, many, 0600, "line 17: more than 16 keys");

    //  Comments, blank lines, CRLF and a missing final newline are fine.
    snprintf (text, sizeof text, "# cluster keyring\r\n\r\nkey %s\r\nprimary %s", k1, k2);
    assert_int_equal (shed_write_file_atomic (path, text, strlen (text), 0600), 0);
    shed_keyring_t *ring = shed_keyring_load (path, err, sizeof err);
    if (!ring)
        fail_msg ("load: %s", err);
    assert_int_equal (shed_keyring_count (ring), 2);
    shed_keyring_entry_t e;
    assert_int_equal (shed_keyring_entry (ring, 1, &e), 0);
    assert_true (e.primary);
    sodium_memzero (&e, sizeof e);
    shed_keyring_destroy (&ring);

    //  A NUL inside the text is a clean error from the parser.
    const char nul[] = "primary AAAA\0AAAA\n";
    assert_null (shed_keyring_parse (nul, sizeof nul - 1, err, sizeof err));
    assert_non_null (strstr (err, "line 1"));
    sodium_memzero (key, sizeof key);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_round_trip),
        cmocka_unit_test (test_nonces_differ),
        cmocka_unit_test (test_ad_is_authenticated),
        cmocka_unit_test (test_wrong_keyring),
        cmocka_unit_test (test_tamper_every_byte),
        cmocka_unit_test (test_truncate_every_length),
        cmocka_unit_test (test_buffer_too_small),
        cmocka_unit_test (test_empty_keyring),
        cmocka_unit_test (test_rotation),
        cmocka_unit_test (test_management),
        cmocka_unit_test (test_capacity),
        cmocka_unit_test (test_key_id),
        cmocka_unit_test (test_strerror),
        cmocka_unit_test_setup_teardown (test_save_load, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_load_errors, s_setup, s_teardown),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
