/*
 * membership.c - the membership actor (see membership.h for its interface).
 *
 * One thread, one poll loop over: the actor pipe, the UDP socket, the TCP
 * listener, every open stream connection and the optional beacon. The loop
 * sleeps until the core's next deadline. All sockets are non-blocking; a
 * stream connection is a small state machine (write request, read reply
 * for clients; read request, write reply for the server side) with a
 * deadline, so a slow or dead peer costs a slot, never the loop.
 */
#include "cluster/membership.h"
#include "cluster/gossip_stream.h"
#include "common/fileutil.h"
#include "common/log.h"
#include "crypto/identity.h"
#include "crypto/replay.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sodium.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#define S_COMP          "membership"
#define S_BEACON_AD     "shed-beacon-v2"      /* seal domain: discovery beacons */
#define S_BEACON_MAGIC  "SHD2"                /* beacon prefix (v1 was "SHED", unsealed) */
#define S_BEACON_REPUBLISH 10000              /* ms: fresh stamp, well inside the skew window */
#define S_CONNS_MAX     256                   /* open stream connections */
/* Incoming connections may hold at most this many slots, so a flood of
 * accepted connections never starves our own push-pulls, joins and key
 * operations (docs/membership.md section 1). */
#define S_CONNS_IN_MAX  192
#define S_CONNS_PER_SRC 4                     /* incoming connections per source address */
#define S_PREAUTH_TIMEOUT 1000                /* ms for an incoming sealed header to open */
#define S_CONN_TIMEOUT  2000                  /* ms for one whole exchange */
#define S_SENDERS_MAX   (2 * SWIM_MAX_MEMBERS) /* replay windows kept (one per sender boot) */
#define S_KEYOP_TIMEOUT 3000
/* Join retries (docs/membership.md "Join"). Nodes started together reach a
 * seed that is not listening yet ("connection refused"), and when the seed
 * comes up decides join convergence: for the first S_JOIN_FAST_FOR ms we
 * retry every S_JOIN_FAST ms (a refused connect costs one SYN and one RST),
 * never while an attempt to that seed is still open; after that the retries
 * back off from S_JOIN_BACKOFF0, doubling to S_JOIN_BACKOFFN. */
#define S_JOIN_FAST     50
#define S_JOIN_FAST_FOR 2000
#define S_JOIN_BACKOFF0 250
#define S_JOIN_BACKOFFN 30000
#define S_JOIN_LOG_GAP  1000                  /* ms between "not joined yet" lines */
#define S_BEACON_PEERS  64                    /* unknown beacon senders remembered */
#define S_BEACON_RETRY  30000                 /* ms between joins of one unknown sender once joined */

/* Actor-level counters (the core keeps its own). */
#define S_COUNTERS(C) \
    C (udp_sent) C (udp_received) C (udp_bytes_sent) C (udp_bytes_received) C (drop_short) C (drop_format) C (drop_keyid) \
    C (drop_auth) C (drop_oversize) C (stream_served) C (stream_errors) \
    C (drop_replay) C (drop_clock) C (drop_v1) C (drop_conn_source) C (drop_conn_full) \
    C (drop_preauth) C (keyop_stale) C (drop_beacon)

typedef enum { CONN_SERVE, CONN_PUSHPULL, CONN_KEYOP } conn_kind_t;

typedef struct {
    int fd;
    conn_kind_t kind;
    bool writing;                 /* else reading */
    uint8_t *out;
    size_t outlen, outoff;
    uint8_t hdr [GOSSIP_TCP_HDR_SEALED];   /* the sealed header, kept: the body's AD */
    size_t hdroff;
    bool authed;                  /* the sealed header opened: only then is `in` allocated */
    uint64_t opened_at;
    uint8_t *in;
    size_t inlen, inoff;
    uint64_t deadline;
    char peer [SWIM_ADDR_MAX + 1];
    uint16_t port;
    char name [SWIM_NAME_MAX + 1];   /* keyop: member asked; cleared once its
                                        result was counted (exactly once) */
    uint64_t keyop_id;               /* keyop: the operation it belongs to */
    bool joining;                    /* push-pull opened while not yet joined */
    int fail;                        /* S_SEED_* when it failed in a way a JOIN names */
    bool answered;                   /* a whole frame arrived */
    const char *why;                 /* why it ended without an answer */
} conn_t;

/* How one seed of a JOIN command failed (docs/operations.md "Joining"):
 * the first three are definite, so the JOIN answers as soon as every seed
 * has one; anything else (no answer, a lost connection) waits for the
 * deadline and is reported as timed out. */
enum {
    S_SEED_WAITING = 0,
    S_SEED_UNREACHABLE,              /* EHOSTUNREACH / ENETUNREACH */
    S_SEED_REFUSED,                  /* ECONNREFUSED: nothing listens there */
    S_SEED_WRONG_KEY,                /* it closed on our sealed request, or its
                                        answer did not open with our keyring */
    S_SEED_BAD                       /* did not resolve */
};

typedef struct {
    char seed [300];                 /* as given, for unresolvable ones */
    char addr [SWIM_ADDR_MAX + 1];
    uint16_t port;
    int outcome;                     /* S_SEED_* */
    char detail [96];                /* errno text, or the last soft failure */
} s_join_seed_t;

/* One sender boot's replay windows (docs/crypto.md "Replay windows"). */
typedef struct {
    uint64_t boot;
    uint64_t seen;                /* monotonic ms of its last accepted stamp */
    shed_replay_t win [2];        /* 0: datagrams, 1: stream frames */
} s_sender_t;

typedef struct {
    zsock_t *pipe;
    membership_config_t cfg;
    shed_keyring_t *keyring;
    swim_t *swim;
    zsock_t *events;
    zactor_t *beacon;
    struct {                         /* beacon senders we tried to join while joined */
        char addr [SWIM_ADDR_MAX + 1];
        uint16_t port;
        uint64_t at;
    } beacon_tries [S_BEACON_PEERS];
    int udp, tcp;
    uint64_t boot;                   /* our stamp boot id, random per start */
    uint64_t counter [2];            /* our stamp counters: datagrams, streams */
    s_sender_t *senders;
    size_t nsenders, senders_cap;
    uint64_t key_epoch;              /* last key operation applied */
    uint64_t beacon_published;
    conn_t *conns [S_CONNS_MAX];
    size_t nconns;
    bool terminated;
    struct {
#define S_FIELD(n) uint64_t n;
        S_COUNTERS (S_FIELD)
#undef S_FIELD
    } st;
    /* join */
    uint64_t join_next_ms, join_backoff;
    uint64_t join_started_ms;      /* first attempt of this round of joining */
    uint64_t join_logged_ms;       /* last "not joined yet" line */
    uint32_t join_attempts;
    bool joined_logged;            /* "joined" said once */
    bool join_pending;             /* a JOIN command waits for its reply */
    uint64_t join_reply_by;
    char join_why [192];           /* last seed failure, for the log */
    bool join_tagged;              /* JOIN-TAGGED: reply frames start with "$JOIN" */
    s_join_seed_t join_seeds [MEMBERSHIP_SEEDS_MAX];   /* the pending JOIN's seeds */
    size_t njoin_seeds;
    int conn_errno;                /* why the last s_conn_open failed (0: not a socket error) */
    /* leave */
    bool leave_pending;
    uint64_t leave_reply_by;
    /* cluster-wide key operation */
    struct {
        bool active;
        uint64_t id;
        uint32_t op;
        uint8_t key [SHED_KEY_BYTES];
        size_t waiting;
        uint64_t deadline;
        zmsg_t *results;
        bool failed;
    } keyop;
} self_t;

/* ---- Small helpers ---------------------------------------------------------- */

static uint64_t
s_now (void *ctx)
{
    return (uint64_t) zclock_mono ();
}

static uint32_t
s_random (void *ctx)
{
    return randombytes_random ();
}

static int
s_nonblock (int fd)
{
    int flags = fcntl (fd, F_GETFL, 0);
    return flags < 0 ? -1 : fcntl (fd, F_SETFL, flags | O_NONBLOCK);
}

static int
s_sockaddr (const char *addr, uint16_t port, struct sockaddr_in *sa)
{
    memset (sa, 0, sizeof *sa);
    sa->sin_family = AF_INET;
    sa->sin_port = htons (port);
    return inet_pton (AF_INET, addr, &sa->sin_addr) == 1 ? 0 : -1;
}

/* Resolve "host:port" (IPv4) into a numeric address. 0 or -1. */
static int
s_resolve (const char *hostport, char *addr, size_t addrlen, uint16_t *port)
{
    char host [256];
    const char *colon = strrchr (hostport, ':');
    if (!colon || (size_t) (colon - hostport) >= sizeof host)
        return -1;
    memcpy (host, hostport, (size_t) (colon - hostport));
    host [colon - hostport] = '\0';
    long p = strtol (colon + 1, NULL, 10);
    if (p <= 0 || p > 65535)
        return -1;
    struct addrinfo hints, *res = NULL;
    memset (&hints, 0, sizeof hints);
    hints.ai_family = AF_INET;
    if (getaddrinfo (host, NULL, &hints, &res) || !res)
        return -1;
    inet_ntop (AF_INET, &((struct sockaddr_in *) res->ai_addr)->sin_addr, addr,
               (socklen_t) addrlen);
    freeaddrinfo (res);
    *port = (uint16_t) p;
    return 0;
}

