/*
 * links_test.c - node links over real CURVE sockets on 127.0.0.1.
 *
 * Three links actors with distinct identities converge; clients with a key
 * that is not allowed, with no CURVE at all, or DENYed after they were
 * admitted get nothing back, and the server counts the refusals. Ports are
 * ephemeral; waits are polls with generous deadlines (no timing asserts).
 */
#include "cluster/links.h"
#include "cluster/state.h"
#include "cluster/state_msg.h"
#include "crypto/identity.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <sodium.h>
#include <inttypes.h>
#include <math.h>
#include <zmq.h>

static zap_t *s_zap;

typedef struct {
    shed_identity_t *id;
    links_t *actor;
    const char *endpoint; /* owned by the links_t */
    const char *pubkey;
} s_node_t;

static void
s_node_start (s_node_t *node, const char *name)
{
    node->id = shed_identity_new_ephemeral ();
    assert_non_null (node->id);
    links_config_t cfg = {
        .name = name,
        .endpoint = "tcp://127.0.0.1:*",
        .public_key = shed_identity_x25519_public (node->id),
        .secret_key = shed_identity_x25519_secret (node->id),
        .zap = s_zap,
        .interval_ms = 100,
    };
    char err[256] = "";
    node->actor = links_new (&cfg, err, sizeof err);
    if (!node->actor)
        fail_msg ("links_new: %s", err);
    node->endpoint = links_endpoint (node->actor);
    node->pubkey = links_pubkey (node->actor);
    assert_non_null (strstr (node->endpoint, "tcp://127.0.0.1:"));
    assert_int_equal (strlen (node->pubkey), 40);
}

static void
s_node_stop (s_node_t *node)
{
    links_destroy (&node->actor);
    shed_identity_destroy (&node->id);
    node->endpoint = node->pubkey = NULL;
}

static int
s_put (links_t *actor, const char *kind, const char *key, const char *value)
{
    char err[256];
    return links_put (actor, kind, key, value, strlen (value), err, sizeof err);
}

/* 1 if `origin/kind/key` holds `value` at `actor`. */
static int
s_has (links_t *actor, const char *origin, const char *kind, const char *key, const char *value)
{
    char *status = NULL;
    uint64_t version = 0;
    uint8_t *data = NULL;
    size_t size = 0;
    int found = links_get (actor, origin, kind, key, &status, &data, &size, &version);
    int ok = found == 1 && size == strlen (value) && memcmp (data, value, size) == 0;
    zstr_free (&status);
    free (data);
    return ok;
}

static uint64_t
s_stat (links_t *actor, const char *name)
{
    char *text = links_stats (actor);
    assert_non_null (text);
    char *line = zsys_sprintf (" %s", text);
    char *pat = zsys_sprintf (" %s=", name);
    char *at = strstr (line, pat);
    uint64_t v = at ? strtoull (at + strlen (pat), NULL, 10) : UINT64_MAX;
    zstr_free (&pat);
    zstr_free (&line);
    zstr_free (&text);
    return v;
}

static void
s_connect_all (s_node_t *nodes, const char **names, int n)
{
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            if (i == j)
                continue;
            assert_int_equal (links_allow (nodes[i].actor, nodes[j].pubkey), 0);
            assert_int_equal (
                links_peer_add (nodes[i].actor, names[j], nodes[j].endpoint, nodes[j].pubkey), 0);
        }
}

/* ---- convergence ---------------------------------------------------------- */

