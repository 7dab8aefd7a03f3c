/*
 * firecracker_openapi.c - TEST SUPPORT: requests checked against
 * Firecracker's OpenAPI document (firecracker_openapi.h). The YAML stays a
 * libyaml document tree; the JSON body is parsed with jansson.
 */
#include "node/drivers/firecracker_openapi.h"

#include <ctype.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

struct _fc_openapi_t {
    yaml_document_t doc;
    yaml_node_t *paths;
    yaml_node_t *definitions;
    char version[64];
};

static int s_fail (char *why, size_t size, const char *fmt, ...)
    __attribute__ ((format (printf, 3, 4)));
static int
s_fail (char *why, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (why, size, fmt, ap);
    va_end (ap);
    return -1;
}

static const char *
s_scalar (yaml_node_t *n)
{
    return n && n->type == YAML_SCALAR_NODE ? (const char *) n->data.scalar.value : NULL;
}

static yaml_node_t *
s_get (fc_openapi_t *self, yaml_node_t *map, const char *key)
{
    if (!map || map->type != YAML_MAPPING_NODE)
        return NULL;
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        const char *k = s_scalar (yaml_document_get_node (&self->doc, p->key));
        if (k && strcmp (k, key) == 0)
            return yaml_document_get_node (&self->doc, p->value);
    }
    return NULL;
}

fc_openapi_t *
fc_openapi_load (const char *path, char *why, size_t size)
{
    FILE *f = fopen (path, "rb");
    if (!f) {
        s_fail (why, size, "%s: cannot open", path);
        return NULL;
    }
    fc_openapi_t *self = (fc_openapi_t *) calloc (1, sizeof (fc_openapi_t));
    yaml_parser_t parser;
    yaml_parser_initialize (&parser);
    yaml_parser_set_input_file (&parser, f);
    int ok = self && yaml_parser_load (&parser, &self->doc);
    yaml_parser_delete (&parser);
    fclose (f);
    if (!ok) {
        s_fail (why, size, "%s: not YAML", path);
        free (self);
        return NULL;
    }
    yaml_node_t *root = yaml_document_get_root_node (&self->doc);
    self->paths = s_get (self, root, "paths");
    self->definitions = s_get (self, root, "definitions");
    const char *swagger = s_scalar (s_get (self, root, "swagger"));
    const char *version = s_scalar (s_get (self, s_get (self, root, "info"), "version"));
    if (!self->paths || !self->definitions || !swagger || strcmp (swagger, "2.0") != 0) {
        s_fail (why, size, "%s: not a Swagger 2.0 document with paths and definitions", path);
        fc_openapi_destroy (&self);
        return NULL;
    }
    snprintf (self->version, sizeof self->version, "%s", version ? version : "");
    return self;
}

void
fc_openapi_destroy (fc_openapi_t **self_p)
{
    if (*self_p) {
        yaml_document_delete (&(*self_p)->doc);
        free (*self_p);
        *self_p = NULL;
    }
}

const char *
fc_openapi_version (fc_openapi_t *self)
{
    return self->version;
}

/* "/drives/{drive_id}" matches "/drives/rootfs": a {param} is one segment. */
static bool
s_path_match (const char *tmpl, const char *url)
{
    while (*tmpl && *url) {
        if (*tmpl == '{') {
            const char *close = strchr (tmpl, '}');
            if (!close || *url == '/')
                return false;
            tmpl = close + 1;
            url += strcspn (url, "/");
            continue;
        }
        if (*tmpl++ != *url++)
            return false;
    }
    return *tmpl == '\0' && *url == '\0';
}

/* A schema with "$ref": "#/definitions/X" is X (siblings such as a
 * description do not count in Swagger 2.0). */
static yaml_node_t *
s_resolve (fc_openapi_t *self, yaml_node_t *schema)
{
    for (int depth = 0; schema && depth < 16; depth++) {
        const char *ref = s_scalar (s_get (self, schema, "$ref"));
        if (!ref)
            return schema;
        const char *prefix = "#/definitions/";
        if (strncmp (ref, prefix, strlen (prefix)) != 0)
            return NULL;
        schema = s_get (self, self->definitions, ref + strlen (prefix));
    }
    return NULL;
}

static const char *
s_json_type (const json_t *v)
{
    switch (json_typeof (v)) {
    case JSON_OBJECT:
        return "object";
    case JSON_ARRAY:
        return "array";
    case JSON_STRING:
        return "string";
    case JSON_INTEGER:
        return "integer";
    case JSON_REAL:
        return "number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "boolean";
    default:
        return "null";
    }
}

static int s_check (fc_openapi_t *self, yaml_node_t *schema, json_t *v, const char *where,
                    char *why, size_t size);

