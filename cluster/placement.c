/*
 * placement.c - filter, score and rank nodes for a new shed. See placement.h
 * for the model and the formulas; this file only says why where it is not
 * obvious.
 */
#include "cluster/placement.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- engine ------------------------------------------------------------- */

struct _placement_t {
    uint64_t rng; /* xorshift64* state, never 0 */
    placement_config_t config;
};

/* One rejected node: numbers only; the text is made on demand because a
 * decision over 1,000 nodes must not snprintf 999 reasons. */
typedef struct {
    size_t index; /* into the view */
    place_reason_t reason;
    int detail;    /* resource or constraint index */
    uint64_t have; /* free amount (RESOURCE) */
} s_reject_t;

typedef struct {
    double score;
    size_t index;
} s_cand_t;

struct _place_result_t {
    const place_node_t *view;       /* borrowed: valid while the view is */
    const place_request_t *request; /* borrowed, same */
    s_cand_t cand[PLACE_CANDIDATES_MAX];
    size_t ncand;
    s_reject_t *rejects;
    size_t nrejects;
    size_t rejects_cap;
};

placement_config_t
placement_config_default (void)
{
    placement_config_t c = {
        .weight = { [PLACE_CPU] = 1.0,
                    [PLACE_MEMORY] = 1.0,
                    [PLACE_DISK] = 0.5,
                    [PLACE_GPU] = 2.0 },
        .top_k = 3,
        .epsilon = 5.0,
        .max_candidates = 5,
        .gpu_penalty = 20.0,
        .sample = 512,
    };
    return c;
}

placement_t *
placement_new (uint64_t seed)
{
    placement_t *self = (placement_t *) calloc (1, sizeof (placement_t));
    if (!self)
        return NULL;
    /* splitmix the seed so nearby seeds give unrelated streams, and keep
     * the state non-zero (xorshift's one fixed point). */
    uint64_t z = seed + 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    self->rng = z ? z : 0x2545f4914f6cdd1dULL;
    self->config = placement_config_default ();
    return self;
}

void
placement_destroy (placement_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        free (*self_p);
        *self_p = NULL;
    }
}

void
placement_set_config (placement_t *self, const placement_config_t *config)
{
    assert (self);
    assert (config);
    self->config = *config;
    if (self->config.top_k == 0)
        self->config.top_k = 1;
    if (self->config.max_candidates == 0)
        self->config.max_candidates = 1;
    if (self->config.max_candidates > PLACE_CANDIDATES_MAX)
        self->config.max_candidates = PLACE_CANDIDATES_MAX;
    if (self->config.epsilon < 0)
        self->config.epsilon = 0;
}

static uint64_t
s_rand (placement_t *self)
{
    uint64_t x = self->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    self->rng = x;
    return x * 0x2545f4914f6cdd1dULL;
}

/* ---- results ------------------------------------------------------------ */

place_result_t *
place_result_new (void)
{
    return (place_result_t *) calloc (1, sizeof (place_result_t));
}

void
place_result_destroy (place_result_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        free ((*self_p)->rejects);
        free (*self_p);
        *self_p = NULL;
    }
}

size_t
place_result_size (const place_result_t *self)
{
    assert (self);
    return self->ncand;
}

size_t
place_result_index (const place_result_t *self, size_t i)
{
    assert (self);
    assert (i < self->ncand);
    return self->cand[i].index;
}

const char *
place_result_name (const place_result_t *self, size_t i)
{
    assert (self);
    assert (i < self->ncand);
    return self->view[self->cand[i].index].name;
}

double
place_result_score (const place_result_t *self, size_t i)
{
    assert (self);
    assert (i < self->ncand);
    return self->cand[i].score;
}

size_t
place_result_rejected (const place_result_t *self)
{
    assert (self);
    return self->nrejects;
}

/* ---- attribute lookup and constraints ---------------------------------- */

