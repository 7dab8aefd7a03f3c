/*
 * state.c - the replicated record store (see state.h for the model).
 *
 * Layout: one s_origin_t per origin we have heard of, holding its records in
 * a hash keyed "kind\nkey" (kinds and keys cannot contain control chars, so
 * the join is unambiguous). Per origin we keep:
 *   max        the version through which we hold everything of that origin
 *              (the scuttlebutt digest value). It moves only over versions
 *              we know are covered: a DELTA span whose base we had reached,
 *              or a record exactly max + 1.
 *   floor      the highest version of a tombstone purged here; a peer below
 *              it cannot be brought up to date by a delta (see s_apply_span).
 *   reset_floor the floor we last reset this origin for, so a multi-message
 *              catch-up resets once, not once per message.
 * For our own origin, `used` is the last version handed out (== max), `hwm`
 * the reservation on disk, `pushed` the last version sent by state_push.
 *
 * Signatures (docs/state.md, "Trust"): each record keeps its origin's
 * signature. Verification happens only for records that would change the
 * store (stale ones cost nothing), and a record that was not verified
 * never moves its origin's max: `held` marks an origin of which the
 * current message carried a deferred or refused record, so its span does
 * not claim versions we did not take.
 */
#include "cluster/state.h"
#include "common/fileutil.h"
#include "common/log.h"

#include <czmq.h>
#include <errno.h>
#include <inttypes.h>
#include <sodium.h>

#define S_COMP "state"

typedef struct {
    char *hkey; /* "kind\nkey", the hash key (owned by us) */
    char kind[STATE_KIND_MAX + 1];
    char *key;      /* points into hkey */
    uint8_t *value; /* NULL when len == 0 */
    size_t len;
    uint64_t version;
    bool tomb;
    int64_t updated_ms;
    bool has_sig;
    uint8_t sig[STATE_SIG_BYTES]; /* the origin's signature (has_sig) */
} s_rec_t;

typedef struct {
    char name[STATE_ORIGIN_MAX + 1];
    state_status_t status;
    uint64_t max;
    uint64_t top; /* highest version ever stored here: no record is above it,
                     so a delta skips the origin without a walk */
    uint64_t floor;
    uint64_t reset_floor;
    int64_t removed_ms; /* when it was removed (entry expiry) */
    size_t live_bytes;  /* value bytes held, for the bound */
    bool held;          /* this message had records we did not take */
    zhashx_t *recs;     /* hkey -> s_rec_t */
} s_origin_t;

struct _state_t {
    char self[STATE_ORIGIN_MAX + 1];
    char *path;        /* <data_dir>/state.bin, or NULL */
    zhashx_t *origins; /* name -> s_origin_t */
    s_origin_t *mine;  /* our own origin (in origins) */
    uint64_t used;     /* last version handed out */
    uint64_t hwm;      /* reserved on disk */
    uint64_t pushed;   /* last own version pushed */
    bool dirty;        /* own records changed since flush */
    int64_t ttl_ms;
    state_clock_fn *clock;
    void *clock_arg;
    state_change_fn *handler;
    void *handler_arg;
    state_sign_fn *signer;
    void *signer_arg;
    state_key_fn *keys; /* verifier's key lookup, NULL: no checks */
    void *keys_arg;
    int64_t deferred_log_ms; /* last "key unknown" log line (rate limit) */
    state_stats_t stats;
    /* Origins sorted by name, rebuilt only when an origin comes or goes:
     * every DIGEST and DELTA wants that order, and a sort of every origin
     * per anti-entropy round was most of a large cluster's AE cost. */
    s_origin_t **sorted;
    size_t nsorted;
    bool sorted_valid;
};

/* ---- helpers ------------------------------------------------------------- */

static int64_t
s_default_clock (void *arg)
{
    return zclock_mono ();
}

static int64_t
s_now (state_t *self)
{
    return self->clock (self->clock_arg);
}

static void
s_rec_destroy (s_rec_t **rec_p)
{
    if (*rec_p) {
        s_rec_t *rec = *rec_p;
        free (rec->hkey);
        free (rec->value);
        free (rec);
        *rec_p = NULL;
    }
}

static void
s_rec_free_fn (void **item)
{
    s_rec_destroy ((s_rec_t **) item);
}

static char *
s_hkey (const char *kind, const char *key)
{
    return zsys_sprintf ("%s\n%s", kind, key);
}

static s_origin_t *
s_origin_new (const char *name)
{
    s_origin_t *o = (s_origin_t *) zmalloc (sizeof (s_origin_t));
    assert (o);
    snprintf (o->name, sizeof o->name, "%s", name);
    o->recs = zhashx_new ();
    assert (o->recs);
    zhashx_set_destructor (o->recs, s_rec_free_fn);
    /* The key is the record's own hkey (freed with the record): no second
     * copy per record. Records are only inserted, never updated in place
     * through the hash, so the key always outlives its entry. */
    zhashx_set_key_duplicator (o->recs, NULL);
    zhashx_set_key_destructor (o->recs, NULL);
    return o;
}

static void
s_origin_destroy (s_origin_t **o_p)
{
    if (*o_p) {
        zhashx_destroy (&(*o_p)->recs);
        free (*o_p);
        *o_p = NULL;
    }
}

static void
s_origin_free_fn (void **item)
{
    s_origin_destroy ((s_origin_t **) item);
}

static s_origin_t *
s_origin_require (state_t *self, const char *name)
{
    s_origin_t *o = (s_origin_t *) zhashx_lookup (self->origins, name);
    if (!o) {
        o = s_origin_new (name);
        zhashx_insert (self->origins, o->name, o);
        self->sorted_valid = false;
    }
    return o;
}

