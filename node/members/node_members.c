/* node_members.c - see node_members.h. */
#include "node/members/node_members.h"

#include "cluster/membership.h"
#include "common/ipaddr.h"
#include "common/log.h"
#include "node/members/node_tags.h"
#include "node/netaddr.h"

#include <arpa/inet.h>
#include <sodium.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <string.h>

#define MEMBERS_LISTENERS_MAX     8
#define MEMBERS_TAG_LISTENERS_MAX 4

struct _shed_members_t {
    membership_t *members; /* the membership actor's facade */
    zsock_t *events;       /* SUB to the actor's event PUB */
    zloop_t *loop;         /* borrowed */
    /* The one join in progress: the actor answers it later, tagged "$JOIN",
     * so the loop keeps serving other calls meanwhile. */
    shed_api_call_t *join_call;
    char join_seeds[160]; /* what the user asked, for a late answer */
    int join_timer;       /* our own deadline, should the actor not answer */
    uint32_t join_timeout_ms;
    char name[SHED_NAME_MAX + 1];
    bool left;
    struct {
        shed_members_event_fn *fn;
        void *arg;
    } listeners[MEMBERS_LISTENERS_MAX];
    size_t nlisteners;
    /* Our tags: the configuration's (base), the run-time changes kept in
     * DATA_DIR/tags, and the two merged (what the actor gossips). */
    shed_config_tag_t base[SHED_CFG_TAGS_MAX];
    size_t nbase;
    shed_tag_changes_t changes;
    shed_config_tag_t tags[SHED_CFG_TAGS_MAX];
    size_t ntags;
    char tags_path[PATH_MAX + 16];
    struct {
        shed_members_tags_fn *fn;
        void *arg;
    } tag_listeners[MEMBERS_TAG_LISTENERS_MAX];
    size_t ntag_listeners;
};

/* -------------------------------------------------------------------------
 * Start-up
 */

/* The profile gives the defaults; explicit gossip.* keys override them. */
static void
s_swim_config (const shed_config_t *cfg, swim_config_t *sc)
{
    if (strcmp (cfg->profile, "wan") == 0)
        swim_config_wan (sc);
    else
        swim_config_lan (sc);
#define OVERRIDE(field, value)                                                                     \
    if (value)                                                                                     \
    sc->field = value
    OVERRIDE (probe_interval_ms, cfg->gossip.probe_interval_ms);
    OVERRIDE (probe_timeout_ms, cfg->gossip.probe_timeout_ms);
    OVERRIDE (indirect_checks, cfg->gossip.indirect_checks);
    OVERRIDE (gossip_interval_ms, cfg->gossip.gossip_interval_ms);
    OVERRIDE (gossip_nodes, cfg->gossip.gossip_nodes);
    OVERRIDE (retransmit_mult, cfg->gossip.retransmit_mult);
    OVERRIDE (pushpull_interval_ms, cfg->gossip.pushpull_interval_ms);
    if (cfg->gossip.reap_dead_s)
        sc->reap_dead_ms = (uint64_t) cfg->gossip.reap_dead_s * 1000;
    if (cfg->gossip.reap_left_s)
        sc->reap_left_ms = (uint64_t) cfg->gossip.reap_left_s * 1000;
    OVERRIDE (suspicion_mult, cfg->gossip.suspicion_mult);
    OVERRIDE (suspicion_max_mult, cfg->gossip.suspicion_max_mult);
#undef OVERRIDE
}

/* -------------------------------------------------------------------------
 * Talking to the actor, through its facade (cluster/membership.h).
 * Commands are synchronous: key operations and leave may take seconds; the
 * API waits. A join is the exception (docs/operations.md "Joining"): its
 * answer comes whenever the join ends, to s_join_answer, from whichever
 * membership_* call reads it first or from s_on_actor.
 */

int
shed_members_list (shed_members_t *self, gossip_msg_t *out)
{
    assert (self);
    memset (out, 0, sizeof *out);
    zframe_t *frame = membership_members (self->members);
    int rc = -1;
    if (frame
        && wire_decode (&gossip_proto, zframe_data (frame), zframe_size (frame), out, NULL)
               == WIRE_OK) {
        if (out->hdr.type == GOSSIP_MEMBERS)
            rc = 0;
        else
            wire_msg_free (&gossip_proto, out);
    }
    zframe_destroy (&frame);
    return rc;
}

