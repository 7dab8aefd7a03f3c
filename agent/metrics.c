/*
 * metrics.c - /proc parsers and the collector (see metrics.h).
 */
#include "agent/metrics.h"
#include "agent/cgroup_metrics.h"
#include "agent/proto/agent_proto.h"
#include "agent/proto/agent_bucket.h"

#include "common/fileutil.h"

#include <assert.h>
#include <ctype.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#define S_FILE_MAX          (1u << 20) /* /proc files we read are far smaller */
#define S_CPU_WINDOW_MIN_NS (50ull * 1000 * 1000)

int
agent_parse_stat (const char *text, agent_cpu_sample_t *out)
{
    memset (out, 0, sizeof *out);
    int have_total = 0;
    for (const char *line = text; line && *line;
         line = strchr (line, '\n') ? strchr (line, '\n') + 1 : NULL) {
        if (strncmp (line, "cpu ", 4) == 0) {
            unsigned long long v[10] = { 0 };
            int n = sscanf (line + 4, "%llu %llu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0],
                            &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7], &v[8], &v[9]);
            if (n < 4)
                return -1;
            /* user nice system idle iowait irq softirq steal [guest guest_nice,
             * already inside user/nice]. Idle = idle + iowait. */
            uint64_t total = 0;
            for (int i = 0; i < n && i < 8; i++)
                total += v[i];
            out->total = total;
            out->busy = total - v[3] - (n > 4 ? v[4] : 0);
            have_total = 1;
        }
        else if (strncmp (line, "cpu", 3) == 0 && isdigit ((unsigned char) line[3]))
            out->cpus++;
        else if (strncmp (line, "btime ", 6) == 0)
            out->btime = strtoull (line + 6, NULL, 10);
    }
    return have_total ? 0 : -1;
}

int
agent_parse_meminfo (const char *text, uint64_t *used, uint64_t *total)
{
    uint64_t mem_total = 0, mem_avail = 0, mem_free = 0;
    int have_total = 0, have_avail = 0;
    for (const char *line = text; line && *line;
         line = strchr (line, '\n') ? strchr (line, '\n') + 1 : NULL) {
        unsigned long long kb;
        if (sscanf (line, "MemTotal: %llu kB", &kb) == 1) {
            mem_total = kb * 1024;
            have_total = 1;
        }
        else if (sscanf (line, "MemAvailable: %llu kB", &kb) == 1) {
            mem_avail = kb * 1024;
            have_avail = 1;
        }
        else if (sscanf (line, "MemFree: %llu kB", &kb) == 1)
            mem_free = kb * 1024;
    }
    if (!have_total)
        return -1;
    /* Old kernels lack MemAvailable: fall back to MemFree. */
    uint64_t avail = have_avail ? mem_avail : mem_free;
    *total = mem_total;
    *used = avail < mem_total ? mem_total - avail : 0;
    return 0;
}

int
agent_parse_loadavg (const char *text, double *l1, double *l5, double *l15)
{
    return sscanf (text, "%lf %lf %lf", l1, l5, l15) == 3 && *l1 >= 0 && *l5 >= 0 && *l15 >= 0 ? 0
                                                                                               : -1;
}

int
agent_parse_netdev (const char *text, agent_nic_t *nics, size_t max, size_t *n, uint64_t *rx,
                    uint64_t *tx)
{
    *n = 0;
    *rx = *tx = 0;
    int lines = 0;
    for (const char *line = text; line && *line;
         line = strchr (line, '\n') ? strchr (line, '\n') + 1 : NULL) {
        const char *colon = strchr (line, ':');
        const char *eol = strchr (line, '\n');
        if (!colon || (eol && colon > eol))
            continue; /* the two header lines */
        const char *name = line;
        while (*name == ' ')
            name++;
        size_t nlen = (size_t) (colon - name);
        if (nlen == 0 || nlen > 15)
            continue;
        unsigned long long v[9];
        if (sscanf (colon + 1, "%llu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2],
                    &v[3], &v[4], &v[5], &v[6], &v[7], &v[8])
            != 9)
            continue;
        lines++;
        bool lo = nlen == 2 && strncmp (name, "lo", 2) == 0;
        if (!lo) {
            *rx += v[0];
            *tx += v[8];
        }
        if (*n < max) {
            memset (&nics[*n], 0, sizeof nics[*n]);
            memcpy (nics[*n].name, name, nlen);
            nics[*n].rx_bytes = v[0];
            nics[*n].tx_bytes = v[8];
            (*n)++;
        }
    }
    return lines ? 0 : -1;
}

