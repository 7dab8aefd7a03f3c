/*
 * config.c - YAML (libyaml document API) and command-line configuration.
 */
#include "agent/config.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

void
agent_config_defaults (agent_config_t *cfg)
{
    memset (cfg, 0, sizeof *cfg);
    cfg->metrics_interval_ms = 5000;
    cfg->buffer_frames = 4096;
    cfg->buffer_bytes = 4u << 20;
    cfg->backoff_min_ms = 100;
    cfg->backoff_max_ms = 5000;
    cfg->log_level = SHED_LOG_INFO;
    snprintf (cfg->proc_root, sizeof cfg->proc_root, "/proc");
}

static int
s_restart (const char *text, agent_restart_t *out)
{
    if (strcmp (text, "always") == 0)
        *out = AGENT_RESTART_ALWAYS;
    else if (strcmp (text, "on-failure") == 0)
        *out = AGENT_RESTART_ON_FAILURE;
    else if (strcmp (text, "never") == 0)
        *out = AGENT_RESTART_NEVER;
    else
        return -1;
    return 0;
}

int
agent_config_parse_run (const char *arg, agent_proc_spec_t *out)
{
    memset (out, 0, sizeof *out);
    const char *eq = strchr (arg, '=');
    if (!eq || eq == arg || (size_t) (eq - arg) > AGENT_PROC_NAME_MAX || !eq[1]
        || strlen (eq + 1) > AGENT_CMD_MAX)
        return -1;
    memcpy (out->name, arg, (size_t) (eq - arg));
    snprintf (out->cmd, sizeof out->cmd, "%s", eq + 1);
    out->restart = AGENT_RESTART_ON_FAILURE;
    return agent_msg_name_ok (out->name) ? 0 : -1;
}

int
agent_config_parse_service (const char *arg, agent_service_spec_t *out)
{
    memset (out, 0, sizeof *out);
    const char *colon = strchr (arg, ':');
    if (!colon || colon == arg || (size_t) (colon - arg) > AGENT_NAME_MAX)
        return -1;
    memcpy (out->name, arg, (size_t) (colon - arg));
    char *end;
    unsigned long port = strtoul (colon + 1, &end, 10);
    if (port == 0 || port > 65535 || (*end && *end != '/'))
        return -1;
    out->port = (uint32_t) port;
    if (*end == '/')
        snprintf (out->protocol, sizeof out->protocol, "%s", end + 1);
    snprintf (out->check, sizeof out->check, "tcp");
    out->interval_ms = 10000;
    return agent_msg_service_name_ok (out->name) ? 0 : -1;
}

/* ------------------------------------------------------------------------ */
/*  YAML                                                                    */
/* ------------------------------------------------------------------------ */

typedef struct {
    yaml_document_t *doc;
    const char *path;
    char *err;
    size_t errlen;
} s_ctx_t;

static int
s_fail (s_ctx_t *c, yaml_node_t *node, const char *what)
{
    snprintf (c->err, c->errlen, "%s:%zu: %s", c->path, node ? node->start_mark.line + 1 : 0, what);
    return -1;
}

static const char *
s_scalar (yaml_node_t *n)
{
    return n && n->type == YAML_SCALAR_NODE ? (const char *) n->data.scalar.value : NULL;
}

static int
s_str (s_ctx_t *c, yaml_node_t *n, char *dst, size_t size, const char *key)
{
    const char *v = s_scalar (n);
    if (!v)
        return s_fail (c, n, key);
    if (strlen (v) >= size)
        return s_fail (c, n, "value too long");
    memcpy (dst, v, strlen (v) + 1);
    return 0;
}

static int
s_u64 (s_ctx_t *c, yaml_node_t *n, uint64_t max, uint64_t *out)
{
    const char *v = s_scalar (n);
    char *end;
    errno = 0;
    unsigned long long x = v ? strtoull (v, &end, 10) : 0;
    if (!v || !*v || *end || errno || x > max || v[0] == '-')
        return s_fail (c, n, "expected a non-negative integer in range");
    *out = x;
    return 0;
}

static int
s_u32 (s_ctx_t *c, yaml_node_t *n, uint32_t *out)
{
    uint64_t v;
    if (s_u64 (c, n, UINT32_MAX, &v))
        return -1;
    *out = (uint32_t) v;
    return 0;
}

