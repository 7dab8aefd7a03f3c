/*
 * config_directives.c - the table of config keys (config_directive.h).
 * Adding a key: a row here, its field in shed_config_t (config.h), its
 * default in shed_config_defaults (config.c) and a line in
 * docs/configuration.md.
 */
#include "node/config_directive.h"

#include <string.h>

static const char *const s_profiles[] = { "lan", "wan", NULL };
static const char *const s_netmodes[] = { "encrypted", "plain", NULL };
static const char *const s_strategies[] = { "binpack", "spread", NULL };
static const char *const s_drivers[] = { "auto",        "container",   "netns",
                                         "firecracker", "shed-server", NULL };

#define SLOT(member) offsetof (shed_config_t, member), sizeof (((shed_config_t *) 0)->member)

/* Only D_WORD rows name their words; the others leave `words` NULL (C
 * zero-fills the missing trailing member), so the warning about it is off
 * for this table alone. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
/* clang-format off */
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
    { "gossip.profile", D_WORD,     SLOT (profile), 0, 0, s_profiles },
    { "tags",           D_TAGS,     SLOT (tags), 0, 0 },
    { "leave_on_terminate", D_BOOL, SLOT (leave_on_terminate), 0, 0 },
    { "gossip.probe_interval_ms",    D_MS,  SLOT (gossip.probe_interval_ms), 50, 60000 },
    { "gossip.probe_timeout_ms",     D_MS,  SLOT (gossip.probe_timeout_ms), 10, 60000 },
    { "gossip.indirect_checks",      D_U32, SLOT (gossip.indirect_checks), 1, 16 },
    { "gossip.gossip_interval_ms",   D_MS,  SLOT (gossip.gossip_interval_ms), 10, 60000 },
    { "gossip.gossip_nodes",         D_U32, SLOT (gossip.gossip_nodes), 1, 64 },
    { "gossip.retransmit_mult",      D_U32, SLOT (gossip.retransmit_mult), 1, 64 },
    { "gossip.pushpull_interval_ms", D_MS,  SLOT (gossip.pushpull_interval_ms), 1000, 86400000 },
    { "gossip.reap_dead_s",          D_SEC, SLOT (gossip.reap_dead_s), 1, 31536000 },
    { "gossip.reap_left_s",          D_SEC, SLOT (gossip.reap_left_s), 1, 31536000 },
    { "gossip.suspicion_mult",       D_F64, SLOT (gossip.suspicion_mult), 0.5, 100 },
    { "gossip.suspicion_max_mult",   D_F64, SLOT (gossip.suspicion_max_mult), 1, 100 },
    { "dns.enabled",    D_BOOL,     SLOT (dns.enabled), 0, 0 },
    { "dns.addr",       D_LISTEN,   SLOT (dns.addr), 0, 0 },
    { "dns.domain",     D_DOMAIN,   SLOT (dns.domain), 0, 0 },
    { "dns.ttl_s",      D_SEC,      SLOT (dns.ttl_s), 0, 3600 },
    { "dns.neg_ttl_s",  D_SEC,      SLOT (dns.neg_ttl_s), 0, 3600 },
    { "dns.shed_listen",     D_BOOL, SLOT (dns.shed_listen), 0, 0 },
    { "dns.shed_port",       D_U32,  SLOT (dns.shed_port), 1, 65535 },
    { "dns.shed_rate_qps",   D_U32,  SLOT (dns.shed_rate_qps), 0, 1000000 },
    { "dns.shed_rate_burst", D_U32,  SLOT (dns.shed_rate_burst), 0, 1000000 },
    { "network.enabled",      D_BOOL,    SLOT (network.enabled), 0, 0 },
    { "network.mode",         D_WORD,    SLOT (network.mode), 0, 0, s_netmodes },
    { "network.cidr",         D_CIDR,    SLOT (network.cidr), 0, 0 },
    { "network.block_prefix", D_U32,     SLOT (network.block_prefix), 8, 30 },
    { "network.vni",          D_U32,     SLOT (network.vni), 1, 16777215 },
    { "network.bridge",       D_IFNAME,  SLOT (network.bridge), 0, 0 },
    { "network.device",       D_IFNAME,  SLOT (network.device), 0, 0 },
    { "network.mtu",          D_U32,     SLOT (network.mtu), 0, 65000 },
    { "network.underlay_mtu", D_U32,     SLOT (network.underlay_mtu), 0, 65535 },
    { "network.nat",          D_BOOL,    SLOT (network.nat), 0, 0 },
    { "network.port",         D_U32,     SLOT (network.port), 0, 65535 },
    { "network.settle_ms",    D_MS,      SLOT (network.settle_ms), 0, 600000 },
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
    { "scheduler.strategy",          D_WORD,   SLOT (scheduler.strategy), 0, 0, s_strategies },
    { "scheduler.max_attempts",      D_U32,    SLOT (scheduler.max_attempts), 1, 16 },
    { "scheduler.name_ttl_s",        D_SEC,    SLOT (scheduler.name_ttl_s), 5, 3600 },
    { "scheduler.claim_timeout_ms",  D_MS,     SLOT (scheduler.claim_timeout_ms), 500, 600000 },
    { "driver.default",        D_WORD,     SLOT (driver.default_driver), 0, 0, s_drivers },
    { "driver.agent_path",     D_PATH,     SLOT (driver.agent_path), 0, 0 },
    { "driver.netns_dir",      D_PATH,     SLOT (driver.netns_dir), 0, 0 },
    { "driver.cgroup_parent",  D_PATH,     SLOT (driver.cgroup_parent), 0, 0 },
    { "driver.cgroup_root",    D_PATH,     SLOT (driver.cgroup_root), 0, 0 },
    { "driver.bridge",         D_IFNAME,   SLOT (driver.bridge), 0, 0 },
    { "driver.shed_server_url", D_URL,     SLOT (driver.shed_server_url), 0, 0 },
    { "driver.shed_server_token_file", D_PATH, SLOT (driver.shed_server_token_file), 0, 0 },
    { "driver.shed_server_timeout_ms", D_MS, SLOT (driver.shed_server_timeout_ms), 1000, 3600000 },
    { "driver.firecracker_bin", D_PATH,    SLOT (driver.firecracker_bin), 0, 0 },
    { "driver.kernel_image",   D_PATH,     SLOT (driver.kernel_image), 0, 0 },
    { "driver.jailer_bin",     D_PATH,     SLOT (driver.jailer_bin), 0, 0 },
    { "driver.jailer_uid",     D_U32,      SLOT (driver.jailer_uid), 1, 4294967294.0 },
    { "driver.jailer_gid",     D_U32,      SLOT (driver.jailer_gid), 1, 4294967294.0 },
    { "driver.jailer_chroot_base", D_PATH, SLOT (driver.jailer_chroot_base), 0, 0 },
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
    { "hooks_timeout_ms",      D_MS,       SLOT (hooks_timeout_ms), 100, 86400000 },
    { "metrics.enabled",            D_BOOL,    SLOT (metrics.enabled), 0, 0 },
    { "metrics.listen",             D_METRICS, SLOT (metrics.listen), 0, 0 },
    /* Remote HTTP/JSON API (docs/api.md). */
    { "http.listen",                 D_APIADDR, SLOT (http.listen), 0, 0 },
    { "http.tls_cert",               D_PATH, SLOT (http.tls_cert), 0, 0 },
    { "http.tls_key",                D_PATH, SLOT (http.tls_key), 0, 0 },
    { "http.max_body_bytes",         D_U32,  SLOT (http.max_body_bytes), 1024, 16777216 },
    { "http.max_connections",        D_U32,  SLOT (http.max_connections), 1, 4096 },
    { "http.per_client_connections", D_U32,  SLOT (http.per_client_connections), 1, 4096 },
    { "http.timeout_s",              D_SEC,  SLOT (http.timeout_s), 1, 3600 },
    { "http.rate_per_token",         D_U32,  SLOT (http.rate_per_token), 0, 1000000 },
    { "http.rate_burst",             D_U32,  SLOT (http.rate_burst), 1, 1000000 },
    { "http.max_streams_per_token",  D_U32,  SLOT (http.max_streams_per_token), 1, 4096 },
    { "events.consumer_listen",     D_LISTEN,  SLOT (events.consumer_listen), 0, 0 },
    { "events.consumer_keys",       D_PATH,    SLOT (events.consumer_keys), 0, 0 },
    { "state.tombstone_ttl_s",      D_SEC, SLOT (state.tombstone_ttl_s), 1, 31536000 },
    { "snapshots.quota_mb",         D_U32, SLOT (snapshots.quota_mb), 0, 4194304 },
    { "agents.metrics_interval_ms", D_MS,  SLOT (agents.metrics_interval_ms), 100, 3600000 },
    { "agents.heartbeat_ms",        D_MS,  SLOT (agents.heartbeat_ms), 100, 600000 },
    { "agents.msgs_per_s",          D_U32, SLOT (agents.msgs_per_s), 1, 10000000 },
    { "agents.bytes_per_s",         D_U32, SLOT (agents.bytes_per_s), 65536, 1073741824 },
    { "agents.log_lines",           D_U32, SLOT (agents.log_lines), 0, 100000 },
    { "agents.services_max",        D_U32, SLOT (agents.services_max), 1, 4096 },
    { "agents.streams_max",         D_U32, SLOT (agents.streams_max), 1, 4096 },
    { "agents.accepts_per_s",       D_U32, SLOT (agents.accepts_per_s), 1, 1000 },
};
/* clang-format on */
#pragma GCC diagnostic pop

/* Keys that open a section of further keys. */
static const char *s_sections[] = { "gossip",    "dns",    "network", "resources",
                                    "scheduler", "driver", "agents",  "metrics",
                                    "state",     "events", "http" };

const directive_t *
config_directive_find (const char *key)
{
    for (size_t i = 0; i < sizeof s_directives / sizeof s_directives[0]; i++)
        if (strcmp (s_directives[i].key, key) == 0)
            return &s_directives[i];
    return NULL;
}

bool
config_directive_is_section (const char *key)
{
    for (size_t i = 0; i < sizeof s_sections / sizeof s_sections[0]; i++)
        if (strcmp (s_sections[i], key) == 0)
            return true;
    return false;
}
