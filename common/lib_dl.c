/*
 * lib_dl.c - shared libraries loaded on first use (see lib_dl.h).
 */
#include "common/lib_dl.h"

#include <dlfcn.h>
#include <stdio.h>

/* pthread_once takes no argument: the one library being loaded right now
 * is passed beside it, under s_lock (loads are rare: once per library). */
static pthread_mutex_t s_lock = PTHREAD_MUTEX_INITIALIZER;
static shed_dl_lib_t *s_loading;

static void
s_load (void)
{
    shed_dl_lib_t *lib = s_loading;
    /* RTLD_NODELETE: the pointers stay valid for the life of the process
     * (nothing ever closes it). */
    void *h = dlopen (lib->soname, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
    if (!h) {
        const char *why = dlerror ();
        snprintf (lib->error, sizeof lib->error, "%s (install %s)", why ? why : lib->soname,
                  lib->package);
        return;
    }
    for (size_t i = 0; i < lib->nsyms; i++) {
        void *p = dlsym (h, lib->syms[i].name);
        if (!p) {
            snprintf (lib->error, sizeof lib->error, "%s: no symbol %s (install %s)", lib->soname,
                      lib->syms[i].name, lib->package);
            for (size_t j = 0; j < i; j++)
                *lib->syms[j].slot = NULL;
            return;
        }
        *lib->syms[i].slot = p;
    }
}

bool
shed_dl_open (shed_dl_lib_t *lib, char *err, size_t errlen)
{
    pthread_mutex_lock (&s_lock);
    s_loading = lib;
    pthread_once (&lib->once, s_load);
    s_loading = NULL;
    pthread_mutex_unlock (&s_lock);
    if (lib->error[0] == '\0')
        return true;
    if (err && errlen)
        snprintf (err, errlen, "%s", lib->error);
    return false;
}
