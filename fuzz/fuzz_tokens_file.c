/*
 * fuzz_tokens_file.c - the remote API token file (node/http/http_tokens.h):
 * DATA_DIR/api_tokens in both its forms (before expiry: "id role hash
 * created [name]"; now: token / revoked / used lines).
 *
 * Any byte string gives either a store or NULL with a reason; a store
 * stays within its bounds, and what it parsed survives the save format:
 * minting one token rewrites the file, and reopening it gives the same
 * tokens (plus the new one) and the same revocations.
 */
#include "node/http/http_tokens.h"

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static char s_dir[64];
static char s_path[96];

static void
s_cleanup (void)
{
    unlink (s_path);
    rmdir (s_dir);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    if (!s_dir[0]) {
        snprintf (s_dir, sizeof s_dir, "/tmp/fuzz_tokens.XXXXXX");
        if (!mkdtemp (s_dir))
            abort ();
        snprintf (s_path, sizeof s_path, "%s/api_tokens", s_dir);
        atexit (s_cleanup);
    }
    int fd = open (s_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0)
        abort ();
    if (size && write (fd, data, size) != (ssize_t) size)
        abort ();
    close (fd);
    char err[256] = "";
    http_tokens_t *t = http_tokens_open (s_path, err, sizeof err);
    if (!t) {
        if (!err[0])
            abort (); /* a refusal always says why */
        return 0;
    }
    size_t n = 0, nown = 0, nrev = 0;
    api_token_t *list = http_tokens_list (t, &n);
    http_token_pub_t *own = http_tokens_own (t, &nown);
    http_token_revoked_t *rev = http_tokens_revoked (t, &nrev);
    if (!list || !own || !rev || n != nown || nown > API_TOKENS_MAX
        || nrev > HTTP_TOKENS_REVOKED_MAX)
        abort ();
    char tok[API_TOKEN_TEXT_MAX + 1], id[API_TOKEN_ID_MAX + 1];
    int made = http_tokens_create (t, HTTP_ROLE_READ, "fuzz", 0, tok, id, err, sizeof err);
    http_tokens_destroy (&t);
    if (made == 0) {
        t = http_tokens_open (s_path, err, sizeof err);
        if (!t)
            abort (); /* our own write must load */
        size_t n2 = 0, nrev2 = 0;
        http_token_pub_t *own2 = http_tokens_own (t, &n2);
        http_token_revoked_t *rev2 = http_tokens_revoked (t, &nrev2);
        if (!own2 || !rev2 || n2 != nown + 1 || nrev2 != nrev)
            abort ();
        for (size_t i = 0; i < nown; i++)
            if (strcmp (own2[i].id, own[i].id) != 0 || own2[i].role != own[i].role
                || own2[i].expires_ms != own[i].expires_ms
                || memcmp (own2[i].hash, own[i].hash, sizeof own[i].hash) != 0
                || strcmp (own2[i].name, own[i].name) != 0)
                abort ();
        free (own2);
        free (rev2);
        http_tokens_destroy (&t);
    }
    free (list);
    free (own);
    free (rev);
    return 0;
}
