/*
 * shed_server_test.c - the shed-server driver against an in-memory Shed
 * API served by libmicrohttpd on 127.0.0.1 (ephemeral port): the calls,
 * their bodies, and the mapping of Shed's errors; plus the JSON reader.
 */
#include "node/drivers/json_read.h"
#include "node/drivers/shed_server.h"
#include "node/drivers/test_httpd.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

/* ---- the fake Shed server ---------------------------------------------- */

typedef struct {
    char name[64];
    char status[16];
} s_shed_t;

typedef struct {
    pthread_mutex_t lock;
    s_shed_t sheds[16];
    int n;
} s_fake_t;

static s_shed_t *
s_find (s_fake_t *f, const char *name)
{
    for (int i = 0; i < f->n; i++)
        if (strcmp (f->sheds[i].name, name) == 0)
            return &f->sheds[i];
    return NULL;
}

static int
s_fake (void *arg, const test_httpd_req_t *req, char *out, size_t size)
{
    s_fake_t *f = (s_fake_t *) arg;
    int status = 200;
    char name[64] = "", action[16] = "";
    pthread_mutex_lock (&f->lock);
    if (strcmp (req->url, "/api/info") == 0)
        snprintf (out, size, "{\"version\":\"0.9.1\",\"backend\":\"firecracker\"}");
    else if (strcmp (req->url, "/api/sheds") == 0 && strcmp (req->method, "POST") == 0) {
        size_t blen = strlen (req->body);
        if (json_get_str (req->body, blen, "name", name, sizeof name) != 0) {
            status = 400;
            snprintf (out, size,
                      "{\"error\":{\"code\":\"INVALID_REQUEST\",\"message\":\"name required\"}}");
        }
        else if (strcmp (name, "boom") == 0) {
            status = 500;
            /* The other error shape: flat code/message. */
            snprintf (out, size,
                      "{\"code\":\"BACKEND_ERROR\",\"message\":\"firecracker failed\\nto boot\"}");
        }
        else if (s_find (f, name)) {
            status = 409;
            snprintf (out, size,
                      "{\"error\":{\"code\":\"SHED_ALREADY_EXISTS\",\"message\":\"shed %s already "
                      "exists\"}}",
                      name);
        }
        else {
            s_shed_t *s = &f->sheds[f->n++];
            snprintf (s->name, sizeof s->name, "%s", name);
            snprintf (s->status, sizeof s->status, "stopped");
            status = 201;
            snprintf (out, size, "{\"name\":\"%s\",\"status\":\"stopped\"}", name);
        }
    }
    else if (strcmp (req->url, "/api/sheds") == 0) {
        size_t n = (size_t) snprintf (out, size, "{\"sheds\":[");
        for (int i = 0; i < f->n; i++)
            n += (size_t) snprintf (out + n, size - n, "%s{\"name\":\"%s\",\"status\":\"%s\"}",
                                    i ? "," : "", f->sheds[i].name, f->sheds[i].status);
        snprintf (out + n, size - n, "]}");
    }
    else if (sscanf (req->url, "/api/sheds/%63[^/]/%15s", name, action) >= 1) {
        s_shed_t *s = s_find (f, name);
        if (!s) {
            status = 404;
            snprintf (out, size,
                      "{\"error\":{\"code\":\"SHED_NOT_FOUND\",\"message\":\"no shed %s\"}}", name);
        }
        else if (strcmp (req->method, "DELETE") == 0) {
            *s = f->sheds[--f->n];
            status = 204;
        }
        else if (strcmp (req->method, "GET") == 0 && !action[0])
            snprintf (out, size, "{\"name\":\"%s\",\"status\":\"%s\",\"ip\":\"10.0.0.5\"}", s->name,
                      s->status);
        else if (strcmp (action, "start") == 0)
            snprintf (s->status, sizeof s->status, "running");
        else if (strcmp (action, "stop") == 0)
            snprintf (s->status, sizeof s->status, "stopped");
        else
            status = 405;
    }
    else
        status = 404;
    pthread_mutex_unlock (&f->lock);
    return status;
}

static void
s_on_list (void *arg, const char *name)
{
    char *names = (char *) arg;
    strcat (names, name);
    strcat (names, " ");
}

