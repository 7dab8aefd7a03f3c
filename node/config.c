/*
 * config.c - see config.h.
 *
 * The YAML file is read with libyaml's event parser: a mapping of known keys,
 * one level of sections ("gossip:") and two list/map-valued keys (join, tags).
 * Anything else is an error that names the file line and the key, because a
 * silently ignored typo in a daemon's config costs hours.
 */
#include "node/config.h"

#include "cluster/placement.h"
#include "crypto/identity.h"
#include "node/drivers/tc.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <sodium.h>
#include <yaml.h>

/* -------------------------------------------------------------------------
 * Directive table: one row per key the file or the command line may set.
 */
typedef enum {
    D_NAME,     /* node name */
    D_HOSTPORT, /* host[:port] into bind_addr/bind_port */
    D_ADDR,     /* IPv4 literal */
    D_PATH,     /* filesystem path */
    D_ENDPOINT, /* ipc:// ZeroMQ endpoint (the API is unauthenticated) */
    D_JOIN,     /* scalar or sequence of host:port */
    D_LEVEL,    /* log level */
    D_BOOL,
    D_KEY,      /* base64 32-byte key */
    D_KEYFILE,  /* path of a file holding a D_KEY, 0600 or stricter, ours */
    D_PROFILE,  /* lan | wan */
    D_TAGS,     /* mapping of str -> str */
    D_U32,      /* unsigned integer within [min, max] */
    D_F64,      /* number within [min, max] */
    D_LISTEN,   /* IPv4:PORT or [IPv6]:PORT, port 0 allowed (ephemeral) */
    D_METRICS,  /* as D_LISTEN, or "" (no endpoint); remembers it was set */
    D_DOMAIN,   /* DNS domain: dot-separated labels of [A-Za-z0-9-] */
    D_NETMODE,  /* overlay mode: encrypted | plain */
    D_CIDR,     /* IPv4 a.b.c.d/len, no host bits */
    D_IFNAME,   /* network interface name, 1-15 bytes */
    D_SIZE,     /* "512M", "4G", bare number = MiB (placement_size_parse) */
    D_CPUS,     /* "4", "0.5", "1500m" (placement_cpus_parse) */
    D_STRATEGY, /* binpack | spread */
    D_DRIVER,   /* netns | firecracker | shed-server */
    D_URL,      /* http://HOST[:PORT][/PATH] */
    D_RATE,     /* "100mbit", "1gbit", "0" (tc_rate_parse) */
    D_HOOKS,    /* sequence of mappings {event, command, timeout_ms}; a scalar
                 * (command line) is "PREFIX=COMMAND" */
} directive_kind_t;

typedef struct {
    const char *key;
    directive_kind_t kind;
    size_t offset;
    size_t size;
    double min, max;            /* D_U32 / D_F64 bounds */
} directive_t;

#define SLOT(member) offsetof (shed_config_t, member), sizeof (((shed_config_t *) 0)->member)

