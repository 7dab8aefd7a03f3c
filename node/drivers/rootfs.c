/*
 * rootfs.c - a container shed's disk and overlay root (see rootfs.h).
 */
#include "node/drivers/rootfs.h"
#include "node/drivers/drv_state.h"
#include "node/drivers/drv_exec.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/loop.h>
#include <linux/mount.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static void
s_path (char *buf, const char *dir, const char *leaf)
{
    snprintf (buf, PATH_MAX, "%.*s/%s", PATH_MAX - 32, dir, leaf);
}

/* ---- mount points ------------------------------------------------------- */

/* mountinfo escapes space, tab, newline and backslash as \ooo. */
static void
s_unescape (char *text)
{
    char *w = text;
    for (char *r = text; *r; r++) {
        if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] >= '0' && r[2] <= '7' && r[3] >= '0'
            && r[3] <= '7') {
            *w++ = (char) ((r[1] - '0') * 64 + (r[2] - '0') * 8 + (r[3] - '0'));
            r += 3;
        }
        else
            *w++ = *r;
    }
    *w = '\0';
}

bool
rootfs_is_mountpoint (const char *path)
{
    FILE *f = fopen ("/proc/self/mountinfo", "re");
    if (!f)
        return false;
    char line[4096];
    bool found = false;
    while (!found && fgets (line, sizeof line, f)) {
        /* id parent major:minor root MOUNTPOINT ... */
        char *save = NULL, *tok = strtok_r (line, " ", &save);
        for (int i = 0; tok && i < 4; i++)
            tok = strtok_r (NULL, " ", &save);
        if (tok) {
            s_unescape (tok);
            found = strcmp (tok, path) == 0;
        }
    }
    fclose (f);
    return found;
}

/* ---- the disk ----------------------------------------------------------- */

/* The first line of a tool's output, for a one-line error. */
static const char *
s_first_line (char *text)
{
    char *nl = strchr (text, '\n');
    if (nl)
        *nl = '\0';
    return text;
}

