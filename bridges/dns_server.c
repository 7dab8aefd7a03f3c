/* dns_server.c - see dns_server.h.
 *
 * One actor thread: zmq_poll over the actor pipe, the UDP socket, the TCP
 * listener and the open TCP connections. UDP is read and answered in
 * batches (recvmmsg/sendmmsg), which is where the throughput comes from:
 * one poll wakeup serves up to S_BATCH queries with two system calls.
 *
 * Zone publication: writers swap a new snapshot into `pending` with an
 * atomic exchange; the actor exchanges it out after it has received input
 * and before it answers that input. Because the actor looks only after a
 * read, a query sent after dns_server_set_zone() returned is always answered
 * from the new zone (or a newer one). A zone parked in `pending` is owned by
 * the slot, so a writer that replaces it may free it: the actor never saw
 * it. The actor alone frees the zone it serves from. */
#include "bridges/dns_server.h"
#include "bridges/dns_ratelimit.h"
#include "bridges/dns_resolve.h"
#include "bridges/dns_tcp.h"
#include "common/log.h"

#include <arpa/inet.h>
#include <assert.h>
#include <czmq.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define S_BATCH        32           /* datagrams per recvmmsg */
#define S_UDP_IN_MAX   DNS_UDP_MAX  /* bigger queries are dropped: nobody needs them */
#define S_TCP_OUT_HIGH (256 * 1024) /* stop reading a connection that does not read us */
#define S_BIND_TRIES   16           /* ephemeral port: UDP and TCP must agree */
#define S_RATE_SLOTS   4096         /* sources tracked by the rate limiter */

/* Counter slots; one atomic each so readers on other threads see whole values. */
enum {
    C_QUERIES_UDP,
    C_QUERIES_TCP,
    C_NOERROR,
    C_FORMERR,
    C_SERVFAIL,
    C_NXDOMAIN,
    C_NOTIMP,
    C_REFUSED,
    C_OTHER,
    C_TRUNCATED,
    C_DROPPED,
    C_TCP_ACCEPTED,
    C_TCP_REJECTED,
    C_TCP_IDLE,
    C_RATE_LIMITED,
    C_ZONES,
    C_COUNT
};

struct _dns_server_t {
    zactor_t *actor;
    /* shared with the actor thread */
    _Atomic (dns_zone_t *) pending; /* published, not yet picked up */
    _Atomic uint64_t counters[C_COUNT];
    atomic_int bound; /* 1 once bound, -1 on failure */
    atomic_uint port;
    /* configuration, copied */
    char addr[128];
    dns_resolve_config_t rcfg;
    unsigned tcp_max_conns;
    unsigned tcp_idle_ms;
    char device[IF_NAMESIZE];      /* "" = any interface */
    uint32_t rate_qps, rate_burst; /* 0 = no limiter */
    unsigned tcp_max_per_source;
    shed_hist_t *latency_udp, *latency_tcp; /* borrowed; NULL: not measured */
};

/* One TCP connection: a 2-byte-length framed stream of queries. */
typedef struct {
    int fd;
    struct sockaddr_storage peer; /* for the per-source limits */
    uint8_t *in;                  /* 2 + DNS_TCP_MAX bytes */
    size_t in_len;
    uint8_t *out; /* framed answers not yet written */
    size_t out_len, out_off, out_cap;
    int64_t last_active; /* zclock_mono() ms */
    bool eof;            /* peer closed its side: flush and close */
} s_conn_t;

typedef struct {
    zsock_t *pipe;
    dns_server_t *server;
    bool terminated;
    int udp_fd, tcp_fd;
    dns_zone_t *zone; /* what we answer from; ours alone */
    uint64_t rng;
    s_conn_t *conns; /* tcp_max_conns slots, fd -1 when free */
    size_t nconns;
    /* UDP batch buffers */
    uint8_t (*in)[S_UDP_IN_MAX];
    uint8_t (*out)[DNS_UDP_MAX];
    struct sockaddr_storage peers[S_BATCH];
    uint8_t *tcp_answer;      /* DNS_TCP_MAX scratch */
    dns_ratelimit_t *limiter; /* NULL: no rate limit */
} self_t;

static inline void
s_count (dns_server_t *server, int slot)
{
    atomic_fetch_add_explicit (&server->counters[slot], 1, memory_order_relaxed);
}

