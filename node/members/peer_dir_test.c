/* peer_dir_test.c - the peer directory fed membership events by hand: which
 * callbacks run in which order, the derived endpoints, and the ZAP
 * allow-lists it keeps (a real zap_t: its lists, no CURVE socket). */
#include "node/members/peer_dir.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static zap_t *s_zap;
static char s_log[2048]; /* "added:b:alive,failed:b,..." */

static const char *
s_status (peer_status_t s)
{
    return s == PEER_ALIVE     ? "alive"
           : s == PEER_SUSPECT ? "suspect"
           : s == PEER_FAILED  ? "failed"
                               : "left";
}

static void
s_rec (const char *what, const peer_t *p, void *arg)
{
    /* Each callback sees the key already (or still) on the domain's list
     * exactly when the directory promises it. */
    const char *domain = arg;
    bool allowed = domain ? zap_allowed (s_zap, domain, p->key) : false;
    size_t len = strlen (s_log);
    snprintf (s_log + len, sizeof s_log - len, "%s%s:%s:%s%s", len ? "," : "", what, p->name,
              s_status (p->status), allowed ? "+zap" : "");
}

static void
s_added (const peer_t *p, void *arg)
{
    s_rec ("added", p, arg);
}
static void
s_updated (const peer_t *p, void *arg)
{
    s_rec ("updated", p, arg);
}
static void
s_failed (const peer_t *p, void *arg)
{
    s_rec ("failed", p, arg);
}
static void
s_removed (const peer_t *p, void *arg)
{
    s_rec ("removed", p, arg);
}

static const peer_dir_ops_t s_ops = { s_added, s_updated, s_failed, s_removed };

static gossip_update_t
s_member (const char *name, uint8_t keybyte, const char *addr, unsigned port)
{
    gossip_update_t m;
    memset (&m, 0, sizeof m);
    m.kind = SWIM_UPD_ALIVE;
    snprintf (m.name, sizeof m.name, "%s", name);
    snprintf (m.addr, sizeof m.addr, "%s", addr);
    m.port = port;
    /* One key buffer per key byte: the blob points at it. */
    static uint8_t keys[256][32];
    memset (keys[keybyte], keybyte, 32);
    m.key.data = keys[keybyte];
    m.key.len = 32;
    return m;
}

static void
test_endpoints (void **unused)
{
    (void) unused;
    peer_dir_t *dir = peer_dir_new ("a", NULL, NULL, NULL, 0);
    assert_non_null (dir);
    gossip_update_t m = s_member ("b", 1, "10.0.0.2", 7946);
    m.sigkey[0] = 9;
    peer_dir_member (dir, "join", &m);
    const peer_t *p = peer_dir_lookup (dir, "b");
    assert_non_null (p);
    assert_string_equal (p->links, "tcp://10.0.0.2:7947");
    assert_string_equal (p->bus, "tcp://10.0.0.2:7948");
    assert_string_equal (p->rpc, "tcp://10.0.0.2:7949");
    assert_int_equal (p->overlay_port, 7950);
    assert_int_equal (p->gossip_port, 7946);
    assert_true (p->has_sigkey);
    assert_int_equal (p->status, PEER_ALIVE);
    /* Ourselves and keyless members are no peers. */
    gossip_update_t me = s_member ("a", 2, "10.0.0.1", 7946);
    peer_dir_member (dir, "join", &me);
    gossip_update_t keyless = s_member ("c", 3, "10.0.0.3", 7946);
    keyless.key.len = 0;
    peer_dir_member (dir, "join", &keyless);
    assert_int_equal (peer_dir_size (dir), 1);
    /* An address change moves every endpoint. */
    m = s_member ("b", 1, "10.0.0.9", 8000);
    m.kind = SWIM_UPD_ALIVE;
    peer_dir_member (dir, "update", &m);
    assert_string_equal (peer_dir_lookup (dir, "b")->rpc, "tcp://10.0.0.9:8003");
    char ep[PEER_ENDPOINT_MAX];
    assert_int_equal (peer_endpoint (ep, sizeof ep, "0.0.0.0", 7946, PEER_PORT_BUS), 0);
    assert_string_equal (ep, "tcp://0.0.0.0:7948");
    assert_int_equal (peer_endpoint (ep, 8, "0.0.0.0", 7946, PEER_PORT_BUS), -1);
    /* An IPv6 member: bracketed endpoints (libzmq's form), same ports. */
    m = s_member ("b", 1, "fd00:5ed::9", 7946);
    m.kind = SWIM_UPD_ALIVE;
    peer_dir_member (dir, "update", &m);
    assert_string_equal (peer_dir_lookup (dir, "b")->links, "tcp://[fd00:5ed::9]:7947");
    assert_string_equal (peer_dir_lookup (dir, "b")->bus, "tcp://[fd00:5ed::9]:7948");
    assert_string_equal (peer_dir_lookup (dir, "b")->rpc, "tcp://[fd00:5ed::9]:7949");
    assert_int_equal (peer_endpoint (ep, sizeof ep, "::", 7946, PEER_PORT_LINKS), 0);
    assert_string_equal (ep, "tcp://[::]:7947");
    peer_dir_destroy (&dir);
    assert_null (dir);
    peer_dir_destroy (&dir);
}