/* Our next stamp on a channel (0 datagrams, 1 streams). */
static void
s_stamp_next (self_t *self, int channel, uint8_t out [GOSSIP_STAMP_BYTES])
{
    gossip_stamp_t st = { self->boot, ++self->counter [channel], (uint64_t) zclock_time () };
    gossip_stamp_put (out, &st);
}

/* Check an authenticated stamp: the sender's clock within the skew window
 * of ours, and a counter this sender boot has not used on this channel.
 * Returns 0 or -1 (counted). Call only after the seal opened, so a forger
 * cannot move a window (docs/crypto.md "Replay windows"). */
static int
s_stamp_check (self_t *self, const uint8_t in [GOSSIP_STAMP_BYTES], int channel)
{
    gossip_stamp_t st;
    gossip_stamp_get (in, &st);
    uint64_t wall = (uint64_t) zclock_time ();
    uint64_t skew = st.ts_ms > wall ? st.ts_ms - wall : wall - st.ts_ms;
    if (skew > GOSSIP_CLOCK_SKEW_MS) {
        if (self->st.drop_clock++ % 1000 == 0)
            log_warn (S_COMP, "dropped gossip stamped too far from our clock (replay, or a "
                      "clock off by more than %d s: run NTP)|skew_ms=%llu",
                      GOSSIP_CLOCK_SKEW_MS / 1000, (unsigned long long) skew);
        return -1;
    }
    uint64_t now = s_now (NULL);
    s_sender_t *slot = NULL, *idle = NULL;
    for (size_t i = 0; i < self->nsenders; i++) {
        if (self->senders [i].boot == st.boot) {
            slot = &self->senders [i];
            break;
        }
        /* Idle for twice the skew window: any packet of it we could still
         * be shown is stamped too far in the past, so its window can go. */
        if (!idle && now - self->senders [i].seen > 2 * GOSSIP_CLOCK_SKEW_MS)
            idle = &self->senders [i];
    }
    if (!slot) {
        if (idle)
            slot = idle;
        else {
            if (self->nsenders == self->senders_cap && self->senders_cap < S_SENDERS_MAX) {
                size_t cap = self->senders_cap ? self->senders_cap * 2 : 64;
                s_sender_t *grown = (s_sender_t *) realloc (self->senders, cap * sizeof *grown);
                if (grown) {
                    self->senders = grown;
                    self->senders_cap = cap;
                }
            }
            if (self->nsenders == self->senders_cap) {
                self->st.drop_replay++;     /* cannot track it: refuse, never guess */
                return -1;
            }
            slot = &self->senders [self->nsenders++];
        }
        slot->boot = st.boot;
        shed_replay_init (&slot->win [0]);
        shed_replay_init (&slot->win [1]);
    }
    if (!shed_replay_check (&slot->win [channel], st.counter)) {
        self->st.drop_replay++;
        return -1;
    }
    slot->seen = now;
    return 0;
}

/* Seal a message into a stream frame (docs/membership.md section 1): a
 * sealed header (body length + stamp), then the sealed body, whose AD binds
 * it to that header. */
static uint8_t *
s_frame (self_t *self, const uint8_t *msg, size_t len, size_t *framelen)
{
    uint8_t stamp [GOSSIP_STAMP_BYTES];
    s_stamp_next (self, 1, stamp);
    return gossip_stream_seal (self->keyring, stamp, msg, len, framelen);
}

/* ---- Environment for the core ------------------------------------------------ */

static void
s_env_send (void *ctx, const char *addr, uint16_t port, const uint8_t *buf, size_t len)
{
    self_t *self = (self_t *) ctx;
    uint8_t pt [GOSSIP_STAMP_BYTES + SWIM_PACKET_MAX];
    uint8_t sealed [GOSSIP_STAMP_BYTES + SWIM_PACKET_MAX + SHED_SEAL_OVERHEAD];
    size_t slen = 0;
    struct sockaddr_in sa;
    if (s_sockaddr (addr, port, &sa) || len > SWIM_PACKET_MAX)
        return;
    s_stamp_next (self, 0, pt);
    memcpy (pt + GOSSIP_STAMP_BYTES, buf, len);
    if (shed_keyring_seal (self->keyring, (const uint8_t *) GOSSIP_UDP_AD, strlen (GOSSIP_UDP_AD),
                           pt, GOSSIP_STAMP_BYTES + len, sealed, sizeof sealed, &slen))
        return;
    if (sendto (self->udp, sealed, slen, 0, (struct sockaddr *) &sa, sizeof sa) >= 0) {
        self->st.udp_sent++;
        self->st.udp_bytes_sent += slen;
    }
}

static conn_t *s_conn_open (self_t *self, const char *addr, uint16_t port, conn_kind_t kind,
                            const uint8_t *msg, size_t len);

/* The S_SEED_* outcome a socket error stands for (S_SEED_WAITING if none). */
static int
s_seed_outcome (int err)
{
    if (err == EHOSTUNREACH || err == ENETUNREACH)
        return S_SEED_UNREACHABLE;
    if (err == ECONNREFUSED)
        return S_SEED_REFUSED;
    return S_SEED_WAITING;
}

/* A join push-pull with addr:port failed: if it is a seed of the pending
 * JOIN, keep how (the latest attempt wins: a seed that comes up between
 * two retries is no longer "refused"). */
static void
s_join_note (self_t *self, const char *addr, uint16_t port, int outcome, const char *detail)
{
    if (!self->join_pending)
        return;
    for (size_t i = 0; i < self->njoin_seeds; i++) {
        s_join_seed_t *js = &self->join_seeds [i];
        if (js->outcome == S_SEED_BAD || js->port != port || !streq (js->addr, addr))
            continue;
        js->outcome = outcome;
        snprintf (js->detail, sizeof js->detail, "%s", detail ? detail : "");
    }
}

static void
s_env_stream (void *ctx, const char *addr, uint16_t port, const uint8_t *buf, size_t len)
{
    self_t *self = (self_t *) ctx;
    conn_t *conn = s_conn_open (self, addr, port, CONN_PUSHPULL, buf, len);
    if (conn)
        conn->joining = !swim_joined (self->swim);
    else if (!swim_joined (self->swim)) {
        int err = self->conn_errno;
        snprintf (self->join_why, sizeof self->join_why, "seed %s:%u: cannot open a connection%s%s",
                  addr, (unsigned) port, err ? ": " : "", err ? strerror (err) : "");
        s_join_note (self, addr, port, s_seed_outcome (err),
                     err == ENETUNREACH ? "network is unreachable"
                     : err == EHOSTUNREACH ? "no route to host"
                     : err ? strerror (err) : "cannot open a connection");
    }
}

static void
s_env_event (void *ctx, const swim_event_t *ev)
{
    self_t *self = (self_t *) ctx;
    if (ev->kind == SWIM_EV_REFUSED)
        log_warn (S_COMP, "refused: %s|member=%s", ev->reason ? ev->reason : "",
                  ev->member->name);
    else if (ev->kind == SWIM_EV_FAIL || ev->kind == SWIM_EV_LEAVE || ev->kind == SWIM_EV_JOIN)
        log_info (S_COMP, "member %s|member=%s addr=%s:%u inc=%llu",
                  swim_event_name (ev->kind), ev->member->name, ev->member->addr,
                  (unsigned) ev->member->port, (unsigned long long) ev->member->incarnation);
    if (!self->events)
        return;
    uint8_t *buf = NULL;
    size_t len = 0;
    if (swim_member_encode (ev->member, &buf, &len))
        return;
    zmsg_t *msg = zmsg_new ();
    zmsg_addstr (msg, swim_event_name (ev->kind));
    zmsg_addstr (msg, ev->member->name);
    zmsg_addmem (msg, buf, len);
    zmsg_addstr (msg, ev->reason ? ev->reason : "");
    free (buf);
    zmsg_send (&msg, self->events);
}

/* ---- Stream connections ------------------------------------------------------- */

static void
s_conn_free (conn_t **conn_p)
{
    conn_t *conn = *conn_p;
    if (!conn)
        return;
    if (conn->fd >= 0)
        close (conn->fd);
    free (conn->out);
    free (conn->in);
    free (conn);
    *conn_p = NULL;
}

static conn_t *
s_conn_add (self_t *self, int fd, conn_kind_t kind)
{
    if (self->nconns == S_CONNS_MAX) {
        close (fd);
        self->st.stream_errors++;
        return NULL;
    }
    conn_t *conn = (conn_t *) zmalloc (sizeof (conn_t));
    conn->fd = fd;
    conn->kind = kind;
    conn->opened_at = s_now (NULL);
    conn->deadline = conn->opened_at + (kind == CONN_SERVE ? S_PREAUTH_TIMEOUT : S_CONN_TIMEOUT);
    self->conns [self->nconns++] = conn;
    return conn;
}

