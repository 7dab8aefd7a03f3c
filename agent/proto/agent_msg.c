/*
 * agent_msg.c - codec tables and semantic checks of the agent channel (see
 * agent_proto.h). The codec itself is common/wire.c; what lives here is what a
 * msgpack shape cannot say: names that become topic segments, enums with
 * holes, chunk arithmetic, finite metrics.
 */
#include "agent/proto/agent_proto.h"

#include <math.h>
#include <string.h>

static const struct {
    const char *name;
    unsigned dir;
} s_types[AGENT_TYPE_MAX + 1] = {
    [AGENT_HELLO] = { "hello", AGENT_DIR_TO_HOST },
    [AGENT_HELLO_ACK] = { "hello-ack", AGENT_DIR_TO_AGENT },
    [AGENT_HEARTBEAT] = { "heartbeat", AGENT_DIR_TO_HOST | AGENT_DIR_TO_AGENT },
    [AGENT_METRICS] = { "metrics", AGENT_DIR_TO_HOST },
    [AGENT_PROC_EVENT] = { "proc", AGENT_DIR_TO_HOST },
    [AGENT_LOG] = { "log", AGENT_DIR_TO_HOST },
    [AGENT_SERVICE_REGISTER] = { "service-register", AGENT_DIR_TO_HOST },
    [AGENT_SERVICE_DEREGISTER] = { "service-deregister", AGENT_DIR_TO_HOST },
    [AGENT_SERVICE_HEALTH] = { "service-health", AGENT_DIR_TO_HOST },
    [AGENT_PROVISION] = { "provision", AGENT_DIR_TO_AGENT },
    [AGENT_PROVISION_OUTPUT] = { "provision-output", AGENT_DIR_TO_HOST },
    [AGENT_PROVISION_DONE] = { "provision-done", AGENT_DIR_TO_HOST },
    [AGENT_DROPPED] = { "dropped", AGENT_DIR_TO_HOST },
    [AGENT_CHUNK] = { "chunk", AGENT_DIR_TO_HOST | AGENT_DIR_TO_AGENT },
    [AGENT_CLOSE] = { "close", AGENT_DIR_TO_HOST | AGENT_DIR_TO_AGENT },
};

unsigned
agent_msg_direction (unsigned type)
{
    return type <= AGENT_TYPE_MAX ? s_types[type].dir : 0;
}

const char *
agent_msg_type_name (unsigned type)
{
    return type <= AGENT_TYPE_MAX && s_types[type].name ? s_types[type].name : "unknown";
}

static bool
s_word_char (char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'
           || c == '-';
}

bool
agent_msg_stream_name_ok (const char *name)
{
    size_t n = strnlen (name, AGENT_STREAM_NAME_MAX + 1);
    if (n == 0 || n > AGENT_STREAM_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!s_word_char (name[i]))
            return false;
    return true;
}

bool
agent_msg_name_ok (const char *name)
{
    size_t n = strnlen (name, AGENT_NAME_MAX + 1);
    if (n == 0 || n > AGENT_NAME_MAX || name[0] == '-' || name[0] == '_')
        return false;
    for (size_t i = 0; i < n; i++)
        if (!s_word_char (name[i]))
            return false;
    return true;
}

bool
agent_msg_service_name_ok (const char *name)
{
    size_t n = strnlen (name, 64);
    if (n == 0 || n > 63 || name[0] == '-' || name[n - 1] == '-')
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
            return false;
    }
    return true;
}

static bool
s_finite_nonneg (double v)
{
    return isfinite (v) && v >= 0;
}

#define S_NO(text)                                                                                 \
    do {                                                                                           \
        *why = (text);                                                                             \
        return -1;                                                                                 \
    } while (0)

/* Runs after every decode and before every encode, so neither side can
 * emit what the other would refuse. */
static int
s_validate (uint16_t type, const void *body, const char **why)
{
    switch (type) {
    case AGENT_HELLO_ACK: {
        const agent_hello_ack_t *m = body;
        if (m->max_frame < AGENT_FRAME_MAX_FLOOR)
            S_NO ("max_frame below floor");
        if (m->heartbeat_ms < 10)
            S_NO ("heartbeat_ms too small");
        break;
    }
    case AGENT_METRICS: {
        const agent_metrics_t *m = body;
        if (!s_finite_nonneg (m->cpu_pct) || !s_finite_nonneg (m->load1)
            || !s_finite_nonneg (m->load5) || !s_finite_nonneg (m->load15))
            S_NO ("metric not a finite non-negative number");
        for (size_t i = 0; i < m->nics.n; i++)
            if (!m->nics.items[i].name[0])
                S_NO ("empty interface name");
        break;
    }
    case AGENT_PROC_EVENT: {
        const agent_proc_event_t *m = body;
        if (m->kind < AGENT_PROC_START)
            S_NO ("bad proc kind");
        if (!agent_msg_name_ok (m->name))
            S_NO ("bad proc name");
        break;
    }
    case AGENT_LOG:
        if (!agent_msg_stream_name_ok (((const agent_log_t *) body)->stream))
            S_NO ("bad stream name");
        break;
    case AGENT_SERVICE_REGISTER:
        if (!agent_msg_service_name_ok (((const agent_service_register_t *) body)->name))
            S_NO ("bad service name");
        if (((const agent_service_register_t *) body)->port == 0)
            S_NO ("port 0");
        break;
    case AGENT_SERVICE_DEREGISTER:
        if (!agent_msg_service_name_ok (((const agent_service_deregister_t *) body)->name))
            S_NO ("bad service name");
        break;
    case AGENT_SERVICE_HEALTH: {
        const agent_service_health_t *m = body;
        if (!agent_msg_service_name_ok (m->name))
            S_NO ("bad service name");
        if (m->status < AGENT_HEALTH_PASSING)
            S_NO ("bad health status");
        break;
    }
    case AGENT_PROVISION: {
        const agent_provision_t *m = body;
        if (m->steps.n == 0)
            S_NO ("no steps");
        for (size_t i = 0; i < m->steps.n; i++) {
            if (!agent_msg_name_ok (m->steps.items[i].name))
                S_NO ("bad step name");
            if (!m->steps.items[i].cmd[0])
                S_NO ("empty step command");
        }
        break;
    }
    case AGENT_PROVISION_OUTPUT: {
        uint64_t fd = ((const agent_provision_output_t *) body)->fd;
        if (fd != AGENT_FD_STDOUT && fd != AGENT_FD_STDERR)
            S_NO ("bad fd");
        break;
    }
    case AGENT_CHUNK: {
        const agent_chunk_t *m = body;
        if (m->type < AGENT_TYPE_MIN || m->type > AGENT_TYPE_MAX || m->type == AGENT_CHUNK)
            S_NO ("bad inner type");
        if (m->total == 0 || m->offset > m->total || m->data.len > m->total - m->offset)
            S_NO ("chunk outside its stream");
        if (m->final && m->offset + m->data.len != m->total)
            S_NO ("final chunk does not end the stream");
        break;
    }
    default:
        break;
    }
    return 0;
}

WIRE_DEFINE_RECORD (agent_disk, 0, AGENT_DISK_FIELDS)
WIRE_DEFINE_RECORD (agent_nic, 0, AGENT_NIC_FIELDS)
WIRE_DEFINE_RECORD (agent_step, 0, AGENT_STEP_FIELDS)
WIRE_DEFINE_PROTO (agent, AGENT_MESSAGES, AGENT_VERSION_MIN, AGENT_VERSION, s_validate)
