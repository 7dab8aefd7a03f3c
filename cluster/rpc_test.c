/* rpc_test.c - the RPC actor over real CURVE sockets on 127.0.0.1. */
#include "cluster/rpc.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <sodium.h>

typedef struct {
    uint8_t pub[32], sec[32];
    rpc_t *rpc;
} s_node_t;

static zap_t *s_zap;

static void
s_node_start (s_node_t *n, const char *name)
{
    crypto_box_keypair (n->pub, n->sec);
    char err[256] = "";
    rpc_config_t cfg = { .name = name,
                         .endpoint = "tcp://127.0.0.1:*",
                         .public_key = n->pub,
                         .secret_key = n->sec,
                         .zap = s_zap };
    n->rpc = rpc_new (&cfg, err, sizeof err);
    assert_non_null (n->rpc);
    assert_string_equal (err, "");
}

/* Wait up to ms for one event on n. Returns 0 or -1 (nothing). */
static int
s_wait (s_node_t *n, rpc_event_t *ev, int ms)
{
    zpoller_t *p = zpoller_new (rpc_sock (n->rpc), NULL);
    void *which = zpoller_wait (p, ms);
    zpoller_destroy (&p);
    if (!which)
        return -1;
    return rpc_recv (n->rpc, ev);
}

/* a and b know each other; b allows a's key only if allow_a. */
static void
s_pair (s_node_t *a, s_node_t *b, bool allow_a)
{
    s_node_start (a, "a");
    s_node_start (b, "b");
    rpc_allow (a->rpc, b->pub);
    if (allow_a)
        rpc_allow (b->rpc, a->pub);
    rpc_peer_add (a->rpc, "b", rpc_endpoint (b->rpc), b->pub);
    rpc_peer_add (b->rpc, "a", rpc_endpoint (a->rpc), a->pub);
}

static void
s_pair_stop (s_node_t *a, s_node_t *b)
{
    rpc_destroy (&a->rpc);
    rpc_destroy (&b->rpc);
    assert_null (a->rpc);
}

static void
test_request_response (void **state)
{
    (void) state;
    s_node_t a, b;
    s_pair (&a, &b, true);
    uint64_t id = rpc_request (a.rpc, "b", "echo", (const uint8_t *) "hello", 5, 3000);
    assert_true (id > 0);
    rpc_event_t ev;
    assert_int_equal (s_wait (&b, &ev, 3000), 0);
    assert_int_equal (ev.type, RPC_EV_REQUEST);
    assert_string_equal (ev.peer, "a"); /* the name registered for a's key */
    assert_string_equal (ev.method, "echo");
    assert_int_equal (ev.len, 5);
    assert_memory_equal (ev.body, "hello", 5);
    uint64_t token = ev.id;
    rpc_event_free (&ev);
    rpc_reply (b.rpc, token, RPC_OK, NULL, (const uint8_t *) "world!", 6);
    assert_int_equal (s_wait (&a, &ev, 3000), 0);
    assert_int_equal (ev.type, RPC_EV_RESPONSE);
    assert_true (ev.id == id);
    assert_int_equal (ev.status, RPC_OK);
    assert_int_equal (ev.len, 6);
    assert_memory_equal (ev.body, "world!", 6);
    rpc_event_free (&ev);

    /* An owner error travels with its code and line. Both directions work. */
    id = rpc_request (b.rpc, "a", "fail", NULL, 0, 3000);
    assert_int_equal (s_wait (&a, &ev, 3000), 0);
    assert_int_equal (ev.type, RPC_EV_REQUEST);
    assert_string_equal (ev.peer, "b");
    token = ev.id;
    rpc_event_free (&ev);
    rpc_reply (a.rpc, token, 7, "no room here", NULL, 0);
    assert_int_equal (s_wait (&b, &ev, 3000), 0);
    assert_true (ev.id == id);
    assert_int_equal (ev.status, 7);
    assert_string_equal (ev.error, "no room here");
    rpc_event_free (&ev);

    /* Many in flight, answered out of order. */
    uint64_t ids[20];
    for (int i = 0; i < 20; i++) {
        char body[8];
        snprintf (body, sizeof body, "%d", i);
        ids[i] = rpc_request (a.rpc, "b", "n", (const uint8_t *) body, strlen (body), 3000);
    }
    uint64_t tokens[20];
    char bodies[20][8];
    for (int i = 0; i < 20; i++) {
        assert_int_equal (s_wait (&b, &ev, 3000), 0);
        tokens[i] = ev.id;
        snprintf (bodies[i], sizeof bodies[i], "%.*s", (int) ev.len, (char *) ev.body);
        rpc_event_free (&ev);
    }
    for (int i = 19; i >= 0; i--)
        rpc_reply (b.rpc, tokens[i], RPC_OK, NULL, (const uint8_t *) bodies[i], strlen (bodies[i]));
    int seen = 0;
    for (int i = 0; i < 20; i++) {
        assert_int_equal (s_wait (&a, &ev, 3000), 0);
        assert_int_equal (ev.status, RPC_OK);
        int n = atoi ((char *) ev.body);
        assert_true (n >= 0 && n < 20);
        assert_true (ev.id == ids[n]);
        seen |= 1 << n;
        rpc_event_free (&ev);
    }
    assert_int_equal (seen, (1 << 20) - 1);
    s_pair_stop (&a, &b);
}

