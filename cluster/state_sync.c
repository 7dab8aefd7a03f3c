/*
 * state_sync.c - anti-entropy for the record store (docs/state.md): the
 * DIGEST we send, the DELTA and PUSH that answer digests and carry our own
 * writes, and applying a peer's DELTA or PUSH. Apart from state.c because
 * it is the replication protocol (spans, floors, budgets, trust), while
 * state.c is the store it reads and writes through state_internal.h.
 *
 * Signatures (docs/state.md, "Trust"): each record keeps its origin's
 * signature. Verification happens only for records that would change the
 * store (stale ones cost nothing), and a record that was not verified
 * never moves its origin's max: `held` marks an origin of which the
 * current message carried a deferred or refused record, so its span does
 * not claim versions we did not take.
 */
#include "cluster/state_internal.h"
#include "common/log.h"

#include <czmq.h>
#include <inttypes.h>
#include <sodium.h>

#define S_COMP "state"

void
state_msg_free (state_msg_t *msg)
{
    if (msg)
        wire_msg_free (&state_proto, msg);
}

int
state_digest (state_t *self, bool reply, state_msg_t *msg)
{
    assert (self);
    assert (msg);
    memset (msg, 0, sizeof *msg);
    msg->hdr.type = STATE_DIGEST;
    state_digest_t *d = &msg->u.state_digest;
    snprintf (d->from, sizeof d->from, "%s", self->self);
    d->reply = reply;
    size_t n;
    state_origin_t **arr = state__origins_sorted (self, &n);
    d->entries.items = (state_dig_t *) calloc (n ? n : 1, sizeof (state_dig_t));
    assert (d->entries.items);
    for (size_t i = 0; i < n && d->entries.n < STATE_DIGEST_MAX; i++) {
        if (arr[i]->status == STATE_REMOVED)
            continue;
        state_dig_t *e = &d->entries.items[d->entries.n++];
        snprintf (e->origin, sizeof e->origin, "%s", arr[i]->name);
        e->max = arr[i]->max;
    }
    free (arr);
    return 0;
}

/* Fill `recs` from the sorted `arr` within the byte budget. Returns the
 * number taken. `*used` counts bytes; the first record of a message always
 * goes so one big record cannot stall replication. */
static size_t
s_take (const state_origin_t *o, state_item_t **arr, size_t n, state_rec_t *out, size_t *nout,
        size_t cap, size_t budget, size_t *used)
{
    size_t taken = 0;
    for (size_t i = 0; i < n && *nout < cap; i++) {
        size_t sz = STATE_REC_OVERHEAD + strlen (o->name) + strlen (arr[i]->kind)
                    + strlen (arr[i]->key) + arr[i]->len;
        if (*nout > 0 && *used + sz > budget)
            break;
        state__to_wire (o, arr[i], &out[(*nout)++]);
        *used += sz;
        taken++;
    }
    return taken;
}

/* Bytes a span costs on the wire, generously. */
#define S_SPAN_OVERHEAD 40

int
state_delta (state_t *self, const state_digest_t *peer, size_t budget, state_msg_t *msg)
{
    assert (self);
    assert (peer);
    assert (msg);
    memset (msg, 0, sizeof *msg);
    if (budget == 0)
        budget = STATE_BUDGET_DEFAULT;
    msg->hdr.type = STATE_DELTA;
    state_delta_t *d = &msg->u.state_delta;
    snprintf (d->from, sizeof d->from, "%s", self->self);

    zhashx_t *peer_max = zhashx_new ();
    assert (peer_max);
    /* Keys point into the digest, which outlives the table. */
    zhashx_set_key_duplicator (peer_max, NULL);
    zhashx_set_key_destructor (peer_max, NULL);
    for (size_t i = 0; i < peer->entries.n; i++)
        zhashx_update (peer_max, peer->entries.items[i].origin,
                       (void *) &peer->entries.items[i].max);

    size_t n;
    state_origin_t **arr = state__origins_sorted (self, &n);
    d->spans.items = (state_span_t *) calloc (n ? n : 1, sizeof (state_span_t));
    d->recs.items = (state_rec_t *) calloc (STATE_RECS_MAX, sizeof (state_rec_t));
    assert (d->spans.items && d->recs.items);
    size_t used = 64; /* envelope, sender, list headers */

    for (size_t i = 0; i < n && d->spans.n < STATE_DIGEST_MAX; i++) {
        state_origin_t *o = arr[i];
        if (o->status == STATE_REMOVED || streq (o->name, peer->from))
            continue; /* the peer owns its own records */
        const uint64_t *pm = (const uint64_t *) zhashx_lookup (peer_max, o->name);
        uint64_t base = pm ? *pm : 0;
        if (o->top <= base && o->max <= base)
            continue; /* nothing above base: what the walk below would find */
        size_t nr;
        state_item_t **recs = state__recs_above (o, base, &nr);
        if (nr == 0 && o->max <= base) {
            free (recs);
            continue;
        }
        if (d->recs.n > 0 && used + S_SPAN_OVERHEAD + strlen (o->name) > budget) {
            free (recs);
            d->more = true;
            break;
        }
        used += S_SPAN_OVERHEAD + strlen (o->name);
        size_t taken =
            s_take (o, recs, nr, d->recs.items, &d->recs.n, STATE_RECS_MAX, budget, &used);
        state_span_t *sp = &d->spans.items[d->spans.n++];
        snprintf (sp->origin, sizeof sp->origin, "%s", o->name);
        sp->base = base;
        sp->floor = o->floor;
        bool cut = taken < nr;
        /* Complete: we hold everything through our max. Cut: through the
         * last record sent, but never claim beyond our own max (records
         * above it came by PUSH and may have gaps below them). */
        uint64_t upto = o->max;
        if (cut && taken > 0 && recs[taken - 1]->version < upto)
            upto = recs[taken - 1]->version;
        if (cut && taken == 0)
            upto = base;
        sp->upto = upto > base ? upto : base;
        free (recs);
        if (cut) {
            d->more = true;
            break;
        }
    }
    free (arr);
    zhashx_destroy (&peer_max);
    if (d->spans.n == 0) {
        state_msg_free (msg);
        msg->hdr.type = STATE_DELTA;
        return 0;
    }
    return 1;
}

