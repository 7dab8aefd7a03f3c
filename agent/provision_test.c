/*
 * provision_test.c - the provisioner driven directly (no host, no socket):
 * who a step runs as. As root: the shed user (provision_user) when the run
 * names none, the run's own user over it, and a shed user that does not
 * exist failing the step with a clear message. Not root: skipped, users
 * are ignored there. Also the provision_user key and --provision-user.
 */
#include "agent/config.h"
#include "agent/proto/agent_proto.h"
#include "agent/proto/agent_bucket.h"
#include "agent/provision.h"

#include <fcntl.h>
#include <poll.h>
#include <pwd.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

/* What the provisioner emitted for one run. */
typedef struct {
    char out[4096], err[4096];
    size_t out_len, err_len;
    int64_t exit_code; /* of the last STEP_DONE */
    int step_done;
    bool done, ok;
    char error[AGENT_TEXT_MAX + 1];
} s_seen_t;

static void
s_emit (void *ctx, const agent_msg_t *msg)
{
    s_seen_t *seen = ctx;
    if (msg->hdr.type == AGENT_PROVISION_OUTPUT) {
        const agent_provision_output_t *o = &msg->u.agent_provision_output;
        char *buf = o->fd == AGENT_FD_STDOUT ? seen->out : seen->err;
        size_t *len = o->fd == AGENT_FD_STDOUT ? &seen->out_len : &seen->err_len;
        size_t n = o->data.len;
        if (n > sizeof seen->out - 1 - *len)
            n = sizeof seen->out - 1 - *len;
        memcpy (buf + *len, o->data.data, n);
        *len += n;
        buf[*len] = '\0';
    }
    else if (msg->hdr.type == AGENT_PROC_EVENT
             && msg->u.agent_proc_event.kind == AGENT_PROC_STEP_DONE) {
        seen->step_done++;
        seen->exit_code = msg->u.agent_proc_event.exit_code;
    }
    else if (msg->hdr.type == AGENT_PROVISION_DONE) {
        seen->done = true;
        seen->ok = msg->u.agent_provision_done.ok;
        snprintf (seen->error, sizeof seen->error, "%s", msg->u.agent_provision_done.error);
    }
    /* Every message the provisioner emits must pass the validator. */
    uint8_t *buf = NULL;
    size_t len = 0;
    assert_int_equal (wire_encode (&agent_proto, msg, &buf, &len), 0);
    free (buf);
}

/* One run of one step `cmd` as `user` ("" = none named) through a
 * provisioner whose shed user is `shed_user` (NULL = not set), driven the
 * way agent.c drives it: poll its fds, reap, tick. */
/* When set: the provisioner's etc root and default user (NULL: not set,
 * the host's /etc and no default). */
static const char *s_etc_root;
static const char *s_default_user;

static s_seen_t
s_run (const char *shed_user, const char *user, const char *cmd)
{
    s_seen_t seen;
    memset (&seen, 0, sizeof seen);
    agent_provisioner_t *p = agent_provisioner_new (s_emit, &seen);
    assert_non_null (p);
    if (shed_user)
        assert_int_equal (agent_provisioner_set_user (p, shed_user), 0);
    if (s_etc_root)
        assert_int_equal (agent_provisioner_set_etc_root (p, s_etc_root), 0);
    if (s_default_user)
        assert_int_equal (agent_provisioner_set_default_user (p, s_default_user), 0);

    /* Through the codec, so the message owns its storage as a decoded one. */
    agent_step_t step;
    memset (&step, 0, sizeof step);
    snprintf (step.name, sizeof step.name, "who");
    snprintf (step.cmd, sizeof step.cmd, "%s", cmd);
    step.timeout_ms = 10000;
    agent_msg_t msg;
    memset (&msg, 0, sizeof msg);
    msg.hdr.type = AGENT_PROVISION;
    msg.u.agent_provision.run = 7;
    snprintf (msg.u.agent_provision.user, sizeof msg.u.agent_provision.user, "%s", user);
    msg.u.agent_provision.steps.n = 1;
    msg.u.agent_provision.steps.items = &step;
    uint8_t *buf = NULL;
    size_t len = 0;
    assert_int_equal (wire_encode (&agent_proto, &msg, &buf, &len), 0);
    agent_msg_t in;
    assert_int_equal (wire_decode (&agent_proto, buf, len, &in, NULL), 0);
    free (buf);
    assert_int_equal (agent_provisioner_submit (p, &in), 0);

    int64_t until = agent_clock_mono_ms () + 15000;
    while (!seen.done && agent_clock_mono_ms () < until) {
        agent_watch_t w[8];
        size_t n = agent_provisioner_watches (p, w, 8);
        struct pollfd pfd[8];
        for (size_t i = 0; i < n; i++)
            pfd[i] = (struct pollfd){ w[i].fd, w[i].events, 0 };
        poll (pfd, n, 20);
        for (size_t i = 0; i < n; i++)
            if (pfd[i].revents)
                w[i].fn (w[i].arg, pfd[i].fd, pfd[i].revents);
        int status;
        pid_t pid;
        while ((pid = waitpid (-1, &status, WNOHANG)) > 0)
            agent_provisioner_reaped (p, pid, status);
        agent_provisioner_tick (p, agent_clock_mono_ms ());
    }
    assert_true (seen.done);
    assert_int_equal (seen.step_done, 1);
    assert_false (agent_provisioner_busy (p));
    agent_provisioner_destroy (&p);
    assert_null (p);
    return seen;
}