static void
test_three_converge (void **unused)
{
    const char *names[] = { "alpha", "beta", "gamma" };
    s_node_t nodes[3];
    for (int i = 0; i < 3; i++)
        s_node_start (&nodes[i], names[i]);

    /* Watch alpha's events. */
    zsock_t *events = zsock_new_sub (links_events_endpoint (nodes[0].actor), "service");
    assert_non_null (events);

    /* Written before anyone is connected: only anti-entropy can carry it. */
    assert_int_equal (s_put (nodes[2].actor, "service", "db", "pg"), 0);
    s_connect_all (nodes, names, 3);
    zclock_sleep (100);
    /* Written after: carried by PUSH (and anti-entropy). */
    assert_int_equal (s_put (nodes[1].actor, "service", "web", "nginx"), 0);
    assert_int_equal (s_put (nodes[0].actor, "node", "alpha", "cap"), 0);

    int64_t deadline = zclock_mono () + 10000;
    bool done = false;
    while (!done && zclock_mono () < deadline) {
        done = true;
        for (int i = 0; i < 3; i++)
            done = done && s_has (nodes[i].actor, "beta", "service", "web", "nginx")
                   && s_has (nodes[i].actor, "gamma", "service", "db", "pg")
                   && s_has (nodes[i].actor, "alpha", "node", "alpha", "cap");
        if (!done)
            zclock_sleep (50);
    }
    assert_true (done);

    /* alpha published the service inserts. */
    zpoller_t *poller = zpoller_new (events, NULL);
    int inserted = 0;
    while (zpoller_wait (poller, 500) == events) {
        zmsg_t *ev = zmsg_recv (events);
        assert_int_equal (zmsg_size (ev), 7);
        char *topic = zmsg_popstr (ev);
        char *what = zmsg_popstr (ev);
        assert_string_equal (topic, "service");
        if (streq (what, "INSERTED"))
            inserted++;
        zstr_free (&topic);
        zstr_free (&what);
        zmsg_destroy (&ev);
    }
    assert_int_equal (inserted, 2);
    zpoller_destroy (&poller);
    zsock_destroy (&events);

    /* LIST from gamma: two services. */
    zmsg_t *list = links_list (nodes[2].actor, "service");
    char *count = zmsg_popstr (list);
    assert_string_equal (count, "2");
    assert_int_equal (zmsg_size (list), 12);
    zstr_free (&count);
    zmsg_destroy (&list);

    /* A delete propagates; a failed origin is flagged, a removed one goes. */
    char why[256];
    assert_int_equal (links_delete (nodes[1].actor, "service", "web", why, sizeof why), 0);
    deadline = zclock_mono () + 10000;
    while (s_has (nodes[2].actor, "beta", "service", "web", "nginx") && zclock_mono () < deadline)
        zclock_sleep (50);
    assert_false (s_has (nodes[2].actor, "beta", "service", "web", "nginx"));

    assert_int_equal (links_origin_status (nodes[0].actor, "gamma", "unreachable"), 0);
    char *status = NULL;
    uint8_t *data = NULL;
    size_t size = 0;
    uint64_t version = 0;
    assert_int_equal (
        links_get (nodes[0].actor, "gamma", "service", "db", &status, &data, &size, &version), 1);
    assert_string_equal (status, "unreachable");
    zstr_free (&status);
    free (data);
    assert_int_equal (links_origin_status (nodes[0].actor, "gamma", "removed"), 0);
    assert_false (s_has (nodes[0].actor, "gamma", "service", "db", "pg"));
    assert_int_equal (links_origin_status (nodes[0].actor, "gamma", "bogus"), -1);

    assert_true (s_stat (nodes[0].actor, "handshakes_ok") >= 2);
    assert_int_equal (s_stat (nodes[0].actor, "malformed"), 0);
    assert_int_equal (s_stat (nodes[0].actor, "peers"), 2);
    assert_int_equal (links_peer_remove (nodes[0].actor, "beta"), 0);
    assert_int_equal (links_peer_remove (nodes[0].actor, "beta"), -1);
    for (int i = 0; i < 3; i++)
        s_node_stop (&nodes[i]);
}

/* ---- refusals ------------------------------------------------------------- */

/* Send a DIGEST asking for a reply; 1 if anything comes back in time. */
static int
s_probe (zsock_t *client, int timeout_ms)
{
    state_msg_t msg;
    memset (&msg, 0, sizeof msg);
    msg.hdr.type = STATE_DIGEST;
    snprintf (msg.u.state_digest.from, sizeof msg.u.state_digest.from, "intruder");
    msg.u.state_digest.reply = true;
    uint8_t *buf = NULL;
    size_t len = 0;
    assert_int_equal (wire_encode (&state_proto, &msg, &buf, &len), 0);
    zframe_t *frame = zframe_new (buf, len);
    free (buf);
    zframe_send (&frame, client, ZFRAME_DONTWAIT);
    zframe_destroy (&frame);
    zpoller_t *poller = zpoller_new (client, NULL);
    int got = zpoller_wait (poller, timeout_ms) == client;
    zpoller_destroy (&poller);
    return got;
}

