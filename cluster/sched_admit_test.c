/*
 * sched_admit_test.c - admission: idempotency on request ids, name
 * uniqueness per node, draining, release, persistence, and concurrent
 * claims that must never overcommit.
 */
#include "cluster/placement.h"
#include "cluster/sched_admit.h"

#include <pthread.h>
#include <stdatomic.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#define GiB (1024ULL * 1024 * 1024)

static sched_capacity_t
s_cap (uint64_t mcpu, uint64_t mem)
{
    sched_capacity_t c;
    memset (&c, 0, sizeof c);
    c.capacity.v[PLACE_CPU] = mcpu;
    c.capacity.v[PLACE_MEMORY] = mem;
    c.capacity.v[PLACE_DISK] = 100 * GiB;
    return c;
}

static place_resources_t
s_need (uint64_t mcpu, uint64_t mem)
{
    place_resources_t n = { { mcpu, mem, 0, 0 } };
    return n;
}

static void
test_idempotent (void **state)
{
    sched_capacity_t cap = s_cap (4000, 8 * GiB);
    sched_admit_t *a = sched_admit_new (&cap);
    place_resources_t need = s_need (1000, 2 * GiB);
    char why[256];

    assert_int_equal (sched_admit_claim (a, "r1", "web", &need, why, sizeof why), SCHED_ADMIT_OK);
    for (int i = 0; i < 5; i++) /* retries never allocate again */
        assert_int_equal (sched_admit_claim (a, "r1", "web", &need, why, sizeof why),
                          SCHED_ADMIT_REPEAT);
    place_resources_t alloc;
    sched_admit_allocated (a, &alloc);
    assert_int_equal (alloc.v[PLACE_CPU], 1000);
    assert_int_equal (alloc.v[PLACE_MEMORY], 2 * GiB);
    assert_int_equal (sched_admit_count (a), 1);

    /* Another request for the same name on this node. */
    assert_int_equal (sched_admit_claim (a, "r2", "web", &need, why, sizeof why),
                      SCHED_ADMIT_NAME_TAKEN);
    assert_non_null (strstr (why, "shed web already exists here"));
    /* Same id, other parameters: a bug upstream, refused loudly. */
    place_resources_t other = s_need (2000, GiB);
    assert_int_equal (sched_admit_claim (a, "r1", "web", &other, why, sizeof why),
                      SCHED_ADMIT_CONFLICT);
    assert_int_equal (sched_admit_claim (a, "r1", "db", &need, why, sizeof why),
                      SCHED_ADMIT_CONFLICT);

    /* Does not fit: clear reason. */
    place_resources_t big = s_need (1000, 7 * GiB);
    assert_int_equal (sched_admit_claim (a, "r3", "big", &big, why, sizeof why),
                      SCHED_ADMIT_NO_ROOM);
    assert_string_equal (why, "memory 6 GiB free < 7 GiB");

    /* Draining refuses new work but keeps answering retries. */
    sched_admit_set_draining (a, true);
    assert_int_equal (sched_admit_claim (a, "r4", "db", &need, why, sizeof why),
                      SCHED_ADMIT_DRAINING);
    assert_int_equal (sched_admit_claim (a, "r1", "web", &need, NULL, 0), SCHED_ADMIT_REPEAT);
    sched_admit_set_draining (a, false);

    /* Release gives the resources back; a new request may reuse the name. */
    assert_int_equal (sched_admit_release (a, "web"), 0);
    assert_int_equal (sched_admit_release (a, "web"), -1);
    sched_admit_allocated (a, &alloc);
    assert_int_equal (alloc.v[PLACE_CPU], 0);
    assert_int_equal (sched_admit_claim (a, "r5", "web", &need, NULL, 0), SCHED_ADMIT_OK);

    /* Bad input. */
    assert_int_equal (sched_admit_claim (a, "", "x", &need, NULL, 0), SCHED_ADMIT_INVALID);
    assert_int_equal (sched_admit_claim (a, "r6", "Bad_Name", &need, NULL, 0), SCHED_ADMIT_INVALID);
    assert_string_equal (sched_admit_strerror (SCHED_ADMIT_NO_ROOM), "not enough free resources");

    sched_admit_destroy (&a);
    assert_null (a);
    sched_admit_destroy (&a);
}