void
shed_members_counts (shed_members_t *self, uint64_t *alive, uint64_t *total)
{
    *alive = *total = 0;
    gossip_msg_t msg;
    if (!self || shed_members_list (self, &msg) != 0)
        return;
    const gossip_members_t *m = &msg.u.gossip_members;
    *total = m->members.n;
    for (size_t i = 0; i < m->members.n; i++)
        if (m->members.items[i].kind == SWIM_UPD_ALIVE)
            (*alive)++;
    wire_msg_free (&gossip_proto, &msg);
}

char *
shed_members_stats (shed_members_t *self)
{
    assert (self);
    zmsg_t *reply = membership_stats (self->members);
    if (!reply)
        return NULL;
    /* Frames come as name, value, name, value... */
    char *text = strdup ("");
    while (text && zmsg_size (reply) >= 2) {
        char *name = zmsg_popstr (reply), *value = zmsg_popstr (reply);
        char *next = zsys_sprintf ("%s%s%s=%s", text, *text ? " " : "", name ? name : "?",
                                   value ? value : "0");
        free (text);
        text = next;
        zstr_free (&name);
        zstr_free (&value);
    }
    zmsg_destroy (&reply);
    return text;
}

void
shed_members_leave (shed_members_t *self)
{
    if (!self || self->left)
        return;
    membership_leave (self->members);
    self->left = true;
    log_info ("members", "left the cluster|name=%s", self->name);
}

/* -------------------------------------------------------------------------
 * API handlers
 */

static void
s_api_members (shed_api_call_t *call, const api_msg_t *req, void *arg)
{
    shed_members_t *self = arg;
    zframe_t *frame = membership_members (self->members);
    if (!frame) {
        shed_api_reply_error (&call, API_ERR_UNAVAILABLE, "membership actor did not answer");
        return;
    }
    api_msg_t rep = { .hdr.type = API_MEMBERS_REP };
    rep.u.api_members_rep.members.data = zframe_data (frame);
    rep.u.api_members_rep.members.len = zframe_size (frame);
    shed_api_reply (&call, &rep);
    zframe_destroy (&frame);
}

/* The join's answer: 0, or -1 and "join ADDR: reason; ...". */
static void
s_join_answer (int rc, const char *reason, void *arg)
{
    shed_members_t *self = arg;
    char why[API_TEXT_MAX];
    snprintf (why, sizeof why, "%s", reason);
    if (self->join_timer >= 0) {
        zloop_timer_end (self->loop, self->join_timer);
        self->join_timer = -1;
    }
    if (!self->join_call) {
        /* Ours timed out first (the actor was stuck): the log keeps it. */
        log_warn ("members", "join answered after our deadline|seeds=\"%s\" result=\"%s\"",
                  self->join_seeds, rc == 0 ? "joined" : why);
        return;
    }
    if (rc != 0) {
        log_warn ("members", "join failed|seeds=\"%s\" why=\"%s\"", self->join_seeds, why);
        shed_api_reply_error (&self->join_call, API_ERR_UNAVAILABLE, "%s", why);
        return;
    }
    log_info ("members", "joined|seeds=\"%s\"", self->join_seeds);
    api_msg_t rep = { .hdr.type = API_OK };
    snprintf (rep.u.api_ok.message, sizeof rep.u.api_ok.message, "joined");
    shed_api_reply (&self->join_call, &rep);
}

/* The actor pipe became readable between two handlers: only the join's
 * answer can be waiting (the facade reads every other reply). */
static int
s_on_actor (zloop_t *loop, zsock_t *sock, void *arg)
{
    shed_members_t *self = arg;
    if (membership_pipe_ready (self->members) > 0)
        log_warn ("members", "unexpected message from the membership actor dropped");
    return 0;
}

/* The actor answers by join_timeout_ms; this is the backstop so the call is
 * answered even if it does not. */
static int
s_on_join_deadline (zloop_t *loop, int timer_id, void *arg)
{
    shed_members_t *self = arg;
    self->join_timer = -1;
    if (self->join_call)
        shed_api_reply_error (&self->join_call, API_ERR_UNAVAILABLE,
                              "join %s: the membership actor did not answer in time",
                              self->join_seeds);
    return 0;
}

