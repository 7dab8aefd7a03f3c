/*
 * oci_runtime.c - runc/crun commands (see oci_runtime.h).
 */
#include "node/drivers/oci_runtime.h"
#include "node/drivers/drv_state.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

struct _oci_runtime_t {
    char bin[PATH_MAX];
    char root[PATH_MAX];
};

const char *
oci_runtime_find (bool cgroup_v1)
{
    static const char *const runc[] = { "/usr/sbin/runc", "/usr/bin/runc", "/usr/local/sbin/runc",
                                        "/usr/local/bin/runc" };
    static const char *const crun[] = { "/usr/bin/crun", "/usr/local/bin/crun" };
    for (size_t i = 0; i < sizeof runc / sizeof runc[0]; i++)
        if (access (runc[i], X_OK) == 0)
            return runc[i];
    for (size_t i = 0; !cgroup_v1 && i < sizeof crun / sizeof crun[0]; i++)
        if (access (crun[i], X_OK) == 0)
            return crun[i];
    return NULL;
}

oci_runtime_t *
oci_runtime_new (const char *bin, const char *root, char *why, size_t why_size)
{
    if (!bin || access (bin, X_OK) != 0) {
        drv_why (why, why_size, "OCI runtime %s not found or not executable (apt-get install runc)",
                 bin ? bin : "(none)");
        return NULL;
    }
    if (strlen (bin) >= PATH_MAX || strlen (root) >= PATH_MAX - 64) {
        drv_why (why, why_size, "runtime path or state dir too long");
        return NULL;
    }
    oci_runtime_t *self = calloc (1, sizeof *self);
    if (!self) {
        drv_why (why, why_size, "out of memory");
        return NULL;
    }
    snprintf (self->bin, sizeof self->bin, "%s", bin);
    snprintf (self->root, sizeof self->root, "%s", root);
    return self;
}

void
oci_runtime_destroy (oci_runtime_t **self_p)
{
    if (self_p && *self_p) {
        free (*self_p);
        *self_p = NULL;
    }
}

const char *
oci_runtime_bin (oci_runtime_t *self)
{
    return self->bin;
}

/* Run the runtime with `args` (after --root ROOT); stdout into out (when
 * out_fd < 0), stderr into err. The child's stdout/stderr go to out_fd
 * when it is >= 0 (a detached container inherits them). Returns the exit
 * status or -1. Only async-signal-safe calls after fork (threaded daemon). */
static int
s_exec (oci_runtime_t *self, const char *const *args, int out_fd, char *out, size_t out_size,
        char *err, size_t err_size)
{
    const char *argv[24];
    size_t n = 0;
    argv[n++] = self->bin;
    argv[n++] = "--root";
    argv[n++] = self->root;
    for (size_t i = 0; args[i] && n < 23; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    int po[2] = { -1, -1 }, pe[2] = { -1, -1 };
    if ((out_fd < 0 && pipe2 (po, O_CLOEXEC) != 0) || pipe2 (pe, O_CLOEXEC) != 0) {
        if (po[0] >= 0) {
            close (po[0]);
            close (po[1]);
        }
        return -1;
    }
    int null_fd = open ("/dev/null", O_RDWR | O_CLOEXEC);
    pid_t pid = fork ();
    if (pid == 0) {
        dup2 (null_fd, 0);
        dup2 (out_fd >= 0 ? out_fd : po[1], 1);
        /* With a console, the runtime's own errors go to its --log file;
         * stderr must be the container's. */
        dup2 (out_fd >= 0 ? out_fd : pe[1], 2);
        /* execv's prototype predates const; it does not write argv. */
        union {
            const char **c;
            char *const *m;
        } args_for_exec = { .c = argv };
        execv (self->bin, args_for_exec.m);
        _exit (127);
    }
    if (null_fd >= 0)
        close (null_fd);
    if (po[1] >= 0)
        close (po[1]);
    close (pe[1]);
    if (pid < 0) {
        if (po[0] >= 0)
            close (po[0]);
        close (pe[0]);
        return -1;
    }
    /* Drain both pipes; outputs are small (state JSON, one error line). */
    size_t ho = 0, he = 0;
    int fds[2] = { po[0], pe[0] };
    char *bufs[2] = { out, err };
    size_t sizes[2] = { out ? out_size : 0, err ? err_size : 0 };
    size_t *have[2] = { &ho, &he };
    for (int i = 0; i < 2; i++) {
        if (fds[i] < 0)
            continue;
        char sink[512];
        ssize_t r;
        for (;;) {
            bool room = sizes[i] && *have[i] + 1 < sizes[i];
            r = read (fds[i], room ? bufs[i] + *have[i] : sink,
                      room ? sizes[i] - *have[i] - 1 : sizeof sink);
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0)
                break;
            if (room)
                *have[i] += (size_t) r;
        }
        if (sizes[i])
            bufs[i][*have[i]] = '\0';
        close (fds[i]);
    }
    int status = 0;
    while (waitpid (pid, &status, 0) < 0 && errno == EINTR)
        ;
    return WIFEXITED (status) ? WEXITSTATUS (status) : -1;
}

