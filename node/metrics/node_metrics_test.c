/* node_metrics_test.c - the metrics endpoint (node/metrics/node_metrics.h) with a
 * fake render: status codes, the render crossing to the loop's thread, 503
 * when the loop does not answer, a taken port, shutdown with a request in
 * flight, /health (200 / 503 with the health function's reason). HTTP is spoken by hand over a socket, from a client thread while
 * the test's main thread runs the loop (as the daemon's would). */
#include "node/metrics/node_metrics.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

typedef struct {
    pthread_t loop_thread; /* the thread that must do every render */
    int renders;
} s_render_ctx_t;

static void
s_render (shed_prom_t *prom, void *arg)
{
    s_render_ctx_t *ctx = arg;
    /* Component state is the loop's: the render never runs on an HTTP thread. */
    assert_true (pthread_equal (pthread_self (), ctx->loop_thread));
    ctx->renders++;
    shed_prom_family (prom, "shed_test_renders_total", SHED_PROM_COUNTER, "Renders.");
    shed_prom_u64 (prom, (uint64_t) ctx->renders, "who", "te\"st", NULL);
}

/* One HTTP/1.0 exchange: the server closes after answering. Returns the
 * status code (0 on a transport failure); the whole response in buf. */
static int
s_http (uint16_t port, const char *request, char *buf, size_t size)
{
    int fd = socket (AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons (port) };
    inet_pton (AF_INET, "127.0.0.1", &sin.sin_addr);
    if (fd < 0 || connect (fd, (struct sockaddr *) &sin, sizeof sin) != 0) {
        if (fd >= 0)
            close (fd);
        return 0;
    }
    size_t len = strlen (request), off = 0;
    while (off < len) {
        ssize_t n = write (fd, request + off, len - off);
        if (n <= 0)
            break;
        off += (size_t) n;
    }
    size_t got = 0;
    for (;;) {
        ssize_t n = read (fd, buf + got, size - 1 - got);
        if (n <= 0)
            break;
        got += (size_t) n;
        if (got == size - 1)
            break;
    }
    buf[got] = '\0';
    close (fd);
    int status = 0;
    sscanf (buf, "HTTP/1.%*d %d", &status);
    return status;
}

static uint16_t
s_port (shed_metrics_t *m)
{
    const char *colon = strrchr (shed_metrics_address (m), ':');
    return (uint16_t) atoi (colon + 1);
}

/* The client thread: the requests, then it tells the loop to stop. */
typedef struct {
    uint16_t port;
    int get, head, nope, post, del;
    char body[8192];
    volatile int done;
} s_client_t;

static void *
s_client (void *arg)
{
    s_client_t *c = arg;
    char buf[8192];
    c->get = s_http (c->port, "GET /metrics HTTP/1.0\r\n\r\n", c->body, sizeof c->body);
    c->head = s_http (c->port, "HEAD /metrics HTTP/1.0\r\n\r\n", buf, sizeof buf);
    c->nope = s_http (c->port, "GET /nope HTTP/1.0\r\n\r\n", buf, sizeof buf);
    c->post = s_http (c->port,
                      "POST /metrics HTTP/1.0\r\nContent-Length: 3\r\n"
                      "Content-Type: text/plain\r\n\r\nabc",
                      buf, sizeof buf);
    c->del = s_http (c->port, "DELETE /metrics HTTP/1.0\r\n\r\n", buf, sizeof buf);
    c->done = 1;
    return NULL;
}

static int
s_until_done (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop;
    (void) timer_id;
    return ((s_client_t *) arg)->done ? -1 : 0;
}