static void
test_shed_user (void **state)
{
    (void) state;
    if (geteuid () != 0) {
        /* Users are ignored unless the agent is root. */
        print_message ("SKIP test_shed_user: needs root (users are ignored otherwise)\n");
        skip ();
    }
    struct passwd *pw = getpwnam ("nobody");
    if (!pw) {
        print_message ("SKIP test_shed_user: no user 'nobody' here\n");
        skip ();
    }
    char nobody_uid[32];
    snprintf (nobody_uid, sizeof nobody_uid, "%u\n", (unsigned) pw->pw_uid); /* 65534 */

    /* The shed user, when the run names none. */
    s_seen_t s = s_run ("nobody", "", "id -u");
    assert_true (s.ok);
    assert_int_equal (s.exit_code, 0);
    assert_string_equal (s.out, nobody_uid);

    /* The run's own user wins over it. */
    s = s_run ("nobody", "root", "id -u");
    assert_true (s.ok);
    assert_string_equal (s.out, "0\n");

    /* No shed user, no run user: the agent's own (root here). */
    s = s_run (NULL, "", "id -u");
    assert_true (s.ok);
    assert_string_equal (s.out, "0\n");

    /* A shed user that does not exist: the step fails, and says why, on
     * its stderr and in the run's error; nothing ran. */
    s = s_run ("no-such-user-shed-test", "", "echo ran");
    assert_false (s.ok);
    assert_int_equal (s.exit_code, 127);
    assert_string_equal (s.out, "");
    assert_non_null (strstr (s.err, "no such user 'no-such-user-shed-test'"));
    assert_non_null (strstr (s.error, "no such user 'no-such-user-shed-test'"));
}

static void
s_write (const char *dir, const char *rel, const char *text)
{
    char path[256];
    snprintf (path, sizeof path, "%s/%s", dir, rel);
    FILE *f = fopen (path, "w");
    assert_non_null (f);
    fputs (text, f);
    fclose (f);
}

/* The default user `shed`, from a shed's own etc tree (not the host's):
 * taken when it exists and nothing else names a user, with its groups
 * (supplementary ones from etc/group, root's dropped), HOME, USER,
 * LOGNAME and a user's PATH; root still available by name; an explicit
 * shed user wins; no `shed` in the tree: root, as before. */
