/*
 * session.h - per-peer overlay session keys: a Noise-IK-like handshake
 * between two nodes' static X25519 identity keys, data keys per direction
 * with 32-bit key ids, counter nonces, replay window, and make-before-break
 * rekeying.
 *
 * One shed_session_t holds everything we share with ONE peer. It is pure
 * logic: no sockets, no clock of its own (every call takes `now_ms` from a
 * monotonic clock the caller owns, so tests use a fake one). It is
 * thread-safe: seal() and open() may run on several datapath threads while
 * the control thread runs the handshake.
 *
 * Handshake (two messages, like WireGuard's; pattern Noise IK with BLAKE2b):
 *     initiator -> responder  SHED_MSG_INITIATION   (136 bytes)
 *     responder -> initiator  SHED_MSG_RESPONSE     ( 92 bytes)
 * The initiator knows the responder's static key in advance (it is a
 * member); its own static key travels encrypted, so the responder learns who
 * is calling only after the first DH, then checks it against its allow-list
 * (the peers it holds sessions for). An encrypted 64-bit wall-clock
 * timestamp, strictly increasing per initiator, makes a replayed initiation
 * worthless. Both ephemeral keys enter the chaining key, so data keys have
 * forward secrecy: stealing a node's identity key later does not open
 * recorded traffic. See docs/overlay.md for the full derivation.
 *
 * Key ids: each side picks a random 32-bit id for each key it RECEIVES with
 * and tells the peer in the handshake; the peer writes that id in the
 * header of every data message, so the receiver finds the key without
 * trial decryption. A session holds up to three key pairs:
 *     current   send + receive;
 *     previous  receive only, for `grace_ms` after it was replaced (packets
 *               in flight, reordering), then wiped;
 *     next      (responder only) receive only, until the first data message
 *               arrives under it: that confirms the initiator has it, and
 *               only then does it become current and is used for sending
 *               (make-before-break: a lost response never leaves the
 *               responder sending under a key the peer does not have).
 * The initiator's new pair is confirmed by the response itself; it sends a
 * keepalive (empty data message) right away so the responder can switch.
 *
 * Data message: header (type, receiver key id, 64-bit counter) then the
 * AEAD ciphertext and tag. The header is the associated data, the nonce is
 * 4 zero bytes || counter (little endian). Counters start at 0 per key and
 * never repeat; the receiver checks the counter against an RFC 6479 window
 * only AFTER authentication, so forged counters cannot move the window.
 *
 * AEAD: ChaCha20-Poly1305-IETF (mandatory) or AES-256-GCM (when both sides
 * offer it, i.e. both have AES-NI+PCLMUL and allow it). The initiator offers
 * a mask in the encrypted initiation payload; the responder chooses (AES-GCM
 * if both offer it: faster with hardware support, see bench/overlay_bench).
 */
#ifndef SHED_SESSION_H
#define SHED_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crypto/replay.h"

/* ---- wire constants (also pinned in node/overlay/overlay_msg.h) ---- */

/* First byte of every overlay datagram. 0x08 (a VXLAN header with the I
 * flag) is deliberately not a type: plaintext VXLAN is recognised and
 * dropped. */
#define SHED_MSG_INITIATION 1
#define SHED_MSG_RESPONSE   2
#define SHED_MSG_DATA       4

#define SHED_SESSION_KEY_BYTES 32
#define SHED_SESSION_TAG_BYTES 16
#define SHED_SESSION_MAC_BYTES 16
#define SHED_HS_PAYLOAD_BYTES  16 /* encrypted handshake payload */

/* AEAD algorithms, as bits of an offer mask and as the chosen value. */
#define SHED_AEAD_CHACHA20POLY1305 0x01
#define SHED_AEAD_AES256GCM        0x02

/* Handshake initiation: all multi-byte integers little endian. */
typedef struct {
    uint8_t type;                                    /* SHED_MSG_INITIATION */
    uint8_t reserved[3];                             /* zero */
    uint8_t sender[4];                               /* initiator's receive key id */
    uint8_t ephemeral[32];                           /* initiator's ephemeral public key */
    uint8_t enc_static[32 + 16];                     /* initiator's static public key, sealed */
    uint8_t enc_payload[SHED_HS_PAYLOAD_BYTES + 16]; /* timestamp, AEAD offer */
    uint8_t mac1[SHED_SESSION_MAC_BYTES];            /* keyed by responder's static key */
} shed_msg_initiation_t;

