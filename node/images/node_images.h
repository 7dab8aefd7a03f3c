/*
 * node_images.h - the daemon's images (docs/images.md): owns the image
 * store (node/images/image_store.h) on the main loop, serves `shedctl
 * image ...` (API types 70-77), and publishes one REC_IMAGE record per
 * image this node holds so placement picks only nodes that have a
 * create's image.
 *
 * Import: the client streams the archive in chunks into a staging file
 * under <data_dir>/images/tmp/ (the node never opens a path a client names:
 * it runs as root, its clients need not), hashed with sha256 as it
 * arrives; the commit compares that with the client's hash and unpacks on
 * a worker thread (one import at a time, others wait in order), so the
 * event loop keeps serving. Uploads idle for S_UPLOAD_IDLE_MS are dropped.
 */
#ifndef SHED_NODE_IMAGES_H
#define SHED_NODE_IMAGES_H

#include "node/api/api_server.h"
#include "node/config.h"
#include "node/state/node_state.h"

#include <czmq.h>
#include <stddef.h>

#define SHED_IMAGE_ARCHIVE_MAX (8ull << 30) /* bytes of one uploaded archive */
#define SHED_IMAGE_UPLOADS_MAX 4            /* uploads in progress at once */

typedef struct _shed_images_t shed_images_t;

/* Open the store under cfg->data_dir, clean what an interrupted import
 * left, publish this node's image records and register the API handlers.
 * NULL with err on failure. */
shed_images_t *shed_images_new (const shed_config_t *cfg, shed_nstate_t *state, zloop_t *loop,
                                shed_api_server_t *api, char *err, size_t errlen);
/* Waits for an import in progress to finish. */
void shed_images_destroy (shed_images_t **self_p);

/* Which nodes hold which images, from the REC_IMAGE records (for
 * placement, node_sched.c). Built on the caller's thread, read-only. */
typedef struct _shed_image_view_t shed_image_view_t;
shed_image_view_t *shed_image_view_new (shed_nstate_t *state);
void shed_image_view_destroy (shed_image_view_t **self_p);
/* The references `node` holds: each image name and "sha256:<digest>"
 * (placement_place's place_node_t.images). Valid until the view goes. */
size_t shed_image_view_node (const shed_image_view_t *self, const char *node,
                             const char *const **refs);

#endif
