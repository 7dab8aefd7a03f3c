/*
 * http_route_ops.c - the /v1 routes of shedctl's other commands (docs/api.md,
 * "Routes"): node tags, drain, network, move, snapshots, services,
 * images and membership (join, leave, force-leave). Like the sheds'
 * routes (http_route.c) each is one local API request, decoded and
 * answered by the same code; members are named as shedctl's options are. A route's role is its request type's class in
 * the passthrough table (http_passthrough.c), and the local-only requests
 * (tokens, keyring changes, local sockets) have no route:
 * http_route_ops_test checks both.
 */
#include "node/http/http_route_int.h"

#include "cluster/records.h"

#include <stddef.h>

/* clang-format off */
#define END { NULL, NULL, C_PLAIN, NULL } /* a key list's end */
/* clang-format on */

static const char *const s_modes[] = { "live", "stop", NULL }; /* API_SNAPSHOT_CREATE_REQ */
static const char *const s_health[] = { "passing", "warning", "critical", NULL }; /* REC_HEALTH_ */
static const char *const s_checks[] = { "none", "tcp", "cmd", NULL };             /* REC_CHECK_ */

_Static_assert(REC_HEALTH_PASSING == 0 && REC_HEALTH_WARNING == 1 && REC_HEALTH_CRITICAL == 2,
               "s_health is indexed by REC_HEALTH_");
_Static_assert(REC_CHECK_NONE == 0 && REC_CHECK_TCP == 1 && REC_CHECK_CMD == 2,
               "s_checks is indexed by REC_CHECK_");

static const http_key_t s_none[] = { END };
/* `shedctl tags set K=V`: the key is the path's. */
static const http_key_t s_tag_keys[] = { { "value", "value", C_PLAIN, NULL }, END };
/* `shedctl node drain [NODE]` */
static const http_key_t s_drain_keys[] = { { "node", "node", C_PLAIN, NULL }, END };
/* `shedctl network attach SHED` */
static const http_key_t s_net_keys[] = { { "shed", "shed", C_PLAIN, NULL }, END };
/* `shedctl move SHED [--to NODE]` */
static const http_key_t s_move_keys[] = { { "to", "node", C_PLAIN, NULL }, END };
/* `shedctl snapshot list [--shed S]` */
static const http_key_t s_snap_list_keys[] = { { "shed", "shed", C_PLAIN, NULL }, END };
/* `shedctl snapshot create SHED [--name N] [--live|--stop]` */
static const http_key_t s_snap_create_keys[] = {
    { "shed", "shed", C_PLAIN, NULL },
    { "name", "name", C_PLAIN, NULL },
    { "mode", "mode", C_ENUM, s_modes },
    END,
};
/* `shedctl services register NAME --port P ...`: --check-tcp T is
 * "check": "tcp", "check_target": T; --interval is interval_ms. */
static const http_key_t s_register_keys[] = {
    { "name", "name", C_PLAIN, NULL },
    { "port", "port", C_PLAIN, NULL },
    { "id", "id", C_PLAIN, NULL },
    { "address", "address", C_PLAIN, NULL },
    { "shed", "shed", C_PLAIN, NULL },
    { "protocol", "protocol", C_PLAIN, NULL },
    { "tags", "tags", C_PLAIN, NULL },
    { "health", "health", C_ENUM, s_health },
    { "check", "check", C_ENUM, s_checks },
    { "check_target", "check_target", C_PLAIN, NULL },
    { "interval_ms", "interval_ms", C_PLAIN, NULL },
    END,
};

/* `shedctl join HOST[:PORT]...` */
static const http_key_t s_join_keys[] = { { "seeds", "seeds", C_PLAIN, NULL }, END };

static const char *const s_tags_reply[] = { "name", "tags", NULL };

