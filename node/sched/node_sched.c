/*
 * node_sched.c - see node_sched.h and docs/scheduling.md. The scheduler's
 * files and what each holds are listed in sched_int.h; this one has its
 * lifecycle, the membership and state listeners, the timers, the stats and
 * the node RPC wrappers other components call.
 *
 * Everything here runs on the daemon's zloop thread; driver calls do not
 * (the driver worker, node/drivers/driver_worker.h).
 */
#include "node/sched/sched_int.h"

#include "common/log.h"
#include "node/drivers/node_driver.h"

#include <inttypes.h>
#include <sodium.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

WIRE_DEFINE_PROTO (nsched, NSCHED_MESSAGES, NSCHED_VERSION_MIN, NSCHED_VERSION, NULL)

/* ---- membership -------------------------------------------------------------- */

static void
s_on_member (const char *kind, const gossip_update_t *m, const char *reason, void *arg)
{
    (void) reason;
    shed_sched_t *self = arg;
    if (strcmp (m->name, self->name) == 0)
        return;
    s_member_t *mem = (s_member_t *) zhashx_lookup (self->members, m->name);
    if (!mem) {
        mem = (s_member_t *) zmalloc (sizeof (s_member_t));
        assert (mem);
        sched__fmt (mem->name, sizeof mem->name, "%s", m->name);
        zhashx_insert (self->members, m->name, mem);
    }
    bool was_suspect = mem->suspect;
    if (!strcmp (kind, "join") || (!strcmp (kind, "update") && m->kind == SWIM_UPD_ALIVE)
        || !strcmp (kind, "suspect")) {
        mem->alive = true;
        mem->failed = false;
        mem->suspect = !strcmp (kind, "suspect");
    }
    else if (!strcmp (kind, "fail")) {
        mem->alive = false; /* keep the peer: it may come back */
        mem->suspect = false;
        mem->failed = true;
    }
    else if (!strcmp (kind, "leave") || !strcmp (kind, "reap")) {
        mem->alive = false;
        mem->suspect = false;
    }
    /* Creates and ops waiting on it must not wait out their deadline:
     * a suspect coordinator is replaced at once, a failed peer's pending
     * work is answered now (docs/scheduling.md, "Deadlines"). */
    if (mem->suspect && !was_suspect)
        sched__peer_trouble (self, m->name, false);
    else if (!mem->alive) {
        sched__peer_trouble (self, m->name, true);
        /* Other components' calls to it (log history, provisioning
         * relays) are told now too, not at their own timeout. */
        shed_nrpc_peer_failed (self->rpc, m->name);
    }
}

/* ---- state events: lost sheds, reservations fulfilled, duplicates ----------- */

