/*
 * loop_probe.c - the timed calls of bench/loop.sh, from one process so
 * that starting a process per call (shedctl, curl) is not what is
 * measured: on a loaded machine that alone can take longer than the
 * daemon's answer.
 *
 *   loop_probe status ENDPOINT N     N status requests over the local API
 *                                    (the same call `shedctl status` makes)
 *   loop_probe metrics HOST:PORT N   N GET /metrics, a new TCP connection
 *                                    each (as a scraper does)
 *
 * Prints one line per call: its time in microseconds. Exits 1 if a call
 * failed (the failure on stderr). SIGTERM stops it after the call in
 * progress (N may be large: run until told).
 */
#include "node/api/api_client.h"

#include <arpa/inet.h>
#include <czmq.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int64_t
s_usec (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int
s_status (const char *endpoint)
{
    api_msg_t req = { .hdr.type = API_STATUS_REQ };
    api_msg_t rep;
    char err[256];
    if (shed_api_call (endpoint, &req, &rep, 20000, err, sizeof err) != 0) {
        fprintf (stderr, "status: %s\n", err);
        return -1;
    }
    wire_msg_free (&api_proto, &rep);
    return 0;
}

static int
s_metrics (const struct sockaddr_in *addr)
{
    int fd = socket (AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    struct timeval tv = { 20, 0 };
    setsockopt (fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (connect (fd, (const struct sockaddr *) addr, sizeof *addr) != 0) {
        perror ("metrics: connect");
        close (fd);
        return -1;
    }
    const char req[] = "GET /metrics HTTP/1.0\r\nHost: probe\r\n\r\n";
    if (write (fd, req, sizeof req - 1) != (ssize_t) (sizeof req - 1)) {
        close (fd);
        return -1;
    }
    char buf[65536], head[16] = "";
    ssize_t n;
    size_t total = 0;
    while ((n = read (fd, buf, sizeof buf)) > 0) {
        if (total == 0)
            memcpy (head, buf, n < 12 ? (size_t) n : 12);
        total += (size_t) n;
    }
    close (fd);
    if (strncmp (head, "HTTP/1.", 7) != 0 || strncmp (head + 9, "200", 3) != 0) {
        fprintf (stderr, "metrics: answer '%.12s' (%zu bytes)\n", head, total);
        return -1;
    }
    return 0;
}

int
main (int argc, char **argv)
{
    if (argc != 4) {
        fprintf (stderr, "usage: loop_probe status ENDPOINT N | metrics HOST:PORT N\n");
        return 2;
    }
    int n = atoi (argv[3]);
    bool status = strcmp (argv[1], "status") == 0;
    struct sockaddr_in addr = { .sin_family = AF_INET };
    if (!status) {
        char host[64];
        unsigned port = 0;
        if (sscanf (argv[2], "%63[^:]:%u", host, &port) != 2
            || inet_pton (AF_INET, host, &addr.sin_addr) != 1) {
            fprintf (stderr, "loop_probe: bad HOST:PORT %s\n", argv[2]);
            return 2;
        }
        addr.sin_port = htons ((uint16_t) port);
    }
    zsys_init ();
    int failed = 0;
    /* SIGTERM (czmq's handler) ends the run after the call in progress:
     * bench/loop.sh stops an open-ended run that way. */
    for (int i = 0; i < n && !zsys_interrupted; i++) {
        int64_t t0 = s_usec ();
        int rc = status ? s_status (argv[2]) : s_metrics (&addr);
        printf ("%lld\n", (long long) (s_usec () - t0));
        fflush (stdout);
        failed |= rc != 0;
    }
    return failed ? 1 : 0;
}
