/* node_metrics.c - see node_metrics.h. */
#include "node/metrics/node_metrics.h"

#include "common/log.h"
#include "common/mhd_dl.h"
#include "common/tcp_listen.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define S_COMP     "metrics"
#define S_SLICE_MS 100 /* a waiting HTTP thread checks for shutdown this often */

#if MHD_VERSION < 0x00097002
typedef int MHD_Result_t; /* before 0.9.71 handlers returned int */
#else
typedef enum MHD_Result MHD_Result_t;
#endif

struct _shed_metrics_t {
    struct MHD_Daemon *mhd;
    zloop_t *loop;   /* borrowed */
    zsock_t *router; /* inproc, on the loop: render requests */
    char endpoint[64];
    shed_metrics_render_fn *render;
    void *arg;
    shed_metrics_health_fn *health; /* NULL: healthy while the loop answers */
    void *health_arg;
    int timeout_ms;
    atomic_bool stopping; /* set before MHD is stopped: waiters give up */
    char address[80];
};

/* ---- the loop's side: render on request ------------------------------------- */

/* [identity][empty]["HEALTH"] -> [identity][empty]["OK" | "ERROR"][reason] */
static void
s_health (shed_metrics_t *self, zsock_t *sock, zframe_t **id, zframe_t **empty)
{
    char why[256] = "ok";
    int rc = self->health ? self->health (why, sizeof why, self->health_arg) : 0;
    zmsg_t *reply = zmsg_new ();
    zmsg_append (reply, id);
    zmsg_append (reply, empty);
    zmsg_addstr (reply, rc == 0 ? "OK" : "ERROR");
    zmsg_addstrf (reply, "%s\n", why);
    zmsg_send (&reply, sock);
    zmsg_destroy (&reply);
}

/* [identity][empty]["RENDER"] -> [identity][empty]["OK" | "ERROR"][text] */
static int
s_on_render (zloop_t *loop, zsock_t *sock, void *arg)
{
    (void) loop;
    shed_metrics_t *self = arg;
    zmsg_t *msg = zmsg_recv (sock);
    if (!msg)
        return 0;
    zframe_t *id = zmsg_pop (msg);
    zframe_t *empty = zmsg_pop (msg);
    char *what = zmsg_popstr (msg);
    zmsg_destroy (&msg);
    if (!id || !empty) {
        zframe_destroy (&id);
        zframe_destroy (&empty);
        zstr_free (&what);
        return 0;
    }
    bool health = what && strcmp (what, "HEALTH") == 0;
    zstr_free (&what);
    if (health) {
        s_health (self, sock, &id, &empty);
        return 0;
    }
    shed_prom_t *prom = shed_prom_new ();
    const char *text = NULL;
    size_t len = 0;
    if (prom) {
        self->render (prom, self->arg);
        text = shed_prom_text (prom, &len);
    }
    zmsg_t *reply = zmsg_new ();
    zmsg_append (reply, &id);
    zmsg_append (reply, &empty);
    zmsg_addstr (reply, text ? "OK" : "ERROR");
    zmsg_addmem (reply, text ? text : "", text ? len : 0);
    /* A REQ that gave up is gone: the ROUTER drops the reply quietly. */
    zmsg_send (&reply, sock);
    zmsg_destroy (&reply);
    shed_prom_destroy (&prom);
    return 0;
}

/* ---- the HTTP threads' side ------------------------------------------------- */

/* Ask the loop for `what` (RENDER or HEALTH). 0 with a malloc'd
 * NUL-terminated text in *text (the caller frees); 1 with the text when
 * the loop answered ERROR (a health reason); -1 on timeout, shutdown or
 * failure. */