static zsock_t *
s_curve_client (const uint8_t pub[32], const uint8_t sec[32], const char *server_z85,
                const char *endpoint)
{
    zsock_t *client = zsock_new (ZMQ_DEALER);
    assert_non_null (client);
    uint8_t server[32];
    assert_non_null (zmq_z85_decode (server, server_z85));
    void *h = zsock_resolve (client);
    int zero = 0;
    zmq_setsockopt (h, ZMQ_LINGER, &zero, sizeof zero);
    assert_int_equal (zmq_setsockopt (h, ZMQ_CURVE_SERVERKEY, server, 32), 0);
    assert_int_equal (zmq_setsockopt (h, ZMQ_CURVE_PUBLICKEY, pub, 32), 0);
    assert_int_equal (zmq_setsockopt (h, ZMQ_CURVE_SECRETKEY, sec, 32), 0);
    assert_int_equal (zsock_connect (client, "%s", endpoint), 0);
    return client;
}

static void
s_wait_stat_above (links_t *actor, const char *name, uint64_t above)
{
    int64_t deadline = zclock_mono () + 5000;
    while (s_stat (actor, name) <= above && zclock_mono () < deadline)
        zclock_sleep (20);
    assert_true (s_stat (actor, name) > above);
}

static void
test_refusals (void **unused)
{
    s_node_t node;
    s_node_start (&node, "server");
    assert_int_equal (s_put (node.actor, "service", "secret", "data"), 0);

    /* 1. A valid CURVE key that is not a member. */
    uint8_t pub[32], sec[32];
    crypto_box_keypair (pub, sec);
    uint64_t zap_refused = s_stat (node.actor, "zap_refused");
    uint64_t refused = s_stat (node.actor, "handshakes_refused");
    zsock_t *client = s_curve_client (pub, sec, node.pubkey, node.endpoint);
    assert_int_equal (s_probe (client, 700), 0);
    zsock_destroy (&client);
    s_wait_stat_above (node.actor, "zap_refused", zap_refused);
    s_wait_stat_above (node.actor, "handshakes_refused", refused);

    /* 2. No CURVE at all. */
    refused = s_stat (node.actor, "handshakes_refused");
    client = zsock_new (ZMQ_DEALER);
    zsock_set_linger (client, 0);
    assert_int_equal (zsock_connect (client, "%s", node.endpoint), 0);
    assert_int_equal (s_probe (client, 700), 0);
    zsock_destroy (&client);
    s_wait_stat_above (node.actor, "handshakes_refused", refused);

    /* 3. A member's key but the wrong server key (a man in the middle's
     * view): the handshake cannot complete. */
    assert_int_equal (links_allow (node.actor, "not-a-key"), -1);
    char z85[41];
    zmq_z85_encode (z85, pub, 32);
    assert_int_equal (links_allow (node.actor, z85), 0);
    uint8_t other_pub[32], other_sec[32];
    crypto_box_keypair (other_pub, other_sec);
    char other_z85[41];
    zmq_z85_encode (other_z85, other_pub, 32);
    client = s_curve_client (pub, sec, other_z85, node.endpoint);
    assert_int_equal (s_probe (client, 700), 0);
    zsock_destroy (&client);

    /* 4. Allowed: answered. Then DENY: the open connection is ignored at
     * once and a new connection is refused. */
    client = s_curve_client (pub, sec, node.pubkey, node.endpoint);
    assert_int_equal (s_probe (client, 3000), 1);
    zmsg_t *reply = zmsg_recv (client);
    assert_non_null (reply);
    zmsg_destroy (&reply);
    /* Drain the digest that follows the delta. */
    zpoller_t *poller = zpoller_new (client, NULL);
    while (zpoller_wait (poller, 300) == client) {
        reply = zmsg_recv (client);
        zmsg_destroy (&reply);
    }
    zpoller_destroy (&poller);

    assert_int_equal (links_deny (node.actor, z85), 0);
    uint64_t denied = s_stat (node.actor, "denied_msgs");
    assert_int_equal (s_probe (client, 700), 0);
    assert_true (s_stat (node.actor, "denied_msgs") > denied);
    zsock_destroy (&client);

    zap_refused = s_stat (node.actor, "zap_refused");
    client = s_curve_client (pub, sec, node.pubkey, node.endpoint);
    assert_int_equal (s_probe (client, 700), 0);
    zsock_destroy (&client);
    s_wait_stat_above (node.actor, "zap_refused", zap_refused);
    s_node_stop (&node);
}

