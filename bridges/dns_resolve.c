/* dns_resolve.c - see dns_resolve.h.
 *
 * Order of decisions, each one cheaper than the next and none trusting the
 * input beyond what was checked before it:
 *   1. no header -> drop; QR set -> drop (never answer answers: no loops)
 *   2. opcode != QUERY -> NOTIMP;  parse failure -> FORMERR (header only)
 *   3. EDNS version != 0 -> BADVERS
 *   4. class not IN/ANY, or not under DOMAIN -> REFUSED; AXFR/IXFR -> NOTIMP
 *   5. no zone yet -> SERVFAIL
 *   6. the name: NXDOMAIN, NODATA (NOERROR, empty, SOA) or records */
#include "bridges/dns_resolve.h"

#include <arpa/inet.h>
#include <assert.h>
#include <string.h>

/* One query in flight: everything the helpers need, on the caller's stack. */
typedef struct {
    const dns_resolve_config_t *cfg;
    const dns_zone_t *zone;
    const dns_query_t *q;
    dns_builder_t b;
    bool tcp;
    bool truncated;
    uint64_t *rng;
} s_ctx_t;

/* Where an SRV target points: which table names it. */
typedef enum { TARGET_SHED, TARGET_NODE, TARGET_ADDR } s_target_kind_t;

static const uint8_t s_service[] = "service";
static const uint8_t s_node[] = "node";
static const uint8_t s_shed[] = "shed";
static const uint8_t s_addr[] = "addr";

/* ---- Helpers -------------------------------------------------------------- */

static uint64_t
s_rand (uint64_t *state)
{
    /* xorshift64*: plenty for spreading load, and free of locks and syscalls */
    uint64_t x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545F4914F6CDD1DULL;
}

static const uint8_t *
s_label (const dns_query_t *q, size_t i, size_t *len)
{
    const uint8_t *p = q->qname + q->label_off[i];
    *len = p[0];
    return p + 1;
}

static bool
s_label_is (const dns_query_t *q, size_t i, const uint8_t *word)
{
    size_t len;
    const uint8_t *l = s_label (q, i, &len);
    return dns_label_equal (l, len, word, strlen ((const char *) word));
}

/* Labels that can name something we hold: no NUL (C strings stop there,
 * so "web\0x" must not match "web") and no dot (node names are joined with
 * dots, so a label holding one could impersonate two). */
static bool
s_label_plain (const uint8_t *l, size_t len)
{
    return memchr (l, 0, len) == NULL && memchr (l, '.', len) == NULL;
}

/* Append "\<len>label" to a wire name under construction. */
static size_t
s_wire_append (uint8_t *w, size_t at, const char *label, size_t len)
{
    w[at] = (uint8_t) len;
    memcpy (w + at + 1, label, len);
    return at + 1 + len;
}

/* NAME.KIND.DOMAIN in wire form; NAME may hold dots (node names). */
static void
s_make_name (const s_ctx_t *c, const char *name, const uint8_t *kind, uint8_t *out)
{
    size_t at = 0;
    const char *p = name;
    while (*p) {
        const char *dot = strchr (p, '.');
        size_t len = dot ? (size_t) (dot - p) : strlen (p);
        at = s_wire_append (out, at, p, len);
        p += len + (dot ? 1 : 0);
    }
    at = s_wire_append (out, at, (const char *) kind, strlen ((const char *) kind));
    memcpy (out + at, c->cfg->domain, c->cfg->domain_len);
}

static bool
s_addr_equal (int family, const uint8_t *addr, const dns_zone_host_t *h)
{
    if (!h)
        return false;
    if (family == AF_INET)
        return h->has_v4 && memcmp (h->v4, addr, 4) == 0;
    return h->has_v6 && memcmp (h->v6, addr, 16) == 0;
}

/* The SRV target of an instance: its shed's name when that name resolves
 * to the instance's address, else its node's, else a synthetic HEX.addr
 * name (as Consul does), so the target always resolves to where the
 * service actually listens. */
