/*
 * json_text.h - jansson strings from bytes that should be UTF-8 but may
 * not be: a shed's log lines, a process name, a backend's message.
 *
 * jansson's json_string() refuses invalid UTF-8 (it returns NULL), and
 * JSON itself has no way to carry such bytes. So every string we write as
 * JSON goes through here: each maximal ill-formed subsequence becomes one
 * U+FFFD REPLACEMENT CHARACTER, the "substitution of maximal subparts"
 * practice of the Unicode Standard (chapter 3, U+FFFD substitution) that
 * WHATWG's decoder and Python's errors="replace" follow. Overlong forms,
 * surrogates, code points above U+10FFFF, stray continuation bytes and
 * sequences cut short are all ill-formed.
 */
#ifndef SHED_JSON_TEXT_H
#define SHED_JSON_TEXT_H

#include <jansson.h>
#include <stddef.h>

/* A new JSON string (the caller owns the reference) of s[0..len), with
 * ill-formed UTF-8 replaced. NULL only when out of memory. NUL bytes are
 * kept (jansson writes them as \u0000). */
json_t *json_text_n (const char *s, size_t len);
/* The same for a C string; NULL is taken as "". */
json_t *json_text (const char *s);

/* The repair itself: s[0..len) into a new NUL-terminated buffer (caller
 * frees), its length in *out_len. NULL only when out of memory. */
char *utf8_repair (const char *s, size_t len, size_t *out_len);

#endif