static void
s_count_result (dns_server_t *server, const dns_resolve_result_t *r)
{
    switch (r->rcode) {
    case -1:
        s_count (server, C_DROPPED);
        break;
    case DNS_RCODE_NOERROR:
        s_count (server, C_NOERROR);
        break;
    case DNS_RCODE_FORMERR:
        s_count (server, C_FORMERR);
        break;
    case DNS_RCODE_SERVFAIL:
        s_count (server, C_SERVFAIL);
        break;
    case DNS_RCODE_NXDOMAIN:
        s_count (server, C_NXDOMAIN);
        break;
    case DNS_RCODE_NOTIMP:
        s_count (server, C_NOTIMP);
        break;
    case DNS_RCODE_REFUSED:
        s_count (server, C_REFUSED);
        break;
    default:
        s_count (server, C_OTHER);
        break;
    }
}

/* One token for `peer`; false (counted) when over the limit. */
static bool
s_rate_ok (self_t *self, const struct sockaddr_storage *peer)
{
    if (!self->limiter
        || dns_ratelimit_allow (self->limiter, (const struct sockaddr *) peer, zclock_mono ()))
        return true;
    s_count (self->server, C_RATE_LIMITED);
    return false;
}

/* Adopt the newest published zone, if any. Called right after input arrives. */
static void
s_zone_refresh (self_t *self)
{
    if (atomic_load_explicit (&self->server->pending, memory_order_relaxed) == NULL)
        return;
    dns_zone_t *fresh =
        atomic_exchange_explicit (&self->server->pending, NULL, memory_order_acq_rel);
    if (fresh) {
        dns_zone_unref (&self->zone);
        self->zone = fresh;
    }
}

/* ---- Sockets -------------------------------------------------------------- */

static int
s_parse_addr (const char *text, struct sockaddr_storage *ss, socklen_t *sslen)
{
    char host[128];
    const char *port_s;
    memset (ss, 0, sizeof *ss);
    if (!text || strlen (text) >= sizeof host)
        return -1;
    if (text[0] == '[') {
        const char *close = strchr (text, ']');
        if (!close || close[1] != ':')
            return -1;
        memcpy (host, text + 1, (size_t) (close - text - 1));
        host[close - text - 1] = 0;
        port_s = close + 2;
    }
    else {
        const char *colon = strrchr (text, ':');
        if (!colon)
            return -1;
        memcpy (host, text, (size_t) (colon - text));
        host[colon - text] = 0;
        port_s = colon + 1;
    }
    char *end;
    long port = strtol (port_s, &end, 10);
    if (*port_s == 0 || *end != 0 || port < 0 || port > 65535)
        return -1;
    struct sockaddr_in *v4 = (struct sockaddr_in *) ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *) ss;
    if (inet_pton (AF_INET, host, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons ((uint16_t) port);
        *sslen = sizeof *v4;
        return 0;
    }
    if (inet_pton (AF_INET6, host, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons ((uint16_t) port);
        *sslen = sizeof *v6;
        return 0;
    }
    return -1;
}

static void
s_set_port (struct sockaddr_storage *ss, uint16_t port)
{
    if (ss->ss_family == AF_INET)
        ((struct sockaddr_in *) ss)->sin_port = htons (port);
    else
        ((struct sockaddr_in6 *) ss)->sin6_port = htons (port);
}

static uint16_t
s_get_port (int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getsockname (fd, (struct sockaddr *) &ss, &len))
        return 0;
    return ntohs (ss.ss_family == AF_INET ? ((struct sockaddr_in *) &ss)->sin_port
                                          : ((struct sockaddr_in6 *) &ss)->sin6_port);
}

/* Bind UDP and TCP to the same address and port. With port 0 the kernel
 * picks for UDP and TCP follows; if that port is taken for TCP, try again. */
