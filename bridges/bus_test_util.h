/*
 * bus_test_util.h - the bus tests' harness (bus_test.c, bus_links_test.c):
 * several bus actors (each with its own identity) on 127.0.0.1, consumers
 * on ipc in a private temp dir, one ZAP handler for the process (as in
 * shed-node).
 *
 * Readiness is never guessed with sleeps: subscriptions travel
 * asynchronously, so tests publish "probe." events until every consumer
 * has seen one from every origin (bt_sync), then run on other topics.
 */
#ifndef SHED_BUS_TEST_UTIL_H
#define SHED_BUS_TEST_UTIL_H

#include "bridges/bus.h"
#include "bridges/bus_client.h"
#include "crypto/identity.h"

#include <stddef.h>
#include <stdint.h>

struct CMUnitTest;

#define BT_NODES_MAX 6

typedef struct {
    char name[16];
    shed_identity_t *id;
    char z85[41];
    bus_t *bus;
    char origin[256];
    char ipc[256];
    char remote[256];
} bt_node_t;

extern zap_t *bt_zap;   /* set up by main */
extern char bt_dir[64]; /* private temp dir for ipc sockets */
extern int bt_run;      /* makes ipc paths unique per test */

/* Start a bus named `name` (sndhwm 0: default) with every endpoint. */
void bt_node_start (bt_node_t *n, const char *name, int sndhwm);
void bt_node_stop (bt_node_t *n);
/* i knows j as a member: j admits i's key, i PEER-ADDs j. */
void bt_link (bt_node_t *i, bt_node_t *j);
/* Every node knows every other (what membership gives the daemon). */
void bt_mesh (bt_node_t *nodes, int n);
uint64_t bt_stat (bt_node_t *n, const char *key);
/* Publish, waiting out a full pipe (tests want every event). */
void bt_publish (bt_node_t *n, const char *topic, const char *payload);
/* Publish probes until every consumer has seen one from every node. */
void bt_sync (bt_node_t *nodes, int n, bus_client_t **clients, int nc);
/* A consumer on n's ipc endpoint, subscribed to p1, p2 (or NULL) and probes. */
bus_client_t *bt_consumer (bt_node_t *n, const char *p1, const char *p2);
/* main() of a test file: temp dir and ZAP handler around the tests. */
int bt_main (const struct CMUnitTest *tests, size_t n);
/* Setup of every test: a fresh run number. */
int bt_setup (void **state);

#endif
