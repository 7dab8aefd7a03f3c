/* ctl_provision.c - `shedctl provision NAME --step CMD... [--file F]
 * [--user U] [--keep-going] [--timeout-run DURATION]`: run steps in a shed's agent.
 *
 * The request (API_PROVISION_REQ) is answered when the run is over, with
 * every step's result; meanwhile the steps' output and results stream on
 * the bus (provision.<node>.<NAME>, proc.<node>.<NAME>). So the call waits
 * in a second thread while this one prints the stream; the run id is ours
 * (random), so we know our run's events before the answer comes. Exit 0
 * when every step succeeded, 1 otherwise.
 *
 * Any node will do: a node without the shed sends the run to the shed's
 * node (agents.provision over the node RPC) and relays its answer; the
 * stream comes over the bus as usual. */
#include "agent/proto/agent_proto.h"
#include "bridges/bus_client.h"
#include "node/ctl/ctl.h"

#include <czmq.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_DRAIN_MS 1500 /* after the answer: wait this long for the tail of the stream */

typedef struct {
    const char *endpoint;
    api_msg_t req;
    api_msg_t rep;
    int timeout_ms;
    int rc;
    char err[512];
    atomic_bool done;
} s_call_t;

static void *
s_call_thread (void *arg)
{
    s_call_t *c = arg;
    c->rc = shed_api_call (c->endpoint, &c->req, &c->rep, c->timeout_ms, c->err, sizeof c->err);
    atomic_store (&c->done, true);
    return NULL;
}

/* Steps from a file: one shell command per line; blank lines and lines
 * starting with # are skipped. */
static int
s_read_file (const char *path, api_provstep_t *steps, size_t *n)
{
    FILE *f = fopen (path, "r");
    if (!f)
        return ctl_fail ("%s: %s", path, strerror (errno));
    char line[4200];
    int rc = 0;
    while (fgets (line, sizeof line, f)) {
        size_t len = strlen (line);
        while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = '\0';
        const char *cmd = line + strspn (line, " \t");
        if (!*cmd || *cmd == '#')
            continue;
        if (*n >= API_PROV_STEPS_MAX) {
            rc = ctl_fail ("%s: more than %d steps", path, API_PROV_STEPS_MAX);
            break;
        }
        if (strlen (cmd) >= sizeof steps[0].cmd) {
            rc = ctl_fail ("%s: a step longer than %zu bytes", path, sizeof steps[0].cmd - 1);
            break;
        }
        snprintf (steps[*n].cmd, sizeof steps[0].cmd, "%s", cmd);
        (*n)++;
    }
    fclose (f);
    return rc;
}

/* Print a chunk of a step's output, each line prefixed with the step. */
static void
s_output (const char *step, const uint8_t *data, size_t len, bool *bol)
{
    for (size_t i = 0; i < len; i++) {
        if (*bol)
            printf ("[%s] ", step);
        putchar (data[i] ? data[i] : '?');
        *bol = data[i] == '\n';
    }
    fflush (stdout);
}

