/*
 * shedctl.c - the command-line client of shed-node.
 *
 *   shedctl [--addr ENDPOINT] [--json] [--timeout DURATION] COMMAND [ARGS]
 *
 * Talks to the local node's API (ipc://<data_dir>/api.sock by default, or
 * $SHED_ADDR; like consul's and nomad's -address / CONSUL_HTTP_ADDR), or
 * to a remote node's over HTTPS (--addr https://node:PORT with a token:
 * the same requests, node/api/api_client_http.h, docs/cli.md).
 * Tables for people, --json for scripts; on failure a one-line reason on
 * stderr and a non-zero exit.
 */
#include "common/duration.h"
#include "common/version.h"
#include "node/config.h"
#include "node/ctl/ctl.h"

#include "common/fileutil.h"

#include <czmq.h>
#include <errno.h>
#include <getopt.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef struct {
    const char *name;
    ctl_cmd_fn *fn;
    const char *usage;
} ctl_cmd_t;

/* clang-format off */
static const ctl_cmd_t s_commands[] = {
    { "status", ctl_status_any,
      "status [NAME]          the node's name, key, version, uptime; with NAME: that shed's\n"
      "    live resource use (CPU, memory, disk, net, load, processes) from its metrics" },
    { "keygen", ctl_keygen, "keygen [--identity DIR] print a new random cluster key, or create a\n"
      "                                   remote consumer's identity in DIR and print its public key" },
    { "members", ctl_members,
      "members [--status S] [--tag K=V]  cluster members (S: alive|suspect|failed|left)" },
    { "join", ctl_join,     "join HOST[:PORT]...    join a cluster through these nodes" },
    { "leave", ctl_leave,   "leave                  leave the cluster gracefully" },
    { "force-leave", ctl_force_leave,
                            "force-leave NODE       drop a failed node from every node now" },
    { "tags", ctl_tags,     "tags set K=V... | tags unset K...  change this node's tags" },
    { "keys", ctl_keys,
      "keys list | install KEY | use KEY | remove KEY  cluster keyring, on every node" },
    { "state", ctl_state,   "state [KIND]           replicated records held by this node" },
    { "network", ctl_network,
      "network | network attach|detach SHED  overlay: blocks, peers, sessions; address a shed" },
    { "events", ctl_events,
      "events [--snapshot] [--count N] [--timeout DURATION] [PREFIX...]  follow the cluster's\n"
      "    events" },
    { "agents", ctl_agents, "agents [SHED]          agent channels of this node's sheds" },
    { "top", ctl_top,       "top [--once] [--interval DURATION]  every shed in the cluster by CPU,\n"
      "    refreshed (default every 2s)" },
    { "logs", ctl_logs,
      "logs NAME [--follow] [--stream S] [--tail N]  a shed's recent log lines (then live)" },
    { "provision", ctl_provision,
      "provision NAME --step CMD... [--file F] [--user U] [--keep-going]\n"
      "    [--timeout-run DURATION]\n"
      "    run steps in the shed's agent, stream their output, print the results" },
    { "services", ctl_services,
      "services [--all] | show NAME | register NAME --port P [...] | deregister NAME|ID |\n"
      "    watch [NAME]         the service catalog (see 'shedctl services register' usage)" },
    { "create", ctl_create,
      "create NAME [--cpus N] [--memory SIZE] [--disk SIZE] [--gpus N] [--node NODE]\n"
      "    [--constraint K=V|K>=N|K!=V]... [--strategy binpack|spread] [--tag k=v]...\n"
      "    [--image I] [--from-snapshot S] [--request-id ID] [--wait DURATION] [--quiet]\n"
      "    create a shed somewhere with room (--node: on that node), printing its phases\n"
      "    on stderr as they happen; then wait for its agent (--wait, default 10s)" },
    { "move", ctl_move,     "move SHED [--to NODE]  move a shed to another node (placement picks\n"
      "                       one without --to), keeping its name, address and data" },
    { "snapshot", ctl_snapshot,
      "snapshot create SHED [--name N] [--live|--stop] | list [--shed S] | show N | rm N\n"
      "                       snapshots of sheds, listed cluster-wide" },
    { "list", ctl_list,     "list [--node NODE]     every shed in the cluster, with node and state" },
    { "show", ctl_show,     "show NAME[@NODE]       one shed" },
    { "start", ctl_start,   "start NAME[@NODE] [--request-id ID]  start a stopped shed (on its node)" },
    { "stop", ctl_stop,     "stop NAME[@NODE] [--request-id ID]  stop a shed, keeping it" },
    { "delete", ctl_delete, "delete NAME[@NODE] [--force] [--request-id ID]  delete a shed (--force: forget\n"
      "    a lost one; --request-id: a retry after \"outcome unknown\" is safe)" },
    { "node", ctl_node,     "node drain [NODE] [--move] | undrain [NODE]  stop/resume placing new\n"
      "                       sheds on a node; --move also moves its sheds away" },
    { "token", ctl_token,
      "token create --role read|operator [--name N] [--ttl 30d] | list | revoke ID  bearer\n"
      "    tokens of the remote HTTP API (docs/api.md), valid on every node; create prints\n"
      "    the token once; --ttl: it expires after that long (default: never)" },
    { "image", ctl_image,
      "image import NAME FILE | list | show NAME | rm NAME  root file system images on this\n"
      "    node (FILE: tar, tar.gz or tar.zst, read by shedctl and sent to the node)" },
};
/* clang-format on */