static conn_t *
s_conn_open (self_t *self, const char *addr, uint16_t port, conn_kind_t kind, const uint8_t *msg,
             size_t len)
{
    struct sockaddr_in sa;
    self->conn_errno = 0;
    if (s_sockaddr (addr, port, &sa))
        return NULL;
    int fd = socket (AF_INET, SOCK_STREAM, 0);
    if (fd < 0 || s_nonblock (fd)) {
        if (fd >= 0)
            close (fd);
        self->st.stream_errors++;
        return NULL;
    }
    int one = 1;
    setsockopt (fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect (fd, (struct sockaddr *) &sa, sizeof sa) && errno != EINPROGRESS) {
        /* An "unreachable" route or no route at all fails here at once:
         * kept so a JOIN can say so without waiting for its deadline. */
        self->conn_errno = errno;
        close (fd);
        self->st.stream_errors++;
        return NULL;
    }
    conn_t *conn = s_conn_add (self, fd, kind);
    if (!conn)
        return NULL;
    snprintf (conn->peer, sizeof conn->peer, "%s", addr);
    conn->port = port;
    conn->out = s_frame (self, msg, len, &conn->outlen);
    conn->writing = true;
    if (!conn->out)
        conn->deadline = 0;     /* reaped on the next pass */
    return conn;
}

static void s_keyop_result (self_t *self, conn_t *conn, const uint8_t *msg, size_t len);
static void s_serve_keyop (self_t *self, conn_t *conn, const uint8_t *msg, size_t len);

/* A complete frame arrived on `conn`: open it and act. Returns true if the
 * connection now has a reply to write. */
static bool
s_conn_frame (self_t *self, conn_t *conn)
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
        conn->fail = S_SEED_WRONG_KEY;
        free (pt);
        return false;           /* the close reports it (once) */
    }
    conn->answered = true;
    bool reply = false;
    if (conn->kind == CONN_KEYOP)
        s_keyop_result (self, conn, pt, ptlen);
    else if (conn->kind == CONN_PUSHPULL)
        swim_receive_stream (self->swim, conn->peer, conn->port, pt, ptlen, NULL, NULL);
    else {
        wire_hdr_t hdr;
        self->st.stream_served++;
        if (wire_peek (&gossip_proto, pt, ptlen, &hdr) == 0 && hdr.type == GOSSIP_KEY_OP) {
            s_serve_keyop (self, conn, pt, ptlen);
            reply = conn->out != NULL;
        }
        else {
            uint8_t *out = NULL;
            size_t outlen = 0;
            swim_receive_stream (self->swim, conn->peer, conn->port, pt, ptlen, &out, &outlen);
            if (out) {
                conn->out = s_frame (self, out, outlen, &conn->outlen);
                free (out);
                reply = conn->out != NULL;
            }
        }
    }
    free (pt);
    return reply;
}

/* Drive one connection; returns false when it is finished. */
static bool
s_conn_io (self_t *self, conn_t *conn)
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
                conn->fail = conn->outoff == 0 ? s_seed_outcome (err)
                             : err == ECONNRESET || err == EPIPE ? S_SEED_WRONG_KEY
                                                                 : S_SEED_WAITING;
                conn->why = conn->fail == S_SEED_REFUSED
                                ? "connection refused (not running there?)"
                            : conn->fail == S_SEED_UNREACHABLE
                                ? (err == ENETUNREACH ? "network is unreachable" : "no route to host")
                            : conn->fail == S_SEED_WRONG_KEY
                                ? "closed the connection without answering (wrong cluster key?)"
                                : "connection lost while sending";
                return false;
            }
            conn->outoff += (size_t) n;
        }
        if (conn->kind == CONN_SERVE)
            return false;           /* reply written: done */
        conn->writing = false;      /* request written: read the reply */
        return true;
    }
    while (conn->hdroff < GOSSIP_TCP_HDR_SEALED) {
        ssize_t n = recv (conn->fd, conn->hdr + conn->hdroff,
                          GOSSIP_TCP_HDR_SEALED - conn->hdroff, 0);
        if (n == 0 || (n < 0 && errno == ECONNRESET && conn->hdroff == 0)) {
            /* A peer that cannot open our request (another cluster key)
             * closes without a word: that is the usual cause. It closes
             * after the sealed header, with our body unread, so the close
             * often arrives as a reset. */
            conn->why = "closed the connection without answering (wrong cluster key?)";
            conn->fail = S_SEED_WRONG_KEY;
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
             * slot for at most S_PREAUTH_TIMEOUT and 73 bytes. */
            uint8_t stamp [GOSSIP_STAMP_BYTES];
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
                conn->fail = S_SEED_WRONG_KEY;
                return false;
            }
            if (s_stamp_check (self, stamp, 1)) {
                conn->why = "its answer was a replay or stamped too far from our clock";
                return false;
            }
            conn->authed = true;
            conn->deadline = conn->opened_at + S_CONN_TIMEOUT;
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
        return s_conn_io (self, conn);
    }
    return false;
}

static void
s_conn_close_at (self_t *self, size_t i)
{
    conn_t *conn = self->conns [i];
    if (conn->kind == CONN_KEYOP)
        s_keyop_result (self, conn, NULL, 0);   /* no-op if already counted */
    else if (conn->kind == CONN_PUSHPULL && conn->joining && !conn->answered
             && !swim_joined (self->swim)) {
        snprintf (self->join_why, sizeof self->join_why, "seed %s:%u: %s", conn->peer,
                  (unsigned) conn->port, conn->why ? conn->why : "did not answer");
        s_join_note (self, conn->peer, conn->port, conn->fail,
                     conn->why ? conn->why : "did not answer");
    }
    s_conn_free (&self->conns [i]);
    self->conns [i] = self->conns [--self->nconns];
}

/* ---- Keyring operations ---------------------------------------------------------- */

static int
s_keyring_apply (self_t *self, uint32_t op, const uint8_t key [SHED_KEY_BYTES], char *why,
                 size_t whylen)
{
    int rc = 0;
    switch (op) {
        case GOSSIP_KEY_INSTALL: rc = shed_keyring_install (self->keyring, key); break;
        case GOSSIP_KEY_USE:     rc = shed_keyring_use (self->keyring, key); break;
        case GOSSIP_KEY_REMOVE:  rc = shed_keyring_remove (self->keyring, key); break;
        default:                 return 0;
    }
    if (rc) {
        snprintf (why, whylen, "%s",
                  rc == SHED_KR_ERR_FULL ? "keyring full"
                  : rc == SHED_KR_ERR_ABSENT ? "key not installed"
                  : rc == SHED_KR_ERR_PRIMARY ? "cannot remove the primary key"
                                              : "keyring error");
        return -1;
    }
    if (self->cfg.keyring_path [0] && shed_keyring_save (self->keyring, self->cfg.keyring_path)) {
        snprintf (why, whylen, "saving keyring: %s", strerror (errno));
        return -1;
    }
    return 0;
}

/* The last key operation's epoch lives beside the keyring, in
 * "<keyring_path>.epoch" (decimal, 0600), so a restarted node still ignores
 * operations older than the last it applied (docs/membership.md section 6). */
static void
s_epoch_path (self_t *self, char *path, size_t pathlen)
{
    snprintf (path, pathlen, "%s.epoch", self->cfg.keyring_path);
}

static void
s_epoch_load (self_t *self)
{
    if (!self->cfg.keyring_path [0])
        return;
    char path [600];
    s_epoch_path (self, path, sizeof path);
    size_t len = 0;
    char *text = shed_read_file (path, 64, &len);
    if (!text)
        return;                     /* none yet: any epoch is newer */
    char buf [65];
    memcpy (buf, text, len < 64 ? len : 64);
    buf [len < 64 ? len : 64] = '\0';
    free (text);
    self->key_epoch = strtoull (buf, NULL, 10);
}

static int
s_epoch_save (self_t *self, uint64_t epoch)
{
    self->key_epoch = epoch;
    if (!self->cfg.keyring_path [0])
        return 0;
    char path [600], text [32];
    s_epoch_path (self, path, sizeof path);
    int n = snprintf (text, sizeof text, "%llu\n", (unsigned long long) epoch);
    return shed_write_file_atomic (path, text, (size_t) n, 0600);
}

/* "<keyid>,<keyid>*" for our keyring. */
static void
s_keyids (self_t *self, char *out, size_t outlen)
{
    out [0] = '\0';
    size_t used = 0;
    for (size_t i = 0; i < shed_keyring_count (self->keyring); i++) {
        shed_keyring_entry_t e;
        if (shed_keyring_entry (self->keyring, i, &e))
            continue;
        int n = snprintf (out + used, outlen - used, "%s%08x%s", used ? "," : "", e.id,
                          e.primary ? "*" : "");
        sodium_memzero (&e, sizeof e);
        if (n < 0 || (size_t) n >= outlen - used)
            break;
        used += (size_t) n;
    }
}

