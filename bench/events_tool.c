/*
 * events_tool.c - the processes of bench/events.sh (one binary, four roles):
 *
 *   events_tool gen PATH N RATE       an agent on a shed's socket: HELLO, then
 *                                     N ~100-byte LOG events, RATE per second
 *                                     (0 = as fast as it can write)
 *   events_tool consume ENDPOINT PREFIX N SECONDS
 *                                     a bus_client on a node's consumer
 *                                     endpoint: waits for N events (at most
 *                                     SECONDS), prints one line
 *                                     `events=... secs=... per_s=... p50_ms=...
 *                                     p99_ms=... lost=...`
 *   events_tool rawpub ENDPOINT N [RATE]
 *                                     libzmq PUB (bound), N 100-byte messages,
 *                                     RATE per second (0 or none: flat out),
 *                                     each stamped with CLOCK_REALTIME (µs)
 *   events_tool rawsub ENDPOINT N SECONDS
 *                                     libzmq SUB (connects): `events=... per_s=...
 *                                     p50_ms=... p99_ms=...` (the same-run
 *                                     reference for the bus's rate and latency)
 *
 * Latency: the generator writes CLOCK_REALTIME (µs) into each LOG's ts_ms
 * field; the consumer decodes the payload and takes now - that, so it is
 * agent -> node 1 -> node 3 -> consumer (one machine, one clock). Losses:
 * LOG seq numbers the consumer never saw (agent side) plus bus gaps.
 * Rates count from the first to the last event received.
 */
#include "agent/proto/agent_proto.h"
#include "bridges/bus_client.h"

#include <czmq.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define S_MSG 100

