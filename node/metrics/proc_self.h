/*
 * proc_self.h - the standard process metrics (process_cpu_seconds_total,
 * process_resident_memory_bytes, process_virtual_memory_bytes,
 * process_open_fds, process_max_fds, process_start_time_seconds), read
 * from /proc the way the Prometheus client libraries do, so dashboards
 * made for any exporter work on shed-node (docs/metrics.md).
 */
#ifndef SHED_NODE_PROC_SELF_H
#define SHED_NODE_PROC_SELF_H

#include <stdint.h>

typedef struct {
    double cpu_seconds;        /* utime + stime */
    uint64_t resident_bytes;   /* rss x page size */
    uint64_t virtual_bytes;    /* vsize */
    double start_time_seconds; /* unix time the process started */
    int64_t open_fds;          /* -1: unknown */
    int64_t max_fds;           /* RLIMIT_NOFILE soft limit; -1: unknown or unlimited */
} shed_proc_self_t;

/* Parse the text of /proc/<pid>/stat (the comm field may hold spaces and
 * parentheses: fields are counted after its last ')'). `ticks` is
 * sysconf(_SC_CLK_TCK), `page` the page size, `btime` the boot time from
 * /proc/stat (unix seconds). Fills cpu_seconds, resident_bytes,
 * virtual_bytes and start_time_seconds. 0, or -1 if the text is not one. */
int shed_proc_stat_parse (const char *stat, long ticks, long page, uint64_t btime,
                          shed_proc_self_t *out);

/* The "btime N" line of /proc/stat's text. 0, or -1 without one. */
int shed_proc_btime_parse (const char *proc_stat, uint64_t *btime);

/* Read all of it for this process. 0, or -1 if /proc/self/stat is
 * unreadable (the caller leaves the families out). */
int shed_proc_self (shed_proc_self_t *out);

#endif
