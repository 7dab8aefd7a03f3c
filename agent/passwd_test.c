/*
 * passwd_test.c - the shed's /etc/passwd and /etc/group parser (passwd.h):
 * well-formed entries, the first of duplicates, hostile lines (bad ids,
 * too many or too few fields, NIS lines, comments, CRLF, names that are
 * prefixes of others, long homes), supplementary groups (membership by
 * whole name, duplicates, the bound), and the file reader's refusals (a
 * FIFO, a directory, a file over the bound, a missing file; "root"
 * without an entry).
 */
#include "agent/passwd.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
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

static void
test_names (void **state)
{
    (void) state;
    assert_true (agent_user_name_ok ("shed"));
    assert_true (agent_user_name_ok ("dev-1_x.y$"));
    assert_false (agent_user_name_ok (NULL));
    assert_false (agent_user_name_ok (""));
    assert_false (agent_user_name_ok ("a:b"));
    assert_false (agent_user_name_ok ("a,b"));
    assert_false (agent_user_name_ok ("a b"));
    assert_false (agent_user_name_ok ("a\nb"));
    assert_false (agent_user_name_ok ("\x7f"));
    char longname[AGENT_USER_MAX + 2];
    memset (longname, 'u', sizeof longname);
    longname[AGENT_USER_MAX] = '\0';
    assert_true (agent_user_name_ok (longname));
    longname[AGENT_USER_MAX] = 'u';
    longname[AGENT_USER_MAX + 1] = '\0';
    assert_false (agent_user_name_ok (longname));
}

static void
test_passwd (void **state)
{
    (void) state;
    const char *text = "root:x:0:0:root:/root:/bin/bash\n"
                       "# a comment naming shed:x:1:1::/:/bin/sh\n"
                       "+shed::::::\n"
                       "-shed\n"
                       "\n"
                       "shedx:x:2000:2000::/home/shedx:/bin/sh\n"
                       "she:x:2001:2001::/home/she:/bin/sh\n"
                       "shed:x:1000:1001:Shed User,,,:/home/shed:/bin/bash\r\n"
                       "shed:x:1:1::/second:/bin/sh\n"
                       "noshell:x:5:6::/home/noshell\n"
                       "relhome:x:7:8::home/rel:/bin/sh\n"
                       "nohome:x:9:10:::/bin/sh\n"
                       "max:x:4294967294:4294967294::/:/bin/sh\n";
    agent_user_t u;
    assert_int_equal (agent_passwd_find (text, "shed", &u), 0);
    assert_string_equal (u.name, "shed");
    assert_int_equal (u.uid, 1000);
    assert_int_equal (u.gid, 1001);
    assert_string_equal (u.home, "/home/shed"); /* CR dropped; first entry wins */
    assert_int_equal (u.ngroups, 1);
    assert_int_equal (u.groups[0], 1001);

    assert_int_equal (agent_passwd_find (text, "root", &u), 0);
    assert_int_equal (u.uid, 0);
    assert_string_equal (u.home, "/root");
    assert_int_equal (agent_passwd_find (text, "she", &u), 0);
    assert_int_equal (u.uid, 2001);
    assert_int_equal (agent_passwd_find (text, "noshell", &u), 0);
    assert_int_equal (u.gid, 6);
    assert_string_equal (u.home, "/home/noshell");
    assert_int_equal (agent_passwd_find (text, "relhome", &u), 0);
    assert_string_equal (u.home, "/");
    assert_int_equal (agent_passwd_find (text, "nohome", &u), 0);
    assert_string_equal (u.home, "/");
    assert_int_equal (agent_passwd_find (text, "max", &u), 0);
    assert_int_equal (u.uid, 4294967294u);

    assert_int_equal (agent_passwd_find (text, "sh", &u), -1);
    assert_int_equal (agent_passwd_find (text, "nobody", &u), -1);
    assert_int_equal (agent_passwd_find (text, "# a comment naming shed", &u), -1);
    assert_int_equal (agent_passwd_find (text, "+shed", &u), -1);
    assert_int_equal (agent_passwd_find (NULL, "shed", &u), -1);
    assert_int_equal (agent_passwd_find ("", "shed", &u), -1);
}

