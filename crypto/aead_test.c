/* aead_test.c - crypto/aead.c against libsodium: the same bytes both ways
 * for both algorithms (a peer still sealing with libsodium interoperates),
 * tampering refused and the buffer wiped, the context cache under many
 * keys, and threads sealing at once. */
#include "crypto/aead.h"
#include "crypto/session.h"

#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <sodium.h>

static int
s_sodium_seal (uint8_t aead, uint8_t *out, const uint8_t *m, size_t len, const uint8_t *ad,
               size_t adlen, const uint8_t *nonce, const uint8_t *key)
{
    if (aead == SHED_AEAD_AES256GCM)
        return crypto_aead_aes256gcm_encrypt (out, NULL, m, len, ad, adlen, NULL, nonce, key);
    return crypto_aead_chacha20poly1305_ietf_encrypt (out, NULL, m, len, ad, adlen, NULL, nonce,
                                                      key);
}

static int
s_sodium_open (uint8_t aead, uint8_t *out, const uint8_t *c, size_t clen, const uint8_t *ad,
               size_t adlen, const uint8_t *nonce, const uint8_t *key)
{
    if (aead == SHED_AEAD_AES256GCM)
        return crypto_aead_aes256gcm_decrypt (out, NULL, NULL, c, clen, ad, adlen, nonce, key);
    return crypto_aead_chacha20poly1305_ietf_decrypt (out, NULL, NULL, c, clen, ad, adlen, nonce,
                                                      key);
}

static void
s_check_interop (uint8_t aead)
{
    if (aead == SHED_AEAD_AES256GCM && !crypto_aead_aes256gcm_is_available ())
        return;
    size_t sizes[] = { 0, 1, 15, 16, 17, 1420, 65000 };
    uint8_t key[32], nonce[12], ad[16];
    uint8_t *msg = malloc (65000), *ours = malloc (65016), *theirs = malloc (65016);
    assert_non_null (msg);
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        size_t len = sizes[s];
        randombytes_buf (key, sizeof key);
        randombytes_buf (nonce, sizeof nonce);
        randombytes_buf (ad, sizeof ad);
        randombytes_buf (msg, len);
        memcpy (ours, msg, len);
        assert_int_equal (shed_aead_seal (aead, key, nonce, ad, sizeof ad, ours, len), 0);
        assert_int_equal (s_sodium_seal (aead, theirs, msg, len, ad, sizeof ad, nonce, key), 0);
        assert_memory_equal (ours, theirs, len + 16);
        //  libsodium opens ours; we open libsodium's.
        uint8_t *plain = malloc (len + 1);
        assert_int_equal (s_sodium_open (aead, plain, ours, len + 16, ad, sizeof ad, nonce, key),
                          0);
        assert_memory_equal (plain, msg, len);
        assert_int_equal (shed_aead_open (aead, key, nonce, ad, sizeof ad, theirs, len), 0);
        assert_memory_equal (theirs, msg, len);
        free (plain);
    }
    free (msg);
    free (ours);
    free (theirs);
}

static void
test_interop_aes (void **state)
{
    (void) state;
    s_check_interop (SHED_AEAD_AES256GCM);
}

static void
test_interop_chacha (void **state)
{
    (void) state;
    s_check_interop (SHED_AEAD_CHACHA20POLY1305);
}

