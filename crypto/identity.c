/*
 * identity.c - see identity.h.
 *
 * The identity file (`<data_dir>/identity.key`, mode exactly 0600, owned by
 * the daemon's uid or root):
 *
 *     shed-identity v1
 *     x25519-public <base64 of 32 bytes>
 *     x25519-secret <base64 of 32 bytes>
 *     ed25519-public <base64 of 32 bytes>
 *     ed25519-seed <base64 of 32 bytes>
 *
 * The first line is the version and must come first. The four key lines may
 * come in any order, each exactly once; blank lines and lines starting with
 * '#' are ignored; a trailing '\r' is tolerated. The Ed25519 secret is kept
 * as its 32-byte seed (libsodium's 64-byte secret key is seed || public, so
 * storing it would duplicate the public key); the full secret key is derived
 * on load. Both public lines are redundant on purpose: on load each is
 * compared (in constant time) with the key derived from its secret, which
 * catches a file pieced together from two identities or edited by hand.
 *
 * The whole object lives in sodium_malloc'd memory (guard pages, mlock'd,
 * excluded from core dumps where the OS allows) and is made read-only once
 * built; sodium_free() wipes it.
 */
#include "crypto/identity.h"
#include "common/fileutil.h"

#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>
#include <zmq.h>

#define IDENTITY_MAGIC    "shed-identity v1"
#define IDENTITY_FILE_MAX 4096 /* a valid file is about 250 bytes */
#define IDENTITY_LINE_MAX 128  /* keyword + space + 44 base64 chars */

struct _shed_identity_t {
    uint8_t x25519_public[SHED_X25519_BYTES];
    uint8_t x25519_secret[SHED_X25519_BYTES];
    uint8_t ed25519_public[SHED_ED25519_PK];
    uint8_t ed25519_secret[SHED_ED25519_SK]; //  seed || public (libsodium)
};

//  The four key lines, by the slot they fill while parsing.
enum { S_X_PUB, S_X_SEC, S_ED_PUB, S_ED_SEED, S_NKEYS };
static const char *s_keywords[S_NKEYS] = { "x25519-public", "x25519-secret", "ed25519-public",
                                           "ed25519-seed" };

static void s_set_err (char *err, size_t errlen, const char *fmt, ...)
    __attribute__ ((format (printf, 3, 4)));

static void
s_set_err (char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || errlen == 0)
        return;
    va_list args;
    va_start (args, fmt);
    vsnprintf (err, errlen, fmt, args);
    va_end (args);
}

/* A zeroed, writable identity in secure memory, or NULL. */
static shed_identity_t *
s_alloc (void)
{
    if (sodium_init () < 0)
        return NULL;
    shed_identity_t *self = (shed_identity_t *) sodium_malloc (sizeof (shed_identity_t));
    if (self)
        memset (self, 0, sizeof *self);
    return self;
}

/* Generate both key pairs into self. */
static void
s_generate (shed_identity_t *self)
{
    crypto_box_keypair (self->x25519_public, self->x25519_secret);
    crypto_sign_keypair (self->ed25519_public, self->ed25519_secret);
}

/* Freeze a finished identity: any stray write now faults instead of
 * silently corrupting a key. sodium_free() unprotects before wiping. */
static shed_identity_t *
s_seal (shed_identity_t *self)
{
    sodium_mprotect_readonly (self);
    return self;
}

shed_identity_t *
shed_identity_new_ephemeral (void)
{
    shed_identity_t *self = s_alloc ();
    if (!self)
        return NULL;
    s_generate (self);
    return s_seal (self);
}

void
shed_identity_destroy (shed_identity_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        sodium_free (*self_p); //  wipes (and unprotects first)
        *self_p = NULL;
    }
}

//  --------------------------------------------------------------------------
//  Parsing

/* Parse the text of an identity file into self. `name` is used in errors.
 * Returns 0, or -1 with a reason in err. Every stack buffer that held
 * secret text or bytes is wiped before returning. */
