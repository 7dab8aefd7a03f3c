/*
 * agent_bench.c - agent-channel throughput and latency: a client process
 * sends ~100-byte LOG frames over the Unix socket to the host listener
 * (bridges/agent_host.c), and the owner thread takes the decoded, stamped
 * events from agent_host_recv.
 *
 *   phase 1 (throughput): N events as fast as the client can write them;
 *           events/s = N / (time of last delivery - time of first send).
 *   phase 2 (latency): 10,000 events/s for 3 s, each carrying its send time
 *           (CLOCK_MONOTONIC, same machine); p50/p99 of delivery - send.
 *
 * Rate limits are raised for the run (the defaults would rightly cut a
 * flooding agent off). Final line:
 *   RESULT agent_events_per_s=... agent_p99_us=...
 *
 * usage: agent_bench [N]   (default 300000)
 */
#include "bridges/agent_host.h"

#include "agent/proto/agent_proto.h"
#include "common/log.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int64_t
s_now_ns (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static uint8_t *
s_log_frame (uint64_t seq, int64_t sent_ns, size_t *len)
{
    agent_msg_t m;
    memset (&m, 0, sizeof m);
    m.hdr.type = AGENT_LOG;
    snprintf (m.u.agent_log.stream, sizeof m.u.agent_log.stream, "bench");
    m.u.agent_log.seq = seq;
    m.u.agent_log.ts_ms = (uint64_t) sent_ns;
    snprintf (m.u.agent_log.text, sizeof m.u.agent_log.text,
              "%020lld GET /api/items?page=2 200 3ms ua=bench/1.0", (long long) sent_ns);
    uint8_t *f = NULL;
    if (agent_frame_encode (&m, AGENT_FRAME_MAX_DEFAULT, &f, len) != 0)
        exit (2);
    return f;
}

static void
s_write_all (int fd, const uint8_t *p, size_t n)
{
    while (n) {
        ssize_t w = write (fd, p, n);
        if (w <= 0)
            exit (3);
        p += w;
        n -= (size_t) w;
    }
}

/* The client: hello, then phase 1 flat out, then phase 2 paced. */
static void
s_client (const char *path, long n, long rate, int seconds)
{
    int fd = socket (AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sa;
    memset (&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    memcpy (sa.sun_path, path, strlen (path));
    if (connect (fd, (struct sockaddr *) &sa, sizeof sa) != 0)
        exit (4);
    agent_msg_t h;
    memset (&h, 0, sizeof h);
    h.hdr.type = AGENT_HELLO;
    snprintf (h.u.agent_hello.agent_version, sizeof h.u.agent_hello.agent_version, "bench");
    uint8_t *f;
    size_t len;
    agent_frame_encode (&h, AGENT_FRAME_MAX_DEFAULT, &f, &len);
    s_write_all (fd, f, len);
    free (f);

    /* Phase 1: batches of 64 frames per write, like a busy agent's queue. */
    enum { BATCH = 64 };
    uint8_t buf[BATCH * 160];
    for (long i = 0; i < n;) {
        size_t used = 0;
        for (int k = 0; k < BATCH && i < n; k++, i++) {
            f = s_log_frame ((uint64_t) i + 1, s_now_ns (), &len);
            memcpy (buf + used, f, len);
            used += len;
            free (f);
        }
        s_write_all (fd, buf, used);
    }
    /* Let the host drain before the latency phase. */
    char go;
    if (read (fd, &go, 1) < 0)
        exit (5);
    usleep (200 * 1000);

    /* Phase 2: paced, one frame per write. */
    long total = rate * seconds;
    int64_t start = s_now_ns (), gap = 1000000000 / rate;
    for (long i = 0; i < total; i++) {
        int64_t due = start + i * gap;
        /* Sleep to an absolute deadline: no drift, and no spinning core
         * stolen from the host threads we are measuring. */
        struct timespec ts = { (time_t) (due / 1000000000), (long) (due % 1000000000) };
        while (clock_nanosleep (CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) != 0)
            ;
        f = s_log_frame ((uint64_t) (n + i + 1), s_now_ns (), &len);
        s_write_all (fd, f, len);
        free (f);
    }
    usleep (500 * 1000);
    close (fd);
    exit (0);
}

static int
s_cmp (const void *a, const void *b)
{
    int64_t x = *(const int64_t *) a, y = *(const int64_t *) b;
    return x < y ? -1 : x > y;
}

int
main (int argc, char **argv)
{
    long n = argc > 1 ? atol (argv[1]) : 300000;
    const long rate = 10000;
    const int seconds = 3;
    char dir[] = "/tmp/agent-bench-XXXXXX";
    if (!mkdtemp (dir))
        return 1;
    char path[128];
    snprintf (path, sizeof path, "%s/agent.sock", dir);
    shed_log_set_level (SHED_LOG_WARN);

    agent_host_config_t cfg = {
        .node = "bench",
        .heartbeat_ms = 10000,
        .msgs_per_s = 100000000,
        .bytes_per_s = 2000000000,
    };
    agent_host_t *host = agent_host_new (&cfg);
    if (!host || agent_host_add_shed (host, "bench", path) != 0)
        return 1;

    size_t frame_len;
    free (s_log_frame (1, s_now_ns (), &frame_len));
    pid_t pid = fork ();
    if (pid == 0)
        s_client (path, n, rate, seconds);

    /* Phase 1. */
    agent_event_t *ev = agent_host_recv (host, 5000); /* CONNECTED */
    if (!ev || ev->kind != AGENT_EVENT_CONNECTED)
        return 1;
    agent_event_destroy (&ev);
    int64_t first_sent = 0, last_recv = 0;
    long got = 0;
    while (got < n && (ev = agent_host_recv (host, 5000))) {
        if (ev->msg.hdr.type == AGENT_LOG) {
            if (!got)
                first_sent = (int64_t) ev->msg.u.agent_log.ts_ms;
            got++;
            last_recv = s_now_ns ();
        }
        agent_event_destroy (&ev);
    }
    double secs = (double) (last_recv - first_sent) / 1e9;
    double eps = got / secs;
    printf ("phase 1: %ld events of %zu bytes (frame) in %.3f s: %.0f events/s\n", got, frame_len,
            secs, eps);

    /* Phase 2: tell the client to go (the HELLO_ACK it never reads is in
     * its socket buffer already; any byte will do, so send a heartbeat). */
    agent_msg_t hb;
    memset (&hb, 0, sizeof hb);
    hb.hdr.type = AGENT_HEARTBEAT;
    agent_host_send (host, "bench", &hb);
    long want = rate * seconds;
    int64_t *lat = calloc ((size_t) want, sizeof *lat);
    long k = 0;
    while (k < want && (ev = agent_host_recv (host, 3000))) {
        if (ev->msg.hdr.type == AGENT_LOG)
            lat[k++] = s_now_ns () - (int64_t) ev->msg.u.agent_log.ts_ms;
        agent_event_destroy (&ev);
    }
    qsort (lat, (size_t) k, sizeof *lat, s_cmp);
    double p50 = k ? (double) lat[k / 2] / 1000 : 0;
    double p99 = k ? (double) lat[(k * 99) / 100] / 1000 : 0;
    double max = k ? (double) lat[k - 1] / 1000 : 0;
    printf ("phase 2: %ld of %ld events at %ld/s: p50 %.1f us, p99 %.1f us, max %.1f us\n", k, want,
            rate, p50, p99, max);
    agent_host_stats_t st;
    agent_host_stats (host, "bench", &st);
    printf ("host: frames_in=%llu bad=%llu events=%llu\n", (unsigned long long) st.frames_in,
            (unsigned long long) st.bad_total, (unsigned long long) st.events);

    waitpid (pid, NULL, 0);
    agent_host_destroy (&host);
    free (lat);
    rmdir (dir);
    printf ("RESULT agent_events_per_s=%.0f agent_p99_us=%.1f\n", eps, p99);
    return got == n && k == want ? 0 : 1;
}
