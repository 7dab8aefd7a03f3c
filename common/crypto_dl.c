/*
 * crypto_dl.c - libcrypto.so.3, loaded on first use (see crypto_dl.h).
 */
#include "common/crypto_dl.h"

CRYPTO_DL_SYMS (SHED_DL_DEFINE)

static const shed_dl_sym_t s_syms[] = { CRYPTO_DL_SYMS (SHED_DL_ROW) };

static shed_dl_lib_t s_lib = {
    .soname = CRYPTO_DL_SONAME,
    .package = "libssl3",
    .syms = s_syms,
    .nsyms = sizeof s_syms / sizeof s_syms[0],
    .once = PTHREAD_ONCE_INIT,
};

bool
crypto_dl_open (char *err, size_t errlen)
{
    return shed_dl_open (&s_lib, err, errlen);
}
