/*
 * http_tokens_test.c - the remote API's token store (node/http/http_tokens.h):
 * a minted token authenticates with its role and nothing else does (wrong
 * secret, another id, a revoked one, malformed headers); the file keeps
 * hashes only, mode 0600, survives a reopen; a store others can read, or
 * one that does not parse, is refused.
 */
#include "node/http/http_tokens.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

typedef struct {
    char dir[64];
    char path[96];
} s_ctx_t;

static int
s_setup (void **state)
{
    s_ctx_t *c = calloc (1, sizeof *c);
    strcpy (c->dir, "/tmp/http_tokens_test.XXXXXX");
    assert_non_null (mkdtemp (c->dir));
    snprintf (c->path, sizeof c->path, "%s/api_tokens", c->dir);
    *state = c;
    return 0;
}

static int
s_teardown (void **state)
{
    s_ctx_t *c = *state;
    unlink (c->path);
    rmdir (c->dir);
    free (c);
    return 0;
}

static http_auth_t
s_check (http_tokens_t *t, const char *token, http_role_t *role, char *id)
{
    char header[200];
    snprintf (header, sizeof header, "Bearer %s", token);
    return http_tokens_check (t, header, role, id);
}

static void
test_create_check_revoke (void **state)
{
    s_ctx_t *c = *state;
    char err[256], op[API_TOKEN_TEXT_MAX + 1], rd[API_TOKEN_TEXT_MAX + 1];
    char op_id[API_TOKEN_ID_MAX + 1], rd_id[API_TOKEN_ID_MAX + 1], id[API_TOKEN_ID_MAX + 1];
    http_tokens_t *t = http_tokens_open (c->path, err, sizeof err);
    assert_non_null (t);
    assert_int_equal (http_tokens_create (t, HTTP_ROLE_OPERATOR, "ci", op, op_id, err, sizeof err),
                      0);
    assert_int_equal (http_tokens_create (t, HTTP_ROLE_READ, "", rd, rd_id, err, sizeof err), 0);
    assert_int_equal (strlen (op), 4 + 8 + 1 + 64);
    assert_int_equal (strncmp (op, "sht_", 4), 0);
    assert_int_equal (strncmp (op + 4, op_id, 8), 0);
    assert_int_equal (http_tokens_count (t), 2);

    http_role_t role;
    assert_int_equal (s_check (t, op, &role, id), HTTP_AUTH_OK);
    assert_int_equal (role, HTTP_ROLE_OPERATOR);
    assert_string_equal (id, op_id);
    assert_int_equal (s_check (t, rd, &role, id), HTTP_AUTH_OK);
    assert_int_equal (role, HTTP_ROLE_READ);
    char h[200];
    snprintf (h, sizeof h, "bearer   %s", rd); /* scheme is case-insensitive */
    assert_int_equal (http_tokens_check (t, h, &role, id), HTTP_AUTH_OK);

    /* One secret digit off; another token's id with this secret. */
    char wrong[API_TOKEN_TEXT_MAX + 1];
    strcpy (wrong, op);
    wrong[strlen (wrong) - 1] = wrong[strlen (wrong) - 1] == '0' ? '1' : '0';
    assert_int_equal (s_check (t, wrong, &role, id), HTTP_AUTH_UNKNOWN);
    assert_int_equal (role, HTTP_ROLE_NONE);
    assert_string_equal (id, op_id); /* named in the log, never the secret */
    strcpy (wrong, op);
    memcpy (wrong + 4, rd_id, 8);
    assert_int_equal (s_check (t, wrong, &role, id), HTTP_AUTH_UNKNOWN);

    assert_int_equal (http_tokens_check (t, NULL, &role, id), HTTP_AUTH_MISSING);
    assert_int_equal (http_tokens_check (t, "", &role, id), HTTP_AUTH_MALFORMED);
    assert_int_equal (http_tokens_check (t, "Basic dXNlcjpwdw==", &role, id), HTTP_AUTH_MALFORMED);
    assert_int_equal (s_check (t, "sht_", &role, id), HTTP_AUTH_MALFORMED);
    strcpy (wrong, op);
    wrong[20] = 'G';
    assert_int_equal (s_check (t, wrong, &role, id), HTTP_AUTH_MALFORMED);
    strcpy (wrong, op);
    strcat (wrong, "0");
    assert_int_equal (s_check (t, wrong, &role, id), HTTP_AUTH_MALFORMED);

    /* The list names tokens, with use counts, and never a secret. */
    size_t n = 0;
    api_token_t *list = http_tokens_list (t, &n);
    assert_int_equal (n, 2);
    assert_string_equal (list[0].id, op_id);
    assert_string_equal (list[0].role, "operator");
    assert_string_equal (list[0].name, "ci");
    assert_int_equal (list[0].uses, 1);
    assert_string_equal (list[1].role, "read");
    free (list);

    assert_int_equal (http_tokens_revoke (t, op_id, err, sizeof err), 0);
    assert_int_equal (s_check (t, op, &role, id), HTTP_AUTH_UNKNOWN);
    assert_int_equal (http_tokens_revoke (t, op_id, err, sizeof err), -1);
    assert_int_equal (http_tokens_count (t), 1);

    assert_int_equal (http_tokens_create (t, HTTP_ROLE_NONE, "", op, op_id, err, sizeof err), -1);
    assert_int_equal (http_tokens_create (t, HTTP_ROLE_READ, "a b", op, op_id, err, sizeof err),
                      -1);
    http_tokens_destroy (&t);

    /* The file: 0600, hashes only; a reopen keeps the read token, not the
     * revoked one. */
    struct stat st;
    assert_int_equal (stat (c->path, &st), 0);
    assert_int_equal (st.st_mode & 0777, 0600);
    FILE *f = fopen (c->path, "r");
    char text[4096];
    size_t len = fread (text, 1, sizeof text - 1, f);
    fclose (f);
    text[len] = '\0';
    assert_null (strstr (text, rd + 4 + 9)); /* the secret's hex */
    assert_null (strstr (text, op_id));
    t = http_tokens_open (c->path, err, sizeof err);
    assert_non_null (t);
    assert_int_equal (s_check (t, rd, &role, id), HTTP_AUTH_OK);
    assert_int_equal (s_check (t, op, &role, id), HTTP_AUTH_UNKNOWN);
    http_tokens_destroy (&t);

    /* Readable by others: refused, not silently used. */
    chmod (c->path, 0644);
    assert_null (http_tokens_open (c->path, err, sizeof err));
    assert_non_null (strstr (err, "chmod 600"));
    chmod (c->path, 0600);
}

