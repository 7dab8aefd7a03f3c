/*
 * config_values.c - the value checkers of config_directive.h, one function
 * per kind of value. Each refuses what it cannot store with a reason that
 * quotes the value, because a silently coerced setting in a daemon's config
 * costs hours.
 */
#include "node/config_directive.h"

#include "cluster/placement.h"
#include "common/duration.h"
#include "common/ipaddr.h"
#include "crypto/identity.h"
#include "node/drivers/tc.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <sodium.h>

typedef int (value_fn) (shed_config_t *cfg, const directive_t *d, char *slot, const char *subkey,
                        const char *value, char *why, size_t whylen);

static int
s_copy (char *dst, size_t size, const char *value, char *why, size_t whylen)
{
    size_t len = strlen (value);
    if (len >= size) {
        snprintf (why, whylen, "value longer than %zu bytes", size - 1);
        return -1;
    }
    memcpy (dst, value, len + 1);
    return 0;
}

static bool
s_ipv4_valid (const char *text)
{
    unsigned a, b, c, d;
    char tail;
    return sscanf (text, "%u.%u.%u.%u%c", &a, &b, &c, &d, &tail) == 4 && a < 256 && b < 256
           && c < 256 && d < 256;
}

bool
shed_node_name_valid (const char *name)
{
    size_t len = strlen (name);
    if (len == 0 || len > SHED_NAME_MAX || !isalnum ((unsigned char) name[0]))
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char) name[i];
        if (!isalnum (c) && c != '-' && c != '_' && c != '.')
            return false;
    }
    return true;
}

int
shed_parse_hostport (const char *text, char *host, size_t hostlen, uint16_t *port,
                     uint16_t default_port)
{
    return shed_hostport_split (text, host, hostlen, port, default_port);
}

/* Read a cluster key from `path` into `out`. The file must be a regular file
 * owned by us or root with no group/other bits (0600 or stricter): whoever
 * else can read it has the key, whoever else owns or can write it chooses
 * it. Checked on the open descriptor, so a swap between check and read does
 * not help. The buffer is wiped on every path. */
static int
s_read_key_file (const char *path, char *out, size_t outlen, char *why, size_t whylen)
{
    int fd = open (path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        snprintf (why, whylen, "%s: %s", path, strerror (errno));
        return -1;
    }
    struct stat st;
    char buf[256];
    int rc = -1;
    ssize_t n = 0;
    if (fstat (fd, &st) != 0)
        snprintf (why, whylen, "%s: %s", path, strerror (errno));
    else if (!S_ISREG (st.st_mode))
        snprintf (why, whylen, "%s: not a regular file", path);
    else if (st.st_uid != geteuid () && st.st_uid != 0)
        snprintf (why, whylen, "%s: owned by uid %u, expected uid %u (this daemon) or root", path,
                  (unsigned) st.st_uid, (unsigned) geteuid ());
    else if ((st.st_mode & 0177) != 0)
        snprintf (why, whylen, "%s: mode %04o, expected 0600 or stricter (chmod 600 it)", path,
                  (unsigned) (st.st_mode & 07777));
    else if ((n = read (fd, buf, sizeof buf - 1)) < 0)
        snprintf (why, whylen, "%s: %s", path, strerror (errno));
    else {
        /* One key, as `shedctl keygen` prints it: surrounding white space
         * (the newline) is dropped, anything else is not a key. */
        buf[n] = '\0';
        char *start = buf, *end = buf + n;
        while (*start && isspace ((unsigned char) *start))
            start++;
        while (end > start && isspace ((unsigned char) end[-1]))
            *--end = '\0';
        uint8_t key[32];
        bool ok = (size_t) n < sizeof buf - 1 && shed_key_from_text (start, key) == 0;
        sodium_memzero (key, sizeof key);
        if (!ok)
            snprintf (why, whylen, "%s: expected a base64 32-byte key (see 'shedctl keygen')",
                      path);
        else
            rc = s_copy (out, outlen, start, why, whylen);
    }
    sodium_memzero (buf, sizeof buf);
    close (fd);
    return rc;
}

/* D_WORD: a value that must be one of the row's words: "expected a, b or
 * c, got 'x'" otherwise. */
