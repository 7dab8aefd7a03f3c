/*
 * http_events_test.c - http_events_bus_new (http_events.h), the one way the
 * HTTP API's streams and blocking queries reach the node's event bus,
 * against a real local API server on an ipc socket and a real bus: the
 * consumer it returns follows exactly the prefixes asked for; no bus, a
 * node that does not answer and a prefix the bus refuses are 503s.
 */
#include "node/http/http_events.h"

#include "bridges/bus.h"
#include "crypto/identity.h"
#include "node/api/api_server.h"

#include <czmq.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <unistd.h>

#include <cmocka.h>

typedef struct {
    char dir[64];
    char api_ep[128], bus_ep[128];
    shed_identity_t *id;
    bus_t *bus;
    shed_api_server_t *server;
    shed_api_pool_t *pool;
    pthread_t thread;
    volatile int stop;
    volatile bool no_bus; /* the node answers the events request with no socket */
} fixture_t;

/* The node's events request: its local socket, or "" without a bus. */
static void
s_events (shed_api_call_t *call, const api_msg_t *req, void *arg)
{
    (void) req;
    fixture_t *f = arg;
    api_msg_t rep = { .hdr.type = API_EVENTS_REP };
    snprintf (rep.u.api_events_rep.local, sizeof rep.u.api_events_rep.local, "%s",
              f->no_bus ? "" : f->bus_ep);
    shed_api_reply (&call, &rep);
}

static void *
s_serve (void *arg)
{
    fixture_t *f = arg;
    zpoller_t *poller = zpoller_new (shed_api_server_sock (f->server), NULL);
    while (!f->stop)
        if (zpoller_wait (poller, 20))
            shed_api_server_handle (f->server);
    zpoller_destroy (&poller);
    return NULL;
}

static int
setup (void **state)
{
    fixture_t *f = calloc (1, sizeof *f);
    assert_non_null (f);
    snprintf (f->dir, sizeof f->dir, "/tmp/shed-http-events-test-XXXXXX");
    assert_non_null (mkdtemp (f->dir));
    snprintf (f->api_ep, sizeof f->api_ep, "ipc://%s/api.sock", f->dir);
    snprintf (f->bus_ep, sizeof f->bus_ep, "ipc://%s/events.sock", f->dir);
    f->id = shed_identity_new_ephemeral ();
    assert_non_null (f->id);
    bus_config_t cfg = { .name = "n1",
                         .public_key = shed_identity_x25519_public (f->id),
                         .secret_key = shed_identity_x25519_secret (f->id),
                         .ipc_endpoint = f->bus_ep };
    char err[256];
    f->bus = bus_new (&cfg, err, sizeof err);
    assert_non_null (f->bus);
    f->server = shed_api_server_new (f->api_ep, err, sizeof err);
    assert_non_null (f->server);
    shed_api_server_on (f->server, API_EVENTS_REQ, s_events, f);
    f->pool = shed_api_pool_new (f->api_ep, 2);
    assert_non_null (f->pool);
    assert_int_equal (pthread_create (&f->thread, NULL, s_serve, f), 0);
    *state = f;
    return 0;
}

static int
teardown (void **state)
{
    fixture_t *f = *state;
    f->stop = 1;
    pthread_join (f->thread, NULL);
    shed_api_pool_destroy (&f->pool);
    shed_api_server_destroy (&f->server);
    bus_destroy (&f->bus);
    shed_identity_destroy (&f->id);
    char path[160];
    snprintf (path, sizeof path, "%s/api.sock", f->dir);
    unlink (path);
    snprintf (path, sizeof path, "%s/events.sock", f->dir);
    unlink (path);
    rmdir (f->dir);
    free (f);
    return 0;
}

/* Publish under each topic, then under `marker` (a followed topic), and
 * read up to the marker into got ("topic|topic|..."): the bus keeps one
 * publisher's order, so whatever of the topics was delivered came before
 * it. NULL marker: read what comes within 300 ms. */
