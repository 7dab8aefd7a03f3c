/*
 * zap.c - process-wide ZAP handler with per-domain CURVE allow-lists
 * (see zap.h).
 */
#include "cluster/zap.h"
#include "common/log.h"

#include <inttypes.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#define S_COMP "zap"

/* ZMQ_ZAP_ENFORCE_DOMAIN sits behind ZMQ_BUILD_DRAFT_API in libzmq 4.3.4's
 * header although the stable library honours it (checked: setsockopt 93
 * returns 0 and reads back 1). Pass the number directly when the header
 * hides it; the value is fixed in libzmq's ABI. */
#ifndef ZMQ_ZAP_ENFORCE_DOMAIN
#define ZMQ_ZAP_ENFORCE_DOMAIN 93
#endif

typedef struct {
    zhashx_t *keys; /* z85 text -> (void *) 1 */
    uint64_t admitted;
    uint64_t refused;
} s_domain_t;

struct _zap_t {
    pthread_mutex_t lock;
    zhashx_t *domains; /* name -> s_domain_t */
    zsock_t *rep;      /* bound at ZAP_ENDPOINT, used by actor */
    zactor_t *actor;   /* the responder thread */
};

static void
s_domain_destroy (void **item)
{
    s_domain_t *d = (s_domain_t *) *item;
    if (d) {
        zhashx_destroy (&d->keys);
        free (d);
        *item = NULL;
    }
}

/* Caller holds the lock. */
static s_domain_t *
s_domain (zap_t *self, const char *domain, bool create)
{
    s_domain_t *d = (s_domain_t *) zhashx_lookup (self->domains, domain);
    if (!d && create) {
        d = (s_domain_t *) zmalloc (sizeof (s_domain_t));
        assert (d);
        d->keys = zhashx_new ();
        assert (d->keys);
        zhashx_insert (self->domains, domain, d);
    }
    return d;
}

static bool
s_domain_ok (const char *domain)
{
    size_t n = domain ? strnlen (domain, ZAP_DOMAIN_MAX + 1) : 0;
    return n > 0 && n <= ZAP_DOMAIN_MAX;
}

int
zap_allow (zap_t *self, const char *domain, const uint8_t key[ZAP_KEY_BYTES])
{
    assert (self);
    if (!s_domain_ok (domain) || !key)
        return -1;
    char z85[41];
    zmq_z85_encode (z85, key, ZAP_KEY_BYTES);
    pthread_mutex_lock (&self->lock);
    zhashx_update (s_domain (self, domain, true)->keys, z85, (void *) 1);
    pthread_mutex_unlock (&self->lock);
    return 0;
}

int
zap_deny (zap_t *self, const char *domain, const uint8_t key[ZAP_KEY_BYTES])
{
    assert (self);
    if (!s_domain_ok (domain) || !key)
        return -1;
    char z85[41];
    zmq_z85_encode (z85, key, ZAP_KEY_BYTES);
    pthread_mutex_lock (&self->lock);
    s_domain_t *d = s_domain (self, domain, false);
    if (d)
        zhashx_delete (d->keys, z85);
    pthread_mutex_unlock (&self->lock);
    return 0;
}

bool
zap_allowed_z85 (zap_t *self, const char *domain, const char *z85)
{
    assert (self);
    if (!s_domain_ok (domain) || !z85 || strlen (z85) != 40)
        return false;
    pthread_mutex_lock (&self->lock);
    s_domain_t *d = s_domain (self, domain, false);
    bool ok = d && zhashx_lookup (d->keys, z85) != NULL;
    pthread_mutex_unlock (&self->lock);
    return ok;
}

bool
zap_allowed (zap_t *self, const char *domain, const uint8_t key[ZAP_KEY_BYTES])
{
    char z85[41];
    zmq_z85_encode (z85, key, ZAP_KEY_BYTES);
    return zap_allowed_z85 (self, domain, z85);
}

