/*
 * membership_udp.c - the membership actor's sockets and sealing: the UDP
 * datagrams the core sends and receives (sealed with the cluster keyring,
 * stamped against replay), the replay windows, and opening the UDP socket
 * and TCP listener. Separate from the actor loop because it is the whole
 * of what reaches the wire unsealed or not at all (docs/crypto.md "Replay
 * windows", docs/membership.md section 1).
 */
#include "cluster/membership_int.h"

#include "common/ipaddr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <sys/socket.h>
#include <unistd.h>

int
mb_nonblock (int fd)
{
    int flags = fcntl (fd, F_GETFL, 0);
    return flags < 0 ? -1 : fcntl (fd, F_SETFL, flags | O_NONBLOCK);
}

int
mb_sockaddr (const mb_self_t *self, const char *addr, uint16_t port, struct sockaddr_storage *sa,
             socklen_t *salen)
{
    return shed_ip_sockaddr (addr, port, self->family, sa, salen);
}

/* Our next stamp on a channel (0 datagrams, 1 streams). */
void
mb_stamp_next (mb_self_t *self, int channel, uint8_t out[GOSSIP_STAMP_BYTES])
{
    gossip_stamp_t st = { self->boot, ++self->counter[channel], (uint64_t) zclock_time () };
    gossip_stamp_put (out, &st);
}

/* Check an authenticated stamp: the sender's clock within the skew window
 * of ours, and a counter this sender boot has not used on this channel.
 * Returns 0 or -1 (counted). Call only after the seal opened, so a forger
 * cannot move a window (docs/crypto.md "Replay windows"). */
int
mb_stamp_check (mb_self_t *self, const uint8_t in[GOSSIP_STAMP_BYTES], int channel)
{
    gossip_stamp_t st;
    gossip_stamp_get (in, &st);
    uint64_t wall = (uint64_t) zclock_time ();
    uint64_t skew = st.ts_ms > wall ? st.ts_ms - wall : wall - st.ts_ms;
    if (skew > GOSSIP_CLOCK_SKEW_MS) {
        if (self->st.drop_clock++ % 1000 == 0)
            log_warn (MB_COMP,
                      "dropped gossip stamped too far from our clock (replay, or a "
                      "clock off by more than %d s: run NTP)|skew_ms=%llu",
                      GOSSIP_CLOCK_SKEW_MS / 1000, (unsigned long long) skew);
        return -1;
    }
    uint64_t now = mb_now (NULL);
    mb_sender_t *slot = NULL, *idle = NULL;
    for (size_t i = 0; i < self->nsenders; i++) {
        if (self->senders[i].boot == st.boot) {
            slot = &self->senders[i];
            break;
        }
        /* Idle for twice the skew window: any packet of it we could still
         * be shown is stamped too far in the past, so its window can go. */
        if (!idle && now - self->senders[i].seen > 2 * GOSSIP_CLOCK_SKEW_MS)
            idle = &self->senders[i];
    }
    if (!slot) {
        if (idle)
            slot = idle;
        else {
            if (self->nsenders == self->senders_cap && self->senders_cap < MB_SENDERS_MAX) {
                size_t cap = self->senders_cap ? self->senders_cap * 2 : 64;
                mb_sender_t *grown = (mb_sender_t *) realloc (self->senders, cap * sizeof *grown);
                if (grown) {
                    self->senders = grown;
                    self->senders_cap = cap;
                }
            }
            if (self->nsenders == self->senders_cap) {
                self->st.drop_replay++; /* cannot track it: refuse, never guess */
                return -1;
            }
            slot = &self->senders[self->nsenders++];
        }
        slot->boot = st.boot;
        shed_replay_init (&slot->win[0]);
        shed_replay_init (&slot->win[1]);
    }
    if (!shed_replay_check (&slot->win[channel], st.counter)) {
        self->st.drop_replay++;
        return -1;
    }
    slot->seen = now;
    return 0;
}

void
mb_env_send (void *ctx, const char *addr, uint16_t port, const uint8_t *buf, size_t len)
{
    mb_self_t *self = (mb_self_t *) ctx;
    uint8_t pt[GOSSIP_STAMP_BYTES + SWIM_PACKET_MAX];
    uint8_t sealed[GOSSIP_STAMP_BYTES + SWIM_PACKET_MAX + SHED_SEAL_OVERHEAD];
    size_t slen = 0;
    struct sockaddr_storage sa;
    socklen_t salen;
    if (len > SWIM_PACKET_MAX)
        return;
    if (mb_sockaddr (self, addr, port, &sa, &salen)) {
        self->st.send_unreachable++;
        return;
    }
    mb_stamp_next (self, 0, pt);
    memcpy (pt + GOSSIP_STAMP_BYTES, buf, len);
    if (shed_keyring_seal (self->keyring, (const uint8_t *) GOSSIP_UDP_AD, strlen (GOSSIP_UDP_AD),
                           pt, GOSSIP_STAMP_BYTES + len, sealed, sizeof sealed, &slen))
        return;
    if (sendto (self->udp, sealed, slen, 0, (struct sockaddr *) &sa, salen) >= 0) {
        self->st.udp_sent++;
        self->st.udp_bytes_sent += slen;
    }
}

