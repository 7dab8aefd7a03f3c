/*
 * digest.h - sha256 of files and byte streams, as lowercase hex.
 *
 * One place for the content digests of images and snapshots (their stores
 * and the snapshot transfer all hash files the same way). OpenSSL's
 * libcrypto does the work: it uses the CPU's SHA extensions where they
 * exist, several times libsodium 1.0.18's portable sha256 on large files.
 */
#ifndef SHED_DIGEST_H
#define SHED_DIGEST_H

#include <stddef.h>
#include <stdint.h>

#define SHED_SHA256_BYTES 32
#define SHED_SHA256_HEX   64 /* characters, without the NUL */

/* An incremental sha256. */
typedef struct shed_sha256_t shed_sha256_t;

/* A fresh hash, or NULL (out of memory). */
shed_sha256_t *shed_sha256_new (void);
void shed_sha256_destroy (shed_sha256_t **self_p);
void shed_sha256_update (shed_sha256_t *self, const void *data, size_t len);
/* Hash fd's bytes [from, to), read with pread (the file offset is not
 * moved). to == UINT64_MAX: until end of file. *hashed (may be NULL) gets
 * the bytes hashed. 0, or -1 with errno; a file that ends before `to` (when
 * `to` is not UINT64_MAX) is EIO: it is shorter than its owner said. */
int shed_sha256_update_fd (shed_sha256_t *self, int fd, uint64_t from, uint64_t to,
                           uint64_t *hashed);
/* The digest as hex (SHED_SHA256_HEX characters and a NUL). The hash can
 * not be updated after this. */
void shed_sha256_final (shed_sha256_t *self, char hex[SHED_SHA256_HEX + 1]);

/* sha256 of fd's whole contents from offset 0: 0 or -1 with errno;
 * *bytes (may be NULL) gets the length hashed. */
int shed_sha256_fd (int fd, char hex[SHED_SHA256_HEX + 1], uint64_t *bytes);

/* Is `s` SHED_SHA256_HEX lowercase hex characters? */
int shed_sha256_hex_valid (const char *s);

#endif