static s_target_kind_t
s_target (const s_ctx_t *c, const dns_zone_instance_t *inst, uint8_t *out)
{
    if (inst->shed) {
        const dns_zone_host_t *h = dns_zone_shed (c->zone, inst->shed, strlen (inst->shed));
        if (s_addr_equal (inst->family, inst->addr, h)) {
            s_make_name (c, inst->shed, s_shed, out);
            return TARGET_SHED;
        }
    }
    const dns_zone_host_t *h = dns_zone_node (c->zone, inst->node, strlen (inst->node));
    if (s_addr_equal (inst->family, inst->addr, h)) {
        s_make_name (c, inst->node, s_node, out);
        return TARGET_NODE;
    }
    static const char hex[] = "0123456789abcdef";
    char text[33];
    size_t n = inst->family == AF_INET ? 4 : 16;
    for (size_t i = 0; i < n; i++) {
        text[2 * i] = hex[inst->addr[i] >> 4];
        text[2 * i + 1] = hex[inst->addr[i] & 15];
    }
    text[2 * n] = 0;
    s_make_name (c, text, s_addr, out);
    return TARGET_ADDR;
}

/* Add one answer record; on overflow mark the answer truncated. Returns -1
 * once nothing more fits, so callers stop at whole records. */
static int
s_answer_addr (s_ctx_t *c, const uint8_t *owner, int family, const uint8_t *addr)
{
    int rc = family == AF_INET
                 ? dns_builder_a (&c->b, DNS_SECTION_ANSWER, owner, c->cfg->ttl, addr)
                 : dns_builder_aaaa (&c->b, DNS_SECTION_ANSWER, owner, c->cfg->ttl, addr);
    if (rc)
        c->truncated = true;
    return rc;
}

static void
s_authority_soa (s_ctx_t *c)
{
    /* RFC 2308: the negative-caching TTL is min(SOA TTL, MINIMUM): set both. */
    dns_builder_soa (&c->b, DNS_SECTION_AUTHORITY, c->cfg->domain, c->cfg->neg_ttl, c->cfg->mname,
                     c->cfg->rname, dns_zone_serial (c->zone), DNS_SOA_REFRESH, DNS_SOA_RETRY,
                     DNS_SOA_EXPIRE, c->cfg->neg_ttl);
}

/* ---- Name kinds ----------------------------------------------------------- */

static bool
s_wants (uint16_t qtype, uint16_t want)
{
    return qtype == want || qtype == DNS_TYPE_ANY;
}

/* A host (node, shed, or synthetic addr): its addresses for A/AAAA/ANY. */
static int
s_answer_host (s_ctx_t *c, bool has_v4, const uint8_t *v4, bool has_v6, const uint8_t *v6)
{
    uint16_t qt = c->q->qtype;
    if (has_v4 && s_wants (qt, DNS_TYPE_A))
        s_answer_addr (c, c->q->qname, AF_INET, v4);
    if (has_v6 && s_wants (qt, DNS_TYPE_AAAA) && !c->truncated)
        s_answer_addr (c, c->q->qname, AF_INET6, v6);
    return DNS_RCODE_NOERROR;
}

static int
s_answer_addr_name (s_ctx_t *c, size_t prefix)
{
    if (prefix != 2)
        return DNS_RCODE_NXDOMAIN;
    size_t len;
    const uint8_t *l = s_label (c->q, 0, &len);
    if (len != 8 && len != 32)
        return DNS_RCODE_NXDOMAIN;
    uint8_t addr[16];
    for (size_t i = 0; i < len; i++) {
        uint8_t ch = l[i] | 0x20; /* fold case; digits are unaffected */
        int v = (ch >= '0' && ch <= '9') ? ch - '0' : (ch >= 'a' && ch <= 'f') ? ch - 'a' + 10 : -1;
        if (v < 0)
            return DNS_RCODE_NXDOMAIN;
        if (i % 2 == 0)
            addr[i / 2] = (uint8_t) (v << 4);
        else
            addr[i / 2] |= (uint8_t) v;
    }
    return len == 8 ? s_answer_host (c, true, addr, false, NULL)
                    : s_answer_host (c, false, NULL, true, addr);
}

static int
s_answer_node (s_ctx_t *c, size_t prefix)
{
    /* NODE may span labels ("rack1.n1.node.shed"): join them with dots. */
    char name[DNS_MAX_NAME];
    size_t at = 0;
    for (size_t i = 0; i + 1 < prefix; i++) {
        size_t len;
        const uint8_t *l = s_label (c->q, i, &len);
        if (!s_label_plain (l, len))
            return DNS_RCODE_NXDOMAIN;
        if (i)
            name[at++] = '.';
        memcpy (name + at, l, len);
        at += len;
    }
    const dns_zone_host_t *h = dns_zone_node (c->zone, name, at);
    if (!h)
        return DNS_RCODE_NXDOMAIN;
    return s_answer_host (c, h->has_v4, h->v4, h->has_v6, h->v6);
}

