/* node_metrics_render.c - see node_metrics_render.h. */
#include "node/metrics/node_metrics_render.h"

#include "bridges/bus.h"
#include "node/metrics/proc_self.h"

#include <czmq.h>
#include <string.h>

#define C SHED_PROM_COUNTER
#define G SHED_PROM_GAUGE

/* ---- counters that come as "name=value ..." text -------------------------------
 *
 * The actors report STATS as one line of counters (bus_stat reads one).
 * One row per sample; consecutive rows of the same family share its HELP
 * and TYPE. A family's rows must be together (the writer refuses a
 * family started twice). */
typedef struct {
    const char *family;
    shed_prom_type_t type;
    const char *help;
    const char *label, *value;   /* NULL: the sample has no label */
    const char *key;             /* the counter in the STATS line */
    const char *label2, *value2; /* a second label (direction), or NULL */
} s_row_t;

static void
s_rows (shed_prom_t *prom, const s_row_t *rows, size_t n, const char *stats)
{
    if (!stats)
        return; /* the actor did not answer: leave them out */
    const char *family = NULL;
    for (size_t i = 0; i < n; i++) {
        const s_row_t *r = &rows[i];
        if (!family || strcmp (family, r->family) != 0) {
            family = r->family;
            shed_prom_family (prom, r->family, r->type, r->help);
        }
        uint64_t v = bus_stat (stats, r->key);
        if (r->label && r->label2)
            shed_prom_u64 (prom, v, r->label, r->value, r->label2, r->value2, NULL);
        else if (r->label)
            shed_prom_u64 (prom, v, r->label, r->value, NULL);
        else
            shed_prom_u64 (prom, v, NULL);
    }
}

#define ROWS(prom, rows, stats) s_rows (prom, rows, sizeof rows / sizeof rows[0], stats)

/* Most rows have one label: the second pair is left out of their
 * initializers (it is NULL), which the tables below may do. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

/* Membership: the actor's frames joined into a line (node_members.c). */
/* clang-format off */
static const s_row_t s_members_rows[] = {
    { "shed_members", G, "Members this node knows, by status (itself included).",
      "status", "alive", "alive" },
    { "shed_members", G, NULL, "status", "suspect", "suspect" },
    { "shed_members", G, NULL, "status", "failed", "failed" },
    { "shed_members", G, NULL, "status", "left", "left" },
    { "shed_gossip_packets_total", C, "Sealed gossip datagrams (UDP), tx sent and rx received.",
      "direction", "tx", "udp_sent" },
    { "shed_gossip_packets_total", C, NULL, "direction", "rx", "udp_received" },
    { "shed_gossip_bytes_total", C, "Bytes of sealed gossip datagrams (UDP), tx sent and rx "
      "received.", "direction", "tx", "udp_bytes_sent" },
    { "shed_gossip_bytes_total", C, NULL, "direction", "rx", "udp_bytes_received" },
    /* Only what is sent is counted by type: rx is always absent. */
    { "shed_gossip_messages_total", C, "SWIM messages, by type (sent only: direction tx).",
      "type", "ping", "pings_sent", "direction", "tx" },
    { "shed_gossip_messages_total", C, NULL, "type", "ack", "acks_sent", "direction", "tx" },
    { "shed_gossip_messages_total", C, NULL, "type", "nack", "nacks_sent", "direction", "tx" },
    { "shed_gossip_messages_total", C, NULL, "type", "ping_req", "ping_reqs_sent", "direction",
      "tx" },
    { "shed_gossip_messages_total", C, NULL, "type", "gossip", "gossip_sent", "direction",
      "tx" },
    { "shed_gossip_dropped_total", C,
      "Gossip input dropped, by reason (short, format, keyid and auth are dropped before "
      "parsing: wrong cluster key or garbage).", "reason", "short", "drop_short" },
    { "shed_gossip_dropped_total", C, NULL, "reason", "format", "drop_format" },
    { "shed_gossip_dropped_total", C, NULL, "reason", "keyid", "drop_keyid" },
    { "shed_gossip_dropped_total", C, NULL, "reason", "auth", "drop_auth" },
    { "shed_gossip_dropped_total", C, NULL, "reason", "oversize", "drop_oversize" },
    { "shed_gossip_dropped_total", C, NULL, "reason", "decode", "drop_decode" },
    { "shed_gossip_dropped_total", C, NULL, "reason", "version", "drop_version" },
    { "shed_gossip_dropped_total", C, NULL, "reason", "invalid", "drop_invalid" },
    { "shed_gossip_dropped_total", C, NULL, "reason", "stale_ack", "drop_stale_ack" },
    { "shed_gossip_dropped_total", C, NULL, "reason", "misdirected", "drop_misdirected" },
    { "shed_gossip_dropped_total", C, NULL, "reason", "self", "drop_self" },
    /* Protocol v2 drops (docs/membership.md section 1): what an outsider
     * without the keyring (replays, idle or garbage connections) costs. */
    { "shed_gossip_dropped_total", C, NULL, "reason", "replay", "drop_replay" },
    { "shed_gossip_dropped_total", C, NULL, "reason", "clock", "drop_clock" },
    { "shed_gossip_dropped_total", C, NULL, "reason", "v1", "drop_v1" },
    { "shed_gossip_dropped_total", C, NULL, "reason", "beacon", "drop_beacon" },
    { "shed_gossip_connections_dropped_total", C,
      "Incoming gossip TCP connections closed before they authenticated, by reason "
      "(source: over the per-source cap; full: every slot held by authenticated peers; "
      "preauth: no sealed header within 1 s, or evicted for a newcomer).",
      "reason", "source", "drop_conn_source" },
    { "shed_gossip_connections_dropped_total", C, NULL, "reason", "full", "drop_conn_full" },
    { "shed_gossip_connections_dropped_total", C, NULL, "reason", "preauth", "drop_preauth" },
    { "shed_gossip_send_unreachable_total", C,
      "Gossip sends skipped because the member's address is of a family this node's "
      "sockets cannot reach (an IPv6 member seen by a node bound to IPv4).", NULL, NULL,
      "send_unreachable" },
    { "shed_gossip_keyops_stale_total", C,
      "Key operations ignored because their epoch was not newer than the last applied "
      "(replayed or delayed).", NULL, NULL, "keyop_stale" },
    { "shed_gossip_probes_total", C, "Members probed.", NULL, NULL, "probes" },
    { "shed_gossip_probe_failures_total", C, "Probes with no ack, direct or indirect.",
      NULL, NULL, "probe_failures" },
    { "shed_gossip_suspicions_total", C, "Members this node started to suspect.", NULL, NULL,
      "suspicions" },
    { "shed_gossip_refutations_total", C, "Suspicions of this node it refuted.", NULL, NULL,
      "refutations" },
    { "shed_gossip_deaths_total", C, "Members declared failed.", NULL, NULL, "deaths" },
    { "shed_gossip_pushpulls_total", C, "Full-state push-pull exchanges.", NULL, NULL,
      "pushpulls" },
    { "shed_gossip_updates_applied_total", C, "Membership updates applied.", NULL, NULL,
      "updates_applied" },
    { "shed_gossip_stream_total", C, "Push-pull and key operations over TCP, by result.",
      "result", "served", "stream_served" },
    { "shed_gossip_stream_total", C, NULL, "result", "error", "stream_errors" },
    { "shed_gossip_awareness", G, "Lifeguard health score (0 = healthy; rises when this "
      "node is slow).", NULL, NULL, "awareness" },
};
/* clang-format on */

