/*
 * json.h - the JSON writer behind shedctl's --json output and the event
 * JSON of hooks and `shedctl events --json` (node/events/event_json.h).
 *
 * Streaming: command code reads as a list of fields, each document goes
 * out as it is made (events and log lines are printed one per line as they
 * arrive). Strings go through jansson (common/json_text.h): escaping per
 * RFC 8259 and ill-formed UTF-8 from a shed replaced by U+FFFD, so the
 * output is always valid JSON. Only the separators are kept here.
 *
 * Why not a json_t tree dumped with JSON_PRESERVE_ORDER: jansson integers
 * are signed 64-bit (json_int_t), and some of our fields are full-range
 * uint64 (an event's `boot` is a random 64-bit id); a tree would have to
 * bend those. Numbers print as before: integers in full, reals as %.6g
 * (non-finite as null), so the output stays byte for byte what scripts
 * and tests already parse.
 */
#ifndef SHED_JSON_H
#define SHED_JSON_H

#include "common/wire.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define JW_DEPTH_MAX 16

typedef struct {
    FILE *out;
    int depth;
    bool need_comma[JW_DEPTH_MAX];
    bool after_key;
} jw_t;

void jw_init (jw_t *j, FILE *out);
void jw_obj_begin (jw_t *j);
void jw_obj_end (jw_t *j);
void jw_arr_begin (jw_t *j);
void jw_arr_end (jw_t *j);
void jw_key (jw_t *j, const char *key);
/* Any bytes: NULL is "", ill-formed UTF-8 becomes U+FFFD. */
void jw_str (jw_t *j, const char *value);
void jw_strn (jw_t *j, const char *value, size_t len);
void jw_u64 (jw_t *j, uint64_t value);
void jw_i64 (jw_t *j, int64_t value);
void jw_f64 (jw_t *j, double value);
void jw_bool (jw_t *j, bool value);
void jw_null (jw_t *j);
/* A wire tag map as an object {"key": "value", ...}. */
void jw_tags (jw_t *j, const wire_tags_t *tags);
/* Finish the document with a newline. */
void jw_end (jw_t *j);

#endif
