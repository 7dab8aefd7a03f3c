/*
 * sched_create.h - the create state machine (docs/scheduling.md, "A create,
 * step by step"), apart from everything it talks to.
 *
 * A create taken by this node is a job: RESERVE the name at its coordinator
 * (failing over to the next coordinator when one does not answer), then
 * place, then CLAIM at the candidates in placement order, each by the
 * job's deadline. The machine is fed events:
 *
 *   sc_start            the API call arrived (after validation)
 *   sc_on_reserve       the coordinator answered RESERVE (or did not)
 *   sc_on_claim         the target answered CLAIM (or did not)
 *   sc_on_deadline      the job's deadline passed
 *   sc_on_peer_trouble  membership suspects a peer, or says it failed
 *
 * and acts only through the functions of an sc_env_t: the clock, the
 * coordinator choice, sending RESERVE / CLAIM / RELEASE, placement, and
 * the two ends (succeed, fail). Nothing here knows about sockets, records
 * or namespaces, so sched_create_test.c drives it with a fake env.
 *
 * Answers carry a sequence number (job->seq when sent): an answer to a
 * request that was superseded (coordinator failover) is ignored.
 * After succeed or fail the job is over (sc_done) and the caller frees it.
 */
#ifndef SHED_SCHED_CREATE_H
#define SHED_SCHED_CREATE_H

#include "cluster/names.h"
#include "cluster/placement.h"
#include "cluster/records.h"
#include "common/wire_gen.h"
#include "node/api/api_msg.h"

#include <stdbool.h>
#include <stdint.h>

#define SC_STEPS_MAX          32
#define SC_SKIP_MAX           8 /* coordinators one create may give up on */
#define SC_TAGS_MAX           32
#define SC_RESERVE_TIMEOUT_MS 3000 /* one coordinator's turn: then the next */

typedef enum { SC_RESERVE, SC_CLAIM, SC_DONE } sc_phase_t;

typedef struct {
    /* The request (filled by the caller before sc_start). */
    char rid[65];
    char name[REC_NAME_MAX + 1];
    uint64_t cpus_milli, memory_mb, disk_mb, gpus;
    char pin[REC_NAME_MAX + 1];
    place_constraint_t constraints[PLACE_CONSTRAINTS_MAX];
    size_t nconstraints;
    place_strategy_t strategy;
    char image[256];
    char repo[256]; /* cloned by the driver (shed-server), "" = none */
    /* From a snapshot (docs/snapshots.md): its name, holder and data. */
    char snapshot[REC_NAME_MAX + 1];
    char snapshot_node[REC_NAME_MAX + 1];
    char snapshot_digest[65];
    uint64_t snapshot_size;
    wire_tag_t tags[SC_TAGS_MAX];
    size_t ntags;
    int64_t t0;       /* mono ms: the call arrived */
    int64_t deadline; /* mono ms: answered by then, whatever peers do */
    uint64_t timeout_ms;
    uint64_t claim_timeout_ms; /* one claim's wait (scheduler.claim_timeout_ms) */
    size_t max_attempts;       /* candidates tried at most */
    /* Progress (the machine's). */
    sc_phase_t phase;
    api_step_t steps[SC_STEPS_MAX];
    size_t nsteps;
    char coordinator[REC_NAME_MAX + 1];
    char cand[PLACE_CANDIDATES_MAX][REC_NAME_MAX + 1];
    size_t ncand, next;
    char reasons[1024];
    char target[REC_NAME_MAX + 1];
    uint32_t seq;                             /* of the request in flight */
    char skip[SC_SKIP_MAX][REC_NAME_MAX + 1]; /* coordinators that did not answer */
    size_t nskip;
    void *user; /* the caller's (its API calls) */
} sc_job_t;

/* An answer to RESERVE: answered false when it did not come (timeout, no
 * peer, bad reply; `error` says what). */
typedef struct {
    bool answered;
    const char *error;
    names_verdict_t verdict;
    const char *node;
    const char *why;
} sc_reserve_answer_t;

/* An answer to CLAIM (answered false as above). ok: `record` is the shed
 * record (the caller's opaque pointer, handed to succeed) and `state` its
 * state; else `admitted` tells a rejection from a failure after admission. */
typedef struct {
    bool answered;
    const char *error;
    bool ok;
    bool admitted;
    const char *why;
    uint64_t create_ms, start_ms;
    const void *record;
    const char *state;
} sc_claim_answer_t;

typedef struct {
    void *arg;
    int64_t (*now) (void *arg);
    /* The name's coordinator among the members, leaving out the suspect
     * ones and the `nskip` in `skip` (never this node). */
    const char *(*coordinator) (void *arg, const char *name, char skip[][REC_NAME_MAX + 1],
                                size_t nskip);
    bool (*is_self) (void *arg, const char *peer);
    /* "alive", "suspect", "failed", "this node"...: for messages. */
    const char *(*peer_status) (void *arg, const char *peer);
    /* Send RESERVE / CLAIM for the job to peer; the answer comes back
     * through sc_on_reserve / sc_on_claim with this seq (maybe at once). */
    void (*send_reserve) (void *arg, sc_job_t *job, const char *peer, uint32_t seq, int timeout_ms);
    void (*send_claim) (void *arg, sc_job_t *job, const char *peer, uint32_t seq, int timeout_ms);
    /* Fire and forget. */
    void (*send_release) (void *arg, const sc_job_t *job, const char *peer);
    /* Candidates, best first (at most max); 0 with `explain` when none. */
    size_t (*place) (void *arg, const sc_job_t *job, char cand[][REC_NAME_MAX + 1], size_t max,
                     char *explain, size_t explain_size);
    /* NAMES_DONE: answer from the shed this request id made, if it is
     * known here; false if not. */
    bool (*succeed_existing) (void *arg, sc_job_t *job);
    void (*succeed) (void *arg, sc_job_t *job, const void *record, const char *origin,
                     const char *message);
    void (*fail) (void *arg, sc_job_t *job, api_err_code_t code, const char *why);
} sc_env_t;

void sc_start (sc_job_t *job, const sc_env_t *env);
void sc_on_reserve (sc_job_t *job, const sc_env_t *env, uint32_t seq, const char *peer,
                    const sc_reserve_answer_t *ans);
void sc_on_claim (sc_job_t *job, const sc_env_t *env, uint32_t seq, const char *peer,
                  const sc_claim_answer_t *ans);
void sc_on_deadline (sc_job_t *job, const sc_env_t *env);
void sc_on_peer_trouble (sc_job_t *job, const sc_env_t *env, const char *peer, bool failed);

/* A step for the answer ("name reserved ..."), ms since t0. */
void sc_step (sc_job_t *job, const sc_env_t *env, const char *fmt, ...)
    __attribute__ ((format (printf, 3, 4)));

static inline bool
sc_done (const sc_job_t *job)
{
    return job->phase == SC_DONE;
}

#endif
