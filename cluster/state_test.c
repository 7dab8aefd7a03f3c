/*
 * state_test.c - deterministic tests of the record store and anti-entropy.
 *
 * Stores talk through a fake transport that encodes and decodes every
 * message with the real codec, on a fake clock, with a seeded PRNG.
 */
#include "cluster/state.h"
#include "common/fileutil.h"

#include <czmq.h>
#include <setjmp.h>
#include <sodium.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

/* ---- fixtures ------------------------------------------------------------ */

static int64_t s_clock_ms = 1000;

static int64_t
s_fake_clock (void *arg)
{
    return s_clock_ms;
}

typedef struct {
    int inserted, updated, deleted, origin;
    char last_key[STATE_KEY_MAX + 1];
    state_status_t last_status;
} s_events_t;

static void
s_on_change (void *arg, state_event_t ev, const state_record_t *rec)
{
    s_events_t *e = (s_events_t *) arg;
    switch (ev) {
    case STATE_EV_INSERTED:
        e->inserted++;
        break;
    case STATE_EV_UPDATED:
        e->updated++;
        break;
    case STATE_EV_DELETED:
        e->deleted++;
        break;
    case STATE_EV_ORIGIN:
        e->origin++;
        break;
    }
    if (rec->key)
        snprintf (e->last_key, sizeof e->last_key, "%s", rec->key);
    e->last_status = rec->status;
}

static state_t *
s_store_new (const char *name, const char *dir)
{
    char err[256] = "";
    state_t *st = state_new (name, dir, err, sizeof err);
    if (!st)
        fail_msg ("state_new: %s", err);
    state_set_clock (st, s_fake_clock, NULL);
    return st;
}

/* Round-trip a message through the codec, as the network would. */
static void
s_wire (state_msg_t *in, state_msg_t *out)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    assert_int_equal (wire_encode (&state_proto, in, &buf, &len), 0);
    assert_true (len <= STATE_FRAME_MAX);
    const char *field = "";
    assert_int_equal (wire_decode (&state_proto, buf, len, out, &field), 0);
    free (buf);
    state_msg_free (in);
}

static size_t s_max_delta_bytes;

/* One anti-entropy exchange a -> b as links.c does it: a sends DIGEST with
 * reply, b answers DELTA and its own DIGEST, a answers DELTA. Returns the
 * number of records that changed either store. */
static int
s_exchange (state_t *a, state_t *b, size_t budget)
{
    state_msg_t m, w, delta, dw;
    int changed = 0;

    state_digest (a, true, &m);
    s_wire (&m, &w);
    if (state_delta (b, &w.u.state_digest, budget, &delta) == 1) {
        uint8_t *buf = NULL;
        size_t len = 0;
        assert_int_equal (wire_encode (&state_proto, &delta, &buf, &len), 0);
        if (len > s_max_delta_bytes)
            s_max_delta_bytes = len;
        free (buf);
        s_wire (&delta, &dw);
        changed += state_apply (a, &dw);
        state_msg_free (&dw);
    }
    state_msg_free (&w);

    state_digest (b, false, &m);
    s_wire (&m, &w);
    if (state_delta (a, &w.u.state_digest, budget, &delta) == 1) {
        s_wire (&delta, &dw);
        changed += state_apply (b, &dw);
        state_msg_free (&dw);
    }
    state_msg_free (&w);
    return changed;
}

/* Live content as text, to compare stores. */
static int
s_dump_one (void *arg, const state_record_t *rec)
{
    char **text = (char **) arg;
    char *line = zsys_sprintf ("%s%s|%s|%s|%" PRIu64 "|%.*s\n", *text, rec->origin, rec->kind,
                               rec->key, rec->version, (int) rec->value_len,
                               rec->value ? (const char *) rec->value : "");
    zstr_free (text);
    *text = line;
    return 0;
}

static char *
s_dump (state_t *st)
{
    char *text = strdup ("");
    state_foreach (st, NULL, NULL, false, s_dump_one, &text);
    return text;
}

static bool
s_all_equal (state_t **stores, size_t n)
{
    char *first = s_dump (stores[0]);
    bool same = true;
    for (size_t i = 1; i < n && same; i++) {
        char *other = s_dump (stores[i]);
        same = streq (first, other);
        zstr_free (&other);
    }
    zstr_free (&first);
    return same;
}

static uint32_t s_rng = 12345;

static uint32_t
s_rand (uint32_t n)
{
    s_rng = s_rng * 1103515245u + 12345u;
    return (s_rng >> 8) % n;
}

/* ---- local writes -------------------------------------------------------- */

