/* state_mirror.c - see state_mirror.h. */
#include "node/state/state_mirror.h"

#include <czmq.h>
#include <stdlib.h>
#include <string.h>

#define S_SEP "\x1f" /* origin S_SEP key: neither may hold it */

/* Reference counted: a list hands entries to callbacks that may replace
 * them (a put from inside a list callback) while the walk goes on. */
typedef struct {
    int refs;
    char *origin;
    char *kind;
    char *key;
    uint64_t version;
    uint8_t *value;
    size_t len;
} s_entry_t;

struct _state_mirror_t {
    char *self_name;
    zhashx_t *kinds;   /* kind -> zhashx_t (origin S_SEP key -> s_entry_t) */
    zhashx_t *origins; /* origin -> status text (owned) */
};

static void
s_entry_unref (s_entry_t **e_p)
{
    s_entry_t *e = *e_p;
    *e_p = NULL;
    if (!e || --e->refs > 0)
        return;
    free (e->origin);
    free (e->kind);
    free (e->key);
    free (e->value);
    free (e);
}

static void
s_entry_destructor (void **item)
{
    s_entry_unref ((s_entry_t **) item);
}

static void
s_hash_destructor (void **item)
{
    zhashx_destroy ((zhashx_t **) item);
}

static void
s_free_destructor (void **item)
{
    free (*item);
    *item = NULL;
}

state_mirror_t *
state_mirror_new (const char *self_name)
{
    state_mirror_t *self = (state_mirror_t *) calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->self_name = strdup (self_name ? self_name : "");
    self->kinds = zhashx_new ();
    self->origins = zhashx_new ();
    if (!self->self_name || !self->kinds || !self->origins) {
        state_mirror_destroy (&self);
        return NULL;
    }
    zhashx_set_destructor (self->kinds, s_hash_destructor);
    zhashx_set_destructor (self->origins, s_free_destructor);
    return self;
}

void
state_mirror_destroy (state_mirror_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    state_mirror_t *self = *self_p;
    zhashx_destroy (&self->kinds);
    zhashx_destroy (&self->origins);
    free (self->self_name);
    free (self);
    *self_p = NULL;
}

static zhashx_t *
s_kind (state_mirror_t *self, const char *kind, bool create)
{
    zhashx_t *h = (zhashx_t *) zhashx_lookup (self->kinds, kind);
    if (!h && create) {
        h = zhashx_new ();
        if (!h)
            return NULL;
        zhashx_set_destructor (h, s_entry_destructor);
        zhashx_insert (self->kinds, kind, h);
    }
    return h;
}

static void
s_okey (char *out, size_t size, const char *origin, const char *key)
{
    snprintf (out, size, "%s" S_SEP "%s", origin, key);
}

/* Replace (or add) the entry of origin/kind/key. */
static void
s_set (state_mirror_t *self, const char *origin, const char *kind, const char *key,
       uint64_t version, const uint8_t *value, size_t len)
{
    zhashx_t *h = s_kind (self, kind, true);
    s_entry_t *e = (s_entry_t *) calloc (1, sizeof *e);
    if (!h || !e) {
        free (e);
        return;
    }
    e->refs = 1;
    e->origin = strdup (origin);
    e->kind = strdup (kind);
    e->key = strdup (key);
    e->version = version;
    e->value = (uint8_t *) malloc (len ? len : 1);
    if (!e->origin || !e->kind || !e->key || !e->value) {
        s_entry_unref (&e);
        return;
    }
    if (len)
        memcpy (e->value, value, len);
    e->len = len;
    char okey[512];
    s_okey (okey, sizeof okey, origin, key);
    zhashx_update (h, okey, e); /* the old entry is unref'd */
}

static s_entry_t *
s_get (state_mirror_t *self, const char *origin, const char *kind, const char *key)
{
    zhashx_t *h = s_kind (self, kind, false);
    if (!h)
        return NULL;
    char okey[512];
    s_okey (okey, sizeof okey, origin, key);
    return (s_entry_t *) zhashx_lookup (h, okey);
}

static void
s_del (state_mirror_t *self, const char *origin, const char *kind, const char *key)
{
    zhashx_t *h = s_kind (self, kind, false);
    if (!h)
        return;
    char okey[512];
    s_okey (okey, sizeof okey, origin, key);
    zhashx_delete (h, okey);
}

/* Every record of `origin` goes (the store dropped a removed origin). */
static void
s_drop_origin (state_mirror_t *self, const char *origin)
{
    size_t plen = strlen (origin);
    zlistx_t *keys = zlistx_new ();
    if (!keys)
        return;
    zlistx_set_destructor (keys, s_free_destructor);
    for (zhashx_t *h = (zhashx_t *) zhashx_first (self->kinds); h;
         h = (zhashx_t *) zhashx_next (self->kinds)) {
        zlistx_purge (keys);
        for (void *e = zhashx_first (h); e; e = zhashx_next (h)) {
            const char *okey = (const char *) zhashx_cursor (h);
            if (strncmp (okey, origin, plen) == 0 && okey[plen] == S_SEP[0])
                zlistx_add_end (keys, strdup (okey));
        }
        for (const char *k = (const char *) zlistx_first (keys); k;
             k = (const char *) zlistx_next (keys))
            zhashx_delete (h, k);
    }
    zlistx_destroy (&keys);
}

