/* state_mirror_test.c - the read model: seed, change events in and out of
 * order, our own writes read back at once, origin status, writes from
 * inside a list callback. No actor: events are fed by hand. */
#include "node/state/state_mirror.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static shed_record_t
s_rec (const char *event, const char *origin, const char *kind, const char *key, uint64_t version,
       const char *status, const char *value)
{
    shed_record_t r = { event,
                        origin,
                        kind,
                        key,
                        version,
                        status,
                        (const uint8_t *) value,
                        value ? strlen (value) : 0 };
    return r;
}

/* The value of origin/kind/key as a string ("" if none). */
static const char *
s_value (state_mirror_t *m, const char *origin, const char *kind, const char *key)
{
    static char text[256];
    shed_record_t r;
    if (!state_mirror_find (m, origin, kind, key, &r))
        return "";
    snprintf (text, sizeof text, "%.*s", (int) r.len, (const char *) r.value);
    return text;
}

typedef struct {
    char seen[1024];
} s_walk_t;

static void
s_walk_fn (const shed_record_t *rec, void *arg)
{
    s_walk_t *w = arg;
    size_t used = strlen (w->seen);
    snprintf (w->seen + used, sizeof w->seen - used, "%s%s/%s/%s=%.*s(%s)", used ? " " : "",
              rec->origin, rec->kind, rec->key, (int) rec->len, (const char *) rec->value,
              rec->status);
}

static void
test_seed_and_events (void **state)
{
    (void) state;
    state_mirror_t *m = state_mirror_new ("n1");
    shed_record_t r = s_rec ("", "n2", "shed", "web", 5, "alive", "v5");
    assert_true (state_mirror_apply (m, &r));
    /* An event older than the seed (queued before the LIST): ignored. */
    r = s_rec ("UPDATED", "n2", "shed", "web", 4, "alive", "v4");
    assert_false (state_mirror_apply (m, &r));
    assert_string_equal (s_value (m, "n2", "shed", "web"), "v5");
    r = s_rec ("UPDATED", "n2", "shed", "web", 6, "alive", "v6");
    assert_true (state_mirror_apply (m, &r));
    assert_string_equal (s_value (m, "n2", "shed", "web"), "v6");
    r = s_rec ("INSERTED", "n3", "node", "n3", 1, "alive", "x");
    assert_true (state_mirror_apply (m, &r));
    assert_int_equal (state_mirror_size (m), 2);
    /* Unreachable origin: records kept, status follows. */
    r = s_rec ("ORIGIN", "n2", "$origin", "", 0, "unreachable", NULL);
    assert_true (state_mirror_apply (m, &r));
    s_walk_t w = { "" };
    assert_int_equal (state_mirror_list (m, "", s_walk_fn, &w), 2);
    assert_string_equal (w.seen, "n2/shed/web=v6(unreachable) n3/node/n3=x(alive)");
    /* Delete (a tombstone's version is newer), then a removed origin. */
    r = s_rec ("DELETED", "n2", "shed", "web", 7, "alive", NULL);
    assert_true (state_mirror_apply (m, &r));
    assert_string_equal (s_value (m, "n2", "shed", "web"), "");
    r = s_rec ("ORIGIN", "n3", "$origin", "", 0, "removed", NULL);
    state_mirror_apply (m, &r);
    assert_int_equal (state_mirror_size (m), 0);
    state_mirror_destroy (&m);
    assert_null (m);
}

static void
test_read_your_writes (void **state)
{
    (void) state;
    state_mirror_t *m = state_mirror_new ("n1");
    state_mirror_put_local (m, "shed", "web", (const uint8_t *) "a", 1);
    assert_string_equal (s_value (m, "n1", "shed", "web"), "a");
    state_mirror_put_local (m, "shed", "web", (const uint8_t *) "b", 1);
    assert_string_equal (s_value (m, "n1", "shed", "web"), "b");
    /* The echo of the first write arrives late: it must not undo "b". */
    shed_record_t r = s_rec ("INSERTED", "n1", "shed", "web", 1, "alive", "a");
    assert_false (state_mirror_apply (m, &r));
    assert_string_equal (s_value (m, "n1", "shed", "web"), "b");
    /* The echo of "b" teaches its version. */
    r = s_rec ("UPDATED", "n1", "shed", "web", 2, "alive", "b");
    state_mirror_apply (m, &r);
    shed_record_t got;
    assert_true (state_mirror_find (m, "n1", "shed", "web", &got));
    assert_int_equal (got.version, 2);
    state_mirror_del_local (m, "shed", "web");
    assert_false (state_mirror_find (m, "n1", "shed", "web", &got));
    /* A late echo of a write we deleted since: still gone. */
    r = s_rec ("UPDATED", "n1", "shed", "web", 2, "alive", "b");
    state_mirror_apply (m, &r);
    assert_false (state_mirror_find (m, "n1", "shed", "web", &got));
    state_mirror_destroy (&m);
}

/* A list callback that writes (re-adoption puts our records while
 * walking them): the walk sees the snapshot, nothing is freed under it. */
static void
s_rewrite_fn (const shed_record_t *rec, void *arg)
{
    state_mirror_t *m = arg;
    char value[64];
    int n = snprintf (value, sizeof value, "%.*s+", (int) rec->len, (const char *) rec->value);
    state_mirror_put_local (m, rec->kind, rec->key, (const uint8_t *) value, (size_t) n);
    state_mirror_del_local (m, "shed", "other");
}

static void
test_write_during_list (void **state)
{
    (void) state;
    state_mirror_t *m = state_mirror_new ("n1");
    state_mirror_put_local (m, "shed", "a", (const uint8_t *) "1", 1);
    state_mirror_put_local (m, "shed", "other", (const uint8_t *) "2", 1);
    assert_int_equal (state_mirror_list (m, "shed", s_rewrite_fn, m), 2);
    assert_string_equal (s_value (m, "n1", "shed", "a"), "1+");
    /* "other" was deleted by the first callback and still walked (from the
     * snapshot): its own callback re-put it, then deleted it again. */
    assert_int_equal (state_mirror_size (m), 1);
    state_mirror_destroy (&m);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_seed_and_events),
        cmocka_unit_test (test_read_your_writes),
        cmocka_unit_test (test_write_during_list),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