static void
test_local_put_delete (void **unused)
{
    state_t *st = s_store_new ("n1", NULL);
    s_events_t ev = { 0 };
    state_set_handler (st, s_on_change, &ev);
    state_record_t rec;

    assert_int_equal (state_put (st, "service", "web", "a", 1), 0);
    assert_int_equal (state_get (st, "n1", "service", "web", &rec), 0);
    assert_int_equal (rec.version, 1);
    assert_int_equal (ev.inserted, 1);
    /* Same value again: nothing changes, no version spent. */
    assert_int_equal (state_put (st, "service", "web", "a", 1), 0);
    assert_int_equal (state_origin_max (st, "n1"), 1);
    assert_int_equal (state_put (st, "service", "web", "b", 1), 0);
    assert_int_equal (state_get (st, "n1", "service", "web", &rec), 0);
    assert_int_equal (rec.version, 2);
    assert_int_equal (ev.updated, 1);
    assert_int_equal (state_put (st, "node", "n1", "cap", 3), 0);
    assert_int_equal (state_count (st, NULL, NULL), 2);
    assert_int_equal (state_count (st, NULL, "service"), 1);

    assert_int_equal (state_delete (st, "service", "web"), 0);
    assert_int_equal (state_get (st, "n1", "service", "web", &rec), 0);
    assert_true (rec.tombstone);
    assert_int_equal (rec.version, 4);
    assert_int_equal (ev.deleted, 1);
    assert_int_equal (state_count (st, NULL, "service"), 0);
    assert_int_equal (state_delete (st, "service", "web"), -STATE_ERR_NOT_FOUND);
    /* Re-inserting over a tombstone is an insert with a new version. */
    assert_int_equal (state_put (st, "service", "web", "c", 1), 0);
    assert_int_equal (state_get (st, "n1", "service", "web", &rec), 0);
    assert_int_equal (rec.version, 5);
    assert_int_equal (ev.inserted, 3);

    /* Bad names and bounds. */
    assert_int_equal (state_put (st, "Service", "web", "a", 1), -STATE_ERR_ARG);
    assert_int_equal (state_put (st, "service", "", "a", 1), -STATE_ERR_ARG);
    assert_int_equal (state_put (st, "service", "a\nb", "a", 1), -STATE_ERR_ARG);
    assert_int_equal (state_put (st, "waytoolongkindname", "k", "a", 1), -STATE_ERR_ARG);
    state_destroy (&st);
    assert_null (st);
    state_destroy (&st); /* NULL-safe */
}

static void
test_value_bound (void **unused)
{
    state_t *st = s_store_new ("n1", NULL);
    size_t big = STATE_VALUE_MAX + 1;
    uint8_t *buf = (uint8_t *) calloc (1, big);
    int rc = state_put (st, "service", "big", buf, big);
    assert_int_equal (rc, -STATE_ERR_TOO_BIG);
    assert_non_null (strstr (state_strerror (rc), "too large"));
    assert_int_equal (state_put (st, "service", "max", buf, STATE_VALUE_MAX), 0);
    free (buf);
    assert_int_equal (state_count (st, NULL, NULL), 1);
    state_destroy (&st);
}

/* ---- remote apply rules -------------------------------------------------- */

static void
s_push_rec (state_msg_t *msg, const char *origin, const char *key, uint64_t version, bool tomb,
            const char *value)
{
    state_push_t *p = &msg->u.state_push;
    p->recs.items = (state_rec_t *) realloc (p->recs.items, (p->recs.n + 1) * sizeof (state_rec_t));
    state_rec_t *r = &p->recs.items[p->recs.n++];
    memset (r, 0, sizeof *r);
    snprintf (r->origin, sizeof r->origin, "%s", origin);
    snprintf (r->kind, sizeof r->kind, "service");
    snprintf (r->key, sizeof r->key, "%s", key);
    r->version = version;
    r->tomb = tomb;
    if (value) {
        r->value.len = strlen (value);
        r->value.data = (uint8_t *) strdup (value);
    }
}

static int
s_apply_one (state_t *st, const char *origin, const char *key, uint64_t version, bool tomb,
             const char *value)
{
    state_msg_t msg;
    memset (&msg, 0, sizeof msg);
    msg.hdr.type = STATE_PUSH;
    snprintf (msg.u.state_push.from, sizeof msg.u.state_push.from, "peer");
    s_push_rec (&msg, origin, key, version, tomb, value);
    state_msg_t w;
    s_wire (&msg, &w);
    int rc = state_apply (st, &w);
    state_msg_free (&w);
    return rc;
}

static void
test_remote_rules (void **unused)
{
    state_t *st = s_store_new ("me", NULL);
    s_events_t ev = { 0 };
    state_set_handler (st, s_on_change, &ev);
    state_record_t rec;

    assert_int_equal (s_apply_one (st, "n2", "web", 5, false, "v5"), 1);
    assert_int_equal (ev.inserted, 1);
    /* Older and equal are ignored. */
    assert_int_equal (s_apply_one (st, "n2", "web", 3, false, "v3"), 0);
    assert_int_equal (s_apply_one (st, "n2", "web", 5, false, "other"), 0);
    assert_int_equal (state_get (st, "n2", "service", "web", &rec), 0);
    assert_memory_equal (rec.value, "v5", 2);
    assert_int_equal (state_stats (st)->stale, 2);
    /* Newer wins. */
    assert_int_equal (s_apply_one (st, "n2", "web", 7, false, "v7"), 1);
    assert_int_equal (ev.updated, 1);
    /* A tombstone newer than the value wins; an older value cannot undo it. */
    assert_int_equal (s_apply_one (st, "n2", "web", 8, true, NULL), 1);
    assert_int_equal (ev.deleted, 1);
    assert_int_equal (s_apply_one (st, "n2", "web", 6, false, "v6"), 0);
    assert_int_equal (state_get (st, "n2", "service", "web", &rec), 0);
    assert_true (rec.tombstone);
    assert_int_equal (state_count (st, "n2", NULL), 0);
    /* A tombstone older than the value loses. */
    assert_int_equal (s_apply_one (st, "n2", "db", 10, false, "d"), 1);
    assert_int_equal (s_apply_one (st, "n2", "db", 9, true, NULL), 0);
    assert_int_equal (state_count (st, "n2", NULL), 1);
    /* Records claiming our own origin come only from us. */
    assert_int_equal (s_apply_one (st, "me", "evil", 100, false, "x"), 0);
    assert_int_equal (state_stats (st)->refused_self, 1);
    assert_int_equal (state_get (st, "me", "service", "evil", &rec), -STATE_ERR_NOT_FOUND);
    /* A PUSH does not advance the digest max over a gap... */
    assert_int_equal (state_origin_max (st, "n2"), 0);
    /* ...but a record right above it does. */
    assert_int_equal (s_apply_one (st, "n3", "a", 1, false, "1"), 1);
    assert_int_equal (state_origin_max (st, "n3"), 1);
    /* Wrong message type. */
    state_msg_t msg;
    state_digest (st, false, &msg);
    assert_int_equal (state_apply (st, &msg), -STATE_ERR_MSG);
    state_msg_free (&msg);
    state_destroy (&st);
}

