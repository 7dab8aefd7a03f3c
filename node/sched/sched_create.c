/* sched_create.c - the create state machine (see sched_create.h). */
#include "node/sched/sched_create.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static void s_claim_next (sc_job_t *job, const sc_env_t *env);

void
sc_step (sc_job_t *job, const sc_env_t *env, const char *fmt, ...)
{
    if (job->nsteps >= SC_STEPS_MAX)
        return;
    api_step_t *st = &job->steps[job->nsteps++];
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (st->text, sizeof st->text, fmt, ap);
    va_end (ap);
    st->ms = (uint64_t) (env->now (env->arg) - job->t0);
}

static void s_fail (sc_job_t *job, const sc_env_t *env, api_err_code_t code, const char *fmt, ...)
    __attribute__ ((format (printf, 4, 5)));

static void
s_fail (sc_job_t *job, const sc_env_t *env, api_err_code_t code, const char *fmt, ...)
{
    char why[API_TEXT_MAX + 1];
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (why, sizeof why, fmt, ap);
    va_end (ap);
    job->phase = SC_DONE;
    env->fail (env->arg, job, code, why);
}

/* Time left before the deadline, at most `cap` ms (0: none left). */
static int
s_left (const sc_job_t *job, const sc_env_t *env, int64_t cap)
{
    int64_t left = job->deadline - env->now (env->arg);
    if (left <= 0)
        return 0;
    return (int) (left < cap ? left : cap);
}

static void
s_release (sc_job_t *job, const sc_env_t *env)
{
    if (job->coordinator[0])
        env->send_release (env->arg, job, job->coordinator);
}

static void
s_skip (sc_job_t *job, const sc_env_t *env, const char *peer)
{
    if (job->nskip < SC_SKIP_MAX && !env->is_self (env->arg, peer))
        snprintf (job->skip[job->nskip++], sizeof job->skip[0], "%s", peer);
}

/* Reserve at the name's coordinator among the members membership does not
 * suspect and that have not failed this create already: a slow or stopped
 * node costs a create at most one reserve timeout, not the create. */
static void
s_reserve (sc_job_t *job, const sc_env_t *env)
{
    const char *c = env->coordinator (env->arg, job->name, job->skip, job->nskip);
    if (job->coordinator[0] && strcmp (job->coordinator, c) != 0)
        sc_step (job, env, "name coordinator %s did not answer (%s): asking %s", job->coordinator,
                 env->peer_status (env->arg, job->coordinator), c);
    snprintf (job->coordinator, sizeof job->coordinator, "%s", c);
    job->phase = SC_RESERVE;
    int timeout = s_left (job, env, SC_RESERVE_TIMEOUT_MS);
    env->send_reserve (env->arg, job, job->coordinator, ++job->seq, timeout > 0 ? timeout : 1);
}

void
sc_start (sc_job_t *job, const sc_env_t *env)
{
    s_reserve (job, env);
}

static void
s_place (sc_job_t *job, const sc_env_t *env)
{
    char explain[1024] = "";
    size_t n = env->place (env->arg, job, job->cand, PLACE_CANDIDATES_MAX, explain, sizeof explain);
    job->ncand = n < PLACE_CANDIDATES_MAX ? n : PLACE_CANDIDATES_MAX;
    job->next = 0;
    if (job->ncand == 0) {
        s_release (job, env);
        if (job->pin[0] && !explain[0])
            s_fail (job, env, API_ERR_INVALID, "no node named %s in the cluster", job->pin);
        else
            s_fail (job, env, API_ERR_INVALID, "no node fits shed %s: %s", job->name,
                    explain[0] ? explain : "no nodes known");
        return;
    }
    sc_step (job, env, "placing: %zu candidate%s (%s first)", job->ncand,
             job->ncand == 1 ? "" : "s", job->cand[0]);
    s_claim_next (job, env);
}

static void
s_claim_next (sc_job_t *job, const sc_env_t *env)
{
    size_t max = job->max_attempts ? job->max_attempts : 3;
    if (job->next >= job->ncand || job->next >= max) {
        s_release (job, env);
        s_fail (job, env, API_ERR_INVALID, "no node accepted shed %s: %s", job->name, job->reasons);
        return;
    }
    snprintf (job->target, sizeof job->target, "%s", job->cand[job->next++]);
    job->phase = SC_CLAIM;
    /* Bounded by the API deadline too; a claim cut short is "outcome
     * unknown", never retried elsewhere. */
    int timeout =
        s_left (job, env, job->claim_timeout_ms ? (int64_t) job->claim_timeout_ms : 30000);
    env->send_claim (env->arg, job, job->target, ++job->seq, timeout > 0 ? timeout : 1);
}

