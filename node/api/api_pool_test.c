/* api_pool_test.c - the HTTP API's pool of local API sockets (api_pool.h)
 * against a real local API server on an ipc socket. */
#include "node/api/api_client.h"
#include "node/api/api_pool.h"
#include "node/api/api_server.h"

#include <czmq.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <unistd.h>

#include <cmocka.h>

#define S_LATE_MS 400 /* a "slow" request is answered this late */

typedef struct {
    char dir[64];
    char endpoint[128];
    shed_api_server_t *server;
    pthread_t thread;
    volatile int stop;
    shed_api_call_t *held; /* the slow request, answered S_LATE_MS late */
    char held_id[API_TOKEN_ID_MAX + 1];
    int64_t held_at;
} fixture_t;

/* Echoes the request's id as the API_OK's message; "slow" ids late. */
static void
s_echo (shed_api_call_t *call, const api_msg_t *req, void *arg)
{
    fixture_t *f = arg;
    const char *id = req->u.api_token_revoke_req.id;
    if (strncmp (id, "slow", 4) == 0 && !f->held) {
        f->held = call;
        snprintf (f->held_id, sizeof f->held_id, "%s", id);
        f->held_at = zclock_mono ();
        return;
    }
    api_msg_t rep = { .hdr.type = API_OK };
    snprintf (rep.u.api_ok.message, sizeof rep.u.api_ok.message, "%s", id);
    shed_api_reply (&call, &rep);
}

static void *
s_serve (void *arg)
{
    fixture_t *f = arg;
    zpoller_t *poller = zpoller_new (shed_api_server_sock (f->server), NULL);
    while (!f->stop) {
        if (zpoller_wait (poller, 20))
            shed_api_server_handle (f->server);
        if (f->held && zclock_mono () - f->held_at >= S_LATE_MS) {
            api_msg_t rep = { .hdr.type = API_OK };
            snprintf (rep.u.api_ok.message, sizeof rep.u.api_ok.message, "%s", f->held_id);
            shed_api_reply (&f->held, &rep);
        }
    }
    zpoller_destroy (&poller);
    return NULL;
}

static int
setup (void **state)
{
    fixture_t *f = calloc (1, sizeof *f);
    snprintf (f->dir, sizeof f->dir, "/tmp/shed-pool-test-XXXXXX");
    assert_non_null (mkdtemp (f->dir));
    snprintf (f->endpoint, sizeof f->endpoint, "ipc://%s/api.sock", f->dir);
    char err[256];
    f->server = shed_api_server_new (f->endpoint, err, sizeof err);
    assert_non_null (f->server);
    shed_api_server_on (f->server, API_TOKEN_REVOKE_REQ, s_echo, f);
    pthread_create (&f->thread, NULL, s_serve, f);
    *state = f;
    return 0;
}

static int
teardown (void **state)
{
    fixture_t *f = *state;
    f->stop = 1;
    pthread_join (f->thread, NULL);
    if (f->held)
        shed_api_reply_error (&f->held, API_ERR_UNAVAILABLE, "test over");
    shed_api_server_destroy (&f->server);
    char path[160];
    snprintf (path, sizeof path, "%s/api.sock", f->dir);
    unlink (path);
    rmdir (f->dir);
    free (f);
    return 0;
}

/* One call; 0 and the echoed id in out, or the call's rc. */
static int
s_call (shed_api_pool_t *pool, const char *id, int timeout_ms, char *out, size_t size)
{
    api_msg_t req = { .hdr.type = API_TOKEN_REVOKE_REQ }, rep;
    snprintf (req.u.api_token_revoke_req.id, sizeof req.u.api_token_revoke_req.id, "%s", id);
    char err[256];
    int rc = shed_api_pool_call (pool, &req, &rep, timeout_ms, NULL, err, sizeof err);
    if (rc != 0)
        return rc;
    const char *got = rep.hdr.type == API_OK ? rep.u.api_ok.message : "?";
    size_t n = strlen (got) < size ? strlen (got) : size - 1;
    memcpy (out, got, n);
    out[n] = '\0';
    wire_msg_free (&api_proto, &rep);
    return 0;
}

