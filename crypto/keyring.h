/*
 * keyring.h - the cluster keyring that guards gossip datagrams.
 *
 * Knowing a key of the keyring is what makes a host a member. The keyring
 * holds up to SHED_KEYRING_MAX 32-byte keys; one is primary. seal() always
 * uses the primary key; open() tries the key named by the key id on the wire,
 * so rotation works without a partition: install the new key everywhere,
 * `use` it everywhere, then remove the old one.
 *
 * Sealed datagram layout (all offsets in bytes):
 *     [0]      format version (SHED_SEAL_VERSION)
 *     [1..4]   key id: first 4 bytes of BLAKE2b-256("shed-keyid" || key)
 *     [5..28]  24-byte random nonce
 *     [29..]   XChaCha20-Poly1305 ciphertext + 16-byte tag
 * The header bytes [0..28] and caller's associated data are authenticated.
 *
 * Nonces are random, not counters: XChaCha20's 192-bit nonce makes random
 * nonces collision-free in practice, so several threads and processes (and a
 * node restarted without persisted counters) can seal under one key without
 * coordinating. Replay protection is the receiver's job (see replay.h) and
 * happens only after authentication.
 */
#ifndef SHED_KEYRING_H
#define SHED_KEYRING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SHED_KEY_BYTES     32
#define SHED_KEYRING_MAX   16
#define SHED_KEYID_BYTES   4
#define SHED_SEAL_VERSION  1
#define SHED_SEAL_HEADER   (1 + SHED_KEYID_BYTES + 24)
#define SHED_SEAL_OVERHEAD (SHED_SEAL_HEADER + 16)
#define SHED_KEYRING_FILE  "keyring"

/* seal/open and keyring operation results (0 is success). */
typedef enum {
    SHED_SEAL_OK = 0,
    SHED_SEAL_ERR_SHORT = -1,  /* input shorter than header + tag */
    SHED_SEAL_ERR_FORMAT = -2, /* unknown format version byte */
    SHED_SEAL_ERR_KEYID = -3,  /* no installed key has this id */
    SHED_SEAL_ERR_AUTH = -4,   /* authentication failed (wrong key, tampered) */
    SHED_SEAL_ERR_SPACE = -5,  /* output buffer too small */
    SHED_SEAL_ERR_NOKEY = -6,  /* keyring empty */
} shed_seal_err_t;

typedef enum {
    SHED_KR_OK = 0,
    SHED_KR_ERR_FULL = -1,    /* SHED_KEYRING_MAX keys installed */
    SHED_KR_ERR_ABSENT = -2,  /* key not installed */
    SHED_KR_ERR_PRIMARY = -3, /* cannot remove the primary key */
} shed_kr_err_t;

typedef struct _shed_keyring_t shed_keyring_t;

typedef struct {
    uint8_t key[SHED_KEY_BYTES];
    uint32_t id;
    bool primary;
} shed_keyring_entry_t;

shed_keyring_t *shed_keyring_new (void);
/* Wipes every key, frees, sets *self_p to NULL. NULL-safe. */
void shed_keyring_destroy (shed_keyring_t **self_p);

/* Load from a file of lines "primary <base64>" / "key <base64>" (mode must be
 * 0600). NULL with a one-line reason in err on any problem. A missing file
 * gives NULL with errno ENOENT. */
shed_keyring_t *shed_keyring_load (const char *path, char *err, size_t errlen);
/* Parse keyring file text (the content of a keyring file; need not be
 * NUL-terminated, may hold any bytes). Lines are "primary <base64>" or
 * "key <base64>"; blank lines and '#' comments are ignored; exactly one
 * primary line unless there are no keys. NULL with "line N: reason" in err
 * on any problem. shed_keyring_load() is read + mode check + this; exposed
 * for the fuzzer. The caller wipes `text`. */
shed_keyring_t *shed_keyring_parse (const char *text, size_t len, char *err, size_t errlen);
/* Save atomically with mode 0600. Returns 0 or -1/errno. */
int shed_keyring_save (const shed_keyring_t *self, const char *path);
/* The same with shed_write_file_atomic_flags' `flags` (SHED_WRITE_NO_DIR_SYNC:
 * the caller fsyncs the directory). */
int shed_keyring_save_flags (const shed_keyring_t *self, const char *path, unsigned flags);

/* Installing an already-installed key is OK (idempotent). The first key
 * installed becomes primary. */
int shed_keyring_install (shed_keyring_t *self, const uint8_t key[SHED_KEY_BYTES]);
int shed_keyring_use (shed_keyring_t *self, const uint8_t key[SHED_KEY_BYTES]);
int shed_keyring_remove (shed_keyring_t *self, const uint8_t key[SHED_KEY_BYTES]);

size_t shed_keyring_count (const shed_keyring_t *self);
/* Copy entry i (0 <= i < count) into *out. Returns 0 or -1. Caller wipes. */
int shed_keyring_entry (const shed_keyring_t *self, size_t i, shed_keyring_entry_t *out);
/* Key id of a key (as on the wire). */
uint32_t shed_keyring_key_id (const uint8_t key[SHED_KEY_BYTES]);
/* A new random key. */
void shed_keyring_generate (uint8_t key[SHED_KEY_BYTES]);

/* Seal pt under the primary key; out needs ptlen + SHED_SEAL_OVERHEAD.
 * (Caller AD over 1 KiB is copied to the heap; if that allocation fails the
 * result is SHED_SEAL_ERR_SPACE.) */
int shed_keyring_seal (const shed_keyring_t *self, const uint8_t *ad, size_t adlen,
                       const uint8_t *pt, size_t ptlen, uint8_t *out, size_t cap, size_t *outlen);
/* Open a sealed datagram; pt needs inlen - SHED_SEAL_OVERHEAD. On success
 * *key_id tells which key opened it (may be NULL). */
int shed_keyring_open (const shed_keyring_t *self, const uint8_t *ad, size_t adlen,
                       const uint8_t *in, size_t inlen, uint8_t *pt, size_t cap, size_t *ptlen,
                       uint32_t *key_id);

const char *shed_seal_strerror (int code);

#endif
