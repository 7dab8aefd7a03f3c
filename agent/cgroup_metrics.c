/*
 * cgroup_metrics.c - cgroup v1/v2 parsers and the shed's group reader (see
 * cgroup_metrics.h).
 */
#include "agent/cgroup_metrics.h"

#include "common/fileutil.h"
#include "common/log.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define S_COMP         "agent"
#define S_FILE_MAX     (1u << 20) /* control files are tiny; cgroup.procs of a big shed is not */
#define S_PATH_MAX     512
/* v1 reports "no limit" as LONG_MAX rounded down to a page (0x7ffffffffffff000
 * on x86-64, other values with other page sizes): no real limit is this big. */
#define S_V1_UNLIMITED (1ull << 62)

/* Next line of a text, NULL at the end. */
static const char *
s_next_line (const char *line)
{
    const char *eol = strchr (line, '\n');
    return eol && eol[1] ? eol + 1 : NULL;
}

/* Strict unsigned decimal: digits, then only blanks up to the end of the
 * line. strtoull alone would take "-1" (as a huge value) and "12abc". */
static int
s_u64 (const char *text, uint64_t *out, const char **end_out)
{
    while (*text == ' ' || *text == '\t')
        text++;
    if (!isdigit ((unsigned char) *text))
        return -1;
    errno = 0;
    char *end = NULL;
    unsigned long long v = strtoull (text, &end, 10);
    if (errno == ERANGE)
        return -1;
    if (end_out)
        *end_out = end;
    *out = v;
    return 0;
}

static bool
s_rest_blank (const char *p)
{
    while (*p == ' ' || *p == '\t' || *p == '\r')
        p++;
    return *p == '\0' || *p == '\n';
}

int
agent_cgroup_parse_u64 (const char *text, uint64_t *out)
{
    const char *end;
    uint64_t v;
    if (!text || s_u64 (text, &v, &end) != 0 || !s_rest_blank (end))
        return -1;
    *out = v;
    return 0;
}

int
agent_cgroup_parse_limit (const char *text, uint64_t *out, bool *unlimited)
{
    if (!text)
        return -1;
    const char *p = text;
    while (*p == ' ' || *p == '\t')
        p++;
    if (strncmp (p, "max", 3) == 0 && s_rest_blank (p + 3)) {
        *out = 0;
        *unlimited = true;
        return 0;
    }
    uint64_t v;
    if (agent_cgroup_parse_u64 (text, &v) != 0)
        return -1;
    *unlimited = v >= S_V1_UNLIMITED;
    *out = *unlimited ? 0 : v;
    return 0;
}

int
agent_cgroup_parse_key (const char *text, const char *key, uint64_t *out)
{
    if (!text || !key || !*key)
        return -1;
    size_t klen = strlen (key);
    for (const char *line = text; line && *line; line = s_next_line (line)) {
        if (strncmp (line, key, klen) != 0 || (line[klen] != ' ' && line[klen] != '\t'))
            continue;
        const char *end;
        uint64_t v;
        if (s_u64 (line + klen, &v, &end) == 0 && s_rest_blank (end)) {
            *out = v;
            return 0;
        }
        return -1; /* the key is there, its value is garbage */
    }
    return -1;
}

int
agent_cgroup_parse_cpu_max (const char *text, double *cpus)
{
    if (!text)
        return -1;
    const char *p = text;
    while (*p == ' ')
        p++;
    uint64_t quota = 0, period;
    const char *end;
    bool none = strncmp (p, "max", 3) == 0 && (p[3] == ' ' || p[3] == '\t');
    if (none)
        end = p + 3;
    else if (s_u64 (p, &quota, &end) != 0)
        return -1;
    if (s_u64 (end, &period, &end) != 0 || !s_rest_blank (end) || period == 0)
        return -1;
    *cpus = none ? 0 : (double) quota / (double) period;
    return 0;
}

