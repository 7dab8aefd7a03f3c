/* catalog.c - see catalog.h. */
#include "cluster/catalog.h"
#include "common/duration.h"

#include "common/ipaddr.h"

#include <arpa/inet.h>
#include <assert.h>
#include <czmq.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

/* A view: sorted arrays, replaced wholesale at commit. */
typedef struct {
    catalog_instance_t *insts;
    size_t n, cap;
    catalog_node_t *nodes;
    size_t nnodes, nodes_cap;
    catalog_shed_t *sheds;
    size_t nsheds, sheds_cap;
} s_view_t;

struct _catalog_t {
    s_view_t cur;  /* what readers see */
    s_view_t next; /* the snapshot being built */
    uint64_t index;
    zhashx_t *name_index; /* service name -> uint64_t * (last change) */
    uint64_t bad_records;
};

/* -------------------------------------------------------------------------
 * Views
 */

static void
s_view_clear (s_view_t *v)
{
    for (size_t i = 0; i < v->n; i++) {
        free (v->insts[i].svc.tags.items);
        free (v->insts[i].raw);
    }
    v->n = 0;
    v->nnodes = 0;
    v->nsheds = 0;
}

static void
s_view_free (s_view_t *v)
{
    s_view_clear (v);
    free (v->insts);
    free (v->nodes);
    free (v->sheds);
    memset (v, 0, sizeof *v);
}

static int
s_inst_cmp (const void *a, const void *b)
{
    const catalog_instance_t *x = a, *y = b;
    int c = strcmp (x->svc.name, y->svc.name);
    if (!c)
        c = strcmp (x->svc.node, y->svc.node);
    if (!c)
        c = strcmp (x->svc.id, y->svc.id);
    return c;
}

static int
s_node_cmp (const void *a, const void *b)
{
    return strcmp (((const catalog_node_t *) a)->name, ((const catalog_node_t *) b)->name);
}

static bool
s_inst_equal (const catalog_instance_t *x, const catalog_instance_t *y)
{
    return x->unreachable == y->unreachable && x->rawlen == y->rawlen
           && strcmp (x->svc.node, y->svc.node) == 0 && strcmp (x->svc.id, y->svc.id) == 0
           && memcmp (x->raw, y->raw, x->rawlen) == 0;
}

/* -------------------------------------------------------------------------
 * Lifecycle
 */

catalog_t *
catalog_new (void)
{
    catalog_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->index = 1;
    self->name_index = zhashx_new ();
    if (!self->name_index) {
        free (self);
        return NULL;
    }
    zhashx_set_destructor (self->name_index, (zhashx_destructor_fn *) zstr_free);
    return self;
}

void
catalog_destroy (catalog_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    catalog_t *self = *self_p;
    s_view_free (&self->cur);
    s_view_free (&self->next);
    zhashx_destroy (&self->name_index);
    free (self);
    *self_p = NULL;
}

/* -------------------------------------------------------------------------
 * Snapshot building
 */

void
catalog_begin (catalog_t *self)
{
    assert (self);
    s_view_clear (&self->next);
}

static int
s_bad (catalog_t *self, char *err, size_t errlen, const char *fmt, const char *a, const char *b)
{
    self->bad_records++;
    snprintf (err, errlen, fmt, a, b);
    return -1;
}

/* Append name -> addr to a growable array of nodes or sheds. */
static int
s_named_append (catalog_node_t **arr, size_t *n, size_t *cap, const char *name, const char *addr,
                bool unreachable)
{
    if (*n == *cap) {
        size_t ncap = *cap ? *cap * 2 : 16;
        catalog_node_t *grown = realloc (*arr, ncap * sizeof *grown);
        if (!grown)
            return -1;
        *arr = grown;
        *cap = ncap;
    }
    catalog_node_t *x = &(*arr)[(*n)++];
    snprintf (x->name, sizeof x->name, "%s", name);
    snprintf (x->addr, sizeof x->addr, "%s", addr);
    x->unreachable = unreachable;
    return 0;
}

static bool
s_named_same (const catalog_node_t *a, size_t na, const catalog_node_t *b, size_t nb)
{
    if (na != nb)
        return false;
    for (size_t k = 0; k < na; k++)
        if (strcmp (a[k].name, b[k].name) || strcmp (a[k].addr, b[k].addr)
            || a[k].unreachable != b[k].unreachable)
            return false;
    return true;
}

