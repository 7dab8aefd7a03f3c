/*
 * aead.h - the data-message AEADs of the overlay (AES-256-GCM and
 * ChaCha20-Poly1305-IETF, 12-byte nonce, 16-byte tag), sealed and opened in
 * place.
 *
 * Why not libsodium here: libsodium 1.0.18 (Debian 12) runs AES-256-GCM
 * with 128-bit AES-NI/PCLMUL code and expands the key and the GHASH powers
 * on every call. aead.c uses libgcrypt (why not OpenSSL's EVP: aead.c),
 * which keeps the expanded key in a handle and has the CPU's wide
 * (VAES/AVX2) AES code (bench/overlay_bench.sh, `aead` lines;
 * docs/overlay.md). The bytes on the wire are the same standard
 * constructions, so a peer sealing with libsodium interoperates (aead_test
 * checks both directions).
 *
 * Handles: each thread keeps a few expanded-key handles, found by the
 * key bytes themselves (constant-time compare), so a session never has to
 * hold a lock across an AEAD call and a rekey needs no notification. An
 * entry unused for SHED_AEAD_IDLE_CALLS of the thread's calls is wiped, and
 * shed_aead_thread_flush() wipes them all (datapath threads call it when
 * idle), so retired keys do not linger in expanded form.
 *
 * The handshake's single-use keys stay on libsodium (crypto/session_handshake.c).
 */
#ifndef SHED_AEAD_H
#define SHED_AEAD_H

#include <stddef.h>
#include <stdint.h>

#define SHED_AEAD_KEY_BYTES   32
#define SHED_AEAD_NONCE_BYTES 12
#define SHED_AEAD_TAG_BYTES   16
#define SHED_AEAD_IDLE_CALLS  65536

/* The algorithm values are the session's SHED_AEAD_* (crypto/session.h). */

/* Encrypt buf[0..len) in place and write the tag at buf + len. 0, or -1
 * (unknown algorithm, library failure). */
int shed_aead_seal (uint8_t aead, const uint8_t key[SHED_AEAD_KEY_BYTES],
                    const uint8_t nonce[SHED_AEAD_NONCE_BYTES], const uint8_t *ad, size_t adlen,
                    uint8_t *buf, size_t len);

/* Verify and decrypt in place: buf holds len bytes of ciphertext then the
 * tag. 0 if authentic (buf[0..len) is the plaintext); -1 otherwise (buf is
 * then zeroed: no unauthenticated plaintext is left behind). */
int shed_aead_open (uint8_t aead, const uint8_t key[SHED_AEAD_KEY_BYTES],
                    const uint8_t nonce[SHED_AEAD_NONCE_BYTES], const uint8_t *ad, size_t adlen,
                    uint8_t *buf, size_t len);

/* Wipe the calling thread's cached contexts. */
void shed_aead_thread_flush (void);

#endif
