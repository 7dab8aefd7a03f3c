/*
 * node_reload.h - what a SIGHUP can change in a running shed-node.
 *
 * SIGHUP re-reads the configuration (the file, then the same flags) and
 * applies what the components can take at run time: log_level, tags (the
 * run-time `shedctl tags` changes still apply over them), hooks (the
 * hook runner restarts; hooks running at that moment are stopped), the
 * remote event consumers' keys (events.consumer_keys: the file is read
 * again at every SIGHUP, node_events.h) and the agent limits (agents.*,
 * node_agents.h: running agents included). Every
 * other key that changed needs a restart: the node says which, as a
 * warning, and keeps running with the old values (docs/operations.md,
 * "Signals").
 */
#ifndef SHED_NODE_RELOAD_H
#define SHED_NODE_RELOAD_H

#include "node/config.h"

#include <stdbool.h>
#include <stddef.h>

/* What differs between two configurations, as comma-separated key names:
 * `live` gets the keys SIGHUP applies, `fixed` those that need a restart.
 * Returns true when anything differs. */
bool shed_reload_diff (const shed_config_t *old, const shed_config_t *new, char *live,
                       size_t livelen, char *fixed, size_t fixedlen);

#endif