/* Replicated state: the links actor's STATS (cluster/links.h). */
/* clang-format off */
static const s_row_t s_state_rows[] = {
    { "shed_state_peers", G, "Members in the node links directory.", NULL, NULL, "peers" },
    { "shed_state_linked_peers", G, "Members this node holds a link connection to (the "
      "bounded subset, docs/state.md).", NULL, NULL, "linked" },
    { "shed_state_zmq_sockets", G, "ZeroMQ sockets the links actor holds.", NULL, NULL,
      "sockets" },
    { "shed_state_socket_failures_total", C, "Link sockets that could not be created (socket "
      "or fd limit); retried.", NULL, NULL, "sock_fail" },
    { "shed_state_rumors_total", C, "Pushes re-pushed to the subset (rumor mongering).", NULL,
      NULL, "rumors_sent" },
    { "shed_state_records", G, "Records held, every origin's.", NULL, NULL, "records" },
    { "shed_state_messages_total", C, "Anti-entropy messages, by type and direction.",
      "type", "digest", "digests_sent", "direction", "tx" },
    { "shed_state_messages_total", C, NULL, "type", "digest", "digests_recv", "direction", "rx" },
    { "shed_state_messages_total", C, NULL, "type", "delta", "deltas_sent", "direction", "tx" },
    { "shed_state_messages_total", C, NULL, "type", "delta", "deltas_recv", "direction", "rx" },
    { "shed_state_messages_total", C, NULL, "type", "push", "pushes_sent", "direction", "tx" },
    { "shed_state_messages_total", C, NULL, "type", "push", "pushes_recv", "direction", "rx" },
    { "shed_state_applied_total", C, "Remote record versions applied.", NULL, NULL,
      "applied" },
    { "shed_state_refused_total", C, "Record versions not applied, by reason.",
      "reason", "stale", "stale" },
    { "shed_state_refused_total", C, NULL, "reason", "self", "refused_self" },
    { "shed_state_refused_total", C, NULL, "reason", "removed", "refused_removed" },
    { "shed_state_refused_total", C, NULL, "reason", "malformed", "malformed" },
    { "shed_state_refused_total", C, NULL, "reason", "denied", "denied_msgs" },
    { "shed_state_refused_total", C, NULL, "reason", "signature", "refused_sig" },
    { "shed_state_deferred_total", C, "Remote records left unapplied until their origin's "
      "signing key is known.", NULL, NULL, "deferred" },
    { "shed_state_resets_total", C, "Origins reset (a peer restarted without its records).",
      NULL, NULL, "resets" },
    { "shed_state_purged_total", C, "Tombstones purged after state.tombstone_ttl_s.", NULL, NULL,
      "purged" },
    { "shed_state_send_drops_total", C, "Messages dropped on a full peer queue.", NULL, NULL,
      "send_drops" },
    { "shed_state_handshakes_total", C, "CURVE handshakes of node links, by result.",
      "result", "ok", "handshakes_ok" },
    { "shed_state_handshakes_total", C, NULL, "result", "refused", "handshakes_refused" },
    { "shed_state_redials_total", C, "Links re-dialled after a refused handshake.", NULL,
      NULL, "redials" },
    { "shed_state_dial_refused_total", C, "Dials a peer refused.", NULL, NULL,
      "dial_refused" },
    /* node_state.c's own: requests that waited for the links actor (reads
     * are local, from the mirror: docs/state.md "The node's read model"). */
    { "shed_state_actor_round_trips_total", C, "Requests the daemon's loop made to the state "
      "actor and waited for.", NULL, NULL, "actor_round_trips" },
    { "shed_state_mirror_records", G, "Records in the daemon's read model.", NULL, NULL,
      "mirror_records" },
    { "shed_state_zap_total", C, "ZAP decisions on the links port.", "result", "admitted",
      "zap_admitted" },
    { "shed_state_zap_total", C, NULL, "result", "refused", "zap_refused" },
};
/* clang-format on */

