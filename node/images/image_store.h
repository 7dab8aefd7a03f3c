/*
 * image_store.h - the node's content-addressed store of root file system
 * images under <data_dir>/images/ (docs/images.md):
 *
 *   blobs/<sha256 hex of the archive bytes>/rootfs/   the unpacked tree
 *   blobs/<hex>/meta                                  what was imported (msgpack)
 *   names/<NAME>                                      "sha256:<hex>\n"
 *   tmp/                                              uploads, unpacks in progress
 *   lock                                              flock of every writer
 *
 * A blob appears whole or not at all: it is unpacked and described in
 * tmp/, then renamed into blobs/. Names are written atomically
 * (common/fileutil.h). Importing bytes already held under another name only
 * adds the name. A name is never moved to other bytes: `image rm` it first.
 *
 * Several store objects may be open on one directory (the daemon's, one per
 * driver create): every change takes the lock file, readers see a name or
 * a blob either whole or absent. The object itself is not shared between
 * threads; open one per thread.
 */
#ifndef SHED_IMAGE_STORE_H
#define SHED_IMAGE_STORE_H

#include "node/images/image_unpack.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define IMAGE_NAME_MAX    63
#define IMAGE_DIGEST_HEX  64
#define IMAGE_OS_NAME_MAX 255
#define IMAGE_DIR         "images"

typedef struct _image_store_t image_store_t;

/* One image as list/show/import report it. */
typedef struct {
    char name[IMAGE_NAME_MAX + 1];       /* the name asked for (list: each name) */
    char digest[IMAGE_DIGEST_HEX + 1];   /* sha256 of the archive bytes, hex */
    uint64_t archive_size;               /* bytes of the archive */
    uint64_t unpacked_bytes;             /* sum of regular file sizes */
    uint64_t files;                      /* regular files and hard links */
    uint64_t entries;                    /* every archive entry */
    uint64_t imported_ms;                /* wall clock of the first import */
    char os_name[IMAGE_OS_NAME_MAX + 1]; /* PRETTY_NAME from /etc/os-release, or "" */
    char rootfs[4096];                   /* absolute path of the unpacked tree */
} image_info_t;

/* Open the store of `data_dir`. Cheap: paths only; the directories are
 * made (0700) by the first write, so a store nothing was imported into
 * has none. NULL with why on failure. */
image_store_t *image_store_new (const char *data_dir, char *why, size_t why_size);
void image_store_destroy (image_store_t **self_p);

/* ref: an image name, or a digest ("sha256:<64 hex>" or 64 hex). Fills the
 * digest (64 hex + NUL) and the absolute path of the unpacked root
 * directory. 0 or -1 with why. */
int image_store_resolve (image_store_t *self, const char *ref, char digest[65], char *rootfs,
                         size_t rootfs_size, char *why, size_t why_size);

/* Image names follow the shed name rule with dots: ^[a-z][a-z0-9._-]*$, at
 * most 63 bytes, and not 64 hex digits (that reads as a digest). */
bool image_name_valid (const char *name, char *why, size_t why_size);

/* "sha256:<64 hex>" or "<64 hex>" (lower case) -> hex. true if it is one. */
bool image_digest_parse (const char *ref, char digest[65]);

/* The directory where callers stage archives they will import (tmp/),
 * made if missing; NULL with why if it cannot be. */
const char *image_store_tmp_dir (image_store_t *self, char *why, size_t why_size);

/* Remove what a crashed node left in tmp/ (call once at start, before any
 * upload). */
void image_store_clean_tmp (image_store_t *self);

/* Import the archive open on `fd` (seekable, read from offset 0; the
 * caller keeps it) as `name`. digest: the sha256 hex of those bytes if the
 * caller hashed them as they arrived, NULL to hash here. opts: unpacker
 * limits (NULL: defaults). On success fills info (may be NULL) and
 * *existed (may be NULL) = the bytes were already held (only the name was
 * added, or it was already there). 0 or -1 with why; a failed import leaves
 * nothing in the store. Slow (unpacks): call off the event loop. */
int image_store_import_fd (image_store_t *self, const char *name, int fd, const char *digest,
                           const image_unpack_opts_t *opts, image_info_t *info, bool *existed,
                           char *why, size_t why_size);

/* Show one image by name or digest. 0, or -1 with why (not found: errno
 * ENOENT). */
int image_store_show (image_store_t *self, const char *ref, image_info_t *info, char *why,
                      size_t why_size);

/* Every name, sorted by name: *items (caller frees) and *count. 0 or -1. */
int image_store_list (image_store_t *self, image_info_t **items, size_t *count, char *why,
                      size_t why_size);

/* Does a shed on this node use the image (by `name` or by `digest`)? true
 * with the shed's name in `user` to refuse a removal. */
typedef bool (image_in_use_fn) (const char *name, const char *digest, void *arg, char *user,
                                size_t user_size);

/* Remove a name; its blob goes too when no other name points at it.
 * in_use (may be NULL) is asked first, and a yes refuses. *blob_removed
 * (may be NULL) says whether the tree went. 0, or -1 with why (not found:
 * errno ENOENT). */
int image_store_remove (image_store_t *self, const char *name, image_in_use_fn *in_use, void *arg,
                        bool *blob_removed, char *why, size_t why_size);

#endif
