/*
 * tc.c - tbf rate limits by exec'ing tc (see tc.h).
 */
#include "node/drivers/tc.h"
#include "node/drivers/drv_exec.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <sched.h>
#include <strings.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void
s_first_line (char *text)
{
    char *nl = strchr (text, '\n');
    if (nl)
        *nl = '\0';
}

int
tc_rate_limit (const char *tc_path, int ns_fd, const char *dev, uint64_t kbit, char *why,
               size_t why_size)
{
    char out[512] = "";
    char devname[16];
    snprintf (devname, sizeof devname, "%s", dev);
    int rc;
    if (kbit == 0) {
        char *argv[] = { "tc", "qdisc", "del", "dev", devname, "root", NULL };
        /* Failure means there was no limit: fine either way. */
        drv_exec (tc_path, ns_fd, argv, out, sizeof out);
        return 0;
    }
    /* Burst: 10 ms at the rate, at least 16 KiB so one full-size frame
     * (and GSO bursts) always passes; latency bounds the queue. */
    uint64_t burst = kbit * 1000 / 8 / 100;
    if (burst < 16384)
        burst = 16384;
    char rate[32], bursts[32];
    snprintf (rate, sizeof rate, "%llukbit", (unsigned long long) kbit);
    snprintf (bursts, sizeof bursts, "%llu", (unsigned long long) burst);
    char *argv[] = { "tc",   "qdisc", "replace", "dev",  devname,   "root", "tbf",
                     "rate", rate,    "burst",   bursts, "latency", "50ms", NULL };
    rc = drv_exec (tc_path, ns_fd, argv, out, sizeof out);
    if (rc != 0) {
        s_first_line (out);
        if (rc < 0 || rc == 127)
            snprintf (why, why_size, "tc: cannot run %s", tc_path);
        else if (rc == 126)
            snprintf (why, why_size, "tc: cannot enter the shed's network namespace");
        else
            snprintf (why, why_size, "tc: rate limit on %s: %s", dev, out);
        return -1;
    }
    return 0;
}

int
tc_show (const char *tc_path, int ns_fd, const char *dev, char *buf, size_t size)
{
    char devname[16];
    snprintf (devname, sizeof devname, "%s", dev);
    char *argv[] = { "tc", "qdisc", "show", "dev", devname, NULL };
    return drv_exec (tc_path, ns_fd, argv, buf, size) == 0 ? 0 : -1;
}

int
tc_rate_parse (const char *text, uint64_t *kbit)
{
    if (!text || !isdigit ((unsigned char) text[0]))
        return -1;
    char *end;
    errno = 0;
    double num = strtod (text, &end);
    if (errno || end == text || !isfinite (num) || num < 0)
        return -1;
    if (*end == '\0') {
        if (num != 0)
            return -1;
        *kbit = 0;
        return 0;
    }
    static const struct {
        const char *unit;
        double bits;
    } units[] = {
        { "bit", 1 }, { "kbit", 1e3 }, { "mbit", 1e6 }, { "gbit", 1e9 }, { "tbit", 1e12 },
        { "bps", 8 }, { "kbps", 8e3 }, { "mbps", 8e6 }, { "gbps", 8e9 }, { "tbps", 8e12 },
    };
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (strcasecmp (end, units[i].unit) != 0)
            continue;
        double k = ceil (num * units[i].bits / 1000.0);
        /* tc takes 64-bit rates in bytes/s; far above any link. */
        if (k > 1e15)
            return -1;
        *kbit = (uint64_t) k;
        return 0;
    }
    return -1;
}