static void
test_timeout_and_unknown_peer (void **state)
{
    (void) state;
    s_node_t a, b;
    s_pair (&a, &b, true);
    int64_t t0 = zclock_mono ();
    uint64_t id = rpc_request (a.rpc, "b", "slow", NULL, 0, 300);
    rpc_event_t ev;
    assert_int_equal (s_wait (&b, &ev, 3000), 0); /* b gets it and says nothing */
    uint64_t token = ev.id;
    rpc_event_free (&ev);
    assert_int_equal (s_wait (&a, &ev, 3000), 0);
    assert_int_equal (ev.type, RPC_EV_RESPONSE);
    assert_true (ev.id == id);
    assert_int_equal (ev.status, RPC_ERR_TIMEOUT);
    assert_non_null (strstr (ev.error, "did not answer"));
    assert_true (zclock_mono () - t0 >= 290);
    rpc_event_free (&ev);
    /* A late answer is dropped, not delivered. */
    rpc_reply (b.rpc, token, RPC_OK, NULL, NULL, 0);
    assert_int_equal (s_wait (&a, &ev, 300), -1);

    id = rpc_request (a.rpc, "nobody", "x", NULL, 0, 3000);
    assert_int_equal (s_wait (&a, &ev, 1000), 0);
    assert_true (ev.id == id);
    assert_int_equal (ev.status, RPC_ERR_NO_PEER);
    rpc_event_free (&ev);

    /* Removing a peer fails what is pending for it at once. */
    id = rpc_request (a.rpc, "b", "slow", NULL, 0, 10000);
    assert_int_equal (s_wait (&b, &ev, 3000), 0);
    rpc_event_free (&ev);
    rpc_peer_remove (a.rpc, "b");
    assert_int_equal (s_wait (&a, &ev, 1000), 0);
    assert_true (ev.id == id);
    assert_int_equal (ev.status, RPC_ERR_NO_PEER);
    rpc_event_free (&ev);
    char *stats = rpc_stats (a.rpc);
    assert_non_null (strstr (stats, "timeouts=1"));
    zstr_free (&stats);
    s_pair_stop (&a, &b);
}

static void
test_wrong_key_refused (void **state)
{
    (void) state;
    s_node_t a, b;
    s_pair (&a, &b, false); /* b never allows a */
    uint64_t id = rpc_request (a.rpc, "b", "x", NULL, 0, 800);
    rpc_event_t ev;
    assert_int_equal (s_wait (&b, &ev, 1000), -1); /* nothing reaches b */
    assert_int_equal (s_wait (&a, &ev, 2000), 0);
    assert_true (ev.id == id);
    assert_int_equal (ev.status, RPC_ERR_TIMEOUT);
    rpc_event_free (&ev);
    char *stats = rpc_stats (a.rpc);
    assert_null (strstr (stats, "handshakes_refused=0 "));
    zstr_free (&stats);

    /* A client that claims the wrong server key gets nowhere either. */
    uint8_t other_pub[32], other_sec[32];
    crypto_box_keypair (other_pub, other_sec);
    rpc_allow (b.rpc, a.pub);
    rpc_peer_add (a.rpc, "b", rpc_endpoint (b.rpc), other_pub);
    id = rpc_request (a.rpc, "b", "x", NULL, 0, 600);
    assert_int_equal (s_wait (&b, &ev, 800), -1);
    assert_int_equal (s_wait (&a, &ev, 2000), 0);
    assert_int_equal (ev.status, RPC_ERR_TIMEOUT);
    rpc_event_free (&ev);
    s_pair_stop (&a, &b);
}

