/*
 * curl_dl.h - libcurl, loaded on first use.
 *
 * Only the shed-server and Firecracker drivers and shedctl's remote
 * transport speak HTTP; linking libcurl made every shed-node and every
 * shedctl start map its 21 libraries (GnuTLS/OpenSSL, Kerberos, LDAP,
 * libssh2, ...) and resolve their symbols: 4 of the 13 ms of CPU a
 * shed-node start spends in the dynamic loader, paid 32-64 times over when
 * a cluster starts at once (docs/membership.md, "Join convergence").
 * So the callers call libcurl through the pointers below, which
 * curl_dl_open() fills from libcurl.so.4 the first time HTTP is needed,
 * through the loader every such library shares (common/lib_dl.h: types
 * from curl.h's own declarations, systemd's sym_<function> names).
 */
#ifndef SHED_CURL_DL_H
#define SHED_CURL_DL_H

#include "common/lib_dl.h"

#include <stdbool.h>
#include <stddef.h>

/* Types and constants only: nothing of libcurl's is linked. The type
 * checking macros of typecheck-gcc.h would wrap the names below. */
#ifndef CURL_DISABLE_TYPECHECK
#define CURL_DISABLE_TYPECHECK
#endif
#include <curl/curl.h>

/* The soname the package depends on (libcurl4, or libcurl3-gnutls's
 * libcurl-gnutls.so.4 is not ABI-identical in its TLS options: we ask for
 * the OpenSSL build we compile against). */
#define CURL_DL_SONAME "libcurl.so.4"

/* Every function of the library we call, once (lib_dl.h). */
#define CURL_DL_SYMS(X)                                                                            \
    X (curl_global_init)                                                                           \
    X (curl_easy_init)                                                                             \
    X (curl_easy_setopt)                                                                           \
    X (curl_easy_perform)                                                                          \
    X (curl_easy_getinfo)                                                                          \
    X (curl_easy_cleanup)                                                                          \
    X (curl_easy_strerror)                                                                         \
    X (curl_easy_escape)                                                                           \
    X (curl_free)                                                                                  \
    X (curl_slist_append)                                                                          \
    X (curl_slist_free_all)                                                                        \
    X (curl_multi_init)                                                                            \
    X (curl_multi_add_handle)                                                                      \
    X (curl_multi_remove_handle)                                                                   \
    X (curl_multi_perform)                                                                         \
    X (curl_multi_poll)                                                                            \
    X (curl_multi_info_read)                                                                       \
    X (curl_multi_cleanup)

CURL_DL_SYMS (SHED_DL_DECLARE)

/* Loads libcurl and calls curl_global_init once per process (thread-safe).
 * Returns true when every pointer above is set; false with a message in
 * err ("libcurl.so.4: cannot open shared object file ... (install
 * libcurl4)") otherwise, and again on every later call. */
bool curl_dl_open (char *err, size_t errlen);

#endif