static void
s_on_shed_change (const shed_record_t *rec, void *arg)
{
    shed_sched_t *self = arg;
    char key[2 * REC_NAME_MAX + 2];
    snprintf (key, sizeof key, "%s/%s", rec->origin, rec->key);
    if (streq (rec->event, "DELETED")) {
        zchunk_t *last = (zchunk_t *) zhashx_lookup (self->cache, key);
        /* The store drops a removed origin's records BEFORE it marks the
         * origin removed, so these DELETED events still say "unreachable".
         * An owner's own delete comes from an alive origin. Keep the last
         * record aside until the origin's status event tells which it was. */
        if (last && !streq (rec->status, "alive"))
            zhashx_update (self->gone, key, zchunk_dup (last));
        zhashx_delete (self->cache, key);
        return;
    }
    if (!streq (rec->event, "INSERTED") && !streq (rec->event, "UPDATED"))
        return;
    zhashx_update (self->cache, key, zchunk_new (rec->value, rec->len));
    zhashx_delete (self->lost, key);
    rec_msg_t m;
    if (wire_decode (&rec_proto, rec->value, rec->len, &m, NULL) != WIRE_OK)
        return;
    if (m.hdr.type == REC_SHED) {
        const rec_shed_t *r = &m.u.rec_shed;
        /* A reservation we granted is fulfilled once the shed exists for
         * good: not while `starting` (that claim may still fail and the
         * create move on to the next candidate). */
        s_resv_t *rv = (s_resv_t *) zhashx_lookup (self->resv, r->name);
        if (rv && streq (rv->rid, r->request_id) && !streq (r->state, "starting"))
            sched__resv_drop (self, r->name);
        if (!streq (rec->origin, self->name) && zhashx_lookup (self->orphans, r->name))
            sched__orphan_check (self, r->name);
        /* Someone else's shed with the name of one of ours: a duplicate
         * made across a partition. Say so once, loudly; delete nothing. */
        if (!streq (rec->origin, self->name)) {
            rec_msg_t own;
            if (sched__own_get (self, r->name, &own)) {
                names_shed_t a = { r->name,
                                   self->name,
                                   own.u.rec_shed.request_id,
                                   own.u.rec_shed.created_ms,
                                   false,
                                   own.u.rec_shed.moves };
                names_shed_t b = { r->name,       rec->origin, r->request_id,
                                   r->created_ms, false,       r->moves };
                if (sched__shed_moves (r) > own.u.rec_shed.moves) {
                    /* It moved there (this node was down, or the move's
                     * end here did not run): the moved shed wins and the
                     * copy left here goes (docs/snapshots.md, "Move"). */
                    log_warn (
                        S_COMP,
                        "stale copy of a moved shed|shed=%s here=%s moved_to=%s moves=%" PRIu64
                        " action=removed",
                        r->name, self->name, rec->origin, r->moves);
                    sched__moved_away (self, r->name, rec->origin);
                }
                else if (!zhashx_lookup (self->dup_warned, key)) {
                    zhashx_insert (self->dup_warned, key, strdup ("1"));
                    log_warn (S_COMP,
                              "duplicate shed name|shed=%s here=%s other=%s keeps_name=%s "
                              "action=\"rename or delete the duplicate\"",
                              r->name, self->name, rec->origin,
                              names_wins (&a, &b) ? self->name : rec->origin);
                }
                wire_msg_free (&rec_proto, &own);
            }
        }
    }
    wire_msg_free (&rec_proto, &m);
}

/* An origin changed status: removed (left, reaped) turns the records set
 * aside into lost sheds; alive again drops them (its records flow back). */
static void
s_on_origin (const shed_record_t *rec, void *arg)
{
    shed_sched_t *self = arg;
    bool removed = streq (rec->status, "removed");
    size_t plen = strlen (rec->origin);
    zlistx_t *keys = zlistx_new ();
    zlistx_set_destructor (keys, sched__free_fn);
    for (zchunk_t *c = (zchunk_t *) zhashx_first (self->gone); c;
         c = (zchunk_t *) zhashx_next (self->gone)) {
        const char *key = (const char *) zhashx_cursor (self->gone);
        if (strncmp (key, rec->origin, plen) == 0 && key[plen] == '/')
            zlistx_add_end (keys, strdup (key));
    }
    for (const char *key = (const char *) zlistx_first (keys); key;
         key = (const char *) zlistx_next (keys)) {
        if (removed) {
            zhashx_update (self->lost, key,
                           zchunk_dup ((zchunk_t *) zhashx_lookup (self->gone, key)));
            log_warn (S_COMP, "shed lost with its node|shed=%s node=%s", key + plen + 1,
                      rec->origin);
        }
        zhashx_delete (self->gone, key);
    }
    zlistx_destroy (&keys);
}

static int
s_on_timer (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop;
    (void) timer_id;
    shed_sched_t *self = arg;
    uint64_t now = sched__wall_ms ();
    sched__resv_expire (self, now);
    zlistx_t *expired = zlistx_new ();
    zlistx_set_destructor (expired, sched__free_fn);
    for (s_opdone_t *d = (s_opdone_t *) zhashx_first (self->ops); d;
         d = (s_opdone_t *) zhashx_next (self->ops))
        if (d->at_ms + S_OPS_TTL_MS <= now)
            zlistx_add_end (expired, strdup ((const char *) zhashx_cursor (self->ops)));
    for (const char *rid = (const char *) zlistx_first (expired); rid;
         rid = (const char *) zlistx_next (expired))
        zhashx_delete (self->ops, rid);
    zlistx_destroy (&expired);
    return 0;
}

