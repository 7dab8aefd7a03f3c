/*
 * agent_host_batch_test.c - events cross from the agent host to its owner
 * in batches of pointers (agent_host.h, AGENT_HOST_OUT_BATCH): a flood
 * arrives several events per message, in order, every one of them (none
 * lost while the host pauses its reads for a slow owner); a lone LOG waits
 * for company at most AGENT_HOST_OUT_DEFER_MS, and an event that must not
 * wait takes the LOGs before it along, in order; and what the host
 * publishes to the bus carries each LOG's own topic; with a log sink,
 * LOGs stay on the host's thread.
 */
#include "bridges/agent_host.h"

#include "agent/proto/agent_sample.h"
#include "agent/proto/agent_proto.h"

#include <czmq.h>

#include <errno.h>
#include <stdbool.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

typedef struct {
    char dir[64];
    char path[100];
    agent_host_t *host;
    int fd;
    uint8_t *flood; /* test_paused_host_keeps_agent's frames, built before
                       the agent connects (20,000 encodes take longer than
                       its 300 ms timeout under ASan) */
    size_t flood_len;
} s_fix_t;

static int64_t
s_mono_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Append one encoded frame of `m` to buf (grown as needed). */
static void
s_append (uint8_t **buf, size_t *len, const agent_msg_t *m)
{
    uint8_t *f = NULL;
    size_t flen = 0;
    assert_int_equal (agent_frame_encode (m, AGENT_FRAME_MAX_DEFAULT, &f, &flen), 0);
    *buf = realloc (*buf, *len + flen);
    assert_non_null (*buf);
    memcpy (*buf + *len, f, flen);
    *len += flen;
    free (f);
}

static void
s_append_log (uint8_t **buf, size_t *len, uint64_t seq)
{
    agent_msg_t m;
    agent_sample (AGENT_LOG, &m);
    m.u.agent_log.seq = seq;
    s_append (buf, len, &m);
}