/* ---- convergence --------------------------------------------------------- */

#define S_NODES 20

static void
s_populate (state_t **st, size_t n, int per_node)
{
    for (size_t i = 0; i < n; i++)
        for (int k = 0; k < per_node; k++) {
            char key[32], val[64];
            snprintf (key, sizeof key, "svc-%d", k);
            snprintf (val, sizeof val, "node %zu service %d", i, k);
            assert_int_equal (state_put (st[i], "service", key, val, strlen (val)), 0);
        }
}

/* Random pairings until every store holds the same; returns rounds used. */
static int
s_converge (state_t **st, size_t n, size_t budget, int max_rounds)
{
    for (int round = 1; round <= max_rounds; round++) {
        for (size_t i = 0; i < n; i++) {
            size_t j = s_rand ((uint32_t) n - 1);
            if (j >= i)
                j++;
            s_exchange (st[i], st[j], budget);
        }
        if (s_all_equal (st, n))
            return round;
    }
    return -1;
}

static void
test_converge_20 (void **unused)
{
    state_t *st[S_NODES];
    for (int i = 0; i < S_NODES; i++) {
        char name[32];
        snprintf (name, sizeof name, "node-%02d", i);
        st[i] = s_store_new (name, NULL);
    }
    s_populate (st, S_NODES, 5);
    /* Some churn: updates and deletes before syncing. */
    for (int i = 0; i < S_NODES; i += 3) {
        assert_int_equal (state_put (st[i], "service", "svc-0", "new", 3), 0);
        assert_int_equal (state_delete (st[i], "service", "svc-1"), 0);
    }
    int rounds = s_converge (st, S_NODES, 0, 30);
    assert_true (rounds > 0);
    size_t expect = S_NODES * 5 - (S_NODES + 2) / 3;
    assert_int_equal (state_count (st[7], NULL, NULL), expect);
    /* Everyone's digest max for everyone equals the origin's version. */
    for (int i = 0; i < S_NODES; i++)
        for (int j = 0; j < S_NODES; j++)
            assert_int_equal (state_origin_max (st[i], state_self (st[j])),
                              state_origin_max (st[j], state_self (st[j])));
    /* Once converged, an exchange ships nothing. */
    assert_int_equal (s_exchange (st[0], st[1], 0), 0);
    for (int i = 0; i < S_NODES; i++)
        state_destroy (&st[i]);
}

static void
test_small_budget (void **unused)
{
    state_t *st[4];
    for (int i = 0; i < 4; i++) {
        char name[32];
        snprintf (name, sizeof name, "b%d", i);
        st[i] = s_store_new (name, NULL);
    }
    s_populate (st, 4, 40);
    s_max_delta_bytes = 0;
    const size_t budget = 1024;
    /* One exchange cannot carry 40 records of ~60 bytes in 1 KiB... */
    s_exchange (st[0], st[1], budget);
    assert_true (state_count (st[0], "b1", NULL) > 0);
    assert_true (state_count (st[0], "b1", NULL) < 40);
    /* ...and the receiver's max advanced to exactly what it holds. */
    uint64_t m = state_origin_max (st[0], "b1");
    assert_int_equal (m, state_count (st[0], "b1", NULL));
    int rounds = s_converge (st, 4, budget, 100);
    assert_true (rounds > 1);
    assert_true (s_max_delta_bytes <= budget + 200);
    assert_int_equal (state_count (st[3], NULL, NULL), 160);
    for (int i = 0; i < 4; i++)
        state_destroy (&st[i]);
}

static void
test_partition_heal (void **unused)
{
    state_t *st[6];
    for (int i = 0; i < 6; i++) {
        char name[32];
        snprintf (name, sizeof name, "p%d", i);
        st[i] = s_store_new (name, NULL);
    }
    s_populate (st, 6, 3);
    assert_true (s_converge (st, 6, 0, 20) > 0);
    /* Split {0,1,2} | {3,4,5}; each side changes things. */
    assert_int_equal (state_put (st[0], "service", "svc-0", "left", 4), 0);
    assert_int_equal (state_delete (st[4], "service", "svc-2"), 0);
    assert_int_equal (state_put (st[5], "node", "p5", "cap", 3), 0);
    assert_true (s_converge (st, 3, 0, 20) > 0);
    assert_true (s_converge (st + 3, 3, 0, 20) > 0);
    assert_false (s_all_equal (st, 6));
    /* Heal. */
    assert_true (s_converge (st, 6, 0, 20) > 0);
    state_record_t rec;
    assert_int_equal (state_get (st[3], "p0", "service", "svc-0", &rec), 0);
    assert_memory_equal (rec.value, "left", 4);
    assert_int_equal (state_get (st[1], "p4", "service", "svc-2", &rec), 0);
    assert_true (rec.tombstone);
    for (int i = 0; i < 6; i++)
        state_destroy (&st[i]);
}