/* ---- node RPC for other components (node_rpc.h underneath) -------------------- */

static const char *s_builtin[] = { "reserve", "release", "claim", "op" };

static bool
s_builtin_method (const char *method)
{
    for (size_t i = 0; i < sizeof s_builtin / sizeof s_builtin[0]; i++)
        if (streq (method, s_builtin[i]))
            return true;
    return false;
}

/* The registry hands node_rpc's handle; other components know ours. */
typedef struct {
    shed_sched_t *sched;
    shed_sched_rpc_fn *fn;
    void *arg;
} s_ext_t;

static void
s_ext_request (shed_nrpc_t *rpc, const char *peer, uint64_t token, const uint8_t *body, size_t len,
               void *arg)
{
    (void) rpc;
    s_ext_t *ext = (s_ext_t *) arg;
    ext->fn (ext->sched, peer, token, body, len, ext->arg);
}

int
shed_sched_rpc_on (shed_sched_t *self, const char *method, shed_sched_rpc_fn *fn, void *arg)
{
    assert (self);
    if (!method || s_builtin_method (method) || !fn)
        return -1;
    s_ext_t *ext = (s_ext_t *) zmalloc (sizeof (s_ext_t));
    ext->sched = self;
    ext->fn = fn;
    ext->arg = arg;
    if (shed_nrpc_on (self->rpc, method, s_ext_request, ext) != 0) {
        free (ext);
        return -1;
    }
    zlistx_add_end (self->exts, ext);
    return 0;
}

void
shed_sched_rpc_reply (shed_sched_t *self, uint64_t token, int status, const char *error,
                      const uint8_t *body, size_t len)
{
    assert (self);
    shed_nrpc_reply (self->rpc, token, status, error, body, len);
}

int
shed_sched_rpc_call (shed_sched_t *self, const char *peer, const char *method, const uint8_t *body,
                     size_t len, int timeout_ms, shed_sched_rpc_cb *cb, void *arg)
{
    assert (self);
    return shed_nrpc_call (self->rpc, peer, method, body, len, timeout_ms, cb, arg);
}

int
shed_sched_owner (shed_sched_t *self, const char *name, char node[], size_t size)
{
    assert (self);
    s_sheds_t v;
    sched__sheds_load (self, &v, false);
    const s_shed_t *w = name ? sched__sheds_winner (&v, name) : NULL;
    if (w)
        snprintf (node, size, "%s", w->origin);
    sched__sheds_free (&v);
    return w ? 0 : -1;
}