static int
s_answer_shed (s_ctx_t *c, size_t prefix)
{
    if (prefix != 2)
        return DNS_RCODE_NXDOMAIN;
    size_t len;
    const uint8_t *l = s_label (c->q, 0, &len);
    if (!s_label_plain (l, len))
        return DNS_RCODE_NXDOMAIN;
    const dns_zone_host_t *h = dns_zone_shed (c->zone, (const char *) l, len);
    if (!h)
        return DNS_RCODE_NXDOMAIN;
    return s_answer_host (c, h->has_v4, h->v4, h->has_v6, h->v6);
}

/* Has this target already been given its address in the additional section? */
typedef struct {
    s_target_kind_t kind;
    const char *name; /* node or shed name; NULL for addr targets */
    int family;
    const uint8_t *addr;
} s_extra_t;

static bool
s_extra_seen (const s_extra_t *seen, size_t n, const s_extra_t *e)
{
    size_t alen = e->family == AF_INET ? 4 : 16;
    for (size_t i = 0; i < n; i++)
        if (seen[i].kind == e->kind && seen[i].family == e->family
            && memcmp (seen[i].addr, e->addr, alen) == 0
            && (e->kind == TARGET_ADDR || strcmp (seen[i].name, e->name) == 0))
            return true;
    return false;
}

static int
s_answer_service (s_ctx_t *c, size_t prefix)
{
    const uint8_t *svc_l, *tag_l = NULL;
    size_t svc_len, tag_len = 0;
    if (prefix == 2)
        svc_l = s_label (c->q, 0, &svc_len);
    else if (prefix == 3) {
        size_t l0, l1;
        const uint8_t *a = s_label (c->q, 0, &l0);
        const uint8_t *b = s_label (c->q, 1, &l1);
        if (l0 > 1 && l1 > 1 && a[0] == '_' && b[0] == '_') {
            /* RFC 2782: _NAME._PROTO. As in Consul, _tcp means "any", and
             * anything else is read as a tag. */
            svc_l = a + 1;
            svc_len = l0 - 1;
            if (!dns_label_equal (b + 1, l1 - 1, (const uint8_t *) "tcp", 3)) {
                tag_l = b + 1;
                tag_len = l1 - 1;
            }
        }
        else {
            tag_l = a;
            tag_len = l0;
            svc_l = b;
            svc_len = l1;
        }
    }
    else
        return DNS_RCODE_NXDOMAIN;
    if (!s_label_plain (svc_l, svc_len) || (tag_l && !s_label_plain (tag_l, tag_len)))
        return DNS_RCODE_NXDOMAIN;

    const dns_zone_service_t *svc = dns_zone_service (c->zone, (const char *) svc_l, svc_len);
    if (!svc)
        return DNS_RCODE_NXDOMAIN;

    /* The name exists when some instance, whatever its health, matches: a
     * service whose instances are all critical is NODATA, not NXDOMAIN, so a
     * resolver does not conclude that its tag names vanished too. */
    uint32_t idx[DNS_RESOLVE_MAX_ANSWERS];
    size_t n = 0;
    bool exists = false;
    for (size_t i = 0; i < svc->count && n < DNS_RESOLVE_MAX_ANSWERS; i++) {
        const dns_zone_instance_t *inst = &svc->instances[i];
        if (tag_l && !dns_zone_instance_has_tag (inst, (const char *) tag_l, tag_len))
            continue;
        exists = true;
        if (inst->health == DNS_HEALTH_CRITICAL)
            continue;
        idx[n++] = (uint32_t) i;
    }
    if (!exists)
        return DNS_RCODE_NXDOMAIN;

    /* Fisher-Yates: a fresh order per query spreads clients over instances
     * even when they always take the first record. */
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t) (s_rand (c->rng) % i);
        uint32_t t = idx[i - 1];
        idx[i - 1] = idx[j];
        idx[j] = t;
    }

    uint16_t qt = c->q->qtype;
    if (qt == DNS_TYPE_SRV) {
        uint8_t target[DNS_MAX_NAME];
        size_t added = 0;
        for (size_t i = 0; i < n; i++) {
            const dns_zone_instance_t *inst = &svc->instances[idx[i]];
            s_target (c, inst, target);
            if (dns_builder_srv (&c->b, DNS_SECTION_ANSWER, c->q->qname, c->cfg->ttl, 1, 1,
                                 inst->port, target)) {
                c->truncated = true;
                break;
            }
            added++;
        }
        if (c->truncated)
            return DNS_RCODE_NOERROR; /* the client retries over TCP for the rest */
        /* Addresses of the targets, once each; they are a hint (RFC 2181
         * 9), so whatever does not fit is simply left out. */
        s_extra_t seen[DNS_RESOLVE_MAX_EXTRA];
        size_t nseen = 0;
        for (size_t i = 0; i < added && nseen < DNS_RESOLVE_MAX_EXTRA; i++) {
            const dns_zone_instance_t *inst = &svc->instances[idx[i]];
            s_extra_t e = { s_target (c, inst, target), NULL, inst->family, inst->addr };
            e.name = e.kind == TARGET_SHED ? inst->shed : inst->node;
            if (s_extra_seen (seen, nseen, &e))
                continue;
            seen[nseen++] = e;
            int rc = inst->family == AF_INET ? dns_builder_a (&c->b, DNS_SECTION_ADDITIONAL, target,
                                                              c->cfg->ttl, inst->addr)
                                             : dns_builder_aaaa (&c->b, DNS_SECTION_ADDITIONAL,
                                                                 target, c->cfg->ttl, inst->addr);
            if (rc)
                break;
        }
        return DNS_RCODE_NOERROR;
    }
    for (size_t i = 0; i < n; i++) {
        const dns_zone_instance_t *inst = &svc->instances[idx[i]];
        bool want =
            inst->family == AF_INET ? s_wants (qt, DNS_TYPE_A) : s_wants (qt, DNS_TYPE_AAAA);
        if (want && s_answer_addr (c, c->q->qname, inst->family, inst->addr))
            break;
    }
    return DNS_RCODE_NOERROR;
}