static int
s_fetch (shed_metrics_t *self, const char *what, char **text, size_t *len)
{
    zsock_t *req = zsock_new_req (self->endpoint);
    if (!req)
        return -1;
    zsock_set_linger (req, 0);
    zsock_set_rcvtimeo (req, S_SLICE_MS);
    int rc = -1;
    zmsg_t *reply = NULL;
    if (zstr_send (req, what) == 0) {
        for (int waited = 0; waited < self->timeout_ms && !atomic_load (&self->stopping);
             waited += S_SLICE_MS) {
            reply = zmsg_recv (req);
            if (reply || zsys_interrupted)
                break;
        }
    }
    char *status = reply ? zmsg_popstr (reply) : NULL;
    zframe_t *body = reply ? zmsg_pop (reply) : NULL;
    if (status && body) {
        *len = zframe_size (body);
        *text = malloc (*len + 1);
        if (*text) {
            memcpy (*text, zframe_data (body), *len);
            (*text)[*len] = '\0';
            rc = strcmp (status, "OK") == 0 ? 0 : 1;
            if (rc == 1 && strcmp (what, "RENDER") == 0) {
                free (*text); /* a render that failed has no text worth sending */
                *text = NULL;
                rc = -1;
            }
        }
    }
    zstr_free (&status);
    zframe_destroy (&body);
    zmsg_destroy (&reply);
    zsock_destroy (&req);
    return rc;
}

