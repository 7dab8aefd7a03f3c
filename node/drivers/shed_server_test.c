/*
 * shed_server_test.c - the shed-server driver against an in-memory Shed
 * server that answers as Shed documents its API (shed_server_double.h):
 * the calls, their bodies, create-starts-the-shed, idempotent start/stop,
 * Shed's errors mapped, the bearer token, a long create; plus the JSON
 * reader.
 */
#include "node/drivers/driver_worker.h"
#include "node/drivers/json_read.h"
#include "node/drivers/shed_server.h"
#include "node/drivers/shed_server_double.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

/* ---- the driver against Shed's documented API (shed_server_double.h) ------ */

static driver_spec_t
s_spec (const char *name, const char *repo)
{
    driver_spec_t spec;
    memset (&spec, 0, sizeof spec);
    snprintf (spec.name, sizeof spec.name, "%s", name);
    spec.cpus_milli = 1500;
    spec.memory_mb = 2048;
    snprintf (spec.image, sizeof spec.image, "ubuntu-24.04");
    snprintf (spec.repo, sizeof spec.repo, "%s", repo);
    return spec;
}

static void
s_on_list (void *arg, const char *name)
{
    char *names = (char *) arg;
    strcat (names, name);
    strcat (names, " ");
}

/* Requests the double saw from index `from` on, as "METHOD url" lines. */
static void
s_requests (shed_double_t *dbl, size_t from, char *out, size_t size)
{
    out[0] = '\0';
    for (size_t i = from; i < shed_double_count (dbl); i++) {
        test_httpd_req_t req;
        shed_double_get (dbl, i, &req);
        size_t n = strlen (out);
        snprintf (out + n, size - n, "%s %s\n", req.method, req.url);
    }
}

static void
test_shed_server (void **state)
{
    (void) state;
    shed_double_t *dbl = shed_double_new (NULL);
    assert_non_null (dbl);
    /* A copy: the URL is asked for again after the double is gone. */
    char base[128];
    snprintf (base, sizeof base, "%s", shed_double_url (dbl));
    driver_shed_server_config_t cfg = { .base_url = base };
    driver_error_t err = { 0, "" };
    char version[32];
    assert_int_equal (driver_shed_server_info (&cfg, version, sizeof version, &err), 0);
    assert_string_equal (version, "0.9.1");

    driver_t *d = driver_shed_server_new (&cfg, &err);
    assert_non_null (d);
    /* Shed's CLI waits 10 minutes for a create: so does the node's worker. */
    assert_int_equal (driver_slow_timeout (d), SHED_SERVER_CREATE_TIMEOUT_MS);
    driver_spec_t spec = s_spec ("web", "https://example.invalid/a \"quoted\" repo");
    size_t first = shed_double_count (dbl);
    bool running = false;
    assert_int_equal (driver_create_running (d, &spec, &running, &err), 0);
    assert_true (running); /* Shed's create starts the shed */
    char seen[1024];
    s_requests (dbl, first, seen, sizeof seen);
    assert_string_equal (seen, "POST /api/sheds\n"); /* and nothing else */

    test_httpd_req_t req;
    shed_double_get (dbl, first, &req);
    assert_string_equal (req.auth, ""); /* no token configured: none sent */
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

    /* The node's start after a create: Shed answers 409
     * SHED_ALREADY_RUNNING, which is success (driver.h: start is
     * idempotent). The driver that took it for a failure made the node
     * delete the shed it had just created. */
    assert_int_equal (driver_start (d, "web", &err), 0);
    shed_double_get (dbl, shed_double_count (dbl) - 1, &req);
    assert_string_equal (req.url, "/api/sheds/web/start");
    assert_int_equal (shed_double_status (dbl, "web", text, sizeof text), 0);
    assert_string_equal (text, "running");

    driver_status_t st;
    memset (&st, 0, sizeof st);
    assert_int_equal (driver_status (d, "web", &st, &err), 0);
    assert_int_equal (st.state, DRIVER_ST_RUNNING);
    assert_string_equal (st.ip, "172.30.0.2"); /* Shed's "ip_address" */

    /* Stop twice: the second is Shed's 409 SHED_ALREADY_STOPPED, success. */
    assert_int_equal (driver_stop (d, "web", &err), 0);
    assert_int_equal (driver_stop (d, "web", &err), 0);
    shed_double_get (dbl, shed_double_count (dbl) - 1, &req);
    assert_string_equal (req.url, "/api/sheds/web/stop");
    memset (&st, 0, sizeof st);
    assert_int_equal (driver_status (d, "web", &st, &err), 0);
    assert_int_equal (st.state, DRIVER_ST_STOPPED);
    assert_string_equal (st.ip, ""); /* omitted by Shed when empty */
    assert_int_equal (driver_start (d, "web", &err), 0);
    assert_int_equal (shed_double_status (dbl, "web", text, sizeof text), 0);
    assert_string_equal (text, "running");

    /* Shed's errors, mapped, each one line. */
    assert_int_equal (driver_create (d, &spec, &err), DRIVER_ERR_EXISTS);
    assert_string_equal (err.message, "shed-server: create web: 409 SHED_ALREADY_EXISTS: "
                                      "shed web already exists");
    driver_spec_t bad = s_spec ("app", "https://example.invalid/fail-clone");
    assert_int_equal (driver_create (d, &bad, &err), DRIVER_ERR_BACKEND);
    assert_non_null (
        strstr (err.message, "500 CLONE_FAILED: git clone failed: repository not found"));
    assert_null (strchr (err.message, '\n'));
    assert_int_equal (driver_start (d, "ghost", &err), DRIVER_ERR_NOT_FOUND);
    assert_non_null (strstr (err.message, "404 SHED_NOT_FOUND: shed 'ghost' not found"));
    assert_int_equal (driver_stop (d, "ghost", &err), DRIVER_ERR_NOT_FOUND);

    char names[256] = "";
    assert_int_equal (driver_list (d, s_on_list, names, &err), 0);
    assert_string_equal (names, "web ");

    driver_usage_t u;
    assert_int_equal (driver_usage (d, "web", &u, &err), DRIVER_ERR_UNSUPPORTED);

    assert_int_equal (driver_remove (d, "web", &err), 0);
    shed_double_get (dbl, shed_double_count (dbl) - 1, &req);
    assert_string_equal (req.method, "DELETE");
    assert_int_equal (driver_status (d, "web", &st, &err), DRIVER_ERR_NOT_FOUND);
    assert_int_equal (st.state, DRIVER_ST_ABSENT);
    assert_int_equal (driver_remove (d, "web", &err), DRIVER_ERR_NOT_FOUND);
    driver_destroy (&d);
    shed_double_destroy (&dbl);

    /* Nobody listening: unavailable, with the URL in the message. */
    d = driver_shed_server_new (&cfg, &err);
    assert_int_equal (driver_start (d, "web", &err), DRIVER_ERR_UNAVAILABLE);
    assert_non_null (strstr (err.message, base));
    driver_destroy (&d);
}

