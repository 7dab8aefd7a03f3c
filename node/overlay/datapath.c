/*
 * datapath.c - the overlay object: public API, sockets, threads, timers.
 *
 * Threads (none of them is the daemon's event loop):
 *   tx[q]   poll the TAP queue q; under the read lock, read frames until the
 *           queue is empty or a batch is full (each read scattered into its
 *           datagram slots, send.c), seal each, flush with one sendmmsg
 *           (UDP GSO entries). Blocking UDP sends give backpressure.
 *   rx[q]   recvmmsg up to OVERLAY_BATCH buffers from socket q, each one
 *           datagram or a UDP GRO train of them (UDP_GRO: the segment size
 *           comes as a cmsg); under the read lock, process each datagram
 *           (receive.c), writing frames to TAP q (gathering writes).
 *   timer   every OVERLAY_TICK_MS: for each peer ask its session whether a
 *           handshake is due (none yet, rekey by time or count, retry) and
 *           send an initiation. This is the only place that starts one.
 * Queues: with threads > 1 the TAP is multi-queue and the sockets share the
 * port with SO_REUSEPORT, so the kernel spreads flows over the queues.
 * Threads wake at least every 100 ms to notice `stop`.
 */
#include "node/overlay/overlay_int.h"
#include "common/ipaddr.h"
#include "common/log.h"

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "crypto/aead.h"

#ifndef UDP_GRO
#define UDP_GRO 104 /* linux/udp.h; older libc headers lack it */
#endif

#define OVERLAY_TICK_MS  50
#define OVERLAY_SOCKBUF  (8 * 1024 * 1024)
#define OVERLAY_TX_BURST 64 //  frames per read-lock hold

static const char *s_drop_names[] = {
#define OVERLAY_DROP_NAME_(name, text) text,
    OVERLAY_DROPS (OVERLAY_DROP_NAME_)
#undef OVERLAY_DROP_NAME_
};

const char *
overlay_drop_name (overlay_drop_t reason)
{
    return (unsigned) reason < OVERLAY_DROP_COUNT ? s_drop_names[reason] : "?";
}

uint64_t
overlay__now_ms (const overlay_t *self)
{
    if (self->fake_now_ms)
        return self->fake_now_ms;
    //  Asked once per datagram (key age checks). The coarse clock is the
    //  kernel's last tick, read without the TSC: ~5 ns instead of ~23
    //  in a VM (0.4% of all samples in `perf record -a` during
    //  bench/overlay_bench.sh); a tick (1-4 ms) is far finer than the
    //  session's timers (seconds).
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC_COARSE, &ts);
    return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}

uint64_t
overlay__wall_ns (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_REALTIME, &ts);
    return (uint64_t) ts.tv_sec * 1000000000ull + (uint64_t) ts.tv_nsec;
}

void
overlay__drop (overlay_t *self, overlay_peer_t *peer, overlay_drop_t reason)
{
    if (peer)
        OVERLAY_COUNT (peer->drops[reason], 1);
    else
        OVERLAY_COUNT (self->drops[reason], 1);
}

overlay_drop_t
overlay__session_drop (int rc)
{
    switch (rc) {
    case SHED_SESSION_ERR_SHORT:
        return OVERLAY_DROP_SHORT;
    case SHED_SESSION_ERR_TYPE:
        return OVERLAY_DROP_TYPE;
    case SHED_SESSION_ERR_KEYID:
        return OVERLAY_DROP_KEY_ID;
    case SHED_SESSION_ERR_EXPIRED:
        return OVERLAY_DROP_EXPIRED;
    case SHED_SESSION_ERR_AUTH:
        return OVERLAY_DROP_AUTH;
    case SHED_SESSION_ERR_REPLAY:
        return OVERLAY_DROP_REPLAY;
    case SHED_SESSION_ERR_NOKEY:
        return OVERLAY_DROP_NO_SESSION;
    case SHED_SESSION_ERR_SPACE:
        return OVERLAY_DROP_TOO_BIG;
    default:
        return OVERLAY_DROP_HANDSHAKE;
    }
}

