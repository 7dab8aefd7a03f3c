/* http_conns.c - see http_conns.h. */
#include "node/http/http_conns.h"

#include <czmq.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/socket.h>

struct _http_conn_t {
    http_conn_t *next, *prev;
    int fd;
    bool busy;          /* a request is in progress */
    bool cut;           /* shut down by us: not a candidate again */
    int64_t idle_since; /* accepted, or its last request ended */
};

struct _http_conns_t {
    pthread_mutex_t lock;
    http_conn_t *head;
    unsigned n, max;
};

http_conns_t *
http_conns_new (unsigned max)
{
    http_conns_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->max = max;
    pthread_mutex_init (&self->lock, NULL);
    return self;
}

void
http_conns_destroy (http_conns_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    http_conns_t *self = *self_p;
    while (self->head) {
        http_conn_t *c = self->head;
        self->head = c->next;
        free (c);
    }
    pthread_mutex_destroy (&self->lock);
    free (self);
    *self_p = NULL;
}

http_conn_t *
http_conns_open (http_conns_t *self, int fd, bool *evicted)
{
    *evicted = false;
    http_conn_t *c = calloc (1, sizeof *c);
    if (!c)
        return NULL;
    c->fd = fd;
    c->idle_since = zclock_mono ();
    pthread_mutex_lock (&self->lock);
    c->next = self->head;
    if (c->next)
        c->next->prev = c;
    self->head = c;
    self->n++;
    if (self->n >= self->max) {
        http_conn_t *oldest = NULL;
        for (http_conn_t *o = c->next; o; o = o->next)
            if (!o->busy && !o->cut && (!oldest || o->idle_since < oldest->idle_since))
                oldest = o;
        if (oldest) {
            /* Its thread sees the end of its stream and closes; MHD closes
             * the descriptor only after our close notice, so it is still
             * this connection's. */
            shutdown (oldest->fd, SHUT_RDWR);
            oldest->cut = true;
            *evicted = true;
        }
    }
    pthread_mutex_unlock (&self->lock);
    return c;
}

bool
http_conns_close (http_conns_t *self, http_conn_t *c, int64_t idle_ms)
{
    if (!c)
        return false;
    pthread_mutex_lock (&self->lock);
    bool timed_out = !c->busy && !c->cut && zclock_mono () - c->idle_since >= idle_ms;
    if (c->prev)
        c->prev->next = c->next;
    else
        self->head = c->next;
    if (c->next)
        c->next->prev = c->prev;
    self->n--;
    pthread_mutex_unlock (&self->lock);
    free (c);
    return timed_out;
}

void
http_conns_busy (http_conns_t *self, http_conn_t *c, bool busy)
{
    if (!c)
        return;
    pthread_mutex_lock (&self->lock);
    c->busy = busy;
    if (!busy)
        c->idle_since = zclock_mono ();
    pthread_mutex_unlock (&self->lock);
}
