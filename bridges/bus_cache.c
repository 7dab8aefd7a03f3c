/*
 * bus_cache.c - the bus's last-value cache of state-like topics and the
 * snapshots served from it (docs/events.md, "Last values and snapshots").
 *
 * The cache is shared by every origin and every shed: each owner (an
 * origin node and the shed its topic names, see s_cache_owner) may hold at
 * most S_OWNER_CACHE_MAX entries, and when the whole cache is full the
 * owner holding the most gives one up. A shed inventing topics only ever
 * evicts its own (docs/events.md, "Last values").
 */
#include "bridges/bus_internal.h"

#include <inttypes.h>

#define S_OWNER_CACHE_MAX 1024

void
bus_entry_destroy (void **item)
{
    bus_entry_t *e = (bus_entry_t *) *item;
    if (e) {
        zmq_msg_close (&e->msg);
        free (e);
        *item = NULL;
    }
}

static void
s_free_item (void **item)
{
    free (*item);
    *item = NULL;
}

/* Could a topic under `prefix` be state-like (and so cached)? */
bool
bus_prefix_touches_state (const uint8_t *p, size_t len)
{
    static const char *const states[] = { "metrics.", "shed.", "member.", "service." };
    for (size_t i = 0; i < sizeof states / sizeof states[0]; i++) {
        size_t sl = strlen (states[i]);
        size_t n = len < sl ? len : sl;
        if (memcmp (p, states[i], n) == 0)
            return true;
    }
    return false;
}

/* Whose budget an entry counts in: its origin and the shed its topic names
 * (the third dot-separated part: metrics.NODE.SHED, log.NODE.SHED.STREAM),
 * or the origin alone (member.NODE). */
static void
s_cache_owner (char *owner, size_t cap, const char *origin, const char *topic)
{
    const char *shed = strchr (topic, '.');
    shed = shed ? strchr (shed + 1, '.') : NULL;
    if (!shed) {
        snprintf (owner, cap, "%s\x1f", origin);
        return;
    }
    shed++;
    size_t n = strcspn (shed, ".");
    snprintf (owner, cap, "%s\x1f%.*s", origin, (int) n, shed);
}

static size_t
s_owner_count (bus_actor_t *self, const char *owner)
{
    return (size_t) (uintptr_t) zhashx_lookup (self->owners, owner);
}

static void
s_owner_add (bus_actor_t *self, const char *owner, int delta)
{
    size_t n = s_owner_count (self, owner);
    n = delta < 0 ? (n ? n - 1 : 0) : n + 1;
    if (n)
        zhashx_update (self->owners, owner, (void *) (uintptr_t) n);
    else
        zhashx_delete (self->owners, owner);
}

/* The cache is full: the owner holding the most entries gives one up,
 * unless that would be `asking` itself or one no larger than it (then
 * nobody is over their fair share and the new entry waits). 0 if room
 * was made. A scan, but only in the rare case. */
static int
s_cache_evict_largest (bus_actor_t *self, const char *asking)
{
    const char *largest = NULL;
    size_t most = 0;
    for (void *v = zhashx_first (self->owners); v; v = zhashx_next (self->owners)) {
        if ((size_t) (uintptr_t) v > most) {
            most = (size_t) (uintptr_t) v;
            largest = (const char *) zhashx_cursor (self->owners);
        }
    }
    if (!largest || strcmp (largest, asking) == 0 || most <= s_owner_count (self, asking) + 1)
        return -1;
    char owner[BUS_OWNER_KEY_MAX];
    snprintf (owner, sizeof owner, "%s", largest);
    for (bus_entry_t *e = (bus_entry_t *) zhashx_first (self->cache); e;
         e = (bus_entry_t *) zhashx_next (self->cache)) {
        if (strcmp (e->owner, owner) == 0) {
            char key[BUS_OWNER_KEY_MAX];
            snprintf (key, sizeof key, "%s", (const char *) zhashx_cursor (self->cache));
            zhashx_delete (self->cache, key);
            s_owner_add (self, owner, -1);
            self->c.cache_evicted++;
            return 0;
        }
    }
    return -1;
}

/* Keep a frame as the last value of (origin, topic) unless we hold a newer
 * one of the same boot. With `msg` the entry shares that ZeroMQ message
 * (a reference, no copy: the hot path of state topics); without, the bytes
 * at frame/len are copied. `via`: the link it came on, NULL if ours. */
void
bus_cache_put (bus_actor_t *self, const char *origin, uint64_t boot, uint64_t tseq,
               const char *topic, const char *via, zmq_msg_t *msg, const uint8_t *frame, size_t len)
{
    char key[BUS_OWNER_KEY_MAX];
    snprintf (key, sizeof key, "%s\x1f%s", origin, topic);
    bus_entry_t *e = (bus_entry_t *) zhashx_lookup (self->cache, key);
    if (e) {
        if (e->boot == boot && e->tseq >= tseq)
            return; /* we have this one or newer */
        zmq_msg_close (&e->msg);
    }
    else {
        char owner[BUS_OWNER_KEY_MAX];
        s_cache_owner (owner, sizeof owner, origin, topic);
        if (s_owner_count (self, owner) >= S_OWNER_CACHE_MAX
            || (zhashx_size (self->cache) >= EVENT_CACHE_MAX
                && s_cache_evict_largest (self, owner) != 0)) {
            self->c.cache_full++;
            return;
        }
        e = (bus_entry_t *) calloc (1, sizeof (bus_entry_t));
        if (!e) {
            self->c.cache_full++;
            return;
        }
        snprintf (e->origin, sizeof e->origin, "%s", origin);
        snprintf (e->owner, sizeof e->owner, "%s", owner);
        s_owner_add (self, owner, +1);
        e->local = via == NULL;
        zhashx_insert (self->cache, key, e);
    }
    snprintf (e->via, sizeof e->via, "%s", via ? via : "");
    e->boot = boot;
    e->tseq = tseq;
    zmq_msg_init (&e->msg);
    if (msg)
        zmq_msg_copy (&e->msg, msg);
    else if (zmq_msg_init_size (&e->msg, len) == 0)
        memcpy (zmq_msg_data (&e->msg), frame, len);
    e->frame = (const uint8_t *) zmq_msg_data (&e->msg);
    e->len = zmq_msg_size (&e->msg);
}