//  --------------------------------------------------------------------------
//  Real I/O

static int
s_io_send (overlay_t *self, int q, struct mmsghdr *msgs, unsigned n)
{
    return sendmmsg (self->udp_fd[q], msgs, n, 0);
}

static int
s_io_tap_write (overlay_t *self, int q, const struct iovec *iov, int iovcnt)
{
    size_t len = 0;
    for (int i = 0; i < iovcnt; i++)
        len += iov[i].iov_len;
    ssize_t w = writev (self->tap_fd[q], iov, iovcnt);
    return w == (ssize_t) len ? 0 : -1;
}

//  --------------------------------------------------------------------------
//  Construction

static overlay_t *
s_new_common (const overlay_config_t *cfg, char *err, size_t errlen)
{
    if (!cfg || !cfg->identity) {
        snprintf (err, errlen, "overlay: no identity");
        return NULL;
    }
    if (cfg->vni > OVERLAY_VNI_MAX) {
        snprintf (err, errlen, "overlay: vni %u over 24 bits", cfg->vni);
        return NULL;
    }
    if (cfg->threads < 0 || cfg->threads > OVERLAY_THREADS_MAX) {
        snprintf (err, errlen, "overlay: threads %d not in 1..%d", cfg->threads,
                  OVERLAY_THREADS_MAX);
        return NULL;
    }
    if (sodium_init () < 0) {
        snprintf (err, errlen, "overlay: libsodium init failed");
        return NULL;
    }
    overlay_t *self = (overlay_t *) calloc (1, sizeof *self);
    if (!self) {
        snprintf (err, errlen, "overlay: out of memory");
        return NULL;
    }
    memcpy (self->secret, shed_identity_x25519_secret (cfg->identity), 32);
    memcpy (self->public, shed_identity_x25519_public (cfg->identity), 32);
    if (cfg->session)
        self->session_cfg = *cfg->session;
    else
        shed_session_cfg_default (&self->session_cfg);
    self->vni = cfg->vni;
    self->offload = !cfg->no_offload;
    self->queues = cfg->threads ? cfg->threads : 1;
    for (int q = 0; q < OVERLAY_THREADS_MAX; q++)
        self->tap_fd[q] = self->udp_fd[q] = -1;
    self->family = AF_INET;
    if (cfg->bind_addr && strchr (cfg->bind_addr, ':'))
        self->family = AF_INET6;
    int underlay = cfg->underlay_mtu ? cfg->underlay_mtu : 1500;
    self->mtu = cfg->mtu ? cfg->mtu : overlay_compute_mtu (underlay, self->family == AF_INET6);
    //  Chunks fill a datagram up to the underlay MTU (overlay_msg.h), so
    //  every datagram fits it whatever the inner MTU.
    int chunk = overlay_chunk_bytes (underlay, self->family == AF_INET6);
    if (chunk < OVERLAY_CHUNK_MIN) {
        snprintf (err, errlen, "overlay: underlay MTU %d too small", underlay);
        free (self);
        return NULL;
    }
    self->chunk = (size_t) chunk;
    self->stride = self->chunk + OVERLAY_FRAME_OVERHEAD;
    self->chunks_max = (unsigned) ((OVERLAY_FRAME_MAX + self->chunk - 1) / self->chunk);
    size_t segs = OVERLAY_DATAGRAM_MAX / self->stride;
    self->gso_segs = segs < OVERLAY_GSO_SEGS_MAX ? (unsigned) segs : OVERLAY_GSO_SEGS_MAX;
    assert (self->chunks_max <= OVERLAY_CHUNKS_MAX);
    assert ((self->chunks_max + self->gso_segs - 1) / self->gso_segs <= OVERLAY_TX_GROUPS);
    snprintf (self->tap_name, sizeof self->tap_name, "%s", cfg->tap_name ? cfg->tap_name : "");
    snprintf (self->bridge_name, sizeof self->bridge_name, "%s",
              cfg->bridge_name ? cfg->bridge_name : "");

    //  Writer-preferring: datapath threads take the read lock batch after
    //  batch; a peer change must not wait behind them forever.
    pthread_rwlockattr_t attr;
    pthread_rwlockattr_init (&attr);
    pthread_rwlockattr_setkind_np (&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init (&self->lock, &attr);
    pthread_rwlockattr_destroy (&attr);
    self->fdb = overlay__fdb_new ();
    self->arp = overlay__arp_new ();
    if (!self->fdb || !self->arp) {
        snprintf (err, errlen, "overlay: out of memory");
        overlay_destroy (&self);
    }
    return self;
}

overlay_t *
overlay__new_detached (const overlay_config_t *cfg, const overlay_io_t *io, void *io_arg)
{
    char err[128];
    overlay_t *self = s_new_common (cfg, err, sizeof err);
    if (self) {
        self->io = *io;
        self->io_arg = io_arg;
        self->fake_now_ms = 1;
    }
    return self;
}

static int
s_udp_open (overlay_t *self, const overlay_config_t *cfg, char *err, size_t errlen)
{
    struct sockaddr_storage addr;
    socklen_t addrlen;
    if (overlay__addr_parse (cfg->bind_addr, cfg->port, &addr, &addrlen) < 0) {
        snprintf (err, errlen, "overlay: bad bind address '%s'", cfg->bind_addr);
        return -1;
    }
    for (int q = 0; q < self->queues; q++) {
        int fd = socket (addr.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            snprintf (err, errlen, "overlay: socket: %s", strerror (errno));
            return -1;
        }
        self->udp_fd[q] = fd;
        int one = 1, size = OVERLAY_SOCKBUF;
        if (self->queues > 1)
            setsockopt (fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
        //  Root may exceed net.core.[rw]mem_max; others get what they can.
        if (setsockopt (fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof size) < 0)
            setsockopt (fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
        if (setsockopt (fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size) < 0)
            setsockopt (fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
        //  Take GRO trains of our datagrams whole (one buffer, the segment
        //  size in a cmsg) instead of one by one; kernels without it just
        //  deliver datagrams, which the RX loop handles the same way.
        setsockopt (fd, IPPROTO_UDP, UDP_GRO, &one, sizeof one);
        //  Every datagram fits the underlay MTU (chunks, overlay_msg.h); DF
        //  stays clear so a path with a smaller MTU fragments rather than
        //  drops (a UDP GSO send checks the segment size against the route
        //  MTU itself).
        int pmtu = IP_PMTUDISC_DONT;
        if (addr.ss_family == AF_INET)
            setsockopt (fd, IPPROTO_IP, IP_MTU_DISCOVER, &pmtu, sizeof pmtu);
        else {
            pmtu = IPV6_PMTUDISC_DONT;
            setsockopt (fd, IPPROTO_IPV6, IPV6_MTU_DISCOVER, &pmtu, sizeof pmtu);
            /* IPv4 peers (mapped) too, as membership's sockets do with :: */
            int zero = 0;
            setsockopt (fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
            pmtu = IP_PMTUDISC_DONT; /* for the IPv4 side of a dual-stack socket */
            setsockopt (fd, IPPROTO_IP, IP_MTU_DISCOVER, &pmtu, sizeof pmtu);
        }
        struct timeval tv = { .tv_sec = 0, .tv_usec = 100 * 1000 };
        setsockopt (fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        if (bind (fd, (struct sockaddr *) &addr, addrlen) < 0) {
            snprintf (err, errlen, "overlay: bind %s:%u: %s", cfg->bind_addr ? cfg->bind_addr : "*",
                      (unsigned) ntohs (((struct sockaddr_in *) &addr)->sin_port),
                      strerror (errno));
            return -1;
        }
        if (q == 0) {
            //  Port 0: the others join the port the first one got.
            struct sockaddr_storage got;
            socklen_t gotlen = sizeof got;
            getsockname (fd, (struct sockaddr *) &got, &gotlen);
            uint16_t port = ntohs (((struct sockaddr_in *) &got)->sin_port);
            self->port = port;
            ((struct sockaddr_in *) &addr)->sin_port = htons (port);
        }
    }
    return 0;
}

//  --------------------------------------------------------------------------
//  Threads

#define OVERLAY_HUGE_PAGE ((size_t) 2 << 20)

static size_t
s_bufs_span (size_t bytes)
{
    return (bytes + OVERLAY_HUGE_PAGE - 1) & ~(OVERLAY_HUGE_PAGE - 1);
}

//  Every byte of the path crosses these buffers three or four times (the
//  kernel's copy in, the AEAD in place, the kernel's copy out), a megabyte
//  per batch on each side. In 4 KiB pages that is ~270 TLB entries per
//  queue, each miss a two-level walk under a hypervisor; one 2 MiB-aligned
//  span with MADV_HUGEPAGE needs one (THP "madvise" is Debian's default).
//  Without THP it is just pages.
void *
overlay__bufs_alloc (size_t bytes)
{
    size_t span = s_bufs_span (bytes);
    uint8_t *raw = (uint8_t *) mmap (NULL, span + OVERLAY_HUGE_PAGE, PROT_READ | PROT_WRITE,
                                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED)
        return NULL;
    uintptr_t at = ((uintptr_t) raw + OVERLAY_HUGE_PAGE - 1) & ~(uintptr_t) (OVERLAY_HUGE_PAGE - 1);
    uint8_t *bufs = (uint8_t *) at;
    size_t head = (size_t) (bufs - raw), tail = OVERLAY_HUGE_PAGE - head;
    if (head)
        munmap (raw, head);
    if (tail)
        munmap (bufs + span, tail);
    madvise (bufs, span, MADV_HUGEPAGE); //  a hint; EINVAL without THP
    return bufs;
}

void
overlay__bufs_free (void *bufs, size_t bytes)
{
    if (bufs)
        munmap (bufs, s_bufs_span (bytes));
}

typedef struct {
    overlay_t *self;
    int q;
} thread_arg_t;

static bool
s_stopping (overlay_t *self)
{
    return __atomic_load_n (&self->stop, __ATOMIC_ACQUIRE) != 0;
}

static void *
s_tx_thread (void *arg_)
{
    thread_arg_t *arg = (thread_arg_t *) arg_;
    overlay_t *self = arg->self;
    int q = arg->q;
    free (arg);
    overlay_txq_t *txq = overlay__txq_new (self, q);
    if (!txq) {
        log_error ("overlay", "TX queue allocation failed|queue=%d", q);
        return NULL;
    }
    struct pollfd pfd = { .fd = self->tap_fd[q], .events = POLLIN };
    while (!s_stopping (self)) {
        int ready = poll (&pfd, 1, 100);
        if (ready == 0)
            shed_aead_thread_flush (); //  idle: no expanded keys kept
        if (ready <= 0)
            continue;
        pthread_rwlock_rdlock (&self->lock);
        for (int burst = 0; burst < OVERLAY_TX_BURST; burst++) {
            int iovcnt;
            struct iovec *iov = overlay__txq_iov (self, txq, &iovcnt);
            ssize_t n = readv (self->tap_fd[q], iov, iovcnt);
            if (n < 0)
                break; //  EAGAIN: queue drained
            if (n < OVERLAY_VNET_HDR_BYTES)
                continue;
            overlay__tx_frame (self, txq, (size_t) n - OVERLAY_VNET_HDR_BYTES);
        }
        overlay__tx_flush (self, txq);
        pthread_rwlock_unlock (&self->lock);
    }
    overlay__txq_destroy (&txq);
    shed_aead_thread_flush ();
    return NULL;
}

//  The UDP_GRO segment size in a received message's cmsgs; 0 if none.
static size_t
s_gro_size (struct msghdr *mh)
{
    for (struct cmsghdr *cm = CMSG_FIRSTHDR (mh); cm; cm = CMSG_NXTHDR (mh, cm))
        if (cm->cmsg_level == SOL_UDP && cm->cmsg_type == UDP_GRO) {
            int size;
            memcpy (&size, CMSG_DATA (cm), sizeof size);
            return size > 0 ? (size_t) size : 0;
        }
    return 0;
}

static void *
s_rx_thread (void *arg_)
{
    thread_arg_t *arg = (thread_arg_t *) arg_;
    overlay_t *self = arg->self;
    int q = arg->q;
    free (arg);
    uint8_t *bufs = (uint8_t *) overlay__bufs_alloc (OVERLAY_BATCH * OVERLAY_BUF_BYTES);
    uint8_t *buf[OVERLAY_BATCH];
    struct sockaddr_storage addr[OVERLAY_BATCH];
    struct iovec iov[OVERLAY_BATCH];
    struct mmsghdr msgs[OVERLAY_BATCH];
    union {
        char buf[CMSG_SPACE (sizeof (int))];
        struct cmsghdr align;
    } ctrl[OVERLAY_BATCH];
    overlay_rxq_t *rxq = overlay__rxq_new (q);
    bool ok = rxq != NULL && bufs != NULL;
    for (int i = 0; ok && i < OVERLAY_BATCH; i++)
        buf[i] = bufs + (size_t) i * OVERLAY_BUF_BYTES;
    while (ok && !s_stopping (self)) {
        for (int i = 0; i < OVERLAY_BATCH; i++) {
            iov[i].iov_base = buf[i];
            iov[i].iov_len = OVERLAY_BUF_BYTES;
            memset (&msgs[i], 0, sizeof msgs[i]);
            msgs[i].msg_hdr.msg_name = &addr[i];
            msgs[i].msg_hdr.msg_namelen = sizeof addr[i];
            msgs[i].msg_hdr.msg_iov = &iov[i];
            msgs[i].msg_hdr.msg_iovlen = 1;
            msgs[i].msg_hdr.msg_control = ctrl[i].buf;
            msgs[i].msg_hdr.msg_controllen = sizeof ctrl[i].buf;
        }
        //  Blocks for the first datagram (up to SO_RCVTIMEO), then takes
        //  whatever else is already queued.
        int n = recvmmsg (self->udp_fd[q], msgs, OVERLAY_BATCH, MSG_WAITFORONE, NULL);
        if (n <= 0) {
            shed_aead_thread_flush (); //  idle: no expanded keys kept
            continue;
        }
        pthread_rwlock_rdlock (&self->lock);
        for (int i = 0; i < n; i++) {
            size_t len = msgs[i].msg_len, seg = s_gro_size (&msgs[i].msg_hdr);
            if (seg == 0 || seg > len)
                seg = len;
            //  A GRO train: datagrams of `seg` bytes, the last maybe shorter.
            for (size_t off = 0; off < len || len == 0; off += seg) {
                size_t dlen = len - off < seg ? len - off : seg;
                overlay__rx_datagram (self, rxq, (struct sockaddr *) &addr[i],
                                      msgs[i].msg_hdr.msg_namelen, buf[i] + off, dlen);
                if (len == 0)
                    break;
            }
        }
        overlay__rx_end (self, rxq);
        pthread_rwlock_unlock (&self->lock);
    }
    if (bufs)
        overlay__bufs_free (bufs, OVERLAY_BATCH * OVERLAY_BUF_BYTES);
    overlay__rxq_destroy (&rxq);
    shed_aead_thread_flush ();
    return NULL;
}

void
overlay__timer_tick (overlay_t *self)
{
    assert (self);
    uint64_t now = overlay__now_ms (self);
    pthread_rwlock_rdlock (&self->lock);
    for (size_t p = 0; p < self->peers.count; p++) {
        overlay_peer_t *peer = self->peers.items[p];
        if (!shed_session_want_handshake (peer->session, now))
            continue;
        uint8_t msg[SHED_MSG_INITIATION_SIZE];
        if (shed_session_initiate (peer->session, now, overlay__wall_ns (), msg) != SHED_SESSION_OK)
            continue;
        struct iovec iov = { .iov_base = msg, .iov_len = sizeof msg };
        struct mmsghdr m;
        memset (&m, 0, sizeof m);
        m.msg_hdr.msg_name = &peer->addr;
        m.msg_hdr.msg_namelen = peer->addrlen;
        m.msg_hdr.msg_iov = &iov;
        m.msg_hdr.msg_iovlen = 1;
        if (self->io.send (self, 0, &m, 1) != 1)
            overlay__drop (self, peer, OVERLAY_DROP_IO);
    }
    pthread_rwlock_unlock (&self->lock);
}

static void *
s_timer_thread (void *arg)
{
    overlay_t *self = (overlay_t *) arg;
    while (!s_stopping (self)) {
        overlay__timer_tick (self);
        struct timespec ts = { .tv_sec = 0, .tv_nsec = OVERLAY_TICK_MS * 1000000L };
        nanosleep (&ts, NULL);
    }
    return NULL;
}

static int
s_start_thread (pthread_t *t, void *(*fn) (void *), overlay_t *self, int q)
{
    thread_arg_t *arg = (thread_arg_t *) malloc (sizeof *arg);
    if (!arg)
        return -1;
    arg->self = self;
    arg->q = q;
    if (pthread_create (t, NULL, fn, arg) != 0) {
        free (arg);
        return -1;
    }
    return 0;
}

overlay_t *
overlay_new (const overlay_config_t *cfg, char *err, size_t errlen)
{
    overlay_t *self = s_new_common (cfg, err, errlen);
    if (!self)
        return NULL;
    self->io.send = s_io_send;
    self->io.tap_write = s_io_tap_write;
    if (!*self->tap_name) {
        snprintf (err, errlen, "overlay: no TAP name");
        goto fail;
    }
    if (overlay__tap_open (self->tap_name, self->queues, self->offload, self->tap_fd, err, errlen)
        < 0)
        goto fail;
    if (overlay_set_link_mtu (self->tap_name, self->mtu) < 0) {
        snprintf (err, errlen, "overlay: MTU %d on %s: %s", self->mtu, self->tap_name,
                  strerror (errno));
        goto fail;
    }
    if (*self->bridge_name) {
        if (overlay__bridge_add (self->bridge_name, self->tap_name) < 0) {
            snprintf (err, errlen, "overlay: add %s to bridge %s: %s", self->tap_name,
                      self->bridge_name, strerror (errno));
            goto fail;
        }
        //  The bridge takes the smallest MTU of its ports by itself, but
        //  only while it has ports; set it so the gateway address agrees.
        if (overlay_set_link_mtu (self->bridge_name, self->mtu) < 0) {
            snprintf (err, errlen, "overlay: MTU %d on %s: %s", self->mtu, self->bridge_name,
                      strerror (errno));
            goto fail;
        }
    }
    if (overlay__link_up (self->tap_name) < 0) {
        snprintf (err, errlen, "overlay: %s up: %s", self->tap_name, strerror (errno));
        goto fail;
    }
    if (s_udp_open (self, cfg, err, errlen) < 0)
        goto fail;

    if (pthread_create (&self->timer_thread, NULL, s_timer_thread, self) != 0) {
        snprintf (err, errlen, "overlay: cannot start threads");
        goto fail;
    }
    self->timer_started = true;
    for (int q = 0; q < self->queues; q++) {
        if (s_start_thread (&self->tx_thread[q], s_tx_thread, self, q) < 0) {
            snprintf (err, errlen, "overlay: cannot start threads");
            goto fail;
        }
        if (s_start_thread (&self->rx_thread[q], s_rx_thread, self, q) < 0) {
            pthread_t tx = self->tx_thread[q];
            __atomic_store_n (&self->stop, 1, __ATOMIC_RELEASE);
            pthread_join (tx, NULL);
            snprintf (err, errlen, "overlay: cannot start threads");
            goto fail;
        }
        self->threads_started = q + 1;
    }
    log_info ("overlay", "datapath up|tap=%s bridge=%s port=%u vni=%u mtu=%d queues=%d offload=%d",
              self->tap_name, *self->bridge_name ? self->bridge_name : "-", (unsigned) self->port,
              self->vni, self->mtu, self->queues, self->offload);
    return self;
fail:
    overlay_destroy (&self);
    return NULL;
}

void
overlay_destroy (overlay_t **self_p)
{
    assert (self_p);
    overlay_t *self = *self_p;
    if (!self)
        return;
    __atomic_store_n (&self->stop, 1, __ATOMIC_RELEASE);
    for (int q = 0; q < self->threads_started; q++) {
        pthread_join (self->tx_thread[q], NULL);
        pthread_join (self->rx_thread[q], NULL);
    }
    if (self->timer_started)
        pthread_join (self->timer_thread, NULL);
    for (int q = 0; q < OVERLAY_THREADS_MAX; q++) {
        if (self->tap_fd[q] >= 0)
            close (self->tap_fd[q]);
        if (self->udp_fd[q] >= 0)
            close (self->udp_fd[q]);
    }
    overlay__peers_clear (&self->peers);
    overlay__fdb_destroy (&self->fdb);
    overlay__arp_destroy (&self->arp);
    pthread_rwlock_destroy (&self->lock);
    sodium_memzero (self->secret, sizeof self->secret);
    free (self);
    *self_p = NULL;
}

//  --------------------------------------------------------------------------
//  Control API

uint16_t
overlay_port (overlay_t *self)
{
    assert (self);
    return self->port;
}

int
overlay_mtu (overlay_t *self)
{
    assert (self);
    return self->mtu;
}

int
overlay_peer_add (overlay_t *self, const char *node, const uint8_t pubkey[32], const char *addr,
                  uint16_t port)
{
    assert (self);
    struct sockaddr_storage sa;
    socklen_t salen;
    /* The peer's address as our sockets send to it: an IPv4 peer of a
     * dual-stack (::) socket as ::ffff:a.b.c.d, which is also how its
     * datagrams arrive (overlay__peers_by_addr compares them as they come).
     * An IPv6 peer of an IPv4 socket cannot be reached: EAFNOSUPPORT. */
    if (!node || !pubkey || !addr) {
        errno = EINVAL;
        return -1;
    }
    if (shed_ip_sockaddr (addr, port, self->family, &sa, &salen) < 0)
        return -1;
    overlay_peer_t *peer = overlay__peer_new (node, pubkey, (struct sockaddr *) &sa, salen,
                                              self->secret, self->public, &self->session_cfg);
    if (!peer)
        return -1;
    pthread_rwlock_wrlock (&self->lock);
    int rc = overlay__peers_put (&self->peers, peer);
    if (rc == 0)
        overlay__fdb_resolve (self->fdb, &self->peers);
    pthread_rwlock_unlock (&self->lock);
    if (rc != 0)
        overlay__peer_destroy (&peer);
    return rc;
}

int
overlay_peer_remove (overlay_t *self, const char *node)
{
    assert (self);
    if (!node) {
        errno = EINVAL;
        return -1;
    }
    pthread_rwlock_wrlock (&self->lock);
    overlay_peer_t *peer = overlay__peers_take (&self->peers, node);
    if (peer)
        overlay__fdb_resolve (self->fdb, &self->peers);
    pthread_rwlock_unlock (&self->lock);
    if (!peer) {
        errno = ENOENT;
        return -1;
    }
    overlay__peer_destroy (&peer);
    return 0;
}

int
overlay_fdb_set (overlay_t *self, const uint8_t mac[6], const char *node)
{
    assert (self);
    pthread_rwlock_wrlock (&self->lock);
    int rc = overlay__fdb_set (self->fdb, mac, node);
    if (rc == 0)
        overlay__fdb_resolve (self->fdb, &self->peers);
    pthread_rwlock_unlock (&self->lock);
    return rc;
}

int
overlay_fdb_del (overlay_t *self, const uint8_t mac[6])
{
    assert (self);
    pthread_rwlock_wrlock (&self->lock);
    int rc = overlay__fdb_del (self->fdb, mac);
    pthread_rwlock_unlock (&self->lock);
    return rc;
}

static int
s_ip_parse (const char *ip, uint32_t *out)
{
    struct in_addr a;
    if (!ip || inet_pton (AF_INET, ip, &a) != 1) {
        errno = EINVAL;
        return -1;
    }
    *out = a.s_addr;
    return 0;
}

int
overlay_arp_set (overlay_t *self, const char *ip, const uint8_t mac[6])
{
    assert (self);
    uint32_t addr;
    if (s_ip_parse (ip, &addr) < 0)
        return -1;
    pthread_rwlock_wrlock (&self->lock);
    int rc = overlay__arp_set (self->arp, addr, mac);
    pthread_rwlock_unlock (&self->lock);
    return rc;
}

int
overlay_arp_del (overlay_t *self, const char *ip)
{
    assert (self);
    uint32_t addr;
    if (s_ip_parse (ip, &addr) < 0)
        return -1;
    pthread_rwlock_wrlock (&self->lock);
    int rc = overlay__arp_del (self->arp, addr);
    pthread_rwlock_unlock (&self->lock);
    return rc;
}

void
overlay_stats (overlay_t *self, overlay_stats_t *out, overlay_peer_stats_t *peers, size_t cap,
               size_t *npeers)
{
    assert (self);
    uint64_t now = overlay__now_ms (self);
    pthread_rwlock_rdlock (&self->lock);
    if (out) {
        memset (out, 0, sizeof *out);
        out->mtu = self->mtu;
        out->vni = self->vni;
        out->peers = self->peers.count;
        out->arp_answered = OVERLAY_LOAD (self->arp_answered);
        for (int d = 0; d < OVERLAY_DROP_COUNT; d++)
            out->drops[d] = OVERLAY_LOAD (self->drops[d]);
    }
    for (size_t p = 0; p < self->peers.count; p++) {
        overlay_peer_t *peer = self->peers.items[p];
        if (out)
            for (int d = 0; d < OVERLAY_DROP_COUNT; d++)
                out->drops[d] += OVERLAY_LOAD (peer->drops[d]);
        if (!peers || p >= cap)
            continue;
        overlay_peer_stats_t *ps = &peers[p];
        memset (ps, 0, sizeof *ps);
        snprintf (ps->node, sizeof ps->node, "%s", peer->node);
        shed_session_info_t info;
        shed_session_info (peer->session, now, &info);
        ps->has_key = info.has_send_key;
        ps->aead = info.aead;
        ps->key_age_ms = info.key_age_ms;
        ps->handshakes = info.handshakes;
        ps->tx_packets = OVERLAY_LOAD (peer->tx_packets);
        ps->tx_bytes = OVERLAY_LOAD (peer->tx_bytes);
        ps->rx_packets = OVERLAY_LOAD (peer->rx_packets);
        ps->rx_bytes = OVERLAY_LOAD (peer->rx_bytes);
        for (int d = 0; d < OVERLAY_DROP_COUNT; d++)
            ps->drops[d] = OVERLAY_LOAD (peer->drops[d]);
    }
    if (npeers)
        *npeers = self->peers.count;
    pthread_rwlock_unlock (&self->lock);
}
