/*
 * image_unpack.h - unpack an image archive (tar, tar.gz, tar.zst) into a
 * fresh directory, refusing anything that could reach outside the tree or
 * hand a shed more than a root file system (docs/images.md, "Import").
 *
 * The archive is read twice. The first pass checks every entry and sums
 * the sizes without writing a byte: a refused archive leaves nothing
 * behind, and the size is compared with the target file system's free
 * space minus a reserve before anything is written. The second pass
 * extracts into a temporary sibling of `dest` and renames it to `dest` at
 * the end; on any failure the temporary tree is removed (never following a
 * symlink).
 *
 * Refused, with a one-line reason naming the entry:
 *   - absolute paths, any ".." component, empty or over-long names;
 *   - device nodes, FIFOs, sockets, any type but file, directory, symlink,
 *     hard link;
 *   - setuid files, setgid files (a setgid directory is allowed: it only
 *     makes new files inherit its group);
 *   - uids/gids above 65535 (a shed maps 65536 ids);
 *   - hard links whose target is not a regular file extracted earlier;
 *   - symlinks whose relative target climbs above the tree root (absolute
 *     targets are kept: they resolve inside the shed's own root at run
 *     time, as in every container runtime);
 *   - entries below a symlink or below a file, a non-directory path that
 *     appears twice;
 *   - more than max_entries entries, more than max_bytes unpacked, or more
 *     than the free space of the target file system minus reserve_bytes.
 * Extended attributes, ACLs and file flags are not restored (so no file
 * capabilities). Owners are restored by number, never by name.
 *
 * Thread-safe: no global state; callers run it off their event loop.
 */
#ifndef SHED_IMAGE_UNPACK_H
#define SHED_IMAGE_UNPACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define IMAGE_ID_MAX          65535u        /* uids and gids 0..65535 */
#define IMAGE_ENTRIES_DEFAULT 1000000u      /* entries per archive */
#define IMAGE_BYTES_DEFAULT   (16ull << 30) /* unpacked bytes per archive */
#define IMAGE_RESERVE_DEFAULT (1ull << 30)  /* free space left on the fs */
#define IMAGE_PATH_MAX        1024          /* bytes of an entry path */

typedef struct {
    uint64_t max_entries;   /* 0: IMAGE_ENTRIES_DEFAULT */
    uint64_t max_bytes;     /* 0: IMAGE_BYTES_DEFAULT */
    uint64_t reserve_bytes; /* free space kept; 0 means none */
    bool owners;            /* restore uid/gid (needs root) */
} image_unpack_opts_t;

typedef struct {
    uint64_t entries; /* every entry, directories included */
    uint64_t files;   /* regular files and hard links */
    uint64_t bytes;   /* sum of regular file sizes */
} image_unpack_stats_t;

/* What an entry is, for image_path_check. */
typedef enum {
    IMAGE_ENTRY_FILE,
    IMAGE_ENTRY_DIR,
    IMAGE_ENTRY_SYMLINK,
    IMAGE_ENTRY_HARDLINK,
} image_entry_kind_t;

/* The path rules as a pure function (no file system access), for the
 * unpacker, the unit tests and the fuzzer. `path` is an entry's name as the
 * archive gives it; `target` the link target of a symlink or hard link (NULL
 * otherwise). On success returns 0 and writes the normalised path to norm
 * ("./a//b/" -> "a/b"; the root itself -> ""), and for a hard link the
 * normalised target to norm_target (may be NULL for other kinds). Returns
 * -1 with a one-line reason in why otherwise. */
int image_path_check (const char *path, image_entry_kind_t kind, const char *target, char *norm,
                      size_t norm_size, char *norm_target, size_t norm_target_size, char *why,
                      size_t why_size);

/* Unpack the archive open on `fd` (a seekable file: it is read twice from
 * offset 0) into `dest`, which must not exist; its parent must. opts NULL:
 * defaults with owners restored when running as root. Returns 0 and fills
 * stats (may be NULL), or -1 with a one-line reason in why and nothing left
 * at dest or beside it. */
int image_unpack_fd (int fd, const char *dest, const image_unpack_opts_t *opts,
                     image_unpack_stats_t *stats, char *why, size_t why_size);

/* The same for a file by path (opened O_RDONLY | O_NOFOLLOW). */
int image_unpack_path (const char *archive, const char *dest, const image_unpack_opts_t *opts,
                       image_unpack_stats_t *stats, char *why, size_t why_size);

/* rm -rf that never follows a symlink nor crosses a mount: directories are
 * made writable first so a tree with 0555 directories can go. 0, or -1
 * with errno (a missing path is 0). */
int image_rmtree (const char *path);

#endif