void
bus_cache_purge (bus_actor_t *self, const char *origin, uint64_t keep_boot, const uint8_t *prefix,
                 size_t prefix_len)
{
    zlistx_t *doomed = zlistx_new ();
    if (!doomed)
        return;
    zlistx_set_destructor (doomed, s_free_item);
    for (bus_entry_t *e = (bus_entry_t *) zhashx_first (self->cache); e;
         e = (bus_entry_t *) zhashx_next (self->cache)) {
        if (e->local)
            continue;
        if (origin && strcmp (e->origin, origin) != 0)
            continue;
        if (keep_boot && e->boot == keep_boot)
            continue;
        if (prefix) {
            if (e->len < prefix_len || memcmp (e->frame, prefix, prefix_len) != 0)
                continue;
            if (bus_subs_match (&self->wanted, e->frame, e->len))
                continue; /* another subscription still keeps it fresh */
        }
        char *key = strdup ((const char *) zhashx_cursor (self->cache));
        if (key)
            zlistx_add_end (doomed, key);
    }
    for (char *key = (char *) zlistx_first (doomed); key; key = (char *) zlistx_next (doomed)) {
        bus_entry_t *e = (bus_entry_t *) zhashx_lookup (self->cache, key);
        if (e)
            s_owner_add (self, e->owner, -1);
        zhashx_delete (self->cache, key);
    }
    zlistx_destroy (&doomed);
}

static int
s_sink (bus_actor_t *self, bus_xpub_t *xpub, bus_link_t *link, const uint8_t *frame, size_t len)
{
    if (link)
        return bus_link_send (self, link, frame, len);
    /* XPUB never blocks: a subscriber whose queue is full just misses the
     * frame (its consumer sees a tseq gap). */
    if (zmq_send (zsock_resolve (xpub->sock), frame, len, ZMQ_DONTWAIT) < 0) {
        self->c.send_errors++;
        return -1;
    }
    return 0;
}

void
bus_snapshot_serve (bus_actor_t *self, bus_xpub_t *xpub, bus_link_t *link, const char *nonce,
                    char prefixes[][BUS_SUB_MAX], size_t nprefixes, bool partial)
{
    char route[sizeof EVENT_SNAP_ROUTE + EVENT_NONCE_MAX];
    snprintf (route, sizeof route, "%s%s", EVENT_SNAP_ROUTE, nonce);
    /* A snapshot never overtakes older live events on the same pipe. */
    bus_batches_flush (self);
    uint64_t items = 0;
    for (bus_entry_t *e = (bus_entry_t *) zhashx_first (self->cache); e;
         e = (bus_entry_t *) zhashx_next (self->cache)) {
        if (link && streq (e->via, link->id))
            continue; /* split horizon: it knows its own side */
        bool match = false;
        for (size_t i = 0; i < nprefixes && !match; i++) {
            size_t pl = strlen (prefixes[i]);
            match = e->len >= pl && memcmp (e->frame, prefixes[i], pl) == 0;
        }
        if (!match)
            continue;
        event_msg_t msg;
        const char *topic;
        if (event_frame_decode (e->frame, e->len, &topic, &msg) != 0)
            continue; /* cannot happen: validated when cached */
        long len = event_frame_encode (route, &msg, self->buf, EVENT_FRAME_MAX);
        wire_msg_free (&event_proto, &msg);
        if (len > 0 && s_sink (self, xpub, link, self->buf, (size_t) len) == 0)
            items++;
    }
    event_msg_t end;
    memset (&end, 0, sizeof end);
    end.hdr.type = EVENT_SNAP_END;
    end.u.event_snap_end.items = items;
    end.u.event_snap_end.partial = partial;
    long len = event_frame_encode (route, &end, self->buf, EVENT_FRAME_MAX);
    if (len > 0)
        s_sink (self, xpub, link, self->buf, (size_t) len);
    self->c.snapshots_served++;
}

int
bus_snapreq_parse (const uint8_t *data, size_t len, char nonce[EVENT_NONCE_MAX + 1],
                   char prefixes[][BUS_SUB_MAX], size_t *nprefixes)
{
    size_t rl = strlen (BUS_SNAPREQ_ROUTE);
    const uint8_t *nul = memchr (data, 0, len);
    if (!nul || (size_t) (nul - data) <= rl || (size_t) (nul - data) - rl > EVENT_NONCE_MAX)
        return -1;
    memcpy (nonce, data + rl, (size_t) (nul - data) - rl);
    nonce[(nul - data) - rl] = 0;
    *nprefixes = 0;
    const uint8_t *p = nul + 1, *end = data + len;
    while (p < end) {
        const uint8_t *z = memchr (p, 0, (size_t) (end - p));
        if (!z || (size_t) (z - p) >= BUS_SUB_MAX || *nprefixes >= EVENT_PREFIXES_MAX)
            return -1;
        memcpy (prefixes[*nprefixes], p, (size_t) (z - p));
        prefixes[*nprefixes][z - p] = 0;
        (*nprefixes)++;
        p = z + 1;
    }
    return 0;
}