/* ---- ZAP decisions (no sockets) -------------------------------------------- */

static void
test_zap_decide (void **unused)
{
    uint8_t key[32], other[32];
    randombytes_buf (key, sizeof key);
    randombytes_buf (other, sizeof other);
    char uid[41];
    assert_int_equal (zap_allow (s_zap, "d1", key), 0);
    assert_int_equal (zap_decide (s_zap, "d1", "CURVE", key, 32, uid), 200);
    char z85[41];
    zmq_z85_encode (z85, key, 32);
    assert_string_equal (uid, z85);
    assert_int_equal (zap_decide (s_zap, "d1", "CURVE", other, 32, uid), 400);
    assert_int_equal (zap_decide (s_zap, "d2", "CURVE", key, 32, uid), 400);
    assert_int_equal (zap_decide (s_zap, "d1", "NULL", NULL, 0, uid), 400);
    assert_int_equal (zap_decide (s_zap, "d1", "PLAIN", key, 32, uid), 400);
    assert_int_equal (zap_decide (s_zap, "d1", "CURVE", key, 31, uid), 400);
    assert_int_equal (zap_allow (s_zap, "", key), -1);
    assert_int_equal (zap_deny (s_zap, "d1", key), 0);
    assert_int_equal (zap_decide (s_zap, "d1", "CURVE", key, 32, uid), 400);
    uint64_t admitted, refused;
    zap_counts (s_zap, "d1", &admitted, &refused);
    assert_int_equal (admitted, 1);
    assert_int_equal (refused, 5);
    /* Only one handler per process. */
    assert_null (zap_new ());
}

static void
test_bad_config (void **unused)
{
    shed_identity_t *id = shed_identity_new_ephemeral ();
    links_config_t cfg = {
        .name = "x",
        .endpoint = "tcp://256.0.0.1:1",
        .public_key = shed_identity_x25519_public (id),
        .secret_key = shed_identity_x25519_secret (id),
        .zap = s_zap,
    };
    char err[256] = "";
    assert_null (links_new (&cfg, err, sizeof err));
    assert_non_null (strstr (err, "cannot bind"));
    cfg.zap = NULL;
    assert_null (links_new (&cfg, err, sizeof err));
    shed_identity_destroy (&id);
}

/* A connects to B before B allows A's key (membership events reach nodes
 * in any order): B's ZAP refuses the handshake and libzmq never retries it.
 * Once B allows A, A's links must redial on their own and deliver. B has no
 * link to A, so only A's own dialling can carry the record. */
static void
test_late_allow_recovers (void **unused)
{
    s_node_t a, b;
    s_node_start (&a, "late-a");
    s_node_start (&b, "late-b");
    assert_int_equal (links_allow (a.actor, b.pubkey), 0);
    assert_int_equal (links_peer_add (a.actor, "late-b", b.endpoint, b.pubkey), 0);
    assert_int_equal (s_put (a.actor, "node", "late-a", "hello"), 0);
    zclock_sleep (500);
    assert_false (s_has (b.actor, "late-a", "node", "late-a", "hello"));
    assert_int_equal (links_allow (b.actor, a.pubkey), 0);
    int waited = 0;
    while (!s_has (b.actor, "late-a", "node", "late-a", "hello") && waited < 15000) {
        zclock_sleep (100);
        waited += 100;
    }
    printf ("# delivered %d ms after the late ALLOW, redials=%llu dial_refused=%llu\n", waited,
            (unsigned long long) s_stat (a.actor, "redials"),
            (unsigned long long) s_stat (a.actor, "dial_refused"));
    assert_true (s_has (b.actor, "late-a", "node", "late-a", "hello"));
    assert_true (s_stat (a.actor, "redials") >= 1);
    /* A's DEALER monitor saw the refusals and redialled on a 100 ms
     * doubling backoff (next tries ~700 and ~1500 ms after the dial), not
     * only after the 3 s silent-peer timeout. */
    assert_true (s_stat (a.actor, "dial_refused") >= 1);
    assert_true (waited <= 2500);
    s_node_stop (&a);
    s_node_stop (&b);
}