static void
s_serve_keyop (self_t *self, conn_t *conn, const uint8_t *msg, size_t len)
{
    gossip_msg_t req;
    if (wire_decode (&gossip_proto, msg, len, &req, NULL))
        return;
    gossip_msg_t rep;
    memset (&rep, 0, sizeof rep);
    rep.hdr.type = GOSSIP_KEY_REPLY;
    gossip_key_reply_t *r = &rep.u.gossip_key_reply;
    r->id = req.u.gossip_key_op.id;
    snprintf (r->from, sizeof r->from, "%s", self->cfg.name);
    r->ok = true;
    uint64_t epoch = req.u.gossip_key_op.epoch;
    if (req.u.gossip_key_op.op != GOSSIP_KEY_LIST && epoch <= self->key_epoch) {
        /* Older than (or the same as) the last change we applied: a replay
         * or a straggler. Applying it could undo a rotation (USE K2 after
         * USE K3 splits the cluster), so it is ignored and counted. */
        self->st.keyop_stale++;
        log_warn (S_COMP, "stale key operation ignored|epoch=%llu last=%llu peer=%s",
                  (unsigned long long) epoch, (unsigned long long) self->key_epoch, conn->peer);
        snprintf (r->error, sizeof r->error, "stale key operation (epoch %llu, last applied %llu)",
                  (unsigned long long) epoch, (unsigned long long) self->key_epoch);
        r->ok = false;
    }
    else if (req.u.gossip_key_op.op != GOSSIP_KEY_LIST) {
        uint8_t key [SHED_KEY_BYTES];
        memcpy (key, req.u.gossip_key_op.key.data, SHED_KEY_BYTES);
        if (s_keyring_apply (self, (uint32_t) req.u.gossip_key_op.op, key, r->error,
                             sizeof r->error))
            r->ok = false;
        else if (s_epoch_save (self, epoch)) {
            snprintf (r->error, sizeof r->error, "saving key epoch: %s", strerror (errno));
            r->ok = false;
        }
        sodium_memzero (key, sizeof key);
    }
    if (req.u.gossip_key_op.key.data)
        sodium_memzero (req.u.gossip_key_op.key.data, req.u.gossip_key_op.key.len);
    wire_msg_free (&gossip_proto, &req);
    gossip_keyinfo_t infos [SWIM_KEYS_MAX];
    size_t n = 0;
    for (size_t i = 0; i < shed_keyring_count (self->keyring) && n < SWIM_KEYS_MAX; i++) {
        shed_keyring_entry_t e;
        if (shed_keyring_entry (self->keyring, i, &e))
            continue;
        memset (&infos [n], 0, sizeof infos [n]);
        infos [n].id = e.id;
        infos [n].primary = e.primary;
        n++;
        sodium_memzero (&e, sizeof e);
    }
    r->keys.n = n;
    r->keys.items = infos;
    uint8_t *out = NULL;
    size_t outlen = 0;
    if (wire_encode (&gossip_proto, &rep, &out, &outlen) == 0) {
        conn->out = s_frame (self, out, outlen, &conn->outlen);
        free (out);
    }
}

static void
s_keyop_finish (self_t *self)
{
    zmsg_t *reply = self->keyop.results;
    self->keyop.results = NULL;
    zmsg_pushstr (reply, self->keyop.failed ? "PARTIAL" : "OK");
    zmsg_send (&reply, self->pipe);
    sodium_memzero (self->keyop.key, sizeof self->keyop.key);
    self->keyop.active = false;
}

/* The outcome of one member's key operation: its answer (msg) or, with msg
 * NULL, its failure (conn->why). Counted exactly once per connection: the
 * connection's name is cleared here, so the close that follows an answer
 * (or a failed open) does not count it a second time. */
static void
s_keyop_result (self_t *self, conn_t *conn, const uint8_t *msg, size_t len)
{
    if (!conn->name [0])
        return;
    char name [SWIM_NAME_MAX + 1];
    memcpy (name, conn->name, sizeof name);
    conn->name [0] = '\0';
    if (!self->keyop.active || conn->keyop_id != self->keyop.id)
        return;                  /* a straggler of an earlier operation */
    gossip_msg_t rep;
    if (!msg) {
        zmsg_addstrf (self->keyop.results, "%s error %s", name,
                      conn->why ? conn->why : "no answer");
        self->keyop.failed = true;
    }
    else if (wire_decode (&gossip_proto, msg, len, &rep, NULL)) {
        zmsg_addstrf (self->keyop.results, "%s error invalid answer", name);
        self->keyop.failed = true;
    }
    else {
        gossip_key_reply_t *r = &rep.u.gossip_key_reply;
        if (rep.hdr.type != GOSSIP_KEY_REPLY || r->id != self->keyop.id) {
            zmsg_addstrf (self->keyop.results, "%s error invalid answer", name);
            self->keyop.failed = true;
        }
        else if (strcmp (r->from, name) != 0) {
            /* Whoever listens at that address now is not the member we
             * meant (restarted under another name?): don't report its
             * keyring as that member's. */
            zmsg_addstrf (self->keyop.results, "%s error answered by '%s' at %s:%u", name,
                          r->from, conn->peer, (unsigned) conn->port);
            self->keyop.failed = true;
        }
        else if (r->ok) {
            char ids [SWIM_KEYS_MAX * 10 + 1] = "";
            size_t used = 0;
            for (size_t i = 0; i < r->keys.n && used < sizeof ids; i++)
                used += (size_t) snprintf (ids + used, sizeof ids - used, "%s%08x%s",
                                           i ? "," : "", (unsigned) r->keys.items [i].id,
                                           r->keys.items [i].primary ? "*" : "");
            zmsg_addstrf (self->keyop.results, "%s ok %s", name, ids);
        }
        else {
            zmsg_addstrf (self->keyop.results, "%s error %s", name, r->error);
            self->keyop.failed = true;
        }
        wire_msg_free (&gossip_proto, &rep);
    }
    if (self->keyop.waiting > 0 && --self->keyop.waiting == 0)
        s_keyop_finish (self);
}

static void
s_cmd_keys (self_t *self, zmsg_t *request)
{
    char *verb = zmsg_popstr (request);
    char *text = zmsg_popstr (request);
    uint32_t op = GOSSIP_KEY_LIST;
    if (verb && streq (verb, "INSTALL"))
        op = GOSSIP_KEY_INSTALL;
    else if (verb && streq (verb, "USE"))
        op = GOSSIP_KEY_USE;
    else if (verb && streq (verb, "REMOVE"))
        op = GOSSIP_KEY_REMOVE;
    else if (!verb || !streq (verb, "LIST")) {
        zstr_send (self->pipe, "ERROR unknown KEYS verb");
        goto done;
    }
    if (self->keyop.active) {
        zstr_send (self->pipe, "ERROR another key operation is running");
        goto done;
    }
    memset (&self->keyop, 0, sizeof self->keyop);
    if (op != GOSSIP_KEY_LIST && (!text || shed_key_from_text (text, self->keyop.key))) {
        zstr_send (self->pipe, "ERROR key must be base64 of 32 bytes");
        goto done;
    }
    char why [128];
    /* Epochs only grow: the wall clock when it is ahead, else last + 1. */
    uint64_t epoch = (uint64_t) zclock_time ();
    if (epoch <= self->key_epoch)
        epoch = self->key_epoch + 1;
    if (s_keyring_apply (self, op, self->keyop.key, why, sizeof why)) {
        zstr_sendf (self->pipe, "ERROR %s", why);
        sodium_memzero (self->keyop.key, sizeof self->keyop.key);
        goto done;
    }
    if (op != GOSSIP_KEY_LIST && s_epoch_save (self, epoch)) {
        zstr_sendf (self->pipe, "ERROR saving key epoch: %s", strerror (errno));
        sodium_memzero (self->keyop.key, sizeof self->keyop.key);
        goto done;
    }
    self->keyop.active = true;
    self->keyop.op = op;
    self->keyop.id = ((uint64_t) randombytes_random () << 32) | randombytes_random ();
    self->keyop.results = zmsg_new ();
    self->keyop.deadline = s_now (NULL) + S_KEYOP_TIMEOUT;
    char ids [SWIM_KEYS_MAX * 10 + 1];
    s_keyids (self, ids, sizeof ids);
    zmsg_addstrf (self->keyop.results, "%s ok %s", self->cfg.name, ids);

    gossip_msg_t msg;
    memset (&msg, 0, sizeof msg);
    msg.hdr.type = GOSSIP_KEY_OP;
    msg.u.gossip_key_op.id = self->keyop.id;
    msg.u.gossip_key_op.op = op;
    msg.u.gossip_key_op.epoch = op != GOSSIP_KEY_LIST ? epoch : 0;
    if (op != GOSSIP_KEY_LIST) {
        msg.u.gossip_key_op.key.data = self->keyop.key;
        msg.u.gossip_key_op.key.len = SHED_KEY_BYTES;
    }
    uint8_t *buf = NULL;
    size_t len = 0;
    if (wire_encode (&gossip_proto, &msg, &buf, &len) == 0) {
        for (size_t i = 1; i < swim_size (self->swim); i++) {
            const swim_member_t *m = swim_member_at (self->swim, i);
            if (m->state != SWIM_ALIVE && m->state != SWIM_SUSPECT)
                continue;
            conn_t *conn = s_conn_open (self, m->addr, m->port, CONN_KEYOP, buf, len);
            if (conn) {
                snprintf (conn->name, sizeof conn->name, "%s", m->name);
                conn->keyop_id = self->keyop.id;
                self->keyop.waiting++;
            }
            else {
                zmsg_addstrf (self->keyop.results, "%s error cannot connect", m->name);
                self->keyop.failed = true;
            }
        }
        sodium_memzero (buf, len);
        free (buf);
    }
    if (self->keyop.waiting == 0)
        s_keyop_finish (self);
done:
    zstr_free (&verb);
    if (text)
        sodium_memzero (text, strlen (text));
    zstr_free (&text);
}