static int64_t
s_real_us (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_REALTIME, &ts);
    return (int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int64_t
s_mono_ns (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* CPU time of this process so far (every thread: ZeroMQ's I/O thread
 * too), in ms: events.sh adds the processes' CPU per event up. */
static double
s_cpu_ms (void)
{
    struct rusage ru;
    getrusage (RUSAGE_SELF, &ru);
    return (double) (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3
           + (double) (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
}

static void
s_write_all (int fd, const uint8_t *p, size_t n)
{
    while (n) {
        ssize_t w = write (fd, p, n);
        if (w <= 0) {
            perror ("events_tool gen: write");
            exit (3);
        }
        p += w;
        n -= (size_t) w;
    }
}

/* A LOG frame whose encoding is about 100 bytes, framed into buf[cap]
 * (`[type][length:u32be][payload]`, docs/agent.md) without an allocation,
 * as an agent that reuses its write buffer would. Returns the length. */
static size_t
s_log_frame_into (uint64_t seq, uint8_t *buf, size_t cap)
{
    agent_msg_t m;
    m.hdr.version = 0;
    m.hdr.type = AGENT_LOG;
    agent_log_t *l = &m.u.agent_log;
    memset (l, 0, offsetof (agent_log_t, text));
    l->partial = false;
    memcpy (l->stream, "bench", 6);
    l->seq = seq;
    l->ts_ms = (uint64_t) s_real_us (); /* µs, see the header */
    snprintf (l->text, sizeof l->text,
              "GET /api/items?page=%06" PRIu64 " 200 3ms ua=bench/1.0 x=abcdefghijklmnop", seq);
    size_t len = 0;
    if (cap < AGENT_FRAME_HEADER
        || wire_encode_into (&agent_proto, &m, buf + AGENT_FRAME_HEADER, cap - AGENT_FRAME_HEADER,
                             &len)
               != WIRE_OK)
        exit (2);
    buf[0] = AGENT_LOG;
    buf[1] = (uint8_t) (len >> 24);
    buf[2] = (uint8_t) (len >> 16);
    buf[3] = (uint8_t) (len >> 8);
    buf[4] = (uint8_t) len;
    return len + AGENT_FRAME_HEADER;
}

/* The same, allocated (the paced run writes one frame at a time). */
static uint8_t *
s_log_frame (uint64_t seq, size_t *len)
{
    agent_msg_t m;
    memset (&m, 0, sizeof m);
    m.hdr.type = AGENT_LOG;
    snprintf (m.u.agent_log.stream, sizeof m.u.agent_log.stream, "bench");
    m.u.agent_log.seq = seq;
    m.u.agent_log.ts_ms = (uint64_t) s_real_us (); /* µs, see the header */
    snprintf (m.u.agent_log.text, sizeof m.u.agent_log.text,
              "GET /api/items?page=%06" PRIu64 " 200 3ms ua=bench/1.0 x=abcdefghijklmnop", seq);
    uint8_t *f = NULL;
    if (agent_frame_encode (&m, AGENT_FRAME_MAX_DEFAULT, &f, len) != 0)
        exit (2);
    return f;
}

static int
s_gen (const char *path, long n, long rate)
{
    int fd = socket (AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sa;
    memset (&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    snprintf (sa.sun_path, sizeof sa.sun_path, "%s", path);
    if (connect (fd, (struct sockaddr *) &sa, sizeof sa) != 0) {
        perror ("events_tool gen: connect");
        return 4;
    }
    agent_msg_t h;
    memset (&h, 0, sizeof h);
    h.hdr.type = AGENT_HELLO;
    snprintf (h.u.agent_hello.agent_version, sizeof h.u.agent_hello.agent_version, "bench");
    uint8_t *f;
    size_t len;
    agent_frame_encode (&h, AGENT_FRAME_MAX_DEFAULT, &f, &len);
    s_write_all (fd, f, len);
    free (f);
    usleep (100 * 1000);
    enum { BATCH = 64 };
    uint8_t buf[BATCH * 200];
    int64_t start = s_mono_ns ();
    for (long i = 0; i < n;) {
        if (rate > 0) {
            /* absolute deadlines: no drift, no spinning */
            int64_t due = start + i * (1000000000 / rate);
            struct timespec ts = { (time_t) (due / 1000000000), (long) (due % 1000000000) };
            while (clock_nanosleep (CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) != 0)
                ;
            f = s_log_frame ((uint64_t) i + 1, &len);
            s_write_all (fd, f, len);
            free (f);
            i++;
            continue;
        }
        size_t used = 0;
        for (int k = 0; k < BATCH && i < n; k++, i++)
            used += s_log_frame_into ((uint64_t) i + 1, buf + used, sizeof buf - used);
        s_write_all (fd, buf, used);
    }
    /* Stay connected until the host has read everything: a close would
     * not lose data, but the DISCONNECTED would land mid-measurement. */
    sleep (2);
    close (fd);
    printf ("cpu_ms=%.1f\n", s_cpu_ms ());
    return 0;
}

static int
s_cmp (const void *a, const void *b)
{
    int64_t x = *(const int64_t *) a, y = *(const int64_t *) b;
    return x < y ? -1 : x > y;
}

/* The LOG fields the consumer needs (seq, ts), read in place from the
 * payload (a msgpack map of scalars; text is a str): what a consumer that
 * looks at two fields does, instead of a full decode into a 4 KiB struct.
 * Returns 0, or -1 if it is not a LOG map of that shape. */
static int
s_log_fields (const uint8_t *p, size_t len, uint64_t *seq, uint64_t *ts)
{
    const uint8_t *end = p + len;
    if (p >= end)
        return -1;
    size_t entries;
    if ((*p & 0xf0) == 0x80)
        entries = *p++ & 0x0f;
    else
        return -1;
    uint64_t type = 0;
    *seq = *ts = 0;
    for (size_t i = 0; i < entries; i++) {
        if (p >= end || *p > 0x7f)
            return -1;
        uint8_t key = *p++;
        if (p >= end)
            return -1;
        uint8_t c = *p++;
        uint64_t v = 0;
        size_t skip = 0, w = 0;
        if (c <= 0x7f)
            v = c;
        else if ((c & 0xe0) == 0xa0)
            skip = c & 0x1f;
        else if (c == 0xc2 || c == 0xc3 || c == 0xc0)
            ;
        else if (c >= 0xcc && c <= 0xcf)
            w = (size_t) 1 << (c - 0xcc);
        else if (c == 0xd9 || c == 0xda) {
            size_t lw = c == 0xd9 ? 1 : 2;
            if ((size_t) (end - p) < lw)
                return -1;
            for (size_t k = 0; k < lw; k++)
                skip = skip << 8 | p[k];
            p += lw;
        }
        else
            return -1;
        if ((size_t) (end - p) < w + skip)
            return -1;
        for (size_t k = 0; k < w; k++)
            v = v << 8 | p[k];
        p += w + skip;
        if (key == 1)
            type = v;
        else if (key == 3)
            *seq = v;
        else if (key == 4)
            *ts = v;
    }
    return type == AGENT_LOG && *seq ? 0 : -1;
}

static int
s_consume (const char *endpoint, const char *prefix, long n, int seconds)
{
    bus_client_t *c = bus_client_new (endpoint, NULL, NULL, NULL);
    if (!c)
        return 2;
    bus_client_subscribe (c, prefix);
    bus_client_snapshot (c, 3000); /* subscription in place before we say ready */
    printf ("ready\n");
    fflush (stdout);
    int64_t *lat = calloc ((size_t) n, sizeof *lat);
    long got = 0;
    uint64_t max_seq = 0;
    int64_t first = 0, last = 0, deadline = zclock_mono () + seconds * 1000;
    int64_t idle_since = 0;
    /* Two clock reads per event (latency, and the rate's last arrival);
     * the deadline is checked when the socket is idle or every 4096. */
    while (got < n) {
        bus_event_t ev;
        if (bus_client_recv (c, &ev, 200) != 0) {
            if (zclock_mono () >= deadline)
                break;
            /* Once events flowed, 3 s of silence means the rest was lost:
             * report now instead of waiting out the whole deadline. */
            if (got && !idle_since)
                idle_since = zclock_mono ();
            if (got && zclock_mono () - idle_since > 3000)
                break;
            continue;
        }
        idle_since = 0;
        if (ev.snapshot)
            continue;
        uint64_t seq, ts;
        if (s_log_fields (ev.payload, ev.size, &seq, &ts) == 0) {
            int64_t now = s_real_us ();
            last = s_mono_ns ();
            if (!first)
                first = last;
            lat[got++] = now - (int64_t) ts;
            if (seq > max_seq)
                max_seq = seq;
            if ((got & 4095) == 0 && zclock_mono () >= deadline)
                break;
        }
    }
    double secs = got > 1 ? (double) (last - first) / 1e9 : 0;
    qsort (lat, (size_t) got, sizeof *lat, s_cmp);
    double p50 = got ? (double) lat[got / 2] / 1000.0 : 0;
    double p99 = got ? (double) lat[(size_t) ((double) got * 0.99)] / 1000.0 : 0;
    long lost = (long) n - got;
    printf ("events=%ld secs=%.3f per_s=%.0f p50_ms=%.3f p99_ms=%.3f lost=%ld bus_gaps=%" PRIu64
            " cpu_ms=%.1f\n",
            got, secs, secs > 0 ? (double) (got - 1) / secs : 0, p50, p99, lost > 0 ? lost : 0,
            bus_client_gaps (c), s_cpu_ms ());
    free (lat);
    bus_client_destroy (&c);
    return got == n ? 0 : 1;
}

static int
s_rawpub (const char *endpoint, long n, long rate)
{
    zsock_t *pub = zsock_new (ZMQ_PUB);
    zsock_set_sndhwm (pub, 1000000);
    if (zsock_bind (pub, "%s", endpoint) < 0) {
        fprintf (stderr, "events_tool rawpub: cannot bind %s\n", endpoint);
        return 2;
    }
    sleep (2); /* slow joiner */
    uint8_t msg[S_MSG];
    memset (msg, 'x', sizeof msg);
    int64_t start = s_mono_ns ();
    for (long i = 0; i < n; i++) {
        if (rate > 0) {
            int64_t due = start + i * (1000000000 / rate);
            struct timespec ts = { (time_t) (due / 1000000000), (long) (due % 1000000000) };
            while (clock_nanosleep (CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) != 0)
                ;
        }
        int64_t now = s_real_us ();
        memcpy (msg, &now, sizeof now);
        zmq_send (zsock_resolve (pub), msg, sizeof msg, 0);
    }
    sleep (2);
    zsock_destroy (&pub);
    printf ("cpu_ms=%.1f\n", s_cpu_ms ());
    return 0;
}

static int
s_rawsub (const char *endpoint, long n, int seconds)
{
    zsock_t *sub = zsock_new (ZMQ_SUB);
    zsock_set_rcvhwm (sub, 1000000);
    zsock_set_subscribe (sub, "");
    if (zsock_connect (sub, "%s", endpoint) < 0)
        return 2;
    zsock_set_rcvtimeo (sub, 200);
    uint8_t buf[S_MSG * 2];
    long got = 0;
    int64_t *lat = calloc ((size_t) n, sizeof *lat);
    if (!lat)
        return 2;
    int64_t first = 0, last = 0, deadline = zclock_mono () + seconds * 1000;
    while (got < n && zclock_mono () < deadline) {
        if (zmq_recv (zsock_resolve (sub), buf, sizeof buf, 0) < (int) sizeof (int64_t))
            continue;
        int64_t stamp;
        memcpy (&stamp, buf, sizeof stamp);
        last = s_mono_ns ();
        if (!first)
            first = last;
        lat[got++] = s_real_us () - stamp;
    }
    double secs = got > 1 ? (double) (last - first) / 1e9 : 0;
    qsort (lat, (size_t) got, sizeof *lat, s_cmp);
    double p50 = got ? (double) lat[got / 2] / 1000.0 : 0;
    double p99 = got ? (double) lat[(size_t) ((double) got * 0.99)] / 1000.0 : 0;
    printf ("events=%ld secs=%.3f per_s=%.0f p50_ms=%.3f p99_ms=%.3f cpu_ms=%.1f\n", got, secs,
            secs > 0 ? (double) (got - 1) / secs : 0, p50, p99, s_cpu_ms ());
    free (lat);
    zsock_destroy (&sub);
    return 0;
}

int
main (int argc, char **argv)
{
    zsys_init ();
    zsys_set_logstream (NULL);
    if (argc == 5 && !strcmp (argv[1], "gen"))
        return s_gen (argv[2], atol (argv[3]), atol (argv[4]));
    if (argc == 6 && !strcmp (argv[1], "consume"))
        return s_consume (argv[2], argv[3], atol (argv[4]), atoi (argv[5]));
    if ((argc == 4 || argc == 5) && !strcmp (argv[1], "rawpub"))
        return s_rawpub (argv[2], atol (argv[3]), argc == 5 ? atol (argv[4]) : 0);
    if (argc == 5 && !strcmp (argv[1], "rawsub"))
        return s_rawsub (argv[2], atol (argv[3]), atoi (argv[4]));
    fprintf (stderr, "usage: events_tool gen PATH N RATE | consume ENDPOINT PREFIX N SECONDS |\n"
                     "       rawpub ENDPOINT N [RATE] | rawsub ENDPOINT N SECONDS\n");
    return 2;
}
