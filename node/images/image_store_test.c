/* image_store_test.c - the store on real archives in a scratch data dir:
 * import, content addressing, names, resolve, list, show, remove, and
 * refusals that leave nothing behind. */
#include "node/images/image_store.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sodium.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

static char s_dir[PATH_MAX];

typedef struct {
    const char *path;
    mode_t type;
    mode_t perm;
    const char *data;
    const char *link;
} s_ent_t;

static void
s_archive (const char *file, const s_ent_t *ents, size_t n)
{
    struct archive *a = archive_write_new ();
    archive_write_set_format_pax_restricted (a);
    archive_write_add_filter_gzip (a);
    assert_int_equal (archive_write_open_filename (a, file), ARCHIVE_OK);
    for (size_t i = 0; i < n; i++) {
        struct archive_entry *ae = archive_entry_new ();
        archive_entry_set_pathname (ae, ents[i].path);
        archive_entry_set_filetype (ae, ents[i].type);
        archive_entry_set_perm (ae, ents[i].perm);
        if (ents[i].link)
            archive_entry_set_symlink (ae, ents[i].link);
        size_t len = ents[i].data ? strlen (ents[i].data) : 0;
        archive_entry_set_size (ae, (la_int64_t) len);
        assert_int_equal (archive_write_header (a, ae), ARCHIVE_OK);
        if (len)
            assert_int_equal (archive_write_data (a, ents[i].data, len), (la_ssize_t) len);
        archive_entry_free (ae);
    }
    assert_int_equal (archive_write_close (a), ARCHIVE_OK);
    archive_write_free (a);
}

/* The image: os-release behind an ABSOLUTE symlink, which must resolve
 * inside the tree (the host's /usr/lib/os-release says something else). */
/* clang-format off */
static const s_ent_t s_image_a[] = {
    { "./", AE_IFDIR, 0755, NULL, NULL },
    { "./bin/busybox", AE_IFREG, 0755, "#!busybox\n", NULL },
    { "./etc/os-release", AE_IFLNK, 0777, NULL, "/usr/lib/os-release" },
    { "./usr/lib/os-release", AE_IFREG, 0644,
      "NAME=\"test\"\nPRETTY_NAME=\"Test OS 1 (store)\"\nID=test\n", NULL },
};
/* clang-format on */
/* clang-format off */
static const s_ent_t s_image_b[] = {
    { "./etc/os-release", AE_IFREG, 0644, "PRETTY_NAME='Other'\n", NULL },
    { "./x", AE_IFREG, 0644, "b", NULL },
};
/* clang-format on */
/* clang-format off */
static const s_ent_t s_image_bad[] = {
    { "./ok", AE_IFREG, 0644, "fine", NULL },
    { "./dev/kmsg", AE_IFCHR, 0600, NULL, NULL },
};
/* clang-format on */

static char s_file_a[PATH_MAX + 16], s_file_b[PATH_MAX + 16], s_file_bad[PATH_MAX + 16];

static int
s_count (const char *sub)
{
    char path[PATH_MAX + 64];
    snprintf (path, sizeof path, "%s/data/images/%s", s_dir, sub);
    DIR *d = opendir (path);
    if (!d)
        return -1;
    int n = 0;
    struct dirent *de;
    while ((de = readdir (d)))
        if (de->d_name[0] != '.')
            n++;
    closedir (d);
    return n;
}

static void
s_sha256_file (const char *file, char hex[65])
{
    FILE *f = fopen (file, "rb");
    assert_non_null (f);
    crypto_hash_sha256_state st;
    crypto_hash_sha256_init (&st);
    unsigned char buf[4096];
    size_t n;
    while ((n = fread (buf, 1, sizeof buf, f)) > 0)
        crypto_hash_sha256_update (&st, buf, n);
    fclose (f);
    unsigned char out[32];
    crypto_hash_sha256_final (&st, out);
    sodium_bin2hex (hex, 65, out, 32);
}