int
rootfs_disk_create (const rootfs_spec_t *spec, char *why, size_t why_size)
{
    char img[PATH_MAX];
    s_path (img, spec->dir, "disk.img");
    int fd = open (img, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return drv_why (why, why_size, "create %s: %s", img, strerror (errno));
    /* Sparse: blocks are taken as the shed writes, so a 10 GB disk costs
     * nothing until used. */
    if (ftruncate (fd, (off_t) spec->disk_bytes) != 0) {
        int saved = errno;
        close (fd);
        unlink (img);
        return drv_why (why, why_size, "size %s: %s", img, strerror (saved));
    }
    close (fd);
    /* -m 0: no blocks reserved for root (the shed's root is the only
     * user); root_owner: the host's root owns the disk's top directory,
     * the shed's root owns upper/ (made at mount). */
    char *argv[] = { (char *) "mkfs.ext4",
                     (char *) "-q",
                     (char *) "-F",
                     (char *) "-m",
                     (char *) "0",
                     (char *) "-E",
                     (char *) "root_owner=0:0",
                     img,
                     NULL };
    char out[512] = "";
    int rc = drv_exec (spec->mkfs_path, -1, argv, out, sizeof out);
    if (rc != 0) {
        unlink (img);
        if (rc == 127)
            return drv_why (why, why_size, "cannot run %s (apt-get install e2fsprogs)",
                            spec->mkfs_path);
        return drv_why (why, why_size, "mkfs.ext4 %s: %s", img,
                        out[0] ? s_first_line (out) : "failed");
    }
    return 0;
}

/* Attach `img` to a free loop device and mount it at `target`. The device
 * is autoclear: it detaches when the mount goes (or the mount fails). */
static int
s_loop_mount (const char *img, const char *target, char *why, size_t why_size)
{
    int ctl = open ("/dev/loop-control", O_RDWR | O_CLOEXEC);
    if (ctl < 0)
        return drv_why (why, why_size, "open /dev/loop-control: %s", strerror (errno));
    int file = open (img, O_RDWR | O_CLOEXEC);
    if (file < 0) {
        int saved = errno;
        close (ctl);
        return drv_why (why, why_size, "open %s: %s", img, strerror (saved));
    }
    int rc = -1;
    /* Another process may take the free device between GET_FREE and
     * CONFIGURE: try again a few times. */
    for (int attempt = 0; attempt < 8 && rc != 0; attempt++) {
        int nr = ioctl (ctl, LOOP_CTL_GET_FREE);
        if (nr < 0) {
            drv_why (why, why_size, "no free loop device: %s", strerror (errno));
            break;
        }
        char dev[32];
        snprintf (dev, sizeof dev, "/dev/loop%d", nr);
        int lfd = open (dev, O_RDWR | O_CLOEXEC);
        if (lfd < 0) {
            drv_why (why, why_size, "open %s: %s", dev, strerror (errno));
            continue;
        }
        struct loop_config lc;
        memset (&lc, 0, sizeof lc);
        lc.fd = (uint32_t) file;
        lc.info.lo_flags = LO_FLAGS_AUTOCLEAR;
        /* lo_file_name is informational (losetup -l): the tail is enough. */
        size_t len = strlen (img), room = sizeof lc.info.lo_file_name - 1;
        memcpy (lc.info.lo_file_name, img + (len > room ? len - room : 0), len > room ? room : len);
        if (ioctl (lfd, LOOP_CONFIGURE, &lc) != 0) {
            drv_why (why, why_size, "configure %s: %s", dev, strerror (errno));
            close (lfd);
            if (errno == EBUSY)
                continue;
            break;
        }
        if (mount (dev, target, "ext4", MS_NOSUID | MS_NODEV, NULL) != 0)
            drv_why (why, why_size, "mount %s on %s: %s", dev, target, strerror (errno));
        else
            rc = 0;
        close (lfd); /* autoclear detaches it now if the mount failed */
        break;
    }
    close (file);
    close (ctl);
    return rc;
}

/* ---- the ID-mapped image ------------------------------------------------ */

static int
s_write_map (pid_t pid, const char *which, uint32_t base, uint32_t count)
{
    char path[64], map[64];
    snprintf (path, sizeof path, "/proc/%d/%s", (int) pid, which);
    int len = snprintf (map, sizeof map, "0 %u %u\n", base, count);
    int fd = open (path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = write (fd, map, (size_t) len);
    close (fd);
    return n == len ? 0 : -1;
}

/* A user namespace carrying the shed's mapping, held by a child that waits
 * on a pipe: the mount API needs a namespace fd, not a process. Returns the
 * namespace fd or -1; the child is gone when this returns. */
static int
s_userns_fd (uint32_t base, uint32_t count, char *why, size_t why_size)
{
    int ready[2], done[2];
    if (pipe2 (ready, O_CLOEXEC) != 0)
        return drv_why (why, why_size, "pipe: %s", strerror (errno));
    if (pipe2 (done, O_CLOEXEC) != 0) {
        close (ready[0]);
        close (ready[1]);
        return drv_why (why, why_size, "pipe: %s", strerror (errno));
    }
    pid_t pid = fork ();
    if (pid == 0) {
        /* Only our ends: the parent's close of done[1] must reach us as EOF. */
        close (ready[0]);
        close (done[1]);
        char c = unshare (CLONE_NEWUSER) == 0 ? 'u' : 'x';
        if (write (ready[1], &c, 1) != 1)
            _exit (1);
        if (read (done[0], &c, 1) < 0)
            _exit (1);
        _exit (0);
    }
    close (ready[1]);
    close (done[0]);
    int fd = -1;
    char c = 0;
    if (pid < 0)
        drv_why (why, why_size, "fork: %s", strerror (errno));
    else if (read (ready[0], &c, 1) != 1 || c != 'u')
        drv_why (why, why_size, "cannot create a user namespace");
    else if (s_write_map (pid, "uid_map", base, count) != 0
             || s_write_map (pid, "gid_map", base, count) != 0)
        drv_why (why, why_size, "write the user namespace's id maps: %s", strerror (errno));
    else {
        char path[64];
        snprintf (path, sizeof path, "/proc/%d/ns/user", (int) pid);
        fd = open (path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            drv_why (why, why_size, "open %s: %s", path, strerror (errno));
    }
    close (ready[0]);
    close (done[1]); /* the child reads EOF and leaves */
    if (pid > 0)
        while (waitpid (pid, NULL, 0) < 0 && errno == EINTR)
            ;
    return fd;
}

static int
s_idmap_mount (const rootfs_spec_t *spec, const char *target, char *why, size_t why_size)
{
    int userns = s_userns_fd (spec->id_base, spec->id_count, why, why_size);
    if (userns < 0)
        return -1;
    int rc = -1;
    int tree = (int) syscall (SYS_open_tree, AT_FDCWD, spec->image_root,
                              OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
    if (tree < 0)
        drv_why (why, why_size, "open_tree %s: %s", spec->image_root, strerror (errno));
    else {
        struct mount_attr attr;
        memset (&attr, 0, sizeof attr);
        attr.attr_set = MOUNT_ATTR_IDMAP | MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV;
        attr.userns_fd = (uint64_t) userns;
        if (syscall (SYS_mount_setattr, tree, "", AT_EMPTY_PATH, &attr, sizeof attr) != 0)
            drv_why (why, why_size, "ID-map %s: %s (kernel without ID-mapped mounts?)",
                     spec->image_root, strerror (errno));
        else if (syscall (SYS_move_mount, tree, "", AT_FDCWD, target, MOVE_MOUNT_F_EMPTY_PATH) != 0)
            drv_why (why, why_size, "mount %s on %s: %s", spec->image_root, target,
                     strerror (errno));
        else
            rc = 0;
        close (tree);
    }
    close (userns);
    return rc;
}

/* ---- the overlay -------------------------------------------------------- */

static int
s_mkdir (const char *path, mode_t mode, char *why, size_t why_size)
{
    if (mkdir (path, mode) != 0 && errno != EEXIST)
        return drv_why (why, why_size, "mkdir %s: %s", path, strerror (errno));
    return 0;
}

int
rootfs_mount (const rootfs_spec_t *spec, char *why, size_t why_size)
{
    char img[PATH_MAX], disk[PATH_MAX], lower[PATH_MAX], root[PATH_MAX];
    s_path (img, spec->dir, "disk.img");
    s_path (disk, spec->dir, "disk");
    s_path (lower, spec->dir, "lower");
    s_path (root, spec->dir, "rootfs");
    if (s_mkdir (disk, 0700, why, why_size) || s_mkdir (lower, 0700, why, why_size)
        || s_mkdir (root, 0755, why, why_size))
        return -1;
    if (!rootfs_is_mountpoint (disk) && s_loop_mount (img, disk, why, why_size) != 0)
        return -1;
    char upper[PATH_MAX], work[PATH_MAX];
    s_path (upper, disk, "upper");
    s_path (work, disk, "work");
    if (s_mkdir (upper, 0755, why, why_size) || s_mkdir (work, 0700, why, why_size))
        return -1;
    /* The shed's root owns the top of its writable layer, hence "/". */
    if (chown (upper, spec->id_base, spec->id_base) != 0)
        return drv_why (why, why_size, "chown %s: %s", upper, strerror (errno));
    if (!rootfs_is_mountpoint (lower) && s_idmap_mount (spec, lower, why, why_size) != 0)
        return -1;
    if (rootfs_is_mountpoint (root))
        return 0;
    char opts[3 * PATH_MAX + 64];
    snprintf (opts, sizeof opts, "lowerdir=%s,upperdir=%s,workdir=%s", lower, upper, work);
    if (mount ("overlay", root, "overlay", MS_NOSUID | MS_NODEV, opts) != 0)
        return drv_why (why, why_size, "mount overlay on %s: %s", root, strerror (errno));
    return 0;
}

int
rootfs_umount (const char *dir, char *why, size_t why_size)
{
    static const char *const leaves[] = { "rootfs", "lower", "disk" };
    int rc = 0;
    for (size_t i = 0; i < sizeof leaves / sizeof leaves[0]; i++) {
        char path[PATH_MAX];
        s_path (path, dir, leaves[i]);
        /* A lazy unmount never fails on a busy tree; the loop device is
         * released when the last user (a dying container) lets go. */
        for (int n = 0; n < 4 && rootfs_is_mountpoint (path); n++)
            umount2 (path, MNT_DETACH);
        if (rootfs_is_mountpoint (path))
            rc = drv_why (why, why_size, "cannot unmount %s: %s", path, strerror (errno));
    }
    return rc;
}

int
rootfs_disk_usage (const char *dir, uint64_t *used, uint64_t *total)
{
    char disk[PATH_MAX];
    s_path (disk, dir, "disk");
    struct statvfs vfs;
    if (!rootfs_is_mountpoint (disk) || statvfs (disk, &vfs) != 0)
        return -1;
    *total = (uint64_t) vfs.f_blocks * vfs.f_frsize;
    *used = (uint64_t) (vfs.f_blocks - vfs.f_bfree) * vfs.f_frsize;
    return 0;
}
