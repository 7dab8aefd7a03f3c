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
 * curl_dl_open() fills from libcurl.so.4 the first time HTTP is needed.
 * The types are curl.h's own: a call that would not compile against
 * libcurl does not compile here either.
 *
 * Names follow systemd's dlopen convention (sym_<function>), so a reader
 * sees at each call that it goes through a loaded pointer.
 */
#ifndef SHED_CURL_DL_H
#define SHED_CURL_DL_H

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

/* Loads libcurl and calls curl_global_init once per process (thread-safe).
 * Returns true when every pointer below is set; false with a message in
 * err ("libcurl.so.4: cannot open shared object file ... (install
 * libcurl4)") otherwise, and again on every later call. */
bool curl_dl_open (char *err, size_t errlen);

extern CURLcode (*sym_curl_global_init) (long flags);
extern CURL *(*sym_curl_easy_init) (void);
extern CURLcode (*sym_curl_easy_setopt) (CURL *curl, CURLoption option, ...);
extern CURLcode (*sym_curl_easy_perform) (CURL *curl);
extern CURLcode (*sym_curl_easy_getinfo) (CURL *curl, CURLINFO info, ...);
extern void (*sym_curl_easy_cleanup) (CURL *curl);
extern const char *(*sym_curl_easy_strerror) (CURLcode code);
extern char *(*sym_curl_easy_escape) (CURL *curl, const char *string, int length);
extern void (*sym_curl_free) (void *p);
extern struct curl_slist *(*sym_curl_slist_append) (struct curl_slist *list, const char *data);
extern void (*sym_curl_slist_free_all) (struct curl_slist *list);
extern CURLM *(*sym_curl_multi_init) (void);
extern CURLMcode (*sym_curl_multi_add_handle) (CURLM *multi, CURL *curl);
extern CURLMcode (*sym_curl_multi_remove_handle) (CURLM *multi, CURL *curl);
extern CURLMcode (*sym_curl_multi_perform) (CURLM *multi, int *running);
extern CURLMcode (*sym_curl_multi_poll) (CURLM *multi, struct curl_waitfd extra_fds[],
                                         unsigned int extra_nfds, int timeout_ms, int *numfds);
extern CURLMsg *(*sym_curl_multi_info_read) (CURLM *multi, int *msgs_in_queue);
extern CURLMcode (*sym_curl_multi_cleanup) (CURLM *multi);

#endif
