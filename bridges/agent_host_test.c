/*
 * agent_host_test.c - the host listener against hand-driven clients on
 * real Unix sockets in a fresh temp dir: hello and origin stamping,
 * messages and latest metrics, chunk streams from the agent, provisioning
 * to the agent, and every kind of abuse (garbage, oversize, wrong
 * direction, no hello, flood) counted and cut off while another shed's
 * listener keeps delivering.
 */
#include "bridges/agent_host.h"

#include "agent/agent_sample.h"
#include "agent/frame.h"

#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
        .node = "node-1", .metrics_interval_ms = 700, .heartbeat_ms = 3000,
        .msgs_per_s = 200, .msgs_burst = 400, .abuse_limit = 16, .abuse_cooldown_ms = 300,
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
    rmdir (fx->dir);            /* the host removed its socket files */
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
            return;             /* the host closed on us: fine for abuse tests */
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
    strcpy (m.u.agent_hello.shed, "someone-else");     /* a lie: ignored */
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
    s_send_sample (fd, AGENT_HEARTBEAT);    /* counted, not delivered */
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

    /* Orderly close from the agent. */
    close (fd);
    ev = s_next (fx, 2000);
    assert_non_null (ev);
    assert_int_equal (ev->kind, AGENT_EVENT_DISCONNECTED);
    assert_string_equal (ev->reason, "eof");
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
        s_send_sample (bad, AGENT_PROVISION);          /* host -> agent type */
        s_send_sample (bad, AGENT_METRICS);            /* before hello */
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
    assert_int_equal (agent_host_add_shed (fx->host, "shed-a", path), -1);    /* dup */
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

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown (test_hello_and_origin, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_agent_stream, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_abuse, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_add_remove, s_setup, s_teardown),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