static int
s_import (image_store_t *store, const char *name, const char *file, image_info_t *info,
          bool *existed, char *why, size_t why_size)
{
    int fd = open (file, O_RDONLY);
    assert_true (fd >= 0);
    int rc = image_store_import_fd (store, name, fd, NULL, NULL, info, existed, why, why_size);
    close (fd);
    return rc;
}

static int
s_setup (void **state)
{
    if (sodium_init () < 0)
        return -1;
    snprintf (s_dir, sizeof s_dir, "/tmp/image_store_test.XXXXXX");
    if (!mkdtemp (s_dir))
        return -1;
    snprintf (s_file_a, sizeof s_file_a, "%s/a.tar.gz", s_dir);
    snprintf (s_file_b, sizeof s_file_b, "%s/b.tar.gz", s_dir);
    snprintf (s_file_bad, sizeof s_file_bad, "%s/bad.tar.gz", s_dir);
    return 0;
}

static int
s_teardown (void **state)
{
    return image_rmtree (s_dir);
}

static void
test_names (void **state)
{
    char why[256], d[65];
    assert_true (image_name_valid ("busybox", why, sizeof why));
    assert_true (image_name_valid ("debian-12.5_min", why, sizeof why));
    assert_false (image_name_valid ("", why, sizeof why));
    assert_false (image_name_valid ("Busybox", why, sizeof why));
    assert_false (image_name_valid ("1abc", why, sizeof why));
    assert_false (image_name_valid ("a/b", why, sizeof why));
    assert_non_null (strstr (why, "only a-z"));
    assert_false (image_name_valid ("..", why, sizeof why));
    char longname[80];
    memset (longname, 'a', 64);
    longname[64] = '\0';
    assert_false (image_name_valid (longname, why, sizeof why));
    longname[63] = '\0';
    assert_true (image_name_valid (longname, why, sizeof why));
    const char *hex = "abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789";
    assert_false (image_name_valid (hex, why, sizeof why)); /* a digest, not a name */
    assert_true (image_digest_parse (hex, d));
    assert_string_equal (d, hex);
    char ref[80];
    snprintf (ref, sizeof ref, "sha256:%s", hex);
    assert_true (image_digest_parse (ref, d));
    assert_false (image_digest_parse ("sha256:abc", d));
    assert_false (
        image_digest_parse ("ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef0123456789", d));
}

static bool
s_used_by_web (const char *name, const char *digest, void *arg, char *user, size_t size)
{
    int *calls = arg;
    (*calls)++;
    snprintf (user, size, "web");
    return true;
}