struct _agent_metrics_t {
    char root[128];
    char **mounts; /* configured mount points, or NULL */
    size_t nmounts;
    agent_cpu_sample_t prev;
    bool have_prev;
    agent_disk_t disks[AGENT_DISKS_MAX];
    agent_nic_t nics[AGENT_NICS_MAX];
    /* cgroup mode (a netns shed); cg NULL in /proc mode (a VM). */
    agent_cgroup_t *cg;
    bool container; /* own PID and mount namespaces too */
    int64_t started_mono_ms, started_wall_ms;
    uint64_t prev_cg_usage_ns, prev_cg_mono_ns;
    double last_cg_pct;
    bool have_prev_cg;
};

agent_metrics_collector_t *
agent_metrics_new (const char *proc_root, const char *const *mounts, size_t nmounts)
{
    agent_metrics_collector_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    snprintf (self->root, sizeof self->root, "%s", proc_root ? proc_root : "/proc");
    if (mounts && nmounts) {
        self->mounts = calloc (nmounts, sizeof *self->mounts);
        for (size_t i = 0; self->mounts && i < nmounts; i++)
            self->mounts[self->nmounts++] = strdup (mounts[i]);
    }
    return self;
}

void
agent_metrics_destroy (agent_metrics_collector_t **self_p)
{
    assert (self_p);
    agent_metrics_collector_t *self = *self_p;
    if (self) {
        for (size_t i = 0; i < self->nmounts; i++)
            free (self->mounts[i]);
        free (self->mounts);
        agent_cgroup_destroy (&self->cg);
        free (self);
        *self_p = NULL;
    }
}

static int
s_use (agent_metrics_collector_t *self, const char *cgroup_root, bool container)
{
    assert (self && cgroup_root);
    agent_cgroup_t *cg = container ? agent_cgroup_new_container (cgroup_root, self->root)
                                   : agent_cgroup_new (cgroup_root, self->root);
    if (!cg)
        return -1;
    agent_cgroup_destroy (&self->cg);
    self->cg = cg;
    self->container = container;
    self->have_prev_cg = false;
    self->started_mono_ms = agent_clock_mono_ms ();
    self->started_wall_ms = agent_clock_wall_ms ();
    return 0;
}

int
agent_metrics_use_cgroup (agent_metrics_collector_t *self, const char *cgroup_root)
{
    return s_use (self, cgroup_root, false);
}

int
agent_metrics_use_container (agent_metrics_collector_t *self, const char *cgroup_root)
{
    return s_use (self, cgroup_root, true);
}

static char *
s_read (agent_metrics_collector_t *self, const char *name)
{
    char path[256];
    snprintf (path, sizeof path, "%s/%s", self->root, name);
    return shed_read_file (path, S_FILE_MAX, NULL);
}

uint64_t
agent_metrics_boot_time (agent_metrics_collector_t *self)
{
    if (self->cg)
        return (uint64_t) (self->started_wall_ms / 1000);
    char *text = s_read (self, "stat");
    agent_cpu_sample_t s;
    uint64_t bt = text && agent_parse_stat (text, &s) == 0 ? s.btime : 0;
    free (text);
    return bt;
}

static void
s_disk (agent_metrics_collector_t *self, agent_metrics_t *m, const char *mount)
{
    if (m->disks.n >= AGENT_DISKS_MAX || strlen (mount) > AGENT_PATH_MAX)
        return;
    for (size_t i = 0; i < m->disks.n; i++)
        if (strcmp (self->disks[i].mount, mount) == 0)
            return;
    struct statvfs sv;
    if (statvfs (mount, &sv) != 0)
        return;
    agent_disk_t *d = &self->disks[m->disks.n++];
    memset (d, 0, sizeof *d);
    snprintf (d->mount, sizeof d->mount, "%s", mount);
    d->total = (uint64_t) sv.f_blocks * sv.f_frsize;
    d->used = (uint64_t) (sv.f_blocks - sv.f_bfree) * sv.f_frsize;
}

/* A mount point as <root>/self/mounts spells it: space, tab, newline and
 * backslash as octal escapes ("\040"). Decoded in place. */
