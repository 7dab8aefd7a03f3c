/*
 * peer_pool.c - bounded CURVE DEALER connections (see peer_pool.h).
 */
#include "cluster/peer_pool.h"
#include "cluster/zap.h"
#include "cluster/zmq_limits.h"
#include "common/log.h"

#include <inttypes.h>
#include <sodium.h>
#include <unistd.h>
#include <zmq.h>

#define S_MONITOR_EVENTS                                                                           \
    (ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL                          \
     | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)

typedef struct {
    char name[PEER_POOL_NAME_MAX + 1];
    char *endpoint;
    uint8_t key[32];
    void *dealer;  /* raw libzmq socket (zsys_socket), or NULL */
    void *monitor; /* PAIR reading the dealer's handshake, or NULL */
    uint64_t used; /* LRU stamp: higher is more recent */
    int64_t last_used_ms;
    int pinned;
    int backoff;       /* ms, next re-dial delay */
    int64_t redial_at; /* mono ms, 0 = none due */
} s_entry_t;

struct _peer_pool_t {
    char comp[16];
    uint8_t public_key[32];
    uint8_t secret_key[32];
    size_t cap;
    int sndhwm;
    bool immediate;
    zpoller_t *poller;
    void (*on_redial) (void *arg, const char *name, void *sock);
    void *arg;
    zhashx_t *entries; /* name -> s_entry_t */
    uint64_t clock;    /* LRU stamps */
    size_t monitors;   /* live monitors */
    peer_pool_stats_t st;
};

static uint64_t s_monitor_seq; /* unique inproc names, process-wide */

/* ---- sockets ---------------------------------------------------------------- */

static void
s_close_socket (peer_pool_t *self, void **sock_p)
{
    if (*sock_p) {
        if (self->poller)
            zpoller_remove (self->poller, *sock_p);
        zsys_close (*sock_p, __FILE__, __LINE__);
        *sock_p = NULL;
    }
}

static void
s_monitor_stop (peer_pool_t *self, s_entry_t *e)
{
    if (e->monitor) {
        if (e->dealer)
            zmq_socket_monitor (e->dealer, NULL, 0);
        s_close_socket (self, &e->monitor);
        self->monitors--;
    }
}

static void
s_entry_close (peer_pool_t *self, s_entry_t *e)
{
    s_monitor_stop (self, e);
    if (e->dealer) {
        s_close_socket (self, &e->dealer);
        self->st.closed++;
    }
}

/* A PAIR that hears the dealer's handshake outcome. NULL if libzmq cannot
 * make one (counted; the owner's silence check still covers the peer). */
static void *
s_monitor_new (peer_pool_t *self, void *dealer)
{
    uint64_t id = __atomic_add_fetch (&s_monitor_seq, 1, __ATOMIC_RELAXED);
    char endpoint[64];
    snprintf (endpoint, sizeof endpoint, "inproc://shed-pool-%d-%" PRIu64, (int) getpid (), id);
    if (zmq_socket_monitor (dealer, endpoint, S_MONITOR_EVENTS) != 0) {
        self->st.monitor_fail++;
        return NULL;
    }
    void *pair = zsys_socket (ZMQ_PAIR, __FILE__, __LINE__);
    int zero = 0;
    if (!pair || zmq_setsockopt (pair, ZMQ_LINGER, &zero, sizeof zero)
        || zmq_connect (pair, endpoint) != 0) {
        if (pair)
            zsys_close (pair, __FILE__, __LINE__);
        zmq_socket_monitor (dealer, NULL, 0);
        self->st.monitor_fail++;
        return NULL;
    }
    return pair;
}

/* No socket for now: dial again after the backoff (peer_pool_tick). */
static int
s_dial_later (s_entry_t *e)
{
    e->redial_at = zclock_mono () + e->backoff;
    e->backoff = e->backoff * 2 > PEER_POOL_BACKOFF_MAX ? PEER_POOL_BACKOFF_MAX : e->backoff * 2;
    return -1;
}

/* Create, secure and connect the entry's DEALER and its monitor. On any
 * failure the entry keeps no socket and a re-dial is scheduled. */