/* ---- Commands ------------------------------------------------------------------ */

/* Answer the JOIN (tagged with "$JOIN" for JOIN-TAGGED) and end it. */
static void
s_join_reply (self_t *self, const char *status)
{
    zmsg_t *msg = zmsg_new ();
    if (self->join_tagged)
        zmsg_addstr (msg, "$JOIN");
    zmsg_addstr (msg, status);
    zmsg_send (&msg, self->pipe);
    self->join_pending = false;
    self->join_tagged = false;
}

/* If the pending JOIN has failed, answer it with every seed and why:
 * "ERROR join A: unreachable (...); join B: refused (...)". At once when
 * every seed failed definitely (docs/operations.md "Joining"); at the
 * deadline (`expired`) with the rest reported as timed out. */
static void
s_join_fail (self_t *self, bool expired)
{
    for (size_t i = 0; i < self->njoin_seeds && !expired; i++)
        if (self->join_seeds [i].outcome == S_SEED_WAITING)
            return;
    char text [480] = "ERROR ";
    size_t used = strlen (text);
    uint32_t ms = self->cfg.join_timeout_ms;
    for (size_t i = 0; i < self->njoin_seeds && used < sizeof text; i++) {
        const s_join_seed_t *js = &self->join_seeds [i];
        char where [128];
        if (js->outcome == S_SEED_BAD)
            snprintf (where, sizeof where, "%.100s", js->seed);
        else
            snprintf (where, sizeof where, "%s:%u", js->addr, (unsigned) js->port);
        const char *sep = i ? "; " : "";
        int n;
        switch (js->outcome) {
        case S_SEED_UNREACHABLE:
            n = snprintf (text + used, sizeof text - used, "%sjoin %s: unreachable (%s)", sep,
                          where, js->detail);
            break;
        case S_SEED_REFUSED:
            n = snprintf (text + used, sizeof text - used,
                          "%sjoin %s: refused (nothing listens on that port)", sep, where);
            break;
        case S_SEED_WRONG_KEY: {
            /* The connection's text carries a hint for the log; here the
             * class says it. */
            char what [sizeof js->detail];
            snprintf (what, sizeof what, "%s", js->detail);
            char *hint = strstr (what, " (wrong cluster key?)");
            if (hint)
                *hint = '\0';
            n = snprintf (text + used, sizeof text - used,
                          "%sjoin %s: wrong key (%s: it holds another cluster key than "
                          "ours, a wrong cluster key)", sep, where, what);
            break;
        }
        case S_SEED_BAD:
            n = snprintf (text + used, sizeof text - used,
                          "%sjoin %s: cannot resolve seed (host:port expected)", sep, where);
            break;
        default:
            if (ms % 1000 == 0)
                n = snprintf (text + used, sizeof text - used, "%sjoin %s: timed out after %u s",
                              sep, where, (unsigned) (ms / 1000));
            else
                n = snprintf (text + used, sizeof text - used, "%sjoin %s: timed out after %u ms",
                              sep, where, (unsigned) ms);
            if (n > 0 && js->detail [0] && (size_t) n < sizeof text - used)
                n += snprintf (text + used + n, sizeof text - used - (size_t) n, " (last try: %s)",
                               js->detail);
            break;
        }
        if (n < 0)
            break;
        used += (size_t) n;
    }
    if (used < sizeof text)
        snprintf (text + used, sizeof text - used, "; still retrying in the background");
    s_join_reply (self, text);
}

/* A join push-pull with addr:port is still open: a slow seed is answering,
 * and a second attempt would only queue behind it (and count against its
 * per-source connection limit). */
static bool
s_join_in_flight (self_t *self, const char *addr, uint16_t port)
{
    for (size_t i = 0; i < self->nconns; i++) {
        const conn_t *c = self->conns [i];
        if (c->kind == CONN_PUSHPULL && c->joining && c->port == port && streq (c->peer, addr))
            return true;
    }
    return false;
}

static void
s_join_seeds (self_t *self)
{
    self->join_attempts++;
    for (size_t i = 0; i < self->cfg.nseeds; i++) {
        char addr [SWIM_ADDR_MAX + 1];
        uint16_t port;
        if (s_resolve (self->cfg.seeds [i], addr, sizeof addr, &port) != 0)
            log_warn (S_COMP, "cannot resolve seed|seed=%s", self->cfg.seeds [i]);
        else if (!s_join_in_flight (self, addr, port))
            swim_join (self->swim, addr, port);
    }
}

/* Start a round of joining: the retry schedule starts over. */
static void
s_join_start (self_t *self, uint64_t now)
{
    self->join_started_ms = now;
    self->join_attempts = 0;
    self->join_logged_ms = 0;
    self->join_backoff = S_JOIN_FAST;
    self->join_next_ms = now + S_JOIN_FAST;
}

/* The delay before the next retry, S_JOIN_FAST while the round is young. */
static uint64_t
s_join_backoff_next (self_t *self, uint64_t now)
{
    if (now - self->join_started_ms < S_JOIN_FAST_FOR)
        return S_JOIN_FAST;
    if (self->join_backoff < S_JOIN_BACKOFF0)
        return S_JOIN_BACKOFF0;
    return self->join_backoff * 2 > S_JOIN_BACKOFFN ? S_JOIN_BACKOFFN : self->join_backoff * 2;
}

static void
s_cmd_stats (self_t *self)
{
    zmsg_t *msg = zmsg_new ();
    swim_stats_t st;
    swim_stats (self->swim, &st);
#define S_ADD(n) zmsg_addstr (msg, #n); zmsg_addstrf (msg, "%llu", (unsigned long long) st.n);
    SWIM_COUNTERS (S_ADD)
#undef S_ADD
#define S_ADD(n) zmsg_addstr (msg, #n); zmsg_addstrf (msg, "%llu", (unsigned long long) self->st.n);
    S_COUNTERS (S_ADD)
#undef S_ADD
    zmsg_addstr (msg, "members");
    zmsg_addstrf (msg, "%zu", swim_size (self->swim));
    const char *names [] = { "alive", "suspect", "failed", "left" };
    for (int s = 0; s < 4; s++) {
        zmsg_addstr (msg, names [s]);
        zmsg_addstrf (msg, "%zu", swim_count_state (self->swim, (swim_state_t) s));
    }
    zmsg_addstr (msg, "awareness");
    zmsg_addstrf (msg, "%u", swim_awareness (self->swim));
    zmsg_addstr (msg, "join_attempts");
    zmsg_addstrf (msg, "%u", self->join_attempts);
    zmsg_send (&msg, self->pipe);
}

