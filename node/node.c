/* node.c - see node.h. */
#include "node/node.h"

#include "common/fileutil.h"
#include "common/log.h"
#include "common/version.h"
#include "crypto/identity.h"
#include "crypto/keyring.h"
#include "node/api/api_server.h"
#include "node/events/node_agents.h"
#include "node/catalog/node_catalog.h"
#include "node/events/node_events.h"
#include "node/events/node_hooks.h"
#include "node/images/node_images.h"
#include "node/snapshots/node_snaps.h"
#include "node/members/node_members.h"
#include "node/members/peer_dir.h"
#include "node/http/node_http.h"
#include "node/metrics/node_metrics.h"
#include "node/metrics/node_metrics_render.h"
#include "node/state/node_record.h"
#include "node/state/node_state.h"
#include "node/sched/node_rpc.h"
#include "node/overlay/node_overlay.h"
#include "node/sched/node_sched.h"
#include "cluster/records.h"
#include "cluster/zap.h"

#include <czmq.h>
#include <errno.h>
#include <sodium.h>
#include <string.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "node/node_int.h"

/* -------------------------------------------------------------------------
 * Start-up helpers
 */

/* The keyring file wins over --encrypt (as Serf does): once a node has a
 * keyring, rotation happens through `shedctl keys`, and a stale flag in a
 * unit file must not undo it. */
static shed_keyring_t *
s_keyring_open (shed_node_t *self, bool *created, char *err, size_t errlen)
{
    snprintf (self->keyring_path, sizeof self->keyring_path, "%s/%s", self->cfg.data_dir,
              SHED_KEYRING_FILE);
    char why[256] = "";
    errno = 0;
    shed_keyring_t *kr = shed_keyring_load (self->keyring_path, why, sizeof why);
    if (kr) {
        if (self->cfg.encrypt_key[0])
            log_warn ("node", "encrypt_key ignored: a keyring already exists|path=%s",
                      self->keyring_path);
        return kr;
    }
    if (errno != ENOENT) {
        snprintf (err, errlen, "%s", why);
        return NULL;
    }
    kr = shed_keyring_new ();
    uint8_t key[SHED_KEY_BYTES];
    if (self->cfg.encrypt_key[0]) {
        if (shed_key_from_text (self->cfg.encrypt_key, key) != 0) {
            snprintf (err, errlen, "encrypt_key: not a base64 32-byte key");
            shed_keyring_destroy (&kr);
            return NULL;
        }
        log_info ("node", "created keyring from encrypt_key|path=%s", self->keyring_path);
    }
    else {
        shed_keyring_generate (key);
        log_warn ("node",
                  "no cluster key given: generated a new one; other nodes need it to join "
                  "(shedctl keys list)|path=%s",
                  self->keyring_path);
    }
    shed_keyring_install (kr, key);
    sodium_memzero (key, sizeof key);
    /* The directory fsync that makes the rename durable is the caller's
     * (s_open_keys: one for the identity and the keyring). */
    if (shed_keyring_save_flags (kr, self->keyring_path, SHED_WRITE_NO_DIR_SYNC) != 0) {
        snprintf (err, errlen, "%s: %s", self->keyring_path, strerror (errno));
        shed_keyring_destroy (&kr);
        return NULL;
    }
    *created = true;
    return kr;
}

/* The identity and the keyring, created on a first start. Each file is
 * written to a temporary file, fsynced and renamed; the two renames are
 * made durable by one fsync of the data dir here, before membership starts:
 * a new identity must be on disk before it is announced (a node that came
 * back with another key under the same name would be refused as a
 * conflict), and a generated cluster key before anyone can join with it.
 * One directory fsync instead of one per file (docs/membership.md,
 * "Start-up before membership"). */
static int
s_open_keys (shed_node_t *self, char *err, size_t errlen)
{
    bool created = false;
    self->identity = shed_identity_load_or_create_flags (self->cfg.data_dir, SHED_WRITE_NO_DIR_SYNC,
                                                         &created, err, errlen);
    if (!self->identity)
        return -1;
    self->keyring = s_keyring_open (self, &created, err, errlen);
    sodium_memzero (self->cfg.encrypt_key, sizeof self->cfg.encrypt_key);
    if (!self->keyring)
        return -1;
    if (created && shed_fsync_dir (self->cfg.data_dir) != 0) {
        snprintf (err, errlen, "data_dir %s: fsync: %s", self->cfg.data_dir, strerror (errno));
        return -1;
    }
    return 0;
}

