/* api_server.c - see api_server.h. */
#include "node/api/api_server.h"

#include "cluster/names.h"
#include "common/log.h"

#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>

#define API_HANDLERS_MAX 128

struct _shed_api_server_t {
    zsock_t *router;
    struct {
        shed_api_handler_fn *fn;
        void *arg;
    } handlers[API_HANDLERS_MAX]; /* indexed by request type */
    uint64_t requests;
    uint64_t bad_requests;
};

struct _shed_api_call_t {
    zsock_t *router;  /* borrowed: the server outlives its calls */
    zmsg_t *envelope; /* routing id + empty delimiter */
};

shed_api_server_t *
shed_api_server_new (const char *endpoint, char *err, size_t errlen)
{
    shed_api_server_t *self = calloc (1, sizeof *self);
    if (!self) {
        snprintf (err, errlen, "out of memory");
        return NULL;
    }
    /* No CURVE/ZAP here: the socket file's mode is the API's only access
     * control, so nothing but ipc:// on a file is bound (not ipc://@name,
     * an abstract socket without a mode; config.c refuses the rest with
     * the key's line; this keeps a caller that skips it honest). */
    if (strncmp (endpoint, "ipc://", 6) != 0 || endpoint[6] == '\0' || endpoint[6] == '@') {
        snprintf (err, errlen,
                  "local API at %s: only ipc:// endpoints are allowed (the API "
                  "has no authentication)",
                  endpoint);
        free (self);
        return NULL;
    }
    /* A stale socket file from a crashed node would make bind fail; it is
     * ours (it lives in our data dir), so remove it first. */
    unlink (endpoint + 6);
    self->router = zsock_new (ZMQ_ROUTER);
    if (!self->router || zsock_bind (self->router, "%s", endpoint) != 0) {
        snprintf (err, errlen, "cannot bind local API at %s: %s", endpoint,
                  zmq_strerror (zmq_errno ()));
        shed_api_server_destroy (&self);
        return NULL;
    }
    zsock_set_sndtimeo (self->router, 0); /* never block on a vanished client */
    chmod (endpoint + 6, 0600);
    return self;
}

void
shed_api_server_destroy (shed_api_server_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    shed_api_server_t *self = *self_p;
    zsock_destroy (&self->router);
    free (self);
    *self_p = NULL;
}

void
shed_api_server_on (shed_api_server_t *self, uint16_t type, shed_api_handler_fn *fn, void *arg)
{
    assert (self);
    assert (type < API_HANDLERS_MAX);
    self->handlers[type].fn = fn;
    self->handlers[type].arg = arg;
}

zsock_t *
shed_api_server_sock (shed_api_server_t *self)
{
    assert (self);
    return self->router;
}

uint64_t
shed_api_server_requests (const shed_api_server_t *self)
{
    return self->requests;
}

uint64_t
shed_api_server_bad_requests (const shed_api_server_t *self)
{
    return self->bad_requests;
}

static void
s_send (zsock_t *router, zmsg_t *envelope, const api_msg_t *rep)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    int rc = wire_encode (&api_proto, rep, &buf, &len);
    if (rc != WIRE_OK) {
        /* Our own reply failed to encode: a bug, but the client still gets
         * an answer rather than a hang. */
        log_error ("api", "cannot encode reply|type=%u err=%s", rep->hdr.type, wire_strerror (rc));
        api_msg_t e = { .hdr.type = API_ERROR };
        e.u.api_error.code = API_ERR_INTERNAL;
        snprintf (e.u.api_error.message, sizeof e.u.api_error.message,
                  "internal error: reply did not encode (%s)", wire_strerror (rc));
        rc = wire_encode (&api_proto, &e, &buf, &len);
        if (rc != WIRE_OK) {
            zmsg_destroy (&envelope);
            return;
        }
    }
    zmsg_addmem (envelope, buf, len);
    free (buf);
    if (zmsg_send (&envelope, router) != 0)
        zmsg_destroy (&envelope); /* client gone; nothing else to do */
}

void
shed_api_reply (shed_api_call_t **call_p, const api_msg_t *rep)
{
    assert (call_p && *call_p);
    shed_api_call_t *call = *call_p;
    s_send (call->router, call->envelope, rep);
    free (call);
    *call_p = NULL;
}

void
shed_api_reply_error (shed_api_call_t **call_p, api_err_code_t code, const char *fmt, ...)
{
    api_msg_t rep = { .hdr.type = API_ERROR };
    rep.u.api_error.code = code;
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (rep.u.api_error.message, sizeof rep.u.api_error.message, fmt, ap);
    va_end (ap);
    shed_api_reply (call_p, &rep);
}