/* Handshake response. */
typedef struct {
    uint8_t type; /* SHED_MSG_RESPONSE */
    uint8_t reserved[3];
    uint8_t sender[4];                               /* responder's receive key id */
    uint8_t receiver[4];                             /* initiator's key id (from initiation) */
    uint8_t ephemeral[32];                           /* responder's ephemeral public key */
    uint8_t enc_payload[SHED_HS_PAYLOAD_BYTES + 16]; /* chosen AEAD */
    uint8_t mac1[SHED_SESSION_MAC_BYTES];            /* keyed by initiator's static key */
} shed_msg_response_t;

/* Data message header; ciphertext and tag follow. */
typedef struct {
    uint8_t type; /* SHED_MSG_DATA */
    uint8_t reserved[3];
    uint8_t receiver[4]; /* receiver's key id */
    uint8_t counter[8];  /* nonce counter */
} shed_msg_data_t;

#define SHED_MSG_INITIATION_SIZE   136
#define SHED_MSG_RESPONSE_SIZE     92
#define SHED_SESSION_DATA_HEADER   16
#define SHED_SESSION_DATA_OVERHEAD (SHED_SESSION_DATA_HEADER + SHED_SESSION_TAG_BYTES)

/* ---- results ---- */

/* clang-format off */
#define SHED_SESSION_ERRORS(X) \
    X (SHED_SESSION_OK,           0, "ok")                              \
    X (SHED_SESSION_ERR_SHORT,   -1, "wrong length for the type")       \
    X (SHED_SESSION_ERR_TYPE,    -2, "not the expected message type")   \
    X (SHED_SESSION_ERR_MAC,     -3, "handshake mac1 mismatch")         \
    X (SHED_SESSION_ERR_DECRYPT, -4, "handshake did not authenticate")  \
    X (SHED_SESSION_ERR_PEER,    -5, "static key is not this peer's")   \
    X (SHED_SESSION_ERR_STALE,   -6, "initiation timestamp not newer")  \
    X (SHED_SESSION_ERR_STATE,   -7, "response matches no handshake")   \
    X (SHED_SESSION_ERR_KEYID,   -8, "no key with this key id")         \
    X (SHED_SESSION_ERR_EXPIRED, -9, "key expired or past its grace")   \
    X (SHED_SESSION_ERR_AUTH,   -10, "data did not authenticate")       \
    X (SHED_SESSION_ERR_REPLAY, -11, "counter replayed or too old")     \
    X (SHED_SESSION_ERR_NOKEY,  -12, "no confirmed send key")           \
    X (SHED_SESSION_ERR_SPACE,  -13, "buffer too small")                \
    X (SHED_SESSION_ERR_AEAD,   -14, "no common AEAD")                  \
    X (SHED_SESSION_ERR_DH,     -15, "weak public key")
/* clang-format on */

#define SHED_SESSION_ENUM_(name, value, text) name = value,
typedef enum { SHED_SESSION_ERRORS (SHED_SESSION_ENUM_) } shed_session_err_t;
#undef SHED_SESSION_ENUM_

const char *shed_session_strerror (int code);

/* ---- configuration ---- */

typedef struct {
    uint64_t rekey_after_ms;        /* start a new handshake (120 s) */
    uint64_t reject_after_ms;       /* never use a key older than this (180 s) */
    uint64_t rekey_timeout_ms;      /* retry an unanswered handshake (5 s) */
    uint64_t grace_ms;              /* previous receive key stays valid (10 s) */
    uint64_t rekey_after_messages;  /* start a new handshake (2^32) */
    uint64_t reject_after_messages; /* stop sending under a key (2^32 + 2^30) */
    uint8_t aead_mask;              /* algorithms we offer/accept; ChaCha always */
} shed_session_cfg_t;

/* Defaults above; AES-256-GCM is in the mask only if the CPU supports it. */
void shed_session_cfg_default (shed_session_cfg_t *cfg);
/* Mask of AEADs this machine can run (ChaCha always, AES-GCM if AES-NI). */
uint8_t shed_session_aead_available (void);
const char *shed_session_aead_name (uint8_t aead);

typedef struct _shed_session_t shed_session_t;

/* A session between our static key pair and one peer's static public key.
 * Copies the keys (the caller keeps its identity). cfg may be NULL for the
 * defaults. NULL if a key is weak (DH gives zero) or on allocation failure. */
shed_session_t *shed_session_new (const uint8_t local_secret[32], const uint8_t local_public[32],
                                  const uint8_t peer_public[32], const shed_session_cfg_t *cfg);
