/*
 * mhd_dl.c - libmicrohttpd.so.12, loaded on first use (see mhd_dl.h).
 */
#include "common/mhd_dl.h"

MHD_DL_SYMS (SHED_DL_DEFINE)

static const shed_dl_sym_t s_syms[] = { MHD_DL_SYMS (SHED_DL_ROW) };

static shed_dl_lib_t s_lib = {
    .soname = MHD_DL_SONAME,
    .package = "libmicrohttpd12",
    .syms = s_syms,
    .nsyms = sizeof s_syms / sizeof s_syms[0],
    .once = PTHREAD_ONCE_INIT,
};

bool
mhd_dl_open (char *err, size_t errlen)
{
    return shed_dl_open (&s_lib, err, errlen);
}