static const char *
s_tag (const place_node_t *node, const char *key)
{
    for (size_t i = 0; i < node->ntags; i++)
        if (node->tags[i].key && strcmp (node->tags[i].key, key) == 0)
            return node->tags[i].value ? node->tags[i].value : "";
    return NULL;
}

/* Built-in attribute as a number in the unit its constraint value is
 * parsed in; returns false for unknown keys. */
static bool
s_builtin (const place_node_t *node, const char *key, uint64_t *value)
{
    if (strcmp (key, "cpus") == 0)
        *value = node->capacity.v[PLACE_CPU];
    else if (strcmp (key, "memory") == 0)
        *value = node->capacity.v[PLACE_MEMORY];
    else if (strcmp (key, "disk") == 0)
        *value = node->capacity.v[PLACE_DISK];
    else if (strcmp (key, "gpu") == 0 || strcmp (key, "gpus") == 0)
        *value = node->capacity.v[PLACE_GPU];
    else
        return false;
    return true;
}

static bool
s_parse_num (const char *key, const char *text, double *out)
{
    uint64_t v;
    if (strcmp (key, "cpus") == 0) {
        if (placement_cpus_parse (text, &v) != 0)
            return false;
    }
    else if (placement_size_parse (text, 1, &v) != 0) {
        /* Plain decimals that are not sizes (e.g. "0.5") */
        char *end;
        errno = 0;
        double d = strtod (text, &end);
        if (errno || end == text || *end || !isfinite (d))
            return false;
        *out = d;
        return true;
    }
    *out = (double) v;
    return true;
}

static bool
s_compare (place_op_t op, double a, double b)
{
    switch (op) {
    case PLACE_OP_EQ:
        return a == b;
    case PLACE_OP_NE:
        return a != b;
    case PLACE_OP_GE:
        return a >= b;
    case PLACE_OP_LE:
        return a <= b;
    case PLACE_OP_GT:
        return a > b;
    case PLACE_OP_LT:
        return a < b;
    default:
        return false;
    }
}

/* Does `node` satisfy `c`? */
static bool
s_constraint_holds (const place_node_t *node, const place_constraint_t *c)
{
    const char *tag = s_tag (node, c->key);
    if (c->op == PLACE_OP_EXISTS)
        return tag != NULL;
    if (c->op == PLACE_OP_ABSENT)
        return tag == NULL;

    if (!tag && strcmp (c->key, "node") == 0)
        tag = node->name;
    double have, want;
    if (tag) {
        if (s_parse_num (c->key, tag, &have) && s_parse_num (c->key, c->value, &want))
            return s_compare (c->op, have, want);
        if (c->op == PLACE_OP_EQ)
            return strcmp (tag, c->value) == 0;
        if (c->op == PLACE_OP_NE)
            return strcmp (tag, c->value) != 0;
        return false; /* ordering on a non-number */
    }
    uint64_t builtin;
    if (s_builtin (node, c->key, &builtin)) {
        if (!s_parse_num (c->key, c->value, &want))
            return false;
        return s_compare (c->op, (double) builtin, want);
    }
    /* Unset attribute: only "!=" holds (zone!=b on a node with no zone). */
    return c->op == PLACE_OP_NE;
}

/* ---- the decision ------------------------------------------------------- */

static uint64_t
s_effective (const place_node_t *node, int r)
{
    uint64_t cap = node->capacity.v[r];
    uint64_t res = node->reserved.v[r];
    if (res >= cap)
        return 0;
    double ratio = node->overcommit[r] >= 1.0 ? node->overcommit[r] : 1.0;
    if (ratio == 1.0)
        return cap - res;
    double eff = (double) (cap - res) * ratio;
    return eff >= 1.8e19 ? UINT64_MAX : (uint64_t) eff;
}

