/*
 * node_driver.h - which shed driver this node runs, made from its config.
 *
 * driver.default: container | netns | firecracker | shed-server | auto.
 * auto (the default) is `container` wherever an OCI runtime is installed
 * and user namespaces are on, else `netns` with a warning: netns runs a
 * shed's processes as host root and is for trusted code only
 * (docs/drivers.md, docs/security.md).
 *
 * Tests and benchmarks only: the environment variable
 * SHED_TEST_DRIVER=sleepy:<ms> replaces whatever the config says with the
 * slow test driver (sleepy.h).
 */
#ifndef SHED_NODE_DRIVER_H
#define SHED_NODE_DRIVER_H

#include "node/config.h"
#include "node/drivers/driver.h"

/* The driver, or NULL with why (one line). `cfg` must outlive the driver
 * (the container driver resolves images in cfg->data_dir). */
driver_t *node_driver_open (const shed_config_t *cfg, char *why, size_t why_size);

#endif