static void
test_store (void **state)
{
    char data[PATH_MAX + 16], why[512] = "";
    snprintf (data, sizeof data, "%s/data", s_dir);
    assert_int_equal (mkdir (data, 0700), 0);
    image_store_t *store = image_store_new (data, why, sizeof why);
    assert_non_null (store);
    /* No directory before the first write; an empty store lists nothing. */
    char images[PATH_MAX + 32];
    snprintf (images, sizeof images, "%s/images", data);
    struct stat st;
    assert_int_equal (lstat (images, &st), -1);
    assert_int_equal (errno, ENOENT);
    image_info_t *none = NULL;
    size_t nnone = 99;
    assert_int_equal (image_store_list (store, &none, &nnone, why, sizeof why), 0);
    assert_int_equal (nnone, 0);
    free (none);
    char no_digest[65], no_rootfs[PATH_MAX];
    assert_int_equal (image_store_resolve (store, "alpha", no_digest, no_rootfs, sizeof no_rootfs,
                                           why, sizeof why),
                      -1);
    assert_int_equal (lstat (images, &st), -1);
    s_archive (s_file_a, s_image_a, 4);
    s_archive (s_file_b, s_image_b, 2);
    s_archive (s_file_bad, s_image_bad, 2);
    char hex_a[65];
    s_sha256_file (s_file_a, hex_a);

    /* import: the digest is the archive's sha256 */
    image_info_t info;
    bool existed = true;
    if (s_import (store, "alpha", s_file_a, &info, &existed, why, sizeof why) != 0)
        fail_msg ("import alpha: %s", why);
    assert_false (existed);
    assert_string_equal (info.name, "alpha");
    assert_string_equal (info.digest, hex_a);
    assert_string_equal (info.os_name, "Test OS 1 (store)"); /* inside the tree */
    assert_int_equal (info.files, 2);
    assert_int_equal (info.entries, 4);
    assert_int_equal (stat (s_file_a, &st), 0);
    assert_int_equal (info.archive_size, (uint64_t) st.st_size);
    assert_true (info.imported_ms > 1600000000000ull);
    assert_int_equal (s_count ("blobs"), 1);
    assert_int_equal (s_count ("tmp"), 0);

    /* resolve by name, by digest, by sha256:digest, from a second store */
    char digest[65], rootfs[PATH_MAX], expect[PATH_MAX + 256], ref[80];
    image_store_t *other = image_store_new (data, why, sizeof why);
    assert_non_null (other);
    assert_int_equal (
        image_store_resolve (other, "alpha", digest, rootfs, sizeof rootfs, why, sizeof why), 0);
    assert_string_equal (digest, hex_a);
    snprintf (expect, sizeof expect, "%s/images/blobs/%s/rootfs", data, hex_a);
    assert_string_equal (rootfs, expect);
    snprintf (expect, sizeof expect, "%s/bin/busybox", rootfs);
    assert_int_equal (stat (expect, &st), 0);
    assert_int_equal (
        image_store_resolve (other, hex_a, digest, rootfs, sizeof rootfs, why, sizeof why), 0);
    snprintf (ref, sizeof ref, "sha256:%s", hex_a);
    assert_int_equal (
        image_store_resolve (other, ref, digest, rootfs, sizeof rootfs, why, sizeof why), 0);
    assert_int_equal (
        image_store_resolve (other, "nope", digest, rootfs, sizeof rootfs, why, sizeof why), -1);
    assert_non_null (strstr (why, "image 'nope' is not on this node"));
    assert_int_equal (
        image_store_resolve (other, "BAD/x", digest, rootfs, sizeof rootfs, why, sizeof why), -1);
    char small[16];
    assert_int_equal (
        image_store_resolve (other, "alpha", digest, small, sizeof small, why, sizeof why), -1);
    image_store_destroy (&other);

    /* the same bytes under a new name: only the name is added */
    if (s_import (store, "beta", s_file_a, &info, &existed, why, sizeof why) != 0)
        fail_msg ("import beta: %s", why);
    assert_true (existed);
    assert_string_equal (info.name, "beta");
    assert_string_equal (info.digest, hex_a);
    assert_int_equal (s_count ("blobs"), 1);
    /* again under the same name: nothing to do */
    assert_int_equal (s_import (store, "beta", s_file_a, &info, &existed, why, sizeof why), 0);
    assert_true (existed);
    assert_string_equal (info.digest, hex_a);

    /* a tree lost under its name (a disk repaired by hand): the same bytes
     * unpack it again */
    char blob[PATH_MAX + 128];
    snprintf (blob, sizeof blob, "%s/images/blobs/%s", data, hex_a);
    assert_int_equal (image_rmtree (blob), 0);
    assert_int_equal (
        image_store_resolve (store, "beta", digest, rootfs, sizeof rootfs, why, sizeof why), -1);
    assert_non_null (strstr (why, "is missing"));
    if (s_import (store, "beta", s_file_a, &info, &existed, why, sizeof why) != 0)
        fail_msg ("import beta again: %s", why);
    assert_false (existed);
    assert_int_equal (
        image_store_resolve (store, "alpha", digest, rootfs, sizeof rootfs, why, sizeof why), 0);

    /* a name is never moved to other bytes */
    assert_int_equal (s_import (store, "alpha", s_file_b, &info, &existed, why, sizeof why), -1);
    assert_non_null (strstr (why, "already exists with other contents"));
    assert_int_equal (s_count ("blobs"), 1);
    assert_int_equal (s_count ("tmp"), 0);

    /* a bad archive: refused, nothing left */
    assert_int_equal (s_import (store, "bad", s_file_bad, &info, &existed, why, sizeof why), -1);
    assert_non_null (strstr (why, "entry './dev/kmsg': device node"));
    assert_int_equal (s_count ("blobs"), 1);
    assert_int_equal (s_count ("names"), 2);
    assert_int_equal (s_count ("tmp"), 0);
    assert_int_equal (s_import (store, "Bad", s_file_a, &info, &existed, why, sizeof why), -1);

    /* another image, with the caller's digest */
    int fd = open (s_file_b, O_RDONLY);
    char hex_b[65];
    s_sha256_file (s_file_b, hex_b);
    assert_int_equal (
        image_store_import_fd (store, "gamma", fd, hex_b, NULL, &info, &existed, why, sizeof why),
        0);
    close (fd);
    assert_string_equal (info.os_name, "Other");
    assert_string_equal (info.digest, hex_b);

    /* list, sorted by name; show by digest */
    image_info_t *items;
    size_t n;
    assert_int_equal (image_store_list (store, &items, &n, why, sizeof why), 0);
    assert_int_equal (n, 3);
    assert_string_equal (items[0].name, "alpha");
    assert_string_equal (items[1].name, "beta");
    assert_string_equal (items[2].name, "gamma");
    assert_string_equal (items[1].digest, hex_a);
    assert_string_equal (items[2].os_name, "Other");
    free (items);
    assert_int_equal (image_store_show (store, hex_b, &info, why, sizeof why), 0);
    assert_string_equal (info.digest, hex_b);
    assert_string_equal (info.name, "gamma"); /* a name of those bytes */
    assert_int_equal (image_store_show (store, "zeta", &info, why, sizeof why), -1);
    assert_int_equal (errno, ENOENT);

    /* remove: refused while used; the blob stays while another name has it */
    int calls = 0;
    bool gone = true;
    assert_int_equal (
        image_store_remove (store, "alpha", s_used_by_web, &calls, &gone, why, sizeof why), -1);
    assert_int_equal (errno, EBUSY);
    assert_int_equal (calls, 1);
    assert_non_null (strstr (why, "used by shed web"));
    assert_int_equal (s_count ("names"), 3);
    assert_int_equal (image_store_remove (store, "alpha", NULL, NULL, &gone, why, sizeof why), 0);
    assert_false (gone);
    assert_int_equal (s_count ("blobs"), 2);
    assert_int_equal (
        image_store_resolve (store, "beta", digest, rootfs, sizeof rootfs, why, sizeof why), 0);
    assert_int_equal (image_store_remove (store, "beta", NULL, NULL, &gone, why, sizeof why), 0);
    assert_true (gone);
    assert_int_equal (s_count ("blobs"), 1);
    assert_int_equal (s_count ("tmp"), 0);
    assert_int_equal (
        image_store_resolve (store, hex_a, digest, rootfs, sizeof rootfs, why, sizeof why), -1);
    assert_int_equal (image_store_remove (store, "beta", NULL, NULL, &gone, why, sizeof why), -1);
    assert_int_equal (errno, ENOENT);
    assert_non_null (strstr (why, "not on this node"));

    /* leftovers of a crash in tmp/ go at start */
    char left[PATH_MAX + 64];
    snprintf (left, sizeof left, "%s/upload-1", image_store_tmp_dir (store, why, sizeof why));
    assert_int_equal (mkdir (left, 0700), 0);
    assert_int_equal (s_count ("tmp"), 1);
    image_store_clean_tmp (store);
    assert_int_equal (s_count ("tmp"), 0);
    image_store_destroy (&store);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_names),
        cmocka_unit_test (test_store),
    };
    return cmocka_run_group_tests (tests, s_setup, s_teardown);
}