static void
test_late_allow_recovers (void **state)
{
    (void) state;
    s_node_t a, b;
    s_pair (&a, &b, false);
    uint64_t id = rpc_request (a.rpc, "b", "hello", (const uint8_t *) "x", 1, 8000);
    rpc_event_t ev;
    assert_int_equal (s_wait (&b, &ev, 400), -1); /* refused so far */
    /* libzmq would never retry on its own: the monitor + re-dial does. */
    rpc_allow (b.rpc, a.pub);
    assert_int_equal (s_wait (&b, &ev, 5000), 0);
    assert_int_equal (ev.type, RPC_EV_REQUEST);
    assert_string_equal (ev.method, "hello");
    uint64_t token = ev.id;
    rpc_event_free (&ev);
    rpc_reply (b.rpc, token, RPC_OK, NULL, (const uint8_t *) "ok", 2);
    assert_int_equal (s_wait (&a, &ev, 3000), 0);
    assert_true (ev.id == id);
    assert_int_equal (ev.status, RPC_OK);
    rpc_event_free (&ev);
    char *stats = rpc_stats (a.rpc);
    assert_null (strstr (stats, "redials=0"));
    zstr_free (&stats);

    /* Deny: messages of a denied key are dropped even on the live
     * connection. */
    rpc_deny (b.rpc, a.pub);
    zclock_sleep (50);
    id = rpc_request (a.rpc, "b", "x", NULL, 0, 500);
    assert_int_equal (s_wait (&b, &ev, 700), -1);
    assert_int_equal (s_wait (&a, &ev, 2000), 0);
    assert_int_equal (ev.status, RPC_ERR_TIMEOUT);
    rpc_event_free (&ev);
    s_pair_stop (&a, &b);
}

static void
test_codec (void **state)
{
    (void) state;
    rpc_msg_t msg = { .hdr.type = RPC_RESPONSE };
    msg.u.rpc_response.id = 42;
    msg.u.rpc_response.status = -1;
    snprintf (msg.u.rpc_response.error, sizeof msg.u.rpc_response.error, "x");
    uint8_t *buf = NULL;
    size_t len = 0;
    assert_int_equal (wire_encode (&rpc_proto, &msg, &buf, &len), WIRE_OK);
    rpc_msg_t out;
    assert_int_equal (wire_decode (&rpc_proto, buf, len, &out, NULL), WIRE_OK);
    assert_true (out.u.rpc_response.id == 42);
    assert_true (out.u.rpc_response.status == -1);
    wire_msg_free (&rpc_proto, &out);
    /* Truncations never decode. */
    for (size_t i = 0; i < len; i++)
        assert_int_not_equal (wire_decode (&rpc_proto, buf, i, &out, NULL), WIRE_OK);
    free (buf);
}

/* ---- the connection pool (cluster/peer_pool.h) ---------------------------- */

static uint64_t
s_stat (rpc_t *rpc, const char *key)
{
    char *text = rpc_stats (rpc);
    char *line = zsys_sprintf (" %s", text);
    char *pat = zsys_sprintf (" %s=", key);
    char *at = strstr (line, pat);
    uint64_t v = at ? strtoull (at + strlen (pat), NULL, 10) : UINT64_MAX;
    zstr_free (&pat);
    zstr_free (&line);
    zstr_free (&text);
    return v;
}

/* Serve one echo request on n, if one comes within ms. */
static void
s_serve_one (s_node_t *n, int ms)
{
    rpc_event_t ev;
    if (s_wait (n, &ev, ms) == 0 && ev.type == RPC_EV_REQUEST)
        rpc_reply (n->rpc, ev.id, RPC_OK, NULL, ev.body, ev.len);
    rpc_event_free (&ev);
}

