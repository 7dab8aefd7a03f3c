/* dns_bench.c - our DNS server against dnsmasq, same names, same load.
 *
 * Zone: 100 services x 3 instances (passing). Our server runs in-process
 * on 127.0.0.1:<ephemeral>; dnsmasq (if installed) runs as a child on
 * 127.0.0.1:<another port> serving the same names from a hosts file. One
 * UDP load generator keeps WINDOW queries outstanding against each for
 * DURATION seconds, A queries cycling over the 100 names, and measures
 * answers/s and per-query latency. Then: publish a changed zone and time
 * until a query returns the new answer ("answers current within 1 s").
 *
 * Final line:
 *   RESULT ours_qps=... dnsmasq_qps=... ours_p99_us=... dnsmasq_p99_us=... update_visible_ms=...
 * dnsmasq_* are 0 when dnsmasq is not installed. Loopback only.
 */
#include "bridges/dns_msg.h"
#include "bridges/dns_server.h"
#include "bridges/dns_zone.h"
#include "common/log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SERVICES    100
#define INSTANCES   3
#define WINDOW      32 /* outstanding queries */
#define DURATION_S  4.0
#define MAX_SAMPLES (4 * 1000 * 1000)

static double
s_now (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static void
s_instance_ip (int svc, int inst, char *out, size_t cap)
{
    snprintf (out, cap, "127.%d.%d.%d", 10 + inst, svc / 200, svc % 200 + 1);
}

static dns_zone_t *
s_zone (const char *changed_ip)
{
    dns_zone_builder_t *zb = dns_zone_builder_new ();
    for (int s = 0; s < SERVICES; s++) {
        char name[32], node[32], ip[32];
        snprintf (name, sizeof name, "svc%d", s);
        for (int i = 0; i < INSTANCES; i++) {
            snprintf (node, sizeof node, "n%d", (s * INSTANCES + i) % 50);
            s_instance_ip (s, i, ip, sizeof ip);
            if (changed_ip && s == 0 && i == 0)
                snprintf (ip, sizeof ip, "%s", changed_ip);
            dns_zone_builder_add_service_instance (
                zb, &(dns_instance_t){ .service = name,
                                       .node = node,
                                       .address = ip,
                                       .port = 8080,
                                       .health = DNS_HEALTH_PASSING });
        }
    }
    return dns_zone_builder_build (&zb);
}

/* Pre-built queries, one per service name. */
static uint8_t s_queries[SERVICES][64];
static size_t s_qlen[SERVICES];

static void
s_build_queries (const char *suffix)
{
    for (int s = 0; s < SERVICES; s++) {
        char text[128];
        uint8_t wire[DNS_MAX_NAME];
        snprintf (text, sizeof text, "svc%d.%s", s, suffix);
        dns_name_from_text (text, wire, sizeof wire);
        dns_builder_t b;
        dns_builder_init (&b, s_queries[s], sizeof s_queries[s], 0, DNS_FLAG_RD);
        dns_builder_question (&b, wire, DNS_TYPE_A, DNS_CLASS_IN);
        s_qlen[s] = dns_builder_finish (&b);
    }
}

static int
s_cmp_u32 (const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *) a, y = *(const uint32_t *) b;
    return x < y ? -1 : x > y;
}

typedef struct {
    double qps;
    uint32_t p50_us, p99_us;
    uint64_t answers, lost, bad;
} s_load_t;

static uint32_t *s_samples;