/* The node's own sequence through its driver worker: a create job, then a
 * start job only if the create did not leave the shed running (as
 * sched_driver.c does). */
typedef struct {
    driver_job_t last;
    int finals;
} s_seen_t;

static void
s_on_job (driver_job_t *job, driver_job_event_t ev, void *arg)
{
    s_seen_t *seen = (s_seen_t *) arg;
    if (ev == DRIVER_JOB_TIMEOUT)
        return;
    seen->last = *job;
    seen->finals++;
}

/* Ends the loop once the job's final event came. */
static int
s_on_tick (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop;
    (void) timer_id;
    return ((s_seen_t *) arg)->finals > 0 ? -1 : 0;
}

static void
test_shed_server_worker (void **state)
{
    (void) state;
    shed_double_t *dbl = shed_double_new (NULL);
    assert_non_null (dbl);
    driver_shed_server_config_t cfg = { .base_url = shed_double_url (dbl) };
    driver_error_t err = { 0, "" };
    driver_t *d = driver_shed_server_new (&cfg, &err);
    assert_non_null (d);
    zloop_t *loop = zloop_new ();
    s_seen_t seen;
    memset (&seen, 0, sizeof seen);
    char why[128];
    driver_worker_t *w = driver_worker_new (d, loop, s_on_job, &seen, why, sizeof why);
    assert_non_null (w);
    zloop_timer (loop, 20, 0, s_on_tick, &seen);

    driver_job_t *job = driver_job_new (DRIVER_JOB_CREATE, "api");
    job->spec = s_spec ("api", "charliek/codelens");
    assert_int_equal (driver_worker_submit (w, &job, 5000), 0);
    zloop_start (loop);
    assert_int_equal (seen.finals, 1);
    assert_int_equal (seen.last.rc, 0);
    assert_true (seen.last.running); /* so the node sends no start */
    char text[32];
    assert_int_equal (shed_double_status (dbl, "api", text, sizeof text), 0);
    assert_string_equal (text, "running");

    driver_worker_destroy (&w);
    zloop_destroy (&loop);
    driver_destroy (&d);
    shed_double_destroy (&dbl);
}

/* Shed in auth.mode "secure": a bearer token on every call but /api/info,
 * read from the token file at each call; never in a message. */
