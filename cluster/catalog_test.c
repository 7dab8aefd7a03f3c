/* catalog_test.c - the service catalog's pure logic: REC_SERVICE values,
 * registration defaults and errors, view building from snapshots, the
 * blocking-query index, unreachable origins and bad records. */
#include "cluster/catalog.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <cmocka.h>

/* ---- fixtures ------------------------------------------------------------ */

/* A prepared instance NAME/ID on NODE with the given port and health. */
static rec_service_t
s_svc (const char *name, const char *id, const char *node, uint64_t port, uint64_t health)
{
    rec_service_t s;
    memset (&s, 0, sizeof s);
    snprintf (s.name, sizeof s.name, "%s", name);
    snprintf (s.id, sizeof s.id, "%s", id);
    s.port = port;
    s.health = health;
    char err[256] = "";
    if (catalog_prepare (&s, node, "198.18.0.11", err, sizeof err) != 0)
        fail_msg ("catalog_prepare: %s", err);
    return s;
}

/* Encode `s` and add it to the catalog's snapshot as origin's record. */
static int
s_add (catalog_t *cat, const char *origin, const rec_service_t *s, bool unreachable)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    char err[256] = "", key[CATALOG_KEY_MAX + 1];
    assert_int_equal (catalog_encode (s, &buf, &len, err, sizeof err), 0);
    catalog_key (s->name, s->id, key, sizeof key);
    int rc =
        catalog_add (cat, REC_KIND_SERVICE, origin, key, unreachable, buf, len, err, sizeof err);
    free (buf);
    return rc;
}

static void
s_add_node (catalog_t *cat, const char *name, const char *addr, bool unreachable)
{
    rec_msg_t m = { .hdr.type = REC_NODE };
    snprintf (m.u.rec_node.name, sizeof m.u.rec_node.name, "%s", name);
    snprintf (m.u.rec_node.addr, sizeof m.u.rec_node.addr, "%s", addr);
    uint8_t *buf = NULL;
    size_t len = 0;
    assert_int_equal (wire_encode (&rec_proto, &m, &buf, &len), WIRE_OK);
    char err[256];
    assert_int_equal (
        catalog_add (cat, REC_KIND_NODE, name, name, unreachable, buf, len, err, sizeof err), 0);
    free (buf);
}

/* ---- records -------------------------------------------------------------- */

static void
test_record_roundtrip (void **state)
{
    rec_service_t s = s_svc ("web", "web-1", "n1", 8080, REC_HEALTH_WARNING);
    wire_tag_t tags[2] = { { "env", "prod" }, { "primary", "" } };
    s.tags.n = 2;
    s.tags.items = tags;
    s.check = REC_CHECK_TCP;
    snprintf (s.check_target, sizeof s.check_target, "198.18.0.11:8080");
    s.interval_ms = 1500;
    snprintf (s.output, sizeof s.output, "connect: refused");
    s.updated_ms = 1234567;
    uint8_t *buf = NULL;
    size_t len = 0;
    char err[256];
    assert_int_equal (catalog_encode (&s, &buf, &len, err, sizeof err), 0);
    rec_msg_t m;
    assert_int_equal (catalog_decode (buf, len, &m, err, sizeof err), 0);
    const rec_service_t *d = &m.u.rec_service;
    assert_string_equal (d->name, "web");
    assert_string_equal (d->id, "web-1");
    assert_string_equal (d->node, "n1");
    assert_string_equal (d->address, "198.18.0.11");
    assert_int_equal (d->port, 8080);
    assert_string_equal (d->protocol, "tcp");
    assert_int_equal (d->health, REC_HEALTH_WARNING);
    assert_int_equal (d->check, REC_CHECK_TCP);
    assert_string_equal (d->check_target, "198.18.0.11:8080");
    assert_int_equal (d->interval_ms, 1500);
    assert_string_equal (d->output, "connect: refused");
    assert_int_equal (d->updated_ms, 1234567);
    assert_int_equal (d->tags.n, 2);
    assert_string_equal (d->tags.items[0].key, "env");
    assert_string_equal (d->tags.items[0].value, "prod");
    wire_msg_free (&rec_proto, &m);

    /* Garbage, truncation and a node record are refused with a reason. */
    assert_int_equal (catalog_decode ((const uint8_t *) "\xc1", 1, &m, err, sizeof err), -1);
    assert_int_equal (catalog_decode (buf, len - 3, &m, err, sizeof err), -1);
    free (buf);
    rec_msg_t n = { .hdr.type = REC_NODE };
    strcpy (n.u.rec_node.name, "n1");
    strcpy (n.u.rec_node.addr, "198.18.0.11");
    assert_int_equal (wire_encode (&rec_proto, &n, &buf, &len), WIRE_OK);
    assert_int_equal (catalog_decode (buf, len, &m, err, sizeof err), -1);
    assert_non_null (strstr (err, "not a service record"));
    free (buf);
}