static void
test_push (void **unused)
{
    state_t *a = s_store_new ("a", NULL);
    state_t *b = s_store_new ("b", NULL);
    assert_false (state_push_pending (a));
    assert_int_equal (state_put (a, "service", "x", "1", 1), 0);
    assert_int_equal (state_put (a, "service", "y", "2", 1), 0);
    assert_true (state_push_pending (a));
    state_msg_t m, w;
    assert_int_equal (state_push (a, 0, &m), 1);
    assert_false (state_push_pending (a));
    s_wire (&m, &w);
    assert_int_equal (state_apply (b, &w), 2);
    state_msg_free (&w);
    /* In order from zero, so the max follows. */
    assert_int_equal (state_origin_max (b, "a"), 2);
    assert_int_equal (state_push (a, 0, &m), 0);
    state_msg_free (&m);
    state_destroy (&a);
    state_destroy (&b);
}

/* ---- persistence --------------------------------------------------------- */

static void
test_restart (void **unused)
{
    char dir[] = "/tmp/state_test.XXXXXX";
    assert_non_null (mkdtemp (dir));

    state_t *st = s_store_new ("n1", dir);
    assert_int_equal (state_put (st, "service", "web", "a", 1), 0);
    assert_int_equal (state_put (st, "node", "n1", "cap", 3), 0);
    assert_int_equal (state_delete (st, "service", "web"), 0);
    uint64_t last = state_origin_max (st, "n1");
    assert_int_equal (last, 3);
    state_destroy (&st); /* clean stop: flushes */

    st = s_store_new ("n1", dir);
    state_record_t rec;
    assert_int_equal (state_get (st, "n1", "node", "n1", &rec), 0);
    assert_memory_equal (rec.value, "cap", 3);
    assert_int_equal (state_get (st, "n1", "service", "web", &rec), 0);
    assert_true (rec.tombstone);
    assert_int_equal (state_put (st, "service", "web", "b", 1), 0);
    assert_int_equal (state_get (st, "n1", "service", "web", &rec), 0);
    assert_true (rec.version > last);
    last = rec.version;

    /* A "crash": the last change never reaches the file (we put the
     * flushed file back after destroy's flush). */
    assert_int_equal (state_flush (st), 0);
    assert_int_equal (state_put (st, "service", "crash", "c", 1), 0);
    uint64_t crashed = state_origin_max (st, "n1");
    char *path = zsys_sprintf ("%s/%s", dir, STATE_FILE);
    size_t saved_len = 0;
    char *saved = shed_read_file (path, 1 << 20, &saved_len);
    assert_non_null (saved);
    state_destroy (&st);
    assert_int_equal (shed_write_file_atomic (path, saved, saved_len, 0600), 0);
    free (saved);
    st = s_store_new ("n1", dir);
    assert_int_equal (state_get (st, "n1", "service", "crash", &rec), -STATE_ERR_NOT_FOUND);
    assert_int_equal (state_put (st, "service", "after", "d", 1), 0);
    assert_int_equal (state_get (st, "n1", "service", "after", &rec), 0);
    assert_true (rec.version > crashed);
    assert_true (rec.version > last);
    state_destroy (&st);

    /* Another node's name on the same file is refused clearly. */
    char err[256] = "";
    assert_null (state_new ("other", dir, err, sizeof err));
    assert_non_null (strstr (err, "belongs to node"));
    /* Garbage is refused, not replaced. */
    assert_int_equal (zsys_file_delete (path), 0);
    FILE *f = fopen (path, "w");
    fputs ("garbage", f);
    fclose (f);
    assert_null (state_new ("n1", dir, err, sizeof err));
    assert_non_null (strstr (err, STATE_FILE));
    zsys_file_delete (path);
    zstr_free (&path);
    rmdir (dir);
}

/* ---- origins and tombstones ---------------------------------------------- */