static void
s_unescape (char *s)
{
    char *w = s;
    for (const char *r = s; *r;) {
        if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] >= '0' && r[2] <= '7' && r[3] >= '0'
            && r[3] <= '7') {
            *w++ = (char) ((r[1] - '0') * 64 + (r[2] - '0') * 8 + (r[3] - '0'));
            r += 4;
        }
        else
            *w++ = *r++;
    }
    *w = '\0';
}

/* The mount point holding our working directory: the longest mount point
 * of <root>/self/mounts that is the directory or one of its parents. 0, or
 * -1 if there is no working directory or mount table. */
static int
s_cwd_mount (agent_metrics_collector_t *self, char *out, size_t size)
{
    char cwd[4096];
    if (!getcwd (cwd, sizeof cwd) || cwd[0] != '/')
        return -1; /* none, or outside our root: "(unreachable)" */
    char *text = s_read (self, "self/mounts");
    if (!text)
        return -1;
    size_t best = 0;
    bool found = false;
    for (char *line = text; line && *line;) {
        char *eol = strchr (line, '\n');
        if (eol)
            *eol = '\0';
        char dev[256], mnt[4096];
        if (sscanf (line, "%255s %4095s", dev, mnt) == 2) {
            s_unescape (mnt);
            size_t len = strlen (mnt);
            while (len > 1 && mnt[len - 1] == '/')
                mnt[--len] = '\0';
            bool holds =
                mnt[0] == '/'
                && (len == 1 || (strncmp (cwd, mnt, len) == 0 && (cwd[len] == '/' || !cwd[len])));
            if (holds && len < size && (!found || len >= best)) {
                memcpy (out, mnt, len + 1);
                best = len;
                found = true;
            }
        }
        line = eol ? eol + 1 : NULL;
    }
    free (text);
    return found ? 0 : -1;
}

/* Count numeric entries of <root>: one per process. */
static uint64_t
s_count_procs (agent_metrics_collector_t *self)
{
    DIR *d = opendir (self->root);
    if (!d)
        return 0;
    uint64_t n = 0;
    struct dirent *e;
    while ((e = readdir (d)))
        if (isdigit ((unsigned char) e->d_name[0]))
            n++;
    closedir (d);
    return n;
}

static uint64_t
s_mono_ns (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000000000ull + (uint64_t) ts.tv_nsec;
}

/* The group's CPU % of `cpus` CPUs since the previous call; 0 the first
 * time and after the usage went down (a new group). Over a few ms (the
 * sample right after the priming one, when the host's ack comes at once)
 * the % would be mostly the agent's own start: the older base is kept and
 * the last value repeated until the window is S_CPU_WINDOW_MIN_NS long. */
static double
s_cg_cpu_pct (agent_metrics_collector_t *self, uint64_t usage_ns, double cpus)
{
    uint64_t now = s_mono_ns ();
    bool grew = self->have_prev_cg && usage_ns >= self->prev_cg_usage_ns;
    if (grew && now - self->prev_cg_mono_ns < S_CPU_WINDOW_MIN_NS)
        return self->last_cg_pct;
    double pct = grew ? agent_cgroup_cpu_pct (usage_ns - self->prev_cg_usage_ns,
                                              now - self->prev_cg_mono_ns, cpus)
                      : 0;
    self->last_cg_pct = pct;
    self->prev_cg_usage_ns = usage_ns;
    self->prev_cg_mono_ns = now;
    self->have_prev_cg = true;
    return pct;
}

/* Replace the host's values in `m` by the shed's own where its cgroup
 * gives them (see metrics.h). `host_cpus` and m->mem_total come from /proc
 * (0 if unknown). Returns true if the process count was set. */