void
shed_sched_stats (shed_sched_t *self, shed_sched_stats_t *out)
{
    assert (self);
    memset (out, 0, sizeof *out);
    const sched_capacity_t *c = &self->capacity;
    out->capacity = c->capacity;
    out->reserved = c->reserved;
    sched_admit_allocated (self->admit, &out->allocated);
    for (int r = 0; r < PLACE_RES_COUNT; r++) {
        /* The same arithmetic placement uses to decide what fits. */
        uint64_t cap = c->capacity.v[r], res = c->reserved.v[r];
        double ratio = c->overcommit[r] >= 1.0 ? c->overcommit[r] : 1.0;
        double eff = res >= cap ? 0 : (double) (cap - res) * ratio;
        out->effective.v[r] = ratio == 1.0 && res < cap ? cap - res
                              : eff >= 1.8e19           ? UINT64_MAX
                                                        : (uint64_t) eff;
    }
    out->admitted = sched_admit_count (self->admit);
    out->draining = self->draining;
    out->creates_running = self->jobs ? zhashx_size (self->jobs) : 0;
    out->creates_ok = self->creates_ok;
    out->creates_failed = self->creates_failed;
    out->claims_deferred = self->claims_deferred;
    s_sheds_t v;
    sched__sheds_load (self, &v, false);
    for (size_t i = 0; i < v.n; i++) {
        if (strcmp (v.items[i].origin, self->name))
            continue;
        const char *state = v.items[i].m.u.rec_shed.state;
        size_t k = 0;
        while (k < out->nstates && strcmp (out->states[k].state, state))
            k++;
        if (k == out->nstates) {
            if (k == SHED_SCHED_STATES_MAX)
                continue;
            snprintf (out->states[k].state, sizeof out->states[k].state, "%s", state);
            out->nstates++;
        }
        out->states[k].count++;
    }
    sched__sheds_free (&v);
    out->state_round_trips = shed_nstate_round_trips (self->state);
    if (self->worker) {
        out->driver_pending = driver_worker_pending (self->worker);
        driver_worker_counts (self->worker, NULL, &out->driver_timeouts, NULL);
    }
    out->driver_late = self->driver_late;
    char *rpc = self->rpc ? shed_nrpc_stats (self->rpc) : NULL;
    snprintf (out->rpc, sizeof out->rpc, "%s", rpc ? rpc : "");
    free (rpc);
    if (self->create_latency) {
        shed_hist_snapshot (self->create_latency, &out->create_latency);
        out->have_create_latency = true;
    }
    out->have_rpc_latency = self->rpc && shed_nrpc_latency (self->rpc, &out->rpc_latency) == 0;
}

size_t
shed_sched_peers (shed_sched_t *self, char names[][REC_NAME_MAX + 1], size_t max)
{
    assert (self);
    size_t n = 0;
    for (s_member_t *m = (s_member_t *) zhashx_first (self->members); m && n < max;
         m = (s_member_t *) zhashx_next (self->members))
        if (m->alive)
            snprintf (names[n++], REC_NAME_MAX + 1, "%s", m->name);
    return n;
}

static void
s_capacity (shed_sched_t *self)
{
    const shed_config_t *cfg = self->cfg;
    sched_capacity_t *c = &self->capacity;
    memset (c, 0, sizeof *c);
    long ncpu = sysconf (_SC_NPROCESSORS_ONLN);
    long pages = sysconf (_SC_PHYS_PAGES), psize = sysconf (_SC_PAGESIZE);
    c->capacity.v[PLACE_CPU] = (uint64_t) (ncpu > 0 ? ncpu : 1) * 1000;
    c->capacity.v[PLACE_MEMORY] = pages > 0 && psize > 0 ? (uint64_t) pages * (uint64_t) psize : 0;
    struct statvfs vfs;
    if (statvfs (cfg->data_dir, &vfs) == 0)
        c->capacity.v[PLACE_DISK] = (uint64_t) vfs.f_blocks * vfs.f_frsize;
    c->capacity.v[PLACE_GPU] = cfg->resources.gpus;
    if (cfg->resources.cpus[0])
        placement_cpus_parse (cfg->resources.cpus, &c->capacity.v[PLACE_CPU]);
    if (cfg->resources.memory[0])
        placement_size_parse (cfg->resources.memory, S_MIB, &c->capacity.v[PLACE_MEMORY]);
    if (cfg->resources.disk[0])
        placement_size_parse (cfg->resources.disk, S_MIB, &c->capacity.v[PLACE_DISK]);
    if (cfg->resources.reserved_cpus[0])
        placement_cpus_parse (cfg->resources.reserved_cpus, &c->reserved.v[PLACE_CPU]);
    if (cfg->resources.reserved_memory[0])
        placement_size_parse (cfg->resources.reserved_memory, S_MIB, &c->reserved.v[PLACE_MEMORY]);
    if (cfg->resources.reserved_disk[0])
        placement_size_parse (cfg->resources.reserved_disk, S_MIB, &c->reserved.v[PLACE_DISK]);
    c->overcommit[PLACE_CPU] = cfg->scheduler.overcommit_cpu;
    c->overcommit[PLACE_MEMORY] = cfg->scheduler.overcommit_memory;
    c->overcommit[PLACE_DISK] = cfg->scheduler.overcommit_disk;
    c->overcommit[PLACE_GPU] = 1.0;
}