int
ctl_provision (ctl_t *ctl, int argc, char **argv)
{
    static const char *usage = "usage: provision NAME --step CMD [--step CMD]... [--file F] "
                               "[--user U] [--keep-going] [--timeout-run DURATION]";
    const char *name = NULL, *user = "";
    bool keep_going = false;
    double run_s = 600;
    api_provstep_t *steps = calloc (API_PROV_STEPS_MAX, sizeof *steps);
    size_t nsteps = 0;
    int rc = 0;
    for (int i = 1; i < argc && rc == 0; i++) {
        if (!strcmp (argv[i], "--step") && i + 1 < argc) {
            if (nsteps >= API_PROV_STEPS_MAX)
                rc = ctl_fail ("at most %d steps", API_PROV_STEPS_MAX);
            else if (strlen (argv[i + 1]) >= sizeof steps[0].cmd)
                rc = ctl_fail ("a step longer than %zu bytes", sizeof steps[0].cmd - 1);
            else
                snprintf (steps[nsteps++].cmd, sizeof steps[0].cmd, "%s", argv[i + 1]);
            i++;
        }
        else if (!strcmp (argv[i], "--file") && i + 1 < argc)
            rc = s_read_file (argv[++i], steps, &nsteps);
        else if (!strcmp (argv[i], "--user") && i + 1 < argc)
            user = argv[++i];
        else if (!strcmp (argv[i], "--keep-going"))
            keep_going = true;
        else if (!strcmp (argv[i], "--timeout-run") && i + 1 < argc) {
            /* "90s", "10m"; a bare number is seconds, as it always was */
            uint64_t ms;
            if (ctl_duration_arg ("--timeout-run", argv[++i], 1000, 1000, 86400000, &ms))
                rc = 1;
            else
                run_s = (double) ms / 1000.0;
        }
        else if (argv[i][0] != '-' && !name)
            name = argv[i];
        else
            rc = ctl_fail ("%s", usage);
    }
    if (rc == 0 && (!name || nsteps == 0))
        rc = ctl_fail ("%s", usage);
    if (rc == 0 && (strlen (name) > AGENT_NAME_MAX || strlen (user) > 32))
        rc = ctl_fail ("shed or user name too long");
    if (rc) {
        free (steps);
        return rc;
    }
    for (size_t i = 0; i < nsteps; i++)
        snprintf (steps[i].name, sizeof steps[i].name, "step-%zu", i + 1);

    /* Follow the run's events before it starts: the snapshot round trip
     * makes sure the node has our subscriptions. */
    ctl_feed_t *client = ctl_bus_connect (ctl);
    if (!client) {
        free (steps);
        return 1;
    }
    char owner[64] = "";
    ctl_shed_node (ctl, name, owner, sizeof owner);
    ctl_subscribe_shed (ctl, client, "provision.", owner, name);
    ctl_subscribe_shed (ctl, client, "proc.", owner, name);
    ctl_feed_snapshot (client, ctl->timeout_ms);

    s_call_t *call = calloc (1, sizeof *call);
    call->endpoint = ctl->endpoint;
    call->timeout_ms = (int) (run_s * 1000) + ctl->timeout_ms;
    call->req.hdr.type = API_PROVISION_REQ;
    api_provision_req_t *r = &call->req.u.api_provision_req;
    snprintf (r->shed, sizeof r->shed, "%s", name);
    snprintf (r->user, sizeof r->user, "%s", user);
    r->keep_going = keep_going;
    r->steps.n = nsteps;
    r->steps.items = steps;
    /* 53 bits: survives any JSON tool that reads numbers as doubles */
    uint64_t run = 0;
    while (run == 0) {
        randombytes_buf (&run, sizeof run);
        run &= (1ull << 53) - 1;
    }
    r->run = run;
    r->timeout_ms = (uint64_t) (run_s * 1000);
    atomic_init (&call->done, false);
    pthread_t thread;
    if (pthread_create (&thread, NULL, s_call_thread, call) != 0) {
        ctl_feed_destroy (&client);
        free (call);
        free (steps);
        return ctl_fail ("cannot start a thread");
    }
    if (!ctl->json)
        fprintf (stderr, "shedctl: run %" PRIu64 ": %zu step(s) on shed %s\n", run, nsteps, name);

    bool seen_done = false, bol = true;
    int64_t drain_until = 0;
    size_t last_step = SIZE_MAX;
    while (!zsys_interrupted) {
        if (atomic_load (&call->done)) {
            if (call->rc != 0 || call->rep.hdr.type != API_PROVISION_REP || seen_done)
                break;
            if (!drain_until)
                drain_until = zclock_mono () + S_DRAIN_MS;
            else if (zclock_mono () >= drain_until)
                break;
        }
        bus_event_t ev;
        if (ctl_feed_recv (client, &ev, 100) != 0)
            continue;
        char node[64], shed[AGENT_NAME_MAX + 1];
        const char *prefix = !strncmp (ev.topic, "proc.", 5) ? "proc." : "provision.";
        if (ctl_topic_split (ev.topic, prefix, node, sizeof node, shed, sizeof shed) != 0
            || strcmp (shed, name))
            continue;
        agent_msg_t m;
        if (wire_decode (&agent_proto, ev.payload, ev.size, &m, NULL) != WIRE_OK)
            continue;
        if (m.hdr.type == AGENT_PROVISION_OUTPUT && m.u.agent_provision_output.run == run
            && !ctl->json) {
            const agent_provision_output_t *o = &m.u.agent_provision_output;
            if (o->step < nsteps) {
                if (o->step != last_step && !bol) {
                    putchar ('\n');
                    bol = true;
                }
                last_step = o->step;
                s_output (steps[o->step].name, o->data.data, o->data.len, &bol);
            }
        }
        else if (m.hdr.type == AGENT_PROC_EVENT && m.u.agent_proc_event.kind == AGENT_PROC_STEP_DONE
                 && m.u.agent_proc_event.run == run && !ctl->json) {
            const agent_proc_event_t *p = &m.u.agent_proc_event;
            if (!bol) {
                putchar ('\n');
                bol = true;
            }
            printf ("--- %s: exit %" PRId64 "%s in %" PRIu64 " ms\n", p->name, p->exit_code,
                    p->signal ? " (signal)" : "", p->duration_ms);
            fflush (stdout);
        }
        else if (m.hdr.type == AGENT_PROVISION_DONE && m.u.agent_provision_done.run == run)
            seen_done = true;
        wire_msg_free (&agent_proto, &m);
    }
    if (zsys_interrupted) {
        /* The run goes on in the shed; we only stop watching. */
        pthread_detach (thread);
        ctl_feed_destroy (&client);
        fprintf (stderr, "shedctl: interrupted; run %" PRIu64 " continues in the shed\n", run);
        return 130;
    }
    pthread_join (thread, NULL);
    ctl_feed_destroy (&client);
    if (!bol)
        putchar ('\n');

    if (call->rc != 0)
        rc = ctl_fail ("%s", call->err);
    else if (call->rep.hdr.type == API_ERROR)
        rc = ctl_fail ("%s", call->rep.u.api_error.message);
    else if (call->rep.hdr.type != API_PROVISION_REP)
        rc = ctl_fail ("unexpected reply type %u from the node", call->rep.hdr.type);
    else {
        const api_provision_rep_t *x = &call->rep.u.api_provision_rep;
        const api_provresult_t *res = x->steps.items;
        if (ctl->json) {
            jw_t j;
            jw_init (&j, stdout);
            jw_obj_begin (&j);
            /* clang-format off */
            jw_key (&j, "shed");        jw_str (&j, name);
            jw_key (&j, "node");        jw_str (&j, x->node);
            jw_key (&j, "run");         jw_u64 (&j, x->run);
            jw_key (&j, "ok");          jw_bool (&j, x->ok);
            jw_key (&j, "failed_step"); jw_i64 (&j, x->failed_step);
            jw_key (&j, "error");       jw_str (&j, x->error);
            /* clang-format on */
            jw_key (&j, "steps");
            jw_arr_begin (&j);
            for (size_t i = 0; i < x->steps.n; i++) {
                jw_obj_begin (&j);
                /* clang-format off */
                jw_key (&j, "name");        jw_str (&j, res[i].name);
                jw_key (&j, "cmd");         jw_str (&j, i < nsteps ? steps[i].cmd : "");
                jw_key (&j, "ran");         jw_bool (&j, res[i].ran);
                jw_key (&j, "exit_code");   jw_i64 (&j, res[i].exit_code);
                jw_key (&j, "signal");      jw_u64 (&j, res[i].signal);
                jw_key (&j, "duration_ms"); jw_u64 (&j, res[i].duration_ms);
                /* clang-format on */
                jw_obj_end (&j);
            }
            jw_arr_end (&j);
            jw_obj_end (&j);
            jw_end (&j);
        }
        else {
            printf ("\n%-8s %-10s %6s %10s  %s\n", "STEP", "RESULT", "EXIT", "DURATION", "COMMAND");
            for (size_t i = 0; i < x->steps.n; i++) {
                const char *what = !res[i].ran             ? "not run"
                                   : res[i].signal         ? "killed"
                                   : res[i].exit_code == 0 ? "ok"
                                                           : "failed";
                char code[24] = "-", dur[32] = "-";
                if (res[i].ran) {
                    snprintf (code, sizeof code, "%" PRId64, res[i].exit_code);
                    ctl_format_duration (res[i].duration_ms, dur, sizeof dur);
                }
                printf ("%-8s %-10s %6s %10s  %s\n", res[i].name, what, code, dur,
                        i < nsteps ? steps[i].cmd : "");
            }
            printf ("run %" PRIu64 " on %s: %s%s%s\n", x->run, x->node, x->ok ? "ok" : "FAILED",
                    x->error[0] ? ": " : "", x->error);
        }
        rc = x->ok ? 0 : 1;
    }
    if (call->rc == 0)
        wire_msg_free (&api_proto, &call->rep);
    free (call);
    free (steps);
    return rc;
}
