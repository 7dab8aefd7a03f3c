/* http_sse.c - see http_sse.h. */
#include "node/http/http_sse.h"

#include "common/mhd_dl.h"

#include <poll.h>

int
http_sse_fd (struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci =
        sym_MHD_get_connection_info (conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    return ci ? (int) ci->connect_fd : -1;
}

bool
http_sse_client_gone (int fd)
{
    if (fd < 0)
        return false;
    struct pollfd p = { .fd = fd, .events = POLLRDHUP };
    return poll (&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL));
}

void
http_sse_prepare (struct MHD_Connection *conn, struct MHD_Response *resp)
{
    sym_MHD_set_connection_option (conn, MHD_CONNECTION_OPTION_TIMEOUT, (unsigned int) 0);
    sym_MHD_add_response_header (resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
    sym_MHD_add_response_header (resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
}