static int
s_setup (void **unused)
{
    s_zap = zap_new ();
    return s_zap ? 0 : -1;
}

static int
s_teardown (void **unused)
{
    zap_destroy (&s_zap);
    return 0;
}

/* ---- the bounded subset (docs/state.md, "Anti-entropy") ------------------ */

static void
s_node_start_subset (s_node_t *node, const char *name, size_t subset, int interval_ms)
{
    node->id = shed_identity_new_ephemeral ();
    assert_non_null (node->id);
    links_config_t cfg = {
        .name = name,
        .endpoint = "tcp://127.0.0.1:*",
        .public_key = shed_identity_x25519_public (node->id),
        .secret_key = shed_identity_x25519_secret (node->id),
        .zap = s_zap,
        .interval_ms = interval_ms,
        .subset = subset,
    };
    char err[256] = "";
    node->actor = links_new (&cfg, err, sizeof err);
    if (!node->actor)
        fail_msg ("links_new: %s", err);
    node->endpoint = links_endpoint (node->actor);
    node->pubkey = links_pubkey (node->actor);
}

/* Members known: all of them; connections: 8 + ceil(log2 N), whatever N. */
static void
test_subset_bounded (void **unused)
{
    (void) unused;
    s_node_t a;
    s_node_start_subset (&a, "bound", 0, 60000);
    char name[32], z85[41];
    uint8_t pk[32], sk[32];
    for (int i = 0; i < 40; i++) {
        crypto_box_keypair (pk, sk);
        zmq_z85_encode (z85, pk, 32);
        snprintf (name, sizeof name, "m%02d", i);
        /* Nobody listens there: the directory entry is what matters. */
        assert_int_equal (links_peer_add (a.actor, name, "tcp://127.0.0.1:9", z85), 0);
        size_t n = (size_t) i + 1;
        size_t want = 8 + (n > 1 ? (size_t) ceil (log2 ((double) n)) : 0);
        want = want < n ? want : n;
        assert_int_equal (s_stat (a.actor, "peers"), n);
        assert_int_equal (s_stat (a.actor, "subset_target"), want);
        assert_int_equal (s_stat (a.actor, "linked"), want);
    }
    /* DEALERs plus at most two sockets per monitor still handshaking, plus
     * the ROUTER and its monitor. */
    assert_true (s_stat (a.actor, "sockets") <= 3 * 14 + 2);
    assert_int_equal (s_stat (a.actor, "sock_fail"), 0);
    /* Members leave: the subset refills from the rest. */
    for (int i = 0; i < 30; i++) {
        snprintf (name, sizeof name, "m%02d", i);
        assert_int_equal (links_peer_remove (a.actor, name), 0);
    }
    assert_int_equal (links_peer_remove (a.actor, "m00"), -1);
    assert_int_equal (s_stat (a.actor, "peers"), 10);
    assert_int_equal (s_stat (a.actor, "linked"), 10);
    s_node_stop (&a);
}

/* 16 nodes, 4 links each, no periodic rounds: a write reaches every node by
 * pushes and rumors alone. */