static void
s_view (const s_origin_t *o, const s_rec_t *rec, state_record_t *out)
{
    out->origin = o->name;
    out->kind = rec->kind;
    out->key = rec->key;
    out->value = rec->value;
    out->value_len = rec->len;
    out->version = rec->version;
    out->tombstone = rec->tomb;
    out->updated_ms = rec->updated_ms;
    out->status = o->status;
}

static void
s_emit (state_t *self, state_event_t ev, const s_origin_t *o, const s_rec_t *rec)
{
    if (!self->handler)
        return;
    state_record_t view;
    if (rec)
        s_view (o, rec, &view);
    else {
        memset (&view, 0, sizeof view);
        view.origin = o->name;
        view.status = o->status;
    }
    self->handler (self->handler_arg, ev, &view);
}

/* ---- signatures ---------------------------------------------------------- */

#define S_SIG_DOMAIN "shed-state-record-v1" /* 20 bytes, no NUL */

static void
s_hash_str (crypto_generichash_state *h, const char *text)
{
    /* Every text field is at most 200 bytes: one length byte is enough
     * and makes the concatenation unambiguous. */
    size_t n = strlen (text);
    uint8_t len = (uint8_t) n;
    crypto_generichash_update (h, &len, 1);
    crypto_generichash_update (h, (const uint8_t *) text, n);
}

void
state_rec_signed_msg (const char *origin, const char *kind, const char *key, uint64_t version,
                      bool tomb, const uint8_t *value, size_t len, uint8_t out[STATE_SIGNED_LEN])
{
    /* Canonical encoding, hashed (docs/state.md, "Trust"): the domain,
     * then len8 origin, len8 kind, len8 key, version (8 bytes BE),
     * tombstone (1 byte), len32 (BE) value. Hashing first keeps the
     * signed message short whatever the value's size. */
    crypto_generichash_state h;
    crypto_generichash_init (&h, NULL, 0, 32);
    crypto_generichash_update (&h, (const uint8_t *) S_SIG_DOMAIN, strlen (S_SIG_DOMAIN));
    s_hash_str (&h, origin);
    s_hash_str (&h, kind);
    s_hash_str (&h, key);
    uint8_t fixed[13];
    for (int i = 0; i < 8; i++)
        fixed[i] = (uint8_t) (version >> (56 - 8 * i));
    fixed[8] = tomb ? 1 : 0;
    uint32_t vlen = (uint32_t) len;
    for (int i = 0; i < 4; i++)
        fixed[9 + i] = (uint8_t) (vlen >> (24 - 8 * i));
    crypto_generichash_update (&h, fixed, sizeof fixed);
    if (len)
        crypto_generichash_update (&h, value, len);
    memcpy (out, S_SIG_DOMAIN, 20);
    crypto_generichash_final (&h, out + 20, 32);
}

/* Sign one of our own records (no-op without a signer). */
static void
s_sign (state_t *self, s_rec_t *rec)
{
    if (!self->signer) {
        rec->has_sig = false;
        return;
    }
    uint8_t msg[STATE_SIGNED_LEN];
    state_rec_signed_msg (self->self, rec->kind, rec->key, rec->version, rec->tomb, rec->value,
                          rec->len, msg);
    self->signer (self->signer_arg, msg, sizeof msg, rec->sig);
    rec->has_sig = true;
}

/* Replace or insert the record of `o` at (kind, key); emits the event that
 * the transition means to readers. Takes ownership of `value`. `sig` is
 * the origin's signature (NULL: none; our own records are signed here). */
static void
s_store (state_t *self, s_origin_t *o, const char *kind, const char *key, uint8_t *value,
         size_t len, uint64_t version, bool tomb, const uint8_t *sig)
{
    char *hkey = s_hkey (kind, key);
    s_rec_t *old = (s_rec_t *) zhashx_lookup (o->recs, hkey);
    bool was_live = old && !old->tomb;
    s_rec_t *rec = old;
    if (rec) {
        free (hkey);
        o->live_bytes -= rec->len;
        free (rec->value);
    }
    else {
        rec = (s_rec_t *) zmalloc (sizeof (s_rec_t));
        assert (rec);
        rec->hkey = hkey;
        rec->key = rec->hkey + strlen (kind) + 1;
        snprintf (rec->kind, sizeof rec->kind, "%s", kind);
        zhashx_insert (o->recs, hkey, rec);
    }
    rec->value = len ? value : NULL;
    if (!len)
        free (value);
    rec->len = len;
    rec->version = version;
    if (version > o->top)
        o->top = version;
    rec->tomb = tomb;
    rec->updated_ms = s_now (self);
    o->live_bytes += len;
    if (o == self->mine && !sig)
        s_sign (self, rec);
    else {
        rec->has_sig = sig != NULL;
        if (sig)
            memcpy (rec->sig, sig, STATE_SIG_BYTES);
    }

    if (was_live && !tomb)
        s_emit (self, STATE_EV_UPDATED, o, rec);
    else if (was_live && tomb)
        s_emit (self, STATE_EV_DELETED, o, rec);
    else if (!tomb)
        s_emit (self, STATE_EV_INSERTED, o, rec);
}

/* Drop every record of `o`, telling readers about the live ones. */
static void
s_origin_clear (state_t *self, s_origin_t *o)
{
    s_rec_t *rec = (s_rec_t *) zhashx_first (o->recs);
    while (rec) {
        if (!rec->tomb)
            s_emit (self, STATE_EV_DELETED, o, rec);
        rec = (s_rec_t *) zhashx_next (o->recs);
    }
    zhashx_purge (o->recs);
    o->live_bytes = 0;
}

/* ---- persistence --------------------------------------------------------- */

static int
s_rec_cmp_version (const void *a, const void *b)
{
    const s_rec_t *ra = *(const s_rec_t *const *) a;
    const s_rec_t *rb = *(const s_rec_t *const *) b;
    return ra->version < rb->version ? -1 : ra->version > rb->version;
}

/* Records of `o` with version > `above`, ascending. Caller frees the array
 * (not the records). */
