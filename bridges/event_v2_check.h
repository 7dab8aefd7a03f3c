/*
 * event_v2_check.h - for tests only: would a version-2 reader (the release
 * before EVENT_BATCH version 3) accept this EVENT_BATCH frame? Written
 * apart from event_msg.c with msgpack-c, from the version-2 rules that
 * reader applies: the envelope's version (key 0) at most 2, and every
 * item a map with key 0 (seq, an integer >= 1) and key 2 (time_us, an
 * integer), both required by its item table. A version-3 item carries
 * neither, so a version-3 batch fails here as it failed there.
 */
#ifndef SHED_EVENT_V2_CHECK_H
#define SHED_EVENT_V2_CHECK_H

#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

static inline bool
event_v2_item_ok (const msgpack_object *it)
{
    if (it->type != MSGPACK_OBJECT_MAP)
        return false;
    bool seq = false, time = false;
    for (uint32_t k = 0; k < it->via.map.size; k++) {
        const msgpack_object_kv *kv = &it->via.map.ptr[k];
        if (kv->key.type != MSGPACK_OBJECT_POSITIVE_INTEGER)
            return false;
        if (kv->key.via.u64 == 0)
            seq = kv->val.type == MSGPACK_OBJECT_POSITIVE_INTEGER && kv->val.via.u64 >= 1;
        if (kv->key.via.u64 == 2)
            time = kv->val.type == MSGPACK_OBJECT_POSITIVE_INTEGER
                   || kv->val.type == MSGPACK_OBJECT_NEGATIVE_INTEGER;
    }
    return seq && time;
}

/* `frame` is `route NUL body`. True if a version-2 reader takes it as an
 * EVENT_BATCH (type 3). */
static inline bool
event_v2_batch_ok (const uint8_t *frame, size_t len)
{
    const uint8_t *nul = (const uint8_t *) memchr (frame, 0, len);
    if (!nul)
        return false;
    size_t off = (size_t) (nul + 1 - frame);
    msgpack_unpacked u;
    msgpack_unpacked_init (&u);
    bool ok = msgpack_unpack_next (&u, (const char *) frame + off, len - off, NULL)
                  == MSGPACK_UNPACK_SUCCESS
              && u.data.type == MSGPACK_OBJECT_MAP;
    bool version = false, type = false, items = false;
    for (uint32_t k = 0; ok && k < u.data.via.map.size; k++) {
        const msgpack_object_kv *kv = &u.data.via.map.ptr[k];
        if (kv->key.type != MSGPACK_OBJECT_POSITIVE_INTEGER)
            continue;
        const msgpack_object *v = &kv->val;
        switch (kv->key.via.u64) {
        case 0: /* version */
            version = v->type == MSGPACK_OBJECT_POSITIVE_INTEGER && v->via.u64 == 2;
            break;
        case 1: /* type */
            type = v->type == MSGPACK_OBJECT_POSITIVE_INTEGER && v->via.u64 == 3;
            break;
        case 10: /* items */
            items = v->type == MSGPACK_OBJECT_ARRAY && v->via.array.size >= 1;
            for (uint32_t i = 0; items && i < v->via.array.size; i++)
                items = event_v2_item_ok (&v->via.array.ptr[i]);
            break;
        default:
            break;
        }
    }
    msgpack_unpacked_destroy (&u);
    return ok && version && type && items;
}

#endif