static void
s_publish_read (fixture_t *f, bus_client_t *c, const char *const *topics, size_t n,
                const char *marker, char *got, size_t size)
{
    for (size_t i = 0; i < n; i++)
        assert_int_equal (bus_publish (f->bus, topics[i], "test", "x", 1), 0);
    if (marker)
        assert_int_equal (bus_publish (f->bus, marker, "test", "x", 1), 0);
    got[0] = '\0';
    size_t len = 0;
    int64_t until = zclock_mono () + (marker ? 5000 : 300);
    bus_event_t ev;
    while (zclock_mono () < until) {
        if (bus_client_recv (c, &ev, 50) != 0 || ev.snapshot)
            continue;
        if (marker && strcmp (ev.topic, marker) == 0)
            return;
        len += (size_t) snprintf (got + len, size - len, "%s|", ev.topic);
    }
    assert_null (marker); /* the marker always comes */
}

static void
test_follows_the_prefixes (void **state)
{
    fixture_t *f = *state;
    volatile int stopping = 0;
    http_error_t err = { 0 };
    const char *prefixes[] = { "shed.", "member." };
    bus_client_t *c = http_events_bus_new (f->pool, &stopping, prefixes, 2, &err);
    assert_non_null (c);
    assert_int_equal (err.status, 0);
    /* the node has both subscriptions once it answers the snapshot */
    bus_client_snapshot (c, 2000);
    const char *topics[] = { "shed.n1.web", "service.n1.db", "member.n2", "log.n1.web.out" };
    char got[256];
    s_publish_read (f, c, topics, 4, "shed.n1.end", got, sizeof got);
    assert_string_equal (got, "shed.n1.web|member.n2|");
    bus_client_destroy (&c); /* the caller's: nothing else frees it */
    assert_null (c);

    /* No prefixes: connected, following nothing until the caller says. */
    c = http_events_bus_new (f->pool, &stopping, NULL, 0, &err);
    assert_non_null (c);
    bus_client_snapshot (c, 2000);
    s_publish_read (f, c, topics, 1, NULL, got, sizeof got);
    assert_string_equal (got, "");
    assert_int_equal (bus_client_subscribe (c, "log."), 0);
    bus_client_snapshot (c, 2000);
    s_publish_read (f, c, topics, 4, "log.n1.end", got, sizeof got);
    assert_string_equal (got, "log.n1.web.out|");
    bus_client_destroy (&c);
}

static void
test_failures_are_503 (void **state)
{
    fixture_t *f = *state;
    volatile int stopping = 0;
    http_error_t err = { 0 };
    /* a prefix the bus refuses (longer than a topic): no consumer at all,
     * not one that follows less than asked */
    char long_prefix[EVENT_TOPIC_MAX + 8];
    memset (long_prefix, 'a', sizeof long_prefix - 1);
    long_prefix[sizeof long_prefix - 1] = '\0';
    const char *prefixes[] = { "shed.", long_prefix };
    assert_null (http_events_bus_new (f->pool, &stopping, prefixes, 2, &err));
    assert_int_equal (err.status, 503);
    assert_string_equal (err.code, "unavailable");
    assert_non_null (strstr (err.message, "cannot follow"));

    /* a node without an event bus */
    f->no_bus = true;
    memset (&err, 0, sizeof err);
    assert_null (http_events_bus_new (f->pool, &stopping, prefixes, 1, &err));
    assert_int_equal (err.status, 503);
    assert_string_equal (err.message, "the node's event bus is not available");
    f->no_bus = false;

    /* a node that does not answer, given up on when the server stops */
    shed_api_pool_t *nowhere = shed_api_pool_new ("ipc:///nonexistent/shed-http-events.sock", 1);
    assert_non_null (nowhere);
    stopping = 1;
    memset (&err, 0, sizeof err);
    int64_t t0 = zclock_mono ();
    assert_null (http_events_bus_new (nowhere, &stopping, prefixes, 1, &err));
    assert_true (zclock_mono () - t0 < HTTP_READ_TIMEOUT_MS);
    assert_int_equal (err.status, 503);
    assert_true (strlen (err.message) > 0);
    shed_api_pool_destroy (&nowhere);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown (test_follows_the_prefixes, setup, teardown),
        cmocka_unit_test_setup_teardown (test_failures_are_503, setup, teardown),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