int
zap_decide (zap_t *self, const char *domain, const char *mechanism, const uint8_t *cred,
            size_t cred_len, char user_id[41])
{
    assert (self);
    user_id[0] = '\0';
    bool ok = false;
    char z85[41] = "";
    if (mechanism && streq (mechanism, "CURVE") && cred && cred_len == ZAP_KEY_BYTES) {
        zmq_z85_encode (z85, cred, ZAP_KEY_BYTES);
        ok = zap_allowed_z85 (self, domain, z85);
    }
    pthread_mutex_lock (&self->lock);
    /* The domain comes from our own server socket's option, never from
     * the client, so creating its entry here cannot be abused. */
    s_domain_t *d = s_domain_ok (domain) ? s_domain (self, domain, true) : NULL;
    if (d) {
        if (ok)
            d->admitted++;
        else
            d->refused++;
    }
    pthread_mutex_unlock (&self->lock);
    if (ok)
        memcpy (user_id, z85, 41);
    return ok ? 200 : 400;
}

void
zap_counts (zap_t *self, const char *domain, uint64_t *admitted, uint64_t *refused)
{
    assert (self);
    pthread_mutex_lock (&self->lock);
    s_domain_t *d = s_domain_ok (domain) ? s_domain (self, domain, false) : NULL;
    *admitted = d ? d->admitted : 0;
    *refused = d ? d->refused : 0;
    pthread_mutex_unlock (&self->lock);
}

/* ---- the responder -------------------------------------------------------- */

/* One ZAP request (RFC 27): version, request id, domain, address, routing
 * id, mechanism, credentials... Answer version, request id, status code,
 * status text, user id, metadata. */
static void
s_handle (zap_t *self, zsock_t *rep)
{
    zmsg_t *req = zmsg_recv (rep);
    if (!req)
        return;
    char *version = zmsg_popstr (req);
    zframe_t *request_id = zmsg_pop (req); /* opaque: echoed as is */
    char *domain = zmsg_popstr (req);
    char *address = zmsg_popstr (req);
    char *routing_id = zmsg_popstr (req);
    char *mechanism = zmsg_popstr (req);
    zframe_t *cred = zmsg_pop (req);

    char user_id[41] = "";
    int code = 400;
    if (version && streq (version, "1.0") && mechanism)
        code = zap_decide (self, domain ? domain : "", mechanism, cred ? zframe_data (cred) : NULL,
                           cred ? zframe_size (cred) : 0, user_id);
    if (code != 200)
        log_info (S_COMP, "connection refused|domain=%s mechanism=%s address=%s",
                  domain ? domain : "-", mechanism ? mechanism : "-", address ? address : "-");

    zmsg_t *rep_msg = zmsg_new ();
    zmsg_addstr (rep_msg, "1.0");
    if (request_id)
        zmsg_append (rep_msg, &request_id);
    else
        zmsg_addmem (rep_msg, "", 0);
    zmsg_addstr (rep_msg, code == 200 ? "200" : "400");
    zmsg_addstr (rep_msg, code == 200 ? "OK" : "not a member");
    zmsg_addstr (rep_msg, user_id);
    zmsg_addmem (rep_msg, "", 0);
    zmsg_send (&rep_msg, rep);

    zstr_free (&version);
    zframe_destroy (&request_id);
    zstr_free (&domain);
    zstr_free (&address);
    zstr_free (&routing_id);
    zstr_free (&mechanism);
    zframe_destroy (&cred);
    zmsg_destroy (&req);
}

/* The REP socket is bound by zap_new (so a failed bind is reported to the
 * caller) and handed to this thread, which alone uses it from then on. */
static void
s_zap_actor (zsock_t *pipe, void *args)
{
    zap_t *self = (zap_t *) args;
    zsock_t *rep = self->rep;
    zsock_signal (pipe, 0);
    zpoller_t *poller = zpoller_new (pipe, rep, NULL);
    while (true) {
        void *which = zpoller_wait (poller, -1);
        if (which == pipe) {
            char *cmd = zstr_recv (pipe);
            bool term = !cmd || streq (cmd, "$TERM");
            zstr_free (&cmd);
            if (term)
                break;
        }
        else if (which == rep)
            s_handle (self, rep);
        else
            break; /* interrupted */
    }
    zpoller_destroy (&poller);
}

zap_t *
zap_new (void)
{
    zap_t *self = (zap_t *) zmalloc (sizeof (zap_t));
    assert (self);
    pthread_mutex_init (&self->lock, NULL);
    self->domains = zhashx_new ();
    assert (self->domains);
    zhashx_set_destructor (self->domains, s_domain_destroy);
    self->rep = zsock_new (ZMQ_REP);
    if (!self->rep || zsock_bind (self->rep, ZAP_ENDPOINT) != 0) {
        log_error (S_COMP, "cannot bind %s (another ZAP handler runs?)", ZAP_ENDPOINT);
        zap_destroy (&self);
        return NULL;
    }
    self->actor = zactor_new (s_zap_actor, self);
    assert (self->actor);
    return self;
}