static const directive_t s_directives[] = {
    { "name",           D_NAME,     SLOT (name), 0, 0 },
    { "bind",           D_HOSTPORT, SLOT (bind_addr), 0, 0 },
    { "advertise",      D_ADDR,     SLOT (advertise_addr), 0, 0 },
    { "data_dir",       D_PATH,     SLOT (data_dir), 0, 0 },
    { "api",            D_ENDPOINT, SLOT (api_endpoint), 0, 0 },
    { "join",           D_JOIN,     SLOT (join), 0, 0 },
    { "log_level",      D_LEVEL,    SLOT (log_level), 0, 0 },
    { "encrypt_key",    D_KEY,      SLOT (encrypt_key), 0, 0 },
    { "encrypt_key_file", D_KEYFILE, SLOT (encrypt_key), 0, 0 },
    { "discover",       D_BOOL,     SLOT (discover), 0, 0 },
    { "gossip.profile", D_PROFILE,  SLOT (profile), 0, 0 },
    { "tags",           D_TAGS,     SLOT (tags), 0, 0 },
    { "leave_on_terminate", D_BOOL, SLOT (leave_on_terminate), 0, 0 },
    { "gossip.probe_interval_ms",    D_U32, SLOT (gossip.probe_interval_ms), 50, 60000 },
    { "gossip.probe_timeout_ms",     D_U32, SLOT (gossip.probe_timeout_ms), 10, 60000 },
    { "gossip.indirect_checks",      D_U32, SLOT (gossip.indirect_checks), 1, 16 },
    { "gossip.gossip_interval_ms",   D_U32, SLOT (gossip.gossip_interval_ms), 10, 60000 },
    { "gossip.gossip_nodes",         D_U32, SLOT (gossip.gossip_nodes), 1, 64 },
    { "gossip.retransmit_mult",      D_U32, SLOT (gossip.retransmit_mult), 1, 64 },
    { "gossip.pushpull_interval_ms", D_U32, SLOT (gossip.pushpull_interval_ms), 1000, 86400000 },
    { "gossip.reap_dead_s",          D_U32, SLOT (gossip.reap_dead_s), 1, 31536000 },
    { "gossip.reap_left_s",          D_U32, SLOT (gossip.reap_left_s), 1, 31536000 },
    { "gossip.suspicion_mult",       D_F64, SLOT (gossip.suspicion_mult), 0.5, 100 },
    { "gossip.suspicion_max_mult",   D_F64, SLOT (gossip.suspicion_max_mult), 1, 100 },
    { "dns.enabled",    D_BOOL,     SLOT (dns.enabled), 0, 0 },
    { "dns.addr",       D_LISTEN,   SLOT (dns.addr), 0, 0 },
    { "dns.domain",     D_DOMAIN,   SLOT (dns.domain), 0, 0 },
    { "dns.ttl_s",      D_U32,      SLOT (dns.ttl_s), 0, 3600 },
    { "dns.neg_ttl_s",  D_U32,      SLOT (dns.neg_ttl_s), 0, 3600 },
    { "dns.shed_listen",     D_BOOL, SLOT (dns.shed_listen), 0, 0 },
    { "dns.shed_port",       D_U32,  SLOT (dns.shed_port), 1, 65535 },
    { "dns.shed_rate_qps",   D_U32,  SLOT (dns.shed_rate_qps), 0, 1000000 },
    { "dns.shed_rate_burst", D_U32,  SLOT (dns.shed_rate_burst), 0, 1000000 },
    { "network.enabled",      D_BOOL,    SLOT (network.enabled), 0, 0 },
    { "network.mode",         D_NETMODE, SLOT (network.mode), 0, 0 },
    { "network.cidr",         D_CIDR,    SLOT (network.cidr), 0, 0 },
    { "network.block_prefix", D_U32,     SLOT (network.block_prefix), 8, 30 },
    { "network.vni",          D_U32,     SLOT (network.vni), 1, 16777215 },
    { "network.bridge",       D_IFNAME,  SLOT (network.bridge), 0, 0 },
    { "network.device",       D_IFNAME,  SLOT (network.device), 0, 0 },
    { "network.mtu",          D_U32,     SLOT (network.mtu), 0, 65000 },
    { "network.underlay_mtu", D_U32,     SLOT (network.underlay_mtu), 0, 65535 },
    { "network.nat",          D_BOOL,    SLOT (network.nat), 0, 0 },
    { "network.port",         D_U32,     SLOT (network.port), 0, 65535 },
    { "network.settle_ms",    D_U32,     SLOT (network.settle_ms), 0, 600000 },
    { "resources.cpus",            D_CPUS,     SLOT (resources.cpus), 0, 0 },
    { "resources.memory",          D_SIZE,     SLOT (resources.memory), 0, 0 },
    { "resources.disk",            D_SIZE,     SLOT (resources.disk), 0, 0 },
    { "resources.gpus",            D_U32,      SLOT (resources.gpus), 0, 1024 },
    { "resources.reserved_cpus",   D_CPUS,     SLOT (resources.reserved_cpus), 0, 0 },
    { "resources.reserved_memory", D_SIZE,     SLOT (resources.reserved_memory), 0, 0 },
    { "resources.reserved_disk",   D_SIZE,     SLOT (resources.reserved_disk), 0, 0 },
    { "scheduler.overcommit_cpu",    D_F64,    SLOT (scheduler.overcommit_cpu), 1, 100 },
    { "scheduler.overcommit_memory", D_F64,    SLOT (scheduler.overcommit_memory), 1, 100 },
    { "scheduler.overcommit_disk",   D_F64,    SLOT (scheduler.overcommit_disk), 1, 100 },
    { "scheduler.strategy",          D_STRATEGY, SLOT (scheduler.strategy), 0, 0 },
    { "scheduler.max_attempts",      D_U32,    SLOT (scheduler.max_attempts), 1, 16 },
    { "scheduler.name_ttl_s",        D_U32,    SLOT (scheduler.name_ttl_s), 5, 3600 },
    { "scheduler.claim_timeout_ms",  D_U32,    SLOT (scheduler.claim_timeout_ms), 500, 600000 },
    { "driver.default",        D_DRIVER,   SLOT (driver.default_driver), 0, 0 },
    { "driver.agent_path",     D_PATH,     SLOT (driver.agent_path), 0, 0 },
    { "driver.netns_dir",      D_PATH,     SLOT (driver.netns_dir), 0, 0 },
    { "driver.cgroup_parent",  D_PATH,     SLOT (driver.cgroup_parent), 0, 0 },
    { "driver.cgroup_root",    D_PATH,     SLOT (driver.cgroup_root), 0, 0 },
    { "driver.bridge",         D_IFNAME,   SLOT (driver.bridge), 0, 0 },
    { "driver.shed_server_url", D_URL,     SLOT (driver.shed_server_url), 0, 0 },
    { "driver.firecracker_bin", D_PATH,    SLOT (driver.firecracker_bin), 0, 0 },
    { "driver.kernel_image",   D_PATH,     SLOT (driver.kernel_image), 0, 0 },
    { "driver.pids_max",       D_U32,      SLOT (driver.pids_max), 0, 4194304 },
    { "driver.io_read_bps",    D_SIZE,     SLOT (driver.io_read_bps), 0, 0 },
    { "driver.io_write_bps",   D_SIZE,     SLOT (driver.io_write_bps), 0, 0 },
    { "driver.net_rate",       D_RATE,     SLOT (driver.net_rate), 0, 0 },
    { "driver.agent_config",   D_PATH,     SLOT (driver.agent_config), 0, 0 },
    { "driver.runtime",        D_PATH,     SLOT (driver.runtime), 0, 0 },
    { "driver.runtime_root",   D_PATH,     SLOT (driver.runtime_root), 0, 0 },
    { "driver.default_image",  D_PATH,     SLOT (driver.default_image), 0, 0 },
    { "driver.disk",           D_SIZE,     SLOT (driver.disk), 0, 0 },
    /* 65536 <= base, and base + 4096 ranges of 65536 stay below 2^32. */
    { "driver.id_base",        D_U32,      SLOT (driver.id_base), 65536, 4026531840.0 },
    { "hooks",                 D_HOOKS,    SLOT (hooks), 0, 0 },
    { "hooks_concurrency",     D_U32,      SLOT (hooks_concurrency), 1, 64 },
    { "hooks_queue",           D_U32,      SLOT (hooks_queue), 0, 100000 },
    { "hooks_timeout_ms",      D_U32,      SLOT (hooks_timeout_ms), 100, 86400000 },
    { "metrics.enabled",            D_BOOL,    SLOT (metrics.enabled), 0, 0 },
    { "metrics.listen",             D_METRICS, SLOT (metrics.listen), 0, 0 },
    { "events.consumer_listen",     D_LISTEN,  SLOT (events.consumer_listen), 0, 0 },
    { "events.consumer_keys",       D_PATH,    SLOT (events.consumer_keys), 0, 0 },
    { "state.tombstone_ttl_s",      D_U32, SLOT (state.tombstone_ttl_s), 1, 31536000 },
    { "agents.metrics_interval_ms", D_U32, SLOT (agents.metrics_interval_ms), 100, 3600000 },
    { "agents.heartbeat_ms",        D_U32, SLOT (agents.heartbeat_ms), 100, 600000 },
    { "agents.msgs_per_s",          D_U32, SLOT (agents.msgs_per_s), 1, 10000000 },
    { "agents.bytes_per_s",         D_U32, SLOT (agents.bytes_per_s), 65536, 1073741824 },
    { "agents.log_lines",           D_U32, SLOT (agents.log_lines), 0, 100000 },
    { "agents.services_max",        D_U32, SLOT (agents.services_max), 1, 4096 },
    { "agents.streams_max",         D_U32, SLOT (agents.streams_max), 1, 4096 },
    { "agents.accepts_per_s",       D_U32, SLOT (agents.accepts_per_s), 1, 1000 },
};

