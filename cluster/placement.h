/*
 * placement.h - where should a new shed go? (pure logic: no I/O, no clock,
 * no threads; one seeded PRNG per engine).
 *
 * The caller builds a VIEW of the cluster from the replicated state (one
 * place_node_t per node, borrowed, not copied) and a REQUEST; the engine
 *
 *   1. filters: alive, not draining, pinned node (if any), tag constraints,
 *      the request's image held (docs/images.md), and "fits": for every
 *      resource, request <= free, where
 *          effective = (capacity - reserved) * overcommit
 *          free      = effective - allocated
 *      Each node that does not pass gets ONE reason (the first check it
 *      failed), kept as numbers and formatted only when asked, e.g.
 *          node2: memory 3.1 GiB free < 4 GiB
 *          node3: draining
 *          node4: constraint arch=arm64 not met (x86_64)
 *          node5: image debian not on this node
 *
 *   2. scores each feasible node in [0, 100] by its utilisation AFTER the
 *      placement, u_r = (allocated_r + request_r) / effective_r, over the
 *      resources r in {cpu, memory, disk, gpu} that the node has (effective
 *      > 0), weighted by w_r (default cpu 1, memory 1, disk 0.5, gpu 2):
 *          binpack (default, kube-scheduler MostAllocated, Nomad BestFit):
 *              score = 100 * sum (w_r * u_r) / sum (w_r)
 *          spread (kube-scheduler LeastAllocated):
 *              score = 100 * sum (w_r * (1 - u_r)) / sum (w_r)
 *      Binpack keeps big holes free for big sheds; spread limits the blast
 *      radius of one host. A node with GPUs gets a penalty of `gpu_penalty`
 *      points when the request asks for none, so GPU hosts stay free for
 *      GPU work.
 *
 *   3. orders the feasible nodes by score (ties by name) and keeps the best
 *      `max_candidates`. Then, to avoid herding (every node placing on the
 *      same "best" host from the same stale view), the FIRST candidate is
 *      drawn uniformly at random from the top `top_k` whose score is within
 *      `epsilon` of the best; the others follow in score order. The caller
 *      claims candidate 0, and on rejection moves to 1, 2, ... (bounded by
 *      the list length).
 *
 * Cost: O(min(n, sample) * max_candidates) per decision when enough nodes
 * fit (config.sample, default 512 feasible nodes scored), O(n) when few or
 * none do; no allocation once the result has grown to the view size.
 *
 * Units everywhere: cpu in millicpus, memory and disk in bytes, gpus as a
 * count. Helpers parse shed names, sizes and cpu counts for the CLI/API.
 */
#ifndef SHED_PLACEMENT_H
#define SHED_PLACEMENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PLACE_NAME_MAX        63 /* shed and node names */
#define PLACE_CONSTRAINTS_MAX 16 /* per request */
#define PLACE_CANDIDATES_MAX  16 /* cap on max_candidates */
#define PLACE_TAG_KEY_MAX     63
#define PLACE_TAG_VALUE_MAX   255

/* Resources, in the order used by every array below. */
typedef enum {
    PLACE_CPU = 0,    /* millicpus */
    PLACE_MEMORY = 1, /* bytes */
    PLACE_DISK = 2,   /* bytes */
    PLACE_GPU = 3,    /* devices */
    PLACE_RES_COUNT
} place_res_t;

typedef struct {
    uint64_t v[PLACE_RES_COUNT];
} place_resources_t;

typedef struct {
    const char *key;
    const char *value;
} place_tag_t;

/* One node as the scheduler sees it (borrowed pointers; the view outlives
 * the call). An overcommit ratio of 0 means 1.0. */
typedef struct {
    const char *name;
    bool alive;
    bool draining;
    place_resources_t capacity;
    place_resources_t reserved;         /* kept for the host itself */
    double overcommit[PLACE_RES_COUNT]; /* >= 1.0, e.g. memory 1.5 */
    place_resources_t allocated;        /* sum of admitted sheds */
    const place_tag_t *tags;
    size_t ntags;
    /* The images the node holds: each name and "sha256:<hex>" digest (its
     * REC_IMAGE records). */
    const char *const *images;
    size_t nimages;
} place_node_t;

typedef enum {
    PLACE_OP_EQ,
    PLACE_OP_NE,
    PLACE_OP_GE,
    PLACE_OP_LE,
    PLACE_OP_GT,
    PLACE_OP_LT,
    PLACE_OP_EXISTS, /* "key" alone: the tag is set */
    PLACE_OP_ABSENT, /* "!key": the tag is not set */
} place_op_t;

/* A constraint on a node attribute. The attribute is a node tag, or one of
 * the built-ins when no tag of that name exists: `node` (name), `cpus`,
 * `memory`, `disk` (capacity), `gpu`/`gpus` (GPU capacity). Ordering
 * operators compare numbers (sizes like 4G accepted); = and != compare
 * numbers when both sides are numeric, else strings. */
typedef struct {
    char key[PLACE_TAG_KEY_MAX + 1];
    place_op_t op;
    char value[PLACE_TAG_VALUE_MAX + 1];
} place_constraint_t;

