/*
 * crypto_dl.h - OpenSSL's libcrypto, loaded on first use: only content
 * digests (crypto/digest.c) call it, after membership is up (the
 * overlay's AEADs are libgcrypt's, crypto/aead.c), and linking it
 * made every start map and relocate its 4.5 MB before membership could
 * start (1.1 of the 5 ms a start then spent in the dynamic loader;
 * lib_dl.h).
 */
#ifndef SHED_CRYPTO_DL_H
#define SHED_CRYPTO_DL_H

#include "common/lib_dl.h"

#include <openssl/evp.h>

#define CRYPTO_DL_SONAME "libcrypto.so.3"

/* Every function of the library the daemon calls, once (lib_dl.h). */
#define CRYPTO_DL_SYMS(X)                                                                          \
    X (EVP_DigestFinal_ex)                                                                         \
    X (EVP_DigestInit_ex)                                                                          \
    X (EVP_DigestUpdate)                                                                           \
    X (EVP_MD_CTX_free)                                                                            \
    X (EVP_MD_CTX_new)                                                                             \
    X (EVP_sha256)

CRYPTO_DL_SYMS (SHED_DL_DECLARE)

/* Loads libcrypto.so.3 once per process (thread-safe); false with the
 * loader's reason in err (and on every later call) when it cannot. */
bool crypto_dl_open (char *err, size_t errlen);

#endif
