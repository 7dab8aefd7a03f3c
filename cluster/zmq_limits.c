/* zmq_limits.c - see zmq_limits.h. */
#include "cluster/zmq_limits.h"

#include <dirent.h>
#include <sys/resource.h>

int
shed_zmq_limit_network (zsock_t *sock, int64_t maxmsg)
{
    if (!sock)
        return -1;
    void *h = zsock_resolve (sock);
    int handshake = SHED_ZMQ_HANDSHAKE_MS;
    if (zmq_setsockopt (h, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg)
        || zmq_setsockopt (h, ZMQ_HANDSHAKE_IVL, &handshake, sizeof handshake))
        return -1;
    return 0;
}

int
shed_zmq_ipv6_for (void *handle, const char *endpoint)
{
    /* Only a bracketed host is IPv6 in our endpoints (peer_endpoint,
     * the D_LISTEN keys); anything else keeps libzmq's IPv4 default. */
    const char *host = endpoint ? strstr (endpoint, "://") : NULL;
    int on = host && host[3] == '[';
    return zmq_setsockopt (handle, ZMQ_IPV6, &on, sizeof on);
}

size_t
shed_zmq_raise_limits (void)
{
    struct rlimit rl;
    size_t fds = 1024;
    if (getrlimit (RLIMIT_NOFILE, &rl) == 0) {
        if (rl.rlim_cur < rl.rlim_max) {
            struct rlimit want = { rl.rlim_max, rl.rlim_max };
            if (setrlimit (RLIMIT_NOFILE, &want) == 0)
                rl.rlim_cur = rl.rlim_max;
        }
        fds = rl.rlim_cur == RLIM_INFINITY ? (size_t) 1 << 20 : (size_t) rl.rlim_cur;
    }
    /* A socket needs an fd for its mailbox and more for its connections:
     * leave the other half of the fds to them and to everything else. */
    size_t max = fds / 2 < SHED_ZMQ_MAX_SOCKETS ? fds / 2 : SHED_ZMQ_MAX_SOCKETS;
    if (max < 1024)
        max = 1024;
    zsys_set_max_sockets (max);
    return max;
}

int
shed_proc_fds (void)
{
    DIR *dir = opendir ("/proc/self/fd");
    if (!dir)
        return -1;
    int n = 0;
    struct dirent *ent;
    while ((ent = readdir (dir)) != NULL)
        if (ent->d_name[0] != '.')
            n++;
    closedir (dir);
    return n - 1; /* the one opendir holds */
}
