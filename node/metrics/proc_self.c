/* proc_self.c - see proc_self.h. */
#include "node/metrics/proc_self.h"

#include "cluster/zmq_limits.h"
#include "common/fileutil.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

int
shed_proc_stat_parse (const char *stat, long ticks, long page, uint64_t btime,
                      shed_proc_self_t *out)
{
    const char *p = stat ? strrchr (stat, ')') : NULL;
    if (!p || ticks <= 0 || page <= 0)
        return -1;
    p++;
    /* After comm: field 3 (state) is the first; we want 14 utime, 15
     * stime, 22 starttime, 23 vsize, 24 rss (proc(5), 1-based). */
    unsigned long long f[25] = { 0 };
    int field = 3;
    while (field <= 24) {
        while (*p == ' ')
            p++;
        if (!*p || *p == '\n')
            return -1;
        if (field == 3) {
            p++; /* the state letter */
        }
        else {
            char *end = NULL;
            errno = 0;
            /* strtoll: some fields are signed (priority, nice); we read
             * only unsigned ones but must step over the others. */
            long long v = strtoll (p, &end, 10);
            if (end == p || errno)
                return -1;
            f[field] = v < 0 ? 0 : (unsigned long long) v;
            p = end;
        }
        if (*p && *p != ' ' && *p != '\n')
            return -1;
        field++;
    }
    out->cpu_seconds = (double) (f[14] + f[15]) / (double) ticks;
    out->start_time_seconds = (double) btime + (double) f[22] / (double) ticks;
    out->virtual_bytes = f[23];
    out->resident_bytes = f[24] * (uint64_t) page;
    return 0;
}

int
shed_proc_btime_parse (const char *proc_stat, uint64_t *btime)
{
    for (const char *p = proc_stat; p && *p; p = strchr (p, '\n') ? strchr (p, '\n') + 1 : NULL) {
        if (strncmp (p, "btime ", 6) == 0) {
            char *end = NULL;
            unsigned long long v = strtoull (p + 6, &end, 10);
            if (end == p + 6)
                return -1;
            *btime = v;
            return 0;
        }
    }
    return -1;
}

int
shed_proc_self (shed_proc_self_t *out)
{
    memset (out, 0, sizeof *out);
    char *stat = shed_read_file ("/proc/self/stat", 4096, NULL);
    /* /proc/stat grows with the CPUs (a line each): 1 MiB is thousands. */
    char *all = shed_read_file ("/proc/stat", 1 << 20, NULL);
    uint64_t btime = 0;
    int rc = stat && all && shed_proc_btime_parse (all, &btime) == 0
                     && shed_proc_stat_parse (stat, sysconf (_SC_CLK_TCK), sysconf (_SC_PAGESIZE),
                                              btime, out)
                            == 0
                 ? 0
                 : -1;
    free (stat);
    free (all);
    out->open_fds = shed_proc_fds ();
    struct rlimit rl;
    out->max_fds = getrlimit (RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY
                       ? (int64_t) rl.rlim_cur
                       : -1;
    return rc;
}
