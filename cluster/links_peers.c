/*
 * links_peers.c - who the links actor talks to (docs/state.md,
 * "Anti-entropy"): every member is in the directory (PEER-ADD), but only a
 * bounded random subset holds a DEALER. Rounds, local pushes and rumor
 * re-pushes go to that subset; it is re-drawn as members come and go and
 * rotated one peer at a time so every member is sampled in turn.
 */
#include "cluster/links_internal.h"
#include "common/log.h"

#include <math.h>
#include <sodium.h>
#include <zmq.h>

#define S_COMP "links"

/* A DIGEST with `reply` set is answered at once by a live peer. If nothing
 * comes back on its DEALER for this long, the link is presumed stuck (a
 * refusal after a restart: the pool's monitor only watches the first
 * handshake) and redialled. */
#define S_REDIAL_AFTER_MS 3000
#define S_REDIAL_MAX_MS   30000

/* Inbound peers (linked to us) are remembered this long after their last
 * message: a peer sends us a DIGEST about every `subset` rounds. A stale
 * entry only costs a send the ROUTER drops (the peer rotated away). */
#define S_INBOUND_TTL_MS 120000
#define S_INBOUND_MAX    (4 * LINKS_SUBSET_MAX)

static void s_inbound_free (void **item);

/* ---- the subset ------------------------------------------------------------- */

size_t
links_subset_target (links_self_t *self)
{
    size_t n = zhashx_size (self->peers);
    size_t want = self->subset;
    if (!want)
        want = LINKS_SUBSET_BASE + (n > 1 ? (size_t) ceil (log2 ((double) n)) : 0);
    if (want > LINKS_SUBSET_MAX)
        want = LINKS_SUBSET_MAX;
    return want < n ? want : n;
}

size_t
links_linked (links_self_t *self)
{
    return peer_pool_size (self->pool);
}

/* A uniformly random directory member with linked == `linked` (and, if
 * `alive`, not down), other than `except`; NULL if none. */
static links_peer_t *
s_pick (links_self_t *self, bool linked, bool alive, const links_peer_t *except)
{
    links_peer_t *pick = NULL;
    uint32_t seen = 0;
    for (links_peer_t *p = (links_peer_t *) zhashx_first (self->peers); p;
         p = (links_peer_t *) zhashx_next (self->peers)) {
        if (p->linked != linked || p == except || (alive && p->down))
            continue;
        if (randombytes_uniform (++seen) == 0) /* reservoir of one */
            pick = p;
    }
    return pick;
}

static void
s_link (links_self_t *self, links_peer_t *peer)
{
    if (peer_pool_open (self->pool, peer->name, peer->endpoint, peer->key) != 0) {
        log_warn (S_COMP, "cannot link peer|peer=%s endpoint=%s", peer->name, peer->endpoint);
        return;
    }
    peer->linked = true;
    peer->awaiting_since = 0;
    peer->redial_backoff = S_REDIAL_AFTER_MS;
}

static void
s_unlink (links_self_t *self, links_peer_t *peer)
{
    if (peer->linked)
        peer_pool_close (self->pool, peer->name);
    peer->linked = false;
    peer->awaiting_since = 0;
}

/* Bring the subset to its target: drop extras, add random unlinked members
 * (alive ones first). */
static void
s_fill (links_self_t *self)
{
    size_t target = links_subset_target (self);
    while (links_linked (self) > target) {
        links_peer_t *p = s_pick (self, true, false, NULL);
        if (!p)
            break;
        s_unlink (self, p);
    }
    while (links_linked (self) < target) {
        links_peer_t *p = s_pick (self, false, true, NULL);
        if (!p)
            p = s_pick (self, false, false, NULL);
        if (!p)
            break;
        size_t before = links_linked (self);
        s_link (self, p);
        if (links_linked (self) == before)
            break; /* the pool refused: try at the next round */
    }
}

/* ---- the directory ------------------------------------------------------------ */

static void
s_peer_free (links_self_t *self, links_peer_t **peer_p)
{
    if (*peer_p) {
        s_unlink (self, *peer_p);
        zstr_free (&(*peer_p)->endpoint);
        free (*peer_p);
        *peer_p = NULL;
    }
}