/* Dispatch on the label just left of DOMAIN. */
static int
s_answer_name (s_ctx_t *c)
{
    size_t prefix = c->q->nlabels - c->cfg->domain_labels;
    if (prefix == 0) {
        if (s_wants (c->q->qtype, DNS_TYPE_SOA))
            dns_builder_soa (&c->b, DNS_SECTION_ANSWER, c->q->qname, c->cfg->ttl, c->cfg->mname,
                             c->cfg->rname, dns_zone_serial (c->zone), DNS_SOA_REFRESH,
                             DNS_SOA_RETRY, DNS_SOA_EXPIRE, c->cfg->neg_ttl);
        return DNS_RCODE_NOERROR;
    }
    size_t kind = prefix - 1;
    bool known = s_label_is (c->q, kind, s_service) || s_label_is (c->q, kind, s_node)
                 || s_label_is (c->q, kind, s_shed) || s_label_is (c->q, kind, s_addr);
    if (!known)
        return DNS_RCODE_NXDOMAIN;
    if (prefix == 1)
        return DNS_RCODE_NOERROR; /* "service.DOMAIN" etc.: empty non-terminals */
    if (s_label_is (c->q, kind, s_service))
        return s_answer_service (c, prefix);
    if (s_label_is (c->q, kind, s_node))
        return s_answer_node (c, prefix);
    if (s_label_is (c->q, kind, s_shed))
        return s_answer_shed (c, prefix);
    return s_answer_addr_name (c, prefix);
}

static bool
s_in_domain (const dns_resolve_config_t *cfg, const dns_query_t *q)
{
    if (q->nlabels < cfg->domain_labels)
        return false;
    /* The domain is the tail of the name: compare the wire bytes from the
     * first domain label on (lengths and letters, case folded). */
    size_t first = q->nlabels - cfg->domain_labels;
    size_t off = first < q->nlabels ? q->label_off[first] : q->qname_len - 1;
    if (q->qname_len - off != cfg->domain_len)
        return false;
    for (size_t i = 0; i < cfg->domain_len; i++) {
        uint8_t a = q->qname[off + i], b = cfg->domain[i];
        if (a >= 'A' && a <= 'Z')
            a = (uint8_t) (a + 32);
        if (a != b)
            return false;
    }
    return true;
}

/* ---- Public --------------------------------------------------------------- */