#define S_MESH_N 16
static void
test_subset_rumor_reaches_all (void **unused)
{
    (void) unused;
    s_node_t n[S_MESH_N];
    char names[S_MESH_N][16];
    for (int i = 0; i < S_MESH_N; i++) {
        snprintf (names[i], sizeof names[i], "r%02d", i);
        s_node_start_subset (&n[i], names[i], 4, 600000);
    }
    for (int i = 0; i < S_MESH_N; i++)
        for (int j = 0; j < S_MESH_N; j++)
            if (i != j) {
                assert_int_equal (links_allow (n[i].actor, n[j].pubkey), 0);
                assert_int_equal (links_peer_add (n[i].actor, names[j], n[j].endpoint, n[j].pubkey),
                                  0);
            }
    for (int i = 0; i < S_MESH_N; i++) {
        assert_int_equal (s_stat (n[i].actor, "peers"), S_MESH_N - 1);
        assert_int_equal (s_stat (n[i].actor, "linked"), 4);
    }
    /* Every link up (a DIGEST goes out on each handshake) and heard. */
    int64_t end = zclock_mono () + 10000;
    int up = 0;
    while (zclock_mono () < end && up < S_MESH_N) {
        up = 0;
        for (int i = 0; i < S_MESH_N; i++)
            up += s_stat (n[i].actor, "digests_sent") >= 4
                  && s_stat (n[i].actor, "deltas_recv") + s_stat (n[i].actor, "digests_recv") >= 4;
        zclock_sleep (50);
    }
    assert_int_equal (up, S_MESH_N);
    assert_int_equal (s_put (n[0].actor, "node", "r00", "hello"), 0);
    end = zclock_mono () + 10000;
    int have = 0;
    while (zclock_mono () < end && have < S_MESH_N) {
        have = 0;
        for (int i = 0; i < S_MESH_N; i++)
            have += s_has (n[i].actor, "r00", "node", "r00", "hello");
        zclock_sleep (20);
    }
    uint64_t rumors = 0, rounds = 0;
    for (int i = 0; i < S_MESH_N; i++) {
        rumors += s_stat (n[i].actor, "rumors_sent");
        rounds += s_stat (n[i].actor, "rotations");
    }
    print_message ("# %d/%d nodes have the record, rumors_sent=%" PRIu64 "\n", have, S_MESH_N,
                   rumors);
    assert_int_equal (have, S_MESH_N);
    assert_true (rumors > 0);
    assert_int_equal (rounds, 0);
    for (int i = 0; i < S_MESH_N; i++)
        s_node_stop (&n[i]);
}

/* a links to nobody; b links to a. a's writes still reach b, back over
 * a's ROUTER (b is an inbound peer), until a DENYs b. */
static void
test_inbound_push_and_deny (void **unused)
{
    (void) unused;
    s_node_t a, b;
    s_node_start_subset (&a, "in-a", 0, 600000);
    s_node_start_subset (&b, "in-b", 0, 600000);
    assert_int_equal (links_allow (a.actor, b.pubkey), 0);
    assert_int_equal (links_allow (b.actor, a.pubkey), 0);
    assert_int_equal (links_peer_add (b.actor, "in-a", a.endpoint, a.pubkey), 0);
    /* b's DIGEST on its handshake makes it known to a. */
    int64_t end = zclock_mono () + 5000;
    while (zclock_mono () < end && s_stat (a.actor, "digests_recv") < 1)
        zclock_sleep (20);
    assert_true (s_stat (a.actor, "digests_recv") >= 1);
    assert_int_equal (s_stat (a.actor, "linked"), 0);
    assert_int_equal (s_put (a.actor, "node", "k1", "v1"), 0);
    end = zclock_mono () + 5000;
    while (zclock_mono () < end && !s_has (b.actor, "in-a", "node", "k1", "v1"))
        zclock_sleep (20);
    assert_true (s_has (b.actor, "in-a", "node", "k1", "v1"));
    assert_int_equal (s_stat (a.actor, "pushes_sent"), 1);

    assert_int_equal (links_deny (a.actor, b.pubkey), 0);
    assert_int_equal (s_put (a.actor, "node", "k2", "v2"), 0);
    zclock_sleep (500);
    assert_false (s_has (b.actor, "in-a", "node", "k2", "v2"));
    assert_int_equal (s_stat (a.actor, "pushes_sent"), 1);
    s_node_stop (&a);
    s_node_stop (&b);
}

