/*
 * session_int.h - what session.c (key pairs, data messages) and
 * session_handshake.c (the Noise IK handshake) share; not for other
 * modules (see session.h). Cross-file names are `shed_session__`,
 * file-local ones `s_`.
 */
#ifndef SHED_SESSION_INT_H
#define SHED_SESSION_INT_H

#include "crypto/replay.h"
#include "crypto/session.h"

#include <pthread.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdint.h>

typedef enum { SLOT_CURRENT, SLOT_PREVIOUS, SLOT_NEXT, SLOT_COUNT } shed_slot_t;

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
} shed_keypair_t;

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
    shed_keypair_t kp[SLOT_COUNT];
    uint64_t next_gen;
    uint64_t handshakes;
};

//  Little-endian integers on the wire.
static inline void
shed_session__put32 (uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t) (v >> (8 * i));
}

static inline uint32_t
shed_session__get32 (const uint8_t *p)
{
    return (uint32_t) p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16 | (uint32_t) p[3] << 24;
}

static inline void
shed_session__put64 (uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t) (v >> (8 * i));
}

static inline uint64_t
shed_session__get64 (const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static inline void
shed_session__keypair_wipe (shed_keypair_t *kp)
{
    sodium_memzero (kp, sizeof *kp);
}

//  ---- session.c -------------------------------------------------------------

//  The current pair becomes previous (receive only, grace period starts),
//  the one given becomes current. Caller holds the lock.
void shed_session__make_current (shed_session_t *self, shed_keypair_t *kp, uint64_t now_ms);

//  ---- session_handshake.c ---------------------------------------------------

//  DH(secret, public): 0, or -1 if the shared point is all zero (a
//  small-order public key).
int shed_session__dh (uint8_t out[32], const uint8_t secret[32], const uint8_t public[32]);
//  The MAC1 key of messages sent to the holder of `public`.
void shed_session__mac1_key (uint8_t out[32], const uint8_t public[32]);

#endif