/* Event bus: the bus actor's STATS (bridges/bus.h). */
/* clang-format off */
static const s_row_t s_bus_rows[] = {
    { "shed_bus_peers", G, "Peers whose publishers this node follows.", NULL, NULL, "peers" },
    { "shed_bus_subscriptions", G, "Subscriptions on the bus publishers.", "side", "origin",
      "origin_subs" },
    { "shed_bus_subscriptions", G, NULL, "side", "consumer", "consumer_subs" },
    { "shed_bus_events_published_total", C, "Events of this node accepted for publishing.",
      NULL, NULL, "published" },
    { "shed_bus_events_total", C, "Events sent (tx) to peers and to local consumers, and "
      "received (rx) from peers; remote says which.", "direction", "tx", "origin_sent",
      "remote", "peer" },
    { "shed_bus_events_total", C, NULL, "direction", "tx", "consumer_sent", "remote",
      "consumer" },
    { "shed_bus_events_total", C, NULL, "direction", "rx", "peer_recv", "remote", "peer" },
    { "shed_bus_events_forwarded_total", C, "Peer events forwarded to local consumers.",
      NULL, NULL, "peer_forwarded" },
    { "shed_bus_events_refused_total", C, "Events refused, by reason.", "reason", "invalid",
      "invalid" },
    { "shed_bus_events_refused_total", C, NULL, "reason", "forged", "forged" },
    { "shed_bus_events_refused_total", C, NULL, "reason", "malformed", "malformed" },
    { "shed_bus_events_refused_total", C, NULL, "reason", "duplicate", "dups" },
    { "shed_bus_events_refused_total", C, NULL, "reason", "unknown_origin", "unknown_origin" },
    { "shed_bus_events_skipped_total", C, "Origin events not sent (no subscriber).", NULL,
      NULL, "origin_skipped" },
    { "shed_bus_send_errors_total", C, "Sends that failed.", NULL, NULL, "send_errors" },
    { "shed_bus_batches_total", C, "Event batches.", "direction", "tx", "batches_sent" },
    { "shed_bus_batches_total", C, NULL, "direction", "rx", "batches_recv" },
    { "shed_bus_batch_version", G, "EVENT_BATCH version batches leave at: the lowest every "
      "member reads.", NULL, NULL, "batch_version" },
    { "shed_bus_batches_recoded_total", C, "Peers' batches sent on at an older version for "
      "members that read no later.", NULL, NULL, "batches_recoded" },
    { "shed_bus_cache_events", G, "Events in the replay cache.", NULL, NULL, "cache" },
    { "shed_bus_cache_full_total", C, "Events not cached: their owner's budget or the cache "
      "was full.", NULL, NULL, "cache_full" },
    { "shed_bus_cache_evicted_total", C, "Cached events the largest owner gave up to a "
      "newcomer.", NULL, NULL, "cache_evicted" },
    { "shed_bus_snapreq_dropped_total", C, "Snapshot requests dropped: the consumer already "
      "had 4 waiting.", NULL, NULL, "snapreq_dropped" },
    { "shed_bus_snapshots_total", C, "Snapshot exchanges, by result.", "result", "served",
      "snapshots_served" },
    { "shed_bus_snapshots_total", C, NULL, "result", "done", "peer_snaps_done" },
    { "shed_bus_snapshots_total", C, NULL, "result", "timeout", "peer_snaps_timeout" },
    { "shed_bus_zap_total", C, "ZAP decisions on the bus port.", "result", "admitted",
      "zap_admitted" },
    { "shed_bus_zap_total", C, NULL, "result", "refused", "zap_refused" },
    { "shed_bus_peer_refused_total", C, "Peer handshakes refused.", NULL, NULL,
      "peer_refused" },
    { "shed_bus_peer_redials_total", C, "Peer links re-dialled.", NULL, NULL,
      "peer_redials" },
    { "shed_bus_links", G, "Routing-tree links up (parent and children).", NULL, NULL,
      "links" },
    { "shed_bus_connections", G, "Bus TCP connections open (tree links).", NULL, NULL,
      "conns" },
    { "shed_bus_connections_max", G, "Bound on bus connections per node.", NULL, NULL,
      "conns_max" },
    { "shed_bus_events_relayed_total", C, "Events relayed to another tree link.", NULL, NULL,
      "relayed" },
    { "shed_bus_link_drops_total", C, "Events dropped on a full tree link queue.", NULL, NULL,
      "link_drops" },
    { "shed_bus_children_refused_total", C, "Child HELLOs refused (every slot wanted).", NULL,
      NULL, "children_refused" },
    { "shed_bus_hello_resent_total", C, "HELLOs repeated to a silent parent.", NULL, NULL,
      "hello_resent" },
};
/* clang-format on */

/* Snapshots: shed_snaps_stats (node/snapshots/node_snaps.h). */
/* clang-format off */
static const s_row_t s_snaps_rows[] = {
    { "shed_snapshots", G, "Snapshots whose data this node holds.", NULL, NULL, "held" },
    { "shed_snapshots_bytes", G, "Bytes of snapshot data held here, and the quota (0: none).",
      "kind", "used", "used" },
    { "shed_snapshots_bytes", G, NULL, "kind", "quota", "quota" },
    { "shed_snapshot_captures_total", C, "Snapshots taken of this node's sheds, by result.",
      "result", "ok", "captures_ok" },
    { "shed_snapshot_captures_total", C, NULL, "result", "failed", "captures_failed" },
    { "shed_snapshot_fetches_total", C, "Snapshot data brought here from another node, by "
      "result.", "result", "ok", "fetches_ok" },
    { "shed_snapshot_fetches_total", C, NULL, "result", "failed", "fetches_failed" },
    { "shed_snapshot_transfer_bytes_total", C, "Snapshot bytes moved between nodes: rx "
      "fetched here, tx served to peers.", "direction", "rx", "fetched_bytes" },
    { "shed_snapshot_transfer_bytes_total", C, NULL, "direction", "tx", "served_bytes" },
    { "shed_snapshot_resumed_bytes_total", C, "Snapshot bytes a fetch kept from a partial "
      "copy instead of moving them again.", NULL, NULL, "resumed_bytes" },
    { "shed_snapshot_read_retries_total", C, "snap.read requests asked again (timeout, link).",
      NULL, NULL, "read_retries" },
    { "shed_snapshot_rpc_malformed_total", C, "Snapshot RPC requests that did not decode.",
      NULL, NULL, "rpc_malformed" },
    { "shed_moves_total", C, "Moves of this node's sheds to another node, by result.",
      "result", "ok", "moves_ok" },
    { "shed_moves_total", C, NULL, "result", "failed", "moves_failed" },
};
/* clang-format on */