static void
s_usage (FILE *out)
{
    fprintf (out,
             "usage: shedctl [--addr ENDPOINT] [--json] [--timeout DURATION] COMMAND [ARGS]\n"
             "  --addr ENDPOINT   the node's API: ipc:///PATH or a socket PATH (default\n"
             "                    $SHED_ADDR, else ipc://%s/api.sock), or a remote node's\n"
             "                    https://HOST:PORT (http://127.0.0.1:PORT on the node)\n"
             "  --token-file FILE the remote API's bearer token, read from FILE (default\n"
             "                    $SHED_TOKEN_FILE); --token TOKEN or $SHED_TOKEN also work\n"
             "                    but show the secret to other users (ps, /proc)\n"
             "  --ca-cert FILE    trust the CA (or self-signed node certificate) in FILE\n"
             "                    instead of the system's (default $SHED_CA_CERT)\n"
             "  --json            machine-readable output\n"
             "  --timeout DURATION  how long to wait for the node (default %ds); create,\n"
             "                    start, stop and delete give it to the node as their\n"
             "                    deadline (defaults 30s for create, 10s for the others)\n"
             "  DURATION          a number with a unit: 500ms, 5s, 2m, 1h, 1m30s (a bare\n"
             "                    number keeps the flag's old unit: ms for --timeout,\n"
             "                    seconds for the command flags)\n"
             "  --events tcp://HOST:PORT --server-key KEY --identity DIR\n"
             "                    events, top and status SHED from another host: the node's\n"
             "                    remote consumer endpoint (events.consumer_listen), its public\n"
             "                    key (shedctl status) and our identity (keygen --identity)\n"
             "commands:\n",
             SHED_DEFAULT_DATADIR, SHED_API_DEFAULT_TIMEOUT_MS / 1000);
    for (size_t i = 0; i < sizeof s_commands / sizeof s_commands[0]; i++)
        fprintf (out, "  %s\n", s_commands[i].usage);
}

static const ctl_cmd_t *
s_find (const char *name)
{
    for (size_t i = 0; i < sizeof s_commands / sizeof s_commands[0]; i++)
        if (strcmp (s_commands[i].name, name) == 0)
            return &s_commands[i];
    return NULL;
}

/* `COMMAND --help` (or -h) anywhere after the command: its usage, not a
 * run (consul and nomad do the same). */
static bool
s_wants_help (int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (strcmp (argv[i], "--help") == 0 || strcmp (argv[i], "-h") == 0)
            return true;
    return false;
}

int
ctl_fail (const char *fmt, ...)
{
    va_list ap;
    va_start (ap, fmt);
    fputs ("shedctl: ", stderr);
    vfprintf (stderr, fmt, ap);
    fputc ('\n', stderr);
    va_end (ap);
    return 1;
}