static void
s_cache_one (const shed_record_t *rec, void *arg)
{
    shed_sched_t *self = arg;
    char key[2 * REC_NAME_MAX + 2];
    snprintf (key, sizeof key, "%s/%s", rec->origin, rec->key);
    zhashx_update (self->cache, key, zchunk_new (rec->value, rec->len));
}

static void
s_driver_open (shed_sched_t *self)
{
    self->driver = node_driver_open (self->cfg, self->driver_error, sizeof self->driver_error);
    if (!self->driver) {
        log_error (S_COMP, "no driver|err=\"%s\"", self->driver_error);
        return;
    }
    char err[256];
    self->worker =
        driver_worker_new (self->driver, self->loop, sched__on_driver, self, err, sizeof err);
    if (!self->worker) {
        snprintf (self->driver_error, sizeof self->driver_error, "%s", err);
        log_error (S_COMP, "no driver|err=\"%s\"", err);
        driver_destroy (&self->driver);
    }
}

/* ---- lifecycle ---------------------------------------------------------------- */

shed_sched_t *
shed_sched_new (const shed_config_t *cfg, shed_nrpc_t *rpc, shed_members_t *members,
                shed_nstate_t *state, shed_noderec_t *noderec, zloop_t *loop,
                shed_api_server_t *api, const shed_sched_hooks_t *hooks, char *err, size_t errlen)
{
    assert (cfg && rpc && state && noderec && loop && api);
    shed_sched_t *self = (shed_sched_t *) zmalloc (sizeof (shed_sched_t));
    self->cfg = cfg;
    snprintf (self->name, sizeof self->name, "%s", cfg->name);
    self->state = state;
    self->noderec = noderec;
    self->rpc = rpc;
    self->api = api;
    self->loop = loop;
    self->timer = -1;
    self->defer_timer = -1;
    self->create_latency = shed_hist_new (shed_hist_bounds_create, shed_hist_nbounds_create);
    self->deadline_timer = -1;
    self->deferred = zlistx_new ();
    if (hooks)
        self->hooks = *hooks;
    self->members = zhashx_new ();
    zhashx_set_destructor (self->members, sched__free_fn);
    self->jobs = zhashx_new ();
    self->over = zlistx_new ();
    zlistx_set_destructor (self->over, sched__create_free_fn);
    self->pending = zlistx_new ();
    self->busy = zhashx_new (); /* s_work_t *: owned by their driver jobs */
    self->exts = zlistx_new ();
    zlistx_set_destructor (self->exts, sched__free_fn);
    self->resv = zhashx_new ();
    zhashx_set_destructor (self->resv, sched__free_fn);
    self->cache = zhashx_new ();
    zhashx_set_destructor (self->cache, sched__chunk_free_fn);
    self->lost = zhashx_new ();
    zhashx_set_destructor (self->lost, sched__chunk_free_fn);
    self->gone = zhashx_new ();
    zhashx_set_destructor (self->gone, sched__chunk_free_fn);
    self->dup_warned = zhashx_new ();
    self->orphans = zhashx_new ();
    zhashx_set_destructor (self->dup_warned, sched__free_fn);
    self->ops = zhashx_new ();
    zhashx_set_destructor (self->ops, sched__free_fn);
    sched__jobs_init (self);
    for (size_t i = 0; i < sizeof s_builtin / sizeof s_builtin[0]; i++)
        if (shed_nrpc_on (rpc, s_builtin[i], sched__serve_rpc, self) != 0) {
            snprintf (err, errlen, "node rpc: method %s is taken", s_builtin[i]);
            shed_sched_destroy (&self);
            return NULL;
        }
    s_capacity (self);
    self->admit = sched_admit_new (&self->capacity);
    self->draining = sched__drain_load (self);
    sched_admit_set_draining (self->admit, self->draining);
    if (self->draining)
        log_info (S_COMP, "draining (recorded before the restart): no new sheds");
    self->placement = placement_new (randombytes_random () | 1);
    self->result = place_result_new ();
    self->view = sched_view_new (state);
    if (!self->placement || !self->result || !self->view) {
        snprintf (err, errlen, "scheduler: out of memory");
        shed_sched_destroy (&self);
        return NULL;
    }
    s_driver_open (self);

    /* Re-adopt our sheds: admission restored now, each reconciled with the
     * driver on the worker (the loop does not wait for the driver). */
    sched__readopt (self);
    sched__resv_load (self);
    shed_nstate_list (state, REC_KIND_SHED, s_cache_one, self);
    sched__publish_node (self);

    self->timer = zloop_timer (loop, 1000, 0, s_on_timer, self);
    self->deadline_timer = zloop_timer (loop, S_DEADLINE_POLL_MS, 0, sched__on_deadline, self);
    shed_nstate_on_change (state, REC_KIND_SHED, s_on_shed_change, self);
    shed_nstate_on_change (state, "$origin", s_on_origin, self);
    shed_members_on_event (members, s_on_member, self);
    sched__api_register (self);
    char cpu[32], mem[32];
    snprintf (cpu, sizeof cpu, "%.1f", self->capacity.capacity.v[PLACE_CPU] / 1000.0);
    placement_size_format (self->capacity.capacity.v[PLACE_MEMORY], mem, sizeof mem);
    log_info (S_COMP, "scheduler up|rpc=%s driver=%s cpus=%s memory=\"%s\" sheds=%zu",
              shed_nrpc_endpoint (rpc), self->driver ? driver_name (self->driver) : "none", cpu,
              mem, sched_admit_count (self->admit));
    return self;
}