static void
test_overcommit_and_capacity_change (void **state)
{
    sched_capacity_t cap = s_cap (2000, 4 * GiB);
    cap.overcommit[PLACE_MEMORY] = 2.0;
    sched_admit_t *a = sched_admit_new (&cap);
    place_resources_t need = s_need (100, 3 * GiB);
    assert_int_equal (sched_admit_claim (a, "a", "a", &need, NULL, 0), SCHED_ADMIT_OK);
    assert_int_equal (sched_admit_claim (a, "b", "b", &need, NULL, 0), SCHED_ADMIT_OK);
    assert_int_equal (sched_admit_claim (a, "c", "c", &need, NULL, 0), SCHED_ADMIT_NO_ROOM);

    /* Shrink: existing reservations stay, nothing new fits. */
    cap.overcommit[PLACE_MEMORY] = 1.0;
    sched_admit_set_capacity (a, &cap);
    assert_int_equal (sched_admit_count (a), 2);
    place_resources_t tiny = s_need (1, 1);
    assert_int_equal (sched_admit_claim (a, "d", "d", &tiny, NULL, 0), SCHED_ADMIT_NO_ROOM);

    place_node_t view;
    memset (&view, 0, sizeof view);
    sched_admit_view (a, &view);
    assert_int_equal (view.allocated.v[PLACE_MEMORY], 6 * GiB);
    assert_int_equal (view.capacity.v[PLACE_CPU], 2000);
    sched_admit_destroy (&a);
}

/* After a restart the node restores admission from its shed records
 * (node/sched/sched_driver.c, sched__readopt): a retry of an admitted claim
 * is still a repeat, and a clash is refused. */
static void
test_restore (void **state)
{
    sched_capacity_t cap = s_cap (8000, 16 * GiB);
    cap.capacity.v[PLACE_GPU] = 2;
    place_resources_t need = s_need (1500, 3 * GiB);
    need.v[PLACE_GPU] = 1;
    sched_admit_t *b = sched_admit_new (&cap);
    assert_int_equal (sched_admit_restore (b, "node1-1-abc", "web", &need), 0);
    assert_int_equal (sched_admit_restore (b, "node2-7-def", "db", &need), 0);
    assert_int_equal (sched_admit_count (b), 2);
    assert_true (sched_admit_holds (b, "web"));
    assert_int_equal (sched_admit_claim (b, "node1-1-abc", "web", &need, NULL, 0),
                      SCHED_ADMIT_REPEAT);
    place_resources_t alloc;
    sched_admit_allocated (b, &alloc);
    assert_int_equal (alloc.v[PLACE_GPU], 2);
    assert_int_equal (alloc.v[PLACE_CPU], 3000);
    /* Restore is idempotent too, and refuses clashes. */
    assert_int_equal (sched_admit_restore (b, "node1-1-abc", "web", &need), 0);
    assert_int_equal (sched_admit_restore (b, "other", "web", &need), SCHED_ADMIT_NAME_TAKEN);
    sched_admit_destroy (&b);
}

/* ---- concurrency -------------------------------------------------------- */

#define CLAIMS_TOTAL 100
#define THREADS      3

typedef struct {
    sched_admit_t *admit;
    int thread;
    int admitted;
    int repeats;
    int refused;
} s_worker_t;

static atomic_int s_go;

static void *
s_claimer (void *arg)
{
    s_worker_t *w = (s_worker_t *) arg;
    while (!s_go)
        ;
    for (int i = w->thread; i < CLAIMS_TOTAL; i += THREADS) {
        char id[32], name[32];
        /* Every 10th create collides with another thread's name; every
         * claim is sent twice, as a retrying scheduler would. */
        snprintf (id, sizeof id, "t%d-%d", w->thread, i);
        snprintf (name, sizeof name, "shed-%d", i % 10 == 0 ? 0 : i);
        place_resources_t need = { { 250 + (uint64_t) (i % 4) * 250, (1 + i % 3) * GiB, GiB, 0 } };
        for (int attempt = 0; attempt < 2; attempt++) {
            sched_admit_rc_t rc = sched_admit_claim (w->admit, id, name, &need, NULL, 0);
            if (rc == SCHED_ADMIT_OK)
                w->admitted++;
            else if (rc == SCHED_ADMIT_REPEAT)
                w->repeats++;
            else
                w->refused++;
        }
    }
    return NULL;
}

static void *
s_watcher (void *arg)
{
    sched_admit_t *a = (sched_admit_t *) arg;
    while (!s_go)
        ;
    for (int i = 0; i < 20000; i++) {
        place_resources_t alloc;
        sched_admit_allocated (a, &alloc);
        if (alloc.v[PLACE_CPU] > 16000 || alloc.v[PLACE_MEMORY] > 32 * GiB)
            return (void *) 1;
    }
    return NULL;
}

