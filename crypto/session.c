/*
 * session.c - see session.h.
 *
 * Primitives (all libsodium):
 *     DH(a, B)      crypto_scalarmult (X25519); an all-zero result (B of
 *                   small order) is refused
 *     HASH(x)       BLAKE2b-256 (crypto_generichash)
 *     MAC(k, x)     keyed BLAKE2b-256: BLAKE2's own keyed mode is a PRF, so
 *                   it stands in for HMAC in HKDF
 *     KDFn(ck, x)   t0 = MAC(ck, x); t1 = MAC(t0, 0x01);
 *                   ti = MAC(t0, t(i-1) || i): HKDF's expand with MAC
 *     AEAD(k, p, h) ChaCha20-Poly1305-IETF, zero nonce (every handshake key
 *                   encrypts exactly one message), AD = transcript hash h
 *     MAC1(K, m)    BLAKE2b-128 keyed by HASH("mac1----" || receiver's static
 *                   public key): lets a node drop garbage aimed at it before
 *                   spending a DH on it
 *
 * Pattern (Noise IK, as WireGuard, without PSK and cookies):
 *   ck = HASH(CONSTRUCTION); h = HASH(HASH(ck || IDENTIFIER) || S_r)
 *   -> e, es, s, ss   (initiation: e_i; static of I encrypted; timestamp)
 *   <- e, ee, se      (response: e_r; empty-ish payload with chosen AEAD)
 *   (T_i->r, T_r->i) = KDF2(ck, "")
 *
 * Locking: one mutex per session guards the handshake state and the three
 * key pairs. seal()/open() hold it only to take a counter / find a key and
 * copy it to the stack, never across the AEAD itself, so several datapath
 * threads work in parallel; open() re-finds the key pair afterwards by a
 * generation number (it may have been promoted or wiped meanwhile) before
 * touching the replay window.
 */
#include "crypto/session.h"
#include "crypto/aead.h"

#include <assert.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#define CONSTRUCTION "shed-overlay Noise_IK_25519_ChaChaPoly_BLAKE2b"
#define IDENTIFIER   "shed-overlay v1"
#define MAC1_LABEL   "mac1----"

_Static_assert(sizeof (shed_msg_initiation_t) == SHED_MSG_INITIATION_SIZE, "initiation size");
_Static_assert(sizeof (shed_msg_response_t) == SHED_MSG_RESPONSE_SIZE, "response size");
_Static_assert(sizeof (shed_msg_data_t) == SHED_SESSION_DATA_HEADER, "data header size");
_Static_assert(offsetof (shed_msg_initiation_t, mac1) == 120, "initiation mac1");
_Static_assert(offsetof (shed_msg_response_t, mac1) == 76, "response mac1");
_Static_assert(offsetof (shed_msg_data_t, counter) == 8, "data counter");
_Static_assert(crypto_aead_chacha20poly1305_ietf_NPUBBYTES == 12, "ietf nonce");
_Static_assert(crypto_aead_aes256gcm_NPUBBYTES == 12, "gcm nonce");
_Static_assert(crypto_aead_aes256gcm_ABYTES == SHED_SESSION_TAG_BYTES, "gcm tag");
_Static_assert(crypto_aead_chacha20poly1305_ietf_ABYTES == SHED_SESSION_TAG_BYTES, "poly tag");

typedef enum { SLOT_CURRENT, SLOT_PREVIOUS, SLOT_NEXT, SLOT_COUNT } slot_t;

//  One direction pair of data keys.
typedef struct {
    bool valid;
    bool initiator; //  we started the handshake that made it
    uint8_t aead;
    uint8_t send_key[32];
    uint8_t recv_key[32];
    uint32_t local_id;     //  peer writes this on packets to us
    uint32_t remote_id;    //  we write this on packets to the peer
    uint64_t send_counter; //  next nonce counter
    uint64_t created_ms;
    uint64_t retired_ms; //  when it stopped being current
    uint64_t gen;        //  identifies it across slot moves
    shed_replay_t replay;
} keypair_t;

struct _shed_session_t {
    pthread_mutex_t lock;
    shed_session_cfg_t cfg;
    uint8_t local_secret[32];
    uint8_t local_public[32];
    uint8_t peer_public[32];
    uint8_t static_static[32]; //  DH(s_local, S_peer), computed once
    uint8_t mac1_to_peer[32];  //  MAC1 key for messages we send
    uint8_t mac1_to_us[32];    //  MAC1 key for messages we receive
    uint8_t last_timestamp[8]; //  newest initiation accepted (big endian)
    struct {                   //  our initiation in flight
        bool active;
        uint32_t local_id;
        uint8_t e_secret[32];
        uint8_t e_public[32];
        uint8_t ck[32];
        uint8_t h[32];
        uint64_t sent_ms;
    } hs;
    keypair_t kp[SLOT_COUNT];
    uint64_t next_gen;
    uint64_t handshakes;
};