static void
test_default_user (void **state)
{
    (void) state;
    if (geteuid () != 0) {
        print_message ("SKIP test_default_user: needs root (users are ignored otherwise)\n");
        skip ();
    }
    char dir[] = "/tmp/agent-provision-etc-XXXXXX";
    assert_non_null (mkdtemp (dir));
    char etc[64];
    snprintf (etc, sizeof etc, "%s/etc", dir);
    assert_int_equal (mkdir (etc, 0755), 0);
    s_write (dir, "etc/passwd",
             "root:x:0:0:root:/root:/bin/sh\n"
             "shed:x:4242:4243:Shed:/home/shed:/bin/sh\n"
             "dev:x:4300:4300::/home/dev:/bin/sh\n");
    s_write (dir, "etc/group",
             "root:x:0:\nshed:x:4243:\nusers:x:4244:dev,shed\n"
             "wheel:x:4245:root\n");
    s_etc_root = dir;
    s_default_user = "shed";

    s_seen_t s = s_run (NULL, "",
                        "echo $(id -u) $(id -g) $(id -G); echo $HOME $USER $LOGNAME;"
                        " echo $PATH");
    assert_true (s.ok);
    assert_string_equal (s.out, "4242 4243 4243 4244\n/home/shed shed shed\n"
                                "/usr/local/bin:/usr/bin:/bin\n");

    /* Root inside is still there when a run asks for it. */
    s = s_run (NULL, "root", "echo $(id -u) $(id -G) $HOME $USER; echo $PATH");
    assert_true (s.ok);
    assert_string_equal (s.out, "0 0 4245 /root root\n"
                                "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n");

    /* provision_user wins over the default. */
    s = s_run ("dev", "", "id -u");
    assert_true (s.ok);
    assert_string_equal (s.out, "4300\n");

    /* No `shed` in this shed: the agent's own user, as before. */
    s_write (dir, "etc/passwd", "root:x:0:0:root:/root:/bin/sh\n");
    s = s_run (NULL, "", "id -u");
    assert_true (s.ok);
    assert_string_equal (s.out, "0\n");
    /* No passwd at all (a scratch image): root still works by name. */
    char path[128];
    snprintf (path, sizeof path, "%s/etc/passwd", dir);
    unlink (path);
    s = s_run (NULL, "root", "id -u");
    assert_true (s.ok);
    assert_string_equal (s.out, "0\n");
    s = s_run (NULL, "shed", "id -u");
    assert_false (s.ok);
    assert_int_equal (s.exit_code, 127);

    s_etc_root = NULL;
    s_default_user = NULL;
    snprintf (path, sizeof path, "%s/etc/group", dir);
    unlink (path);
    rmdir (etc);
    rmdir (dir);
}

/* Every PROVISION_DONE, in order. */
typedef struct {
    int n;
    uint64_t run[8];
    bool ok[8];
    uint64_t steps_run[8];
    char error[8][AGENT_TEXT_MAX + 1];
} s_dones_t;

static void
s_emit_done (void *ctx, const agent_msg_t *msg)
{
    s_dones_t *d = ctx;
    if (msg->hdr.type != AGENT_PROVISION_DONE || d->n == 8)
        return;
    const agent_provision_done_t *x = &msg->u.agent_provision_done;
    d->run[d->n] = x->run;
    d->ok[d->n] = x->ok;
    d->steps_run[d->n] = x->steps_run;
    snprintf (d->error[d->n], sizeof d->error[d->n], "%s", x->error);
    d->n++;
}

static void
s_submit (agent_provisioner_t *p, uint64_t run, const char *cmd1, const char *cmd2)
{
    agent_step_t steps[2];
    memset (steps, 0, sizeof steps);
    snprintf (steps[0].name, sizeof steps[0].name, "one");
    snprintf (steps[0].cmd, sizeof steps[0].cmd, "%s", cmd1);
    snprintf (steps[1].name, sizeof steps[1].name, "two");
    snprintf (steps[1].cmd, sizeof steps[1].cmd, "%s", cmd2);
    agent_msg_t msg;
    memset (&msg, 0, sizeof msg);
    msg.hdr.type = AGENT_PROVISION;
    msg.u.agent_provision.run = run;
    msg.u.agent_provision.steps.n = 2;
    msg.u.agent_provision.steps.items = steps;
    uint8_t *buf = NULL;
    size_t len = 0;
    assert_int_equal (wire_encode (&agent_proto, &msg, &buf, &len), 0);
    agent_msg_t in;
    assert_int_equal (wire_decode (&agent_proto, buf, len, &in, NULL), 0);
    free (buf);
    agent_provisioner_submit (p, &in);
}

/* The agent stops (SIGTERM): the running step gets SIGTERM, the next step
 * of its run does not start, the run ends "killed by signal 15", a
 * waiting run ends "agent stopping" at once, a new run is refused so. */