/* Keys that open a section of further keys. */
static const char *s_sections[] = { "gossip", "dns", "network", "resources", "scheduler",
                                    "driver", "agents", "metrics", "state", "events" };

static const directive_t *
s_find (const char *key)
{
    for (size_t i = 0; i < sizeof s_directives / sizeof s_directives[0]; i++)
        if (strcmp (s_directives[i].key, key) == 0)
            return &s_directives[i];
    return NULL;
}

static bool
s_is_section (const char *key)
{
    for (size_t i = 0; i < sizeof s_sections / sizeof s_sections[0]; i++)
        if (strcmp (s_sections[i], key) == 0)
            return true;
    return false;
}

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
    const char *colon = strrchr (text, ':');
    size_t hlen = colon ? (size_t) (colon - text) : strlen (text);
    if (hlen == 0 || hlen >= hostlen)
        return -1;
    memcpy (host, text, hlen);
    host[hlen] = '\0';
    *port = default_port;
    if (colon) {
        char *end;
        errno = 0;
        unsigned long p = strtoul (colon + 1, &end, 10);
        if (errno || *end || colon[1] == '\0' || p == 0 || p > 65535)
            return -1;
        *port = (uint16_t) p;
    }
    return 0;
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
        snprintf (why, whylen, "%s: owned by uid %u, expected uid %u (this daemon) or root",
                  path, (unsigned) st.st_uid, (unsigned) geteuid ());
    else if ((st.st_mode & 0177) != 0)
        snprintf (why, whylen, "%s: mode %04o, expected 0600 or stricter (chmod 600 it)",
                  path, (unsigned) (st.st_mode & 07777));
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

