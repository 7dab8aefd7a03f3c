/*
 * sim_cluster.c - N real membership cores on a simulated clock and network
 * (see sim_cluster.h). The state half lives in sim_ae.c.
 */
#include "bench/sim/sim_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_T0 1000000ull /* simulated clock start: far from 0 edge cases */

static uint64_t
s_xorshift (uint64_t *state)
{
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    return *state * 2685821657736338717ull;
}

static uint64_t
s_rng (sim_cluster_t *self)
{
    return s_xorshift (&self->rng);
}

uint64_t
sim_random (sim_cluster_t *self)
{
    return s_xorshift (&self->scen_rng);
}

void
sim_config_default (sim_config_t *cfg, uint32_t n, uint64_t seed)
{
    memset (cfg, 0, sizeof *cfg);
    cfg->n = n;
    cfg->seed = seed;
    swim_config_lan (&cfg->swim);
    /* A LAN: a switch or two, sub-ms to a few ms one way. */
    cfg->net.lat_min_ms = 1;
    cfg->net.lat_max_ms = 3;
    cfg->net.jitter_ms = 2;
    cfg->net.loss = 0;
    /* Seconds behind, like the Lifeguard paper's CPU-starved members (a lag
     * under the probe timeout would change nothing). */
    cfg->slow_lag_ms = 3000;
    cfg->ae_interval_ms = 1000;
}

sim_pkt_t *
sim__pkt (uint32_t from, const uint8_t *buf, size_t len)
{
    sim_pkt_t *p = (sim_pkt_t *) malloc (sizeof *p + len);
    if (!p)
        abort ();
    p->from = from;
    p->len = len;
    memcpy (p->buf, buf, len);
    return p;
}

void
sim__push (sim_cluster_t *self, uint64_t at, uint32_t kind, uint32_t node, uint64_t arg, void *ptr)
{
    sim_event_t ev = { .time = at, .kind = kind, .node = node, .arg = arg, .ptr = ptr };
    sim_heap_push (self->heap, &ev);
}

uint32_t
sim__id_of (const sim_cluster_t *self, const char *name)
{
    if (name[0] != 'n')
        return UINT32_MAX;
    char *end;
    unsigned long id = strtoul (name + 1, &end, 10);
    return *end == '\0' && id < self->cfg.n ? (uint32_t) id : UINT32_MAX;
}

/* ---- The environment each core sees ------------------------------------- */

static uint64_t
s_env_now (void *ctx)
{
    return ((sim_node_t *) ctx)->sim->now;
}

static uint32_t
s_env_random (void *ctx)
{
    return (uint32_t) (s_rng (((sim_node_t *) ctx)->sim) >> 32);
}

static uint32_t
s_port_to_id (sim_cluster_t *self, uint16_t port)
{
    uint32_t id = (uint32_t) port - SIM_PORT0;
    return port >= SIM_PORT0 && id < self->cfg.n ? id : UINT32_MAX;
}

static void
s_env_send (void *ctx, const char *addr, uint16_t port, const uint8_t *buf, size_t len)
{
    sim_node_t *node = (sim_node_t *) ctx;
    sim_cluster_t *self = node->sim;
    self->cnt.udp_packets++;
    self->cnt.udp_bytes += len;
    uint32_t to = s_port_to_id (self, port), delay;
    if (to != UINT32_MAX && sim_net_route (self->net, node->id, to, true, &delay))
        sim__push (self, self->now + delay, SIM_EV_DGRAM, to, 0, sim__pkt (node->id, buf, len));
}

static void
s_env_stream (void *ctx, const char *addr, uint16_t port, const uint8_t *buf, size_t len)
{
    sim_node_t *node = (sim_node_t *) ctx;
    sim_cluster_t *self = node->sim;
    self->cnt.stream_msgs++;
    self->cnt.stream_bytes += len;
    uint32_t to = s_port_to_id (self, port), delay;
    /* A TCP exchange takes a handshake before the request: one more round
     * trip than a datagram. */
    if (to != UINT32_MAX && sim_net_route (self->net, node->id, to, false, &delay))
        sim__push (self, self->now + 3 * delay, SIM_EV_STREAM, to, 0,
                   sim__pkt (node->id, buf, len));
}

