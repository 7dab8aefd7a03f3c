/*
 * image_meta.h - the layout of an image's metadata file,
 * <data_dir>/images/blobs/<hex>/meta (image_store.h, docs/images.md).
 *
 * One wire message (docs/wire.md), so fields can be added later and an
 * older node still reads what it knows. Internal to node/images/.
 */
#ifndef SHED_IMAGE_META_H
#define SHED_IMAGE_META_H

#include "common/wire_gen.h"
#include "node/images/image_store.h"

/* clang-format off */
#define IMGMETA_FIELDS(F, T)                                                   \
    F (T, 2, name,           WIRE_STR, IMAGE_NAME_MAX,    WIRE_REQ, _)         \
    F (T, 3, digest,         WIRE_STR, IMAGE_DIGEST_HEX,  WIRE_REQ, _)         \
    F (T, 4, archive_size,   WIRE_U64, 0,                 WIRE_OPT, _)         \
    F (T, 5, unpacked_bytes, WIRE_U64, 0,                 WIRE_OPT, _)         \
    F (T, 6, files,          WIRE_U64, 0,                 WIRE_OPT, _)         \
    F (T, 7, entries,        WIRE_U64, 0,                 WIRE_OPT, _)         \
    F (T, 8, imported_ms,    WIRE_U64, 0,                 WIRE_OPT, _)         \
    F (T, 9, os_name,        WIRE_STR, IMAGE_OS_NAME_MAX, WIRE_OPT, _)
/* clang-format on */

#define IMGMETA_MESSAGES(M) M (IMGMETA, imgmeta, 1, IMGMETA_FIELDS)

WIRE_DECLARE_PROTO (imgmeta, IMGMETA_MESSAGES)

#endif
