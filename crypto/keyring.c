/*
 * keyring.c - see keyring.h.
 *
 * The whole keyring object lives in sodium_malloc'd memory (guard pages,
 * mlock'd), so keys never sit in ordinary heap pages; sodium_free() wipes it
 * on destroy, and a removed key's slot is wiped at once.
 *
 * AEAD: XChaCha20-Poly1305-IETF. The associated data is the 29-byte header
 * followed by the caller's AD; the header has a fixed length, so the
 * concatenation is unambiguous. Authenticating the header binds the version
 * and key id: a datagram cannot be relabelled to another key or format.
 *
 * Keyring file: one key per line, "primary <base64>" or "key <base64>"
 * (standard base64 with padding, 32 bytes). Order of lines is the order of
 * installation. Mode must be exactly 0600, the owner the daemon's uid or root.
 */
#include "crypto/keyring.h"
#include "crypto/identity.h"
#include "common/fileutil.h"

#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#define KEYID_CONTEXT    "shed-keyid"
#define KEYRING_FILE_MAX (64 * 1024)
#define KEYRING_LINE_MAX 128
#define NONCE_BYTES      crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define TAG_BYTES        crypto_aead_xchacha20poly1305_ietf_ABYTES
#define AD_STACK_MAX     1024

//  The layout in keyring.h, checked against libsodium's constants.
_Static_assert(NONCE_BYTES == 24, "XChaCha20 nonce is 24 bytes");
_Static_assert(TAG_BYTES == 16, "Poly1305 tag is 16 bytes");
_Static_assert(SHED_SEAL_HEADER == 1 + SHED_KEYID_BYTES + NONCE_BYTES, "header layout");
_Static_assert(SHED_SEAL_OVERHEAD == SHED_SEAL_HEADER + TAG_BYTES, "overhead");
_Static_assert(SHED_KEY_BYTES == crypto_aead_xchacha20poly1305_ietf_KEYBYTES, "key size");

struct _shed_keyring_t {
    size_t count;                   //  keys installed
    size_t primary;                 //  index of primary, if count > 0
    uint32_t ids[SHED_KEYRING_MAX]; //  key id of each key
    uint8_t keys[SHED_KEYRING_MAX][SHED_KEY_BYTES];
};

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

shed_keyring_t *
shed_keyring_new (void)
{
    if (sodium_init () < 0)
        return NULL;
    shed_keyring_t *self = (shed_keyring_t *) sodium_malloc (sizeof (shed_keyring_t));
    if (self)
        memset (self, 0, sizeof *self); //  sodium_malloc fills with 0xdb
    return self;
}

void
shed_keyring_destroy (shed_keyring_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        sodium_free (*self_p); //  wipes every key
        *self_p = NULL;
    }
}

uint32_t
shed_keyring_key_id (const uint8_t key[SHED_KEY_BYTES])
{
    assert (key);
    //  A keyed-hash-free id: it names the key on the wire without revealing
    //  it (BLAKE2b is preimage resistant), and the context string keeps it
    //  from matching any other hash of the same key.
    crypto_generichash_state state;
    uint8_t digest[32];
    crypto_generichash_init (&state, NULL, 0, sizeof digest);
    crypto_generichash_update (&state, (const uint8_t *) KEYID_CONTEXT, strlen (KEYID_CONTEXT));
    crypto_generichash_update (&state, key, SHED_KEY_BYTES);
    crypto_generichash_final (&state, digest, sizeof digest);
    uint32_t id = (uint32_t) digest[0] << 24 | (uint32_t) digest[1] << 16
                  | (uint32_t) digest[2] << 8 | (uint32_t) digest[3];
    sodium_memzero (&state, sizeof state);
    sodium_memzero (digest, sizeof digest);
    return id;
}

void
shed_keyring_generate (uint8_t key[SHED_KEY_BYTES])
{
    assert (key);
    if (sodium_init () < 0)
        abort (); //  no randomness: never fall back
    crypto_aead_xchacha20poly1305_ietf_keygen (key);
}

/* Index of `key`, or -1. Constant-time per comparison; the loop leaks only
 * which slot matched, not the key. */
static int
s_find (const shed_keyring_t *self, const uint8_t key[SHED_KEY_BYTES])
{
    for (size_t i = 0; i < self->count; i++)
        if (sodium_memcmp (self->keys[i], key, SHED_KEY_BYTES) == 0)
            return (int) i;
    return -1;
}

int
shed_keyring_install (shed_keyring_t *self, const uint8_t key[SHED_KEY_BYTES])
{
    assert (self);
    assert (key);
    if (s_find (self, key) >= 0)
        return SHED_KR_OK; //  idempotent
    if (self->count == SHED_KEYRING_MAX)
        return SHED_KR_ERR_FULL;
    memcpy (self->keys[self->count], key, SHED_KEY_BYTES);
    self->ids[self->count] = shed_keyring_key_id (key);
    if (self->count == 0)
        self->primary = 0;
    self->count++;
    return SHED_KR_OK;
}

