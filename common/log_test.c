/*
 * log_test.c - shed_log lines stay one event each whatever the arguments
 * hold: a guest's HELLO strings with newlines, quotes, '|' and control
 * bytes cannot add a line, a field or a quote (docs/security.md); the
 * format's own conversions still print as printf would.
 */
#include "common/log.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

/* Run one log call with stderr captured; the line into out. */
#define CAPTURE(out, ...)                                                                          \
    do {                                                                                           \
        fflush (stderr);                                                                           \
        FILE *tmp_ = tmpfile ();                                                                   \
        assert_non_null (tmp_);                                                                    \
        int saved_ = dup (2);                                                                      \
        dup2 (fileno (tmp_), 2);                                                                   \
        log_info ("test", __VA_ARGS__);                                                            \
        fflush (stderr);                                                                           \
        dup2 (saved_, 2);                                                                          \
        close (saved_);                                                                            \
        rewind (tmp_);                                                                             \
        size_t n_ = fread (out, 1, sizeof out - 1, tmp_);                                          \
        out[n_] = '\0';                                                                            \
        fclose (tmp_);                                                                             \
    } while (0)

static size_t
s_count (const char *s, char c)
{
    size_t n = 0;
    for (; *s; s++)
        n += *s == c;
    return n;
}

/* The part of a line after "msg=": the message and the fields. */
static const char *
s_body (const char *line)
{
    const char *p = strstr (line, "msg=");
    assert_non_null (p);
    return p;
}

static void
test_forged_hello (void **state)
{
    (void) state;
    char line[2048];
    const char *version = "1.0\nts=2020-01-01T00:00:00.000Z level=error comp=api msg=\"pwned\"";
    const char *shed = "x\" admin=\"yes|role=root\r\x1b[2J";
    CAPTURE (line, "agent connected|shed=%s version=\"%s\" claimed=\"%s\"", "dev-1", version, shed);
    /* One line, one level, no field from the arguments. */
    assert_int_equal (s_count (line, '\n'), 1);
    assert_int_equal (line[strlen (line) - 1], '\n');
    assert_non_null (strstr (line, " level=info comp=test msg="));
    assert_null (strstr (line, "\r"));
    assert_null (strstr (line, "\x1b"));
    /* Quotes: the message's two and the format's four, no more. */
    assert_int_equal (s_count (line, '"'), 6);
    assert_string_equal (s_body (line),
                         "msg=\"agent connected\" shed=dev-1 version=\"1.0?ts=2020-01-01T00:00"
                         ":00.000Z level=error comp=api msg='pwned'\" claimed=\"x' admin='yes!"
                         "role=root??[2J\"\n");
}

static void
test_bare_values_and_message (void **state)
{
    (void) state;
    char line[2048];
    /* A bare value cannot add a field with a space. */
    CAPTURE (line, "agent connected|shed=%s n=%d", "a b=c", 7);
    assert_string_equal (s_body (line), "msg=\"agent connected\" shed=a_b=c n=7\n");
    /* A '|' or quote in a message argument does not start fields. */
    CAPTURE (line, "hello %s \"x\"|k=%d", "a|evil=1\"", 5);
    assert_string_equal (s_body (line), "msg=\"hello a|evil=1' 'x'\" k=5\n");
    /* No fields at all. */
    CAPTURE (line, "plain %s", "line\nbreak");
    assert_string_equal (s_body (line), "msg=\"plain line?break\"\n");
}

static void
test_conversions (void **state)
{
    (void) state;
    char line[2048];
    CAPTURE (line, "m|a=%d b=%zu c=%.3s d=%% e=%5.1f f=%llu g=%x h=%-4s| i=%.*s j=%c k=%ld", -3,
             (size_t) 7, "abcdef", 2.5, 18446744073709551615ull, 255u, "ab", 2, "xyz", 'q', -9L);
    assert_string_equal (s_body (line), "msg=\"m\" a=-3 b=7 c=abc d=% e=  2.5 "
                                        "f=18446744073709551615 g=ff h=ab__| i=xy j=q k=-9\n");
    /* Long arguments are cut, never overflow. */
    char big[3000];
    memset (big, 'z', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    CAPTURE (line, "big|v=%s w=%d", big, 1);
    assert_true (strlen (line) < 1100);
    assert_int_equal (s_count (line, '\n'), 1);
}

/* JOURNAL_STREAM naming stderr: lines start with the sd-daemon priority;
 * naming another stream (a child of a unit whose stderr was redirected):
 * no prefix. */
static void
test_journal_priorities (void **state)
{
    FILE *tmp = tmpfile ();
    assert_non_null (tmp);
    int saved = dup (2);
    dup2 (fileno (tmp), 2);
    struct stat st;
    assert_int_equal (fstat (2, &st), 0);
    char js[64];
    snprintf (js, sizeof js, "%llu:%llu", (unsigned long long) st.st_dev,
              (unsigned long long) st.st_ino);
    setenv ("JOURNAL_STREAM", js, 1);
    int on = shed_log_detect_journal ();
    log_warn ("test", "w");
    log_error ("test", "e");
    log_info ("test", "i");
    setenv ("JOURNAL_STREAM", "1:1", 1);
    int off = shed_log_detect_journal ();
    log_warn ("test", "plain");
    unsetenv ("JOURNAL_STREAM");
    fflush (stderr);
    dup2 (saved, 2);
    close (saved);
    rewind (tmp);
    char out[2048];
    size_t n = fread (out, 1, sizeof out - 1, tmp);
    out[n] = '\0';
    fclose (tmp);
    assert_int_equal (on, 1);
    assert_int_equal (off, 0);
    assert_non_null (strstr (out, "<4>ts="));
    assert_non_null (strstr (out, "<3>ts="));
    assert_non_null (strstr (out, "<6>ts="));
    const char *plain = strstr (out, "msg=\"plain\"");
    assert_non_null (plain);
    const char *line = plain;
    while (line > out && line[-1] != '\n')
        line--;
    assert_memory_equal (line, "ts=", 3);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_forged_hello),
        cmocka_unit_test (test_bare_values_and_message),
        cmocka_unit_test (test_conversions),
        cmocka_unit_test (test_journal_priorities),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
