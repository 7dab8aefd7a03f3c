/*
 * json.h - a tiny streaming JSON writer for shedctl's --json output.
 *
 * Commas and nesting are tracked here so command code reads as a list of
 * fields. Strings are escaped per RFC 8259 (control bytes as \u00XX).
 */
#ifndef SHED_JSON_H
#define SHED_JSON_H

#include "common/wire.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define JSON_DEPTH_MAX 16

typedef struct {
    FILE *out;
    int depth;
    bool need_comma[JSON_DEPTH_MAX];
    bool after_key;
} json_t;

void json_init (json_t *j, FILE *out);
void json_obj_begin (json_t *j);
void json_obj_end (json_t *j);
void json_arr_begin (json_t *j);
void json_arr_end (json_t *j);
void json_key (json_t *j, const char *key);
void json_str (json_t *j, const char *value);
void json_u64 (json_t *j, uint64_t value);
void json_i64 (json_t *j, int64_t value);
void json_f64 (json_t *j, double value);
void json_bool (json_t *j, bool value);
void json_null (json_t *j);
/* A wire tag map as an object {"key": "value", ...}. */
void json_tags (json_t *j, const wire_tags_t *tags);
/* Finish the document with a newline. */
void json_end (json_t *j);

#endif