int
shed_keyring_use (shed_keyring_t *self, const uint8_t key[SHED_KEY_BYTES])
{
    assert (self);
    assert (key);
    int i = s_find (self, key);
    if (i < 0)
        return SHED_KR_ERR_ABSENT;
    self->primary = (size_t) i;
    return SHED_KR_OK;
}

int
shed_keyring_remove (shed_keyring_t *self, const uint8_t key[SHED_KEY_BYTES])
{
    assert (self);
    assert (key);
    int found = s_find (self, key);
    if (found < 0)
        return SHED_KR_ERR_ABSENT;
    size_t i = (size_t) found;
    if (i == self->primary)
        return SHED_KR_ERR_PRIMARY;
    //  Keep installation order: shift the tail down, wipe the freed slot.
    size_t tail = self->count - i - 1;
    memmove (self->keys[i], self->keys[i + 1], tail * SHED_KEY_BYTES);
    memmove (&self->ids[i], &self->ids[i + 1], tail * sizeof self->ids[0]);
    self->count--;
    sodium_memzero (self->keys[self->count], SHED_KEY_BYTES);
    self->ids[self->count] = 0;
    if (self->primary > i)
        self->primary--;
    return SHED_KR_OK;
}

size_t
shed_keyring_count (const shed_keyring_t *self)
{
    assert (self);
    return self->count;
}

int
shed_keyring_entry (const shed_keyring_t *self, size_t i, shed_keyring_entry_t *out)
{
    assert (self);
    assert (out);
    if (i >= self->count)
        return -1;
    memcpy (out->key, self->keys[i], SHED_KEY_BYTES);
    out->id = self->ids[i];
    out->primary = i == self->primary;
    return 0;
}

//  --------------------------------------------------------------------------
//  Seal and open

/* Point *ad_out at header || ad: in `stack` when it fits, else in a heap
 * buffer returned in *heap (caller frees). Returns 0 or -1 (no memory). */
static int
s_build_ad (const uint8_t *header, const uint8_t *ad, size_t adlen, uint8_t *stack, uint8_t **heap,
            const uint8_t **ad_out)
{
    *heap = NULL;
    uint8_t *buf = stack;
    if (adlen > AD_STACK_MAX - SHED_SEAL_HEADER) {
        if (adlen > SIZE_MAX - SHED_SEAL_HEADER)
            return -1;
        buf = *heap = malloc (SHED_SEAL_HEADER + adlen);
        if (!buf)
            return -1;
    }
    memcpy (buf, header, SHED_SEAL_HEADER);
    if (adlen)
        memcpy (buf + SHED_SEAL_HEADER, ad, adlen);
    *ad_out = buf;
    return 0;
}

static void
s_put_be32 (uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t) (v >> 24);
    p[1] = (uint8_t) (v >> 16);
    p[2] = (uint8_t) (v >> 8);
    p[3] = (uint8_t) v;
}

static uint32_t
s_get_be32 (const uint8_t *p)
{
    return (uint32_t) p[0] << 24 | (uint32_t) p[1] << 16 | (uint32_t) p[2] << 8 | (uint32_t) p[3];
}

int
shed_keyring_seal (const shed_keyring_t *self, const uint8_t *ad, size_t adlen, const uint8_t *pt,
                   size_t ptlen, uint8_t *out, size_t cap, size_t *outlen)
{
    assert (self);
    assert (out);
    assert (pt || ptlen == 0);
    assert (ad || adlen == 0);
    if (self->count == 0)
        return SHED_SEAL_ERR_NOKEY;
    if (ptlen > SIZE_MAX - SHED_SEAL_OVERHEAD
        || ptlen > crypto_aead_xchacha20poly1305_ietf_MESSAGEBYTES_MAX
        || cap < ptlen + SHED_SEAL_OVERHEAD)
        return SHED_SEAL_ERR_SPACE;

    uint8_t dummy = 0;
    if (!pt)
        pt = &dummy; //  empty plaintext, no buffer
    size_t k = self->primary;
    out[0] = SHED_SEAL_VERSION;
    s_put_be32 (out + 1, self->ids[k]);
    //  A fresh random 192-bit nonce per datagram (see keyring.h for why).
    randombytes_buf (out + 1 + SHED_KEYID_BYTES, NONCE_BYTES);

    uint8_t stack[AD_STACK_MAX];
    uint8_t *heap;
    const uint8_t *full_ad;
    if (s_build_ad (out, ad, adlen, stack, &heap, &full_ad) != 0)
        return SHED_SEAL_ERR_SPACE;
    unsigned long long clen = 0;
    crypto_aead_xchacha20poly1305_ietf_encrypt (out + SHED_SEAL_HEADER, &clen, pt, ptlen, full_ad,
                                                SHED_SEAL_HEADER + adlen, NULL,
                                                out + 1 + SHED_KEYID_BYTES, self->keys[k]);
    free (heap);
    assert (clen == ptlen + TAG_BYTES);
    if (outlen)
        *outlen = SHED_SEAL_HEADER + (size_t) clen;
    return SHED_SEAL_OK;
}