static const char *
s_status (state_mirror_t *self, const char *origin)
{
    const char *st = (const char *) zhashx_lookup (self->origins, origin);
    return st ? st : "alive";
}

static void
s_set_status (state_mirror_t *self, const char *origin, const char *status)
{
    if (!status || !*status || streq (s_status (self, origin), status))
        return;
    char *copy = strdup (status);
    if (copy)
        zhashx_update (self->origins, origin, copy);
}

bool
state_mirror_apply (state_mirror_t *self, const shed_record_t *rec)
{
    assert (self);
    if (!rec || !rec->origin || !rec->kind || !rec->event)
        return false;
    if (streq (rec->event, "ORIGIN") || streq (rec->kind, "$origin")) {
        if (streq (rec->origin, self->self_name))
            return false;
        s_set_status (self, rec->origin, rec->status);
        if (rec->status && streq (rec->status, "removed"))
            s_drop_origin (self, rec->origin);
        return true;
    }
    if (!rec->key)
        return false;
    bool seed = rec->event[0] == '\0';
    bool put = seed || streq (rec->event, "INSERTED") || streq (rec->event, "UPDATED");
    bool del = streq (rec->event, "DELETED");
    if (!put && !del)
        return false;
    s_entry_t *e = s_get (self, rec->origin, rec->kind, rec->key);
    if (!seed && streq (rec->origin, self->self_name)) {
        /* Ours: already applied when the actor accepted it. An echo of the
         * value we hold tells its version; anything else is older. */
        if (put && e && rec->version > e->version && e->len == rec->len
            && (rec->len == 0 || memcmp (e->value, rec->value, rec->len) == 0))
            e->version = rec->version;
        return false;
    }
    if (!streq (rec->origin, self->self_name))
        s_set_status (self, rec->origin, rec->status);
    if (e && e->version > rec->version)
        return false; /* an older event still queued: the mirror is newer */
    if (del) {
        if (!e)
            return false;
        s_del (self, rec->origin, rec->kind, rec->key);
        return true;
    }
    s_set (self, rec->origin, rec->kind, rec->key, rec->version, rec->value, rec->len);
    return true;
}

void
state_mirror_put_local (state_mirror_t *self, const char *kind, const char *key,
                        const uint8_t *value, size_t len)
{
    assert (self);
    s_set (self, self->self_name, kind, key, 0, value, len);
}

void
state_mirror_del_local (state_mirror_t *self, const char *kind, const char *key)
{
    assert (self);
    s_del (self, self->self_name, kind, key);
}

static int
s_entry_cmp (const void *a, const void *b)
{
    const s_entry_t *ea = *(const s_entry_t *const *) a;
    const s_entry_t *eb = *(const s_entry_t *const *) b;
    int c = strcmp (ea->origin, eb->origin);
    if (c == 0)
        c = strcmp (ea->kind, eb->kind);
    return c ? c : strcmp (ea->key, eb->key);
}

static void
s_collect (zhashx_t *h, s_entry_t ***arr, size_t *n, size_t *cap)
{
    for (s_entry_t *e = (s_entry_t *) zhashx_first (h); e; e = (s_entry_t *) zhashx_next (h)) {
        if (*n == *cap) {
            size_t ncap = *cap ? *cap * 2 : 64;
            s_entry_t **grown = (s_entry_t **) realloc (*arr, ncap * sizeof **arr);
            if (!grown)
                return;
            *arr = grown;
            *cap = ncap;
        }
        e->refs++;
        (*arr)[(*n)++] = e;
    }
}

int
state_mirror_list (state_mirror_t *self, const char *kind, shed_record_fn *fn, void *arg)
{
    assert (self);
    s_entry_t **arr = NULL;
    size_t n = 0, cap = 0;
    if (kind && *kind) {
        zhashx_t *h = s_kind (self, kind, false);
        if (h)
            s_collect (h, &arr, &n, &cap);
    }
    else
        for (zhashx_t *h = (zhashx_t *) zhashx_first (self->kinds); h;
             h = (zhashx_t *) zhashx_next (self->kinds))
            s_collect (h, &arr, &n, &cap);
    if (n > 1)
        qsort (arr, n, sizeof *arr, s_entry_cmp);
    for (size_t i = 0; i < n; i++) {
        s_entry_t *e = arr[i];
        shed_record_t rec = { "",       e->origin,  e->kind,
                              e->key,   e->version, s_status (self, e->origin),
                              e->value, e->len };
        fn (&rec, arg);
    }
    for (size_t i = 0; i < n; i++)
        s_entry_unref (&arr[i]);
    free (arr);
    return (int) n;
}

bool
state_mirror_find (state_mirror_t *self, const char *origin, const char *kind, const char *key,
                   shed_record_t *out)
{
    assert (self);
    s_entry_t *e = s_get (self, origin, kind, key);
    if (!e)
        return false;
    *out = (shed_record_t){ "",       e->origin,  e->kind,
                            e->key,   e->version, s_status (self, e->origin),
                            e->value, e->len };
    return true;
}

size_t
state_mirror_size (state_mirror_t *self)
{
    assert (self);
    size_t n = 0;
    for (zhashx_t *h = (zhashx_t *) zhashx_first (self->kinds); h;
         h = (zhashx_t *) zhashx_next (self->kinds))
        n += zhashx_size (h);
    return n;
}