static int
s_bind (self_t *self)
{
    struct sockaddr_storage ss;
    socklen_t sslen;
    if (s_parse_addr (self->server->addr, &ss, &sslen)) {
        log_error ("dns", "bad listen address|addr=%s", self->server->addr);
        return -1;
    }
    bool ephemeral = (ss.ss_family == AF_INET ? ((struct sockaddr_in *) &ss)->sin_port
                                              : ((struct sockaddr_in6 *) &ss)->sin6_port)
                     == 0;
    for (int attempt = 0; attempt < S_BIND_TRIES; attempt++) {
        if (ephemeral)
            s_set_port (&ss, 0);
        int u = socket (ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        int t = socket (ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        int one = 1;
        int rcvbuf = 1 << 20; /* absorb bursts while we answer a batch */
        if (u < 0 || t < 0)
            goto fail;
        setsockopt (t, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        setsockopt (u, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
        /* A packet for our address that arrives on another interface (the
         * host's weak-host model accepts it) is not for us: a listener
         * meant for one network must not answer the others. */
        const char *dev = self->server->device;
        if (dev[0]
            && (setsockopt (u, SOL_SOCKET, SO_BINDTODEVICE, dev, (socklen_t) strlen (dev))
                || setsockopt (t, SOL_SOCKET, SO_BINDTODEVICE, dev, (socklen_t) strlen (dev))))
            goto fail;
        if (bind (u, (struct sockaddr *) &ss, sslen))
            goto fail;
        s_set_port (&ss, s_get_port (u));
        if (bind (t, (struct sockaddr *) &ss, sslen) || listen (t, 64))
            goto fail;
        self->udp_fd = u;
        self->tcp_fd = t;
        return 0;
    fail : {
        int err = errno;
        if (u >= 0)
            close (u);
        if (t >= 0)
            close (t);
        if (!(ephemeral && err == EADDRINUSE)) {
            log_error ("dns", "cannot bind|addr=%s device=%s error=\"%s\"", self->server->addr,
                       self->server->device[0] ? self->server->device : "-", strerror (err));
            return -1;
        }
    }
    }
    log_error ("dns", "no free port for UDP and TCP|addr=%s", self->server->addr);
    return -1;
}

/* ---- UDP ------------------------------------------------------------------ */

static void
s_udp_batch (self_t *self)
{
    struct mmsghdr msgs[S_BATCH];
    struct iovec iov[S_BATCH];
    for (int i = 0; i < S_BATCH; i++) {
        iov[i].iov_base = self->in[i];
        iov[i].iov_len = S_UDP_IN_MAX;
        memset (&msgs[i], 0, sizeof msgs[i]);
        msgs[i].msg_hdr.msg_iov = &iov[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
        msgs[i].msg_hdr.msg_name = &self->peers[i];
        msgs[i].msg_hdr.msg_namelen = sizeof self->peers[i];
    }
    int n = recvmmsg (self->udp_fd, msgs, S_BATCH, MSG_DONTWAIT, NULL);
    if (n <= 0)
        return;
    /* Each answer of the batch waits for the batch: that is its latency. */
    int64_t t0 = self->server->latency_udp ? shed_hist_now_ns () : 0;
    s_zone_refresh (self);

    struct mmsghdr replies[S_BATCH];
    struct iovec riov[S_BATCH];
    int nr = 0;
    for (int i = 0; i < n; i++) {
        s_count (self->server, C_QUERIES_UDP);
        if (msgs[i].msg_hdr.msg_flags & MSG_TRUNC) {
            s_count (self->server, C_DROPPED); /* oversized: not a query we want */
            continue;
        }
        /* Over the limit: no answer at all. An answer (even REFUSED) would
         * still cost us the work and make us a reflector for spoofed
         * sources; silence makes a stub resolver back off. */
        if (!s_rate_ok (self, &self->peers[i]))
            continue;
        dns_resolve_result_t res;
        size_t len = dns_resolve (&self->server->rcfg, self->zone, self->in[i], msgs[i].msg_len,
                                  DNS_TRANSPORT_UDP, self->out[nr], DNS_UDP_MAX, &self->rng, &res);
        s_count_result (self->server, &res);
        if (res.truncated)
            s_count (self->server, C_TRUNCATED);
        if (len == 0)
            continue;
        riov[nr].iov_base = self->out[nr];
        riov[nr].iov_len = len;
        memset (&replies[nr], 0, sizeof replies[nr]);
        replies[nr].msg_hdr.msg_iov = &riov[nr];
        replies[nr].msg_hdr.msg_iovlen = 1;
        replies[nr].msg_hdr.msg_name = &self->peers[i];
        replies[nr].msg_hdr.msg_namelen = msgs[i].msg_hdr.msg_namelen;
        nr++;
    }
    int sent = 0;
    while (sent < nr) {
        int rc = sendmmsg (self->udp_fd, replies + sent, (unsigned) (nr - sent), MSG_DONTWAIT);
        if (rc <= 0)
            break; /* socket full: UDP may drop, the client retries */
        sent += rc;
    }
    if (self->server->latency_udp && sent > 0) {
        int64_t took = shed_hist_now_ns () - t0;
        for (int i = 0; i < sent; i++)
            shed_hist_observe_ns (self->server->latency_udp, took);
    }
}

/* ---- TCP ------------------------------------------------------------------ */

static void
s_conn_close (self_t *self, s_conn_t *conn)
{
    if (conn->fd < 0)
        return;
    close (conn->fd);
    conn->fd = -1;
    free (conn->in);
    free (conn->out);
    conn->in = conn->out = NULL;
    conn->in_len = conn->out_len = conn->out_off = conn->out_cap = 0;
    self->nconns--;
}

static bool
s_same_host (const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
    if (a->ss_family != b->ss_family)
        return false;
    if (a->ss_family == AF_INET)
        return memcmp (&((const struct sockaddr_in *) a)->sin_addr,
                       &((const struct sockaddr_in *) b)->sin_addr, 4)
               == 0;
    if (a->ss_family == AF_INET6)
        return memcmp (&((const struct sockaddr_in6 *) a)->sin6_addr,
                       &((const struct sockaddr_in6 *) b)->sin6_addr, 16)
               == 0;
    return true;
}

static void
s_tcp_accept (self_t *self)
{
    while (true) {
        struct sockaddr_storage peer;
        socklen_t plen = sizeof peer;
        memset (&peer, 0, sizeof peer);
        int fd =
            accept4 (self->tcp_fd, (struct sockaddr *) &peer, &plen, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return;
        if (!s_rate_ok (self, &peer)) {
            close (fd);
            continue;
        }
        s_conn_t *slot = NULL;
        unsigned same = 0;
        for (size_t i = 0; i < self->server->tcp_max_conns; i++) {
            if (self->conns[i].fd < 0) {
                if (!slot)
                    slot = &self->conns[i];
            }
            else if (s_same_host (&self->conns[i].peer, &peer))
                same++;
        }
        if (self->server->tcp_max_per_source && same >= self->server->tcp_max_per_source) {
            /* One client must not hold every slot and lock the others out. */
            close (fd);
            s_count (self->server, C_RATE_LIMITED);
            continue;
        }
        if (!slot) {
            /* Over the limit: closing at once is the clearest signal, and the
             * client falls back to another server or retries later. */
            close (fd);
            s_count (self->server, C_TCP_REJECTED);
            continue;
        }
        memset (slot, 0, sizeof *slot);
        slot->in = malloc (2 + DNS_TCP_MAX);
        if (!slot->in) {
            close (fd);
            slot->fd = -1;
            continue;
        }
        slot->fd = fd;
        slot->peer = peer;
        slot->last_active = zclock_mono ();
        self->nconns++;
        s_count (self->server, C_TCP_ACCEPTED);
    }
}

static int
s_conn_queue (s_conn_t *conn, const uint8_t *msg, size_t len)
{
    return dns_tcp_queue (&conn->out, &conn->out_len, &conn->out_off, &conn->out_cap, msg, len);
}

static void
s_conn_flush (self_t *self, s_conn_t *conn)
{
    while (conn->out_off < conn->out_len) {
        ssize_t n = send (conn->fd, conn->out + conn->out_off, conn->out_len - conn->out_off,
                          MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (n <= 0) {
            s_conn_close (self, conn);
            return;
        }
        conn->out_off += (size_t) n;
        conn->last_active = zclock_mono ();
    }
    if (conn->eof)
        s_conn_close (self, conn);
}

/* Read what is there and answer every complete frame (pipelining). */
static void
s_conn_read (self_t *self, s_conn_t *conn)
{
    ssize_t n =
        recv (conn->fd, conn->in + conn->in_len, 2 + DNS_TCP_MAX - conn->in_len, MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return;
    if (n <= 0) {
        conn->eof = true; /* answer what we have, then close */
        s_conn_flush (self, conn);
        return;
    }
    conn->in_len += (size_t) n;
    conn->last_active = zclock_mono ();
    s_zone_refresh (self);

    size_t off = 0, flen = 0;
    dns_tcp_rc_t rc;
    while ((rc = dns_tcp_next (conn->in + off, conn->in_len - off, &flen)) != DNS_TCP_MORE) {
        if (rc == DNS_TCP_BAD) {
            /* Not a message, and the stream has no way to resynchronise. */
            s_count (self->server, C_QUERIES_TCP);
            s_count (self->server, C_DROPPED);
            s_conn_close (self, conn);
            return;
        }
        s_count (self->server, C_QUERIES_TCP);
        if (!s_rate_ok (self, &conn->peer)) {
            /* A stream cannot skip an answer (the client waits for it in
             * order): over the limit, the connection goes. */
            s_conn_close (self, conn);
            return;
        }
        int64_t t0 = self->server->latency_tcp ? shed_hist_now_ns () : 0;
        dns_resolve_result_t res;
        size_t len =
            dns_resolve (&self->server->rcfg, self->zone, conn->in + off + 2, flen,
                         DNS_TRANSPORT_TCP, self->tcp_answer, DNS_TCP_MAX, &self->rng, &res);
        s_count_result (self->server, &res);
        if (len && s_conn_queue (conn, self->tcp_answer, len)) {
            s_conn_close (self, conn);
            return;
        }
        if (len && self->server->latency_tcp)
            shed_hist_observe_since (self->server->latency_tcp, t0);
        off += 2 + flen;
    }
    memmove (conn->in, conn->in + off, conn->in_len - off);
    conn->in_len -= off;
    s_conn_flush (self, conn);
}

/* ---- Actor ---------------------------------------------------------------- */

static void
s_self_destroy (self_t **self_p)
{
    self_t *self = *self_p;
    if (!self)
        return;
    if (self->conns)
        for (size_t i = 0; i < self->server->tcp_max_conns; i++)
            s_conn_close (self, &self->conns[i]);
    free (self->conns);
    if (self->udp_fd >= 0)
        close (self->udp_fd);
    if (self->tcp_fd >= 0)
        close (self->tcp_fd);
    dns_zone_unref (&self->zone);
    dns_ratelimit_destroy (&self->limiter);
    free (self->in);
    free (self->out);
    free (self->tcp_answer);
    free (self);
    *self_p = NULL;
}

static self_t *
s_self_new (zsock_t *pipe, dns_server_t *server)
{
    self_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->pipe = pipe;
    self->server = server;
    self->udp_fd = self->tcp_fd = -1;
    self->rng = ((uint64_t) randof (0x7FFFFFFF) << 32) ^ (uint64_t) zclock_usecs () ^ 1;
    self->conns = calloc (server->tcp_max_conns, sizeof (s_conn_t));
    self->in = malloc (S_BATCH * sizeof *self->in);
    self->out = malloc (S_BATCH * sizeof *self->out);
    self->tcp_answer = malloc (DNS_TCP_MAX);
    if (server->rate_qps)
        self->limiter = dns_ratelimit_new (
            server->rate_qps, server->rate_burst ? server->rate_burst : 2 * server->rate_qps,
            S_RATE_SLOTS, self->rng);
    if (!self->conns || !self->in || !self->out || !self->tcp_answer
        || (server->rate_qps && !self->limiter)) {
        s_self_destroy (&self);
        return NULL;
    }
    for (size_t i = 0; i < server->tcp_max_conns; i++)
        self->conns[i].fd = -1;
    return self;
}

static void
s_recv_api (self_t *self)
{
    char *command = zstr_recv (self->pipe);
    if (!command)
        self->terminated = true; /* interrupted */
    else if (streq (command, "$TERM"))
        self->terminated = true;
    else
        log_warn ("dns", "unknown actor command|command=%s", command);
    zstr_free (&command);
}

static void
s_actor (zsock_t *pipe, void *args)
{
    dns_server_t *server = (dns_server_t *) args;
    self_t *self = s_self_new (pipe, server);
    bool ok = self && s_bind (self) == 0;
    if (ok) {
        atomic_store (&server->port, s_get_port (self->udp_fd));
        log_info ("dns", "listening|addr=%s port=%u device=%s rate_qps=%u", server->addr,
                  atomic_load (&server->port), server->device[0] ? server->device : "-",
                  server->rate_qps);
    }
    atomic_store (&server->bound, ok ? 1 : -1);
    zsock_signal (pipe, 0);
    if (!ok) {
        /* Stay until told to go: zactor_destroy expects someone to hear $TERM. */
        char *command;
        while ((command = zstr_recv (pipe)) && !streq (command, "$TERM"))
            zstr_free (&command);
        zstr_free (&command);
        s_self_destroy (&self);
        return;
    }

    size_t max = server->tcp_max_conns;
    zmq_pollitem_t *items = calloc (3 + max, sizeof *items);
    s_conn_t **owners = calloc (3 + max, sizeof *owners);
    if (!items || !owners)
        self->terminated = true;
    while (!self->terminated) {
        items[0] = (zmq_pollitem_t){ zsock_resolve (pipe), 0, ZMQ_POLLIN, 0 };
        items[1] = (zmq_pollitem_t){ NULL, self->udp_fd, ZMQ_POLLIN, 0 };
        items[2] = (zmq_pollitem_t){ NULL, self->tcp_fd, ZMQ_POLLIN, 0 };
        int nitems = 3;
        int64_t now = zclock_mono ();
        long timeout = -1;
        for (size_t i = 0; i < max; i++) {
            s_conn_t *conn = &self->conns[i];
            if (conn->fd < 0)
                continue;
            int64_t left = conn->last_active + server->tcp_idle_ms - now;
            if (left <= 0) {
                s_count (server, C_TCP_IDLE);
                s_conn_close (self, conn);
                continue;
            }
            if (timeout < 0 || left < timeout)
                timeout = (long) left;
            short events = 0;
            if (!conn->eof && conn->out_len - conn->out_off < S_TCP_OUT_HIGH)
                events |= ZMQ_POLLIN;
            if (conn->out_off < conn->out_len)
                events |= ZMQ_POLLOUT;
            items[nitems] = (zmq_pollitem_t){ NULL, conn->fd, events, 0 };
            owners[nitems++] = conn;
        }
        int rc = zmq_poll (items, nitems, timeout);
        if (rc < 0) {
            if (errno == EINTR)
                continue;
            break; /* context terminated */
        }
        if (items[0].revents & ZMQ_POLLIN)
            s_recv_api (self);
        if (items[1].revents & ZMQ_POLLIN)
            s_udp_batch (self);
        if (items[2].revents & ZMQ_POLLIN)
            s_tcp_accept (self);
        for (int i = 3; i < nitems; i++) {
            s_conn_t *conn = owners[i];
            if (conn->fd < 0 || conn->fd != items[i].fd)
                continue;
            if (items[i].revents & ZMQ_POLLOUT)
                s_conn_flush (self, conn);
            if (conn->fd >= 0 && (items[i].revents & (ZMQ_POLLIN | ZMQ_POLLERR)))
                s_conn_read (self, conn);
        }
    }
    free (items);
    free (owners);
    s_self_destroy (&self);
}

/* ---- Public object -------------------------------------------------------- */

void
dns_server_config_defaults (dns_server_config_t *cfg)
{
    assert (cfg);
    cfg->addr = DNS_SERVER_DEFAULT_ADDR;
    cfg->domain = DNS_SERVER_DEFAULT_DOMAIN;
    cfg->ttl_s = DNS_SERVER_DEFAULT_TTL;
    cfg->neg_ttl_s = DNS_SERVER_DEFAULT_NEG_TTL;
    cfg->tcp_max_conns = DNS_SERVER_DEFAULT_TCP_CONNS;
    cfg->tcp_idle_ms = DNS_SERVER_DEFAULT_TCP_IDLE;
    cfg->device = NULL;
    cfg->rate_qps = 0;
    cfg->rate_burst = 0;
    cfg->tcp_max_per_source = 0;
    cfg->latency_udp = NULL;
    cfg->latency_tcp = NULL;
}

dns_server_t *
dns_server_new (const dns_server_config_t *cfg)
{
    assert (cfg);
    dns_server_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    const char *addr = cfg->addr ? cfg->addr : DNS_SERVER_DEFAULT_ADDR;
    const char *domain = cfg->domain ? cfg->domain : DNS_SERVER_DEFAULT_DOMAIN;
    if (strlen (addr) >= sizeof self->addr || cfg->ttl_s > DNS_SERVER_MAX_TTL
        || (cfg->device && strlen (cfg->device) >= sizeof self->device)
        || cfg->neg_ttl_s > DNS_SERVER_MAX_TTL
        || dns_resolve_config_init (&self->rcfg, domain, cfg->ttl_s, cfg->neg_ttl_s)) {
        log_error ("dns", "bad configuration|addr=%s domain=%s ttl_s=%u", addr, domain, cfg->ttl_s);
        free (self);
        return NULL;
    }
    snprintf (self->addr, sizeof self->addr, "%s", addr);
    self->tcp_max_conns = cfg->tcp_max_conns ? cfg->tcp_max_conns : DNS_SERVER_DEFAULT_TCP_CONNS;
    self->tcp_idle_ms = cfg->tcp_idle_ms ? cfg->tcp_idle_ms : DNS_SERVER_DEFAULT_TCP_IDLE;
    snprintf (self->device, sizeof self->device, "%s", cfg->device ? cfg->device : "");
    self->rate_qps = cfg->rate_qps;
    self->rate_burst = cfg->rate_burst;
    self->tcp_max_per_source = cfg->tcp_max_per_source;
    self->latency_udp = cfg->latency_udp;
    self->latency_tcp = cfg->latency_tcp;
    atomic_init (&self->pending, NULL);
    for (int i = 0; i < C_COUNT; i++)
        atomic_init (&self->counters[i], 0);
    atomic_init (&self->bound, 0);
    atomic_init (&self->port, 0);

    self->actor = zactor_new (s_actor, self); /* returns once the actor signalled */
    if (!self->actor || atomic_load (&self->bound) != 1) {
        dns_server_destroy (&self);
        return NULL;
    }
    return self;
}

void
dns_server_destroy (dns_server_t **self_p)
{
    assert (self_p);
    dns_server_t *self = *self_p;
    if (!self)
        return;
    zactor_destroy (&self->actor);
    dns_zone_t *pending = atomic_exchange (&self->pending, NULL);
    dns_zone_unref (&pending);
    free (self);
    *self_p = NULL;
}

uint16_t
dns_server_port (dns_server_t *self)
{
    assert (self);
    return (uint16_t) atomic_load (&self->port);
}

void
dns_server_set_zone (dns_server_t *self, dns_zone_t *zone)
{
    assert (self);
    assert (zone);
    dns_zone_t *old =
        atomic_exchange_explicit (&self->pending, dns_zone_ref (zone), memory_order_acq_rel);
    /* Never seen by the actor (it empties the slot when it takes a zone). */
    dns_zone_unref (&old);
    s_count (self, C_ZONES);
}

void
dns_server_stats (dns_server_t *self, dns_server_stats_t *out)
{
    assert (self);
    assert (out);
#define S_LOAD(i) atomic_load_explicit (&self->counters[i], memory_order_relaxed)
    out->queries_udp = S_LOAD (C_QUERIES_UDP);
    out->queries_tcp = S_LOAD (C_QUERIES_TCP);
    out->rcode_noerror = S_LOAD (C_NOERROR);
    out->rcode_formerr = S_LOAD (C_FORMERR);
    out->rcode_servfail = S_LOAD (C_SERVFAIL);
    out->rcode_nxdomain = S_LOAD (C_NXDOMAIN);
    out->rcode_notimp = S_LOAD (C_NOTIMP);
    out->rcode_refused = S_LOAD (C_REFUSED);
    out->rcode_other = S_LOAD (C_OTHER);
    out->truncated = S_LOAD (C_TRUNCATED);
    out->dropped = S_LOAD (C_DROPPED);
    out->tcp_accepted = S_LOAD (C_TCP_ACCEPTED);
    out->tcp_rejected = S_LOAD (C_TCP_REJECTED);
    out->tcp_idle_closed = S_LOAD (C_TCP_IDLE);
    out->rate_limited = S_LOAD (C_RATE_LIMITED);
    out->zones_published = S_LOAD (C_ZONES);
#undef S_LOAD
}
