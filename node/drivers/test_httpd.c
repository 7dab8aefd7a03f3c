/*
 * test_httpd.c - libmicrohttpd test server (see test_httpd.h).
 */
#include "node/drivers/test_httpd.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

struct _test_httpd_t {
    struct MHD_Daemon *mhd;
    int fd;
    int port;
    char unix_path[108];
    test_httpd_fn *fn;
    void *arg;
    pthread_mutex_t lock;
    test_httpd_req_t log[TEST_HTTPD_LOG];
    size_t nlog;
};

typedef struct {
    test_httpd_req_t req;
    size_t len;
} s_conn_t;

static enum MHD_Result
s_handler (void *cls, struct MHD_Connection *conn, const char *url, const char *method,
           const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
    test_httpd_t *self = (test_httpd_t *) cls;
    s_conn_t *c = (s_conn_t *) *con_cls;
    if (!c) {
        c = (s_conn_t *) calloc (1, sizeof (s_conn_t));
        snprintf (c->req.method, sizeof c->req.method, "%s", method);
        snprintf (c->req.url, sizeof c->req.url, "%s", url);
        const char *auth =
            MHD_lookup_connection_value (conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
        snprintf (c->req.auth, sizeof c->req.auth, "%s", auth ? auth : "");
        *con_cls = c;
        return MHD_YES;
    }
    if (*upload_size) {
        size_t take = *upload_size;
        if (c->len + take >= sizeof c->req.body)
            take = sizeof c->req.body - 1 - c->len;
        memcpy (c->req.body + c->len, upload, take);
        c->len += take;
        c->req.body[c->len] = '\0';
        *upload_size = 0;
        return MHD_YES;
    }
    pthread_mutex_lock (&self->lock);
    if (self->nlog < TEST_HTTPD_LOG)
        self->log[self->nlog++] = c->req;
    pthread_mutex_unlock (&self->lock);
    char out[4096] = "";
    int status = self->fn (self->arg, &c->req, out, sizeof out);
    struct MHD_Response *resp =
        MHD_create_response_from_buffer (strlen (out), out, MHD_RESPMEM_MUST_COPY);
    MHD_add_response_header (resp, "Content-Type", "application/json");
    enum MHD_Result rc = MHD_queue_response (conn, (unsigned) status, resp);
    MHD_destroy_response (resp);
    return rc;
}

static void
s_completed (void *cls, struct MHD_Connection *conn, void **con_cls,
             enum MHD_RequestTerminationCode toe)
{
    free (*con_cls);
    *con_cls = NULL;
}

test_httpd_t *
test_httpd_new (const char *unix_path, test_httpd_fn *fn, void *arg)
{
    test_httpd_t *self = (test_httpd_t *) calloc (1, sizeof (test_httpd_t));
    if (!self)
        return NULL;
    pthread_mutex_init (&self->lock, NULL);
    self->fn = fn;
    self->arg = arg;
    if (unix_path) {
        struct sockaddr_un a = { .sun_family = AF_UNIX };
        snprintf (a.sun_path, sizeof a.sun_path, "%s", unix_path);
        snprintf (self->unix_path, sizeof self->unix_path, "%s", unix_path);
        unlink (unix_path);
        self->fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (self->fd < 0 || bind (self->fd, (struct sockaddr *) &a, sizeof a) != 0)
            goto fail;
    }
    else {
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = 0 };
        a.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
        self->fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (self->fd < 0 || bind (self->fd, (struct sockaddr *) &a, sizeof a) != 0)
            goto fail;
        socklen_t len = sizeof a;
        getsockname (self->fd, (struct sockaddr *) &a, &len);
        self->port = ntohs (a.sin_port);
    }
    if (listen (self->fd, 16) != 0)
        goto fail;
    self->mhd = MHD_start_daemon (MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL, s_handler, self,
                                  MHD_OPTION_LISTEN_SOCKET, self->fd, MHD_OPTION_NOTIFY_COMPLETED,
                                  s_completed, self, MHD_OPTION_END);
    if (!self->mhd)
        goto fail;
    return self;
fail:
    if (self->fd >= 0)
        close (self->fd);
    pthread_mutex_destroy (&self->lock);
    free (self);
    return NULL;
}

void
test_httpd_destroy (test_httpd_t **self_p)
{
    if (*self_p) {
        test_httpd_t *self = *self_p;
        MHD_stop_daemon (self->mhd); /* closes the listening socket too */
        if (self->unix_path[0])
            unlink (self->unix_path);
        pthread_mutex_destroy (&self->lock);
        free (self);
        *self_p = NULL;
    }
}

int
test_httpd_port (test_httpd_t *self)
{
    return self->port;
}

size_t
test_httpd_count (test_httpd_t *self)
{
    pthread_mutex_lock (&self->lock);
    size_t n = self->nlog;
    pthread_mutex_unlock (&self->lock);
    return n;
}

void
test_httpd_get (test_httpd_t *self, size_t i, test_httpd_req_t *out)
{
    pthread_mutex_lock (&self->lock);
    if (i < self->nlog)
        *out = self->log[i];
    else
        memset (out, 0, sizeof *out);
    pthread_mutex_unlock (&self->lock);
}