static void
s_handle_pipe (self_t *self)
{
    zmsg_t *request = zmsg_recv (self->pipe);
    if (!request) {
        self->terminated = true;
        return;
    }
    char *command = zmsg_popstr (request);
    if (!command)
        ;
    else if (streq (command, "$TERM"))
        self->terminated = true;
    else if (streq (command, "JOIN") || streq (command, "JOIN-TAGGED")) {
        bool tagged = streq (command, "JOIN-TAGGED");
        if (self->join_pending) {
            /* One JOIN at a time: its seeds and deadline are the answer's. */
            zmsg_t *busy = zmsg_new ();
            if (tagged)
                zmsg_addstr (busy, "$JOIN");
            zmsg_addstr (busy, "ERROR another join is in progress");
            zmsg_send (&busy, self->pipe);
            goto done;
        }
        self->join_tagged = tagged;
        self->join_why [0] = '\0';
        self->njoin_seeds = 0;
        /* Record the seeds first: swim_join opens the connection at once,
         * and an unreachable seed fails inside it. */
        char *seed;
        size_t valid = 0;
        while ((seed = zmsg_popstr (request))) {
            if (self->cfg.nseeds < MEMBERSHIP_SEEDS_MAX) {
                bool dup = false;
                for (size_t i = 0; i < self->cfg.nseeds; i++)
                    dup |= streq (self->cfg.seeds [i], seed);
                if (!dup)
                    snprintf (self->cfg.seeds [self->cfg.nseeds++], sizeof self->cfg.seeds [0],
                              "%s", seed);
            }
            if (self->njoin_seeds < MEMBERSHIP_SEEDS_MAX) {
                s_join_seed_t *js = &self->join_seeds [self->njoin_seeds++];
                memset (js, 0, sizeof *js);
                snprintf (js->seed, sizeof js->seed, "%s", seed);
                if (s_resolve (seed, js->addr, sizeof js->addr, &js->port) == 0)
                    valid++;
                else {
                    js->outcome = S_SEED_BAD;
                    snprintf (self->join_why, sizeof self->join_why,
                              "cannot resolve seed '%.100s' (host:port expected)", seed);
                }
            }
            zstr_free (&seed);
        }
        if (swim_joined (self->swim) || swim_refused (self->swim) || !valid) {
            for (size_t i = 0; i < self->njoin_seeds; i++)
                if (self->join_seeds [i].outcome != S_SEED_BAD)
                    swim_join (self->swim, self->join_seeds [i].addr, self->join_seeds [i].port);
            self->join_pending = true;
            if (swim_joined (self->swim))
                s_join_reply (self, "OK");
            else if (swim_refused (self->swim)) {
                char text [300];
                snprintf (text, sizeof text, "ERROR %s", swim_refused (self->swim));
                s_join_reply (self, text);
            }
            else if (!self->njoin_seeds)
                s_join_reply (self, "ERROR no seed given");
            else
                s_join_fail (self, true);
        }
        else {
            self->join_pending = true;
            self->join_reply_by = s_now (NULL) + self->cfg.join_timeout_ms;
            s_join_start (self, s_now (NULL));
            self->join_attempts = 1;
            for (size_t i = 0; i < self->njoin_seeds; i++)
                if (self->join_seeds [i].outcome != S_SEED_BAD)
                    swim_join (self->swim, self->join_seeds [i].addr, self->join_seeds [i].port);
        }
    }
    else if (streq (command, "LEAVE")) {
        swim_leave (self->swim);
        self->leave_pending = true;
        self->leave_reply_by = s_now (NULL) + self->cfg.leave_timeout_ms;
    }
    else if (streq (command, "MEMBERS")) {
        uint8_t *buf = NULL;
        size_t len = 0;
        if (swim_members_encode (self->swim, &buf, &len) == 0) {
            zframe_t *frame = zframe_new (buf, len);
            zframe_send (&frame, self->pipe, 0);
            free (buf);
        }
        else
            zstr_send (self->pipe, "");
    }
    else if (streq (command, "TAGS")) {
        char *verb = zmsg_popstr (request);
        char *key = zmsg_popstr (request);
        char *value = zmsg_popstr (request);
        if (verb && key && streq (verb, "SET") && value)
            zstr_send (self->pipe, swim_set_tag (self->swim, key, value) == 0
                                       ? "OK" : "ERROR tag too long or too many tags");
        else if (verb && key && streq (verb, "UNSET")) {
            swim_unset_tag (self->swim, key);
            zstr_send (self->pipe, "OK");
        }
        else
            zstr_send (self->pipe, "ERROR usage: TAGS SET key value | TAGS UNSET key");
        zstr_free (&verb);
        zstr_free (&key);
        zstr_free (&value);
    }
    else if (streq (command, "KEYS"))
        s_cmd_keys (self, request);
    else if (streq (command, "STATS"))
        s_cmd_stats (self);
    else {
        log_error (S_COMP, "invalid command|command=%s", command);
        zstr_send (self->pipe, "ERROR invalid command");
    }
done:
    zstr_free (&command);
    zmsg_destroy (&request);
}

/* ---- Sockets ---------------------------------------------------------------------- */

static void
s_handle_udp (self_t *self)
{
    uint8_t buf [65536];
    uint8_t pt [65536];
    for (int burst = 0; burst < 64; burst++) {
        struct sockaddr_in sa;
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
                                  strlen (GOSSIP_UDP_AD_V1), buf, (size_t) n, pt, sizeof pt,
                                  &ptlen, NULL) == 0) {
            /* A version 1 node (no replay stamps) with our key: say so
             * instead of letting it look like a wrong key. Never applied. */
            sodium_memzero (pt, ptlen);
            if (self->st.drop_v1++ % 100 == 0) {
                char from [INET_ADDRSTRLEN];
                inet_ntop (AF_INET, &sa.sin_addr, from, sizeof from);
                log_warn (S_COMP, "gossip from a version 1 node ignored: upgrade it|peer=%s", from);
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
        if (s_stamp_check (self, pt, 0))
            continue;
        char addr [INET_ADDRSTRLEN];
        inet_ntop (AF_INET, &sa.sin_addr, addr, sizeof addr);
        swim_receive (self->swim, addr, ntohs (sa.sin_port), pt + GOSSIP_STAMP_BYTES,
                      ptlen - GOSSIP_STAMP_BYTES);
    }
}

/* Admission of an incoming connection from `peer` (docs/membership.md
 * section 1): at most S_CONNS_PER_SRC per source address, at most
 * S_CONNS_IN_MAX in all (the rest of the slots are for our own streams);
 * when full, the oldest incoming connection whose header has not opened
 * yet makes room, so a flood of idle connections cycles through its own
 * slots while a member's header (sent at once) opens within an RTT.
 * Returns true if it may be added. */
static bool
s_admit (self_t *self, const char *peer)
{
    size_t incoming = 0, same = 0, oldest = SIZE_MAX;
    for (size_t i = 0; i < self->nconns; i++) {
        conn_t *c = self->conns [i];
        if (c->kind != CONN_SERVE)
            continue;
        incoming++;
        if (streq (c->peer, peer))
            same++;
        if (!c->authed && (oldest == SIZE_MAX || c->opened_at < self->conns [oldest]->opened_at))
            oldest = i;
    }
    if (same >= S_CONNS_PER_SRC) {
        self->st.drop_conn_source++;
        return false;
    }
    if (incoming < S_CONNS_IN_MAX && self->nconns < S_CONNS_MAX)
        return true;
    if (oldest == SIZE_MAX) {
        self->st.drop_conn_full++;
        return false;
    }
    self->st.drop_preauth++;
    self->conns [oldest]->why = "evicted before its header opened";
    s_conn_close_at (self, oldest);
    return true;
}

static void
s_handle_accept (self_t *self)
{
    for (int burst = 0; burst < 64; burst++) {
        struct sockaddr_in sa;
        socklen_t salen = sizeof sa;
        int fd = accept (self->tcp, (struct sockaddr *) &sa, &salen);
        if (fd < 0)
            return;
        char peer [INET_ADDRSTRLEN];
        inet_ntop (AF_INET, &sa.sin_addr, peer, sizeof peer);
        if (s_nonblock (fd) || !s_admit (self, peer)) {
            close (fd);
            continue;
        }
        conn_t *conn = s_conn_add (self, fd, CONN_SERVE);
        if (conn) {
            snprintf (conn->peer, sizeof conn->peer, "%s", peer);
            conn->port = ntohs (sa.sin_port);
        }
    }
}

/* True if addr:port is a member we know (any state). */
static bool
s_known_addr (self_t *self, const char *addr, uint16_t port)
{
    for (size_t i = 0; i < swim_size (self->swim); i++) {
        const swim_member_t *m = swim_member_at (self->swim, i);
        if (m->port == port && streq (m->addr, addr))
            return true;
    }
    return false;
}

/* Once joined, an unknown beacon sender (another cluster formed on the same
 * LAN at the same time, or a node of another cluster key) is joined at most
 * once per S_BEACON_RETRY. Returns true if we may try it now. */
static bool
s_beacon_may_try (self_t *self, const char *addr, uint16_t port)
{
    uint64_t now = s_now (NULL);
    size_t oldest = 0;
    for (size_t i = 0; i < S_BEACON_PEERS; i++) {
        if (self->beacon_tries [i].port == port && streq (self->beacon_tries [i].addr, addr)) {
            if (now - self->beacon_tries [i].at < S_BEACON_RETRY)
                return false;
            self->beacon_tries [i].at = now;
            return true;
        }
        if (self->beacon_tries [i].at < self->beacon_tries [oldest].at)
            oldest = i;
    }
    snprintf (self->beacon_tries [oldest].addr, sizeof self->beacon_tries [oldest].addr, "%s",
              addr);
    self->beacon_tries [oldest].port = port;
    self->beacon_tries [oldest].at = now;
    return true;
}

/* A beacon (docs/membership.md section 1) is "SHD2" then, sealed with the
 * cluster keyring (AD "shed-beacon-v2"): a stamp, the sender's gossip port
 * (2 bytes, big-endian), its identity public key (32 bytes) and its
 * advertised address. Only a node holding the cluster key can make us dial
 * anything, and we dial the sealed address, not the packet's source. The
 * stamp bounds a captured beacon to the skew window; there is no per-sender
 * counter check because zbeacon repeats one payload on purpose, and a
 * replay can only make us dial a real member. The identity key also keeps
 * every node's beacon different for zbeacon's echo filter.
 * Before we are joined every beacon is a join candidate; once joined, only
 * senders we do not know (rate-limited), so two clusters that formed at the
 * same time on one LAN still merge. */