static void
test_serves_on_the_loop (void **state)
{
    (void) state;
    zloop_t *loop = zloop_new ();
    s_render_ctx_t ctx = { .loop_thread = pthread_self () };
    char err[256] = "";
    shed_metrics_t *m = shed_metrics_new ("127.0.0.1:0", loop, s_render, &ctx, 0, err, sizeof err);
    assert_non_null (m);
    assert_int_equal (strncmp (shed_metrics_address (m), "127.0.0.1:", 10), 0);
    assert_true (s_port (m) != 0);

    s_client_t c = { .port = s_port (m) };
    pthread_t t;
    assert_int_equal (pthread_create (&t, NULL, s_client, &c), 0);
    zloop_timer (loop, 10, 0, s_until_done, &c);
    zloop_start (loop);
    pthread_join (t, NULL);

    assert_int_equal (c.get, 200);
    assert_non_null (strstr (c.body, "Content-Type: text/plain; version=0.0.4"));
    assert_non_null (strstr (c.body, "# TYPE shed_test_renders_total counter\n"
                                     "shed_test_renders_total{who=\"te\\\"st\"} 1\n"));
    assert_int_equal (c.head, 200);
    assert_int_equal (c.nope, 404);
    assert_int_equal (c.post, 405);
    assert_int_equal (c.del, 405);
    assert_int_equal (ctx.renders, 2); /* GET and HEAD */

    /* The port is taken now: a second endpoint says why. */
    char addr[64];
    snprintf (addr, sizeof addr, "127.0.0.1:%u", (unsigned) s_port (m));
    shed_metrics_t *again = shed_metrics_new (addr, loop, s_render, &ctx, 0, err, sizeof err);
    assert_null (again);
    assert_non_null (strstr (err, "Address already in use"));
    assert_null (shed_metrics_new ("localhost:1", loop, s_render, &ctx, 0, err, sizeof err));

    shed_metrics_destroy (&m);
    assert_null (m);
    shed_metrics_destroy (&m); /* NULL-safe */
    zloop_destroy (&loop);
}

/* A loop that does not run: the request gives up after the timeout (503),
 * and a request still waiting when the endpoint stops ends promptly. */
typedef struct {
    uint16_t port;
    int status;
} s_one_t;

static void *
s_one (void *arg)
{
    s_one_t *o = arg;
    char buf[4096];
    o->status = s_http (o->port, "GET /metrics HTTP/1.0\r\n\r\n", buf, sizeof buf);
    return NULL;
}

static void
test_loop_not_answering (void **state)
{
    (void) state;
    zloop_t *loop = zloop_new ();
    s_render_ctx_t ctx = { .loop_thread = pthread_self () };
    char err[256];
    shed_metrics_t *m =
        shed_metrics_new ("127.0.0.1:0", loop, s_render, &ctx, 300, err, sizeof err);
    assert_non_null (m);
    s_one_t o = { .port = s_port (m) };
    pthread_t t;
    int64_t t0 = zclock_mono ();
    assert_int_equal (pthread_create (&t, NULL, s_one, &o), 0);
    pthread_join (t, NULL);
    assert_int_equal (o.status, 503);
    assert_true (zclock_mono () - t0 >= 250);

    /* Shut down while a request waits on the (stopped) loop. */
    s_one_t w = { .port = s_port (m) };
    assert_int_equal (pthread_create (&t, NULL, s_one, &w), 0);
    zclock_sleep (100);
    t0 = zclock_mono ();
    shed_metrics_destroy (&m);
    assert_true (zclock_mono () - t0 < 1000);
    pthread_join (t, NULL);
    assert_int_equal (ctx.renders, 0);
    zloop_destroy (&loop);
}

/* /health: 200 with the function's reason while it says healthy, 503 with
 * its reason when it says not, 405 for other methods; run on the loop's
 * thread like a render. Without a function, 200 while the loop answers. */
typedef struct {
    pthread_t loop_thread;
    int calls;
    bool healthy;
} s_health_ctx_t;

static int
s_health (char *why, size_t whylen, void *arg)
{
    s_health_ctx_t *h = arg;
    assert_true (pthread_equal (pthread_self (), h->loop_thread));
    h->calls++;
    snprintf (why, whylen, "%s: call %d", h->healthy ? "ok" : "unhealthy: test says so", h->calls);
    return h->healthy ? 0 : -1;
}