/* Node RPC: rpc_stats (cluster/rpc.h), through the scheduler. */
/* clang-format off */
static const s_row_t s_rpc_rows[] = {
    { "shed_rpc_requests_total", C, "Node RPC requests, tx sent and rx received.", "direction",
      "tx", "requests_sent" },
    { "shed_rpc_requests_total", C, NULL, "direction", "rx", "requests_recv" },
    { "shed_rpc_responses_total", C, "Node RPC responses, tx sent and rx received.",
      "direction", "tx", "responses_sent" },
    { "shed_rpc_responses_total", C, NULL, "direction", "rx", "responses_recv" },
    { "shed_rpc_failures_total", C, "Node RPC failures, by reason.", "reason", "timeout",
      "timeouts" },
    { "shed_rpc_failures_total", C, NULL, "reason", "no_peer", "no_peer" },
    { "shed_rpc_failures_total", C, NULL, "reason", "malformed", "malformed" },
    { "shed_rpc_failures_total", C, NULL, "reason", "denied", "denied_msgs" },
    { "shed_rpc_failures_total", C, NULL, "reason", "send_drop", "send_drops" },
    { "shed_rpc_failures_total", C, NULL, "reason", "late_response", "late_responses" },
    { "shed_rpc_failures_total", C, NULL, "reason", "handshake_refused",
      "handshakes_refused" },
    { "shed_rpc_redials_total", C, "Node RPC links re-dialled.", NULL, NULL, "redials" },
    { "shed_rpc_connections", G, "Node RPC connections held (bounded pool).", NULL, NULL,
      "connected" },
    { "shed_rpc_zmq_sockets", G, "ZeroMQ sockets the RPC actor holds.", NULL, NULL, "sockets" },
    { "shed_rpc_socket_failures_total", C, "RPC sockets that could not be created (socket or "
      "fd limit); retried.", NULL, NULL, "sock_fail" },
    { "shed_rpc_evictions_total", C, "Idle RPC connections closed to make room.", NULL, NULL,
      "evicted" },
};
/* clang-format on */

/* Remote HTTP API: shed_http_stats (node/http/node_http.h, docs/api.md). */
/* clang-format off */
static const s_row_t s_http_rows[] = {
    { "shed_http_requests_total", C, "Remote API requests answered, by status class.", "code",
      "2xx", "requests_2xx" },
    { "shed_http_requests_total", C, NULL, "code", "4xx", "requests_4xx" },
    { "shed_http_requests_total", C, NULL, "code", "5xx", "requests_5xx" },
    { "shed_http_auth_failures_total", C, "Remote API requests refused by authentication (401) "
      "or role (403), by reason.", "reason", "missing", "auth_missing" },
    { "shed_http_auth_failures_total", C, NULL, "reason", "malformed", "auth_malformed" },
    { "shed_http_auth_failures_total", C, NULL, "reason", "unknown", "auth_unknown" },
    { "shed_http_auth_failures_total", C, NULL, "reason", "expired", "auth_expired" },
    { "shed_http_auth_failures_total", C, NULL, "reason", "forbidden", "auth_forbidden" },
    { "shed_http_rejected_total", C, "Remote API requests or connections refused before the "
      "node was asked, by reason.", "reason", "body_too_large", "body_too_large" },
    { "shed_http_rejected_total", C, NULL, "reason", "bad_request", "bad_request" },
    { "shed_http_rejected_total", C, NULL, "reason", "rate_limited", "rate_limited" },
    { "shed_http_rejected_total", C, NULL, "reason", "connection_limit", "conn_refused" },
    { "shed_http_rejected_total", C, NULL, "reason", "timeout", "conn_timeout" },
    { "shed_http_rejected_total", C, NULL, "reason", "evicted", "conn_evicted" },
    { "shed_http_rejected_total", C, NULL, "reason", "too_many_streams", "events_refused" },
    { "shed_http_no_reply_total", C, "Remote API calls the node's local API did not answer in "
      "time (503/504).", NULL, NULL, "no_reply" },
    { "shed_http_connections", G, "Remote API connections open now.", NULL, NULL,
      "connections" },
    { "shed_api_tokens", G, "Remote API tokens in the store.", NULL, NULL, "tokens" },
    { "shed_http_event_streams", G, "GET /v1/events streams open now.", NULL, NULL,
      "events_streams" },
    { "shed_http_event_streams_total", C, "GET /v1/events streams opened.", NULL, NULL,
      "events_streams_total" },
    { "shed_http_stream_events_total", C, "Events written to GET /v1/events streams.", NULL, NULL,
      "events_sent" },
    { "shed_http_blocking_queries", G, "Blocking queries (?index=) waiting now.", NULL, NULL,
      "watch_waiting" },
    { "shed_http_blocking_answered_total", C, "Blocking queries answered after waiting (a "
      "change, or their wait over).", NULL, NULL, "watch_answered" },
};
/* clang-format on */

#pragma GCC diagnostic pop

/* ---- the node itself ----------------------------------------------------------- */

static void
s_node (shed_prom_t *prom, const shed_metrics_sources_t *src)
{
    shed_prom_family (prom, "shed_build_info", G,
                      "Always 1; the labels say which node and which build.");
    shed_prom_u64 (prom, 1, "node", src->node, "version", src->version, NULL);
    shed_prom_family (prom, "shed_uptime_seconds", G, "Seconds since this shed-node started.");
    shed_prom_f64 (prom, (double) (zclock_mono () - src->started_mono_ms) / 1000.0, NULL);
}

/* The standard process_* families (the names every Prometheus client
 * library exports, so stock dashboards and alerts work): proc_self.h. */