static void
test_shed_server (void **state)
{
    s_fake_t fake;
    memset (&fake, 0, sizeof fake);
    pthread_mutex_init (&fake.lock, NULL);
    test_httpd_t *srv = test_httpd_new (NULL, s_fake, &fake);
    assert_non_null (srv);
    char base[64];
    snprintf (base, sizeof base, "http://127.0.0.1:%d", test_httpd_port (srv));

    driver_shed_server_config_t cfg = { .base_url = base, .timeout_ms = 5000 };
    driver_error_t err = { 0, "" };
    char version[32];
    assert_int_equal (driver_shed_server_info (&cfg, version, sizeof version, &err), 0);
    assert_string_equal (version, "0.9.1");

    driver_t *d = driver_shed_server_new (&cfg, &err);
    assert_non_null (d);
    driver_spec_t spec;
    memset (&spec, 0, sizeof spec);
    snprintf (spec.name, sizeof spec.name, "web");
    spec.cpus_milli = 1500;
    spec.memory_mb = 2048;
    snprintf (spec.image, sizeof spec.image, "ubuntu-24.04");
    snprintf (spec.repo, sizeof spec.repo, "https://example.invalid/a \"quoted\" repo");
    assert_int_equal (driver_create (d, &spec, &err), 0);

    test_httpd_req_t req;
    test_httpd_get (srv, 1, &req);
    assert_string_equal (req.method, "POST");
    assert_string_equal (req.url, "/api/sheds");
    size_t blen = strlen (req.body);
    double num;
    char text[128];
    assert_true (json_valid (req.body, blen));
    assert_int_equal (json_get_num (req.body, blen, "cpus", &num), 0);
    assert_float_equal (num, 2, 0); /* whole cpus, rounded up */
    assert_int_equal (json_get_num (req.body, blen, "memory_mb", &num), 0);
    assert_float_equal (num, 2048, 0);
    assert_int_equal (json_get_str (req.body, blen, "image", text, sizeof text), 0);
    assert_string_equal (text, "ubuntu-24.04");
    assert_int_equal (json_get_str (req.body, blen, "repo", text, sizeof text), 0);
    assert_string_equal (text, spec.repo); /* escaped and back */

    /* Shed's errors, mapped. */
    assert_int_equal (driver_create (d, &spec, &err), DRIVER_ERR_EXISTS);
    assert_string_equal (err.message, "shed-server: create web: 409 SHED_ALREADY_EXISTS: "
                                      "shed web already exists");
    driver_spec_t boom = spec;
    snprintf (boom.name, sizeof boom.name, "boom");
    assert_int_equal (driver_create (d, &boom, &err), DRIVER_ERR_BACKEND);
    assert_non_null (strstr (err.message, "500 BACKEND_ERROR: firecracker failed to boot"));
    assert_null (strchr (err.message, '\n'));
    assert_int_equal (driver_start (d, "ghost", &err), DRIVER_ERR_NOT_FOUND);
    assert_non_null (strstr (err.message, "SHED_NOT_FOUND"));

    driver_status_t st;
    assert_int_equal (driver_status (d, "web", &st, &err), 0);
    assert_int_equal (st.state, DRIVER_ST_STOPPED);
    assert_int_equal (driver_start (d, "web", &err), 0);
    test_httpd_get (srv, test_httpd_count (srv) - 1, &req);
    assert_string_equal (req.method, "POST");
    assert_string_equal (req.url, "/api/sheds/web/start");
    assert_int_equal (driver_status (d, "web", &st, &err), 0);
    assert_int_equal (st.state, DRIVER_ST_RUNNING);
    assert_string_equal (st.ip, "10.0.0.5");

    char names[256] = "";
    assert_int_equal (driver_list (d, s_on_list, names, &err), 0);
    assert_string_equal (names, "web ");

    driver_usage_t u;
    assert_int_equal (driver_usage (d, "web", &u, &err), DRIVER_ERR_UNSUPPORTED);

    assert_int_equal (driver_stop (d, "web", &err), 0);
    test_httpd_get (srv, test_httpd_count (srv) - 1, &req);
    assert_string_equal (req.url, "/api/sheds/web/stop");
    assert_int_equal (driver_remove (d, "web", &err), 0);
    test_httpd_get (srv, test_httpd_count (srv) - 1, &req);
    assert_string_equal (req.method, "DELETE");
    assert_int_equal (driver_status (d, "web", &st, &err), DRIVER_ERR_NOT_FOUND);
    assert_int_equal (st.state, DRIVER_ST_ABSENT);
    driver_destroy (&d);
    test_httpd_destroy (&srv);

    /* Nobody listening: unavailable, with the URL in the message. */
    d = driver_shed_server_new (&cfg, &err);
    assert_int_equal (driver_start (d, "web", &err), DRIVER_ERR_UNAVAILABLE);
    assert_non_null (strstr (err.message, base));
    driver_destroy (&d);
    pthread_mutex_destroy (&fake.lock);
}

static void
test_json_read (void **state)
{
    const char *doc = " {\"a\":{\"b\":[1,2,{\"c\":\"x\\u00e9\\ud83d\\ude00\"}],\"n\":-1.5e2},"
                      "\"t\":true,\"s\":\"q\\\"\\n\"} ";
    size_t len = strlen (doc);
    assert_true (json_valid (doc, len));
    double n;
    assert_int_equal (json_get_num (doc, len, "a.n", &n), 0);
    assert_float_equal (n, -150, 0);
    bool b;
    assert_int_equal (json_get_bool (doc, len, "t", &b), 0);
    assert_true (b);
    char s[32];
    assert_int_equal (json_get_str (doc, len, "s", s, sizeof s), 0);
    assert_string_equal (s, "q\"\n");
    assert_int_equal (json_get_str (doc, len, "a.n", s, sizeof s), -1);
    assert_int_equal (json_get_str (doc, len, "missing", s, sizeof s), -1);
    assert_int_equal (json_get_str (doc, len, "s", s, 3), -1); /* too long */
    const char *bad[] = {
        "",
        "{",
        "{\"a\":}",
        "[1,]",
        "\"\\x\"",
        "01",
        "{\"a\":1}x",
        "\"\\ud800\"",
        "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]",
        "tru",
        "\"a\nb\""
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (json_valid (bad[i], strlen (bad[i])))
            fail_msg ("'%s' should be invalid", bad[i]);
    char q[64];
    assert_true (json_quote ("a\"b\\c\x01", q, sizeof q) > 0);
    assert_string_equal (q, "\"a\\\"b\\\\c\\u0001\"");
    assert_int_equal (json_quote ("long", q, 4), -1);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_json_read),
        cmocka_unit_test (test_shed_server),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