typedef struct {
    uint16_t port;
    s_health_ctx_t *h;
    int plain, ok, bad, post;
    char ok_body[2048], bad_body[2048];
    volatile int done;
    shed_metrics_t *m;
} s_hclient_t;

static void *
s_hclient (void *arg)
{
    s_hclient_t *c = arg;
    char buf[2048];
    c->plain = s_http (c->port, "GET /health HTTP/1.0\r\n\r\n", buf, sizeof buf);
    c->done = 1; /* the loop sets the function, then lets us go on */
    while (c->done != 2)
        zclock_sleep (5);
    c->ok = s_http (c->port, "GET /health HTTP/1.0\r\n\r\n", c->ok_body, sizeof c->ok_body);
    c->h->healthy = false; /* read on the loop only while we wait for it */
    c->bad = s_http (c->port, "GET /health HTTP/1.0\r\n\r\n", c->bad_body, sizeof c->bad_body);
    c->post =
        s_http (c->port, "POST /health HTTP/1.0\r\nContent-Length: 0\r\n\r\n", buf, sizeof buf);
    c->done = 3;
    return NULL;
}

static int
s_hstep (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop;
    (void) timer_id;
    s_hclient_t *c = arg;
    if (c->done == 1) {
        shed_metrics_set_health (c->m, s_health, c->h);
        c->done = 2;
    }
    return c->done == 3 ? -1 : 0;
}

static void
test_health (void **state)
{
    (void) state;
    zloop_t *loop = zloop_new ();
    s_render_ctx_t ctx = { .loop_thread = pthread_self () };
    s_health_ctx_t h = { .loop_thread = pthread_self (), .healthy = true };
    char err[256] = "";
    shed_metrics_t *m = shed_metrics_new ("127.0.0.1:0", loop, s_render, &ctx, 0, err, sizeof err);
    assert_non_null (m);
    s_hclient_t c = { .port = s_port (m), .h = &h, .m = m };
    pthread_t t;
    assert_int_equal (pthread_create (&t, NULL, s_hclient, &c), 0);
    zloop_timer (loop, 5, 0, s_hstep, &c);
    zloop_start (loop);
    pthread_join (t, NULL);
    assert_int_equal (c.plain, 200);
    assert_int_equal (c.ok, 200);
    assert_non_null (strstr (c.ok_body, "\r\n\r\nok: call 1\n"));
    assert_int_equal (c.bad, 503);
    assert_non_null (strstr (c.bad_body, "\r\n\r\nunhealthy: test says so: call 2\n"));
    assert_int_equal (c.post, 405);
    assert_int_equal (h.calls, 2);
    assert_int_equal (ctx.renders, 0); /* /health never renders the metrics */
    shed_metrics_destroy (&m);
    zloop_destroy (&loop);
}

/* A loop that does not answer: /health is 503 too (a load balancer takes
 * the node out while its loop is stuck). */
static void *
s_one_health (void *arg)
{
    s_one_t *o = arg;
    char buf[4096];
    o->status = s_http (o->port, "GET /health HTTP/1.0\r\n\r\n", buf, sizeof buf);
    return NULL;
}

static void
test_health_loop_stuck (void **state)
{
    (void) state;
    zloop_t *loop = zloop_new ();
    s_render_ctx_t ctx = { .loop_thread = pthread_self () };
    char err[256];
    shed_metrics_t *m =
        shed_metrics_new ("127.0.0.1:0", loop, s_render, &ctx, 200, err, sizeof err);
    assert_non_null (m);
    s_one_t o = { .port = s_port (m) };
    pthread_t t;
    assert_int_equal (pthread_create (&t, NULL, s_one_health, &o), 0);
    pthread_join (t, NULL);
    assert_int_equal (o.status, 503);
    shed_metrics_destroy (&m);
    zloop_destroy (&loop);
}

int
main (void)
{
    zsys_init ();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_serves_on_the_loop),
        cmocka_unit_test (test_loop_not_answering),
        cmocka_unit_test (test_health),
        cmocka_unit_test (test_health_loop_stuck),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