static void
s_process (shed_prom_t *prom)
{
    shed_proc_self_t p;
    if (shed_proc_self (&p) == 0) {
        shed_prom_family (prom, "process_cpu_seconds_total", C,
                          "Total user and system CPU time spent in seconds.");
        shed_prom_f64 (prom, p.cpu_seconds, NULL);
        shed_prom_family (prom, "process_resident_memory_bytes", G,
                          "Resident memory size in bytes.");
        shed_prom_u64 (prom, p.resident_bytes, NULL);
        shed_prom_family (prom, "process_virtual_memory_bytes", G, "Virtual memory size in bytes.");
        shed_prom_u64 (prom, p.virtual_bytes, NULL);
        shed_prom_family (prom, "process_start_time_seconds", G,
                          "Start time of the process since unix epoch in seconds.");
        shed_prom_f64 (prom, p.start_time_seconds, NULL);
    }
    if (p.open_fds >= 0) {
        shed_prom_family (prom, "process_open_fds", G, "Number of open file descriptors.");
        shed_prom_u64 (prom, (uint64_t) p.open_fds, NULL);
    }
    if (p.max_fds >= 0) {
        shed_prom_family (prom, "process_max_fds", G, "Maximum number of open file descriptors.");
        shed_prom_u64 (prom, (uint64_t) p.max_fds, NULL);
    }
}

/* ---- overlay ------------------------------------------------------------------- */

#define S_PEERS_MAX 1024

static void
s_overlay (shed_prom_t *prom, shed_overlay_t *overlay)
{
    overlay_stats_t st;
    overlay_peer_stats_t *ps = calloc (S_PEERS_MAX, sizeof *ps);
    size_t np = 0;
    if (!ps || shed_overlay_stats (overlay, &st, ps, S_PEERS_MAX, &np) != 0) {
        free (ps);
        return;
    }
    if (np > S_PEERS_MAX)
        np = S_PEERS_MAX;
    shed_prom_family (prom, "shed_overlay_peers", G, "Overlay peers (other members).");
    shed_prom_u64 (prom, (uint64_t) st.peers, NULL);
    shed_prom_family (prom, "shed_overlay_mtu_bytes", G, "MTU of shed interfaces on the overlay.");
    shed_prom_u64 (prom, (uint64_t) (st.mtu > 0 ? st.mtu : 0), NULL);
    shed_prom_family (prom, "shed_overlay_arp_answered_total", C,
                      "ARP requests answered locally from the endpoint records.");
    shed_prom_u64 (prom, st.arp_answered, NULL);
    shed_prom_family (prom, "shed_overlay_dropped_total", C,
                      "Overlay packets dropped, all peers and none, by reason.");
    for (int r = 0; r < OVERLAY_DROP_COUNT; r++)
        shed_prom_u64 (prom, st.drops[r], "reason", overlay_drop_name ((overlay_drop_t) r), NULL);
    shed_prom_family (prom, "shed_overlay_peer_packets_total", C,
                      "Overlay packets per peer: tx datagrams sent, rx frames delivered.");
    for (size_t i = 0; i < np; i++) {
        shed_prom_u64 (prom, ps[i].tx_packets, "peer", ps[i].node, "direction", "tx", NULL);
        shed_prom_u64 (prom, ps[i].rx_packets, "peer", ps[i].node, "direction", "rx", NULL);
    }
    shed_prom_family (prom, "shed_overlay_peer_bytes_total", C,
                      "Overlay bytes per peer: tx sealed bytes, rx delivered bytes.");
    for (size_t i = 0; i < np; i++) {
        shed_prom_u64 (prom, ps[i].tx_bytes, "peer", ps[i].node, "direction", "tx", NULL);
        shed_prom_u64 (prom, ps[i].rx_bytes, "peer", ps[i].node, "direction", "rx", NULL);
    }
    shed_prom_family (prom, "shed_overlay_peer_dropped_total", C,
                      "Overlay packets dropped per peer (all reasons).");
    for (size_t i = 0; i < np; i++) {
        uint64_t sum = 0;
        for (int r = 0; r < OVERLAY_DROP_COUNT; r++)
            sum += ps[i].drops[r];
        shed_prom_u64 (prom, sum, "peer", ps[i].node, NULL);
    }
    shed_prom_family (prom, "shed_overlay_peer_handshakes_total", C,
                      "Session handshakes per peer.");
    for (size_t i = 0; i < np; i++)
        shed_prom_u64 (prom, ps[i].handshakes, "peer", ps[i].node, NULL);
    shed_prom_family (prom, "shed_overlay_peer_session_established", G,
                      "1 when the peer's session has a confirmed key, else 0 (handshaking).");
    for (size_t i = 0; i < np; i++)
        shed_prom_u64 (prom, ps[i].has_key ? 1 : 0, "peer", ps[i].node, NULL);
    shed_prom_family (prom, "shed_overlay_peer_key_age_seconds", G,
                      "Age of the peer session's current key.");
    for (size_t i = 0; i < np; i++)
        shed_prom_f64 (prom, (double) ps[i].key_age_ms / 1000.0, "peer", ps[i].node, NULL);
    free (ps);
}

/* ---- DNS ------------------------------------------------------------------------ */

/* One family for both listeners: listener = host (dns.addr) or shed (the
 * overlay gateway, once it ever ran), transport = udp or tcp. */
static void
s_dns_latency (shed_prom_t *prom, shed_dns_t *dns)
{
    if (!dns)
        return;
    shed_prom_family (prom, "shed_dns_query_duration_seconds", SHED_PROM_HISTOGRAM,
                      "Time to answer a DNS query: UDP from the read of its batch to the "
                      "answers sent, TCP from the frame read to its answer queued.");
    for (int l = 0; l < 2; l++)
        for (int t = 0; t < 2; t++) {
            shed_hist_snap_t snap;
            if (shed_dns_latency (dns, l == 1, t == 1, &snap) == 0)
                shed_prom_histogram (prom, &snap, "listener", l ? "shed" : "host", "transport",
                                     t ? "tcp" : "udp", NULL);
        }
}