static void
test_passwd_hostile (void **state)
{
    (void) state;
    agent_user_t u;
    /* Each bad line is skipped; a later good one is still found. */
    const char *bad[] = {
        "u:x:-1:0::/:/bin/sh\n",                /* sign */
        "u:x: 0:0::/:/bin/sh\n",                /* blank */
        "u:x:0x10:0::/:/bin/sh\n",              /* hex */
        "u:x:4294967295:0::/:/bin/sh\n",        /* (uid_t) -1 */
        "u:x:99999999999:0::/:/bin/sh\n",       /* overflow */
        "u:x::0::/:/bin/sh\n",                  /* empty */
        "u:x:0:abc::/:/bin/sh\n",               /* gid */
        "u:x:0:0\n",                            /* too few fields */
        "u:x:0:0::/:/bin/sh:extra\n",           /* too many */
        "u:x:0:0::/:/bin/sh:a:b:c:d:e:f:g:h\n", /* far too many */
        "u\n",
        ":::::::\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char text[256];
        snprintf (text, sizeof text, "%s", bad[i]);
        assert_int_equal (agent_passwd_find (text, "u", &u), -1);
        snprintf (text, sizeof text, "%su:x:77:78::/h:/bin/sh\n", bad[i]);
        assert_int_equal (agent_passwd_find (text, "u", &u), 0);
        assert_int_equal (u.uid, 77);
        assert_int_equal (u.gid, 78);
    }
    /* A home longer than a path we carry: "/" rather than a cut path. */
    size_t n = AGENT_PATH_MAX + 64;
    char *text = malloc (n + 64);
    assert_non_null (text);
    int k = snprintf (text, 64, "u:x:1:1::/");
    memset (text + k, 'h', n);
    snprintf (text + k + n, 64, ":/bin/sh\n");
    assert_int_equal (agent_passwd_find (text, "u", &u), 0);
    assert_string_equal (u.home, "/");
    /* A huge line without newline ends the text safely. */
    memset (text, ':', n + 63);
    text[n + 63] = '\0';
    assert_int_equal (agent_passwd_find (text, "u", &u), -1);
    free (text);
    /* Names we would never look up. */
    assert_int_equal (agent_passwd_find ("a:b:x:1:1::/:/bin/sh\n", "a:b", &u), -1);
    assert_int_equal (agent_passwd_find (":x:1:1::/:/bin/sh\n", "", &u), -1);
}

static void
test_groups (void **state)
{
    (void) state;
    const char *text = "root:x:0:\n"
                       "sudo:x:27:alice,shed\n"
                       "docker:x:999:shed\r\n"
                       "shedders:x:500:sheddy,xshed,she\n" /* prefixes and suffixes only */
                       "again:x:27:shed\n"                 /* gid 27 twice */
                       "primary:x:1001:shed\n"             /* the primary again */
                       "bad:x:-5:shed\n"
                       "short:x:44\n"
                       "# c:x:45:shed\n"
                       "+:::shed\n"
                       "last:x:46:bob,shed\n";
    agent_user_t u;
    memset (&u, 0, sizeof u);
    snprintf (u.name, sizeof u.name, "shed");
    u.gid = 1001;
    agent_group_members (text, &u);
    assert_int_equal (u.ngroups, 4);
    assert_int_equal (u.groups[0], 1001);
    assert_int_equal (u.groups[1], 27);
    assert_int_equal (u.groups[2], 999);
    assert_int_equal (u.groups[3], 46);

    /* Bounded: at most AGENT_GROUPS_MAX, the rest ignored. */
    size_t size = 100 * 40;
    char *many = malloc (size);
    assert_non_null (many);
    size_t off = 0;
    for (int i = 0; i < 100; i++)
        off += (size_t) snprintf (many + off, size - off, "g%d:x:%d:shed\n", i, 2000 + i);
    memset (&u, 0, sizeof u);
    snprintf (u.name, sizeof u.name, "shed");
    u.gid = 5;
    agent_group_members (many, &u);
    assert_int_equal (u.ngroups, AGENT_GROUPS_MAX);
    assert_int_equal (u.groups[0], 5);
    assert_int_equal (u.groups[1], 2000);
    assert_int_equal (u.groups[AGENT_GROUPS_MAX - 1], 2000 + AGENT_GROUPS_MAX - 2);
    free (many);

    /* NULL text: the primary only. */
    memset (&u, 0, sizeof u);
    snprintf (u.name, sizeof u.name, "shed");
    u.gid = 9;
    agent_group_members (NULL, &u);
    assert_int_equal (u.ngroups, 1);
    assert_int_equal (u.groups[0], 9);
}