int
dns_resolve_config_init (dns_resolve_config_t *cfg, const char *domain, uint32_t ttl,
                         uint32_t neg_ttl)
{
    assert (cfg);
    memset (cfg, 0, sizeof *cfg);
    if (!domain)
        return -1;
    int n = dns_name_from_text (domain, cfg->domain, sizeof cfg->domain);
    if (n <= 1 || n > DNS_DOMAIN_MAX_WIRE)
        return -1;
    cfg->domain_len = (size_t) n;
    for (size_t i = 0; cfg->domain[i]; i += 1 + cfg->domain[i]) {
        cfg->domain_labels++;
        for (size_t k = 1; k <= cfg->domain[i]; k++) {
            uint8_t *ch = &cfg->domain[i + k];
            if (*ch >= 'A' && *ch <= 'Z')
                *ch = (uint8_t) (*ch + 32);
        }
    }
    size_t at = s_wire_append (cfg->mname, 0, "ns", 2);
    memcpy (cfg->mname + at, cfg->domain, cfg->domain_len);
    at = s_wire_append (cfg->rname, 0, "hostmaster", 10);
    memcpy (cfg->rname + at, cfg->domain, cfg->domain_len);
    cfg->ttl = ttl;
    cfg->neg_ttl = neg_ttl;
    return 0;
}

size_t
dns_resolve (const dns_resolve_config_t *cfg, const dns_zone_t *zone, const uint8_t *query,
             size_t len, dns_transport_t transport, uint8_t *out, size_t out_cap, uint64_t *rng,
             dns_resolve_result_t *result)
{
    assert (cfg && out && rng && result);
    memset (result, 0, sizeof *result);
    result->rcode = -1;
    dns_query_t q;
    int prc = dns_query_parse (query, len, &q);
    if (prc == DNS_PARSE_SHORT || (q.flags & DNS_FLAG_QR)) {
        result->malformed = prc != DNS_PARSE_OK;
        return 0;
    }
    bool tcp = transport == DNS_TRANSPORT_TCP;
    size_t limit = tcp ? DNS_TCP_MAX : (q.edns ? q.edns_udp_size : DNS_UDP_MIN);
    if (limit > out_cap)
        limit = out_cap;
    assert (limit >= DNS_UDP_MIN);

    s_ctx_t c;
    memset (&c, 0, sizeof c);
    c.cfg = cfg;
    c.zone = zone;
    c.q = &q;
    c.tcp = tcp;
    c.rng = rng;
    uint16_t flags =
        DNS_FLAG_QR | DNS_FLAG_AA | (q.flags & (DNS_OPCODE_MASK | DNS_FLAG_RD | DNS_FLAG_CD));
    int rcode;

    if (dns_query_opcode (&q) != DNS_OPCODE_QUERY || prc != DNS_PARSE_OK) {
        /* Header only: we cannot vouch for anything after it. */
        rcode = dns_query_opcode (&q) != DNS_OPCODE_QUERY ? DNS_RCODE_NOTIMP : DNS_RCODE_FORMERR;
        result->malformed = rcode == DNS_RCODE_FORMERR;
        dns_builder_init (&c.b, out, limit, q.id, (uint16_t) (flags | rcode));
        goto done;
    }
    /* Keep room for our OPT so adding it can never fail. */
    dns_builder_init (&c.b, out, limit - (q.edns ? DNS_OPT_RR_LEN : 0), q.id, flags);
    if (dns_builder_question (&c.b, q.qname, q.qtype, q.qclass))
        rcode = DNS_RCODE_SERVFAIL; /* cannot happen: 12 + 259 < 512 */
    else if (q.edns && q.edns_version != DNS_EDNS_VERSION)
        rcode = DNS_RCODE_BADVERS;
    else if ((q.qclass != DNS_CLASS_IN && q.qclass != DNS_CLASS_ANY) || !s_in_domain (cfg, &q))
        rcode = DNS_RCODE_REFUSED;
    else if (q.qtype == DNS_TYPE_AXFR || q.qtype == DNS_TYPE_IXFR || q.qtype == DNS_TYPE_OPT)
        rcode = DNS_RCODE_NOTIMP;
    else if (!zone)
        rcode = DNS_RCODE_SERVFAIL; /* nothing published yet: not a negative answer */
    else {
        rcode = s_answer_name (&c);
        if (rcode == DNS_RCODE_NXDOMAIN
            || (rcode == DNS_RCODE_NOERROR && c.b.count[0] == 0 && !c.truncated))
            s_authority_soa (&c);
    }
    if (c.truncated)
        flags |= DNS_FLAG_TC;
    dns_builder_set_flags (&c.b, (uint16_t) (flags | (rcode & DNS_RCODE_MASK)));
    if (q.edns) {
        dns_builder_set_limit (&c.b, limit);
        dns_builder_opt (&c.b, DNS_UDP_MAX, (unsigned) rcode, 0);
    }

done:
    result->rcode = rcode;
    result->truncated = c.truncated;
    result->answers = c.b.count[0];
    return dns_builder_finish (&c.b);
}