static int
s_entry_dial (peer_pool_t *self, s_entry_t *e)
{
    e->dealer = zsys_socket (ZMQ_DEALER, __FILE__, __LINE__);
    if (!e->dealer) {
        self->st.sock_fail++;
        log_warn (self->comp, "cannot create a socket, will retry|peer=%s err=\"%s\"", e->name,
                  zmq_strerror (zmq_errno ()));
        return s_dial_later (e);
    }
    self->st.opened++;
    int zero = 0, one = 1, hwm = self->sndhwm;
    void *h = e->dealer;
    zmq_setsockopt (h, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt (h, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt (h, ZMQ_SNDTIMEO, &zero, sizeof zero);
    if (self->immediate)
        zmq_setsockopt (h, ZMQ_IMMEDIATE, &one, sizeof one);
    int64_t maxmsg = SHED_ZMQ_MAXMSG_DEFAULT;
    int handshake = SHED_ZMQ_HANDSHAKE_MS;
    if (zmq_setsockopt (h, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg)
        || zmq_setsockopt (h, ZMQ_HANDSHAKE_IVL, &handshake, sizeof handshake)
        || shed_zmq_ipv6_for (h, e->endpoint) || zmq_setsockopt (h, ZMQ_CURVE_SERVERKEY, e->key, 32)
        || zmq_setsockopt (h, ZMQ_CURVE_PUBLICKEY, self->public_key, 32)
        || zmq_setsockopt (h, ZMQ_CURVE_SECRETKEY, self->secret_key, 32)) {
        log_warn (self->comp, "cannot set up CURVE|peer=%s", e->name);
        s_entry_close (self, e);
        return s_dial_later (e);
    }
    /* Watch before connecting so the first handshake is not missed. */
    e->monitor = s_monitor_new (self, e->dealer);
    if (e->monitor)
        self->monitors++;
    if (zmq_connect (h, e->endpoint) != 0) {
        log_warn (self->comp, "cannot connect|peer=%s endpoint=%s err=\"%s\"", e->name, e->endpoint,
                  zmq_strerror (zmq_errno ()));
        s_entry_close (self, e);
        return s_dial_later (e);
    }
    if (self->poller) {
        zpoller_add (self->poller, e->dealer);
        if (e->monitor)
            zpoller_add (self->poller, e->monitor);
    }
    e->redial_at = 0;
    return 0;
}

/* ---- entries ------------------------------------------------------------------ */

static void
s_entry_free (peer_pool_t *self, s_entry_t **e_p)
{
    s_entry_t *e = *e_p;
    if (e) {
        s_entry_close (self, e);
        zstr_free (&e->endpoint);
        free (e);
        *e_p = NULL;
    }
}

static void
s_touch (peer_pool_t *self, s_entry_t *e)
{
    e->used = ++self->clock;
    e->last_used_ms = zclock_mono ();
}

/* Close the least recently used unpinned entry. Returns 0, or -1 if all
 * are pinned. */
static int
s_evict (peer_pool_t *self)
{
    s_entry_t *lru = NULL;
    for (s_entry_t *e = (s_entry_t *) zhashx_first (self->entries); e;
         e = (s_entry_t *) zhashx_next (self->entries))
        if (e->pinned <= 0 && (!lru || e->used < lru->used))
            lru = e;
    if (!lru)
        return -1;
    log_debug (self->comp, "closing least recently used connection|peer=%s", lru->name);
    self->st.evicted++;
    char name[PEER_POOL_NAME_MAX + 1];
    snprintf (name, sizeof name, "%s", lru->name);
    zhashx_delete (self->entries, name);
    s_entry_free (self, &lru);
    return 0;
}

peer_pool_t *
peer_pool_new (const peer_pool_config_t *cfg)
{
    if (!cfg || !cfg->public_key || !cfg->secret_key || cfg->cap < 1)
        return NULL;
    peer_pool_t *self = (peer_pool_t *) zmalloc (sizeof (peer_pool_t));
    if (!self)
        return NULL;
    snprintf (self->comp, sizeof self->comp, "%s", cfg->comp ? cfg->comp : "pool");
    memcpy (self->public_key, cfg->public_key, 32);
    memcpy (self->secret_key, cfg->secret_key, 32);
    self->cap = cfg->cap;
    self->sndhwm = cfg->sndhwm > 0 ? cfg->sndhwm : 1000;
    self->immediate = cfg->immediate;
    self->poller = cfg->poller;
    self->on_redial = cfg->on_redial;
    self->arg = cfg->arg;
    self->entries = zhashx_new ();
    if (!self->entries) {
        free (self);
        return NULL;
    }
    return self;
}

void
peer_pool_destroy (peer_pool_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    peer_pool_t *self = *self_p;
    for (s_entry_t *e = (s_entry_t *) zhashx_first (self->entries); e;
         e = (s_entry_t *) zhashx_next (self->entries))
        s_entry_free (self, &e);
    zhashx_destroy (&self->entries);
    sodium_memzero (self->secret_key, sizeof self->secret_key);
    free (self);
    *self_p = NULL;
}

int
peer_pool_open (peer_pool_t *self, const char *name, const char *endpoint, const uint8_t key[32])
{
    if (!self || !name || !*name || strlen (name) > PEER_POOL_NAME_MAX || !endpoint || !key)
        return -1;
    s_entry_t *e = (s_entry_t *) zhashx_lookup (self->entries, name);
    if (e && streq (e->endpoint, endpoint) && memcmp (e->key, key, 32) == 0) {
        s_touch (self, e);
        return 0;
    }
    bool existed = e != NULL;
    if (e) {
        /* Same name, new address or identity: a fresh connection. */
        s_entry_close (self, e);
        zstr_free (&e->endpoint);
    }
    else {
        if (zhashx_size (self->entries) >= self->cap && s_evict (self) != 0) {
            self->st.full++;
            return -1;
        }
        e = (s_entry_t *) zmalloc (sizeof (s_entry_t));
        if (!e)
            return -1;
        snprintf (e->name, sizeof e->name, "%s", name);
        zhashx_insert (self->entries, name, e);
    }
    e->endpoint = strdup (endpoint);
    if (!e->endpoint) {
        zhashx_delete (self->entries, name);
        s_entry_free (self, &e);
        return -1;
    }
    memcpy (e->key, key, 32);
    e->backoff = PEER_POOL_BACKOFF_MIN;
    s_touch (self, e);
    /* A failure is retried by peer_pool_tick. A changed entry is a re-dial:
     * the owner may have frames waiting for it. */
    if (s_entry_dial (self, e) == 0 && existed && self->on_redial)
        self->on_redial (self->arg, e->name, e->dealer);
    return 0;
}

int
peer_pool_close (peer_pool_t *self, const char *name)
{
    s_entry_t *e = name ? (s_entry_t *) zhashx_lookup (self->entries, name) : NULL;
    if (!e)
        return -1;
    zhashx_delete (self->entries, name);
    s_entry_free (self, &e);
    return 0;
}

void
peer_pool_redial (peer_pool_t *self, const char *name)
{
    s_entry_t *e = name ? (s_entry_t *) zhashx_lookup (self->entries, name) : NULL;
    if (!e)
        return;
    s_entry_close (self, e);
    self->st.redials++;
    if (s_entry_dial (self, e) == 0 && self->on_redial)
        self->on_redial (self->arg, e->name, e->dealer);
}

void *
peer_pool_sock (peer_pool_t *self, const char *name)
{
    s_entry_t *e = name ? (s_entry_t *) zhashx_lookup (self->entries, name) : NULL;
    return e ? e->dealer : NULL;
}

bool
peer_pool_has (peer_pool_t *self, const char *name)
{
    return name && zhashx_lookup (self->entries, name) != NULL;
}

void
peer_pool_touch (peer_pool_t *self, const char *name)
{
    s_entry_t *e = name ? (s_entry_t *) zhashx_lookup (self->entries, name) : NULL;
    if (e)
        s_touch (self, e);
}

void
peer_pool_pin (peer_pool_t *self, const char *name, int delta)
{
    s_entry_t *e = name ? (s_entry_t *) zhashx_lookup (self->entries, name) : NULL;
    if (e) {
        e->pinned += delta;
        if (e->pinned < 0)
            e->pinned = 0;
        s_touch (self, e);
    }
}

peer_pool_event_t
peer_pool_event (peer_pool_t *self, void *which, const char **name, void **sock)
{
    if (!which)
        return PEER_POOL_EV_NONE;
    for (s_entry_t *e = (s_entry_t *) zhashx_first (self->entries); e;
         e = (s_entry_t *) zhashx_next (self->entries)) {
        if (which == e->dealer) {
            if (name)
                *name = e->name;
            if (sock)
                *sock = e->dealer;
            return PEER_POOL_EV_READABLE;
        }
        if (which != e->monitor)
            continue;
        if (name)
            *name = e->name;
        if (sock)
            *sock = e->dealer;
        uint16_t event = 0;
        /* zap_monitor_recv reads any socket zsock_resolve accepts. */
        int rc = zap_monitor_recv ((zsock_t *) e->monitor, &event);
        if (rc == 1) {
            /* Up: the monitor has done its job (see peer_pool.h). */
            self->st.handshakes_ok++;
            e->backoff = PEER_POOL_BACKOFF_MIN;
            s_monitor_stop (self, e);
            return PEER_POOL_EV_CONNECTED;
        }
        if (rc == 0 && !e->redial_at) {
            /* Refused: most likely the peer has not learnt our key yet. */
            self->st.refused++;
            log_debug (self->comp, "handshake refused, re-dialling|peer=%s event=0x%x in_ms=%d",
                       e->name, event, e->backoff);
            e->redial_at = zclock_mono () + e->backoff;
            e->backoff =
                e->backoff * 2 > PEER_POOL_BACKOFF_MAX ? PEER_POOL_BACKOFF_MAX : e->backoff * 2;
            return PEER_POOL_EV_REFUSED;
        }
        return PEER_POOL_EV_OTHER;
    }
    return PEER_POOL_EV_NONE;
}

int64_t
peer_pool_tick (peer_pool_t *self)
{
    int64_t now = zclock_mono (), next = 0;
    for (s_entry_t *e = (s_entry_t *) zhashx_first (self->entries); e;
         e = (s_entry_t *) zhashx_next (self->entries)) {
        if (e->redial_at && e->redial_at <= now) {
            s_entry_close (self, e);
            e->redial_at = 0;
            self->st.redials++;
            if (s_entry_dial (self, e) == 0 && self->on_redial)
                self->on_redial (self->arg, e->name, e->dealer);
        }
        if (e->redial_at && (!next || e->redial_at < next))
            next = e->redial_at;
    }
    return next;
}

size_t
peer_pool_close_idle (peer_pool_t *self, int64_t idle_ms)
{
    int64_t now = zclock_mono ();
    zlistx_t *idle = zlistx_new ();
    if (!idle)
        return 0;
    for (s_entry_t *e = (s_entry_t *) zhashx_first (self->entries); e;
         e = (s_entry_t *) zhashx_next (self->entries))
        if (e->pinned <= 0 && now - e->last_used_ms >= idle_ms)
            zlistx_add_end (idle, e->name);
    size_t n = 0;
    char name[PEER_POOL_NAME_MAX + 1];
    for (const char *item = (const char *) zlistx_first (idle); item;
         item = (const char *) zlistx_next (idle)) {
        snprintf (name, sizeof name, "%s", item); /* the entry owns `item` */
        n += peer_pool_close (self, name) == 0;
    }
    zlistx_destroy (&idle);
    return n;
}

size_t
peer_pool_size (peer_pool_t *self)
{
    return zhashx_size (self->entries);
}

size_t
peer_pool_cap (peer_pool_t *self)
{
    return self->cap;
}

size_t
peer_pool_sockets (peer_pool_t *self)
{
    size_t n = 0;
    for (s_entry_t *e = (s_entry_t *) zhashx_first (self->entries); e;
         e = (s_entry_t *) zhashx_next (self->entries))
        n += e->dealer != NULL;
    return n + 2 * self->monitors;
}

const peer_pool_stats_t *
peer_pool_stats (peer_pool_t *self)
{
    return &self->st;
}
