/*
 * firecracker_proc.c - running the VMM: its command line (firecracker, or
 * the jailer in front of it as docs/jailer.md describes), the detached
 * spawn, the jail's root, and each shed's own copy of its root disk
 * (firecracker_int.h).
 */
#include "node/drivers/firecracker_int.h"
#include "common/fileutil.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

void
fc_jail_root (const fc_t *self, const char *name, char *buf, size_t size)
{
    const char *exe = strrchr (self->bin, '/');
    exe = exe ? exe + 1 : self->bin;
    drv_fmt (buf, size, "%s/%s/%s/root", self->chroot_base, exe, name);
}

int
fc_argv (const fc_t *self, const char *name, char **argv, size_t max, char *buf, size_t size)
{
    size_t argc = 0, used = 0;
    const char *words[24];
    char vm[PATH_MAX], sock[PATH_MAX + 16], uid[16], gid[16];
    if (self->jailer[0]) {
        /* The jailer passes --id on to Firecracker itself; Firecracker's
         * own arguments follow "--", with paths as seen inside the jail. */
        snprintf (uid, sizeof uid, "%u", self->jailer_uid);
        snprintf (gid, sizeof gid, "%u", self->jailer_gid);
        const char *w[] = {
            self->jailer, "--id",         name, "--exec-file",       self->bin,         "--uid",
            uid,          "--gid",        gid,  "--chroot-base-dir", self->chroot_base, "--",
            "--api-sock", "/" FC_API_SOCK
        };
        for (size_t i = 0; i < sizeof w / sizeof w[0]; i++)
            words[argc++] = w[i];
    }
    else {
        fc_vm_dir (self, name, vm, sizeof vm);
        drv_fmt (sock, sizeof sock, "%s/" FC_API_SOCK, vm);
        const char *w[] = { self->bin, "--api-sock", sock, "--id", name };
        for (size_t i = 0; i < sizeof w / sizeof w[0]; i++)
            words[argc++] = w[i];
    }
    if (argc + 1 > max)
        return -1;
    for (size_t i = 0; i < argc; i++) {
        size_t len = strlen (words[i]) + 1;
        if (used + len > size)
            return -1;
        memcpy (buf + used, words[i], len);
        argv[i] = buf + used;
        used += len;
    }
    argv[argc] = NULL;
    return (int) argc;
}

