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

/* shed_write_file_atomic's flags: SHED_WRITE_NO_DIR_SYNC leaves out the
 * directory fsync, so the rename is not yet durable (the data is). For a
 * caller writing several files into one directory that must all be on disk
 * before it goes on (a first start's identity and keyring): one
 * shed_fsync_dir after the last one makes every rename durable, one fsync
 * instead of one per file. */
#define SHED_WRITE_NO_DIR_SYNC 0x1u
int shed_write_file_atomic_flags (const char *path, const void *data, size_t len, mode_t mode,
                                  unsigned flags);

/* fsync the directory `dir` (the renames into it survive a crash).
 * A filesystem that refuses directory fsync (EINVAL) counts as done.
 * Returns 0, or -1 with errno set. */
int shed_fsync_dir (const char *dir);

/* Read a whole file of at most `max` bytes into a new NUL-terminated buffer
 * (caller frees). Returns NULL with errno set (EFBIG when over `max`). */
char *shed_read_file (const char *path, size_t max, size_t *len_out);

/* mkdir -p with `mode` for each created component. Returns 0 or -1/errno. */
int shed_mkdir_p (const char *path, mode_t mode);

#endif