static void
s_send_all (int fd, const uint8_t *p, size_t n)
{
    while (n) {
        ssize_t w = send (fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        assert_true (w > 0);
        p += w;
        n -= (size_t) w;
    }
}

static int
s_setup_hb (void **state, uint32_t heartbeat_ms, uint8_t *flood, size_t flood_len)
{
    s_fix_t *fx = calloc (1, sizeof *fx);
    fx->flood = flood;
    fx->flood_len = flood_len;
    snprintf (fx->dir, sizeof fx->dir, "/tmp/agent-batch-test-XXXXXX");
    assert_non_null (mkdtemp (fx->dir));
    snprintf (fx->path, sizeof fx->path, "%s/a.sock", fx->dir);
    /* Rates high enough that only the batching is under test. */
    agent_host_config_t cfg = {
        .node = "node-1",
        .msgs_per_s = 10000000,
        .bytes_per_s = 1u << 30,
        .heartbeat_ms = heartbeat_ms,
    };
    fx->host = agent_host_new (&cfg);
    assert_non_null (fx->host);
    assert_int_equal (agent_host_add_shed (fx->host, "shed-a", fx->path), 0);
    fx->fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa;
    memset (&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    snprintf (sa.sun_path, sizeof sa.sun_path, "%s", fx->path);
    assert_int_equal (connect (fx->fd, (struct sockaddr *) &sa, sizeof sa), 0);
    uint8_t *buf = NULL;
    size_t len = 0;
    agent_msg_t hello;
    agent_sample (AGENT_HELLO, &hello);
    s_append (&buf, &len, &hello);
    s_send_all (fx->fd, buf, len);
    free (buf);
    /* CONNECTED must not wait for company. */
    agent_event_t *ev = agent_host_recv (fx->host, 2000);
    assert_non_null (ev);
    assert_int_equal (ev->kind, AGENT_EVENT_CONNECTED);
    agent_event_destroy (&ev);
    *state = fx;
    return 0;
}

static int
s_setup (void **state)
{
    return s_setup_hb (state, 0, NULL, 0);
}

enum { S_FLOOD_N = 20000 };

/* Heartbeats every 100 ms: an agent silent for 300 ms is closed. The
 * flood is encoded first, so the agent is never silent for that. */
static int
s_setup_fast_hb (void **state)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    for (uint64_t i = 1; i <= S_FLOOD_N; i++)
        s_append_log (&buf, &len, i);
    return s_setup_hb (state, 100, buf, len);
}

static int
s_teardown (void **state)
{
    s_fix_t *fx = *state;
    close (fx->fd);
    free (fx->flood);
    agent_host_destroy (&fx->host);
    rmdir (fx->dir);
    free (fx);
    return 0;
}

/* A flood written while the owner does not read: the host pauses, nothing
 * is lost, everything comes in order, several events per message. */
static void
test_flood_batched_in_order (void **state)
{
    s_fix_t *fx = *state;
    enum { N = 20000 };
    uint8_t *buf = NULL;
    size_t len = 0;
    for (uint64_t i = 1; i <= N; i++)
        s_append_log (&buf, &len, i);
    size_t sent = 0;
    uint64_t got = 0, last_seq = 1; /* the host's seq: CONNECTED was 1 */
    size_t max_held = 0;
    int64_t until = s_mono_ms () + 20000;
    while (got < N && s_mono_ms () < until) {
        bool wrote = false;
        if (sent < len) {
            ssize_t w = send (fx->fd, buf + sent, len - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
            if (w > 0) {
                sent += (size_t) w;
                wrote = true;
            }
            else
                assert_true (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR);
        }
        /* Read nothing until the host's queues and the socket are full:
         * the host has paused its reads by then. */
        if (got == 0 && wrote)
            continue;
        agent_event_t *ev = agent_host_recv (fx->host, 50);
        if (!ev)
            continue;
        size_t held = agent_host_buffered (fx->host);
        if (held > max_held)
            max_held = held;
        assert_int_equal (ev->kind, AGENT_EVENT_MESSAGE);
        assert_int_equal (ev->msg.hdr.type, AGENT_LOG);
        assert_int_equal (ev->seq, last_seq + 1);
        assert_int_equal (ev->msg.u.agent_log.seq, got + 1);
        last_seq = ev->seq;
        got++;
        agent_event_destroy (&ev);
    }
    assert_int_equal (got, N);
    /* One message carried a full batch (the first of the flood at least). */
    assert_int_equal (max_held, AGENT_HOST_OUT_BATCH - 1);
    assert_int_equal (agent_host_buffered (fx->host), 0);
    agent_host_stats_t st;
    assert_int_equal (agent_host_stats (fx->host, "shed-a", &st), 0);
    assert_int_equal (st.events, N + 1);
    assert_int_equal (st.bad_total, 0);
    free (buf);
}

/* The owner stops reading for longer than the agent timeout (3
 * heartbeats) while a flood backs up: the host pauses its reads, and the
 * agent's silence is the host's own, not a reason to close it. Before,
 * the agent was closed for "timeout" with its data still in the socket. */
static void
test_paused_host_keeps_agent (void **state)
{
    s_fix_t *fx = *state;
    enum { N = S_FLOOD_N };
    const uint8_t *buf = fx->flood;
    size_t len = fx->flood_len;
    size_t sent = 0;
    /* Fill the host's queues and the socket: the host pauses. */
    for (int idle = 0; sent < len && idle < 20;) {
        ssize_t w = send (fx->fd, buf + sent, len - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w > 0) {
            sent += (size_t) w;
            idle = 0;
        }
        else {
            assert_true (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR);
            struct timespec ms10 = { 0, 10 * 1000 * 1000 };
            nanosleep (&ms10, NULL);
            idle++;
        }
    }
    assert_true (sent < len);         /* the socket filled up: the host paused */
    struct timespec stall = { 1, 0 }; /* > 3 x 100 ms */
    nanosleep (&stall, NULL);
    uint64_t got = 0;
    int64_t until = s_mono_ms () + 20000;
    while (got < N && s_mono_ms () < until) {
        if (sent < len) {
            ssize_t w = send (fx->fd, buf + sent, len - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
            if (w > 0)
                sent += (size_t) w;
            else
                assert_true (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR);
        }
        agent_event_t *ev = agent_host_recv (fx->host, 50);
        if (!ev)
            continue;
        assert_int_equal (ev->kind, AGENT_EVENT_MESSAGE);
        assert_int_equal (ev->msg.u.agent_log.seq, got + 1);
        got++;
        agent_event_destroy (&ev);
    }
    assert_int_equal (got, N);
    agent_host_stats_t st;
    assert_int_equal (agent_host_stats (fx->host, "shed-a", &st), 0);
    assert_int_equal (st.closes_timeout, 0);
}

/* A lone LOG waits for company, but not longer than the deferral; a PROC
 * event goes at once and takes the LOG written before it along, first. */
static void
test_defer_and_urgent (void **state)
{
    s_fix_t *fx = *state;
    uint8_t *buf = NULL;
    size_t len = 0;
    s_append_log (&buf, &len, 1);
    int64_t t0 = s_mono_ms ();
    s_send_all (fx->fd, buf, len);
    agent_event_t *ev = agent_host_recv (fx->host, 2000);
    int64_t waited = s_mono_ms () - t0;
    assert_non_null (ev);
    assert_int_equal (ev->msg.hdr.type, AGENT_LOG);
    /* Never sooner than the deferral: nothing else came to fill a batch. */
    assert_true (waited >= AGENT_HOST_OUT_DEFER_MS - 1);
    agent_event_destroy (&ev);

    free (buf);
    buf = NULL;
    len = 0;
    s_append_log (&buf, &len, 2);
    agent_msg_t proc;
    agent_sample (AGENT_PROC_EVENT, &proc);
    s_append (&buf, &len, &proc);
    s_send_all (fx->fd, buf, len); /* one write: one read on the host */
    ev = agent_host_recv (fx->host, 2000);
    assert_non_null (ev);
    assert_int_equal (ev->msg.hdr.type, AGENT_LOG);
    assert_int_equal (ev->msg.u.agent_log.seq, 2);
    /* The PROC event came in the same message, right behind it. */
    assert_int_equal (agent_host_buffered (fx->host), 1);
    agent_event_destroy (&ev);
    ev = agent_host_recv (fx->host, 0);
    assert_non_null (ev);
    assert_int_equal (ev->msg.hdr.type, AGENT_PROC_EVENT);
    agent_event_destroy (&ev);
    assert_null (agent_host_recv (fx->host, 0));
    free (buf);
}

/* Read the PULL end until `want` records came: their topics, in order. */
static size_t
s_pull_topics (zsock_t *pull, char topics[][128], size_t want)
{
    size_t got = 0;
    zsock_set_rcvtimeo (pull, 2000);
    while (got < want) {
        zframe_t *f = zframe_recv (pull);
        if (!f)
            break;
        const uint8_t *p = zframe_data (f), *end = p + zframe_size (f);
        while (p < end && got < want) {
            const char *topic = (const char *) p;
            const uint8_t *kind = memchr (p, 0, (size_t) (end - p));
            assert_non_null (kind);
            kind++;
            const uint8_t *l = memchr (kind, 0, (size_t) (end - kind));
            assert_non_null (l);
            l++;
            size_t len = (size_t) l[0] << 24 | (size_t) l[1] << 16 | (size_t) l[2] << 8 | l[3];
            snprintf (topics[got++], 128, "%s", topic);
            p = l + 4 + len;
        }
        zframe_destroy (&f);
    }
    return got;
}

/* Topics on the bus's publish socket: LOGs of two streams interleaved in
 * one read, then another shed's, each under its own name (the host keeps
 * the last LOG topic within a read: it must never leak to another stream
 * or shed). */
static void
test_published_topics (void **state)
{
    (void) state;
    char dir[64], path_a[100], path_b[100], ep[128];
    snprintf (dir, sizeof dir, "/tmp/agent-batch-test-XXXXXX");
    assert_non_null (mkdtemp (dir));
    snprintf (path_a, sizeof path_a, "%s/a.sock", dir);
    snprintf (path_b, sizeof path_b, "%s/b.sock", dir);
    snprintf (ep, sizeof ep, "inproc://agent-batch-pub-%d", (int) getpid ());
    zsock_t *pull = zsock_new (ZMQ_PULL);
    assert_int_equal (zsock_bind (pull, "%s", ep), 0);
    agent_host_config_t cfg = {
        .node = "node-1", .msgs_per_s = 1000000, .bytes_per_s = 1u << 30, .publish_endpoint = ep
    };
    agent_host_t *host = agent_host_new (&cfg);
    assert_non_null (host);
    assert_int_equal (agent_host_add_shed (host, "shed-a", path_a), 0);
    assert_int_equal (agent_host_add_shed (host, "shed-b", path_b), 0);
    int fds[2];
    const char *paths[2] = { path_a, path_b };
    for (int i = 0; i < 2; i++) {
        fds[i] = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_un sa;
        memset (&sa, 0, sizeof sa);
        sa.sun_family = AF_UNIX;
        snprintf (sa.sun_path, sizeof sa.sun_path, "%s", paths[i]);
        assert_int_equal (connect (fds[i], (struct sockaddr *) &sa, sizeof sa), 0);
        uint8_t *buf = NULL;
        size_t len = 0;
        agent_msg_t hello;
        agent_sample (AGENT_HELLO, &hello);
        s_append (&buf, &len, &hello);
        s_send_all (fds[i], buf, len);
        free (buf);
        char topics[1][128];
        assert_int_equal (s_pull_topics (pull, topics, 1), 1);
        assert_string_equal (topics[0], i ? "shed.node-1.shed-b" : "shed.node-1.shed-a");
    }
    const char *streams[] = { "one", "one", "two", "one", "two", "two" };
    uint8_t *buf_a = NULL, *buf_b = NULL;
    size_t len_a = 0, len_b = 0;
    for (size_t i = 0; i < 6; i++) {
        agent_msg_t m;
        agent_sample (AGENT_LOG, &m);
        snprintf (m.u.agent_log.stream, sizeof m.u.agent_log.stream, "%s", streams[i]);
        s_append (&buf_a, &len_a, &m);
        s_append (&buf_b, &len_b, &m);
    }
    s_send_all (fds[0], buf_a, len_a);
    s_send_all (fds[1], buf_b, len_b);
    char topics[12][128];
    assert_int_equal (s_pull_topics (pull, topics, 12), 12);
    /* Each shed's six in order; the two sheds' may interleave by read. */
    size_t ia = 0, ib = 0;
    for (size_t i = 0; i < 12; i++) {
        char want[128];
        bool a = !strncmp (topics[i], "log.node-1.shed-a.", 18);
        size_t k = a ? ia++ : ib++;
        assert_true (k < 6);
        snprintf (want, sizeof want, "log.node-1.%s.%s", a ? "shed-a" : "shed-b", streams[k]);
        assert_string_equal (topics[i], want);
    }
    assert_int_equal (ia, 6);
    assert_int_equal (ib, 6);
    free (buf_a);
    free (buf_b);
    agent_event_t *ev;
    while ((ev = agent_host_recv (host, 100)))
        agent_event_destroy (&ev);
    close (fds[0]);
    close (fds[1]);
    /* The bus goes first: a DISCONNECTED the host publishes after the
     * closes sits in the PULL's queue, holding a ring buffer, until this
     * socket is closed (its reaper then frees it). Destroyed the other
     * way round, the host's end waits for the ring in vain and leaves it
     * to the process, which LeakSanitizer reports (agent_pub_destroy). */
    zsock_destroy (&pull);
    agent_host_destroy (&host);
    rmdir (dir);
}

/* The log sink: LOGs of a shed added with a sink argument go to it, on the
 * host's thread, and not to the owner; other events still do, in order. */
typedef struct {
    uint64_t seqs[16];
    size_t n;
    void *arg;
} s_sink_t;

static void
s_sink (void *arg, const agent_event_t *ev)
{
    s_sink_t *k = arg;
    assert_int_equal (ev->msg.hdr.type, AGENT_LOG);
    assert_string_equal (ev->shed, "shed-a");
    if (k->n < 16)
        k->seqs[k->n++] = ev->msg.u.agent_log.seq;
}

static void
test_log_sink (void **state)
{
    (void) state;
    static s_sink_t sink; /* written on the host's thread, read after a PROC event */
    memset (&sink, 0, sizeof sink);
    char dir[64], path[100];
    snprintf (dir, sizeof dir, "/tmp/agent-batch-test-XXXXXX");
    assert_non_null (mkdtemp (dir));
    snprintf (path, sizeof path, "%s/a.sock", dir);
    agent_host_config_t cfg = { .node = "node-1", .log_sink = s_sink };
    agent_host_t *host = agent_host_new (&cfg);
    assert_non_null (host);
    assert_int_equal (agent_host_add_shed_sink (host, "shed-a", path, &sink), 0);
    int fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa;
    memset (&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    snprintf (sa.sun_path, sizeof sa.sun_path, "%s", path);
    assert_int_equal (connect (fd, (struct sockaddr *) &sa, sizeof sa), 0);
    uint8_t *buf = NULL;
    size_t len = 0;
    agent_msg_t m;
    agent_sample (AGENT_HELLO, &m);
    s_append (&buf, &len, &m);
    for (uint64_t i = 1; i <= 3; i++)
        s_append_log (&buf, &len, i);
    agent_sample (AGENT_PROC_EVENT, &m);
    s_append (&buf, &len, &m);
    s_send_all (fd, buf, len);
    free (buf);
    agent_event_t *ev = agent_host_recv (host, 2000);
    assert_non_null (ev);
    assert_int_equal (ev->kind, AGENT_EVENT_CONNECTED);
    agent_event_destroy (&ev);
    /* The PROC event comes next: the LOGs before it went to the sink. */
    ev = agent_host_recv (host, 2000);
    assert_non_null (ev);
    assert_int_equal (ev->msg.hdr.type, AGENT_PROC_EVENT);
    assert_int_equal (ev->seq, 5); /* stamped in order: the LOGs had 2-4 */
    agent_event_destroy (&ev);
    assert_int_equal (sink.n, 3);
    for (size_t i = 0; i < 3; i++)
        assert_int_equal (sink.seqs[i], i + 1);
    agent_host_stats_t st;
    assert_int_equal (agent_host_stats (host, "shed-a", &st), 0);
    assert_int_equal (st.events, 5);
    close (fd);
    agent_host_destroy (&host);
    rmdir (dir);
}

/* Frames cut anywhere by the reads: whole frames are read in place, a cut
 * one through the reader, and the two alternate (agent_host_frames.c).
 * Pieces of 1..700 bytes, each sent alone with a pause so the host reads
 * it alone: every LOG arrives once, in order, nothing refused. */
static void
test_frames_cut_anywhere (void **state)
{
    s_fix_t *fx = *state;
    enum { N = 400 };
    uint8_t *buf = NULL;
    size_t len = 0;
    for (uint64_t i = 1; i <= N; i++)
        s_append_log (&buf, &len, i);
    static const size_t cuts[] = { 1, 4, 5, 6, 97, 211, 700, 2, 333, 64, 3, 512 };
    size_t sent = 0, k = 0;
    uint64_t got = 0;
    while (sent < len) {
        size_t piece = cuts[k++ % (sizeof cuts / sizeof cuts[0])];
        if (piece > len - sent)
            piece = len - sent;
        s_send_all (fx->fd, buf + sent, piece);
        sent += piece;
        struct timespec ts = { 0, 300 * 1000 };
        nanosleep (&ts, NULL);
        agent_event_t *ev;
        while ((ev = agent_host_recv (fx->host, 0))) {
            assert_int_equal (ev->msg.hdr.type, AGENT_LOG);
            assert_int_equal (ev->msg.u.agent_log.seq, got + 1);
            got++;
            agent_event_destroy (&ev);
        }
    }
    int64_t until = s_mono_ms () + 5000;
    while (got < N && s_mono_ms () < until) {
        agent_event_t *ev = agent_host_recv (fx->host, 50);
        if (!ev)
            continue;
        assert_int_equal (ev->msg.hdr.type, AGENT_LOG);
        assert_int_equal (ev->msg.u.agent_log.seq, got + 1);
        got++;
        agent_event_destroy (&ev);
    }
    assert_int_equal (got, N);
    /* A cut right before bytes that look like a frame header: the seq
     * 0x0600000010 is msgpack cf 00 00 00 06 00 00 00 10, and the read
     * after the cut starts with 06 (LOG) and the length 16. Only the
     * reader, holding the first part, knows it is the middle of a frame. */
    free (buf);
    buf = NULL;
    len = 0;
    const uint64_t odd = 0x0600000010ull;
    s_append_log (&buf, &len, odd);
    for (uint64_t i = 1; i <= 4; i++)
        s_append_log (&buf, &len, N + i);
    static const uint8_t look[] = { 0x06, 0x00, 0x00, 0x00, 0x10 };
    size_t at = 0;
    while (at + sizeof look <= len && memcmp (buf + at, look, sizeof look))
        at++;
    assert_true (at > AGENT_FRAME_HEADER && at + sizeof look < len);
    s_send_all (fx->fd, buf, at);
    struct timespec pause = { 0, 20 * 1000 * 1000 };
    nanosleep (&pause, NULL);
    s_send_all (fx->fd, buf + at, len - at);
    uint64_t want[] = { odd, N + 1, N + 2, N + 3, N + 4 };
    for (size_t i = 0; i < 5; i++) {
        agent_event_t *ev = agent_host_recv (fx->host, 2000);
        assert_non_null (ev);
        assert_int_equal (ev->msg.hdr.type, AGENT_LOG);
        assert_int_equal (ev->msg.u.agent_log.seq, want[i]);
        agent_event_destroy (&ev);
    }
    agent_host_stats_t st;
    assert_int_equal (agent_host_stats (fx->host, "shed-a", &st), 0);
    assert_int_equal (st.frames_in, N + 1 + 5);
    assert_int_equal (st.bad_total, 0);
    free (buf);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown (test_flood_batched_in_order, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_paused_host_keeps_agent, s_setup_fast_hb, s_teardown),
        cmocka_unit_test_setup_teardown (test_defer_and_urgent, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_frames_cut_anywhere, s_setup, s_teardown),
        cmocka_unit_test (test_published_topics),
        cmocka_unit_test (test_log_sink),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