static void
test_shed_server_token (void **state)
{
    (void) state;
    const char *secret = "shed_control_Zm9vYmFy";
    shed_double_t *dbl = shed_double_new (secret);
    assert_non_null (dbl);
    char dir[] = "/tmp/shed_server_test.XXXXXX";
    assert_non_null (mkdtemp (dir));
    char path[128];
    snprintf (path, sizeof path, "%s/token", dir);
    driver_error_t err = { 0, "" };

    /* No token: Shed answers 401, the driver says permission. */
    driver_shed_server_config_t cfg = { .base_url = shed_double_url (dbl) };
    driver_t *d = driver_shed_server_new (&cfg, &err);
    assert_non_null (d);
    driver_spec_t spec = s_spec ("web", "");
    assert_int_equal (driver_create (d, &spec, &err), DRIVER_ERR_PERMISSION);
    assert_non_null (strstr (err.message, "401"));
    assert_int_equal (shed_double_unauthorized (dbl), 1);
    driver_destroy (&d);

    /* A token file that is not there: said at once, by its path. */
    cfg.token_file = path;
    assert_null (driver_shed_server_new (&cfg, &err));
    assert_non_null (strstr (err.message, path));

    FILE *f = fopen (path, "w");
    fprintf (f, "%s\n", secret);
    fclose (f);
    d = driver_shed_server_new (&cfg, &err);
    assert_non_null (d);
    char version[32];
    assert_int_equal (driver_shed_server_info (&cfg, version, sizeof version, &err), 0);
    test_httpd_req_t req;
    shed_double_get (dbl, shed_double_count (dbl) - 1, &req);
    assert_string_equal (req.url, "/api/info");
    assert_string_equal (req.auth, ""); /* Shed's bootstrap call: no token sent */
    bool running = false;
    assert_int_equal (driver_create_running (d, &spec, &running, &err), 0);
    assert_true (running);
    shed_double_get (dbl, shed_double_count (dbl) - 1, &req);
    char want[128];
    snprintf (want, sizeof want, "Bearer %s", secret);
    assert_string_equal (req.auth, want);

    /* A rewritten (refreshed) file is used at the next call: a wrong one
     * is refused, and the token is in no message. */
    f = fopen (path, "w");
    fprintf (f, "shed_control_wrong\n");
    fclose (f);
    assert_int_equal (driver_stop (d, "web", &err), DRIVER_ERR_PERMISSION);
    assert_null (strstr (err.message, "shed_control"));
    assert_int_equal (shed_double_unauthorized (dbl), 2);
    /* Not one token: refused before anything is sent. */
    f = fopen (path, "w");
    fprintf (f, "%s\r\nX-Injected: 1\n", secret);
    fclose (f);
    size_t sent = shed_double_count (dbl);
    assert_int_equal (driver_stop (d, "web", &err), DRIVER_ERR_INVALID);
    assert_non_null (strstr (err.message, "not one token"));
    assert_null (strstr (err.message, secret));
    assert_int_equal (shed_double_count (dbl), sent);
    f = fopen (path, "w");
    fclose (f);
    assert_int_equal (driver_stop (d, "web", &err), DRIVER_ERR_INVALID);
    assert_non_null (strstr (err.message, "empty"));
    driver_destroy (&d);
    unlink (path);
    rmdir (dir);
    shed_double_destroy (&dbl);
}

/* A create as long as a clone: the driver waits its own (long) timeout,
 * not the short one of the other calls. */
static void
test_shed_server_slow_create (void **state)
{
    (void) state;
    shed_double_t *dbl = shed_double_new (NULL);
    assert_non_null (dbl);
    shed_double_set_create_delay (dbl, 600);
    driver_error_t err = { 0, "" };
    driver_shed_server_config_t cfg = { .base_url = shed_double_url (dbl), .timeout_ms = 3000 };
    driver_t *d = driver_shed_server_new (&cfg, &err);
    assert_int_equal (driver_slow_timeout (d), 3000);
    driver_spec_t spec = s_spec ("slow", "");
    assert_int_equal (driver_create (d, &spec, &err), 0);
    driver_destroy (&d);
    /* Shorter than the clone: unavailable (timed out), said as such. */
    cfg.timeout_ms = 200;
    d = driver_shed_server_new (&cfg, &err);
    spec = s_spec ("slower", "");
    assert_int_equal (driver_create (d, &spec, &err), DRIVER_ERR_UNAVAILABLE);
    assert_non_null (strstr (err.message, "create slower"));
    driver_destroy (&d);
    shed_double_destroy (&dbl);
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
        cmocka_unit_test (test_shed_server_worker),
        cmocka_unit_test (test_shed_server_token),
        cmocka_unit_test (test_shed_server_slow_create),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
