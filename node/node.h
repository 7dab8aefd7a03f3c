/*
 * node.h - the shed-node daemon object: owns the configuration, the node's
 * identity and keyring, the local API, and the component actors, and runs
 * the main event loop that wires them together (like zyre_node).
 */
#ifndef SHED_NODE_H
#define SHED_NODE_H

#include "node/config.h"

#include <stddef.h>

typedef struct _shed_node_t shed_node_t;

/* Prepare the data dir, load or create identity and keyring, bind the local
 * API, start components. `cfg` is copied (its encrypt_key is wiped in the
 * copy once used). NULL with a one-line reason in err on failure. */
shed_node_t *shed_node_new (const shed_config_t *cfg, char *err, size_t errlen);

/* Run until SIGINT/SIGTERM (czmq's interrupt flag) or a fatal error.
 * Returns 0 on clean shutdown. */
int shed_node_run (shed_node_t *self);

/* Stop components, close sockets, wipe secrets. NULL-safe. */
void shed_node_destroy (shed_node_t **self_p);

#endif
