/* node_tags_test.c - run-time tag changes over the config's tags, and the
 * DATA_DIR/tags file that keeps them across restarts. */
#include "node/members/node_tags.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

static const shed_config_tag_t s_base[] = { { "zone", "a" }, { "arch", "x86_64" } };
#define NBASE (sizeof s_base / sizeof s_base[0])

/* "k=v,k=v" of a merged set, for compact asserts. */
static const char *
s_merged (const shed_tag_changes_t *ch)
{
    static char text[4096];
    shed_config_tag_t out[SHED_CFG_TAGS_MAX];
    size_t n = 0;
    assert_int_equal (shed_tags_merge (s_base, NBASE, ch, out, &n, SHED_CFG_TAGS_MAX), 0);
    size_t len = 0;
    text[0] = '\0';
    for (size_t i = 0; i < n; i++)
        len += (size_t) snprintf (text + len, sizeof text - len, "%s%s=%s", i ? "," : "",
                                  out[i].key, out[i].value);
    return text;
}

static void
test_record_merge (void **state)
{
    shed_tag_changes_t ch = { .n = 0 };
    assert_string_equal (s_merged (&ch), "zone=a,arch=x86_64");
    /* A new value for a config tag wins over the config. */
    assert_int_equal (shed_tag_changes_record (&ch, s_base, NBASE, "zone", "b"), 0);
    assert_int_equal (ch.n, 1);
    assert_string_equal (s_merged (&ch), "zone=b,arch=x86_64");
    /* Back to the configured value: no difference kept. */
    assert_int_equal (shed_tag_changes_record (&ch, s_base, NBASE, "zone", "a"), 0);
    assert_int_equal (ch.n, 0);
    /* Unsetting a config tag is remembered (else a restart brings it back). */
    assert_int_equal (shed_tag_changes_record (&ch, s_base, NBASE, "arch", NULL), 0);
    assert_int_equal (ch.n, 1);
    assert_true (ch.items[0].unset);
    assert_string_equal (s_merged (&ch), "zone=a");
    /* New tags come after the config's, in the order they were set. */
    assert_int_equal (shed_tag_changes_record (&ch, s_base, NBASE, "rack", "r1"), 0);
    assert_int_equal (shed_tag_changes_record (&ch, s_base, NBASE, "gpu", ""), 0);
    assert_string_equal (s_merged (&ch), "zone=a,rack=r1,gpu=");
    /* Setting an unset config tag again (other value) replaces the unset. */
    assert_int_equal (shed_tag_changes_record (&ch, s_base, NBASE, "arch", "arm64"), 0);
    assert_string_equal (s_merged (&ch), "zone=a,arch=arm64,rack=r1,gpu=");
    assert_int_equal (ch.n, 3);
    /* Unsetting a tag the config does not have drops its change. */
    assert_int_equal (shed_tag_changes_record (&ch, s_base, NBASE, "rack", NULL), 0);
    assert_int_equal (shed_tag_changes_record (&ch, s_base, NBASE, "nosuch", NULL), 0);
    assert_int_equal (ch.n, 2);
    assert_string_equal (s_merged (&ch), "zone=a,arch=arm64,gpu=");
}

static void
test_limits (void **state)
{
    shed_tag_changes_t ch = { .n = 0 };
    char key[80], value[300];
    memset (key, 'k', sizeof key - 1);
    key[sizeof key - 1] = '\0';
    memset (value, 'v', sizeof value - 1);
    value[sizeof value - 1] = '\0';
    assert_int_equal (shed_tag_changes_record (&ch, s_base, NBASE, "", "x"), -1);
    assert_int_equal (shed_tag_changes_record (&ch, s_base, NBASE, key, "x"), -1);
    assert_int_equal (shed_tag_changes_record (&ch, s_base, NBASE, "k", value), -1);
    key[63] = '\0';
    value[255] = '\0';
    assert_int_equal (shed_tag_changes_record (&ch, s_base, NBASE, key, value), 0);
    /* The list is bounded; a full list refuses a new key but not a change
     * of a key it holds. */
    for (size_t i = 1; i < SHED_TAG_CHANGES_MAX; i++) {
        char k[16];
        snprintf (k, sizeof k, "t%zu", i);
        assert_int_equal (shed_tag_changes_record (&ch, s_base, NBASE, k, "1"), 0);
    }
    assert_int_equal (ch.n, SHED_TAG_CHANGES_MAX);
    assert_int_equal (shed_tag_changes_record (&ch, s_base, NBASE, "one-more", "1"), -1);
    assert_int_equal (shed_tag_changes_record (&ch, s_base, NBASE, "t1", "2"), 0);
    /* More tags than gossip carries cannot be merged. */
    shed_config_tag_t out[SHED_CFG_TAGS_MAX];
    size_t n;
    assert_int_equal (shed_tags_merge (s_base, NBASE, &ch, out, &n, SHED_CFG_TAGS_MAX), -1);
}

typedef struct {
    char dir[64];
    char path[96];
} fixture_t;

static int
setup (void **state)
{
    fixture_t *f = calloc (1, sizeof *f);
    snprintf (f->dir, sizeof f->dir, "/tmp/shed-tags-test-XXXXXX");
    assert_non_null (mkdtemp (f->dir));
    snprintf (f->path, sizeof f->path, "%s/%s", f->dir, SHED_TAGS_FILE);
    *state = f;
    return 0;
}

