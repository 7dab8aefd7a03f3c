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

/* Where SIGHUP gets the new configuration: fn fills *cfg as the start did
 * (defaults, file, flags; shed_config_finish done) and returns 0, or -1
 * with a reason. Without one, SIGHUP only logs. */
typedef int (shed_node_config_fn) (shed_config_t *cfg, char *err, size_t errlen, void *arg);
void shed_node_on_reconfig (shed_node_t *self, shed_node_config_fn *fn, void *arg);

/* Run until SIGINT/SIGTERM (czmq's interrupt flag) or a fatal error.
 * SIGHUP reloads the configuration (node_reload.h). Tells systemd
 * (sd_notify, when NOTIFY_SOCKET is set) READY=1 once serving, WATCHDOG=1
 * at half of WATCHDOG_USEC, STOPPING=1 on the way out. Returns 0 on clean
 * shutdown. */
int shed_node_run (shed_node_t *self);

/* Stop components, close sockets, wipe secrets. NULL-safe. */
void shed_node_destroy (shed_node_t **self_p);

#endif
