/*
 * mhd_dl.h - libmicrohttpd, loaded on first use: the remote HTTP API and the /metrics endpoint start after membership (node/node.c), and linking it made every start map libmicrohttpd and GnuTLS with its 8 libraries before membership could start (lib_dl.h).
 */
#ifndef SHED_MHD_DL_H
#define SHED_MHD_DL_H

#include "common/lib_dl.h"

#include <microhttpd.h>

#define MHD_DL_SONAME "libmicrohttpd.so.12"

/* Every function of the library the daemon calls, once (lib_dl.h). */
#define MHD_DL_SYMS(X)                                                                             \
    X (MHD_add_response_header)                                                                    \
    X (MHD_create_response_from_buffer)                                                            \
    X (MHD_create_response_from_callback)                                                          \
    X (MHD_destroy_response)                                                                       \
    X (MHD_get_connection_info)                                                                    \
    X (MHD_get_connection_values)                                                                  \
    X (MHD_is_feature_supported)                                                                   \
    X (MHD_lookup_connection_value)                                                                \
    X (MHD_queue_response)                                                                         \
    X (MHD_set_connection_option)                                                                  \
    X (MHD_start_daemon)                                                                           \
    X (MHD_stop_daemon)

MHD_DL_SYMS (SHED_DL_DECLARE)

/* Loads libmicrohttpd.so.12 once per process (thread-safe); false with the loader's
 * reason in err (and on every later call) when it cannot. */
bool mhd_dl_open (char *err, size_t errlen);

#endif