int
links__peer_add (links_self_t *self, const char *name, const char *endpoint, const char *z85)
{
    uint8_t key[32];
    if (!name || !state_origin_valid (name) || streq (name, self->name) || !endpoint || !*endpoint
        || !z85 || strlen (z85) != 40 || !zmq_z85_decode (key, z85))
        return -1;
    links_peer_t *peer = (links_peer_t *) zhashx_lookup (self->peers, name);
    if (peer) {
        /* Re-added (a new address, key, or a restart): a linked peer gets a
         * fresh connection, as a restarted peer may have refused our
         * handshake on the old one before it learnt our key. */
        char *copy = strdup (endpoint);
        if (!copy)
            return -1;
        zstr_free (&peer->endpoint);
        peer->endpoint = copy;
        snprintf (peer->pubkey, sizeof peer->pubkey, "%s", z85);
        memcpy (peer->key, key, 32);
        peer->down = false;
        if (peer->linked) {
            s_unlink (self, peer);
            s_link (self, peer);
        }
        s_fill (self);
        return 0;
    }
    peer = (links_peer_t *) zmalloc (sizeof (links_peer_t));
    if (!peer)
        return -1;
    snprintf (peer->name, sizeof peer->name, "%s", name);
    snprintf (peer->pubkey, sizeof peer->pubkey, "%s", z85);
    memcpy (peer->key, key, 32);
    peer->endpoint = strdup (endpoint);
    if (!peer->endpoint) {
        free (peer);
        return -1;
    }
    peer->redial_backoff = S_REDIAL_AFTER_MS;
    zhashx_insert (self->peers, name, peer);
    size_t target = links_subset_target (self);
    if (links_linked (self) < target)
        s_link (self, peer);
    else if (randombytes_uniform ((uint32_t) zhashx_size (self->peers)) < target) {
        /* Full: take the newcomer with probability target/N in place of a
         * random member, so the subset stays a uniform sample and a new
         * node is linked to by ~target others at once (it then hears
         * pushes without waiting for rotation). */
        links_peer_t *out = s_pick (self, true, false, NULL);
        if (out)
            s_unlink (self, out);
        s_link (self, peer);
    }
    return 0;
}

int
links__peer_remove (links_self_t *self, const char *name)
{
    links_peer_t *peer = name ? (links_peer_t *) zhashx_lookup (self->peers, name) : NULL;
    if (!peer)
        return -1;
    zhashx_delete (self->peers, name); /* no destructor: we free it */
    s_peer_free (self, &peer);
    s_fill (self);
    return 0;
}

void
links_peer_status (links_self_t *self, const char *name, bool down)
{
    links_peer_t *peer = name ? (links_peer_t *) zhashx_lookup (self->peers, name) : NULL;
    if (!peer || peer->down == down)
        return;
    peer->down = down;
    if (down && peer->linked) {
        /* A link to a failed member carries nothing: swap it for a live
         * one if there is one, else keep it (it may come back). */
        links_peer_t *in = s_pick (self, false, true, NULL);
        if (in) {
            s_unlink (self, peer);
            s_link (self, in);
        }
    }
}

int
links_peers_init (links_self_t *self)
{
    self->peers = zhashx_new ();
    peer_pool_config_t pc = {
        .comp = S_COMP,
        .public_key = self->public_key,
        .secret_key = self->secret_key,
        .cap = LINKS_SUBSET_MAX,
        .sndhwm = LINKS_PEER_HWM,
        /* Queue nothing for a peer we are not connected to: anti-entropy
         * repairs what it missed, stale queued pushes would only waste. */
        .immediate = true,
        .poller = self->poller,
    };
    self->pool = peer_pool_new (&pc);
    self->inbound = zhashx_new ();
    if (self->inbound)
        zhashx_set_destructor (self->inbound, s_inbound_free);
    return self->peers && self->pool && self->inbound ? 0 : -1;
}

void
links_peers_destroy (links_self_t *self)
{
    if (self->peers) {
        for (links_peer_t *peer = (links_peer_t *) zhashx_first (self->peers); peer;
             peer = (links_peer_t *) zhashx_next (self->peers))
            s_peer_free (self, &peer);
        zhashx_destroy (&self->peers);
    }
    peer_pool_destroy (&self->pool);
    zhashx_destroy (&self->inbound);
}

