/*
 * state.c - the replicated record store (see state.h for the model): the
 * records and origins, signing our own, local writes, reads, origin status
 * and tombstone expiry. The layout is described in state_internal.h;
 * anti-entropy (state_sync.c) and the state file (state_file.c) are apart
 * because each is a protocol of its own over the same tables.
 */
#include "cluster/state_internal.h"

#include <czmq.h>
#include <sodium.h>

/* ---- helpers ------------------------------------------------------------- */

static int64_t
s_default_clock (void *arg)
{
    return zclock_mono ();
}

static void
s_rec_destroy (state_item_t **rec_p)
{
    if (*rec_p) {
        state_item_t *rec = *rec_p;
        free (rec->hkey);
        free (rec->value);
        free (rec);
        *rec_p = NULL;
    }
}

static void
s_rec_free_fn (void **item)
{
    s_rec_destroy ((state_item_t **) item);
}

char *
state__hkey (const char *kind, const char *key)
{
    return zsys_sprintf ("%s\n%s", kind, key);
}

static state_origin_t *
s_origin_new (const char *name)
{
    state_origin_t *o = (state_origin_t *) zmalloc (sizeof (state_origin_t));
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
s_origin_destroy (state_origin_t **o_p)
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
    s_origin_destroy ((state_origin_t **) item);
}

state_origin_t *
state__origin_require (state_t *self, const char *name)
{
    state_origin_t *o = (state_origin_t *) zhashx_lookup (self->origins, name);
    if (!o) {
        o = s_origin_new (name);
        zhashx_insert (self->origins, o->name, o);
        self->sorted_valid = false;
    }
    return o;
}