#define S_BEACON_PT_MAX (GOSSIP_STAMP_BYTES + 2 + SWIM_KEY_BYTES + SWIM_ADDR_MAX)

static void
s_beacon_publish (self_t *self)
{
    uint8_t pt [S_BEACON_PT_MAX];
    size_t alen = strlen (self->cfg.advertise_addr);
    s_stamp_next (self, 0, pt);
    pt [GOSSIP_STAMP_BYTES] = (uint8_t) (self->cfg.port >> 8);
    pt [GOSSIP_STAMP_BYTES + 1] = (uint8_t) self->cfg.port;
    memcpy (pt + GOSSIP_STAMP_BYTES + 2, self->cfg.identity, SWIM_KEY_BYTES);
    memcpy (pt + GOSSIP_STAMP_BYTES + 2 + SWIM_KEY_BYTES, self->cfg.advertise_addr, alen);
    uint8_t payload [4 + S_BEACON_PT_MAX + SHED_SEAL_OVERHEAD];
    memcpy (payload, S_BEACON_MAGIC, 4);
    size_t slen = 0;
    if (shed_keyring_seal (self->keyring, (const uint8_t *) S_BEACON_AD, strlen (S_BEACON_AD),
                           pt, GOSSIP_STAMP_BYTES + 2 + SWIM_KEY_BYTES + alen, payload + 4,
                           sizeof payload - 4, &slen))
        return;
    zsock_send (self->beacon, "sbi", "PUBLISH", payload, 4 + slen, 1000);
    self->beacon_published = s_now (NULL);
}

static void
s_handle_beacon (self_t *self)
{
    char *ipaddress = zstr_recv (self->beacon);
    zframe_t *content = zframe_recv (self->beacon);
    uint8_t pt [S_BEACON_PT_MAX];
    size_t ptlen = 0;
    if (!ipaddress || !content || zframe_size (content) < 4
        || memcmp (zframe_data (content), S_BEACON_MAGIC, 4) != 0 || swim_refused (self->swim))
        goto done;
    gossip_stamp_t st;
    if (shed_keyring_open (self->keyring, (const uint8_t *) S_BEACON_AD, strlen (S_BEACON_AD),
                           zframe_data (content) + 4, zframe_size (content) - 4, pt, sizeof pt,
                           &ptlen, NULL)
        || ptlen < GOSSIP_STAMP_BYTES + 2 + SWIM_KEY_BYTES + 7) {
        if (self->st.drop_beacon++ % 100 == 0)
            log_warn (S_COMP, "beacon that does not open with our keyring ignored|peer=%s",
                      ipaddress);
        goto done;
    }
    gossip_stamp_get (pt, &st);
    uint64_t wall = (uint64_t) zclock_time ();
    if ((st.ts_ms > wall ? st.ts_ms - wall : wall - st.ts_ms) > GOSSIP_CLOCK_SKEW_MS) {
        self->st.drop_clock++;
        goto done;
    }
    uint16_t port = (uint16_t) ((pt [GOSSIP_STAMP_BYTES] << 8) | pt [GOSSIP_STAMP_BYTES + 1]);
    char addr [SWIM_ADDR_MAX + 1];
    size_t alen = ptlen - GOSSIP_STAMP_BYTES - 2 - SWIM_KEY_BYTES;
    memcpy (addr, pt + GOSSIP_STAMP_BYTES + 2 + SWIM_KEY_BYTES, alen);
    addr [alen] = '\0';
    struct sockaddr_in sa;
    if (port == 0 || s_sockaddr (addr, port, &sa)) {
        self->st.drop_beacon++;
        goto done;
    }
    /* A node that advertises a loopback or wildcard address cannot be
     * reached there from another host: use where the beacon came from. */
    uint32_t a = ntohl (sa.sin_addr.s_addr);
    if ((a >> 24) == 127 || a == 0)
        snprintf (addr, sizeof addr, "%s", ipaddress);
    bool ours = memcmp (pt + GOSSIP_STAMP_BYTES + 2, self->cfg.identity, SWIM_KEY_BYTES) == 0;
    if (!ours && !swim_joined (self->swim))
        swim_join (self->swim, addr, port);
    else if (!ours && !s_known_addr (self, addr, port) && s_beacon_may_try (self, addr, port)) {
        log_info (S_COMP, "beacon from a node we do not know: joining it|peer=%s:%u", addr,
                  (unsigned) port);
        swim_join (self->swim, addr, port);
    }
done:
    sodium_memzero (pt, sizeof pt);
    zstr_free (&ipaddress);
    zframe_destroy (&content);
}