/* A shed record: served in DNS while it runs and has an address. Written
 * only by its node, so its `node` must be the origin and its key its name. */
static int
s_add_shed (catalog_t *self, const char *origin, const char *key, bool unreachable,
            const uint8_t *value, size_t len, char *err, size_t errlen)
{
    rec_msg_t msg;
    int rc = wire_decode (&rec_proto, value, len, &msg, NULL);
    if (rc != WIRE_OK || msg.hdr.type != REC_SHED) {
        if (rc == WIRE_OK)
            wire_msg_free (&rec_proto, &msg);
        return s_bad (self, err, errlen, "shed record %s of %s does not decode", key, origin);
    }
    const rec_shed_t *sh = &msg.u.rec_shed;
    bool mismatch = strcmp (sh->node, origin) || strcmp (key, sh->name);
    rc = 0;
    if (!mismatch && sh->ip[0] && strcmp (sh->state, "running") == 0) {
        s_view_t *v = &self->next;
        rc = s_named_append (&v->sheds, &v->nsheds, &v->sheds_cap, sh->name, sh->ip, unreachable);
        if (rc != 0)
            snprintf (err, errlen, "out of memory");
    }
    wire_msg_free (&rec_proto, &msg);
    if (mismatch)
        return s_bad (self, err, errlen, "shed record %s of %s names another node", key, origin);
    return rc;
}

static int
s_add_node (catalog_t *self, const char *origin, const char *key, bool unreachable,
            const uint8_t *value, size_t len, char *err, size_t errlen)
{
    rec_msg_t msg;
    int rc = wire_decode (&rec_proto, value, len, &msg, NULL);
    if (rc != WIRE_OK || msg.hdr.type != REC_NODE) {
        if (rc == WIRE_OK)
            wire_msg_free (&rec_proto, &msg);
        return s_bad (self, err, errlen, "node record %s of %s does not decode", key, origin);
    }
    bool mismatch = strcmp (msg.u.rec_node.name, origin) || strcmp (key, origin);
    s_view_t *v = &self->next;
    if (!mismatch
        && s_named_append (&v->nodes, &v->nnodes, &v->nodes_cap, msg.u.rec_node.name,
                           msg.u.rec_node.addr, unreachable)
               != 0) {
        wire_msg_free (&rec_proto, &msg);
        snprintf (err, errlen, "out of memory");
        return -1;
    }
    wire_msg_free (&rec_proto, &msg);
    if (mismatch)
        return s_bad (self, err, errlen, "node record %s of %s names another node", key, origin);
    return 0;
}

int
catalog_add (catalog_t *self, const char *kind, const char *origin, const char *key,
             bool unreachable, const uint8_t *value, size_t len, char *err, size_t errlen)
{
    assert (self);
    if (strcmp (kind, REC_KIND_NODE) == 0)
        return s_add_node (self, origin, key, unreachable, value, len, err, errlen);
    if (strcmp (kind, REC_KIND_SHED) == 0)
        return s_add_shed (self, origin, key, unreachable, value, len, err, errlen);
    if (strcmp (kind, REC_KIND_SERVICE) != 0)
        return 0;

    rec_msg_t msg;
    char why[160];
    if (catalog_decode (value, len, &msg, why, sizeof why) != 0)
        return s_bad (self, err, errlen, "service record %s: %s", key, why);
    rec_service_t *svc = &msg.u.rec_service;
    /* Only the origin writes its records, so the content must agree with
     * where the record lives; anything else is a bug or a forgery. */
    char expect[CATALOG_KEY_MAX + 1];
    catalog_key (svc->name, svc->id, expect, sizeof expect);
    if (strcmp (svc->node, origin) != 0 || strcmp (expect, key) != 0) {
        wire_msg_free (&rec_proto, &msg);
        return s_bad (self, err, errlen, "service record %s of %s does not match its key/origin",
                      key, origin);
    }
    s_view_t *v = &self->next;
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 64;
        catalog_instance_t *insts = realloc (v->insts, cap * sizeof *insts);
        if (!insts) {
            wire_msg_free (&rec_proto, &msg);
            snprintf (err, errlen, "out of memory");
            return -1;
        }
        v->insts = insts;
        v->cap = cap;
    }
    uint8_t *raw = malloc (len ? len : 1);
    if (!raw) {
        wire_msg_free (&rec_proto, &msg);
        snprintf (err, errlen, "out of memory");
        return -1;
    }
    memcpy (raw, value, len);
    catalog_instance_t *inst = &v->insts[v->n++];
    inst->svc = *svc; /* takes the decoded tags */
    inst->unreachable = unreachable;
    inst->raw = raw;
    inst->rawlen = len;
    return 0;
}