static int
s_word (shed_config_t *cfg, const directive_t *d, char *slot, const char *subkey, const char *value,
        char *why, size_t whylen)
{
    const char *const *words = d->words;
    size_t n = 0;
    for (; words[n]; n++)
        if (strcmp (value, words[n]) == 0)
            return s_copy (slot, d->size, value, why, whylen);
    int off = snprintf (why, whylen, "expected ");
    for (size_t i = 0; i < n && off >= 0 && (size_t) off < whylen; i++)
        off += snprintf (why + off, whylen - (size_t) off, "%s%s", words[i],
                         i + 2 < n   ? ", "
                         : i + 1 < n ? " or "
                                     : "");
    if (off >= 0 && (size_t) off < whylen)
        snprintf (why + off, whylen - (size_t) off, ", got '%s'", value);
    return -1;
}

static int
s_name (shed_config_t *cfg, const directive_t *d, char *slot, const char *subkey, const char *value,
        char *why, size_t whylen)
{
    if (!shed_node_name_valid (value)) {
        snprintf (why, whylen,
                  "'%s' is not a valid node name (1-63 of A-Z a-z 0-9 . _ -, "
                  "starting with a letter or digit)",
                  value);
        return -1;
    }
    return s_copy (slot, d->size, value, why, whylen);
}

static int
s_hostport (shed_config_t *cfg, const directive_t *d, char *slot, const char *subkey,
            const char *value, char *why, size_t whylen)
{
    char host[64], canon[SHED_IP_TEXT_MAX];
    uint16_t port;
    int family = 0;
    if (shed_parse_hostport (value, host, sizeof host, &port, cfg->bind_port) == 0)
        family = shed_ip_canon (host, canon);
    /* An IPv4 literal as the old checker took it (no leading zeros) */
    if (!family || (family == 4 && !s_ipv4_valid (host) && !strchr (host, ':'))) {
        snprintf (why, whylen, "expected IPv4[:PORT], [IPv6]:PORT or IPv6, got '%s'", value);
        return -1;
    }
    if (!shed_ip_is_any (canon) && !shed_ip_is_unicast (canon)) {
        snprintf (why, whylen, "'%s' is a multicast or broadcast address, not one to bind", value);
        return -1;
    }
    strcpy (cfg->bind_addr, canon);
    cfg->bind_port = port;
    return 0;
}

static int
s_addr (shed_config_t *cfg, const directive_t *d, char *slot, const char *subkey, const char *value,
        char *why, size_t whylen)
{
    /* Peers compare advertised addresses as text: keep the one canonical
     * spelling (docs/configuration.md "Addresses"). Brackets are allowed,
     * as in bind and join. */
    char host[SHED_IP_TEXT_MAX + 2], canon[SHED_IP_TEXT_MAX];
    if (!*value)
        return s_copy (slot, d->size, value, why, whylen);
    size_t len = strlen (value);
    if (value[0] == '[' && len > 2 && len < sizeof host + 2 && value[len - 1] == ']') {
        memcpy (host, value + 1, len - 2);
        host[len - 2] = '\0';
    }
    else
        snprintf (host, sizeof host, "%s", value);
    int family = shed_ip_canon (host, canon);
    if (!family || (family == 4 && !strchr (host, ':') && !s_ipv4_valid (host))) {
        snprintf (why, whylen, "expected an IPv4 or IPv6 address, got '%s'", value);
        return -1;
    }
    if (!shed_ip_is_unicast (canon)) {
        snprintf (why, whylen,
                  "'%s' cannot be advertised: peers need a unicast address (not 0.0.0.0, ::, "
                  "multicast or broadcast)",
                  value);
        return -1;
    }
    return s_copy (slot, d->size, canon, why, whylen);
}

static int
s_path (shed_config_t *cfg, const directive_t *d, char *slot, const char *subkey, const char *value,
        char *why, size_t whylen)
{
    if (*value == '\0') {
        snprintf (why, whylen, "empty path");
        return -1;
    }
    return s_copy (slot, d->size, value, why, whylen);
}

