/*
 * startup_probe.c - LD_PRELOAD probe for bench/startup.sh: when shed-node
 * binds its gossip UDP port (the membership actor is about to listen,
 * "membership started"), append the process's CPU time so far (every
 * thread, user + system, from the exec on: getrusage) in ms to the file
 * $STARTUP_PROBE_OUT and exit. No change to the binary under test, so an
 * older build is measured the same way.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

int
bind (int fd, const struct sockaddr *sa, socklen_t len)
{
    static int (*real) (int, const struct sockaddr *, socklen_t);
    if (!real)
        real = (int (*) (int, const struct sockaddr *, socklen_t)) dlsym (RTLD_NEXT, "bind");
    const char *port = getenv ("STARTUP_PROBE_PORT");
    if (sa && sa->sa_family == AF_INET && port
        && ntohs (((const struct sockaddr_in *) sa)->sin_port) == (unsigned) atoi (port)) {
        struct rusage ru;
        getrusage (RUSAGE_SELF, &ru);
        double ms = (double) (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3
                    + (double) (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
        const char *out = getenv ("STARTUP_PROBE_OUT");
        FILE *f = out ? fopen (out, "a") : NULL;
        if (f) {
            fprintf (f, "%.3f\n", ms);
            fclose (f);
        }
        _exit (0);
    }
    return real (fd, sa, len);
}
