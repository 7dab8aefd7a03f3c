/*
 * event_json.h - one rendering of bus events as JSON, for everything that
 * shows them: hooks (the event on a hook's stdin) and `shedctl events
 * --json`. Payloads are decoded by their kind where the schema is known
 * (agent messages, membership and record changes).
 */
#ifndef SHED_EVENT_JSON_H
#define SHED_EVENT_JSON_H

#include "bridges/bus_client.h"
#include "node/ctl/json.h"

#include <stddef.h>
#include <stdint.h>

/* The event as one JSON object: topic, origin, seq, tseq, boot, kind,
 * time_us, time, gap, payload. */
void shed_event_json (jw_t *j, const bus_event_t *ev);
/* Only the payload, decoded by `kind` ("agent.*": agent_proto, "member" /
 * "record": evpay_proto), else {"size": N}. */
void shed_event_json_payload (jw_t *j, const char *kind, const uint8_t *payload, size_t size);
/* "start" "exit" "restart" "giveup" "step_done" for an agent process event. */
const char *shed_event_proc_kind (uint64_t kind);

#endif
