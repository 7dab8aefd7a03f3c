/* api_pool.c - see api_pool.h. */
#include "node/api/api_pool.h"

#include "node/api/api_client.h"
#include "node/config.h"

#include <czmq.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct _shed_api_pool_t {
    char endpoint[SHED_ENDPOINT_MAX];
    pthread_mutex_t lock;
    zsock_t **idle; /* a stack: the warmest socket is taken first */
    size_t n_idle, max_idle;
    uint64_t opened, reused, discarded;
};

shed_api_pool_t *
shed_api_pool_new (const char *endpoint, size_t max_idle)
{
    shed_api_pool_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->max_idle = max_idle ? max_idle : 1;
    self->idle = calloc (self->max_idle, sizeof *self->idle);
    if (!self->idle) {
        free (self);
        return NULL;
    }
    snprintf (self->endpoint, sizeof self->endpoint, "%s", endpoint);
    pthread_mutex_init (&self->lock, NULL);
    return self;
}

void
shed_api_pool_destroy (shed_api_pool_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    shed_api_pool_t *self = *self_p;
    for (size_t i = 0; i < self->n_idle; i++)
        zsock_destroy (&self->idle[i]);
    free (self->idle);
    pthread_mutex_destroy (&self->lock);
    free (self);
    *self_p = NULL;
}

/* An idle socket, or NULL: the caller opens one. */
static zsock_t *
s_take (shed_api_pool_t *self)
{
    zsock_t *sock = NULL;
    pthread_mutex_lock (&self->lock);
    if (self->n_idle) {
        sock = self->idle[--self->n_idle];
        self->reused++;
    }
    else
        self->opened++;
    pthread_mutex_unlock (&self->lock);
    return sock;
}

/* After a call: a socket that got its reply goes back (while there is
 * room), any other is closed with whatever it may still receive. */
static void
s_give (shed_api_pool_t *self, zsock_t *sock, bool clean)
{
    pthread_mutex_lock (&self->lock);
    if (!clean)
        self->discarded++;
    if (clean && self->n_idle < self->max_idle) {
        self->idle[self->n_idle++] = sock;
        sock = NULL;
    }
    pthread_mutex_unlock (&self->lock);
    zsock_destroy (&sock);
}

int
shed_api_pool_call (shed_api_pool_t *self, const api_msg_t *req, api_msg_t *rep, int timeout_ms,
                    const volatile int *stop, char *err, size_t errlen)
{
    memset (rep, 0, sizeof *rep);
    zsock_t *sock = s_take (self);
    if (!sock) {
        /* The node's own socket, connected lazily: a node that is
         * stopping answers no more, and the call times out as any. */
        sock = zsock_new (ZMQ_REQ);
        if (!sock) {
            snprintf (err, errlen, "cannot create ZeroMQ socket");
            return -1;
        }
        zsock_set_linger (sock, 0);
        if (zsock_connect (sock, "%s", self->endpoint) != 0) {
            snprintf (err, errlen, "cannot connect to %s: %s", self->endpoint,
                      zmq_strerror (zmq_errno ()));
            zsock_destroy (&sock);
            return -1;
        }
    }
    int rc = shed_api_exchange (sock, self->endpoint, req, rep, timeout_ms, stop, err, errlen);
    s_give (self, sock, rc == 0);
    return rc;
}

void
shed_api_pool_counts (shed_api_pool_t *self, uint64_t *opened, uint64_t *reused,
                      uint64_t *discarded, size_t *idle)
{
    pthread_mutex_lock (&self->lock);
    *opened = self->opened;
    *reused = self->reused;
    *discarded = self->discarded;
    *idle = self->n_idle;
    pthread_mutex_unlock (&self->lock);
}
