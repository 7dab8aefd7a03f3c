/*
 * snap_store.h - the node's snapshots under <data_dir>/snapshots/
 * (docs/snapshots.md, "Store"):
 *
 *   <name>/layer           the shed's writable layer as the driver wrote it
 *   <name>/meta            its REC_SNAPSHOT record (cluster/records.h), encoded
 *   tmp/<name>.layer       a capture in progress (the driver writes here)
 *   tmp/...                commits and removals in flight
 *   fetch/<name>.layer     a copy pulled from another node for a restore
 *   fetch/<name>.layer.partial   such a copy still arriving (snap_xfer.h)
 *
 * A snapshot appears whole or not at all: layer and meta are put together
 * in tmp/ and the directory is renamed into place; a removal renames it
 * away first. tmp/ is emptied at open (an interrupted capture or commit);
 * fetch/ is kept, so a transfer resumes after a restart.
 *
 * Names are the shed-name rule (snap_name_check) and are checked on every
 * call: a name from a peer never reaches a path outside the store.
 *
 * The object holds only paths and the quota: calls from several threads
 * are safe as long as two of them do not commit or remove the same name at
 * once.
 */
#ifndef SHED_SNAP_STORE_H
#define SHED_SNAP_STORE_H

#include "cluster/records.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define SNAP_DIGEST_HEX 64

typedef struct _snap_store_t snap_store_t;

/* Open <dir>, remove staging files an interrupted capture left (tmp/),
 * keep partial fetches (fetch/ *.partial: a retry resumes them). The
 * directories (<dir>, tmp/, fetch/; 0700) are made by the first
 * stage_path, fetch_path or commit, not here. quota_bytes 0 = no quota.
 * NULL with err. */
snap_store_t *snap_store_open (const char *dir, uint64_t quota_bytes, char *err, size_t errlen);
void snap_store_destroy (snap_store_t **self_p);

/* Snapshot names: the shed-name rule (lowercase letters, digits, '-',
 * 1..63, starts with a letter/digit); "tmp" and "fetch" are the store's own
 * directories and refused. 0 or -1 (err may be NULL). */
int snap_name_check (const char *name, char *err, size_t errlen);

/* Where a driver writes a new capture of `name`: <dir>/tmp/<name>.layer
 * (fresh: an old one is removed). 0 or -1. */
int snap_store_stage_path (snap_store_t *self, const char *name, char *path, size_t size);

/* Take the staged file into the store: sha256 it, refuse if it would pass
 * the quota (error says used/quota), move it to <dir>/<name>/layer with
 * <dir>/<name>/meta (rec encoded with rec_proto), fsynced, the directory
 * renamed into place. Fills rec->digest and rec->size (rec->name names
 * the snapshot; the other fields are the caller's). On any failure the
 * staged file is removed and nothing of <name> remains. -1 with err if
 * <name> exists, on a bad name, quota, disk full ("disk full"). */
int snap_store_commit (snap_store_t *self, rec_snapshot_t *rec, char *err, size_t errlen);

/* Remove the staged file of name (an abandoned capture). */
void snap_store_unstage (snap_store_t *self, const char *name);

/* Remove a held snapshot (layer and meta). 0, or -1 with err (absent:
 * errno ENOENT). */
int snap_store_remove (snap_store_t *self, const char *name, char *err, size_t errlen);

/* A held snapshot's record, from its meta. *out is overwritten; it owns
 * its tags (out->tags.items) afterwards: release with snap_rec_free.
 * false if absent, bad name or damaged meta (out zeroed). */
bool snap_store_get (snap_store_t *self, const char *name, rec_snapshot_t *out);

/* Release what a record filled by snap_store_get owns; leaves it zeroed. */
void snap_rec_free (rec_snapshot_t *rec);

/* <dir>/<name>/layer of a held snapshot. 0, or -1 (bad name, not held,
 * path too long). */
int snap_store_layer_path (snap_store_t *self, const char *name, char *path, size_t size);

/* Every held snapshot, sorted by name; rec is borrowed for the call. A
 * corrupt meta is skipped and logged, never fatal. Returns the count
 * handed to fn (fn may be NULL: count only). */
typedef void (snap_store_fn) (const rec_snapshot_t *rec, void *arg);
size_t snap_store_list (snap_store_t *self, snap_store_fn *fn, void *arg);

/* Bytes of held layers (fetched copies not counted), and the quota (0 =
 * none). */
uint64_t snap_store_used (snap_store_t *self);
uint64_t snap_store_quota (snap_store_t *self);

/* 0 if `more` bytes fit under the quota now, or -1 with err saying
 * used/quota (what commit checks; a caller checks it before a fetch or a
 * capture too). */
int snap_store_room (snap_store_t *self, uint64_t more, char *err, size_t errlen);

/* Serve a chunk of a held snapshot's layer into buf: returns the bytes
 * read (fewer than len only at the end, 0 at the end) and *total = the
 * layer's size (total may be NULL), or -1 (bad name, absent, offset past
 * the end, len > SNAPX_CHUNK_MAX, read error). */
ssize_t snap_store_read (snap_store_t *self, const char *name, uint64_t offset, uint8_t *buf,
                         size_t len, uint64_t *total);

/* Where a fetched copy of `name` goes (a restore on this node of a
 * snapshot held elsewhere): <dir>/fetch/<name>.layer; snap_xfer.h adds
 * .partial while it arrives. 0 or -1. */
int snap_store_fetch_path (snap_store_t *self, const char *name, char *path, size_t size);

#endif