static void
test_origin_status (void **unused)
{
    state_t *a = s_store_new ("a", NULL);
    state_t *b = s_store_new ("b", NULL);
    s_events_t ev = { 0 };
    state_set_handler (b, s_on_change, &ev);
    assert_int_equal (state_put (a, "service", "x", "1", 1), 0);
    assert_int_equal (state_put (a, "service", "y", "2", 1), 0);
    s_exchange (b, a, 0);
    assert_int_equal (state_count (b, "a", NULL), 2);

    /* Failed: kept and flagged. */
    assert_int_equal (state_origin_set_status (b, "a", STATE_UNREACHABLE), 0);
    assert_int_equal (ev.origin, 1);
    assert_int_equal (ev.last_status, STATE_UNREACHABLE);
    state_record_t rec;
    assert_int_equal (state_get (b, "a", "service", "x", &rec), 0);
    assert_int_equal (rec.status, STATE_UNREACHABLE);
    assert_int_equal (state_count (b, "a", NULL), 2);
    assert_int_equal (state_origin_set_status (b, "a", STATE_ALIVE), 0);
    assert_int_equal (state_origin_status (b, "a"), STATE_ALIVE);

    /* Left: dropped, and not brought back by a lagging peer. */
    state_t *c = s_store_new ("c", NULL);
    s_exchange (c, a, 0);
    assert_int_equal (state_origin_set_status (b, "a", STATE_REMOVED), 0);
    assert_int_equal (state_count (b, "a", NULL), 0);
    assert_int_equal (ev.deleted, 2);
    s_exchange (b, c, 0);
    assert_int_equal (state_count (b, "a", NULL), 0);
    assert_true (state_stats (b)->refused_removed > 0);
    /* Our own origin cannot be removed. */
    assert_int_equal (state_origin_set_status (b, "b", STATE_REMOVED), -STATE_ERR_ARG);
    /* It comes back (rejoin): its records flow again. */
    assert_int_equal (state_origin_set_status (b, "a", STATE_ALIVE), 0);
    s_exchange (b, c, 0);
    assert_int_equal (state_count (b, "a", NULL), 2);
    state_destroy (&a);
    state_destroy (&b);
    state_destroy (&c);
}

static void
test_tombstone_expiry (void **unused)
{
    state_t *a = s_store_new ("a", NULL);
    state_t *b = s_store_new ("b", NULL);
    state_set_tombstone_ttl (a, 60000);
    state_set_tombstone_ttl (b, 60000);
    assert_int_equal (state_put (a, "service", "x", "1", 1), 0);
    assert_int_equal (state_put (a, "service", "y", "2", 1), 0);
    s_exchange (b, a, 0);
    assert_int_equal (state_delete (a, "service", "x"), 0);
    s_exchange (b, a, 0);
    state_record_t rec;
    assert_int_equal (state_get (b, "a", "service", "x", &rec), 0);
    assert_true (rec.tombstone);

    s_clock_ms += 59999;
    state_tick (a);
    state_tick (b);
    assert_int_equal (state_get (b, "a", "service", "x", &rec), 0);
    s_clock_ms += 1;
    state_tick (a);
    state_tick (b);
    assert_int_equal (state_get (b, "a", "service", "x", &rec), -STATE_ERR_NOT_FOUND);
    assert_int_equal (state_get (a, "a", "service", "x", &rec), -STATE_ERR_NOT_FOUND);
    assert_int_equal (state_stats (b)->purged, 1);
    /* Purging does not disturb sync: nothing to ship, y still there. */
    assert_int_equal (s_exchange (b, a, 0), 0);
    assert_int_equal (state_count (b, "a", NULL), 1);
    state_destroy (&a);
    state_destroy (&b);
}

/* A peer away for longer than the tombstone TTL still holds a record whose
 * delete it never saw and whose tombstone is gone everywhere else; the
 * floor rule makes it drop and re-pull that origin. */
static void
test_floor_reset (void **unused)
{
    state_t *a = s_store_new ("a", NULL);
    state_t *b = s_store_new ("b", NULL);
    state_set_tombstone_ttl (a, 1000);
    state_set_tombstone_ttl (b, 1000);
    assert_int_equal (state_put (a, "service", "x", "1", 1), 0);
    assert_int_equal (state_put (a, "service", "y", "2", 1), 0);
    s_exchange (b, a, 0);
    assert_int_equal (state_count (b, "a", NULL), 2);
    /* b is away; a deletes x and the tombstone expires. */
    assert_int_equal (state_delete (a, "service", "x"), 0);
    assert_int_equal (state_put (a, "service", "z", "3", 1), 0);
    s_clock_ms += 2000;
    state_tick (a);
    /* b comes back. */
    s_exchange (b, a, 0);
    s_exchange (b, a, 0);
    state_record_t rec;
    assert_int_equal (state_get (b, "a", "service", "x", &rec), -STATE_ERR_NOT_FOUND);
    assert_int_equal (state_count (b, "a", NULL), 2); /* y and z */
    assert_int_equal (state_stats (b)->resets, 1);
    assert_int_equal (state_origin_max (b, "a"), state_origin_max (a, "a"));
    /* Steady state: no further resets. */
    s_exchange (b, a, 0);
    assert_int_equal (state_stats (b)->resets, 1);
    state_destroy (&a);
    state_destroy (&b);
}

/* ---- codec --------------------------------------------------------------- */

static void
test_codec_rejects (void **unused)
{
    state_msg_t msg, out;
    memset (&msg, 0, sizeof msg);
    msg.hdr.type = STATE_PUSH;
    snprintf (msg.u.state_push.from, sizeof msg.u.state_push.from, "x");
    s_push_rec (&msg, "o", "k", 0, false, "v"); /* version 0 */
    uint8_t *buf = NULL;
    size_t len = 0;
    assert_int_equal (wire_encode (&state_proto, &msg, &buf, &len), WIRE_ERR_INVALID);
    msg.u.state_push.recs.items[0].version = 1;
    msg.u.state_push.recs.items[0].tomb = true; /* tombstone with value */
    assert_int_equal (wire_encode (&state_proto, &msg, &buf, &len), WIRE_ERR_INVALID);
    msg.u.state_push.recs.items[0].tomb = false;
    assert_int_equal (wire_encode (&state_proto, &msg, &buf, &len), 0);
    state_msg_free (&msg);
    const char *field;
    assert_int_equal (wire_decode (&state_proto, buf, len, &out, &field), 0);
    state_msg_free (&out);
    /* Truncated input is an error, never a crash. */
    for (size_t cut = 0; cut < len; cut++)
        assert_true (wire_decode (&state_proto, buf, cut, &out, &field) < 0);
    free (buf);
}