int
agent_cgroup_parse_cfs (const char *quota, const char *period, double *cpus)
{
    if (!quota || !period)
        return -1;
    uint64_t per;
    if (agent_cgroup_parse_u64 (period, &per) != 0 || per == 0)
        return -1;
    const char *q = quota;
    while (*q == ' ')
        q++;
    if (strncmp (q, "-1", 2) == 0 && s_rest_blank (q + 2)) {
        *cpus = 0;
        return 0;
    }
    uint64_t v;
    if (agent_cgroup_parse_u64 (q, &v) != 0)
        return -1;
    *cpus = (double) v / (double) per;
    return 0;
}

uint64_t
agent_cgroup_count_procs (const char *text)
{
    uint64_t n = 0;
    for (const char *line = text; line && *line; line = s_next_line (line)) {
        uint64_t pid;
        const char *end;
        if (s_u64 (line, &pid, &end) == 0 && pid > 0 && s_rest_blank (end))
            n++;
    }
    return n;
}

/* Does the comma list `list` (up to `len` bytes) name `name`? */
static bool
s_list_has (const char *list, size_t len, const char *name)
{
    size_t nlen = strlen (name);
    const char *p = list, *end = list + len;
    while (p < end) {
        const char *comma = memchr (p, ',', (size_t) (end - p));
        const char *item_end = comma ? comma : end;
        if ((size_t) (item_end - p) == nlen && strncmp (p, name, nlen) == 0)
            return true;
        p = item_end + 1;
    }
    return false;
}

int
agent_cgroup_parse_self (const char *text, const char *controller, char *ctrls, size_t ctrls_size,
                         char *path, size_t path_size)
{
    if (!text)
        return -1;
    for (const char *line = text; line && *line; line = s_next_line (line)) {
        const char *eol = strchr (line, '\n');
        size_t len = eol ? (size_t) (eol - line) : strlen (line);
        /* "ID:CONTROLLERS:PATH"; the path may itself hold ':'. */
        const char *c1 = memchr (line, ':', len);
        if (!c1)
            continue;
        const char *c2 = memchr (c1 + 1, ':', len - (size_t) (c1 + 1 - line));
        if (!c2)
            continue;
        const char *list = c1 + 1;
        size_t list_len = (size_t) (c2 - list);
        bool v2_line = list_len == 0 && c1 - line == 1 && line[0] == '0';
        if (controller ? !s_list_has (list, list_len, controller) : !v2_line)
            continue;
        const char *p = c2 + 1;
        size_t plen = len - (size_t) (p - line);
        if (plen == 0 || p[0] != '/' || plen >= path_size || list_len >= ctrls_size)
            return -1;
        memcpy (path, p, plen);
        path[plen] = '\0';
        /* The kernel never writes "..", a test tree or a bad file could. */
        if (strstr (path, "/../") || (plen >= 3 && strcmp (path + plen - 3, "/..") == 0))
            return -1;
        memcpy (ctrls, list, list_len);
        ctrls[list_len] = '\0';
        return 0;
    }
    return -1;
}

double
agent_cgroup_cpu_pct (uint64_t usage_ns, uint64_t wall_ns, double cpus)
{
    if (usage_ns == 0 || wall_ns == 0 || !(cpus > 0))
        return 0;
    double pct = 100.0 * (double) usage_ns / ((double) wall_ns * cpus);
    return pct > 100 ? 100 : pct;
}

/* ---- the reader --------------------------------------------------------- */

/* The groups we read, by what we need of them. In v2 all are the same. */
enum { S_MEM, S_CPUACCT, S_CPU, S_PIDS, S_ROLES };
static const char *s_v1_ctrl[S_ROLES] = { "memory", "cpuacct", "cpu", "pids" };

/* Files we warn about once each when they fail. */
enum {
    S_F_MEM_USAGE,
    S_F_MEM_STAT,
    S_F_MEM_LIMIT,
    S_F_CPU_USAGE,
    S_F_CPU_QUOTA,
    S_F_PROCS,
    S_FILES
};

