/* fileutil_test.c - atomic write, bounded read, mkdir -p. */
#include "common/fileutil.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

/* Each test gets a fresh temp directory as its state. */
static int
s_setup (void **state)
{
    char *dir = strdup ("/tmp/shed-fileutil-XXXXXX");
    assert_non_null (dir);
    assert_non_null (mkdtemp (dir));
    *state = dir;
    return 0;
}

static int
s_teardown (void **state)
{
    char cmd[PATH_MAX + 16];
    snprintf (cmd, sizeof cmd, "rm -rf '%s'", (char *) *state);
    assert_int_equal (system (cmd), 0);
    free (*state);
    return 0;
}

static void
s_path (char *out, size_t cap, void **state, const char *name)
{
    snprintf (out, cap, "%s/%s", (char *) *state, name);
}

/* Count directory entries other than . and .. (to catch leftover temps). */
static int
s_entries (const char *dir)
{
    DIR *d = opendir (dir);
    assert_non_null (d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir (d)))
        if (strcmp (e->d_name, ".") && strcmp (e->d_name, ".."))
            n++;
    closedir (d);
    return n;
}

/* Without the directory fsync the file is complete and in place (only the
 * rename's durability is left to shed_fsync_dir), and that call works on a
 * directory and fails on anything else. */
static void
test_no_dir_sync_and_fsync_dir (void **state)
{
    char a[PATH_MAX], b[PATH_MAX];
    s_path (a, sizeof a, state, "identity");
    s_path (b, sizeof b, state, "keyring");
    assert_int_equal (shed_write_file_atomic_flags (a, "one\n", 4, 0600, SHED_WRITE_NO_DIR_SYNC),
                      0);
    assert_int_equal (shed_write_file_atomic_flags (b, "two\n", 4, 0640, SHED_WRITE_NO_DIR_SYNC),
                      0);
    assert_int_equal (shed_fsync_dir ((const char *) *state), 0);
    size_t len = 0;
    char *text = shed_read_file (a, 64, &len);
    assert_non_null (text);
    assert_int_equal (len, 4);
    assert_string_equal (text, "one\n");
    free (text);
    struct stat st;
    assert_int_equal (stat (b, &st), 0);
    assert_int_equal (st.st_mode & 07777, 0640);
    assert_int_equal (s_entries ((const char *) *state), 2); /* no temp left */

    errno = 0;
    assert_int_equal (shed_fsync_dir (a), -1); /* a file, not a directory */
    assert_int_equal (errno, ENOTDIR);
    char missing[PATH_MAX];
    s_path (missing, sizeof missing, state, "missing");
    errno = 0;
    assert_int_equal (shed_fsync_dir (missing), -1);
    assert_int_equal (errno, ENOENT);
}

static void
test_write_read_content (void **state)
{
    char path[PATH_MAX];
    s_path (path, sizeof path, state, "a.txt");
    const char *text = "hello\nworld\n";
    assert_int_equal (shed_write_file_atomic (path, text, strlen (text), 0644), 0);
    size_t len = 0;
    char *got = shed_read_file (path, 1024, &len);
    assert_non_null (got);
    assert_int_equal (len, strlen (text));
    assert_string_equal (got, text);
    free (got);
    //  No temp file left behind.
    assert_int_equal (s_entries (*state), 1);
}

static void
test_binary_and_empty (void **state)
{
    char path[PATH_MAX];
    s_path (path, sizeof path, state, "bin");
    const unsigned char data[] = { 0, 1, 2, 0, 255 };
    assert_int_equal (shed_write_file_atomic (path, data, sizeof data, 0600), 0);
    size_t len = 0;
    char *got = shed_read_file (path, 5, &len);
    assert_non_null (got);
    assert_int_equal (len, sizeof data);
    assert_memory_equal (got, data, sizeof data);
    assert_int_equal (got[len], '\0');
    free (got);

    assert_int_equal (shed_write_file_atomic (path, NULL, 0, 0600), 0);
    got = shed_read_file (path, 0, &len);
    assert_non_null (got);
    assert_int_equal (len, 0);
    free (got);
}