static void
test_prepare_defaults_and_errors (void **state)
{
    char err[256];
    rec_service_t s;
    memset (&s, 0, sizeof s);
    strcpy (s.name, "db");
    s.port = 5432;
    assert_int_equal (catalog_prepare (&s, "n2", "198.18.0.12", err, sizeof err), 0);
    assert_string_equal (s.id, "db");
    assert_string_equal (s.node, "n2");
    assert_string_equal (s.address, "198.18.0.12");
    assert_string_equal (s.protocol, "tcp");
    assert_int_equal (s.interval_ms, 0); /* no check, no interval */

    s.check = REC_CHECK_CMD;
    strcpy (s.check_target, "pg_isready");
    assert_int_equal (catalog_prepare (&s, "n2", "198.18.0.12", err, sizeof err), 0);
    assert_int_equal (s.interval_ms, CATALOG_INTERVAL_DEFAULT);

    /* Each bad field gets a message naming it. */
    memset (&s, 0, sizeof s);
    strcpy (s.name, "bad.name");
    s.port = 1;
    assert_int_equal (catalog_prepare (&s, "n2", "198.18.0.12", err, sizeof err), -1);
    assert_non_null (strstr (err, "service name"));
    strcpy (s.name, "ok");
    s.port = 0;
    assert_int_equal (catalog_prepare (&s, "n2", "198.18.0.12", err, sizeof err), -1);
    assert_non_null (strstr (err, "port"));
    s.port = 80;
    strcpy (s.address, "not-an-ip");
    assert_int_equal (catalog_prepare (&s, "n2", "198.18.0.12", err, sizeof err), -1);
    assert_non_null (strstr (err, "address"));
    s.address[0] = '\0';
    assert_int_equal (catalog_prepare (&s, "n2", "", err, sizeof err), -1);
    assert_non_null (strstr (err, "no address"));
    strcpy (s.address, "fd00::1");
    strcpy (s.protocol, "sctp");
    assert_int_equal (catalog_prepare (&s, "n2", "", err, sizeof err), -1);
    assert_non_null (strstr (err, "protocol"));
    strcpy (s.protocol, "udp");
    s.check = REC_CHECK_TCP;
    strcpy (s.check_target, "localhost");
    assert_int_equal (catalog_prepare (&s, "n2", "", err, sizeof err), -1);
    assert_non_null (strstr (err, "tcp check target"));
    strcpy (s.check_target, "[fd00::1]:80");
    s.interval_ms = 10;
    assert_int_equal (catalog_prepare (&s, "n2", "", err, sizeof err), -1);
    assert_non_null (strstr (err, "interval"));
    s.interval_ms = 1000;
    assert_int_equal (catalog_prepare (&s, "n2", "", err, sizeof err), 0);
    s.check = REC_CHECK_CMD;
    s.check_target[0] = '\0';
    assert_int_equal (catalog_prepare (&s, "n2", "", err, sizeof err), -1);
    assert_non_null (strstr (err, "command"));
}