static void
s_dns (shed_prom_t *prom, shed_catalog_t *catalog)
{
    dns_server_stats_t st;
    if (shed_catalog_dns_stats (catalog, &st) != 0)
        return;
    shed_prom_family (prom, "shed_dns_queries_total", C, "DNS queries received, by transport.");
    shed_prom_u64 (prom, st.queries_udp, "transport", "udp", NULL);
    shed_prom_u64 (prom, st.queries_tcp, "transport", "tcp", NULL);
    shed_prom_family (prom, "shed_dns_responses_total", C, "DNS answers sent, by rcode.");
    shed_prom_u64 (prom, st.rcode_noerror, "rcode", "noerror", NULL);
    shed_prom_u64 (prom, st.rcode_formerr, "rcode", "formerr", NULL);
    shed_prom_u64 (prom, st.rcode_servfail, "rcode", "servfail", NULL);
    shed_prom_u64 (prom, st.rcode_nxdomain, "rcode", "nxdomain", NULL);
    shed_prom_u64 (prom, st.rcode_notimp, "rcode", "notimp", NULL);
    shed_prom_u64 (prom, st.rcode_refused, "rcode", "refused", NULL);
    shed_prom_u64 (prom, st.rcode_other, "rcode", "other", NULL);
    shed_prom_family (prom, "shed_dns_truncated_total", C, "UDP answers sent truncated (TC).");
    shed_prom_u64 (prom, st.truncated, NULL);
    shed_prom_family (prom, "shed_dns_dropped_total", C, "Malformed DNS input not answered.");
    shed_prom_u64 (prom, st.dropped, NULL);
    shed_prom_family (prom, "shed_dns_tcp_connections_total", C,
                      "DNS TCP connections, by outcome.");
    shed_prom_u64 (prom, st.tcp_accepted, "result", "accepted", NULL);
    shed_prom_u64 (prom, st.tcp_rejected, "result", "rejected", NULL);
    shed_prom_u64 (prom, st.tcp_idle_closed, "result", "idle_closed", NULL);
    shed_prom_family (prom, "shed_dns_zones_published_total", C,
                      "Zone snapshots published to the DNS server (catalog rebuilds).");
    shed_prom_u64 (prom, st.zones_published, NULL);
    s_dns_latency (prom, shed_catalog_dns (catalog));

    /* The shed listener on the overlay gateway (node_dns.h): families of
     * their own, so the host listener's series keep their labels. */
    shed_dns_t *dns = shed_catalog_dns (catalog);
    if (!dns || shed_dns_stats (dns, true, &st) != 0)
        return;
    shed_prom_family (prom, "shed_dns_shed_listening", G,
                      "1 while the shed DNS listener answers on the overlay gateway.");
    shed_prom_u64 (prom, shed_dns_shed_addr (dns)[0] ? 1 : 0, NULL);
    shed_prom_family (prom, "shed_dns_shed_queries_total", C,
                      "Queries received by the shed DNS listener, by transport.");
    shed_prom_u64 (prom, st.queries_udp, "transport", "udp", NULL);
    shed_prom_u64 (prom, st.queries_tcp, "transport", "tcp", NULL);
    shed_prom_family (prom, "shed_dns_shed_responses_total", C,
                      "Answers sent by the shed DNS listener, by rcode.");
    shed_prom_u64 (prom, st.rcode_noerror, "rcode", "noerror", NULL);
    shed_prom_u64 (prom, st.rcode_formerr, "rcode", "formerr", NULL);
    shed_prom_u64 (prom, st.rcode_servfail, "rcode", "servfail", NULL);
    shed_prom_u64 (prom, st.rcode_nxdomain, "rcode", "nxdomain", NULL);
    shed_prom_u64 (prom, st.rcode_notimp, "rcode", "notimp", NULL);
    shed_prom_u64 (prom, st.rcode_refused, "rcode", "refused", NULL);
    shed_prom_u64 (prom, st.rcode_other, "rcode", "other", NULL);
    shed_prom_family (prom, "shed_dns_shed_dropped_total", C,
                      "Input to the shed DNS listener not answered, by reason.");
    shed_prom_u64 (prom, st.dropped, "reason", "malformed", NULL);
    shed_prom_u64 (prom, st.rate_limited, "reason", "rate_limited", NULL);
    shed_prom_family (prom, "shed_dns_shed_tcp_connections_total", C,
                      "TCP connections to the shed DNS listener, by outcome.");
    shed_prom_u64 (prom, st.tcp_accepted, "result", "accepted", NULL);
    shed_prom_u64 (prom, st.tcp_rejected, "result", "rejected", NULL);
    shed_prom_u64 (prom, st.tcp_idle_closed, "result", "idle_closed", NULL);
}

/* ---- scheduler ------------------------------------------------------------------- */

static void
s_resource (shed_prom_t *prom, const shed_sched_stats_t *st, place_res_t r, double scale)
{
    uint64_t eff = st->effective.v[r], alloc = st->allocated.v[r];
    shed_prom_f64 (prom, (double) st->capacity.v[r] * scale, "kind", "capacity", NULL);
    shed_prom_f64 (prom, (double) st->reserved.v[r] * scale, "kind", "reserved", NULL);
    shed_prom_f64 (prom, (double) eff * scale, "kind", "effective", NULL);
    shed_prom_f64 (prom, (double) alloc * scale, "kind", "allocated", NULL);
    shed_prom_f64 (prom, (double) (eff > alloc ? eff - alloc : 0) * scale, "kind", "free", NULL);
}