static void
s_api_join (shed_api_call_t *call, const api_msg_t *req, void *arg)
{
    shed_members_t *self = arg;
    const api_join_req_t *j = &req->u.api_join_req;
    if (self->join_call) {
        shed_api_reply_error (&call, API_ERR_UNAVAILABLE,
                              "another join is in progress (%s); try again when it ends",
                              self->join_seeds);
        return;
    }
    char (*addrs)[API_ADDR_MAX + 8] = calloc (j->seeds.n ? j->seeds.n : 1, sizeof *addrs);
    const char **argv = calloc (j->seeds.n ? j->seeds.n : 1, sizeof *argv);
    if (!addrs || !argv) {
        free (addrs);
        free (argv);
        shed_api_reply_error (&call, API_ERR_UNAVAILABLE, "out of memory");
        return;
    }
    char seeds[sizeof self->join_seeds] = "";
    size_t used = 0;
    for (size_t i = 0; i < j->seeds.n; i++) {
        char host[API_ADDR_MAX + 1];
        uint16_t port;
        if (shed_parse_hostport (j->seeds.items[i].addr, host, sizeof host, &port,
                                 SHED_DEFAULT_PORT)
            != 0) {
            free (addrs);
            free (argv);
            shed_api_reply_error (&call, API_ERR_INVALID,
                                  "bad seed address '%s' (HOST[:PORT] or [IPv6]:PORT)",
                                  j->seeds.items[i].addr);
            return;
        }
        shed_hostport_join (addrs[i], sizeof addrs[i], host, port);
        argv[i] = addrs[i];
        if (used < sizeof seeds) {
            int n = snprintf (seeds + used, sizeof seeds - used, "%s%s", i ? " " : "", addrs[i]);
            used += n > 0 ? (size_t) n : 0;
        }
    }
    int sent = membership_join_start (self->members, argv, j->seeds.n, s_join_answer, self);
    free (addrs);
    free (argv);
    if (sent != 0) {
        shed_api_reply_error (&call, API_ERR_UNAVAILABLE, "membership actor did not answer");
        return;
    }
    /* Answered from s_on_actor (or from any membership_* call that reads the
     * answer first), at the latest the actor's join_timeout_ms from now. */
    self->join_call = call;
    snprintf (self->join_seeds, sizeof self->join_seeds, "%s", seeds);
    self->join_timer =
        zloop_timer (self->loop, self->join_timeout_ms + 1000, 1, s_on_join_deadline, self);
}

static void
s_api_leave (shed_api_call_t *call, const api_msg_t *req, void *arg)
{
    shed_members_t *self = arg;
    shed_members_leave (self);
    api_msg_t rep = { .hdr.type = API_OK };
    snprintf (rep.u.api_ok.message, sizeof rep.u.api_ok.message,
              "%s left the cluster; stop the daemon or 'shedctl join' to come back", self->name);
    shed_api_reply (&call, &rep);
}

/* `shedctl force-leave NODE`: the local API is the only way in (a peer's
 * gossip cannot ask for it), and the actor refuses an alive member. */
static void
s_api_force_leave (shed_api_call_t *call, const api_msg_t *req, void *arg)
{
    shed_members_t *self = arg;
    const char *name = req->u.api_force_leave_req.name;
    char why[256] = "";
    if (membership_force_leave (self->members, name, why, sizeof why) != 0) {
        shed_api_reply_error (
            &call, strstr (why, "no member") ? API_ERR_NOT_FOUND : API_ERR_INVALID, "%s", why);
        return;
    }
    log_info ("members", "force-leave|member=%s", name);
    api_msg_t rep = { .hdr.type = API_OK };
    snprintf (rep.u.api_ok.message, sizeof rep.u.api_ok.message,
              "%s forced out: every node drops it within seconds", name);
    shed_api_reply (&call, &rep);
}

size_t
shed_members_tags (shed_members_t *self, const shed_config_tag_t **tags)
{
    assert (self);
    *tags = self->tags;
    return self->ntags;
}

void
shed_members_on_tags (shed_members_t *self, shed_members_tags_fn *fn, void *arg)
{
    assert (self);
    assert (self->ntag_listeners < MEMBERS_TAG_LISTENERS_MAX);
    self->tag_listeners[self->ntag_listeners].fn = fn;
    self->tag_listeners[self->ntag_listeners].arg = arg;
    self->ntag_listeners++;
}