void
shed_sched_destroy (shed_sched_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    shed_sched_t *self = *self_p;
    /* The worker first, while everything its results touch still exists:
     * queued driver calls are cancelled, the running one is waited for,
     * and every waiter is answered. Nothing is written to the state from
     * here on (after a signal the links actor may already be gone); the
     * next start reconciles our records with the driver. */
    self->closing = true;
    driver_worker_destroy (&self->worker);
    if (self->timer >= 0)
        zloop_timer_end (self->loop, self->timer);
    if (self->deadline_timer >= 0)
        zloop_timer_end (self->loop, self->deadline_timer);
    sched__deferred_flush (self);
    /* Held API calls get an answer before the sockets go. */
    for (s_create_t *c = (s_create_t *) (self->jobs ? zhashx_first (self->jobs) : NULL); c;
         c = (s_create_t *) zhashx_next (self->jobs))
        zlistx_add_end (self->over, c);
    zhashx_destroy (&self->jobs);
    zlistx_destroy (&self->over);
    /* Our calls still in flight: their callers hear now; node_rpc answers
     * them later (or at its own end) and finds them detached. */
    s_pending_t *p;
    while (self->pending && (p = (s_pending_t *) zlistx_detach (self->pending, NULL))) {
        if (p->type == P_CALL && p->call)
            shed_api_reply_error (&p->call, API_ERR_UNAVAILABLE, "node shutting down");
        p->sched = NULL;
        p->handle = NULL;
    }
    zlistx_destroy (&self->pending);
    zhashx_destroy (&self->busy);
    zlistx_destroy (&self->exts); /* node_rpc outlives us: other components'
                                       methods stay registered there, unused */
    driver_destroy (&self->driver);
    sched_admit_destroy (&self->admit);
    placement_destroy (&self->placement);
    place_result_destroy (&self->result);
    sched_view_destroy (&self->view);
    zhashx_destroy (&self->members);
    zhashx_destroy (&self->resv);
    zhashx_destroy (&self->cache);
    zhashx_destroy (&self->lost);
    zhashx_destroy (&self->gone);
    zhashx_destroy (&self->dup_warned);
    zhashx_destroy (&self->orphans);
    zhashx_destroy (&self->ops);
    shed_hist_destroy (&self->create_latency);
    free (self);
    *self_p = NULL;
}
