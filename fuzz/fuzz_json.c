/*
 * fuzz_json.c - the JSON reading the HTTP drivers do on answers from
 * Firecracker and Shed servers (node/drivers/json_read.c, over jansson),
 * and the quoting of the strings they send. On arbitrary input: json_read
 * either refuses with a reason or returns a document within its limits
 * (depth, no duplicate keys) that jansson writes and reads back equal;
 * every accessor stays inside the caller's buffers; quoting any bytes
 * gives a literal the reader accepts and that holds the UTF-8 repair of
 * those bytes (common/json_text.h).
 */
#include "common/json_text.h"
#include "node/drivers/json_read.h"

#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static int
s_depth (json_t *v)
{
    int max = 0;
    if (json_is_array (v)) {
        size_t i;
        json_t *item;
        json_array_foreach (v, i, item)
        {
            int d = s_depth (item);
            max = d > max ? d : max;
        }
        return max + 1;
    }
    if (json_is_object (v)) {
        const char *key;
        json_t *item;
        json_object_foreach (v, key, item)
        {
            int d = s_depth (item);
            max = d > max ? d : max;
        }
        return max + 1;
    }
    return 0;
}

static void
s_read (const char *text, size_t size)
{
    char why[128] = "";
    json_t *doc = json_read (text, size, why, sizeof why);
    if (!doc) {
        assert (why[0]);
        return;
    }
    assert (s_depth (doc) <= JSON_READ_DEPTH);
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
        char buf[64];
        memset (buf, 'x', sizeof buf);
        if (json_read_str (doc, paths[i], buf, sizeof buf) == 0)
            assert (memchr (buf, '\0', sizeof buf) != NULL);
        double d;
        (void) json_read_num (doc, paths[i], &d);
        bool b;
        (void) json_read_bool (doc, paths[i], &b);
        const json_t *v = json_read_at (doc, paths[i]);
        if (json_is_array (v)) {
            size_t k;
            const json_t *elem;
            json_array_foreach (v, k, elem) (void) json_read_str (elem, "name", buf, sizeof buf);
        }
    }
    /* What we accept, jansson writes, and we read back the same. */
    char *out = json_dumps (doc, JSON_ENCODE_ANY | JSON_COMPACT);
    assert (out);
    json_t *back = json_read (out, strlen (out), why, sizeof why);
    assert (back && json_equal (doc, back));
    json_decref (back);
    free (out);
    json_decref (doc);
}

static void
s_quote (const char *text, size_t size)
{
    char src[128], quoted[1024];
    size_t n = size < sizeof src - 1 ? size : sizeof src - 1;
    memcpy (src, text, n);
    src[n] = '\0';
    int q = json_quote (src, quoted, sizeof quoted);
    if (q < 0)
        return;
    assert ((size_t) q == strlen (quoted));
    char why[128];
    json_t *v = json_read (quoted, (size_t) q, why, sizeof why);
    assert (json_is_string (v));
    size_t rlen;
    char *repaired = utf8_repair (src, strlen (src), &rlen);
    assert (repaired);
    assert (json_string_length (v) == rlen);
    assert (memcmp (json_string_value (v), repaired, rlen) == 0);
    free (repaired);
    json_decref (v);
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
    s_read (text, size);
    s_quote (text, size);
    free (text);
    return 0;
}