void
sc_on_reserve (sc_job_t *job, const sc_env_t *env, uint32_t seq, const char *peer,
               const sc_reserve_answer_t *ans)
{
    if (sc_done (job) || seq != job->seq)
        return; /* answered already, or superseded (failover) */
    if (job->phase != SC_RESERVE) {
        s_fail (job, env, API_ERR_INTERNAL, "%s answered out of protocol", peer);
        return;
    }
    if (!ans->answered) {
        /* Nothing was reserved that we know of: the next coordinator in
         * rendezvous order decides (names.h). */
        bool self = env->is_self (env->arg, peer);
        s_skip (job, env, peer);
        if (s_left (job, env, INT32_MAX) > 0 && job->nskip < SC_SKIP_MAX && !self)
            s_reserve (job, env);
        else {
            s_release (job, env);
            s_fail (job, env, API_ERR_UNAVAILABLE,
                    "name coordinator %s for %s did not answer: %s (membership: %s); "
                    "nothing was created",
                    peer, job->name, ans->error && *ans->error ? ans->error : "bad reply",
                    env->peer_status (env->arg, peer));
        }
        return;
    }
    switch (ans->verdict) {
    case NAMES_GRANT:
        sc_step (job, env, "name %s reserved (coordinator %s)", job->name, job->coordinator);
        s_place (job, env);
        return;
    case NAMES_DONE:
        /* A retry of a create that already happened: answer with it. */
        if (env->succeed_existing (env->arg, job)) {
            job->phase = SC_DONE;
            return;
        }
        s_fail (job, env, API_ERR_INVALID, "shed %s was already created by this request on %s",
                job->name, ans->node ? ans->node : "");
        return;
    default:
        /* BUSY or TAKEN: the name belongs to another shed or request
         * (API_ERR_CONFLICT: HTTP 409 on the remote API). */
        s_fail (job, env, API_ERR_CONFLICT, "%s", ans->why ? ans->why : "name refused");
        return;
    }
}

void
sc_on_claim (sc_job_t *job, const sc_env_t *env, uint32_t seq, const char *peer,
             const sc_claim_answer_t *ans)
{
    if (sc_done (job) || seq != job->seq)
        return;
    if (job->phase != SC_CLAIM) {
        s_fail (job, env, API_ERR_INTERNAL, "%s answered out of protocol", peer);
        return;
    }
    if (!ans->answered) {
        /* The target may have created it anyway: moving on could create it
         * twice. Stop; a retry with the same request id finds what
         * happened. */
        s_fail (job, env, API_ERR_UNAVAILABLE,
                "claim on %s did not complete: %s (membership: %s): outcome unknown: "
                "check with `shedctl show %s` or retry with --request-id %s",
                peer, ans->error && *ans->error ? ans->error : "bad reply",
                env->peer_status (env->arg, peer), job->name, job->rid);
        return;
    }
    if (ans->ok) {
        sc_step (job, env, "claimed on %s", job->target);
        sc_step (job, env, "created (%" PRIu64 " ms), starting", ans->create_ms);
        sc_step (job, env, "%s (started in %" PRIu64 " ms)", ans->state ? ans->state : "running",
                 ans->start_ms);
        job->phase = SC_DONE;
        env->succeed (env->arg, job, ans->record, job->target, NULL);
        return;
    }
    const char *why = ans->why ? ans->why : "";
    size_t used = strlen (job->reasons);
    snprintf (job->reasons + used, sizeof job->reasons - used, "%s%s: %s", used ? "; " : "",
              job->target, why);
    if (ans->admitted) /* admitted, the driver failed: the next may work */
        sc_step (job, env, "%s failed: %s", job->target, why);
    else
        sc_step (job, env, "%s rejected: %s", job->target, why);
    s_claim_next (job, env);
}

void
sc_on_deadline (sc_job_t *job, const sc_env_t *env)
{
    if (sc_done (job))
        return;
    if (job->phase == SC_RESERVE) {
        s_release (job, env);
        s_fail (job, env, API_ERR_UNAVAILABLE,
                "create %s: name coordinator %s did not answer "
                "within %" PRIu64 " ms (membership: %s); nothing was created",
                job->name, job->coordinator, job->timeout_ms,
                env->peer_status (env->arg, job->coordinator));
    }
    else
        s_fail (job, env, API_ERR_UNAVAILABLE,
                "create %s: claim on %s did not answer within "
                "%" PRIu64 " ms (membership: %s): outcome unknown: check with `shedctl show %s` "
                "or retry with --request-id %s",
                job->name, job->target, job->timeout_ms, env->peer_status (env->arg, job->target),
                job->name, job->rid);
}

void
sc_on_peer_trouble (sc_job_t *job, const sc_env_t *env, const char *peer, bool failed)
{
    if (sc_done (job))
        return;
    if (job->phase == SC_RESERVE && strcmp (job->coordinator, peer) == 0) {
        /* A suspect coordinator is replaced at once; a failed one is also
         * never asked again by this create. */
        if (failed)
            s_skip (job, env, peer);
        s_reserve (job, env);
    }
    else if (failed && job->phase == SC_CLAIM && strcmp (job->target, peer) == 0)
        s_fail (job, env, API_ERR_UNAVAILABLE,
                "create %s: %s failed during the claim: outcome unknown: check with "
                "`shedctl show %s` or retry with --request-id %s",
                job->name, peer, job->name, job->rid);
}