static bool
s_push_reject (place_result_t *result, size_t nnodes, size_t index, place_reason_t reason,
               int detail, uint64_t have)
{
    if (result->rejects_cap < nnodes) {
        s_reject_t *grown = (s_reject_t *) realloc (result->rejects, nnodes * sizeof (s_reject_t));
        if (!grown)
            return false; /* reasons are best effort; placement goes on */
        result->rejects = grown;
        result->rejects_cap = nnodes;
    }
    s_reject_t *r = &result->rejects[result->nrejects++];
    r->index = index;
    r->reason = reason;
    r->detail = detail;
    r->have = have;
    return true;
}

/* Does the node hold the image `ref` (a name, "sha256:<hex>" or "<hex>")? */
static bool
s_image_held (const place_node_t *node, const char *ref)
{
    for (size_t k = 0; k < node->nimages; k++) {
        const char *have = node->images[k];
        if (strcmp (have, ref) == 0
            || (strncmp (have, "sha256:", 7) == 0 && strcmp (have + 7, ref) == 0))
            return true;
    }
    return false;
}

/* Candidate a ranks before b: higher score, then smaller name, so the
 * order does not depend on the order of the view. */
static bool
s_before (const place_node_t *nodes, const s_cand_t *a, const s_cand_t *b)
{
    if (a->score != b->score)
        return a->score > b->score;
    return strcmp (nodes[a->index].name, nodes[b->index].name) < 0;
}

size_t
placement_place (placement_t *self, const place_node_t *nodes, size_t nnodes,
                 const place_request_t *request, place_result_t *result)
{
    assert (self);
    assert (request);
    assert (result);
    assert (nodes || nnodes == 0);

    result->view = nodes;
    result->request = request;
    result->ncand = 0;
    result->nrejects = 0;

    const placement_config_t *cfg = &self->config;
    size_t keep = cfg->max_candidates;
    if (keep < cfg->top_k)
        keep = cfg->top_k;
    if (keep > PLACE_CANDIDATES_MAX)
        keep = PLACE_CANDIDATES_MAX;

    /* Sampling (config.sample): a random start and a stop after `sample`
     * scored nodes. Pinned requests look at every node (one matches). */
    size_t start = 0, scored = 0;
    bool sampling = cfg->sample > 0 && nnodes > cfg->sample && !request->pinned;
    if (sampling)
        start = (size_t) (s_rand (self) % nnodes);
    for (size_t k = 0; k < nnodes; k++) {
        if (sampling && scored >= cfg->sample)
            break;
        size_t i = start + k < nnodes ? start + k : start + k - nnodes;
        const place_node_t *node = &nodes[i];
        if (request->pinned && strcmp (node->name, request->pinned) != 0)
            continue; /* not a rejection worth listing */
        if (!node->alive) {
            s_push_reject (result, nnodes, i, PLACE_R_DEAD, 0, 0);
            continue;
        }
        if (node->draining) {
            s_push_reject (result, nnodes, i, PLACE_R_DRAINING, 0, 0);
            continue;
        }
        size_t c;
        for (c = 0; c < request->nconstraints; c++)
            if (!s_constraint_holds (node, &request->constraints[c]))
                break;
        if (c < request->nconstraints) {
            s_push_reject (result, nnodes, i, PLACE_R_CONSTRAINT, (int) c, 0);
            continue;
        }
        if (request->image && *request->image && !strchr (request->image, '/')
            && !s_image_held (node, request->image)) {
            s_push_reject (result, nnodes, i, PLACE_R_IMAGE, 0, 0);
            continue;
        }
        double wsum = 0, usum = 0;
        int r;
        uint64_t free_r = 0;
        for (r = 0; r < PLACE_RES_COUNT; r++) {
            uint64_t eff = s_effective (node, r);
            uint64_t alloc = node->allocated.v[r];
            uint64_t need = request->need.v[r];
            free_r = eff > alloc ? eff - alloc : 0;
            if (need > free_r)
                break;
            if (eff > 0 && cfg->weight[r] > 0) {
                double u = (double) (alloc + need) / (double) eff;
                if (u > 1.0)
                    u = 1.0;
                wsum += cfg->weight[r];
                usum += cfg->weight[r] * u;
            }
        }
        if (r < PLACE_RES_COUNT) {
            s_push_reject (result, nnodes, i, PLACE_R_RESOURCE, r, free_r);
            continue;
        }
        double util = wsum > 0 ? usum / wsum : 0.0;
        double score = 100.0 * (request->strategy == PLACE_SPREAD ? 1.0 - util : util);
        if (request->need.v[PLACE_GPU] == 0 && node->capacity.v[PLACE_GPU] > 0)
            score -= cfg->gpu_penalty;

        /* Insert into the small sorted top list. */
        scored++;
        s_cand_t cand = { score, i };
        size_t n = result->ncand;
        if (n == keep && !s_before (nodes, &cand, &result->cand[n - 1]))
            continue;
        size_t pos = n < keep ? n : keep - 1;
        while (pos > 0 && s_before (nodes, &cand, &result->cand[pos - 1])) {
            result->cand[pos] = result->cand[pos - 1];
            pos--;
        }
        result->cand[pos] = cand;
        if (n < keep)
            result->ncand++;
    }

    if (result->ncand == 0)
        return 0;

    /* Anti-herding: first pick at random among the near-best. */
    size_t group = 1;
    while (group < result->ncand && group < cfg->top_k
           && result->cand[group].score >= result->cand[0].score - cfg->epsilon)
        group++;
    if (group > 1) {
        size_t j = (size_t) (s_rand (self) % group);
        s_cand_t chosen = result->cand[j];
        memmove (&result->cand[1], &result->cand[0], j * sizeof (s_cand_t));
        result->cand[0] = chosen;
    }
    if (result->ncand > cfg->max_candidates)
        result->ncand = cfg->max_candidates;
    return result->ncand;
}

