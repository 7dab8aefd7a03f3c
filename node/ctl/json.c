/* json.c - see json.h. */
#include "node/ctl/json.h"

#include <math.h>

void
json_init (json_t *j, FILE *out)
{
    j->out = out;
    j->depth = 0;
    j->need_comma[0] = false;
    j->after_key = false;
}

/* Emit the separator a new value needs at the current position. */
static void
s_value_start (json_t *j)
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
s_open (json_t *j, char c)
{
    s_value_start (j);
    fputc (c, j->out);
    if (j->depth < JSON_DEPTH_MAX - 1)
        j->depth++;
    j->need_comma[j->depth] = false;
}

static void
s_close (json_t *j, char c)
{
    if (j->depth > 0)
        j->depth--;
    fputc (c, j->out);
}

void
json_obj_begin (json_t *j)
{
    s_open (j, '{');
}
void
json_obj_end (json_t *j)
{
    s_close (j, '}');
}
void
json_arr_begin (json_t *j)
{
    s_open (j, '[');
}
void
json_arr_end (json_t *j)
{
    s_close (j, ']');
}

static void
s_escaped (FILE *out, const char *s)
{
    fputc ('"', out);
    for (const unsigned char *p = (const unsigned char *) s; *p; p++) {
        switch (*p) {
        case '"':
            fputs ("\\\"", out);
            break;
        case '\\':
            fputs ("\\\\", out);
            break;
        case '\n':
            fputs ("\\n", out);
            break;
        case '\r':
            fputs ("\\r", out);
            break;
        case '\t':
            fputs ("\\t", out);
            break;
        default:
            if (*p < 0x20)
                fprintf (out, "\\u%04x", *p);
            else
                fputc (*p, out);
        }
    }
    fputc ('"', out);
}

void
json_key (json_t *j, const char *key)
{
    s_value_start (j);
    s_escaped (j->out, key);
    fputc (':', j->out);
    j->after_key = true;
}

void
json_str (json_t *j, const char *value)
{
    s_value_start (j);
    s_escaped (j->out, value ? value : "");
}

void
json_u64 (json_t *j, uint64_t value)
{
    s_value_start (j);
    fprintf (j->out, "%llu", (unsigned long long) value);
}

void
json_i64 (json_t *j, int64_t value)
{
    s_value_start (j);
    fprintf (j->out, "%lld", (long long) value);
}

void
json_f64 (json_t *j, double value)
{
    s_value_start (j);
    if (isfinite (value))
        fprintf (j->out, "%.6g", value);
    else
        fputs ("null", j->out);
}

void
json_bool (json_t *j, bool value)
{
    s_value_start (j);
    fputs (value ? "true" : "false", j->out);
}

void
json_null (json_t *j)
{
    s_value_start (j);
    fputs ("null", j->out);
}

void
json_end (json_t *j)
{
    fputc ('\n', j->out);
    fflush (j->out);
}

void
json_tags (json_t *j, const wire_tags_t *tags)
{
    json_obj_begin (j);
    for (size_t i = 0; i < tags->n; i++) {
        json_key (j, tags->items[i].key);
        json_str (j, tags->items[i].value);
    }
    json_obj_end (j);
}
