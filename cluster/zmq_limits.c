/* zmq_limits.c - see zmq_limits.h. */
#include "cluster/zmq_limits.h"

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
