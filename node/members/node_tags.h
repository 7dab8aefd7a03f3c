/*
 * node_tags.h - this node's runtime tag changes and the file that keeps
 * them across restarts (DATA_DIR/tags), as Serf's tags file does.
 *
 * The configuration (YAML `tags`, `--tag`) gives the base tags; `shedctl
 * tags set/unset` changes them at run time. The changes are kept as the
 * difference from the base: "set K V" for a tag added or given another
 * value, "unset K" for a base tag removed. At start the file is applied over
 * the configuration's tags, so run-time changes win over the config; setting
 * a tag back to its configured value (or unsetting one the config does not
 * have) drops its line, and the configuration rules that key again.
 *
 * The file is text, one change per line, fields separated by one space,
 * bytes <= 0x20, 0x7f and '%' written as %XX; '#' lines are comments:
 *
 *     # shed-node runtime tags (shedctl tags set/unset) over the config's
 *     set zone a
 *     unset rack
 *
 * It is written atomically (common/fileutil.h), mode 0600. Pure functions:
 * node_members.c owns the changes and the file.
 */
#ifndef SHED_NODE_TAGS_H
#define SHED_NODE_TAGS_H

#include "node/config.h"

#include <stdbool.h>
#include <stddef.h>

#define SHED_TAGS_FILE       "tags"
/* A difference from the base: at most every base tag unset and as many
 * others set as gossip carries (SWIM_TAGS_MAX = SHED_CFG_TAGS_MAX). */
#define SHED_TAG_CHANGES_MAX (2 * SHED_CFG_TAGS_MAX)
#define SHED_TAGS_FILE_MAX   (64 * 1024)

typedef struct {
    char key[64];
    char value[256];
    bool unset; /* a base tag removed at run time */
} shed_tag_change_t;

typedef struct {
    shed_tag_change_t items[SHED_TAG_CHANGES_MAX];
    size_t n;
} shed_tag_changes_t;

/* Read the changes at `path`; a missing file is no changes. Returns 0, or
 * -1 with "PATH:LINE: reason" in err (a damaged file stops the start rather
 * than silently placing sheds by the wrong tags). */
int shed_tag_changes_load (shed_tag_changes_t *ch, const char *path, char *err, size_t errlen);

/* Write the changes to `path` atomically (0600). 0, or -1 with a reason. */
int shed_tag_changes_save (const shed_tag_changes_t *ch, const char *path, char *err,
                           size_t errlen);

/* Record `key` set to `value` (value NULL: unset) as a difference from the
 * base tags, replacing an earlier change of that key. Returns 0, or -1 for
 * an empty or too long key/value or a full list (ch untouched then). */
int shed_tag_changes_record (shed_tag_changes_t *ch, const shed_config_tag_t *base, size_t nbase,
                             const char *key, const char *value);

/* out = base with the changes applied (changed values in place, new keys
 * after the base's in change order). Returns 0, or -1 if the result would
 * hold more than `max` tags. */
int shed_tags_merge (const shed_config_tag_t *base, size_t nbase, const shed_tag_changes_t *ch,
                     shed_config_tag_t *out, size_t *nout, size_t max);

#endif