/* Wipes every key, frees, sets *self_p to NULL. NULL-safe. */
void shed_session_destroy (shed_session_t **self_p);

const uint8_t *shed_session_peer_public (const shed_session_t *self);

/* ---- handshake ---- */

/* Initiator: build a fresh initiation into out (SHED_MSG_INITIATION_SIZE).
 * `wall_ns` is wall-clock time (the timestamp the responder compares). */
int shed_session_initiate (shed_session_t *self, uint64_t now_ms, uint64_t wall_ns,
                           uint8_t out[SHED_MSG_INITIATION_SIZE]);

/* Responder, step 1, before we know which peer calls: check mac1, decrypt
 * the initiator's static key and payload with our static key. The result
 * holds secrets: pass it to shed_session_respond() or wipe it with
 * shed_session_initiation_wipe(). `local_*` are our static keys. */
typedef struct {
    uint8_t peer_public[32]; /* who claims to call (authenticated) */
    uint8_t ck[32], h[32];   /* handshake state so far (secret) */
    uint8_t remote_ephemeral[32];
    uint8_t timestamp[8];
    uint32_t remote_id;
    uint8_t aead_offer;
} shed_initiation_t;

int shed_session_initiation_open (const uint8_t local_secret[32], const uint8_t local_public[32],
                                  const uint8_t *msg, size_t len, shed_initiation_t *out);
void shed_session_initiation_wipe (shed_initiation_t *init);

/* Responder, step 2: the caller found the session whose peer key equals
 * init->peer_public (its allow-list); this checks that again, refuses an
 * old timestamp, installs the new keys as `next` and writes the response
 * (SHED_MSG_RESPONSE_SIZE). Always wipes *init. */
int shed_session_respond (shed_session_t *self, shed_initiation_t *init, uint64_t now_ms,
                          uint8_t out[SHED_MSG_RESPONSE_SIZE]);

/* Initiator: consume a response; on success the new keys are current (send
 * a keepalive now so the responder confirms them). */
int shed_session_consume_response (shed_session_t *self, const uint8_t *msg, size_t len,
                                   uint64_t now_ms);

/* True when the caller should call shed_session_initiate() now: no usable
 * send key, the key is old or has sent many messages, or our last
 * initiation went unanswered for rekey_timeout_ms. */
bool shed_session_want_handshake (shed_session_t *self, uint64_t now_ms);

/* ---- data ---- */

/* Seal in place. buf holds SHED_SESSION_DATA_HEADER free bytes, then ptlen
 * bytes of plaintext; cap must be >= ptlen + SHED_SESSION_DATA_OVERHEAD.
 * ptlen 0 is a keepalive. On success *outlen is the datagram length. */
int shed_session_seal (shed_session_t *self, uint64_t now_ms, uint8_t *buf, size_t ptlen,
                       size_t cap, size_t *outlen);

/* Seal n messages in place under one key with consecutive counters (one
 * lock for all: a super-frame's chunks, node/overlay/send.c). bufs[i] as
 * for shed_session_seal, room for ptlens[i] + SHED_SESSION_DATA_OVERHEAD
 * bytes (the caller's guarantee); message i is that long afterwards. The
 * counters are taken together, so message i carries first + i. */
int shed_session_seal_batch (shed_session_t *self, uint64_t now_ms, uint8_t *const *bufs,
                             const size_t *ptlens, size_t n);

/* Open a data message in place. On success the plaintext is at
 * buf + SHED_SESSION_DATA_HEADER, *ptlen bytes (0 = keepalive). Order of
 * checks: type and length, key id, key age, AEAD, then replay window. */
int shed_session_open (shed_session_t *self, uint64_t now_ms, uint8_t *buf, size_t len,
                       size_t *ptlen);

/* The receiver key id written in a data message (for logging/tests). */
uint32_t shed_session_data_key_id (const uint8_t *msg, size_t len);

/* ---- state ---- */

typedef struct {
    bool has_send_key;     /* current key confirmed and usable */
    uint8_t aead;          /* of the current key (0 if none) */
    uint64_t key_age_ms;   /* of the current key */
    uint32_t send_key_id;  /* id we write (peer's receive id) */
    uint32_t recv_key_id;  /* id of our current receive key */
    uint64_t send_counter; /* next counter under the current key */
    uint64_t handshakes;   /* completed handshakes (either role) */
    bool has_previous, has_next;
} shed_session_info_t;

void shed_session_info (shed_session_t *self, uint64_t now_ms, shed_session_info_t *out);

#endif
