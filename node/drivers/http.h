/*
 * http.h - one blocking HTTP/1.1 request with libcurl, over TCP (a base
 * URL) or a Unix socket (CURLOPT_UNIX_SOCKET_PATH; the URL's host is then
 * only a label, "http://localhost/..."), as the HTTP drivers need.
 * JSON bodies in, status and body out; bounded response size and time.
 */
#ifndef SHED_DRV_HTTP_H
#define SHED_DRV_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#define HTTP_BODY_MAX (1 << 20)

typedef struct {
    long status; /* HTTP status, 0 if no response */
    char *body;  /* NUL-terminated, malloc'd (caller frees) */
    size_t len;
    char error[160]; /* transport error text when status == 0 */
} http_reply_t;

/* base: "http://127.0.0.1:8080" or NULL with unix_path set. Returns 0 when a
 * response arrived (any status), -1 on transport failure (reply->error). */
int http_request (const char *base, const char *unix_path, const char *method, const char *path,
                  const char *json_body, long timeout_ms, http_reply_t *reply);

/* The same with a bearer token: "Authorization: Bearer <bearer>" when
 * bearer is not NULL or "". The token is a secret: it goes into the
 * request header only, never into reply->error or any log. */
int http_request_bearer (const char *base, const char *method, const char *path,
                         const char *json_body, const char *bearer, long timeout_ms,
                         http_reply_t *reply);
void http_reply_free (http_reply_t *reply);

/* Loads libcurl and runs curl_global_init once per process (thread-safe,
 * idempotent; common/curl_dl.h). false, with the reason in err, when
 * libcurl cannot be loaded: every request then fails with that reason. */
bool http_global_init (char *err, size_t errlen);

#endif
