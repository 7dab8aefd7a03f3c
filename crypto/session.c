/*
 * session.c - see session.h: a session's key pairs (current, previous,
 * next), their lifetimes, and the data messages sealed and opened under
 * them. The Noise IK handshake that makes the key pairs is apart, in
 * session_handshake.c (session_int.h): it is the protocol's cryptography,
 * this file the per-packet path and key rotation.
 *
 * Locking: one mutex per session guards the handshake state and the three
 * key pairs. seal()/open() hold it only to take a counter / find a key and
 * copy it to the stack, never across the AEAD itself, so several datapath
 * threads work in parallel; open() re-finds the key pair afterwards by a
 * generation number (it may have been promoted or wiped meanwhile) before
 * touching the replay window.
 */
#include "crypto/aead.h"
#include "crypto/session_int.h"

#include <assert.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

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

//  --------------------------------------------------------------------------
//  Key pairs

static void
s_nonce (uint8_t nonce[12], uint64_t counter)
{
    memset (nonce, 0, 4);
    shed_session__put64 (nonce + 4, counter);
}

//  The current pair becomes previous (receive only, grace period starts),
//  the one given becomes current. Caller holds the lock.
void
shed_session__make_current (shed_session_t *self, shed_keypair_t *kp, uint64_t now_ms)
{
    shed_session__keypair_wipe (&self->kp[SLOT_PREVIOUS]);
    if (self->kp[SLOT_CURRENT].valid) {
        self->kp[SLOT_PREVIOUS] = self->kp[SLOT_CURRENT];
        self->kp[SLOT_PREVIOUS].retired_ms = now_ms;
    }
    self->kp[SLOT_CURRENT] = *kp;
    shed_session__keypair_wipe (kp);
}

static bool
s_send_usable (const shed_session_t *self, const shed_keypair_t *kp, uint64_t now_ms)
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
    if (shed_session__dh (self->static_static, local_secret, peer_public)) {
        sodium_memzero (self, sizeof *self);
        free (self);
        return NULL;
    }
    shed_session__mac1_key (self->mac1_to_peer, peer_public);
    shed_session__mac1_key (self->mac1_to_us, local_public);
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
//  Key lifetimes

bool
shed_session_want_handshake (shed_session_t *self, uint64_t now_ms)
{
    assert (self);
    bool want;
    pthread_mutex_lock (&self->lock);
    const shed_keypair_t *cur = &self->kp[SLOT_CURRENT];
    const shed_keypair_t *next = &self->kp[SLOT_NEXT];
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
    shed_keypair_t *kp = &self->kp[SLOT_CURRENT];
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
    shed_session__put32 (hdr.receiver, remote_id);
    shed_session__put64 (hdr.counter, counter);
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

    uint32_t id = shed_session__get32 (buf + offsetof (shed_msg_data_t, receiver));
    uint64_t counter = shed_session__get64 (buf + offsetof (shed_msg_data_t, counter));
    uint8_t key[32], nonce[12];
    uint8_t aead;
    uint64_t gen;

    pthread_mutex_lock (&self->lock);
    int slot = s_find_by_id (self, id);
    if (slot < 0) {
        pthread_mutex_unlock (&self->lock);
        return SHED_SESSION_ERR_KEYID;
    }
    shed_keypair_t *kp = &self->kp[slot];
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
        shed_keypair_t kp_next = self->kp[SLOT_NEXT];
        shed_session__keypair_wipe (&self->kp[SLOT_NEXT]);
        shed_session__make_current (self, &kp_next, now_ms);
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
    return shed_session__get32 (msg + offsetof (shed_msg_data_t, receiver));
}

void
shed_session_info (shed_session_t *self, uint64_t now_ms, shed_session_info_t *out)
{
    assert (self);
    assert (out);
    memset (out, 0, sizeof *out);
    pthread_mutex_lock (&self->lock);
    const shed_keypair_t *cur = &self->kp[SLOT_CURRENT];
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
