/*
 * json_read.h - just enough JSON reading for the HTTP drivers: validate a
 * document and fetch values by dotted path ("error.code",
 * "machine-config.vcpu_count"), without building a tree.
 *
 * Bounded: nesting deeper than JSON_READ_DEPTH is invalid; every read
 * checks the end pointer; strings are unescaped into caller buffers
 * (\uXXXX to UTF-8, surrogate pairs joined). Backends are lenient about
 * shapes, so callers try several paths.
 */
#ifndef SHED_DRV_JSON_READ_H
#define SHED_DRV_JSON_READ_H

#include <stdbool.h>
#include <stddef.h>

#define JSON_READ_DEPTH 32

/* true if text[0..len) is exactly one JSON value (whitespace around ok). */
bool json_valid (const char *text, size_t len);

/* The raw value at `path` ("" = the document); NULL if absent. */
const char *json_find (const char *text, size_t len, const char *path, size_t *vlen);

/* String at path, unescaped into buf. 0, or -1 (absent, not a string,
 * too long). */
int json_get_str (const char *text, size_t len, const char *path, char *buf, size_t size);
/* Number at path. 0 or -1. */
int json_get_num (const char *text, size_t len, const char *path, double *out);
/* true/false at path. 0 or -1. */
int json_get_bool (const char *text, size_t len, const char *path, bool *out);

/* Call fn for each element of the array at path. Returns the count, or -1
 * when path is not an array. */
typedef void (json_each_fn) (void *arg, const char *elem, size_t elem_len);
int json_each (const char *text, size_t len, const char *path, json_each_fn *fn, void *arg);

/* Write `value` as a JSON string literal (quotes included) into buf;
 * returns the length, or -1 if it does not fit. */
int json_quote (const char *value, char *buf, size_t size);

#endif
