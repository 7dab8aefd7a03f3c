/*
 * api_probe.c - the timed calls of bench/api.sh: the same shed list and
 * shed creates over the local API (ipc, as shedctl) and over the remote
 * HTTP API, each from one process and one connection (a keep-alive HTTP
 * connection; the ipc client's socket per call, as shedctl), so neither a
 * process start per call nor a TCP/TLS handshake per call is measured.
 *
 *   api_probe ipc ENDPOINT list N
 *   api_probe ipc ENDPOINT create PREFIX N      sheds PREFIX-0 .. PREFIX-(N-1)
 *   api_probe http BASE_URL TOKEN list N        GET BASE_URL/v1/sheds
 *   api_probe http BASE_URL TOKEN create PREFIX N   POST BASE_URL/v1/sheds
 *   api_probe ipc ENDPOINT status N / api_probe http BASE_URL TOKEN status N
 *       the node's status (a small answer: the per-request cost)
 *
 * Creates ask for 10 millicpus and 16 MiB so 1,000 sheds fit a small node.
 * Prints one line per call, its time in microseconds, and on stderr the
 * last answer's size. Exits 1 if a call failed (the failure on stderr).
 */
#include "node/api/api_client.h"

#include <curl/curl.h>
#include <czmq.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int64_t
s_usec (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static bool s_status; /* the verb is status */

static int
s_ipc (const char *endpoint, const char *prefix, int i, size_t *items)
{
    api_msg_t req = { .hdr.type = prefix     ? API_SHED_CREATE_REQ
                                  : s_status ? API_STATUS_REQ
                                             : API_SHED_LIST_REQ };
    if (prefix) {
        api_shed_create_req_t *c = &req.u.api_shed_create_req;
        snprintf (c->name, sizeof c->name, "%s-%d", prefix, i);
        c->cpus_milli = 10;
        c->memory_mb = 16;
    }
    api_msg_t rep;
    char err[256];
    if (shed_api_call (endpoint, &req, &rep, 60000, err, sizeof err) != 0) {
        fprintf (stderr, "ipc: %s\n", err);
        return -1;
    }
    int rc = 0;
    if (rep.hdr.type == API_ERROR) {
        fprintf (stderr, "ipc: %s\n", rep.u.api_error.message);
        rc = -1;
    }
    else if (rep.hdr.type == API_SHED_LIST_REP)
        *items = rep.u.api_shed_list_rep.sheds.n;
    wire_msg_free (&api_proto, &rep);
    return rc;
}

static size_t
s_sink (char *data, size_t size, size_t n, void *arg)
{
    *(size_t *) arg += size * n;
    (void) data;
    return size * n;
}

static int
s_http (CURL *h, const char *base, const char *prefix, int i, size_t *bytes)
{
    char url[512], body[256];
    snprintf (url, sizeof url, "%s/v1/%s", base, s_status ? "status" : "sheds");
    curl_easy_setopt (h, CURLOPT_URL, url);
    if (prefix) {
        snprintf (body, sizeof body, "{\"name\": \"%s-%d\", \"cpus\": \"10m\", \"memory\": 16}",
                  prefix, i);
        curl_easy_setopt (h, CURLOPT_POSTFIELDS, body);
    }
    else
        curl_easy_setopt (h, CURLOPT_HTTPGET, 1L);
    *bytes = 0;
    CURLcode rc = curl_easy_perform (h);
    long status = 0;
    curl_easy_getinfo (h, CURLINFO_RESPONSE_CODE, &status);
    if (rc != CURLE_OK || status != (prefix ? 201 : 200)) {
        fprintf (stderr, "http: %s, status %ld\n", curl_easy_strerror (rc), status);
        return -1;
    }
    return 0;
}

int
main (int argc, char **argv)
{
    bool http = argc >= 5 && strcmp (argv[1], "http") == 0;
    int a = http ? 4 : 3; /* the verb */
    if (argc < a + 2 || (strcmp (argv[1], "ipc") != 0 && !http)
        || (strcmp (argv[a], "list") != 0 && strcmp (argv[a], "create") != 0
            && strcmp (argv[a], "status") != 0)) {
        fprintf (stderr, "usage: api_probe ipc ENDPOINT list|status|create [PREFIX] N\n"
                         "       api_probe http BASE_URL TOKEN list|status|create [PREFIX] N\n");
        return 2;
    }
    const char *prefix = strcmp (argv[a], "create") == 0 ? argv[a + 1] : NULL;
    s_status = strcmp (argv[a], "status") == 0;
    if (prefix && argc < a + 3) {
        fprintf (stderr, "api_probe: create needs PREFIX N\n");
        return 2;
    }
    int n = atoi (argv[prefix ? a + 2 : a + 1]);
    zsys_init ();
    CURL *h = NULL;
    struct curl_slist *hdrs = NULL;
    size_t bytes = 0, items = 0;
    if (http) {
        curl_global_init (CURL_GLOBAL_DEFAULT);
        h = curl_easy_init ();
        char auth[512];
        snprintf (auth, sizeof auth, "Authorization: Bearer %s", argv[3]);
        hdrs = curl_slist_append (hdrs, auth);
        hdrs = curl_slist_append (hdrs, "Content-Type: application/json");
        curl_easy_setopt (h, CURLOPT_HTTPHEADER, hdrs);
        curl_easy_setopt (h, CURLOPT_WRITEFUNCTION, s_sink);
        curl_easy_setopt (h, CURLOPT_WRITEDATA, &bytes);
        curl_easy_setopt (h, CURLOPT_TIMEOUT, 60L);
    }
    int failed = 0;
    for (int i = 0; i < n; i++) {
        int64_t t0 = s_usec ();
        int rc = http ? s_http (h, argv[2], prefix, i, &bytes) : s_ipc (argv[2], prefix, i, &items);
        printf ("%lld\n", (long long) (s_usec () - t0));
        failed |= rc != 0;
    }
    fflush (stdout);
    if (http)
        fprintf (stderr, "last answer: %zu bytes\n", bytes);
    else if (!prefix)
        fprintf (stderr, "last answer: %zu sheds\n", items);
    curl_slist_free_all (hdrs);
    if (h)
        curl_easy_cleanup (h);
    return failed ? 1 : 0;
}
