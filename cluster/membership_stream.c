/*
 * membership_stream.c - the membership actor's TCP side: push-pull and key
 * operation connections as non-blocking state machines with deadlines,
 * sealed stream frames, and admission of incoming connections. Separate
 * because it is the part a slow, dead or hostile peer exercises, with its
 * own limits (docs/membership.md section 1).
 */
#include "cluster/membership_int.h"

#include "common/ipaddr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

/* Seal a message into a stream frame (docs/membership.md section 1): a
 * sealed header (body length + stamp), then the sealed body, whose AD binds
 * it to that header. */
uint8_t *
mb_frame (mb_self_t *self, const uint8_t *msg, size_t len, size_t *framelen)
{
    uint8_t stamp[GOSSIP_STAMP_BYTES];
    mb_stamp_next (self, 1, stamp);
    return gossip_stream_seal (self->keyring, stamp, msg, len, framelen);
}

void
mb_env_stream (void *ctx, const char *addr, uint16_t port, const uint8_t *buf, size_t len)
{
    mb_self_t *self = (mb_self_t *) ctx;
    mb_conn_t *conn = mb_conn_open (self, addr, port, MB_CONN_PUSHPULL, buf, len);
    if (conn)
        conn->joining = !swim_joined (self->swim);
    else if (!swim_joined (self->swim)) {
        int err = self->conn_errno;
        snprintf (self->join_why, sizeof self->join_why, "seed %s:%u: cannot open a connection%s%s",
                  addr, (unsigned) port, err ? ": " : "", err ? strerror (err) : "");
        mb_join_note (self, addr, port, mb_seed_outcome (err),
                      err == ENETUNREACH    ? "network is unreachable"
                      : err == EHOSTUNREACH ? "no route to host"
                      : err                 ? strerror (err)
                                            : "cannot open a connection");
    }
}

void
mb_conn_free (mb_conn_t **conn_p)
{
    mb_conn_t *conn = *conn_p;
    if (!conn)
        return;
    if (conn->fd >= 0)
        close (conn->fd);
    free (conn->out);
    free (conn->in);
    free (conn);
    *conn_p = NULL;
}

static mb_conn_t *
s_conn_add (mb_self_t *self, int fd, mb_conn_kind_t kind)
{
    if (self->nconns == MB_CONNS_MAX) {
        close (fd);
        self->st.stream_errors++;
        return NULL;
    }
    mb_conn_t *conn = (mb_conn_t *) zmalloc (sizeof (mb_conn_t));
    conn->fd = fd;
    conn->kind = kind;
    conn->opened_at = mb_now (NULL);
    conn->deadline =
        conn->opened_at + (kind == MB_CONN_SERVE ? MB_PREAUTH_TIMEOUT : MB_CONN_TIMEOUT);
    self->conns[self->nconns++] = conn;
    return conn;
}

mb_conn_t *
mb_conn_open (mb_self_t *self, const char *addr, uint16_t port, mb_conn_kind_t kind,
              const uint8_t *msg, size_t len)
{
    struct sockaddr_storage sa;
    socklen_t salen;
    self->conn_errno = 0;
    if (mb_sockaddr (self, addr, port, &sa, &salen)) {
        self->conn_errno = EAFNOSUPPORT; /* reported as unreachable */
        self->st.send_unreachable++;
        return NULL;
    }
    int fd = socket (self->family, SOCK_STREAM, 0);
    if (fd < 0 || mb_nonblock (fd)) {
        if (fd >= 0)
            close (fd);
        self->st.stream_errors++;
        return NULL;
    }
    int one = 1;
    setsockopt (fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect (fd, (struct sockaddr *) &sa, salen) && errno != EINPROGRESS) {
        /* An "unreachable" route or no route at all fails here at once:
         * kept so a JOIN can say so without waiting for its deadline. */
        self->conn_errno = errno;
        close (fd);
        self->st.stream_errors++;
        return NULL;
    }
    mb_conn_t *conn = s_conn_add (self, fd, kind);
    if (!conn)
        return NULL;
    snprintf (conn->peer, sizeof conn->peer, "%s", addr);
    conn->port = port;
    conn->out = mb_frame (self, msg, len, &conn->outlen);
    conn->writing = true;
    if (!conn->out)
        conn->deadline = 0; /* reaped on the next pass */
    return conn;
}

/* A complete frame arrived on `conn`: open it and act. Returns true if the
 * connection now has a reply to write. */
