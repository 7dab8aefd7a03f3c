/*
 * membership_join.c - joining: the JOIN command, its seeds and how each one
 * failed, the answer, and the retry schedule. Separate because a join's
 * failure reporting (docs/operations.md "Joining") and its retries
 * (docs/membership.md "Join") are a policy of their own over the core.
 */
#include "cluster/membership_int.h"

#include "common/ipaddr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>

/* Resolve "host:port" or "[v6]:port" into the canonical text of an
 * address our sockets can reach (docs/configuration.md "Addresses"): an
 * IPv4 socket takes IPv4 answers only; an IPv6 one bound to :: (dual
 * stack) takes either, in getaddrinfo's order; one bound to an IPv6
 * address takes IPv6 only. 0, or -1 with the reason in why. */
static int
s_resolve (const mb_self_t *self, const char *hostport, char *addr, size_t addrlen, uint16_t *port,
           char *why, size_t whylen)
{
    char host[256];
    if (addrlen < SHED_IP_TEXT_MAX
        || shed_hostport_split (hostport, host, sizeof host, port, SWIM_DEFAULT_PORT)) {
        snprintf (why, whylen, "host:port or [IPv6]:port expected");
        return -1;
    }
    bool dual = self->family == AF_INET6 && shed_ip_is_any (self->cfg.bind_addr);
    struct addrinfo hints, *res = NULL;
    memset (&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_DGRAM;
    if (getaddrinfo (host, NULL, &hints, &res) || !res) {
        snprintf (why, whylen, "does not resolve");
        return -1;
    }
    /* getaddrinfo's order (RFC 6724), restricted to what our sockets reach. */
    int rc = -1;
    for (struct addrinfo *ai = res; ai && rc; ai = ai->ai_next) {
        struct sockaddr_storage sa;
        socklen_t salen;
        if ((dual || ai->ai_family == self->family)
            && shed_ip_from_sockaddr (ai->ai_addr, addr, NULL) == 0
            && mb_sockaddr (self, addr, *port, &sa, &salen) == 0)
            rc = 0;
    }
    freeaddrinfo (res);
    if (rc)
        snprintf (why, whylen, "no %s address (bind %.45s; :: takes both)",
                  self->family == AF_INET6 ? "IPv6" : "IPv4", self->cfg.bind_addr);
    return rc;
}

/* The MB_SEED_* outcome a socket error stands for (MB_SEED_WAITING if none). */
int
mb_seed_outcome (int err)
{
    if (err == EHOSTUNREACH || err == ENETUNREACH)
        return MB_SEED_UNREACHABLE;
    if (err == ECONNREFUSED)
        return MB_SEED_REFUSED;
    return MB_SEED_WAITING;
}

/* A join push-pull with addr:port failed: if it is a seed of the pending
 * JOIN, keep how (the latest attempt wins: a seed that comes up between
 * two retries is no longer "refused"). */
void
mb_join_note (mb_self_t *self, const char *addr, uint16_t port, int outcome, const char *detail)
{
    if (!self->join_pending)
        return;
    for (size_t i = 0; i < self->njoin_seeds; i++) {
        mb_join_seed_t *js = &self->join_seeds[i];
        if (js->outcome == MB_SEED_BAD || js->port != port || !streq (js->addr, addr))
            continue;
        js->outcome = outcome;
        snprintf (js->detail, sizeof js->detail, "%s", detail ? detail : "");
    }
}

/* Answer the JOIN (tagged with "$JOIN" for JOIN-TAGGED) and end it. */
void
mb_join_reply (mb_self_t *self, const char *status)
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
void
mb_join_fail (mb_self_t *self, bool expired)
{
    for (size_t i = 0; i < self->njoin_seeds && !expired; i++)
        if (self->join_seeds[i].outcome == MB_SEED_WAITING)
            return;
    char text[480] = "ERROR ";
    size_t used = strlen (text);
    uint32_t ms = self->cfg.join_timeout_ms;
    for (size_t i = 0; i < self->njoin_seeds && used < sizeof text; i++) {
        const mb_join_seed_t *js = &self->join_seeds[i];
        char where[128];
        if (js->outcome == MB_SEED_BAD)
            snprintf (where, sizeof where, "%.100s", js->seed);
        else
            shed_hostport_join (where, sizeof where, js->addr, js->port);
        const char *sep = i ? "; " : "";
        int n;
        switch (js->outcome) {
        case MB_SEED_UNREACHABLE:
            n = snprintf (text + used, sizeof text - used, "%sjoin %s: unreachable (%s)", sep,
                          where, js->detail);
            break;
        case MB_SEED_REFUSED:
            n = snprintf (text + used, sizeof text - used,
                          "%sjoin %s: refused (nothing listens on that port)", sep, where);
            break;
        case MB_SEED_WRONG_KEY: {
            /* The connection's text carries a hint for the log; here the
             * class says it. */
            char what[sizeof js->detail];
            snprintf (what, sizeof what, "%s", js->detail);
            char *hint = strstr (what, " (wrong cluster key?)");
            if (hint)
                *hint = '\0';
            n = snprintf (text + used, sizeof text - used,
                          "%sjoin %s: wrong key (%s: it holds another cluster key than "
                          "ours, a wrong cluster key)",
                          sep, where, what);
            break;
        }
        case MB_SEED_BAD:
            n = snprintf (text + used, sizeof text - used, "%sjoin %s: cannot resolve seed (%s)",
                          sep, where, js->detail);
            break;
        default:
            if (ms % 1000 == 0)
                n = snprintf (text + used, sizeof text - used, "%sjoin %s: timed out after %u s",
                              sep, where, (unsigned) (ms / 1000));
            else
                n = snprintf (text + used, sizeof text - used, "%sjoin %s: timed out after %u ms",
                              sep, where, (unsigned) ms);
            if (n > 0 && js->detail[0] && (size_t) n < sizeof text - used)
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
    mb_join_reply (self, text);
}

/* A join push-pull with addr:port is still open: a slow seed is answering,
 * and a second attempt would only queue behind it (and count against its
 * per-source connection limit). */
static bool
s_join_in_flight (mb_self_t *self, const char *addr, uint16_t port)
{
    for (size_t i = 0; i < self->nconns; i++) {
        const mb_conn_t *c = self->conns[i];
        if (c->kind == MB_CONN_PUSHPULL && c->joining && c->port == port && streq (c->peer, addr))
            return true;
    }
    return false;
}

void
mb_join_seeds (mb_self_t *self)
{
    self->join_attempts++;
    for (size_t i = 0; i < self->cfg.nseeds; i++) {
        char addr[SWIM_ADDR_MAX + 1];
        uint16_t port;
        char why[96];
        if (s_resolve (self, self->cfg.seeds[i], addr, sizeof addr, &port, why, sizeof why) != 0)
            log_warn (MB_COMP, "cannot resolve seed|seed=%s why=\"%s\"", self->cfg.seeds[i], why);
        else if (!s_join_in_flight (self, addr, port))
            swim_join (self->swim, addr, port);
    }
}

/* Start a round of joining: the retry schedule starts over. */
void
mb_join_start (mb_self_t *self, uint64_t now)
{
    self->join_started_ms = now;
    self->join_attempts = 0;
    self->join_logged_ms = 0;
    self->join_backoff = MB_JOIN_FAST;
    self->join_next_ms = now + MB_JOIN_FAST;
}

/* The delay before the next retry, MB_JOIN_FAST while the round is young. */
uint64_t
mb_join_backoff_next (mb_self_t *self, uint64_t now)
{
    if (now - self->join_started_ms < MB_JOIN_FAST_FOR)
        return MB_JOIN_FAST;
    if (self->join_backoff < MB_JOIN_BACKOFF0)
        return MB_JOIN_BACKOFF0;
    return self->join_backoff * 2 > MB_JOIN_BACKOFFN ? MB_JOIN_BACKOFFN : self->join_backoff * 2;
}

/* JOIN seed... / JOIN-TAGGED seed...: remember the seeds, join them and
 * answer once joined, refused, or every seed failed (mb_join_fail). */
void
mb_cmd_join (mb_self_t *self, zmsg_t *request, bool tagged)
{
    if (self->join_pending) {
        /* One JOIN at a time: its seeds and deadline are the answer's. */
        zmsg_t *busy = zmsg_new ();
        if (tagged)
            zmsg_addstr (busy, "$JOIN");
        zmsg_addstr (busy, "ERROR another join is in progress");
        zmsg_send (&busy, self->pipe);
        return;
    }
    self->join_tagged = tagged;
    self->join_why[0] = '\0';
    self->njoin_seeds = 0;
    /* Record the seeds first: swim_join opens the connection at once,
     * and an unreachable seed fails inside it. */
    char *seed;
    size_t valid = 0;
    while ((seed = zmsg_popstr (request))) {
        if (self->cfg.nseeds < MEMBERSHIP_SEEDS_MAX) {
            bool dup = false;
            for (size_t i = 0; i < self->cfg.nseeds; i++)
                dup |= streq (self->cfg.seeds[i], seed);
            if (!dup)
                snprintf (self->cfg.seeds[self->cfg.nseeds++], sizeof self->cfg.seeds[0], "%s",
                          seed);
        }
        if (self->njoin_seeds < MEMBERSHIP_SEEDS_MAX) {
            mb_join_seed_t *js = &self->join_seeds[self->njoin_seeds++];
            memset (js, 0, sizeof *js);
            snprintf (js->seed, sizeof js->seed, "%s", seed);
            if (s_resolve (self, seed, js->addr, sizeof js->addr, &js->port, js->detail,
                           sizeof js->detail)
                == 0)
                valid++;
            else {
                js->outcome = MB_SEED_BAD;
                snprintf (self->join_why, sizeof self->join_why,
                          "cannot resolve seed '%.100s' (%s)", seed, js->detail);
            }
        }
        zstr_free (&seed);
    }
    if (swim_joined (self->swim) || swim_refused (self->swim) || !valid) {
        for (size_t i = 0; i < self->njoin_seeds; i++)
            if (self->join_seeds[i].outcome != MB_SEED_BAD)
                swim_join (self->swim, self->join_seeds[i].addr, self->join_seeds[i].port);
        self->join_pending = true;
        if (swim_joined (self->swim))
            mb_join_reply (self, "OK");
        else if (swim_refused (self->swim)) {
            char text[300];
            snprintf (text, sizeof text, "ERROR %s", swim_refused (self->swim));
            mb_join_reply (self, text);
        }
        else if (!self->njoin_seeds)
            mb_join_reply (self, "ERROR no seed given");
        else
            mb_join_fail (self, true);
    }
    else {
        self->join_pending = true;
        self->join_reply_by = mb_now (NULL) + self->cfg.join_timeout_ms;
        mb_join_start (self, mb_now (NULL));
        self->join_attempts = 1;
        for (size_t i = 0; i < self->njoin_seeds; i++)
            if (self->join_seeds[i].outcome != MB_SEED_BAD)
                swim_join (self->swim, self->join_seeds[i].addr, self->join_seeds[i].port);
    }
}
