/*
 * fuzz_config.c - the YAML configuration loader (node/config.c) on
 * arbitrary bytes: it must return 0 or a one-line error, never crash, never
 * write past a field, and leave a config that still finishes cleanly or
 * fails with a reason.
 */
#include "node/config.h"

#include <assert.h>
#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    shed_config_t cfg;
    shed_config_defaults (&cfg);
    char err[512] = "";
    int rc =
        shed_config_load_buffer (&cfg, (const char *) data, size, "fuzz.yaml", err, sizeof err);
    if (rc != 0) {
        /* Every failure explains itself on one line. */
        assert (err[0] != '\0');
        assert (strchr (err, '\n') == NULL);
        return 0;
    }
    assert (cfg.njoin <= SHED_JOIN_MAX);
    assert (cfg.ntags <= SHED_CFG_TAGS_MAX);
    assert (memchr (cfg.name, '\0', sizeof cfg.name) != NULL);
    assert (shed_node_name_valid (cfg.name));
    (void) shed_config_finish (&cfg, err, sizeof err);
    return 0;
}
