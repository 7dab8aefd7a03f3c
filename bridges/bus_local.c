/*
 * bus_local.c - this node's own events (docs/events.md, "Batches"): stamp
 * seq / tseq, gather the events of one (topic, kind) that arrive in one
 * turn of the loop into one EVENT_BATCH frame, and hand each frame to the
 * consumers and to the routing tree (bus_route_fanout).
 */
#include "bridges/bus_internal.h"

#include <errno.h>

/* Hand one encoded live frame (a single EVENT or an EVENT_BATCH of
 * `nevents`) to every consumer socket and link that wants it. With
 * `cache_it` (a single EVENT of a state-like topic) the frame also becomes
 * the last value of (us, topic). */
static void
s_emit (bus_actor_t *self, const char *topic, const uint8_t *buf, size_t flen, size_t nevents,
        bool cache_it, uint64_t tseq)
{
    bool wanted = bus_subs_match (&self->wanted, buf, flen);
    if (!wanted && !cache_it) {
        self->c.origin_skipped += nevents;
        return;
    }
    /* One copy of the frame, shared by reference between the sockets and
     * the cache (each zmq_send of a buffer would copy it again). */
    zmq_msg_t frame;
    if (zmq_msg_init_size (&frame, flen) != 0) {
        self->c.send_errors++;
        return;
    }
    memcpy (zmq_msg_data (&frame), buf, flen);
    if (wanted) {
        if (bus_route_fanout (self, NULL, &frame, nevents) > 0) {
            self->c.origin_sent += nevents;
            if (nevents > 1)
                self->c.batches_sent++;
        }
        else
            self->c.origin_skipped += nevents;
    }
    else
        self->c.origin_skipped += nevents;
    if (cache_it)
        bus_cache_put (self, self->name, self->boot, tseq, topic, NULL, &frame, NULL, 0);
    zmq_msg_close (&frame);
}
/* Encode one of our events as a single EVENT frame into self->buf. */
static long
s_encode_single (bus_actor_t *self, const char *topic, const char *kind, const event_item_t *it)
{
    event_msg_t msg;
    msg.hdr.version = EVENT_VERSION_SINGLE;
    msg.hdr.type = EVENT_EVENT;
    event_event_t *ev = &msg.u.event_event;
    /* Field by field: the struct is large (topic, payload view), and only
     * these bytes are read by the encoder. */
    memcpy (ev->origin, self->name, sizeof ev->origin);
    ev->boot = self->boot;
    ev->seq = it->seq;
    ev->tseq = it->tseq;
    ev->time_us = it->time_us;
    snprintf (ev->kind, sizeof ev->kind, "%s", kind);
    ev->payload = it->payload;
    ev->topic[0] = 0;
    return event_frame_encode (topic, &msg, self->buf, EVENT_FRAME_MAX);
}

/* Send one gathered batch (a plain EVENT if it holds one event) and put
 * it back on the spare list. */
static void
s_batch_flush (bus_actor_t *self, size_t idx)
{
    bus_batch_t *b = self->open[idx];
    memmove (&self->open[idx], &self->open[idx + 1], (self->nopen - idx - 1) * sizeof b);
    self->nopen--;
    if (b->tracked && b->tseq) {
        /* The topic's counter, advanced here once per batch. */
        if (b->counted)
            zhashx_update (self->tseqs, b->topic, (void *) (uintptr_t) b->tseq);
        else
            zhashx_insert (self->tseqs, b->topic, (void *) (uintptr_t) b->tseq);
    }
    bool state = event_topic_is_state (b->topic);
    if (b->n == 1) {
        long len = s_encode_single (self, b->topic, b->kind, &b->items[0]);
        if (len < 0)
            self->c.invalid++;
        else
            s_emit (self, b->topic, self->buf, (size_t) len, 1, state, b->items[0].tseq);
    }
    else if (b->n > 1) {
        event_msg_t msg;
        msg.hdr.version = 0;
        msg.hdr.type = EVENT_BATCH;
        event_batch_t *eb = &msg.u.event_batch;
        memcpy (eb->origin, self->name, sizeof eb->origin);
        eb->boot = self->boot;
        memcpy (eb->kind, b->kind, sizeof eb->kind);
        eb->items.n = b->n;
        eb->items.items = b->items;
        long len =
            event_batch_encode (b->topic, eb, self->batch_version, self->buf, EVENT_FRAME_MAX);
        if (len < 0)
            self->c.invalid += b->n;
        else {
            s_emit (self, b->topic, self->buf, (size_t) len, b->n, false, 0);
            if (state) {
                /* The last value is the batch's last event, kept (and
                 * served to late joiners) as a single EVENT frame. */
                const event_item_t *last = &b->items[b->n - 1];
                len = s_encode_single (self, b->topic, b->kind, last);
                if (len > 0)
                    bus_cache_put (self, self->name, self->boot, last->tseq, b->topic, NULL, NULL,
                                   self->buf, (size_t) len);
            }
        }
    }
    b->n = 0;
    b->used = 0;
    if (self->nspare < BUS_OPEN_MAX)
        self->spare[self->nspare++] = b;
    else {
        free (b->arena);
        free (b);
    }
}

