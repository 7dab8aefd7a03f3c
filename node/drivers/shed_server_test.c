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
        json_t *body = json_read (req->body, strlen (req->body), NULL, 0);
        int bad = json_read_str (body, "name", name, sizeof name);
        json_decref (body);
        if (bad) {
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
    double num;
    char text[128], why[128];
    json_t *body = json_read (req.body, strlen (req.body), why, sizeof why);
    if (!body)
        fail_msg ("create body: %s: %s", why, req.body);
    assert_int_equal (json_read_num (body, "cpus", &num), 0);
    assert_float_equal (num, 2, 0); /* whole cpus, rounded up */
    assert_int_equal (json_read_num (body, "memory_mb", &num), 0);
    assert_float_equal (num, 2048, 0);
    assert_int_equal (json_read_str (body, "image", text, sizeof text), 0);
    assert_string_equal (text, "ubuntu-24.04");
    assert_int_equal (json_read_str (body, "repo", text, sizeof text), 0);
    assert_string_equal (text, spec.repo); /* escaped and back */
    json_decref (body);

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
    (void) state;
    const char *text = " {\"a\":{\"b\":[1,2,{\"c\":\"x\\u00e9\\ud83d\\ude00\"}],\"n\":-1.5e2},"
                       "\"t\":true,\"s\":\"q\\\"\\n\",\"i\":42} ";
    char why[128];
    json_t *doc = json_read (text, strlen (text), why, sizeof why);
    assert_non_null (doc);
    double n;
    assert_int_equal (json_read_num (doc, "a.n", &n), 0);
    assert_float_equal (n, -150, 0);
    assert_int_equal (json_read_num (doc, "i", &n), 0);
    assert_float_equal (n, 42, 0);
    bool b;
    assert_int_equal (json_read_bool (doc, "t", &b), 0);
    assert_true (b);
    assert_int_equal (json_read_bool (doc, "i", &b), -1);
    char s[32];
    assert_int_equal (json_read_str (doc, "s", s, sizeof s), 0);
    assert_string_equal (s, "q\"\n");
    assert_int_equal (
        json_read_str (json_array_get (json_read_at (doc, "a.b"), 2), "c", s, sizeof s), 0);
    assert_string_equal (s, "x\xc3\xa9\xf0\x9f\x98\x80"); /* surrogate pair joined */
    assert_int_equal (json_read_str (doc, "a.n", s, sizeof s), -1);
    assert_int_equal (json_read_str (doc, "missing", s, sizeof s), -1);
    assert_int_equal (json_read_str (doc, "a.b.c", s, sizeof s), -1); /* through an array */
    assert_int_equal (json_read_str (doc, "s", s, 3), -1);            /* too long */
    assert_ptr_equal (json_read_at (doc, ""), doc);
    json_decref (doc);
    assert_int_equal (json_read_str (NULL, "s", s, sizeof s), -1);

    /* What is refused, each with its reason. */
    static const struct {
        const char *text;
        const char *why;
    } bad[] = {
        { "", "empty answer" },
        { "{", "line 1 column 1" },
        { "{\"a\":}", "invalid JSON" },
        { "[1,]", "invalid JSON" },
        { "\"\\x\"", "invalid JSON" },
        { "01", "invalid JSON" },
        { "{\"a\":1}x", "end of file expected" },
        { "\"\\ud800\"", "invalid JSON" },
        { "tru", "invalid JSON" },
        { "\"a\nb\"", "unexpected newline" },
        { "{\"a\":1,\"a\":2}", "duplicate object key" },
        { "\"\xff\"", "unable to decode byte" }, /* strict UTF-8 */
        { "\"a\\u0000b\"", "is not allowed" },   /* a NUL would cut a C string */
        { "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]",
          "nested deeper than 32 levels" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        why[0] = '\0';
        json_t *v = json_read (bad[i].text, strlen (bad[i].text), why, sizeof why);
        if (v)
            fail_msg ("'%s' should be invalid", bad[i].text);
        if (!strstr (why, bad[i].why))
            fail_msg ("'%s': reason '%s', expected '%s'", bad[i].text, why, bad[i].why);
    }
    /* 32 levels are fine. */
    const char *deep = "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]";
    doc = json_read (deep, strlen (deep), why, sizeof why);
    assert_non_null (doc);
    json_decref (doc);
    /* Over JSON_READ_MAX bytes: refused before parsing. */
    size_t big = JSON_READ_MAX + 1;
    char *huge = malloc (big);
    assert_non_null (huge);
    memset (huge, ' ', big);
    huge[0] = '1';
    assert_null (json_read (huge, big, why, sizeof why));
    assert_non_null (strstr (why, "is over"));
    free (huge);

    char q[64];
    assert_true (json_quote ("a\"b\\c\x01", q, sizeof q) > 0);
    assert_string_equal (q, "\"a\\\"b\\\\c\\u0001\"");
    assert_int_equal (json_quote ("long", q, 4), -1);
    assert_int_equal (json_quote ("long", q, 6), -1); /* no room for the NUL */
    assert_int_equal (json_quote ("long", q, 7), 6);
    /* Bytes that are not UTF-8 go out repaired, never as they are. */
    assert_true (json_quote ("x\xff", q, sizeof q) > 0);
    assert_string_equal (q, "\"x\xef\xbf\xbd\"");
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