static s_rec_t **
s_recs_above (s_origin_t *o, uint64_t above, size_t *n_out)
{
    size_t cap = zhashx_size (o->recs);
    s_rec_t **arr = (s_rec_t **) malloc ((cap ? cap : 1) * sizeof (s_rec_t *));
    assert (arr);
    size_t n = 0;
    for (s_rec_t *rec = (s_rec_t *) zhashx_first (o->recs); rec;
         rec = (s_rec_t *) zhashx_next (o->recs))
        if (rec->version > above)
            arr[n++] = rec;
    qsort (arr, n, sizeof arr[0], s_rec_cmp_version);
    *n_out = n;
    return arr;
}

/* Copy a stored record into a wire record (the wire record owns its copy,
 * so any filled message is freed the same way as a decoded one). */
static void
s_to_wire (const s_origin_t *o, const s_rec_t *rec, state_rec_t *w)
{
    snprintf (w->origin, sizeof w->origin, "%s", o->name);
    snprintf (w->kind, sizeof w->kind, "%s", rec->kind);
    snprintf (w->key, sizeof w->key, "%s", rec->key);
    w->version = rec->version;
    w->tomb = rec->tomb;
    if (rec->has_sig)
        memcpy (w->sig, rec->sig, STATE_SIG_BYTES);
    if (rec->len) {
        w->value.data = (uint8_t *) malloc (rec->len);
        assert (w->value.data);
        memcpy (w->value.data, rec->value, rec->len);
        w->value.len = rec->len;
    }
}

/* Write state.bin: our records and the reservation `hwm`. */
static int
s_save (state_t *self, uint64_t hwm)
{
    if (!self->path)
        return 0;
    state_msg_t msg;
    memset (&msg, 0, sizeof msg);
    msg.hdr.type = STATE_SNAPSHOT;
    state_snapshot_t *snap = &msg.u.state_snapshot;
    snprintf (snap->origin, sizeof snap->origin, "%s", self->self);
    snap->hwm = hwm;
    snap->floor = self->mine->floor;
    size_t n;
    s_rec_t **arr = s_recs_above (self->mine, 0, &n);
    if (n) {
        snap->recs.items = (state_rec_t *) calloc (n, sizeof (state_rec_t));
        assert (snap->recs.items);
        snap->recs.n = n;
        for (size_t i = 0; i < n; i++)
            s_to_wire (self->mine, arr[i], &snap->recs.items[i]);
    }
    free (arr);

    uint8_t *buf = NULL;
    size_t len = 0;
    int rc = wire_encode (&state_proto, &msg, &buf, &len);
    wire_msg_free (&state_proto, &msg);
    if (rc) {
        log_error (S_COMP, "cannot encode state file|err=\"%s\"", wire_strerror (rc));
        return -STATE_ERR_IO;
    }
    rc = shed_write_file_atomic (self->path, buf, len, 0600);
    free (buf);
    if (rc) {
        log_error (S_COMP, "cannot write state file|path=%s errno=%d", self->path, errno);
        return -STATE_ERR_IO;
    }
    return 0;
}

/* The largest state.bin we accept: every own record at its bound. */
#define S_FILE_MAX                                                                                 \
    ((size_t) STATE_LOCAL_BYTES_MAX                                                                \
     + (size_t) STATE_LOCAL_MAX                                                                    \
           * (STATE_REC_OVERHEAD + STATE_ORIGIN_MAX + STATE_KIND_MAX + STATE_KEY_MAX)              \
     + 4096)

static int
s_load (state_t *self, char *err, size_t errlen)
{
    size_t len = 0;
    char *buf = shed_read_file (self->path, S_FILE_MAX, &len);
    if (!buf) {
        if (errno == ENOENT)
            return 0; /* first start */
        snprintf (err, errlen, "%s: %s", STATE_FILE, strerror (errno));
        return -1;
    }
    state_msg_t msg;
    const char *field = "";
    int rc = wire_decode (&state_proto, (const uint8_t *) buf, len, &msg, &field);
    free (buf);
    if (rc == 0 && msg.hdr.type != STATE_SNAPSHOT) {
        wire_msg_free (&state_proto, &msg);
        rc = WIRE_ERR_TYPE;
    }
    if (rc) {
        snprintf (err, errlen, "%s: %s%s%s", STATE_FILE, wire_strerror (rc), *field ? " in " : "",
                  field);
        return -1;
    }
    state_snapshot_t *snap = &msg.u.state_snapshot;
    if (strcmp (snap->origin, self->self)) {
        snprintf (err, errlen, "%s: belongs to node \"%s\", not \"%s\"", STATE_FILE, snap->origin,
                  self->self);
        wire_msg_free (&state_proto, &msg);
        return -1;
    }
    for (size_t i = 0; i < snap->recs.n; i++) {
        state_rec_t *w = &snap->recs.items[i];
        if (strcmp (w->origin, self->self) || w->version > snap->hwm) {
            snprintf (err, errlen, "%s: record %zu is not ours or above the reservation",
                      STATE_FILE, i);
            wire_msg_free (&state_proto, &msg);
            s_origin_clear (self, self->mine);
            return -1;
        }
        /* Loaded records keep their signature; state_set_signer signs
         * them again (a file from before signatures has none). */
        static const uint8_t zero[STATE_SIG_BYTES];
        bool has_sig = memcmp (w->sig, zero, sizeof zero) != 0;
        s_store (self, self->mine, w->kind, w->key, w->value.data, w->value.len, w->version,
                 w->tomb, has_sig ? w->sig : NULL);
        w->value.data = NULL; /* moved into the store */
        w->value.len = 0;
    }
    /* Continue above the whole reservation: versions between the last one
     * used and hwm may have reached peers before a crash. */
    self->used = snap->hwm;
    self->hwm = snap->hwm;
    self->pushed = snap->hwm; /* peers had their chance to see these */
    self->mine->max = snap->hwm;
    self->mine->floor = snap->floor;
    wire_msg_free (&state_proto, &msg);
    return 0;
}