static void
test_helpers (void **state)
{
    uint64_t ms;
    assert_int_equal (catalog_parse_duration ("10s", &ms), 0);
    assert_int_equal (ms, 10000);
    assert_int_equal (catalog_parse_duration ("250ms", &ms), 0);
    assert_int_equal (ms, 250);
    assert_int_equal (catalog_parse_duration ("2m", &ms), 0);
    assert_int_equal (ms, 120000);
    assert_int_equal (catalog_parse_duration ("1h", &ms), 0);
    assert_int_equal (ms, 3600000);
    assert_int_equal (catalog_parse_duration ("3", &ms), 0);
    assert_int_equal (ms, 3000);
    assert_int_equal (catalog_parse_duration ("", &ms), -1);
    assert_int_equal (catalog_parse_duration ("-1s", &ms), -1);
    assert_int_equal (catalog_parse_duration ("5x", &ms), -1);
    assert_int_equal (catalog_parse_duration ("s", &ms), -1);

    char host[64];
    uint16_t port;
    assert_int_equal (catalog_split_target ("198.18.0.11:80", host, sizeof host, &port), 0);
    assert_string_equal (host, "198.18.0.11");
    assert_int_equal (port, 80);
    assert_int_equal (catalog_split_target ("[::1]:53", host, sizeof host, &port), 0);
    assert_string_equal (host, "::1");
    assert_int_equal (catalog_split_target ("host", host, sizeof host, &port), -1);
    assert_int_equal (catalog_split_target ("h:0", host, sizeof host, &port), -1);
    assert_int_equal (catalog_split_target ("h:70000", host, sizeof host, &port), -1);
    assert_int_equal (catalog_split_target (":80", host, sizeof host, &port), -1);

    /* Exit 0 pass, 1 warn, other codes and signals critical. */
    assert_int_equal (catalog_health_from_wait (0 << 8), REC_HEALTH_PASSING);
    assert_int_equal (catalog_health_from_wait (1 << 8), REC_HEALTH_WARNING);
    assert_int_equal (catalog_health_from_wait (2 << 8), REC_HEALTH_CRITICAL);
    assert_int_equal (catalog_health_from_wait (9), REC_HEALTH_CRITICAL); /* SIGKILL */

    assert_int_equal (catalog_check_parse ("tcp"), REC_CHECK_TCP);
    assert_int_equal (catalog_check_parse ("cmd"), REC_CHECK_CMD);
    assert_int_equal (catalog_check_parse ("http"), -1);
    assert_string_equal (catalog_check_name (REC_CHECK_NONE), "none");
}

/* ---- the view ------------------------------------------------------------- */

static void
test_view_building (void **state)
{
    catalog_t *cat = catalog_new ();
    assert_non_null (cat);
    assert_int_equal (catalog_index (cat), 1);

    rec_service_t web2 = s_svc ("web", "web", "n2", 80, REC_HEALTH_PASSING);
    rec_service_t web1 = s_svc ("web", "web", "n1", 80, REC_HEALTH_PASSING);
    rec_service_t db = s_svc ("db", "db-a", "n1", 5432, REC_HEALTH_CRITICAL);
    catalog_begin (cat);
    assert_int_equal (s_add (cat, "n2", &web2, false), 0);
    assert_int_equal (s_add (cat, "n1", &web1, false), 0);
    assert_int_equal (s_add (cat, "n1", &db, false), 0);
    s_add_node (cat, "n2", "198.18.0.12", false);
    s_add_node (cat, "n1", "198.18.0.11", false);
    /* Other kinds are not the catalog's business. */
    char err[256];
    assert_int_equal (
        catalog_add (cat, "overlay", "n1", "x", false, (const uint8_t *) "", 0, err, sizeof err),
        0);
    int changed = catalog_commit (cat);
    assert_int_equal (changed, CATALOG_CHANGED_SERVICES | CATALOG_CHANGED_NODES);
    assert_int_equal (catalog_index (cat), 2);
    assert_int_equal (catalog_size (cat), 3);

    /* Sorted by name, then node. */
    assert_string_equal (catalog_at (cat, 0)->svc.name, "db");
    assert_string_equal (catalog_at (cat, 1)->svc.node, "n1");
    assert_string_equal (catalog_at (cat, 2)->svc.node, "n2");
    size_t first;
    assert_int_equal (catalog_find (cat, "web", &first), 2);
    assert_int_equal (first, 1);
    assert_int_equal (catalog_find (cat, "db", &first), 1);
    assert_int_equal (catalog_find (cat, "nope", &first), 0);
    assert_false (catalog_instance_serving (catalog_at (cat, 0))); /* critical */
    assert_true (catalog_instance_serving (catalog_at (cat, 1)));

    assert_int_equal (catalog_node_count (cat), 2);
    assert_string_equal (catalog_node_at (cat, 0)->name, "n1");
    assert_string_equal (catalog_node_at (cat, 0)->addr, "198.18.0.11");
    catalog_destroy (&cat);
    assert_null (cat);
    catalog_destroy (&cat); /* NULL-safe */
}