static void
s_sched (shed_prom_t *prom, shed_sched_t *sched)
{
    shed_sched_stats_t *st = calloc (1, sizeof *st);
    if (!st)
        return;
    shed_sched_stats (sched, st);
    shed_prom_family (prom, "shed_sheds", G, "Sheds of this node (its shed records), by state.");
    for (size_t i = 0; i < st->nstates; i++)
        shed_prom_u64 (prom, st->states[i].count, "state", st->states[i].state, NULL);
    shed_prom_family (prom, "shed_node_cpus", G,
                      "CPUs of this node for sheds: capacity, reserved for the host, effective "
                      "((capacity - reserved) x overcommit), allocated to sheds, free.");
    s_resource (prom, st, PLACE_CPU, 1.0 / 1000.0);
    shed_prom_family (prom, "shed_node_memory_bytes", G,
                      "Memory of this node for sheds, "
                      "same kinds as shed_node_cpus.");
    s_resource (prom, st, PLACE_MEMORY, 1.0);
    shed_prom_family (prom, "shed_node_disk_bytes", G,
                      "Disk of this node for sheds, same "
                      "kinds as shed_node_cpus.");
    s_resource (prom, st, PLACE_DISK, 1.0);
    shed_prom_family (prom, "shed_node_gpus", G,
                      "GPUs of this node for sheds, same kinds "
                      "as shed_node_cpus.");
    s_resource (prom, st, PLACE_GPU, 1.0);
    shed_prom_family (prom, "shed_node_admitted_sheds", G, "Sheds holding resources on this node.");
    shed_prom_u64 (prom, (uint64_t) st->admitted, NULL);
    shed_prom_family (prom, "shed_node_draining", G, "1 while the node is drained.");
    shed_prom_u64 (prom, st->draining ? 1 : 0, NULL);
    shed_prom_family (prom, "shed_sched_creates_in_progress", G,
                      "Creates this node coordinates that are not answered yet.");
    shed_prom_u64 (prom, (uint64_t) st->creates_running, NULL);
    shed_prom_family (prom, "shed_sched_creates_total", C,
                      "Creates this node coordinated (shedctl create sent here), by result.");
    shed_prom_u64 (prom, st->creates_ok, "result", "running", NULL);
    shed_prom_u64 (prom, st->creates_failed, "result", "failed", NULL);
    shed_prom_family (prom, "shed_sched_claims_deferred_total", C,
                      "Claims that arrived before this node's address block settled and "
                      "waited for it on the loop.");
    shed_prom_u64 (prom, st->claims_deferred, NULL);
    if (st->have_create_latency) {
        shed_prom_family (prom, "shed_sched_create_duration_seconds", SHED_PROM_HISTOGRAM,
                          "Creates this node coordinated that were answered running: time from "
                          "the API request to the shed running (placement, claim, image, "
                          "driver create and start).");
        shed_prom_histogram (prom, &st->create_latency, NULL);
    }
    ROWS (prom, s_rpc_rows, st->rpc);
    if (st->have_rpc_latency && st->rpc[0]) {
        shed_prom_family (prom, "shed_rpc_request_duration_seconds", SHED_PROM_HISTOGRAM,
                          "Round trip of node RPC requests this node sent that were answered "
                          "(the peer's handling included; timeouts are in "
                          "shed_rpc_failures_total).");
        shed_prom_histogram (prom, &st->rpc_latency, NULL);
    }
    free (st);
}

/* ---- agents ---------------------------------------------------------------------- */

typedef struct {
    char shed[AGENT_NAME_MAX + 1];
    agent_host_stats_t st;
    bool have; /* latest METRICS below */
    double cpu_pct, load1;
    uint64_t mem_used, mem_total, procs;
} s_agent_t;

typedef struct {
    s_agent_t *items;
    size_t n, cap;
} s_agents_t;

static void
s_collect_agent (const char *shed, const agent_host_stats_t *st, const agent_metrics_t *m,
                 void *arg)
{
    s_agents_t *v = arg;
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 16;
        s_agent_t *items = realloc (v->items, cap * sizeof *items);
        if (!items)
            return;
        v->items = items;
        v->cap = cap;
    }
    s_agent_t *a = &v->items[v->n++];
    memset (a, 0, sizeof *a);
    snprintf (a->shed, sizeof a->shed, "%s", shed);
    a->st = *st;
    if (m) {
        a->have = true;
        a->cpu_pct = m->cpu_pct;
        a->load1 = m->load1;
        a->mem_used = m->mem_used;
        a->mem_total = m->mem_total;
        a->procs = m->procs;
    }
}

