/*
 * driver.h - one small interface between shed-node and whatever runs a
 * shed: an OCI container (container, the default where runc or crun is
 * installed), a network namespace with host-root processes for trusted
 * code (netns), a Firecracker microVM, or an existing Shed server on the
 * same host.
 *
 * The node owns one driver_t; the driver owns its backend state (files
 * under the data dir, processes, sockets). Calls are by shed name:
 *
 *   create (spec)  make everything the shed needs, persist the spec; not
 *                  started (unless the driver says so: create_running).
 *                  DRIVER_ERR_EXISTS if the name is taken here.
 *   start (name)   run it (idempotent: starting a running shed is OK).
 *   stop (name)    stop it, keep its disk and config (idempotent).
 *   remove (name)  stop if needed and delete everything ("delete"; the C
 *                  name avoids the C++ keyword). DRIVER_ERR_NOT_FOUND if
 *                  there is nothing.
 *   status (name)  what is REALLY there (process alive, namespace present,
 *                  VM state), not what was last asked for.
 *   usage (name)   counters: cpu time, memory, io bytes, network bytes.
 *   list           names this driver holds (what it found on disk at
 *                  start-up: the node reconciles them with its records).
 *   snapshot (name, path, mode)
 *                  capture the shed's writable state into one file at
 *                  `path` (docs/snapshots.md), consistently: LIVE freezes
 *                  the shed while it is read and thaws it, STOP stops it
 *                  and starts it again if it ran. A create whose spec names
 *                  that file in `layer` starts from that state. NULL op:
 *                  DRIVER_ERR_UNSUPPORTED (netns sheds share the host's
 *                  filesystem: nothing of their own to capture).
 *
 * Every call returns 0 or a negative driver_code_t and, when `err` is not
 * NULL, fills it with the code and ONE line a user can act on, e.g.
 *   "netns: create web: cgroup /sys/fs/cgroup/memory/shed/web: Permission denied"
 *
 * Thread-safety: a driver serialises its own calls (one mutex); the node
 * may call from its actor and from worker threads.
 */
#ifndef SHED_DRIVER_H
#define SHED_DRIVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DRIVER_NAME_MAX           63 /* shed names (placement.h's rule) */
#define DRIVER_PATH_MAX           256
#define DRIVER_MSG_MAX            256
#define DRIVER_IFNAME_MAX         15 /* Linux IFNAMSIZ - 1 */
/* The agent binary the netns and container drivers run when the config
 * names none (driver.agent_path). */
#define DRIVER_AGENT_DEFAULT_PATH "/usr/local/bin/shed-agent"

typedef enum {
    DRIVER_OK = 0,
    DRIVER_ERR_INVALID = -1,      /* bad spec or name */
    DRIVER_ERR_EXISTS = -2,       /* create of a name we hold */
    DRIVER_ERR_NOT_FOUND = -3,    /* no such shed here */
    DRIVER_ERR_STATE = -4,        /* not possible in the current state */
    DRIVER_ERR_RESOURCE = -5,     /* backend out of room / limits refused */
    DRIVER_ERR_BACKEND = -6,      /* backend said no (500, API fault) */
    DRIVER_ERR_UNAVAILABLE = -7,  /* backend not reachable / not installed */
    DRIVER_ERR_PERMISSION = -8,   /* needs root / capability */
    DRIVER_ERR_IO = -9,           /* local file or syscall failure */
    DRIVER_ERR_UNSUPPORTED = -10, /* this driver cannot do that */
    DRIVER_ERR_TIMEOUT = -11,
} driver_code_t;

typedef struct {
    int code;                     /* a driver_code_t */
    char message[DRIVER_MSG_MAX]; /* one line, no trailing newline */
} driver_error_t;

/* What a shed needs. Zero means "no limit" / "not used" for numbers and
 * "" for strings, except name. */
typedef struct {
    char name[DRIVER_NAME_MAX + 1];
    uint32_t cpus_milli; /* cpu quota, millicpus (1500 = 1.5 cpus) */
    uint64_t memory_mb;
    uint64_t disk_mb;
    uint32_t pids_max;
    uint64_t io_read_bps; /* block I/O bandwidth per direction */
    uint64_t io_write_bps;
    uint64_t net_kbit;           /* network rate each way, kbit/s */
    char image[DRIVER_PATH_MAX]; /* container: image name or digest (node/images);
                                       firecracker: rootfs file; shed-server: Shed's */
    char repo[DRIVER_PATH_MAX];  /* repository to clone (shed-server) */
    /* Network: address on the node's bridge. */
    char ip[20];      /* "198.19.1.5/16" (CIDR) */
    char mac[18];     /* "02:..:.." or "" for a derived one */
    char gateway[16]; /* default route, or "" */
    char bridge[DRIVER_IFNAME_MAX + 1];
    /* MTU of the shed's link (both veth ends; a VM's TAP): the overlay's
     * inner MTU (1402 encrypted, 1450 plain), so a full-size frame from the
     * shed fits the bridge and the tunnel instead of being dropped there.
     * 0 = the driver's default (the kernel's 1500). */
    uint32_t mtu;
    /* Agent: binary to run as the first process and the socket it serves
     * the agent channel on (Unix socket for netns sheds, the vsock UDS
     * base for Firecracker: the agent channel is <agent_socket>_1026). */
    char agent_path[DRIVER_PATH_MAX];
    char agent_socket[DRIVER_PATH_MAX];
    /* Create from a snapshot: the file a `snapshot` call wrote (possibly
     * on another node, then fetched), "" = a fresh shed. */
    char layer[DRIVER_PATH_MAX];
} driver_spec_t;