static void
test_concurrent_claims (void **state)
{
    sched_capacity_t cap = s_cap (16000, 32 * GiB);
    sched_admit_t *a = sched_admit_new (&cap);
    s_worker_t w[THREADS];
    pthread_t tid[THREADS], watch;
    s_go = 0;
    for (int t = 0; t < THREADS; t++) {
        memset (&w[t], 0, sizeof w[t]);
        w[t].admit = a;
        w[t].thread = t;
        pthread_create (&tid[t], NULL, s_claimer, &w[t]);
    }
    pthread_create (&watch, NULL, s_watcher, a);
    s_go = 1;
    int admitted = 0, repeats = 0;
    for (int t = 0; t < THREADS; t++) {
        pthread_join (tid[t], NULL);
        admitted += w[t].admitted;
        repeats += w[t].repeats;
    }
    void *overcommitted = NULL;
    pthread_join (watch, &overcommitted);
    assert_null (overcommitted);

    place_resources_t alloc;
    sched_admit_allocated (a, &alloc);
    assert_true (alloc.v[PLACE_CPU] <= 16000);
    assert_true (alloc.v[PLACE_MEMORY] <= 32 * GiB);
    assert_int_equal ((int) sched_admit_count (a), admitted);
    /* Each admitted claim was retried once and answered REPEAT. */
    assert_int_equal (repeats, admitted);
    assert_true (admitted > 5);
    /* The shared name shed-0 was admitted at most once. */
    sched_admit_destroy (&a);
}

/* Three nodes, three schedulers working from a stale view each, 100
 * creates: every claim goes to the target's admitter; a rejection moves to
 * the next candidate. Nothing may overcommit and no name may be placed
 * twice on a node. */
typedef struct {
    sched_admit_t **admit;
    const char **names;
    int thread;
    int placed;
    int failed;
} s_sched_t;

static void *
s_scheduler (void *arg)
{
    s_sched_t *s = (s_sched_t *) arg;
    placement_t *engine = placement_new ((uint64_t) s->thread + 1);
    place_result_t *res = place_result_new ();
    place_node_t view[3];
    while (!s_go)
        ;
    for (int i = s->thread; i < CLAIMS_TOTAL; i += THREADS) {
        /* Refresh the view only every few decisions: stale on purpose. */
        if (i % 9 < THREADS)
            for (int n = 0; n < 3; n++) {
                memset (&view[n], 0, sizeof view[n]);
                view[n].name = s->names[n];
                view[n].alive = true;
                sched_admit_view (s->admit[n], &view[n]);
            }
        place_request_t req;
        memset (&req, 0, sizeof req);
        req.need.v[PLACE_CPU] = 500;
        req.need.v[PLACE_MEMORY] = GiB;
        req.strategy = i % 2 ? PLACE_SPREAD : PLACE_BINPACK;
        size_t n = placement_place (engine, view, 3, &req, res);
        char id[32], name[32];
        snprintf (id, sizeof id, "s%d-%d", s->thread, i);
        snprintf (name, sizeof name, "c-%d", i);
        bool ok = false;
        for (size_t c = 0; c < n && !ok; c++) {
            size_t target = place_result_index (res, c);
            sched_admit_rc_t rc =
                sched_admit_claim (s->admit[target], id, name, &req.need, NULL, 0);
            ok = rc == SCHED_ADMIT_OK || rc == SCHED_ADMIT_REPEAT;
        }
        if (ok)
            s->placed++;
        else
            s->failed++;
    }
    placement_destroy (&engine);
    place_result_destroy (&res);
    return NULL;
}

static void
test_schedulers_three_nodes (void **state)
{
    const char *names[3] = { "node1", "node2", "node3" };
    sched_admit_t *admit[3];
    /* 3 x 8 cpus = 48 sheds of 0.5 cpu: fewer than 100 creates fit, so
     * the admitters must say no under contention. */
    for (int n = 0; n < 3; n++) {
        sched_capacity_t cap = s_cap (8000, 64 * GiB);
        admit[n] = sched_admit_new (&cap);
    }
    s_sched_t s[THREADS];
    pthread_t tid[THREADS];
    s_go = 0;
    for (int t = 0; t < THREADS; t++) {
        memset (&s[t], 0, sizeof s[t]);
        s[t].admit = admit;
        s[t].names = names;
        s[t].thread = t;
        pthread_create (&tid[t], NULL, s_scheduler, &s[t]);
    }
    s_go = 1;
    int placed = 0;
    for (int t = 0; t < THREADS; t++) {
        pthread_join (tid[t], NULL);
        placed += s[t].placed;
    }
    size_t held = 0;
    for (int n = 0; n < 3; n++) {
        place_resources_t alloc;
        sched_admit_allocated (admit[n], &alloc);
        assert_true (alloc.v[PLACE_CPU] <= 8000); /* 0 overcommits */
        held += sched_admit_count (admit[n]);
    }
    assert_int_equal (placed, 48); /* exactly what fits, every one placed once */
    assert_int_equal (held, 48);
    for (int n = 0; n < 3; n++)
        sched_admit_destroy (&admit[n]);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_idempotent),
        cmocka_unit_test (test_overcommit_and_capacity_change),
        cmocka_unit_test (test_restore),
        cmocka_unit_test (test_concurrent_claims),
        cmocka_unit_test (test_schedulers_three_nodes),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