int
ctl_call (ctl_t *ctl, const api_msg_t *req, api_msg_t *rep, uint16_t expect_type)
{
    char err[512];
    if (shed_api_call (ctl->endpoint, req, rep, ctl->timeout_ms, err, sizeof err) != 0)
        return ctl_fail ("%s", err);
    if (rep->hdr.type == API_ERROR) {
        ctl_fail ("%s", rep->u.api_error.message);
        wire_msg_free (&api_proto, rep);
        return 1;
    }
    if (rep->hdr.type != expect_type) {
        ctl_fail ("unexpected reply type %u from the node", rep->hdr.type);
        wire_msg_free (&api_proto, rep);
        return 1;
    }
    return 0;
}

void
ctl_print_ok (ctl_t *ctl, const char *key, const char *value, const char *message)
{
    if (!ctl->json) {
        printf ("%s\n", message);
        return;
    }
    jw_t j;
    jw_init (&j, stdout);
    jw_obj_begin (&j);
    if (key) {
        jw_key (&j, key);
        jw_str (&j, value);
    }
    else {
        jw_key (&j, "ok");
        jw_bool (&j, true);
    }
    jw_key (&j, "message");
    jw_str (&j, message);
    jw_obj_end (&j);
    jw_end (&j);
}

int
ctl_fail_no_reply (ctl_t *ctl, const char *err, const char *name, const char *request_id)
{
    /* "is it running?" only when it is not: a node that answers a status
     * ping was running, and may have done what it was asked. */
    if (!shed_api_alive (ctl->endpoint, 2000))
        return ctl_fail ("%s", err);
    return ctl_fail ("no answer from shed-node at %s within %d ms, which is running: "
                     "outcome unknown: check with `shedctl show %s` or retry with "
                     "--request-id %s",
                     ctl->endpoint, ctl->timeout_ms, name, request_id);
}

int
ctl_mutate (ctl_t *ctl, const api_msg_t *req, api_msg_t *rep, uint16_t expect_type,
            uint64_t deadline_ms, const char *name, const char *request_id)
{
    char err[512];
    int wait = (int) deadline_ms + SHED_API_REPLY_MARGIN_MS;
    int rc = shed_api_call (ctl->endpoint, req, rep, wait, err, sizeof err);
    if (rc == SHED_API_NO_REPLY) {
        int saved = ctl->timeout_ms;
        ctl->timeout_ms = wait;
        ctl_fail_no_reply (ctl, err, name, request_id);
        ctl->timeout_ms = saved;
        return 1;
    }
    if (rc != 0)
        return ctl_fail ("%s", err);
    if (rep->hdr.type == API_ERROR) {
        ctl_fail ("%s", rep->u.api_error.message);
        wire_msg_free (&api_proto, rep);
        return 1;
    }
    if (expect_type && rep->hdr.type != expect_type) {
        ctl_fail ("unexpected reply type %u from the node", rep->hdr.type);
        wire_msg_free (&api_proto, rep);
        return 1;
    }
    return 0;
}

void
ctl_request_id (char *out, size_t size)
{
    snprintf (out, size, "req-%08x%08x", randombytes_random (), randombytes_random ());
}

int
ctl_duration_arg (const char *flag, const char *value, uint64_t bare_ms, uint64_t min_ms,
                  uint64_t max_ms, uint64_t *ms)
{
    char why[256];
    if (shed_duration_parse_range (value, bare_ms, min_ms, max_ms, ms, why, sizeof why) != 0)
        return ctl_fail ("%s: %s", flag, why);
    return 0;
}

void
ctl_format_duration (uint64_t ms, char *out, size_t len)
{
    uint64_t s = ms / 1000;
    if (s == 0)
        snprintf (out, len, "%llums", (unsigned long long) ms);
    else if (s < 3600)
        snprintf (out, len, "%llum %llus", (unsigned long long) (s / 60),
                  (unsigned long long) (s % 60));
    else if (s < 86400)
        snprintf (out, len, "%lluh %llum", (unsigned long long) (s / 3600),
                  (unsigned long long) (s % 3600 / 60));
    else
        snprintf (out, len, "%llud %lluh", (unsigned long long) (s / 86400),
                  (unsigned long long) (s % 86400 / 3600));
}

void
ctl_format_size (uint64_t bytes, char *out, size_t len)
{
    const char *units = "BKMGTP";
    double v = (double) bytes;
    int u = 0;
    while (v >= 1024 && u < 5) {
        v /= 1024;
        u++;
    }
    snprintf (out, len, u ? "%.1f%c" : "%.0f%c", v, units[u]);
}