/* Send everything gathered: at the end of each turn of the pipe (so an
 * event waits at most for the rest of what was already queued: no timer,
 * no added latency when the bus is idle), and before any snapshot goes out
 * on a consumer socket (so a snapshot never overtakes older live events). */
void
bus_batches_flush (bus_actor_t *self)
{
    while (self->nopen)
        s_batch_flush (self, 0);
}

void
bus_publish_one (bus_actor_t *self, const char *topic, const char *kind, const uint8_t *payload,
                 size_t size)
{
    if (!kind)
        kind = "";
    /* The batch of this topic, if one is being gathered: its topic was
     * checked when it opened, so a topic equal to it needs no new scan
     * (a flood is hundreds of events of one topic per turn). */
    size_t at = self->nopen;
    for (size_t i = 0; i < self->nopen; i++)
        if (streq (self->open[i]->topic, topic)) {
            at = i;
            break;
        }
    if ((at == self->nopen && !event_topic_valid (topic)) || strlen (kind) > EVENT_KIND_MAX
        || size > EVENT_PAYLOAD_MAX) {
        self->c.invalid++;
        return;
    }
    self->c.published++;
    /* A batch of the same topic under another kind goes first: per-topic
     * order (tseq) is what consumers check. */
    bus_batch_t *b = NULL;
    if (at < self->nopen) {
        if (streq (self->open[at]->kind, kind) && size <= EVENT_BATCH_ITEM_MAX)
            b = self->open[at];
        else
            s_batch_flush (self, at); /* also writes its tseq counter back */
    }
    event_item_t item;
    memset (&item, 0, sizeof item);
    item.seq = ++self->seq;
    item.time_us = self->now_us ? self->now_us : event_now_us ();
    item.payload.data = (uint8_t *) (uintptr_t) payload; /* encode only reads it */
    item.payload.len = size;
    if (b) {
        /* The counter is the batch's while it gathers: no table lookup. */
        if (b->tracked)
            item.tseq = ++b->tseq;
    }
    else {
        /* The per-topic counter lives in the table as an integer, not a
         * pointer: no allocation per topic beyond the key. Counters start
         * at 1 so a stored 0 (NULL) means "absent"; 0 = untracked (the
         * table is full). */
        uint64_t last = (uint64_t) (uintptr_t) zhashx_lookup (self->tseqs, topic);
        bool tracked = last || zhashx_size (self->tseqs) < EVENT_TOPICS_MAX;
        item.tseq = tracked ? last + 1 : 0;
        if (size > EVENT_BATCH_ITEM_MAX) {
            /* Big events travel alone, after what was gathered of their
             * topic (flushed above). */
            if (tracked) {
                if (last)
                    zhashx_update (self->tseqs, topic, (void *) (uintptr_t) item.tseq);
                else
                    zhashx_insert (self->tseqs, topic, (void *) (uintptr_t) item.tseq);
            }
            long len = s_encode_single (self, topic, kind, &item);
            if (len < 0) {
                self->c.invalid++;
                return;
            }
            s_emit (self, topic, self->buf, (size_t) len, 1, event_topic_is_state (topic),
                    item.tseq);
            return;
        }
    }
    if (b && (b->n == EVENT_BATCH_MAX || b->used + size > EVENT_BATCH_BYTES)) {
        for (size_t i = 0; i < self->nopen; i++)
            if (self->open[i] == b)
                s_batch_flush (self, i);
        b = NULL;
    }
    if (!b) {
        if (self->nopen == BUS_OPEN_MAX)
            s_batch_flush (self, 0);
        if (self->nspare)
            b = self->spare[--self->nspare];
        else {
            b = (bus_batch_t *) calloc (1, sizeof (bus_batch_t));
            if (b)
                b->arena = (uint8_t *) malloc (EVENT_BATCH_BYTES + EVENT_BATCH_ITEM_MAX);
            if (!b || !b->arena) {
                free (b);
                self->c.invalid++; /* out of memory: counted, never fatal */
                return;
            }
        }
        snprintf (b->topic, sizeof b->topic, "%s", topic);
        snprintf (b->kind, sizeof b->kind, "%s", kind);
        b->n = 0;
        b->used = 0;
        b->tracked = item.tseq != 0;
        b->counted = item.tseq > 1;
        b->tseq = item.tseq;
        self->open[self->nopen++] = b;
    }
    if (size)
        memcpy (b->arena + b->used, payload, size);
    item.payload.data = b->arena + b->used;
    b->used += size;
    b->items[b->n++] = item;
}

void
bus_batches_free (bus_actor_t *self)
{
    for (size_t i = 0; i < self->nopen; i++) {
        free (self->open[i]->arena);
        free (self->open[i]);
    }
    for (size_t i = 0; i < self->nspare; i++) {
        free (self->spare[i]->arena);
        free (self->spare[i]);
    }
    self->nopen = self->nspare = 0;
}
