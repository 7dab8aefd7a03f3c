/*
 * nft_dl.c - libnftables.so.1, loaded on first use (see nft_dl.h).
 */
#include "common/nft_dl.h"

NFT_DL_SYMS (SHED_DL_DEFINE)

static const shed_dl_sym_t s_syms[] = { NFT_DL_SYMS (SHED_DL_ROW) };

static shed_dl_lib_t s_lib = {
    .soname = NFT_DL_SONAME,
    .package = "libnftables1",
    .syms = s_syms,
    .nsyms = sizeof s_syms / sizeof s_syms[0],
    .once = PTHREAD_ONCE_INIT,
};

bool
nft_dl_open (char *err, size_t errlen)
{
    return shed_dl_open (&s_lib, err, errlen);
}