/* Remember that NAME changed at `index`. */
static void
s_touch (catalog_t *self, const char *name, uint64_t index)
{
    char *text = zsys_sprintf ("%" PRIu64, index);
    if (text)
        zhashx_update (self->name_index, name, text);
}

int
catalog_commit (catalog_t *self)
{
    assert (self);
    s_view_t *old = &self->cur, *nw = &self->next;
    if (nw->n > 1)
        qsort (nw->insts, nw->n, sizeof *nw->insts, s_inst_cmp);
    if (nw->nnodes > 1)
        qsort (nw->nodes, nw->nnodes, sizeof *nw->nodes, s_node_cmp);
    if (nw->nsheds > 1)
        qsort (nw->sheds, nw->nsheds, sizeof *nw->sheds, s_node_cmp);

    /* Walk both sorted views one service name at a time; a name whose
     * group of instances differs in any way moves to the next index. */
    int changed = 0;
    uint64_t next_index = self->index + 1;
    size_t i = 0, j = 0;
    while (i < old->n || j < nw->n) {
        const char *name;
        if (i >= old->n)
            name = nw->insts[j].svc.name;
        else if (j >= nw->n)
            name = old->insts[i].svc.name;
        else
            name = strcmp (old->insts[i].svc.name, nw->insts[j].svc.name) <= 0
                       ? old->insts[i].svc.name
                       : nw->insts[j].svc.name;
        size_t i0 = i, j0 = j;
        while (i < old->n && strcmp (old->insts[i].svc.name, name) == 0)
            i++;
        while (j < nw->n && strcmp (nw->insts[j].svc.name, name) == 0)
            j++;
        bool same = (i - i0) == (j - j0);
        for (size_t k = 0; same && k < i - i0; k++)
            same = s_inst_equal (&old->insts[i0 + k], &nw->insts[j0 + k]);
        if (!same) {
            s_touch (self, name, next_index);
            changed |= CATALOG_CHANGED_SERVICES;
        }
    }
    if (changed)
        self->index = next_index;

    if (!s_named_same (old->nodes, old->nnodes, nw->nodes, nw->nnodes))
        changed |= CATALOG_CHANGED_NODES;
    if (!s_named_same (old->sheds, old->nsheds, nw->sheds, nw->nsheds))
        changed |= CATALOG_CHANGED_SHEDS;

    /* Swap: the old view's storage becomes the next snapshot's. */
    s_view_t tmp = *old;
    *old = *nw;
    *nw = tmp;
    s_view_clear (nw);
    return changed;
}

/* -------------------------------------------------------------------------
 * Reading the view
 */

uint64_t
catalog_index (const catalog_t *self)
{
    assert (self);
    return self->index;
}

uint64_t
catalog_name_index (const catalog_t *self, const char *name)
{
    assert (self);
    const char *text = zhashx_lookup (self->name_index, name);
    return text ? strtoull (text, NULL, 10) : 0;
}

bool
catalog_watch_ready (const catalog_t *self, const char *name, uint64_t index)
{
    assert (self);
    if (index == 0 || index > self->index)
        return true;
    if (!name || !*name)
        return self->index > index;
    return catalog_name_index (self, name) > index;
}

size_t
catalog_size (const catalog_t *self)
{
    assert (self);
    return self->cur.n;
}

const catalog_instance_t *
catalog_at (const catalog_t *self, size_t i)
{
    assert (self);
    return i < self->cur.n ? &self->cur.insts[i] : NULL;
}

size_t
catalog_find (const catalog_t *self, const char *name, size_t *first)
{
    assert (self);
    /* Lower bound by name, then count the run. */
    size_t lo = 0, hi = self->cur.n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp (self->cur.insts[mid].svc.name, name) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    size_t n = 0;
    while (lo + n < self->cur.n && strcmp (self->cur.insts[lo + n].svc.name, name) == 0)
        n++;
    if (first)
        *first = lo;
    return n;
}

