/*
 * json_read.h - reading the JSON answers of the HTTP backends (Firecracker,
 * Shed servers) with jansson, bounded, and quoting strings for the bodies
 * we send them.
 *
 * A backend is a separate program we do not trust to be well-behaved: an
 * answer is parsed once (json_read) with limits of its own on top of
 * jansson's (JSON_READ_MAX bytes, JSON_READ_DEPTH levels, no duplicate
 * keys, strict UTF-8), then values are fetched by dotted path
 * ("error.code", "machine-config.vcpu_count"). Backends are lenient about
 * shapes, so callers try several paths.
 */
#ifndef SHED_DRV_JSON_READ_H
#define SHED_DRV_JSON_READ_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define JSON_READ_DEPTH 32        /* nesting levels; deeper is refused */
#define JSON_READ_MAX   (1 << 20) /* bytes; as HTTP_BODY_MAX (http.h) */

/* text[0..len) as one JSON value (any type, whitespace around it).
 * A new reference (caller json_decref()s), or NULL with a one-line reason
 * in why: "empty answer", "answer of N bytes is over ...", "nested deeper
 * than 32 levels", or jansson's "line L column C: ..." . */
json_t *json_read (const char *text, size_t len, char *why, size_t why_size);

/* The value at `path` ("" = doc itself), borrowed from doc; NULL when doc
 * is NULL or a step is not an object or has no such key. */
const json_t *json_read_at (const json_t *doc, const char *path);

/* String at path into buf. 0, or -1 (absent, not a string, holds a NUL,
 * or too long for buf). */
int json_read_str (const json_t *doc, const char *path, char *buf, size_t size);
/* Number (integer or real) at path. 0 or -1. */
int json_read_num (const json_t *doc, const char *path, double *out);
/* true/false at path. 0 or -1. */
int json_read_bool (const json_t *doc, const char *path, bool *out);

/* `value` as a JSON string literal (quotes included) into buf, written by
 * jansson, ill-formed UTF-8 replaced (common/json_text.h). Returns the
 * length, or -1 if it does not fit. */
int json_quote (const char *value, char *buf, size_t size);

#endif