/* ---- reasons ------------------------------------------------------------ */

static void
s_amount (int r, uint64_t v, char *buf, size_t size)
{
    if (r == PLACE_MEMORY || r == PLACE_DISK)
        placement_size_format (v, buf, size);
    else if (r == PLACE_CPU) {
        if (v % 1000 == 0)
            snprintf (buf, size, "%llu", (unsigned long long) (v / 1000));
        else
            snprintf (buf, size, "%.3g", (double) v / 1000.0);
    }
    else
        snprintf (buf, size, "%llu", (unsigned long long) v);
}

static const char *s_op_text[] = {
    [PLACE_OP_EQ] = "=", [PLACE_OP_NE] = "!=", [PLACE_OP_GE] = ">=",   [PLACE_OP_LE] = "<=",
    [PLACE_OP_GT] = ">", [PLACE_OP_LT] = "<",  [PLACE_OP_EXISTS] = "", [PLACE_OP_ABSENT] = "",
};

place_reason_t
place_result_reason (const place_result_t *self, size_t i, char *buf, size_t size)
{
    assert (self);
    assert (i < self->nrejects);
    const s_reject_t *rj = &self->rejects[i];
    const place_node_t *node = &self->view[rj->index];
    char have[32], need[32];

    switch (rj->reason) {
    case PLACE_R_DEAD:
        snprintf (buf, size, "%s: not alive", node->name);
        break;
    case PLACE_R_DRAINING:
        snprintf (buf, size, "%s: draining", node->name);
        break;
    case PLACE_R_CONSTRAINT: {
        const place_constraint_t *c = &self->request->constraints[rj->detail];
        const char *actual = s_tag (node, c->key);
        uint64_t builtin;
        char num[32];
        if (!actual && strcmp (c->key, "node") == 0)
            actual = node->name;
        if (!actual && s_builtin (node, c->key, &builtin)) {
            int r = strcmp (c->key, "cpus") == 0     ? PLACE_CPU
                    : strcmp (c->key, "memory") == 0 ? PLACE_MEMORY
                    : strcmp (c->key, "disk") == 0   ? PLACE_DISK
                                                     : PLACE_GPU;
            s_amount (r, builtin, num, sizeof num);
            actual = num;
        }
        snprintf (buf, size, "%s: constraint %s%s%s%s not met (%s)", node->name,
                  c->op == PLACE_OP_ABSENT ? "!" : "", c->key, s_op_text[c->op], c->value,
                  actual ? actual : "unset");
        break;
    }
    case PLACE_R_RESOURCE:
        s_amount (rj->detail, rj->have, have, sizeof have);
        s_amount (rj->detail, self->request->need.v[rj->detail], need, sizeof need);
        snprintf (buf, size, "%s: %s %s free < %s", node->name,
                  placement_res_name ((place_res_t) rj->detail), have, need);
        break;
    case PLACE_R_IMAGE:
        snprintf (buf, size, "%s: image %s not on this node", node->name, self->request->image);
        break;
    default:
        snprintf (buf, size, "%s: not eligible", node->name);
        break;
    }
    return rj->reason;
}

