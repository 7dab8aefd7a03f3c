/*
 * fuzz_keyring_file.c - the keyring file parser, shed_keyring_parse().
 *
 * Any byte string must give either a keyring or NULL with a reason; a parsed
 * keyring must be consistent (count within bounds, exactly one primary when
 * non-empty) and must survive the save format: printing it and parsing the
 * print gives the same keys in the same order.
 */
#include "crypto/keyring.h"
#include "crypto/identity.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    //  Exact-size copy, not NUL-terminated: the parser must respect `len`.
    char *text = malloc (size ? size : 1);
    if (!text)
        return 0;
    memcpy (text, data, size);
    char err[256];
    err[0] = '\0';
    shed_keyring_t *ring = shed_keyring_parse (text, size, err, sizeof err);
    free (text);
    if (!ring) {
        if (err[0] == '\0')
            abort (); //  a failure always says why
        return 0;
    }
    size_t count = shed_keyring_count (ring);
    if (count > SHED_KEYRING_MAX)
        abort ();
    //  Re-render in the file format and parse again.
    char out[SHED_KEYRING_MAX * 64];
    size_t len = 0;
    size_t primaries = 0;
    for (size_t i = 0; i < count; i++) {
        shed_keyring_entry_t e;
        if (shed_keyring_entry (ring, i, &e) != 0 || e.id != shed_keyring_key_id (e.key))
            abort ();
        primaries += e.primary;
        char b64[SHED_KEY_TEXT_MAX];
        shed_key_to_text (e.key, b64);
        len += (size_t) snprintf (out + len, sizeof out - len, "%s %s\n",
                                  e.primary ? "primary" : "key", b64);
    }
    if (count && primaries != 1)
        abort ();
    shed_keyring_t *again = shed_keyring_parse (out, len, err, sizeof err);
    if (!again || shed_keyring_count (again) != count)
        abort ();
    for (size_t i = 0; i < count; i++) {
        shed_keyring_entry_t a, b;
        shed_keyring_entry (ring, i, &a);
        shed_keyring_entry (again, i, &b);
        if (memcmp (a.key, b.key, SHED_KEY_BYTES) || a.primary != b.primary)
            abort ();
    }
    shed_keyring_destroy (&again);
    shed_keyring_destroy (&ring);
    return 0;
}