int
state_push (state_t *self, size_t budget, state_msg_t *msg)
{
    assert (self);
    assert (msg);
    memset (msg, 0, sizeof *msg);
    if (budget == 0)
        budget = STATE_BUDGET_DEFAULT;
    msg->hdr.type = STATE_PUSH;
    state_push_t *p = &msg->u.state_push;
    snprintf (p->from, sizeof p->from, "%s", self->self);
    if (self->pushed >= self->used)
        return 0;
    size_t n;
    state_item_t **recs = state__recs_above (self->mine, self->pushed, &n);
    if (n == 0) {
        self->pushed = self->used; /* overwritten or purged in between */
        free (recs);
        return 0;
    }
    p->recs.items =
        (state_rec_t *) calloc (n < STATE_RECS_MAX ? n : STATE_RECS_MAX, sizeof (state_rec_t));
    assert (p->recs.items);
    size_t used = 64;
    size_t taken =
        s_take (self->mine, recs, n, p->recs.items, &p->recs.n, STATE_RECS_MAX, budget, &used);
    self->pushed = taken == n ? self->used : recs[taken - 1]->version;
    free (recs);
    return 1;
}

bool
state_push_pending (state_t *self)
{
    assert (self);
    return self->pushed < self->used;
}

/* What the records of one message did, for one log line per message. */
typedef struct {
    const char *from; /* the sender's name in the message */
    size_t refused, deferred;
    const state_rec_t *first_refused;
    const state_rec_t *first_deferred;
} s_verdicts_t;

/* 0: `w` is signed by its origin; -1: bad or missing signature; 1: the
 * origin's key is not known yet. */
static int
s_verify (state_t *self, const state_rec_t *w)
{
    uint8_t pk[32];
    if (self->keys (self->keys_arg, w->origin, pk) != 0)
        return 1;
    static const uint8_t zero[STATE_SIG_BYTES];
    if (memcmp (w->sig, zero, sizeof zero) == 0)
        return -1;
    uint8_t msg[STATE_SIGNED_LEN];
    state_rec_signed_msg (w->origin, w->kind, w->key, w->version, w->tomb, w->value.data,
                          w->value.len, msg);
    return crypto_sign_verify_detached (w->sig, msg, sizeof msg, pk) == 0 ? 0 : -1;
}

/* Apply one remote record. Returns 1 if it changed the store. */
static int
s_apply_rec (state_t *self, const state_rec_t *w, s_verdicts_t *v)
{
    if (streq (w->origin, self->self)) {
        self->stats.refused_self++;
        return 0;
    }
    state_origin_t *o = state__origin_require (self, w->origin);
    if (o->status == STATE_REMOVED) {
        self->stats.refused_removed++;
        return 0;
    }
    char *hkey = state__hkey (w->kind, w->key);
    state_item_t *old = (state_item_t *) zhashx_lookup (o->recs, hkey);
    free (hkey);
    int changed = 0;
    /* Stale records are not verified (they change nothing), so they must
     * not move max either: a forged one could claim a version we lack. */
    bool verified = !self->keys;
    int check = 0;
    if (old && old->version >= w->version)
        self->stats.stale++;
    else if (self->keys && (check = s_verify (self, w)) != 0) {
        o->held = true;
        if (check > 0) {
            self->stats.deferred++;
            if (!v->deferred++)
                v->first_deferred = w;
        }
        else {
            self->stats.refused_sig++;
            if (!v->refused++)
                v->first_refused = w;
        }
        return 0;
    }
    else if (!old && zhashx_size (o->recs) >= STATE_LOCAL_MAX) {
        /* The origin itself could not have written this many. */
        self->stats.refused_removed++;
    }
    else {
        verified = true;
        uint8_t *copy = NULL;
        if (w->value.len) {
            copy = (uint8_t *) malloc (w->value.len);
            assert (copy);
            memcpy (copy, w->value.data, w->value.len);
        }
        state__store (self, o, w->kind, w->key, copy, w->value.len, w->version, w->tomb,
                      self->keys ? w->sig : NULL);
        self->stats.applied++;
        changed = 1;
    }
    /* A record right above max extends the contiguous range. */
    if (verified && w->version == o->max + 1)
        o->max = w->version;
    return changed;
}

