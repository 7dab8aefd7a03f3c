/*
 * membership_api.c - membership_t, the owner's facade over the membership
 * actor (membership.h): each method is one command on the actor pipe and
 * its reply. The one reply that may come out of turn is JOIN-TAGGED's
 * "$JOIN" answer; every read here hands it to the join callback, so a
 * caller never sees it in place of the reply it asked for.
 */
#include "cluster/membership_int.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct _membership_t {
    zactor_t *actor;
    char events[256];            /* the PUB endpoint, from the config */
    membership_join_fn *join_fn; /* the JOIN-TAGGED in flight, if any */
    void *join_arg;
};

/* "OK" -> 0; "ERROR reason" -> -1 with the reason; nothing -> -1, "did not
 * answer". Pops the status frame from reply (which may be NULL). */
static int
s_status (zmsg_t *reply, char *err, size_t errlen)
{
    char *first = reply ? zmsg_popstr (reply) : NULL;
    int rc = -1;
    if (!first)
        snprintf (err, errlen, "membership actor did not answer");
    else if (streq (first, "OK"))
        rc = 0;
    else
        snprintf (err, errlen, "%s", strncmp (first, "ERROR ", 6) == 0 ? first + 6 : first);
    zstr_free (&first);
    return rc;
}

/* A "$JOIN" answer: to the callback of the join it ends. */
static void
s_join_answer (membership_t *self, zmsg_t **msg_p)
{
    zframe_t *tag = zmsg_pop (*msg_p);
    zframe_destroy (&tag);
    char why[512] = "";
    int rc = s_status (*msg_p, why, sizeof why);
    zmsg_destroy (msg_p);
    membership_join_fn *fn = self->join_fn;
    self->join_fn = NULL;
    if (fn)
        fn (rc, rc == 0 ? "" : why, self->join_arg);
}

/* The reply to the command just sent, passing on a "$JOIN" met first. */
static zmsg_t *
s_reply (membership_t *self)
{
    while (true) {
        zmsg_t *reply = zmsg_recv (self->actor);
        zframe_t *first = reply ? zmsg_first (reply) : NULL;
        if (!first || !zframe_streq (first, "$JOIN"))
            return reply;
        s_join_answer (self, &reply);
    }
}

/* Send `cmd` (destroyed) and return the reply, or NULL. */
static zmsg_t *
s_ask (membership_t *self, zmsg_t *cmd)
{
    if (!cmd || zmsg_send (&cmd, self->actor) != 0) {
        zmsg_destroy (&cmd);
        return NULL;
    }
    return s_reply (self);
}

static zmsg_t *
s_msg (const char *a, const char *b, const char *c, const char *d)
{
    zmsg_t *msg = zmsg_new ();
    const char *frames[] = { a, b, c, d };
    for (size_t i = 0; msg && i < 4 && frames[i]; i++)
        zmsg_addstr (msg, frames[i]);
    return msg;
}

membership_t *
membership_new (const membership_config_t *config, shed_keyring_t **keyring_p, char *err,
                size_t errlen)
{
    assert (config);
    assert (keyring_p);
    membership_t *self = calloc (1, sizeof *self);
    if (!self) {
        shed_keyring_destroy (keyring_p);
        snprintf (err, errlen, "out of memory");
        return NULL;
    }
    self->actor = mb_actor_new (config, keyring_p, err, errlen);
    if (!self->actor) {
        free (self);
        return NULL;
    }
    snprintf (self->events, sizeof self->events, "%s", config->events_endpoint);
    return self;
}

void
membership_destroy (membership_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    membership_t *self = *self_p;
    zactor_destroy (&self->actor);
    free (self);
    *self_p = NULL;
}

static zmsg_t *
s_join_msg (const char *command, const char *const *seeds, size_t nseeds)
{
    zmsg_t *cmd = zmsg_new ();
    if (cmd)
        zmsg_addstr (cmd, command);
    for (size_t i = 0; cmd && i < nseeds; i++)
        zmsg_addstr (cmd, seeds[i]);
    return cmd;
}

int
membership_join (membership_t *self, const char *const *seeds, size_t nseeds, char *err,
                 size_t errlen)
{
    zmsg_t *reply = s_ask (self, s_join_msg ("JOIN", seeds, nseeds));
    int rc = s_status (reply, err, errlen);
    zmsg_destroy (&reply);
    return rc;
}

int
membership_join_start (membership_t *self, const char *const *seeds, size_t nseeds,
                       membership_join_fn *fn, void *arg)
{
    zmsg_t *cmd = s_join_msg ("JOIN-TAGGED", seeds, nseeds);
    if (!cmd || zmsg_send (&cmd, self->actor) != 0) {
        zmsg_destroy (&cmd);
        return -1;
    }
    self->join_fn = fn;
    self->join_arg = arg;
    return 0;
}

zsock_t *
membership_pipe (membership_t *self)
{
    return zactor_sock (self->actor);
}

/* Only a "$JOIN" answer can be waiting (every other reply is read by its
 * method); the events check keeps us from blocking if a method's read took
 * it first. */
size_t
membership_pipe_ready (membership_t *self)
{
    size_t dropped = 0;
    zsock_t *pipe = zactor_sock (self->actor);
    while (zsock_events (pipe) & ZMQ_POLLIN) {
        zmsg_t *msg = zmsg_recv (pipe);
        if (!msg)
            break;
        zframe_t *first = zmsg_first (msg);
        if (first && zframe_streq (first, "$JOIN"))
            s_join_answer (self, &msg);
        else {
            dropped++;
            zmsg_destroy (&msg);
        }
    }
    return dropped;
}

int
membership_leave (membership_t *self)
{
    char why[256];
    zmsg_t *reply = s_ask (self, s_msg ("LEAVE", NULL, NULL, NULL));
    int rc = s_status (reply, why, sizeof why);
    zmsg_destroy (&reply);
    return rc;
}

zframe_t *
membership_members (membership_t *self)
{
    zmsg_t *reply = s_ask (self, s_msg ("MEMBERS", NULL, NULL, NULL));
    zframe_t *frame = reply ? zmsg_pop (reply) : NULL;
    zmsg_destroy (&reply);
    return frame;
}

int
membership_tag_set (membership_t *self, const char *key, const char *value, char *err,
                    size_t errlen)
{
    zmsg_t *reply = s_ask (self, s_msg ("TAGS", "SET", key, value));
    int rc = s_status (reply, err, errlen);
    zmsg_destroy (&reply);
    return rc;
}

int
membership_force_leave (membership_t *self, const char *name, char *err, size_t errlen)
{
    assert (self);
    zmsg_t *reply = s_ask (self, s_msg ("FORCE-LEAVE", name, NULL, NULL));
    int rc = s_status (reply, err, errlen);
    zmsg_destroy (&reply);
    return rc;
}

int
membership_tag_unset (membership_t *self, const char *key, char *err, size_t errlen)
{
    zmsg_t *reply = s_ask (self, s_msg ("TAGS", "UNSET", key, NULL));
    int rc = s_status (reply, err, errlen);
    zmsg_destroy (&reply);
    return rc;
}

zmsg_t *
membership_keys (membership_t *self, const char *op, const char *key_b64)
{
    return s_ask (self, s_msg ("KEYS", op, key_b64, NULL));
}

zmsg_t *
membership_stats (membership_t *self)
{
    return s_ask (self, s_msg ("STATS", NULL, NULL, NULL));
}

const char *
membership_events_endpoint (membership_t *self)
{
    return self->events;
}
