/*
 * ctl.h - what every shedctl command shares: global options and helpers.
 * Each command group lives in its own ctl_<group>.c and is one row of the
 * command table in shedctl.c.
 */
#ifndef SHED_CTL_H
#define SHED_CTL_H

#include "bridges/event_msg.h"
#include "node/api/api_client.h"
#include "node/api/api_client_http.h"
#include "node/ctl/ctl_feed.h"
#include "node/ctl/json.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct {
    const char *endpoint; /* --addr, $SHED_ADDR, or the default */
    bool json;            /* --json */
    int timeout_ms;       /* --timeout */
    bool timeout_set;     /* --timeout given: also the node's deadline */
    /* Remote event consumer (events, top, status SHED from another host):
     * the node's CURVE consumer endpoint, its public key, and a directory
     * holding our identity (shedctl keygen --identity DIR). */
    const char *events_endpoint; /* --events tcp://HOST:PORT, NULL: local ipc */
    const char *server_key;      /* --server-key BASE64 (the node's public key) */
    const char *identity_dir;    /* --identity DIR */
} ctl_t;

/* A command: argv[0] is the command name. Returns the process exit code. */
typedef int (ctl_cmd_fn) (ctl_t *ctl, int argc, char **argv);

/* Print "shedctl: <reason>" on stderr and return 1. */
int ctl_fail (const char *fmt, ...) __attribute__ ((format (printf, 1, 2)));

/* Call the node; on transport failure or an API_ERROR reply print the reason
 * and return non-zero (rep is then freed). On success the caller frees rep. */
int ctl_call (ctl_t *ctl, const api_msg_t *req, api_msg_t *rep, uint16_t expect_type);

/* After SHED_API_NO_REPLY for a mutation: "outcome unknown ..." with the
 * request id when the node is running (it answers a status request), else
 * the transport's reason. Prints it and returns 1. */
int ctl_fail_no_reply (ctl_t *ctl, const char *err, const char *name, const char *request_id);

/* A mutation (create, start, stop, delete) with a deadline: the node is
 * given deadline_ms and answers by then; we wait SHED_API_REPLY_MARGIN_MS
 * longer so its reason arrives. expect_type 0: any reply but API_ERROR.
 * Failures are printed (ctl_fail_no_reply for a missing reply); returns 0
 * or the exit code. */
int ctl_mutate (ctl_t *ctl, const api_msg_t *req, api_msg_t *rep, uint16_t expect_type,
                uint64_t deadline_ms, const char *name, const char *request_id);

/* A fresh request id for a mutation ("req-" and 16 hex digits), so a
 * timed-out call can be retried safely (--request-id). */
void ctl_request_id (char *out, size_t size);

/* Print what an API_OK reply says: its message, or with --json
 * {"<key>": "<value>", "message": ...} ({"ok": true, ...} when key is NULL). */
void ctl_print_ok (ctl_t *ctl, const char *key, const char *value, const char *message);

/* The value of a duration flag (common/duration.h): "500ms", "5s", "2m",
 * "1h", "1m30s"; a bare number is `bare_ms` ms per unit, the flag's old
 * unit, so scripts written for it keep working. 0 with *ms, or 1 with
 * "shedctl: FLAG: invalid duration ..." (or its range) printed. */
int ctl_duration_arg (const char *flag, const char *value, uint64_t bare_ms, uint64_t min_ms,
                      uint64_t max_ms, uint64_t *ms);

/* "3d 4h", "5m 2s", "800ms": short human durations. */
void ctl_format_duration (uint64_t ms, char *out, size_t len);
/* "512B", "1.5K", "23.5G": short human sizes (binary units). */
void ctl_format_size (uint64_t bytes, char *out, size_t len);

int ctl_status (ctl_t *ctl, int argc, char **argv);
/* status with a shed NAME: its live metrics (ctl_top.c); else ctl_status. */
int ctl_status_any (ctl_t *ctl, int argc, char **argv);
int ctl_top (ctl_t *ctl, int argc, char **argv);
int ctl_logs (ctl_t *ctl, int argc, char **argv);
int ctl_provision (ctl_t *ctl, int argc, char **argv);

/* Helpers of the agent commands (ctl_top.c). A consumer of the node's
 * events: its local endpoint, its CURVE one (--events), or its GET
 * /v1/events in remote mode (ctl_feed.h). NULL with the reason printed. */
ctl_feed_t *ctl_bus_connect (ctl_t *ctl);
/* Split "<prefix><node>.<shed>" (shed names have no dots; node names may).
 * 0 or -1. */
int ctl_topic_split (const char *topic, const char *prefix, char *node, size_t nodecap, char *shed,
                     size_t shedcap);
/* The node whose agent reports metrics for `shed` (from the bus's last
 * values). 0, or -1 if none does. */
