/*
 * tail.c - file tailing (see tail.h).
 */
#include "agent/tail.h"

#include <assert.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct {
    char path[AGENT_PATH_MAX + 1];
    agent_lines_t lines;
    int fd;
    ino_t ino;
    off_t off;
    bool from_start; /* only for the first open */
} s_file_t;

struct _agent_tail_t {
    agent_emit_fn *emit;
    void *ctx;
    s_file_t *files[AGENT_TAILS_MAX];
    size_t n;
    int64_t next_ms;
};

agent_tail_t *
agent_tail_new (agent_emit_fn *emit, void *ctx)
{
    agent_tail_t *self = calloc (1, sizeof *self);
    if (self) {
        self->emit = emit;
        self->ctx = ctx;
    }
    return self;
}

void
agent_tail_destroy (agent_tail_t **self_p)
{
    assert (self_p);
    agent_tail_t *self = *self_p;
    if (!self)
        return;
    for (size_t i = 0; i < self->n; i++) {
        if (self->files[i]->fd >= 0)
            close (self->files[i]->fd);
        free (self->files[i]);
    }
    free (self);
    *self_p = NULL;
}

int
agent_tail_add (agent_tail_t *self, const char *stream, const char *path, bool from_start)
{
    assert (self);
    if (self->n == AGENT_TAILS_MAX || !agent_msg_stream_name_ok (stream)
        || strlen (path) > AGENT_PATH_MAX)
        return -1;
    s_file_t *f = calloc (1, sizeof *f);
    if (!f)
        return -1;
    snprintf (f->path, sizeof f->path, "%s", path);
    agent_lines_init (&f->lines, stream);
    f->fd = -1;
    f->from_start = from_start;
    self->files[self->n++] = f;
    return 0;
}

int64_t
agent_tail_next_ms (agent_tail_t *self)
{
    assert (self);
    return self->n ? self->next_ms : AGENT_NEVER;
}

static void
s_check (agent_tail_t *self, s_file_t *f)
{
    struct stat st;
    if (stat (f->path, &st) != 0) {
        return; /* not there (yet, or between rotations) */
    }
    if (f->fd >= 0 && (st.st_ino != f->ino || st.st_size < f->off)) {
        /* Rotated or truncated: finish the old line, start over. */
        agent_lines_flush (&f->lines, self->emit, self->ctx);
        close (f->fd);
        f->fd = -1;
        f->from_start = true;
    }
    if (f->fd < 0) {
        f->fd = open (f->path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
        if (f->fd < 0)
            return;
        f->ino = st.st_ino;
        f->off = f->from_start ? 0 : st.st_size;
        lseek (f->fd, f->off, SEEK_SET);
    }
    char buf[16384];
    size_t budget = AGENT_TAIL_READ_MAX;
    while (budget > 0) {
        ssize_t n = read (f->fd, buf, sizeof buf < budget ? sizeof buf : budget);
        if (n <= 0)
            break;
        f->off += n;
        budget -= (size_t) n;
        agent_lines_feed (&f->lines, buf, (size_t) n, self->emit, self->ctx);
    }
}

void
agent_tail_tick (agent_tail_t *self, int64_t now_ms)
{
    assert (self);
    if (now_ms < self->next_ms)
        return;
    self->next_ms = now_ms + AGENT_TAIL_POLL_MS;
    for (size_t i = 0; i < self->n; i++)
        s_check (self, self->files[i]);
}