static void
test_tamper (void **state)
{
    (void) state;
    uint8_t aeads[] = { SHED_AEAD_AES256GCM, SHED_AEAD_CHACHA20POLY1305 };
    for (size_t a = 0; a < 2; a++) {
        uint8_t key[32], nonce[12] = { 0 }, ad[16] = { 1 }, buf[100 + 16], zero[100] = { 0 };
        randombytes_buf (key, sizeof key);
        memset (buf, 0x5a, 100);
        assert_int_equal (shed_aead_seal (aeads[a], key, nonce, ad, sizeof ad, buf, 100), 0);
        uint8_t copy[sizeof buf];
        //  A flipped bit in ciphertext, tag, AD or nonce: refused, wiped.
        for (int what = 0; what < 4; what++) {
            memcpy (copy, buf, sizeof buf);
            uint8_t ad2[16], nonce2[12];
            memcpy (ad2, ad, sizeof ad);
            memcpy (nonce2, nonce, sizeof nonce);
            if (what == 0)
                copy[7] ^= 1;
            if (what == 1)
                copy[100 + 3] ^= 0x80;
            if (what == 2)
                ad2[0] ^= 1;
            if (what == 3)
                nonce2[11] ^= 1;
            assert_int_equal (shed_aead_open (aeads[a], key, nonce2, ad2, sizeof ad2, copy, 100),
                              -1);
            assert_memory_equal (copy, zero, 100);
        }
        //  Another key.
        memcpy (copy, buf, sizeof buf);
        key[0] ^= 1;
        assert_int_equal (shed_aead_open (aeads[a], key, nonce, ad, sizeof ad, copy, 100), -1);
    }
    //  No such algorithm.
    uint8_t key[32] = { 0 }, nonce[12] = { 0 }, buf[32] = { 0 };
    assert_int_equal (shed_aead_seal (0x80, key, nonce, NULL, 0, buf, 16), -1);
}

//  More keys than cache slots, used round robin and interleaved: every
//  message must still be sealed under its own key.
static void
test_many_keys (void **state)
{
    (void) state;
    enum { KEYS = 20 };
    uint8_t keys[KEYS][32], nonce[12] = { 0 }, ad[4] = { 9, 9, 9, 9 };
    for (int k = 0; k < KEYS; k++)
        randombytes_buf (keys[k], 32);
    for (int round = 0; round < 3; round++)
        for (int k = 0; k < KEYS; k++) {
            uint8_t buf[64 + 16], ref[64 + 16], msg[64];
            memset (msg, k, sizeof msg);
            memcpy (buf, msg, sizeof msg);
            nonce[0] = (uint8_t) round;
            uint8_t aead = k & 1 ? SHED_AEAD_CHACHA20POLY1305 : SHED_AEAD_AES256GCM;
            if (aead == SHED_AEAD_AES256GCM && !crypto_aead_aes256gcm_is_available ())
                continue;
            assert_int_equal (shed_aead_seal (aead, keys[k], nonce, ad, 4, buf, 64), 0);
            assert_int_equal (s_sodium_seal (aead, ref, msg, 64, ad, 4, nonce, keys[k]), 0);
            assert_memory_equal (buf, ref, sizeof buf);
            assert_int_equal (shed_aead_open (aead, keys[k], nonce, ad, 4, buf, 64), 0);
            assert_memory_equal (buf, msg, 64);
        }
    shed_aead_thread_flush ();
    shed_aead_thread_flush ();
}

static void *
s_worker (void *arg)
{
    const uint8_t *key = (const uint8_t *) arg;
    uint8_t nonce[12] = { 0 }, buf[1400 + 16], msg[1400];
    for (int i = 0; i < 500; i++) {
        memcpy (nonce, &i, sizeof i);
        memset (msg, i, sizeof msg);
        memcpy (buf, msg, sizeof msg);
        if (shed_aead_seal (SHED_AEAD_CHACHA20POLY1305, key, nonce, NULL, 0, buf, sizeof msg) != 0
            || shed_aead_open (SHED_AEAD_CHACHA20POLY1305, key, nonce, NULL, 0, buf, sizeof msg)
                   != 0
            || memcmp (buf, msg, sizeof msg) != 0)
            return (void *) 1;
    }
    return NULL;
}

static void
test_threads (void **state)
{
    (void) state;
    uint8_t key[32];
    randombytes_buf (key, sizeof key);
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        assert_int_equal (pthread_create (&t[i], NULL, s_worker, key), 0);
    for (int i = 0; i < 4; i++) {
        void *rc;
        pthread_join (t[i], &rc);
        assert_null (rc);
    }
}

int
main (void)
{
    if (sodium_init () < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_interop_aes), cmocka_unit_test (test_interop_chacha),
        cmocka_unit_test (test_tamper),      cmocka_unit_test (test_many_keys),
        cmocka_unit_test (test_threads),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
