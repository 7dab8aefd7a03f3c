/*
 * drv_state.h - the per-shed state file every local driver keeps under its
 * data dir (<data_dir>/sheds/<name>/state), defined once (X-macros, see
 * common/wire_gen.h) and written atomically. It is what lets a restarted
 * daemon find its sheds again: the spec to recreate limits, and the init
 * process's pid and start time (so a recycled pid is never mistaken for
 * the shed).
 */
#ifndef SHED_DRV_STATE_H
#define SHED_DRV_STATE_H

#include "common/wire_gen.h"
#include "node/drivers/driver.h"

#define DRV_STATE_VERSION 1

/* clang-format off */
#define DRV_STATE_FIELDS(F, T) \
    F (T, 2,  name,          WIRE_STR, DRIVER_NAME_MAX,   WIRE_REQ, _) \
    F (T, 3,  driver,        WIRE_STR, 31,                WIRE_REQ, _) \
    F (T, 4,  cpus_milli,    WIRE_U64, 0,                 WIRE_OPT, _) \
    F (T, 5,  memory_mb,     WIRE_U64, 0,                 WIRE_OPT, _) \
    F (T, 6,  disk_mb,       WIRE_U64, 0,                 WIRE_OPT, _) \
    F (T, 7,  pids_max,      WIRE_U64, 0,                 WIRE_OPT, _) \
    F (T, 8,  io_read_bps,   WIRE_U64, 0,                 WIRE_OPT, _) \
    F (T, 9,  io_write_bps,  WIRE_U64, 0,                 WIRE_OPT, _) \
    F (T, 10, net_kbit,      WIRE_U64, 0,                 WIRE_OPT, _) \
    F (T, 11, image,         WIRE_STR, DRIVER_PATH_MAX-1, WIRE_OPT, _) \
    F (T, 12, repo,          WIRE_STR, DRIVER_PATH_MAX-1, WIRE_OPT, _) \
    F (T, 13, ip,            WIRE_STR, 19,                WIRE_OPT, _) \
    F (T, 14, mac,           WIRE_STR, 17,                WIRE_OPT, _) \
    F (T, 15, gateway,       WIRE_STR, 15,                WIRE_OPT, _) \
    F (T, 16, bridge,        WIRE_STR, DRIVER_IFNAME_MAX, WIRE_OPT, _) \
    F (T, 17, agent_path,    WIRE_STR, DRIVER_PATH_MAX-1, WIRE_OPT, _) \
    F (T, 18, agent_socket,  WIRE_STR, DRIVER_PATH_MAX-1, WIRE_OPT, _) \
    F (T, 19, pid,           WIRE_U64, 0,                 WIRE_OPT, _) \
    F (T, 20, starttime,     WIRE_U64, 0,                 WIRE_OPT, _) \
    F (T, 21, veth,          WIRE_STR, DRIVER_IFNAME_MAX, WIRE_OPT, _) \
    F (T, 22, netns,         WIRE_STR, DRIVER_PATH_MAX-1, WIRE_OPT, _) \
    F (T, 23, wanted_up,     WIRE_BOOL, 0,                WIRE_OPT, _) \
    F (T, 24, mtu,           WIRE_U64, 0,                 WIRE_OPT, _) \
    F (T, 25, id_base,       WIRE_U64, 0,                 WIRE_OPT, _) \
    F (T, 26, image_digest,  WIRE_STR, 64,                WIRE_OPT, _) \
    F (T, 27, image_root,    WIRE_STR, DRIVER_PATH_MAX-1, WIRE_OPT, _)
/* clang-format on */

/* clang-format off */
#define DRV_MESSAGES(M) \
    M (DRV_STATE, drv_state, 1, DRV_STATE_FIELDS)
/* clang-format on */

WIRE_DECLARE_PROTO (drv, DRV_MESSAGES)

/* spec <-> state record */
void drv_state_from_spec (drv_state_t *st, const char *driver, const driver_spec_t *spec);
void drv_state_to_spec (const drv_state_t *st, driver_spec_t *spec);

/* Save / load <dir>/state. 0, or a driver_code_t with err filled. */
int drv_state_save (const char *dir, const drv_state_t *st, driver_error_t *err);
int drv_state_load (const char *dir, drv_state_t *st, driver_error_t *err);

/* drv_state_load for a named shed: a missing state file becomes
 * DRIVER_ERR_NOT_FOUND with "<comp>: no shed NAME here". */
int drv_state_open (const char *comp, const char *dir, const char *name, drv_state_t *st,
                    driver_error_t *err);

/* Call fn for every <data_dir>/sheds/NAME holding a state file (what a
 * restarted daemon re-adopts). comp prefixes the error. */
int drv_state_list (const char *data_dir, const char *comp, driver_list_fn *fn, void *arg,
                    driver_error_t *err);

/* Start time (clock ticks since boot, /proc/PID/stat field 22) of a live,
 * non-zombie process; 0 if none. */
uint64_t drv_proc_starttime (int pid);
/* Is the process that was `pid` at `starttime` still alive? */
bool drv_proc_alive (int pid, uint64_t starttime);
/* Wait up to timeout_ms for that process to be gone, polling every
 * step_ms: the grace period a shed's PID 1 gets between the polite signal
 * and SIGKILL. True if it is gone. Blocks: the drivers run off the main
 * loop (docs/scheduling.md). */
bool drv_proc_wait_gone (int pid, uint64_t starttime, int timeout_ms, int step_ms);

/* vsnprintf into buf. For the drivers' paths, bounded where the config is
 * accepted so they never truncate: going through vsnprintf keeps the
 * compiler from guessing otherwise. */
void drv_fmt (char *buf, size_t size, const char *fmt, ...) __attribute__ ((format (printf, 3, 4)));
/* Put a one-line reason into why (when not NULL) and return -1: the
 * drivers' helpers below driver_fail (they have no driver code to give). */
int drv_why (char *why, size_t size, const char *fmt, ...) __attribute__ ((format (printf, 3, 4)));

/* rm -r of a shed directory (only files and dirs we made; no symlinks
 * followed). */
int drv_remove_tree (const char *path);

#endif
