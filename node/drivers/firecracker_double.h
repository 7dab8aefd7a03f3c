/*
 * firecracker_double.h - TEST SUPPORT: a stand-in for one Firecracker
 * process, serving its API on a Unix socket (test_httpd), for the
 * driver's tests on machines without KVM. Every request is checked against
 * Firecracker's OpenAPI document (firecracker_openapi.h) and against the
 * order Firecracker's docs require: pre-boot calls only before
 * InstanceStart, /snapshot/create only while Paused, /snapshot/load only on
 * a fresh process and with exactly one memory source, the files a restored
 * VM opens (its drives, its memory file) present at the recorded paths,
 * the vsock socket path not taken. A breach is answered as Firecracker
 * does (400 {"fault_message"}) and counted as a violation for the test to
 * assert on. Paths are resolved against `workdir`, the VMM's working
 * directory. /snapshot/create writes a state file (JSON: the drives' paths)
 * and a sparse memory file the size of the machine's memory.
 * SendCtrlAltDel ends the "process": the next request meets a fresh one.
 */
#ifndef SHED_DRV_FIRECRACKER_DOUBLE_H
#define SHED_DRV_FIRECRACKER_DOUBLE_H

#include "node/drivers/firecracker_openapi.h"
#include "node/drivers/test_httpd.h"

#include <stddef.h>

typedef struct _fc_double_t fc_double_t;

fc_double_t *fc_double_new (fc_openapi_t *api, const char *sock, const char *workdir);
void fc_double_destroy (fc_double_t **self_p);
/* Violations so far; the first one's text in `first`. */
size_t fc_double_violations (fc_double_t *self, char *first, size_t size);
/* Requests so far (bounded log) and the i-th. */
size_t fc_double_count (fc_double_t *self);
void fc_double_get (fc_double_t *self, size_t i, test_httpd_req_t *out);
/* "Not started", "Running" or "Paused". */
const char *fc_double_state (fc_double_t *self);
/* Answer the next request to `url` with 400 and this fault (not a violation:
 * what Firecracker says to a value it dislikes). */
void fc_double_fault (fc_double_t *self, const char *url, const char *fault);

#endif