static bool
s_cgroup (agent_metrics_collector_t *self, agent_metrics_t *m, uint64_t host_cpus)
{
    int64_t up_ms = agent_clock_mono_ms () - self->started_mono_ms;
    m->uptime_s = up_ms > 0 ? (uint64_t) up_ms / 1000 : 0;
    agent_cgroup_sample_t cs;
    if (agent_cgroup_read (self->cg, &cs) != 0) {
        self->have_prev_cg = false;
        return false;
    }
    if (cs.have_mem) {
        /* A limit above the host's memory limits nothing. */
        uint64_t host = m->mem_total;
        m->mem_used = cs.mem_used;
        m->mem_total = cs.have_mem_limit && (!host || cs.mem_limit < host) ? cs.mem_limit : host;
    }
    if (cs.have_cpu) {
        double cpus = cs.cpu_quota > 0 ? cs.cpu_quota : (double) (host_cpus ? host_cpus : 1);
        if (host_cpus && cpus > (double) host_cpus)
            cpus = (double) host_cpus; /* a quota cannot buy CPUs the host lacks */
        uint64_t count = (uint64_t) cpus;
        if ((double) count < cpus)
            count++;
        m->cpu_count = count < 1 ? 1 : count > 4096 ? 4096 : count;
        m->cpu_pct = s_cg_cpu_pct (self, cs.cpu_usage_ns, cpus);
    }
    else
        self->have_prev_cg = false;
    if (cs.have_procs)
        m->procs = cs.procs;
    return cs.have_procs;
}

int
agent_metrics_collect (agent_metrics_collector_t *self, agent_msg_t *out)
{
    assert (self);
    memset (out, 0, sizeof *out);
    out->hdr.type = AGENT_METRICS;
    agent_metrics_t *m = &out->u.agent_metrics;
    m->ts_ms = (uint64_t) agent_clock_wall_ms ();
    m->disks.items = self->disks;
    m->nics.items = self->nics;

    char *text = s_read (self, "stat");
    agent_cpu_sample_t cur;
    uint64_t host_cpus = 0;
    if (text && agent_parse_stat (text, &cur) == 0) {
        host_cpus = cur.cpus;
        m->cpu_count = cur.cpus > 4096 ? 4096 : cur.cpus;
        if (self->have_prev && cur.total > self->prev.total && cur.busy >= self->prev.busy) {
            double pct = 100.0 * (double) (cur.busy - self->prev.busy)
                         / (double) (cur.total - self->prev.total);
            m->cpu_pct = pct > 100 ? 100 : pct;
        }
        if (cur.btime) {
            int64_t up = agent_clock_wall_ms () / 1000 - (int64_t) cur.btime;
            m->uptime_s = up > 0 ? (uint64_t) up : 0;
        }
        self->prev = cur;
        self->have_prev = true;
    }
    free (text);

    text = s_read (self, "meminfo");
    if (text)
        agent_parse_meminfo (text, &m->mem_used, &m->mem_total);
    free (text);
    text = s_read (self, "loadavg");
    if (!text || agent_parse_loadavg (text, &m->load1, &m->load5, &m->load15) != 0)
        m->load1 = m->load5 = m->load15 = 0;
    free (text);
    text = s_read (self, "net/dev");
    if (text)
        agent_parse_netdev (text, self->nics, AGENT_NICS_MAX, &m->nics.n, &m->net_rx, &m->net_tx);
    free (text);
    /* In cgroup mode the host's process count is only the fallback: do not
     * walk the host's /proc each interval when the group answers. In a
     * container /proc is the shed's own PID namespace: every process of
     * the shed, also those in subgroups its group's cgroup.procs omits. */
    if (!self->cg || !s_cgroup (self, m, host_cpus) || self->container)
        m->procs = s_count_procs (self);

    if (self->nmounts)
        for (size_t i = 0; i < self->nmounts; i++)
            s_disk (self, m, self->mounts[i]);
    else if (self->container)
        /* The shed's own root (its disk); its other mounts are the
         * runtime's binds of host files (resolv.conf, the agent) that
         * would report the host's disk. */
        s_disk (self, m, "/");
    else if (self->cg) {
        /* A netns shed sees the host's mounts: its disks are "/" and the
         * mount holding its directory (our working directory). */
        s_disk (self, m, "/");
        char mnt[AGENT_PATH_MAX + 1];
        if (s_cwd_mount (self, mnt, sizeof mnt) == 0 && strcmp (mnt, "/") != 0)
            s_disk (self, m, mnt);
    }
    else {
        s_disk (self, m, "/");
        text = s_read (self, "self/mounts");
        for (char *line = text; line && *line;) {
            char *eol = strchr (line, '\n');
            if (eol)
                *eol = '\0';
            char dev[256], mnt[256];
            if (sscanf (line, "%255s %255s", dev, mnt) == 2 && strncmp (dev, "/dev/", 5) == 0)
                s_disk (self, m, mnt);
            line = eol ? eol + 1 : NULL;
        }
        free (text);
    }
    return 0;
}
