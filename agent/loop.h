/*
 * loop.h - what the agent's modules share: how they emit messages, how they
 * ask the single poll() loop to watch their fds, and the line splitter that
 * turns byte streams into LOG messages.
 *
 * The loop (agent.c) asks every module each turn for its watches and its
 * next deadline, polls once, and calls back. No module blocks.
 */
#ifndef SHED_AGENT_LOOP_H
#define SHED_AGENT_LOOP_H

#include "agent/proto/agent_proto.h"

#include <stddef.h>
#include <stdint.h>

/* Hand a message to the connection. `msg` is borrowed: it is encoded (and
 * queued) before the call returns. */
typedef void (agent_emit_fn) (void *ctx, const agent_msg_t *msg);

typedef void (agent_io_fn) (void *arg, int fd, short revents);

typedef struct {
    int fd;
    short events; /* POLLIN / POLLOUT */
    agent_io_fn *fn;
    void *arg;
} agent_watch_t;

#define AGENT_WATCH_MAX 512       /* fds polled at once */
#define AGENT_NEVER     INT64_MAX /* "no deadline" */

/* Splits a byte stream into LOG lines of one stream. Lines longer than
 * AGENT_LOG_TEXT_MAX go out in pieces marked partial; NUL bytes become '?'
 * (the codec's strings cannot hold them); a trailing "\r" is dropped. */
typedef struct {
    char stream[AGENT_STREAM_NAME_MAX + 1];
    uint64_t seq; /* last line number sent */
    size_t len;
    char buf[AGENT_LOG_TEXT_MAX + 1];
} agent_lines_t;

void agent_lines_init (agent_lines_t *l, const char *stream);
void agent_lines_feed (agent_lines_t *l, const char *data, size_t n, agent_emit_fn *emit,
                       void *ctx);
/* Emit what is left as a last (complete) line. */
void agent_lines_flush (agent_lines_t *l, agent_emit_fn *emit, void *ctx);

#endif