static void
s_env_event (void *ctx, const swim_event_t *ev)
{
    sim_node_t *node = (sim_node_t *) ctx;
    sim_cluster_t *self = node->sim;
    uint32_t about = sim__id_of (self, ev->member->name);
    if (about == UINT32_MAX || about == node->id)
        return;
    switch (ev->kind) {
    case SWIM_EV_JOIN:
        node->members++;
        if (node->members >= (int32_t) self->cfg.n - 1 && node->join_done_at == UINT64_MAX)
            node->join_done_at = self->now;
        break;
    case SWIM_EV_FAIL:
    case SWIM_EV_LEAVE:
        node->members--;
        break;
    default:
        break;
    }
    if (ev->kind == SWIM_EV_SUSPECT)
        self->cnt.suspect_events++;
    if (ev->kind == SWIM_EV_FAIL) {
        self->cnt.fail_events++;
        sim_node_t *subject = &self->nodes[about];
        if (!subject->down) {
            self->cnt.false_fail_events++;
            if (!subject->slow)
                self->cnt.false_fail_healthy++;
            if (ev->member->incarnation + 1 > subject->fail_inc) {
                subject->fail_inc = ev->member->incarnation + 1;
                self->cnt.false_failed_members++;
                if (!subject->slow)
                    self->cnt.false_failed_healthy_members++;
            }
        }
    }
    if (self->watch_kind && about == self->watch_node && !self->watch_seen[node->id]) {
        bool hit = self->watch_kind == 1 ? ev->kind == SWIM_EV_FAIL
                                         : (ev->kind == SWIM_EV_UPDATE || ev->kind == SWIM_EV_JOIN)
                                               && ev->member->incarnation >= self->watch_inc;
        if (hit) {
            self->watch_seen[node->id] = 1;
            self->watch_count++;
            self->watch_last = self->now - self->watch_t0;
        }
    }
}

/* ---- Life cycle ---------------------------------------------------------- */

sim_cluster_t *
sim_cluster_new (const sim_config_t *cfg)
{
    if (cfg->n < 2 || cfg->n > 99999 || (uint64_t) SIM_PORT0 + cfg->n > 65535)
        return NULL;
    sim_cluster_t *self = (sim_cluster_t *) calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->cfg = *cfg;
    self->now = S_T0;
    self->rng = (cfg->seed * 0x9E3779B97F4A7C15ull) | 1;
    self->scen_rng = ((cfg->seed ^ 0x7363656eull) * 0xBF58476D1CE4E5B9ull) | 1;
    self->heap = sim_heap_new ();
    self->net = sim_net_new (cfg->n, &cfg->net, cfg->seed);
    self->nodes = (sim_node_t *) calloc (cfg->n, sizeof *self->nodes);
    self->watch_seen = (uint8_t *) calloc (cfg->n, 1);
    if (!self->net || !self->nodes || !self->watch_seen) {
        sim_cluster_destroy (&self);
        return NULL;
    }
    for (uint32_t i = 0; i < cfg->n; i++) {
        sim_node_t *node = &self->nodes[i];
        node->sim = self;
        node->id = i;
        node->wake_at = UINT64_MAX;
        node->join_done_at = UINT64_MAX;
        swim_config_t sc = cfg->swim;
        snprintf (sc.name, sizeof sc.name, "n%05u", i);
        snprintf (sc.addr, sizeof sc.addr, "198.18.0.1");
        sc.port = (uint16_t) (SIM_PORT0 + i);
        memset (sc.key, 0, sizeof sc.key);
        memcpy (sc.key, &i, sizeof i);
        sc.key[31] = 0x5a;
        swim_env_t env = { node, s_env_now, s_env_random, s_env_send, s_env_stream, s_env_event };
        node->swim = swim_new (&sc, &env);
        if (!node->swim) {
            sim_cluster_destroy (&self);
            return NULL;
        }
    }
    if (cfg->state && sim__ae_init (self) != 0) {
        sim_cluster_destroy (&self);
        return NULL;
    }
    for (uint32_t i = 0; i < cfg->n; i++) {
        sim_node_t *node = &self->nodes[i];
        node->wake_at = swim_next_deadline (node->swim);
        if (node->wake_at < self->now)
            node->wake_at = self->now;
        sim__push (self, node->wake_at, SIM_EV_WAKE, i, node->wake_gen, NULL);
    }
    return self;
}

static void
s_drop (sim_event_t *ev)
{
    free (ev->ptr);
}

