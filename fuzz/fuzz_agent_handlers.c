/*
 * fuzz_agent_handlers.c - libFuzzer target for what the node does with a
 * shed agent's messages (node/events/agent_check.h, used by node/events/node_agents.c):
 * arbitrary bytes are cut into agent frames, each decoded as the agent host
 * does (agent_frame_decode: wire_decode with the agent protocol and its
 * validator), and every decoded message goes through agent_check_msg for
 * one shed, its service bookkeeping kept across the frames; a registration
 * it accepts is taken as the catalog would (agent_check_hold). Checked: ids
 * are "<shed>.<name>" and fit a record name, records carry the shed and a
 * real port, the held ids stay within services_max, refusals say why.
 *
 * Input layout: byte 0 picks the shed name (low 2 bits) and services_max
 * (next 3 bits: 1..8, small so the cap is hit); the rest is frames as an
 * agent sends them: type (1 byte), length (4 bytes, big-endian), payload.
 */
#include "agent/proto/agent_proto.h"
#include "node/events/agent_check.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

#define S_CHECK(cond)                                                                              \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf (stderr, "fuzz_agent_handlers: check failed: %s (line %d)\n", #cond,           \
                     __LINE__);                                                                    \
            abort ();                                                                              \
        }                                                                                          \
    } while (0)

/* Short, middling and longest shed names: the long ones leave little room
 * for a service name in a record name. */
static const char *s_sheds[4] = {
    "web",
    "build-runner-0123456789abcdef",
    "a0123456789012345678901234567890123456789012345678901234567890",
    "s_",
};

static void
s_one (agent_check_shed_t *s, const char *shed, const agent_msg_t *msg)
{
    agent_check_out_t out;
    size_t held_before = s->n;
    int rc = agent_check_msg (s, shed, msg, &out);
    S_CHECK (rc == 0 || rc == -1);
    S_CHECK (s->n <= s->max);
    if (rc != 0) {
        S_CHECK (out.reason[0] != '\0');
        S_CHECK (out.bad < AGENT_BAD_MAX);
        S_CHECK (!out.not_held || !out.count);
        S_CHECK (s->n == held_before);
        return;
    }
    size_t sl = strlen (shed);
    switch (out.action) {
    case AGENT_CHECK_SERVICE_REGISTER: {
        S_CHECK (msg->hdr.type == AGENT_SERVICE_REGISTER);
        S_CHECK (strlen (out.id) <= REC_NAME_MAX);
        S_CHECK (!strncmp (out.id, shed, sl) && out.id[sl] == '.');
        S_CHECK (!strcmp (out.id + sl + 1, msg->u.agent_service_register.name));
        S_CHECK (!strcmp (out.svc.id, out.id) && !strcmp (out.svc.shed, shed));
        S_CHECK (out.svc.port >= 1 && out.svc.port <= 65535);
        S_CHECK (out.svc.check == REC_CHECK_NONE);
        bool held = agent_check_held (s, out.id, false);
        S_CHECK (held || s->n < s->max);
        /* The catalog took it. */
        S_CHECK (agent_check_hold (s, out.id) == 0);
        S_CHECK (agent_check_held (s, out.id, false));
        S_CHECK (s->n == held_before + (held ? 0 : 1));
        break;
    }
    case AGENT_CHECK_SERVICE_DEREGISTER:
        S_CHECK (s->n + 1 == held_before);
        S_CHECK (!agent_check_held (s, out.id, false));
        break;
    case AGENT_CHECK_SERVICE_HEALTH:
        S_CHECK (agent_check_held (s, out.id, false));
        S_CHECK (out.health >= REC_HEALTH_PASSING && out.health <= REC_HEALTH_CRITICAL);
        S_CHECK (out.output != NULL);
        break;
    case AGENT_CHECK_LOG:
        S_CHECK (out.log && agent_msg_stream_name_ok (out.log->stream));
        S_CHECK (strlen (out.log->text) <= AGENT_TEXT_MAX);
        break;
    case AGENT_CHECK_HELLO:
        S_CHECK (out.version && strlen (out.version) < sizeof msg->u.agent_hello.agent_version);
        break;
    case AGENT_CHECK_STEP_DONE:
        S_CHECK (out.result && out.result->kind == AGENT_PROC_STEP_DONE);
        break;
    case AGENT_CHECK_RUN_DONE:
        S_CHECK (out.done && out.run == out.done->run);
        break;
    case AGENT_CHECK_NONE:
        break;
    }
    if (out.action != AGENT_CHECK_SERVICE_REGISTER && out.action != AGENT_CHECK_SERVICE_DEREGISTER)
        S_CHECK (s->n == held_before);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const char *shed = s_sheds[data[0] & 3];
    agent_check_shed_t s;
    agent_check_shed_init (&s, 1 + ((data[0] >> 2) & 7));
    size_t pos = 1;
    while (pos + AGENT_FRAME_HEADER <= size) {
        uint8_t type = data[pos];
        uint32_t len = (uint32_t) data[pos + 1] << 24 | (uint32_t) data[pos + 2] << 16
                       | (uint32_t) data[pos + 3] << 8 | data[pos + 4];
        pos += AGENT_FRAME_HEADER;
        if (len > size - pos)
            len = (uint32_t) (size - pos);
        agent_msg_t msg;
        const char *field = NULL;
        if (agent_frame_decode (type, data + pos, len, &msg, &field) == WIRE_OK) {
            S_CHECK (msg.hdr.type == type);
            s_one (&s, shed, &msg);
            wire_msg_free (&agent_proto, &msg);
        }
        pos += len;
    }
    agent_check_shed_free (&s);
    return 0;
}
