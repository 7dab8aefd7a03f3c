/*
 * agent_host_test.c - the host listener against hand-driven clients on
 * real Unix sockets in a fresh temp dir: hello and origin stamping,
 * messages and latest metrics, chunk streams from the agent, provisioning
 * to the agent, and every kind of abuse (garbage, oversize, wrong
 * direction, no hello, flood) counted and cut off while another shed's
 * listener keeps delivering.
 */
#include "bridges/agent_host.h"

#include "agent/proto/agent_sample.h"
#include "agent/proto/agent_proto.h"
#include "agent/proto/agent_reader.h"
#include "agent/proto/agent_streams.h"
#include "agent/proto/agent_bucket.h"

#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

typedef struct {
    char dir[64];
    char path_a[128], path_b[128];
    agent_host_t *host;
} s_fix_t;

static int
s_setup (void **state)
{
    s_fix_t *fx = calloc (1, sizeof *fx);
    snprintf (fx->dir, sizeof fx->dir, "/tmp/agent-host-test-XXXXXX");
    assert_non_null (mkdtemp (fx->dir));
    snprintf (fx->path_a, sizeof fx->path_a, "%s/a.sock", fx->dir);
    snprintf (fx->path_b, sizeof fx->path_b, "%s/b.sock", fx->dir);
    agent_host_config_t cfg = {
        .node = "node-1",
        .metrics_interval_ms = 700,
        .heartbeat_ms = 3000,
        .msgs_per_s = 200,
        .msgs_burst = 400,
        .abuse_limit = 16,
        .abuse_cooldown_ms = 300,
    };
    fx->host = agent_host_new (&cfg);
    assert_non_null (fx->host);
    assert_int_equal (agent_host_add_shed (fx->host, "shed-a", fx->path_a), 0);
    assert_int_equal (agent_host_add_shed (fx->host, "shed-b", fx->path_b), 0);
    *state = fx;
    return 0;
}

static int
s_teardown (void **state)
{
    s_fix_t *fx = *state;
    agent_host_destroy (&fx->host);
    assert_null (fx->host);
    rmdir (fx->dir); /* the host removed its socket files */
    free (fx);
    return 0;
}