/* ---- lifecycle ----------------------------------------------------------- */

state_t *
state_new (const char *self_name, const char *data_dir, char *err, size_t errlen)
{
    assert (self_name);
    if (!state_origin_valid (self_name)) {
        snprintf (err, errlen, "bad node name for the state store");
        return NULL;
    }
    state_t *self = (state_t *) zmalloc (sizeof (state_t));
    assert (self);
    snprintf (self->self, sizeof self->self, "%s", self_name);
    self->origins = zhashx_new ();
    assert (self->origins);
    zhashx_set_destructor (self->origins, s_origin_free_fn);
    /* Keys are the origins' own names (see s_origin_require). */
    zhashx_set_key_duplicator (self->origins, NULL);
    zhashx_set_key_destructor (self->origins, NULL);
    self->ttl_ms = STATE_TOMBSTONE_TTL_DEFAULT;
    self->clock = s_default_clock;
    self->mine = s_origin_require (self, self_name);
    if (data_dir) {
        self->path = zsys_sprintf ("%s/%s", data_dir, STATE_FILE);
        if (s_load (self, err, errlen)) {
            state_destroy (&self);
            return NULL;
        }
    }
    return self;
}

void
state_destroy (state_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        state_t *self = *self_p;
        if (self->path && self->dirty)
            s_save (self, self->hwm);
        zhashx_destroy (&self->origins);
        zstr_free (&self->path);
        free (self->sorted);
        free (self);
        *self_p = NULL;
    }
}

void
state_set_clock (state_t *self, state_clock_fn *fn, void *arg)
{
    assert (self);
    self->clock = fn ? fn : s_default_clock;
    self->clock_arg = arg;
}

void
state_set_handler (state_t *self, state_change_fn *fn, void *arg)
{
    assert (self);
    self->handler = fn;
    self->handler_arg = arg;
}

void
state_set_tombstone_ttl (state_t *self, int64_t ttl_ms)
{
    assert (self);
    self->ttl_ms = ttl_ms > 0 ? ttl_ms : STATE_TOMBSTONE_TTL_DEFAULT;
}

void
state_set_signer (state_t *self, state_sign_fn *fn, void *arg)
{
    assert (self);
    self->signer = fn;
    self->signer_arg = arg;
    /* Ed25519 is deterministic: records already signed by this key get the
     * same bytes, so only a changed key or a missing signature dirties. */
    for (s_rec_t *rec = (s_rec_t *) zhashx_first (self->mine->recs); rec;
         rec = (s_rec_t *) zhashx_next (self->mine->recs)) {
        uint8_t before[STATE_SIG_BYTES];
        bool had = rec->has_sig;
        memcpy (before, rec->sig, sizeof before);
        s_sign (self, rec);
        if (rec->has_sig != had || memcmp (before, rec->sig, sizeof before))
            self->dirty = true;
    }
}

void
state_set_verifier (state_t *self, state_key_fn *fn, void *arg)
{
    assert (self);
    self->keys = fn;
    self->keys_arg = arg;
}

const char *
state_self (const state_t *self)
{
    assert (self);
    return self->self;
}

/* ---- local writes -------------------------------------------------------- */

/* The next own version, reserving (on disk first) when the reservation is
 * used up. */
static int
s_next_version (state_t *self, uint64_t *version)
{
    if (self->used >= STATE_VERSION_MAX - STATE_VERSION_CHUNK)
        return -STATE_ERR_EXHAUSTED;
    uint64_t next = self->used + 1;
    if (next > self->hwm) {
        uint64_t hwm = self->used + STATE_VERSION_CHUNK;
        int rc = s_save (self, hwm);
        if (rc)
            return rc;
        self->hwm = hwm;
    }
    *version = next;
    return 0;
}

int
state_put (state_t *self, const char *kind, const char *key, const void *value, size_t len)
{
    assert (self);
    if (!kind || !key || !state_kind_valid (kind) || !state_key_valid (key) || (len && !value))
        return -STATE_ERR_ARG;
    if (len > STATE_VALUE_MAX)
        return -STATE_ERR_TOO_BIG;

    char *hkey = s_hkey (kind, key);
    s_rec_t *old = (s_rec_t *) zhashx_lookup (self->mine->recs, hkey);
    free (hkey);
    /* Re-putting the same value costs nothing: no version, no traffic. */
    if (old && !old->tomb && old->len == len && (len == 0 || memcmp (old->value, value, len) == 0))
        return 0;
    if (!old && zhashx_size (self->mine->recs) >= STATE_LOCAL_MAX)
        return -STATE_ERR_FULL;
    if (self->mine->live_bytes - (old ? old->len : 0) + len > STATE_LOCAL_BYTES_MAX)
        return -STATE_ERR_FULL;

    uint64_t version;
    int rc = s_next_version (self, &version);
    if (rc)
        return rc;
    uint8_t *copy = NULL;
    if (len) {
        copy = (uint8_t *) malloc (len);
        assert (copy);
        memcpy (copy, value, len);
    }
    self->used = version;
    self->mine->max = version;
    self->dirty = true;
    s_store (self, self->mine, kind, key, copy, len, version, false, NULL);
    return 0;
}

int
state_delete (state_t *self, const char *kind, const char *key)
{
    assert (self);
    if (!kind || !key || !state_kind_valid (kind) || !state_key_valid (key))
        return -STATE_ERR_ARG;
    char *hkey = s_hkey (kind, key);
    s_rec_t *old = (s_rec_t *) zhashx_lookup (self->mine->recs, hkey);
    free (hkey);
    if (!old || old->tomb)
        return -STATE_ERR_NOT_FOUND;
    uint64_t version;
    int rc = s_next_version (self, &version);
    if (rc)
        return rc;
    self->used = version;
    self->mine->max = version;
    self->dirty = true;
    s_store (self, self->mine, kind, key, NULL, 0, version, true, NULL);
    return 0;
}

