/* http_passthrough.c - see http_passthrough.h. */
#include "node/http/http_passthrough.h"

#include "node/api/api_client.h"

#include <string.h>

/* Every request type of api_msg.h has a row: http_passthrough_test fails
 * on a type without one, so a new command is classified when it is added
 * (not silently refused, nor silently allowed). */
/* clang-format off */
static const struct {
    uint16_t type;
    http_pt_class_t cls;
} s_table[] = {
    /* reads: what shedctl shows */
    { API_STATUS_REQ,          HTTP_PT_READ },
    { API_MEMBERS_REQ,         HTTP_PT_READ },
    { API_STATE_REQ,           HTTP_PT_READ },
    { API_NETWORK_REQ,         HTTP_PT_READ },
    { API_SHED_LIST_REQ,       HTTP_PT_READ },
    { API_SHED_SHOW_REQ,       HTTP_PT_READ },
    { API_SVC_LIST_REQ,        HTTP_PT_READ },
    { API_SVC_SHOW_REQ,        HTTP_PT_READ },
    { API_SVC_WATCH_REQ,       HTTP_PT_READ },
    { API_IMAGE_LIST_REQ,      HTTP_PT_READ },
    { API_SNAPSHOT_LIST_REQ,   HTTP_PT_READ },
    { API_LOGS_REQ,            HTTP_PT_READ },
    { API_KEYS_REQ,            HTTP_PT_READ },     /* list (key ids); other ops: local */
    { API_AGENTS_REQ,          HTTP_PT_READ },     /* list; attach/detach: local */
    /* what changes the cluster */
    { API_SHED_CREATE_REQ,     HTTP_PT_OPERATOR },
    { API_SHED_OP_REQ,         HTTP_PT_OPERATOR },
    { API_SHED_MOVE_REQ,       HTTP_PT_OPERATOR },
    { API_NODE_DRAIN_REQ,      HTTP_PT_OPERATOR },
    { API_JOIN_REQ,            HTTP_PT_OPERATOR },
    { API_LEAVE_REQ,           HTTP_PT_OPERATOR },
    { API_FORCE_LEAVE_REQ,     HTTP_PT_OPERATOR },
    { API_TAGS_REQ,            HTTP_PT_OPERATOR },
    { API_NET_ATTACH_REQ,      HTTP_PT_OPERATOR },
    { API_NET_DETACH_REQ,      HTTP_PT_OPERATOR },
    { API_SVC_REGISTER_REQ,    HTTP_PT_OPERATOR },
    { API_SVC_DEREGISTER_REQ,  HTTP_PT_OPERATOR },
    { API_PROVISION_REQ,       HTTP_PT_OPERATOR }, /* runs commands in a shed */
    { API_IMAGE_BEGIN_REQ,     HTTP_PT_OPERATOR },
    { API_IMAGE_CHUNK_REQ,     HTTP_PT_OPERATOR },
    { API_IMAGE_COMMIT_REQ,    HTTP_PT_OPERATOR },
    { API_IMAGE_ABORT_REQ,     HTTP_PT_OPERATOR },
    { API_IMAGE_RM_REQ,        HTTP_PT_OPERATOR },
    { API_SNAPSHOT_CREATE_REQ, HTTP_PT_OPERATOR },
    { API_SNAPSHOT_RM_REQ,     HTTP_PT_OPERATOR },
    /* local only: a token must not mint tokens (an operator token would
     * outlive its own revocation), and a local socket path is of no use
     * elsewhere (events: GET /v1/events) */
    { API_TOKEN_CREATE_REQ,    HTTP_PT_LOCAL },
    { API_TOKEN_LIST_REQ,      HTTP_PT_LOCAL },
    { API_TOKEN_REVOKE_REQ,    HTTP_PT_LOCAL },
    { API_EVENTS_REQ,          HTTP_PT_LOCAL },
};
/* clang-format on */

http_pt_class_t
http_pt_type_class (uint16_t type)
{
    for (size_t i = 0; i < sizeof s_table / sizeof s_table[0]; i++)
        if (s_table[i].type == type)
            return s_table[i].cls;
    return HTTP_PT_UNKNOWN;
}

http_pt_class_t
http_pt_class (const api_msg_t *req)
{
    http_pt_class_t c = http_pt_type_class (req->hdr.type);
    /* A token that could install a key it knows (or remove the one in use)
     * could let a node of its own into the cluster, or cut every node off:
     * the keyring stays with root on the nodes (docs/security.md). */
    if (req->hdr.type == API_KEYS_REQ && req->u.api_keys_req.op != API_KEY_LIST)
        return HTTP_PT_LOCAL;
    if (req->hdr.type == API_AGENTS_REQ && req->u.api_agents_req.op != API_AGENTS_LIST)
        return HTTP_PT_LOCAL; /* attach hands out a local socket path */
    return c;
}

const char *
http_pt_class_name (http_pt_class_t c)
{
    switch (c) {
    case HTTP_PT_READ:
        return "read";
    case HTTP_PT_OPERATOR:
        return "operator";
    case HTTP_PT_LOCAL:
        return "local-only";
    default:
        return "unknown";
    }
}

int
http_pt_decode (const uint8_t *body, size_t len, http_role_t role, api_msg_t *req,
                http_error_t *err)
{
    memset (err, 0, sizeof *err);
    const char *field = "";
    int rc = wire_decode (&api_proto, body, len, req, &field);
    if (rc != WIRE_OK) {
        memset (req, 0, sizeof *req);
        http_error_set (err, 400, "bad_request", "request did not decode: %s%s%s",
                        wire_strerror (rc), *field ? " in field " : "", field);
        return -1;
    }
    const wire_desc_t *d = wire_proto_find (&api_proto, req->hdr.type);
    http_pt_class_t c = http_pt_class (req);
    if (c == HTTP_PT_UNKNOWN) {
        http_error_set (err, 400, "bad_request", "message type %u (%s) is not a request",
                        req->hdr.type, d ? d->name : "?");
        goto fail;
    }
    const char *what = d ? d->name : "?";
    if (c == HTTP_PT_LOCAL) {
        http_error_set (err, 403, "local_only",
                        "%s is local-only: run shedctl on the node itself (root or the shed "
                        "group)",
                        what);
        goto fail;
    }
    http_role_t need = c == HTTP_PT_READ ? HTTP_ROLE_READ : HTTP_ROLE_OPERATOR;
    if (role < need) {
        http_error_set (err, 403, "forbidden", "token role %s may not send %s: it needs %s",
                        http_role_name (role), what, http_role_name (need));
        goto fail;
    }
    return 0;
fail:
    wire_msg_free (&api_proto, req);
    memset (req, 0, sizeof *req);
    return -1;
}

int
http_pt_timeout_ms (const api_msg_t *req, uint64_t client_ms)
{
    if (req->hdr.type == API_SHED_CREATE_REQ || req->hdr.type == API_SHED_OP_REQ)
        return http_request_timeout_ms (req);
    if (client_ms > HTTP_PASSTHROUGH_TIMEOUT_MAX_MS)
        client_ms = HTTP_PASSTHROUGH_TIMEOUT_MAX_MS;
    return client_ms > HTTP_READ_TIMEOUT_MS ? (int) client_ms : HTTP_READ_TIMEOUT_MS;
}
