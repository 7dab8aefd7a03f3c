/* api_client_http.c - see api_client_http.h. */
#include "node/api/api_client_http.h"

#include "common/curl_dl.h"
#include "node/api/api_client.h"
#include "node/http/http_passthrough.h"

#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define S_REPLY_MAX      (64u << 20) /* an encoded reply; the biggest are lists */
#define S_CONNECT_MAX_MS 10000
#define S_HTTP_MARGIN_MS 2000 /* past the node's own wait: its 504 arrives first */
#define S_EVENT_MAX      (1u << 20)
#define S_STOP_POLL_MS   50 /* an event stream checks its stop flag this often */

static char s_token[SHED_API_TOKEN_MAX + 1];
static char s_ca_file[4096];

bool
shed_api_is_http (const char *endpoint)
{
    return strncmp (endpoint, "https://", 8) == 0 || strncmp (endpoint, "http://", 7) == 0;
}

void
shed_api_http_configure (const char *token, const char *ca_file)
{
    snprintf (s_token, sizeof s_token, "%s", token ? token : "");
    snprintf (s_ca_file, sizeof s_ca_file, "%s", ca_file ? ca_file : "");
}

/* http:// carries the token in clear: only to this host. The node refuses
 * plain HTTP elsewhere too (http.listen); this keeps a mistyped URL from
 * sending the secret over a network. */
static bool
s_plain_ok (const char *endpoint)
{
    if (strncmp (endpoint, "http://", 7) != 0)
        return true;
    const char *h = endpoint + 7;
    return strncmp (h, "127.", 4) == 0 || strncmp (h, "[::1]", 5) == 0
           || strncmp (h, "localhost", 9) == 0;
}

/* base + path, the base without a trailing '/'. */
static int
s_url (const char *endpoint, const char *path, char *url, size_t size, char *err, size_t errlen)
{
    size_t n = strlen (endpoint);
    while (n > 0 && endpoint[n - 1] == '/')
        n--;
    if (!s_plain_ok (endpoint)) {
        snprintf (err, errlen,
                  "%s: plain http:// only to a loopback address (the token would cross the "
                  "network in clear): use https://",
                  endpoint);
        return -1;
    }
    if ((size_t) snprintf (url, size, "%.*s%s", (int) n, endpoint, path) >= size) {
        snprintf (err, errlen, "address too long: '%.60s...'", endpoint);
        return -1;
    }
    return 0;
}

typedef struct {
    char *data;
    size_t len, cap_max;
} s_buf_t;

static bool
s_append (s_buf_t *b, const void *data, size_t n)
{
    if (b->len + n > b->cap_max)
        return false;
    char *grown = realloc (b->data, b->len + n + 1);
    if (!grown)
        return false;
    memcpy (grown + b->len, data, n);
    b->data = grown;
    b->len += n;
    b->data[b->len] = '\0';
    return true;
}

static size_t
s_write (char *data, size_t size, size_t nmemb, void *arg)
{
    /* 0 aborts the transfer: a reply over its bound */
    return s_append (arg, data, size * nmemb) ? size * nmemb : 0;
}

typedef struct {
    const volatile int *stop;
} s_stop_t;

static int
s_progress (void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
    (void) dltotal;
    (void) dlnow;
    (void) ultotal;
    (void) ulnow;
    const s_stop_t *box = arg;
    return box->stop && *box->stop; /* non-zero aborts */
}

/* The common options: TLS trust, token, timeouts, no signals (threads). */
static struct curl_slist *
s_setup (CURL *curl, const char *url, int timeout_ms, struct curl_slist *headers)
{
    sym_curl_easy_setopt (curl, CURLOPT_URL, url);
    sym_curl_easy_setopt (curl, CURLOPT_NOSIGNAL, 1L);
    sym_curl_easy_setopt (curl, CURLOPT_PROTOCOLS_STR, "http,https");
    sym_curl_easy_setopt (curl, CURLOPT_FOLLOWLOCATION, 0L);
    if (s_ca_file[0])
        sym_curl_easy_setopt (curl, CURLOPT_CAINFO, s_ca_file);
    if (timeout_ms > 0)
        sym_curl_easy_setopt (curl, CURLOPT_TIMEOUT_MS, (long) timeout_ms);
    sym_curl_easy_setopt (
        curl, CURLOPT_CONNECTTIMEOUT_MS,
        (long) (timeout_ms > 0 && timeout_ms < S_CONNECT_MAX_MS ? timeout_ms : S_CONNECT_MAX_MS));
    if (s_token[0]) {
        char auth[SHED_API_TOKEN_MAX + 32];
        snprintf (auth, sizeof auth, "Authorization: Bearer %s", s_token);
        headers = sym_curl_slist_append (headers, auth);
        sodium_memzero (auth, sizeof auth);
    }
    headers = sym_curl_slist_append (headers, "Expect:");
    sym_curl_easy_setopt (curl, CURLOPT_HTTPHEADER, headers);
    return headers;
}