static void
test_index_bumps (void **state)
{
    catalog_t *cat = catalog_new ();
    rec_service_t web = s_svc ("web", "web", "n1", 80, REC_HEALTH_PASSING);
    rec_service_t db = s_svc ("db", "db", "n1", 5432, REC_HEALTH_PASSING);

    catalog_begin (cat);
    s_add (cat, "n1", &web, false);
    s_add (cat, "n1", &db, false);
    catalog_commit (cat);
    uint64_t i1 = catalog_index (cat);
    assert_int_equal (catalog_name_index (cat, "web"), i1);
    assert_int_equal (catalog_name_index (cat, "db"), i1);

    /* The same snapshot again: nothing moves. */
    catalog_begin (cat);
    s_add (cat, "n1", &db, false);
    s_add (cat, "n1", &web, false);
    assert_int_equal (catalog_commit (cat), 0);
    assert_int_equal (catalog_index (cat), i1);
    assert_false (catalog_watch_ready (cat, NULL, i1));
    assert_false (catalog_watch_ready (cat, "web", i1));

    /* web's health changes: only web's index moves. */
    web.health = REC_HEALTH_CRITICAL;
    catalog_begin (cat);
    s_add (cat, "n1", &db, false);
    s_add (cat, "n1", &web, false);
    assert_int_equal (catalog_commit (cat), CATALOG_CHANGED_SERVICES);
    uint64_t i2 = catalog_index (cat);
    assert_int_equal (i2, i1 + 1);
    assert_int_equal (catalog_name_index (cat, "web"), i2);
    assert_int_equal (catalog_name_index (cat, "db"), i1);
    assert_true (catalog_watch_ready (cat, NULL, i1));
    assert_true (catalog_watch_ready (cat, "web", i1));
    assert_false (catalog_watch_ready (cat, "db", i1));

    /* web goes away: its name index still moves, so a watch sees it. */
    catalog_begin (cat);
    s_add (cat, "n1", &db, false);
    assert_int_equal (catalog_commit (cat), CATALOG_CHANGED_SERVICES);
    uint64_t i3 = catalog_index (cat);
    assert_int_equal (catalog_name_index (cat, "web"), i3);
    assert_true (catalog_watch_ready (cat, "web", i2));
    assert_int_equal (catalog_find (cat, "web", NULL), 0);

    /* Index 0 and an index from a previous run (above ours) answer at once;
     * a never-seen name waits. */
    assert_true (catalog_watch_ready (cat, "web", 0));
    assert_true (catalog_watch_ready (cat, "web", i3 + 100));
    assert_false (catalog_watch_ready (cat, "never", i3));

    /* Node changes alone do not move the service index. */
    catalog_begin (cat);
    s_add (cat, "n1", &db, false);
    s_add_node (cat, "n1", "198.18.0.11", false);
    assert_int_equal (catalog_commit (cat), CATALOG_CHANGED_NODES);
    assert_int_equal (catalog_index (cat), i3);
    catalog_destroy (&cat);
}

static void
test_unreachable_flagging (void **state)
{
    catalog_t *cat = catalog_new ();
    rec_service_t web1 = s_svc ("web", "web", "n1", 80, REC_HEALTH_PASSING);
    rec_service_t web2 = s_svc ("web", "web", "n2", 80, REC_HEALTH_WARNING);
    catalog_begin (cat);
    s_add (cat, "n1", &web1, false);
    s_add (cat, "n2", &web2, false);
    s_add_node (cat, "n1", "198.18.0.11", false);
    catalog_commit (cat);
    uint64_t i1 = catalog_index (cat);
    assert_true (catalog_instance_serving (catalog_at (cat, 0)));
    assert_true (catalog_instance_serving (catalog_at (cat, 1))); /* warning is served */

    /* n1 fails: its instance stays, flagged, no longer served; the index moves. */
    catalog_begin (cat);
    s_add (cat, "n1", &web1, true);
    s_add (cat, "n2", &web2, false);
    s_add_node (cat, "n1", "198.18.0.11", true);
    assert_int_equal (catalog_commit (cat), CATALOG_CHANGED_SERVICES | CATALOG_CHANGED_NODES);
    assert_true (catalog_index (cat) > i1);
    assert_int_equal (catalog_size (cat), 2);
    assert_true (catalog_at (cat, 0)->unreachable);
    assert_false (catalog_instance_serving (catalog_at (cat, 0)));
    assert_true (catalog_node_at (cat, 0)->unreachable);
    catalog_destroy (&cat);
}