static char s_dir[64];

static void
s_write (const char *rel, const char *text)
{
    char path[256];
    snprintf (path, sizeof path, "%s/%s", s_dir, rel);
    FILE *f = fopen (path, "w");
    assert_non_null (f);
    fputs (text, f);
    fclose (f);
}

static int
s_rm (const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void) st;
    (void) flag;
    (void) ftw;
    return remove (path);
}

static void
test_lookup (void **state)
{
    (void) state;
    snprintf (s_dir, sizeof s_dir, "/tmp/agent-passwd-test-XXXXXX");
    assert_non_null (mkdtemp (s_dir));
    char etc[128];
    snprintf (etc, sizeof etc, "%s/etc", s_dir);
    assert_int_equal (mkdir (etc, 0755), 0);

    agent_user_t u;
    /* No files at all: nobody but root. */
    errno = 0;
    assert_int_equal (agent_user_lookup (s_dir, "shed", &u), -1);
    assert_int_equal (errno, ENOENT);
    assert_int_equal (agent_user_lookup (s_dir, "root", &u), 0);
    assert_int_equal (u.uid, 0);
    assert_int_equal (u.gid, 0);
    assert_string_equal (u.home, "/root");
    assert_int_equal (u.ngroups, 1);
    assert_int_equal (u.groups[0], 0);

    s_write ("etc/passwd", "root:x:0:0::/rootdir:/bin/sh\nshed:x:1000:1000::/home/shed:/bin/sh\n");
    s_write ("etc/group", "shed:x:1000:\nusers:x:100:shed\nwheel:x:10:root\n");
    assert_int_equal (agent_user_lookup (s_dir, "shed", &u), 0);
    assert_int_equal (u.uid, 1000);
    assert_int_equal (u.ngroups, 2);
    assert_int_equal (u.groups[1], 100);
    assert_int_equal (agent_user_lookup (s_dir, "root", &u), 0);
    assert_string_equal (u.home, "/rootdir");
    assert_int_equal (u.ngroups, 2);
    assert_int_equal (u.groups[1], 10);
    /* A trailing slash on the root is fine. */
    char slash[80];
    snprintf (slash, sizeof slash, "%s/", s_dir);
    assert_int_equal (agent_user_lookup (slash, "shed", &u), 0);
    assert_int_equal (agent_user_lookup (s_dir, "nobody", &u), -1);
    assert_int_equal (agent_user_lookup (s_dir, "bad:name", &u), -1);

    /* A group file that is not a regular file: the primary group only. */
    char path[160];
    snprintf (path, sizeof path, "%s/etc/group", s_dir);
    unlink (path);
    assert_int_equal (mkdir (path, 0755), 0);
    assert_int_equal (agent_user_lookup (s_dir, "shed", &u), 0);
    assert_int_equal (u.ngroups, 1);

    /* A FIFO at etc/passwd is refused at once, not waited on. */
    snprintf (path, sizeof path, "%s/etc/passwd", s_dir);
    unlink (path);
    assert_int_equal (mkfifo (path, 0644), 0);
    errno = 0;
    assert_null (agent_read_small_file (path, 1024));
    assert_int_equal (errno, EINVAL);
    assert_int_equal (agent_user_lookup (s_dir, "shed", &u), -1);
    assert_int_equal (agent_user_lookup (s_dir, "root", &u), 0); /* still root */
    unlink (path);

    /* Over the bound: refused whole, never cut (a cut file could end in
     * the middle of an entry). */
    s_write ("etc/passwd", "shed:x:1000:1000::/home/shed:/bin/sh\n");
    errno = 0;
    assert_null (agent_read_small_file (path, 10));
    assert_int_equal (errno, EFBIG);
    char *text = agent_read_small_file (path, 37);
    assert_non_null (text);
    assert_string_equal (text, "shed:x:1000:1000::/home/shed:/bin/sh\n");
    free (text);
    assert_null (agent_read_small_file ("/nonexistent/passwd", 10));

    nftw (s_dir, s_rm, 8, FTW_DEPTH | FTW_PHYS);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_names),          cmocka_unit_test (test_passwd),
        cmocka_unit_test (test_passwd_hostile), cmocka_unit_test (test_groups),
        cmocka_unit_test (test_lookup),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