static void
test_stop (void **state)
{
    (void) state;
    s_dones_t d;
    memset (&d, 0, sizeof d);
    agent_provisioner_t *p = agent_provisioner_new (s_emit_done, &d);
    assert_non_null (p);
    s_submit (p, 1, "sleep 30", "echo never");
    s_submit (p, 2, "echo queued", "echo queued");
    usleep (100 * 1000);
    agent_provisioner_stop (p);
    assert_int_equal (d.n, 1);
    assert_int_equal (d.run[0], 2);
    assert_false (d.ok[0]);
    assert_string_equal (d.error[0], "agent stopping");
    s_submit (p, 3, "echo late", "echo late");
    assert_int_equal (d.n, 2);
    assert_int_equal (d.run[1], 3);
    assert_string_equal (d.error[1], "agent stopping");

    int64_t until = agent_clock_mono_ms () + 10000;
    while (agent_provisioner_busy (p) && agent_clock_mono_ms () < until) {
        agent_watch_t w[8];
        size_t n = agent_provisioner_watches (p, w, 8);
        struct pollfd pfd[8];
        for (size_t i = 0; i < n; i++)
            pfd[i] = (struct pollfd){ w[i].fd, w[i].events, 0 };
        poll (pfd, n, 20);
        for (size_t i = 0; i < n; i++)
            if (pfd[i].revents)
                w[i].fn (w[i].arg, pfd[i].fd, pfd[i].revents);
        int status;
        pid_t pid;
        while ((pid = waitpid (-1, &status, WNOHANG)) > 0)
            agent_provisioner_reaped (p, pid, status);
        agent_provisioner_tick (p, agent_clock_mono_ms ());
    }
    assert_false (agent_provisioner_busy (p));
    assert_int_equal (d.n, 3);
    assert_int_equal (d.run[2], 1);
    assert_false (d.ok[2]);
    assert_int_equal (d.steps_run[2], 1); /* "two" never ran */
    assert_non_null (strstr (d.error[2], "killed by signal 15"));
    agent_provisioner_destroy (&p);
}

static void
test_set_user_bounds (void **state)
{
    (void) state;
    s_seen_t seen;
    agent_provisioner_t *p = agent_provisioner_new (s_emit, &seen);
    char name[AGENT_USER_MAX + 2];
    memset (name, 'u', sizeof name);
    name[AGENT_USER_MAX] = '\0';
    assert_int_equal (agent_provisioner_set_user (p, name), 0);
    name[AGENT_USER_MAX] = 'u';
    name[AGENT_USER_MAX + 1] = '\0';
    assert_int_equal (agent_provisioner_set_user (p, name), -1);
    assert_int_equal (agent_provisioner_set_user (p, NULL), 0);
    assert_int_equal (agent_provisioner_set_default_user (p, name), -1);
    assert_int_equal (agent_provisioner_set_default_user (p, "shed"), 0);
    assert_int_equal (agent_provisioner_set_etc_root (p, ""), -1);
    assert_int_equal (agent_provisioner_set_etc_root (p, NULL), -1);
    assert_int_equal (agent_provisioner_set_etc_root (p, "/"), 0);
    agent_provisioner_destroy (&p);
}

static void
test_config (void **state)
{
    (void) state;
    agent_config_t *cfg = malloc (sizeof *cfg);
    assert_non_null (cfg);
    agent_config_defaults (cfg);
    assert_string_equal (cfg->provision_user, "");
    char err[256];

    char path[] = "/tmp/agent-provision-test-XXXXXX";
    int fd = mkstemp (path);
    assert_true (fd >= 0);
    const char *yaml = "shed: dev-1\nprovision_user: dev\n";
    assert_int_equal (write (fd, yaml, strlen (yaml)), (ssize_t) strlen (yaml));
    close (fd);
    assert_int_equal (agent_config_load (cfg, path, err, sizeof err), 0);
    assert_string_equal (cfg->provision_user, "dev");

    /* The flag wins over the file. */
    char *argv[] = { "shed-agent", "--config", path, "--provision-user", "nobody", NULL };
    agent_config_defaults (cfg);
    assert_int_equal (agent_config_args (cfg, 5, argv, err, sizeof err), 0);
    assert_string_equal (cfg->provision_user, "nobody");
    unlink (path);

    char *too_long[] = { "shed-agent", "--provision-user", "a-user-name-longer-than-32-bytes-x",
                         NULL };
    agent_config_defaults (cfg);
    assert_int_equal (agent_config_args (cfg, 3, too_long, err, sizeof err), -1);
    assert_non_null (strstr (err, "--provision-user"));
    free (cfg);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_shed_user), cmocka_unit_test (test_default_user),
        cmocka_unit_test (test_stop),      cmocka_unit_test (test_set_user_bounds),
        cmocka_unit_test (test_config),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