/* The API endpoint from --addr or $SHED_ADDR: an endpoint as ZeroMQ
 * spells it, or a socket path (what an operator sees in data_dir), made
 * ipc://PATH. NULL with the reason printed when it is neither. */
static const char *
s_endpoint (const char *what, const char *value, char *buf, size_t size)
{
    if (value[0] == '/' || (value[0] == '.' && value[1] == '/')) {
        if ((size_t) snprintf (buf, size, "ipc://%s", value) >= size) {
            ctl_fail ("%s: path too long: '%.60s...'", what, value);
            return NULL;
        }
        return buf;
    }
    if (!strstr (value, "://")) {
        ctl_fail ("%s: expected ipc:///PATH, a socket path or https://HOST:PORT, got '%s'", what,
                  value);
        return NULL;
    }
    return value;
}

/* The token: the file's first word, white space around it dropped. The
 * file holds a secret: refuse one others can read, as ssh does a key. */
static int
s_token_file (const char *path, char *token, size_t size)
{
    struct stat st;
    if (stat (path, &st) != 0)
        return ctl_fail ("--token-file %s: %s", path, strerror (errno));
    if (st.st_mode & 077)
        return ctl_fail ("--token-file %s: readable by others (mode %03o): chmod 600 it", path,
                         (unsigned) (st.st_mode & 0777));
    size_t len = 0;
    char *text = shed_read_file (path, 4096, &len);
    if (!text)
        return ctl_fail ("--token-file %s: %s", path, strerror (errno));
    char *b = text + strspn (text, " \t\r\n");
    size_t n = strcspn (b, " \t\r\n");
    int rc = 0;
    if (n == 0 || n >= size)
        rc = ctl_fail ("--token-file %s: expected one token (sht_...), got %s", path,
                       n ? "a line too long" : "nothing");
    else {
        memcpy (token, b, n);
        token[n] = '\0';
    }
    sodium_memzero (text, len);
    free (text);
    return rc;
}

