/* loop.c - the line splitter shared by the supervisor and the tailer. */
#include "agent/loop.h"
#include "agent/proto/agent_proto.h"
#include "agent/proto/agent_bucket.h"

#include <stdio.h>
#include <string.h>

void
agent_lines_init (agent_lines_t *l, const char *stream)
{
    memset (l, 0, sizeof *l);
    snprintf (l->stream, sizeof l->stream, "%s", stream);
}

static void
s_emit (agent_lines_t *l, bool partial, agent_emit_fn *emit, void *ctx)
{
    static agent_msg_t m; /* 4 KiB: kept off the stack; one thread */
    memset (&m.hdr, 0, sizeof m.hdr);
    m.hdr.type = AGENT_LOG;
    agent_log_t *log = &m.u.agent_log;
    memset (log, 0, sizeof *log);
    if (!partial && l->len && l->buf[l->len - 1] == '\r')
        l->len--;
    memcpy (log->stream, l->stream, sizeof log->stream);
    log->seq = ++l->seq;
    log->ts_ms = (uint64_t) agent_clock_wall_ms ();
    memcpy (log->text, l->buf, l->len);
    log->text[l->len] = '\0';
    log->partial = partial;
    l->len = 0;
    emit (ctx, &m);
}

void
agent_lines_feed (agent_lines_t *l, const char *data, size_t n, agent_emit_fn *emit, void *ctx)
{
    for (size_t i = 0; i < n; i++) {
        char c = data[i];
        if (c == '\n') {
            s_emit (l, false, emit, ctx);
            continue;
        }
        l->buf[l->len++] = c ? c : '?';
        if (l->len == AGENT_LOG_TEXT_MAX)
            s_emit (l, true, emit, ctx);
    }
}

void
agent_lines_flush (agent_lines_t *l, agent_emit_fn *emit, void *ctx)
{
    if (l->len)
        s_emit (l, false, emit, ctx);
}