void
zap_destroy (zap_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        zap_t *self = *self_p;
        zactor_destroy (&self->actor);
        zsock_destroy (&self->rep);
        zhashx_destroy (&self->domains);
        pthread_mutex_destroy (&self->lock);
        free (self);
        *self_p = NULL;
    }
}

int
zap_secure_server (zsock_t *sock, const uint8_t public_key[ZAP_KEY_BYTES],
                   const uint8_t secret_key[ZAP_KEY_BYTES], const char *domain)
{
    assert (sock);
    void *handle = zsock_resolve (sock);
    int one = 1;
    if (zmq_setsockopt (handle, ZMQ_CURVE_SERVER, &one, sizeof one)
        || zmq_setsockopt (handle, ZMQ_CURVE_PUBLICKEY, public_key, ZAP_KEY_BYTES)
        || zmq_setsockopt (handle, ZMQ_CURVE_SECRETKEY, secret_key, ZAP_KEY_BYTES)
        || zmq_setsockopt (handle, ZMQ_ZAP_DOMAIN, domain, strlen (domain))
        /* Fail closed: without this, libzmq admits every CURVE client when no
     * ZAP handler answers (czmq 4.2.1's setter for it is a no-op). */
        || zmq_setsockopt (handle, ZMQ_ZAP_ENFORCE_DOMAIN, &one, sizeof one))
        return -1;
    return 0;
}

int
zap_secure_client (zsock_t *sock, const uint8_t server_key[ZAP_KEY_BYTES],
                   const uint8_t public_key[ZAP_KEY_BYTES], const uint8_t secret_key[ZAP_KEY_BYTES])
{
    assert (sock);
    void *handle = zsock_resolve (sock);
    if (zmq_setsockopt (handle, ZMQ_CURVE_SERVERKEY, server_key, ZAP_KEY_BYTES)
        || zmq_setsockopt (handle, ZMQ_CURVE_PUBLICKEY, public_key, ZAP_KEY_BYTES)
        || zmq_setsockopt (handle, ZMQ_CURVE_SECRETKEY, secret_key, ZAP_KEY_BYTES))
        return -1;
    return 0;
}

/* ---- handshake monitors --------------------------------------------------- */

static uint64_t s_monitors; /* unique inproc names, process-wide */

zsock_t *
zap_monitor_new (zsock_t *sock)
{
    assert (sock);
    uint64_t id = __atomic_add_fetch (&s_monitors, 1, __ATOMIC_SEQ_CST);
    char endpoint[64];
    snprintf (endpoint, sizeof endpoint, "inproc://shed-handshake-%d-%" PRIu64, (int) getpid (),
              id);
    if (zmq_socket_monitor (zsock_resolve (sock), endpoint,
                            ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL
                                | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL
                                | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)
        != 0)
        return NULL;
    zsock_t *monitor = zsock_new_pair (endpoint);
    if (!monitor)
        zmq_socket_monitor (zsock_resolve (sock), NULL, 0);
    return monitor;
}

void
zap_monitor_destroy (zsock_t *sock, zsock_t **monitor_p)
{
    if (*monitor_p && sock)
        zmq_socket_monitor (zsock_resolve (sock), NULL, 0);
    zsock_destroy (monitor_p);
}

int
zap_monitor_recv (zsock_t *monitor, uint16_t *event)
{
    zmsg_t *msg = zmsg_recv (monitor);
    if (!msg)
        return -1;
    /* Frame 1: event (u16) + value (u32), native byte order; frame 2: address. */
    zframe_t *head = zmsg_first (msg);
    int rc = -1;
    if (head && zframe_size (head) >= 6) {
        uint16_t ev;
        memcpy (&ev, zframe_data (head), sizeof ev);
        if (event)
            *event = ev;
        rc = ev == ZMQ_EVENT_HANDSHAKE_SUCCEEDED ? 1 : 0;
    }
    zmsg_destroy (&msg);
    return rc;
}