size_t
catalog_node_count (const catalog_t *self)
{
    assert (self);
    return self->cur.nnodes;
}

const catalog_node_t *
catalog_node_at (const catalog_t *self, size_t i)
{
    assert (self);
    return i < self->cur.nnodes ? &self->cur.nodes[i] : NULL;
}

size_t
catalog_shed_count (const catalog_t *self)
{
    assert (self);
    return self->cur.nsheds;
}

const catalog_shed_t *
catalog_shed_at (const catalog_t *self, size_t i)
{
    assert (self);
    return i < self->cur.nsheds ? &self->cur.sheds[i] : NULL;
}

uint64_t
catalog_bad_records (const catalog_t *self)
{
    assert (self);
    return self->bad_records;
}

bool
catalog_instance_serving (const catalog_instance_t *inst)
{
    return !inst->unreachable && inst->svc.health != REC_HEALTH_CRITICAL;
}

/* -------------------------------------------------------------------------
 * Registration helpers
 */

/* Same alphabet records.c enforces, checked here first so the person gets
 * a precise message instead of "invalid". */
static bool
s_label_ok (const char *s, bool dots)
{
    if (!*s || strlen (s) > REC_NAME_MAX)
        return false;
    for (; *s; s++) {
        char c = *s;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-'
              || c == '_' || (dots && c == '.')))
            return false;
    }
    return true;
}

static bool
s_addr_ok (const char *text)
{
    uint8_t buf[16];
    return inet_pton (AF_INET, text, buf) == 1 || inet_pton (AF_INET6, text, buf) == 1;
}

int
catalog_split_target (const char *target, char *host, size_t hostlen, uint16_t *port)
{
    const char *colon = strrchr (target, ':');
    if (!colon || colon == target || !colon[1])
        return -1;
    const char *h = target;
    size_t hlen = (size_t) (colon - target);
    if (h[0] == '[') {
        if (hlen < 3 || h[hlen - 1] != ']')
            return -1;
        h++;
        hlen -= 2;
    }
    if (hlen >= hostlen)
        return -1;
    char *end;
    errno = 0;
    unsigned long p = strtoul (colon + 1, &end, 10);
    if (errno || *end || p == 0 || p > 65535 || colon[1] == '-' || colon[1] == '+')
        return -1;
    memcpy (host, h, hlen);
    host[hlen] = '\0';
    *port = (uint16_t) p;
    return 0;
}

