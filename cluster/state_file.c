/*
 * state_file.c - state.bin, this node's own records and its reserved
 * version high-water mark (a STATE_SNAPSHOT message, state_msg.h). Apart
 * from state.c because it is the store's only disk format: what is
 * written, and what a file must be to be loaded.
 */
#include "cluster/state_internal.h"
#include "common/fileutil.h"
#include "common/log.h"

#include <czmq.h>
#include <errno.h>

#define S_COMP "state"

/* Write state.bin: our records and the reservation `hwm`. */
int
state__save (state_t *self, uint64_t hwm)
{
    if (!self->path)
        return 0;
    state_msg_t msg;
    memset (&msg, 0, sizeof msg);
    msg.hdr.type = STATE_SNAPSHOT;
    state_snapshot_t *snap = &msg.u.state_snapshot;
    snprintf (snap->origin, sizeof snap->origin, "%s", self->self);
    snap->hwm = hwm;
    snap->floor = self->mine->floor;
    size_t n;
    state_item_t **arr = state__recs_above (self->mine, 0, &n);
    if (n) {
        snap->recs.items = (state_rec_t *) calloc (n, sizeof (state_rec_t));
        assert (snap->recs.items);
        snap->recs.n = n;
        for (size_t i = 0; i < n; i++)
            state__to_wire (self->mine, arr[i], &snap->recs.items[i]);
    }
    free (arr);

    uint8_t *buf = NULL;
    size_t len = 0;
    int rc = wire_encode (&state_proto, &msg, &buf, &len);
    wire_msg_free (&state_proto, &msg);
    if (rc) {
        log_error (S_COMP, "cannot encode state file|err=\"%s\"", wire_strerror (rc));
        return -STATE_ERR_IO;
    }
    rc = shed_write_file_atomic (self->path, buf, len, 0600);
    free (buf);
    if (rc) {
        log_error (S_COMP, "cannot write state file|path=%s errno=%d", self->path, errno);
        return -STATE_ERR_IO;
    }
    return 0;
}

/* The largest state.bin we accept: every own record at its bound. */
#define S_FILE_MAX                                                                                 \
    ((size_t) STATE_LOCAL_BYTES_MAX                                                                \
     + (size_t) STATE_LOCAL_MAX                                                                    \
           * (STATE_REC_OVERHEAD + STATE_ORIGIN_MAX + STATE_KIND_MAX + STATE_KEY_MAX)              \
     + 4096)

int
state__load (state_t *self, char *err, size_t errlen)
{
    size_t len = 0;
    char *buf = shed_read_file (self->path, S_FILE_MAX, &len);
    if (!buf) {
        if (errno == ENOENT)
            return 0; /* first start */
        snprintf (err, errlen, "%s: %s", STATE_FILE, strerror (errno));
        return -1;
    }
    state_msg_t msg;
    const char *field = "";
    int rc = wire_decode (&state_proto, (const uint8_t *) buf, len, &msg, &field);
    free (buf);
    if (rc == 0 && msg.hdr.type != STATE_SNAPSHOT) {
        wire_msg_free (&state_proto, &msg);
        rc = WIRE_ERR_TYPE;
    }
    if (rc) {
        snprintf (err, errlen, "%s: %s%s%s", STATE_FILE, wire_strerror (rc), *field ? " in " : "",
                  field);
        return -1;
    }
    state_snapshot_t *snap = &msg.u.state_snapshot;
    if (strcmp (snap->origin, self->self)) {
        snprintf (err, errlen, "%s: belongs to node \"%s\", not \"%s\"", STATE_FILE, snap->origin,
                  self->self);
        wire_msg_free (&state_proto, &msg);
        return -1;
    }
    for (size_t i = 0; i < snap->recs.n; i++) {
        state_rec_t *w = &snap->recs.items[i];
        if (strcmp (w->origin, self->self) || w->version > snap->hwm) {
            snprintf (err, errlen, "%s: record %zu is not ours or above the reservation",
                      STATE_FILE, i);
            wire_msg_free (&state_proto, &msg);
            state__origin_clear (self, self->mine);
            return -1;
        }
        /* Loaded records keep their signature; state_set_signer signs
         * them again (a file from before signatures has none). */
        static const uint8_t zero[STATE_SIG_BYTES];
        bool has_sig = memcmp (w->sig, zero, sizeof zero) != 0;
        state__store (self, self->mine, w->kind, w->key, w->value.data, w->value.len, w->version,
                      w->tomb, has_sig ? w->sig : NULL);
        w->value.data = NULL; /* moved into the store */
        w->value.len = 0;
    }
    /* Continue above the whole reservation: versions between the last one
     * used and hwm may have reached peers before a crash. */
    self->used = snap->hwm;
    self->hwm = snap->hwm;
    self->pushed = snap->hwm; /* peers had their chance to see these */
    self->mine->max = snap->hwm;
    self->mine->floor = snap->floor;
    wire_msg_free (&state_proto, &msg);
    return 0;
}