struct _agent_cgroup_t {
    char root[S_PATH_MAX];
    char proc_root[S_PATH_MAX];
    bool container;                /* the root is the shed's own group */
    int version;                   /* 0 until found */
    char dir[S_ROLES][S_PATH_MAX]; /* "" = not found */
    uint64_t errors;
    unsigned warned; /* bit per S_F_* */
    bool warned_none;
};

agent_cgroup_t *
agent_cgroup_new (const char *root, const char *proc_root)
{
    assert (root);
    agent_cgroup_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    snprintf (self->root, sizeof self->root, "%s", root);
    snprintf (self->proc_root, sizeof self->proc_root, "%s", proc_root ? proc_root : "/proc");
    return self;
}

agent_cgroup_t *
agent_cgroup_new_container (const char *root, const char *proc_root)
{
    agent_cgroup_t *self = agent_cgroup_new (root, proc_root);
    if (self)
        self->container = true;
    return self;
}

void
agent_cgroup_destroy (agent_cgroup_t **self_p)
{
    assert (self_p);
    free (*self_p);
    *self_p = NULL;
}

int
agent_cgroup_version (const agent_cgroup_t *self)
{
    assert (self);
    return self->version;
}

uint64_t
agent_cgroup_errors (const agent_cgroup_t *self)
{
    assert (self);
    return self->errors;
}

static bool
s_is_dir (const char *path)
{
    struct stat st;
    return stat (path, &st) == 0 && S_ISDIR (st.st_mode);
}

/* <root>/<sub>/<path>, or <root><path> when sub is empty; false if it does
 * not fit or is not a directory. */
static bool
s_try_dir (const agent_cgroup_t *self, const char *sub, size_t sub_len, const char *path, char *out)
{
    int n = sub_len ? snprintf (out, S_PATH_MAX, "%s/%.*s%s", self->root, (int) sub_len, sub, path)
                    : snprintf (out, S_PATH_MAX, "%s%s", self->root, path);
    if (n < 0 || n >= S_PATH_MAX || !s_is_dir (out)) {
        out[0] = '\0';
        return false;
    }
    return true;
}

/* Container mode: the groups are the mount roots (see cgroup_metrics.h).
 * v1: <root>/<controller> (runc mounts each hierarchy there, and links
 * each controller's name to a shared one like "cpu,cpuacct"), else the
 * hierarchy named by <proc>/self/cgroup's controller list, whole or item
 * by item. The paths in self/cgroup are not used: in a cgroup namespace
 * they are "/", and without one they are the host's. */
static int
s_resolve_container (agent_cgroup_t *self, int version)
{
    char file[S_PATH_MAX + 16];
    snprintf (file, sizeof file, "%s/self/cgroup", self->proc_root);
    char *text = version == 1 ? shed_read_file (file, S_FILE_MAX, NULL) : NULL;
    char ctrls[256], path[S_PATH_MAX];
    bool found = false;
    for (int r = 0; r < S_ROLES; r++) {
        char *dir = self->dir[r];
        dir[0] = '\0';
        if (version == 2)
            s_try_dir (self, "", 0, "", dir);
        else if (!s_try_dir (self, s_v1_ctrl[r], strlen (s_v1_ctrl[r]), "", dir)
                 && agent_cgroup_parse_self (text, s_v1_ctrl[r], ctrls, sizeof ctrls, path,
                                             sizeof path)
                        == 0
                 && !s_try_dir (self, ctrls, strlen (ctrls), "", dir))
            for (const char *p = ctrls; *p && !dir[0];) {
                size_t n = strcspn (p, ",");
                s_try_dir (self, p, n, "", dir);
                p += n + (p[n] == ',');
            }
        found |= dir[0] != '\0';
    }
    free (text);
    if (!found)
        return -1;
    self->version = version;
    return 0;
}