void
mb_handle_udp (mb_self_t *self)
{
    uint8_t buf[65536];
    uint8_t pt[65536];
    for (int burst = 0; burst < 64; burst++) {
        struct sockaddr_storage sa;
        socklen_t salen = sizeof sa;
        ssize_t n = recvfrom (self->udp, buf, sizeof buf, 0, (struct sockaddr *) &sa, &salen);
        if (n < 0)
            return;
        self->st.udp_received++;
        self->st.udp_bytes_received += (uint64_t) n;
        if ((size_t) n < SHED_SEAL_OVERHEAD) {
            self->st.drop_short++;
            continue;
        }
        if ((size_t) n > SWIM_PACKET_MAX + SHED_SEAL_OVERHEAD) {
            self->st.drop_oversize++;
            continue;
        }
        size_t ptlen = 0;
        int rc = shed_keyring_open (self->keyring, (const uint8_t *) GOSSIP_UDP_AD,
                                    strlen (GOSSIP_UDP_AD), buf, (size_t) n, pt, sizeof pt, &ptlen,
                                    NULL);
        if (rc == SHED_SEAL_ERR_AUTH
            && shed_keyring_open (self->keyring, (const uint8_t *) GOSSIP_UDP_AD_V1,
                                  strlen (GOSSIP_UDP_AD_V1), buf, (size_t) n, pt, sizeof pt, &ptlen,
                                  NULL)
                   == 0) {
            /* A version 1 node (no replay stamps) with our key: say so
             * instead of letting it look like a wrong key. Never applied. */
            sodium_memzero (pt, ptlen);
            if (self->st.drop_v1++ % 100 == 0) {
                char from[SHED_IP_TEXT_MAX];
                shed_ip_from_sockaddr ((struct sockaddr *) &sa, from, NULL);
                log_warn (MB_COMP, "gossip from a version 1 node ignored: upgrade it|peer=%s",
                          from);
            }
            continue;
        }
        if (rc) {
            if (rc == SHED_SEAL_ERR_SHORT)
                self->st.drop_short++;
            else if (rc == SHED_SEAL_ERR_KEYID)
                self->st.drop_keyid++;
            else if (rc == SHED_SEAL_ERR_AUTH)
                self->st.drop_auth++;
            else
                self->st.drop_format++;
            continue;
        }
        if (ptlen < GOSSIP_STAMP_BYTES) {
            self->st.drop_format++;
            continue;
        }
        if (mb_stamp_check (self, pt, 0))
            continue;
        char addr[SHED_IP_TEXT_MAX];
        uint16_t port = 0;
        if (shed_ip_from_sockaddr ((struct sockaddr *) &sa, addr, &port)) {
            self->st.drop_format++;
            continue;
        }
        swim_receive (self->swim, addr, port, pt + GOSSIP_STAMP_BYTES, ptlen - GOSSIP_STAMP_BYTES);
    }
}

int
mb_open_sockets (mb_self_t *self, char *err, size_t errlen)
{
    struct sockaddr_storage sa;
    socklen_t salen;
    self->family = shed_ip_bind_family (self->cfg.bind_addr);
    if (mb_sockaddr (self, self->cfg.bind_addr, self->cfg.port, &sa, &salen)) {
        snprintf (err, errlen, "bad bind address %s", self->cfg.bind_addr);
        return -1;
    }
    int one = 1, zero = 0;
    self->udp = socket (self->family, SOCK_DGRAM, 0);
    self->tcp = socket (self->family, SOCK_STREAM, 0);
    if (self->udp < 0 || self->tcp < 0) {
        snprintf (err, errlen, "socket: %s", strerror (errno));
        return -1;
    }
    setsockopt (self->tcp, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (self->family == AF_INET6) {
        /* Dual stack whatever net.ipv6.bindv6only says: with bind :: the
         * IPv4 members of a mixed cluster still reach us (their addresses
         * come back unmapped, shed_ip_from_sockaddr). */
        setsockopt (self->udp, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
        setsockopt (self->tcp, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
    }
    int rcvbuf = 1 << 20;
    setsockopt (self->udp, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    if (bind (self->udp, (struct sockaddr *) &sa, salen)
        || bind (self->tcp, (struct sockaddr *) &sa, salen) || listen (self->tcp, 512)) {
        char where[SHED_HOSTPORT_MAX];
        shed_hostport_join (where, sizeof where, self->cfg.bind_addr, self->cfg.port);
        snprintf (err, errlen, "bind %s: %s", where, strerror (errno));
        return -1;
    }
    mb_nonblock (self->udp);
    mb_nonblock (self->tcp);
    return 0;
}