static int
s_parse (shed_identity_t *self, const char *text, size_t len, const char *name, char *err,
         size_t errlen)
{
    uint8_t keys[S_NKEYS][32];
    size_t key_line[S_NKEYS] = { 0 }; //  line number of each, 0 = not seen
    char line[IDENTITY_LINE_MAX];
    uint8_t derived[crypto_sign_PUBLICKEYBYTES];
    int rc = -1;
    bool have_magic = false;
    size_t lineno = 0;
    size_t pos = 0;

    while (pos < len) {
        lineno++;
        const char *start = text + pos;
        const char *nl = memchr (start, '\n', len - pos);
        size_t n = nl ? (size_t) (nl - start) : len - pos;
        pos += n + (nl ? 1 : 0);
        if (n > 0 && start[n - 1] == '\r')
            n--;
        if (n >= sizeof line) {
            s_set_err (err, errlen, "%s line %zu: line too long", name, lineno);
            goto done;
        }
        memcpy (line, start, n);
        line[n] = '\0';
        if (strlen (line) != n) {
            s_set_err (err, errlen, "%s line %zu: NUL byte in line", name, lineno);
            goto done;
        }
        if (!have_magic) {
            //  The version line must be the very first line.
            if (strcmp (line, IDENTITY_MAGIC) != 0) {
                s_set_err (err, errlen, "%s line %zu: expected \"%s\"", name, lineno,
                           IDENTITY_MAGIC);
                goto done;
            }
            have_magic = true;
            continue;
        }
        if (n == 0 || line[0] == '#')
            continue;

        char *space = strchr (line, ' ');
        if (!space) {
            s_set_err (err, errlen, "%s line %zu: expected \"<keyword> <base64>\"", name, lineno);
            goto done;
        }
        *space = '\0';
        int slot;
        for (slot = 0; slot < S_NKEYS; slot++)
            if (strcmp (line, s_keywords[slot]) == 0)
                break;
        if (slot == S_NKEYS) {
            s_set_err (err, errlen, "%s line %zu: unknown keyword \"%.32s\"", name, lineno, line);
            goto done;
        }
        if (key_line[slot]) {
            s_set_err (err, errlen, "%s line %zu: duplicate %s (first on line %zu)", name, lineno,
                       s_keywords[slot], key_line[slot]);
            goto done;
        }
        if (shed_key_from_text (space + 1, keys[slot]) != 0) {
            s_set_err (err, errlen, "%s line %zu: bad base64 for %s (want 32 bytes)", name, lineno,
                       s_keywords[slot]);
            goto done;
        }
        key_line[slot] = lineno;
    }
    if (!have_magic) {
        s_set_err (err, errlen, "%s: empty file", name);
        goto done;
    }
    for (int slot = 0; slot < S_NKEYS; slot++)
        if (!key_line[slot]) {
            s_set_err (err, errlen, "%s: missing %s line (truncated file?)", name,
                       s_keywords[slot]);
            goto done;
        }

    //  Derive each public key from its secret and compare in constant time.
    memcpy (self->x25519_secret, keys[S_X_SEC], 32);
    crypto_scalarmult_base (derived, self->x25519_secret);
    if (sodium_memcmp (derived, keys[S_X_PUB], 32) != 0) {
        s_set_err (err, errlen, "%s line %zu: x25519-public does not match x25519-secret", name,
                   key_line[S_X_PUB]);
        goto done;
    }
    memcpy (self->x25519_public, derived, 32);
    crypto_sign_seed_keypair (derived, self->ed25519_secret, keys[S_ED_SEED]);
    if (sodium_memcmp (derived, keys[S_ED_PUB], 32) != 0) {
        s_set_err (err, errlen, "%s line %zu: ed25519-public does not match ed25519-seed", name,
                   key_line[S_ED_PUB]);
        goto done;
    }
    memcpy (self->ed25519_public, derived, 32);
    rc = 0;

done:
    sodium_memzero (keys, sizeof keys);
    sodium_memzero (line, sizeof line);
    sodium_memzero (derived, sizeof derived);
    return rc;
}