/* The last "msg" of a runc --log-format json file: the error it died of. */
static void
s_log_error (const char *log_path, char *why, size_t why_size)
{
    FILE *f = fopen (log_path, "re");
    if (!f)
        return;
    char line[2048];
    while (fgets (line, sizeof line, f)) {
        json_t *doc = json_loads (line, 0, NULL);
        const char *level = doc ? json_string_value (json_object_get (doc, "level")) : NULL;
        const char *msg = doc ? json_string_value (json_object_get (doc, "msg")) : NULL;
        if (msg && level && (!strcmp (level, "error") || !strcmp (level, "fatal"))) {
            snprintf (why, why_size, "%s", msg);
            for (char *p = why; *p; p++)
                if (*p == '\n' || *p == '\r')
                    *p = ' ';
        }
        json_decref (doc);
    }
    fclose (f);
}

int
oci_runtime_run (oci_runtime_t *self, const char *id, const char *bundle, int console_fd, int *pid,
                 char *why, size_t why_size)
{
    char pid_file[PATH_MAX], log_path[PATH_MAX];
    snprintf (pid_file, sizeof pid_file, "%.*s/runtime.pid", PATH_MAX - 32, bundle);
    snprintf (log_path, sizeof log_path, "%.*s/runtime.log", PATH_MAX - 32, bundle);
    unlink (pid_file);
    unlink (log_path);
    /* --log must come before the command: it is a global flag. */
    const char *args[] = { "--log",      log_path, "--log-format", "json", "run", "-d",
                           "--pid-file", pid_file, "--bundle",     bundle, id,    NULL };
    int rc = s_exec (self, args, console_fd, NULL, 0, NULL, 0);
    if (rc != 0) {
        if (rc == 127 || rc < 0)
            return drv_why (why, why_size, "cannot run %s", self->bin);
        drv_why (why, why_size, "%s run exited %d", self->bin, rc);
        s_log_error (log_path, why, why_size);
        return -1;
    }
    FILE *f = fopen (pid_file, "re");
    int p = 0;
    if (!f || fscanf (f, "%d", &p) != 1 || p <= 0) {
        if (f)
            fclose (f);
        return drv_why (why, why_size, "%s wrote no pid file", self->bin);
    }
    fclose (f);
    *pid = p;
    return 0;
}

oci_state_t
oci_runtime_state (oci_runtime_t *self, const char *id, int *pid)
{
    char out[4096] = "", err[512] = "";
    const char *args[] = { "state", id, NULL };
    *pid = 0;
    int rc = s_exec (self, args, -1, out, sizeof out, err, sizeof err);
    if (rc != 0)
        /* "container does not exist" (runc), "No such file" (crun). */
        return strstr (err, "does not exist") || strstr (err, "No such file")
                       || strstr (err, "not exist")
                   ? OCI_ST_ABSENT
                   : OCI_ST_UNKNOWN;
    json_t *doc = json_loads (out, 0, NULL);
    const char *status = doc ? json_string_value (json_object_get (doc, "status")) : NULL;
    oci_state_t st = OCI_ST_UNKNOWN;
    if (status) {
        if (!strcmp (status, "running"))
            st = OCI_ST_RUNNING;
        else if (!strcmp (status, "created"))
            st = OCI_ST_CREATED;
        else if (!strcmp (status, "paused"))
            st = OCI_ST_PAUSED;
        else if (!strcmp (status, "stopped"))
            st = OCI_ST_STOPPED;
    }
    json_t *p = doc ? json_object_get (doc, "pid") : NULL;
    if (json_is_integer (p) && st == OCI_ST_RUNNING)
        *pid = (int) json_integer_value (p);
    json_decref (doc);
    return st;
}

int
oci_runtime_kill (oci_runtime_t *self, const char *id, const char *signal, bool all, char *why,
                  size_t why_size)
{
    char err[512] = "";
    const char *with_all[] = { "kill", "--all", id, signal, NULL };
    const char *one[] = { "kill", id, signal, NULL };
    int rc = s_exec (self, all ? with_all : one, -1, NULL, 0, err, sizeof err);
    if (rc != 0) {
        char *nl = strchr (err, '\n');
        if (nl)
            *nl = '\0';
        return drv_why (why, why_size, "%s kill %s: %s", self->bin, id, err[0] ? err : "failed");
    }
    return 0;
}

int
oci_runtime_delete (oci_runtime_t *self, const char *id, char *why, size_t why_size)
{
    char err[512] = "";
    const char *args[] = { "delete", "-f", id, NULL };
    int rc = s_exec (self, args, -1, NULL, 0, err, sizeof err);
    if (rc != 0 && !strstr (err, "does not exist") && !strstr (err, "not exist")) {
        char *nl = strchr (err, '\n');
        if (nl)
            *nl = '\0';
        return drv_why (why, why_size, "%s delete %s: %s", self->bin, id, err[0] ? err : "failed");
    }
    return 0;
}

/* pause/resume: one command each, the runtime's error as the reason. */
static int
s_simple (oci_runtime_t *self, const char *cmd, const char *id, char *why, size_t why_size)
{
    char err[512] = "";
    const char *args[] = { cmd, id, NULL };
    int rc = s_exec (self, args, -1, NULL, 0, err, sizeof err);
    if (rc != 0) {
        char *nl = strchr (err, '\n');
        if (nl)
            *nl = '\0';
        return drv_why (why, why_size, "%s %s %s: %s", self->bin, cmd, id,
                        err[0]                ? err
                        : rc < 0 || rc == 127 ? "cannot run"
                                              : "failed");
    }
    return 0;
}

int
oci_runtime_pause (oci_runtime_t *self, const char *id, char *why, size_t why_size)
{
    return s_simple (self, "pause", id, why, why_size);
}

int
oci_runtime_resume (oci_runtime_t *self, const char *id, char *why, size_t why_size)
{
    return s_simple (self, "resume", id, why, why_size);
}
