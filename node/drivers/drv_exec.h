/*
 * drv_exec.h - run a helper program (mkfs.ext4) from the threaded
 * daemon: fork + execv with an argument array (never a shell), stdin from
 * /dev/null, stdout and stderr captured. Everything the child does after
 * fork is async-signal-safe.
 */
#ifndef SHED_DRV_EXEC_H
#define SHED_DRV_EXEC_H

#include <stddef.h>

/* Run `bin` with argv, in the network namespace `ns_fd` when >= 0. Output
 * (stdout + stderr, truncated to size - 1, NUL-terminated) into out when
 * not NULL. Returns the exit status: 126 = could not enter the namespace,
 * 127 = could not exec; -1 when it could not run at all. */
int drv_exec (const char *bin, int ns_fd, char *const argv[], char *out, size_t size);

#endif
