/* identity_test.c - identity file life cycle, signatures, key text forms. */
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
#include <zmq.h>

static int
s_setup (void **state)
{
    char *dir = strdup ("/tmp/shed-identity-XXXXXX");
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
s_keypath (char *out, size_t cap, void **state)
{
    snprintf (out, cap, "%s/%s", (char *) *state, SHED_IDENTITY_FILE);
}

/* Replace line `lineno` (1-based) of the identity file with `text` (NULL
 * drops the line), keeping mode 0600. */
static void
s_edit_line (void **state, int lineno, const char *text)
{
    char path[PATH_MAX];
    s_keypath (path, sizeof path, state);
    size_t len;
    char *old = shed_read_file (path, 4096, &len);
    assert_non_null (old);
    char out[4096] = "";
    int i = 1;
    for (char *save = NULL, *line = strtok_r (old, "\n", &save); line;
         line = strtok_r (NULL, "\n", &save), i++) {
        const char *use = i == lineno ? text : line;
        if (use) {
            strcat (out, use);
            strcat (out, "\n");
        }
    }
    free (old);
    assert_int_equal (shed_write_file_atomic (path, out, strlen (out), 0600), 0);
}

/* Load and expect failure with `needle` in the message. */
static void
s_expect_error (void **state, const char *needle)
{
    char err[256] = "";
    shed_identity_t *id = shed_identity_load_or_create (*state, err, sizeof err);
    if (id || !strstr (err, needle))
        fail_msg ("expected error containing \"%s\", got \"%s\"", needle, err);
}

static void
test_create_and_reload (void **state)
{
    char err[256] = "";
    char path[PATH_MAX];
    s_keypath (path, sizeof path, state);
    shed_identity_t *a = shed_identity_load_or_create (*state, err, sizeof err);
    assert_non_null (a);
    struct stat st;
    assert_int_equal (stat (path, &st), 0);
    assert_int_equal (st.st_mode & 07777, 0600);

    shed_identity_t *b = shed_identity_load_or_create (*state, err, sizeof err);
    assert_non_null (b);
    assert_memory_equal (shed_identity_x25519_public (a), shed_identity_x25519_public (b), 32);
    assert_memory_equal (shed_identity_x25519_secret (a), shed_identity_x25519_secret (b), 32);
    assert_memory_equal (shed_identity_ed25519_public (a), shed_identity_ed25519_public (b), 32);

    //  A signature by the reloaded identity verifies with the original key.
    uint8_t sig[SHED_SIG_BYTES];
    assert_int_equal (shed_identity_sign (b, (const uint8_t *) "m", 1, sig), 0);
    assert_int_equal (
        shed_identity_verify (shed_identity_ed25519_public (a), (const uint8_t *) "m", 1, sig), 0);
    //  The X25519 pair is consistent.
    uint8_t derived[32];
    crypto_scalarmult_base (derived, shed_identity_x25519_secret (b));
    assert_memory_equal (derived, shed_identity_x25519_public (b), 32);

    shed_identity_destroy (&a);
    shed_identity_destroy (&b);
    assert_null (a);
    shed_identity_destroy (&b); //  NULL-safe
}

static void
test_creates_data_dir (void **state)
{
    char dir[PATH_MAX], err[256];
    snprintf (dir, sizeof dir, "%s/x/y", (char *) *state);
    shed_identity_t *id = shed_identity_load_or_create (dir, err, sizeof err);
    assert_non_null (id);
    shed_identity_destroy (&id);
}

static void
test_bad_mode (void **state)
{
    char err[256] = "", path[PATH_MAX];
    s_keypath (path, sizeof path, state);
    shed_identity_t *id = shed_identity_load_or_create (*state, err, sizeof err);
    assert_non_null (id);
    shed_identity_destroy (&id);
    assert_int_equal (chmod (path, 0644), 0);
    s_expect_error (state, "mode 0644, expected 0600");
    s_expect_error (state, SHED_IDENTITY_FILE);
    //  The file is not replaced: fixing the mode gives the same identity back.
    assert_int_equal (chmod (path, 0400), 0);
    s_expect_error (state, "mode 0400");
    assert_int_equal (chmod (path, 0600), 0);
    id = shed_identity_load_or_create (*state, err, sizeof err);
    assert_non_null (id);
    shed_identity_destroy (&id);
}

/* A key file someone else owns is refused even at mode 0600: its owner
 * can read it and could have swapped in a key of their own. Needs root to
 * chown; skipped otherwise. */
static void
test_bad_owner (void **state)
{
    if (geteuid () != 0)
        skip ();
    char err[256] = "", path[PATH_MAX];
    s_keypath (path, sizeof path, state);
    shed_identity_t *id = shed_identity_load_or_create (*state, err, sizeof err);
    assert_non_null (id);
    shed_identity_destroy (&id);
    assert_int_equal (chown (path, 54321, 54321), 0);
    s_expect_error (state, "owned by uid 54321");
    s_expect_error (state, SHED_IDENTITY_FILE);
    //  Not replaced either: back to our uid, the same file loads again.
    assert_int_equal (chown (path, geteuid (), getegid ()), 0);
    id = shed_identity_load_or_create (*state, err, sizeof err);
    assert_non_null (id);
    shed_identity_destroy (&id);
}

static void
test_corrupted_lines (void **state)
{
    char err[256];
    shed_identity_t *id = shed_identity_load_or_create (*state, err, sizeof err);
    assert_non_null (id);
    shed_identity_destroy (&id);
    char path[PATH_MAX];
    s_keypath (path, sizeof path, state);
    size_t len;
    char *good = shed_read_file (path, 4096, &len);
    assert_non_null (good);

    s_edit_line (state, 3, "x25519-secret !!!notbase64!!!");
    s_expect_error (state, "line 3: bad base64");
    assert_int_equal (shed_write_file_atomic (path, good, len, 0600), 0);

    s_edit_line (state, 1, "shed-identity v2");
    s_expect_error (state, "line 1: expected");
    assert_int_equal (shed_write_file_atomic (path, good, len, 0600), 0);

    s_edit_line (state, 4, "ed25519-pubkey AAAA");
    s_expect_error (state, "line 4: unknown keyword");
    assert_int_equal (shed_write_file_atomic (path, good, len, 0600), 0);

    s_edit_line (state, 2, "x25519-public");
    s_expect_error (state, "line 2: expected");
    assert_int_equal (shed_write_file_atomic (path, good, len, 0600), 0);

    //  Base64 of 31 bytes.
    s_edit_line (state, 5, "ed25519-seed AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==");
    s_expect_error (state, "line 5: bad base64");
    assert_int_equal (shed_write_file_atomic (path, good, len, 0600), 0);

    s_edit_line (state, 5, "x25519-public AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=");
    s_expect_error (state, "line 5: duplicate x25519-public");
    assert_int_equal (shed_write_file_atomic (path, good, len, 0600), 0);

    //  Unchanged file still loads.
    id = shed_identity_load_or_create (*state, err, sizeof err);
    assert_non_null (id);
    shed_identity_destroy (&id);
    sodium_memzero (good, len);
    free (good);
}

static void
test_truncated (void **state)
{
    char err[256], path[PATH_MAX];
    shed_identity_t *id = shed_identity_load_or_create (*state, err, sizeof err);
    assert_non_null (id);
    shed_identity_destroy (&id);
    s_keypath (path, sizeof path, state);
    size_t len;
    char *good = shed_read_file (path, 4096, &len);
    assert_non_null (good);

    //  Every proper prefix must fail (the last one only drops the final
    //  newline, which is still a complete file).
    for (size_t cut = 0; cut + 1 < len; cut++) {
        assert_int_equal (shed_write_file_atomic (path, good, cut, 0600), 0);
        err[0] = '\0';
        id = shed_identity_load_or_create (*state, err, sizeof err);
        if (id)
            fail_msg ("truncated at %zu bytes loaded", cut);
        assert_true (strlen (err) > 0);
    }
    assert_int_equal (shed_write_file_atomic (path, good, len - 1, 0600), 0);
    id = shed_identity_load_or_create (*state, err, sizeof err);
    assert_non_null (id);
    shed_identity_destroy (&id);

    //  Cut mid-way through the last line's base64: names line 5.
    assert_int_equal (shed_write_file_atomic (path, good, len - 10, 0600), 0);
    s_expect_error (state, "line 5: bad base64");
    //  Last line missing entirely.
    s_edit_line (state, 5, NULL);
    s_expect_error (state, "missing ed25519-seed");
    //  Empty file.
    assert_int_equal (shed_write_file_atomic (path, "", 0, 0600), 0);
    s_expect_error (state, "empty file");
    sodium_memzero (good, len);
    free (good);
}

static void
test_mismatched_keys (void **state)
{
    char err[256];
    shed_identity_t *id = shed_identity_load_or_create (*state, err, sizeof err);
    assert_non_null (id);
    shed_identity_destroy (&id);
    char path[PATH_MAX];
    s_keypath (path, sizeof path, state);
    size_t len;
    char *good = shed_read_file (path, 4096, &len);
    assert_non_null (good);

    //  Public key of another identity.
    shed_identity_t *other = shed_identity_new_ephemeral ();
    assert_non_null (other);
    char text[SHED_KEY_TEXT_MAX], line[128];
    shed_key_to_text (shed_identity_x25519_public (other), text);
    snprintf (line, sizeof line, "x25519-public %s", text);
    s_edit_line (state, 2, line);
    s_expect_error (state, "line 2: x25519-public does not match");
    assert_int_equal (shed_write_file_atomic (path, good, len, 0600), 0);

    shed_key_to_text (shed_identity_ed25519_public (other), text);
    snprintf (line, sizeof line, "ed25519-public %s", text);
    s_edit_line (state, 4, line);
    s_expect_error (state, "line 4: ed25519-public does not match");
    shed_identity_destroy (&other);
    sodium_memzero (good, len);
    free (good);
}

static void
test_sign_verify (void **state)
{
    shed_identity_t *a = shed_identity_new_ephemeral ();
    shed_identity_t *b = shed_identity_new_ephemeral ();
    assert_non_null (a);
    assert_non_null (b);
    assert_memory_not_equal (shed_identity_ed25519_public (a), shed_identity_ed25519_public (b),
                             32);
    uint8_t msg[] = "claim 10.0.0.0/24 by node-a";
    uint8_t sig[SHED_SIG_BYTES];
    assert_int_equal (shed_identity_sign (a, msg, sizeof msg, sig), 0);
    const uint8_t *pk = shed_identity_ed25519_public (a);
    assert_int_equal (shed_identity_verify (pk, msg, sizeof msg, sig), 0);
    //  Wrong key.
    assert_int_equal (shed_identity_verify (shed_identity_ed25519_public (b), msg, sizeof msg, sig),
                      -1);
    //  Tampered message, every byte.
    for (size_t i = 0; i < sizeof msg; i++) {
        msg[i] ^= 0x01;
        assert_int_equal (shed_identity_verify (pk, msg, sizeof msg, sig), -1);
        msg[i] ^= 0x01;
    }
    //  Tampered signature, every byte.
    for (size_t i = 0; i < sizeof sig; i++) {
        sig[i] ^= 0x80;
        assert_int_equal (shed_identity_verify (pk, msg, sizeof msg, sig), -1);
        sig[i] ^= 0x80;
    }
    //  Truncated message.
    assert_int_equal (shed_identity_verify (pk, msg, sizeof msg - 1, sig), -1);
    //  Empty message signs and verifies.
    assert_int_equal (shed_identity_sign (a, NULL, 0, sig), 0);
    assert_int_equal (shed_identity_verify (pk, NULL, 0, sig), 0);
    shed_identity_destroy (&a);
    shed_identity_destroy (&b);
}

static void
test_text_round_trip (void **state)
{
    uint8_t key[32], back[32];
    char text[SHED_KEY_TEXT_MAX];
    for (int round = 0; round < 100; round++) {
        randombytes_buf (key, sizeof key);
        shed_key_to_text (key, text);
        assert_int_equal (strlen (text), 44);
        assert_int_equal (text[43], '=');
        assert_int_equal (shed_key_from_text (text, back), 0);
        assert_memory_equal (key, back, 32);
    }
    memset (key, 0, sizeof key);
    shed_key_to_text (key, text);
    assert_string_equal (text, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=");
}

static void
test_bad_base64 (void **state)
{
    uint8_t key[32], before[32];
    memset (key, 0x5a, sizeof key);
    memcpy (before, key, sizeof key);
    const char *bad[] = {
        "",
        "AAAA",                                             //  3 bytes
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",      //  missing padding
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==",    //  extra padding
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", //  35 bytes
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB=",     //  non-zero pad bits
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA-=",     //  url-safe alphabet
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA= ",    //  trailing space
        " AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",    //  leading space
        "AAAAAAAAAAAAAAAAAAAAA*AAAAAAAAAAAAAAAAAAAAA=",     //  bad char
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (shed_key_from_text (bad[i], key) != -1)
            fail_msg ("accepted \"%s\"", bad[i]);
        //  A failed parse leaves the output untouched.
        assert_memory_equal (key, before, 32);
    }
    assert_int_equal (shed_key_from_text (NULL, key), -1);
}

static void
test_z85 (void **state)
{
    uint8_t key[32], back[32];
    char z85[41];
    for (int round = 0; round < 50; round++) {
        randombytes_buf (key, sizeof key);
        shed_key_to_z85 (key, z85);
        assert_int_equal (strlen (z85), 40);
        assert_non_null (zmq_z85_decode (back, z85));
        assert_memory_equal (key, back, 32);
    }
    //  Agrees with libzmq's CURVE key generator: its z85 public key decodes
    //  to the key we would print for it.
    char pub[41], sec[41];
    if (zmq_curve_keypair (pub, sec) != 0) {
        //  libzmq built without CURVE: nothing to compare against.
        return;
    }
    assert_non_null (zmq_z85_decode (back, pub));
    shed_key_to_z85 (back, z85);
    assert_string_equal (z85, pub);
    //  And our X25519 public key is the one libzmq derives from our secret.
    shed_identity_t *id = shed_identity_new_ephemeral ();
    assert_non_null (id);
    char our_pub[41], our_sec[41], derived[41];
    shed_key_to_z85 (shed_identity_x25519_public (id), our_pub);
    shed_key_to_z85 (shed_identity_x25519_secret (id), our_sec);
    assert_int_equal (zmq_curve_public (derived, our_sec), 0);
    assert_string_equal (derived, our_pub);
    sodium_memzero (our_sec, sizeof our_sec);
    sodium_memzero (sec, sizeof sec);
    shed_identity_destroy (&id);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown (test_create_and_reload, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_creates_data_dir, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_bad_mode, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_bad_owner, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_corrupted_lines, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_truncated, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_mismatched_keys, s_setup, s_teardown),
        cmocka_unit_test (test_sign_verify),
        cmocka_unit_test (test_text_round_trip),
        cmocka_unit_test (test_bad_base64),
        cmocka_unit_test (test_z85),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
