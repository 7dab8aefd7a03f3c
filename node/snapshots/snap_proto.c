/*
 * snap_proto.c - the snapx protocol tables (snap_proto.h) and its
 * validator: what decodes names only valid snapshots and sheds, and asks
 * for at least one byte.
 */
#include "node/snapshots/snap_proto.h"
#include "node/snapshots/snap_store.h"

#include "cluster/placement.h"

#include <stddef.h>

static int
s_validate (uint16_t type, const void *body, const char **why)
{
    switch (type) {
    case SNAPX_READ: {
        const snapx_read_t *m = body;
        if (snap_name_check (m->name, NULL, 0) != 0) {
            *why = "bad snapshot name";
            return -1;
        }
        if (m->length == 0) {
            *why = "read of zero bytes";
            return -1;
        }
        return 0;
    }
    case SNAPX_CREATE: {
        const snapx_create_t *m = body;
        if (snap_name_check (m->name, NULL, 0) != 0) {
            *why = "bad snapshot name";
            return -1;
        }
        if (!placement_name_valid (m->shed, NULL, 0)) {
            *why = "bad shed name";
            return -1;
        }
        return 0;
    }
    case SNAPX_REMOVE: {
        const snapx_remove_t *m = body;
        if (snap_name_check (m->name, NULL, 0) != 0) {
            *why = "bad snapshot name";
            return -1;
        }
        return 0;
    }
    case SNAPX_MOVE: {
        const snapx_move_t *m = body;
        if (!placement_name_valid (m->name, NULL, 0)) {
            *why = "bad shed name";
            return -1;
        }
        return 0;
    }
    default:
        return 0;
    }
}

WIRE_DEFINE_PROTO (snapx, SNAPX_MESSAGES, SNAPX_VERSION_MIN, SNAPX_VERSION, s_validate)