/* Keep WINDOW queries in flight on one connected UDP socket. */
static s_load_t
s_load (uint16_t port, double seconds)
{
    s_load_t r = { 0 };
    int fd = socket (AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons (port) };
    sa.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    if (fd < 0 || connect (fd, (struct sockaddr *) &sa, sizeof sa))
        return r;
    static double sent_at[65536];
    static uint8_t in_flight[65536];
    memset (in_flight, 0, sizeof in_flight);
    uint16_t next_id = 1;
    int outstanding = 0;
    size_t nsamples = 0;
    uint64_t qi = 0;
    double start = s_now (), end = start + seconds;
    uint8_t buf[1024];
    while (true) {
        double now = s_now ();
        if (now >= end)
            break;
        while (outstanding < WINDOW) {
            uint8_t *q = s_queries[qi % SERVICES];
            size_t ql = s_qlen[qi % SERVICES];
            qi++;
            uint16_t id = next_id++;
            q[0] = (uint8_t) (id >> 8);
            q[1] = (uint8_t) id;
            if (send (fd, q, ql, 0) < 0)
                break;
            sent_at[id] = s_now ();
            in_flight[id] = 1;
            outstanding++;
        }
        struct pollfd pfd = { fd, POLLIN, 0 };
        if (poll (&pfd, 1, 200) <= 0) {
            /* Nothing for 200 ms: count what is out there as lost, go on. */
            r.lost += (uint64_t) outstanding;
            memset (in_flight, 0, sizeof in_flight);
            outstanding = 0;
            continue;
        }
        while (true) {
            ssize_t n = recv (fd, buf, sizeof buf, MSG_DONTWAIT);
            if (n < 0)
                break;
            double t = s_now ();
            if (n < DNS_HEADER_LEN) {
                r.bad++;
                continue;
            }
            uint16_t id = (uint16_t) ((buf[0] << 8) | buf[1]);
            if (!in_flight[id])
                continue; /* late answer to a query we gave up on */
            in_flight[id] = 0;
            outstanding--;
            uint16_t ancount = (uint16_t) ((buf[6] << 8) | buf[7]);
            if ((buf[3] & 0xF) != 0 || ancount != INSTANCES)
                r.bad++;
            r.answers++;
            if (nsamples < MAX_SAMPLES)
                s_samples[nsamples++] = (uint32_t) ((t - sent_at[id]) * 1e6);
        }
    }
    double elapsed = s_now () - start;
    close (fd);
    r.qps = (double) r.answers / elapsed;
    if (nsamples) {
        qsort (s_samples, nsamples, sizeof (uint32_t), s_cmp_u32);
        r.p50_us = s_samples[nsamples / 2];
        r.p99_us = s_samples[(size_t) ((double) nsamples * 0.99)];
    }
    return r;
}

/* One query; returns true if the answer holds `ip`. */
static bool
s_answer_has (uint16_t port, const char *name, const char *ip)
{
    int fd = socket (AF_INET, SOCK_DGRAM, 0);
    struct timeval tv = { 1, 0 };
    setsockopt (fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons (port) };
    sa.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    uint8_t wire[DNS_MAX_NAME], q[512], resp[1024];
    dns_name_from_text (name, wire, sizeof wire);
    dns_builder_t b;
    dns_builder_init (&b, q, sizeof q, 99, DNS_FLAG_RD);
    dns_builder_question (&b, wire, DNS_TYPE_A, DNS_CLASS_IN);
    size_t ql = dns_builder_finish (&b);
    sendto (fd, q, ql, 0, (struct sockaddr *) &sa, sizeof sa);
    ssize_t n = recv (fd, resp, sizeof resp, 0);
    close (fd);
    if (n <= 0)
        return false;
    uint8_t want[4];
    inet_pton (AF_INET, ip, want);
    dns_reader_t r;
    dns_rr_t rr;
    if (dns_reader_init (&r, resp, (size_t) n))
        return false;
    for (unsigned i = 0; i < r.ancount; i++)
        if (dns_reader_next (&r, resp, (size_t) n, &rr) == 0 && rr.type == DNS_TYPE_A
            && memcmp (rr.addr, want, 4) == 0)
            return true;
    return false;
}