/* Apply one scalar to the slot a directive names. `why` gets the reason. */
static int
s_apply (shed_config_t *cfg, const directive_t *d, const char *subkey, const char *value,
         char *why, size_t whylen)
{
    char *slot = (char *) cfg + d->offset;
    switch (d->kind) {
    case D_NAME:
        if (!shed_node_name_valid (value)) {
            snprintf (why, whylen,
                      "'%s' is not a valid node name (1-63 of A-Z a-z 0-9 . _ -, "
                      "starting with a letter or digit)", value);
            return -1;
        }
        return s_copy (slot, d->size, value, why, whylen);
    case D_HOSTPORT: {
        char host[64];
        uint16_t port;
        if (shed_parse_hostport (value, host, sizeof host, &port, cfg->bind_port) != 0
            || !s_ipv4_valid (host)) {
            snprintf (why, whylen, "expected IPv4[:PORT], got '%s'", value);
            return -1;
        }
        strcpy (cfg->bind_addr, host);
        cfg->bind_port = port;
        return 0;
    }
    case D_ADDR:
        if (*value && !s_ipv4_valid (value)) {
            snprintf (why, whylen, "expected an IPv4 address, got '%s'", value);
            return -1;
        }
        return s_copy (slot, d->size, value, why, whylen);
    case D_PATH:
        if (*value == '\0') {
            snprintf (why, whylen, "empty path");
            return -1;
        }
        return s_copy (slot, d->size, value, why, whylen);
    case D_ENDPOINT:
        /* The local API has no CURVE/ZAP: whoever reaches it controls the
         * node (keyring included). An ipc socket in the data dir (0600) is
         * the only protection it has, so tcp:// and the like are refused
         * until the API authenticates its clients. "" = the default. */
        if (*value && (strncmp (value, "ipc://", 6) != 0 || value[6] == '\0')) {
            snprintf (why, whylen, "expected an ipc:///path endpoint (the local API has no "
                      "authentication, so tcp:// and others are refused), got '%s'", value);
            return -1;
        }
        /* ipc://@name is a Linux abstract socket: no file, so no mode, and
         * any local user can connect to it. */
        if (value[0] == 'i' && value[6] == '@') {
            snprintf (why, whylen, "abstract ipc socket '%s' refused: it has no file mode, "
                      "so any local user could connect; use ipc:///path", value);
            return -1;
        }
        return s_copy (slot, d->size, value, why, whylen);
    case D_JOIN: {
        char host[sizeof cfg->join[0] - 8];   /* room for ":65535" */
        uint16_t port;
        if (cfg->njoin >= SHED_JOIN_MAX) {
            snprintf (why, whylen, "more than %d seeds", SHED_JOIN_MAX);
            return -1;
        }
        if (shed_parse_hostport (value, host, sizeof host, &port, SHED_DEFAULT_PORT) != 0) {
            snprintf (why, whylen, "expected HOST[:PORT], got '%s'", value);
            return -1;
        }
        snprintf (cfg->join[cfg->njoin++], sizeof cfg->join[0], "%s:%u", host, port);
        return 0;
    }
    case D_LEVEL:
        if (shed_log_parse_level (value, &cfg->log_level) != 0) {
            snprintf (why, whylen, "expected debug|info|warn|error, got '%s'", value);
            return -1;
        }
        return 0;
    case D_SIZE: {
        uint64_t bytes;
        if (placement_size_parse (value, 1024 * 1024, &bytes) != 0) {
            snprintf (why, whylen, "expected a size like 512M or 4G, got '%s'", value);
            return -1;
        }
        return s_copy (slot, d->size, value, why, whylen);
    }
    case D_CPUS: {
        uint64_t milli;
        if (placement_cpus_parse (value, &milli) != 0) {
            snprintf (why, whylen, "expected cpus like 4, 0.5 or 1500m, got '%s'", value);
            return -1;
        }
        return s_copy (slot, d->size, value, why, whylen);
    }
    case D_STRATEGY:
        if (strcmp (value, "binpack") && strcmp (value, "spread")) {
            snprintf (why, whylen, "expected binpack or spread, got '%s'", value);
            return -1;
        }
        return s_copy (slot, d->size, value, why, whylen);
    case D_URL:
        if (strncmp (value, "http://", 7) && strncmp (value, "https://", 8)) {
            snprintf (why, whylen, "expected an http:// or https:// URL, got '%s'", value);
            return -1;
        }
        return s_copy (slot, d->size, value, why, whylen);
    case D_RATE: {
        uint64_t kbit;
        if (tc_rate_parse (value, &kbit) != 0) {
            snprintf (why, whylen, "expected a rate like 100mbit or 1gbit (0 = no limit), "
                      "got '%s'", value);
            return -1;
        }
        return s_copy (slot, d->size, value, why, whylen);
    }
    case D_DRIVER:
        if (strcmp (value, "auto") && strcmp (value, "container") && strcmp (value, "netns")
            && strcmp (value, "firecracker") && strcmp (value, "shed-server")) {
            snprintf (why, whylen, "expected auto, container, netns, firecracker or "
                      "shed-server, got '%s'", value);
            return -1;
        }
        return s_copy (slot, d->size, value, why, whylen);
    case D_BOOL:
        if (!strcmp (value, "true") || !strcmp (value, "yes") || !strcmp (value, "on"))
            *(bool *) slot = true;
        else if (!strcmp (value, "false") || !strcmp (value, "no") || !strcmp (value, "off"))
            *(bool *) slot = false;
        else {
            snprintf (why, whylen, "expected true or false, got '%s'", value);
            return -1;
        }
        return 0;
    case D_KEY: {
        uint8_t key[32];
        int rc = shed_key_from_text (value, key);
        memset (key, 0, sizeof key);   /* only validating here */
        if (rc != 0) {
            snprintf (why, whylen, "expected a base64 32-byte key (see 'shedctl keygen')");
            return -1;
        }
        return s_copy (slot, d->size, value, why, whylen);
    }
    case D_KEYFILE:
        return s_read_key_file (value, slot, d->size, why, whylen);
    case D_PROFILE:
        if (strcmp (value, "lan") && strcmp (value, "wan")) {
            snprintf (why, whylen, "expected lan or wan, got '%s'", value);
            return -1;
        }
        return s_copy (slot, d->size, value, why, whylen);
    case D_U32:
    case D_F64: {
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
    case D_METRICS:
        /* An explicit address is a promise the operator relies on (a
         * scrape config points at it): node.c fails the start if it cannot
         * be bound, where the default only warns. */
        cfg->metrics.explicit_listen = true;
        if (*value == '\0') {
            *slot = '\0';
            return 0;
        }
        __attribute__ ((fallthrough));     /* the same shapes as D_LISTEN */
    case D_LISTEN: {
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
            ok = (h == value ? inet_pton (AF_INET, host, bin) : inet_pton (AF_INET6, host, bin))
                 == 1;
        }
        if (!ok) {
            snprintf (why, whylen, "expected IPv4:PORT or [IPv6]:PORT, got '%s'", value);
            return -1;
        }
        return s_copy (slot, d->size, value, why, whylen);
    }
    case D_DOMAIN: {
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
            snprintf (why, whylen, "'%s' is not a domain name (labels of A-Z a-z 0-9 -, "
                      "at most %zu bytes)", value, d->size - 1);
            return -1;
        }
        return s_copy (slot, d->size, value, why, whylen);
    }
    case D_NETMODE:
        if (strcmp (value, "encrypted") && strcmp (value, "plain")) {
            snprintf (why, whylen, "expected encrypted or plain, got '%s'", value);
            return -1;
        }
        return s_copy (slot, d->size, value, why, whylen);
    case D_CIDR: {
        char ip[20];
        const char *slash = strchr (value, '/');
        char *end = NULL;
        long len = slash ? strtol (slash + 1, &end, 10) : -1;
        bool ok = slash && (size_t) (slash - value) < sizeof ip && end != slash + 1 && !*end
                  && len >= 8 && len <= 30;
        struct in_addr in = { 0 };
        if (ok) {
            memcpy (ip, value, (size_t) (slash - value));
            ip[slash - value] = '\0';
            ok = s_ipv4_valid (ip) && inet_pton (AF_INET, ip, &in) == 1
                 && (ntohl (in.s_addr) & ~(~0u << (32 - len))) == 0;
        }
        if (!ok) {
            snprintf (why, whylen, "expected an IPv4 CIDR a.b.c.d/8..30 without host bits, "
                      "got '%s'", value);
            return -1;
        }
        return s_copy (slot, d->size, value, why, whylen);
    }
    case D_IFNAME: {
        size_t len = strlen (value);
        bool ok = len > 0 && len < 16 && strcmp (value, ".") && strcmp (value, "..");
        for (size_t i = 0; ok && i < len; i++)
            ok = isgraph ((unsigned char) value[i]) && value[i] != '/' && value[i] != ':';
        if (!ok) {
            snprintf (why, whylen, "'%s' is not an interface name (1-15 bytes, no '/', ':' "
                      "or spaces)", value);
            return -1;
        }
        return s_copy (slot, d->size, value, why, whylen);
    }
    case D_HOOKS: {
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
            snprintf (why, whylen, "'%s' is not a topic prefix (at most 255 bytes, no spaces "
                      "or '$')", event);
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
    case D_TAGS: {
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
    }
    snprintf (why, whylen, "internal: unknown directive kind");
    return -1;
}

void
shed_config_defaults (shed_config_t *cfg)
{
    memset (cfg, 0, sizeof *cfg);
    char host[256] = "";
    if (gethostname (host, sizeof host - 1) != 0 || !*host)
        strcpy (host, "node");
    char *dot = strchr (host, '.');
    if (dot)
        *dot = '\0';
    host[SHED_NAME_MAX] = '\0';
    if (!shed_node_name_valid (host))
        strcpy (host, "node");
    strcpy (cfg->name, host);
    strcpy (cfg->bind_addr, "0.0.0.0");
    cfg->bind_port = SHED_DEFAULT_PORT;
    strcpy (cfg->data_dir, SHED_DEFAULT_DATADIR);
    cfg->log_level = SHED_LOG_INFO;
    strcpy (cfg->profile, "lan");
    cfg->leave_on_terminate = true;
    cfg->dns.enabled = true;
    strcpy (cfg->dns.addr, "127.0.0.1:8600");
    strcpy (cfg->dns.domain, "shed");
    cfg->dns.shed_listen = true;
    cfg->dns.shed_port = 53;
    cfg->dns.shed_rate_qps = 500;
    cfg->dns.shed_rate_burst = 1000;
    cfg->network.enabled = true;
    strcpy (cfg->network.mode, "encrypted");
    strcpy (cfg->network.cidr, "198.19.0.0/16");
    cfg->network.block_prefix = 24;
    cfg->network.vni = 4242;
    strcpy (cfg->network.bridge, "shbr0");
    cfg->scheduler.overcommit_cpu = 1.0;
    cfg->scheduler.overcommit_memory = 1.0;
    cfg->scheduler.overcommit_disk = 1.0;
    strcpy (cfg->scheduler.strategy, "binpack");
    cfg->scheduler.max_attempts = 3;
    cfg->scheduler.name_ttl_s = 60;
    cfg->scheduler.claim_timeout_ms = 30000;
    strcpy (cfg->driver.default_driver, "auto");
    strcpy (cfg->driver.disk, "10G");
    cfg->driver.id_base = 0x70000000u;
    cfg->driver.pids_max = 4096;
    cfg->hooks_concurrency = 4;
    cfg->hooks_queue = 64;
    cfg->hooks_timeout_ms = 30000;
    cfg->agents.log_lines = 1000;
    cfg->state.tombstone_ttl_s = 3600;  /* STATE_TOMBSTONE_TTL_DEFAULT */
    cfg->metrics.enabled = true;
    strcpy (cfg->metrics.listen, SHED_METRICS_DEFAULT_LISTEN);
}

/* Errors quote the offending value, which may hold newlines or other
 * control bytes (a folded YAML scalar, a hostile file): keep the message on
 * one printable line. */
static void
s_one_line (char *text)
{
    for (unsigned char *p = (unsigned char *) text; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            *p = ' ';
}

int
shed_config_set (shed_config_t *cfg, const char *key, const char *value, char *err,
                 size_t errlen)
{
    const char *subkey = NULL;
    const directive_t *d = s_find (key);
    if (!d && strncmp (key, "tags.", 5) == 0) {
        d = s_find ("tags");
        subkey = key + 5;
    }
    if (!d) {
        snprintf (err, errlen, "unknown key '%s'", key);
        s_one_line (err);
        return -1;
    }
    char why[256];
    if (s_apply (cfg, d, subkey, value, why, sizeof why) != 0) {
        snprintf (err, errlen, "key '%s': %s", key, why);
        s_one_line (err);
        return -1;
    }
    return 0;
}

int
shed_config_key_from_env (shed_config_t *cfg, char *err, size_t errlen)
{
    char *value = getenv (SHED_ENCRYPT_KEY_ENV);
    if (!value)
        return 0;
    int rc = shed_config_set (cfg, "encrypt_key", value, err, errlen);
    if (rc != 0)
        /* The generic message names the key 'encrypt_key'; say where the
         * value came from instead, and never echo it. */
        snprintf (err, errlen, "%s: expected a base64 32-byte key (see 'shedctl keygen')",
                  SHED_ENCRYPT_KEY_ENV);
    /* getenv points into the environment block the kernel shows in
     * /proc/PID/environ: wipe the value there, then drop the variable so
     * hooks and drivers started later do not inherit it. */
    sodium_memzero (value, strlen (value));
    unsetenv (SHED_ENCRYPT_KEY_ENV);
    return rc;
}

void
shed_config_wipe_arg (char *arg)
{
    if (arg)
        memset (arg, 'x', strlen (arg));
}

/* -------------------------------------------------------------------------
 * YAML walk
 */
typedef struct {
    yaml_parser_t parser;
    const char *origin;
    char *err;
    size_t errlen;
    shed_config_t *cfg;
} walk_t;

static int
s_fail (walk_t *w, const yaml_event_t *ev, const char *fmt, ...)
    __attribute__ ((format (printf, 3, 4)));

static int
s_fail (walk_t *w, const yaml_event_t *ev, const char *fmt, ...)
{
    char text[384];
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (text, sizeof text, fmt, ap);
    va_end (ap);
    snprintf (w->err, w->errlen, "%s:%zu: %s", w->origin, ev ? ev->start_mark.line + 1 : 0,
              text);
    return -1;
}

/* Next event, turning libyaml's parse errors into our one-line form. */
static int
s_next (walk_t *w, yaml_event_t *ev)
{
    if (!yaml_parser_parse (&w->parser, ev)) {
        snprintf (w->err, w->errlen, "%s:%zu: YAML syntax error: %s", w->origin,
                  w->parser.problem_mark.line + 1,
                  w->parser.problem ? w->parser.problem : "unknown");
        return -1;
    }
    if (ev->type == YAML_ALIAS_EVENT) {
        s_fail (w, ev, "YAML aliases are not supported");
        yaml_event_delete (ev);
        return -1;
    }
    return 0;
}

static int
s_scalar (walk_t *w, const char *key, const char *subkey, const yaml_event_t *ev)
{
    const directive_t *d = s_find (key);
    if (!d)
        return s_fail (w, ev, "unknown key '%s'", key);
    char why[256];
    if (s_apply (w->cfg, d, subkey, (const char *) ev->data.scalar.value, why, sizeof why))
        return s_fail (w, ev, "key '%s': %s", key, why);
    return 0;
}

static int s_mapping (walk_t *w, const char *prefix);

/* Walk a mapping whose keys must be scalars: fn gets each key and value
 * event; the walk stops at the end of the mapping or at the first error.
 * `keys_are` finishes the message for a key that is not a scalar. */
typedef int (s_pair_fn) (walk_t *w, const char *key, const yaml_event_t *k,
                         const yaml_event_t *v, void *arg);

static int
s_pairs (walk_t *w, const char *key, const char *keys_are, s_pair_fn *fn, void *arg)
{
    int rc = 0;
    while (rc == 0) {
        yaml_event_t k, v;
        if (s_next (w, &k))
            return -1;
        if (k.type == YAML_MAPPING_END_EVENT) {
            yaml_event_delete (&k);
            break;
        }
        if (k.type != YAML_SCALAR_EVENT) {
            rc = s_fail (w, &k, "key '%s': %s", key, keys_are);
            yaml_event_delete (&k);
            break;
        }
        if (s_next (w, &v)) {
            yaml_event_delete (&k);
            return -1;
        }
        rc = fn (w, key, &k, &v, arg);
        yaml_event_delete (&k);
        yaml_event_delete (&v);
    }
    return rc;
}

/* The fields of one hook while its mapping is read. */
typedef struct {
    char event[256];
    char command[SHED_HOOK_CMD_MAX + 1];
    char timeout[32];
    bool have_event, have_command;
} s_hook_fields_t;

static int
s_hook_field (walk_t *w, const char *key, const yaml_event_t *k, const yaml_event_t *v,
              void *arg)
{
    s_hook_fields_t *h = arg;
    const char *f = (const char *) k->data.scalar.value;
    const char *val = v->type == YAML_SCALAR_EVENT ? (const char *) v->data.scalar.value : NULL;
    char *dst = !strcmp (f, "event") ? h->event : !strcmp (f, "command") ? h->command
              : !strcmp (f, "timeout_ms") ? h->timeout : NULL;
    size_t cap = dst == h->event ? sizeof h->event : dst == h->command ? sizeof h->command
               : sizeof h->timeout;
    if (!dst)
        return s_fail (w, k, "key '%s': unknown hook field '%s' (event, command, timeout_ms)",
                       key, f);
    if (!val)
        return s_fail (w, v, "key '%s.%s': expected a string", key, f);
    if (strlen (val) >= cap)
        return s_fail (w, v, "key '%s.%s': longer than %zu bytes", key, f, cap - 1);
    strcpy (dst, val);
    h->have_event |= dst == h->event;
    h->have_command |= dst == h->command;
    return 0;
}

/* One hook: a mapping of event, command and an optional timeout_ms, each a
 * scalar. Errors name the item's line and the field. */
static int
s_hook_item (walk_t *w, const char *key, const yaml_event_t *start)
{
    s_hook_fields_t h = { .have_event = false };
    int rc = s_pairs (w, key, "hook fields are event, command, timeout_ms", s_hook_field, &h);
    if (rc)
        return rc;
    if (!h.have_event || !h.have_command)
        return s_fail (w, start, "key '%s': a hook needs event and command", key);
    const directive_t *d = s_find (key);
    char why[256];
    if (s_apply (w->cfg, d, h.event, h.command, why, sizeof why))
        return s_fail (w, start, "key '%s': %s", key, why);
    if (*h.timeout) {
        char *end;
        errno = 0;
        unsigned long t = strtoul (h.timeout, &end, 10);
        if (errno || *end || !isdigit ((unsigned char) h.timeout[0]) || t < 100 || t > 86400000)
            return s_fail (w, start, "key '%s.timeout_ms': expected 100..86400000, got '%s'",
                           key, h.timeout);
        w->cfg->hooks[w->cfg->nhooks - 1].timeout_ms = (uint32_t) t;
    }
    return 0;
}

/* One tag of a `tags` mapping: its value must be a scalar. */
static int
s_tag_pair (walk_t *w, const char *key, const yaml_event_t *k, const yaml_event_t *v, void *arg)
{
    if (v->type != YAML_SCALAR_EVENT)
        return s_fail (w, v, "key '%s.%s': tag values must be strings", key,
                       (const char *) k->data.scalar.value);
    return s_scalar (w, key, (const char *) k->data.scalar.value, v);
}

/* hooks: [ {event: ..., command: ...}, ... ]; a later source replaces the list. */
static int
s_hooks (walk_t *w, const char *key)
{
    w->cfg->nhooks = 0;
    for (;;) {
        yaml_event_t item;
        if (s_next (w, &item))
            return -1;
        if (item.type == YAML_SEQUENCE_END_EVENT) {
            yaml_event_delete (&item);
            return 0;
        }
        int rc = item.type == YAML_MAPPING_START_EVENT
                     ? s_hook_item (w, key, &item)
                     : s_fail (w, &item, "key '%s': list items must be {event: PREFIX, "
                               "command: CMD}", key);
        yaml_event_delete (&item);
        if (rc)
            return rc;
    }
}

/* Handle the value after `key` (already joined with its section prefix). */
static int
s_value (walk_t *w, const char *key, yaml_event_t *ev)
{
    const directive_t *d = s_find (key);
    int rc = 0;
    if (ev->type == YAML_SCALAR_EVENT) {
        if (d && (d->kind == D_TAGS))
            return s_fail (w, ev, "key '%s': expected a mapping of tag: value", key);
        if (d && d->kind == D_JOIN)
            w->cfg->njoin = 0;   /* a later source replaces the list */
        if (d && d->kind == D_HOOKS)
            return s_fail (w, ev, "key '%s': expected a list of {event: PREFIX, command: CMD}",
                           key);
        return s_scalar (w, key, NULL, ev);
    }
    if (ev->type == YAML_SEQUENCE_START_EVENT && d && d->kind == D_HOOKS)
        return s_hooks (w, key);
    if (ev->type == YAML_SEQUENCE_START_EVENT) {
        if (!d || d->kind != D_JOIN)
            return d ? s_fail (w, ev, "key '%s': a list is not allowed here", key)
                     : s_fail (w, ev, "unknown key '%s'", key);
        w->cfg->njoin = 0;
        while (rc == 0) {
            yaml_event_t item;
            if (s_next (w, &item))
                return -1;
            if (item.type == YAML_SEQUENCE_END_EVENT) {
                yaml_event_delete (&item);
                break;
            }
            if (item.type != YAML_SCALAR_EVENT)
                rc = s_fail (w, &item, "key '%s': list items must be HOST:PORT strings", key);
            else
                rc = s_scalar (w, key, NULL, &item);
            yaml_event_delete (&item);
        }
        return rc;
    }
    if (ev->type == YAML_MAPPING_START_EVENT) {
        if (s_is_section (key))
            return s_mapping (w, key);
        if (!d || d->kind != D_TAGS)
            return d ? s_fail (w, ev, "key '%s': a mapping is not allowed here", key)
                     : s_fail (w, ev, "unknown key '%s'", key);
        return s_pairs (w, key, "tag names must be strings", s_tag_pair, NULL);
    }
    return s_fail (w, ev, "key '%s': unexpected YAML construct", key);
}

/* Read key/value pairs until the mapping ends. */
static int
s_mapping (walk_t *w, const char *prefix)
{
    for (;;) {
        yaml_event_t k;
        if (s_next (w, &k))
            return -1;
        if (k.type == YAML_MAPPING_END_EVENT) {
            yaml_event_delete (&k);
            return 0;
        }
        if (k.type != YAML_SCALAR_EVENT) {
            int rc = s_fail (w, &k, "expected a key name");
            yaml_event_delete (&k);
            return rc;
        }
        char key[128];
        int n = snprintf (key, sizeof key, "%s%s%s", prefix, *prefix ? "." : "",
                          (const char *) k.data.scalar.value);
        if (n < 0 || (size_t) n >= sizeof key) {
            int rc = s_fail (w, &k, "key name too long");
            yaml_event_delete (&k);
            return rc;
        }
        yaml_event_delete (&k);
        yaml_event_t v;
        if (s_next (w, &v))
            return -1;
        int rc = s_value (w, key, &v);
        yaml_event_delete (&v);
        if (rc)
            return rc;
    }
}

int
shed_config_load_buffer (shed_config_t *cfg, const char *text, size_t len, const char *origin,
                         char *err, size_t errlen)
{
    walk_t w = { .origin = origin, .err = err, .errlen = errlen, .cfg = cfg };
    if (!yaml_parser_initialize (&w.parser)) {
        snprintf (err, errlen, "%s: cannot initialise YAML parser", origin);
        return -1;
    }
    yaml_parser_set_input_string (&w.parser, (const unsigned char *) text, len);
    int rc = 0;
    bool done = false;
    while (rc == 0 && !done) {
        yaml_event_t ev;
        if (s_next (&w, &ev)) {
            rc = -1;
            break;
        }
        switch (ev.type) {
        case YAML_STREAM_START_EVENT:
        case YAML_DOCUMENT_START_EVENT:
        case YAML_DOCUMENT_END_EVENT:
            break;
        case YAML_STREAM_END_EVENT:
            done = true;
            break;
        case YAML_MAPPING_START_EVENT:
            rc = s_mapping (&w, "");
            break;
        case YAML_SCALAR_EVENT:
            /* An empty document is a scalar null: accept it, reject text. */
            if (ev.data.scalar.length != 0)
                rc = s_fail (&w, &ev, "the top level must be a mapping of key: value");
            break;
        default:
            rc = s_fail (&w, &ev, "the top level must be a mapping of key: value");
        }
        yaml_event_delete (&ev);
    }
    yaml_parser_delete (&w.parser);
    if (rc != 0)
        s_one_line (err);
    return rc;
}

int
shed_config_load_file (shed_config_t *cfg, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen (path, "rb");
    if (!f) {
        snprintf (err, errlen, "%s: %s", path, strerror (errno));
        return -1;
    }
    char *buf = malloc (1 << 20);
    size_t len = buf ? fread (buf, 1, (1 << 20), f) : 0;
    bool too_big = buf && len == (1 << 20);
    fclose (f);
    if (!buf || too_big) {
        snprintf (err, errlen, "%s: %s", path, buf ? "file larger than 1 MiB" : "out of memory");
        free (buf);
        return -1;
    }
    int rc = shed_config_load_buffer (cfg, buf, len, path, err, errlen);
    free (buf);
    return rc;
}

int
shed_config_finish (shed_config_t *cfg, char *err, size_t errlen)
{
    if (cfg->api_endpoint[0] == '\0') {
        int n = snprintf (cfg->api_endpoint, sizeof cfg->api_endpoint, "ipc://%s/api.sock",
                          cfg->data_dir);
        /* ipc paths are limited by sun_path (108 bytes). */
        if (n < 0 || (size_t) n >= sizeof cfg->api_endpoint || strlen (cfg->data_dir) > 95) {
            snprintf (err, errlen, "data_dir '%s' is too long for an ipc socket path; set 'api'",
                      cfg->data_dir);
            return -1;
        }
    }
    if (cfg->advertise_addr[0] == '\0' && strcmp (cfg->bind_addr, "0.0.0.0") != 0)
        strcpy (cfg->advertise_addr, cfg->bind_addr);
    return 0;
}