#define R    HTTP_ROLE_READ
#define OP   HTTP_ROLE_OPERATOR
#define JSON HTTP_ROUTE_JSON
/* clang-format off */
const http_route_t http_ops_routes[] = {
    /* name                   method    path                     role req type                rep type               op             body   keys                status kind  path_field op_field body_optional rep_fields */
    { "node.tags",            "GET",    "/v1/node/tags",         R,  API_STATUS_REQ,          API_STATUS_REP,        0,             false, s_none,             200, JSON, NULL,      NULL,    false, s_tags_reply },
    { "node.tags.set",        "PUT",    "/v1/node/tags/{}",      OP, API_TAGS_REQ,            API_OK,                API_TAG_SET,   true,  s_tag_keys,         200, JSON, "key",     "op",    true,  NULL },
    { "node.tags.unset",      "DELETE", "/v1/node/tags/{}",      OP, API_TAGS_REQ,            API_OK,                API_TAG_UNSET, false, s_none,             200, JSON, "key",     "op",    false, NULL },
    { "node.drain",           "POST",   "/v1/node/drain",        OP, API_NODE_DRAIN_REQ,      API_OK,                1,             true,  s_drain_keys,       200, JSON, NULL,      "drain", true,  NULL },
    { "node.undrain",         "POST",   "/v1/node/undrain",      OP, API_NODE_DRAIN_REQ,      API_OK,                0,             true,  s_drain_keys,       200, JSON, NULL,      "drain", true,  NULL },
    { "network",              "GET",    "/v1/network",           R,  API_NETWORK_REQ,         API_NETWORK_REP,       0,             false, s_none,             200, JSON, NULL,      NULL,    false, NULL },
    { "network.attach",       "POST",   "/v1/network/attach",    OP, API_NET_ATTACH_REQ,      API_NET_ATTACH_REP,    0,             true,  s_net_keys,         200, JSON, NULL,      NULL,    false, NULL },
    { "network.detach",       "POST",   "/v1/network/detach",    OP, API_NET_DETACH_REQ,      API_OK,                0,             true,  s_net_keys,         200, JSON, NULL,      NULL,    false, NULL },
    { "sheds.move",           "POST",   "/v1/sheds/{}/move",     OP, API_SHED_MOVE_REQ,       API_SHED_MOVE_REP,     0,             true,  s_move_keys,        200, JSON, NULL,      NULL,    true,  NULL },
    { "snapshots.list",       "GET",    "/v1/snapshots",         R,  API_SNAPSHOT_LIST_REQ,   API_SNAPSHOT_LIST_REP, 0,             false, s_snap_list_keys,   200, JSON, NULL,      NULL,    false, NULL },
    { "snapshots.create",     "POST",   "/v1/snapshots",         OP, API_SNAPSHOT_CREATE_REQ, API_SNAPSHOT_LIST_REP, 0,             true,  s_snap_create_keys, 201, JSON, NULL,      NULL,    false, NULL },
    { "snapshots.show",       "GET",    "/v1/snapshots/{}",      R,  API_SNAPSHOT_LIST_REQ,   API_SNAPSHOT_LIST_REP, 0,             false, s_none,             200, JSON, NULL,      NULL,    false, NULL },
    { "snapshots.delete",     "DELETE", "/v1/snapshots/{}",      OP, API_SNAPSHOT_RM_REQ,     API_OK,                0,             false, s_none,             200, JSON, NULL,      NULL,    false, NULL },
    { "services.register",    "POST",   "/v1/services",          OP, API_SVC_REGISTER_REQ,    API_SVC_LIST_REP,      0,             true,  s_register_keys,    200, JSON, NULL,      NULL,    false, NULL },
    { "services.show",        "GET",    "/v1/services/{}",       R,  API_SVC_SHOW_REQ,        API_SVC_LIST_REP,      0,             false, s_none,             200, JSON, NULL,      NULL,    false, NULL },
    { "services.deregister",  "DELETE", "/v1/services/{}",       OP, API_SVC_DEREGISTER_REQ,  API_OK,                0,             false, s_none,             200, JSON, "service", NULL,    false, NULL },
    { "images.list",          "GET",    "/v1/images",            R,  API_IMAGE_LIST_REQ,      API_IMAGE_LIST_REP,    0,             false, s_none,             200, JSON, NULL,      NULL,    false, NULL },
    { "images.show",          "GET",    "/v1/images/{}",         R,  API_IMAGE_LIST_REQ,      API_IMAGE_LIST_REP,    0,             false, s_none,             200, JSON, NULL,      NULL,    false, NULL },
    { "cluster.join",         "POST",   "/v1/cluster/join",      OP, API_JOIN_REQ,            API_OK,                0,             true,  s_join_keys,        200, JSON, NULL,      NULL,    false, NULL },
    { "cluster.leave",        "POST",   "/v1/cluster/leave",     OP, API_LEAVE_REQ,           API_OK,                0,             true,  s_none,             200, JSON, NULL,      NULL,    true,  NULL },
    { "members.force_leave",  "POST",   "/v1/members/{}/force-leave", OP, API_FORCE_LEAVE_REQ, API_OK,              0,             true,  s_none,             200, JSON, NULL,      NULL,    true,  NULL },
};
/* clang-format on */
#undef R
#undef OP
#undef JSON

const size_t http_ops_nroutes = sizeof http_ops_routes / sizeof http_ops_routes[0];