/* ---- reads --------------------------------------------------------------- */

int
state_get (state_t *self, const char *origin, const char *kind, const char *key,
           state_record_t *out)
{
    assert (self);
    assert (out);
    if (!origin || !kind || !key)
        return -STATE_ERR_ARG;
    s_origin_t *o = (s_origin_t *) zhashx_lookup (self->origins, origin);
    if (!o)
        return -STATE_ERR_NOT_FOUND;
    char *hkey = s_hkey (kind, key);
    s_rec_t *rec = (s_rec_t *) zhashx_lookup (o->recs, hkey);
    free (hkey);
    if (!rec)
        return -STATE_ERR_NOT_FOUND;
    s_view (o, rec, out);
    return 0;
}

static int
s_origin_cmp_name (const void *a, const void *b)
{
    const s_origin_t *oa = *(const s_origin_t *const *) a;
    const s_origin_t *ob = *(const s_origin_t *const *) b;
    return strcmp (oa->name, ob->name);
}

static int
s_rec_cmp_hkey (const void *a, const void *b)
{
    const s_rec_t *ra = *(const s_rec_t *const *) a;
    const s_rec_t *rb = *(const s_rec_t *const *) b;
    return strcmp (ra->hkey, rb->hkey);
}

/* Origins sorted by name (a stable order for iteration and deltas): a
 * copy of the cached order (callers free it, and may call back into the
 * store while they walk it). */
static s_origin_t **
s_origins_sorted (state_t *self, size_t *n_out)
{
    size_t cap = zhashx_size (self->origins);
    if (!self->sorted_valid || self->nsorted != cap) {
        s_origin_t **sorted =
            (s_origin_t **) realloc (self->sorted, (cap ? cap : 1) * sizeof (s_origin_t *));
        assert (sorted);
        self->sorted = sorted;
        size_t n = 0;
        for (s_origin_t *o = (s_origin_t *) zhashx_first (self->origins); o;
             o = (s_origin_t *) zhashx_next (self->origins))
            sorted[n++] = o;
        qsort (sorted, n, sizeof sorted[0], s_origin_cmp_name);
        self->nsorted = n;
        self->sorted_valid = true;
    }
    s_origin_t **arr = (s_origin_t **) malloc ((cap ? cap : 1) * sizeof (s_origin_t *));
    assert (arr);
    memcpy (arr, self->sorted, self->nsorted * sizeof arr[0]);
    *n_out = self->nsorted;
    return arr;
}

static int
s_foreach_origin (s_origin_t *o, const char *kind, bool tombstones, state_iter_fn *fn, void *arg)
{
    size_t cap = zhashx_size (o->recs), n = 0;
    s_rec_t **arr = (s_rec_t **) malloc ((cap ? cap : 1) * sizeof (s_rec_t *));
    assert (arr);
    for (s_rec_t *rec = (s_rec_t *) zhashx_first (o->recs); rec;
         rec = (s_rec_t *) zhashx_next (o->recs))
        if ((tombstones || !rec->tomb) && (!kind || streq (kind, rec->kind)))
            arr[n++] = rec;
    qsort (arr, n, sizeof arr[0], s_rec_cmp_hkey);
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        state_record_t view;
        s_view (o, arr[i], &view);
        rc = fn (arg, &view);
    }
    free (arr);
    return rc;
}

int
state_foreach (state_t *self, const char *origin, const char *kind, bool tombstones,
               state_iter_fn *fn, void *arg)
{
    assert (self);
    assert (fn);
    if (origin) {
        s_origin_t *o = (s_origin_t *) zhashx_lookup (self->origins, origin);
        return o ? s_foreach_origin (o, kind, tombstones, fn, arg) : 0;
    }
    size_t n;
    s_origin_t **arr = s_origins_sorted (self, &n);
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = s_foreach_origin (arr[i], kind, tombstones, fn, arg);
    free (arr);
    return rc;
}

static size_t
s_count_origin (s_origin_t *o, const char *kind)
{
    size_t n = 0;
    for (s_rec_t *rec = (s_rec_t *) zhashx_first (o->recs); rec;
         rec = (s_rec_t *) zhashx_next (o->recs))
        if (!rec->tomb && (!kind || streq (kind, rec->kind)))
            n++;
    return n;
}

size_t
state_count (state_t *self, const char *origin, const char *kind)
{
    assert (self);
    if (origin) {
        s_origin_t *o = (s_origin_t *) zhashx_lookup (self->origins, origin);
        return o ? s_count_origin (o, kind) : 0;
    }
    size_t n = 0;
    for (s_origin_t *o = (s_origin_t *) zhashx_first (self->origins); o;
         o = (s_origin_t *) zhashx_next (self->origins))
        n += s_count_origin (o, kind);
    return n;
}

/* ---- origins ------------------------------------------------------------- */

uint64_t
state_origin_max (state_t *self, const char *origin)
{
    assert (self);
    s_origin_t *o = (s_origin_t *) zhashx_lookup (self->origins, origin);
    return o ? o->max : 0;
}

int
state_origin_set_status (state_t *self, const char *origin, state_status_t status)
{
    assert (self);
    if (!origin || !state_origin_valid (origin) || streq (origin, self->self)
        || status > STATE_REMOVED)
        return -STATE_ERR_ARG;
    s_origin_t *o = s_origin_require (self, origin);
    if (o->status == status)
        return 0;
    if (status == STATE_REMOVED) {
        /* Records go; the entry stays (for a TTL) so lagging peers cannot
         * bring them back through anti-entropy. */
        s_origin_clear (self, o);
        o->max = o->floor = o->reset_floor = 0;
        o->removed_ms = s_now (self);
    }
    o->status = status;
    s_emit (self, STATE_EV_ORIGIN, o, NULL);
    return 0;
}

