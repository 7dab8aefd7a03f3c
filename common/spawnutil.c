/* spawnutil.c - see spawnutil.h. */
#include "common/spawnutil.h"

#include <signal.h>

void
shed_spawnattr_child (posix_spawnattr_t *attr)
{
    posix_spawnattr_init (attr);
    sigset_t none, dflt;
    sigemptyset (&none);
    sigemptyset (&dflt);
    sigaddset (&dflt, SIGPIPE);
    sigaddset (&dflt, SIGINT);
    sigaddset (&dflt, SIGTERM);
    sigaddset (&dflt, SIGCHLD);
    posix_spawnattr_setsigmask (attr, &none);
    posix_spawnattr_setsigdefault (attr, &dflt);
    posix_spawnattr_setpgroup (attr, 0);
    posix_spawnattr_setflags (attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK
                                        | POSIX_SPAWN_SETSIGDEF);
}