/* ---- signatures (docs/state.md, "Trust") --------------------------------- */

typedef struct {
    char name[STATE_ORIGIN_MAX + 1];
    uint8_t pk[crypto_sign_PUBLICKEYBYTES];
    uint8_t sk[crypto_sign_SECRETKEYBYTES];
    bool known; /* in the receivers' key table */
} s_node_key_t;

#define S_KEYS 4
static s_node_key_t s_keys[S_KEYS];

static void
s_keys_init (void)
{
    assert_true (sodium_init () >= 0);
    const char *names[S_KEYS] = { "n1", "n2", "n3", "n4" };
    for (int i = 0; i < S_KEYS; i++) {
        snprintf (s_keys[i].name, sizeof s_keys[i].name, "%s", names[i]);
        crypto_sign_keypair (s_keys[i].pk, s_keys[i].sk);
        s_keys[i].known = true;
    }
}

static int
s_sign_cb (void *arg, const uint8_t *msg, size_t len, uint8_t sig[STATE_SIG_BYTES])
{
    const s_node_key_t *k = (const s_node_key_t *) arg;
    crypto_sign_detached (sig, NULL, msg, len, k->sk);
    return 0;
}

/* The member table, as node wiring gives it to the store. */
static int
s_key_cb (void *arg, const char *origin, uint8_t pk[32])
{
    for (int i = 0; i < S_KEYS; i++)
        if (streq (s_keys[i].name, origin) && s_keys[i].known) {
            memcpy (pk, s_keys[i].pk, 32);
            return 0;
        }
    return -1;
}

/* A store that signs as s_keys [i] and verifies everyone. */
static state_t *
s_signed_store (int i, const char *dir)
{
    state_t *st = s_store_new (s_keys[i].name, dir);
    state_set_signer (st, s_sign_cb, &s_keys[i]);
    state_set_verifier (st, s_key_cb, NULL);
    return st;
}

/* Push `st`'s pending records into `to` through the codec. */
static int
s_push_to (state_t *st, state_t *to)
{
    state_msg_t m, w;
    if (state_push (st, 0, &m) != 1)
        return 0;
    s_wire (&m, &w);
    int rc = state_apply (to, &w);
    state_msg_free (&w);
    return rc;
}

static void
test_sig_refused (void **unused)
{
    s_keys_init ();
    state_t *n1 = s_signed_store (0, NULL);
    state_t *n2 = s_signed_store (1, NULL);
    state_record_t rec;

    /* The real record, signed by n1, is taken. */
    assert_int_equal (state_put (n1, "endpoint", "02:00:c6:13:05:02", "n1-ep", 5), 0);
    assert_int_equal (s_push_to (n1, n2), 1);
    assert_int_equal (state_stats (n2)->refused_sig, 0);
    assert_int_equal (state_origin_max (n2, "n1"), 1);

    /* A rogue n3 writes a newer record claiming origin n1, signed with
     * its own key: refused, n1's record intact, max unchanged. */
    state_msg_t m, w;
    memset (&m, 0, sizeof m);
    m.hdr.type = STATE_PUSH;
    snprintf (m.u.state_push.from, sizeof m.u.state_push.from, "n3");
    s_push_rec (&m, "n1", "02:00:c6:13:05:02", 2, false, "n3-ep");
    state_rec_t *r = &m.u.state_push.recs.items[0];
    snprintf (r->kind, sizeof r->kind, "endpoint");
    uint8_t msg[STATE_SIGNED_LEN];
    state_rec_signed_msg (r->origin, r->kind, r->key, r->version, r->tomb, r->value.data,
                          r->value.len, msg);
    crypto_sign_detached (r->sig, NULL, msg, sizeof msg, s_keys[2].sk);
    s_wire (&m, &w);
    assert_int_equal (state_apply (n2, &w), 0);
    state_msg_free (&w);
    assert_int_equal (state_stats (n2)->refused_sig, 1);
    assert_int_equal (state_get (n2, "n1", "endpoint", "02:00:c6:13:05:02", &rec), 0);
    assert_memory_equal (rec.value, "n1-ep", 5);
    assert_int_equal (state_origin_max (n2, "n1"), 1);

    /* Unsigned: refused. */
    assert_int_equal (s_apply_one (n2, "n1", "web", 2, false, "x"), 0);
    assert_int_equal (state_stats (n2)->refused_sig, 2);

    /* n1's genuine next record with its value tampered in transit: refused;
     * then the genuine one is taken. */
    assert_int_equal (state_put (n1, "service", "web", "real", 4), 0);
    assert_int_equal (state_push (n1, 0, &m), 1);
    s_wire (&m, &w);
    state_rec_t *g = &w.u.state_push.recs.items[0];
    uint8_t saved = g->value.data[0];
    g->value.data[0] = 'f';
    assert_int_equal (state_apply (n2, &w), 0);
    assert_int_equal (state_stats (n2)->refused_sig, 3);
    assert_int_equal (state_get (n2, "n1", "service", "web", &rec), -STATE_ERR_NOT_FOUND);
    /* So is a flipped tombstone flag or version. */
    g->value.data[0] = saved;
    g->version++;
    assert_int_equal (state_apply (n2, &w), 0);
    g->version--;
    g->tomb = true;
    assert_int_equal (state_apply (n2, &w), 0);
    assert_int_equal (state_stats (n2)->refused_sig, 5);
    g->tomb = false;
    assert_int_equal (state_apply (n2, &w), 1);
    state_msg_free (&w);
    assert_int_equal (state_stats (n2)->refused_sig, 5);
    assert_int_equal (state_origin_max (n2, "n1"), 2);

    /* Tombstones are signed too. */
    assert_int_equal (state_delete (n1, "service", "web"), 0);
    assert_int_equal (s_push_to (n1, n2), 1);
    assert_int_equal (state_get (n2, "n1", "service", "web", &rec), 0);
    assert_true (rec.tombstone);
    assert_int_equal (state_stats (n2)->refused_sig, 5);
    state_destroy (&n1);
    state_destroy (&n2);
}