static int
s_endpoint (shed_config_t *cfg, const directive_t *d, char *slot, const char *subkey,
            const char *value, char *why, size_t whylen)
{
    /* The local API has no CURVE/ZAP: whoever reaches it controls the
     * node (keyring included). An ipc socket in the data dir (0600) is
     * the only protection it has, so tcp:// and the like are refused
     * until the API authenticates its clients. "" = the default. */
    if (*value && (strncmp (value, "ipc://", 6) != 0 || value[6] == '\0')) {
        snprintf (why, whylen,
                  "expected an ipc:///path endpoint (the local API has no "
                  "authentication, so tcp:// and others are refused), got '%s'",
                  value);
        return -1;
    }
    /* ipc://@name is a Linux abstract socket: no file, so no mode, and
     * any local user can connect to it. */
    if (value[0] == 'i' && value[6] == '@') {
        snprintf (why, whylen,
                  "abstract ipc socket '%s' refused: it has no file mode, "
                  "so any local user could connect; use ipc:///path",
                  value);
        return -1;
    }
    return s_copy (slot, d->size, value, why, whylen);
}

static int
s_join (shed_config_t *cfg, const directive_t *d, char *slot, const char *subkey, const char *value,
        char *why, size_t whylen)
{
    char host[sizeof cfg->join[0] - 8]; /* room for ":65535" */
    uint16_t port;
    if (cfg->njoin >= SHED_JOIN_MAX) {
        snprintf (why, whylen, "more than %d seeds", SHED_JOIN_MAX);
        return -1;
    }
    if (shed_parse_hostport (value, host, sizeof host, &port, SHED_DEFAULT_PORT) != 0) {
        snprintf (why, whylen, "expected HOST[:PORT], [IPv6]:PORT or IPv6, got '%s'", value);
        return -1;
    }
    /* Stored as the membership actor reads seeds: "host:port" or
     * "[v6]:port" (common/ipaddr.h). */
    char canon[SHED_IP_TEXT_MAX];
    if (shed_ip_canon (host, canon))
        snprintf (host, sizeof host, "%s", canon);
    if (shed_hostport_join (cfg->join[cfg->njoin], sizeof cfg->join[0], host, port) < 0) {
        snprintf (why, whylen, "seed '%s' too long", value);
        return -1;
    }
    cfg->njoin++;
    return 0;
}

static int
s_level (shed_config_t *cfg, const directive_t *d, char *slot, const char *subkey,
         const char *value, char *why, size_t whylen)
{
    if (shed_log_parse_level (value, &cfg->log_level) != 0) {
        snprintf (why, whylen, "expected debug|info|warn|error, got '%s'", value);
        return -1;
    }
    return 0;
}

static int
s_size (shed_config_t *cfg, const directive_t *d, char *slot, const char *subkey, const char *value,
        char *why, size_t whylen)
{
    uint64_t bytes;
    if (placement_size_parse (value, 1024 * 1024, &bytes) != 0) {
        snprintf (why, whylen, "expected a size like 512M or 4G, got '%s'", value);
        return -1;
    }
    return s_copy (slot, d->size, value, why, whylen);
}

static int
s_cpus (shed_config_t *cfg, const directive_t *d, char *slot, const char *subkey, const char *value,
        char *why, size_t whylen)
{
    uint64_t milli;
    if (placement_cpus_parse (value, &milli) != 0) {
        snprintf (why, whylen, "expected cpus like 4, 0.5 or 1500m, got '%s'", value);
        return -1;
    }
    return s_copy (slot, d->size, value, why, whylen);
}

static int
s_url (shed_config_t *cfg, const directive_t *d, char *slot, const char *subkey, const char *value,
       char *why, size_t whylen)
{
    if (strncmp (value, "http://", 7) && strncmp (value, "https://", 8)) {
        snprintf (why, whylen, "expected an http:// or https:// URL, got '%s'", value);
        return -1;
    }
    return s_copy (slot, d->size, value, why, whylen);
}

static int
s_rate (shed_config_t *cfg, const directive_t *d, char *slot, const char *subkey, const char *value,
        char *why, size_t whylen)
{
    uint64_t kbit;
    if (tc_rate_parse (value, &kbit) != 0) {
        snprintf (why, whylen,
                  "expected a rate like 100mbit or 1gbit (0 = no limit, at most 17gbit), "
                  "got '%s'",
                  value);
        return -1;
    }
    return s_copy (slot, d->size, value, why, whylen);
}

