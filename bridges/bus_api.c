/*
 * bus_api.c - bus_t, the owner's facade over the bus actor (bus.h): each
 * method is one command on the actor pipe and, except PUBLISH, one reply.
 */
#include "bridges/bus.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

struct _bus_t {
    zactor_t *actor;
};

bus_t *
bus_new (const bus_config_t *cfg, char *err, size_t errlen)
{
    bus_t *self = calloc (1, sizeof *self);
    if (!self) {
        if (err && errlen)
            snprintf (err, errlen, "bus: out of memory");
        return NULL;
    }
    self->actor = zactor_new (bus_actor, (void *) (uintptr_t) cfg);
    char *verdict = self->actor ? zstr_recv (self->actor) : NULL;
    if (!verdict || verdict[0]) {
        if (err && errlen)
            snprintf (err, errlen, "%s", verdict ? verdict : "bus: cannot start actor");
        zstr_free (&verdict);
        bus_destroy (&self);
        return NULL;
    }
    zstr_free (&verdict);
    return self;
}

void
bus_destroy (bus_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    zactor_destroy (&(*self_p)->actor);
    free (*self_p);
    *self_p = NULL;
}

int
bus_publish (bus_t *self, const char *topic, const char *kind, const void *payload, size_t size)
{
    void *h = zsock_resolve (self->actor);
    /* Only the first frame can hit the pipe's HWM; once it is accepted
     * libzmq takes the rest of the message. */
    if (zmq_send (h, "PUBLISH", 7, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0)
        return -1;
    zmq_send (h, topic, strlen (topic), ZMQ_SNDMORE);
    zmq_send (h, kind ? kind : "", kind ? strlen (kind) : 0, ZMQ_SNDMORE);
    zmq_send (h, payload, size, 0);
    return 0;
}

/* Every answered command replies "i". */
static int
s_reply (bus_t *self, int sent)
{
    int rc = -1;
    if (sent != 0 || zsock_recv (self->actor, "i", &rc) != 0)
        return -1;
    return rc;
}

int
bus_peer_add (bus_t *self, const char *name, const char *endpoint, const char *key_z85)
{
    return s_reply (self, zsock_send (self->actor, "ssss", "PEER-ADD", name, endpoint, key_z85));
}

int
bus_peer_version (bus_t *self, const char *name, unsigned version)
{
    char v[16];
    snprintf (v, sizeof v, "%u", version);
    return s_reply (self, zsock_send (self->actor, "sss", "PEER-VERSION", name, v));
}

int
bus_peer_remove (bus_t *self, const char *name)
{
    return s_reply (self, zsock_send (self->actor, "ss", "PEER-REMOVE", name));
}

int
bus_allow (bus_t *self, const char *key_z85)
{
    return s_reply (self, zsock_send (self->actor, "ss", "ALLOW", key_z85));
}

int
bus_deny (bus_t *self, const char *key_z85)
{
    return s_reply (self, zsock_send (self->actor, "ss", "DENY", key_z85));
}

int
bus_consumer_allow (bus_t *self, const char *key_z85)
{
    return s_reply (self, zsock_send (self->actor, "ss", "CONSUMER-ALLOW", key_z85));
}

int
bus_consumer_deny (bus_t *self, const char *key_z85)
{
    return s_reply (self, zsock_send (self->actor, "ss", "CONSUMER-DENY", key_z85));
}

int
bus_endpoints (bus_t *self, char *tree, char *local, char *remote, size_t size)
{
    char *t = NULL, *l = NULL, *r = NULL;
    if (zsock_send (self->actor, "s", "ENDPOINTS") != 0
        || zsock_recv (self->actor, "sss", &t, &l, &r) != 0)
        return -1;
    if (tree)
        snprintf (tree, size, "%s", t ? t : "");
    if (local)
        snprintf (local, size, "%s", l ? l : "");
    if (remote)
        snprintf (remote, size, "%s", r ? r : "");
    zstr_free (&t);
    zstr_free (&l);
    zstr_free (&r);
    return 0;
}

char *
bus_stats (bus_t *self)
{
    if (zstr_send (self->actor, "STATS") != 0)
        return NULL;
    return zstr_recv (self->actor);
}
