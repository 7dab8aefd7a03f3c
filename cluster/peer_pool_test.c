/*
 * peer_pool_test.c - the bounded DEALER pool against real CURVE ROUTERs on
 * 127.0.0.1: LRU eviction, pinning, transient monitors, refusal re-dials,
 * and socket creation failures counted and retried (never an abort).
 */
#include "cluster/peer_pool.h"
#include "cluster/zap.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <sodium.h>
#include <zmq.h>

/* A small socket limit so exhausting it is cheap (set before any socket). */
#define S_MAX_SOCKETS 64

static zap_t *s_zap;
static uint8_t s_pub[32], s_sec[32]; /* the pool's key pair */

typedef struct {
    uint8_t pub[32], sec[32];
    zsock_t *router;
    char *endpoint;
} s_server_t;

static void
s_server_start (s_server_t *srv, const char *domain, bool allow_us)
{
    crypto_box_keypair (srv->pub, srv->sec);
    srv->router = zsock_new (ZMQ_ROUTER);
    assert_non_null (srv->router);
    zsock_set_linger (srv->router, 0);
    assert_int_equal (zap_secure_server (srv->router, srv->pub, srv->sec, domain), 0);
    if (allow_us)
        zap_allow (s_zap, domain, s_pub);
    assert_true (zsock_bind (srv->router, "tcp://127.0.0.1:*") >= 0);
    srv->endpoint = zsock_last_endpoint (srv->router);
}

static void
s_server_stop (s_server_t *srv)
{
    zsock_destroy (&srv->router);
    zstr_free (&srv->endpoint);
}

static peer_pool_t *
s_pool (zpoller_t *poller, size_t cap)
{
    peer_pool_config_t cfg = { .comp = "test",
                               .public_key = s_pub,
                               .secret_key = s_sec,
                               .cap = cap,
                               .sndhwm = 100,
                               .poller = poller };
    peer_pool_t *pool = peer_pool_new (&cfg);
    assert_non_null (pool);
    return pool;
}

/* Pump the poller until the pool reports `want` for some entry (or ms pass). */
static peer_pool_event_t
s_wait_event (peer_pool_t *pool, zpoller_t *poller, peer_pool_event_t want, int ms)
{
    int64_t end = zclock_mono () + ms;
    while (zclock_mono () < end) {
        void *which = zpoller_wait (poller, 50);
        peer_pool_tick (pool);
        if (!which)
            continue;
        void *sock = NULL;
        peer_pool_event_t ev = peer_pool_event (pool, which, NULL, &sock);
        if (ev == PEER_POOL_EV_READABLE) {
            zmsg_t *msg = zmsg_recv (sock);
            zmsg_destroy (&msg);
        }
        if (ev == want)
            return ev;
    }
    return PEER_POOL_EV_NONE;
}

static void
test_lru_eviction_and_pins (void **state)
{
    (void) state;
    s_server_t srv;
    s_server_start (&srv, "pool-lru", true);
    zpoller_t *poller = zpoller_new (NULL);
    peer_pool_t *pool = s_pool (poller, 2);
    assert_int_equal (peer_pool_open (pool, "a", srv.endpoint, srv.pub), 0);
    assert_int_equal (peer_pool_open (pool, "b", srv.endpoint, srv.pub), 0);
    peer_pool_touch (pool, "a"); /* b is now the least recently used */
    assert_int_equal (peer_pool_open (pool, "c", srv.endpoint, srv.pub), 0);
    assert_int_equal (peer_pool_size (pool), 2);
    assert_true (peer_pool_has (pool, "a"));
    assert_false (peer_pool_has (pool, "b"));
    assert_true (peer_pool_has (pool, "c"));
    assert_int_equal (peer_pool_stats (pool)->evicted, 1);

    /* Pinned entries (calls in flight) are never evicted. */
    peer_pool_pin (pool, "a", 1);
    peer_pool_pin (pool, "c", 1);
    assert_int_equal (peer_pool_open (pool, "d", srv.endpoint, srv.pub), -1);
    assert_int_equal (peer_pool_stats (pool)->full, 1);
    peer_pool_pin (pool, "a", -1);
    assert_int_equal (peer_pool_open (pool, "d", srv.endpoint, srv.pub), 0);
    assert_false (peer_pool_has (pool, "a"));
    assert_true (peer_pool_has (pool, "c"));

    /* Idle entries close; the pinned one stays. */
    assert_int_equal (peer_pool_close_idle (pool, 0), 1);
    assert_true (peer_pool_has (pool, "c"));
    assert_int_equal (peer_pool_close (pool, "c"), 0);
    assert_int_equal (peer_pool_close (pool, "c"), -1);
    assert_int_equal (peer_pool_size (pool), 0);
    assert_int_equal (peer_pool_sockets (pool), 0);
    peer_pool_destroy (&pool);
    assert_null (pool);
    zpoller_destroy (&poller);
    s_server_stop (&srv);
}

/* A monitor lives only until the first handshake outcome. */
static void
test_monitor_is_transient (void **state)
{
    (void) state;
    s_server_t srv;
    s_server_start (&srv, "pool-mon", true);
    zpoller_t *poller = zpoller_new (NULL);
    peer_pool_t *pool = s_pool (poller, 4);
    assert_int_equal (peer_pool_open (pool, "s", srv.endpoint, srv.pub), 0);
    assert_int_equal (peer_pool_sockets (pool), 3); /* dealer + monitor pair */
    assert_int_equal (s_wait_event (pool, poller, PEER_POOL_EV_CONNECTED, 5000),
                      PEER_POOL_EV_CONNECTED);
    assert_int_equal (peer_pool_sockets (pool), 1);
    assert_int_equal (peer_pool_stats (pool)->handshakes_ok, 1);
    /* The connection works without its monitor. */
    zstr_send (peer_pool_sock (pool, "s"), "hello");
    zmsg_t *msg = zmsg_recv (srv.router);
    assert_non_null (msg);
    assert_int_equal (zmsg_size (msg), 2);
    zmsg_destroy (&msg);
    peer_pool_destroy (&pool);
    zpoller_destroy (&poller);
    s_server_stop (&srv);
}

