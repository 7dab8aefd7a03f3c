/* node_record.c - see node_record.h. */
#include "node/state/node_record.h"

#include "bridges/event_msg.h"

#include <string.h>

struct _shed_noderec_t {
    shed_nstate_t *state; /* borrowed */
    rec_node_t rec;       /* tags.items points into `tags` */
    wire_tag_t tags[REC_TAGS_MAX];
};

shed_noderec_t *
shed_noderec_new (shed_nstate_t *state, const char *name)
{
    shed_noderec_t *self = (shed_noderec_t *) calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->state = state;
    snprintf (self->rec.name, sizeof self->rec.name, "%s", name);
    self->rec.tags.items = self->tags;
    /* A property of this build, not of the configuration: the batches our
     * bus reads; peers batch at version 3 only once every member says 3. */
    self->rec.event_version = EVENT_VERSION;
    return self;
}

void
shed_noderec_destroy (shed_noderec_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free (*self_p);
    *self_p = NULL;
}

void
shed_noderec_set_identity (shed_noderec_t *self, const char *addr, uint64_t gossip_port,
                           const char *links, const char *version, uint64_t started_ms)
{
    assert (self);
    rec_node_t *n = &self->rec;
    snprintf (n->addr, sizeof n->addr, "%.*s", (int) sizeof n->addr - 1, addr ? addr : "");
    n->gossip_port = gossip_port;
    snprintf (n->links, sizeof n->links, "%s", links ? links : "");
    snprintf (n->version, sizeof n->version, "%s", version ? version : "");
    n->started_ms = started_ms;
}

void
shed_noderec_set_tags (shed_noderec_t *self, const wire_tag_t *tags, size_t ntags)
{
    assert (self);
    if (ntags > REC_TAGS_MAX)
        ntags = REC_TAGS_MAX;
    for (size_t i = 0; i < ntags; i++)
        self->tags[i] = tags[i];
    self->rec.tags.n = ntags;
    self->rec.tags.items = self->tags;
}

void
shed_noderec_set_resources (shed_noderec_t *self, const rec_node_t *r)
{
    assert (self);
    rec_node_t *n = &self->rec;
    n->cpus = r->cpus;
    n->memory_mb = r->memory_mb;
    n->disk_mb = r->disk_mb;
    n->gpus = r->gpus;
    n->draining = r->draining;
    n->cpu_milli = r->cpu_milli;
    n->reserved_cpu_milli = r->reserved_cpu_milli;
    n->reserved_memory_mb = r->reserved_memory_mb;
    n->reserved_disk_mb = r->reserved_disk_mb;
    n->alloc_cpu_milli = r->alloc_cpu_milli;
    n->alloc_memory_mb = r->alloc_memory_mb;
    n->alloc_disk_mb = r->alloc_disk_mb;
    n->alloc_gpus = r->alloc_gpus;
    n->oc_cpu = r->oc_cpu;
    n->oc_memory = r->oc_memory;
    n->oc_disk = r->oc_disk;
    n->sheds = r->sheds;
}

const rec_node_t *
shed_noderec_get (const shed_noderec_t *self)
{
    assert (self);
    return &self->rec;
}

int
shed_noderec_publish (shed_noderec_t *self, char *err, size_t errlen)
{
    assert (self);
    rec_msg_t msg;
    memset (&msg, 0, sizeof msg);
    msg.hdr.type = REC_NODE;
    msg.u.rec_node = self->rec; /* tags borrowed from self for the encode */
    uint8_t *buf = NULL;
    size_t len = 0;
    int rc = wire_encode (&rec_proto, &msg, &buf, &len);
    if (rc != WIRE_OK) {
        snprintf (err, errlen, "node record: %s", wire_strerror (rc));
        return -1;
    }
    /* Deferred: every part of the record is put again at every start from
     * its own durable source (node_record.h), so it need not be on disk
     * before this returns; at start-up three puts (node, scheduler,
     * tags) cost one state.bin write instead of three. */
    rc = shed_nstate_put_deferred (self->state, REC_KIND_NODE, self->rec.name, buf, len, err,
                                   errlen);
    free (buf);
    return rc;
}

unsigned
shed_noderec_event_version (const uint8_t *value, size_t len)
{
    rec_msg_t msg;
    if (!value || wire_decode (&rec_proto, value, len, &msg, NULL) != WIRE_OK)
        return EVENT_VERSION_BATCH;
    uint64_t v = msg.hdr.type == REC_NODE ? msg.u.rec_node.event_version : 0;
    wire_msg_free (&rec_proto, &msg);
    return event_batch_version_read (v);
}
