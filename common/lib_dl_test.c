/*
 * lib_dl_test.c - the libraries loaded on first use (lib_dl.h): each loads
 * and fills every pointer it lists, no library is mapped before its first
 * use, and a library or a symbol that is missing gives an error that names
 * it and the package to install, every time it is asked for.
 */
#include "common/archive_dl.h"
#include "common/crypto_dl.h"
#include "common/lib_dl.h"
#include "common/mhd_dl.h"
#include "common/nft_dl.h"

#include <dlfcn.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

/* Is SONAME mapped in this process right now? (RTLD_NOLOAD never loads.) */
static bool
s_mapped (const char *soname)
{
    void *h = dlopen (soname, RTLD_LAZY | RTLD_NOLOAD);
    if (h)
        dlclose (h);
    return h != NULL;
}

#define S_CHECK_SET(name) assert_non_null (sym_##name);

static void
test_not_mapped_until_used (void **state)
{
    (void) state;
    /* The test binary links none of them: this is what shed-node gains. */
    assert_false (s_mapped (ARCHIVE_DL_SONAME));
    assert_false (s_mapped (MHD_DL_SONAME));
    assert_false (s_mapped (NFT_DL_SONAME));
    assert_false (s_mapped (CRYPTO_DL_SONAME));
    assert_null (sym_archive_read_new);
    assert_null (sym_MHD_start_daemon);
    assert_null (sym_nft_ctx_new);
    assert_null (sym_EVP_sha256);
}

static void
test_loads_every_symbol (void **state)
{
    (void) state;
    char err[256] = "";
    assert_true (archive_dl_open (err, sizeof err));
    ARCHIVE_DL_SYMS (S_CHECK_SET)
    assert_true (s_mapped (ARCHIVE_DL_SONAME));
    assert_true (mhd_dl_open (err, sizeof err));
    MHD_DL_SYMS (S_CHECK_SET)
    assert_true (nft_dl_open (err, sizeof err));
    NFT_DL_SYMS (S_CHECK_SET)
    assert_true (crypto_dl_open (err, sizeof err));
    CRYPTO_DL_SYMS (S_CHECK_SET)
    /* A second call is the same answer. */
    assert_true (nft_dl_open (NULL, 0));
    /* They work: a real call through each table. */
    struct archive *a = sym_archive_write_new ();
    assert_non_null (a);
    assert_int_equal (sym_archive_write_free (a), ARCHIVE_OK);
    assert_int_equal (sym_MHD_is_feature_supported (MHD_FEATURE_MESSAGES), MHD_YES);
    struct nft_ctx *ctx = sym_nft_ctx_new (NFT_CTX_DEFAULT);
    assert_non_null (ctx);
    sym_nft_ctx_free (ctx);
    assert_non_null (sym_EVP_sha256 ());
}

static void *sym_missing_fn;

static void
test_missing_library (void **state)
{
    (void) state;
    static const shed_dl_sym_t syms[] = { { &sym_missing_fn, "missing_fn" } };
    static shed_dl_lib_t lib = { .soname = "libshed-no-such-lib.so.7",
                                 .package = "libshed-no-such-lib7",
                                 .syms = syms,
                                 .nsyms = 1,
                                 .once = PTHREAD_ONCE_INIT };
    char err[256] = "";
    assert_false (shed_dl_open (&lib, err, sizeof err));
    assert_non_null (strstr (err, "libshed-no-such-lib.so.7"));
    assert_non_null (strstr (err, "(install libshed-no-such-lib7)"));
    err[0] = '\0';
    assert_false (shed_dl_open (&lib, err, sizeof err));
    assert_non_null (strstr (err, "install libshed-no-such-lib7"));
    assert_null (sym_missing_fn);
}

static void *sym_first, *sym_second;

static void
test_missing_symbol (void **state)
{
    (void) state;
    /* A library that is there but lacks a symbol: an older version. No
     * pointer is left half set. */
    static const shed_dl_sym_t syms[] = { { &sym_first, "archive_read_new" },
                                          { &sym_second, "archive_no_such_function" } };
    static shed_dl_lib_t lib = { .soname = ARCHIVE_DL_SONAME,
                                 .package = "libarchive13",
                                 .syms = syms,
                                 .nsyms = 2,
                                 .once = PTHREAD_ONCE_INIT };
    char err[256] = "";
    assert_false (shed_dl_open (&lib, err, sizeof err));
    assert_non_null (strstr (err, "no symbol archive_no_such_function"));
    assert_null (sym_first);
    assert_null (sym_second);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_not_mapped_until_used),
        cmocka_unit_test (test_loads_every_symbol),
        cmocka_unit_test (test_missing_library),
        cmocka_unit_test (test_missing_symbol),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