static int
teardown (void **state)
{
    fixture_t *f = *state;
    unlink (f->path);
    rmdir (f->dir);
    free (f);
    return 0;
}

static void
s_write (const char *path, const char *text)
{
    FILE *fp = fopen (path, "w");
    assert_non_null (fp);
    fputs (text, fp);
    fclose (fp);
}

static void
test_file_roundtrip (void **state)
{
    fixture_t *f = *state;
    char err[256] = "";
    shed_tag_changes_t ch = { .n = 0 }, back;
    /* No file yet: no changes. */
    assert_int_equal (shed_tag_changes_load (&back, f->path, err, sizeof err), 0);
    assert_int_equal (back.n, 0);
    /* Values with spaces, '%', newlines, UTF-8 and nothing at all. */
    assert_int_equal (shed_tag_changes_record (&ch, s_base, NBASE, "zone", "eu west 1"), 0);
    assert_int_equal (shed_tag_changes_record (&ch, s_base, NBASE, "arch", NULL), 0);
    assert_int_equal (shed_tag_changes_record (&ch, s_base, NBASE, "note", "50%\nof\tit"), 0);
    assert_int_equal (shed_tag_changes_record (&ch, s_base, NBASE, "k e y", "\xc3\xa9t\xc3\xa9"),
                      0);
    assert_int_equal (shed_tag_changes_record (&ch, s_base, NBASE, "empty", ""), 0);
    assert_int_equal (shed_tag_changes_save (&ch, f->path, err, sizeof err), 0);
    struct stat st;
    assert_int_equal (stat (f->path, &st), 0);
    assert_int_equal (st.st_mode & 0777, 0600);
    assert_int_equal (shed_tag_changes_load (&back, f->path, err, sizeof err), 0);
    assert_int_equal (back.n, ch.n);
    for (size_t i = 0; i < ch.n; i++) {
        assert_string_equal (back.items[i].key, ch.items[i].key);
        assert_string_equal (back.items[i].value, ch.items[i].value);
        assert_int_equal (back.items[i].unset, ch.items[i].unset);
    }
    assert_string_equal (s_merged (&back),
                         "zone=eu west 1,note=50%\nof\tit,k e y=\xc3\xa9t\xc3\xa9,empty=");
    /* Readable by a person: one change per line. */
    FILE *fp = fopen (f->path, "r");
    char text[1024] = "";
    size_t len = fread (text, 1, sizeof text - 1, fp);
    fclose (fp);
    text[len] = '\0';
    assert_non_null (strstr (text, "\nset zone eu%20west%201\n"));
    assert_non_null (strstr (text, "\nunset arch\n"));
    assert_non_null (strstr (text, "\nset note 50%25%0Aof%09it\n"));
    assert_non_null (strstr (text, "\nset empty\n"));
    /* Saving no changes leaves a file that loads as none. */
    ch.n = 0;
    assert_int_equal (shed_tag_changes_save (&ch, f->path, err, sizeof err), 0);
    assert_int_equal (shed_tag_changes_load (&back, f->path, err, sizeof err), 0);
    assert_int_equal (back.n, 0);
}

static void
test_file_errors (void **state)
{
    fixture_t *f = *state;
    static const struct {
        const char *text, *expect;
    } cases[] = {
        { "# c\nset zone a\nput x y\n", ":3: expected 'set KEY VALUE' or 'unset KEY'" },
        { "set\n", ":1: expected" },
        { "unset zone a\n", ":1: expected" },
        { "set a b c\n", ":1: expected" },
        { "\n\nset a %zz\n", ":3: bad tag key or value" },
        { "set a %00\n", ":1: bad tag key or value" },
        { "set a b\nunset a\n", ":2: tag listed twice" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        s_write (f->path, cases[i].text);
        shed_tag_changes_t ch;
        char err[256] = "";
        assert_int_equal (shed_tag_changes_load (&ch, f->path, err, sizeof err), -1);
        if (!strstr (err, f->path) || !strstr (err, cases[i].expect))
            fail_msg ("case %zu: err='%s' expected '%s'", i, err, cases[i].expect);
        assert_int_equal (ch.n, 0);
    }
    /* Keys are at most 63 bytes. */
    char text[512];
    char key[70];
    memset (key, 'k', 64);
    key[64] = '\0';
    snprintf (text, sizeof text, "set %s v\n", key);
    s_write (f->path, text);
    shed_tag_changes_t ch;
    char err[256] = "";
    assert_int_equal (shed_tag_changes_load (&ch, f->path, err, sizeof err), -1);
    key[63] = '\0';
    snprintf (text, sizeof text, "set %s v\n", key);
    s_write (f->path, text);
    assert_int_equal (shed_tag_changes_load (&ch, f->path, err, sizeof err), 0);
    assert_int_equal (ch.n, 1);
    assert_string_equal (ch.items[0].key, key);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_record_merge),
        cmocka_unit_test (test_limits),
        cmocka_unit_test_setup_teardown (test_file_roundtrip, setup, teardown),
        cmocka_unit_test_setup_teardown (test_file_errors, setup, teardown),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