static bool
s_conn_frame (mb_self_t *self, mb_conn_t *conn)
{
    uint8_t *pt = (uint8_t *) malloc (conn->inlen);
    size_t ptlen = 0;
    if (!pt)
        return false;
    int rc = gossip_stream_body_open (self->keyring, conn->hdr, conn->in, conn->inlen, pt,
                                      conn->inlen, &ptlen);
    if (rc) {
        if (rc == SHED_SEAL_ERR_KEYID)
            self->st.drop_keyid++;
        else if (rc == SHED_SEAL_ERR_AUTH)
            self->st.drop_auth++;
        else
            self->st.drop_format++;
        conn->why = "its answer did not open with our keyring (wrong cluster key?)";
        conn->fail = MB_SEED_WRONG_KEY;
        free (pt);
        return false; /* the close reports it (once) */
    }
    conn->answered = true;
    bool reply = false;
    if (conn->kind == MB_CONN_KEYOP)
        mb_keyop_result (self, conn, pt, ptlen);
    else if (conn->kind == MB_CONN_PUSHPULL)
        swim_receive_stream (self->swim, conn->peer, conn->port, pt, ptlen, NULL, NULL);
    else {
        wire_hdr_t hdr;
        self->st.stream_served++;
        if (wire_peek (&gossip_proto, pt, ptlen, &hdr) == 0 && hdr.type == GOSSIP_KEY_OP) {
            mb_serve_keyop (self, conn, pt, ptlen);
            reply = conn->out != NULL;
        }
        else {
            uint8_t *out = NULL;
            size_t outlen = 0;
            swim_receive_stream (self->swim, conn->peer, conn->port, pt, ptlen, &out, &outlen);
            if (out) {
                conn->out = mb_frame (self, out, outlen, &conn->outlen);
                free (out);
                reply = conn->out != NULL;
            }
        }
    }
    free (pt);
    return reply;
}

/* Drive one connection; returns false when it is finished. */
bool
mb_conn_io (mb_self_t *self, mb_conn_t *conn)
{
    if (conn->writing) {
        while (conn->outoff < conn->outlen) {
            ssize_t n = send (conn->fd, conn->out + conn->outoff, conn->outlen - conn->outoff,
                              MSG_NOSIGNAL);
            if (n < 0) {
                if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINPROGRESS
                    || errno == ENOTCONN)
                    return true;
                /* A failed non-blocking connect shows up here, on the first
                 * send: refused, or no route found only now. A reset after
                 * part of our request went is the seed closing on a sealed
                 * header it cannot open (another cluster key). */
                int err = errno;
                conn->fail = conn->outoff == 0                   ? mb_seed_outcome (err)
                             : err == ECONNRESET || err == EPIPE ? MB_SEED_WRONG_KEY
                                                                 : MB_SEED_WAITING;
                conn->why =
                    conn->fail == MB_SEED_REFUSED ? "connection refused (not running there?)"
                    : conn->fail == MB_SEED_UNREACHABLE
                        ? (err == ENETUNREACH ? "network is unreachable" : "no route to host")
                    : conn->fail == MB_SEED_WRONG_KEY
                        ? "closed the connection without answering (wrong cluster key?)"
                        : "connection lost while sending";
                return false;
            }
            conn->outoff += (size_t) n;
        }
        if (conn->kind == MB_CONN_SERVE)
            return false;      /* reply written: done */
        conn->writing = false; /* request written: read the reply */
        return true;
    }
    while (conn->hdroff < GOSSIP_TCP_HDR_SEALED) {
        ssize_t n =
            recv (conn->fd, conn->hdr + conn->hdroff, GOSSIP_TCP_HDR_SEALED - conn->hdroff, 0);
        if (n == 0 || (n < 0 && errno == ECONNRESET && conn->hdroff == 0)) {
            /* A peer that cannot open our request (another cluster key)
             * closes without a word: that is the usual cause. It closes
             * after the sealed header, with our body unread, so the close
             * often arrives as a reset. */
            conn->why = "closed the connection without answering (wrong cluster key?)";
            conn->fail = MB_SEED_WRONG_KEY;
            return false;
        }
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return true;
            conn->why = "connection lost while waiting for the answer";
            return false;
        }
        conn->hdroff += (size_t) n;
        if (conn->hdroff == GOSSIP_TCP_HDR_SEALED) {
            /* Nothing is allocated for the body until its header opened
             * with our keyring and its stamp is fresh: a stranger costs a
             * slot for at most MB_PREAUTH_TIMEOUT and 73 bytes. */
            uint8_t stamp[GOSSIP_STAMP_BYTES];
            int rc = gossip_stream_header_open (self->keyring, conn->hdr, &conn->inlen, stamp);
            if (rc == GOSSIP_STREAM_ERR_LENGTH) {
                self->st.drop_oversize++;
                conn->why = "sent a frame of invalid length";
                return false;
            }
            if (rc) {
                if (rc == SHED_SEAL_ERR_KEYID)
                    self->st.drop_keyid++;
                else if (rc == SHED_SEAL_ERR_AUTH)
                    self->st.drop_auth++;
                else
                    self->st.drop_format++;
                conn->why = "its answer did not open with our keyring (wrong cluster key?)";
                conn->fail = MB_SEED_WRONG_KEY;
                return false;
            }
            if (mb_stamp_check (self, stamp, 1)) {
                conn->why = "its answer was a replay or stamped too far from our clock";
                return false;
            }
            conn->authed = true;
            conn->deadline = conn->opened_at + MB_CONN_TIMEOUT;
            conn->in = (uint8_t *) malloc (conn->inlen);
            if (!conn->in)
                return false;
        }
    }
    while (conn->inoff < conn->inlen) {
        ssize_t n = recv (conn->fd, conn->in + conn->inoff, conn->inlen - conn->inoff, 0);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) {
            conn->why = "connection lost in the middle of the answer";
            return false;
        }
        if (n < 0)
            return true;
        conn->inoff += (size_t) n;
    }
    if (s_conn_frame (self, conn)) {
        conn->writing = true;
        conn->outoff = 0;
        return mb_conn_io (self, conn);
    }
    return false;
}