void
sim_cluster_destroy (sim_cluster_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    sim_cluster_t *self = *self_p;
    sim_heap_destroy (&self->heap, s_drop);
    sim__ae_fini (self);
    if (self->nodes)
        for (uint32_t i = 0; i < self->cfg.n; i++)
            swim_destroy (&self->nodes[i].swim);
    free (self->nodes);
    free (self->watch_seen);
    sim_net_destroy (&self->net);
    free (self);
    *self_p = NULL;
}

uint64_t
sim_now (sim_cluster_t *self)
{
    return self->now;
}

uint32_t
sim_size (sim_cluster_t *self)
{
    return self->cfg.n;
}

sim_net_t *
sim_cluster_net (sim_cluster_t *self)
{
    return self->net;
}

swim_t *
sim_swim (sim_cluster_t *self, uint32_t node)
{
    return self->nodes[node].swim;
}

/* ---- The event loop -------------------------------------------------------- */

/* The core's next deadline. swim_next_deadline keeps its earliest
 * suspicion deadline rather than walking the suspects, so asking it on
 * every event is cheap. */
static uint64_t
s_deadline (sim_cluster_t *self, sim_node_t *node)
{
    (void) self;
    return swim_next_deadline (node->swim);
}

/* Re-arm a node's timer at deadline `d` (the core's next deadline, the
 * actor's poll timeout). An earlier armed WAKE becomes stale through the
 * generation. */
static void
s_arm (sim_cluster_t *self, sim_node_t *node, uint64_t d)
{
    if (d <= self->now)
        d = self->now + 1;
    if (d == node->wake_at)
        return;
    node->wake_at = d;
    node->wake_gen++;
    if (d != UINT64_MAX)
        sim__push (self, d, SIM_EV_WAKE, node->id, node->wake_gen, NULL);
}

static void
s_rearm (sim_cluster_t *self, sim_node_t *node)
{
    s_arm (self, node, s_deadline (self, node));
}

static void
s_dispatch (sim_cluster_t *self, sim_event_t *ev)
{
    sim_node_t *node = &self->nodes[ev->node];
    uint32_t kind = ev->kind & ~SIM_DEFERRED;
    if (node->down)
        return;
    if (kind == SIM_EV_WAKE && ev->arg != node->wake_gen)
        return;
    if (node->slow && kind != SIM_EV_WAKE && !(ev->kind & SIM_DEFERRED)) {
        /* A starved process gets to this input late, after what it already
         * had queued; its timers still fire (Lifeguard's case: the acks it
         * waits for sit in its queue while its probe times out). */
        uint64_t at = self->now + s_rng (self) % (self->cfg.slow_lag_ms + 1ull);
        if (at < node->busy_until)
            at = node->busy_until;
        node->busy_until = at;
        sim__push (self, at, ev->kind | SIM_DEFERRED, ev->node, ev->arg, ev->ptr);
        ev->ptr = NULL;
        return;
    }
    self->cnt.events++;
    sim_pkt_t *pkt = (sim_pkt_t *) ev->ptr;
    char addr[] = "198.18.0.1";
    switch (kind) {
    case SIM_EV_WAKE:
        node->wake_at = UINT64_MAX;
        break;
    case SIM_EV_DGRAM:
        swim_receive (node->swim, addr, (uint16_t) (SIM_PORT0 + pkt->from), pkt->buf, pkt->len);
        break;
    case SIM_EV_STREAM: {
        uint8_t *reply = NULL;
        size_t reply_len = 0;
        swim_receive_stream (node->swim, addr, (uint16_t) (SIM_PORT0 + pkt->from), pkt->buf,
                             pkt->len, &reply, &reply_len);
        uint32_t delay;
        if (reply) {
            self->cnt.stream_msgs++;
            self->cnt.stream_bytes += reply_len;
            if (sim_net_route (self->net, node->id, pkt->from, false, &delay))
                sim__push (self, self->now + delay, SIM_EV_STREAM_REPLY, pkt->from, 0,
                           sim__pkt (node->id, reply, reply_len));
            free (reply);
        }
        break;
    }
    case SIM_EV_STREAM_REPLY:
        swim_receive_stream (node->swim, addr, (uint16_t) (SIM_PORT0 + pkt->from), pkt->buf,
                             pkt->len, NULL, NULL);
        break;
    case SIM_EV_JOIN:
        swim_join (node->swim, addr, (uint16_t) (SIM_PORT0 + ev->arg));
        break;
    case SIM_EV_AE_TICK:
        sim__ae_tick (self, node);
        return;
    case SIM_EV_AE_MSG:
        sim__ae_receive (self, node, pkt);
        return;
    case SIM_EV_WRITE:
        sim_state_write (self, node->id, "shed", (uint32_t) ev->arg);
        return;
    default:
        return;
    }
    /* As the actor's loop: run what is due, then wait for the next deadline.
     * After an input, a tick with nothing due does nothing but walk the
     * members, so it is skipped unless the deadline has come; then the
     * deadline just asked is still the core's (nothing ran since), so it
     * is not asked twice (when swim_next_deadline still walked the
     * suspects, hundreds of them at 5,000 nodes, that walk per event
     * showed). */
    if (kind == SIM_EV_WAKE) {
        swim_tick (node->swim);
        s_rearm (self, node);
        return;
    }
    uint64_t d = s_deadline (self, node);
    if (d <= self->now) {
        swim_tick (node->swim);
        d = s_deadline (self, node);
    }
    s_arm (self, node, d);
}

