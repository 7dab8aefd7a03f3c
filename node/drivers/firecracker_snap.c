/*
 * firecracker_snap.c - a Firecracker shed's snapshot in one file, and the
 * restore from it (firecracker_int.h, docs/drivers.md "firecracker").
 *
 * The file is a tar (pax, holes kept as sparse entries) of:
 *   shed-snapshot  "shed-firecracker-snapshot 1\nkind vm|disk\n..."
 *   rootfs.ext4    the shed's disk
 *   vmstate        Firecracker's microVM state      } kind vm only: a LIVE
 *   memory         the guest memory (Full snapshot)  } snapshot of a running VM
 * A restore unpacks it into the new shed's vm/ directory: the disk becomes
 * the shed's disk and the next start loads vmstate and memory (PUT
 * /snapshot/load, resumed) instead of booting. Firecracker opens the
 * restored VM's disk and vsock socket at the paths recorded in vmstate;
 * they are relative to vm/ (the VMM's working directory or jail root), so
 * the same names in the new vm/ are found whatever the node's data_dir.
 */
#include "node/drivers/firecracker_int.h"
#include "node/drivers/json_read.h"
#include "common/archive_dl.h"
#include "common/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define S_COMP "firecracker"

#define FC_BUNDLE_MAGIC    "shed-firecracker-snapshot 1\n"
#define FC_BUNDLE_META     "shed-snapshot"
#define FC_BUNDLE_STATE    "vmstate"
#define FC_BUNDLE_MEM      "memory"
/* A bundle's entries are bounded before anything is written: 1 TiB. */
#define FC_BUNDLE_FILE_MAX (1ULL << 40)
#define FC_BUNDLE_META_MAX 4096