int
main (int argc, char **argv)
{
    static char default_endpoint[SHED_ENDPOINT_MAX], env_endpoint[SHED_ENDPOINT_MAX],
        opt_endpoint[SHED_ENDPOINT_MAX];
    snprintf (default_endpoint, sizeof default_endpoint, "ipc://%s/api.sock", SHED_DEFAULT_DATADIR);
    ctl_t ctl = { .endpoint = default_endpoint,
                  .json = false,
                  .timeout_ms = SHED_API_DEFAULT_TIMEOUT_MS };
    const char *env = getenv ("SHED_ADDR");
    if (env && *env) {
        if (!(ctl.endpoint = s_endpoint ("SHED_ADDR", env, env_endpoint, sizeof env_endpoint)))
            return 1;
    }
    else if ((env = getenv ("SHED_NODE")) && (strstr (env, "://") || env[0] == '/')) {
        /* The old name, still honoured when it holds an endpoint. Not when
         * it holds a node name: hooks run with SHED_NODE=<node name>
         * (docs/events.md), and a shedctl they start must not take it for
         * an endpoint. */
        fprintf (stderr, "shedctl: SHED_NODE is deprecated: use SHED_ADDR\n");
        if (!(ctl.endpoint = s_endpoint ("SHED_NODE", env, env_endpoint, sizeof env_endpoint)))
            return 1;
    }

    static const struct option options[] = {
        { "addr", required_argument, NULL, 'a' },
        /* The old spelling, before the command word only (where it cannot
         * be create's --node NODE, the placement pin), with a warning. */
        { "node", required_argument, NULL, 'n' },
        { "json", no_argument, NULL, 'j' },
        { "timeout", required_argument, NULL, 't' },
        { "events", required_argument, NULL, 'e' },
        { "server-key", required_argument, NULL, 'k' },
        { "identity", required_argument, NULL, 'i' },
        { "token", required_argument, NULL, 'T' },
        { "token-file", required_argument, NULL, 'F' },
        { "ca-cert", required_argument, NULL, 'C' },
        { "version", no_argument, NULL, 'V' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    const char *token = getenv ("SHED_TOKEN"), *token_file = getenv ("SHED_TOKEN_FILE"),
               *ca_cert = getenv ("SHED_CA_CERT");
    int opt;
    opterr = 0;
    /* '+' stops at the first non-option: the rest belongs to the command. */
    while ((opt = getopt_long (argc, argv, "+a:n:jt:Vhe:k:i:T:F:C:", options, NULL)) != -1) {
        switch (opt) {
        case 'n':
            fprintf (stderr, "shedctl: --node ENDPOINT before the command is deprecated: use "
                             "--addr ENDPOINT (create --node NODE still places a shed)\n");
            /* fall through */
        case 'a':
            if (!(ctl.endpoint = s_endpoint (opt == 'a' ? "--addr" : "--node", optarg, opt_endpoint,
                                             sizeof opt_endpoint)))
                return 1;
            break;
        case 'j':
            ctl.json = true;
            break;
        case 'e':
            ctl.events_endpoint = optarg;
            break;
        case 'k':
            ctl.server_key = optarg;
            break;
        case 'i':
            ctl.identity_dir = optarg;
            break;
        case 'T':
            token = optarg;
            token_file = NULL;
            break;
        case 'F':
            token_file = optarg;
            token = NULL;
            break;
        case 'C':
            ca_cert = optarg;
            break;
        case 't': {
            /* "30s", "2m"; a bare number is milliseconds, as it always was */
            uint64_t ms;
            if (ctl_duration_arg ("--timeout", optarg, 1, 1, 3600000, &ms))
                return 1;
            ctl.timeout_ms = (int) ms;
            ctl.timeout_set = true;
            break;
        }
        case 'V':
            printf ("shedctl %s\n", SHED_VERSION_STRING);
            return 0;
        case 'h':
            s_usage (stdout);
            return 0;
        default:
            ctl_fail ("unknown or incomplete option '%s'", argv[optind - 1]);
            s_usage (stderr);
            return 2;
        }
    }
    if (optind >= argc) {
        s_usage (stderr);
        return 2;
    }
    if (sodium_init () < 0)
        return ctl_fail ("libsodium failed to initialise");
    if (shed_api_is_http (ctl.endpoint)) {
        static char file_token[SHED_API_TOKEN_MAX + 1];
        if (token_file && *token_file) {
            if (s_token_file (token_file, file_token, sizeof file_token) != 0)
                return 1;
            token = file_token;
        }
        if (!token || !*token)
            return ctl_fail ("%s needs a token: --token-file FILE (or $SHED_TOKEN_FILE, "
                             "$SHED_TOKEN); make one on the node with shedctl token create",
                             ctl.endpoint);
        if (strlen (token) > SHED_API_TOKEN_MAX)
            return ctl_fail ("the token is longer than %d bytes", SHED_API_TOKEN_MAX);
        shed_api_http_configure (token, ca_cert && *ca_cert ? ca_cert : NULL);
        sodium_memzero (file_token, sizeof file_token);
    }
    zsys_init ();
    zsys_set_logstream (NULL);

    /* Options may also follow the command ("shedctl status --json"). */
    int cargc = 0;
    char **cargv = calloc ((size_t) argc + 1, sizeof *cargv);
    for (int i = optind; i < argc; i++) {
        if (strcmp (argv[i], "--json") == 0)
            ctl.json = true;
        else
            cargv[cargc++] = argv[i];
    }
    int rc = 2;
    const ctl_cmd_t *cmd = NULL;
    if (strcmp (cargv[0], "help") == 0) {
        /* help [COMMAND]: usage on stdout, exit 0 */
        if (cargc == 1) {
            s_usage (stdout);
            rc = 0;
        }
        else if ((cmd = s_find (cargv[1]))) {
            printf ("usage: shedctl %s\n", cmd->usage);
            rc = 0;
        }
        else
            ctl_fail ("unknown command '%s' (see shedctl help)", cargv[1]);
    }
    else if (!(cmd = s_find (cargv[0])))
        ctl_fail ("unknown command '%s' (see shedctl help)", cargv[0]);
    else if (s_wants_help (cargc, cargv)) {
        printf ("usage: shedctl %s\n", cmd->usage);
        rc = 0;
    }
    else
        rc = cmd->fn (&ctl, cargc, cargv);
    free (cargv);
    zsys_shutdown ();
    return rc;
}
