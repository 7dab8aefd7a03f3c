/* records.c - descriptor tables and helpers for state record values. */
#include "cluster/records.h"

#include <stdio.h>
#include <string.h>

static const char *s_health[] = { "passing", "warning", "critical" };

/* Names and ids end up in DNS labels and state keys: keep them to
 * [A-Za-z0-9_-] (ids may also hold '.'), checked on encode and decode. */
static bool
s_label_ok (const char *s, bool dots)
{
    if (!*s)
        return false;
    for (; *s; s++) {
        char c = *s;
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
                  || c == '-' || c == '_' || (dots && c == '.');
        if (!ok)
            return false;
    }
    return true;
}

/* A token id: exactly 8 lowercase hex digits (node/http/http_tokens.h). */
static bool
s_token_id_ok (const char *s)
{
    size_t n = 0;
    for (; s[n]; n++)
        if (!((s[n] >= '0' && s[n] <= '9') || (s[n] >= 'a' && s[n] <= 'f')))
            return false;
    return n == 8;
}

static int
s_validate (uint16_t type, const void *body, const char **why)
{
    if (type == REC_TOKEN) {
        const rec_token_t *t = body;
        if (!s_token_id_ok (t->id)) {
            *why = "token id must be 8 lowercase hex digits";
            return -1;
        }
        if (strcmp (t->role, "read") && strcmp (t->role, "operator")) {
            *why = "token role must be read or operator";
            return -1;
        }
    }
    if (type == REC_TOKEN_REVOKE && !s_token_id_ok (((const rec_token_revoke_t *) body)->id)) {
        *why = "token id must be 8 lowercase hex digits";
        return -1;
    }
    if (type == REC_SERVICE) {
        const rec_service_t *s = body;
        if (!s_label_ok (s->name, false)) {
            *why = "service name must be [A-Za-z0-9_-]";
            return -1;
        }
        if (!s_label_ok (s->id, true)) {
            *why = "service id must be [A-Za-z0-9_.-]";
            return -1;
        }
        if (s->protocol[0] && strcmp (s->protocol, "tcp") && strcmp (s->protocol, "udp")) {
            *why = "protocol must be tcp or udp";
            return -1;
        }
    }
    if (type == REC_ENDPOINT) {
        /* Every node programs its FDB and ARP table from these: refuse
         * anything that is not a plain IPv4 address and a colon MAC. */
        const rec_endpoint_t *e = body;
        unsigned v[6], a, b, c, d;
        char tail;
        if (sscanf (e->mac, "%2x:%2x:%2x:%2x:%2x:%2x%c", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5],
                    &tail)
                != 6
            || strlen (e->mac) != 17) {
            *why = "endpoint mac must be aa:bb:cc:dd:ee:ff";
            return -1;
        }
        if (sscanf (e->ip, "%u.%u.%u.%u%c", &a, &b, &c, &d, &tail) != 4 || a > 255 || b > 255
            || c > 255 || d > 255) {
            *why = "endpoint ip must be IPv4";
            return -1;
        }
    }
    return 0;
}

WIRE_DEFINE_PROTO (rec, REC_MESSAGES, REC_VERSION_MIN, REC_VERSION, s_validate)

const char *
rec_health_name (uint64_t health)
{
    return health < 3 ? s_health[health] : "unknown";
}

int
rec_health_parse (const char *text)
{
    for (int i = 0; i < 3; i++)
        if (strcmp (text, s_health[i]) == 0)
            return i;
    return -1;
}