int ctl_shed_owner (ctl_t *ctl, const char *shed, char *node, size_t nodecap);
/* The node a shed runs on, from its replicated record (`show`), else from
 * the latest metrics (an agent attached without a shed record). 0 or -1. */
int ctl_shed_node (ctl_t *ctl, const char *shed, char *node, size_t nodecap);
/* Subscribe to HEAD<node>.<shed> (HEAD like "log."), narrowed to the shed's
 * node when it is known, else to all of HEAD: events of other sheds never
 * cross the network for a command that follows one shed. The caller still
 * filters (a prefix of "web" also matches "web2"). */
void ctl_subscribe_shed (ctl_t *ctl, ctl_feed_t *client, const char *head, const char *node,
                         const char *shed);
int ctl_keygen (ctl_t *ctl, int argc, char **argv);
int ctl_members (ctl_t *ctl, int argc, char **argv);
int ctl_join (ctl_t *ctl, int argc, char **argv);
int ctl_leave (ctl_t *ctl, int argc, char **argv);
int ctl_force_leave (ctl_t *ctl, int argc, char **argv);
int ctl_tags (ctl_t *ctl, int argc, char **argv);
int ctl_keys (ctl_t *ctl, int argc, char **argv);
int ctl_state (ctl_t *ctl, int argc, char **argv);
int ctl_network (ctl_t *ctl, int argc, char **argv);
int ctl_events (ctl_t *ctl, int argc, char **argv);
int ctl_agents (ctl_t *ctl, int argc, char **argv);
int ctl_services (ctl_t *ctl, int argc, char **argv);

int ctl_create (ctl_t *ctl, int argc, char **argv);
int ctl_list (ctl_t *ctl, int argc, char **argv);
int ctl_show (ctl_t *ctl, int argc, char **argv);
int ctl_start (ctl_t *ctl, int argc, char **argv);
int ctl_stop (ctl_t *ctl, int argc, char **argv);
int ctl_delete (ctl_t *ctl, int argc, char **argv);
int ctl_node (ctl_t *ctl, int argc, char **argv);

int ctl_image (ctl_t *ctl, int argc, char **argv);
int ctl_token (ctl_t *ctl, int argc, char **argv); /* ctl_tokens.c */
int ctl_snapshot (ctl_t *ctl, int argc, char **argv);
int ctl_move (ctl_t *ctl, int argc, char **argv);
/* After a drain: move every shed off `node` (NULL: the node asked), one
 * at a time, a line per shed. 0, or 1 if one did not move. */
int ctl_drain_move (ctl_t *ctl, const char *node);
/* Run fn (arg) on a thread and, meanwhile, print to stderr the progress
 * events (docs/snapshots.md) of snapshot `snapshot` or of shed `shed`
 * (either may be NULL) from the node's event bus. Returns fn's result. */
typedef int (ctl_work_fn) (void *arg);
/* fn (arg) on a thread of its own while the caller follows the node's
 * event bus (ctl_work.c): start, poll done, join for fn's result. A start
 * that fails (-1) leaves the caller to run fn itself. */
typedef struct {
    ctl_work_fn *fn;
    void *arg;
    int rc;
    atomic_bool done;
    pthread_t thread;
} ctl_work_t;
int ctl_work_start (ctl_work_t *w, ctl_work_fn *fn, void *arg);
bool ctl_work_done (ctl_work_t *w);
int ctl_work_join (ctl_work_t *w);
int ctl_with_progress (ctl_t *ctl, ctl_work_fn *fn, void *arg, const char *snapshot,
                       const char *shed);
/* One snapshot progress event as a line on stderr (ctl_snapshots.c). */
void ctl_snapshot_progress_line (const evpay_progress_t *p);

/* A create's progress (ctl_create_progress.c, docs/scheduling.md "Create
 * progress"): fn (arg) runs on a thread while the create's phases are
 * printed on stderr; then, if the target said the shed's agent will
 * connect, it is waited for at most wait_ms. Returns fn's result. */
typedef struct {
    const char *shed;
    const char *snapshot; /* create --from-snapshot: its fetch too; or NULL */
    uint64_t wait_ms;     /* --wait: for the agent, after the answer */
    bool quiet;           /* --quiet: follow, print nothing */
} ctl_create_watch_t;
typedef struct {
    size_t lines;         /* progress events seen */
    bool started;         /* the target's `started` arrived */
    bool agent_expected;  /* ... saying the agent will connect */
    bool agent_connected; /* its hello arrived */
    bool agent_waited;    /* waited wait_ms for it in vain */
    char node[64];        /* the target, from its phases */
    char agent_version[64];
} ctl_create_seen_t;
int ctl_create_watch (ctl_t *ctl, ctl_work_fn *fn, void *arg, const ctl_create_watch_t *opt,
                      ctl_create_seen_t *seen);

#endif