static int
s_bool (shed_config_t *cfg, const directive_t *d, char *slot, const char *subkey, const char *value,
        char *why, size_t whylen)
{
    if (!strcmp (value, "true") || !strcmp (value, "yes") || !strcmp (value, "on"))
        *(bool *) slot = true;
    else if (!strcmp (value, "false") || !strcmp (value, "no") || !strcmp (value, "off"))
        *(bool *) slot = false;
    else {
        snprintf (why, whylen, "expected true or false, got '%s'", value);
        return -1;
    }
    return 0;
}

static int
s_key (shed_config_t *cfg, const directive_t *d, char *slot, const char *subkey, const char *value,
       char *why, size_t whylen)
{
    uint8_t key[32];
    int rc = shed_key_from_text (value, key);
    memset (key, 0, sizeof key); /* only validating here */
    if (rc != 0) {
        snprintf (why, whylen, "expected a base64 32-byte key (see 'shedctl keygen')");
        return -1;
    }
    return s_copy (slot, d->size, value, why, whylen);
}

static int
s_keyfile (shed_config_t *cfg, const directive_t *d, char *slot, const char *subkey,
           const char *value, char *why, size_t whylen)
{
    return s_read_key_file (value, slot, d->size, why, whylen);
}

static int
s_number (shed_config_t *cfg, const directive_t *d, char *slot, const char *subkey,
          const char *value, char *why, size_t whylen)
{
    char *end;
    errno = 0;
    double v = strtod (value, &end);
    bool integral = d->kind == D_F64 || strspn (value, "0123456789") == strlen (value);
    if (errno || end == value || *end || !integral) {
        snprintf (why, whylen, "expected %s, got '%s'",
                  d->kind == D_U32 ? "a whole number" : "a number", value);
        return -1;
    }
    if (v < d->min || v > d->max) {
        snprintf (why, whylen, "%s is outside %g..%g", value, d->min, d->max);
        return -1;
    }
    if (d->kind == D_U32)
        *(uint32_t *) slot = (uint32_t) v;
    else
        *(double *) slot = v;
    return 0;
}

/* D_MS / D_SEC: "500ms", "5s", "2m", "1h", "1m30s" (common/duration.h);
 * a bare number keeps the unit the key's name says, so files written
 * before units were accepted mean what they meant. A value in seconds must
 * be whole seconds ("1500ms" for dns.ttl_s is refused, not rounded). */
static int
s_duration (shed_config_t *cfg, const directive_t *d, char *slot, const char *subkey,
            const char *value, char *why, size_t whylen)
{
    uint64_t unit = d->kind == D_SEC ? 1000 : 1;
    uint64_t ms;
    char reason[160];
    if (shed_duration_parse (value, unit, &ms, reason, sizeof reason) != 0) {
        snprintf (why, whylen, "%s (a bare number is %s)", reason,
                  unit == 1 ? "milliseconds" : "seconds");
        return -1;
    }
    if (ms % unit) {
        snprintf (why, whylen, "'%s' is not a whole number of seconds", value);
        return -1;
    }
    uint64_t lo = (uint64_t) d->min * unit, hi = (uint64_t) d->max * unit;
    if (ms < lo || ms > hi) {
        char los[32], his[32];
        shed_duration_format (lo, los, sizeof los);
        shed_duration_format (hi, his, sizeof his);
        snprintf (why, whylen, "%s is outside %s..%s", value, los, his);
        return -1;
    }
    *(uint32_t *) slot = (uint32_t) (ms / unit);
    return 0;
}

static int
s_listen (shed_config_t *cfg, const directive_t *d, char *slot, const char *subkey,
          const char *value, char *why, size_t whylen)
{
    /* "IPv4:PORT" or "[IPv6]:PORT"; the port is required (0 = any). */
    const char *colon = strrchr (value, ':');
    char host[64];
    unsigned char bin[16];
    size_t hlen = colon ? (size_t) (colon - value) : 0;
    const char *h = value;
    if (hlen >= 2 && h[0] == '[' && h[hlen - 1] == ']') {
        h++;
        hlen -= 2;
    }
    char *end = NULL;
    unsigned long port = colon ? strtoul (colon + 1, &end, 10) : 0;
    bool ok = colon && hlen > 0 && hlen < sizeof host && colon[1] && !*end && port <= 65535
              && isdigit ((unsigned char) colon[1]);
    if (ok) {
        memcpy (host, h, hlen);
        host[hlen] = '\0';
        ok = (h == value ? inet_pton (AF_INET, host, bin) : inet_pton (AF_INET6, host, bin)) == 1;
    }
    if (!ok) {
        snprintf (why, whylen, "expected IPv4:PORT or [IPv6]:PORT, got '%s'", value);
        return -1;
    }
    return s_copy (slot, d->size, value, why, whylen);
}