int
shed_keyring_open (const shed_keyring_t *self, const uint8_t *ad, size_t adlen, const uint8_t *in,
                   size_t inlen, uint8_t *pt, size_t cap, size_t *ptlen, uint32_t *key_id)
{
    assert (self);
    assert (in || inlen == 0);
    assert (ad || adlen == 0);
    //  Cheap structural checks first; nothing here is secret.
    if (inlen < SHED_SEAL_OVERHEAD)
        return SHED_SEAL_ERR_SHORT;
    if (in[0] != SHED_SEAL_VERSION)
        return SHED_SEAL_ERR_FORMAT;
    if (self->count == 0)
        return SHED_SEAL_ERR_NOKEY;
    uint32_t id = s_get_be32 (in + 1);
    size_t mlen = inlen - SHED_SEAL_OVERHEAD;
    uint8_t dummy;
    if (!pt && mlen == 0)
        pt = &dummy; //  empty plaintext, no buffer

    uint8_t stack[AD_STACK_MAX];
    uint8_t *heap = NULL;
    const uint8_t *full_ad = NULL;
    int rc = SHED_SEAL_ERR_KEYID;
    //  Try every key with this id: two installed keys sharing a 32-bit id is
    //  unlikely but possible, and must not make one of them unusable.
    for (size_t i = 0; i < self->count; i++) {
        if (self->ids[i] != id)
            continue;
        if (!pt || cap < mlen)
            return SHED_SEAL_ERR_SPACE;
        if (!full_ad && s_build_ad (in, ad, adlen, stack, &heap, &full_ad) != 0)
            return SHED_SEAL_ERR_SPACE;
        unsigned long long got = 0;
        if (crypto_aead_xchacha20poly1305_ietf_decrypt (
                pt, &got, NULL, in + SHED_SEAL_HEADER, inlen - SHED_SEAL_HEADER, full_ad,
                SHED_SEAL_HEADER + adlen, in + 1 + SHED_KEYID_BYTES, self->keys[i])
            == 0) {
            if (ptlen)
                *ptlen = (size_t) got;
            if (key_id)
                *key_id = id;
            rc = SHED_SEAL_OK;
            break;
        }
        rc = SHED_SEAL_ERR_AUTH;
    }
    free (heap);
    //  Never hand back unauthenticated plaintext.
    if (rc == SHED_SEAL_ERR_AUTH)
        sodium_memzero (pt, mlen);
    return rc;
}

const char *
shed_seal_strerror (int code)
{
    switch (code) {
    case SHED_SEAL_OK:
        return "ok";
    case SHED_SEAL_ERR_SHORT:
        return "datagram too short";
    case SHED_SEAL_ERR_FORMAT:
        return "unknown format version";
    case SHED_SEAL_ERR_KEYID:
        return "no installed key has this key id";
    case SHED_SEAL_ERR_AUTH:
        return "authentication failed";
    case SHED_SEAL_ERR_SPACE:
        return "output buffer too small";
    case SHED_SEAL_ERR_NOKEY:
        return "keyring empty";
    default:
        return "unknown error";
    }
}

//  --------------------------------------------------------------------------
//  Files

