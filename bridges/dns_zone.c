/* dns_zone.c - see dns_zone.h.
 *
 * The builder appends; build() sorts once so lookups are binary searches
 * over contiguous arrays, and the server's hot path touches no allocator. */
#include "bridges/dns_zone.h"
#include "bridges/dns_msg.h"

#include <arpa/inet.h>
#include <assert.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define NODE_NAME_MAX 128 /* leaves room for ".node.<domain>" in 255 bytes */

typedef struct {
    char *service; /* lowercased */
    dns_zone_instance_t inst;
    size_t seq; /* insertion order, to keep sorting stable */
} s_entry_t;

typedef struct {
    dns_zone_host_t host;
    int family;
    uint8_t addr[16];
    size_t seq;
} s_host_entry_t;

struct _dns_zone_builder_t {
    s_entry_t *entries;
    size_t nentries, entries_cap;
    s_host_entry_t *hosts[2]; /* 0: nodes, 1: sheds */
    size_t nhosts[2], hosts_cap[2];
    size_t seq;
    uint32_t serial;
    bool serial_set;
};

struct _dns_zone_t {
    atomic_int refs;
    uint32_t serial;
    dns_zone_service_t *services;
    size_t nservices;
    dns_zone_instance_t *instances;
    size_t ninstances;
    dns_zone_host_t *hosts[2];
    size_t nhosts[2];
};

/* ---- Validation ----------------------------------------------------------- */

static bool
s_label_valid (const char *s, size_t len)
{
    if (len == 0 || len > DNS_MAX_LABEL)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-'
              || c == '_'))
            return false;
    }
    return true;
}

static bool
s_node_name_valid (const char *s)
{
    size_t n = strlen (s);
    if (n == 0 || n > NODE_NAME_MAX)
        return false;
    size_t start = 0;
    for (size_t i = 0; i <= n; i++)
        if (i == n || s[i] == '.') {
            if (!s_label_valid (s + start, i - start))
                return false;
            start = i + 1;
        }
    return true;
}

static char *
s_strdup_lower (const char *s, size_t len)
{
    char *d = malloc (len + 1);
    if (!d)
        return NULL;
    for (size_t i = 0; i < len; i++)
        d[i] = (s[i] >= 'A' && s[i] <= 'Z') ? (char) (s[i] + 32) : s[i];
    d[len] = 0;
    return d;
}

static int
s_parse_addr (const char *text, int *family, uint8_t addr[16])
{
    memset (addr, 0, 16);
    if (!text)
        return -1;
    if (inet_pton (AF_INET, text, addr) == 1) {
        *family = AF_INET;
        return 0;
    }
    if (inet_pton (AF_INET6, text, addr) == 1) {
        *family = AF_INET6;
        return 0;
    }
    return -1;
}

/* Compare a counted key with a NUL-terminated lowercase name, folding the key. */
static int
s_cmp_counted (const char *key, size_t klen, const char *name)
{
    for (size_t i = 0; i < klen; i++) {
        unsigned char k = (unsigned char) key[i];
        if (k >= 'A' && k <= 'Z')
            k = (unsigned char) (k + 32);
        unsigned char c = (unsigned char) name[i];
        if (c == 0)
            return 1; /* key is longer */
        if (k != c)
            return k < c ? -1 : 1;
    }
    return name[klen] == 0 ? 0 : -1;
}

static void
s_instance_free (dns_zone_instance_t *inst)
{
    free (inst->node);
    free (inst->shed);
    for (size_t i = 0; i < inst->tag_count; i++)
        free (inst->tags[i]);
    free (inst->tags);
}

/* ---- Builder -------------------------------------------------------------- */

dns_zone_builder_t *
dns_zone_builder_new (void)
{
    return calloc (1, sizeof (dns_zone_builder_t));
}

void
dns_zone_builder_destroy (dns_zone_builder_t **self_p)
{
    assert (self_p);
    dns_zone_builder_t *self = *self_p;
    if (!self)
        return;
    for (size_t i = 0; i < self->nentries; i++) {
        free (self->entries[i].service);
        s_instance_free (&self->entries[i].inst);
    }
    free (self->entries);
    for (int k = 0; k < 2; k++) {
        for (size_t i = 0; i < self->nhosts[k]; i++)
            free (self->hosts[k][i].host.name);
        free (self->hosts[k]);
    }
    free (self);
    *self_p = NULL;
}

void
dns_zone_builder_set_serial (dns_zone_builder_t *self, uint32_t serial)
{
    assert (self);
    self->serial = serial;
    self->serial_set = true;
}

