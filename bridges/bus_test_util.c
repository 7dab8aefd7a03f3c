/* bus_test_util.c - see bus_test_util.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "bridges/bus_test_util.h"
#include "common/log.h"

zap_t *bt_zap;
char bt_dir[64];
int bt_run; /* makes ipc paths unique per test */

void
bt_node_start (bt_node_t *n, const char *name, int sndhwm)
{
    memset (n, 0, sizeof *n);
    snprintf (n->name, sizeof n->name, "%s", name);
    n->id = shed_identity_new_ephemeral ();
    assert_non_null (n->id);
    shed_key_to_z85 (shed_identity_x25519_public (n->id), n->z85);
    char ipc[256];
    snprintf (ipc, sizeof ipc, "ipc://%s/%s-%d.sock", bt_dir, name, bt_run);
    bus_config_t cfg = {
        .name = name,
        .public_key = shed_identity_x25519_public (n->id),
        .secret_key = shed_identity_x25519_secret (n->id),
        .zap = bt_zap,
        .origin_endpoint = "tcp://127.0.0.1:*",
        .ipc_endpoint = ipc,
        .consumer_endpoint = "tcp://127.0.0.1:*",
        .sndhwm = sndhwm,
    };
    char err[256] = "";
    n->bus = bus_new (&cfg, err, sizeof err);
    if (!n->bus)
        fprintf (stderr, "bus_new: %s\n", err);
    assert_non_null (n->bus);
    assert_int_equal (bus_endpoints (n->bus, n->origin, n->ipc, n->remote, sizeof n->origin), 0);
}

void
bt_node_stop (bt_node_t *n)
{
    bus_destroy (&n->bus);
    shed_identity_destroy (&n->id);
}

/* i subscribes to j: j admits i's key, i connects to j's origin. */
void
bt_link (bt_node_t *i, bt_node_t *j)
{
    assert_int_equal (bus_allow (j->bus, i->z85), 0);
    assert_int_equal (bus_peer_add (i->bus, j->name, j->origin, j->z85), 0);
}

void
bt_mesh (bt_node_t *nodes, int n)
{
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++)
            if (i != j)
                bt_link (&nodes[i], &nodes[j]);
}

uint64_t
bt_stat (bt_node_t *n, const char *key)
{
    char *line = bus_stats (n->bus);
    uint64_t v = bus_stat (line, key);
    zstr_free (&line);
    return v;
}

void
bt_publish (bt_node_t *n, const char *topic, const char *payload)
{
    /* Tests want every event: wait out a full pipe (producers in the node
     * would count the drop instead). */
    while (bus_publish (n->bus, topic, "test", payload, strlen (payload)) != 0)
        zclock_sleep (1);
}

/* Publish probes until every consumer has seen one from every node. */
void
bt_sync (bt_node_t *nodes, int n, bus_client_t **clients, int nc)
{
    bool seen[8][BT_NODES_MAX] = { { false } };
    int missing = nc * n;
    int64_t deadline = zclock_mono () + 10000;
    while (missing > 0) {
        assert_true (zclock_mono () < deadline);
        for (int i = 0; i < n; i++) {
            char topic[64];
            snprintf (topic, sizeof topic, "probe.%s", nodes[i].name);
            bt_publish (&nodes[i], topic, "p");
        }
        for (int c = 0; c < nc; c++) {
            bus_event_t ev;
            while (bus_client_recv (clients[c], &ev, 20) == 0)
                for (int i = 0; i < n; i++)
                    if (streq (ev.origin, nodes[i].name) && !seen[c][i]) {
                        seen[c][i] = true;
                        missing--;
                    }
        }
    }
    /* Drain the probes still in flight. */
    for (int c = 0; c < nc; c++) {
        bus_event_t ev;
        while (bus_client_recv (clients[c], &ev, 100) == 0)
            ;
    }
}

bus_client_t *
bt_consumer (bt_node_t *n, const char *p1, const char *p2)
{
    bus_client_t *c = bus_client_new (n->ipc, NULL, NULL, NULL);
    assert_non_null (c);
    if (p1)
        assert_int_equal (bus_client_subscribe (c, p1), 0);
    if (p2)
        assert_int_equal (bus_client_subscribe (c, p2), 0);
    assert_int_equal (bus_client_subscribe (c, "probe."), 0);
    return c;
}

int
bt_setup (void **state)
{
    bt_run++;
    return 0;
}

int
bt_main (const struct CMUnitTest *tests, size_t n)
{
    shed_log_set_level (SHED_LOG_WARN);
    snprintf (bt_dir, sizeof bt_dir, "/tmp/bus-test-XXXXXX");
    if (!mkdtemp (bt_dir))
        return 1;
    bt_zap = zap_new ();
    if (!bt_zap)
        return 1;
    int rc = _cmocka_run_group_tests ("bus", tests, n, NULL, NULL);
    zap_destroy (&bt_zap);
    char cmd[128];
    snprintf (cmd, sizeof cmd, "rm -rf %s", bt_dir);
    if (system (cmd) != 0)
        rc = rc ? rc : 1;
    return rc;
}