/* Find the group dirs from <proc>/self/cgroup. A group at "/" is the host's
 * root, not a shed: not used. */
static int
s_resolve (agent_cgroup_t *self)
{
    char probe[S_PATH_MAX + 32];
    snprintf (probe, sizeof probe, "%s/cgroup.controllers", self->root);
    struct stat st;
    int version = stat (probe, &st) == 0 ? 2 : 1;
    if (self->container)
        return s_resolve_container (self, version);
    char file[S_PATH_MAX + 16];
    snprintf (file, sizeof file, "%s/self/cgroup", self->proc_root);
    char *text = shed_read_file (file, S_FILE_MAX, NULL);
    if (!text)
        return -1;
    char ctrls[256], path[S_PATH_MAX];
    bool found = false;
    for (int r = 0; r < S_ROLES; r++) {
        char *dir = self->dir[r];
        dir[0] = '\0';
        if (agent_cgroup_parse_self (text, version == 2 ? NULL : s_v1_ctrl[r], ctrls, sizeof ctrls,
                                     path, sizeof path)
                != 0
            || strcmp (path, "/") == 0)
            continue;
        if (version == 2)
            s_try_dir (self, "", 0, path, dir);
        /* v1: the hierarchy's directory is named after its controllers as
         * mounted ("cpu,cpuacct"); distributions add one symlink per
         * controller ("cpu", "cpuacct"); a tree may have either. Our own
         * controller's name first, then the others of the list. */
        else if (!s_try_dir (self, ctrls, strlen (ctrls), path, dir)
                 && !s_try_dir (self, s_v1_ctrl[r], strlen (s_v1_ctrl[r]), path, dir))
            for (const char *p = ctrls; *p && !dir[0];) {
                size_t n = strcspn (p, ",");
                s_try_dir (self, p, n, path, dir);
                p += n + (p[n] == ',');
            }
        found |= dir[0] != '\0';
    }
    free (text);
    if (!found)
        return -1;
    self->version = version;
    return 0;
}

static void
s_error (agent_cgroup_t *self, int file, const char *dir, const char *name)
{
    self->errors++;
    if (!(self->warned & (1u << file))) {
        self->warned |= 1u << file;
        log_warn (S_COMP, "cgroup file missing or unreadable, using /proc for it|file=%s/%s", dir,
                  name);
    }
}

/* The text of <dir>/<name>; NULL (an error counted) when it cannot be read. */
static char *
s_read (agent_cgroup_t *self, int role, int file, const char *name)
{
    const char *dir = self->dir[role];
    if (!dir[0])
        return NULL;
    char path[S_PATH_MAX + 64];
    snprintf (path, sizeof path, "%s/%s", dir, name);
    char *text = shed_read_file (path, S_FILE_MAX, NULL);
    if (!text)
        s_error (self, file, dir, name);
    return text;
}

static void
s_read_memory (agent_cgroup_t *self, agent_cgroup_sample_t *out)
{
    bool v2 = self->version == 2;
    char *text =
        s_read (self, S_MEM, S_F_MEM_USAGE, v2 ? "memory.current" : "memory.usage_in_bytes");
    uint64_t usage = 0;
    if (text && agent_cgroup_parse_u64 (text, &usage) == 0)
        out->have_mem = true;
    else if (text)
        s_error (self, S_F_MEM_USAGE, self->dir[S_MEM], "memory usage");
    free (text);
    if (out->have_mem) {
        /* Page cache the kernel can drop at once is not the shed's working
         * set (what docker stats and kubectl top report). Without memory.stat
         * the raw usage is still better than the host's numbers. */
        uint64_t inactive = 0;
        text = s_read (self, S_MEM, S_F_MEM_STAT, "memory.stat");
        if (text
            && agent_cgroup_parse_key (text, v2 ? "inactive_file" : "total_inactive_file",
                                       &inactive)
                   != 0) {
            s_error (self, S_F_MEM_STAT, self->dir[S_MEM], "memory.stat");
            inactive = 0;
        }
        free (text);
        out->mem_used = inactive < usage ? usage - inactive : 0;
    }
    text = s_read (self, S_MEM, S_F_MEM_LIMIT, v2 ? "memory.max" : "memory.limit_in_bytes");
    bool unlimited = false;
    uint64_t limit = 0;
    if (text && agent_cgroup_parse_limit (text, &limit, &unlimited) == 0)
        out->have_mem_limit = !unlimited && limit > 0;
    else if (text)
        s_error (self, S_F_MEM_LIMIT, self->dir[S_MEM], "memory limit");
    out->mem_limit = out->have_mem_limit ? limit : 0;
    free (text);
}