static int
s_bool (s_ctx_t *c, yaml_node_t *n, bool *out)
{
    const char *v = s_scalar (n);
    if (v && (!strcmp (v, "true") || !strcmp (v, "yes")))
        *out = true;
    else if (v && (!strcmp (v, "false") || !strcmp (v, "no")))
        *out = false;
    else
        return s_fail (c, n, "expected true or false");
    return 0;
}

/* Names derive from `k` / `item` so these loops nest without shadowing. */
#define S_FOR_PAIRS(c, map, k, v)                                                                  \
    for (yaml_node_pair_t *p_##k = (map)->data.mapping.pairs.start;                                \
         p_##k < (map)->data.mapping.pairs.top; p_##k++)                                           \
        for (yaml_node_t *k = yaml_document_get_node ((c)->doc, p_##k->key),                       \
                         *v = yaml_document_get_node ((c)->doc, p_##k->value), *once_##k = k;      \
             once_##k; once_##k = NULL)

#define S_FOR_ITEMS(c, seq, item)                                                                  \
    for (yaml_node_item_t *i_##item = (seq)->data.sequence.items.start;                            \
         i_##item < (seq)->data.sequence.items.top; i_##item++)                                    \
        for (yaml_node_t *item = yaml_document_get_node ((c)->doc, *i_##item),                     \
                         *once_##item = item;                                                      \
             once_##item; once_##item = NULL)

static int
s_proc (s_ctx_t *c, yaml_node_t *map, agent_proc_spec_t *p)
{
    if (map->type != YAML_MAPPING_NODE)
        return s_fail (c, map, "a process is a mapping");
    memset (p, 0, sizeof *p);
    p->restart = AGENT_RESTART_ON_FAILURE;
    S_FOR_PAIRS (c, map, k, v)
    {
        const char *key = s_scalar (k);
        int rc = 0;
        if (!key)
            return s_fail (c, k, "bad key");
        else if (!strcmp (key, "name"))
            rc = s_str (c, v, p->name, sizeof p->name, "name");
        else if (!strcmp (key, "cmd"))
            rc = s_str (c, v, p->cmd, sizeof p->cmd, "cmd");
        else if (!strcmp (key, "restart")) {
            const char *s = s_scalar (v);
            if (!s || s_restart (s, &p->restart))
                return s_fail (c, v, "restart is always, on-failure or never");
        }
        else if (!strcmp (key, "backoff_min_ms"))
            rc = s_u32 (c, v, &p->backoff_min_ms);
        else if (!strcmp (key, "backoff_max_ms"))
            rc = s_u32 (c, v, &p->backoff_max_ms);
        else if (!strcmp (key, "max_restarts"))
            rc = s_u32 (c, v, &p->max_restarts);
        else
            return s_fail (c, k, "unknown process key");
        if (rc)
            return rc;
    }
    if (!agent_msg_name_ok (p->name) || !p->cmd[0])
        return s_fail (c, map, "a process needs a valid name ([A-Za-z0-9_-], <= 59) and a cmd");
    return 0;
}

static int
s_tail (s_ctx_t *c, yaml_node_t *map, agent_tail_spec_t *t)
{
    if (map->type != YAML_MAPPING_NODE)
        return s_fail (c, map, "a tail is a mapping");
    memset (t, 0, sizeof *t);
    S_FOR_PAIRS (c, map, k, v)
    {
        const char *key = s_scalar (k);
        int rc = 0;
        if (!key)
            return s_fail (c, k, "bad key");
        else if (!strcmp (key, "stream"))
            rc = s_str (c, v, t->stream, sizeof t->stream, "stream");
        else if (!strcmp (key, "path"))
            rc = s_str (c, v, t->path, sizeof t->path, "path");
        else if (!strcmp (key, "from_start"))
            rc = s_bool (c, v, &t->from_start);
        else
            return s_fail (c, k, "unknown tail key");
        if (rc)
            return rc;
    }
    if (!agent_msg_stream_name_ok (t->stream) || !t->path[0])
        return s_fail (c, map, "a tail needs a stream ([A-Za-z0-9_-]) and a path");
    return 0;
}

static int
s_service (s_ctx_t *c, yaml_node_t *map, agent_service_spec_t *s)
{
    if (map->type != YAML_MAPPING_NODE)
        return s_fail (c, map, "a service is a mapping");
    memset (s, 0, sizeof *s);
    s->interval_ms = 10000;
    S_FOR_PAIRS (c, map, k, v)
    {
        const char *key = s_scalar (k);
        int rc = 0;
        if (!key)
            return s_fail (c, k, "bad key");
        else if (!strcmp (key, "name"))
            rc = s_str (c, v, s->name, sizeof s->name, "name");
        else if (!strcmp (key, "port")) {
            uint64_t port;
            rc = s_u64 (c, v, 65535, &port);
            s->port = (uint32_t) port;
        }
        else if (!strcmp (key, "protocol"))
            rc = s_str (c, v, s->protocol, sizeof s->protocol, "protocol");
        else if (!strcmp (key, "check"))
            rc = s_str (c, v, s->check, sizeof s->check, "check");
        else if (!strcmp (key, "interval_ms"))
            rc = s_u32 (c, v, &s->interval_ms);
        else if (!strcmp (key, "tags")) {
            if (v->type != YAML_MAPPING_NODE)
                return s_fail (c, v, "tags is a mapping");
            S_FOR_PAIRS (c, v, tk, tv)
            {
                if (s->ntags == AGENT_TAGS_MAX)
                    return s_fail (c, tk, "too many tags");
                wire_tag_t *t = &s->tags[s->ntags++];
                if (s_str (c, tk, t->key, sizeof t->key, "tag key")
                    || s_str (c, tv, t->value, sizeof t->value, "tag value"))
                    return -1;
            }
        }
        else
            return s_fail (c, k, "unknown service key");
        if (rc)
            return rc;
    }
    if (!agent_msg_service_name_ok (s->name) || s->port == 0)
        return s_fail (c, map, "a service needs a DNS-label name and a port");
    if (s->check[0] && strcmp (s->check, "tcp") != 0 && strcmp (s->check, "none") != 0)
        return s_fail (c, map, "check is tcp or none");
    return 0;
}

static int
s_root (s_ctx_t *c, yaml_node_t *root, agent_config_t *cfg)
{
    if (!root)
        return 0; /* empty file */
    if (root->type != YAML_MAPPING_NODE)
        return s_fail (c, root, "the top level is a mapping");
    S_FOR_PAIRS (c, root, k, v)
    {
        const char *key = s_scalar (k);
        int rc = 0;
        uint64_t n;
        if (!key)
            return s_fail (c, k, "bad key");
        else if (!strcmp (key, "shed"))
            rc = s_str (c, v, cfg->shed, sizeof cfg->shed, "shed");
        else if (!strcmp (key, "connect"))
            rc = s_str (c, v, cfg->connect, sizeof cfg->connect, "connect");
        else if (!strcmp (key, "metrics_interval_ms"))
            rc = s_u32 (c, v, &cfg->metrics_interval_ms);
        else if (!strcmp (key, "buffer_frames")) {
            rc = s_u64 (c, v, 1u << 20, &n);
            cfg->buffer_frames = (size_t) n;
        }
        else if (!strcmp (key, "buffer_bytes")) {
            rc = s_u64 (c, v, 1u << 30, &n);
            cfg->buffer_bytes = (size_t) n;
        }
        else if (!strcmp (key, "backoff_min_ms"))
            rc = s_u32 (c, v, &cfg->backoff_min_ms);
        else if (!strcmp (key, "backoff_max_ms"))
            rc = s_u32 (c, v, &cfg->backoff_max_ms);
        else if (!strcmp (key, "init"))
            rc = s_bool (c, v, &cfg->init);
        else if (!strcmp (key, "container"))
            rc = s_bool (c, v, &cfg->container);
        else if (!strcmp (key, "cgroup_root"))
            rc = s_str (c, v, cfg->cgroup_root, sizeof cfg->cgroup_root, "cgroup_root");
        else if (!strcmp (key, "provision_user"))
            rc = s_str (c, v, cfg->provision_user, sizeof cfg->provision_user, "provision_user");
        else if (!strcmp (key, "log_level")) {
            const char *s = s_scalar (v);
            if (!s || shed_log_parse_level (s, &cfg->log_level))
                return s_fail (c, v, "log_level is debug, info, warn or error");
        }
        else if (!strcmp (key, "mounts") || !strcmp (key, "processes") || !strcmp (key, "tail")
                 || !strcmp (key, "services")) {
            if (v->type != YAML_SEQUENCE_NODE)
                return s_fail (c, v, "expected a list");
            S_FOR_ITEMS (c, v, item)
            {
                if (!strcmp (key, "mounts")) {
                    if (cfg->nmounts == AGENT_MOUNTS_MAX)
                        return s_fail (c, item, "too many mounts");
                    rc = s_str (c, item, cfg->mounts[cfg->nmounts], sizeof cfg->mounts[0], "mount");
                    cfg->nmounts++;
                }
                else if (!strcmp (key, "processes")) {
                    if (cfg->nprocs == AGENT_PROCS_MAX)
                        return s_fail (c, item, "too many processes");
                    rc = s_proc (c, item, &cfg->procs[cfg->nprocs++]);
                }
                else if (!strcmp (key, "tail")) {
                    if (cfg->ntails == AGENT_TAILS_MAX)
                        return s_fail (c, item, "too many tails");
                    rc = s_tail (c, item, &cfg->tails[cfg->ntails++]);
                }
                else {
                    if (cfg->nservices == AGENT_SERVICES_MAX)
                        return s_fail (c, item, "too many services");
                    rc = s_service (c, item, &cfg->services[cfg->nservices++]);
                }
                if (rc)
                    return rc;
            }
        }
        else
            return s_fail (c, k, "unknown key");
        if (rc)
            return rc;
    }
    return 0;
}

int
agent_config_load (agent_config_t *cfg, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen (path, "r");
    if (!f) {
        snprintf (err, errlen, "%s: %s", path, strerror (errno));
        return -1;
    }
    yaml_parser_t parser;
    yaml_document_t doc;
    yaml_parser_initialize (&parser);
    yaml_parser_set_input_file (&parser, f);
    int rc;
    if (!yaml_parser_load (&parser, &doc)) {
        snprintf (err, errlen, "%s:%zu: %s", path, parser.problem_mark.line + 1,
                  parser.problem ? parser.problem : "YAML syntax error");
        rc = -1;
    }
    else {
        s_ctx_t c = { &doc, path, err, errlen };
        rc = s_root (&c, yaml_document_get_root_node (&doc), cfg);
        yaml_document_delete (&doc);
    }
    yaml_parser_delete (&parser);
    fclose (f);
    return rc;
}

/* ------------------------------------------------------------------------ */
/*  Command line                                                            */
/* ------------------------------------------------------------------------ */

int
agent_config_args (agent_config_t *cfg, int argc, char **argv, char *err, size_t errlen)
{
    static const struct option opts[] = {
        { "config", required_argument, NULL, 'c' },
        { "connect", required_argument, NULL, 'C' },
        { "shed", required_argument, NULL, 's' },
        { "run", required_argument, NULL, 'r' },
        { "restart", required_argument, NULL, 'R' },
        { "tail", required_argument, NULL, 't' },
        { "service", required_argument, NULL, 'S' },
        { "metrics-interval", required_argument, NULL, 'm' },
        { "buffer-frames", required_argument, NULL, 'b' },
        { "buffer-bytes", required_argument, NULL, 'B' },
        { "backoff-min", required_argument, NULL, 'k' },
        { "backoff-max", required_argument, NULL, 'K' },
        { "proc-root", required_argument, NULL, 'p' },
        { "cgroup-root", required_argument, NULL, 'G' },
        { "provision-user", required_argument, NULL, 'u' },
        { "init", no_argument, NULL, 'i' },
        { "container", no_argument, NULL, 'O' },
        { "log-level", required_argument, NULL, 'l' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    /* Two passes: the file first, so the command line overrides it. */
    optind = 1;
    opterr = 0;
    int o;
    while ((o = getopt_long (argc, argv, "c:h", opts, NULL)) != -1)
        if (o == 'c' && agent_config_load (cfg, optarg, err, errlen))
            return -1;
    optind = 1;
    agent_restart_t restart = AGENT_RESTART_ON_FAILURE;
    bool restart_set = false;
    size_t first_cli_proc = cfg->nprocs;
    while ((o = getopt_long (argc, argv, "c:h", opts, NULL)) != -1) {
        char *end = NULL;
        unsigned long long v = 0;
        if (strchr ("mbBkK", o)) {
            errno = 0;
            v = strtoull (optarg, &end, 10);
            if (errno || !*optarg || *end || v > UINT32_MAX) {
                snprintf (err, errlen, "--%s wants a number", argv[optind - 1] + 2);
                return -1;
            }
        }
        switch (o) {
        case 'c':
            break;
        case 'C':
            snprintf (cfg->connect, sizeof cfg->connect, "%s", optarg);
            break;
        case 's':
            snprintf (cfg->shed, sizeof cfg->shed, "%s", optarg);
            break;
        case 'r':
            if (cfg->nprocs == AGENT_PROCS_MAX
                || agent_config_parse_run (optarg, &cfg->procs[cfg->nprocs])) {
                snprintf (err, errlen, "bad --run '%s' (NAME=CMD)", optarg);
                return -1;
            }
            cfg->nprocs++;
            break;
        case 'R':
            if (s_restart (optarg, &restart)) {
                snprintf (err, errlen, "--restart is always, on-failure or never");
                return -1;
            }
            restart_set = true;
            break;
        case 't': {
            const char *eq = strchr (optarg, '=');
            agent_tail_spec_t *t = &cfg->tails[cfg->ntails];
            if (cfg->ntails == AGENT_TAILS_MAX || !eq
                || (size_t) (eq - optarg) > AGENT_STREAM_NAME_MAX
                || strlen (eq + 1) > AGENT_PATH_MAX) {
                snprintf (err, errlen, "bad --tail '%s' (STREAM=PATH)", optarg);
                return -1;
            }
            memset (t, 0, sizeof *t);
            memcpy (t->stream, optarg, (size_t) (eq - optarg));
            snprintf (t->path, sizeof t->path, "%s", eq + 1);
            if (!agent_msg_stream_name_ok (t->stream)) {
                snprintf (err, errlen, "bad --tail stream name '%s'", t->stream);
                return -1;
            }
            cfg->ntails++;
            break;
        }
        case 'S':
            if (cfg->nservices == AGENT_SERVICES_MAX
                || agent_config_parse_service (optarg, &cfg->services[cfg->nservices])) {
                snprintf (err, errlen, "bad --service '%s' (NAME:PORT[/PROTO])", optarg);
                return -1;
            }
            cfg->nservices++;
            break;
        case 'm':
            cfg->metrics_interval_ms = (uint32_t) v;
            break;
        case 'b':
            cfg->buffer_frames = (size_t) v;
            break;
        case 'B':
            cfg->buffer_bytes = (size_t) v;
            break;
        case 'k':
            cfg->backoff_min_ms = (uint32_t) v;
            break;
        case 'K':
            cfg->backoff_max_ms = (uint32_t) v;
            break;
        case 'p':
            snprintf (cfg->proc_root, sizeof cfg->proc_root, "%s", optarg);
            break;
        case 'G':
            if (!optarg[0] || strlen (optarg) > AGENT_PATH_MAX) {
                snprintf (err, errlen, "--cgroup-root wants a directory (at most %d bytes)",
                          AGENT_PATH_MAX);
                return -1;
            }
            snprintf (cfg->cgroup_root, sizeof cfg->cgroup_root, "%s", optarg);
            break;
        case 'u':
            if (strlen (optarg) > AGENT_USER_MAX) {
                snprintf (err, errlen, "--provision-user wants a user name (at most %d bytes)",
                          AGENT_USER_MAX);
                return -1;
            }
            snprintf (cfg->provision_user, sizeof cfg->provision_user, "%s", optarg);
            break;
        case 'i':
            cfg->init = true;
            break;
        case 'O':
            cfg->container = true;
            break;
        case 'l':
            if (shed_log_parse_level (optarg, &cfg->log_level)) {
                snprintf (err, errlen, "--log-level is debug, info, warn or error");
                return -1;
            }
            break;
        case 'h':
            return 1;
        default:
            snprintf (err, errlen, "unknown option '%s'", argv[optind - 1]);
            return -1;
        }
    }
    if (optind < argc) {
        snprintf (err, errlen, "unexpected argument '%s'", argv[optind]);
        return -1;
    }
    if (restart_set)
        for (size_t i = first_cli_proc; i < cfg->nprocs; i++)
            cfg->procs[i].restart = restart;
    return 0;
}