/* A dead member's name taken by a new identity (docs/state.md, "Trust"):
 * the old identity's records, checked under the old key, must not outlive
 * the key change, and the new identity's records (versions from 1 again)
 * must come in. */
static void
test_sig_rekey (void **unused)
{
    s_keys_init ();
    state_t *n1 = s_signed_store (0, NULL);
    state_t *n2 = s_signed_store (1, NULL);
    state_t *n3 = s_signed_store (2, NULL);
    s_events_t ev = { 0 };
    state_set_handler (n2, s_on_change, &ev);
    state_record_t rec;
    assert_int_equal (state_put (n1, "endpoint", "02:00:c6:13:05:02", "old-ep", 6), 0);
    assert_int_equal (state_put (n1, "service", "web", "old", 3), 0);
    assert_int_equal (state_put (n1, "service", "db", "old", 3), 0);
    assert_int_equal (state_delete (n1, "service", "db"), 0);
    s_exchange (n2, n1, 0);
    s_exchange (n3, n1, 0);
    assert_int_equal (state_count (n2, "n1", NULL), 2);
    assert_int_equal (state_origin_max (n2, "n1"), 4);
    state_destroy (&n1);

    /* n1 dies; a new identity takes its name with a new key. */
    crypto_sign_keypair (s_keys[0].pk, s_keys[0].sk);
    state_t *n1b = s_signed_store (0, NULL);
    assert_int_equal (state_put (n1b, "endpoint", "02:00:c6:13:05:09", "new-ep", 6), 0);

    /* Without the rekey the old identity's records stay, and the new
     * one's version 1 looks like something n2 already has. */
    s_exchange (n2, n1b, 0);
    assert_int_equal (state_get (n2, "n1", "endpoint", "02:00:c6:13:05:09", &rec),
                      -STATE_ERR_NOT_FOUND);
    assert_int_equal (state_count (n2, "n1", NULL), 2);

    /* The key changed: the old records go (as DELETED events, not the
     * tombstone), the status stays, the new identity's come in. */
    int deleted = ev.deleted;
    assert_int_equal (state_origin_rekey (n2, "n1"), 0);
    assert_int_equal (ev.deleted, deleted + 2);
    assert_int_equal (state_count (n2, "n1", NULL), 0);
    assert_int_equal (state_get (n2, "n1", "service", "db", &rec), -STATE_ERR_NOT_FOUND);
    assert_int_equal (state_origin_max (n2, "n1"), 0);
    assert_int_equal (state_origin_status (n2, "n1"), STATE_ALIVE);
    s_exchange (n2, n1b, 0);
    assert_int_equal (state_get (n2, "n1", "endpoint", "02:00:c6:13:05:09", &rec), 0);
    assert_memory_equal (rec.value, "new-ep", 6);
    assert_int_equal (state_origin_max (n2, "n1"), 1);

    /* A lagging peer still holding the old records (signed by the old
     * key) cannot bring them back. */
    uint64_t refused = state_stats (n2)->refused_sig;
    s_exchange (n2, n3, 0);
    assert_true (state_stats (n2)->refused_sig > refused);
    assert_int_equal (state_count (n2, "n1", NULL), 1);
    assert_int_equal (state_get (n2, "n1", "service", "web", &rec), -STATE_ERR_NOT_FOUND);

    /* Our own origin is never rekeyed; an unknown origin is nothing. */
    assert_int_equal (state_origin_rekey (n2, "n2"), -STATE_ERR_ARG);
    assert_int_equal (state_origin_rekey (n2, "n4"), 0);
    state_destroy (&n1b);
    state_destroy (&n2);
    state_destroy (&n3);
}

