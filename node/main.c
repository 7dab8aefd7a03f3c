/*
 * main.c - shed-node: the per-host daemon.
 *
 *   shed-node [--config FILE] [--name NAME] [--bind ADDR[:PORT]] [--data-dir DIR]
 *             [--join HOST[:PORT]]... [--api ENDPOINT] [--advertise ADDR]
 *             [--encrypt-file PATH | --encrypt KEY] [--tag K=V]... [--discover]
 *             [--log-level LEVEL] [--metrics-listen ADDR:PORT]
 *   shed-node --check-config FILE
 *   shed-node --print-routes
 *   shed-node --version | --help
 *
 * Settings: defaults < --config file < SHED_ENCRYPT_KEY < flags. Exit codes:
 * 0 clean shutdown, 1 runtime failure, 2 bad configuration or usage.
 *
 * Signals: SIGTERM/SIGINT stop (leaving the cluster gracefully unless
 * leave_on_terminate is false); SIGHUP reloads the file and the same flags
 * and applies what can change at run time (node/node_reload.h).
 * --check-config FILE reads FILE as a start would, prints "ok" (exit 0) or
 * every error as FILE:LINE: message (exit 1).
 *
 * The cluster key is a secret and every local user can read a process's
 * command line: --encrypt-file (or SHED_ENCRYPT_KEY) is the way to pass it;
 * --encrypt KEY still works, and its argument is overwritten in place once
 * parsed, which shortens but cannot close the window (docs/operations.md).
 */
#include "cluster/zmq_limits.h"
#include "common/log.h"
#include "common/version.h"
#include "node/config.h"
#include "node/http/http_route.h"
#include "node/http/http_shed_compat.h"
#include "node/netaddr.h"
#include "node/node.h"
#include "node/port_owner.h"

#include <czmq.h>
#include <getopt.h>
#include <malloc.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

static void
s_usage (FILE *out)
{
    fprintf (out,
             "usage: shed-node [options]\n"
             "  -c, --config FILE       YAML configuration file\n"
             "  -n, --name NAME         node name (default: short hostname)\n"
             "  -b, --bind ADDR[:PORT]  gossip address (default 0.0.0.0:7946; IPv6: [ADDR]:PORT, "
             ":: = all)\n"
             "  -a, --advertise ADDR    address peers should use\n"
             "  -d, --data-dir DIR      state directory (default /var/lib/shed)\n"
             "  -j, --join HOST[:PORT]  seed node; repeatable\n"
             "      --api ENDPOINT      local API (default ipc://DATA_DIR/api.sock)\n"
             "      --encrypt-file PATH cluster key for a first start, from a file (0600,\n"
             "                          owned by root or this uid); or SHED_ENCRYPT_KEY=KEY\n"
             "  -e, --encrypt KEY       the same on the command line (visible to local users\n"
             "                          until it is wiped just after start: prefer the file)\n"
             "  -t, --tag K=V           node tag; repeatable\n"
             "      --discover          find peers on the LAN with UDP beacons\n"
             "      --metrics-listen ADDR:PORT\n"
             "                          Prometheus endpoint (default 127.0.0.1:7951, \"\" = off)\n"
             "  -l, --log-level LEVEL   debug|info|warn|error (default info)\n"
             "      --check-config FILE validate FILE: \"ok\", or FILE:LINE: errors (exit 1)\n"
             "      --print-routes      the HTTP API's routes, \"METHOD PATH NAME\" a line\n"
             "  -V, --version           print the version and exit\n"
             "  -h, --help              this text\n");
}

/* clang-format off */
static const struct option s_options[] = {
    { "config",    required_argument, NULL, 'c' },
    { "name",      required_argument, NULL, 'n' },
    { "bind",      required_argument, NULL, 'b' },
    { "advertise", required_argument, NULL, 'a' },
    { "data-dir",  required_argument, NULL, 'd' },
    { "join",      required_argument, NULL, 'j' },
    { "api",       required_argument, NULL, 'A' },
    { "encrypt",   required_argument, NULL, 'e' },
    { "encrypt-file", required_argument, NULL, 'E' },
    { "tag",       required_argument, NULL, 't' },
    { "discover",  no_argument,       NULL, 'D' },
    { "log-level", required_argument, NULL, 'l' },
    { "metrics-listen", required_argument, NULL, 'M' },
    { "check-config", required_argument, NULL, 'C' },
    { "print-routes", no_argument,    NULL, 'R' },
    { "version",   no_argument,       NULL, 'V' },
    { "help",      no_argument,       NULL, 'h' },
    { NULL, 0, NULL, 0 },
};
/* clang-format on */
static const char *s_shortopts = "c:n:b:a:d:j:e:t:l:Vh";

