/*
 * firecracker_openapi.h - TEST SUPPORT: Firecracker's published OpenAPI
 * (Swagger 2.0) document, read with libyaml, as a checker of requests:
 * is `METHOD url` one of its operations, and does the JSON body match the
 * schema of the operation's body parameter (required properties present,
 * no property the schema does not list, types, enums, integer bounds,
 * nested $ref definitions). Firecracker's API server refuses unknown
 * fields (serde deny_unknown_fields), so a schema that lists its
 * properties is treated as closed unless it says additionalProperties.
 * Used by the Firecracker driver's test double (firecracker_double.h).
 */
#ifndef SHED_DRV_FIRECRACKER_OPENAPI_H
#define SHED_DRV_FIRECRACKER_OPENAPI_H

#include <stddef.h>

typedef struct _fc_openapi_t fc_openapi_t;

/* NULL with why filled when the file is unreadable or not such a document. */
fc_openapi_t *fc_openapi_load (const char *path, char *why, size_t size);
void fc_openapi_destroy (fc_openapi_t **self_p);
/* info.version, e.g. "1.17.0-dev". */
const char *fc_openapi_version (fc_openapi_t *self);

/* 0 when the document allows the request; -1 with why ("PUT /machine-config:
 * body.vcpu_count: expected integer") when it does not. body NULL or ""
 * is no body. */
int fc_openapi_check (fc_openapi_t *self, const char *method, const char *url, const char *body,
                      char *why, size_t size);

#endif
