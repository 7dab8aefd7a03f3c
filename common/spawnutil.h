/*
 * spawnutil.h - how the daemon starts a shell command (hooks, health checks).
 *
 * The daemon blocks SIGCHLD/SIGINT/SIGTERM and ignores SIGPIPE for its own
 * loop; a child must not inherit that, or `sh -c` pipelines and timeouts
 * behave oddly. Each child also gets its own process group, so a timeout
 * can kill the whole group (the shell and what it started).
 */
#ifndef SHED_SPAWNUTIL_H
#define SHED_SPAWNUTIL_H

#include <spawn.h>

/* posix_spawnattr_init `attr` for such a child: empty signal mask, default
 * dispositions for SIGPIPE/SIGINT/SIGTERM/SIGCHLD, a new process group.
 * The caller destroys it with posix_spawnattr_destroy. */
void shed_spawnattr_child (posix_spawnattr_t *attr);

#endif
