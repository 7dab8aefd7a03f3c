/* digest_test.c - sha256 of buffers and files, checked against libsodium's
 * independent sha256 and the FIPS 180-2 "abc" vector. */
#include "crypto/digest.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include <sodium.h>

#define S_ABC "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"

/* The reference: libsodium's own sha256 of buf as hex. */
static void
s_reference (const uint8_t *buf, size_t len, char hex[SHED_SHA256_HEX + 1])
{
    uint8_t md[crypto_hash_sha256_BYTES];
    crypto_hash_sha256 (md, buf, len);
    sodium_bin2hex (hex, SHED_SHA256_HEX + 1, md, sizeof md);
}

/* A temp file with len random bytes (3 MiB spans several reads). */
static int
s_file (uint8_t **data, size_t len)
{
    char path[] = "/tmp/digest_test.XXXXXX";
    int fd = mkstemp (path);
    assert_true (fd >= 0);
    unlink (path);
    *data = malloc (len ? len : 1);
    randombytes_buf (*data, len);
    assert_int_equal (write (fd, *data, len), (ssize_t) len);
    return fd;
}

static void
test_abc (void **state)
{
    (void) state;
    shed_sha256_t *h = shed_sha256_new ();
    assert_non_null (h);
    shed_sha256_update (h, "a", 1);
    shed_sha256_update (h, "bc", 2);
    char hex[SHED_SHA256_HEX + 1];
    shed_sha256_final (h, hex);
    assert_string_equal (hex, S_ABC);
    shed_sha256_destroy (&h);
    assert_null (h);
}

static void
test_file_whole_and_ranges (void **state)
{
    (void) state;
    size_t len = 3 * 1024 * 1024 + 17;
    uint8_t *data;
    int fd = s_file (&data, len);
    char want[SHED_SHA256_HEX + 1], got[SHED_SHA256_HEX + 1];

    s_reference (data, len, want);
    uint64_t bytes = 0;
    assert_int_equal (shed_sha256_fd (fd, got, &bytes), 0);
    assert_int_equal (bytes, len);
    assert_string_equal (got, want);

    /* a prefix from the file then the rest from memory: how a resumed
     * transfer hashes */
    size_t cut = 1024 * 1024 + 5;
    shed_sha256_t *h = shed_sha256_new ();
    uint64_t hashed = 0;
    assert_int_equal (shed_sha256_update_fd (h, fd, 0, cut, &hashed), 0);
    assert_int_equal (hashed, cut);
    shed_sha256_update (h, data + cut, len - cut);
    shed_sha256_final (h, got);
    assert_string_equal (got, want);
    shed_sha256_destroy (&h);

    /* a range past the end of a file that claims to be longer: EIO */
    h = shed_sha256_new ();
    errno = 0;
    assert_int_equal (shed_sha256_update_fd (h, fd, 0, len + 1, &hashed), -1);
    assert_int_equal (errno, EIO);
    assert_int_equal (hashed, len);
    shed_sha256_destroy (&h);
    close (fd);
    free (data);
}

static void
test_empty_file (void **state)
{
    (void) state;
    uint8_t *data;
    int fd = s_file (&data, 0);
    char want[SHED_SHA256_HEX + 1], got[SHED_SHA256_HEX + 1];
    s_reference (data, 0, want);
    uint64_t bytes = 99;
    assert_int_equal (shed_sha256_fd (fd, got, &bytes), 0);
    assert_int_equal (bytes, 0);
    assert_string_equal (got, want);
    close (fd);
    free (data);
}

static void
test_bad_fd (void **state)
{
    (void) state;
    char got[SHED_SHA256_HEX + 1];
    errno = 0;
    assert_int_equal (shed_sha256_fd (-1, got, NULL), -1);
    assert_int_equal (errno, EBADF);
}

static void
test_hex_valid (void **state)
{
    (void) state;
    assert_true (shed_sha256_hex_valid (S_ABC));
    assert_false (shed_sha256_hex_valid (NULL));
    assert_false (shed_sha256_hex_valid (""));
    assert_false (
        shed_sha256_hex_valid ("BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD"));
    assert_false (shed_sha256_hex_valid (S_ABC "0"));
    char shorter[SHED_SHA256_HEX] = { 0 };
    memcpy (shorter, S_ABC, SHED_SHA256_HEX - 1);
    assert_false (shed_sha256_hex_valid (shorter));
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_abc),        cmocka_unit_test (test_file_whole_and_ranges),
        cmocka_unit_test (test_empty_file), cmocka_unit_test (test_bad_fd),
        cmocka_unit_test (test_hex_valid),
    };
    if (sodium_init () < 0)
        return 1;
    return cmocka_run_group_tests (tests, NULL, NULL);
}