int
fc_spawn (const fc_t *self, drv_state_t *st, driver_error_t *err)
{
    char dir[PATH_MAX], vm[PATH_MAX], log_path[PATH_MAX + 32], sock[PATH_MAX + 16];
    fc_shed_dir (self, st->name, dir, sizeof dir);
    fc_vm_dir (self, st->name, vm, sizeof vm);
    drv_fmt (log_path, sizeof log_path, "%s/firecracker.log", dir);
    drv_fmt (sock, sizeof sock, "%s/" FC_API_SOCK, vm);
    unlink (sock); /* Firecracker refuses to bind an existing path */
    char *argv[24], buf[4 * PATH_MAX];
    if (fc_argv (self, st->name, argv, 24, buf, sizeof buf) < 0)
        return driver_fail (err, DRIVER_ERR_INVALID, "firecracker: %s: command line too long",
                            st->name);
    int log_fd = open (log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    int report[2];
    if (log_fd < 0 || pipe2 (report, O_CLOEXEC) != 0) {
        if (log_fd >= 0)
            close (log_fd);
        return driver_fail (err, DRIVER_ERR_IO, "firecracker: %s: %s", st->name, strerror (errno));
    }
    /* Double fork: the VMM outlives a daemon restart and is never our
     * zombie; the middle process reports its pid. Unjailed, Firecracker
     * runs in vm/ so the relative paths it is given resolve there (the
     * jailer changes into the jail's root itself). */
    pid_t mid = fork ();
    if (mid == 0) {
        setsid ();
        pid_t vmm = fork ();
        if (vmm == 0) {
            dup2 (log_fd, 1);
            dup2 (log_fd, 2);
            if (chdir (vm) != 0)
                _exit (126);
            syscall (SYS_close_range, 3, ~0U, 0);
            execv (argv[0], argv);
            _exit (127);
        }
        ssize_t n = write (report[1], &vmm, sizeof vmm);
        _exit (vmm > 0 && n == (ssize_t) sizeof vmm ? 0 : 1);
    }
    close (report[1]);
    close (log_fd);
    pid_t vmm = -1;
    ssize_t n = mid > 0 ? read (report[0], &vmm, sizeof vmm) : -1;
    close (report[0]);
    if (mid > 0)
        while (waitpid (mid, NULL, 0) < 0 && errno == EINTR)
            ;
    if (n != (ssize_t) sizeof vmm || vmm <= 0)
        return driver_fail (err, DRIVER_ERR_IO, "firecracker: %s: cannot spawn %s", st->name,
                            argv[0]);
    st->pid = (uint64_t) vmm;
    st->starttime = drv_proc_starttime (vmm);
    /* The API socket appears once Firecracker is ready for calls. */
    for (int i = 0; i < 300; i++) {
        if (access (sock, F_OK) == 0)
            return 0;
        if (!drv_proc_alive (vmm, 0))
            break;
        usleep (10000);
    }
    kill (vmm, SIGKILL);
    return driver_fail (err, DRIVER_ERR_UNAVAILABLE, "firecracker: %s: %s did not open %s (see %s)",
                        st->name, argv[0], sock, log_path);
}

int
fc_jail_prepare (const fc_t *self, const char *name, driver_error_t *err)
{
    char vm[PATH_MAX], root[PATH_MAX], kernel[PATH_MAX + 16], why[DRIVER_MSG_MAX];
    fc_vm_dir (self, name, vm, sizeof vm);
    fc_jail_root (self, name, root, sizeof root);
    /* The kernel inside the jail: a hard link, or a copy across filesystems. */
    drv_fmt (kernel, sizeof kernel, "%s/" FC_KERNEL, vm);
    unlink (kernel);
    if (link (self->kernel, kernel) != 0 && fc_copy_file (self->kernel, kernel, why, sizeof why))
        return driver_fail (err, DRIVER_ERR_IO, "firecracker: %s: %s", name, why);
    /* The jailer drops to uid/gid before Firecracker opens anything. */
    const char *own[] = { "", "/" FC_ROOTFS, "/" FC_KERNEL, "/" FC_RESTORE_STATE,
                          "/" FC_RESTORE_MEM };
    for (size_t i = 0; i < sizeof own / sizeof own[0]; i++) {
        char p[PATH_MAX + 32];
        drv_fmt (p, sizeof p, "%s%s", vm, own[i]);
        if (chown (p, self->jailer_uid, self->jailer_gid) != 0 && errno != ENOENT)
            return driver_fail (err, DRIVER_ERR_PERMISSION, "firecracker: chown %s: %s", p,
                                strerror (errno));
    }
    if (shed_mkdir_p (root, 0700) != 0)
        return driver_fail (err, DRIVER_ERR_IO, "firecracker: mkdir %s: %s", root,
                            strerror (errno));
    struct stat a, b;
    if (stat (vm, &a) == 0 && stat (root, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino)
        return 0; /* bound already (a start after a daemon restart) */
    if (mount (vm, root, NULL, MS_BIND, NULL) != 0)
        return driver_fail (err, DRIVER_ERR_PERMISSION, "firecracker: bind %s on %s: %s", vm, root,
                            strerror (errno));
    return 0;
}

void
fc_jail_release (const fc_t *self, const char *name)
{
    char root[PATH_MAX];
    fc_jail_root (self, name, root, sizeof root);
    umount2 (root, MNT_DETACH);
    rmdir (root);
    char *slash = strrchr (root, '/');
    if (slash) {
        *slash = '\0';
        rmdir (root); /* <chroot_base>/firecracker/NAME */
    }
}

static int
s_copy_range (int in, int out, off_t from, off_t to, char *buf, size_t bufsize)
{
    while (from < to) {
        size_t want = (size_t) (to - from) < bufsize ? (size_t) (to - from) : bufsize;
        ssize_t n = pread (in, buf, want, from);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        for (ssize_t done = 0; done < n;) {
            ssize_t w = pwrite (out, buf + done, (size_t) (n - done), from + done);
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0)
                return -1;
            done += w;
        }
        from += n;
    }
    return 0;
}

int
fc_copy_file (const char *src, const char *dst, char *why, size_t size)
{
    int in = open (src, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return drv_why (why, size, "open %s: %s", src, strerror (errno));
    struct stat s;
    if (fstat (in, &s) != 0 || !S_ISREG (s.st_mode)) {
        close (in);
        return drv_why (why, size, "%s: not a regular file", src);
    }
    int out = open (dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (out < 0) {
        int saved = errno;
        close (in);
        return drv_why (why, size, "create %s: %s", dst, strerror (saved));
    }
    int rc = 0;
    /* A reflink shares the image's extents until either side writes:
     * instant, and no space used up front (btrfs, XFS with reflink). */
    if (ioctl (out, FICLONE, in) != 0) {
        /* Else copy only the data: an image's unused blocks stay holes. */
        size_t bufsize = 1 << 20;
        char *buf = (char *) malloc (bufsize);
        rc = buf && ftruncate (out, s.st_size) == 0 ? 0 : -1;
        off_t pos = 0;
        while (rc == 0 && pos < s.st_size) {
            off_t data = lseek (in, pos, SEEK_DATA);
            if (data < 0) {
                if (errno != ENXIO) /* ENXIO: only a hole is left */
                    rc = -1;
                break;
            }
            off_t hole = lseek (in, data, SEEK_HOLE);
            if (hole < 0)
                hole = s.st_size;
            rc = s_copy_range (in, out, data, hole, buf, bufsize);
            pos = hole;
        }
        free (buf);
    }
    if (rc == 0 && fsync (out) != 0)
        rc = -1;
    int saved = errno;
    close (in);
    close (out);
    if (rc != 0) {
        unlink (dst);
        return drv_why (why, size, "copy %s to %s: %s", src, dst, strerror (saved));
    }
    return 0;
}