static void
s_read_cpu (agent_cgroup_t *self, agent_cgroup_sample_t *out)
{
    uint64_t v = 0;
    char *text;
    if (self->version == 2) {
        text = s_read (self, S_CPU, S_F_CPU_USAGE, "cpu.stat");
        if (text && agent_cgroup_parse_key (text, "usage_usec", &v) == 0 && v < UINT64_MAX / 1000) {
            out->have_cpu = true;
            out->cpu_usage_ns = v * 1000;
        }
        else if (text)
            s_error (self, S_F_CPU_USAGE, self->dir[S_CPU], "cpu.stat");
        free (text);
        text = s_read (self, S_CPU, S_F_CPU_QUOTA, "cpu.max");
        if (text && agent_cgroup_parse_cpu_max (text, &out->cpu_quota) != 0) {
            s_error (self, S_F_CPU_QUOTA, self->dir[S_CPU], "cpu.max");
            out->cpu_quota = 0;
        }
        free (text);
        return;
    }
    text = s_read (self, S_CPUACCT, S_F_CPU_USAGE, "cpuacct.usage");
    if (text && agent_cgroup_parse_u64 (text, &v) == 0) {
        out->have_cpu = true;
        out->cpu_usage_ns = v;
    }
    else if (text)
        s_error (self, S_F_CPU_USAGE, self->dir[S_CPUACCT], "cpuacct.usage");
    free (text);
    text = s_read (self, S_CPU, S_F_CPU_QUOTA, "cpu.cfs_quota_us");
    char *period = s_read (self, S_CPU, S_F_CPU_QUOTA, "cpu.cfs_period_us");
    if (text && period && agent_cgroup_parse_cfs (text, period, &out->cpu_quota) != 0) {
        s_error (self, S_F_CPU_QUOTA, self->dir[S_CPU], "cpu.cfs_*");
        out->cpu_quota = 0;
    }
    free (text);
    free (period);
}

static void
s_read_procs (agent_cgroup_t *self, agent_cgroup_sample_t *out)
{
    /* Any of the shed's groups holds all its processes; prefer pids. The
     * pids are those of the reader's PID namespace: the shed's own. */
    static const int order[] = { S_PIDS, S_MEM, S_CPU, S_CPUACCT };
    for (size_t i = 0; i < sizeof order / sizeof order[0]; i++) {
        if (!self->dir[order[i]][0])
            continue;
        char *text = s_read (self, order[i], S_F_PROCS, "cgroup.procs");
        if (text) {
            out->procs = agent_cgroup_count_procs (text);
            out->have_procs = true;
            free (text);
            return;
        }
    }
}

int
agent_cgroup_read (agent_cgroup_t *self, agent_cgroup_sample_t *out)
{
    assert (self);
    memset (out, 0, sizeof *out);
    if (!self->version && s_resolve (self) != 0) {
        if (!self->warned_none) {
            self->warned_none = true;
            log_warn (S_COMP,
                      "no cgroup of this process under the cgroup root, metrics "
                      "from /proc|root=%s",
                      self->root);
        }
        return -1;
    }
    s_read_memory (self, out);
    s_read_cpu (self, out);
    s_read_procs (self, out);
    return 0;
}
