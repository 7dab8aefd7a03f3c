/*
 * lib_dl.h - shared libraries loaded on first use: the loader behind
 * curl_dl.h, mhd_dl.h, archive_dl.h, nft_dl.h and crypto_dl.h.
 *
 * Every library a binary links is mapped and has its symbols resolved at
 * every start, used or not. For shed-node that was most of its start-up
 * CPU: libmicrohttpd (with GnuTLS), libarchive (with libxml2 and ICU) and
 * libnftables (with libxtables and libnftnl) cost 5 of its 11 ms in the
 * dynamic loader, paid before membership starts and 32-64 times over when
 * a cluster starts at once (docs/membership.md, "Join convergence: where
 * the time goes"). The modules load them when a component first needs
 * them, after membership is up.
 *
 * Each module lists its functions once (an X-macro of names) and declares
 * sym_<name> with __typeof__ (<name>): the type is the library header's
 * own, so a call that would not compile against the library does not
 * compile here either. Names follow systemd's dlopen convention (and
 * common/curl_dl.h's): a reader sees at each call that it goes through a
 * loaded pointer.
 */
#ifndef SHED_LIB_DL_H
#define SHED_LIB_DL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

/* One row of a module's table: where the pointer lives, the name in the
 * library. A void ** to a function pointer is how dlsym() results are
 * stored (POSIX requires the conversion to work). */
typedef struct {
    void **slot;
    const char *name;
} shed_dl_sym_t;

/* A module's state: its library and the table, filled once. */
typedef struct {
    const char *soname;  /* "libarchive.so.13" */
    const char *package; /* the Debian package that ships it, for the error */
    const shed_dl_sym_t *syms;
    size_t nsyms;
    pthread_once_t once;
    char error[256]; /* set once, under once; empty on success */
} shed_dl_lib_t;

/* Loads lib and fills every pointer of its table, once per process
 * (thread-safe). Returns true when every pointer is set; false with
 * "SONAME: reason (install PACKAGE)" in err otherwise, and the same on
 * every later call. */
bool shed_dl_open (shed_dl_lib_t *lib, char *err, size_t errlen);

/* For the modules: declare, define and list sym_<name>. */
#define SHED_DL_DECLARE(name) extern __typeof__ (name) *sym_##name;
#define SHED_DL_DEFINE(name)  __typeof__ (name) *sym_##name;
#define SHED_DL_ROW(name)     { (void **) &sym_##name, #name },

#endif