int
state_origin_rekey (state_t *self, const char *origin)
{
    assert (self);
    if (!origin || !state_origin_valid (origin) || streq (origin, self->self))
        return -STATE_ERR_ARG;
    s_origin_t *o = (s_origin_t *) zhashx_lookup (self->origins, origin);
    if (!o)
        return 0;
    /* Tombstones go too: they were signed by the old key, and the new
     * identity's versions start again, so an old tombstone at a higher
     * version would hide its record. The floor goes with max: nothing of
     * the old identity's history says what the new one has sent. */
    s_origin_clear (self, o);
    o->max = o->floor = o->reset_floor = 0;
    return 0;
}

state_status_t
state_origin_status (state_t *self, const char *origin)
{
    assert (self);
    s_origin_t *o = (s_origin_t *) zhashx_lookup (self->origins, origin);
    return o ? o->status : STATE_ALIVE;
}

const char *
state_status_name (state_status_t status)
{
    switch (status) {
    case STATE_ALIVE:
        return "alive";
    case STATE_UNREACHABLE:
        return "unreachable";
    case STATE_REMOVED:
        return "removed";
    }
    return "?";
}

int
state_status_parse (const char *text, state_status_t *out)
{
    for (int s = STATE_ALIVE; s <= STATE_REMOVED; s++)
        if (text && streq (text, state_status_name ((state_status_t) s))) {
            *out = (state_status_t) s;
            return 0;
        }
    return -1;
}

/* ---- anti-entropy -------------------------------------------------------- */

void
state_msg_free (state_msg_t *msg)
{
    if (msg)
        wire_msg_free (&state_proto, msg);
}

int
state_digest (state_t *self, bool reply, state_msg_t *msg)
{
    assert (self);
    assert (msg);
    memset (msg, 0, sizeof *msg);
    msg->hdr.type = STATE_DIGEST;
    state_digest_t *d = &msg->u.state_digest;
    snprintf (d->from, sizeof d->from, "%s", self->self);
    d->reply = reply;
    size_t n;
    s_origin_t **arr = s_origins_sorted (self, &n);
    d->entries.items = (state_dig_t *) calloc (n ? n : 1, sizeof (state_dig_t));
    assert (d->entries.items);
    for (size_t i = 0; i < n && d->entries.n < STATE_DIGEST_MAX; i++) {
        if (arr[i]->status == STATE_REMOVED)
            continue;
        state_dig_t *e = &d->entries.items[d->entries.n++];
        snprintf (e->origin, sizeof e->origin, "%s", arr[i]->name);
        e->max = arr[i]->max;
    }
    free (arr);
    return 0;
}

/* Fill `recs` from the sorted `arr` within the byte budget. Returns the
 * number taken. `*used` counts bytes; the first record of a message always
 * goes so one big record cannot stall replication. */
static size_t
s_take (const s_origin_t *o, s_rec_t **arr, size_t n, state_rec_t *out, size_t *nout, size_t cap,
        size_t budget, size_t *used)
{
    size_t taken = 0;
    for (size_t i = 0; i < n && *nout < cap; i++) {
        size_t sz = STATE_REC_OVERHEAD + strlen (o->name) + strlen (arr[i]->kind)
                    + strlen (arr[i]->key) + arr[i]->len;
        if (*nout > 0 && *used + sz > budget)
            break;
        s_to_wire (o, arr[i], &out[(*nout)++]);
        *used += sz;
        taken++;
    }
    return taken;
}

/* Bytes a span costs on the wire, generously. */
#define S_SPAN_OVERHEAD 40

int
state_delta (state_t *self, const state_digest_t *peer, size_t budget, state_msg_t *msg)
{
    assert (self);
    assert (peer);
    assert (msg);
    memset (msg, 0, sizeof *msg);
    if (budget == 0)
        budget = STATE_BUDGET_DEFAULT;
    msg->hdr.type = STATE_DELTA;
    state_delta_t *d = &msg->u.state_delta;
    snprintf (d->from, sizeof d->from, "%s", self->self);

    zhashx_t *peer_max = zhashx_new ();
    assert (peer_max);
    /* Keys point into the digest, which outlives the table. */
    zhashx_set_key_duplicator (peer_max, NULL);
    zhashx_set_key_destructor (peer_max, NULL);
    for (size_t i = 0; i < peer->entries.n; i++)
        zhashx_update (peer_max, peer->entries.items[i].origin,
                       (void *) &peer->entries.items[i].max);

    size_t n;
    s_origin_t **arr = s_origins_sorted (self, &n);
    d->spans.items = (state_span_t *) calloc (n ? n : 1, sizeof (state_span_t));
    d->recs.items = (state_rec_t *) calloc (STATE_RECS_MAX, sizeof (state_rec_t));
    assert (d->spans.items && d->recs.items);
    size_t used = 64; /* envelope, sender, list headers */

    for (size_t i = 0; i < n && d->spans.n < STATE_DIGEST_MAX; i++) {
        s_origin_t *o = arr[i];
        if (o->status == STATE_REMOVED || streq (o->name, peer->from))
            continue; /* the peer owns its own records */
        const uint64_t *pm = (const uint64_t *) zhashx_lookup (peer_max, o->name);
        uint64_t base = pm ? *pm : 0;
        if (o->top <= base && o->max <= base)
            continue; /* nothing above base: what the walk below would find */
        size_t nr;
        s_rec_t **recs = s_recs_above (o, base, &nr);
        if (nr == 0 && o->max <= base) {
            free (recs);
            continue;
        }
        if (d->recs.n > 0 && used + S_SPAN_OVERHEAD + strlen (o->name) > budget) {
            free (recs);
            d->more = true;
            break;
        }
        used += S_SPAN_OVERHEAD + strlen (o->name);
        size_t taken =
            s_take (o, recs, nr, d->recs.items, &d->recs.n, STATE_RECS_MAX, budget, &used);
        state_span_t *sp = &d->spans.items[d->spans.n++];
        snprintf (sp->origin, sizeof sp->origin, "%s", o->name);
        sp->base = base;
        sp->floor = o->floor;
        bool cut = taken < nr;
        /* Complete: we hold everything through our max. Cut: through the
         * last record sent, but never claim beyond our own max (records
         * above it came by PUSH and may have gaps below them). */
        uint64_t upto = o->max;
        if (cut && taken > 0 && recs[taken - 1]->version < upto)
            upto = recs[taken - 1]->version;
        if (cut && taken == 0)
            upto = base;
        sp->upto = upto > base ? upto : base;
        free (recs);
        if (cut) {
            d->more = true;
            break;
        }
    }
    free (arr);
    zhashx_destroy (&peer_max);
    if (d->spans.n == 0) {
        state_msg_free (msg);
        msg->hdr.type = STATE_DELTA;
        return 0;
    }
    return 1;
}