static int
s_check_object (fc_openapi_t *self, yaml_node_t *schema, json_t *v, const char *where, char *why,
                size_t size)
{
    yaml_node_t *props = s_get (self, schema, "properties");
    yaml_node_t *required = s_get (self, schema, "required");
    if (required && required->type == YAML_SEQUENCE_NODE)
        for (yaml_node_item_t *i = required->data.sequence.items.start;
             i < required->data.sequence.items.top; i++) {
            const char *key = s_scalar (yaml_document_get_node (&self->doc, *i));
            if (key && !json_object_get (v, key))
                return s_fail (why, size, "%s.%s: required, missing", where, key);
        }
    yaml_node_t *extra = s_get (self, schema, "additionalProperties");
    const char *extra_s = s_scalar (extra);
    /* Open: additionalProperties true or a schema for them; closed: it says
     * false, or the schema lists its properties (Firecracker refuses
     * unknown fields). */
    bool open = extra && !(extra_s && strcmp (extra_s, "false") == 0);
    const char *key;
    json_t *value;
    json_object_foreach (v, key, value)
    {
        char sub[256];
        snprintf (sub, sizeof sub, "%s.%s", where, key);
        yaml_node_t *p = s_get (self, props, key);
        if (p) {
            if (s_check (self, p, value, sub, why, size) != 0)
                return -1;
        }
        else if (extra && extra->type == YAML_MAPPING_NODE) {
            if (s_check (self, extra, value, sub, why, size) != 0)
                return -1;
        }
        else if (!open)
            return s_fail (why, size, "%s: unknown property", sub);
    }
    return 0;
}

static int
s_check (fc_openapi_t *self, yaml_node_t *schema, json_t *v, const char *where, char *why,
         size_t size)
{
    schema = s_resolve (self, schema);
    if (!schema)
        return s_fail (why, size, "%s: unresolvable schema", where);
    const char *type = s_scalar (s_get (self, schema, "type"));
    if (!type && s_get (self, schema, "properties"))
        type = "object";
    if (type) {
        const char *have = s_json_type (v);
        bool ok = strcmp (type, have) == 0
                  || (strcmp (type, "number") == 0 && strcmp (have, "integer") == 0);
        if (!ok)
            return s_fail (why, size, "%s: expected %s, got %s", where, type, have);
    }
    yaml_node_t *en = s_get (self, schema, "enum");
    if (en && en->type == YAML_SEQUENCE_NODE) {
        bool found = false;
        for (yaml_node_item_t *i = en->data.sequence.items.start;
             i < en->data.sequence.items.top && !found; i++) {
            const char *want = s_scalar (yaml_document_get_node (&self->doc, *i));
            found = want && json_is_string (v) && strcmp (want, json_string_value (v)) == 0;
        }
        if (!found)
            return s_fail (why, size, "%s: not one of the enum's values", where);
    }
    if (json_is_number (v)) {
        const char *min = s_scalar (s_get (self, schema, "minimum"));
        const char *max = s_scalar (s_get (self, schema, "maximum"));
        double x = json_number_value (v);
        if (min && x < strtod (min, NULL))
            return s_fail (why, size, "%s: below the minimum %s", where, min);
        if (max && x > strtod (max, NULL))
            return s_fail (why, size, "%s: above the maximum %s", where, max);
    }
    if (json_is_object (v))
        return s_check_object (self, schema, v, where, why, size);
    if (json_is_array (v)) {
        yaml_node_t *items = s_get (self, schema, "items");
        size_t i;
        json_t *item;
        json_array_foreach (v, i, item)
        {
            char sub[256];
            snprintf (sub, sizeof sub, "%s[%zu]", where, i);
            if (items && s_check (self, items, item, sub, why, size) != 0)
                return -1;
        }
    }
    return 0;
}

int
fc_openapi_check (fc_openapi_t *self, const char *method, const char *url, const char *body,
                  char *why, size_t size)
{
    yaml_node_t *op = NULL;
    bool path_known = false;
    char lower[8] = "";
    for (size_t i = 0; method[i] && i < sizeof lower - 1; i++)
        lower[i] = (char) tolower ((unsigned char) method[i]);
    for (yaml_node_pair_t *p = self->paths->data.mapping.pairs.start;
         p < self->paths->data.mapping.pairs.top && !op; p++) {
        const char *tmpl = s_scalar (yaml_document_get_node (&self->doc, p->key));
        if (tmpl && s_path_match (tmpl, url)) {
            path_known = true;
            op = s_get (self, yaml_document_get_node (&self->doc, p->value), lower);
        }
    }
    if (!path_known)
        return s_fail (why, size, "%s %s: no such path in the API", method, url);
    if (!op)
        return s_fail (why, size, "%s %s: method not allowed on this path", method, url);
    yaml_node_t *schema = NULL;
    bool required = false;
    yaml_node_t *params = s_get (self, op, "parameters");
    if (params && params->type == YAML_SEQUENCE_NODE)
        for (yaml_node_item_t *i = params->data.sequence.items.start;
             i < params->data.sequence.items.top; i++) {
            yaml_node_t *param = yaml_document_get_node (&self->doc, *i);
            const char *in = s_scalar (s_get (self, param, "in"));
            if (in && strcmp (in, "body") == 0) {
                schema = s_get (self, param, "schema");
                const char *req = s_scalar (s_get (self, param, "required"));
                required = req && strcmp (req, "true") == 0;
            }
        }
    bool has_body = body && *body;
    if (!has_body)
        return required ? s_fail (why, size, "%s %s: a body is required", method, url) : 0;
    if (!schema)
        return s_fail (why, size, "%s %s: takes no body", method, url);
    json_error_t jerr;
    json_t *v = json_loads (body, JSON_REJECT_DUPLICATES, &jerr);
    if (!v)
        return s_fail (why, size, "%s %s: body is not JSON: %s", method, url, jerr.text);
    char where[300];
    snprintf (where, sizeof where, "%s %s: body", method, url);
    int rc = s_check (self, schema, v, where, why, size);
    json_decref (v);
    return rc;
}
