/*
 * config.h - shed-node configuration: defaults, YAML file, command line.
 *
 * Precedence: built-in defaults < YAML file (--config) < command-line flags.
 * Every key the file may hold is one row of the directive table in config.c
 * (name, type, slot), so the loader, the error messages and docs/configuration.md
 * list the same keys. Errors are one line naming the file, the line and the key:
 *     config.yaml:7: key 'gossip.probe_interval_ms': expected an integer
 */
#ifndef SHED_NODE_CONFIG_H
#define SHED_NODE_CONFIG_H

#include "common/log.h"

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SHED_NAME_MAX               63
#define SHED_JOIN_MAX               16
#define SHED_CFG_TAGS_MAX           32
#define SHED_DEFAULT_PORT           7946
#define SHED_DEFAULT_DATADIR        "/var/lib/shed"
#define SHED_ENDPOINT_MAX           (PATH_MAX + 16)
#define SHED_METRICS_DEFAULT_LISTEN "127.0.0.1:7951" /* fixed, beside 7946-7950 */

typedef struct {
    char key[64];
    char value[256];
} shed_config_tag_t;

/* An orchestration hook (node/events/node_hooks.h): run `command` for every event
 * whose topic starts with `event`. */
#define SHED_HOOKS_MAX    32
#define SHED_HOOK_CMD_MAX 1023
typedef struct {
    char event[256];                     /* topic prefix, "" = every event */
    char command[SHED_HOOK_CMD_MAX + 1]; /* run as /bin/sh -c COMMAND */
    uint32_t timeout_ms;                 /* 0 = hooks_timeout_ms */
} shed_config_hook_t;

