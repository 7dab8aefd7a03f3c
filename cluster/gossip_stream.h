/*
 * gossip_stream.h - the sealed frame of a membership stream (TCP,
 * protocol v2; docs/membership.md section 1, "Streams").
 *
 * Frame = a sealed header of GOSSIP_TCP_HDR_SEALED (73) bytes, sealed with
 * AD GOSSIP_TCP_HDR_AD, whose plaintext is the 4-byte big-endian length of
 * the sealed body and the sender's stamp; then the sealed body, whose AD
 * is GOSSIP_TCP_AD followed by the 73 header bytes (so a body cannot be
 * moved under another header). The reader opens the header first and
 * allocates nothing for the body until it did; the stamp's freshness and
 * replay window are the caller's (cluster/membership.c keeps them).
 *
 * Pure functions over a keyring, no sockets: membership.c frames and reads
 * with them, and fuzz/fuzz_gossip_stream.c fuzzes them.
 */
#ifndef SHED_GOSSIP_STREAM_H
#define SHED_GOSSIP_STREAM_H

#include "cluster/gossip_msg.h"
#include "crypto/keyring.h"

#include <stddef.h>
#include <stdint.h>

/* The header opened but declares a body shorter than a seal or longer
 * than SWIM_STREAM_MAX (counted as drop_oversize). Other errors are the
 * keyring's SHED_SEAL_ERR_* codes. */
#define GOSSIP_STREAM_ERR_LENGTH (-100)

/* Open a sealed header. On 0, *bodylen is the sealed body's length
 * (SHED_SEAL_OVERHEAD..SWIM_STREAM_MAX) and stamp holds the sender's stamp
 * (still to be checked). */
int gossip_stream_header_open (const shed_keyring_t *keyring,
                               const uint8_t hdr[GOSSIP_TCP_HDR_SEALED], size_t *bodylen,
                               uint8_t stamp[GOSSIP_STAMP_BYTES]);

/* Open the sealed body that came under hdr. pt needs bodylen -
 * SHED_SEAL_OVERHEAD bytes. Returns 0 or a SHED_SEAL_ERR_* code. */
int gossip_stream_body_open (const shed_keyring_t *keyring,
                             const uint8_t hdr[GOSSIP_TCP_HDR_SEALED], const uint8_t *body,
                             size_t bodylen, uint8_t *pt, size_t cap, size_t *ptlen);

/* Seal msg into a frame stamped with stamp (the caller's next stream
 * stamp). Returns a malloc'd frame of *framelen bytes, or NULL if msg is
 * too long for SWIM_STREAM_MAX, out of memory, or the keyring is empty. */
uint8_t *gossip_stream_seal (const shed_keyring_t *keyring, const uint8_t stamp[GOSSIP_STAMP_BYTES],
                             const uint8_t *msg, size_t len, size_t *framelen);

#endif