char *
place_result_explain (const place_result_t *self)
{
    assert (self);
    size_t cap = 1, len = 0;
    char line[512];
    for (size_t i = 0; i < self->nrejects; i++) {
        place_result_reason (self, i, line, sizeof line);
        cap += strlen (line) + 2;
    }
    char *out = (char *) malloc (cap);
    if (!out)
        return NULL;
    out[0] = '\0';
    for (size_t i = 0; i < self->nrejects; i++) {
        place_result_reason (self, i, line, sizeof line);
        len += (size_t) snprintf (out + len, cap - len, "%s%s", i ? "; " : "", line);
    }
    return out;
}

/* ---- helpers ------------------------------------------------------------ */

const char *
placement_res_name (place_res_t res)
{
    static const char *names[] = { "cpu", "memory", "disk", "gpu" };
    return (unsigned) res < PLACE_RES_COUNT ? names[res] : "?";
}

bool
placement_name_valid (const char *name, char *why, size_t why_size)
{
    const char *problem = NULL;
    size_t len = name ? strlen (name) : 0;
    if (len == 0)
        problem = "name is empty";
    else if (len > PLACE_NAME_MAX)
        problem = "name is longer than 63 characters";
    else if (!(name[0] >= 'a' && name[0] <= 'z'))
        problem = "name must start with a lowercase letter";
    else if (name[len - 1] == '-')
        problem = "name must not end with '-'";
    else
        for (size_t i = 0; i < len && !problem; i++) {
            char ch = name[i];
            if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-'))
                problem = "name may contain only a-z, 0-9 and '-'";
        }
    if (problem && why && why_size)
        snprintf (why, why_size, "invalid shed name '%.63s%s': %s", name ? name : "",
                  len > 63 ? "..." : "", problem);
    return problem == NULL;
}

int
placement_size_parse (const char *text, uint64_t bare_unit, uint64_t *bytes)
{
    assert (bytes);
    if (!text || !*text || !isdigit ((unsigned char) text[0]))
        return -1;
    char *end;
    errno = 0;
    double num = strtod (text, &end);
    if (errno || end == text || !isfinite (num) || num < 0)
        return -1;
    while (*end == ' ')
        end++;
    double unit;
    if (*end == '\0')
        unit = (double) bare_unit;
    else {
        switch (tolower ((unsigned char) *end)) {
        case 'b':
            unit = 1;
            end--;
            break; /* "512B": no multiplier */
        case 'k':
            unit = 1024.0;
            break;
        case 'm':
            unit = 1024.0 * 1024;
            break;
        case 'g':
            unit = 1024.0 * 1024 * 1024;
            break;
        case 't':
            unit = 1024.0 * 1024 * 1024 * 1024;
            break;
        default:
            return -1;
        }
        end++;
        if (unit != 1 && (*end == 'i' || *end == 'I'))
            end++;
        if (*end == 'b' || *end == 'B')
            end++;
        if (*end)
            return -1;
    }
    double v = num * unit;
    if (v >= 1.8e19 || (v != floor (v) && unit == 1))
        return -1;
    *bytes = (uint64_t) v;
    return 0;
}