shed_keyring_t *
shed_keyring_parse (const char *text, size_t len, char *err, size_t errlen)
{
    assert (text || len == 0);
    shed_keyring_t *self = shed_keyring_new ();
    if (!self) {
        s_set_err (err, errlen, "cannot allocate secure memory");
        return NULL;
    }
    char line[KEYRING_LINE_MAX];
    uint8_t key[SHED_KEY_BYTES];
    size_t primary_line = 0;
    size_t lineno = 0;
    size_t pos = 0;
    bool ok = false;

    while (pos < len) {
        lineno++;
        const char *start = text + pos;
        const char *nl = memchr (start, '\n', len - pos);
        size_t n = nl ? (size_t) (nl - start) : len - pos;
        pos += n + (nl ? 1 : 0);
        if (n > 0 && start[n - 1] == '\r')
            n--;
        if (n >= sizeof line) {
            s_set_err (err, errlen, "line %zu: line too long", lineno);
            goto done;
        }
        memcpy (line, start, n);
        line[n] = '\0';
        if (memchr (line, '\0', n)) {
            s_set_err (err, errlen, "line %zu: NUL byte in line", lineno);
            goto done;
        }
        if (n == 0 || line[0] == '#')
            continue;

        bool is_primary;
        const char *b64;
        if (strncmp (line, "primary ", 8) == 0) {
            is_primary = true;
            b64 = line + 8;
        }
        else if (strncmp (line, "key ", 4) == 0) {
            is_primary = false;
            b64 = line + 4;
        }
        else {
            s_set_err (err, errlen,
                       "line %zu: expected \"primary <base64>\" or "
                       "\"key <base64>\"",
                       lineno);
            goto done;
        }
        if (shed_key_from_text (b64, key) != 0) {
            s_set_err (err, errlen, "line %zu: bad base64 (want 32 bytes)", lineno);
            goto done;
        }
        if (s_find (self, key) >= 0) {
            s_set_err (err, errlen, "line %zu: duplicate key", lineno);
            goto done;
        }
        if (self->count == SHED_KEYRING_MAX) {
            s_set_err (err, errlen, "line %zu: more than %d keys", lineno, SHED_KEYRING_MAX);
            goto done;
        }
        if (is_primary && primary_line) {
            s_set_err (err, errlen, "line %zu: second primary key (first on line %zu)", lineno,
                       primary_line);
            goto done;
        }
        int rc = shed_keyring_install (self, key);
        assert (rc == SHED_KR_OK);
        (void) rc;
        if (is_primary) {
            self->primary = self->count - 1;
            primary_line = lineno;
        }
    }
    if (self->count > 0 && !primary_line) {
        s_set_err (err, errlen, "no primary key");
        goto done;
    }
    ok = true;

done:
    sodium_memzero (line, sizeof line);
    sodium_memzero (key, sizeof key);
    if (!ok)
        shed_keyring_destroy (&self);
    return self;
}

shed_keyring_t *
shed_keyring_load (const char *path, char *err, size_t errlen)
{
    assert (path);
    struct stat st;
    if (stat (path, &st) != 0) {
        int saved = errno;
        s_set_err (err, errlen, "%s: %s", path, strerror (saved));
        errno = saved;
        return NULL;
    }
    if (!S_ISREG (st.st_mode)) {
        s_set_err (err, errlen, "%s: not a regular file", path);
        errno = EINVAL;
        return NULL;
    }
    if ((st.st_mode & 07777) != 0600) {
        s_set_err (err, errlen, "%s: mode %04o, expected 0600", path,
                   (unsigned) (st.st_mode & 07777));
        errno = EPERM;
        return NULL;
    }
    //  Owned by us or root, like the identity file: another owner can read
    //  the cluster keys, or have written keys of their own (docs/crypto.md).
    if (st.st_uid != geteuid () && st.st_uid != 0) {
        s_set_err (err, errlen,
                   "%s: owned by uid %u, expected uid %u (this daemon) "
                   "or root",
                   path, (unsigned) st.st_uid, (unsigned) geteuid ());
        errno = EPERM;
        return NULL;
    }
    size_t len = 0;
    char *text = shed_read_file (path, KEYRING_FILE_MAX, &len);
    if (!text) {
        int saved = errno;
        s_set_err (err, errlen, "%s: %s", path, strerror (saved));
        errno = saved;
        return NULL;
    }
    char reason[200] = "";
    shed_keyring_t *self = shed_keyring_parse (text, len, reason, sizeof reason);
    sodium_memzero (text, len);
    free (text);
    if (!self) {
        //  "<path> line 3: ..." or "<path>: no primary key"
        s_set_err (err, errlen, "%s%s %s", path, strncmp (reason, "line ", 5) == 0 ? "" : ":",
                   reason);
        errno = EINVAL;
    }
    return self;
}

int
shed_keyring_save (const shed_keyring_t *self, const char *path)
{
    return shed_keyring_save_flags (self, path, 0);
}

int
shed_keyring_save_flags (const shed_keyring_t *self, const char *path, unsigned flags)
{
    assert (self);
    assert (path);
    //  "primary " + 44 base64 + "\n" per key.
    char text[SHED_KEYRING_MAX * 64];
    char b64[SHED_KEY_TEXT_MAX];
    size_t len = 0;
    for (size_t i = 0; i < self->count; i++) {
        shed_key_to_text (self->keys[i], b64);
        int n = snprintf (text + len, sizeof text - len, "%s %s\n",
                          i == self->primary ? "primary" : "key", b64);
        assert (n > 0 && (size_t) n < sizeof text - len);
        len += (size_t) n;
    }
    int rc = shed_write_file_atomic_flags (path, text, len, 0600, flags);
    int saved = errno;
    sodium_memzero (text, sizeof text);
    sodium_memzero (b64, sizeof b64);
    errno = saved;
    return rc;
}