int
dns_zone_builder_add_service_instance (dns_zone_builder_t *self, const dns_instance_t *in)
{
    assert (self);
    assert (in);
    s_entry_t e;
    memset (&e, 0, sizeof e);
    if (!in->service || !s_label_valid (in->service, strlen (in->service)))
        goto invalid;
    if (!in->node || !s_node_name_valid (in->node))
        goto invalid;
    bool has_shed = in->shed && in->shed[0];
    if (has_shed && !s_label_valid (in->shed, strlen (in->shed)))
        goto invalid;
    if (s_parse_addr (in->address, &e.inst.family, e.inst.addr))
        goto invalid;
    if (in->health > DNS_HEALTH_CRITICAL)
        goto invalid;
    if (in->tag_count && !in->tags)
        goto invalid;

    if (self->nentries == self->entries_cap) {
        size_t cap = self->entries_cap ? self->entries_cap * 2 : 16;
        s_entry_t *grown = realloc (self->entries, cap * sizeof *grown);
        if (!grown)
            goto invalid;
        self->entries = grown;
        self->entries_cap = cap;
    }
    e.service = s_strdup_lower (in->service, strlen (in->service));
    e.inst.node = s_strdup_lower (in->node, strlen (in->node));
    e.inst.shed = has_shed ? s_strdup_lower (in->shed, strlen (in->shed)) : NULL;
    e.inst.port = in->port;
    e.inst.health = in->health;
    e.inst.tags = in->tag_count ? calloc (in->tag_count, sizeof (char *)) : NULL;
    if (!e.service || !e.inst.node || (has_shed && !e.inst.shed) || (in->tag_count && !e.inst.tags))
        goto oom;
    for (size_t i = 0; i < in->tag_count; i++) {
        /* A tag that cannot be a DNS label can never be asked for: skip it
         * rather than refuse the instance, the catalog may use it elsewhere. */
        const char *t = in->tags[i];
        if (!t || !t[0] || strlen (t) > DNS_MAX_LABEL || strchr (t, '.'))
            continue;
        char *copy = s_strdup_lower (t, strlen (t));
        if (!copy)
            goto oom;
        e.inst.tags[e.inst.tag_count++] = copy;
    }
    e.seq = self->seq++;
    self->entries[self->nentries++] = e;
    return 0;

oom:
    free (e.service);
    s_instance_free (&e.inst);
invalid:
    return -1;
}

static int
s_add_host (dns_zone_builder_t *self, int kind, const char *name, const char *address)
{
    s_host_entry_t h;
    memset (&h, 0, sizeof h);
    if (!name)
        goto invalid;
    if (kind == 0 ? !s_node_name_valid (name) : !s_label_valid (name, strlen (name)))
        goto invalid;
    if (s_parse_addr (address, &h.family, h.addr))
        goto invalid;
    if (self->nhosts[kind] == self->hosts_cap[kind]) {
        size_t cap = self->hosts_cap[kind] ? self->hosts_cap[kind] * 2 : 16;
        s_host_entry_t *grown = realloc (self->hosts[kind], cap * sizeof *grown);
        if (!grown)
            goto invalid;
        self->hosts[kind] = grown;
        self->hosts_cap[kind] = cap;
    }
    h.host.name = s_strdup_lower (name, strlen (name));
    if (!h.host.name)
        goto invalid;
    h.seq = self->seq++;
    self->hosts[kind][self->nhosts[kind]++] = h;
    return 0;

invalid:
    return -1;
}

int
dns_zone_builder_add_node (dns_zone_builder_t *self, const char *name, const char *address)
{
    assert (self);
    return s_add_host (self, 0, name, address);
}

int
dns_zone_builder_add_shed (dns_zone_builder_t *self, const char *name, const char *address)
{
    assert (self);
    return s_add_host (self, 1, name, address);
}