void
sim_run_until (sim_cluster_t *self, uint64_t t)
{
    sim_event_t ev;
    while (sim_heap_peek_time (self->heap) <= t && sim_heap_pop (self->heap, &ev)) {
        if (ev.time > self->now)
            self->now = ev.time;
        s_dispatch (self, &ev);
        free (ev.ptr);
    }
    if (t > self->now)
        self->now = t;
}

void
sim_run_for (sim_cluster_t *self, uint64_t ms)
{
    sim_run_until (self, self->now + ms);
}

/* ---- Membership helpers ----------------------------------------------------- */

void
sim_join_all (sim_cluster_t *self, uint32_t seed, uint32_t spread_ms)
{
    self->join_t0 = self->now;
    for (uint32_t i = 0; i < self->cfg.n; i++) {
        self->nodes[i].join_done_at = UINT64_MAX;
        if (i == seed)
            continue;
        uint64_t at = self->now + 1 + (spread_ms ? sim_random (self) % spread_ms : 0);
        sim__push (self, at, SIM_EV_JOIN, i, seed, NULL);
    }
}

int
sim_join_warm (sim_cluster_t *self, uint32_t seed)
{
    /* Every join request reaches the seed through the real swim_join and
     * stream, all at once; the seed's answers are partial (it is still
     * learning), so then the seed's full list goes to every node as the
     * answer to its join: through swim_receive_stream, a PUSH_PULL with
     * join and reply set, whose records a node does not re-gossip. */
    sim_join_all (self, seed, 0);
    sim_run_for (self, 20);
    uint8_t *buf = NULL, *out = NULL;
    size_t len = 0, out_len = 0;
    if (swim_members_encode (self->nodes[seed].swim, &buf, &len) != 0)
        return -1;
    gossip_msg_t list;
    int rc = wire_decode (&gossip_proto, buf, len, &list, NULL);
    free (buf);
    if (rc != WIRE_OK)
        return -1;
    gossip_msg_t msg;
    memset (&msg, 0, sizeof msg);
    msg.hdr.type = GOSSIP_PUSH_PULL;
    gossip_push_pull_t *pp = &msg.u.gossip_push_pull;
    pp->join = true;
    pp->reply = true;
    snprintf (pp->from, sizeof pp->from, "%s", swim_self (self->nodes[seed].swim)->name);
    pp->members.n = list.u.gossip_members.members.n;
    pp->members.items = list.u.gossip_members.members.items;
    rc = wire_encode (&gossip_proto, &msg, &out, &out_len);
    wire_msg_free (&gossip_proto, &list);
    if (rc != WIRE_OK)
        return -1;
    char addr[] = "198.18.0.1";
    for (uint32_t i = 0; i < self->cfg.n; i++) {
        sim_node_t *node = &self->nodes[i];
        if (i == seed || node->down)
            continue;
        swim_receive_stream (node->swim, addr, (uint16_t) (SIM_PORT0 + seed), out, out_len, NULL,
                             NULL);
        swim_tick (node->swim);
        s_rearm (self, node);
    }
    free (out);
    return 0;
}