static void
s_view (const state_origin_t *o, const state_item_t *rec, state_record_t *out)
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
s_emit (state_t *self, state_event_t ev, const state_origin_t *o, const state_item_t *rec)
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
s_sign (state_t *self, state_item_t *rec)
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
void
state__store (state_t *self, state_origin_t *o, const char *kind, const char *key, uint8_t *value,
              size_t len, uint64_t version, bool tomb, const uint8_t *sig)
{
    char *hkey = state__hkey (kind, key);
    state_item_t *old = (state_item_t *) zhashx_lookup (o->recs, hkey);
    bool was_live = old && !old->tomb;
    state_item_t *rec = old;
    if (rec) {
        free (hkey);
        o->live_bytes -= rec->len;
        free (rec->value);
    }
    else {
        rec = (state_item_t *) zmalloc (sizeof (state_item_t));
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
    rec->updated_ms = state__now (self);
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
void
state__origin_clear (state_t *self, state_origin_t *o)
{
    state_item_t *rec = (state_item_t *) zhashx_first (o->recs);
    while (rec) {
        if (!rec->tomb)
            s_emit (self, STATE_EV_DELETED, o, rec);
        rec = (state_item_t *) zhashx_next (o->recs);
    }
    zhashx_purge (o->recs);
    o->live_bytes = 0;
}

/* ---- records in version order, wire copies ----------------------------- */

static int
s_rec_cmp_version (const void *a, const void *b)
{
    const state_item_t *ra = *(const state_item_t *const *) a;
    const state_item_t *rb = *(const state_item_t *const *) b;
    return ra->version < rb->version ? -1 : ra->version > rb->version;
}

/* Records of `o` with version > `above`, ascending. Caller frees the array
 * (not the records). */
state_item_t **
state__recs_above (state_origin_t *o, uint64_t above, size_t *n_out)
{
    size_t cap = zhashx_size (o->recs);
    state_item_t **arr = (state_item_t **) malloc ((cap ? cap : 1) * sizeof (state_item_t *));
    assert (arr);
    size_t n = 0;
    for (state_item_t *rec = (state_item_t *) zhashx_first (o->recs); rec;
         rec = (state_item_t *) zhashx_next (o->recs))
        if (rec->version > above)
            arr[n++] = rec;
    qsort (arr, n, sizeof arr[0], s_rec_cmp_version);
    *n_out = n;
    return arr;
}

/* Copy a stored record into a wire record (the wire record owns its copy,
 * so any filled message is freed the same way as a decoded one). */
void
state__to_wire (const state_origin_t *o, const state_item_t *rec, state_rec_t *w)
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
    /* Keys are the origins' own names (see state__origin_require). */
    zhashx_set_key_duplicator (self->origins, NULL);
    zhashx_set_key_destructor (self->origins, NULL);
    self->ttl_ms = STATE_TOMBSTONE_TTL_DEFAULT;
    self->clock = s_default_clock;
    self->mine = state__origin_require (self, self_name);
    if (data_dir) {
        self->path = zsys_sprintf ("%s/%s", data_dir, STATE_FILE);
        if (state__load (self, err, errlen)) {
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
            state__save (self, self->hwm);
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
    for (state_item_t *rec = (state_item_t *) zhashx_first (self->mine->recs); rec;
         rec = (state_item_t *) zhashx_next (self->mine->recs)) {
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
        int rc = state__save (self, hwm);
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

    char *hkey = state__hkey (kind, key);
    state_item_t *old = (state_item_t *) zhashx_lookup (self->mine->recs, hkey);
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
    state__store (self, self->mine, kind, key, copy, len, version, false, NULL);
    return 0;
}

int
state_delete (state_t *self, const char *kind, const char *key)
{
    assert (self);
    if (!kind || !key || !state_kind_valid (kind) || !state_key_valid (key))
        return -STATE_ERR_ARG;
    char *hkey = state__hkey (kind, key);
    state_item_t *old = (state_item_t *) zhashx_lookup (self->mine->recs, hkey);
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
    state__store (self, self->mine, kind, key, NULL, 0, version, true, NULL);
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
    state_origin_t *o = (state_origin_t *) zhashx_lookup (self->origins, origin);
    if (!o)
        return -STATE_ERR_NOT_FOUND;
    char *hkey = state__hkey (kind, key);
    state_item_t *rec = (state_item_t *) zhashx_lookup (o->recs, hkey);
    free (hkey);
    if (!rec)
        return -STATE_ERR_NOT_FOUND;
    s_view (o, rec, out);
    return 0;
}

static int
s_origin_cmp_name (const void *a, const void *b)
{
    const state_origin_t *oa = *(const state_origin_t *const *) a;
    const state_origin_t *ob = *(const state_origin_t *const *) b;
    return strcmp (oa->name, ob->name);
}

static int
s_rec_cmp_hkey (const void *a, const void *b)
{
    const state_item_t *ra = *(const state_item_t *const *) a;
    const state_item_t *rb = *(const state_item_t *const *) b;
    return strcmp (ra->hkey, rb->hkey);
}

/* Origins sorted by name (a stable order for iteration and deltas): a
 * copy of the cached order (callers free it, and may call back into the
 * store while they walk it). */
state_origin_t **
state__origins_sorted (state_t *self, size_t *n_out)
{
    size_t cap = zhashx_size (self->origins);
    if (!self->sorted_valid || self->nsorted != cap) {
        state_origin_t **sorted =
            (state_origin_t **) realloc (self->sorted, (cap ? cap : 1) * sizeof (state_origin_t *));
        assert (sorted);
        self->sorted = sorted;
        size_t n = 0;
        for (state_origin_t *o = (state_origin_t *) zhashx_first (self->origins); o;
             o = (state_origin_t *) zhashx_next (self->origins))
            sorted[n++] = o;
        qsort (sorted, n, sizeof sorted[0], s_origin_cmp_name);
        self->nsorted = n;
        self->sorted_valid = true;
    }
    state_origin_t **arr = (state_origin_t **) malloc ((cap ? cap : 1) * sizeof (state_origin_t *));
    assert (arr);
    memcpy (arr, self->sorted, self->nsorted * sizeof arr[0]);
    *n_out = self->nsorted;
    return arr;
}

static int
s_foreach_origin (state_origin_t *o, const char *kind, bool tombstones, state_iter_fn *fn,
                  void *arg)
{
    size_t cap = zhashx_size (o->recs), n = 0;
    state_item_t **arr = (state_item_t **) malloc ((cap ? cap : 1) * sizeof (state_item_t *));
    assert (arr);
    for (state_item_t *rec = (state_item_t *) zhashx_first (o->recs); rec;
         rec = (state_item_t *) zhashx_next (o->recs))
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
        state_origin_t *o = (state_origin_t *) zhashx_lookup (self->origins, origin);
        return o ? s_foreach_origin (o, kind, tombstones, fn, arg) : 0;
    }
    size_t n;
    state_origin_t **arr = state__origins_sorted (self, &n);
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = s_foreach_origin (arr[i], kind, tombstones, fn, arg);
    free (arr);
    return rc;
}

static size_t
s_count_origin (state_origin_t *o, const char *kind)
{
    size_t n = 0;
    for (state_item_t *rec = (state_item_t *) zhashx_first (o->recs); rec;
         rec = (state_item_t *) zhashx_next (o->recs))
        if (!rec->tomb && (!kind || streq (kind, rec->kind)))
            n++;
    return n;
}

size_t
state_count (state_t *self, const char *origin, const char *kind)
{
    assert (self);
    if (origin) {
        state_origin_t *o = (state_origin_t *) zhashx_lookup (self->origins, origin);
        return o ? s_count_origin (o, kind) : 0;
    }
    size_t n = 0;
    for (state_origin_t *o = (state_origin_t *) zhashx_first (self->origins); o;
         o = (state_origin_t *) zhashx_next (self->origins))
        n += s_count_origin (o, kind);
    return n;
}

/* ---- origins ------------------------------------------------------------- */

uint64_t
state_origin_max (state_t *self, const char *origin)
{
    assert (self);
    state_origin_t *o = (state_origin_t *) zhashx_lookup (self->origins, origin);
    return o ? o->max : 0;
}

int
state_origin_set_status (state_t *self, const char *origin, state_status_t status)
{
    assert (self);
    if (!origin || !state_origin_valid (origin) || streq (origin, self->self)
        || status > STATE_REMOVED)
        return -STATE_ERR_ARG;
    state_origin_t *o = state__origin_require (self, origin);
    if (o->status == status)
        return 0;
    if (status == STATE_REMOVED) {
        /* Records go; the entry stays (for a TTL) so lagging peers cannot
         * bring them back through anti-entropy. */
        state__origin_clear (self, o);
        o->max = o->floor = o->reset_floor = 0;
        o->removed_ms = state__now (self);
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
    state_origin_t *o = (state_origin_t *) zhashx_lookup (self->origins, origin);
    if (!o)
        return 0;
    /* Tombstones go too: they were signed by the old key, and the new
     * identity's versions start again, so an old tombstone at a higher
     * version would hide its record. The floor goes with max: nothing of
     * the old identity's history says what the new one has sent. */
    state__origin_clear (self, o);
    o->max = o->floor = o->reset_floor = 0;
    return 0;
}

state_status_t
state_origin_status (state_t *self, const char *origin)
{
    assert (self);
    state_origin_t *o = (state_origin_t *) zhashx_lookup (self->origins, origin);
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

/* ---- periodic ------------------------------------------------------------ */

int
state_flush (state_t *self)
{
    assert (self);
    if (!self->dirty)
        return 0;
    int rc = state__save (self, self->hwm);
    if (rc == 0)
        self->dirty = false;
    return rc;
}

int
state_tick (state_t *self)
{
    assert (self);
    int64_t now = state__now (self);
    zlistx_t *gone = zlistx_new ();
    assert (gone);
    for (state_origin_t *o = (state_origin_t *) zhashx_first (self->origins); o;
         o = (state_origin_t *) zhashx_next (self->origins)) {
        if (o->status == STATE_REMOVED) {
            if (now - o->removed_ms >= self->ttl_ms)
                zlistx_add_end (gone, o->name);
            continue;
        }
        zlistx_t *expired = zlistx_new ();
        assert (expired);
        for (state_item_t *rec = (state_item_t *) zhashx_first (o->recs); rec;
             rec = (state_item_t *) zhashx_next (o->recs))
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
