/*
 * snap_xfer.h - the receiving side of a snapshot transfer
 * (docs/snapshots.md, "Transfer protocol"), as a pure state machine: no
 * sockets, no loop, no clock. Its caller sends the SNAPX_READ requests it
 * hands out (snap_xfer_next) over node RPC, feeds the answers in
 * (snap_xfer_data), reports failed requests (snap_xfer_retry), and ends
 * with snap_xfer_finish or snap_xfer_abandon.
 *
 * Answers may come in any order. The bytes that continue the received
 * prefix are written to <path>.partial (pwrite) and hashed (sha256, in
 * order) at once; an answer ahead of a gap is held in memory until the gap
 * fills, so the partial on disk is always a prefix. Requests in flight,
 * to retry or held together stay within `window` (memory: window * chunk
 * at most), so a lost answer holds the pipeline until it is asked again.
 *
 * Resume: a <path>.partial left by an earlier transfer (link dropped,
 * node restarted) keeps its whole chunks; only the rest is asked for. A
 * partial of other bytes (a different digest recorded on it, or longer
 * than `size`) starts over. A copy whose sha256 is wrong at the end is
 * removed, never resumed.
 */
#ifndef SHED_SNAP_XFER_H
#define SHED_SNAP_XFER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct _snap_xfer_t snap_xfer_t;

/* Pull `size` bytes whose sha256 is `digest` (64 hex) into `path`.
 * Resumes: if <path>.partial exists, its bytes (rounded down to whole
 * chunks) are kept and hashed, and the transfer continues after them.
 * window = requests in flight at most (>= 1), chunk = bytes per request
 * (1..SNAPX_CHUNK_MAX). If `path` itself exists with the right size and
 * digest, the transfer is done at once. NULL with err. */
snap_xfer_t *snap_xfer_new (const char *path, uint64_t size, const char *digest, size_t chunk,
                            size_t window, char *err, size_t errlen);
/* Keeps <path>.partial for a later resume. */
void snap_xfer_destroy (snap_xfer_t **self_p);

/* The next request to send, if the window has room: fills offset and
 * length; false when nothing to ask now. Requests that were retried come
 * first. */
bool snap_xfer_next (snap_xfer_t *self, uint64_t *offset, uint32_t *length);

/* An answer: data for [offset, offset + len). 0, or -1 with err for an
 * answer nobody asked for, a wrong length (a short one: the source is
 * shorter than its record), or a write error ("disk full" on ENOSPC; the
 * request may be retried). */
int snap_xfer_data (snap_xfer_t *self, uint64_t offset, const uint8_t *data, size_t len, char *err,
                    size_t errlen);

/* A request failed (timeout, dropped link): it is asked again. An offset
 * not in flight is ignored. */
void snap_xfer_retry (snap_xfer_t *self, uint64_t offset);

/* Every byte in (and hashed). */
bool snap_xfer_complete (snap_xfer_t *self);

/* Check the sha256 and rename <path>.partial to <path> (fsynced). 0, or -1
 * "checksum mismatch" (the partial is removed: a corrupted copy is never
 * resumed), or -1 if not complete. */
int snap_xfer_finish (snap_xfer_t *self, char *err, size_t errlen);

/* Remove <path>.partial (an abandoned transfer). Later calls do nothing. */
void snap_xfer_abandon (snap_xfer_t *self);

/* Bytes in, for progress (resumed ones included). */
uint64_t snap_xfer_received (snap_xfer_t *self);
/* Bytes found in a partial at start. */
uint64_t snap_xfer_resumed (snap_xfer_t *self);
/* The total, as given to snap_xfer_new. */
uint64_t snap_xfer_size (snap_xfer_t *self);

#endif
