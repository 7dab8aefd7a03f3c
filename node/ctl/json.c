/* json.c - see json.h. */
#include "node/ctl/json.h"

#include "common/json_text.h"

#include <jansson.h>
#include <math.h>
#include <string.h>

void
jw_init (jw_t *j, FILE *out)
{
    j->out = out;
    j->depth = 0;
    j->need_comma[0] = false;
    j->after_key = false;
}

/* Emit the separator a new value needs at the current position. */
static void
s_value_start (jw_t *j)
{
    if (j->after_key) {
        j->after_key = false;
        return;
    }
    if (j->need_comma[j->depth])
        fputc (',', j->out);
    j->need_comma[j->depth] = true;
}

static void
s_open (jw_t *j, char c)
{
    s_value_start (j);
    fputc (c, j->out);
    if (j->depth < JW_DEPTH_MAX - 1)
        j->depth++;
    j->need_comma[j->depth] = false;
}

static void
s_close (jw_t *j, char c)
{
    if (j->depth > 0)
        j->depth--;
    fputc (c, j->out);
}

void
jw_obj_begin (jw_t *j)
{
    s_open (j, '{');
}
void
jw_obj_end (jw_t *j)
{
    s_close (j, '}');
}
void
jw_arr_begin (jw_t *j)
{
    s_open (j, '[');
}
void
jw_arr_end (jw_t *j)
{
    s_close (j, ']');
}

/* A string literal, quotes included, written by jansson. */
static void
s_string (FILE *out, const char *s, size_t len)
{
    json_t *v = json_text_n (s, len);
    /* Only out of memory leaves nothing to write: keep the document valid. */
    if (!v || json_dumpf (v, out, JSON_ENCODE_ANY) != 0)
        fputs ("\"\"", out);
    json_decref (v);
}

void
jw_key (jw_t *j, const char *key)
{
    s_value_start (j);
    s_string (j->out, key, key ? strlen (key) : 0);
    fputc (':', j->out);
    j->after_key = true;
}

void
jw_strn (jw_t *j, const char *value, size_t len)
{
    s_value_start (j);
    s_string (j->out, value, value ? len : 0);
}

void
jw_str (jw_t *j, const char *value)
{
    jw_strn (j, value, value ? strlen (value) : 0);
}

void
jw_u64 (jw_t *j, uint64_t value)
{
    s_value_start (j);
    fprintf (j->out, "%llu", (unsigned long long) value);
}

void
jw_i64 (jw_t *j, int64_t value)
{
    s_value_start (j);
    fprintf (j->out, "%lld", (long long) value);
}

void
jw_f64 (jw_t *j, double value)
{
    s_value_start (j);
    if (isfinite (value))
        fprintf (j->out, "%.6g", value);
    else
        fputs ("null", j->out);
}

void
jw_bool (jw_t *j, bool value)
{
    s_value_start (j);
    fputs (value ? "true" : "false", j->out);
}

void
jw_null (jw_t *j)
{
    s_value_start (j);
    fputs ("null", j->out);
}

void
jw_end (jw_t *j)
{
    fputc ('\n', j->out);
    fflush (j->out);
}

void
jw_tags (jw_t *j, const wire_tags_t *tags)
{
    jw_obj_begin (j);
    for (size_t i = 0; i < tags->n; i++) {
        jw_key (j, tags->items[i].key);
        jw_str (j, tags->items[i].value);
    }
    jw_obj_end (j);
}