void
placement_size_format (uint64_t bytes, char *buf, size_t size)
{
    static const char *units[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB" };
    double v = (double) bytes;
    int u = 0;
    while (v >= 1024.0 && u < 5) {
        v /= 1024.0;
        u++;
    }
    if (u == 0 || v == floor (v))
        snprintf (buf, size, "%.0f %s", v, units[u]);
    else {
        /* Truncate, never round up: "3.99 GiB free" must not read "4 GiB". */
        double t = floor (v * 10.0) / 10.0;
        snprintf (buf, size, "%.1f %s", t, units[u]);
    }
}

int
placement_cpus_parse (const char *text, uint64_t *millicpus)
{
    assert (millicpus);
    if (!text || !*text || !(isdigit ((unsigned char) text[0]) || text[0] == '.'))
        return -1;
    char *end;
    errno = 0;
    double v = strtod (text, &end);
    if (errno || end == text || !isfinite (v) || v < 0)
        return -1;
    if (*end == 'm' && end[1] == '\0') {
        if (v != floor (v) || v > 1e12)
            return -1;
        *millicpus = (uint64_t) v;
        return 0;
    }
    if (*end || v > 1e9)
        return -1;
    *millicpus = (uint64_t) llround (v * 1000.0);
    return 0;
}

int
placement_constraint_parse (const char *text, place_constraint_t *out, char *why, size_t why_size)
{
    assert (out);
    memset (out, 0, sizeof *out);
    if (!text || !*text) {
        snprintf (why, why_size, "empty constraint");
        return -1;
    }
    const char *p = text;
    bool negate = false;
    if (*p == '!') {
        negate = true;
        p++;
    }
    size_t klen = 0;
    while (p[klen] && (isalnum ((unsigned char) p[klen]) || strchr ("._-/", p[klen])))
        klen++;
    if (klen == 0 || klen > PLACE_TAG_KEY_MAX) {
        snprintf (why, why_size,
                  "constraint '%.80s': expected KEY, KEY=VALUE, "
                  "KEY!=VALUE, KEY>=N, KEY<=N, KEY>N, KEY<N or !KEY",
                  text);
        return -1;
    }
    memcpy (out->key, p, klen);
    out->key[klen] = '\0';
    p += klen;
    if (*p == '\0') {
        out->op = negate ? PLACE_OP_ABSENT : PLACE_OP_EXISTS;
        return 0;
    }
    if (negate) {
        snprintf (why, why_size, "constraint '%.80s': '!' goes only before a bare KEY", text);
        return -1;
    }
    static const struct {
        const char *text;
        place_op_t op;
    } ops[] = {
        { "!=", PLACE_OP_NE }, { ">=", PLACE_OP_GE }, { "<=", PLACE_OP_LE }, { "==", PLACE_OP_EQ },
        { "=", PLACE_OP_EQ },  { ">", PLACE_OP_GT },  { "<", PLACE_OP_LT },
    };
    size_t i;
    for (i = 0; i < sizeof ops / sizeof ops[0]; i++)
        if (strncmp (p, ops[i].text, strlen (ops[i].text)) == 0)
            break;
    if (i == sizeof ops / sizeof ops[0]) {
        snprintf (why, why_size, "constraint '%.80s': unknown operator after '%s'", text, out->key);
        return -1;
    }
    out->op = ops[i].op;
    p += strlen (ops[i].text);
    if (*p == '\0' || strlen (p) > PLACE_TAG_VALUE_MAX) {
        snprintf (why, why_size, "constraint '%.80s': value missing or too long", text);
        return -1;
    }
    if (out->op >= PLACE_OP_GE && out->op <= PLACE_OP_LT) {
        double d;
        if (!s_parse_num (out->key, p, &d)) {
            snprintf (why, why_size, "constraint '%.80s': '%s' needs a number", text,
                      s_op_text[out->op]);
            return -1;
        }
    }
    snprintf (out->value, sizeof out->value, "%s", p);
    return 0;
}