/* Put the actor's tag `key` back as `tags` has it (present or absent);
 * best effort: the caller already reports the failure that led here. */
static void
s_tag_restore (shed_members_t *self, const char *key)
{
    char why[256];
    for (size_t i = 0; i < self->ntags; i++)
        if (strcmp (self->tags[i].key, key) == 0) {
            membership_tag_set (self->members, key, self->tags[i].value, why, sizeof why);
            return;
        }
    membership_tag_unset (self->members, key, why, sizeof why);
}

int
shed_members_set_base_tags (shed_members_t *self, const shed_config_tag_t *base, size_t nbase,
                            size_t *changed, char *err, size_t errlen)
{
    assert (self);
    *changed = 0;
    nbase = nbase < SHED_CFG_TAGS_MAX ? nbase : SHED_CFG_TAGS_MAX;
    shed_config_tag_t tags[SHED_CFG_TAGS_MAX];
    size_t ntags;
    if (shed_tags_merge (base, nbase, &self->changes, tags, &ntags, SHED_CFG_TAGS_MAX)) {
        snprintf (err, errlen, "with the run-time tag changes, more than %d tags",
                  SHED_CFG_TAGS_MAX);
        return -1;
    }
    char why[256];
    /* Gossip the difference: new or changed values, then removed keys. */
    for (size_t i = 0; i < ntags; i++) {
        bool same = false;
        for (size_t j = 0; j < self->ntags && !same; j++)
            same = !strcmp (tags[i].key, self->tags[j].key)
                   && !strcmp (tags[i].value, self->tags[j].value);
        if (same)
            continue;
        if (membership_tag_set (self->members, tags[i].key, tags[i].value, why, sizeof why)) {
            snprintf (err, errlen, "tag %s: %s", tags[i].key, why);
            return -1;
        }
        (*changed)++;
    }
    for (size_t j = 0; j < self->ntags; j++) {
        bool kept = false;
        for (size_t i = 0; i < ntags && !kept; i++)
            kept = !strcmp (tags[i].key, self->tags[j].key);
        if (kept)
            continue;
        membership_tag_unset (self->members, self->tags[j].key, why, sizeof why);
        (*changed)++;
    }
    memcpy (self->base, base, nbase * sizeof base[0]);
    self->nbase = nbase;
    memcpy (self->tags, tags, sizeof tags);
    self->ntags = ntags;
    if (*changed)
        for (size_t i = 0; i < self->ntag_listeners; i++)
            self->tag_listeners[i].fn (self->tags, self->ntags, self->tag_listeners[i].arg);
    return 0;
}

/* `tags set/unset`: gossip first (the actor checks sizes and counts), then
 * the file, so a restart keeps what the cluster was told; if the file
 * cannot be written the actor is put back and the caller told, rather than
 * running with tags the next start would lose. Then the listeners (node.c
 * re-puts our node record, which placement reads). */
static void
s_api_tags (shed_api_call_t *call, const api_msg_t *req, void *arg)
{
    shed_members_t *self = arg;
    const api_tags_req_t *t = &req->u.api_tags_req;
    if (!t->key[0]) {
        shed_api_reply_error (&call, API_ERR_INVALID, "empty tag key");
        return;
    }
    bool set = t->op == API_TAG_SET;
    shed_tag_changes_t changes = self->changes;
    if (shed_tag_changes_record (&changes, self->base, self->nbase, t->key, set ? t->value : NULL)
        != 0) {
        shed_api_reply_error (&call, API_ERR_INVALID, "tag too long or too many tags");
        return;
    }
    shed_config_tag_t tags[SHED_CFG_TAGS_MAX];
    size_t ntags;
    if (shed_tags_merge (self->base, self->nbase, &changes, tags, &ntags, SHED_CFG_TAGS_MAX)) {
        shed_api_reply_error (&call, API_ERR_INVALID, "more than %d tags", SHED_CFG_TAGS_MAX);
        return;
    }
    char why[PATH_MAX + 64];
    int rc = set ? membership_tag_set (self->members, t->key, t->value, why, sizeof why)
                 : membership_tag_unset (self->members, t->key, why, sizeof why);
    if (rc != 0) {
        shed_api_reply_error (&call, API_ERR_INVALID, "%s", why);
        return;
    }
    if (shed_tag_changes_save (&changes, self->tags_path, why, sizeof why) != 0) {
        s_tag_restore (self, t->key);
        log_error ("members", "cannot save tags, change undone|err=\"%s\"", why);
        shed_api_reply_error (&call, API_ERR_UNAVAILABLE, "tag not changed: %s", why);
        return;
    }
    self->changes = changes;
    memcpy (self->tags, tags, sizeof tags);
    self->ntags = ntags;
    log_info ("members", "tag %s|key=%s value=\"%s\" tags=%zu", set ? "set" : "unset", t->key,
              set ? t->value : "", ntags);
    for (size_t i = 0; i < self->ntag_listeners; i++)
        self->tag_listeners[i].fn (self->tags, self->ntags, self->tag_listeners[i].arg);
    api_msg_t rep = { .hdr.type = API_OK };
    shed_api_reply (&call, &rep);
}

