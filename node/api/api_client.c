/* api_client.c - see api_client.h. */
#include "node/api/api_client.h"

#include "node/api/api_client_http.h"

#include <czmq.h>
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define S_SLICE_MS 100 /* a stoppable call checks its flag this often */

int
shed_api_call (const char *endpoint, const api_msg_t *req, api_msg_t *rep, int timeout_ms,
               char *err, size_t errlen)
{
    return shed_api_call_stop (endpoint, req, rep, timeout_ms, NULL, err, errlen);
}

int
shed_api_call_stop (const char *endpoint, const api_msg_t *req, api_msg_t *rep, int timeout_ms,
                    const volatile int *stop, char *err, size_t errlen)
{
    memset (rep, 0, sizeof *rep);
    if (shed_api_is_http (endpoint))
        return shed_api_http_call (endpoint, req, rep, timeout_ms, stop, err, errlen);
    /* ZeroMQ connects lazily and would just time out; for ipc we can say
     * precisely that nothing is listening. */
    if (strncmp (endpoint, "ipc://", 6) == 0) {
        struct stat st;
        if (stat (endpoint + 6, &st) != 0) {
            snprintf (err, errlen, "shed-node is not running (no API socket at %s: %s)",
                      endpoint + 6, strerror (errno));
            return -1;
        }
        /* A node killed with -9 leaves its socket file behind; a plain
         * connect tells at once whether anyone listens on it, instead of
         * waiting out the reply timeout. */
        struct sockaddr_un sun = { .sun_family = AF_UNIX };
        if (strlen (endpoint + 6) < sizeof sun.sun_path) {
            strcpy (sun.sun_path, endpoint + 6);
            int fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
            if (fd >= 0) {
                int rc = connect (fd, (struct sockaddr *) &sun, sizeof sun);
                int saved = errno;
                close (fd);
                if (rc != 0 && saved == ECONNREFUSED) {
                    snprintf (err, errlen,
                              "shed-node is not running (nothing listens on the API socket %s)",
                              endpoint + 6);
                    return -1;
                }
            }
        }
    }
    zsock_t *sock = zsock_new (ZMQ_REQ);
    if (!sock) {
        snprintf (err, errlen, "cannot create ZeroMQ socket");
        return -1;
    }
    zsock_set_linger (sock, 0);
    if (zsock_connect (sock, "%s", endpoint) != 0) {
        snprintf (err, errlen, "cannot connect to %s: %s", endpoint, zmq_strerror (zmq_errno ()));
        zsock_destroy (&sock);
        return -1;
    }
    int rc = shed_api_exchange (sock, endpoint, req, rep, timeout_ms, stop, err, errlen);
    zsock_destroy (&sock);
    return rc;
}

int
shed_api_exchange (zsock_t *sock, const char *endpoint, const api_msg_t *req, api_msg_t *rep,
                   int timeout_ms, const volatile int *stop, char *err, size_t errlen)
{
    memset (rep, 0, sizeof *rep);
    uint8_t *buf = NULL;
    size_t len = 0;
    int rc = wire_encode (&api_proto, req, &buf, &len);
    if (rc != WIRE_OK) {
        snprintf (err, errlen, "cannot encode request: %s", wire_strerror (rc));
        return -1;
    }
    zsock_set_rcvtimeo (sock, stop && timeout_ms > S_SLICE_MS ? S_SLICE_MS : timeout_ms);
    zsock_set_sndtimeo (sock, timeout_ms);
    zframe_t *frame = zframe_new (buf, len);
    free (buf);
    if (zframe_send (&frame, sock, 0) != 0) {
        zframe_destroy (&frame);
        snprintf (err, errlen, "cannot send to %s (is shed-node running?)", endpoint);
        return -1;
    }
    frame = zframe_recv (sock);
    for (int waited = S_SLICE_MS; !frame && stop && !*stop && waited < timeout_ms;
         waited += S_SLICE_MS)
        frame = zframe_recv (sock);
    if (!frame) {
        snprintf (err, errlen, "no reply from shed-node at %s within %d ms (is it running?)",
                  endpoint, timeout_ms);
        return SHED_API_NO_REPLY;
    }
    const char *field = "";
    rc = wire_decode (&api_proto, zframe_data (frame), zframe_size (frame), rep, &field);
    zframe_destroy (&frame);
    if (rc != WIRE_OK) {
        snprintf (err, errlen, "bad reply from shed-node: %s%s%s", wire_strerror (rc),
                  *field ? " in field " : "", field);
        return -1;
    }
    return 0;
}

bool
shed_api_alive (const char *endpoint, int timeout_ms)
{
    api_msg_t req = { .hdr.type = API_STATUS_REQ }, rep;
    char err[256];
    if (shed_api_call (endpoint, &req, &rep, timeout_ms, err, sizeof err) != 0)
        return false;
    wire_msg_free (&api_proto, &rep);
    return true;
}
