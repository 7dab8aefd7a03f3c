/*
 * archive_dl.c - libarchive.so.13, loaded on first use (see archive_dl.h).
 */
#include "common/archive_dl.h"

ARCHIVE_DL_SYMS (SHED_DL_DEFINE)

static const shed_dl_sym_t s_syms[] = { ARCHIVE_DL_SYMS (SHED_DL_ROW) };

static shed_dl_lib_t s_lib = {
    .soname = ARCHIVE_DL_SONAME,
    .package = "libarchive13",
    .syms = s_syms,
    .nsyms = sizeof s_syms / sizeof s_syms[0],
    .once = PTHREAD_ONCE_INIT,
};

bool
archive_dl_open (char *err, size_t errlen)
{
    return shed_dl_open (&s_lib, err, errlen);
}