typedef struct {
    char name[SHED_NAME_MAX + 1]; /* node name, unique in the cluster */
    char bind_addr[64];           /* gossip bind address (canonical IPv4/IPv6 literal) */
    uint16_t bind_port;           /* gossip UDP (and push-pull TCP) port */
    char advertise_addr[64];      /* address peers use; "" = bind_addr */
    char data_dir[PATH_MAX];
    char api_endpoint[SHED_ENDPOINT_MAX]; /* "" = ipc://<data_dir>/api.sock */
    char join[SHED_JOIN_MAX][128];        /* seeds, host:port or [v6]:port */
    size_t njoin;
    shed_log_level_t log_level;
    char encrypt_key[64]; /* base64 key for a first start; wiped after use */
    bool discover;        /* LAN discovery with zbeacon */
    char profile[8];      /* gossip tunables profile: lan | wan */
    shed_config_tag_t tags[SHED_CFG_TAGS_MAX];
    size_t ntags;
    bool leave_on_terminate; /* leave gracefully on SIGTERM/SIGINT */
    /* Gossip tunables on top of the profile; 0 = the profile's value. */
    struct {
        uint32_t probe_interval_ms;
        uint32_t probe_timeout_ms;
        uint32_t indirect_checks;
        uint32_t gossip_interval_ms;
        uint32_t gossip_nodes;
        uint32_t retransmit_mult;
        uint32_t pushpull_interval_ms;
        uint32_t reap_dead_s;
        uint32_t reap_left_s;
        double suspicion_mult;
        double suspicion_max_mult;
    } gossip;
    /* DNS service discovery (bridges/dns_server.h, docs/dns.md). */
    struct {
        bool enabled;
        char addr[64];      /* "IPv4:PORT" or "[IPv6]:PORT" */
        char domain[101];   /* served domain, e.g. "shed" */
        uint32_t ttl_s;     /* TTL of positive answers */
        uint32_t neg_ttl_s; /* SOA TTL/MINIMUM on negative answers */
        /* The shed listener: the same zone on the overlay gateway, for
         * sheds (node/catalog/node_dns.h, docs/dns.md). */
        bool shed_listen;         /* answer on <gateway>:shed_port */
        uint32_t shed_port;       /* 53: what resolv.conf can name */
        uint32_t shed_rate_qps;   /* per shed address; 0 = unlimited */
        uint32_t shed_rate_burst; /* 0 = 2 x shed_rate_qps */
    } dns;
    /* Overlay network (node/overlay/node_overlay.h, docs/overlay.md). */
    struct {
        bool enabled;          /* false: no bridge, no datapath */
        char mode[12];         /* "encrypted" | "plain" */
        char cidr[20];         /* cluster CIDR, a.b.c.d/len */
        uint32_t block_prefix; /* per-node block size */
        uint32_t vni;          /* 24-bit VXLAN network id */
        char bridge[16];       /* node bridge (IFNAMSIZ) */
        char device[16];       /* TAP (encrypted) / VXLAN (plain); "" = derived */
        uint32_t mtu;          /* shed MTU; 0 = computed from underlay_mtu */
        uint32_t underlay_mtu; /* 0 = 1500 */
        bool nat;              /* masquerade egress to the host network */
        uint32_t port;         /* overlay UDP port; 0 = gossip port + 4 */
        uint32_t settle_ms;    /* block claim settle time */
    } network;
    /* Shed resources offered to the scheduler (docs/scheduling.md). Text
     * as the user wrote it, "" = detected (cpus, memory) or 0 (disk: the
     * data dir's file system). Sizes like "4G", cpus like "4", "1500m". */
    struct {
        char cpus[16];
        char memory[24];
        char disk[24];
        uint32_t gpus;
        char reserved_cpus[16]; /* kept for the host */
        char reserved_memory[24];
        char reserved_disk[24];
    } resources;
    struct {
        double overcommit_cpu; /* >= 1.0 */
        double overcommit_memory;
        double overcommit_disk;
        char strategy[16];         /* default: binpack | spread */
        uint32_t max_attempts;     /* claims per create (candidates tried) */
        uint32_t name_ttl_s;       /* life of a name reservation */
        uint32_t claim_timeout_ms; /* one CLAIM RPC (create + start) */
    } scheduler;
    struct {
        char default_driver[16];    /* auto | container | netns | firecracker | shed-server */
        char agent_path[PATH_MAX];  /* shed-agent binary; "" = driver default */
        char netns_dir[PATH_MAX];   /* "" = /run/netns */
        char cgroup_parent[128];    /* "" = "shed" */
        char cgroup_root[PATH_MAX]; /* "" = /sys/fs/cgroup */
        char bridge[16];            /* "" = the overlay's bridge, if any */
        char shed_server_url[256];  /* shed-server: Shed's API, "" = http://127.0.0.1:8080 */
        char shed_server_token_file[PATH_MAX]; /* shed-server: bearer token file, "" = none */
        uint32_t shed_server_timeout_ms;       /* shed-server: create/start wait (10 min) */
        char firecracker_bin[PATH_MAX];        /* firecracker: the VMM binary */
        char kernel_image[PATH_MAX];           /* firecracker: vmlinux */
        char jailer_bin[PATH_MAX];             /* firecracker: the jailer; "" = none */
        uint32_t jailer_uid;                   /* firecracker under the jailer: not root */
        uint32_t jailer_gid;
        char jailer_chroot_base[PATH_MAX]; /* "" = <data_dir>/jail */
        /* Limits every shed of this node gets (docs/drivers.md). */
        uint32_t pids_max;    /* pids.max; 0 = no limit */
        char io_read_bps[24]; /* a size per second ("50M"); "" or "0" = no limit */
        char io_write_bps[24];
        char net_rate[24];           /* tc rate each way ("100mbit"); "" or "0" = no limit */
        char agent_config[PATH_MAX]; /* agent YAML copied into each new shed; "" = none */
        /* container driver (docs/drivers.md) */
        char runtime[PATH_MAX];      /* runc/crun; "" = found in /usr/sbin, /usr/bin, ... */
        char runtime_root[PATH_MAX]; /* the runtime's state dir; "" = /run/shed-runc */
        char default_image[64];      /* image of a create without --image; "" = required */
        char disk[24];               /* a shed's disk without --disk ("10G") */
        uint32_t id_base;            /* first host uid of the sheds' ranges */
    } driver;
    /* Orchestration hooks (node/events/node_hooks.h, docs/events.md). */
    shed_config_hook_t hooks[SHED_HOOKS_MAX];
    size_t nhooks;
    uint32_t hooks_concurrency; /* hook processes running at once */
    uint32_t hooks_queue;       /* events waiting beyond those; more are dropped */
    uint32_t hooks_timeout_ms;  /* default per-hook timeout (process group killed) */
    /* Prometheus endpoint and /health (node/metrics/node_metrics.h, docs/metrics.md). */
    struct {
        bool enabled;         /* false: no endpoint */
        char listen[64];      /* "IPv4:PORT" or "[IPv6]:PORT"; "" = no endpoint */
        bool explicit_listen; /* set by the file or a flag, not the default:
                                           then a failed bind stops the start */
    } metrics;
    /* Remote HTTP/JSON API (node/http/node_http.h, docs/api.md). Off while
     * listen is ""; plain HTTP only on a loopback address. */
    struct {
        char listen[64];                 /* "IPv4:PORT" or "[IPv6]:PORT" */
        char tls_cert[PATH_MAX];         /* PEM certificate (chain) */
        char tls_key[PATH_MAX];          /* PEM private key, mode 0600 */
        uint32_t max_body_bytes;         /* larger request bodies: 413 */
        uint32_t max_connections;        /* connections served at once */
        uint32_t per_client_connections; /* from one client address */
        uint32_t timeout_s;              /* idle / slow connections closed */
        uint32_t rate_per_token;         /* requests/s per token; 0 = no limit */
        uint32_t rate_burst;             /* requests a token may make at once */
        uint32_t max_streams_per_token;  /* GET /v1/events streams one token holds */
    } http;
    /* Remote event consumers (node/events/node_events.h, docs/events.md): an XPUB
     * on TCP with CURVE for consumers on other hosts, admitting only the
     * public keys listed in a file. Off while consumer_listen is "". */
    struct {
        char consumer_listen[64];     /* "IPv4:PORT" or "[IPv6]:PORT" */
        char consumer_keys[PATH_MAX]; /* one base64 X25519 public key per line */
    } events;
    /* Replicated state (node/state/node_state.h, docs/state.md). */
    struct {
        uint32_t tombstone_ttl_s; /* a delete's tombstone lives this long */
    } state;
    /* Snapshots (node/snapshots/node_snaps.h, docs/snapshots.md). */
    struct {
        uint32_t quota_mb; /* bytes of snapshot data held here, MiB; 0 = no quota */
    } snapshots;
    /* Agent channels (node/events/node_agents.h, docs/agent.md); 0 = the host's default. */
    struct {
        uint32_t metrics_interval_ms; /* told to agents in HELLO_ACK */
        uint32_t heartbeat_ms;
        uint32_t msgs_per_s;    /* per shed */
        uint32_t bytes_per_s;   /* per shed */
        uint32_t log_lines;     /* per-shed log history for `shedctl logs` */
        uint32_t services_max;  /* distinct service names per shed (64) */
        uint32_t streams_max;   /* distinct log stream names per shed (32) */
        uint32_t accepts_per_s; /* agent connections per shed per second (5) */
    } agents;
} shed_config_t;