static void
test_lifecycle_and_zap (void **unused)
{
    (void) unused;
    s_log[0] = '\0';
    peer_dir_t *dir = peer_dir_new ("a", s_zap, NULL, NULL, 0);
    assert_int_equal (peer_dir_on_peer (dir, &s_ops, "t-links", (void *) "t-links", NULL, 0), 0);
    gossip_update_t b = s_member ("b", 1, "10.0.0.2", 7946);
    peer_dir_member (dir, "join", &b); /* ALLOW, then added */
    peer_dir_member (dir, "suspect", &b);
    peer_dir_member (dir, "fail", &b);  /* stays allowed */
    peer_dir_member (dir, "join", &b);  /* back */
    peer_dir_member (dir, "leave", &b); /* DENY, then removed */
    assert_string_equal (s_log, "added:b:alive+zap,updated:b:suspect+zap,failed:b:failed+zap,"
                                "updated:b:alive+zap,removed:b:left");
    assert_false (zap_allowed (s_zap, "t-links", b.key.data));
    assert_null (peer_dir_lookup (dir, "b"));
    /* A leave or reap of an unknown member: nothing. */
    s_log[0] = '\0';
    peer_dir_member (dir, "reap", &b);
    assert_string_equal (s_log, "");

    /* A new key: the old one is DENYed, the new one ALLOWed. */
    peer_dir_member (dir, "join", &b);
    gossip_update_t b2 = s_member ("b", 7, "10.0.0.2", 7946);
    peer_dir_member (dir, "update", &b2);
    assert_false (zap_allowed (s_zap, "t-links", b.key.data));
    assert_true (zap_allowed (s_zap, "t-links", b2.key.data));
    peer_dir_member (dir, "reap", &b2);
    assert_false (zap_allowed (s_zap, "t-links", b2.key.data));
    peer_dir_destroy (&dir);
}

static void
test_replay_on_register (void **unused)
{
    (void) unused;
    peer_dir_t *dir = peer_dir_new ("a", s_zap, NULL, NULL, 0);
    gossip_update_t b = s_member ("b", 4, "10.0.0.2", 7946);
    gossip_update_t c = s_member ("c", 5, "10.0.0.3", 7946);
    peer_dir_member (dir, "join", &b);
    peer_dir_member (dir, "fail", &c); /* first seen failed */
    s_log[0] = '\0';
    /* A late consumer: told the view, its domain filled first; a peer
     * first seen failed is not admitted. */
    assert_int_equal (peer_dir_on_peer (dir, &s_ops, "t-late", (void *) "t-late", NULL, 0), 0);
    assert_non_null (strstr (s_log, "added:b:alive+zap"));
    assert_non_null (strstr (s_log, "failed:c:failed"));
    assert_null (strstr (s_log, "failed:c:failed+zap"));
    /* It comes back: admitted now. */
    s_log[0] = '\0';
    peer_dir_member (dir, "join", &c);
    assert_string_equal (s_log, "updated:c:alive+zap");
    /* Consumers without a domain: callbacks only. */
    peer_dir_ops_t only_removed = { .removed = s_removed };
    assert_int_equal (peer_dir_on_peer (dir, &only_removed, NULL, NULL, NULL, 0), 0);
    s_log[0] = '\0';
    peer_dir_member (dir, "leave", &c);
    assert_string_equal (s_log, "removed:c:left,removed:c:left");
    for (int i = 2; i < PEER_DIR_CONSUMERS_MAX; i++)
        assert_int_equal (peer_dir_on_peer (dir, &only_removed, NULL, NULL, NULL, 0), 0);
    char err[128] = "";
    assert_int_equal (peer_dir_on_peer (dir, &only_removed, NULL, NULL, err, sizeof err), -1);
    assert_non_null (strstr (err, "consumers"));
    peer_dir_destroy (&dir);
}

int
main (void)
{
    s_zap = zap_new ();
    if (!s_zap)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_endpoints),
        cmocka_unit_test (test_lifecycle_and_zap),
        cmocka_unit_test (test_replay_on_register),
    };
    int rc = cmocka_run_group_tests (tests, NULL, NULL);
    zap_destroy (&s_zap);
    return rc;
}
