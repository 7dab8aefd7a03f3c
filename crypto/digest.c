/*
 * digest.c - sha256 of files and byte streams (digest.h).
 */
#include "crypto/digest.h"

#include "common/crypto_dl.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* Read size: large enough that the syscall cost vanishes next to hashing,
 * small enough to stay in L2 on the machines we run on. */
#define S_READ_BUF (1u << 20)

struct shed_sha256_t {
    EVP_MD_CTX *ctx;
    bool final;
};

shed_sha256_t *
shed_sha256_new (void)
{
    shed_sha256_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    /* libcrypto is loaded on first use (common/crypto_dl.h). */
    if (!crypto_dl_open (NULL, 0)) {
        free (self);
        errno = ELIBACC;
        return NULL;
    }
    self->ctx = sym_EVP_MD_CTX_new ();
    if (!self->ctx || sym_EVP_DigestInit_ex (self->ctx, sym_EVP_sha256 (), NULL) != 1) {
        shed_sha256_destroy (&self);
        errno = ENOMEM;
        return NULL;
    }
    return self;
}

void
shed_sha256_destroy (shed_sha256_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    sym_EVP_MD_CTX_free ((*self_p)->ctx);
    free (*self_p);
    *self_p = NULL;
}

void
shed_sha256_update (shed_sha256_t *self, const void *data, size_t len)
{
    if (!self->final && len > 0)
        sym_EVP_DigestUpdate (self->ctx, data, len);
}

int
shed_sha256_update_fd (shed_sha256_t *self, int fd, uint64_t from, uint64_t to, uint64_t *hashed)
{
    uint64_t done = 0;
    if (hashed)
        *hashed = 0;
    if (from >= to)
        return 0;
    uint8_t *buf = malloc (S_READ_BUF);
    if (!buf) {
        errno = ENOMEM;
        return -1;
    }
    int rc = 0;
    while (from < to) {
        size_t want = to - from > S_READ_BUF ? S_READ_BUF : (size_t) (to - from);
        ssize_t n = pread (fd, buf, want, (off_t) from);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = -1;
            break;
        }
        if (n == 0) {
            if (to != UINT64_MAX) {
                errno = EIO;
                rc = -1;
            }
            break;
        }
        shed_sha256_update (self, buf, (size_t) n);
        from += (uint64_t) n;
        done += (uint64_t) n;
    }
    free (buf);
    if (hashed)
        *hashed = done;
    return rc;
}

void
shed_sha256_final (shed_sha256_t *self, char hex[SHED_SHA256_HEX + 1])
{
    uint8_t md[EVP_MAX_MD_SIZE];
    unsigned len = 0;
    hex[0] = '\0';
    if (self->final || sym_EVP_DigestFinal_ex (self->ctx, md, &len) != 1
        || len != SHED_SHA256_BYTES)
        return;
    self->final = true;
    for (unsigned i = 0; i < SHED_SHA256_BYTES; i++)
        snprintf (hex + 2 * i, 3, "%02x", md[i]);
}

int
shed_sha256_fd (int fd, char hex[SHED_SHA256_HEX + 1], uint64_t *bytes)
{
    shed_sha256_t *h = shed_sha256_new ();
    if (!h)
        return -1;
    int rc = shed_sha256_update_fd (h, fd, 0, UINT64_MAX, bytes);
    if (rc == 0)
        shed_sha256_final (h, hex);
    shed_sha256_destroy (&h);
    return rc;
}

int
shed_sha256_hex_valid (const char *s)
{
    size_t i = 0;
    for (; s && s[i]; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return s && i == SHED_SHA256_HEX;
}