/* One call from a to srv, answered: 0 or the failure status. */
static int
s_call (s_node_t *a, s_node_t *srv, const char *name)
{
    uint64_t id = rpc_request (a->rpc, name, "echo", (const uint8_t *) "x", 1, 3000);
    s_serve_one (srv, 3000);
    rpc_event_t ev;
    int rc =
        s_wait (a, &ev, 3000) == 0 && ev.type == RPC_EV_RESPONSE && ev.id == id ? ev.status : -100;
    rpc_event_free (&ev);
    return rc;
}

/* a may hold 2 connections and calls 3 peers: the least recently used
 * idle one is closed for the third, and re-opened when called again. */
static void
test_pool_lru (void **state)
{
    (void) state;
    s_node_t a, srv[3];
    const char *names[3] = { "p0", "p1", "p2" };
    crypto_box_keypair (a.pub, a.sec);
    char err[256] = "";
    rpc_config_t cfg = { .name = "a",
                         .endpoint = "tcp://127.0.0.1:*",
                         .public_key = a.pub,
                         .secret_key = a.sec,
                         .zap = s_zap,
                         .pool_max = 2 };
    a.rpc = rpc_new (&cfg, err, sizeof err);
    assert_non_null (a.rpc);
    for (int i = 0; i < 3; i++) {
        s_node_start (&srv[i], names[i]);
        rpc_allow (srv[i].rpc, a.pub);
        rpc_allow (a.rpc, srv[i].pub);
        rpc_peer_add (a.rpc, names[i], rpc_endpoint (srv[i].rpc), srv[i].pub);
    }
    assert_int_equal (s_call (&a, &srv[0], "p0"), RPC_OK);
    assert_int_equal (s_call (&a, &srv[1], "p1"), RPC_OK);
    assert_int_equal (s_stat (a.rpc, "connected"), 2);
    assert_int_equal (s_call (&a, &srv[2], "p2"), RPC_OK);
    assert_int_equal (s_stat (a.rpc, "connected"), 2);
    assert_int_equal (s_stat (a.rpc, "evicted"), 1);
    assert_int_equal (s_call (&a, &srv[0], "p0"), RPC_OK); /* p0 again: p1 goes */
    assert_int_equal (s_stat (a.rpc, "evicted"), 2);
    assert_int_equal (s_stat (a.rpc, "sock_fail"), 0);
    assert_true (s_stat (a.rpc, "sockets") <= 2 * 3 + 1);

    /* A call in flight keeps its connection: with p0 and p2 both busy, a
     * call to p1 is refused at once rather than closing one of them. */
    uint64_t id0 = rpc_request (a.rpc, "p0", "echo", (const uint8_t *) "x", 1, 3000);
    uint64_t id2 = rpc_request (a.rpc, "p2", "echo", (const uint8_t *) "x", 1, 3000);
    uint64_t id1 = rpc_request (a.rpc, "p1", "echo", (const uint8_t *) "x", 1, 3000);
    rpc_event_t ev;
    assert_int_equal (s_wait (&a, &ev, 3000), 0);
    assert_int_equal (ev.type, RPC_EV_RESPONSE);
    assert_true (ev.id == id1);
    assert_int_equal (ev.status, RPC_ERR_REFUSED);
    rpc_event_free (&ev);
    s_serve_one (&srv[0], 3000);
    s_serve_one (&srv[2], 3000);
    for (int i = 0; i < 2; i++) {
        assert_int_equal (s_wait (&a, &ev, 3000), 0);
        assert_true (ev.id == id0 || ev.id == id2);
        assert_int_equal (ev.status, RPC_OK);
        rpc_event_free (&ev);
    }
    /* Both done: p1 may take a connection again. */
    assert_int_equal (s_call (&a, &srv[1], "p1"), RPC_OK);
    rpc_destroy (&a.rpc);
    for (int i = 0; i < 3; i++)
        rpc_destroy (&srv[i].rpc);
}

int
main (void)
{
    zsys_init ();
    zsys_set_logstream (NULL);
    assert_true (sodium_init () >= 0);
    s_zap = zap_new ();
    assert_non_null (s_zap);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_codec),
        cmocka_unit_test (test_request_response),
        cmocka_unit_test (test_timeout_and_unknown_peer),
        cmocka_unit_test (test_wrong_key_refused),
        cmocka_unit_test (test_late_allow_recovers),
        cmocka_unit_test (test_pool_lru),
    };
    int rc = cmocka_run_group_tests (tests, NULL, NULL);
    zap_destroy (&s_zap);
    return rc;
}