static int
s_metrics (shed_config_t *cfg, const directive_t *d, char *slot, const char *subkey,
           const char *value, char *why, size_t whylen)
{
    /* An explicit address is a promise the operator relies on (a
     * scrape config points at it): node.c fails the start if it cannot
     * be bound, where the default only warns. */
    cfg->metrics.explicit_listen = true;
    if (*value == '\0') {
        *slot = '\0';
        return 0;
    }
    return s_listen (cfg, d, slot, subkey, value, why, whylen); /* the same shapes */
}

static int
s_apiaddr (shed_config_t *cfg, const directive_t *d, char *slot, const char *subkey,
           const char *value, char *why, size_t whylen)
{
    if (*value == '\0') {
        *slot = '\0';
        return 0;
    }
    return s_listen (cfg, d, slot, subkey, value, why, whylen);
}

static int
s_domain (shed_config_t *cfg, const directive_t *d, char *slot, const char *subkey,
          const char *value, char *why, size_t whylen)
{
    /* Labels of 1-63 [A-Za-z0-9-], not starting or ending with '-'. */
    size_t len = strlen (value), label = 0;
    bool ok = len > 0 && len < d->size && value[0] != '.' && value[len - 1] != '.';
    for (size_t i = 0; ok && i <= len; i++) {
        char c = value[i];
        if (c == '.' || c == '\0') {
            ok = label > 0 && label <= 63 && value[i - 1] != '-';
            label = 0;
        }
        else if (isalnum ((unsigned char) c) || (c == '-' && label > 0))
            label++;
        else
            ok = false;
    }
    if (!ok) {
        snprintf (why, whylen,
                  "'%s' is not a domain name (labels of A-Z a-z 0-9 -, "
                  "at most %zu bytes)",
                  value, d->size - 1);
        return -1;
    }
    return s_copy (slot, d->size, value, why, whylen);
}

static int
s_cidr (shed_config_t *cfg, const directive_t *d, char *slot, const char *subkey, const char *value,
        char *why, size_t whylen)
{
    char ip[20];
    const char *slash = strchr (value, '/');
    char *end = NULL;
    long len = slash ? strtol (slash + 1, &end, 10) : -1;
    bool ok = slash && (size_t) (slash - value) < sizeof ip && end != slash + 1 && !*end && len >= 8
              && len <= 30;
    struct in_addr in = { 0 };
    if (ok) {
        memcpy (ip, value, (size_t) (slash - value));
        ip[slash - value] = '\0';
        ok = s_ipv4_valid (ip) && inet_pton (AF_INET, ip, &in) == 1
             && (ntohl (in.s_addr) & ~(~0u << (32 - len))) == 0;
    }
    if (!ok) {
        snprintf (why, whylen,
                  "expected an IPv4 CIDR a.b.c.d/8..30 without host bits, "
                  "got '%s'",
                  value);
        return -1;
    }
    return s_copy (slot, d->size, value, why, whylen);
}

static int
s_ifname (shed_config_t *cfg, const directive_t *d, char *slot, const char *subkey,
          const char *value, char *why, size_t whylen)
{
    size_t len = strlen (value);
    bool ok = len > 0 && len < 16 && strcmp (value, ".") && strcmp (value, "..");
    for (size_t i = 0; ok && i < len; i++)
        ok = isgraph ((unsigned char) value[i]) && value[i] != '/' && value[i] != ':';
    if (!ok) {
        snprintf (why, whylen,
                  "'%s' is not an interface name (1-15 bytes, no '/', ':' "
                  "or spaces)",
                  value);
        return -1;
    }
    return s_copy (slot, d->size, value, why, whylen);
}