int
catalog_prepare (rec_service_t *svc, const char *node, const char *default_addr, char *err,
                 size_t errlen)
{
    if (!s_label_ok (svc->name, false)) {
        snprintf (err, errlen, "service name '%s': 1-%d of A-Z a-z 0-9 _ -", svc->name,
                  REC_NAME_MAX);
        return -1;
    }
    if (!svc->id[0])
        snprintf (svc->id, sizeof svc->id, "%s", svc->name);
    if (!s_label_ok (svc->id, true)) {
        snprintf (err, errlen, "service id '%s': 1-%d of A-Z a-z 0-9 _ - .", svc->id, REC_NAME_MAX);
        return -1;
    }
    snprintf (svc->node, sizeof svc->node, "%s", node);
    if (svc->shed[0] && !s_label_ok (svc->shed, false)) {
        snprintf (err, errlen, "shed name '%s' is not valid", svc->shed);
        return -1;
    }
    if (!svc->address[0]) {
        if (!default_addr || !*default_addr || shed_ip_is_any (default_addr)) {
            snprintf (err, errlen,
                      "no address given and this node has no advertise address: pass one");
            return -1;
        }
        snprintf (svc->address, sizeof svc->address, "%s", default_addr);
    }
    if (!s_addr_ok (svc->address)) {
        snprintf (err, errlen, "address '%s' is not an IPv4 or IPv6 literal", svc->address);
        return -1;
    }
    if (svc->port == 0 || svc->port > 65535) {
        snprintf (err, errlen, "port must be 1-65535");
        return -1;
    }
    if (!svc->protocol[0])
        snprintf (svc->protocol, sizeof svc->protocol, "tcp");
    if (strcmp (svc->protocol, "tcp") && strcmp (svc->protocol, "udp")) {
        snprintf (err, errlen, "protocol '%s': expected tcp or udp", svc->protocol);
        return -1;
    }
    if (svc->health > REC_HEALTH_CRITICAL) {
        snprintf (err, errlen, "health must be passing, warning or critical");
        return -1;
    }
    for (size_t i = 0; i < svc->tags.n; i++)
        if (!svc->tags.items[i].key[0]) {
            snprintf (err, errlen, "tag keys must not be empty");
            return -1;
        }
    switch (svc->check) {
    case REC_CHECK_NONE:
        svc->check_target[0] = '\0';
        svc->interval_ms = 0;
        return 0;
    case REC_CHECK_TCP: {
        char host[REC_CHECK_MAX + 1];
        uint16_t port;
        if (catalog_split_target (svc->check_target, host, sizeof host, &port) != 0
            || !s_addr_ok (host)) {
            snprintf (err, errlen, "tcp check target '%s': expected IP:PORT", svc->check_target);
            return -1;
        }
        break;
    }
    case REC_CHECK_CMD:
        if (!svc->check_target[0]) {
            snprintf (err, errlen, "cmd check: the command is empty");
            return -1;
        }
        break;
    default:
        snprintf (err, errlen, "unknown check kind %llu", (unsigned long long) svc->check);
        return -1;
    }
    if (svc->interval_ms == 0)
        svc->interval_ms = CATALOG_INTERVAL_DEFAULT;
    if (svc->interval_ms < CATALOG_INTERVAL_MIN || svc->interval_ms > CATALOG_INTERVAL_MAX) {
        snprintf (err, errlen, "check interval must be %dms-24h", CATALOG_INTERVAL_MIN);
        return -1;
    }
    return 0;
}

void
catalog_key (const char *name, const char *id, char *out, size_t len)
{
    snprintf (out, len, "%s/%s", name, id);
}

int
catalog_encode (const rec_service_t *svc, uint8_t **buf, size_t *len, char *err, size_t errlen)
{
    rec_msg_t msg = { .hdr.type = REC_SERVICE };
    msg.u.rec_service = *svc; /* borrows the tags */
    int rc = wire_encode (&rec_proto, &msg, buf, len);
    if (rc != WIRE_OK) {
        snprintf (err, errlen, "service record does not encode: %s", wire_strerror (rc));
        return -1;
    }
    return 0;
}

int
catalog_decode (const uint8_t *buf, size_t len, rec_msg_t *out, char *err, size_t errlen)
{
    const char *field = "";
    int rc = wire_decode (&rec_proto, buf, len, out, &field);
    if (rc != WIRE_OK) {
        snprintf (err, errlen, "%s%s%s", wire_strerror (rc), *field ? " in field " : "", field);
        return -1;
    }
    if (out->hdr.type != REC_SERVICE) {
        wire_msg_free (&rec_proto, out);
        snprintf (err, errlen, "not a service record (type %u)", out->hdr.type);
        return -1;
    }
    return 0;
}

int
catalog_parse_duration (const char *text, uint64_t *ms)
{
    char why[160];
    return shed_duration_parse (text, 1000, ms, why, sizeof why) == 0 ? 0 : -1;
}

int
catalog_check_parse (const char *text)
{
    if (!strcmp (text, "none"))
        return REC_CHECK_NONE;
    if (!strcmp (text, "tcp"))
        return REC_CHECK_TCP;
    if (!strcmp (text, "cmd"))
        return REC_CHECK_CMD;
    return -1;
}

const char *
catalog_check_name (uint64_t check)
{
    switch (check) {
    case REC_CHECK_NONE:
        return "none";
    case REC_CHECK_TCP:
        return "tcp";
    case REC_CHECK_CMD:
        return "cmd";
    default:
        return "unknown";
    }
}

int
catalog_health_from_wait (int wstatus)
{
    if (WIFEXITED (wstatus)) {
        int code = WEXITSTATUS (wstatus);
        return code == 0   ? REC_HEALTH_PASSING
               : code == 1 ? REC_HEALTH_WARNING
                           : REC_HEALTH_CRITICAL;
    }
    return REC_HEALTH_CRITICAL;
}
