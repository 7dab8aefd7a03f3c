/*
 * fuzz_snapx.c - libFuzzer target for the snapshot transfer protocol a node
 * serves and reads over node RPC (node/snapshots/snap_proto.h: SNAPX_READ,
 * _CHUNK, _CREATE, _REMOVE; docs/snapshots.md).
 *
 * The input is decoded as a snapx message, the decoder every peer's
 * request and answer goes through; whatever decodes must re-encode and
 * decode again to the same type and fields. What the validator let
 * through must hold: names follow the snapshot rule (no path can leave
 * the store), a READ asks for 1..SNAPX_CHUNK_MAX bytes. A READ is then
 * served as the holder serves it (snap_store_read) from a scratch store
 * holding one snapshot "s" of 1000 bytes: it may only be refused or
 * return at most the bytes asked, and only "s" can be read. A CHUNK is
 * fed to a transfer that asked for nothing (it must be refused), and the
 * name of a REMOVE/CREATE is looked up (snap_store_get) and never found.
 *
 * Seeds (fuzz/corpus/snapx/): one message of each type written by the live
 * encoder (wire_encode of snapx_proto), and a READ at the end of the layer.
 */
#include "cluster/placement.h"
#include "node/snapshots/snap_proto.h"
#include "node/snapshots/snap_store.h"
#include "node/snapshots/snap_xfer.h"

#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

#define S_CHECK(cond)                                                                              \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf (stderr, "fuzz_snapx: check failed: %s (line %d)\n", #cond, __LINE__);         \
            abort ();                                                                              \
        }                                                                                          \
    } while (0)

#define S_LAYER 1000

static char s_root[64];
static snap_store_t *s_store;
static snap_xfer_t *s_xfer;
static uint8_t *s_buf;

static void
s_cleanup (void)
{
    snap_xfer_abandon (s_xfer);
    snap_xfer_destroy (&s_xfer);
    snap_store_destroy (&s_store);
    free (s_buf);
    char cmd[128];
    snprintf (cmd, sizeof cmd, "rm -rf %s", s_root);
    if (system (cmd) != 0)
        fprintf (stderr, "fuzz_snapx: cannot remove %s\n", s_root);
}

/* One scratch store for the whole run, with snapshot "s". */
static void
s_init (void)
{
    snprintf (s_root, sizeof s_root, "/tmp/fuzz_snapx.%d", (int) getpid ());
    char err[256], path[PATH_MAX];
    s_store = snap_store_open (s_root, 0, err, sizeof err);
    S_CHECK (s_store);
    S_CHECK (snap_store_stage_path (s_store, "s", path, sizeof path) == 0);
    int fd = open (path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    S_CHECK (fd >= 0);
    uint8_t layer[S_LAYER];
    for (size_t i = 0; i < sizeof layer; i++)
        layer[i] = (uint8_t) (i * 7);
    S_CHECK (write (fd, layer, sizeof layer) == (ssize_t) sizeof layer);
    close (fd);
    rec_snapshot_t rec;
    memset (&rec, 0, sizeof rec);
    snprintf (rec.name, sizeof rec.name, "s");
    snprintf (rec.shed, sizeof rec.shed, "web");
    snprintf (rec.node, sizeof rec.node, "a");
    S_CHECK (snap_store_commit (s_store, &rec, err, sizeof err) == 0);
    S_CHECK (snap_store_fetch_path (s_store, "far", path, sizeof path) == 0);
    s_xfer = snap_xfer_new (path, 4096, rec.digest, 1024, 2, err, sizeof err);
    S_CHECK (s_xfer);
    s_buf = malloc (SNAPX_CHUNK_MAX);
    S_CHECK (s_buf);
    atexit (s_cleanup);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    if (!s_store)
        s_init ();
    snapx_msg_t m;
    const char *field = NULL;
    if (wire_decode (&snapx_proto, data, size, &m, &field) != WIRE_OK)
        return 0;

    uint8_t *out = NULL;
    size_t len = 0;
    S_CHECK (wire_encode (&snapx_proto, &m, &out, &len) == WIRE_OK);
    snapx_msg_t again;
    S_CHECK (wire_decode (&snapx_proto, out, len, &again, &field) == WIRE_OK);
    S_CHECK (again.hdr.type == m.hdr.type);
    free (out);

    rec_snapshot_t rec;
    char err[256];
    switch (m.hdr.type) {
    case SNAPX_READ: {
        const snapx_read_t *r = &m.u.snapx_read;
        S_CHECK (strcmp (r->name, again.u.snapx_read.name) == 0);
        S_CHECK (r->offset == again.u.snapx_read.offset);
        S_CHECK (snap_name_check (r->name, NULL, 0) == 0);
        S_CHECK (r->length >= 1 && r->length <= SNAPX_CHUNK_MAX);
        uint64_t total = 0;
        ssize_t n =
            snap_store_read (s_store, r->name, r->offset, s_buf, (size_t) r->length, &total);
        S_CHECK (n <= (ssize_t) r->length);
        if (n >= 0) {
            S_CHECK (strcmp (r->name, "s") == 0);
            S_CHECK (total == S_LAYER && r->offset + (uint64_t) n <= S_LAYER);
        }
        break;
    }
    case SNAPX_CHUNK: {
        const snapx_chunk_t *c = &m.u.snapx_chunk;
        S_CHECK (c->data.len == again.u.snapx_chunk.data.len);
        S_CHECK (c->data.len <= SNAPX_CHUNK_MAX);
        S_CHECK (c->data.len == 0
                 || memcmp (c->data.data, again.u.snapx_chunk.data.data, c->data.len) == 0);
        /* nothing was asked: every answer is refused */
        S_CHECK (snap_xfer_data (s_xfer, c->offset, c->data.data, c->data.len, err, sizeof err)
                 == -1);
        S_CHECK (snap_xfer_received (s_xfer) == 0);
        break;
    }
    case SNAPX_CREATE:
        S_CHECK (snap_name_check (m.u.snapx_create.name, NULL, 0) == 0);
        S_CHECK (m.u.snapx_create.mode <= SNAPX_MODE_STOP);
        S_CHECK (!snap_store_get (s_store, m.u.snapx_create.shed, &rec)
                 || strcmp (m.u.snapx_create.shed, "s") == 0);
        snap_rec_free (&rec);
        break;
    case SNAPX_REMOVE:
        S_CHECK (snap_name_check (m.u.snapx_remove.name, NULL, 0) == 0);
        if (snap_store_get (s_store, m.u.snapx_remove.name, &rec)) {
            S_CHECK (strcmp (rec.name, "s") == 0);
            snap_rec_free (&rec);
        }
        break;
    case SNAPX_MOVE:
        /* the validator: only a valid shed name decodes */
        S_CHECK (placement_name_valid (m.u.snapx_move.name, NULL, 0));
        break;
    case SNAPX_MOVED:
        S_CHECK (strlen (m.u.snapx_moved.to) <= REC_NAME_MAX);
        break;
    default:
        S_CHECK (0);
    }
    wire_msg_free (&snapx_proto, &again);
    wire_msg_free (&snapx_proto, &m);
    return 0;
}