/* Parse one per-node line: "<name> ok <keyids>" or "<name> error <reason>". */
static void
s_parse_keynode (const char *line, api_keynode_t *node)
{
    memset (node, 0, sizeof *node);
    const char *sp = strchr (line, ' ');
    size_t nlen = sp ? (size_t) (sp - line) : strlen (line);
    if (nlen >= sizeof node->name)
        nlen = sizeof node->name - 1;
    memcpy (node->name, line, nlen);
    if (!sp)
        return;
    const char *rest = sp + 1;
    if (strncmp (rest, "ok", 2) == 0) {
        node->ok = true;
        snprintf (node->keyids, sizeof node->keyids, "%s", rest[2] == ' ' ? rest + 3 : "");
    }
    else
        snprintf (node->error, sizeof node->error, "%s",
                  strncmp (rest, "error ", 6) == 0 ? rest + 6 : rest);
}

static void
s_api_keys (shed_api_call_t *call, const api_msg_t *req, void *arg)
{
    shed_members_t *self = arg;
    const api_keys_req_t *k = &req->u.api_keys_req;
    static const char *ops[] = { "LIST", "INSTALL", "USE", "REMOVE" };
    if (k->op != API_KEY_LIST) {
        uint8_t key[32];
        if (shed_key_from_text (k->key, key) != 0) {
            shed_api_reply_error (&call, API_ERR_INVALID,
                                  "not a base64 32-byte key (generate one with 'shedctl keygen')");
            return;
        }
        sodium_memzero (key, sizeof key);
    }
    zmsg_t *reply =
        membership_keys (self->members, ops[k->op], k->op == API_KEY_LIST ? NULL : k->key);
    char *status = reply ? zmsg_popstr (reply) : NULL;
    if (!status) {
        zmsg_destroy (&reply);
        shed_api_reply_error (&call, API_ERR_UNAVAILABLE, "membership actor did not answer");
        return;
    }
    size_t n = zmsg_size (reply);
    api_keynode_t *nodes = n ? calloc (n, sizeof *nodes) : NULL;
    size_t i = 0;
    char *line;
    while (nodes && i < n && (line = zmsg_popstr (reply))) {
        s_parse_keynode (line, &nodes[i++]);
        free (line);
    }
    api_msg_t rep = { .hdr.type = API_KEYS_REP };
    snprintf (rep.u.api_keys_rep.status, sizeof rep.u.api_keys_rep.status, "%s", status);
    rep.u.api_keys_rep.nodes.n = i;
    rep.u.api_keys_rep.nodes.items = nodes;
    shed_api_reply (&call, &rep);
    free (nodes);
    free (status);
    zmsg_destroy (&reply);
}

/* -------------------------------------------------------------------------
 * Events from the actor
 */