/* ---- rounds, rotation ------------------------------------------------------------ */

void
links_round (links_self_t *self)
{
    s_fill (self); /* members gone, pool refusals: top up */
    links_peer_t *peer = s_pick (self, true, true, NULL);
    if (!peer)
        peer = s_pick (self, true, false, NULL);
    int64_t now = zclock_mono ();
    void *sock = peer ? peer_pool_sock (self->pool, peer->name) : NULL;
    if (sock) {
        links_dest_t dest = { sock, NULL };
        links_send_digest (self, &dest, true);
        if (!peer->awaiting_since)
            peer->awaiting_since = now;
    }
    /* Redial every linked peer that left a DIGEST unanswered for too long. */
    for (links_peer_t *p = (links_peer_t *) zhashx_first (self->peers); p;
         p = (links_peer_t *) zhashx_next (self->peers))
        if (p->linked && p->awaiting_since && now - p->awaiting_since >= p->redial_backoff) {
            peer_pool_redial (self->pool, p->name);
            p->awaiting_since = 0;
            p->redial_backoff =
                p->redial_backoff * 2 > S_REDIAL_MAX_MS ? S_REDIAL_MAX_MS : p->redial_backoff * 2;
        }
}

int64_t
links_rotate_due (links_self_t *self)
{
    int64_t now = zclock_mono ();
    if (!self->next_rotate)
        self->next_rotate = now + self->rotate_ms;
    if (now < self->next_rotate)
        return self->next_rotate;
    self->next_rotate = now + self->rotate_ms;
    if (zhashx_size (self->peers) <= links_subset_target (self))
        return self->next_rotate; /* everyone is linked already */
    links_peer_t *out = s_pick (self, true, false, NULL);
    links_peer_t *in = s_pick (self, false, true, NULL);
    if (out && in) {
        log_debug (S_COMP, "subset rotated|out=%s in=%s", out->name, in->name);
        s_unlink (self, out);
        s_link (self, in);
        self->c.rotations++;
    }
    return self->next_rotate;
}

/* ---- pushes and rumors --------------------------------------------------------- */

static void
s_inbound_free (void **item)
{
    links_inbound_t *in = (links_inbound_t *) *item;
    if (in) {
        zframe_destroy (&in->rid);
        free (in);
        *item = NULL;
    }
}

void
links_inbound_seen (links_self_t *self, const char *uid, zframe_t *rid)
{
    if (!uid || !rid)
        return;
    int64_t now = zclock_mono ();
    links_inbound_t *in = (links_inbound_t *) zhashx_lookup (self->inbound, uid);
    if (!in) {
        if (zhashx_size (self->inbound) >= S_INBOUND_MAX) {
            /* Full: forget the one silent longest. */
            const char *oldest = NULL;
            int64_t at = 0;
            for (links_inbound_t *i = (links_inbound_t *) zhashx_first (self->inbound); i;
                 i = (links_inbound_t *) zhashx_next (self->inbound))
                if (!oldest || i->seen < at) {
                    oldest = (const char *) zhashx_cursor (self->inbound);
                    at = i->seen;
                }
            char key[41];
            snprintf (key, sizeof key, "%s", oldest);
            zhashx_delete (self->inbound, key);
        }
        in = (links_inbound_t *) zmalloc (sizeof (links_inbound_t));
        if (!in)
            return;
        zhashx_insert (self->inbound, uid, in);
    }
    if (!in->rid || !zframe_eq (in->rid, rid)) {
        zframe_destroy (&in->rid);
        in->rid = zframe_dup (rid);
    }
    in->seen = now;
}

/* One frame to every linked peer but `skip`, and back over the ROUTER to
 * every inbound peer not also linked; returns how many took it. */
