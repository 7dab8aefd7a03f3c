/*
 * sleepy.h - a TEST driver: sheds that are records in memory only (no
 * namespace, no process, no network), whose create, start, stop and remove
 * each sleep a fixed time first. It stands in for a slow backend (a
 * container stop waiting out its grace period, a VM booting) so tests and
 * benchmarks can check that nothing on the daemon's loop waits for a
 * driver (bench/loop.sh, docs/scheduling.md "Driver calls off the loop").
 *
 * Never a production choice: the config cannot name it. A node uses it
 * only when started with the environment variable
 *     SHED_TEST_DRIVER=sleepy:<ms>[:<snapshot_mb>]   (e.g. sleepy:5000)
 * (node_driver.c), and says so in its log at start.
 *
 * snapshot (only with snapshot_mb > 0): after the pause, a layer of
 * snapshot_mb MiB of pseudo-random bytes, so a benchmark can capture and
 * fetch snapshots of a chosen size (bench/loop.sh); a create from a
 * snapshot takes the fetched layer and ignores it, as any create.
 *
 * status: what was last done (running after start, stopped after create or
 * stop), answered at once; usage: zeros; list: the names held. State is
 * lost when the node stops (re-adoption then reports the sheds missing).
 */
#ifndef SHED_DRIVER_SLEEPY_H
#define SHED_DRIVER_SLEEPY_H

#include "node/drivers/driver.h"

/* sleep_ms: the pause of every create/start/stop/remove (and snapshot).
 * snapshot_mb: size of a snapshot's layer (0: snapshots unsupported). data_dir (may be
 * NULL): <data_dir>/sheds/NAME/ is made at create and removed at remove,
 * so the node's agent listener has a directory for its socket. */
driver_t *driver_sleepy_new (unsigned sleep_ms, unsigned snapshot_mb, const char *data_dir,
                             driver_error_t *err);

#endif
