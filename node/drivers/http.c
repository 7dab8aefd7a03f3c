/*
 * http.c - blocking requests with libcurl (see http.h), loaded on first
 * use (common/curl_dl.h).
 */
#include "node/drivers/http.h"

#include "common/curl_dl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool
http_global_init (char *err, size_t errlen)
{
    return curl_dl_open (err, errlen);
}

static size_t
s_write (char *data, size_t size, size_t nmemb, void *arg)
{
    http_reply_t *r = (http_reply_t *) arg;
    size_t n = size * nmemb;
    if (r->len + n > HTTP_BODY_MAX)
        return 0; /* aborts the transfer */
    char *grown = (char *) realloc (r->body, r->len + n + 1);
    if (!grown)
        return 0;
    r->body = grown;
    memcpy (r->body + r->len, data, n);
    r->len += n;
    r->body[r->len] = '\0';
    return n;
}

static int
s_request (const char *base, const char *unix_path, const char *method, const char *path,
           const char *json_body, const char *bearer, long timeout_ms, http_reply_t *reply)
{
    memset (reply, 0, sizeof *reply);
    if (!http_global_init (reply->error, sizeof reply->error))
        return -1;
    CURL *curl = sym_curl_easy_init ();
    if (!curl) {
        snprintf (reply->error, sizeof reply->error, "curl init failed");
        return -1;
    }
    char url[1024];
    snprintf (url, sizeof url, "%s%s", base ? base : "http://localhost", path);
    struct curl_slist *headers = NULL;
    headers = sym_curl_slist_append (headers, "Accept: application/json");
    if (json_body)
        headers = sym_curl_slist_append (headers, "Content-Type: application/json");
    /* No "Expect: 100-continue" round trip for small bodies. */
    headers = sym_curl_slist_append (headers, "Expect:");
    char *auth = NULL;
    if (bearer && *bearer) {
        size_t n = strlen (bearer) + sizeof "Authorization: Bearer ";
        auth = (char *) malloc (n);
        if (!auth) {
            sym_curl_slist_free_all (headers);
            sym_curl_easy_cleanup (curl);
            snprintf (reply->error, sizeof reply->error, "out of memory");
            return -1;
        }
        snprintf (auth, n, "Authorization: Bearer %s", bearer);
        headers = sym_curl_slist_append (headers, auth);
    }
    sym_curl_easy_setopt (curl, CURLOPT_URL, url);
    if (unix_path)
        sym_curl_easy_setopt (curl, CURLOPT_UNIX_SOCKET_PATH, unix_path);
    sym_curl_easy_setopt (curl, CURLOPT_CUSTOMREQUEST, method);
    sym_curl_easy_setopt (curl, CURLOPT_HTTPHEADER, headers);
    if (json_body) {
        sym_curl_easy_setopt (curl, CURLOPT_POSTFIELDS, json_body);
        sym_curl_easy_setopt (curl, CURLOPT_POSTFIELDSIZE, (long) strlen (json_body));
    }
    sym_curl_easy_setopt (curl, CURLOPT_TIMEOUT_MS, timeout_ms > 0 ? timeout_ms : 10000L);
    sym_curl_easy_setopt (curl, CURLOPT_NOSIGNAL, 1L); /* threaded daemon */
    sym_curl_easy_setopt (curl, CURLOPT_PROTOCOLS_STR, "http,https");
    sym_curl_easy_setopt (curl, CURLOPT_WRITEFUNCTION, s_write);
    sym_curl_easy_setopt (curl, CURLOPT_WRITEDATA, reply);
    CURLcode rc = sym_curl_easy_perform (curl);
    int result = 0;
    if (rc != CURLE_OK) {
        snprintf (reply->error, sizeof reply->error, "%s", sym_curl_easy_strerror (rc));
        result = -1;
    }
    else
        sym_curl_easy_getinfo (curl, CURLINFO_RESPONSE_CODE, &reply->status);
    if (!reply->body) {
        reply->body = (char *) calloc (1, 1);
        reply->len = 0;
    }
    sym_curl_slist_free_all (headers);
    sym_curl_easy_cleanup (curl);
    if (auth) {
        /* The token does not linger in freed heap memory. */
        explicit_bzero (auth, strlen (auth));
        free (auth);
    }
    return result;
}

int
http_request (const char *base, const char *unix_path, const char *method, const char *path,
              const char *json_body, long timeout_ms, http_reply_t *reply)
{
    return s_request (base, unix_path, method, path, json_body, NULL, timeout_ms, reply);
}

int
http_request_bearer (const char *base, const char *method, const char *path, const char *json_body,
                     const char *bearer, long timeout_ms, http_reply_t *reply)
{
    return s_request (base, NULL, method, path, json_body, bearer, timeout_ms, reply);
}

void
http_reply_free (http_reply_t *reply)
{
    if (reply) {
        free (reply->body);
        reply->body = NULL;
        reply->len = 0;
    }
}
