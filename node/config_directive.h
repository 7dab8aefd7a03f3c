/*
 * config_directive.h - internal to node/config*.c: the directive table (one
 * row per key the file or the command line may set, in config_directives.c)
 * and the value checkers (config_values.c, one function per kind of value).
 *
 * config.c (defaults, set, finish) and config_yaml.c (the YAML walk) both
 * go through config_directive_apply, so a value is checked the same way
 * whether it came from the file or from --set on the command line.
 */
#ifndef SHED_CONFIG_DIRECTIVE_H
#define SHED_CONFIG_DIRECTIVE_H

#include "node/config.h"

#include <stdbool.h>
#include <stddef.h>

typedef enum {
    D_NAME,     /* node name */
    D_HOSTPORT, /* host[:port] into bind_addr/bind_port */
    D_ADDR,     /* IPv4 literal */
    D_PATH,     /* filesystem path */
    D_ENDPOINT, /* ipc:// ZeroMQ endpoint (the API is unauthenticated) */
    D_JOIN,     /* scalar or sequence of host:port */
    D_LEVEL,    /* log level */
    D_BOOL,
    D_KEY,     /* base64 32-byte key */
    D_KEYFILE, /* path of a file holding a D_KEY, 0600 or stricter, ours */
    D_TAGS,    /* mapping of str -> str */
    D_U32,     /* unsigned integer within [min, max] */
    D_MS,      /* duration into a uint32_t of milliseconds, [min, max] ms; a
                 * bare number is milliseconds (the key ends in _ms) */
    D_SEC,     /* duration into a uint32_t of seconds, [min, max] s; a bare
                 * number is seconds (the key ends in _s) */
    D_F64,     /* number within [min, max] */
    D_LISTEN,  /* IPv4:PORT or [IPv6]:PORT, port 0 allowed (ephemeral) */
    D_METRICS, /* as D_LISTEN, or "" (no endpoint); remembers it was set */
    D_DOMAIN,  /* DNS domain: dot-separated labels of [A-Za-z0-9-] */
    D_CIDR,    /* IPv4 a.b.c.d/len, no host bits */
    D_IFNAME,  /* network interface name, 1-15 bytes */
    D_SIZE,    /* "512M", "4G", bare number = MiB (placement_size_parse) */
    D_CPUS,    /* "4", "0.5", "1500m" (placement_cpus_parse) */
    D_WORD,    /* one of the row's `words` (gossip.profile, network.mode, ...) */
    D_URL,     /* http://HOST[:PORT][/PATH] */
    D_RATE,    /* "100mbit", "1gbit", "0" (tc_rate_parse) */
    D_HOOKS,   /* sequence of mappings {event, command, timeout_ms}; a scalar
                 * (command line) is "PREFIX=COMMAND" */
    D_APIADDR, /* remote API address: as D_LISTEN, or "" (off) */
} directive_kind_t;

typedef struct {
    const char *key;
    directive_kind_t kind;
    size_t offset;
    size_t size;
    double min, max;          /* D_U32 / D_F64 / D_MS / D_SEC bounds */
    const char *const *words; /* D_WORD: the values allowed, NULL-terminated */
} directive_t;

/* The row for `key` ("gossip.probe_interval_ms"), or NULL. */
const directive_t *config_directive_find (const char *key);

/* True when `key` opens a section of further keys ("gossip"). */
bool config_directive_is_section (const char *key);

/* Check `value` and store it in the slot `d` names. `subkey` is the tag key
 * (D_TAGS) or the hook's event prefix from a file (D_HOOKS), else NULL.
 * Returns 0, or -1 with the reason in `why`. */
int config_directive_apply (shed_config_t *cfg, const directive_t *d, const char *subkey,
                            const char *value, char *why, size_t whylen);

/* Replace control bytes in an error message (it may quote a folded YAML
 * scalar or a hostile file) so it stays on one printable line. */
void config_one_line (char *text);

#endif
