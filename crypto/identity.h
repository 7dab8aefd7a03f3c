/*
 * identity.h - a node's long-term identity.
 *
 * Two key pairs, created on first start and kept in `<data_dir>/identity.key`
 * (mode 0600, written atomically):
 *   - X25519: the node's CURVE key for ZeroMQ (CURVE is Curve25519) and the
 *     static key for overlay session key agreement;
 *   - Ed25519: signs things other nodes must attribute to us.
 * The file is versioned text (base64 lines) so an operator can inspect it;
 * a corrupted or wrongly-permissioned file is a clear error, never silently
 * replaced (replacing it would change the node's identity).
 */
#ifndef SHED_IDENTITY_H
#define SHED_IDENTITY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SHED_X25519_BYTES  32
#define SHED_ED25519_PK    32
#define SHED_ED25519_SK    64
#define SHED_SIG_BYTES     64
#define SHED_IDENTITY_FILE "identity.key"
#define SHED_KEY_TEXT_MAX  64 /* base64 of 32 bytes + NUL, rounded up */

typedef struct _shed_identity_t shed_identity_t;

/* Load `<data_dir>/identity.key`, or create it if absent. On failure returns
 * NULL and writes a one-line reason into err (e.g. "identity.key: mode 0644,
 * expected 0600" or "identity.key line 3: bad base64"). */
shed_identity_t *shed_identity_load_or_create (const char *data_dir, char *err, size_t errlen);
/* The same with shed_write_file_atomic_flags' `flags` for a created file:
 * SHED_WRITE_NO_DIR_SYNC leaves the data dir's fsync to the caller (the
 * daemon syncs it once after the keyring too, before membership announces
 * the new identity). *created (may be NULL): whether this call made it. */
shed_identity_t *shed_identity_load_or_create_flags (const char *data_dir, unsigned flags,
                                                     bool *created, char *err, size_t errlen);

/* A fresh identity held only in memory (tests, benchmarks). */
shed_identity_t *shed_identity_new_ephemeral (void);

/* Wipes secrets, frees, sets *self_p to NULL. NULL-safe. */
void shed_identity_destroy (shed_identity_t **self_p);

const uint8_t *shed_identity_x25519_public (const shed_identity_t *self);  /* 32 bytes */
const uint8_t *shed_identity_x25519_secret (const shed_identity_t *self);  /* 32 bytes */
const uint8_t *shed_identity_ed25519_public (const shed_identity_t *self); /* 32 bytes */

/* Detached Ed25519 signature. Returns 0. */
int shed_identity_sign (const shed_identity_t *self, const uint8_t *msg, size_t len,
                        uint8_t sig[SHED_SIG_BYTES]);
/* 0 if `sig` is a valid signature of msg by `ed25519_pk`, else -1. */
int shed_identity_verify (const uint8_t ed25519_pk[SHED_ED25519_PK], const uint8_t *msg, size_t len,
                          const uint8_t sig[SHED_SIG_BYTES]);

/* Base64 (standard, padded) of a 32-byte key into out[SHED_KEY_TEXT_MAX]. */
void shed_key_to_text (const uint8_t key[32], char out[SHED_KEY_TEXT_MAX]);
/* Parse base64 text of exactly 32 bytes. Returns 0 or -1. */
int shed_key_from_text (const char *text, uint8_t key[32]);

/* Z85 (40 chars + NUL) of a 32-byte key, the form czmq/libzmq CURVE uses. */
void shed_key_to_z85 (const uint8_t key[32], char out[41]);

#endif
