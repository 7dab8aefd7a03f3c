/*
 * fileutil.h - durable file writes and small file reads for the data dir.
 *
 * Every persistent file (identity, keyring, records) is written atomically:
 * a temp file in the same directory, fsync, rename over the target, fsync the
 * directory, so a crash leaves either the old or the new content, never half.
 */
#ifndef SHED_FILEUTIL_H
#define SHED_FILEUTIL_H

#include <stddef.h>
#include <sys/types.h>

/* Write `len` bytes to `path` atomically with permissions `mode`.
 * Returns 0, or -1 with errno set. */
int shed_write_file_atomic (const char *path, const void *data, size_t len, mode_t mode);

/* Read a whole file of at most `max` bytes into a new NUL-terminated buffer
 * (caller frees). Returns NULL with errno set (EFBIG when over `max`). */
char *shed_read_file (const char *path, size_t max, size_t *len_out);

/* mkdir -p with `mode` for each created component. Returns 0 or -1/errno. */
int shed_mkdir_p (const char *path, mode_t mode);

#endif