static int
s_entry_cmp (const void *a, const void *b)
{
    const s_entry_t *x = a, *y = b;
    int c = strcmp (x->service, y->service);
    if (c)
        return c;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static int
s_host_cmp (const void *a, const void *b)
{
    const s_host_entry_t *x = a, *y = b;
    int c = strcmp (x->host.name, y->host.name);
    if (c)
        return c;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static uint32_t
s_next_serial (void)
{
    static atomic_uint s_serial;
    unsigned expected = atomic_load (&s_serial);
    if (expected == 0) {
        unsigned seed = (unsigned) time (NULL);
        atomic_compare_exchange_strong (&s_serial, &expected, seed);
    }
    return (uint32_t) atomic_fetch_add (&s_serial, 1) + 1;
}

dns_zone_t *
dns_zone_builder_build (dns_zone_builder_t **self_p)
{
    assert (self_p && *self_p);
    dns_zone_builder_t *self = *self_p;
    dns_zone_t *zone = calloc (1, sizeof *zone);
    if (!zone)
        goto oom;
    atomic_init (&zone->refs, 1);
    zone->serial = self->serial_set ? self->serial : s_next_serial ();

    /* Services: sort entries by (service, insertion), move the instances into
     * one array, and cut it into one span per service. */
    if (self->nentries) /* qsort's base may not be NULL, even for 0 items */
        qsort (self->entries, self->nentries, sizeof (s_entry_t), s_entry_cmp);
    if (self->nentries) {
        zone->instances = calloc (self->nentries, sizeof (dns_zone_instance_t));
        zone->services = calloc (self->nentries, sizeof (dns_zone_service_t));
        if (!zone->instances || !zone->services)
            goto oom;
    }
    for (size_t i = 0; i < self->nentries; i++) {
        s_entry_t *e = &self->entries[i];
        zone->instances[i] = e->inst;
        memset (&e->inst, 0, sizeof e->inst); /* moved: the builder no longer frees it */
        zone->ninstances++;
        if (zone->nservices == 0
            || strcmp (zone->services[zone->nservices - 1].name, e->service) != 0) {
            dns_zone_service_t *svc = &zone->services[zone->nservices++];
            svc->name = e->service;
            e->service = NULL;
            svc->instances = &zone->instances[i];
        }
        zone->services[zone->nservices - 1].count++;
    }

    /* Hosts: sort by (name, insertion) and merge, later addresses winning. */
    for (int k = 0; k < 2; k++) {
        if (self->nhosts[k]) {
            qsort (self->hosts[k], self->nhosts[k], sizeof (s_host_entry_t), s_host_cmp);
            zone->hosts[k] = calloc (self->nhosts[k], sizeof (dns_zone_host_t));
            if (!zone->hosts[k])
                goto oom;
        }
        for (size_t i = 0; i < self->nhosts[k]; i++) {
            s_host_entry_t *h = &self->hosts[k][i];
            dns_zone_host_t *out;
            if (zone->nhosts[k]
                && strcmp (zone->hosts[k][zone->nhosts[k] - 1].name, h->host.name) == 0)
                out = &zone->hosts[k][zone->nhosts[k] - 1];
            else {
                out = &zone->hosts[k][zone->nhosts[k]++];
                out->name = h->host.name;
                h->host.name = NULL;
            }
            if (h->family == AF_INET) {
                out->has_v4 = true;
                memcpy (out->v4, h->addr, 4);
            }
            else {
                out->has_v6 = true;
                memcpy (out->v6, h->addr, 16);
            }
        }
    }
    dns_zone_builder_destroy (self_p);
    return zone;

oom:
    dns_zone_unref (&zone);
    dns_zone_builder_destroy (self_p);
    return NULL;
}

/* ---- Zone ----------------------------------------------------------------- */

dns_zone_t *
dns_zone_new_empty (void)
{
    dns_zone_builder_t *zb = dns_zone_builder_new ();
    return zb ? dns_zone_builder_build (&zb) : NULL;
}

dns_zone_t *
dns_zone_ref (dns_zone_t *self)
{
    assert (self);
    atomic_fetch_add_explicit (&self->refs, 1, memory_order_relaxed);
    return self;
}

void
dns_zone_unref (dns_zone_t **self_p)
{
    assert (self_p);
    dns_zone_t *self = *self_p;
    if (!self)
        return;
    *self_p = NULL;
    /* acq_rel: the thread that frees must see every other thread's reads
     * of the zone as finished. */
    if (atomic_fetch_sub_explicit (&self->refs, 1, memory_order_acq_rel) != 1)
        return;
    for (size_t i = 0; i < self->ninstances; i++)
        s_instance_free (&self->instances[i]);
    for (size_t i = 0; i < self->nservices; i++)
        free (self->services[i].name);
    for (int k = 0; k < 2; k++) {
        for (size_t i = 0; i < self->nhosts[k]; i++)
            free (self->hosts[k][i].name);
        free (self->hosts[k]);
    }
    free (self->instances);
    free (self->services);
    free (self);
}

const dns_zone_service_t *
dns_zone_service (const dns_zone_t *self, const char *name, size_t len)
{
    assert (self);
    size_t lo = 0, hi = self->nservices;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = s_cmp_counted (name, len, self->services[mid].name);
        if (c == 0)
            return &self->services[mid];
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

static const dns_zone_host_t *
s_host_find (const dns_zone_t *self, int kind, const char *name, size_t len)
{
    size_t lo = 0, hi = self->nhosts[kind];
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = s_cmp_counted (name, len, self->hosts[kind][mid].name);
        if (c == 0)
            return &self->hosts[kind][mid];
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

const dns_zone_host_t *
dns_zone_node (const dns_zone_t *self, const char *name, size_t len)
{
    assert (self);
    return s_host_find (self, 0, name, len);
}

const dns_zone_host_t *
dns_zone_shed (const dns_zone_t *self, const char *name, size_t len)
{
    assert (self);
    return s_host_find (self, 1, name, len);
}

bool
dns_zone_instance_has_tag (const dns_zone_instance_t *inst, const char *tag, size_t len)
{
    assert (inst);
    for (size_t i = 0; i < inst->tag_count; i++)
        if (s_cmp_counted (tag, len, inst->tags[i]) == 0)
            return true;
    return false;
}

size_t
dns_zone_service_count (const dns_zone_t *self)
{
    assert (self);
    return self->nservices;
}

size_t
dns_zone_node_count (const dns_zone_t *self)
{
    assert (self);
    return self->nhosts[0];
}

size_t
dns_zone_shed_count (const dns_zone_t *self)
{
    assert (self);
    return self->nhosts[1];
}

uint32_t
dns_zone_serial (const dns_zone_t *self)
{
    assert (self);
    return self->serial;
}