/* Names are refused over their limit, never cut to it: a truncated name is
 * another shed's name (`create` of a 70-character name once created one of
 * its first 63; `delete` could have deleted that one). The codec already
 * refuses a string over its field's bound; this says which bound, in the
 * words of the name rule (cluster/names.c). */
static void
s_bad_request (shed_api_call_t **call_p, zframe_t *body, int rc, const char *field)
{
    wire_hdr_t hdr;
    const wire_desc_t *desc = NULL;
    if (rc == WIRE_ERR_LENGTH && *field
        && wire_peek (&api_proto, zframe_data (body), zframe_size (body), &hdr) == WIRE_OK)
        desc = wire_proto_find (&api_proto, hdr.type);
    for (size_t i = 0; desc && i < desc->nfields; i++) {
        const wire_field_t *fd = &desc->fields[i];
        if (fd->kind == WIRE_STR && strcmp (fd->name, field) == 0) {
            shed_api_reply_error (call_p, API_ERR_INVALID,
                                  "invalid %s: %s is longer than %llu "
                                  "characters",
                                  field, field, (unsigned long long) fd->max);
            return;
        }
    }
    shed_api_reply_error (call_p, API_ERR_BAD_REQUEST, "bad request: %s%s%s", wire_strerror (rc),
                          *field ? " in field " : "", field);
}

/* A shed reference is "name" or "name@node" in one field of
 * API_SHED_REF_MAX bytes; each part must fit a name (63), or the owner's
 * handler would cut it. Returns 0, or -1 with `why`. */
static int
s_check_shed_ref (const char *ref, char *why, size_t whylen)
{
    const char *at = strchr (ref, '@');
    size_t name_len = at ? (size_t) (at - ref) : strlen (ref);
    size_t node_len = at ? strlen (at + 1) : 0;
    if (name_len > NAMES_MAX) {
        snprintf (why, whylen, "invalid shed name '%.*s...': name is longer than %d characters",
                  NAMES_MAX, ref, NAMES_MAX);
        return -1;
    }
    if (node_len > NAMES_MAX) {
        snprintf (why, whylen, "invalid node name '%.*s...': name is longer than %d characters",
                  NAMES_MAX, at + 1, NAMES_MAX);
        return -1;
    }
    return 0;
}

void
shed_api_server_handle (shed_api_server_t *self)
{
    assert (self);
    zmsg_t *msg = zmsg_recv (self->router);
    if (!msg)
        return;
    /* A REQ client's request arrives as [routing id][empty][body]; everything
     * before the body is the envelope the reply goes back with. */
    zframe_t *body = zmsg_last (msg);
    if (zmsg_size (msg) < 3 || zframe_size (body) > API_MAX_MSG) {
        self->bad_requests++;
        zmsg_destroy (&msg);
        return;
    }
    zmsg_remove (msg, body);
    shed_api_call_t *call = calloc (1, sizeof *call);
    if (!call) {
        zframe_destroy (&body);
        zmsg_destroy (&msg);
        return;
    }
    call->router = self->router;
    call->envelope = msg;
    self->requests++;

    api_msg_t req;
    const char *field = "";
    int rc = wire_decode (&api_proto, zframe_data (body), zframe_size (body), &req, &field);
    if (rc != WIRE_OK) {
        self->bad_requests++;
        log_debug ("api", "bad request|err=%s field=%s", wire_strerror (rc), field);
        s_bad_request (&call, body, rc, field);
        zframe_destroy (&body);
        return;
    }
    zframe_destroy (&body);
    uint16_t type = req.hdr.type;
    char why[160];
    const char *ref = type == API_SHED_OP_REQ     ? req.u.api_shed_op_req.name
                      : type == API_SHED_SHOW_REQ ? req.u.api_shed_show_req.name
                                                  : NULL;
    if (ref && s_check_shed_ref (ref, why, sizeof why) != 0) {
        self->bad_requests++;
        shed_api_reply_error (&call, API_ERR_INVALID, "%s", why);
    }
    else if (type >= API_HANDLERS_MAX || !self->handlers[type].fn) {
        shed_api_reply_error (&call, API_ERR_UNSUPPORTED,
                              "this node does not support request type %u", type);
    }
    else
        self->handlers[type].fn (call, &req, self->handlers[type].arg);
    wire_msg_free (&api_proto, &req);
}