/* Render self as identity-file text into out. Returns the length. */
static size_t
s_format (const shed_identity_t *self, char *out, size_t cap)
{
    char pub_x[SHED_KEY_TEXT_MAX], sec_x[SHED_KEY_TEXT_MAX];
    char pub_ed[SHED_KEY_TEXT_MAX], seed_ed[SHED_KEY_TEXT_MAX];
    shed_key_to_text (self->x25519_public, pub_x);
    shed_key_to_text (self->x25519_secret, sec_x);
    shed_key_to_text (self->ed25519_public, pub_ed);
    shed_key_to_text (self->ed25519_secret, seed_ed); //  first 32 = seed
    int n = snprintf (out, cap, "%s\n%s %s\n%s %s\n%s %s\n%s %s\n", IDENTITY_MAGIC,
                      s_keywords[S_X_PUB], pub_x, s_keywords[S_X_SEC], sec_x, s_keywords[S_ED_PUB],
                      pub_ed, s_keywords[S_ED_SEED], seed_ed);
    sodium_memzero (sec_x, sizeof sec_x);
    sodium_memzero (seed_ed, sizeof seed_ed);
    assert (n > 0 && (size_t) n < cap);
    return (size_t) n;
}

/* Create a new identity and write it to path. */
static shed_identity_t *
s_create (const char *path, unsigned flags, char *err, size_t errlen)
{
    shed_identity_t *self = s_alloc ();
    if (!self) {
        s_set_err (err, errlen, "%s: cannot allocate secure memory", path);
        return NULL;
    }
    s_generate (self);
    char text[512];
    size_t len = s_format (self, text, sizeof text);
    int rc = shed_write_file_atomic_flags (path, text, len, 0600, flags);
    int saved = errno;
    sodium_memzero (text, sizeof text);
    if (rc != 0) {
        s_set_err (err, errlen, "%s: cannot write: %s", path, strerror (saved));
        sodium_free (self);
        errno = saved;
        return NULL;
    }
    return s_seal (self);
}

shed_identity_t *
shed_identity_load_or_create (const char *data_dir, char *err, size_t errlen)
{
    return shed_identity_load_or_create_flags (data_dir, 0, NULL, err, errlen);
}

shed_identity_t *
shed_identity_load_or_create_flags (const char *data_dir, unsigned flags, bool *created, char *err,
                                    size_t errlen)
{
    assert (data_dir);
    if (created)
        *created = false;
    char path[4096];
    int n = snprintf (path, sizeof path, "%s/%s", data_dir, SHED_IDENTITY_FILE);
    if (n < 0 || (size_t) n >= sizeof path) {
        s_set_err (err, errlen, "%s: path too long", data_dir);
        errno = ENAMETOOLONG;
        return NULL;
    }
    struct stat st;
    if (stat (path, &st) != 0) {
        if (errno != ENOENT) {
            int saved = errno;
            s_set_err (err, errlen, "%s: %s", path, strerror (saved));
            errno = saved;
            return NULL;
        }
        //  Absent: this is the node's first start.
        if (shed_mkdir_p (data_dir, 0700) != 0) {
            int saved = errno;
            s_set_err (err, errlen, "%s: cannot create data dir: %s", data_dir, strerror (saved));
            errno = saved;
            return NULL;
        }
        shed_identity_t *self = s_create (path, flags, err, errlen);
        if (self && created)
            *created = true;
        return self;
    }
    if (!S_ISREG (st.st_mode)) {
        s_set_err (err, errlen, "%s: not a regular file", path);
        errno = EINVAL;
        return NULL;
    }
    //  Exactly 0600: a key readable by group/other may already be leaked,
    //  and we say so instead of silently fixing the mode.
    if ((st.st_mode & 07777) != 0600) {
        s_set_err (err, errlen, "%s: mode %04o, expected 0600", path,
                   (unsigned) (st.st_mode & 07777));
        errno = EPERM;
        return NULL;
    }
    //  Owned by us or root: another local user who owns the file can read
    //  it whatever its mode, or have put an identity of their own there
    //  (docs/crypto.md, "Identity file").
    if (st.st_uid != geteuid () && st.st_uid != 0) {
        s_set_err (err, errlen,
                   "%s: owned by uid %u, expected uid %u (this daemon) "
                   "or root",
                   path, (unsigned) st.st_uid, (unsigned) geteuid ());
        errno = EPERM;
        return NULL;
    }
    size_t len = 0;
    char *text = shed_read_file (path, IDENTITY_FILE_MAX, &len);
    if (!text) {
        int saved = errno;
        if (saved == EFBIG)
            s_set_err (err, errlen, "%s: larger than %d bytes, not an identity file", path,
                       IDENTITY_FILE_MAX);
        else
            s_set_err (err, errlen, "%s: %s", path, strerror (saved));
        errno = saved;
        return NULL;
    }
    shed_identity_t *self = s_alloc ();
    if (!self) {
        sodium_memzero (text, len);
        free (text);
        s_set_err (err, errlen, "%s: cannot allocate secure memory", path);
        errno = ENOMEM;
        return NULL;
    }
    int rc = s_parse (self, text, len, path, err, errlen);
    sodium_memzero (text, len);
    free (text);
    if (rc != 0) {
        sodium_free (self);
        errno = EINVAL;
        return NULL;
    }
    return s_seal (self);
}