static int
s_on_event (zloop_t *loop, zsock_t *sock, void *arg)
{
    shed_members_t *self = arg;
    zmsg_t *msg = zmsg_recv (sock);
    if (!msg)
        return 0;
    char *kind = zmsg_popstr (msg);
    char *name = zmsg_popstr (msg);
    zframe_t *member = zmsg_pop (msg);
    char *reason = zmsg_popstr (msg);
    gossip_msg_t decoded;
    bool ok =
        kind && name && member
        && wire_decode (&gossip_proto, zframe_data (member), zframe_size (member), &decoded, NULL)
               == WIRE_OK
        && decoded.hdr.type == GOSSIP_MEMBERS && decoded.u.gossip_members.members.n == 1;
    if (ok) {
        const gossip_update_t *m = &decoded.u.gossip_members.members.items[0];
        shed_log_level_t level = strcmp (kind, "fail") == 0 || strcmp (kind, "refused") == 0
                                     ? SHED_LOG_WARN
                                     : SHED_LOG_INFO;
        shed_log (level, "members", "member %s|member=%s addr=%s:%u inc=%llu reason=\"%s\"", kind,
                  m->name, m->addr, (unsigned) m->port, (unsigned long long) m->inc,
                  reason ? reason : "");
        for (size_t i = 0; i < self->nlisteners; i++)
            self->listeners[i].fn (kind, m, reason ? reason : "", self->listeners[i].arg);
        wire_msg_free (&gossip_proto, &decoded);
    }
    else
        log_warn ("members", "undecodable membership event|kind=%s", kind ? kind : "?");
    free (kind);
    free (name);
    free (reason);
    zframe_destroy (&member);
    zmsg_destroy (&msg);
    return 0;
}

/* A listener added after the actor started has missed the events so far
 * (and the SUB socket may have connected after some were published), so it
 * is first told the current view as if it were news: "join" for alive and
 * suspect members, "fail" for failed ones. Listeners treat repeats as
 * harmless, so an event that also arrives live does no damage. */
void
shed_members_on_event (shed_members_t *self, shed_members_event_fn *fn, void *arg)
{
    assert (self);
    assert (self->nlisteners < MEMBERS_LISTENERS_MAX);
    self->listeners[self->nlisteners].fn = fn;
    self->listeners[self->nlisteners].arg = arg;
    self->nlisteners++;
    gossip_msg_t msg;
    if (shed_members_list (self, &msg) != 0)
        return;
    const gossip_members_t *m = &msg.u.gossip_members;
    for (size_t i = 0; i < m->members.n; i++) {
        const gossip_update_t *u = &m->members.items[i];
        if (u->kind == SWIM_UPD_ALIVE || u->kind == SWIM_UPD_SUSPECT)
            fn ("join", u, "", arg);
        else if (u->kind == SWIM_UPD_DEAD)
            fn ("fail", u, "", arg);
    }
    wire_msg_free (&gossip_proto, &msg);
}

/* -------------------------------------------------------------------------
 * Lifecycle
 */

/* Our tags at start: the configuration's, then DATA_DIR/tags over them
 * (run-time changes win, as with Serf's tags file). */
static int
s_tags_init (shed_members_t *self, const shed_config_t *cfg, char *err, size_t errlen)
{
    self->nbase = cfg->ntags < SHED_CFG_TAGS_MAX ? cfg->ntags : SHED_CFG_TAGS_MAX;
    memcpy (self->base, cfg->tags, self->nbase * sizeof self->base[0]);
    snprintf (self->tags_path, sizeof self->tags_path, "%s/%s", cfg->data_dir, SHED_TAGS_FILE);
    if (shed_tag_changes_load (&self->changes, self->tags_path, err, errlen) != 0)
        return -1;
    if (shed_tags_merge (self->base, self->nbase, &self->changes, self->tags, &self->ntags,
                         SHED_CFG_TAGS_MAX)
        != 0) {
        snprintf (err, errlen, "%s: with the config's tags, more than %d tags", self->tags_path,
                  SHED_CFG_TAGS_MAX);
        return -1;
    }
    if (self->changes.n)
        log_info ("members",
                  "run-time tag changes applied over the config|path=%s "
                  "changes=%zu tags=%zu",
                  self->tags_path, self->changes.n, self->ntags);
    return 0;
}

