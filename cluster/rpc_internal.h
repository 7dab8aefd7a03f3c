/*
 * rpc_internal.h - what the RPC actor (rpc.c) and its owner's side
 * (rpc_api.c) share. Not a public interface: see rpc.h.
 */
#ifndef SHED_RPC_INTERNAL_H
#define SHED_RPC_INTERNAL_H

#include "cluster/rpc.h"
#include "common/histogram.h"

/* Counters shared with the owner's thread (atomics). */
typedef struct {
    uint64_t requests_sent, requests_recv, responses_sent, responses_recv;
    uint64_t timeouts, no_peer, malformed, denied_msgs, send_drops, late_responses;
    uint64_t handshakes_refused, redials;
    /* The pool's, copied by the actor after every event (gauges too). */
    uint64_t connected, sockets, sock_fail, evicted;
} rpc_counters_t;

struct _rpc_t {
    zactor_t *actor;
    char endpoint[256];
    uint64_t next_id;
    rpc_counters_t c;
    /* Round trips of our requests that were answered (the actor observes;
     * created before the actor starts, freed after it is gone). */
    shed_hist_t *latency;
};

/* The actor (zactor_fn): args is { rpc_t *owner, const rpc_config_t *cfg }. */
void rpc_actor (zsock_t *pipe, void *args);

#endif