/* Fill with built-in defaults (name = short hostname). */
void shed_config_defaults (shed_config_t *cfg);

/* Merge a YAML file into cfg. Returns 0, or -1 with a one-line reason in err. */
int shed_config_load_file (shed_config_t *cfg, const char *path, char *err, size_t errlen);

/* Same, from a buffer (tests, fuzzing); `origin` names it in errors. */
int shed_config_load_buffer (shed_config_t *cfg, const char *text, size_t len, const char *origin,
                             char *err, size_t errlen);

/* --check-config: like load_file / load_buffer, but a bad value does not
 * stop the reading: every error ("FILE:LINE: message", one line each) goes
 * to fn, and the count is returned (0 = the file is good). A broken YAML
 * structure still ends the walk, as its last error. */
typedef void (shed_config_error_fn) (const char *error, void *arg);
size_t shed_config_check_file (shed_config_t *cfg, const char *path, shed_config_error_fn *fn,
                               void *arg);
size_t shed_config_check_buffer (shed_config_t *cfg, const char *text, size_t len,
                                 const char *origin, shed_config_error_fn *fn, void *arg);

/* Set one key from text as the file would ("bind", "join", "tags.k", ...).
 * Used for command-line overrides. Returns 0 or -1 with a reason. */
int shed_config_set (shed_config_t *cfg, const char *key, const char *value, char *err,
                     size_t errlen);

/* Check cross-field rules and fill derived values (api endpoint). */
int shed_config_finish (shed_config_t *cfg, char *err, size_t errlen);

/* The environment variable that may carry the cluster key for a first start
 * (between the YAML file and the flags), so it need not be on the command
 * line, where ps shows it to every local user (docs/operations.md). */
#define SHED_ENCRYPT_KEY_ENV "SHED_ENCRYPT_KEY"

/* If SHED_ENCRYPT_KEY is set: validate it into cfg->encrypt_key, overwrite
 * its value in place and unset it, so neither children nor /proc/PID/environ
 * keep it. Returns 0 (also when unset) or -1 with a reason that never
 * quotes the value. */
int shed_config_key_from_env (shed_config_t *cfg, char *err, size_t errlen);

/* Overwrite a command-line argument in place with 'x's (same length), so
 * /proc/PID/cmdline and ps no longer show a secret passed on it. NULL-safe. */
void shed_config_wipe_arg (char *arg);

/* Node names: 1..63 of [A-Za-z0-9._-], starting with a letter or digit. */
bool shed_node_name_valid (const char *name);

/* Split "host:port" (port optional -> default_port). Returns 0 or -1. */
int shed_parse_hostport (const char *text, char *host, size_t hostlen, uint16_t *port,
                         uint16_t default_port);

#endif