/* One node per data dir: two daemons sharing identity and records would
 * corrupt both, and the second would steal the first's API socket. */
static int
s_lock_data_dir (shed_node_t *self, char *err, size_t errlen)
{
    char path[PATH_MAX + 16];
    snprintf (path, sizeof path, "%s/node.lock", self->cfg.data_dir);
    self->lock_fd = open (path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (self->lock_fd < 0) {
        snprintf (err, errlen, "%s: %s", path, strerror (errno));
        return -1;
    }
    if (flock (self->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        char pid[32] = "?";
        ssize_t n = pread (self->lock_fd, pid, sizeof pid - 1, 0);
        pid[n > 0 ? n : 1] = '\0';
        pid[strcspn (pid, "\n")] = '\0';
        snprintf (err, errlen, "another shed-node (pid %s) is using data_dir %s", pid,
                  self->cfg.data_dir);
        return -1;
    }
    char text[32];
    int n = snprintf (text, sizeof text, "%d\n", (int) getpid ());
    if (ftruncate (self->lock_fd, 0) != 0 || pwrite (self->lock_fd, text, (size_t) n, 0) != n)
        log_warn ("node", "cannot record pid in lock file|path=%s", path);
    return 0;
}

/* Our tags as the wire carries them (at most SHED_CFG_TAGS_MAX). */
static size_t
s_wire_tags (shed_node_t *self, wire_tag_t *out)
{
    const shed_config_tag_t *tags;
    size_t n = shed_members_tags (self->members, &tags);
    for (size_t i = 0; i < n; i++) {
        snprintf (out[i].key, sizeof out[i].key, "%s", tags[i].key);
        snprintf (out[i].value, sizeof out[i].value, "%s", tags[i].value);
    }
    return n;
}

/* Our `node` record: what other nodes need to know about us beyond
 * membership (endpoints, version, tags; the scheduler adds capacity and
 * allocation). One owner keeps it whole (node/state/node_record.h); put at
 * every start so a record lost in a crash is restored. */
static int
s_publish_node_record (shed_node_t *self, char *err, size_t errlen)
{
    shed_noderec_set_identity (
        self->noderec, self->cfg.advertise_addr[0] ? self->cfg.advertise_addr : self->cfg.bind_addr,
        self->cfg.bind_port, shed_nstate_endpoint (self->state), SHED_VERSION_STRING,
        (uint64_t) zclock_time ());
    wire_tag_t tags[SHED_CFG_TAGS_MAX];
    shed_noderec_set_tags (self->noderec, tags, s_wire_tags (self, tags));
    return shed_noderec_publish (self->noderec, err, errlen);
}

/* Our tags changed (`shedctl tags set/unset`, node_members.c): placement
 * and `status` on every node read them from our node record. */
static void
s_on_tags (const shed_config_tag_t *tags, size_t ntags, void *arg)
{
    shed_node_t *self = arg;
    wire_tag_t wtags[SHED_CFG_TAGS_MAX];
    size_t n = ntags < SHED_CFG_TAGS_MAX ? ntags : SHED_CFG_TAGS_MAX;
    for (size_t i = 0; i < n; i++) {
        snprintf (wtags[i].key, sizeof wtags[i].key, "%s", tags[i].key);
        snprintf (wtags[i].value, sizeof wtags[i].value, "%s", tags[i].value);
    }
    shed_noderec_set_tags (self->noderec, wtags, n);
    char err[256] = "";
    if (shed_noderec_publish (self->noderec, err, sizeof err) != 0)
        log_error ("node", "cannot update the node record with new tags|err=\"%s\"", err);
}

/* -------------------------------------------------------------------------
 * API handlers
 */

static void
s_api_status (shed_api_call_t *call, const api_msg_t *req, void *arg)
{
    shed_node_t *self = arg;
    api_msg_t rep = { .hdr.type = API_STATUS_REP };
    api_status_rep_t *r = &rep.u.api_status_rep;
    snprintf (r->name, sizeof r->name, "%s", self->cfg.name);
    shed_key_to_text (shed_identity_x25519_public (self->identity), r->public_key);
    /* The Ed25519 identity key: Shed's GET /api/ssh-host-key shows it
     * (docs/api.md, "Shed compatibility"). */
    shed_key_to_text (shed_identity_ed25519_public (self->identity), r->sign_key);
    snprintf (r->version, sizeof r->version, "%s", SHED_VERSION_STRING);
    r->uptime_ms = (uint64_t) (zclock_mono () - self->started_ms);
    r->pid = (uint64_t) getpid ();
    snprintf (r->data_dir, sizeof r->data_dir, "%.*s", API_TEXT_MAX, self->cfg.data_dir);
    snprintf (r->gossip_addr, sizeof r->gossip_addr, "%s",
              self->cfg.advertise_addr[0] ? self->cfg.advertise_addr : self->cfg.bind_addr);
    r->gossip_port = self->cfg.bind_port;
    shed_members_counts (self->members, &r->members_alive, &r->members_total);
    /* The current tags (run-time changes included), not the config's. */
    wire_tag_t tags[SHED_CFG_TAGS_MAX];
    r->tags.n = s_wire_tags (self, tags);
    r->tags.items = tags;
    shed_api_reply (&call, &rep);
}

/* -------------------------------------------------------------------------
 * Scheduler hooks: the overlay gives sheds addresses, the agent host
 * listens on their agent sockets (node_sched.h).
 */

static int
s_hook_net_attach (void *arg, const char *shed, char *ip, char *mac, char *gw, int *prefix,
                   unsigned *mtu, char *err, size_t errlen)
{
    return shed_overlay_attach ((shed_overlay_t *) arg, shed, ip, mac, gw, prefix, mtu, err,
                                errlen);
}

static int
s_hook_net_attach_addr (void *arg, const char *shed, const char *want_ip, char *ip, char *mac,
                        char *gw, int *prefix, unsigned *mtu, char *err, size_t errlen)
{
    return shed_overlay_attach_addr ((shed_overlay_t *) arg, shed, want_ip, ip, mac, gw, prefix,
                                     mtu, err, errlen);
}

static void
s_hook_net_lend (void *arg, const char *shed)
{
    char err[256];
    if (shed_overlay_lend ((shed_overlay_t *) arg, shed, err, sizeof err) != 0)
        log_warn ("node", "cannot lend the address of a moved shed|shed=%s err=\"%s\"", shed, err);
}

static void
s_hook_net_detach (void *arg, const char *shed)
{
    char err[256];
    shed_overlay_detach ((shed_overlay_t *) arg, shed, err, sizeof err);
}

static const char *
s_hook_net_bridge (void *arg)
{
    return shed_overlay_bridge ((shed_overlay_t *) arg);
}

static int
s_hook_agent_add (void *arg, const char *shed, const char *socket_path, char *err, size_t errlen)
{
    return shed_agents_add ((shed_agents_t *) arg, shed, socket_path, err, errlen);
}

static void
s_hook_agent_remove (void *arg, const char *shed)
{
    shed_agents_remove ((shed_agents_t *) arg, shed);
}

/* -------------------------------------------------------------------------
 * Sheds reaching the node's services from inside: a shed's services are
 * published at its overlay address, and DNS answers on the gateway
 * (docs/dns.md, "The shed listener").
 */

static int
s_shed_address (void *arg, const char *shed, char *ip, size_t size)
{
    char text[SHED_OVERLAY_ADDR_MAX];
    if (shed_overlay_address ((shed_overlay_t *) arg, shed, text) != 0)
        return -1;
    snprintf (ip, size, "%s", text);
    return 0;
}

static void
s_on_gateway (const char *gateway, const char *bridge, void *arg)
{
    shed_dns_set_gateway ((shed_dns_t *) arg, gateway, bridge);
}

/* -------------------------------------------------------------------------
 * Metrics: rendered here, on the loop's thread, for the endpoint's HTTP
 * threads (node_metrics.h).
 */

static void
s_render_metrics (shed_prom_t *prom, void *arg)
{
    shed_node_t *self = arg;
    shed_metrics_sources_t src = {
        .node = self->cfg.name,
        .version = SHED_VERSION_STRING,
        .started_mono_ms = self->started_ms,
        .members = self->members,
        .state = self->state,
        .overlay = self->overlay,
        .catalog = self->catalog,
        .events = self->events,
        .agents = self->agents,
        .hooks = self->hooks,
        .snaps = self->snaps,
        .sched = self->sched,
        .http = self->http,
    };
    shed_metrics_render (prom, &src);
}

/* GET /health (docs/metrics.md): answering at all proves the loop (and
 * with it the API, on the same loop) runs; on top, the membership actor
 * must answer and list this node alive or suspect (not left, not failed:
 * a node that left or was declared failed is no member to send work to)
 * and the state actor must answer. Each is one round trip to an actor. */
static int
s_health (char *why, size_t whylen, void *arg)
{
    shed_node_t *self = arg;
    gossip_msg_t msg;
    if (shed_members_list (self->members, &msg) != 0) {
        snprintf (why, whylen, "unhealthy: the membership actor did not answer");
        return -1;
    }
    const gossip_members_t *m = &msg.u.gossip_members;
    int kind = -1;
    size_t alive = 0;
    for (size_t i = 0; i < m->members.n; i++) {
        if (m->members.items[i].kind == SWIM_UPD_ALIVE)
            alive++;
        if (strcmp (m->members.items[i].name, self->cfg.name) == 0)
            kind = (int) m->members.items[i].kind;
    }
    size_t total = m->members.n;
    wire_msg_free (&gossip_proto, &msg);
    if (kind != SWIM_UPD_ALIVE && kind != SWIM_UPD_SUSPECT) {
        snprintf (why, whylen, "unhealthy: %s %s", self->cfg.name,
                  kind < 0                ? "is missing from its own member list"
                  : kind == SWIM_UPD_DEAD ? "was declared failed"
                                          : "has left the cluster");
        return -1;
    }
    char *state = shed_nstate_stats (self->state);
    if (!state) {
        snprintf (why, whylen, "unhealthy: the state actor did not answer");
        return -1;
    }
    free (state);
    snprintf (why, whylen, "ok: %s is a member (%zu of %zu alive), state and API loop running",
              self->cfg.name, alive, total);
    return 0;
}

/* Started last, when every component it reads exists. The default address
 * may be taken (several nodes on one loopback, a benchmark): the node runs
 * on without the endpoint. An address the operator chose is a promise a
 * scrape config relies on: failing to keep it stops the start. */
static int
s_start_metrics (shed_node_t *self, char *err, size_t errlen)
{
    if (!self->cfg.metrics.enabled || !self->cfg.metrics.listen[0]) {
        log_info ("node", "metrics endpoint off");
        return 0;
    }
    char why[256];
    self->metrics = shed_metrics_new (self->cfg.metrics.listen, self->loop, s_render_metrics, self,
                                      0, why, sizeof why);
    if (self->metrics) {
        shed_metrics_set_health (self->metrics, s_health, self);
        log_info ("node", "metrics listening|addr=%s", shed_metrics_address (self->metrics));
        return 0;
    }
    if (self->cfg.metrics.explicit_listen) {
        snprintf (err, errlen, "%s", why);
        return -1;
    }
    log_warn ("node", "metrics endpoint not started, continuing without it|why=\"%s\"", why);
    return 0;
}

/* -------------------------------------------------------------------------
 * Event loop readers
 */

static int
s_on_api (zloop_t *loop, zsock_t *sock, void *arg)
{
    shed_node_t *self = arg;
    shed_api_server_handle (self->api);
    return 0;
}

/* -------------------------------------------------------------------------
 * Lifecycle
 */

shed_node_t *
shed_node_new (const shed_config_t *cfg, char *err, size_t errlen)
{
    shed_node_t *self = calloc (1, sizeof *self);
    if (!self) {
        snprintf (err, errlen, "out of memory");
        return NULL;
    }
    self->cfg = *cfg;
    self->started_ms = zclock_mono ();
    self->lock_fd = -1;
    self->hup_pipe[0] = self->hup_pipe[1] = -1;

    if (shed_mkdir_p (self->cfg.data_dir, 0700) != 0) {
        snprintf (err, errlen, "data_dir %s: %s", self->cfg.data_dir, strerror (errno));
        goto fail;
    }
    if (s_lock_data_dir (self, err, errlen) != 0)
        goto fail;
    if (s_open_keys (self, err, errlen) != 0)
        goto fail;

    self->api = shed_api_server_new (self->cfg.api_endpoint, err, errlen);
    if (!self->api)
        goto fail;
    shed_api_server_on (self->api, API_STATUS_REQ, s_api_status, self);

    self->loop = zloop_new ();
    zloop_reader (self->loop, shed_api_server_sock (self->api), s_on_api, self);

    /* The membership actor takes the keyring: from here on only it touches
     * the keys (cluster-wide key operations go through its pipe). */
    self->members = shed_members_new (&self->cfg, self->identity, &self->keyring,
                                      self->keyring_path, self->loop, self->api, err, errlen);
    if (!self->members)
        goto fail;
    /* Membership is up: the rest of start-up yields to other daemons'
     * membership (common/prio.h; docs/membership.md "Start-up priority"). */
    shed_prio_startup_begin (&self->prio, SHED_NODE_STARTUP_NICE);

    self->zap = zap_new ();
    if (!self->zap) {
        snprintf (err, errlen, "cannot start the ZAP handler");
        goto fail;
    }
    /* One membership listener for every peer-to-peer plane (links, bus,
     * RPC, overlay): endpoints and ZAP allow-lists follow it. */
    self->peers = peer_dir_new (self->cfg.name, self->zap, self->members, err, errlen);
    if (!self->peers)
        goto fail;
    self->state = shed_nstate_new (&self->cfg, self->identity, self->zap, self->peers, self->loop,
                                   self->api, err, errlen);
    if (!self->state)
        goto fail;
    self->noderec = shed_noderec_new (self->state, self->cfg.name);
    if (!self->noderec) {
        snprintf (err, errlen, "out of memory");
        goto fail;
    }
    if (s_publish_node_record (self, err, errlen) != 0)
        goto fail;
    shed_members_on_tags (self->members, s_on_tags, self);
    self->images = shed_images_new (&self->cfg, self->state, self->loop, self->api, err, errlen);
    if (!self->images)
        goto fail;
    if (self->cfg.network.enabled) {
        self->overlay = shed_overlay_new (&self->cfg, self->identity, self->peers, self->state,
                                          self->loop, self->api, err, errlen);
        if (!self->overlay)
            goto fail;
    }
    self->catalog = shed_catalog_new (&self->cfg, self->state, self->loop, self->api, err, errlen);
    if (!self->catalog)
        goto fail;
    self->events = shed_events_new (&self->cfg, self->identity, self->zap, self->members,
                                    self->peers, self->state, self->loop, self->api, err, errlen);
    if (!self->events)
        goto fail;
    self->agents = shed_agents_new (&self->cfg, self->events, self->catalog, self->loop, self->api,
                                    err, errlen);
    if (!self->agents)
        goto fail;
    if (self->overlay) {
        shed_agents_on_address (self->agents, s_shed_address, self->overlay);
        if (shed_catalog_dns (self->catalog))
            shed_overlay_on_gateway (self->overlay, s_on_gateway, shed_catalog_dns (self->catalog));
    }
    self->hooks =
        shed_hooks_new (&self->cfg, shed_events_endpoint (self->events), self->loop, err, errlen);
    if (!self->hooks)
        goto fail;
    shed_sched_hooks_t hooks = { 0 };
    if (self->overlay) {
        hooks.net_attach = s_hook_net_attach;
        hooks.net_detach = s_hook_net_detach;
        hooks.net_bridge = s_hook_net_bridge;
        hooks.net_attach_addr = s_hook_net_attach_addr;
        hooks.net_lend = s_hook_net_lend;
        hooks.net_arg = self->overlay;
    }
    hooks.agent_add = s_hook_agent_add;
    hooks.agent_remove = s_hook_agent_remove;
    hooks.agent_arg = self->agents;
    self->rpc =
        shed_nrpc_new (&self->cfg, self->identity, self->zap, self->peers, self->loop, err, errlen);
    if (!self->rpc)
        goto fail;
    self->snaps =
        shed_snaps_new (&self->cfg, self->state, self->rpc, self->loop, self->api, err, errlen);
    if (!self->snaps)
        goto fail;
    hooks.layer_fetch = shed_snaps_layer_fetch;
    hooks.layer_arg = self->snaps;
    self->sched = shed_sched_new (&self->cfg, self->rpc, self->members, self->state, self->noderec,
                                  self->loop, self->api, &hooks, err, errlen);
    if (!self->sched)
        goto fail;
    shed_snaps_set_sched (self->snaps, self->sched);
    shed_snaps_set_events (self->snaps, self->events);
    shed_sched_set_events (self->sched, self->events);
    if (shed_agents_route (self->agents, self->sched) != 0) {
        snprintf (err, errlen, "agents: cannot register the node RPC methods");
        goto fail;
    }
    /* The remote API calls the local API like shedctl: every handler is
     * registered by now. */
    self->http = shed_http_new (&self->cfg, self->api, err, errlen);
    if (!self->http)
        goto fail;
    self->tsync =
        shed_tsync_new (self->cfg.name, self->state, self->loop, shed_http_tokens (self->http));
    if (!self->tsync) {
        snprintf (err, errlen, "out of memory");
        goto fail;
    }
    if (self->cfg.http.listen[0])
        log_info ("node", "http api listening|addr=%s tls=%s", shed_http_address (self->http),
                  self->cfg.http.tls_cert[0] ? "yes" : "no");
    if (s_start_metrics (self, err, errlen) != 0)
        goto fail;

    int lifted = shed_prio_startup_end (&self->prio);
    if (lifted > 0)
        log_debug ("node", "start-up priority lifted|threads=%d", lifted);
    char pub[SHED_KEY_TEXT_MAX];
    shed_key_to_text (shed_identity_x25519_public (self->identity), pub);
    log_info ("node", "started|name=%s version=%s api=%s public_key=%s", self->cfg.name,
              SHED_VERSION_STRING, self->cfg.api_endpoint, pub);
    return self;

fail:
    shed_prio_startup_end (&self->prio);
    shed_node_destroy (&self);
    return NULL;
}

void
shed_node_destroy (shed_node_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    shed_node_t *self = *self_p;
    /* First: its HTTP threads wait on the loop's render socket, and a
     * render reads every component below. */
    shed_metrics_destroy (&self->metrics);
    shed_tsync_destroy (&self->tsync);
    shed_http_destroy (&self->http);
    if (self->agents)
        shed_agents_route (self->agents, NULL);
    /* Snapshots: fetches the scheduler waits on are answered before it
     * goes; the store after the node RPC, whose late answers land there. */
    shed_snaps_shutdown (self->snaps);
    shed_sched_destroy (&self->sched);
    shed_nrpc_destroy (&self->rpc);
    shed_snaps_destroy (&self->snaps);
    shed_images_destroy (&self->images);
    shed_hooks_destroy (&self->hooks);
    shed_agents_destroy (&self->agents);
    shed_events_destroy (&self->events);
    /* The overlay outlives the catalog: it must not call into the DNS
     * listeners the catalog takes down with it. */
    if (self->overlay)
        shed_overlay_on_gateway (self->overlay, NULL, NULL);
    shed_catalog_destroy (&self->catalog);
    shed_overlay_destroy (&self->overlay);
    shed_noderec_destroy (&self->noderec);
    shed_nstate_destroy (&self->state);
    peer_dir_destroy (&self->peers);
    shed_members_destroy (&self->members);
    zap_destroy (&self->zap);
    /* Only the node that bound the socket file removes it: a node that
     * failed to start because another holds the lock must not break that
     * one. Decided before the teardown below clears what it is known by
     * (the check used to test the loop after zloop_destroy had cleared it,
     * so a clean stop left the file behind). */
    bool remove_api =
        self->lock_fd >= 0 && self->api && strncmp (self->cfg.api_endpoint, "ipc://", 6) == 0;
    zloop_destroy (&self->loop);
    node__signals_stop (self);
    shed_api_server_destroy (&self->api);
    if (remove_api)
        unlink (self->cfg.api_endpoint + 6);
    if (self->lock_fd >= 0)
        close (self->lock_fd);
    shed_keyring_destroy (&self->keyring);
    shed_identity_destroy (&self->identity);
    sodium_memzero (self, sizeof *self);
    free (self);
    *self_p = NULL;
}