/* One file into the archive, its holes as sparse entries. */
static int
s_add_file (struct archive *a, const char *entry_name, const char *path, char *why, size_t size)
{
    int fd = open (path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    struct stat s;
    if (fd < 0 || fstat (fd, &s) != 0) {
        if (fd >= 0)
            close (fd);
        return drv_why (why, size, "open %s: %s", path, strerror (errno));
    }
    struct archive_entry *e = sym_archive_entry_new ();
    sym_archive_entry_set_pathname (e, entry_name);
    sym_archive_entry_set_filetype (e, AE_IFREG);
    sym_archive_entry_set_perm (e, 0600);
    sym_archive_entry_set_size (e, s.st_size);
    /* The data regions, walked once: the entry's sparse map, then the
     * bytes written in the same order. */
    size_t n = 0, cap = 16;
    off_t (*regions)[2] = malloc (cap * sizeof *regions);
    off_t pos = 0;
    while (regions && pos < s.st_size) {
        off_t data = lseek (fd, pos, SEEK_DATA);
        if (data < 0)
            break; /* ENXIO: the rest is a hole */
        off_t hole = lseek (fd, data, SEEK_HOLE);
        if (hole < 0 || hole > s.st_size)
            hole = s.st_size;
        if (n == cap) {
            void *more = realloc (regions, 2 * cap * sizeof *regions);
            if (!more) {
                free (regions);
                regions = NULL;
                break;
            }
            regions = more;
            cap *= 2;
        }
        regions[n][0] = data;
        regions[n++][1] = hole - data;
        pos = hole;
    }
    /* All hole: one byte of data keeps it a sparse entry of the right size. */
    if (regions && n == 0 && s.st_size > 0) {
        regions[0][0] = s.st_size - 1;
        regions[n++][1] = 1;
    }
    for (size_t i = 0; regions && i < n; i++)
        sym_archive_entry_sparse_add_entry (e, regions[i][0], regions[i][1]);
    int rc = regions && sym_archive_write_header (a, e) == ARCHIVE_OK ? 0 : -1;
    /* libarchive's pax writer takes the whole file, holes as zeros, and
     * skips the holes itself: a hole costs calls, not I/O. */
    char *buf = (char *) malloc (1 << 20);
    static const char zeros[1 << 16];
    off_t at = 0;
    for (size_t i = 0; rc == 0 && buf && i <= n; i++) {
        off_t data = i < n ? regions[i][0] : s.st_size, len = i < n ? regions[i][1] : 0;
        while (rc == 0 && at < data) {
            size_t want = data - at < (off_t) sizeof zeros ? (size_t) (data - at) : sizeof zeros;
            if (sym_archive_write_data (a, zeros, want) != (la_ssize_t) want)
                rc = -1;
            at += (off_t) want;
        }
        while (rc == 0 && len > 0) {
            size_t want = len < (1 << 20) ? (size_t) len : (1 << 20);
            ssize_t got = pread (fd, buf, want, at);
            if (got <= 0 || sym_archive_write_data (a, buf, (size_t) got) != got)
                rc = -1;
            at += got;
            len -= got;
        }
    }
    free (regions);
    if (!buf)
        rc = -1;
    if (rc != 0)
        drv_why (why, size, "archive %s: %s", path, sym_archive_error_string (a));
    free (buf);
    sym_archive_entry_free (e);
    close (fd);
    return rc;
}

static int
s_bundle_write (const char *path, const char *vm, bool with_vm, const char *vmm_version, char *why,
                size_t size)
{
    char tmp[DRIVER_PATH_MAX + 8], meta[256], disk[PATH_MAX + 16], state[PATH_MAX + 16],
        mem[PATH_MAX + 16];
    /* libarchive is loaded on first use (common/archive_dl.h). */
    char dlerr[200];
    if (!archive_dl_open (dlerr, sizeof dlerr))
        return drv_why (why, size, "libarchive: %s", dlerr);
    drv_fmt (tmp, sizeof tmp, "%s.part", path);
    drv_fmt (disk, sizeof disk, "%s/" FC_SNAP_DISK, vm);
    drv_fmt (state, sizeof state, "%s/" FC_SNAP_STATE, vm);
    drv_fmt (mem, sizeof mem, "%s/" FC_SNAP_MEM, vm);
    drv_fmt (meta, sizeof meta, FC_BUNDLE_MAGIC "kind %s\nvmm_version %s\n",
             with_vm ? "vm" : "disk", vmm_version[0] ? vmm_version : "-");
    struct archive *a = sym_archive_write_new ();
    if (!a)
        return drv_why (why, size, "out of memory");
    int rc = 0;
    unlink (tmp);
    if (sym_archive_write_set_format_pax_restricted (a) != ARCHIVE_OK
        || sym_archive_write_open_filename (a, tmp) != ARCHIVE_OK)
        rc = drv_why (why, size, "%s: %s", tmp, sym_archive_error_string (a));
    if (rc == 0) {
        struct archive_entry *e = sym_archive_entry_new ();
        sym_archive_entry_set_pathname (e, FC_BUNDLE_META);
        sym_archive_entry_set_filetype (e, AE_IFREG);
        sym_archive_entry_set_perm (e, 0600);
        sym_archive_entry_set_size (e, (la_int64_t) strlen (meta));
        if (sym_archive_write_header (a, e) != ARCHIVE_OK
            || sym_archive_write_data (a, meta, strlen (meta)) != (la_ssize_t) strlen (meta))
            rc = drv_why (why, size, "%s: %s", tmp, sym_archive_error_string (a));
        sym_archive_entry_free (e);
    }
    if (rc == 0)
        rc = s_add_file (a, FC_ROOTFS, disk, why, size);
    if (rc == 0 && with_vm)
        rc = s_add_file (a, FC_BUNDLE_STATE, state, why, size);
    if (rc == 0 && with_vm)
        rc = s_add_file (a, FC_BUNDLE_MEM, mem, why, size);
    if (sym_archive_write_close (a) != ARCHIVE_OK && rc == 0)
        rc = drv_why (why, size, "%s: %s", tmp, sym_archive_error_string (a));
    sym_archive_write_free (a);
    if (rc == 0 && rename (tmp, path) != 0)
        rc = drv_why (why, size, "rename %s: %s", tmp, strerror (errno));
    if (rc != 0)
        unlink (tmp);
    return rc;
}

static void
s_unlink_snap (const char *vm)
{
    const char *names[] = { FC_SNAP_STATE, FC_SNAP_MEM, FC_SNAP_DISK };
    for (size_t i = 0; i < 3; i++) {
        char p[PATH_MAX + 16];
        drv_fmt (p, sizeof p, "%s/%s", vm, names[i]);
        unlink (p);
    }
}

int
fc_snapshot (void *impl, const char *name, const char *path, driver_snap_mode_t mode,
             uint64_t *bytes, driver_error_t *err)
{
    fc_t *self = (fc_t *) impl;
    char dir[PATH_MAX], vm[PATH_MAX], sock[PATH_MAX + 16], disk[PATH_MAX + 16], copy[PATH_MAX + 16],
        why[DRIVER_MSG_MAX], version[64] = "";
    drv_state_t st;
    int rc = fc_load (self, name, &st, dir, sizeof dir, err);
    if (rc)
        return rc;
    if (!path || !*path || strlen (path) >= DRIVER_PATH_MAX)
        return driver_fail (err, DRIVER_ERR_INVALID, "firecracker: %s: bad snapshot path", name);
    fc_vm_dir (self, name, vm, sizeof vm);
    drv_fmt (sock, sizeof sock, "%s/" FC_API_SOCK, vm);
    drv_fmt (disk, sizeof disk, "%s/" FC_ROOTFS, vm);
    drv_fmt (copy, sizeof copy, "%s/" FC_SNAP_DISK, vm);
    s_unlink_snap (vm);
    bool ran = fc_running (&st);
    bool with_vm = ran && mode == DRIVER_SNAP_LIVE;
    if (with_vm) {
        /* Firecracker snapshots a paused VM; the disk is copied while it
         * stays paused so disk and memory agree. */
        http_reply_t r;
        if (fc_api (self, sock, name, "GET", "/", NULL, &r, err) == 0) {
            char jwhy[128];
            json_t *doc = json_read (r.body, r.len, jwhy, sizeof jwhy);
            json_read_str (doc, "vmm_version", version, sizeof version);
            json_decref (doc);
            http_reply_free (&r);
        }
        if ((rc = fc_api (self, sock, name, "PATCH", "/vm", "{\"state\":\"Paused\"}", NULL, err)))
            return rc;
        char body[256];
        fc_body_snap_create (body, sizeof body);
        rc = fc_api (self, sock, name, "PUT", "/snapshot/create", body, NULL, err);
        if (rc == 0 && fc_copy_file (disk, copy, why, sizeof why) != 0)
            rc = driver_fail (err, DRIVER_ERR_IO, "firecracker: %s: %s", name, why);
        driver_error_t resume_err;
        int rrc =
            fc_api (self, sock, name, "PATCH", "/vm", "{\"state\":\"Resumed\"}", NULL, &resume_err);
        if (rc == 0 && rrc != 0) {
            rc = rrc;
            *err = resume_err;
        }
    }
    else {
        /* STOP (or a VM not running): the disk of the stopped VM. */
        if (ran && (rc = fc_stop (impl, name, err)) != 0)
            return rc;
        if (fc_copy_file (disk, copy, why, sizeof why) != 0)
            rc = driver_fail (err, DRIVER_ERR_IO, "firecracker: %s: %s", name, why);
        /* The copy is the shed's no more: it runs again while it is packed. */
        int src = ran ? fc_start (impl, name, err) : 0;
        if (rc == 0)
            rc = src;
    }
    if (rc == 0 && s_bundle_write (path, vm, with_vm, version, why, sizeof why) != 0)
        rc = driver_fail (err, DRIVER_ERR_IO, "firecracker: %s: snapshot: %s", name, why);
    s_unlink_snap (vm);
    if (rc != 0)
        return rc;
    struct stat s;
    if (bytes)
        *bytes = stat (path, &s) == 0 ? (uint64_t) s.st_size : 0;
    log_info (S_COMP, "snapshot written|shed=%s kind=%s path=%s", name, with_vm ? "vm" : "disk",
              path);
    return 0;
}

/* Which file of vm/ an entry becomes; NULL for a name a bundle never has. */
static const char *
s_entry_target (const char *entry, int *slot)
{
    static const char *const names[][2] = { { FC_BUNDLE_META, NULL },
                                            { FC_ROOTFS, FC_ROOTFS },
                                            { FC_BUNDLE_STATE, FC_RESTORE_STATE },
                                            { FC_BUNDLE_MEM, FC_RESTORE_MEM } };
    for (int i = 0; i < 4; i++)
        if (strcmp (entry, names[i][0]) == 0) {
            *slot = i;
            return names[i][1] ? names[i][1] : "";
        }
    return NULL;
}

static int
s_extract_entry (struct archive *a, struct archive_entry *e, int fd, char *meta, size_t meta_size,
                 char *why, size_t size)
{
    la_int64_t total = sym_archive_entry_size (e);
    if (fd >= 0 && ftruncate (fd, (off_t) total) != 0)
        return drv_why (why, size, "%s", strerror (errno));
    for (;;) {
        const void *buf;
        size_t len;
        la_int64_t off;
        int r = sym_archive_read_data_block (a, &buf, &len, &off);
        if (r == ARCHIVE_EOF)
            return 0;
        if (r != ARCHIVE_OK)
            return drv_why (why, size, "%s", sym_archive_error_string (a));
        if (off < 0 || (uint64_t) off + len > (uint64_t) total)
            return drv_why (why, size, "data past the entry's size");
        if (fd < 0) {
            if ((size_t) off + len >= meta_size)
                return drv_why (why, size, "metadata too long");
            memcpy (meta + off, buf, len);
            continue;
        }
        for (size_t done = 0; done < len;) {
            ssize_t w = pwrite (fd, (const char *) buf + done, len - done, off + (off_t) done);
            if (w <= 0)
                return drv_why (why, size, "%s", strerror (errno));
            done += (size_t) w;
        }
    }
}

int
fc_bundle_extract (const char *path, const char *vm_dir, const char *name, driver_error_t *err)
{
    char dlerr[200];
    if (!archive_dl_open (dlerr, sizeof dlerr))
        return driver_fail (err, DRIVER_ERR_IO, "firecracker: %s: libarchive: %s", name, dlerr);
    struct archive *a = sym_archive_read_new ();
    if (!a)
        return driver_fail (err, DRIVER_ERR_IO, "firecracker: %s: out of memory", name);
    /* Plain tar only: no filters, no other formats to parse. */
    sym_archive_read_support_format_tar (a);
    char why[DRIVER_MSG_MAX] = "", meta[FC_BUNDLE_META_MAX] = "";
    int code = DRIVER_ERR_INVALID;
    bool seen[4] = { false, false, false, false };
    if (sym_archive_read_open_filename (a, path, 1 << 16) != ARCHIVE_OK) {
        code = DRIVER_ERR_IO;
        drv_why (why, sizeof why, "%s", sym_archive_error_string (a));
        goto done;
    }
    struct archive_entry *e;
    int r;
    while ((r = sym_archive_read_next_header (a, &e)) == ARCHIVE_OK) {
        const char *entry = sym_archive_entry_pathname (e);
        int slot = -1;
        const char *target = entry ? s_entry_target (entry, &slot) : NULL;
        if (!target || seen[slot] || sym_archive_entry_filetype (e) != AE_IFREG
            || sym_archive_entry_size (e) < 0
            || (uint64_t) sym_archive_entry_size (e) > FC_BUNDLE_FILE_MAX) {
            drv_why (why, sizeof why, "unexpected entry '%.64s'", entry ? entry : "");
            goto done;
        }
        seen[slot] = true;
        int fd = -1;
        if (*target) {
            char out[PATH_MAX + 32];
            drv_fmt (out, sizeof out, "%s/%s", vm_dir, target);
            fd = open (out, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
            if (fd < 0) {
                code = DRIVER_ERR_IO;
                drv_why (why, sizeof why, "create %s: %s", out, strerror (errno));
                goto done;
            }
        }
        int rc = s_extract_entry (a, e, fd, meta, sizeof meta, why, sizeof why);
        if (fd >= 0 && close (fd) != 0 && rc == 0)
            rc = drv_why (why, sizeof why, "%s", strerror (errno));
        if (rc != 0)
            goto done;
    }
    if (r != ARCHIVE_EOF) {
        drv_why (why, sizeof why, "%s", sym_archive_error_string (a));
        goto done;
    }
    bool kind_vm = strstr (meta, "\nkind vm\n") != NULL;
    if (strncmp (meta, FC_BUNDLE_MAGIC, strlen (FC_BUNDLE_MAGIC)) != 0 || !seen[1])
        drv_why (why, sizeof why, "not a Firecracker shed snapshot");
    else if (kind_vm != (seen[2] && seen[3]) || seen[2] != seen[3])
        drv_why (why, sizeof why, "vm state and memory must come together");
    else
        code = 0;
done:
    sym_archive_read_free (a);
    if (code == 0)
        return 0;
    return driver_fail (err, code, "firecracker: %s: snapshot %s: %s", name, path, why);
}

int
fc_restore (const fc_t *self, drv_state_t *st, const char *sock, driver_error_t *err)
{
    char body[512], vm[PATH_MAX], p[PATH_MAX + 32];
    if (fc_body_snap_load (st->veth, body, sizeof body) != 0)
        return driver_fail (err, DRIVER_ERR_INVALID, "firecracker: %s: bad TAP name", st->name);
    int rc = fc_api (self, sock, st->name, "PUT", "/snapshot/load", body, NULL, err);
    if (rc != 0)
        return rc;
    /* Firecracker has read the state file; the memory file backs the
     * guest until it stops (fc_stop removes it). */
    fc_vm_dir (self, st->name, vm, sizeof vm);
    drv_fmt (p, sizeof p, "%s/" FC_RESTORE_STATE, vm);
    unlink (p);
    log_info (S_COMP, "microVM restored from snapshot|shed=%s", st->name);
    return 0;
}