shed_members_t *
shed_members_new (const shed_config_t *cfg, const shed_identity_t *identity,
                  shed_keyring_t **keyring_p, const char *keyring_path, zloop_t *loop,
                  shed_api_server_t *api, char *err, size_t errlen)
{
    shed_members_t *self = calloc (1, sizeof *self);
    if (!self) {
        snprintf (err, errlen, "out of memory");
        shed_keyring_destroy (keyring_p);
        return NULL;
    }
    self->loop = loop;
    self->join_timer = -1;
    snprintf (self->name, sizeof self->name, "%s", cfg->name);
    if (s_tags_init (self, cfg, err, errlen) != 0) {
        shed_keyring_destroy (keyring_p);
        free (self);
        return NULL;
    }

    membership_config_t mc;
    membership_config_defaults (&mc);
    snprintf (mc.name, sizeof mc.name, "%s", cfg->name);
    snprintf (mc.bind_addr, sizeof mc.bind_addr, "%.*s", (int) sizeof mc.bind_addr - 1,
              cfg->bind_addr);
    if (cfg->advertise_addr[0])
        snprintf (mc.advertise_addr, sizeof mc.advertise_addr, "%.*s",
                  (int) sizeof mc.advertise_addr - 1, cfg->advertise_addr);
    else if (shed_netaddr_default (mc.advertise_addr, sizeof mc.advertise_addr, err, errlen) != 0) {
        /* main settles it first (shed_netaddr_resolve); this is for callers
         * that did not. */
        shed_keyring_destroy (keyring_p);
        free (self);
        return NULL;
    }
    mc.port = cfg->bind_port;
    memcpy (mc.identity, shed_identity_x25519_public (identity), SWIM_KEY_BYTES);
    memcpy (mc.sigkey, shed_identity_ed25519_public (identity), SWIM_KEY_BYTES);
    s_swim_config (cfg, &mc.swim);
    snprintf (mc.events_endpoint, sizeof mc.events_endpoint, "inproc://shed-members-%p",
              (void *) self);
    snprintf (mc.keyring_path, sizeof mc.keyring_path, "%s", keyring_path);
    for (size_t i = 0; i < cfg->njoin && i < MEMBERSHIP_SEEDS_MAX; i++)
        snprintf (mc.seeds[mc.nseeds++], sizeof mc.seeds[0], "%s", cfg->join[i]);
    mc.beacon = cfg->discover;

    /* Subscribe before the actor starts so no early event is lost. For
     * inproc, the PUB must bind first; the actor binds, so connect after. */
    self->members = membership_new (&mc, keyring_p, err, errlen);
    if (!self->members) {
        free (self);
        return NULL;
    }
    self->events = zsock_new_sub (membership_events_endpoint (self->members), "");
    if (!self->events) {
        snprintf (err, errlen, "cannot subscribe to membership events");
        shed_members_destroy (&self);
        return NULL;
    }
    zloop_reader (loop, self->events, s_on_event, self);
    self->join_timeout_ms = mc.join_timeout_ms;
    zloop_reader (loop, membership_pipe (self->members), s_on_actor, self);

    for (size_t i = 0; i < self->ntags; i++) {
        char why[256];
        if (membership_tag_set (self->members, self->tags[i].key, self->tags[i].value, why,
                                sizeof why)
            != 0) {
            snprintf (err, errlen, "tag '%s': %s", self->tags[i].key, why);
            shed_members_destroy (&self);
            return NULL;
        }
    }

    shed_api_server_on (api, API_MEMBERS_REQ, s_api_members, self);
    shed_api_server_on (api, API_JOIN_REQ, s_api_join, self);
    shed_api_server_on (api, API_LEAVE_REQ, s_api_leave, self);
    shed_api_server_on (api, API_FORCE_LEAVE_REQ, s_api_force_leave, self);
    shed_api_server_on (api, API_TAGS_REQ, s_api_tags, self);
    shed_api_server_on (api, API_KEYS_REQ, s_api_keys, self);
    log_info ("members", "membership started|addr=%s:%u seeds=%zu", mc.advertise_addr, mc.port,
              mc.nseeds);
    return self;
}

void
shed_members_destroy (shed_members_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    shed_members_t *self = *self_p;
    if (self->events && self->loop)
        zloop_reader_end (self->loop, self->events);
    if (self->members && self->loop)
        zloop_reader_end (self->loop, membership_pipe (self->members));
    if (self->join_timer >= 0 && self->loop)
        zloop_timer_end (self->loop, self->join_timer);
    if (self->join_call)
        shed_api_reply_error (&self->join_call, API_ERR_UNAVAILABLE,
                              "join %s: the node is stopping", self->join_seeds);
    zsock_destroy (&self->events);
    membership_destroy (&self->members);
    free (self);
    *self_p = NULL;
}
