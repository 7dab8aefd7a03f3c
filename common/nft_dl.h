/*
 * nft_dl.h - libnftables, loaded on first use: only the overlay and the shed drivers' anti-spoofing rules run nftables scripts, and linking it made every start map libnftables, libnftnl, libxtables (lib_dl.h).
 */
#ifndef SHED_NFT_DL_H
#define SHED_NFT_DL_H

#include "common/lib_dl.h"

#include <nftables/libnftables.h>

#define NFT_DL_SONAME "libnftables.so.1"

/* Every function of the library the daemon calls, once (lib_dl.h). */
#define NFT_DL_SYMS(X)                                                                             \
    X (nft_ctx_buffer_error)                                                                       \
    X (nft_ctx_buffer_output)                                                                      \
    X (nft_ctx_free)                                                                               \
    X (nft_ctx_get_error_buffer)                                                                   \
    X (nft_ctx_get_output_buffer)                                                                  \
    X (nft_ctx_new)                                                                                \
    X (nft_run_cmd_from_buffer)

NFT_DL_SYMS (SHED_DL_DECLARE)

/* Loads libnftables.so.1 once per process (thread-safe); false with the loader's
 * reason in err (and on every later call) when it cannot. */
bool nft_dl_open (char *err, size_t errlen);

#endif