/* Sequential calls share one socket. */
static void
test_reuse (void **state)
{
    fixture_t *f = *state;
    shed_api_pool_t *pool = shed_api_pool_new (f->endpoint, 4);
    char got[64];
    for (int i = 0; i < 20; i++) {
        char id[16];
        snprintf (id, sizeof id, "t%d", i);
        assert_int_equal (s_call (pool, id, 2000, got, sizeof got), 0);
        assert_string_equal (got, id);
    }
    uint64_t opened, reused, discarded;
    size_t idle;
    shed_api_pool_counts (pool, &opened, &reused, &discarded, &idle);
    assert_int_equal (opened, 1);
    assert_int_equal (reused, 19);
    assert_int_equal (discarded, 0);
    assert_int_equal (idle, 1);
    shed_api_pool_destroy (&pool);
}

/* A call that timed out leaves its socket waiting for a reply: that socket
 * is dropped, so the next call gets its own answer, never the late one. */
static void
test_timeout_discards (void **state)
{
    fixture_t *f = *state;
    shed_api_pool_t *pool = shed_api_pool_new (f->endpoint, 4);
    char got[64];
    assert_int_equal (s_call (pool, "warm", 2000, got, sizeof got), 0);
    assert_int_equal (s_call (pool, "slow1", 100, got, sizeof got), SHED_API_NO_REPLY);
    /* The slow answer arrives while the next calls run. */
    for (int i = 0; i < 10; i++) {
        char id[16];
        snprintf (id, sizeof id, "after%d", i);
        assert_int_equal (s_call (pool, id, 2000, got, sizeof got), 0);
        assert_string_equal (got, id);
        usleep (60 * 1000);
    }
    uint64_t opened, reused, discarded;
    size_t idle;
    shed_api_pool_counts (pool, &opened, &reused, &discarded, &idle);
    assert_int_equal (discarded, 1);
    assert_int_equal (opened, 2);
    shed_api_pool_destroy (&pool);
}

typedef struct {
    shed_api_pool_t *pool;
    int n, bad, thread;
} s_worker_t;

static void *
s_worker (void *arg)
{
    s_worker_t *w = arg;
    for (int i = 0; i < w->n; i++) {
        char id[32], got[64];
        snprintf (id, sizeof id, "w%d-%d", w->thread, i);
        if (s_call (w->pool, id, 5000, got, sizeof got) != 0 || strcmp (got, id) != 0)
            w->bad++;
    }
    return NULL;
}

/* Threads at once: each answer is its own request's; no more sockets are
 * kept than the bound. */
static void
test_threads (void **state)
{
    fixture_t *f = *state;
    shed_api_pool_t *pool = shed_api_pool_new (f->endpoint, 3);
    enum { T = 8 };
    pthread_t th[T];
    s_worker_t w[T];
    for (int i = 0; i < T; i++) {
        w[i] = (s_worker_t){ .pool = pool, .n = 200, .thread = i };
        pthread_create (&th[i], NULL, s_worker, &w[i]);
    }
    for (int i = 0; i < T; i++) {
        pthread_join (th[i], NULL);
        assert_int_equal (w[i].bad, 0);
    }
    uint64_t opened, reused, discarded;
    size_t idle;
    shed_api_pool_counts (pool, &opened, &reused, &discarded, &idle);
    assert_int_equal (opened + reused, T * 200);
    assert_true (reused > opened);
    assert_true (idle <= 3);
    assert_int_equal (discarded, 0);
    shed_api_pool_destroy (&pool);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown (test_reuse, setup, teardown),
        cmocka_unit_test_setup_teardown (test_timeout_discards, setup, teardown),
        cmocka_unit_test_setup_teardown (test_threads, setup, teardown),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