static void
test_mode (void **state)
{
    char path[PATH_MAX];
    s_path (path, sizeof path, state, "secret");
    //  The mode must be exact regardless of umask.
    mode_t old = umask (0);
    assert_int_equal (shed_write_file_atomic (path, "x", 1, 0600), 0);
    struct stat st;
    assert_int_equal (stat (path, &st), 0);
    assert_int_equal (st.st_mode & 07777, 0600);
    assert_int_equal (shed_write_file_atomic (path, "x", 1, 0640), 0);
    assert_int_equal (stat (path, &st), 0);
    assert_int_equal (st.st_mode & 07777, 0640);
    umask (old);
}

static void
test_overwrite (void **state)
{
    char path[PATH_MAX];
    s_path (path, sizeof path, state, "over");
    assert_int_equal (shed_write_file_atomic (path, "first version", 13, 0600), 0);
    assert_int_equal (shed_write_file_atomic (path, "v2", 2, 0600), 0);
    size_t len;
    char *got = shed_read_file (path, 100, &len);
    assert_non_null (got);
    assert_int_equal (len, 2);
    assert_string_equal (got, "v2");
    free (got);
    assert_int_equal (s_entries (*state), 1);
}

static void
test_write_error_cleans_up (void **state)
{
    //  Target path is an existing directory: rename fails, the temp file
    //  must be removed and the directory untouched.
    char path[PATH_MAX];
    s_path (path, sizeof path, state, "isdir");
    assert_int_equal (mkdir (path, 0700), 0);
    assert_int_equal (shed_write_file_atomic (path, "x", 1, 0600), -1);
    assert_int_equal (s_entries (*state), 1);

    //  Missing parent directory.
    s_path (path, sizeof path, state, "nope/file");
    assert_int_equal (shed_write_file_atomic (path, "x", 1, 0600), -1);
    assert_int_equal (errno, ENOENT);
}

static void
test_max_size (void **state)
{
    char path[PATH_MAX];
    s_path (path, sizeof path, state, "big");
    //  Larger than the initial read buffer, to exercise growth.
    size_t size = 10000;
    char *data = malloc (size);
    assert_non_null (data);
    for (size_t i = 0; i < size; i++)
        data[i] = (char) ('a' + i % 26);
    assert_int_equal (shed_write_file_atomic (path, data, size, 0600), 0);

    size_t len = 0;
    char *got = shed_read_file (path, size, &len);
    assert_non_null (got);
    assert_int_equal (len, size);
    assert_memory_equal (got, data, size);
    free (got);

    errno = 0;
    assert_null (shed_read_file (path, size - 1, &len));
    assert_int_equal (errno, EFBIG);
    errno = 0;
    assert_null (shed_read_file (path, 10, NULL));
    assert_int_equal (errno, EFBIG);
    errno = 0;
    assert_null (shed_read_file (path, 0, NULL));
    assert_int_equal (errno, EFBIG);
    free (data);
}

static void
test_missing_file (void **state)
{
    char path[PATH_MAX];
    s_path (path, sizeof path, state, "absent");
    errno = 0;
    assert_null (shed_read_file (path, 100, NULL));
    assert_int_equal (errno, ENOENT);
}

static void
test_mkdir_p (void **state)
{
    char path[PATH_MAX];
    s_path (path, sizeof path, state, "a/b//c/d/");
    assert_int_equal (shed_mkdir_p (path, 0700), 0);
    struct stat st;
    s_path (path, sizeof path, state, "a/b/c/d");
    assert_int_equal (stat (path, &st), 0);
    assert_true (S_ISDIR (st.st_mode));
    //  Existing path is fine.
    assert_int_equal (shed_mkdir_p (path, 0700), 0);

    //  A file in the way is ENOTDIR.
    s_path (path, sizeof path, state, "file");
    assert_int_equal (shed_write_file_atomic (path, "x", 1, 0600), 0);
    s_path (path, sizeof path, state, "file/sub");
    assert_int_equal (shed_mkdir_p (path, 0700), -1);
    assert_int_equal (errno, ENOTDIR);
    s_path (path, sizeof path, state, "file");
    assert_int_equal (shed_mkdir_p (path, 0700), -1);
    assert_int_equal (errno, ENOTDIR);

    assert_int_equal (shed_mkdir_p ("", 0700), -1);
    assert_int_equal (errno, EINVAL);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown (test_write_read_content, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_binary_and_empty, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_mode, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_overwrite, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_write_error_cleans_up, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_max_size, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_missing_file, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_mkdir_p, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_no_dir_sync_and_fsync_dir, s_setup, s_teardown),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