/* Before the records of a span: the floor rule. A sender that purged a
 * tombstone above our max cannot tell us about that delete, so records we
 * hold of that origin may be stale: drop them and pull from zero. */
static void
s_span_before (state_t *self, const state_span_t *sp)
{
    if (streq (sp->origin, self->self))
        return;
    state_origin_t *o = state__origin_require (self, sp->origin);
    if (o->status == STATE_REMOVED || sp->floor <= o->max)
        return;
    if (sp->floor > o->floor)
        o->floor = sp->floor; /* we now lack those tombstones too */
    if (sp->floor > o->reset_floor && zhashx_size (o->recs) > 0) {
        state__origin_clear (self, o);
        o->max = 0;
        o->reset_floor = sp->floor;
        self->stats.resets++;
    }
    else if (sp->floor > o->reset_floor)
        o->reset_floor = sp->floor;
}

/* After the records: advance max over the span if it starts where we are. */
static void
s_span_after (state_t *self, const state_span_t *sp)
{
    if (streq (sp->origin, self->self))
        return;
    state_origin_t *o = (state_origin_t *) zhashx_lookup (self->origins, sp->origin);
    if (!o || o->status == STATE_REMOVED)
        return;
    /* Records we did not take stay in the range the peer sends next time. */
    if (o->held)
        return;
    /* After a reset (max back to 0) a span based higher does not count. */
    if (sp->base <= o->max && sp->upto > o->max)
        o->max = sp->upto;
}

static void
s_clear_held (state_t *self)
{
    for (state_origin_t *o = (state_origin_t *) zhashx_first (self->origins); o;
         o = (state_origin_t *) zhashx_next (self->origins))
        o->held = false;
}

/* One line per message, naming the sender: a member that relays forged
 * records shows up in the log at once. Unknown keys are normal for a few
 * hundred ms after a join, so those are rate limited and not warnings. */
static void
s_log_verdicts (state_t *self, const s_verdicts_t *v)
{
    if (v->refused) {
        const state_rec_t *w = v->first_refused;
        log_warn (S_COMP,
                  "refused records with a bad signature|from=%s count=%zu origin=%s "
                  "kind=%s key=\"%s\" version=%" PRIu64,
                  v->from, v->refused, w->origin, w->kind, w->key, w->version);
    }
    if (v->deferred) {
        int64_t now = state__now (self);
        if (self->deferred_log_ms == 0 || now - self->deferred_log_ms >= 10000) {
            self->deferred_log_ms = now;
            log_info (S_COMP,
                      "records deferred: origin key not known yet|from=%s count=%zu "
                      "origin=%s",
                      v->from, v->deferred, v->first_deferred->origin);
        }
    }
}

int
state_apply (state_t *self, const state_msg_t *msg)
{
    assert (self);
    assert (msg);
    int changed = 0;
    s_verdicts_t v = { 0 };
    if (msg->hdr.type == STATE_DELTA) {
        const state_delta_t *d = &msg->u.state_delta;
        v.from = d->from;
        s_clear_held (self);
        for (size_t i = 0; i < d->spans.n; i++)
            s_span_before (self, &d->spans.items[i]);
        for (size_t i = 0; i < d->recs.n; i++)
            changed += s_apply_rec (self, &d->recs.items[i], &v);
        for (size_t i = 0; i < d->spans.n; i++)
            s_span_after (self, &d->spans.items[i]);
    }
    else if (msg->hdr.type == STATE_PUSH) {
        const state_push_t *p = &msg->u.state_push;
        v.from = p->from;
        for (size_t i = 0; i < p->recs.n; i++)
            changed += s_apply_rec (self, &p->recs.items[i], &v);
    }
    else {
        self->stats.bad_msgs++;
        return -STATE_ERR_MSG;
    }
    s_log_verdicts (self, &v);
    return changed;
}