//  --------------------------------------------------------------------------
//  Little helpers

static void
s_put32 (uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t) (v >> (8 * i));
}

static uint32_t
s_get32 (const uint8_t *p)
{
    return (uint32_t) p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16 | (uint32_t) p[3] << 24;
}

static void
s_put64 (uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t) (v >> (8 * i));
}

static uint64_t
s_get64 (const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

//  HASH(a || b)
static void
s_hash2 (uint8_t out[32], const void *a, size_t alen, const void *b, size_t blen)
{
    crypto_generichash_state st;
    crypto_generichash_init (&st, NULL, 0, 32);
    crypto_generichash_update (&st, a, alen);
    crypto_generichash_update (&st, b, blen);
    crypto_generichash_final (&st, out, 32);
    sodium_memzero (&st, sizeof st);
}

static void
s_mac (uint8_t out[32], const uint8_t key[32], const uint8_t *in, size_t len)
{
    crypto_generichash (out, 32, in, len, key, 32);
}

//  HKDF-style extract+expand with keyed BLAKE2b. out2/out3 may be NULL.
static void
s_kdf (const uint8_t ck[32], const uint8_t *in, size_t len, uint8_t out1[32], uint8_t out2[32],
       uint8_t out3[32])
{
    uint8_t t0[32], t[33], next[32];
    s_mac (t0, ck, in, len);
    t[0] = 1;
    s_mac (next, t0, t, 1);
    memcpy (out1, next, 32);
    if (out2) {
        memcpy (t, next, 32);
        t[32] = 2;
        s_mac (next, t0, t, 33);
        memcpy (out2, next, 32);
    }
    if (out3) {
        memcpy (t, next, 32);
        t[32] = 3;
        s_mac (next, t0, t, 33);
        memcpy (out3, next, 32);
    }
    sodium_memzero (t0, sizeof t0);
    sodium_memzero (t, sizeof t);
    sodium_memzero (next, sizeof next);
}

static void
s_mix_hash (uint8_t h[32], const uint8_t *data, size_t len)
{
    s_hash2 (h, h, 32, data, len);
}

//  0, or -1 if the shared point is all zero (small-order public key).
static int
s_dh (uint8_t out[32], const uint8_t secret[32], const uint8_t public[32])
{
    return crypto_scalarmult (out, secret, public) == 0 ? 0 : -1;
}

static void
s_initial_state (uint8_t ck[32], uint8_t h[32], const uint8_t responder_public[32])
{
    crypto_generichash (ck, 32, (const uint8_t *) CONSTRUCTION, strlen (CONSTRUCTION), NULL, 0);
    s_hash2 (h, ck, 32, IDENTIFIER, strlen (IDENTIFIER));
    s_mix_hash (h, responder_public, 32);
}

static void
s_mac1_key (uint8_t out[32], const uint8_t public[32])
{
    s_hash2 (out, MAC1_LABEL, strlen (MAC1_LABEL), public, 32);
}

static void
s_mac1 (uint8_t out[16], const uint8_t key[32], const uint8_t *msg, size_t len)
{
    crypto_generichash (out, 16, msg, len, key, 32);
}

static void
s_hs_seal (uint8_t *c, const uint8_t *p, size_t len, const uint8_t key[32], const uint8_t h[32])
{
    static const uint8_t zero_nonce[12];
    crypto_aead_chacha20poly1305_ietf_encrypt (c, NULL, p, len, h, 32, NULL, zero_nonce, key);
}

static int
s_hs_open (uint8_t *p, const uint8_t *c, size_t clen, const uint8_t key[32], const uint8_t h[32])
{
    static const uint8_t zero_nonce[12];
    return crypto_aead_chacha20poly1305_ietf_decrypt (p, NULL, NULL, c, clen, h, 32, zero_nonce,
                                                      key);
}

static void
s_nonce (uint8_t nonce[12], uint64_t counter)
{
    memset (nonce, 0, 4);
    s_put64 (nonce + 4, counter);
}

static void
s_keypair_wipe (keypair_t *kp)
{
    sodium_memzero (kp, sizeof *kp);
}

//  A fresh receive key id, distinct from every id this session uses (so a
//  data message always names one key pair unambiguously). Zero is never
//  used: an all-zero header then never matches a key.
static uint32_t
s_new_id (shed_session_t *self)
{
    for (;;) {
        uint32_t id = randombytes_random ();
        bool clash = id == 0 || (self->hs.active && self->hs.local_id == id);
        for (int s = 0; s < SLOT_COUNT; s++)
            if (self->kp[s].valid && self->kp[s].local_id == id)
                clash = true;
        if (!clash)
            return id;
    }
}

//  The current pair becomes previous (receive only, grace period starts),
//  the one given becomes current. Caller holds the lock.
static void
s_make_current (shed_session_t *self, keypair_t *kp, uint64_t now_ms)
{
    s_keypair_wipe (&self->kp[SLOT_PREVIOUS]);
    if (self->kp[SLOT_CURRENT].valid) {
        self->kp[SLOT_PREVIOUS] = self->kp[SLOT_CURRENT];
        self->kp[SLOT_PREVIOUS].retired_ms = now_ms;
    }
    self->kp[SLOT_CURRENT] = *kp;
    s_keypair_wipe (kp);
}

static bool
s_send_usable (const shed_session_t *self, const keypair_t *kp, uint64_t now_ms)
{
    return kp->valid && now_ms - kp->created_ms < self->cfg.reject_after_ms
           && kp->send_counter < self->cfg.reject_after_messages;
}

//  --------------------------------------------------------------------------
//  Configuration, lifecycle

const char *
shed_session_strerror (int code)
{
#define SHED_SESSION_TEXT_(name, value, text)                                                      \
    case value:                                                                                    \
        return text;
    switch (code) {
        SHED_SESSION_ERRORS (SHED_SESSION_TEXT_)
    }
#undef SHED_SESSION_TEXT_
    return "unknown error";
}

uint8_t
shed_session_aead_available (void)
{
    if (sodium_init () < 0)
        abort ();
    uint8_t mask = SHED_AEAD_CHACHA20POLY1305;
    if (crypto_aead_aes256gcm_is_available ())
        mask |= SHED_AEAD_AES256GCM;
    return mask;
}

const char *
shed_session_aead_name (uint8_t aead)
{
    switch (aead) {
    case SHED_AEAD_CHACHA20POLY1305:
        return "chacha20-poly1305";
    case SHED_AEAD_AES256GCM:
        return "aes-256-gcm";
    default:
        return "none";
    }
}

void
shed_session_cfg_default (shed_session_cfg_t *cfg)
{
    assert (cfg);
    memset (cfg, 0, sizeof *cfg);
    cfg->rekey_after_ms = 120 * 1000;
    cfg->reject_after_ms = 180 * 1000;
    cfg->rekey_timeout_ms = 5 * 1000;
    cfg->grace_ms = 10 * 1000;
    //  AES-GCM with counter nonces has no nonce limit at 2^32, but its
    //  distinguishing bound grows with blocks per key: 2^32 messages of at
    //  most 64 KiB is 2^44 blocks, advantage ~2^-40. Rekey there, and stop
    //  sending (hard limit) a quarter further on if the handshake fails.
    cfg->rekey_after_messages = (uint64_t) 1 << 32;
    cfg->reject_after_messages = ((uint64_t) 1 << 32) + ((uint64_t) 1 << 30);
    cfg->aead_mask = shed_session_aead_available ();
}

shed_session_t *
shed_session_new (const uint8_t local_secret[32], const uint8_t local_public[32],
                  const uint8_t peer_public[32], const shed_session_cfg_t *cfg)
{
    assert (local_secret && local_public && peer_public);
    if (sodium_init () < 0)
        return NULL;
    shed_session_t *self = (shed_session_t *) calloc (1, sizeof *self);
    if (!self)
        return NULL;
    if (cfg)
        self->cfg = *cfg;
    else
        shed_session_cfg_default (&self->cfg);
    //  ChaCha20-Poly1305 is always offered so any two nodes can talk; AES
    //  only if this CPU has it, whatever the caller asked.
    self->cfg.aead_mask =
        (self->cfg.aead_mask & shed_session_aead_available ()) | SHED_AEAD_CHACHA20POLY1305;
    memcpy (self->local_secret, local_secret, 32);
    memcpy (self->local_public, local_public, 32);
    memcpy (self->peer_public, peer_public, 32);
    if (s_dh (self->static_static, local_secret, peer_public)) {
        sodium_memzero (self, sizeof *self);
        free (self);
        return NULL;
    }
    s_mac1_key (self->mac1_to_peer, peer_public);
    s_mac1_key (self->mac1_to_us, local_public);
    pthread_mutex_init (&self->lock, NULL);
    return self;
}

void
shed_session_destroy (shed_session_t **self_p)
{
    assert (self_p);
    shed_session_t *self = *self_p;
    if (!self)
        return;
    pthread_mutex_destroy (&self->lock);
    sodium_memzero (self, sizeof *self);
    free (self);
    *self_p = NULL;
}

const uint8_t *
shed_session_peer_public (const shed_session_t *self)
{
    assert (self);
    return self->peer_public;
}

//  --------------------------------------------------------------------------
//  Handshake

int
shed_session_initiate (shed_session_t *self, uint64_t now_ms, uint64_t wall_ns,
                       uint8_t out[SHED_MSG_INITIATION_SIZE])
{
    assert (self);
    assert (out);
    shed_msg_initiation_t msg;
    uint8_t key[32], dh[32], payload[SHED_HS_PAYLOAD_BYTES];
    int rc = SHED_SESSION_OK;
    memset (&msg, 0, sizeof msg);
    memset (payload, 0, sizeof payload);

    pthread_mutex_lock (&self->lock);
    sodium_memzero (&self->hs, sizeof self->hs);
    self->hs.local_id = s_new_id (self);
    randombytes_buf (self->hs.e_secret, 32);
    crypto_scalarmult_base (self->hs.e_public, self->hs.e_secret);
    s_initial_state (self->hs.ck, self->hs.h, self->peer_public);

    msg.type = SHED_MSG_INITIATION;
    s_put32 (msg.sender, self->hs.local_id);
    memcpy (msg.ephemeral, self->hs.e_public, 32);
    s_mix_hash (self->hs.h, msg.ephemeral, 32);
    s_kdf (self->hs.ck, msg.ephemeral, 32, self->hs.ck, NULL, NULL);

    //  es
    if (s_dh (dh, self->hs.e_secret, self->peer_public)) {
        rc = SHED_SESSION_ERR_DH;
        goto done;
    }
    s_kdf (self->hs.ck, dh, 32, self->hs.ck, key, NULL);
    //  s
    s_hs_seal (msg.enc_static, self->local_public, 32, key, self->hs.h);
    s_mix_hash (self->hs.h, msg.enc_static, sizeof msg.enc_static);
    //  ss
    s_kdf (self->hs.ck, self->static_static, 32, self->hs.ck, key, NULL);
    //  payload: timestamp (big endian, so newer compares greater bytewise)
    //  and the AEADs we offer.
    for (int i = 0; i < 8; i++)
        payload[i] = (uint8_t) (wall_ns >> (56 - 8 * i));
    payload[8] = self->cfg.aead_mask;
    s_hs_seal (msg.enc_payload, payload, sizeof payload, key, self->hs.h);
    s_mix_hash (self->hs.h, msg.enc_payload, sizeof msg.enc_payload);

    s_mac1 (msg.mac1, self->mac1_to_peer, (const uint8_t *) &msg,
            offsetof (shed_msg_initiation_t, mac1));
    self->hs.active = true;
    self->hs.sent_ms = now_ms;
    memcpy (out, &msg, sizeof msg);
done:
    if (rc != SHED_SESSION_OK)
        sodium_memzero (&self->hs, sizeof self->hs);
    pthread_mutex_unlock (&self->lock);
    sodium_memzero (key, sizeof key);
    sodium_memzero (dh, sizeof dh);
    sodium_memzero (payload, sizeof payload);
    return rc;
}

void
shed_session_initiation_wipe (shed_initiation_t *init)
{
    if (init)
        sodium_memzero (init, sizeof *init);
}

int
shed_session_initiation_open (const uint8_t local_secret[32], const uint8_t local_public[32],
                              const uint8_t *msg_in, size_t len, shed_initiation_t *out)
{
    assert (local_secret && local_public && out);
    memset (out, 0, sizeof *out);
    if (!msg_in || len < 1)
        return SHED_SESSION_ERR_SHORT;
    if (msg_in[0] != SHED_MSG_INITIATION)
        return SHED_SESSION_ERR_TYPE;
    if (len != SHED_MSG_INITIATION_SIZE)
        return SHED_SESSION_ERR_SHORT;

    shed_msg_initiation_t msg;
    memcpy (&msg, msg_in, sizeof msg);
    uint8_t key[32], dh[32], mac[16], payload[SHED_HS_PAYLOAD_BYTES];
    int rc = SHED_SESSION_OK;

    //  mac1 first: cheap, and it proves the sender knows our public key.
    s_mac1_key (key, local_public);
    s_mac1 (mac, key, (const uint8_t *) &msg, offsetof (shed_msg_initiation_t, mac1));
    if (sodium_memcmp (mac, msg.mac1, sizeof mac) != 0) {
        rc = SHED_SESSION_ERR_MAC;
        goto done;
    }
    s_initial_state (out->ck, out->h, local_public);
    s_mix_hash (out->h, msg.ephemeral, 32);
    s_kdf (out->ck, msg.ephemeral, 32, out->ck, NULL, NULL);
    //  es
    if (s_dh (dh, local_secret, msg.ephemeral)) {
        rc = SHED_SESSION_ERR_DH;
        goto done;
    }
    s_kdf (out->ck, dh, 32, out->ck, key, NULL);
    //  s
    if (s_hs_open (out->peer_public, msg.enc_static, sizeof msg.enc_static, key, out->h)) {
        rc = SHED_SESSION_ERR_DECRYPT;
        goto done;
    }
    s_mix_hash (out->h, msg.enc_static, sizeof msg.enc_static);
    //  ss
    if (s_dh (dh, local_secret, out->peer_public)) {
        rc = SHED_SESSION_ERR_DH;
        goto done;
    }
    s_kdf (out->ck, dh, 32, out->ck, key, NULL);
    if (s_hs_open (payload, msg.enc_payload, sizeof msg.enc_payload, key, out->h)) {
        rc = SHED_SESSION_ERR_DECRYPT;
        goto done;
    }
    s_mix_hash (out->h, msg.enc_payload, sizeof msg.enc_payload);
    memcpy (out->remote_ephemeral, msg.ephemeral, 32);
    memcpy (out->timestamp, payload, 8);
    out->aead_offer = payload[8];
    out->remote_id = s_get32 (msg.sender);
done:
    if (rc != SHED_SESSION_OK)
        shed_session_initiation_wipe (out);
    sodium_memzero (key, sizeof key);
    sodium_memzero (dh, sizeof dh);
    sodium_memzero (payload, sizeof payload);
    sodium_memzero (&msg, sizeof msg);
    return rc;
}

int
shed_session_respond (shed_session_t *self, shed_initiation_t *init, uint64_t now_ms,
                      uint8_t out[SHED_MSG_RESPONSE_SIZE])
{
    assert (self);
    assert (init);
    assert (out);
    shed_msg_response_t msg;
    keypair_t kp;
    uint8_t e_secret[32], dh[32], key[32], payload[SHED_HS_PAYLOAD_BYTES];
    int rc = SHED_SESSION_OK;
    memset (&msg, 0, sizeof msg);
    memset (&kp, 0, sizeof kp);
    memset (payload, 0, sizeof payload);

    pthread_mutex_lock (&self->lock);
    if (sodium_memcmp (init->peer_public, self->peer_public, 32) != 0) {
        rc = SHED_SESSION_ERR_PEER;
        goto done;
    }
    //  A replayed (or older) initiation would make us replace good keys
    //  with ones nobody can use.
    if (memcmp (init->timestamp, self->last_timestamp, 8) <= 0) {
        rc = SHED_SESSION_ERR_STALE;
        goto done;
    }
    uint8_t common = init->aead_offer & self->cfg.aead_mask;
    uint8_t aead = (common & SHED_AEAD_AES256GCM)          ? SHED_AEAD_AES256GCM
                   : (common & SHED_AEAD_CHACHA20POLY1305) ? SHED_AEAD_CHACHA20POLY1305
                                                           : 0;
    if (!aead) {
        rc = SHED_SESSION_ERR_AEAD;
        goto done;
    }
    randombytes_buf (e_secret, 32);
    msg.type = SHED_MSG_RESPONSE;
    kp.local_id = s_new_id (self);
    kp.remote_id = init->remote_id;
    s_put32 (msg.sender, kp.local_id);
    s_put32 (msg.receiver, kp.remote_id);
    crypto_scalarmult_base (msg.ephemeral, e_secret);
    s_mix_hash (init->h, msg.ephemeral, 32);
    s_kdf (init->ck, msg.ephemeral, 32, init->ck, NULL, NULL);
    //  ee
    if (s_dh (dh, e_secret, init->remote_ephemeral)) {
        rc = SHED_SESSION_ERR_DH;
        goto done;
    }
    s_kdf (init->ck, dh, 32, init->ck, NULL, NULL);
    //  se
    if (s_dh (dh, e_secret, self->peer_public)) {
        rc = SHED_SESSION_ERR_DH;
        goto done;
    }
    s_kdf (init->ck, dh, 32, init->ck, NULL, NULL);
    s_kdf (init->ck, NULL, 0, init->ck, key, NULL);
    payload[0] = aead;
    s_hs_seal (msg.enc_payload, payload, sizeof payload, key, init->h);
    s_mix_hash (init->h, msg.enc_payload, sizeof msg.enc_payload);
    s_mac1 (msg.mac1, self->mac1_to_peer, (const uint8_t *) &msg,
            offsetof (shed_msg_response_t, mac1));

    //  Data keys: the initiator sends with the first, we with the second.
    s_kdf (init->ck, NULL, 0, kp.recv_key, kp.send_key, NULL);
    kp.valid = true;
    kp.initiator = false;
    kp.aead = aead;
    kp.created_ms = now_ms;
    kp.gen = ++self->next_gen;
    shed_replay_init (&kp.replay);
    memcpy (self->last_timestamp, init->timestamp, 8);
    //  Not current yet: we send under it only once the initiator proved it
    //  has it (its first data message under it, see shed_session_open).
    s_keypair_wipe (&self->kp[SLOT_NEXT]);
    self->kp[SLOT_NEXT] = kp;
    self->handshakes++;
    memcpy (out, &msg, sizeof msg);
done:
    pthread_mutex_unlock (&self->lock);
    shed_session_initiation_wipe (init);
    s_keypair_wipe (&kp);
    sodium_memzero (e_secret, sizeof e_secret);
    sodium_memzero (dh, sizeof dh);
    sodium_memzero (key, sizeof key);
    sodium_memzero (payload, sizeof payload);
    return rc;
}

int
shed_session_consume_response (shed_session_t *self, const uint8_t *msg_in, size_t len,
                               uint64_t now_ms)
{
    assert (self);
    if (!msg_in || len < 1)
        return SHED_SESSION_ERR_SHORT;
    if (msg_in[0] != SHED_MSG_RESPONSE)
        return SHED_SESSION_ERR_TYPE;
    if (len != SHED_MSG_RESPONSE_SIZE)
        return SHED_SESSION_ERR_SHORT;

    shed_msg_response_t msg;
    memcpy (&msg, msg_in, sizeof msg);
    keypair_t kp;
    uint8_t ck[32], h[32], dh[32], key[32], mac[16], payload[SHED_HS_PAYLOAD_BYTES];
    int rc = SHED_SESSION_OK;
    memset (&kp, 0, sizeof kp);

    pthread_mutex_lock (&self->lock);
    if (!self->hs.active || s_get32 (msg.receiver) != self->hs.local_id) {
        rc = SHED_SESSION_ERR_STATE;
        goto done;
    }
    s_mac1 (mac, self->mac1_to_us, (const uint8_t *) &msg, offsetof (shed_msg_response_t, mac1));
    if (sodium_memcmp (mac, msg.mac1, sizeof mac) != 0) {
        rc = SHED_SESSION_ERR_MAC;
        goto done;
    }
    //  Work on copies: a forged response must not spoil the handshake state
    //  the real response still needs.
    memcpy (ck, self->hs.ck, 32);
    memcpy (h, self->hs.h, 32);
    s_mix_hash (h, msg.ephemeral, 32);
    s_kdf (ck, msg.ephemeral, 32, ck, NULL, NULL);
    //  ee
    if (s_dh (dh, self->hs.e_secret, msg.ephemeral)) {
        rc = SHED_SESSION_ERR_DH;
        goto done;
    }
    s_kdf (ck, dh, 32, ck, NULL, NULL);
    //  se
    if (s_dh (dh, self->local_secret, msg.ephemeral)) {
        rc = SHED_SESSION_ERR_DH;
        goto done;
    }
    s_kdf (ck, dh, 32, ck, NULL, NULL);
    s_kdf (ck, NULL, 0, ck, key, NULL);
    if (s_hs_open (payload, msg.enc_payload, sizeof msg.enc_payload, key, h)) {
        rc = SHED_SESSION_ERR_DECRYPT;
        goto done;
    }
    if (!(payload[0] & self->cfg.aead_mask)
        || (payload[0] != SHED_AEAD_AES256GCM && payload[0] != SHED_AEAD_CHACHA20POLY1305)) {
        rc = SHED_SESSION_ERR_AEAD;
        goto done;
    }
    s_kdf (ck, NULL, 0, kp.send_key, kp.recv_key, NULL);
    kp.valid = true;
    kp.initiator = true;
    kp.aead = payload[0];
    kp.local_id = self->hs.local_id;
    kp.remote_id = s_get32 (msg.sender);
    kp.created_ms = now_ms;
    kp.gen = ++self->next_gen;
    shed_replay_init (&kp.replay);
    //  The response proves the responder holds the keys: use them now.
    s_make_current (self, &kp, now_ms);
    sodium_memzero (&self->hs, sizeof self->hs);
    self->handshakes++;
done:
    pthread_mutex_unlock (&self->lock);
    s_keypair_wipe (&kp);
    sodium_memzero (ck, sizeof ck);
    sodium_memzero (h, sizeof h);
    sodium_memzero (dh, sizeof dh);
    sodium_memzero (key, sizeof key);
    sodium_memzero (payload, sizeof payload);
    return rc;
}

bool
shed_session_want_handshake (shed_session_t *self, uint64_t now_ms)
{
    assert (self);
    bool want;
    pthread_mutex_lock (&self->lock);
    const keypair_t *cur = &self->kp[SLOT_CURRENT];
    const keypair_t *next = &self->kp[SLOT_NEXT];
    if (self->hs.active)
        want = now_ms - self->hs.sent_ms >= self->cfg.rekey_timeout_ms;
    else if (next->valid && now_ms - next->created_ms < self->cfg.rekey_timeout_ms)
        want = false; //  we answered; the peer will confirm
    else if (!s_send_usable (self, cur, now_ms))
        want = true;
    else if (cur->send_counter >= self->cfg.rekey_after_messages)
        want = true;
    else if (cur->initiator)
        want = now_ms - cur->created_ms >= self->cfg.rekey_after_ms;
    else
        //  The initiator of the current key rekeys first; we step in only if
        //  it did not, well before the key is rejected. Staggering the two
        //  sides avoids two crossing handshakes every time.
        want =
            now_ms - cur->created_ms >= self->cfg.rekey_after_ms + 2 * self->cfg.rekey_timeout_ms;
    pthread_mutex_unlock (&self->lock);
    return want;
}

//  --------------------------------------------------------------------------
//  Data

//  Counters for n messages under the current send key, with the key and
//  header copied out, so the AEAD runs without the lock.
static int
s_reserve (shed_session_t *self, uint64_t now_ms, size_t n, uint8_t key[32], uint8_t *aead,
           uint32_t *remote_id, uint64_t *first)
{
    pthread_mutex_lock (&self->lock);
    keypair_t *kp = &self->kp[SLOT_CURRENT];
    if (!s_send_usable (self, kp, now_ms)
        || self->cfg.reject_after_messages - kp->send_counter < n) {
        pthread_mutex_unlock (&self->lock);
        return SHED_SESSION_ERR_NOKEY;
    }
    *first = kp->send_counter;
    kp->send_counter += n;
    memcpy (key, kp->send_key, 32);
    *aead = kp->aead;
    *remote_id = kp->remote_id;
    pthread_mutex_unlock (&self->lock);
    return SHED_SESSION_OK;
}

static int
s_seal_one (uint8_t aead, const uint8_t key[32], uint32_t remote_id, uint64_t counter, uint8_t *buf,
            size_t ptlen)
{
    shed_msg_data_t hdr;
    memset (&hdr, 0, sizeof hdr);
    hdr.type = SHED_MSG_DATA;
    s_put32 (hdr.receiver, remote_id);
    s_put64 (hdr.counter, counter);
    memcpy (buf, &hdr, sizeof hdr);
    uint8_t nonce[12];
    s_nonce (nonce, counter);
    return shed_aead_seal (aead, key, nonce, buf, SHED_SESSION_DATA_HEADER,
                           buf + SHED_SESSION_DATA_HEADER, ptlen)
                   == 0
               ? SHED_SESSION_OK
               : SHED_SESSION_ERR_AEAD;
}

int
shed_session_seal (shed_session_t *self, uint64_t now_ms, uint8_t *buf, size_t ptlen, size_t cap,
                   size_t *outlen)
{
    assert (self);
    assert (buf);
    if (cap < SHED_SESSION_DATA_OVERHEAD || ptlen > cap - SHED_SESSION_DATA_OVERHEAD)
        return SHED_SESSION_ERR_SPACE;
    uint8_t key[32], aead;
    uint32_t remote_id;
    uint64_t counter;
    int rc = s_reserve (self, now_ms, 1, key, &aead, &remote_id, &counter);
    if (rc == SHED_SESSION_OK)
        rc = s_seal_one (aead, key, remote_id, counter, buf, ptlen);
    sodium_memzero (key, sizeof key);
    if (rc == SHED_SESSION_OK && outlen)
        *outlen = SHED_SESSION_DATA_OVERHEAD + ptlen;
    return rc;
}

int
shed_session_seal_batch (shed_session_t *self, uint64_t now_ms, uint8_t *const *bufs,
                         const size_t *ptlens, size_t n)
{
    assert (self);
    assert (bufs || n == 0);
    if (n == 0)
        return SHED_SESSION_OK;
    uint8_t key[32], aead;
    uint32_t remote_id;
    uint64_t first;
    int rc = s_reserve (self, now_ms, n, key, &aead, &remote_id, &first);
    for (size_t i = 0; rc == SHED_SESSION_OK && i < n; i++)
        rc = s_seal_one (aead, key, remote_id, first + i, bufs[i], ptlens[i]);
    sodium_memzero (key, sizeof key);
    return rc;
}

//  Slot holding the key pair with this receive id, or -1. Caller locks.
static int
s_find_by_id (const shed_session_t *self, uint32_t id)
{
    for (int s = 0; s < SLOT_COUNT; s++)
        if (self->kp[s].valid && self->kp[s].local_id == id)
            return s;
    return -1;
}

static int
s_find_by_gen (const shed_session_t *self, uint64_t gen)
{
    for (int s = 0; s < SLOT_COUNT; s++)
        if (self->kp[s].valid && self->kp[s].gen == gen)
            return s;
    return -1;
}

int
shed_session_open (shed_session_t *self, uint64_t now_ms, uint8_t *buf, size_t len, size_t *ptlen)
{
    assert (self);
    if (!buf || len < 1)
        return SHED_SESSION_ERR_SHORT;
    if (buf[0] != SHED_MSG_DATA)
        return SHED_SESSION_ERR_TYPE;
    if (len < SHED_SESSION_DATA_OVERHEAD)
        return SHED_SESSION_ERR_SHORT;

    uint32_t id = s_get32 (buf + offsetof (shed_msg_data_t, receiver));
    uint64_t counter = s_get64 (buf + offsetof (shed_msg_data_t, counter));
    uint8_t key[32], nonce[12];
    uint8_t aead;
    uint64_t gen;

    pthread_mutex_lock (&self->lock);
    int slot = s_find_by_id (self, id);
    if (slot < 0) {
        pthread_mutex_unlock (&self->lock);
        return SHED_SESSION_ERR_KEYID;
    }
    keypair_t *kp = &self->kp[slot];
    if (now_ms - kp->created_ms >= self->cfg.reject_after_ms
        || (slot == SLOT_PREVIOUS && now_ms - kp->retired_ms >= self->cfg.grace_ms)) {
        pthread_mutex_unlock (&self->lock);
        return SHED_SESSION_ERR_EXPIRED;
    }
    memcpy (key, kp->recv_key, 32);
    aead = kp->aead;
    gen = kp->gen;
    pthread_mutex_unlock (&self->lock);

    s_nonce (nonce, counter);
    size_t clen = len - SHED_SESSION_DATA_HEADER;
    uint8_t *ct = buf + SHED_SESSION_DATA_HEADER;
    int auth = shed_aead_open (aead, key, nonce, buf, SHED_SESSION_DATA_HEADER, ct,
                               clen - SHED_SESSION_TAG_BYTES);
    sodium_memzero (key, sizeof key);
    if (auth != 0)
        return SHED_SESSION_ERR_AUTH;

    //  Authenticated: now, and only now, the counter may move the window.
    int rc = SHED_SESSION_OK;
    pthread_mutex_lock (&self->lock);
    slot = s_find_by_gen (self, gen);
    if (slot < 0)
        rc = SHED_SESSION_ERR_EXPIRED; //  wiped while we decrypted
    else if (!shed_replay_check (&self->kp[slot].replay, counter))
        rc = SHED_SESSION_ERR_REPLAY;
    else if (slot == SLOT_NEXT) {
        //  The initiator sent under the new key: it has it. Switch.
        keypair_t kp_next = self->kp[SLOT_NEXT];
        s_keypair_wipe (&self->kp[SLOT_NEXT]);
        s_make_current (self, &kp_next, now_ms);
    }
    pthread_mutex_unlock (&self->lock);
    if (rc == SHED_SESSION_OK && ptlen)
        *ptlen = clen - SHED_SESSION_TAG_BYTES;
    return rc;
}

uint32_t
shed_session_data_key_id (const uint8_t *msg, size_t len)
{
    if (!msg || len < SHED_SESSION_DATA_HEADER)
        return 0;
    return s_get32 (msg + offsetof (shed_msg_data_t, receiver));
}

void
shed_session_info (shed_session_t *self, uint64_t now_ms, shed_session_info_t *out)
{
    assert (self);
    assert (out);
    memset (out, 0, sizeof *out);
    pthread_mutex_lock (&self->lock);
    const keypair_t *cur = &self->kp[SLOT_CURRENT];
    out->has_send_key = s_send_usable (self, cur, now_ms);
    if (cur->valid) {
        out->aead = cur->aead;
        out->key_age_ms = now_ms - cur->created_ms;
        out->send_key_id = cur->remote_id;
        out->recv_key_id = cur->local_id;
        out->send_counter = cur->send_counter;
    }
    out->handshakes = self->handshakes;
    out->has_previous = self->kp[SLOT_PREVIOUS].valid;
    out->has_next = self->kp[SLOT_NEXT].valid;
    pthread_mutex_unlock (&self->lock);
}