static void
s_agents (shed_prom_t *prom, shed_agents_t *agents)
{
    s_agents_t v = { 0 };
    shed_agents_stats (agents, s_collect_agent, &v);
    const s_agent_t *a = v.items;
    size_t n = v.n;

    shed_prom_family (prom, "shed_agent_connected", G,
                      "1 while the shed's agent is connected and said hello.");
    for (size_t i = 0; i < n; i++)
        shed_prom_u64 (prom, a[i].st.connected ? 1 : 0, "shed", a[i].shed, NULL);
    shed_prom_family (prom, "shed_agent_connections_total", C, "Agent connections accepted.");
    for (size_t i = 0; i < n; i++)
        shed_prom_u64 (prom, a[i].st.connections, "shed", a[i].shed, NULL);
    shed_prom_family (prom, "shed_agent_frames_total", C,
                      "Agent channel frames: rx from the agent, tx to it.");
    for (size_t i = 0; i < n; i++) {
        shed_prom_u64 (prom, a[i].st.frames_in, "shed", a[i].shed, "direction", "rx", NULL);
        shed_prom_u64 (prom, a[i].st.frames_out, "shed", a[i].shed, "direction", "tx", NULL);
    }
    shed_prom_family (prom, "shed_agent_bytes_total", C,
                      "Agent channel bytes: rx from the agent, tx to it.");
    for (size_t i = 0; i < n; i++) {
        shed_prom_u64 (prom, a[i].st.bytes_in, "shed", a[i].shed, "direction", "rx", NULL);
        shed_prom_u64 (prom, a[i].st.bytes_out, "shed", a[i].shed, "direction", "tx", NULL);
    }
    shed_prom_family (prom, "shed_agent_events_total", C,
                      "Agent events handed to the node (published on the bus).");
    for (size_t i = 0; i < n; i++)
        shed_prom_u64 (prom, a[i].st.events, "shed", a[i].shed, NULL);
    shed_prom_family (prom, "shed_agent_bad_frames_total", C, "Agent frames refused, by reason.");
    for (size_t i = 0; i < n; i++)
        for (int r = 0; r < AGENT_BAD_MAX; r++)
            shed_prom_u64 (prom, a[i].st.bad[r], "shed", a[i].shed, "reason",
                           agent_bad_name ((agent_bad_t) r), NULL);
    shed_prom_family (prom, "shed_agent_dropped_total", C,
                      "Agent events lost: dropped by the agent itself, or by a full bus queue.");
    for (size_t i = 0; i < n; i++) {
        shed_prom_u64 (prom, a[i].st.agent_dropped, "shed", a[i].shed, "where", "agent", NULL);
        shed_prom_u64 (prom, a[i].st.bus_dropped, "shed", a[i].shed, "where", "bus", NULL);
    }
    shed_prom_family (prom, "shed_agent_closes_total", C,
                      "Agent connections the node closed, by reason.");
    for (size_t i = 0; i < n; i++) {
        shed_prom_u64 (prom, a[i].st.closes_abuse, "shed", a[i].shed, "reason", "abuse", NULL);
        shed_prom_u64 (prom, a[i].st.closes_timeout, "shed", a[i].shed, "reason", "timeout", NULL);
    }
    /* The latest METRICS each agent reported (absent until one arrives). */
    shed_prom_family (prom, "shed_shed_cpu_usage_ratio", G,
                      "CPU use of the shed, 0 to 1 of all its CPUs, as its agent last reported.");
    for (size_t i = 0; i < n; i++)
        if (a[i].have)
            shed_prom_f64 (prom, a[i].cpu_pct / 100.0, "shed", a[i].shed, NULL);
    shed_prom_family (prom, "shed_shed_memory_bytes", G,
                      "Memory of the shed as its agent last reported: used and total.");
    for (size_t i = 0; i < n; i++)
        if (a[i].have) {
            shed_prom_u64 (prom, a[i].mem_used, "shed", a[i].shed, "kind", "used", NULL);
            shed_prom_u64 (prom, a[i].mem_total, "shed", a[i].shed, "kind", "total", NULL);
        }
    shed_prom_family (prom, "shed_shed_load1", G, "1-minute load average inside the shed.");
    for (size_t i = 0; i < n; i++)
        if (a[i].have)
            shed_prom_f64 (prom, a[i].load1, "shed", a[i].shed, NULL);
    shed_prom_family (prom, "shed_shed_processes", G, "Processes inside the shed.");
    for (size_t i = 0; i < n; i++)
        if (a[i].have)
            shed_prom_u64 (prom, a[i].procs, "shed", a[i].shed, NULL);
    free (v.items);
}

/* ---- hooks ----------------------------------------------------------------------- */

static void
s_hooks (shed_prom_t *prom, shed_hooks_t *hooks)
{
    shed_hooks_stats_t st;
    shed_hooks_stats (hooks, &st);
    shed_prom_family (prom, "shed_hooks_matched_total", C,
                      "(event, hook) pairs that matched a hook's prefix.");
    shed_prom_u64 (prom, st.matched, NULL);
    shed_prom_family (prom, "shed_hooks_runs_total", C,
                      "Hook processes by outcome (timeout is also counted as failed).");
    shed_prom_u64 (prom, st.started, "result", "started", NULL);
    shed_prom_u64 (prom, st.succeeded, "result", "succeeded", NULL);
    shed_prom_u64 (prom, st.failed, "result", "failed", NULL);
    shed_prom_u64 (prom, st.timed_out, "result", "timeout", NULL);
    shed_prom_u64 (prom, st.spawn_errors, "result", "spawn_error", NULL);
    shed_prom_family (prom, "shed_hooks_dropped_total", C,
                      "Hook runs dropped because their queue was full, by class (control: "
                      "member. and shed. events; guest: the rest).");
    shed_prom_u64 (prom, st.dropped_control, "class", "control", NULL);
    shed_prom_u64 (prom, st.dropped - st.dropped_control, "class", "guest", NULL);
    shed_prom_family (prom, "shed_hooks_running", G, "Hook processes running now.");
    shed_prom_u64 (prom, st.running, NULL);
    shed_prom_family (prom, "shed_hooks_queued", G, "Hook runs waiting for a free slot.");
    shed_prom_u64 (prom, st.queued, NULL);
}

/* ---- all ------------------------------------------------------------------------- */

void
shed_metrics_render (shed_prom_t *prom, const shed_metrics_sources_t *src)
{
    s_node (prom, src);
    s_process (prom);
    if (src->members) {
        char *text = shed_members_stats (src->members);
        ROWS (prom, s_members_rows, text);
        free (text);
    }
    if (src->state) {
        char *text = shed_nstate_stats (src->state);
        ROWS (prom, s_state_rows, text);
        free (text);
    }
    if (src->events) {
        char *text = shed_events_stats (src->events);
        ROWS (prom, s_bus_rows, text);
        free (text);
        shed_prom_family (prom, "shed_bus_events_dropped_total", C,
                          "Events of this node dropped before the bus (its pipe was full).");
        shed_prom_u64 (prom, shed_events_dropped (src->events), NULL);
    }
    if (src->overlay)
        s_overlay (prom, src->overlay);
    if (src->catalog)
        s_dns (prom, src->catalog);
    if (src->sched)
        s_sched (prom, src->sched);
    if (src->agents)
        s_agents (prom, src->agents);
    if (src->hooks)
        s_hooks (prom, src->hooks);
    if (src->snaps) {
        char *text = shed_snaps_stats (src->snaps);
        ROWS (prom, s_snaps_rows, text);
        free (text);
    }
    if (src->http) {
        char *text = shed_http_stats (src->http);
        ROWS (prom, s_http_rows, text);
        free (text);
    }
}