//  --------------------------------------------------------------------------
//  Accessors, signatures

const uint8_t *
shed_identity_x25519_public (const shed_identity_t *self)
{
    assert (self);
    return self->x25519_public;
}

const uint8_t *
shed_identity_x25519_secret (const shed_identity_t *self)
{
    assert (self);
    return self->x25519_secret;
}

const uint8_t *
shed_identity_ed25519_public (const shed_identity_t *self)
{
    assert (self);
    return self->ed25519_public;
}

int
shed_identity_sign (const shed_identity_t *self, const uint8_t *msg, size_t len,
                    uint8_t sig[SHED_SIG_BYTES])
{
    assert (self);
    assert (sig);
    crypto_sign_detached (sig, NULL, msg, len, self->ed25519_secret);
    return 0;
}

int
shed_identity_verify (const uint8_t ed25519_pk[SHED_ED25519_PK], const uint8_t *msg, size_t len,
                      const uint8_t sig[SHED_SIG_BYTES])
{
    assert (ed25519_pk);
    assert (sig);
    if (sodium_init () < 0)
        return -1;
    return crypto_sign_verify_detached (sig, msg, len, ed25519_pk) == 0 ? 0 : -1;
}

//  --------------------------------------------------------------------------
//  Key text forms

void
shed_key_to_text (const uint8_t key[32], char out[SHED_KEY_TEXT_MAX])
{
    assert (key);
    assert (out);
    sodium_bin2base64 (out, SHED_KEY_TEXT_MAX, key, 32, sodium_base64_VARIANT_ORIGINAL);
}

int
shed_key_from_text (const char *text, uint8_t key[32])
{
    assert (key);
    if (!text)
        return -1;
    //  Decode into a scratch buffer so a failed parse never leaves half a
    //  key in the caller's buffer. sodium_base642bin decodes in constant
    //  time and rejects non-zero padding bits, so every key has one text.
    uint8_t bin[32];
    size_t binlen = 0;
    const char *end = NULL;
    size_t textlen = strlen (text);
    int rc = -1;
    if (textlen <= SHED_KEY_TEXT_MAX
        && sodium_base642bin (bin, sizeof bin, text, textlen, NULL, &binlen, &end,
                              sodium_base64_VARIANT_ORIGINAL)
               == 0
        && end == text + textlen && binlen == sizeof bin) {
        memcpy (key, bin, sizeof bin);
        rc = 0;
    }
    sodium_memzero (bin, sizeof bin);
    return rc;
}

void
shed_key_to_z85 (const uint8_t key[32], char out[41])
{
    assert (key);
    assert (out);
    char *rc = zmq_z85_encode (out, key, 32);
    assert (rc);
    (void) rc;
}