/* One line for a transfer that failed. */
static void
s_curl_error (CURLcode cc, const char *cerr, const char *endpoint, char *err, size_t errlen)
{
    const char *why = cerr && *cerr ? cerr : sym_curl_easy_strerror (cc);
    switch (cc) {
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM:
#if LIBCURL_VERSION_NUM < 0x073e00
    case CURLE_SSL_CACERT:
#endif
        snprintf (err, errlen,
                  "TLS with %s failed: %s (a node with a self-signed certificate needs "
                  "--ca-cert FILE)",
                  endpoint, why);
        break;
    case CURLE_COULDNT_RESOLVE_HOST:
        snprintf (err, errlen, "cannot resolve the host of %s: %s", endpoint, why);
        break;
    case CURLE_COULDNT_CONNECT:
        snprintf (err, errlen, "cannot connect to %s: %s (is shed-node's http.listen set?)",
                  endpoint, why);
        break;
    default:
        snprintf (err, errlen, "%s: %s", endpoint, why);
        break;
    }
}

/* An HTTP error answer: {"error": {"code", "message"}} as one line. */
static void
s_http_error (long status, const s_buf_t *body, const char *endpoint, char *err, size_t errlen)
{
    json_t *root = body->data ? json_loadb (body->data, body->len, 0, NULL) : NULL;
    json_t *e = json_object_get (root, "error");
    const char *code = json_string_value (json_object_get (e, "code"));
    const char *msg = json_string_value (json_object_get (e, "message"));
    if (msg)
        snprintf (err, errlen, "%s: %ld %s: %s", endpoint, status, code ? code : "error", msg);
    else
        snprintf (err, errlen, "%s: HTTP %ld%s", endpoint, status,
                  status == 404 ? " (no /v1/api here: is it a shed-node?)" : "");
    json_decref (root);
}

int
shed_api_http_call (const char *endpoint, const api_msg_t *req, api_msg_t *rep, int timeout_ms,
                    const volatile int *stop, char *err, size_t errlen)
{
    memset (rep, 0, sizeof *rep);
    if (!curl_dl_open (err, errlen))
        return -1;
    char url[1024];
    if (s_url (endpoint, "/v1/api", url, sizeof url, err, errlen) != 0)
        return -1;
    uint8_t *body = NULL;
    size_t blen = 0;
    int rc = wire_encode (&api_proto, req, &body, &blen);
    if (rc != WIRE_OK) {
        snprintf (err, errlen, "cannot encode request: %s", wire_strerror (rc));
        return -1;
    }
    CURL *curl = sym_curl_easy_init ();
    if (!curl) {
        free (body);
        snprintf (err, errlen, "cannot start libcurl");
        return -1;
    }
    char thdr[64];
    snprintf (thdr, sizeof thdr, "%s: %d", HTTP_TIMEOUT_HEADER, timeout_ms);
    struct curl_slist *headers = sym_curl_slist_append (NULL, "Content-Type: " HTTP_MSGPACK_TYPE);
    headers = sym_curl_slist_append (headers, "Accept: " HTTP_MSGPACK_TYPE);
    headers = sym_curl_slist_append (headers, thdr);
    headers = s_setup (curl, url, timeout_ms + S_HTTP_MARGIN_MS, headers);
    char cerr[CURL_ERROR_SIZE] = "";
    s_buf_t out = { .cap_max = S_REPLY_MAX };
    sym_curl_easy_setopt (curl, CURLOPT_ERRORBUFFER, cerr);
    sym_curl_easy_setopt (curl, CURLOPT_POST, 1L);
    sym_curl_easy_setopt (curl, CURLOPT_POSTFIELDS, (const char *) body);
    sym_curl_easy_setopt (curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) blen);
    sym_curl_easy_setopt (curl, CURLOPT_WRITEFUNCTION, s_write);
    sym_curl_easy_setopt (curl, CURLOPT_WRITEDATA, &out);
    s_stop_t box = { .stop = stop };
    if (stop) {
        sym_curl_easy_setopt (curl, CURLOPT_XFERINFOFUNCTION, s_progress);
        sym_curl_easy_setopt (curl, CURLOPT_XFERINFODATA, &box);
        sym_curl_easy_setopt (curl, CURLOPT_NOPROGRESS, 0L);
    }
    CURLcode cc = sym_curl_easy_perform (curl);
    long status = 0, sent = 0;
    sym_curl_easy_getinfo (curl, CURLINFO_RESPONSE_CODE, &status);
    sym_curl_easy_getinfo (curl, CURLINFO_REQUEST_SIZE, &sent);
    char *ctype = NULL;
    sym_curl_easy_getinfo (curl, CURLINFO_CONTENT_TYPE, &ctype);
    bool msgpack = ctype && strncmp (ctype, HTTP_MSGPACK_TYPE, strlen (HTTP_MSGPACK_TYPE)) == 0;
    sym_curl_easy_cleanup (curl);
    sym_curl_slist_free_all (headers);
    free (body);
    rc = -1;
    if (cc == CURLE_OPERATION_TIMEDOUT && sent > 0) {
        snprintf (err, errlen, "no reply from shed-node at %s within %d ms", endpoint, timeout_ms);
        rc = SHED_API_NO_REPLY;
    }
    else if (cc == CURLE_ABORTED_BY_CALLBACK) {
        snprintf (err, errlen, "stopped waiting for %s", endpoint);
        rc = SHED_API_NO_REPLY;
    }
    else if (cc != CURLE_OK)
        s_curl_error (cc, cerr, endpoint, err, errlen);
    else if (status == 504) {
        s_http_error (status, &out, endpoint, err, errlen);
        rc = SHED_API_NO_REPLY;
    }
    else if (status != 200 || !msgpack)
        s_http_error (status, &out, endpoint, err, errlen);
    else {
        const char *field = "";
        int wrc = wire_decode (&api_proto, (const uint8_t *) out.data, out.len, rep, &field);
        if (wrc != WIRE_OK)
            snprintf (err, errlen, "bad reply from %s: %s%s%s", endpoint, wire_strerror (wrc),
                      *field ? " in field " : "", field);
        else
            rc = 0;
    }
    free (out.data);
    return rc;
}