/* A refused handshake (our key not allowed yet) re-dials until allowed. */
static void
test_refused_then_allowed (void **state)
{
    (void) state;
    s_server_t srv;
    s_server_start (&srv, "pool-refuse", false);
    zpoller_t *poller = zpoller_new (NULL);
    peer_pool_t *pool = s_pool (poller, 4);
    assert_int_equal (peer_pool_open (pool, "s", srv.endpoint, srv.pub), 0);
    assert_int_equal (s_wait_event (pool, poller, PEER_POOL_EV_REFUSED, 5000),
                      PEER_POOL_EV_REFUSED);
    zap_allow (s_zap, "pool-refuse", s_pub);
    assert_int_equal (s_wait_event (pool, poller, PEER_POOL_EV_CONNECTED, 5000),
                      PEER_POOL_EV_CONNECTED);
    assert_true (peer_pool_stats (pool)->refused >= 1);
    assert_true (peer_pool_stats (pool)->redials >= 1);
    peer_pool_destroy (&pool);
    zpoller_destroy (&poller);
    s_server_stop (&srv);
}

static int s_redialled;

static void
s_on_redial (void *arg, const char *name, void *sock)
{
    (void) arg;
    assert_string_equal (name, "s");
    assert_non_null (sock);
    s_redialled++;
}

/* Out of sockets: the open is counted as a failure and retried, no abort. */
static void
test_socket_exhaustion_counted (void **state)
{
    (void) state;
    s_server_t srv;
    s_server_start (&srv, "pool-full", true);
    zpoller_t *poller = zpoller_new (NULL);
    peer_pool_config_t cfg = { .comp = "test",
                               .public_key = s_pub,
                               .secret_key = s_sec,
                               .cap = 4,
                               .poller = poller,
                               .on_redial = s_on_redial };
    peer_pool_t *pool = peer_pool_new (&cfg);
    assert_non_null (pool);
    /* Take every socket the context has left. */
    void *hog[S_MAX_SOCKETS];
    size_t hogs = 0;
    while (hogs < S_MAX_SOCKETS && (hog[hogs] = zsys_socket (ZMQ_PAIR, __FILE__, __LINE__)))
        hogs++;
    assert_true (hogs < S_MAX_SOCKETS);
    assert_int_equal (peer_pool_open (pool, "s", srv.endpoint, srv.pub), 0);
    assert_null (peer_pool_sock (pool, "s"));
    assert_int_equal (peer_pool_stats (pool)->sock_fail, 1);
    int64_t due = peer_pool_tick (pool);
    assert_true (due > 0);
    while (hogs)
        zsys_close (hog[--hogs], __FILE__, __LINE__);
    zclock_sleep ((int) (due - zclock_mono ()) + 10);
    peer_pool_tick (pool);
    assert_non_null (peer_pool_sock (pool, "s"));
    assert_int_equal (s_redialled, 1);
    assert_int_equal (s_wait_event (pool, poller, PEER_POOL_EV_CONNECTED, 5000),
                      PEER_POOL_EV_CONNECTED);
    peer_pool_destroy (&pool);
    zpoller_destroy (&poller);
    s_server_stop (&srv);
}

static void
test_bad_arguments (void **state)
{
    (void) state;
    peer_pool_config_t cfg = { .public_key = s_pub, .secret_key = s_sec, .cap = 0 };
    assert_null (peer_pool_new (&cfg));
    assert_null (peer_pool_new (NULL));
    cfg.cap = 1;
    peer_pool_t *pool = peer_pool_new (&cfg);
    assert_int_equal (peer_pool_open (pool, "", "tcp://127.0.0.1:1", s_pub), -1);
    assert_int_equal (peer_pool_open (pool, "x", NULL, s_pub), -1);
    /* An endpoint libzmq refuses: no socket kept, a re-dial scheduled. */
    assert_int_equal (peer_pool_open (pool, "x", "bogus://nowhere", s_pub), 0);
    assert_null (peer_pool_sock (pool, "x"));
    assert_true (peer_pool_tick (pool) > 0);
    assert_int_equal (peer_pool_sockets (pool), 0);
    assert_int_equal (peer_pool_event (pool, NULL, NULL, NULL), PEER_POOL_EV_NONE);
    assert_int_equal (peer_pool_event (pool, (void *) &cfg, NULL, NULL), PEER_POOL_EV_NONE);
    peer_pool_destroy (&pool);
    peer_pool_destroy (&pool);
}

int
main (void)
{
    assert (sodium_init () >= 0);
    zsys_init ();
    zsys_set_max_sockets (S_MAX_SOCKETS);
    crypto_box_keypair (s_pub, s_sec);
    s_zap = zap_new ();
    assert (s_zap);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_lru_eviction_and_pins),
        cmocka_unit_test (test_monitor_is_transient),
        cmocka_unit_test (test_refused_then_allowed),
        cmocka_unit_test (test_socket_exhaustion_counted),
        cmocka_unit_test (test_bad_arguments),
    };
    int rc = cmocka_run_group_tests (tests, NULL, NULL);
    zap_destroy (&s_zap);
    return rc;
}
