/*
 * archive_dl.h - libarchive, loaded on first use: only image unpacking, shed layers and Firecracker snapshots read or write archives, and linking it made every start map libarchive, libxml2 and ICU (lib_dl.h).
 */
#ifndef SHED_ARCHIVE_DL_H
#define SHED_ARCHIVE_DL_H

#include "common/lib_dl.h"

#include <archive.h>
#include <archive_entry.h>

#define ARCHIVE_DL_SONAME "libarchive.so.13"

/* Every function of the library the daemon calls, once (lib_dl.h). */
#define ARCHIVE_DL_SYMS(X)                                                                         \
    X (archive_entry_filetype)                                                                     \
    X (archive_entry_free)                                                                         \
    X (archive_entry_gid)                                                                          \
    X (archive_entry_hardlink)                                                                     \
    X (archive_entry_new)                                                                          \
    X (archive_entry_pathname)                                                                     \
    X (archive_entry_pathname_utf8)                                                                \
    X (archive_entry_perm)                                                                         \
    X (archive_entry_rdev)                                                                         \
    X (archive_entry_rdevmajor)                                                                    \
    X (archive_entry_rdevminor)                                                                    \
    X (archive_entry_set_filetype)                                                                 \
    X (archive_entry_set_gid)                                                                      \
    X (archive_entry_set_gname)                                                                    \
    X (archive_entry_set_hardlink)                                                                 \
    X (archive_entry_set_mtime)                                                                    \
    X (archive_entry_set_pathname)                                                                 \
    X (archive_entry_set_perm)                                                                     \
    X (archive_entry_set_rdev)                                                                     \
    X (archive_entry_set_size)                                                                     \
    X (archive_entry_set_symlink)                                                                  \
    X (archive_entry_set_uid)                                                                      \
    X (archive_entry_set_uname)                                                                    \
    X (archive_entry_size)                                                                         \
    X (archive_entry_sparse_add_entry)                                                             \
    X (archive_entry_sparse_next)                                                                  \
    X (archive_entry_sparse_reset)                                                                 \
    X (archive_entry_symlink)                                                                      \
    X (archive_entry_uid)                                                                          \
    X (archive_entry_xattr_add_entry)                                                              \
    X (archive_entry_xattr_count)                                                                  \
    X (archive_entry_xattr_next)                                                                   \
    X (archive_entry_xattr_reset)                                                                  \
    X (archive_errno)                                                                              \
    X (archive_error_string)                                                                       \
    X (archive_read_data_block)                                                                    \
    X (archive_read_free)                                                                          \
    X (archive_read_new)                                                                           \
    X (archive_read_next_header)                                                                   \
    X (archive_read_open_fd)                                                                       \
    X (archive_read_open_filename)                                                                 \
    X (archive_read_support_filter_gzip)                                                           \
    X (archive_read_support_filter_zstd)                                                           \
    X (archive_read_support_format_tar)                                                            \
    X (archive_write_add_filter_none)                                                              \
    X (archive_write_close)                                                                        \
    X (archive_write_data)                                                                         \
    X (archive_write_data_block)                                                                   \
    X (archive_write_disk_new)                                                                     \
    X (archive_write_disk_set_options)                                                             \
    X (archive_write_finish_entry)                                                                 \
    X (archive_write_free)                                                                         \
    X (archive_write_header)                                                                       \
    X (archive_write_new)                                                                          \
    X (archive_write_open_fd)                                                                      \
    X (archive_write_open_filename)                                                                \
    X (archive_write_set_bytes_in_last_block)                                                      \
    X (archive_write_set_bytes_per_block)                                                          \
    X (archive_write_set_format_pax)                                                               \
    X (archive_write_set_format_pax_restricted)

ARCHIVE_DL_SYMS (SHED_DL_DECLARE)

/* Loads libarchive.so.13 once per process (thread-safe); false with the loader's
 * reason in err (and on every later call) when it cannot. */
bool archive_dl_open (char *err, size_t errlen);

#endif
