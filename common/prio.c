/* common/prio.c: start-up at a lower CPU priority (prio.h says why). */
#include "common/prio.h"

#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#define S_CAP_SYS_NICE 23 /* linux/capability.h */
#define S_NICE_MAX     19

static bool
s_has_cap_sys_nice (void)
{
    FILE *f = fopen ("/proc/self/status", "r");
    if (!f)
        return false;
    char line[256];
    bool has = false;
    while (fgets (line, sizeof line, f)) {
        if (strncmp (line, "CapEff:", 7) == 0) {
            uint64_t eff = strtoull (line + 7, NULL, 16);
            has = (eff >> S_CAP_SYS_NICE) & 1u;
            break;
        }
    }
    fclose (f);
    return has;
}

bool
shed_prio_can_raise_to (int nice)
{
    if (s_has_cap_sys_nice ())
        return true;
    /* Unprivileged, a thread may go down to nice 20 - RLIMIT_NICE. */
    struct rlimit rl;
    if (getrlimit (RLIMIT_NICE, &rl) != 0)
        return false;
    if (rl.rlim_cur == RLIM_INFINITY)
        return true;
    return 20 - (long) rl.rlim_cur <= nice;
}

static pid_t
s_gettid (void)
{
    return (pid_t) syscall (SYS_gettid);
}

void
shed_prio_startup_begin (shed_prio_startup_t *s, int delta)
{
    memset (s, 0, sizeof *s);
    errno = 0;
    int base = getpriority (PRIO_PROCESS, (id_t) s_gettid ());
    if (base == -1 && errno != 0)
        return;
    int lowered = base + delta;
    if (lowered > S_NICE_MAX)
        lowered = S_NICE_MAX;
    if (delta <= 0 || lowered <= base || !shed_prio_can_raise_to (base))
        return;
    if (setpriority (PRIO_PROCESS, (id_t) s_gettid (), lowered) != 0)
        return;
    s->base = base;
    s->lowered = lowered;
    s->active = true;
}

int
shed_prio_startup_end (shed_prio_startup_t *s)
{
    if (!s->active)
        return 0;
    s->active = false;
    DIR *dir = opendir ("/proc/self/task");
    if (!dir) {
        /* No /proc: at least the calling thread goes back. */
        return setpriority (PRIO_PROCESS, (id_t) s_gettid (), s->base) == 0 ? 1 : 0;
    }
    int n = 0;
    struct dirent *de;
    while ((de = readdir (dir))) {
        char *end;
        long tid = strtol (de->d_name, &end, 10);
        if (de->d_name[0] == '.' || *end || tid <= 0)
            continue;
        errno = 0;
        int nice = getpriority (PRIO_PROCESS, (id_t) tid);
        if (errno != 0 || nice != s->lowered)
            continue; /* gone, or a thread with a priority of its own */
        if (setpriority (PRIO_PROCESS, (id_t) tid, s->base) == 0)
            n++;
    }
    closedir (dir);
    return n;
}