static int
s_open_sockets (self_t *self, char *err, size_t errlen)
{
    struct sockaddr_in sa;
    if (s_sockaddr (self->cfg.bind_addr, self->cfg.port, &sa)) {
        snprintf (err, errlen, "bad bind address %s", self->cfg.bind_addr);
        return -1;
    }
    int one = 1;
    self->udp = socket (AF_INET, SOCK_DGRAM, 0);
    self->tcp = socket (AF_INET, SOCK_STREAM, 0);
    if (self->udp < 0 || self->tcp < 0) {
        snprintf (err, errlen, "socket: %s", strerror (errno));
        return -1;
    }
    setsockopt (self->tcp, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    int rcvbuf = 1 << 20;
    setsockopt (self->udp, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    if (bind (self->udp, (struct sockaddr *) &sa, sizeof sa)
        || bind (self->tcp, (struct sockaddr *) &sa, sizeof sa) || listen (self->tcp, 512)) {
        snprintf (err, errlen, "bind %s:%u: %s", self->cfg.bind_addr, (unsigned) self->cfg.port,
                  strerror (errno));
        return -1;
    }
    s_nonblock (self->udp);
    s_nonblock (self->tcp);
    return 0;
}

/* ---- The actor --------------------------------------------------------------------- */

static self_t *
s_self_new (zsock_t *pipe, membership_config_t *cfg, shed_keyring_t *keyring, char *err,
            size_t errlen)
{
    self_t *self = (self_t *) zmalloc (sizeof (self_t));
    self->pipe = pipe;
    self->cfg = *cfg;
    self->keyring = keyring;
    self->udp = self->tcp = -1;
    randombytes_buf (&self->boot, sizeof self->boot);
    if (!keyring || shed_keyring_count (keyring) == 0) {
        snprintf (err, errlen, "no cluster key: install one (shedctl keygen) first");
        return self;
    }
    if (!self->cfg.advertise_addr [0])
        snprintf (self->cfg.advertise_addr, sizeof self->cfg.advertise_addr, "%s",
                  streq (self->cfg.bind_addr, "0.0.0.0") ? "127.0.0.1" : self->cfg.bind_addr);
    if (s_open_sockets (self, err, errlen))
        return self;
    s_epoch_load (self);
    if (self->cfg.events_endpoint [0]) {
        self->events = zsock_new (ZMQ_PUB);
        if (!self->events || zsock_bind (self->events, "%s", self->cfg.events_endpoint) < 0) {
            snprintf (err, errlen, "cannot bind events endpoint %s", self->cfg.events_endpoint);
            return self;
        }
    }
    swim_config_t sc = self->cfg.swim;
    snprintf (sc.name, sizeof sc.name, "%s", self->cfg.name);
    snprintf (sc.addr, sizeof sc.addr, "%s", self->cfg.advertise_addr);
    sc.port = self->cfg.port;
    memcpy (sc.key, self->cfg.identity, SWIM_KEY_BYTES);
    memcpy (sc.sigkey, self->cfg.sigkey, SWIM_KEY_BYTES);
    swim_env_t env = { self, s_now, s_random, s_env_send, s_env_stream, s_env_event };
    self->swim = swim_new (&sc, &env);
    if (!self->swim) {
        snprintf (err, errlen, "invalid membership configuration");
        return self;
    }
    if (self->cfg.beacon) {
        self->beacon = zactor_new (zbeacon, NULL);
        zsock_send (self->beacon, "si", "CONFIGURE", (int) self->cfg.beacon_port);
        char *hostname = zstr_recv (self->beacon);
        if (hostname && *hostname) {
            s_beacon_publish (self);
            zsock_send (self->beacon, "sb", "SUBSCRIBE", S_BEACON_MAGIC, 4);
        }
        else
            zactor_destroy (&self->beacon);     /* no broadcast interface */
        zstr_free (&hostname);
    }
    s_join_start (self, s_now (NULL));
    s_join_seeds (self);
    return self;
}

static void
s_self_destroy (self_t **self_p)
{
    self_t *self = *self_p;
    if (!self)
        return;
    while (self->nconns)
        s_conn_free (&self->conns [--self->nconns]);
    zmsg_destroy (&self->keyop.results);
    swim_destroy (&self->swim);
    zactor_destroy (&self->beacon);
    zsock_destroy (&self->events);
    if (self->udp >= 0)
        close (self->udp);
    if (self->tcp >= 0)
        close (self->tcp);
    shed_keyring_destroy (&self->keyring);
    free (self->senders);
    free (self);
    *self_p = NULL;
}

static void
s_timers (self_t *self)
{
    uint64_t now = s_now (NULL);
    swim_tick (self->swim);
    if (self->beacon && now - self->beacon_published >= S_BEACON_REPUBLISH)
        s_beacon_publish (self);
    if (self->cfg.nseeds && !swim_joined (self->swim) && !swim_refused (self->swim)
        && now >= self->join_next_ms) {
        /* Say why we are still alone: an operator whose node uses another
         * cluster key sees only silence otherwise (the seeds drop what they
         * cannot authenticate, before parsing, and do not answer). Once a
         * second while the fast retries run, then at every slower retry. */
        self->join_backoff = s_join_backoff_next (self, now);
        if (!self->join_logged_ms || now - self->join_logged_ms >= S_JOIN_LOG_GAP) {
            log_warn (S_COMP,
                      "not joined yet, retrying seeds|why=\"%s\" hint=\"%s\" retry_ms=%llu "
                      "attempts=%u",
                      self->join_why [0] ? self->join_why : "no answer from any seed",
                      "check the seed addresses and that this node has the cluster key "
                      "(a wrong key gets no answer)",
                      (unsigned long long) self->join_backoff, self->join_attempts);
            self->join_logged_ms = now;
        }
        s_join_seeds (self);
        self->join_next_ms = now + self->join_backoff;
    }
    if (!self->joined_logged && swim_joined (self->swim)) {
        /* When this node became part of a cluster, and how many tries that
         * took: the start of the join-convergence timeline
         * (docs/membership.md section 8). */
        self->joined_logged = true;
        log_info (S_COMP, "joined|members=%zu attempts=%u after_ms=%llu",
                  swim_count_state (self->swim, SWIM_ALIVE), self->join_attempts,
                  (unsigned long long) (now - self->join_started_ms));
    }
    if (self->join_pending) {
        if (swim_joined (self->swim))
            s_join_reply (self, "OK");
        else if (swim_refused (self->swim)) {
            char text [300];
            snprintf (text, sizeof text, "ERROR %s", swim_refused (self->swim));
            s_join_reply (self, text);
        }
        else
            s_join_fail (self, now >= self->join_reply_by);
    }
    if (self->leave_pending && (swim_leave_done (self->swim) || now >= self->leave_reply_by)) {
        zstr_send (self->pipe, "OK");
        self->leave_pending = false;
    }
    if (self->keyop.active && now >= self->keyop.deadline) {
        /* Close what is still open; each closes with "no answer". */
        for (size_t i = 0; i < self->nconns;)
            if (self->conns [i]->kind == CONN_KEYOP && self->keyop.active) {
                self->conns [i]->why = "no answer in time";
                s_conn_close_at (self, i);
            }
            else
                i++;
        if (self->keyop.active)
            s_keyop_finish (self);
    }
    for (size_t i = 0; i < self->nconns;)
        if (now >= self->conns [i]->deadline) {
            if (self->conns [i]->kind == CONN_SERVE && !self->conns [i]->authed)
                self->st.drop_preauth++;    /* a stranger's idle connection */
            else
                self->st.stream_errors++;
            if (!self->conns [i]->why)
                self->conns [i]->why = self->conns [i]->out ? "no answer in time"
                                                            : "cannot seal the request";
            s_conn_close_at (self, i);
        }
        else
            i++;
}

/* Run the actor thread ahead of the rest of the process (docs/membership.md
 * "Join"). Its work is small and latency-bound: a join answered, a probe
 * acked within the probe timeout. Competing at equal weight with the node's
 * other threads (a whole daemon starting, the links' handshakes, image
 * unpacking), it waits its turn behind them, which delays joins and makes
 * our own probes late (Lifeguard then stretches our timers). Linux nice is
 * per thread; without CAP_SYS_NICE the call fails and nothing changes. */
static void
s_actor_priority (int nice_value)
{
    if (nice_value == 0)
        return;
    errno = 0;
    if (setpriority (PRIO_PROCESS, (id_t) syscall (SYS_gettid), nice_value) != 0)
        log_debug (S_COMP, "actor thread keeps the process priority|nice=%d why=\"%s\"",
                   nice_value, strerror (errno));
}

static void
s_actor (zsock_t *pipe, void *args)
{
    membership_config_t *cfg = (membership_config_t *) args;
    s_actor_priority (cfg->actor_nice);
    /* The keyring travels in the config allocation (see membership_new). */
    shed_keyring_t *keyring;
    memcpy (&keyring, (uint8_t *) cfg + sizeof *cfg, sizeof keyring);
    char err [512] = "";
    self_t *self = s_self_new (pipe, cfg, keyring, err, sizeof err);
    free (cfg);
    zsock_signal (pipe, 0);
    if (err [0]) {
        zstr_sendf (pipe, "ERROR %s", err);
        /* Wait for $TERM; the caller destroys us. */
        char *cmd;
        while ((cmd = zstr_recv (pipe))) {
            bool term = streq (cmd, "$TERM");
            zstr_free (&cmd);
            if (term)
                break;
        }
        s_self_destroy (&self);
        return;
    }
    zstr_send (pipe, "OK");

    zmq_pollitem_t items [4 + S_CONNS_MAX];
    while (!self->terminated) {
        size_t n = 0;
        items [n++] = (zmq_pollitem_t) { zsock_resolve (self->pipe), 0, ZMQ_POLLIN, 0 };
        items [n++] = (zmq_pollitem_t) { NULL, self->udp, ZMQ_POLLIN, 0 };
        items [n++] = (zmq_pollitem_t) { NULL, self->tcp, ZMQ_POLLIN, 0 };
        size_t beacon_at = n;
        if (self->beacon)
            items [n++] = (zmq_pollitem_t) { zsock_resolve (self->beacon), 0, ZMQ_POLLIN, 0 };
        size_t conns_at = n;
        for (size_t i = 0; i < self->nconns; i++)
            items [n++] = (zmq_pollitem_t) { NULL, self->conns [i]->fd,
                                             (short) (self->conns [i]->writing ? ZMQ_POLLOUT
                                                                               : ZMQ_POLLIN), 0 };
        uint64_t now = s_now (NULL);
        uint64_t next = swim_next_deadline (self->swim);
        if (self->join_pending || self->leave_pending || self->keyop.active || self->nconns)
            next = next < now + 20 ? next : now + 20;
        if (self->cfg.nseeds && !swim_joined (self->swim) && self->join_next_ms < next)
            next = self->join_next_ms;
        long timeout = next > now ? (long) (next - now) : 0;
        if (timeout > 1000)
            timeout = 1000;
        int rc = zmq_poll (items, (int) n, timeout);
        if (rc < 0 && zmq_errno () != EINTR)
            break;
        if (rc > 0) {
            if (items [0].revents & ZMQ_POLLIN)
                s_handle_pipe (self);
            if (items [1].revents & ZMQ_POLLIN)
                s_handle_udp (self);
            if (items [2].revents & ZMQ_POLLIN)
                s_handle_accept (self);
            if (self->beacon && (items [beacon_at].revents & ZMQ_POLLIN))
                s_handle_beacon (self);
            /* Walk polled connections backwards: closing swaps in the last. */
            size_t polled = n - conns_at;
            for (size_t i = polled; i-- > 0;) {
                if (i >= self->nconns || !items [conns_at + i].revents)
                    continue;
                if (!s_conn_io (self, self->conns [i]))
                    s_conn_close_at (self, i);
            }
        }
        s_timers (self);
    }
    s_self_destroy (&self);
}

/* ---- Public -------------------------------------------------------------------------- */

void
membership_config_defaults (membership_config_t *config)
{
    memset (config, 0, sizeof *config);
    snprintf (config->bind_addr, sizeof config->bind_addr, "0.0.0.0");
    config->port = SWIM_DEFAULT_PORT;
    swim_config_lan (&config->swim);
    config->beacon_port = 7947;
    config->leave_timeout_ms = 3000;
    config->join_timeout_ms = 5000;
    config->actor_nice = -5;
}

zactor_t *
membership_new (const membership_config_t *config, shed_keyring_t **keyring_p, char *err,
                size_t errlen)
{
    assert (config);
    assert (keyring_p);
    /* One allocation carries the config and the keyring pointer into the
     * actor thread, which owns both from then on. */
    uint8_t *args = (uint8_t *) malloc (sizeof *config + sizeof (shed_keyring_t *));
    if (!args) {
        shed_keyring_destroy (keyring_p);
        snprintf (err, errlen, "out of memory");
        return NULL;
    }
    memcpy (args, config, sizeof *config);
    memcpy (args + sizeof *config, keyring_p, sizeof (shed_keyring_t *));
    *keyring_p = NULL;
    zactor_t *actor = zactor_new (s_actor, args);
    char *status = zstr_recv (actor);
    if (!status || !streq (status, "OK")) {
        snprintf (err, errlen, "%s", status ? status + (strncmp (status, "ERROR ", 6) ? 0 : 6)
                                            : "membership actor failed");
        zstr_free (&status);
        zactor_destroy (&actor);
        return NULL;
    }
    zstr_free (&status);
    return actor;
}
