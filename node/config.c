/*
 * config.c - see config.h: defaults, single settings (--set, the
 * environment) and the checks that need every key. The key table is in
 * config_directives.c, the value checkers in config_values.c, the YAML
 * reader in config_yaml.c.
 */
#include "node/config_directive.h"

#include "common/ipaddr.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sodium.h>

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
    cfg->driver.shed_server_timeout_ms = 600000; /* Shed's CLI waits 10 min for a create */
    strcpy (cfg->driver.default_driver, "auto");
    strcpy (cfg->driver.disk, "10G");
    cfg->driver.id_base = 0x70000000u;
    cfg->driver.pids_max = 4096;
    cfg->hooks_concurrency = 4;
    cfg->hooks_queue = 64;
    cfg->hooks_timeout_ms = 30000;
    cfg->agents.log_lines = 1000;
    cfg->state.tombstone_ttl_s = 3600; /* STATE_TOMBSTONE_TTL_DEFAULT */
    cfg->snapshots.quota_mb = 20480;
    cfg->metrics.enabled = true;
    strcpy (cfg->metrics.listen, SHED_METRICS_DEFAULT_LISTEN);
    cfg->http.max_body_bytes = 1u << 20;
    cfg->http.max_connections = 64;
    cfg->http.per_client_connections = 8;
    cfg->http.timeout_s = 10;
    cfg->http.rate_per_token = 50;
    cfg->http.rate_burst = 100;
    cfg->http.max_streams_per_token = 4;
}

/* The remote API: TLS needs both files; without TLS (tokens in clear text)
 * only a loopback address, where nothing but this host can listen in. */
static int
s_http_check (const shed_config_t *cfg, char *err, size_t errlen)
{
    const char *l = cfg->http.listen;
    if (!l[0])
        return 0;
    bool cert = cfg->http.tls_cert[0], key = cfg->http.tls_key[0];
    if (cert != key) {
        snprintf (err, errlen, "http.tls_cert and http.tls_key go together: set both or neither");
        return -1;
    }
    bool loopback = strncmp (l, "127.", 4) == 0 || strncmp (l, "[::1]:", 6) == 0;
    if (!cert && !loopback) {
        snprintf (err, errlen,
                  "http.listen %s: plain HTTP is only allowed on a loopback address; set "
                  "http.tls_cert and http.tls_key",
                  l);
        return -1;
    }
    return 0;
}

/* Errors quote the offending value, which may hold newlines or other
 * control bytes (a folded YAML scalar, a hostile file): keep the message on
 * one printable line. */
void
config_one_line (char *text)
{
    for (unsigned char *p = (unsigned char *) text; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            *p = ' ';
}

int
shed_config_set (shed_config_t *cfg, const char *key, const char *value, char *err, size_t errlen)
{
    const char *subkey = NULL;
    const directive_t *d = config_directive_find (key);
    if (!d && strncmp (key, "tags.", 5) == 0) {
        d = config_directive_find ("tags");
        subkey = key + 5;
    }
    if (!d) {
        snprintf (err, errlen, "unknown key '%s'", key);
        config_one_line (err);
        return -1;
    }
    char why[256];
    if (config_directive_apply (cfg, d, subkey, value, why, sizeof why) != 0) {
        snprintf (err, errlen, "key '%s': %s", key, why);
        config_one_line (err);
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
    if (s_http_check (cfg, err, errlen) != 0)
        return -1;
    if (cfg->advertise_addr[0] == '\0' && !shed_ip_is_any (cfg->bind_addr))
        strcpy (cfg->advertise_addr, cfg->bind_addr);
    return 0;
}
