/*
 * oci_runtime.h - an OCI runtime's command line (runc, or crun where the
 * host's cgroup layout lets it run: both take the same commands), exec'd
 * with argument arrays, never a shell.
 *
 *   runc --root ROOT --log LOG --log-format json run -d --pid-file P -b B ID
 *   runc --root ROOT state ID          -> {"status": "running", "pid": N}
 *   runc --root ROOT kill [--all] ID SIG
 *   runc --root ROOT delete -f ID
 *   runc --root ROOT pause ID / resume ID   (the cgroup freezer, v1 and v2)
 *
 * ROOT is the runtime's state directory (tmpfs, so a reboot empties it);
 * the node keeps its own state file beside the bundle and reconciles the
 * two (docs/drivers.md, "container").
 */
#ifndef SHED_DRV_OCI_RUNTIME_H
#define SHED_DRV_OCI_RUNTIME_H

#include <stdbool.h>
#include <stddef.h>

typedef struct _oci_runtime_t oci_runtime_t;

typedef enum {
    OCI_ST_ABSENT = 0, /* the runtime knows no such container */
    OCI_ST_CREATED,
    OCI_ST_RUNNING,
    OCI_ST_PAUSED,
    OCI_ST_STOPPED,
    OCI_ST_UNKNOWN, /* the runtime failed or answered nonsense */
} oci_state_t;

/* bin: absolute path of runc/crun; root: its state dir. NULL with why when
 * the binary cannot be run. */
oci_runtime_t *oci_runtime_new (const char *bin, const char *root, char *why, size_t why_size);
void oci_runtime_destroy (oci_runtime_t **self_p);
const char *oci_runtime_bin (oci_runtime_t *self);

/* Start container `id` from `bundle` detached; its stdout/stderr go to
 * console_fd. Fills *pid. 0 or -1 with the runtime's own message in why. */
int oci_runtime_run (oci_runtime_t *self, const char *id, const char *bundle, int console_fd,
                     int *pid, char *why, size_t why_size);
/* What the runtime says of `id`; *pid when running (else 0). */
oci_state_t oci_runtime_state (oci_runtime_t *self, const char *id, int *pid);
int oci_runtime_kill (oci_runtime_t *self, const char *id, const char *signal, bool all, char *why,
                      size_t why_size);
int oci_runtime_delete (oci_runtime_t *self, const char *id, char *why, size_t why_size);
/* Freeze every process of `id` (the runtime writes the freezer: v1
 * freezer.state, v2 cgroup.freeze, and waits until the group is frozen),
 * and thaw it. 0 or -1 with the runtime's message in why. */
int oci_runtime_pause (oci_runtime_t *self, const char *id, char *why, size_t why_size);
int oci_runtime_resume (oci_runtime_t *self, const char *id, char *why, size_t why_size);

/* The first runc or crun found in the usual places, or NULL. crun is
 * skipped when `cgroup_v1` (crun 1.8 refuses hybrid hosts). */
const char *oci_runtime_find (bool cgroup_v1);

#endif
