/*
 * curl_dl.c - libcurl, loaded on first use (see curl_dl.h).
 */
#include "common/curl_dl.h"

#include <pthread.h>
#include <stdio.h>

CURL_DL_SYMS (SHED_DL_DEFINE)

static const shed_dl_sym_t s_syms[] = { CURL_DL_SYMS (SHED_DL_ROW) };

static shed_dl_lib_t s_lib = {
    .soname = CURL_DL_SONAME,
    .package = "libcurl4",
    .syms = s_syms,
    .nsyms = sizeof s_syms / sizeof s_syms[0],
    .once = PTHREAD_ONCE_INIT,
};

static pthread_once_t s_init_once = PTHREAD_ONCE_INIT;
static char s_init_error[128]; /* curl_global_init's, set once; empty: fine */

static void
s_global_init (void)
{
    CURLcode rc = sym_curl_global_init (CURL_GLOBAL_DEFAULT);
    if (rc != CURLE_OK)
        snprintf (s_init_error, sizeof s_init_error, "curl_global_init: %s",
                  sym_curl_easy_strerror (rc));
}

bool
curl_dl_open (char *err, size_t errlen)
{
    if (!shed_dl_open (&s_lib, err, errlen))
        return false;
    pthread_once (&s_init_once, s_global_init);
    if (s_init_error[0] == '\0')
        return true;
    if (err && errlen)
        snprintf (err, errlen, "%s", s_init_error);
    return false;
}