/* ---- server-sent events ------------------------------------------------------- */

typedef struct {
    shed_api_event_fn *fn;
    void *arg;
    s_buf_t line;  /* the line being read */
    s_buf_t data;  /* the event's data lines */
    bool stopped;  /* fn asked to stop */
    bool too_long; /* an event over S_EVENT_MAX */
    long status;
    CURL *curl;
    s_buf_t error_body; /* a non-200 answer */
} s_sse_t;

static int
s_sse_line (s_sse_t *s)
{
    char *l = s->line.data ? s->line.data : "";
    size_t n = s->line.len;
    if (n && l[n - 1] == '\r')
        l[--n] = '\0';
    if (n == 0) { /* end of an event */
        int stop = 0;
        if (s->data.len)
            stop = s->fn (s->data.data, s->data.len, s->arg);
        s->data.len = 0;
        return stop;
    }
    if (strcmp (l, ": subscribed") == 0)
        return s->fn (NULL, 0, s->arg);
    if (l[0] == ':' || strncmp (l, "data:", 5) != 0)
        return 0; /* a heartbeat comment, or event:/id: we do not use */
    const char *v = l + 5 + (l[5] == ' ');
    if (s->data.len && !s_append (&s->data, "\n", 1))
        return -1;
    return s_append (&s->data, v, strlen (v)) ? 0 : -1;
}

static size_t
s_sse_write (char *data, size_t size, size_t nmemb, void *arg)
{
    s_sse_t *s = arg;
    size_t n = size * nmemb;
    if (!s->status)
        sym_curl_easy_getinfo (s->curl, CURLINFO_RESPONSE_CODE, &s->status);
    if (s->status != 200)
        return s_write (data, size, nmemb, &s->error_body);
    for (size_t i = 0; i < n; i++) {
        if (data[i] != '\n') {
            if (!s_append (&s->line, &data[i], 1)) {
                s->too_long = true;
                return 0;
            }
            continue;
        }
        int r = s_sse_line (s);
        s->line.len = 0;
        if (r > 0) {
            s->stopped = true;
            return 0;
        }
        if (r < 0) {
            s->too_long = true;
            return 0;
        }
    }
    return n;
}

/* One stream. The node frees a stream's slot as soon as its connection is
 * gone, so a command run right after another is not refused for the one
 * before it: a 429 too_many_streams is the answer, not a moment to wait. */