static int
s_hooks (shed_config_t *cfg, const directive_t *d, char *slot, const char *subkey,
         const char *value, char *why, size_t whylen)
{
    /* One hook per call. From a file, `subkey` is the event prefix and
     * `value` the command (s_hook_item); on the command line, the value
     * is "PREFIX=COMMAND". */
    const char *event = subkey, *command = value;
    char prefix[sizeof cfg->hooks[0].event];
    if (!event) {
        const char *eq = strchr (value, '=');
        if (!eq || (size_t) (eq - value) >= sizeof prefix) {
            snprintf (why, whylen, "expected PREFIX=COMMAND, got '%s'", value);
            return -1;
        }
        memcpy (prefix, value, (size_t) (eq - value));
        prefix[eq - value] = '\0';
        event = prefix;
        command = eq + 1;
    }
    if (strlen (event) >= sizeof cfg->hooks[0].event || strchr (event, '$')
        || strchr (event, ' ')) {
        snprintf (why, whylen,
                  "'%s' is not a topic prefix (at most 255 bytes, no spaces "
                  "or '$')",
                  event);
        return -1;
    }
    if (!*command || strlen (command) >= sizeof cfg->hooks[0].command) {
        snprintf (why, whylen, "a hook command is 1-%d bytes", SHED_HOOK_CMD_MAX);
        return -1;
    }
    if (cfg->nhooks >= SHED_HOOKS_MAX) {
        snprintf (why, whylen, "more than %d hooks", SHED_HOOKS_MAX);
        return -1;
    }
    shed_config_hook_t *h = &cfg->hooks[cfg->nhooks++];
    memset (h, 0, sizeof *h);
    strcpy (h->event, event);
    strcpy (h->command, command);
    return 0;
}

static int
s_tags (shed_config_t *cfg, const directive_t *d, char *slot, const char *subkey, const char *value,
        char *why, size_t whylen)
{
    if (!subkey || !*subkey || strlen (subkey) >= sizeof cfg->tags[0].key) {
        snprintf (why, whylen, "tag keys are 1-63 bytes");
        return -1;
    }
    if (strlen (value) >= sizeof cfg->tags[0].value) {
        snprintf (why, whylen, "tag values are at most 255 bytes");
        return -1;
    }
    size_t i;
    for (i = 0; i < cfg->ntags; i++)
        if (strcmp (cfg->tags[i].key, subkey) == 0)
            break;
    if (i == cfg->ntags) {
        if (cfg->ntags >= SHED_CFG_TAGS_MAX) {
            snprintf (why, whylen, "more than %d tags", SHED_CFG_TAGS_MAX);
            return -1;
        }
        cfg->ntags++;
    }
    strcpy (cfg->tags[i].key, subkey);
    strcpy (cfg->tags[i].value, value);
    return 0;
}

static value_fn *const s_checkers[] = {
    [D_NAME] = s_name,       [D_HOSTPORT] = s_hostport, [D_ADDR] = s_addr,
    [D_PATH] = s_path,       [D_ENDPOINT] = s_endpoint, [D_JOIN] = s_join,
    [D_LEVEL] = s_level,     [D_BOOL] = s_bool,         [D_KEY] = s_key,
    [D_KEYFILE] = s_keyfile, [D_WORD] = s_word,         [D_TAGS] = s_tags,
    [D_U32] = s_number,      [D_F64] = s_number,        [D_LISTEN] = s_listen,
    [D_METRICS] = s_metrics, [D_DOMAIN] = s_domain,     [D_CIDR] = s_cidr,
    [D_IFNAME] = s_ifname,   [D_SIZE] = s_size,         [D_CPUS] = s_cpus,
    [D_URL] = s_url,         [D_RATE] = s_rate,         [D_HOOKS] = s_hooks,
    [D_MS] = s_duration,     [D_SEC] = s_duration,      [D_APIADDR] = s_apiaddr,
};

int
config_directive_apply (shed_config_t *cfg, const directive_t *d, const char *subkey,
                        const char *value, char *why, size_t whylen)
{
    if ((size_t) d->kind >= sizeof s_checkers / sizeof s_checkers[0] || !s_checkers[d->kind]) {
        snprintf (why, whylen, "internal: unknown directive kind");
        return -1;
    }
    return s_checkers[d->kind](cfg, d, (char *) cfg + d->offset, subkey, value, why, whylen);
}