static void
test_bad_file (void **state)
{
    s_ctx_t *c = *state;
    const char *bad[] = {
        "zz operator 00 1\n",
        "0123abcd admin 0000000000000000000000000000000000000000000000000000000000000000 1\n",
        "0123abcd read 00000000000000000000000000000000000000000000000000000000000000 1\n",
        "0123abcd read 0000000000000000000000000000000000000000000000000000000000000000 x\n",
        "0123abcd read 0000000000000000000000000000000000000000000000000000000000000000 1 a b\n",
        "0123abcd read 0000000000000000000000000000000000000000000000000000000000000000 1 a/b\n",
    };
    char err[256];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        FILE *f = fopen (c->path, "w");
        fputs ("# comment\n", f);
        fputs (bad[i], f);
        fclose (f);
        chmod (c->path, 0600);
        http_tokens_t *t = http_tokens_open (c->path, err, sizeof err);
        if (t)
            fail_msg ("line accepted: %s", bad[i]);
        assert_non_null (strstr (err, ":2: not a token line"));
    }
    FILE *f = fopen (c->path, "w");
    fputs ("0123abcd read 0000000000000000000000000000000000000000000000000000000000000000 1 ok\n",
           f);
    fclose (f);
    http_tokens_t *t = http_tokens_open (c->path, err, sizeof err);
    assert_non_null (t);
    assert_int_equal (http_tokens_count (t), 1);
    http_tokens_destroy (&t);
}

/* A good token over its rate gets LIMITED (its role still known), other
 * tokens keep theirs; the bucket refills with time. */
static void
test_rate (void **state)
{
    s_ctx_t *c = *state;
    char err[256], a[API_TOKEN_TEXT_MAX + 1], b[API_TOKEN_TEXT_MAX + 1];
    char id[API_TOKEN_ID_MAX + 1];
    http_tokens_t *t = http_tokens_open (c->path, err, sizeof err);
    assert_non_null (t);
    assert_int_equal (http_tokens_create (t, HTTP_ROLE_READ, "a", a, id, err, sizeof err), 0);
    assert_int_equal (http_tokens_create (t, HTTP_ROLE_READ, "b", b, id, err, sizeof err), 0);
    http_tokens_set_rate (t, 2, 3);
    http_role_t role;
    for (int i = 0; i < 3; i++)
        assert_int_equal (s_check (t, a, &role, id), HTTP_AUTH_OK);
    assert_int_equal (s_check (t, a, &role, id), HTTP_AUTH_LIMITED);
    assert_int_equal (role, HTTP_ROLE_READ);
    assert_int_equal (s_check (t, b, &role, id), HTTP_AUTH_OK);
    usleep (600 * 1000); /* 2/s: one request's worth */
    assert_int_equal (s_check (t, a, &role, id), HTTP_AUTH_OK);
    http_tokens_set_rate (t, 0, 0); /* off */
    for (int i = 0; i < 50; i++)
        assert_int_equal (s_check (t, a, &role, id), HTTP_AUTH_OK);
    http_tokens_destroy (&t);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown (test_create_check_revoke, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_bad_file, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_rate, s_setup, s_teardown),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