int
state_push (state_t *self, size_t budget, state_msg_t *msg)
{
    assert (self);
    assert (msg);
    memset (msg, 0, sizeof *msg);
    if (budget == 0)
        budget = STATE_BUDGET_DEFAULT;
    msg->hdr.type = STATE_PUSH;
    state_push_t *p = &msg->u.state_push;
    snprintf (p->from, sizeof p->from, "%s", self->self);
    if (self->pushed >= self->used)
        return 0;
    size_t n;
    s_rec_t **recs = s_recs_above (self->mine, self->pushed, &n);
    if (n == 0) {
        self->pushed = self->used; /* overwritten or purged in between */
        free (recs);
        return 0;
    }
    p->recs.items =
        (state_rec_t *) calloc (n < STATE_RECS_MAX ? n : STATE_RECS_MAX, sizeof (state_rec_t));
    assert (p->recs.items);
    size_t used = 64;
    size_t taken =
        s_take (self->mine, recs, n, p->recs.items, &p->recs.n, STATE_RECS_MAX, budget, &used);
    self->pushed = taken == n ? self->used : recs[taken - 1]->version;
    free (recs);
    return 1;
}

bool
state_push_pending (state_t *self)
{
    assert (self);
    return self->pushed < self->used;
}

/* What the records of one message did, for one log line per message. */
typedef struct {
    const char *from; /* the sender's name in the message */
    size_t refused, deferred;
    const state_rec_t *first_refused;
    const state_rec_t *first_deferred;
} s_verdicts_t;

/* 0: `w` is signed by its origin; -1: bad or missing signature; 1: the
 * origin's key is not known yet. */
static int
s_verify (state_t *self, const state_rec_t *w)
{
    uint8_t pk[32];
    if (self->keys (self->keys_arg, w->origin, pk) != 0)
        return 1;
    static const uint8_t zero[STATE_SIG_BYTES];
    if (memcmp (w->sig, zero, sizeof zero) == 0)
        return -1;
    uint8_t msg[STATE_SIGNED_LEN];
    state_rec_signed_msg (w->origin, w->kind, w->key, w->version, w->tomb, w->value.data,
                          w->value.len, msg);
    return crypto_sign_verify_detached (w->sig, msg, sizeof msg, pk) == 0 ? 0 : -1;
}

/* Apply one remote record. Returns 1 if it changed the store. */
static int
s_apply_rec (state_t *self, const state_rec_t *w, s_verdicts_t *v)
{
    if (streq (w->origin, self->self)) {
        self->stats.refused_self++;
        return 0;
    }
    s_origin_t *o = s_origin_require (self, w->origin);
    if (o->status == STATE_REMOVED) {
        self->stats.refused_removed++;
        return 0;
    }
    char *hkey = s_hkey (w->kind, w->key);
    s_rec_t *old = (s_rec_t *) zhashx_lookup (o->recs, hkey);
    free (hkey);
    int changed = 0;
    /* Stale records are not verified (they change nothing), so they must
     * not move max either: a forged one could claim a version we lack. */
    bool verified = !self->keys;
    int check = 0;
    if (old && old->version >= w->version)
        self->stats.stale++;
    else if (self->keys && (check = s_verify (self, w)) != 0) {
        o->held = true;
        if (check > 0) {
            self->stats.deferred++;
            if (!v->deferred++)
                v->first_deferred = w;
        }
        else {
            self->stats.refused_sig++;
            if (!v->refused++)
                v->first_refused = w;
        }
        return 0;
    }
    else if (!old && zhashx_size (o->recs) >= STATE_LOCAL_MAX) {
        /* The origin itself could not have written this many. */
        self->stats.refused_removed++;
    }
    else {
        verified = true;
        uint8_t *copy = NULL;
        if (w->value.len) {
            copy = (uint8_t *) malloc (w->value.len);
            assert (copy);
            memcpy (copy, w->value.data, w->value.len);
        }
        s_store (self, o, w->kind, w->key, copy, w->value.len, w->version, w->tomb,
                 self->keys ? w->sig : NULL);
        self->stats.applied++;
        changed = 1;
    }
    /* A record right above max extends the contiguous range. */
    if (verified && w->version == o->max + 1)
        o->max = w->version;
    return changed;
}

/* Before the records of a span: the floor rule. A sender that purged a
 * tombstone above our max cannot tell us about that delete, so records we
 * hold of that origin may be stale: drop them and pull from zero. */
static void
s_span_before (state_t *self, const state_span_t *sp)
{
    if (streq (sp->origin, self->self))
        return;
    s_origin_t *o = s_origin_require (self, sp->origin);
    if (o->status == STATE_REMOVED || sp->floor <= o->max)
        return;
    if (sp->floor > o->floor)
        o->floor = sp->floor; /* we now lack those tombstones too */
    if (sp->floor > o->reset_floor && zhashx_size (o->recs) > 0) {
        s_origin_clear (self, o);
        o->max = 0;
        o->reset_floor = sp->floor;
        self->stats.resets++;
    }
    else if (sp->floor > o->reset_floor)
        o->reset_floor = sp->floor;
}