void
mb_conn_close_at (mb_self_t *self, size_t i)
{
    mb_conn_t *conn = self->conns[i];
    if (conn->kind == MB_CONN_KEYOP)
        mb_keyop_result (self, conn, NULL, 0); /* no-op if already counted */
    else if (conn->kind == MB_CONN_PUSHPULL && conn->joining && !conn->answered
             && !swim_joined (self->swim)) {
        snprintf (self->join_why, sizeof self->join_why, "seed %s:%u: %s", conn->peer,
                  (unsigned) conn->port, conn->why ? conn->why : "did not answer");
        mb_join_note (self, conn->peer, conn->port, conn->fail,
                      conn->why ? conn->why : "did not answer");
    }
    mb_conn_free (&self->conns[i]);
    self->conns[i] = self->conns[--self->nconns];
}

/* Admission of an incoming connection from `peer` (docs/membership.md
 * section 1): at most MB_CONNS_PER_SRC per source address, at most
 * MB_CONNS_IN_MAX in all (the rest of the slots are for our own streams);
 * when full, the oldest incoming connection whose header has not opened
 * yet makes room, so a flood of idle connections cycles through its own
 * slots while a member's header (sent at once) opens within an RTT.
 * Returns true if it may be added. */
static bool
s_admit (mb_self_t *self, const char *peer)
{
    size_t incoming = 0, same = 0, oldest = SIZE_MAX;
    for (size_t i = 0; i < self->nconns; i++) {
        mb_conn_t *c = self->conns[i];
        if (c->kind != MB_CONN_SERVE)
            continue;
        incoming++;
        if (streq (c->peer, peer))
            same++;
        if (!c->authed && (oldest == SIZE_MAX || c->opened_at < self->conns[oldest]->opened_at))
            oldest = i;
    }
    if (same >= MB_CONNS_PER_SRC) {
        self->st.drop_conn_source++;
        return false;
    }
    if (incoming < MB_CONNS_IN_MAX && self->nconns < MB_CONNS_MAX)
        return true;
    if (oldest == SIZE_MAX) {
        self->st.drop_conn_full++;
        return false;
    }
    self->st.drop_preauth++;
    self->conns[oldest]->why = "evicted before its header opened";
    mb_conn_close_at (self, oldest);
    return true;
}

void
mb_handle_accept (mb_self_t *self)
{
    for (int burst = 0; burst < 64; burst++) {
        struct sockaddr_storage sa;
        socklen_t salen = sizeof sa;
        int fd = accept (self->tcp, (struct sockaddr *) &sa, &salen);
        if (fd < 0)
            return;
        char peer[SHED_IP_TEXT_MAX];
        uint16_t pport = 0;
        if (shed_ip_from_sockaddr ((struct sockaddr *) &sa, peer, &pport) || mb_nonblock (fd)
            || !s_admit (self, peer)) {
            close (fd);
            continue;
        }
        mb_conn_t *conn = s_conn_add (self, fd, MB_CONN_SERVE);
        if (conn) {
            snprintf (conn->peer, sizeof conn->peer, "%s", peer);
            conn->port = pport;
        }
    }
}