static uint16_t
s_free_port (void)
{
    /* Ask the kernel for a port free on both UDP and TCP right now. */
    for (int i = 0; i < 20; i++) {
        int u = socket (AF_INET, SOCK_DGRAM, 0), t = socket (AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in sa = { .sin_family = AF_INET };
        sa.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
        socklen_t len = sizeof sa;
        uint16_t port = 0;
        if (bind (u, (struct sockaddr *) &sa, sizeof sa) == 0
            && getsockname (u, (struct sockaddr *) &sa, &len) == 0
            && bind (t, (struct sockaddr *) &sa, sizeof sa) == 0)
            port = ntohs (sa.sin_port);
        close (u);
        close (t);
        if (port)
            return port;
    }
    return 0;
}

static pid_t
s_start_dnsmasq (const char *dir, uint16_t port)
{
    char hosts[512];
    snprintf (hosts, sizeof hosts, "%s/hosts", dir);
    FILE *f = fopen (hosts, "w");
    if (!f)
        return -1;
    for (int s = 0; s < SERVICES; s++)
        for (int i = 0; i < INSTANCES; i++) {
            char ip[32];
            s_instance_ip (s, i, ip, sizeof ip);
            fprintf (f, "%s svc%d.service.shed\n", ip, s);
        }
    fclose (f);
    /* dnsmasq drops privileges before reading hosts files */
    chmod (dir, 0755);
    chmod (hosts, 0644);
    pid_t pid = fork ();
    if (pid == 0) {
        char port_arg[32], hosts_arg[600];
        snprintf (port_arg, sizeof port_arg, "--port=%u", port);
        snprintf (hosts_arg, sizeof hosts_arg, "--addn-hosts=%s", hosts);
        int devnull = open ("/dev/null", O_WRONLY);
        if (devnull >= 0) {
            dup2 (devnull, 1);
            dup2 (devnull, 2);
        }
        execlp ("dnsmasq", "dnsmasq", "--no-daemon", port_arg, "--listen-address=127.0.0.1",
                "--bind-interfaces", "--no-resolv", "--no-hosts", "--conf-file=/dev/null",
                hosts_arg, "--local=/shed/", "--local-ttl=0", "--pid-file=", "--cache-size=1000",
                (char *) NULL);
        _exit (127);
    }
    return pid;
}

int
main (void)
{
    shed_log_set_level (SHED_LOG_WARN);
    s_samples = malloc (MAX_SAMPLES * sizeof (uint32_t));
    if (!s_samples)
        return 1;
    s_build_queries ("service.shed");

    dns_server_config_t cfg;
    dns_server_config_defaults (&cfg);
    cfg.addr = "127.0.0.1:0";
    dns_server_t *server = dns_server_new (&cfg);
    if (!server) {
        fprintf (stderr, "cannot start our DNS server\n");
        return 1;
    }
    uint16_t ours_port = dns_server_port (server);
    dns_zone_t *zone = s_zone (NULL);
    dns_server_set_zone (server, zone);
    dns_zone_unref (&zone);

    /* dnsmasq, if present */
    bool have_dnsmasq = system ("command -v dnsmasq >/dev/null 2>&1") == 0;
    char dir[] = "/tmp/dns_bench.XXXXXX";
    pid_t dm = -1;
    uint16_t dm_port = 0;
    if (have_dnsmasq && mkdtemp (dir)) {
        dm_port = s_free_port ();
        dm = dm_port ? s_start_dnsmasq (dir, dm_port) : -1;
        bool up = false;
        for (int i = 0; i < 40 && dm > 0 && !up; i++) {
            up = s_answer_has (dm_port, "svc1.service.shed", "127.10.0.2");
            if (!up)
                usleep (50 * 1000);
        }
        if (!up) {
            fprintf (stderr, "dnsmasq did not come up; comparing against nothing\n");
            if (dm > 0) {
                kill (dm, SIGTERM);
                waitpid (dm, NULL, 0);
            }
            dm = -1;
        }
    }
    else
        printf ("dnsmasq not installed: reference skipped\n");

    /* correctness check before timing anything */
    if (!s_answer_has (ours_port, "svc1.service.shed", "127.10.0.2")) {
        fprintf (stderr, "our server does not answer correctly\n");
        return 1;
    }

    s_load_t ours = s_load (ours_port, DURATION_S);
    printf ("ours     qps=%.0f p50_us=%u p99_us=%u answers=%llu lost=%llu bad=%llu\n", ours.qps,
            ours.p50_us, ours.p99_us, (unsigned long long) ours.answers,
            (unsigned long long) ours.lost, (unsigned long long) ours.bad);
    s_load_t ref = { 0 };
    if (dm > 0) {
        ref = s_load (dm_port, DURATION_S);
        printf ("dnsmasq  qps=%.0f p50_us=%u p99_us=%u answers=%llu lost=%llu bad=%llu\n", ref.qps,
                ref.p50_us, ref.p99_us, (unsigned long long) ref.answers,
                (unsigned long long) ref.lost, (unsigned long long) ref.bad);
        kill (dm, SIGTERM);
        waitpid (dm, NULL, 0);
    }
    if (have_dnsmasq) {
        char path[600];
        snprintf (path, sizeof path, "%s/hosts", dir);
        unlink (path);
        rmdir (dir);
    }

    /* Update visibility: publish, then query until the new address shows. */
    double worst_ms = 0;
    for (int round = 0; round < 20; round++) {
        char ip[32];
        snprintf (ip, sizeof ip, "127.99.0.%d", round + 1);
        dns_zone_t *changed = s_zone (ip);
        double t0 = s_now ();
        dns_server_set_zone (server, changed);
        dns_zone_unref (&changed);
        while (!s_answer_has (ours_port, "svc0.service.shed", ip) && s_now () - t0 < 2.0)
            ;
        double ms = (s_now () - t0) * 1e3;
        if (ms > worst_ms)
            worst_ms = ms;
    }
    printf ("update visible: worst of 20 = %.3f ms (includes one query round trip)\n", worst_ms);

    dns_server_stats_t st;
    dns_server_stats (server, &st);
    printf ("ours counters: udp=%llu noerror=%llu dropped=%llu\n",
            (unsigned long long) st.queries_udp, (unsigned long long) st.rcode_noerror,
            (unsigned long long) st.dropped);
    dns_server_destroy (&server);
    free (s_samples);
    printf ("RESULT ours_qps=%.0f dnsmasq_qps=%.0f ours_p99_us=%u dnsmasq_p99_us=%u "
            "update_visible_ms=%.3f\n",
            ours.qps, ref.qps, ours.p99_us, ref.p99_us, worst_ms);
    return 0;
}