/* After the records: advance max over the span if it starts where we are. */
static void
s_span_after (state_t *self, const state_span_t *sp)
{
    if (streq (sp->origin, self->self))
        return;
    s_origin_t *o = (s_origin_t *) zhashx_lookup (self->origins, sp->origin);
    if (!o || o->status == STATE_REMOVED)
        return;
    /* Records we did not take stay in the range the peer sends next time. */
    if (o->held)
        return;
    /* After a reset (max back to 0) a span based higher does not count. */
    if (sp->base <= o->max && sp->upto > o->max)
        o->max = sp->upto;
}

static void
s_clear_held (state_t *self)
{
    for (s_origin_t *o = (s_origin_t *) zhashx_first (self->origins); o;
         o = (s_origin_t *) zhashx_next (self->origins))
        o->held = false;
}

/* One line per message, naming the sender: a member that relays forged
 * records shows up in the log at once. Unknown keys are normal for a few
 * hundred ms after a join, so those are rate limited and not warnings. */
static void
s_log_verdicts (state_t *self, const s_verdicts_t *v)
{
    if (v->refused) {
        const state_rec_t *w = v->first_refused;
        log_warn (S_COMP,
                  "refused records with a bad signature|from=%s count=%zu origin=%s "
                  "kind=%s key=\"%s\" version=%" PRIu64,
                  v->from, v->refused, w->origin, w->kind, w->key, w->version);
    }
    if (v->deferred) {
        int64_t now = s_now (self);
        if (self->deferred_log_ms == 0 || now - self->deferred_log_ms >= 10000) {
            self->deferred_log_ms = now;
            log_info (S_COMP,
                      "records deferred: origin key not known yet|from=%s count=%zu "
                      "origin=%s",
                      v->from, v->deferred, v->first_deferred->origin);
        }
    }
}

int
state_apply (state_t *self, const state_msg_t *msg)
{
    assert (self);
    assert (msg);
    int changed = 0;
    s_verdicts_t v = { 0 };
    if (msg->hdr.type == STATE_DELTA) {
        const state_delta_t *d = &msg->u.state_delta;
        v.from = d->from;
        s_clear_held (self);
        for (size_t i = 0; i < d->spans.n; i++)
            s_span_before (self, &d->spans.items[i]);
        for (size_t i = 0; i < d->recs.n; i++)
            changed += s_apply_rec (self, &d->recs.items[i], &v);
        for (size_t i = 0; i < d->spans.n; i++)
            s_span_after (self, &d->spans.items[i]);
    }
    else if (msg->hdr.type == STATE_PUSH) {
        const state_push_t *p = &msg->u.state_push;
        v.from = p->from;
        for (size_t i = 0; i < p->recs.n; i++)
            changed += s_apply_rec (self, &p->recs.items[i], &v);
    }
    else {
        self->stats.bad_msgs++;
        return -STATE_ERR_MSG;
    }
    s_log_verdicts (self, &v);
    return changed;
}

/* ---- periodic ------------------------------------------------------------ */

int
state_flush (state_t *self)
{
    assert (self);
    if (!self->dirty)
        return 0;
    int rc = s_save (self, self->hwm);
    if (rc == 0)
        self->dirty = false;
    return rc;
}

int
state_tick (state_t *self)
{
    assert (self);
    int64_t now = s_now (self);
    zlistx_t *gone = zlistx_new ();
    assert (gone);
    for (s_origin_t *o = (s_origin_t *) zhashx_first (self->origins); o;
         o = (s_origin_t *) zhashx_next (self->origins)) {
        if (o->status == STATE_REMOVED) {
            if (now - o->removed_ms >= self->ttl_ms)
                zlistx_add_end (gone, o->name);
            continue;
        }
        zlistx_t *expired = zlistx_new ();
        assert (expired);
        for (s_rec_t *rec = (s_rec_t *) zhashx_first (o->recs); rec;
             rec = (s_rec_t *) zhashx_next (o->recs))
            if (rec->tomb && now - rec->updated_ms >= self->ttl_ms) {
                zlistx_add_end (expired, rec->hkey);
                if (rec->version > o->floor)
                    o->floor = rec->version;
            }
        for (char *hkey = (char *) zlistx_first (expired); hkey;
             hkey = (char *) zlistx_next (expired)) {
            zhashx_delete (o->recs, hkey);
            self->stats.purged++;
            if (o == self->mine)
                self->dirty = true;
        }
        zlistx_destroy (&expired);
    }
    for (char *name = (char *) zlistx_first (gone); name; name = (char *) zlistx_next (gone))
        zhashx_delete (self->origins, name);
    if (zlistx_size (gone) > 0)
        self->sorted_valid = false;
    zlistx_destroy (&gone);
    return state_flush (self);
}

const state_stats_t *
state_stats (state_t *self)
{
    assert (self);
    return &self->stats;
}

const char *
state_strerror (int code)
{
    switch (code < 0 ? -code : code) {
    case STATE_OK:
        return "ok";
    case STATE_ERR_ARG:
        return "bad kind, key or origin";
    case STATE_ERR_TOO_BIG:
        return "value too large (limit 65536 bytes)";
    case STATE_ERR_FULL:
        return "too many local records or bytes";
    case STATE_ERR_IO:
        return "cannot write the state file";
    case STATE_ERR_NOT_FOUND:
        return "no such record";
    case STATE_ERR_MSG:
        return "not a state delta or push";
    case STATE_ERR_EXHAUSTED:
        return "version space exhausted";
    }
    return "unknown error";
}