/* Map a flag to its config key (flags and file share the directive table). */
static const char *
s_flag_key (int opt)
{
    switch (opt) {
    case 'n':
        return "name";
    case 'b':
        return "bind";
    case 'a':
        return "advertise";
    case 'd':
        return "data_dir";
    case 'j':
        return "join";
    case 'A':
        return "api";
    case 'e':
        return "encrypt_key";
    case 'E':
        return "encrypt_key_file";
    case 'l':
        return "log_level";
    case 'M':
        return "metrics.listen";
    default:
        return NULL;
    }
}

/* The command line, kept for SIGHUP, which builds the configuration again
 * from the file and the same flags. */
static int s_argc;
static char **s_argv;
static const char *s_config_path;

/* Defaults < file < SHED_ENCRYPT_KEY < flags, then finish. At a reload the
 * key (wiped by then, and only read at a first start) is skipped. Returns
 * 0, or -1 with the reason in err. */
static int
s_build (shed_config_t *cfg, bool reload, char *err, size_t errlen)
{
    shed_config_defaults (cfg);
    if (s_config_path && shed_config_load_file (cfg, s_config_path, err, errlen) != 0)
        return -1;
    if (!reload && shed_config_key_from_env (cfg, err, errlen) != 0)
        return -1;

    /* Flags override the file. A repeated --join replaces the file's list
     * rather than appending to it. */
    bool join_reset = false;
    int opt;
    optind = 1;
    while ((opt = getopt_long (s_argc, s_argv, s_shortopts, s_options, NULL)) != -1) {
        int rc = 0;
        if (opt == 'j' && !join_reset) {
            cfg->njoin = 0;
            join_reset = true;
        }
        if (reload && (opt == 'e' || opt == 'E'))
            continue;
        if (opt == 'D')
            cfg->discover = true;
        else if (opt == 't') {
            char key[80];
            const char *eq = strchr (optarg, '=');
            if (!eq || eq == optarg || (size_t) (eq - optarg) >= 64) {
                snprintf (err, errlen, "--tag expects KEY=VALUE, got '%s'", optarg);
                return -1;
            }
            snprintf (key, sizeof key, "tags.%.*s", (int) (eq - optarg), optarg);
            rc = shed_config_set (cfg, key, eq + 1, err, errlen);
        }
        else if (s_flag_key (opt))
            rc = shed_config_set (cfg, s_flag_key (opt), optarg, err, errlen);
        /* The key is copied (or refused): take it off /proc/PID/cmdline. */
        if (opt == 'e')
            shed_config_wipe_arg (optarg);
        if (rc != 0)
            return -1;
    }
    return shed_config_finish (cfg, err, errlen);
}

static int
s_reconfig (shed_config_t *cfg, char *err, size_t errlen, void *arg)
{
    (void) arg;
    return s_build (cfg, true, err, errlen);
}

static void
s_print_error (const char *error, void *arg)
{
    (*(size_t *) arg)++;
    printf ("%s\n", error);
}

/* --check-config FILE: the file as a start reads it (every bad value, not
 * only the first), then the checks that need every key and the advertise
 * address. Exit 0 with "ok", or 1 with one error a line. */
static int
s_check_config (const char *path)
{
    shed_config_t *cfg = malloc (sizeof *cfg);
    if (!cfg)
        return 1;
    shed_config_defaults (cfg);
    size_t nerr = 0;
    shed_config_check_file (cfg, path, s_print_error, &nerr);
    char err[512];
    if (nerr == 0 && shed_config_finish (cfg, err, sizeof err) != 0) {
        printf ("%s: %s\n", path, err);
        nerr++;
    }
    if (nerr == 0 && shed_netaddr_resolve (cfg, err, sizeof err) != 0) {
        printf ("%s: %s\n", path, err);
        nerr++;
    }
    sodium_memzero (cfg, sizeof *cfg);
    free (cfg);
    if (nerr == 0)
        printf ("ok\n");
    return nerr ? 1 : 0;
}

static void
s_print_route (void *arg, const char *method, const char *path, const char *name)
{
    (void) arg;
    printf ("%s %s %s\n", method, path, name);
}