static void
test_sig_deferred_relayed (void **unused)
{
    s_keys_init ();
    state_t *n1 = s_signed_store (0, NULL);
    state_t *n2 = s_signed_store (1, NULL);
    state_t *n3 = s_signed_store (2, NULL);
    for (int k = 0; k < 10; k++) {
        char key[16];
        snprintf (key, sizeof key, "svc-%d", k);
        assert_int_equal (state_put (n1, "service", key, key, strlen (key)), 0);
    }
    /* n2 takes n1's records directly. */
    s_exchange (n2, n1, 0);
    assert_int_equal (state_count (n2, "n1", NULL), 10);

    /* n3 does not know n1's key yet: a relayed delta from n2 is held back,
     * and n3's digest still asks for all of it. */
    s_keys[0].known = false;
    s_exchange (n3, n2, 0);
    assert_int_equal (state_count (n3, "n1", NULL), 0);
    assert_int_equal (state_stats (n3)->deferred, 10);
    assert_int_equal (state_stats (n3)->refused_sig, 0);
    assert_int_equal (state_origin_max (n3, "n1"), 0);
    /* The key arrives (membership): the next round brings them, relayed
     * by n2 and still verified against n1's key. */
    s_keys[0].known = true;
    s_exchange (n3, n2, 0);
    assert_int_equal (state_count (n3, "n1", NULL), 10);
    assert_int_equal (state_origin_max (n3, "n1"), 10);
    assert_int_equal (state_stats (n3)->refused_sig, 0);
    state_destroy (&n1);
    state_destroy (&n2);
    state_destroy (&n3);
}

static void
test_sig_persisted (void **unused)
{
    s_keys_init ();
    char dir[] = "/tmp/state_test.XXXXXX";
    assert_non_null (mkdtemp (dir));
    /* Records written before a signer existed (an old state.bin) ... */
    state_t *n1 = s_store_new ("n1", dir);
    assert_int_equal (state_put (n1, "service", "old", "o", 1), 0);
    state_destroy (&n1);
    /* ... are signed when the signer is set, and the file keeps it. */
    n1 = s_signed_store (0, dir);
    assert_int_equal (state_put (n1, "service", "new", "n", 1), 0);
    state_destroy (&n1);
    n1 = s_store_new ("n1", dir); /* no signer: sigs come from disk */
    state_t *n2 = s_signed_store (1, NULL);
    s_exchange (n2, n1, 0);
    assert_int_equal (state_count (n2, "n1", NULL), 2);
    assert_int_equal (state_stats (n2)->refused_sig, 0);
    state_destroy (&n1);
    state_destroy (&n2);
    char *path = zsys_sprintf ("%s/%s", dir, STATE_FILE);
    unlink (path);
    zstr_free (&path);
    rmdir (dir);
}

/* Measures what verification costs a full start-up sync: one origin's
 * STATE_LOCAL_MAX records applied with and without checks (the numbers in
 * docs/state.md, "Trust"). */
static void
test_sig_bulk_cost (void **unused)
{
    s_keys_init ();
    state_t *n1 = s_signed_store (0, NULL);
    char val[200];
    memset (val, 'v', sizeof val);
    int64_t t0 = zclock_usecs ();
    for (int k = 0; k < STATE_LOCAL_MAX; k++) {
        char key[32];
        snprintf (key, sizeof key, "svc-%05d", k);
        assert_int_equal (state_put (n1, "service", key, val, sizeof val), 0);
    }
    int64_t t_sign = zclock_usecs () - t0;
    int64_t t_apply[2];
    for (int verify = 0; verify < 2; verify++) {
        state_t *n2 = s_store_new ("n2", NULL);
        if (verify)
            state_set_verifier (n2, s_key_cb, NULL);
        state_msg_t d, m, w;
        state_digest (n2, false, &d);
        s_wire (&d, &w);
        int64_t spent = 0;
        for (;;) {
            if (state_delta (n1, &w.u.state_digest, 0, &m) != 1)
                break;
            state_msg_t in;
            s_wire (&m, &in);
            int64_t t = zclock_usecs ();
            state_apply (n2, &in);
            spent += zclock_usecs () - t;
            state_msg_free (&in);
            state_msg_free (&w);
            state_digest (n2, false, &d);
            s_wire (&d, &w);
        }
        state_msg_free (&w);
        assert_int_equal (state_count (n2, "n1", NULL), STATE_LOCAL_MAX);
        assert_int_equal (state_stats (n2)->refused_sig, 0);
        t_apply[verify] = spent;
        state_destroy (&n2);
    }
    printf ("# sig bulk: %d records of 200 B: sign %.1f us/rec; apply %.1f ms unchecked, "
            "%.1f ms verified (%.1f us/rec for the check)\n",
            STATE_LOCAL_MAX, (double) t_sign / STATE_LOCAL_MAX, t_apply[0] / 1000.0,
            t_apply[1] / 1000.0, (double) (t_apply[1] - t_apply[0]) / STATE_LOCAL_MAX);
    state_destroy (&n1);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_local_put_delete),
        cmocka_unit_test (test_value_bound),
        cmocka_unit_test (test_remote_rules),
        cmocka_unit_test (test_converge_20),
        cmocka_unit_test (test_small_budget),
        cmocka_unit_test (test_partition_heal),
        cmocka_unit_test (test_push),
        cmocka_unit_test (test_restart),
        cmocka_unit_test (test_origin_status),
        cmocka_unit_test (test_tombstone_expiry),
        cmocka_unit_test (test_floor_reset),
        cmocka_unit_test (test_codec_rejects),
        cmocka_unit_test (test_sig_refused),
        cmocka_unit_test (test_sig_rekey),
        cmocka_unit_test (test_sig_deferred_relayed),
        cmocka_unit_test (test_sig_persisted),
        cmocka_unit_test (test_sig_bulk_cost),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
