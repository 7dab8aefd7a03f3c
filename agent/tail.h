/*
 * tail.h - follows files (like `tail -F`) and sends their lines as log
 * streams. Files are checked every AGENT_TAIL_POLL_MS with stat: growth is
 * read (at most AGENT_TAIL_READ_MAX per check, so one chatty file cannot
 * starve the loop), a new inode or a shrunk file is reopened from the start
 * (rotation, truncation), a missing file is retried.
 */
#ifndef SHED_AGENT_TAIL_H
#define SHED_AGENT_TAIL_H

#include "agent/loop.h"

#include <stdbool.h>

#define AGENT_TAILS_MAX     32
#define AGENT_TAIL_POLL_MS  250
#define AGENT_TAIL_READ_MAX (256u << 10)

typedef struct _agent_tail_t agent_tail_t;

agent_tail_t *agent_tail_new (agent_emit_fn *emit, void *ctx);
void agent_tail_destroy (agent_tail_t **self_p);

/* Follow `path` as log stream `stream`, from its start or from its end. */
int agent_tail_add (agent_tail_t *self, const char *stream, const char *path, bool from_start);

int64_t agent_tail_next_ms (agent_tail_t *self);
void agent_tail_tick (agent_tail_t *self, int64_t now_ms);

#endif
