/*
 * fuzz_duration.c - the duration parser (common/duration.h) every shedctl
 * time flag and every duration key of a node's config goes through, on
 * arbitrary bytes: it returns 0 or a one-line reason, never crashes, never
 * touches the result on failure, and what it accepts formats back to text
 * it parses to the same value.
 */
#include "common/duration.h"

#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    char text[SHED_DURATION_TEXT_MAX + 8];
    if (size >= sizeof text)
        size = sizeof text - 1;
    memcpy (text, data, size);
    text[size] = '\0';
    static const uint64_t bare[] = { 0, 1, 1000 };
    for (size_t i = 0; i < sizeof bare / sizeof bare[0]; i++) {
        uint64_t ms = 0xdeadbeef;
        char why[256] = "";
        if (shed_duration_parse (text, bare[i], &ms, why, sizeof why) != 0) {
            assert (ms == 0xdeadbeef);
            assert (why[0] != '\0' && strchr (why, '\n') == NULL);
            continue;
        }
        char out[64];
        shed_duration_format (ms, out, sizeof out);
        uint64_t back = 0;
        assert (shed_duration_parse (out, 0, &back, why, sizeof why) == 0);
        assert (back == ms);
    }
    return 0;
}
