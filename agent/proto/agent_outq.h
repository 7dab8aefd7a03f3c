/*
 * agent_outq.h - bounded queue of encoded agent channel frames for a
 * non-blocking socket. When full it either drops the oldest frames not yet
 * started (the agent, which reports the count in a DROPPED message) or
 * refuses new ones (the host, whose sender is told). agent_outq_flush is
 * the only call that does I/O, and only ever a non-blocking send.
 */
#ifndef SHED_AGENT_OUTQ_H
#define SHED_AGENT_OUTQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct _agent_outq_t agent_outq_t;

/* At most `max_frames` frames and `max_bytes` bytes. When full, a push
 * either drops the oldest frames not yet started (drop_oldest) or refuses
 * the new one. */
agent_outq_t *agent_outq_new (size_t max_frames, size_t max_bytes, bool drop_oldest);
void agent_outq_destroy (agent_outq_t **self_p);

/* Queue a frame (ownership taken, freed on refusal). Returns 0, or -1 if
 * refused. Frames dropped to make room are counted. */
int agent_outq_push (agent_outq_t *self, uint8_t *frame, size_t len);

/* Queue a frame ahead of everything not yet started, ignoring the bounds
 * (hello and drop notices on a fresh connection). */
int agent_outq_push_front (agent_outq_t *self, uint8_t *frame, size_t len);

/* Write as much as a non-blocking socket takes, at most `budget_frames`
 * whole frames. Returns frames completed, or -1 with errno on a socket
 * error (EAGAIN is not an error). */
int agent_outq_flush (agent_outq_t *self, int fd, size_t budget_frames);

/* A connection died: the frame being written will be resent whole. */
void agent_outq_rewind (agent_outq_t *self);

/* Drop everything queued (not counted as dropped). */
void agent_outq_clear (agent_outq_t *self);

size_t agent_outq_frames (agent_outq_t *self);
size_t agent_outq_bytes (agent_outq_t *self);

/* Frames dropped since the last call (the counter restarts at 0) and in
 * all (the total is not reset). */
uint64_t agent_outq_take_dropped (agent_outq_t *self);
uint64_t agent_outq_dropped_total (agent_outq_t *self);

#endif