typedef enum {
    PLACE_BINPACK = 0, /* default: MostAllocated */
    PLACE_SPREAD = 1,  /* LeastAllocated */
} place_strategy_t;

typedef struct {
    place_resources_t need;
    place_strategy_t strategy;
    const char *pinned; /* --node NAME, or NULL */
    place_constraint_t constraints[PLACE_CONSTRAINTS_MAX];
    size_t nconstraints;
    /* An image the node must hold: a name, "sha256:<hex>" or "<hex>"; NULL
     * or "" for none. A reference with a '/' is a path a driver reads
     * itself (Firecracker's root file): not checked here. */
    const char *image;
} place_request_t;

/* Why a node was filtered out. */
typedef enum {
    PLACE_R_OK = 0,
    PLACE_R_DEAD, /* not alive (failed or left) */
    PLACE_R_DRAINING,
    PLACE_R_NOT_PINNED, /* another node was asked for (not listed) */
    PLACE_R_CONSTRAINT, /* a constraint did not hold */
    PLACE_R_RESOURCE,   /* a resource did not fit */
    PLACE_R_IMAGE,      /* the request's image is not on the node */
} place_reason_t;

typedef struct _placement_t placement_t;
typedef struct _place_result_t place_result_t;

/* Tunables; placement_new() starts from placement_config_default(). */
typedef struct {
    double weight[PLACE_RES_COUNT]; /* score weights (0 = ignore) */
    size_t top_k;                   /* random pick among best K (1 = none) */
    double epsilon;                 /* ... within this many points of best */
    size_t max_candidates;          /* length of the ordered list */
    double gpu_penalty;             /* points off GPU nodes for non-GPU asks */
    /* Score at most this many FEASIBLE nodes per decision (0 = all). In a
     * view larger than this, the walk starts at a random node and goes
     * round until it has scored `sample` feasible ones, as Nomad's limit
     * iterator does: the best of a few hundred random fits is as good a
     * bin-pack as the global best in practice, and a decision costs
     * O(sample) instead of O(n) (docs/scheduling.md, "Placement at
     * scale"). A placement that finds nothing still walks every node, so
     * the per-node reasons stay complete. */
    size_t sample;
} placement_config_t;

placement_config_t placement_config_default (void);

/* A placement engine with its own PRNG (seed 0 picks a fixed default). */
placement_t *placement_new (uint64_t seed);
void placement_destroy (placement_t **self_p);
void placement_set_config (placement_t *self, const placement_config_t *config);

/* Decide. Fills `result` (reset first). Returns the number of candidates
 * (>= 1), or 0 when nothing fits: then place_result_explain() says why,
 * node by node. Never fails otherwise. */
size_t placement_place (placement_t *self, const place_node_t *nodes, size_t nnodes,
                        const place_request_t *request, place_result_t *result);

/* Results: reusable across decisions (allocation grows to the view size). */
place_result_t *place_result_new (void);
void place_result_destroy (place_result_t **self_p);
size_t place_result_size (const place_result_t *self);            /* candidates */
size_t place_result_index (const place_result_t *self, size_t i); /* into view */
const char *place_result_name (const place_result_t *self, size_t i);
double place_result_score (const place_result_t *self, size_t i);
/* Nodes filtered out (those with reason != NOT_PINNED). */
size_t place_result_rejected (const place_result_t *self);
/* Reason of the i-th rejected node, formatted "node: why" into buf. */
place_reason_t place_result_reason (const place_result_t *self, size_t i, char *buf, size_t size);
/* Every reason joined with "; ", e.g. for "no node fits: ..." errors.
 * Returns a new string (caller frees), "" when nothing was rejected. */
char *place_result_explain (const place_result_t *self);

/* ---- helpers for the CLI / API ---------------------------------------- */

/* Shed's name rule: ^[a-z][a-z0-9-]*[a-z0-9]$|^[a-z]$, at most 63 bytes.
 * Returns true if valid; else false and, if why != NULL, a one-line reason. */
bool placement_name_valid (const char *name, char *why, size_t why_size);

/* Parse a size: "512M", "4G", "4GiB", "1.5G", "100k", "2048" (bare numbers
 * are in `bare_unit` bytes, e.g. 1 or 1 MiB). K/M/G/T with or without "i",
 * with or without "B", any case, are powers of 1024. Returns 0 or -1. */
int placement_size_parse (const char *text, uint64_t bare_unit, uint64_t *bytes);

/* Format bytes as "512 MiB", "3.1 GiB", "1.0 TiB" (one decimal past MiB). */
void placement_size_format (uint64_t bytes, char *buf, size_t size);

/* Parse cpus: "2", "0.5", "1500m" (millicpus). Returns 0 or -1. */
int placement_cpus_parse (const char *text, uint64_t *millicpus);

/* Parse "arch=x86_64", "zone!=b", "gpu>=1", "ssd", "!spot". Returns 0 or -1
 * with a one-line reason in why. */
int placement_constraint_parse (const char *text, place_constraint_t *out, char *why,
                                size_t why_size);

/* Name of a resource ("cpu", "memory", "disk", "gpu"). */
const char *placement_res_name (place_res_t res);

#endif