/* --print-routes: what the HTTP server routes, from its tables, so the
 * OpenAPI document's test compares against the code (docs/openapi.json). */
static void
s_print_routes (void)
{
    http_routes (s_print_route, NULL);
    http_compat_routes (s_print_route, NULL);
}

/* glibc's heap trimming, off for the event path. Each thread's arena gives
 * its top back to the kernel once more than M_TRIM_THRESHOLD (128 KiB, or
 * twice the largest mmap'd block freed) is free there, and faults it in
 * again, zeroed, on the next burst. Under a flood the queues of ZeroMQ's
 * I/O threads and of the bus grow and drain by megabytes many times a
 * second: perf showed node 3's I/O thread spending 57 % of its time in
 * clear_page and mprotect (0.39 -> 0.25 µs of CPU per event without it,
 * docs/events.md "CPU round"). Keeping up to 64 MiB free per arena
 * costs memory only after a flood used it; blocks of 4 MiB and more are
 * still mmap'd and given back at once. Process-wide: set in main, before the first thread. */
#define S_TRIM_THRESHOLD (64 << 20)
#define S_MMAP_THRESHOLD (4 << 20)

static void
s_malloc_tune (void)
{
    if (!mallopt (M_MMAP_THRESHOLD, S_MMAP_THRESHOLD)
        || !mallopt (M_TRIM_THRESHOLD, S_TRIM_THRESHOLD))
        log_warn ("node", "cannot tune malloc: the event path may re-fault its heap");
}

int
main (int argc, char **argv)
{
    shed_config_t cfg;
    char err[512];
    s_argc = argc;
    s_argv = argv;
    /* journald reads "<N>" priorities when stderr is its stream. */
    shed_log_detect_journal ();

    /* Pass 1: --config, --version, --help, so flags can override the file. */
    int opt;
    opterr = 0;
    while ((opt = getopt_long (argc, argv, s_shortopts, s_options, NULL)) != -1) {
        if (opt == 'c')
            s_config_path = optarg;
        else if (opt == 'C')
            return s_check_config (optarg);
        else if (opt == 'R') {
            s_print_routes ();
            return 0;
        }
        else if (opt == 'V') {
            printf ("shed-node %s\n", SHED_VERSION_STRING);
            return 0;
        }
        else if (opt == 'h') {
            s_usage (stdout);
            return 0;
        }
        else if (opt == '?') {
            fprintf (stderr, "shed-node: unknown or incomplete option '%s'\n", argv[optind - 1]);
            s_usage (stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf (stderr, "shed-node: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    /* Pass 2: the file, the environment, the flags. */
    if (s_build (&cfg, false, err, sizeof err) != 0) {
        fprintf (stderr, "shed-node: %s\n", err);
        return 2;
    }
    /* Which address peers get: never loopback by accident, never one this
     * host does not hold (netaddr.h). */
    if (shed_netaddr_resolve (&cfg, err, sizeof err) != 0) {
        fprintf (stderr, "shed-node: %s\n", err);
        return 2;
    }
    shed_log_set_level (cfg.log_level);
    if (sodium_init () < 0) {
        fprintf (stderr, "shed-node: libsodium failed to initialise\n");
        return 1;
    }
    signal (SIGPIPE, SIG_IGN);
    s_malloc_tune ();
    zsys_init ();
    zsys_set_logident ("shed-node");
    /* Before the first socket: fds and ZeroMQ sockets (cluster/zmq_limits.h). */
    shed_zmq_raise_limits ();

    shed_node_t *node = shed_node_new (&cfg, err, sizeof err);
    sodium_memzero (cfg.encrypt_key, sizeof cfg.encrypt_key);
    if (!node) {
        fprintf (stderr, "shed-node: %s\n", err);
        /* "Address already in use" alone sends people to netstat: name the
         * holder of each port we need that another socket holds. */
        if (strstr (err, "in use")) {
            char who[1024];
            shed_port_explain (&cfg, who, sizeof who);
            if (who[0])
                fprintf (stderr, "shed-node: %s\n", who);
        }
        return 1;
    }
    log_info ("node", "advertising|addr=%s port=%u", cfg.advertise_addr, (unsigned) cfg.bind_port);
    shed_node_on_reconfig (node, s_reconfig, NULL);
    int rc = shed_node_run (node);
    shed_node_destroy (&node);
    return rc == 0 ? 0 : 1;
}