/* ---- persistence: PUT on disk at once, PUT-DEFERRED at the next round --- */

/* 1 if state.bin in `dir` holds n1's `kind/key` (read as a restart would:
 * a second store over the same file, the actor's left untouched). */
static int
s_on_disk (const char *dir, const char *kind, const char *key)
{
    char err[256] = "";
    state_t *st = state_new ("n1", dir, err, sizeof err);
    if (!st)
        fail_msg ("state_new: %s", err);
    state_record_t rec;
    int found = state_get (st, "n1", kind, key, &rec) == 0 && !rec.tombstone;
    state_destroy (&st);
    return found;
}

static void
test_put_deferred_flushed_by_round_and_stop (void **unused)
{
    char dir[] = "/tmp/links_test.XXXXXX";
    assert_non_null (mkdtemp (dir));
    shed_identity_t *id = shed_identity_new_ephemeral ();
    assert_non_null (id);
    /* A long round: the first comes 1.5-2.5 s after the start, so the
     * checks right after the puts below see the file as the puts left it. */
    links_config_t cfg = {
        .name = "n1",
        .endpoint = "tcp://127.0.0.1:*",
        .data_dir = dir,
        .public_key = shed_identity_x25519_public (id),
        .secret_key = shed_identity_x25519_secret (id),
        .zap = s_zap,
        .interval_ms = 2000,
    };
    char err[256] = "";
    links_t *actor = links_new (&cfg, err, sizeof err);
    if (!actor)
        fail_msg ("links_new: %s", err);

    /* Deferred: answered before the record is written. */
    assert_int_equal (links_put_deferred (actor, "node", "n1", "a", 1, err, sizeof err), 0);
    assert_int_equal (links_put_deferred (actor, "overlay", "n1", "b", 1, err, sizeof err), 0);
    assert_true (s_has (actor, "n1", "node", "n1", "a"));
    assert_false (s_on_disk (dir, "node", "n1"));
    assert_false (s_on_disk (dir, "overlay", "n1"));
    /* A plain PUT is on disk when it returns, with every deferred one. */
    assert_int_equal (s_put (actor, "shed", "web", "c"), 0);
    assert_true (s_on_disk (dir, "shed", "web"));
    assert_true (s_on_disk (dir, "node", "n1"));
    assert_true (s_on_disk (dir, "overlay", "n1"));

    /* A deferred put alone reaches the disk at the next round... */
    assert_int_equal (links_put_deferred (actor, "node", "n1", "d", 1, err, sizeof err), 0);
    int64_t deadline = zclock_mono () + 15000;
    while (zclock_mono () < deadline) {
        char e2[256] = "";
        state_t *st = state_new ("n1", dir, e2, sizeof e2);
        assert_non_null (st);
        state_record_t rec;
        int done = state_get (st, "n1", "node", "n1", &rec) == 0 && rec.value_len == 1
                   && ((const char *) rec.value)[0] == 'd';
        state_destroy (&st);
        if (done)
            break;
        zclock_sleep (50);
    }
    assert_true (zclock_mono () < deadline);

    /* ...and when the actor stops, without waiting for a round. */
    assert_int_equal (links_put_deferred (actor, "service", "db", "e", 1, err, sizeof err), 0);
    links_destroy (&actor);
    assert_true (s_on_disk (dir, "service", "db"));

    shed_identity_destroy (&id);
    char *cmd = zsys_sprintf ("rm -rf '%s'", dir);
    assert_int_equal (system (cmd), 0);
    zstr_free (&cmd);
}

int
main (void)
{
    zsys_init ();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_zap_decide),
        cmocka_unit_test (test_three_converge),
        cmocka_unit_test (test_refusals),
        cmocka_unit_test (test_late_allow_recovers),
        cmocka_unit_test (test_bad_config),
        cmocka_unit_test (test_subset_bounded),
        cmocka_unit_test (test_subset_rumor_reaches_all),
        cmocka_unit_test (test_inbound_push_and_deny),
        cmocka_unit_test (test_put_deferred_flushed_by_round_and_stop),
    };
    return cmocka_run_group_tests (tests, s_setup, s_teardown);
}
