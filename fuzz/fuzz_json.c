/*
 * fuzz_json.c - the bounded JSON reader the HTTP drivers use on answers
 * from Firecracker and Shed servers (node/drivers/json_read.c). Every
 * accessor is run on arbitrary input; whatever they return must be
 * consistent with json_valid() and stay inside the caller's buffers.
 */
#include "node/drivers/json_read.h"

#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static void
s_each (void *arg, const char *elem, size_t elem_len)
{
    size_t *count = arg;
    (*count)++;
    assert (elem_len > 0);
    assert (json_valid (elem, elem_len));
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    /* Copy so reads past `size` land in ASan's redzone, not in libFuzzer's
     * larger buffer. */
    char *text = malloc (size ? size : 1);
    if (!text)
        return 0;
    memcpy (text, data, size);
    bool valid = json_valid (text, size);
    static const char *paths[] = { "",
                                   "error",
                                   "error.code",
                                   "error.message",
                                   "fault_message",
                                   "machine-config.vcpu_count",
                                   "sheds",
                                   "state",
                                   "a.b.c.d" };
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        size_t vlen = 0;
        const char *v = json_find (text, size, paths[i], &vlen);
        if (v) {
            assert (v >= text && v + vlen <= text + size);
            assert (json_valid (v, vlen));
        }
        char buf[64];
        if (json_get_str (text, size, paths[i], buf, sizeof buf) == 0)
            assert (memchr (buf, '\0', sizeof buf) != NULL);
        double d;
        (void) json_get_num (text, size, paths[i], &d);
        bool b;
        (void) json_get_bool (text, size, paths[i], &b);
        size_t count = 0;
        (void) json_each (text, size, paths[i], s_each, &count);
    }
    if (!valid) {
        size_t vlen;
        assert (json_find (text, size, "", &vlen) == NULL || vlen <= size);
    }
    /* Quoting round-trips into something the reader accepts. */
    char src[128], quoted[1024];
    size_t n = size < sizeof src - 1 ? size : sizeof src - 1;
    memcpy (src, text, n);
    src[n] = '\0';
    int q = json_quote (src, quoted, sizeof quoted);
    if (q >= 0) {
        assert (json_valid (quoted, (size_t) q));
        char back[256];
        if (json_get_str (quoted, (size_t) q, "", back, sizeof back) == 0)
            assert (strcmp (back, src) == 0);
    }
    free (text);
    return 0;
}