static MHD_Result_t
s_respond (struct MHD_Connection *conn, unsigned status, const char *type, char *body, size_t len,
           const char *allow)
{
    /* MUST_FREE: the response takes `body` (malloc'd) and frees it. */
    struct MHD_Response *resp =
        sym_MHD_create_response_from_buffer (len, body, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free (body);
        return MHD_NO;
    }
    sym_MHD_add_response_header (resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    if (allow)
        sym_MHD_add_response_header (resp, MHD_HTTP_HEADER_ALLOW, allow);
    MHD_Result_t rc = sym_MHD_queue_response (conn, status, resp);
    sym_MHD_destroy_response (resp);
    return rc;
}

static MHD_Result_t
s_respond_text (struct MHD_Connection *conn, unsigned status, const char *text, const char *allow)
{
    char *body = strdup (text);
    if (!body)
        return MHD_NO;
    return s_respond (conn, status, "text/plain; charset=utf-8", body, strlen (body), allow);
}

static MHD_Result_t
s_on_http (void *cls, struct MHD_Connection *conn, const char *url, const char *method,
           const char *version, const char *upload_data, size_t *upload_data_size, void **con_cls)
{
    (void) version;
    (void) upload_data;
    shed_metrics_t *self = cls;
    /* The first call only announces the request: answer once the headers
     * and any body have arrived, and throw the body away. */
    static int s_seen;
    if (!*con_cls) {
        *con_cls = &s_seen;
        return MHD_YES;
    }
    if (*upload_data_size) {
        *upload_data_size = 0;
        return MHD_YES;
    }
    bool health = strcmp (url, "/health") == 0;
    if (!health && strcmp (url, "/metrics") != 0)
        return s_respond_text (conn, MHD_HTTP_NOT_FOUND, "not found: try /metrics or /health\n",
                               NULL);
    if (strcmp (method, "GET") != 0 && strcmp (method, "HEAD") != 0)
        return s_respond_text (conn, MHD_HTTP_METHOD_NOT_ALLOWED,
                               health ? "method not allowed: GET /health\n"
                                      : "method not allowed: GET /metrics\n",
                               "GET, HEAD");
    char *text = NULL;
    size_t len = 0;
    int rc = s_fetch (self, health ? "HEALTH" : "RENDER", &text, &len);
    if (health && rc >= 0)
        return s_respond (conn, rc == 0 ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE,
                          "text/plain; charset=utf-8", text, len, NULL);
    if (rc != 0) {
        bool stopping = atomic_load (&self->stopping);
        if (!stopping)
            log_warn (S_COMP, "loop did not answer in time: 503|path=%s timeout_ms=%d", url,
                      self->timeout_ms);
        return s_respond_text (conn, MHD_HTTP_SERVICE_UNAVAILABLE,
                               stopping ? "the node is stopping\n"
                                        : "the node's main loop did not answer in time\n",
                               NULL);
    }
    return s_respond (conn, MHD_HTTP_OK, SHED_PROM_CONTENT_TYPE, text, len, NULL);
}

static void
s_mhd_log (void *cls, const char *fmt, va_list ap)
{
    (void) cls;
    char text[256];
    vsnprintf (text, sizeof text, fmt, ap);
    text[strcspn (text, "\n")] = '\0';
    log_warn (S_COMP, "libmicrohttpd: %s", text);
}

/* ---- the listening socket --------------------------------------------------- */

/* ---- lifecycle ----------------------------------------------------------------- */

shed_metrics_t *
shed_metrics_new (const char *listen_addr, zloop_t *loop, shed_metrics_render_fn *render, void *arg,
                  int timeout_ms, char *err, size_t errlen)
{
    assert (loop && render);
    /* libmicrohttpd is loaded on first use (common/mhd_dl.h): the endpoint
     * starts after membership (node/node.c). */
    char dlerr[200];
    if (!mhd_dl_open (dlerr, sizeof dlerr)) {
        snprintf (err, errlen, "metrics: %s", dlerr);
        return NULL;
    }
    shed_metrics_t *self = calloc (1, sizeof *self);
    if (!self) {
        snprintf (err, errlen, "out of memory");
        return NULL;
    }
    self->loop = loop;
    self->render = render;
    self->arg = arg;
    self->timeout_ms = timeout_ms > 0 ? timeout_ms : SHED_METRICS_TIMEOUT_MS;
    atomic_init (&self->stopping, false);

    bool v6 = false;
    int fd = shed_tcp_listen ("metrics.listen", listen_addr, 16, self->address,
                              sizeof self->address, &v6, err, errlen);
    if (fd < 0) {
        free (self);
        return NULL;
    }
    /* One endpoint name per instance: tests run several in one process. */
    snprintf (self->endpoint, sizeof self->endpoint, "inproc://shed-metrics-%p", (void *) self);
    self->router = zsock_new_router (self->endpoint);
    if (!self->router || zloop_reader (loop, self->router, s_on_render, self) != 0) {
        snprintf (err, errlen, "metrics: cannot bind %s", self->endpoint);
        close (fd);
        zsock_destroy (&self->router);
        free (self);
        return NULL;
    }
    /* poll(), not select(): past FD_SETSIZE descriptors (a node with
     * many sheds) select() refuses every scrape (as node_http.c). */
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD
                     | (sym_MHD_is_feature_supported (MHD_FEATURE_POLL) ? MHD_USE_POLL : 0)
                     | MHD_USE_ERROR_LOG | (v6 ? MHD_USE_IPv6 : 0);
    /* The logger first: MHD complains (on stderr) about any option before it. */
    self->mhd =
        sym_MHD_start_daemon (flags, 0, NULL, NULL, s_on_http, self, MHD_OPTION_EXTERNAL_LOGGER,
                              s_mhd_log, self, MHD_OPTION_LISTEN_SOCKET, (MHD_socket) fd,
                              MHD_OPTION_CONNECTION_LIMIT, (unsigned) SHED_METRICS_CONNECTIONS,
                              MHD_OPTION_CONNECTION_TIMEOUT, (unsigned) 10, MHD_OPTION_END);
    if (!self->mhd) {
        snprintf (err, errlen, "metrics.listen %s: libmicrohttpd did not start", listen_addr);
        close (fd);
        shed_metrics_destroy (&self);
        return NULL;
    }
    return self;
}

void
shed_metrics_destroy (shed_metrics_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    shed_metrics_t *self = *self_p;
    /* HTTP threads first: one waiting on a render sees `stopping` within a
     * slice, and none may touch the ROUTER's endpoint after it is gone.
     * MHD closes the listening socket it was given. */
    atomic_store (&self->stopping, true);
    if (self->mhd)
        sym_MHD_stop_daemon (self->mhd);
    if (self->router) {
        zloop_reader_end (self->loop, self->router);
        zsock_destroy (&self->router);
    }
    free (self);
    *self_p = NULL;
}

void
shed_metrics_set_health (shed_metrics_t *self, shed_metrics_health_fn *health, void *arg)
{
    assert (self);
    self->health = health;
    self->health_arg = arg;
}

const char *
shed_metrics_address (shed_metrics_t *self)
{
    assert (self);
    return self->address;
}
