/*
 * links_api.c - links_t, the owner's facade over the links actor
 * (links.h): each method is one command on the actor pipe and its reply.
 */
#include "cluster/links.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct _links_t {
    zactor_t *actor;
    char *endpoint; /* bound, port resolved */
    char *events;   /* PUB endpoint */
    char *pubkey;   /* ours, Z85 */
};

static char *
s_ask_s (links_t *self, const char *command)
{
    if (zstr_send (self->actor, command) != 0)
        return NULL;
    return zstr_recv (self->actor);
}

links_t *
links_new (const links_config_t *cfg, char *err, size_t errlen)
{
    links_t *self = calloc (1, sizeof *self);
    if (!self) {
        snprintf (err, errlen, "links: out of memory");
        return NULL;
    }
    self->actor = zactor_new (links_actor, (void *) (uintptr_t) cfg);
    if (!self->actor) {
        snprintf (err, errlen, "links: cannot start actor");
        links_destroy (&self);
        return NULL;
    }
    int rc = -1;
    char *reason = NULL;
    zstr_send (self->actor, "INIT-STATUS");
    if (zsock_recv (self->actor, "is", &rc, &reason) == 0 && rc != 0) {
        snprintf (err, errlen, "%s", reason ? reason : "links: start failed");
        zstr_free (&reason);
        links_destroy (&self);
        return NULL;
    }
    zstr_free (&reason);
    /* Fixed for the actor's life: asked once. */
    self->endpoint = s_ask_s (self, "ENDPOINT");
    self->events = s_ask_s (self, "EVENTS");
    self->pubkey = s_ask_s (self, "PUBKEY");
    if (!self->endpoint || !self->events || !self->pubkey) {
        snprintf (err, errlen, "links: the actor did not answer");
        links_destroy (&self);
        return NULL;
    }
    return self;
}

void
links_destroy (links_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    links_t *self = *self_p;
    zactor_destroy (&self->actor);
    zstr_free (&self->endpoint);
    zstr_free (&self->events);
    zstr_free (&self->pubkey);
    free (self);
    *self_p = NULL;
}

/* Commands answered with "i". */
static int
s_reply_i (links_t *self, int sent)
{
    int rc = -1;
    if (sent != 0 || zsock_recv (self->actor, "i", &rc) != 0)
        return -1;
    return rc;
}

int
links_peer_add (links_t *self, const char *name, const char *endpoint, const char *key_z85)
{
    return s_reply_i (self, zsock_send (self->actor, "ssss", "PEER-ADD", name, endpoint, key_z85));
}

int
links_peer_remove (links_t *self, const char *name)
{
    return s_reply_i (self, zsock_send (self->actor, "ss", "PEER-REMOVE", name));
}

int
links_allow (links_t *self, const char *key_z85)
{
    return s_reply_i (self, zsock_send (self->actor, "ss", "ALLOW", key_z85));
}

int
links_deny (links_t *self, const char *key_z85)
{
    return s_reply_i (self, zsock_send (self->actor, "ss", "DENY", key_z85));
}

int
links_origin_key (links_t *self, const char *name, const char *sigkey_z85)
{
    return s_reply_i (self, zsock_send (self->actor, "sss", "ORIGIN-KEY", name, sigkey_z85));
}

int
links_origin_status (links_t *self, const char *name, const char *status)
{
    return s_reply_i (self, zsock_send (self->actor, "sss", "ORIGIN-STATUS", name, status));
}

int
links_sync (links_t *self)
{
    return s_reply_i (self, zstr_send (self->actor, "SYNC"));
}

/* PUT and DELETE answer "is": 0, or a negative state error and its reason. */
static int
s_reply_is (links_t *self, int sent, char *err, size_t errlen)
{
    int rc = -1;
    char *reason = NULL;
    if (sent != 0 || zsock_recv (self->actor, "is", &rc, &reason) != 0)
        rc = -1;
    if (rc != 0)
        snprintf (err, errlen, "%s", reason && *reason ? reason : "links actor did not answer");
    zstr_free (&reason);
    return rc == 0 ? 0 : -1;
}

int
links_put (links_t *self, const char *kind, const char *key, const void *value, size_t len,
           char *err, size_t errlen)
{
    return s_reply_is (self, zsock_send (self->actor, "sssb", "PUT", kind, key, value, len), err,
                       errlen);
}

int
links_put_deferred (links_t *self, const char *kind, const char *key, const void *value, size_t len,
                    char *err, size_t errlen)
{
    return s_reply_is (
        self, zsock_send (self->actor, "sssb", "PUT-DEFERRED", kind, key, value, len), err, errlen);
}

int
links_delete (links_t *self, const char *kind, const char *key, char *err, size_t errlen)
{
    return s_reply_is (self, zsock_send (self->actor, "sss", "DELETE", kind, key), err, errlen);
}

int
links_get (links_t *self, const char *origin, const char *kind, const char *key, char **status,
           uint8_t **value, size_t *len, uint64_t *version)
{
    *status = NULL;
    *value = NULL;
    *len = 0;
    *version = 0;
    int found = 0;
    if (zsock_send (self->actor, "ssss", "GET", origin, kind, key) != 0
        || zsock_recv (self->actor, "isb8", &found, status, value, len, version) != 0)
        return -1;
    if (!found) {
        zstr_free (status);
        free (*value);
        *value = NULL;
        *len = 0;
    }
    return found ? 1 : 0;
}

zmsg_t *
links_list (links_t *self, const char *kind)
{
    if (zsock_send (self->actor, "ss", "LIST", kind ? kind : "") != 0)
        return NULL;
    return zmsg_recv (self->actor);
}

char *
links_stats (links_t *self)
{
    return s_ask_s (self, "STATS");
}

const char *
links_endpoint (links_t *self)
{
    return self->endpoint;
}

const char *
links_events_endpoint (links_t *self)
{
    return self->events;
}

const char *
links_pubkey (links_t *self)
{
    return self->pubkey;
}
