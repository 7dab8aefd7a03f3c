/*
 * node_driver.c - the node's shed driver from its config (see
 * node_driver.h).
 */
#include "node/drivers/node_driver.h"
#include "node/drivers/container.h"
#include "node/drivers/netns.h"
#include "node/drivers/sleepy.h"
#include "node/images/image_store.h"
#include "cluster/placement.h"
#include "common/log.h"
#ifdef SHED_HAVE_HTTP_DRIVERS
#include "node/drivers/firecracker.h"
#include "node/drivers/shed_server.h"
#endif

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_COMP "driver"

static const char *
s_or_null (const char *text)
{
    return text && *text ? text : NULL;
}

/* The container driver's image resolver: the node's image store
 * (node/images/image_store.h). A store is a path and a few buffers, so one
 * is opened per create rather than shared across threads. */
static int
s_image_resolve (void *arg, const char *ref, char digest[65], char *root, size_t root_size,
                 char *why, size_t why_size)
{
    const shed_config_t *cfg = (const shed_config_t *) arg;
    image_store_t *store = image_store_new (cfg->data_dir, why, why_size);
    if (!store)
        return -1;
    int rc = image_store_resolve (store, ref, digest, root, root_size, why, why_size);
    image_store_destroy (&store);
    return rc;
}

static driver_t *
s_container (const shed_config_t *cfg, driver_error_t *err)
{
    uint64_t disk = 0;
    if (cfg->driver.disk[0] && placement_size_parse (cfg->driver.disk, 1024 * 1024, &disk) != 0)
        disk = 0;
    driver_container_config_t cc = {
        .data_dir = cfg->data_dir,
        .node_name = cfg->name,
        .netns_dir = s_or_null (cfg->driver.netns_dir),
        .cgroup_root = s_or_null (cfg->driver.cgroup_root),
        .cgroup_parent = s_or_null (cfg->driver.cgroup_parent),
        .bridge = s_or_null (cfg->driver.bridge),
        .agent_path = s_or_null (cfg->driver.agent_path),
        .agent_config = s_or_null (cfg->driver.agent_config),
        .runtime = s_or_null (cfg->driver.runtime),
        .runtime_root = s_or_null (cfg->driver.runtime_root),
        .default_image = s_or_null (cfg->driver.default_image),
        .default_disk_mb = disk / (1024 * 1024),
        .id_base = cfg->driver.id_base,
        .image_resolve = s_image_resolve,
        .image_arg = (void *) (uintptr_t) cfg, /* read only (s_image_resolve) */
    };
    return driver_container_new (&cc, err);
}

static driver_t *
s_netns (const shed_config_t *cfg, driver_error_t *err)
{
    driver_netns_config_t nc;
    memset (&nc, 0, sizeof nc);
    nc.data_dir = cfg->data_dir;
    nc.node_name = cfg->name;
    nc.netns_dir = s_or_null (cfg->driver.netns_dir);
    nc.cgroup_root = s_or_null (cfg->driver.cgroup_root);
    nc.cgroup_parent = s_or_null (cfg->driver.cgroup_parent);
    nc.bridge = s_or_null (cfg->driver.bridge);
    nc.agent_path = s_or_null (cfg->driver.agent_path);
    nc.agent_config = s_or_null (cfg->driver.agent_config);
    return driver_netns_new (&nc, err);
}

/* SHED_TEST_DRIVER=sleepy:<ms>[:<snapshot_mb>]: the slow test driver
 * (sleepy.h), for tests and benchmarks only; the config cannot choose it.
 * NULL when unset. */
static driver_t *
s_test_driver (const shed_config_t *cfg, const char *text, char *why, size_t why_size)
{
    unsigned ms = 0, mb = 0;
    int end = 0, end2 = 0;
    bool ok = sscanf (text, "sleepy:%u%n", &ms, &end) == 1 && end > 0;
    if (ok && text[end] == ':')
        ok = sscanf (text + end, ":%u%n", &mb, &end2) == 1 && end2 > 0;
    if (!ok || text[end + end2] != '\0' || ms > 600000 || mb > 65536) {
        snprintf (why, why_size,
                  "SHED_TEST_DRIVER=%s: expected sleepy:<ms>[:<snapshot_mb>] (0-600000, 0-65536)",
                  text);
        return NULL;
    }
    driver_error_t err = { 0 };
    driver_t *driver = driver_sleepy_new (ms, mb, cfg->data_dir, &err);
    if (!driver)
        snprintf (why, why_size, "%s", err.message);
    else
        log_warn (S_COMP,
                  "TEST driver in use: sheds are records only, every call sleeps|"
                  "driver=sleepy sleep_ms=%u snapshot_mb=%u",
                  ms, mb);
    return driver;
}

driver_t *
node_driver_open (const shed_config_t *cfg, char *why, size_t why_size)
{
    const char *test = getenv ("SHED_TEST_DRIVER");
    if (test && *test)
        return s_test_driver (cfg, test, why, why_size);
    driver_error_t err = { 0 };
    driver_t *driver = NULL;
    const char *which = cfg->driver.default_driver[0] ? cfg->driver.default_driver : "auto";
    if (!strcmp (which, "auto")) {
        char missing[DRIVER_MSG_MAX] = "";
        if (driver_container_available (s_or_null (cfg->driver.runtime), missing, sizeof missing)
            == 0)
            which = "container";
        else {
            which = "netns";
            log_warn (S_COMP,
                      "container sheds unavailable, using netns: sheds run as host root "
                      "(trusted code only)|reason=\"%s\"",
                      missing);
        }
    }
    if (!strcmp (which, "container"))
        driver = s_container (cfg, &err);
    else if (!strcmp (which, "netns"))
        driver = s_netns (cfg, &err);
    else {
#ifdef SHED_HAVE_HTTP_DRIVERS
        if (!strcmp (which, "shed-server")) {
            driver_shed_server_config_t sc = {
                .base_url = s_or_null (cfg->driver.shed_server_url),
                .timeout_ms = cfg->driver.shed_server_timeout_ms,
                .token_file = s_or_null (cfg->driver.shed_server_token_file),
            };
            driver = driver_shed_server_new (&sc, &err);
        }
        else {
            driver_firecracker_config_t fc = {
                .data_dir = cfg->data_dir,
                .firecracker_bin = cfg->driver.firecracker_bin,
                .kernel_image = cfg->driver.kernel_image,
                /* The balloon serves the node's memory overcommit. */
                .memory_overcommit = cfg->scheduler.overcommit_memory,
                .jailer_bin = cfg->driver.jailer_bin,
                .jailer_uid = cfg->driver.jailer_uid,
                .jailer_gid = cfg->driver.jailer_gid,
                .jailer_chroot_base = cfg->driver.jailer_chroot_base,
                .bridge = s_or_null (cfg->driver.bridge),
                .create_tap = true,
            };
            driver = driver_firecracker_new (&fc, &err);
        }
#else
        snprintf (why, why_size,
                  "driver %s needs libcurl at build time (this build has "
                  "container and netns only)",
                  which);
        return NULL;
#endif
    }
    if (!driver)
        snprintf (why, why_size, "%s", err.message);
    else
        log_info (S_COMP, "shed driver ready|driver=%s", driver_name (driver));
    return driver;
}
