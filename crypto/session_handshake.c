/*
 * session_handshake.c - the Noise IK handshake that makes a session's key
 * pairs (session.h): initiation, response, and their checks. Apart from
 * session.c because it is the protocol's cryptography, run once per
 * rekey, while session.c is the per-packet path (session_int.h).
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
 */
#include "crypto/session_int.h"

#include <assert.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#define CONSTRUCTION "shed-overlay Noise_IK_25519_ChaChaPoly_BLAKE2b"
#define IDENTIFIER   "shed-overlay v1"
#define MAC1_LABEL   "mac1----"

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
int
shed_session__dh (uint8_t out[32], const uint8_t secret[32], const uint8_t public[32])
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

void
shed_session__mac1_key (uint8_t out[32], const uint8_t public[32])
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
    shed_session__put32 (msg.sender, self->hs.local_id);
    memcpy (msg.ephemeral, self->hs.e_public, 32);
    s_mix_hash (self->hs.h, msg.ephemeral, 32);
    s_kdf (self->hs.ck, msg.ephemeral, 32, self->hs.ck, NULL, NULL);

    //  es
    if (shed_session__dh (dh, self->hs.e_secret, self->peer_public)) {
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
    shed_session__mac1_key (key, local_public);
    s_mac1 (mac, key, (const uint8_t *) &msg, offsetof (shed_msg_initiation_t, mac1));
    if (sodium_memcmp (mac, msg.mac1, sizeof mac) != 0) {
        rc = SHED_SESSION_ERR_MAC;
        goto done;
    }
    s_initial_state (out->ck, out->h, local_public);
    s_mix_hash (out->h, msg.ephemeral, 32);
    s_kdf (out->ck, msg.ephemeral, 32, out->ck, NULL, NULL);
    //  es
    if (shed_session__dh (dh, local_secret, msg.ephemeral)) {
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
    if (shed_session__dh (dh, local_secret, out->peer_public)) {
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
    out->remote_id = shed_session__get32 (msg.sender);
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
    shed_keypair_t kp;
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
    shed_session__put32 (msg.sender, kp.local_id);
    shed_session__put32 (msg.receiver, kp.remote_id);
    crypto_scalarmult_base (msg.ephemeral, e_secret);
    s_mix_hash (init->h, msg.ephemeral, 32);
    s_kdf (init->ck, msg.ephemeral, 32, init->ck, NULL, NULL);
    //  ee
    if (shed_session__dh (dh, e_secret, init->remote_ephemeral)) {
        rc = SHED_SESSION_ERR_DH;
        goto done;
    }
    s_kdf (init->ck, dh, 32, init->ck, NULL, NULL);
    //  se
    if (shed_session__dh (dh, e_secret, self->peer_public)) {
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
    shed_session__keypair_wipe (&self->kp[SLOT_NEXT]);
    self->kp[SLOT_NEXT] = kp;
    self->handshakes++;
    memcpy (out, &msg, sizeof msg);
done:
    pthread_mutex_unlock (&self->lock);
    shed_session_initiation_wipe (init);
    shed_session__keypair_wipe (&kp);
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
    shed_keypair_t kp;
    uint8_t ck[32], h[32], dh[32], key[32], mac[16], payload[SHED_HS_PAYLOAD_BYTES];
    int rc = SHED_SESSION_OK;
    memset (&kp, 0, sizeof kp);

    pthread_mutex_lock (&self->lock);
    if (!self->hs.active || shed_session__get32 (msg.receiver) != self->hs.local_id) {
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
    if (shed_session__dh (dh, self->hs.e_secret, msg.ephemeral)) {
        rc = SHED_SESSION_ERR_DH;
        goto done;
    }
    s_kdf (ck, dh, 32, ck, NULL, NULL);
    //  se
    if (shed_session__dh (dh, self->local_secret, msg.ephemeral)) {
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
    kp.remote_id = shed_session__get32 (msg.sender);
    kp.created_ms = now_ms;
    kp.gen = ++self->next_gen;
    shed_replay_init (&kp.replay);
    //  The response proves the responder holds the keys: use them now.
    shed_session__make_current (self, &kp, now_ms);
    sodium_memzero (&self->hs, sizeof self->hs);
    self->handshakes++;
done:
    pthread_mutex_unlock (&self->lock);
    shed_session__keypair_wipe (&kp);
    sodium_memzero (ck, sizeof ck);
    sodium_memzero (h, sizeof h);
    sodium_memzero (dh, sizeof dh);
    sodium_memzero (key, sizeof key);
    sodium_memzero (payload, sizeof payload);
    return rc;
}