static int
s_connect (const char *path)
{
    int fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa;
    memset (&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    snprintf (sa.sun_path, sizeof sa.sun_path, "%s", path);
    assert_int_equal (connect (fd, (struct sockaddr *) &sa, sizeof sa), 0);
    return fd;
}

static void
s_send_all (int fd, const uint8_t *p, size_t n)
{
    while (n) {
        ssize_t w = send (fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return; /* the host closed on us: fine for abuse tests */
        p += w;
        n -= (size_t) w;
    }
}

static void
s_send_msg (int fd, const agent_msg_t *m)
{
    uint8_t *f = NULL;
    size_t len = 0;
    assert_int_equal (agent_frame_encode (m, AGENT_FRAME_MAX_DEFAULT, &f, &len), 0);
    s_send_all (fd, f, len);
    free (f);
}

static void
s_send_sample (int fd, unsigned type)
{
    agent_msg_t m;
    agent_sample (type, &m);
    s_send_msg (fd, &m);
}

/* Read one frame from a blocking client socket, with a timeout. Returns
 * its type and decodes it into *m, or 0 on timeout/EOF. */
static unsigned
s_recv_msg (int fd, agent_msg_t *m, int timeout_ms)
{
    agent_reader_t *r = agent_reader_new (AGENT_FRAME_MAX_CEILING);
    unsigned type = 0;
    uint8_t byte;
    while (!type) {
        struct pollfd p = { fd, POLLIN, 0 };
        if (poll (&p, 1, timeout_ms) <= 0)
            break;
        if (recv (fd, &byte, 1, 0) != 1)
            break;
        size_t used;
        if (agent_reader_feed (r, &byte, 1, &used) == AGENT_READ_FRAME) {
            size_t len;
            const uint8_t *p2 = agent_reader_payload (r, &len);
            assert_int_equal (agent_frame_decode (agent_reader_type (r), p2, len, m, NULL), 0);
            type = agent_reader_type (r);
        }
    }
    agent_reader_destroy (&r);
    return type;
}

/* Next event that is not `skip_kind` (0 = take anything). */
static agent_event_t *
s_next (s_fix_t *fx, int timeout_ms)
{
    return agent_host_recv (fx->host, timeout_ms);
}

static bool
s_peer_closed (int fd, int timeout_ms)
{
    uint8_t buf[4096];
    int64_t until = agent_clock_mono_ms () + timeout_ms;
    while (agent_clock_mono_ms () < until) {
        struct pollfd p = { fd, POLLIN, 0 };
        if (poll (&p, 1, 50) > 0) {
            ssize_t n = recv (fd, buf, sizeof buf, MSG_DONTWAIT);
            if (n == 0 || (n < 0 && errno == ECONNRESET))
                return true;
        }
    }
    return false;
}

static void
test_hello_and_origin (void **state)
{
    s_fix_t *fx = *state;
    int fd = s_connect (fx->path_a);
    agent_msg_t m;
    agent_sample (AGENT_HELLO, &m);
    strcpy (m.u.agent_hello.shed, "someone-else"); /* a lie: ignored */
    s_send_msg (fd, &m);

    agent_msg_t ack;
    assert_int_equal (s_recv_msg (fd, &ack, 2000), AGENT_HELLO_ACK);
    assert_int_equal (ack.u.agent_hello_ack.metrics_interval_ms, 700);
    assert_int_equal (ack.u.agent_hello_ack.max_frame, AGENT_FRAME_MAX_DEFAULT);
    assert_true (ack.u.agent_hello_ack.max_msgs_per_s < 200);
    wire_msg_free (&agent_proto, &ack);

    agent_event_t *ev = s_next (fx, 2000);
    assert_non_null (ev);
    assert_int_equal (ev->kind, AGENT_EVENT_CONNECTED);
    assert_string_equal (ev->node, "node-1");
    assert_string_equal (ev->shed, "shed-a");
    assert_string_equal (ev->msg.u.agent_hello.shed, "someone-else");
    assert_int_equal (ev->seq, 1);
    assert_true (ev->ts_ms > 1600000000000);
    char topic[256];
    assert_true (agent_event_topic (ev, topic, sizeof topic) > 0);
    assert_string_equal (topic, "shed.node-1.shed-a");
    agent_event_destroy (&ev);

    s_send_sample (fd, AGENT_METRICS);
    s_send_sample (fd, AGENT_HEARTBEAT); /* counted, not delivered */
    s_send_sample (fd, AGENT_LOG);
    ev = s_next (fx, 2000);
    assert_non_null (ev);
    assert_int_equal (ev->kind, AGENT_EVENT_MESSAGE);
    assert_int_equal (ev->msg.hdr.type, AGENT_METRICS);
    assert_int_equal (ev->seq, 2);
    agent_event_topic (ev, topic, sizeof topic);
    assert_string_equal (topic, "metrics.node-1.shed-a");
    agent_event_destroy (&ev);
    ev = s_next (fx, 2000);
    assert_int_equal (ev->msg.hdr.type, AGENT_LOG);
    assert_int_equal (ev->seq, 3);
    agent_event_topic (ev, topic, sizeof topic);
    assert_string_equal (topic, "log.node-1.shed-a.web-out");
    agent_event_destroy (&ev);

    agent_msg_t latest;
    int64_t at = 0;
    assert_int_equal (agent_host_metrics (fx->host, "shed-a", &latest, &at), 0);
    assert_int_equal (latest.u.agent_metrics.disks.n, 2);
    assert_true (at > 0);
    wire_msg_free (&agent_proto, &latest);
    assert_int_equal (agent_host_metrics (fx->host, "shed-b", &latest, &at), -1);

    agent_host_stats_t st;
    assert_int_equal (agent_host_stats (fx->host, "shed-a", &st), 0);
    assert_true (st.connected);
    assert_int_equal (st.heartbeats, 1);
    assert_int_equal (st.events, 3);
    assert_int_equal (st.bad_total, 0);
    assert_int_equal (agent_host_stats (fx->host, "nope", &st), -1);

    /* Provisioning: a small run, then one with 2 MiB of input that must
     * arrive as a chunk stream. */
    agent_sample (AGENT_PROVISION, &m);
    assert_int_equal (agent_host_provision (fx->host, "shed-a", &m.u.agent_provision), 0);
    agent_msg_t got;
    assert_int_equal (s_recv_msg (fd, &got, 2000), AGENT_PROVISION);
    assert_int_equal (got.u.agent_provision.steps.n, 3);
    wire_msg_free (&agent_proto, &got);
    size_t big = 2u << 20;
    uint8_t *input = calloc (1, big);
    m.u.agent_provision.steps.items[0].input.data = input;
    m.u.agent_provision.steps.items[0].input.len = big;
    assert_int_equal (agent_host_provision (fx->host, "shed-a", &m.u.agent_provision), 0);
    assert_int_equal (s_recv_msg (fd, &got, 2000), AGENT_CHUNK);
    assert_int_equal (got.u.agent_chunk.type, AGENT_PROVISION);
    wire_msg_free (&agent_proto, &got);
    free (input);
    /* Not to a shed without an agent; not a host-bound type. */
    agent_sample (AGENT_PROVISION, &m);
    assert_int_equal (agent_host_provision (fx->host, "shed-b", &m.u.agent_provision), -1);
    agent_sample (AGENT_METRICS, &m);
    assert_int_equal (agent_host_send (fx->host, "shed-a", &m), -3);

    /* Orderly close from the agent. The host may still be writing the
     * 2 MiB provision stream above (the test read one chunk of it): then
     * its next write fails before it reads the end of the stream, and
     * "write error" is as right as "eof". Reading the rest first is no
     * cure: byte by byte, on a loaded machine, it outlasts the host's
     * agent timeout. */
    close (fd);
    ev = s_next (fx, 2000);
    assert_non_null (ev);
    assert_int_equal (ev->kind, AGENT_EVENT_DISCONNECTED);
    assert_true (strcmp (ev->reason, "eof") == 0 || strcmp (ev->reason, "write error") == 0);
    assert_int_equal (ev->seq, 4);
    agent_event_destroy (&ev);
}

/* A small message split by hand into three chunks arrives whole. */
static void
test_agent_stream (void **state)
{
    s_fix_t *fx = *state;
    int fd = s_connect (fx->path_a);
    s_send_sample (fd, AGENT_HELLO);
    agent_event_t *ev = s_next (fx, 2000);
    assert_int_equal (ev->kind, AGENT_EVENT_CONNECTED);
    agent_event_destroy (&ev);

    agent_msg_t m;
    agent_sample (AGENT_METRICS, &m);
    uint8_t *payload = NULL;
    size_t len = 0;
    assert_int_equal (wire_encode (&agent_proto, &m, &payload, &len), 0);
    size_t third = len / 3 + 1;
    for (size_t off = 0; off < len; off += third) {
        agent_msg_t c;
        memset (&c, 0, sizeof c);
        c.hdr.type = AGENT_CHUNK;
        c.u.agent_chunk.stream = 5;
        c.u.agent_chunk.type = AGENT_METRICS;
        c.u.agent_chunk.offset = off;
        c.u.agent_chunk.total = len;
        c.u.agent_chunk.data.data = payload + off;
        c.u.agent_chunk.data.len = len - off < third ? len - off : third;
        c.u.agent_chunk.final = off + c.u.agent_chunk.data.len == len;
        s_send_msg (fd, &c);
    }
    free (payload);
    ev = s_next (fx, 2000);
    assert_non_null (ev);
    assert_int_equal (ev->msg.hdr.type, AGENT_METRICS);
    assert_int_equal (ev->msg.u.agent_metrics.nics.n, 2);
    agent_event_destroy (&ev);
    close (fd);
    ev = s_next (fx, 2000);
    agent_event_destroy (&ev);
}

/* Shed A is a good agent sending steadily; shed B's client misbehaves in
 * every way. B is counted and cut off; A's events keep coming. */
static void
test_abuse (void **state)
{
    s_fix_t *fx = *state;
    int good = s_connect (fx->path_a);
    s_send_sample (good, AGENT_HELLO);
    agent_event_t *ev = s_next (fx, 2000);
    assert_int_equal (ev->kind, AGENT_EVENT_CONNECTED);
    agent_event_destroy (&ev);
    agent_host_stats_t st;

    /* 1. Garbage: an unknown type byte closes at once. */
    int bad = s_connect (fx->path_b);
    s_send_all (bad, (const uint8_t *) "GET / HTTP/1.1\r\n\r\n", 18);
    assert_true (s_peer_closed (bad, 2000));
    close (bad);
    assert_int_equal (agent_host_stats (fx->host, "shed-b", &st), 0);
    assert_int_equal (st.bad[AGENT_BAD_TYPE], 1);
    assert_int_equal (st.closes_abuse, 1);

    /* During the cooldown, reconnects are refused. */
    bad = s_connect (fx->path_b);
    assert_true (s_peer_closed (bad, 2000));
    close (bad);
    usleep (400 * 1000);

    /* 2. Oversized length: refused from the header alone. */
    bad = s_connect (fx->path_b);
    uint8_t hdr[] = { AGENT_LOG, 0x7f, 0xff, 0xff, 0xff };
    s_send_all (bad, hdr, sizeof hdr);
    assert_true (s_peer_closed (bad, 2000));
    close (bad);
    usleep (400 * 1000);

    /* 3. Well-framed junk: wrong direction, no hello, bad msgpack; each a
     * strike, and abuse_limit (16) strikes close. */
    bad = s_connect (fx->path_b);
    for (int i = 0; i < 6; i++) {
        s_send_sample (bad, AGENT_PROVISION); /* host -> agent type */
        s_send_sample (bad, AGENT_METRICS);   /* before hello */
        uint8_t junk[] = { AGENT_LOG, 0, 0, 0, 3, 0xc1, 0xc1, 0xc1 };
        s_send_all (bad, junk, sizeof junk);
    }
    assert_true (s_peer_closed (bad, 2000));
    close (bad);
    usleep (400 * 1000);

    /* 4. Flood of valid messages after a proper hello: over the rate. */
    bad = s_connect (fx->path_b);
    s_send_sample (bad, AGENT_HELLO);
    agent_msg_t log;
    agent_sample (AGENT_LOG, &log);
    uint8_t *f = NULL;
    size_t flen = 0;
    assert_int_equal (agent_frame_encode (&log, AGENT_FRAME_MAX_DEFAULT, &f, &flen), 0);
    size_t n = 2000;
    uint8_t *burst = malloc (flen * n);
    for (size_t i = 0; i < n; i++)
        memcpy (burst + i * flen, f, flen);
    free (f);
    s_send_all (bad, burst, flen * n);
    free (burst);
    assert_true (s_peer_closed (bad, 3000));
    close (bad);

    /* The good shed still works, and its events were not disturbed. */
    s_send_sample (good, AGENT_LOG);
    bool seen_good_log = false;
    int b_disconnects = 0;
    uint64_t b_last_seq = 0;
    while ((ev = s_next (fx, 1000))) {
        if (strcmp (ev->shed, "shed-a") == 0 && ev->msg.hdr.type == AGENT_LOG)
            seen_good_log = true;
        if (strcmp (ev->shed, "shed-b") == 0) {
            assert_true (ev->seq > b_last_seq);
            b_last_seq = ev->seq;
            if (ev->kind == AGENT_EVENT_DISCONNECTED) {
                b_disconnects++;
                assert_non_null (strstr (ev->reason, "abuse"));
            }
        }
        agent_event_destroy (&ev);
        if (seen_good_log && b_disconnects == 4)
            break;
    }
    assert_true (seen_good_log);
    assert_int_equal (b_disconnects, 4);

    assert_int_equal (agent_host_stats (fx->host, "shed-b", &st), 0);
    assert_int_equal (st.closes_abuse, 4);
    assert_int_equal (st.bad[AGENT_BAD_TYPE], 1);
    assert_int_equal (st.bad[AGENT_BAD_OVERSIZE], 1);
    assert_true (st.bad[AGENT_BAD_DIRECTION] >= 1);
    assert_true (st.bad[AGENT_BAD_STATE] >= 1);
    assert_true (st.bad[AGENT_BAD_DECODE] >= 1);
    assert_true (st.bad[AGENT_BAD_RATE] >= 1);
    assert_true (st.refused >= 1);
    assert_int_equal (agent_host_stats (fx->host, "shed-a", &st), 0);
    assert_true (st.connected);
    assert_int_equal (st.bad_total, 0);
    close (good);
}

static void
test_add_remove (void **state)
{
    s_fix_t *fx = *state;
    char path[160];
    snprintf (path, sizeof path, "%s/c.sock", fx->dir);
    assert_int_equal (agent_host_add_shed (fx->host, "Bad_Name", path), -1);
    assert_int_equal (agent_host_add_shed (fx->host, "shed-a", path), -1); /* dup */
    assert_int_equal (agent_host_add_shed (fx->host, "shed-c", path), 0);
    assert_int_equal (access (path, F_OK), 0);
    int fd = s_connect (path);
    s_send_sample (fd, AGENT_HELLO);
    agent_event_t *ev = s_next (fx, 2000);
    assert_int_equal (ev->kind, AGENT_EVENT_CONNECTED);
    agent_event_destroy (&ev);
    assert_int_equal (agent_host_remove_shed (fx->host, "shed-c"), 0);
    ev = s_next (fx, 2000);
    assert_int_equal (ev->kind, AGENT_EVENT_DISCONNECTED);
    assert_string_equal (ev->reason, "removed");
    agent_event_destroy (&ev);
    agent_msg_t m;
    assert_int_equal (s_recv_msg (fd, &m, 2000), AGENT_HELLO_ACK);
    wire_msg_free (&agent_proto, &m);
    assert_int_equal (s_recv_msg (fd, &m, 2000), AGENT_CLOSE);
    assert_int_equal (m.u.agent_close.code, AGENT_CLOSE_SHUTDOWN);
    close (fd);
    assert_int_equal (access (path, F_OK), -1);
    assert_int_equal (agent_host_remove_shed (fx->host, "shed-c"), -1);

    /* Events left unread are freed by destroy (checked under ASan). */
    fd = s_connect (fx->path_a);
    s_send_sample (fd, AGENT_HELLO);
    s_send_sample (fd, AGENT_LOG);
    usleep (100 * 1000);
    close (fd);
}

/* A fixture with small quotas and a bus endpoint, for the per-shed bounds
 * that must survive a reconnect (docs/agent.md, section 5). */
typedef struct {
    s_fix_t fx;
    zsock_t *pull; /* what the host published */
} s_qfix_t;

static int
s_setup_quota (void **state)
{
    s_qfix_t *q = calloc (1, sizeof *q);
    s_fix_t *fx = &q->fx;
    snprintf (fx->dir, sizeof fx->dir, "/tmp/agent-host-test-XXXXXX");
    assert_non_null (mkdtemp (fx->dir));
    snprintf (fx->path_a, sizeof fx->path_a, "%s/a.sock", fx->dir);
    snprintf (fx->path_b, sizeof fx->path_b, "%s/b.sock", fx->dir);
    /* A new endpoint each time: inproc names outlive a closed socket a little. */
    static int seq;
    char pub[64];
    snprintf (pub, sizeof pub, "inproc://agent-host-test-pub-%d", ++seq);
    q->pull = zsock_new_pull (pub);
    assert_non_null (q->pull);
    agent_host_config_t cfg = {
        .node = "node-1",
        .heartbeat_ms = 3000,
        .msgs_per_s = 200,
        .msgs_burst = 400,
        .abuse_limit = 16,
        .abuse_cooldown_ms = 300,
        .accepts_per_s = 2,
        .services_max = 4,
        .streams_max = 3,
        .owner_publishes_services = true,
        .publish_endpoint = pub,
    };
    fx->host = agent_host_new (&cfg);
    assert_non_null (fx->host);
    assert_int_equal (agent_host_add_shed (fx->host, "shed-a", fx->path_a), 0);
    assert_int_equal (agent_host_add_shed (fx->host, "shed-b", fx->path_b), 0);
    *state = q;
    return 0;
}

static int
s_teardown_quota (void **state)
{
    s_qfix_t *q = *state;
    void *inner = &q->fx;
    /* The bus side first: the host's publish buffers are handed to it
     * zero-copy, and it must give them back before the host can free them
     * (agent_host.c leaves them to the process otherwise). */
    zsock_destroy (&q->pull);
    s_teardown (&inner); /* frees fx: it is q's first member */
    return 0;
}

/* Connect and say hello; the CONNECTED event is consumed. */
static int
s_hello (s_fix_t *fx, const char *path)
{
    int fd = s_connect (path);
    s_send_sample (fd, AGENT_HELLO);
    agent_event_t *ev;
    while ((ev = s_next (fx, 2000)) && ev->kind != AGENT_EVENT_CONNECTED)
        agent_event_destroy (&ev);
    assert_non_null (ev);
    agent_event_destroy (&ev);
    return fd;
}

/* Close and take events until the shed's DISCONNECTED. */
static void
s_bye (s_fix_t *fx, int fd)
{
    close (fd);
    agent_event_t *ev;
    while ((ev = s_next (fx, 2000)) && ev->kind != AGENT_EVENT_DISCONNECTED)
        agent_event_destroy (&ev);
    agent_event_destroy (&ev);
}

static void
s_send_n (int fd, const agent_msg_t *m, size_t n)
{
    uint8_t *f = NULL;
    size_t flen = 0;
    assert_int_equal (agent_frame_encode (m, AGENT_FRAME_MAX_DEFAULT, &f, &flen), 0);
    uint8_t *all = malloc (flen * n);
    for (size_t i = 0; i < n; i++)
        memcpy (all + i * flen, f, flen);
    s_send_all (fd, all, flen * n);
    free (all);
    free (f);
}

/* Close-and-reconnect buys neither a fresh rate budget nor fresh strikes,
 * and reconnecting in a loop is itself limited. */
static void
test_limits_survive_reconnect (void **state)
{
    s_fix_t *fx = &((s_qfix_t *) *state)->fx;
    agent_host_stats_t st;
    agent_msg_t log;
    agent_sample (AGENT_LOG, &log);

    /* 1. Rate: most of the 400-message burst on one connection, then the
     * rest of a flood on the next. */
    int fd = s_hello (fx, fx->path_b);
    s_send_n (fd, &log, 380);
    usleep (100 * 1000);
    s_bye (fx, fd);
    assert_int_equal (agent_host_stats (fx->host, "shed-b", &st), 0);
    assert_int_equal (st.bad[AGENT_BAD_RATE], 0);
    fd = s_hello (fx, fx->path_b);
    s_send_n (fd, &log, 80);
    usleep (200 * 1000);
    assert_int_equal (agent_host_stats (fx->host, "shed-b", &st), 0);
    assert_true (st.bad[AGENT_BAD_RATE] >= 10);
    s_bye (fx, fd);
    usleep (2100 * 1000); /* the bucket refills (200/s) */

    /* 2. Strikes: 10 bad frames, reconnect, 10 more: 16 close. */
    agent_host_stats_t before;
    agent_host_stats (fx->host, "shed-b", &before);
    uint8_t junk[] = { AGENT_LOG, 0, 0, 0, 3, 0xc1, 0xc1, 0xc1 };
    fd = s_hello (fx, fx->path_b);
    for (int i = 0; i < 10; i++)
        s_send_all (fd, junk, sizeof junk);
    usleep (100 * 1000);
    s_bye (fx, fd);
    fd = s_hello (fx, fx->path_b);
    for (int i = 0; i < 10; i++)
        s_send_all (fd, junk, sizeof junk);
    assert_true (s_peer_closed (fd, 2000));
    close (fd);
    agent_host_stats (fx->host, "shed-b", &st);
    assert_int_equal (st.closes_abuse, before.closes_abuse + 1);
    usleep (1500 * 1000); /* cooldown over, accept bucket full again */

    /* 3. A reconnect loop: 2 per second (burst 4) get through. */
    agent_host_stats (fx->host, "shed-b", &before);
    for (int i = 0; i < 20; i++) {
        int c = s_connect (fx->path_b);
        usleep (5 * 1000);
        close (c);
    }
    usleep (200 * 1000);
    agent_host_stats (fx->host, "shed-b", &st);
    assert_true (st.connections - before.connections <= 5);
    assert_true (st.bad[AGENT_BAD_RECONNECT] >= 15);

    /* Shed A never noticed. */
    agent_host_stats (fx->host, "shed-a", &st);
    assert_int_equal (st.bad_total, 0);
    agent_event_t *ev;
    while ((ev = s_next (fx, 100)))
        agent_event_destroy (&ev);
}

/* Topics the host published since the last call, joined by spaces. */
static void
s_published (zsock_t *pull, char *out, size_t cap)
{
    size_t pos = 0;
    out[0] = 0;
    zframe_t *f;
    while (zsock_events (pull) & ZMQ_POLLIN && (f = zframe_recv (pull))) {
        const uint8_t *p = zframe_data (f), *end = p + zframe_size (f);
        while (p < end) {
            size_t tl = strnlen ((const char *) p, (size_t) (end - p));
            pos += (size_t) snprintf (out + pos, cap - pos, "%.*s ", (int) tl, p);
            p += tl + 1;
            p += strnlen ((const char *) p, (size_t) (end - p)) + 1;
            uint32_t len =
                (uint32_t) p[0] << 24 | (uint32_t) p[1] << 16 | (uint32_t) p[2] << 8 | p[3];
            p += 4 + len;
            if (pos >= cap)
                pos = cap - 1;
        }
        zframe_destroy (&f);
    }
}

typedef struct {
    int regs, deregs, logs;
    bool saw_new2, saw_s9;
} s_tally_t;

/* Count events until one of kind `until` (0: until quiet). */
static void
s_tally (s_fix_t *fx, s_tally_t *t, agent_event_kind_t until)
{
    agent_event_t *ev;
    while ((ev = s_next (fx, until ? 2000 : 300))) {
        bool stop = ev->kind == until;
        if (ev->kind == AGENT_EVENT_MESSAGE) {
            unsigned type = ev->msg.hdr.type;
            t->regs += type == AGENT_SERVICE_REGISTER;
            t->deregs += type == AGENT_SERVICE_DEREGISTER;
            t->logs += type == AGENT_LOG;
            if (type == AGENT_SERVICE_REGISTER
                && !strcmp (ev->msg.u.agent_service_register.name, "new-2"))
                t->saw_new2 = true;
            if (type == AGENT_LOG && !strcmp (ev->msg.u.agent_log.stream, "s9"))
                t->saw_s9 = true;
        }
        agent_event_destroy (&ev);
        if (stop)
            break;
    }
}

/* Distinct service and log stream names are capped per shed, across
 * reconnects; what is refused is counted and never delivered or
 * published, and service events are left to the owner to publish. */
static void
test_name_quotas (void **state)
{
    s_qfix_t *q = *state;
    s_fix_t *fx = &q->fx;
    s_tally_t t = { 0 };
    int fd = s_connect (fx->path_b);
    s_send_sample (fd, AGENT_HELLO);
    agent_msg_t m;
    agent_sample (AGENT_SERVICE_REGISTER, &m);
    for (int i = 0; i < 10; i++) {
        snprintf (m.u.agent_service_register.name, sizeof m.u.agent_service_register.name, "svc-%d",
                  i);
        s_send_msg (fd, &m);
    }
    s_send_msg (fd, &m); /* svc-9 again: refused again */
    snprintf (m.u.agent_service_register.name, sizeof m.u.agent_service_register.name, "svc-0");
    s_send_msg (fd, &m); /* held: accepted again */
    agent_msg_t d;
    memset (&d, 0, sizeof d);
    d.hdr.type = AGENT_SERVICE_DEREGISTER;
    snprintf (d.u.agent_service_deregister.name, sizeof d.u.agent_service_deregister.name, "nope");
    s_send_msg (fd, &d); /* never registered: refused */
    snprintf (d.u.agent_service_deregister.name, sizeof d.u.agent_service_deregister.name, "svc-1");
    s_send_msg (fd, &d); /* frees a slot */
    agent_msg_t log;
    agent_sample (AGENT_LOG, &log);
    for (int i = 0; i < 6; i++) {
        snprintf (log.u.agent_log.stream, sizeof log.u.agent_log.stream, "s%d", i);
        s_send_msg (fd, &log);
    }
    /* The host remembers the last stream it let through (one compare per
     * LOG of a flood): a refused name must not become it, and the name it
     * holds passes. */
    s_send_msg (fd, &log); /* s5 again: refused again */
    snprintf (log.u.agent_log.stream, sizeof log.u.agent_log.stream, "s2");
    s_send_msg (fd, &log); /* held: accepted */
    usleep (200 * 1000);
    close (fd);
    s_tally (fx, &t, AGENT_EVENT_DISCONNECTED);

    /* Reconnected: still four services held (svc-0, 2, 3 + one free
     * slot), still three streams. */
    fd = s_connect (fx->path_b);
    s_send_sample (fd, AGENT_HELLO);
    snprintf (m.u.agent_service_register.name, sizeof m.u.agent_service_register.name, "new-1");
    s_send_msg (fd, &m);
    snprintf (m.u.agent_service_register.name, sizeof m.u.agent_service_register.name, "new-2");
    s_send_msg (fd, &m);
    snprintf (log.u.agent_log.stream, sizeof log.u.agent_log.stream, "s9");
    s_send_msg (fd, &log);
    snprintf (log.u.agent_log.stream, sizeof log.u.agent_log.stream, "s0");
    s_send_msg (fd, &log);
    usleep (200 * 1000);
    s_tally (fx, &t, 0);
    assert_int_equal (t.regs, 4 + 1 + 1); /* svc-0..3, svc-0 again, new-1 */
    assert_int_equal (t.deregs, 1);
    assert_int_equal (t.logs, 3 + 1 + 1); /* s0..s2, s2 again, then s0 */
    assert_false (t.saw_new2);
    assert_false (t.saw_s9);
    agent_host_stats_t st;
    assert_int_equal (agent_host_stats (fx->host, "shed-b", &st), 0);
    assert_int_equal (st.bad[AGENT_BAD_SERVICE_CAP], 6 + 1 + 1 + 1);
    assert_int_equal (st.bad[AGENT_BAD_STREAM_CAP], 3 + 1 + 1);
    assert_int_equal (st.closes_abuse, 0); /* quotas are not strikes */

    /* On the bus: logs, no service event (the owner publishes those). */
    char topics[8192];
    s_published (q->pull, topics, sizeof topics);
    assert_non_null (strstr (topics, "log.node-1.shed-b.s0 "));
    assert_null (strstr (topics, "log.node-1.shed-b.s9 "));
    assert_null (strstr (topics, "service."));

    /* Counts from the owner land in the same counters. */
    agent_host_count (fx->host, "shed-b", AGENT_BAD_CATALOG);
    agent_host_stats (fx->host, "shed-b", &st);
    assert_int_equal (st.bad[AGENT_BAD_CATALOG], 1);
    assert_string_equal (agent_bad_name (AGENT_BAD_SERVICE_ID), "service_id");
    close (fd);
}

/* Wait (up to 3 s, the machine may be loaded) until shed's counter of
 * `why` reaches at least `least`; its value. */
static uint64_t
s_wait_bad (s_fix_t *fx, const char *shed, agent_bad_t why, uint64_t least)
{
    agent_host_stats_t st;
    int64_t until = agent_clock_mono_ms () + 3000;
    do {
        assert_int_equal (agent_host_stats (fx->host, shed, &st), 0);
        if (st.bad[why] >= least)
            break;
        usleep (20 * 1000);
    } while (agent_clock_mono_ms () < until);
    return st.bad[why];
}

/* New limits while running (SIGHUP): a connected agent gets a second
 * HELLO_ACK with the new rates on the same connection, the lowered message
 * rate and service cap bite at once, names held stay. */
static void
test_set_limits (void **state)
{
    s_fix_t *fx = *state;
    int fd = s_hello (fx, fx->path_a);
    agent_msg_t m;
    assert_int_equal (s_recv_msg (fd, &m, 2000), AGENT_HELLO_ACK);
    assert_int_equal (m.u.agent_hello_ack.max_msgs_per_s, 180); /* 90 % of 200 */
    wire_msg_free (&agent_proto, &m);
    agent_msg_t reg;
    agent_sample (AGENT_SERVICE_REGISTER, &reg);
    for (int i = 0; i < 3; i++) {
        snprintf (reg.u.agent_service_register.name, sizeof reg.u.agent_service_register.name,
                  "svc-%d", i);
        s_send_msg (fd, &reg);
    }
    usleep (100 * 1000);

    agent_host_config_t limits = { .msgs_per_s = 10,
                                   .services_max = 4,
                                   .metrics_interval_ms = 900 };
    assert_int_equal (agent_host_set_limits (fx->host, &limits), 0);
    unsigned type;
    while ((type = s_recv_msg (fd, &m, 2000)) == AGENT_HEARTBEAT)
        wire_msg_free (&agent_proto, &m);
    assert_int_equal (type, AGENT_HELLO_ACK);
    assert_int_equal (m.u.agent_hello_ack.max_msgs_per_s, 9);
    assert_int_equal (m.u.agent_hello_ack.metrics_interval_ms, 900);
    assert_int_equal (m.u.agent_hello_ack.heartbeat_ms, 5000); /* 0: the default */
    wire_msg_free (&agent_proto, &m);

    /* Cap 4 with 3 held: one more name, then refusals; svc-0 is kept. */
    for (int i = 3; i < 6; i++) {
        snprintf (reg.u.agent_service_register.name, sizeof reg.u.agent_service_register.name,
                  "svc-%d", i);
        s_send_msg (fd, &reg);
    }
    assert_int_equal (s_wait_bad (fx, "shed-a", AGENT_BAD_SERVICE_CAP, 2), 2);
    usleep (100 * 1000);
    agent_host_stats_t st;
    assert_int_equal (agent_host_stats (fx->host, "shed-a", &st), 0);
    assert_int_equal (st.bad[AGENT_BAD_SERVICE_CAP], 2);
    assert_int_equal (st.bad[AGENT_BAD_RATE], 0);

    /* Burst 20 at 10/s (the old bucket held up to 400): most of 40 refused. */
    agent_msg_t log;
    agent_sample (AGENT_LOG, &log);
    s_send_n (fd, &log, 40);
    assert_true (s_wait_bad (fx, "shed-a", AGENT_BAD_RATE, 15) >= 15);
    close (fd);
}

/* An agent -> host stream over AGENT_STREAM_TO_HOST_MAX is refused at its
 * first chunk (agent -> host messages all fit a frame). */
static void
test_agent_stream_bound (void **state)
{
    s_fix_t *fx = *state;
    int fd = s_hello (fx, fx->path_b);
    size_t total = AGENT_STREAM_TO_HOST_MAX + 1;
    uint8_t *data = calloc (1, 64 << 10);
    agent_msg_t c;
    memset (&c, 0, sizeof c);
    c.hdr.type = AGENT_CHUNK;
    c.u.agent_chunk.stream = 7;
    c.u.agent_chunk.type = AGENT_LOG;
    c.u.agent_chunk.total = total;
    c.u.agent_chunk.data.data = data;
    c.u.agent_chunk.data.len = 64 << 10;
    s_send_msg (fd, &c);
    usleep (200 * 1000);
    agent_host_stats_t st;
    assert_int_equal (agent_host_stats (fx->host, "shed-b", &st), 0);
    assert_int_equal (st.bad[AGENT_BAD_STREAM], 1);
    free (data);
    close (fd);
    agent_event_t *ev;
    while ((ev = s_next (fx, 200)))
        agent_event_destroy (&ev);
}

static long
s_maxrss_kib (void)
{
    struct rusage ru;
    getrusage (RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

/* Peak memory of the worst frames the host decodes on its thread, as the
 * process's maxrss growth (docs/agent.md, "Memory of one frame"): the
 * largest frame it reads from an agent as one msgpack array of nils
 * (msgpack-c makes a 24-byte object of each before the descriptor refuses
 * it), and four agent -> host streams held open at their bound. */
static void
test_worst_frame_memory (void **state)
{
    s_fix_t *fx = *state;
    int fd = s_hello (fx, fx->path_b);
    long base = s_maxrss_kib ();

    /* Four streams, each one chunk short of its end. */
    size_t part = (AGENT_STREAM_TO_HOST_MAX - 1024) / 2;
    uint8_t *data = calloc (1, part);
    for (int k = 0; k < 4; k++)
        for (int i = 0; i < 2; i++) {
            agent_msg_t c;
            memset (&c, 0, sizeof c);
            c.hdr.type = AGENT_CHUNK;
            c.u.agent_chunk.stream = 100 + (uint64_t) k;
            c.u.agent_chunk.type = AGENT_LOG;
            c.u.agent_chunk.offset = (uint64_t) i * part;
            c.u.agent_chunk.total = AGENT_STREAM_TO_HOST_MAX;
            c.u.agent_chunk.data.data = data;
            c.u.agent_chunk.data.len = part;
            s_send_msg (fd, &c);
        }
    free (data);
    usleep (300 * 1000);
    long streams = s_maxrss_kib () - base;

    /* The largest frame the host reads from an agent:
     * { 0: 1, 1: LOG, 5: [nil x ~256k] }. */
    size_t len = AGENT_STREAM_TO_HOST_MAX;
    uint8_t *f = malloc (AGENT_FRAME_HEADER + len);
    uint8_t *p = f;
    *p++ = AGENT_LOG;
    *p++ = (uint8_t) (len >> 24);
    *p++ = (uint8_t) (len >> 16);
    *p++ = (uint8_t) (len >> 8);
    *p++ = (uint8_t) len;
    uint8_t *start = p;
    *p++ = 0x83;
    *p++ = 0x00;
    *p++ = 0x01;
    *p++ = 0x01;
    *p++ = AGENT_LOG;
    *p++ = 0x05;
    uint32_t n = (uint32_t) (len - (size_t) (p - start) - 5);
    *p++ = 0xdd;
    *p++ = (uint8_t) (n >> 24);
    *p++ = (uint8_t) (n >> 16);
    *p++ = (uint8_t) (n >> 8);
    *p++ = (uint8_t) n;
    memset (p, 0xc0, n);
    for (int i = 0; i < 3; i++)
        s_send_all (fd, f, AGENT_FRAME_HEADER + len);
    free (f);
    usleep (500 * 1000);
    long frame = s_maxrss_kib () - base;
    agent_host_stats_t st;
    assert_int_equal (agent_host_stats (fx->host, "shed-b", &st), 0);
    assert_int_equal (st.bad[AGENT_BAD_DECODE], 3);
    printf ("RESULT agent_streams_maxrss_kib=%ld agent_worst_frame_maxrss_kib=%ld\n", streams,
            frame);
    /* Generous: ASan builds keep freed memory in quarantine. */
    assert_true (frame < 128 * 1024);

    /* One byte more is refused from its header, before any allocation. */
    uint8_t hdr[] = { AGENT_LOG, 0, 0, 0, 0 };
    len = AGENT_STREAM_TO_HOST_MAX + 1;
    hdr[1] = (uint8_t) (len >> 24);
    hdr[2] = (uint8_t) (len >> 16);
    hdr[3] = (uint8_t) (len >> 8);
    hdr[4] = (uint8_t) len;
    s_send_all (fd, hdr, sizeof hdr);
    assert_true (s_peer_closed (fd, 2000));
    agent_host_stats (fx->host, "shed-b", &st);
    assert_int_equal (st.bad[AGENT_BAD_OVERSIZE], 1);
    close (fd);
    agent_event_t *ev;
    while ((ev = s_next (fx, 200)))
        agent_event_destroy (&ev);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown (test_hello_and_origin, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_agent_stream, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_abuse, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_add_remove, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_limits_survive_reconnect, s_setup_quota,
                                         s_teardown_quota),
        cmocka_unit_test_setup_teardown (test_name_quotas, s_setup_quota, s_teardown_quota),
        cmocka_unit_test_setup_teardown (test_agent_stream_bound, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_set_limits, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_worst_frame_memory, s_setup, s_teardown),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