uint32_t
sim_join_times (sim_cluster_t *self, uint64_t *max_ms)
{
    uint32_t done = 0;
    uint64_t worst = 0;
    for (uint32_t i = 0; i < self->cfg.n; i++) {
        uint64_t at = self->nodes[i].join_done_at;
        if (at == UINT64_MAX) {
            worst = UINT64_MAX;
            continue;
        }
        done++;
        if (worst != UINT64_MAX && at - self->join_t0 > worst)
            worst = at - self->join_t0;
    }
    *max_ms = worst;
    return done;
}

void
sim_state_write_all (sim_cluster_t *self, uint32_t count, uint32_t spread_ms)
{
    for (uint32_t i = 0; i < self->cfg.n; i++)
        sim__push (self, self->now + 1 + (spread_ms ? sim_random (self) % spread_ms : 0),
                   SIM_EV_WRITE, i, count, NULL);
}

void
sim_set_tag (sim_cluster_t *self, uint32_t node, const char *key, const char *value)
{
    sim_node_t *n = &self->nodes[node];
    if (n->down)
        return;
    swim_set_tag (n->swim, key, value);
    swim_tick (n->swim);
    s_rearm (self, n);
}

bool
sim_converged (sim_cluster_t *self)
{
    size_t live = self->cfg.n - self->ndown;
    for (uint32_t i = 0; i < self->cfg.n; i++) {
        sim_node_t *node = &self->nodes[i];
        if (node->down)
            continue;
        if (swim_count_state (node->swim, SWIM_ALIVE) != live
            || swim_count_state (node->swim, SWIM_SUSPECT) != 0)
            return false;
    }
    return true;
}

uint64_t
sim_run_until_converged (sim_cluster_t *self, uint64_t timeout_ms, uint32_t step_ms)
{
    uint64_t t0 = self->now;
    while (self->now - t0 < timeout_ms) {
        if (sim_converged (self))
            return self->now - t0;
        sim_run_for (self, step_ms);
    }
    return sim_converged (self) ? self->now - t0 : UINT64_MAX;
}

size_t
sim_broadcasts_pending (sim_cluster_t *self)
{
    size_t n = 0;
    for (uint32_t i = 0; i < self->cfg.n; i++)
        if (!self->nodes[i].down)
            n += swim_broadcasts_pending (self->nodes[i].swim);
    return n;
}

void
sim_kill (sim_cluster_t *self, uint32_t node)
{
    if (!self->nodes[node].down) {
        self->nodes[node].down = true;
        self->ndown++;
    }
}

bool
sim_is_down (sim_cluster_t *self, uint32_t node)
{
    return self->nodes[node].down;
}

void
sim_set_slow (sim_cluster_t *self, uint32_t node, bool slow)
{
    self->nodes[node].slow = slow;
}

bool
sim_is_slow (sim_cluster_t *self, uint32_t node)
{
    return self->nodes[node].slow;
}

/* ---- Watches and counters ------------------------------------------------------- */

static void
s_watch (sim_cluster_t *self, int kind, uint32_t node, uint64_t inc)
{
    memset (self->watch_seen, 0, self->cfg.n);
    self->watch_kind = kind;
    self->watch_node = node;
    self->watch_inc = inc;
    self->watch_t0 = self->now;
    self->watch_last = 0;
    self->watch_count = 0;
}

void
sim_watch_fail (sim_cluster_t *self, uint32_t node)
{
    s_watch (self, 1, node, 0);
}

void
sim_watch_update (sim_cluster_t *self, uint32_t node, uint64_t incarnation)
{
    s_watch (self, 2, node, incarnation);
}

uint32_t
sim_watch_done (sim_cluster_t *self, uint64_t *last_ms)
{
    if (last_ms)
        *last_ms = self->watch_last;
    return self->watch_count;
}

uint32_t
sim_watch_expected (sim_cluster_t *self)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < self->cfg.n; i++)
        if (!self->nodes[i].down && i != self->watch_node)
            n++;
    return n;
}

void
sim_counters (sim_cluster_t *self, sim_counters_t *out)
{
    *out = self->cnt;
    for (uint32_t i = 0; i < self->cfg.n; i++) {
        swim_stats_t st;
        swim_stats (self->nodes[i].swim, &st);
        out->repair_syncs += st.repair_syncs;
        out->pushpulls += st.pushpulls;
    }
}
