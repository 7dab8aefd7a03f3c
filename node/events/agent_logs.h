/*
 * agent_logs.h - the log history of one shed's agent: its last `cap` LOG
 * lines in a ring, for API_LOGS_REQ (`shedctl logs`, here or from another
 * node over agents.logs). Older lines are counted as evicted. Owned by
 * node_agents (one per shed listener); no I/O. Lines are added on the
 * agent host's thread (its log_sink) and read on the node's: add and fill
 * take the ring's lock.
 */
#ifndef SHED_AGENT_LOGS_H
#define SHED_AGENT_LOGS_H

#include "agent/proto/agent_proto.h"
#include "node/api/api_msg.h"

#include <stddef.h>

typedef struct _agent_logs_t agent_logs_t;

/* A ring of `cap` lines (0: keeps none, answers empty). NULL if out of
 * memory. */
agent_logs_t *agent_logs_new (size_t cap);
void agent_logs_destroy (agent_logs_t **self_p);

/* Keep a copy of one line (the oldest goes when the ring is full). */
void agent_logs_add (agent_logs_t *self, const agent_log_t *log);

/* The API_LOGS_REP for request `r` into *rep (node names the answering
 * node): the newest r->tail lines (all if 0) of r->stream (all if empty),
 * oldest first, at most `max` bytes of text (older lines left out, and
 * truncated set). rep borrows *lines_out, which the caller frees after
 * sending. */
void agent_logs_fill (agent_logs_t *self, const char *node, const api_logs_req_t *r, size_t max,
                      api_msg_t *rep, api_logline_t **lines_out);

#endif