static uint64_t
s_to_subset (links_self_t *self, const uint8_t *buf, size_t len, const links_peer_t *skip,
             const char *skip_z85)
{
    uint64_t sent = 0;
    int64_t now = zclock_mono ();
    for (links_inbound_t *in = (links_inbound_t *) zhashx_first (self->inbound); in;
         in = (links_inbound_t *) zhashx_next (self->inbound)) {
        const char *z85 = (const char *) zhashx_cursor (self->inbound);
        if (now - in->seen > S_INBOUND_TTL_MS || (skip_z85 && streq (z85, skip_z85))
            || (skip && streq (z85, skip->pubkey)))
            continue;
        /* DENYed since (left or reaped): its open connection gets nothing. */
        if (!zap_allowed_z85 (self->zap, self->domain, z85))
            continue;
        bool linked = false;
        for (links_peer_t *p = (links_peer_t *) zhashx_first (self->peers); p && !linked;
             p = (links_peer_t *) zhashx_next (self->peers))
            linked = p->linked && streq (p->pubkey, z85);
        if (linked)
            continue; /* it gets the frame over our DEALER */
        zmsg_t *out = zmsg_new ();
        zmsg_addmem (out, zframe_data (in->rid), zframe_size (in->rid));
        zmsg_addmem (out, buf, len);
        if (zmsg_send (&out, self->router)) {
            zmsg_destroy (&out);
            self->c.send_drops++;
        }
        else
            sent++;
    }
    for (links_peer_t *p = (links_peer_t *) zhashx_first (self->peers); p;
         p = (links_peer_t *) zhashx_next (self->peers)) {
        if (!p->linked || p == skip)
            continue;
        void *sock = peer_pool_sock (self->pool, p->name);
        zframe_t *frame = sock ? zframe_new (buf, len) : NULL;
        if (!frame || zframe_send (&frame, sock, 0)) {
            zframe_destroy (&frame);
            self->c.send_drops++;
        }
        else
            sent++;
    }
    return sent;
}

void
links_push_all (links_self_t *self)
{
    state_msg_t msg;
    while (state_push (self->store, self->budget, &msg) == 1) {
        uint8_t *buf = NULL;
        size_t len = 0;
        int rc = wire_encode (&state_proto, &msg, &buf, &len);
        state_msg_free (&msg);
        if (rc)
            break;
        self->c.pushes_sent += s_to_subset (self, buf, len, NULL, NULL);
        free (buf);
    }
    state_msg_free (&msg);
}

void
links_rumor (links_self_t *self, const uint8_t *buf, size_t len, const char *from,
             const char *from_z85)
{
    const links_peer_t *skip = from ? (links_peer_t *) zhashx_lookup (self->peers, from) : NULL;
    if (!skip && from_z85)
        for (links_peer_t *p = (links_peer_t *) zhashx_first (self->peers); p && !skip;
             p = (links_peer_t *) zhashx_next (self->peers))
            if (streq (p->pubkey, from_z85))
                skip = p;
    self->c.rumors_sent += s_to_subset (self, buf, len, skip, from_z85);
}

/* ---- pool sockets ---------------------------------------------------------------- */

bool
links_pool_event (links_self_t *self, void *which)
{
    if (!self->pool)
        return false; /* start failed: nothing of ours is polled */
    const char *name = NULL;
    void *sock = NULL;
    peer_pool_event_t ev = peer_pool_event (self->pool, which, &name, &sock);
    if (ev == PEER_POOL_EV_NONE)
        return false;
    links_peer_t *peer = (links_peer_t *) zhashx_lookup (self->peers, name);
    if (ev == PEER_POOL_EV_READABLE) {
        zmsg_t *msg = zmsg_recv (sock);
        if (!msg || !peer) {
            zmsg_destroy (&msg);
            return true;
        }
        /* The link works: forget any suspicion and reset the backoff. */
        peer->awaiting_since = 0;
        peer->redial_backoff = S_REDIAL_AFTER_MS;
        if (zmsg_size (msg) != 1)
            self->c.malformed++;
        else {
            links_dest_t dest = { sock, NULL };
            links_handle_payload (self, zmsg_first (msg), &dest, peer->name);
        }
        zmsg_destroy (&msg);
    }
    else if (ev == PEER_POOL_EV_CONNECTED && peer && sock) {
        /* Pushes made while the link was down were dropped (IMMEDIATE):
         * ask for the difference now rather than at a later round. */
        links_dest_t dest = { sock, NULL };
        links_send_digest (self, &dest, true);
        if (!peer->awaiting_since)
            peer->awaiting_since = zclock_mono ();
    }
    else if (ev == PEER_POOL_EV_REFUSED)
        self->c.dial_refused++; /* most likely it has not learnt our key yet */
    return true;
}
