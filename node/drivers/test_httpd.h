/*
 * test_httpd.h - a libmicrohttpd server for the HTTP drivers' tests, on
 * 127.0.0.1 (ephemeral port) or a Unix socket. Each complete request
 * (method, url, body) goes to the test's handler, which returns a status
 * and a JSON body; requests are also recorded for later checks (with the
 * Authorization header, so a test can check what credentials were sent).
 */
#ifndef SHED_TEST_HTTPD_H
#define SHED_TEST_HTTPD_H

#include <stddef.h>

#define TEST_HTTPD_LOG 128

typedef struct {
    char method[8];
    char url[256];
    char body[2048];
    char auth[256]; /* the Authorization header, "" when none */
} test_httpd_req_t;

/* Return the status; write the response body into `out` (cap `size`). */
typedef int (test_httpd_fn) (void *arg, const test_httpd_req_t *req, char *out, size_t size);

typedef struct _test_httpd_t test_httpd_t;

/* unix_path NULL: TCP on 127.0.0.1, port chosen by the kernel. */
test_httpd_t *test_httpd_new (const char *unix_path, test_httpd_fn *fn, void *arg);
void test_httpd_destroy (test_httpd_t **self_p);
int test_httpd_port (test_httpd_t *self);
/* Requests seen so far (thread-safe copy of the i-th). */
size_t test_httpd_count (test_httpd_t *self);
void test_httpd_get (test_httpd_t *self, size_t i, test_httpd_req_t *out);

#endif
