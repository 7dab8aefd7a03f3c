/*
 * curl_dl.c - libcurl, loaded on first use (see curl_dl.h).
 */
#include "common/curl_dl.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

CURLcode (*sym_curl_global_init) (long flags);
CURL *(*sym_curl_easy_init) (void);
CURLcode (*sym_curl_easy_setopt) (CURL *curl, CURLoption option, ...);
CURLcode (*sym_curl_easy_perform) (CURL *curl);
CURLcode (*sym_curl_easy_getinfo) (CURL *curl, CURLINFO info, ...);
void (*sym_curl_easy_cleanup) (CURL *curl);
const char *(*sym_curl_easy_strerror) (CURLcode code);
char *(*sym_curl_easy_escape) (CURL *curl, const char *string, int length);
void (*sym_curl_free) (void *p);
struct curl_slist *(*sym_curl_slist_append) (struct curl_slist *list, const char *data);
void (*sym_curl_slist_free_all) (struct curl_slist *list);
CURLM *(*sym_curl_multi_init) (void);
CURLMcode (*sym_curl_multi_add_handle) (CURLM *multi, CURL *curl);
CURLMcode (*sym_curl_multi_remove_handle) (CURLM *multi, CURL *curl);
CURLMcode (*sym_curl_multi_perform) (CURLM *multi, int *running);
CURLMcode (*sym_curl_multi_poll) (CURLM *multi, struct curl_waitfd extra_fds[],
                                  unsigned int extra_nfds, int timeout_ms, int *numfds);
CURLMsg *(*sym_curl_multi_info_read) (CURLM *multi, int *msgs_in_queue);
CURLMcode (*sym_curl_multi_cleanup) (CURLM *multi);

/* One row per symbol: where its pointer lives and its name in libcurl.
 * A void ** to a function pointer is how dlsym() results are stored
 * (POSIX requires object and function pointers to convert). */
#define S_SYM(name)                                                                                \
    {                                                                                              \
        (void **) &sym_##name, #name                                                               \
    }
static const struct {
    void **slot;
    const char *name;
} s_syms[] = {
    S_SYM (curl_global_init),      S_SYM (curl_easy_init),           S_SYM (curl_easy_setopt),
    S_SYM (curl_easy_perform),     S_SYM (curl_easy_getinfo),        S_SYM (curl_easy_cleanup),
    S_SYM (curl_easy_strerror),    S_SYM (curl_easy_escape),         S_SYM (curl_free),
    S_SYM (curl_slist_append),     S_SYM (curl_slist_free_all),      S_SYM (curl_multi_init),
    S_SYM (curl_multi_add_handle), S_SYM (curl_multi_remove_handle), S_SYM (curl_multi_perform),
    S_SYM (curl_multi_poll),       S_SYM (curl_multi_info_read),     S_SYM (curl_multi_cleanup),
};

static pthread_once_t s_once = PTHREAD_ONCE_INIT;
static char s_error[256]; /* set once, under s_once; empty on success */

static void
s_load (void)
{
    /* RTLD_NODELETE: the pointers stay valid for the life of the process
     * (nothing ever closes it). */
    void *lib = dlopen (CURL_DL_SONAME, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
    if (!lib) {
        const char *why = dlerror ();
        snprintf (s_error, sizeof s_error, "%s (install libcurl4)", why ? why : CURL_DL_SONAME);
        return;
    }
    for (size_t i = 0; i < sizeof s_syms / sizeof s_syms[0]; i++) {
        void *p = dlsym (lib, s_syms[i].name);
        if (!p) {
            snprintf (s_error, sizeof s_error, "%s: no symbol %s (libcurl older than 7.66?)",
                      CURL_DL_SONAME, s_syms[i].name);
            for (size_t j = 0; j < i; j++)
                *s_syms[j].slot = NULL;
            return;
        }
        *s_syms[i].slot = p;
    }
    CURLcode rc = sym_curl_global_init (CURL_GLOBAL_DEFAULT);
    if (rc != CURLE_OK)
        snprintf (s_error, sizeof s_error, "curl_global_init: %s", sym_curl_easy_strerror (rc));
}

bool
curl_dl_open (char *err, size_t errlen)
{
    pthread_once (&s_once, s_load);
    if (s_error[0] == '\0')
        return true;
    if (err && errlen)
        snprintf (err, errlen, "%s", s_error);
    return false;
}