typedef enum {
    DRIVER_SNAP_LIVE = 0, /* frozen (cgroup freezer / VM paused) while captured */
    DRIVER_SNAP_STOP = 1, /* stopped while captured, started again if it ran */
} driver_snap_mode_t;

typedef enum {
    DRIVER_ST_ABSENT = 0,  /* nothing here */
    DRIVER_ST_STOPPED = 1, /* created, not running */
    DRIVER_ST_STARTING = 2,
    DRIVER_ST_RUNNING = 3,
    DRIVER_ST_ERROR = 4, /* half there; `detail` says what */
} driver_state_t;

typedef struct {
    driver_state_t state;
    int pid;                     /* host pid of the first process, or 0 */
    char detail[DRIVER_MSG_MAX]; /* e.g. "netns missing", "vm: Paused" */
    char ip[20];
} driver_status_t;

typedef struct {
    uint64_t cpu_usec;     /* cpu time used */
    uint64_t memory_bytes; /* current */
    uint64_t memory_limit; /* 0 = none */
    uint64_t io_read_bytes;
    uint64_t io_write_bytes;
    uint64_t net_rx_bytes; /* as the shed sees it */
    uint64_t net_tx_bytes;
    uint32_t pids;
    uint64_t disk_used_bytes; /* the shed's own disk (container); 0 = n/a */
    uint64_t disk_total_bytes;
} driver_usage_t;

/* The vtable a driver implements; `impl` is its private state. */
typedef void (driver_list_fn) (void *arg, const char *name);
typedef struct {
    const char *name; /* "netns", "firecracker", "shed-server" */
    /* The host's agent listener is spec.agent_socket + this ("" or NULL: the
     * socket itself; Firecracker: "_1026", where its vsock device connects
     * a guest's connection to host port 1026). */
    const char *agent_suffix;
    /* The agent socket's path below the shed's directory (<data_dir>/
     * sheds/NAME/): NULL = "agent.sock"; the container driver binds a
     * directory holding only the socket into the shed: "chan/agent.sock". */
    const char *agent_socket_name;
    /* The driver clones spec.repo into the shed (shed-server: Shed does);
     * a node whose driver does not refuses a create that names a repo. */
    bool clones_repo;
    int (*create) (void *impl, const driver_spec_t *spec, driver_error_t *err);
    /* Optional: create, saying whether the backend left the shed running
     * (Shed's create starts the shed: its API answers 201 with "status":
     * "running"). The node then sends no start after it. NULL: `create`
     * is used and the shed is taken as not started. */
    int (*create_running) (void *impl, const driver_spec_t *spec, bool *running,
                           driver_error_t *err);
    int (*start) (void *impl, const char *name, driver_error_t *err);
    int (*stop) (void *impl, const char *name, driver_error_t *err);
    int (*remove) (void *impl, const char *name, driver_error_t *err);
    int (*status) (void *impl, const char *name, driver_status_t *st, driver_error_t *err);
    int (*usage) (void *impl, const char *name, driver_usage_t *usage, driver_error_t *err);
    int (*list) (void *impl, driver_list_fn *fn, void *arg, driver_error_t *err);
    /* Optional (NULL: unsupported). *bytes = size of the file written. */
    int (*snapshot) (void *impl, const char *name, const char *path, driver_snap_mode_t mode,
                     uint64_t *bytes, driver_error_t *err);
    void (*destroy) (void *impl);
} driver_ops_t;

typedef struct _driver_t driver_t;

/* Wrap an implementation (takes ownership of impl: destroy calls
 * ops->destroy). Drivers' constructors below use this. */
driver_t *driver_new (const driver_ops_t *ops, void *impl);
void driver_destroy (driver_t **self_p);
const char *driver_name (driver_t *self);
/* ops->agent_suffix, never NULL. */
const char *driver_agent_suffix (driver_t *self);
/* ops->agent_socket_name, never NULL. */
const char *driver_agent_socket_name (driver_t *self);
/* ops->clones_repo. */
bool driver_clones_repo (driver_t *self);

int driver_create (driver_t *self, const driver_spec_t *spec, driver_error_t *err);
/* The same; *running says whether the shed already runs (ops->create_running). */
int driver_create_running (driver_t *self, const driver_spec_t *spec, bool *running,
                           driver_error_t *err);
/* How long a create or start of this driver may take (ms), for the node's
 * driver worker; 0 = the node's default. A backend that clones repositories
 * and provisions (Shed: its CLI waits 10 minutes) sets a long one. */
void driver_set_slow_timeout (driver_t *self, int timeout_ms);
int driver_slow_timeout (driver_t *self);
int driver_start (driver_t *self, const char *name, driver_error_t *err);
int driver_stop (driver_t *self, const char *name, driver_error_t *err);
int driver_remove (driver_t *self, const char *name, driver_error_t *err);
int driver_status (driver_t *self, const char *name, driver_status_t *st, driver_error_t *err);
int driver_usage (driver_t *self, const char *name, driver_usage_t *usage, driver_error_t *err);
int driver_list (driver_t *self, driver_list_fn *fn, void *arg, driver_error_t *err);
int driver_snapshot (driver_t *self, const char *name, const char *path, driver_snap_mode_t mode,
                     uint64_t *bytes, driver_error_t *err);

/* Helpers for implementations and callers. */
const char *driver_strerror (int code);
const char *driver_state_name (driver_state_t state); /* Shed's words */
/* Set err (if not NULL) and return code. printf-style message. */
int driver_fail (driver_error_t *err, int code, const char *fmt, ...)
    __attribute__ ((format (printf, 3, 4)));
/* Check a spec: name rule, sizes, ip/mac syntax. 0 or DRIVER_ERR_INVALID. */
int driver_spec_check (const driver_spec_t *spec, driver_error_t *err);

#endif