static void
test_bad_records (void **state)
{
    catalog_t *cat = catalog_new ();
    rec_service_t web = s_svc ("web", "web", "n1", 80, REC_HEALTH_PASSING);
    uint8_t *buf = NULL;
    size_t len = 0;
    char err[256];
    assert_int_equal (catalog_encode (&web, &buf, &len, err, sizeof err), 0);
    catalog_begin (cat);
    /* Written by n2 but claiming n1. */
    assert_int_equal (
        catalog_add (cat, REC_KIND_SERVICE, "n2", "web/web", false, buf, len, err, sizeof err), -1);
    assert_non_null (strstr (err, "does not match"));
    /* Key that is not name/id. */
    assert_int_equal (
        catalog_add (cat, REC_KIND_SERVICE, "n1", "web/other", false, buf, len, err, sizeof err),
        -1);
    /* Garbage. */
    assert_int_equal (catalog_add (cat, REC_KIND_SERVICE, "n1", "x/x", false,
                                   (const uint8_t *) "\x81\x00", 2, err, sizeof err),
                      -1);
    assert_int_equal (catalog_add (cat, REC_KIND_NODE, "n1", "n1", false, (const uint8_t *) "junk",
                                   4, err, sizeof err),
                      -1);
    /* A node record naming someone else. */
    rec_msg_t n = { .hdr.type = REC_NODE };
    strcpy (n.u.rec_node.name, "n9");
    strcpy (n.u.rec_node.addr, "198.18.0.19");
    uint8_t *nbuf = NULL;
    size_t nlen = 0;
    assert_int_equal (wire_encode (&rec_proto, &n, &nbuf, &nlen), WIRE_OK);
    assert_int_equal (
        catalog_add (cat, REC_KIND_NODE, "n1", "n1", false, nbuf, nlen, err, sizeof err), -1);
    free (nbuf);
    /* The good one still goes in. */
    assert_int_equal (
        catalog_add (cat, REC_KIND_SERVICE, "n1", "web/web", false, buf, len, err, sizeof err), 0);
    catalog_commit (cat);
    assert_int_equal (catalog_size (cat), 1);
    assert_int_equal (catalog_node_count (cat), 0);
    assert_int_equal (catalog_bad_records (cat), 5);
    free (buf);
    catalog_destroy (&cat);
}

/* Sheds: running ones with an address are served (SHED.shed.DOMAIN);
 * stopped ones are not; a record naming another node is counted as bad. */
static void
s_add_shed (catalog_t *cat, const char *origin, const char *name, const char *node,
            const char *state, const char *ip, int expect)
{
    rec_msg_t m = { .hdr.type = REC_SHED };
    snprintf (m.u.rec_shed.name, sizeof m.u.rec_shed.name, "%s", name);
    snprintf (m.u.rec_shed.node, sizeof m.u.rec_shed.node, "%s", node);
    snprintf (m.u.rec_shed.state, sizeof m.u.rec_shed.state, "%s", state);
    snprintf (m.u.rec_shed.ip, sizeof m.u.rec_shed.ip, "%s", ip);
    snprintf (m.u.rec_shed.request_id, sizeof m.u.rec_shed.request_id, "r-%s", name);
    uint8_t *buf = NULL;
    size_t len = 0;
    assert_int_equal (wire_encode (&rec_proto, &m, &buf, &len), 0);
    char err[256];
    assert_int_equal (
        catalog_add (cat, REC_KIND_SHED, origin, name, false, buf, len, err, sizeof err), expect);
    free (buf);
}

static void
test_sheds (void **state)
{
    catalog_t *cat = catalog_new ();
    catalog_begin (cat);
    s_add_shed (cat, "n1", "web", "n1", "running", "198.19.1.2", 0);
    s_add_shed (cat, "n2", "db", "n2", "running", "198.19.2.2", 0);
    s_add_shed (cat, "n2", "old", "n2", "stopped", "198.19.2.3", 0);
    s_add_shed (cat, "n1", "forged", "n2", "running", "198.19.2.9", -1);
    assert_int_equal (catalog_commit (cat), CATALOG_CHANGED_SHEDS);
    assert_int_equal (catalog_shed_count (cat), 2);
    assert_string_equal (catalog_shed_at (cat, 0)->name, "db");
    assert_string_equal (catalog_shed_at (cat, 1)->addr, "198.19.1.2");
    assert_int_equal (catalog_bad_records (cat), 1);
    /* The same snapshot again changes nothing. */
    catalog_begin (cat);
    s_add_shed (cat, "n1", "web", "n1", "running", "198.19.1.2", 0);
    s_add_shed (cat, "n2", "db", "n2", "running", "198.19.2.2", 0);
    assert_int_equal (catalog_commit (cat), 0);
    catalog_destroy (&cat);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_record_roundtrip),
        cmocka_unit_test (test_prepare_defaults_and_errors),
        cmocka_unit_test (test_helpers),
        cmocka_unit_test (test_view_building),
        cmocka_unit_test (test_sheds),
        cmocka_unit_test (test_index_bumps),
        cmocka_unit_test (test_unreachable_flagging),
        cmocka_unit_test (test_bad_records),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
