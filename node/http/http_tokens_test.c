/*
 * http_tokens_test.c - the remote API's token store (node/http/http_tokens.h):
 * a minted token authenticates with its role and nothing else does (wrong
 * secret, another id, a revoked one, malformed headers); the file keeps
 * hashes only, mode 0600, survives a reopen; a store others can read, or
 * one that does not parse, is refused; expiry (its own 401 reason, kept
 * in the file); files from before expiry still load; tokens of other
 * nodes (replicated) and revocations from any node; use counts reach the
 * disk only through the tick.
 */
#include "node/http/http_tokens_sync.h"
#include "node/http/http_tokens.h"

#include "cluster/records.h"

#include <setjmp.h>
#include <sodium.h>
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
    assert_int_equal (
        http_tokens_create (t, HTTP_ROLE_OPERATOR, "ci", 0, op, op_id, err, sizeof err), 0);
    assert_int_equal (http_tokens_create (t, HTTP_ROLE_READ, "", 0, rd, rd_id, err, sizeof err), 0);
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

    assert_int_equal (http_tokens_create (t, HTTP_ROLE_NONE, "", 0, op, op_id, err, sizeof err),
                      -1);
    assert_int_equal (http_tokens_create (t, HTTP_ROLE_READ, "a b", 0, op, op_id, err, sizeof err),
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
    char line[64];
    snprintf (line, sizeof line, "token %s ", op_id);
    assert_null (strstr (text, line)); /* gone; only its revocation is kept */
    snprintf (line, sizeof line, "revoked %s ", op_id);
    assert_non_null (strstr (text, line));
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
        "token 0123abcd read 0000000000000000000000000000000000000000000000000000000000000000 1 "
        "0 0 0 a b\n",
        "token 0123abcd read 0000000000000000000000000000000000000000000000000000000000000000 1 "
        "x 0 0\n",
        "token 0123abcd read 0000000000000000000000000000000000000000000000000000000000000000 1\n",
        "revoked 0123abcd 1\n",
        "revoked 0123ABCD 1 0\n",
        "used n2 0123abcd 1\n",
        "used n2 0123abcd 1 2 3\n",
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
    assert_int_equal (http_tokens_create (t, HTTP_ROLE_READ, "a", 0, a, id, err, sizeof err), 0);
    assert_int_equal (http_tokens_create (t, HTTP_ROLE_READ, "b", 0, b, id, err, sizeof err), 0);
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

static char *
s_slurp (const char *path)
{
    static char text[65536];
    FILE *f = fopen (path, "r");
    assert_non_null (f);
    size_t len = fread (text, 1, sizeof text - 1, f);
    fclose (f);
    text[len] = '\0';
    return text;
}

/* A token with a ttl works until then, then gets EXPIRED (with its own
 * secret only: a wrong one is still UNKNOWN); the expiry is listed and
 * survives a reopen; a token without one never expires. */
static void
test_expiry (void **state)
{
    s_ctx_t *c = *state;
    char err[256], tok[API_TOKEN_TEXT_MAX + 1], keep[API_TOKEN_TEXT_MAX + 1];
    char tid[API_TOKEN_ID_MAX + 1], id[API_TOKEN_ID_MAX + 1];
    http_tokens_t *t = http_tokens_open (c->path, err, sizeof err);
    assert_non_null (t);
    assert_int_equal (
        http_tokens_create (t, HTTP_ROLE_READ, "short", 300, tok, tid, err, sizeof err), 0);
    assert_int_equal (http_tokens_create (t, HTTP_ROLE_READ, "keep", 0, keep, id, err, sizeof err),
                      0);
    http_role_t role;
    assert_int_equal (s_check (t, tok, &role, id), HTTP_AUTH_OK);
    size_t n = 0;
    api_token_t *list = http_tokens_list (t, &n);
    assert_int_equal (n, 2);
    assert_string_equal (list[0].id, tid);
    assert_true (list[0].expires_ms > list[0].created_ms);
    assert_true (list[0].expires_ms - list[0].created_ms == 300);
    assert_int_equal (list[1].expires_ms, 0);
    free (list);
    usleep (350 * 1000);
    assert_int_equal (s_check (t, tok, &role, id), HTTP_AUTH_EXPIRED);
    assert_int_equal (role, HTTP_ROLE_NONE);
    assert_string_equal (id, tid);
    char wrong[API_TOKEN_TEXT_MAX + 1];
    strcpy (wrong, tok);
    wrong[strlen (wrong) - 1] = wrong[strlen (wrong) - 1] == '0' ? '1' : '0';
    assert_int_equal (s_check (t, wrong, &role, id), HTTP_AUTH_UNKNOWN);
    assert_int_equal (s_check (t, keep, &role, id), HTTP_AUTH_OK);
    http_tokens_destroy (&t);
    t = http_tokens_open (c->path, err, sizeof err);
    assert_non_null (t);
    assert_int_equal (s_check (t, tok, &role, id), HTTP_AUTH_EXPIRED);
    assert_int_equal (s_check (t, keep, &role, id), HTTP_AUTH_OK);
    /* An expired token can still be revoked (and its revocation carries
     * the expiry, so it can be forgotten later). */
    assert_int_equal (http_tokens_revoke (t, tid, err, sizeof err), 0);
    n = 0;
    http_token_revoked_t *rev = http_tokens_revoked (t, &n);
    assert_int_equal (n, 1);
    assert_true (rev[0].expires_ms > 0);
    free (rev);
    http_tokens_destroy (&t);
}

/* A file written before expiry and replication ("id role hash created
 * [name]") loads, its tokens work, are "own" (published), and the next
 * write keeps them in the new form. */
static void
test_legacy_file (void **state)
{
    s_ctx_t *c = *state;
    uint8_t secret[32], hash[32];
    memset (secret, 0xab, sizeof secret);
    crypto_generichash (hash, sizeof hash, secret, sizeof secret, NULL, 0);
    char hhex[65], shex[65];
    sodium_bin2hex (hhex, sizeof hhex, hash, sizeof hash);
    sodium_bin2hex (shex, sizeof shex, secret, sizeof secret);
    FILE *f = fopen (c->path, "w");
    fprintf (f,
             "# shed-node API tokens (docs/security.md): id role blake2b-256(secret) "
             "created_ms name\n0badc0de operator %s 1700000000000 old-ci\n",
             hhex);
    fclose (f);
    chmod (c->path, 0600);
    char err[256], tok[API_TOKEN_TEXT_MAX + 1], id[API_TOKEN_ID_MAX + 1];
    http_tokens_t *t = http_tokens_open (c->path, err, sizeof err);
    assert_non_null (t);
    snprintf (tok, sizeof tok, "sht_0badc0de_%s", shex);
    http_role_t role;
    assert_int_equal (s_check (t, tok, &role, id), HTTP_AUTH_OK);
    assert_int_equal (role, HTTP_ROLE_OPERATOR);
    size_t n = 0;
    http_token_pub_t *own = http_tokens_own (t, &n);
    assert_int_equal (n, 1);
    assert_string_equal (own[0].id, "0badc0de");
    assert_string_equal (own[0].name, "old-ci");
    assert_int_equal (own[0].expires_ms, 0);
    assert_memory_equal (own[0].hash, hash, 32);
    free (own);
    char tok2[API_TOKEN_TEXT_MAX + 1];
    assert_int_equal (http_tokens_create (t, HTTP_ROLE_READ, "", 0, tok2, id, err, sizeof err), 0);
    assert_non_null (strstr (s_slurp (c->path), "token 0badc0de operator "));
    http_tokens_destroy (&t);
    t = http_tokens_open (c->path, err, sizeof err);
    assert_non_null (t);
    assert_int_equal (s_check (t, tok, &role, id), HTTP_AUTH_OK);
    assert_int_equal (s_check (t, tok2, &role, id), HTTP_AUTH_OK);
    http_tokens_destroy (&t);
}

static int s_changes;
static void
s_on_change (void *arg)
{
    (void) arg;
    s_changes++;
}

/* Two nodes' stores, wired by hand as http_tokens_sync.c wires them
 * through the state: a token minted on n1 works on n2; revoked on n2, it
 * is refused there at once and on n1 once the revocation arrives; a stale
 * copy of the token arriving later is ignored, also after a restart; a
 * node that leaves takes its tokens with it. */
static void
test_cluster (void **state)
{
    s_ctx_t *c = *state;
    char p2[128], err[256], tok[API_TOKEN_TEXT_MAX + 1], tid[API_TOKEN_ID_MAX + 1];
    char id[API_TOKEN_ID_MAX + 1];
    snprintf (p2, sizeof p2, "%s/api_tokens2", c->dir);
    http_tokens_t *n1 = http_tokens_open (c->path, err, sizeof err);
    http_tokens_t *n2 = http_tokens_open (p2, err, sizeof err);
    assert_non_null (n1);
    assert_non_null (n2);
    http_tokens_set_origin (n1, "n1");
    http_tokens_set_origin (n2, "n2");
    http_tokens_on_change (n1, s_on_change, NULL);
    s_changes = 0;
    assert_int_equal (
        http_tokens_create (n1, HTTP_ROLE_OPERATOR, "ci", 0, tok, tid, err, sizeof err), 0);
    assert_int_equal (s_changes, 1);
    http_role_t role;
    assert_int_equal (s_check (n2, tok, &role, id), HTTP_AUTH_UNKNOWN); /* not replicated yet */

    /* n1 -> n2: the record, through its wire form. */
    size_t n = 0;
    http_token_pub_t *own = http_tokens_own (n1, &n);
    assert_int_equal (n, 1);
    rec_msg_t m = { .hdr.type = REC_TOKEN };
    snprintf (m.u.rec_token.id, sizeof m.u.rec_token.id, "%s", own[0].id);
    snprintf (m.u.rec_token.role, sizeof m.u.rec_token.role, "operator");
    snprintf (m.u.rec_token.name, sizeof m.u.rec_token.name, "%s", own[0].name);
    memcpy (m.u.rec_token.hash, own[0].hash, 32);
    m.u.rec_token.created_ms = own[0].created_ms;
    uint8_t *buf = NULL;
    size_t len = 0;
    assert_int_equal (wire_encode (&rec_proto, &m, &buf, &len), WIRE_OK);
    uint8_t sbin[32];
    assert_int_equal (sodium_hex2bin (sbin, sizeof sbin, tok + 13, 64, NULL, NULL, NULL), 0);
    assert_null (memmem (buf, len, sbin, 8)); /* no part of the secret */
    http_token_pub_t pub;
    assert_false (shed_tsync_decode_token ("00000000", buf, len, &pub)); /* key must match */
    assert_true (shed_tsync_decode_token (tid, buf, len, &pub));
    free (buf);
    free (own);
    assert_int_equal (http_tokens_put_remote (n2, "n2", &pub), 0); /* claims to be ours */
    assert_int_equal (http_tokens_put_remote (n2, "n1", &pub), 1);
    assert_int_equal (s_check (n2, tok, &role, id), HTTP_AUTH_OK);
    assert_int_equal (role, HTTP_ROLE_OPERATOR);
    n = 0;
    api_token_t *list = http_tokens_list (n2, &n);
    assert_int_equal (n, 1);
    assert_string_equal (list[0].origin, "n1");
    assert_int_equal (list[0].uses, 1);
    free (list);
    n = 0;
    assert_non_null (own = http_tokens_own (n2, &n));
    assert_int_equal (n, 0); /* n2 does not publish n1's token */
    free (own);

    /* Revoked on n2 (not the minter): refused there now. */
    assert_int_equal (http_tokens_revoke (n2, tid, err, sizeof err), 0);
    assert_int_equal (s_check (n2, tok, &role, id), HTTP_AUTH_UNKNOWN);
    assert_int_equal (http_tokens_revoke (n2, tid, err, sizeof err), -1);
    assert_non_null (strstr (err, "already revoked"));
    assert_int_equal (http_tokens_put_remote (n2, "n1", &pub), 0); /* stale copy: ignored */
    assert_int_equal (s_check (n2, tok, &role, id), HTTP_AUTH_UNKNOWN);

    /* n2 -> n1: the revocation. */
    http_token_revoked_t *rev = http_tokens_revoked (n2, &n);
    assert_int_equal (n, 1);
    assert_string_equal (rev[0].id, tid);
    assert_int_equal (rev[0].expires_ms, 0);
    assert_int_equal (s_check (n1, tok, &role, id), HTTP_AUTH_OK);
    s_changes = 0;
    assert_int_equal (http_tokens_learn_revoked (n1, &rev[0]), 1);
    assert_int_equal (s_changes, 1); /* n1 republishes: its own copy of the revocation */
    assert_int_equal (http_tokens_learn_revoked (n1, &rev[0]), 0);
    assert_int_equal (s_changes, 1);
    assert_int_equal (s_check (n1, tok, &role, id), HTTP_AUTH_UNKNOWN);
    assert_non_null (own = http_tokens_own (n1, &n));
    assert_int_equal (n, 0); /* its record goes too */
    free (own);
    free (rev);
    /* A revocation of a token long expired is not kept. */
    http_token_revoked_t old = { .id = "12345678", .expires_ms = 1000 };
    assert_int_equal (http_tokens_learn_revoked (n1, &old), 0);

    /* Restarted, both still refuse it. */
    http_tokens_destroy (&n1);
    http_tokens_destroy (&n2);
    n1 = http_tokens_open (c->path, err, sizeof err);
    n2 = http_tokens_open (p2, err, sizeof err);
    assert_non_null (n1);
    assert_non_null (n2);
    assert_int_equal (http_tokens_put_remote (n2, "n1", &pub), 0);
    assert_int_equal (s_check (n1, tok, &role, id), HTTP_AUTH_UNKNOWN);
    assert_int_equal (s_check (n2, tok, &role, id), HTTP_AUTH_UNKNOWN);

    /* A node that leaves takes its tokens: n3's token, then n3 removed. */
    http_token_pub_t p3 = pub;
    snprintf (p3.id, sizeof p3.id, "abcdef01");
    assert_int_equal (http_tokens_put_remote (n2, "n3", &p3), 1);
    assert_int_equal (http_tokens_count (n2), 1);
    http_tokens_drop_origin (n2, "n3");
    assert_int_equal (http_tokens_count (n2), 0);
    assert_int_equal (http_tokens_put_remote (n2, "n3", &p3), 1);
    http_tokens_drop_remote (n2, "n3", "abcdef01");
    assert_int_equal (http_tokens_count (n2), 0);
    http_tokens_destroy (&n1);
    http_tokens_destroy (&n2);
    unlink (p2);
}

/* A request never writes the file; the tick writes use counts once they
 * are old enough (or when told 0), another node's token's too, and they
 * come back after a restart. */
static void
test_usage_flush (void **state)
{
    s_ctx_t *c = *state;
    char err[256], tok[API_TOKEN_TEXT_MAX + 1], tid[API_TOKEN_ID_MAX + 1];
    char id[API_TOKEN_ID_MAX + 1];
    http_tokens_t *t = http_tokens_open (c->path, err, sizeof err);
    assert_non_null (t);
    http_tokens_set_origin (t, "n1");
    assert_int_equal (http_tokens_create (t, HTTP_ROLE_READ, "", 0, tok, tid, err, sizeof err), 0);
    http_token_pub_t remote = { .id = "feedf00d", .role = HTTP_ROLE_READ };
    uint8_t secret[32];
    memset (secret, 7, sizeof secret);
    crypto_generichash (remote.hash, 32, secret, sizeof secret, NULL, 0);
    char shex[65], rtok[API_TOKEN_TEXT_MAX + 1];
    sodium_bin2hex (shex, sizeof shex, secret, sizeof secret);
    snprintf (rtok, sizeof rtok, "sht_feedf00d_%s", shex);
    assert_int_equal (http_tokens_put_remote (t, "n2", &remote), 1);
    struct stat before, after;
    assert_int_equal (stat (c->path, &before), 0);
    char snapshot[65536];
    snprintf (snapshot, sizeof snapshot, "%s", s_slurp (c->path));
    http_role_t role;
    for (int i = 0; i < 5; i++) {
        assert_int_equal (s_check (t, tok, &role, id), HTTP_AUTH_OK);
        assert_int_equal (s_check (t, rtok, &role, id), HTTP_AUTH_OK);
    }
    assert_string_equal (s_slurp (c->path), snapshot);
    http_tokens_tick (t, HTTP_TOKENS_USAGE_FLUSH_MS); /* too soon */
    assert_string_equal (s_slurp (c->path), snapshot);
    http_tokens_tick (t, 0);
    assert_int_equal (stat (c->path, &after), 0);
    assert_non_null (strstr (s_slurp (c->path), " 5\n")); /* our token: 5 uses */
    assert_non_null (strstr (s_slurp (c->path), "used n2 feedf00d "));
    http_tokens_destroy (&t);

    t = http_tokens_open (c->path, err, sizeof err);
    assert_non_null (t);
    assert_int_equal (http_tokens_put_remote (t, "n2", &remote), 1);
    size_t n = 0;
    api_token_t *list = http_tokens_list (t, &n);
    assert_int_equal (n, 2);
    assert_int_equal (list[0].uses, 5);
    assert_true (list[0].last_used_ms > 0);
    assert_string_equal (list[1].id, "feedf00d");
    assert_int_equal (list[1].uses, 5);
    assert_true (list[1].last_used_ms > 0);
    free (list);
    http_tokens_destroy (&t);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown (test_create_check_revoke, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_bad_file, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_rate, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_expiry, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_legacy_file, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_cluster, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_usage_flush, s_setup, s_teardown),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