int
shed_api_http_events (const char *endpoint, const char *const *prefixes, size_t n,
                      const shed_api_events_opt_t *opt, shed_api_event_fn *fn, void *arg, char *err,
                      size_t errlen)
{
    int timeout_ms = opt->timeout_ms;
    if (!curl_dl_open (err, errlen))
        return -1;
    CURL *curl = sym_curl_easy_init ();
    if (!curl) {
        snprintf (err, errlen, "cannot start libcurl");
        return -1;
    }
    char url[4096];
    if (s_url (endpoint, "/v1/events", url, sizeof url, err, errlen) != 0) {
        sym_curl_easy_cleanup (curl);
        return -1;
    }
    size_t used = strlen (url);
    char sep = '?';
    for (size_t i = 0; i < n; i++) {
        char *esc = sym_curl_easy_escape (curl, prefixes[i], 0);
        used +=
            (size_t) snprintf (url + used, sizeof url - used, "%cprefix=%s", sep, esc ? esc : "");
        sym_curl_free (esc);
        sep = '&';
    }
    if (opt->snapshot) {
        used += (size_t) snprintf (url + used, sizeof url - used, "%csnapshot=true", sep);
        sep = '&';
    }
    if (opt->raw)
        used += (size_t) snprintf (url + used, sizeof url - used, "%craw=true", sep);
    if (used >= sizeof url) {
        sym_curl_easy_cleanup (curl);
        snprintf (err, errlen, "too many prefixes for one URL");
        return -1;
    }
    struct curl_slist *headers = sym_curl_slist_append (NULL, "Accept: text/event-stream");
    headers = s_setup (curl, url, timeout_ms, headers);
    char cerr[CURL_ERROR_SIZE] = "";
    s_sse_t s = { .fn = fn,
                  .arg = arg,
                  .line = { .cap_max = S_EVENT_MAX },
                  .data = { .cap_max = S_EVENT_MAX },
                  .error_body = { .cap_max = 1u << 16 },
                  .curl = curl };
    sym_curl_easy_setopt (curl, CURLOPT_ERRORBUFFER, cerr);
    sym_curl_easy_setopt (curl, CURLOPT_WRITEFUNCTION, s_sse_write);
    sym_curl_easy_setopt (curl, CURLOPT_WRITEDATA, &s);
    /* The multi interface, polled in short slices, so a stop is seen at
     * once: the node then frees the stream's slot (a token holds few). */
    CURLcode cc = CURLE_OK;
    CURLM *multi = sym_curl_multi_init ();
    if (!multi || sym_curl_multi_add_handle (multi, curl) != CURLM_OK)
        cc = sym_curl_easy_perform (curl);
    else {
        int running = 1;
        while (running && !(opt->stop && *opt->stop)) {
            if (sym_curl_multi_perform (multi, &running) != CURLM_OK)
                break;
            if (running)
                sym_curl_multi_poll (multi, NULL, 0, S_STOP_POLL_MS, NULL);
        }
        CURLMsg *msg;
        int left;
        while ((msg = sym_curl_multi_info_read (multi, &left)))
            if (msg->msg == CURLMSG_DONE)
                cc = msg->data.result;
        if (running) /* stopped */
            cc = CURLE_ABORTED_BY_CALLBACK;
        sym_curl_multi_remove_handle (multi, curl);
    }
    sym_curl_multi_cleanup (multi);
    if (!s.status)
        sym_curl_easy_getinfo (curl, CURLINFO_RESPONSE_CODE, &s.status);
    sym_curl_easy_cleanup (curl);
    sym_curl_slist_free_all (headers);
    int rc = 0;
    if (s.stopped || cc == CURLE_ABORTED_BY_CALLBACK)
        rc = 0;
    else if (s.status && s.status != 200) {
        s_http_error (s.status, &s.error_body, endpoint, err, errlen);
        rc = -1;
    }
    else if (s.too_long) {
        snprintf (err, errlen, "an event from %s over %u bytes", endpoint, S_EVENT_MAX);
        rc = -1;
    }
    else if (cc == CURLE_OPERATION_TIMEDOUT && s.status == 200)
        rc = 0; /* the time given ran out */
    else if (cc != CURLE_OK) {
        s_curl_error (cc, cerr, endpoint, err, errlen);
        rc = -1;
    }
    else {
        snprintf (err, errlen, "%s closed the event stream", endpoint);
        rc = -1;
    }
    free (s.line.data);
    free (s.data.data);
    free (s.error_body.data);
    return rc;
}
