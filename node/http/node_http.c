/*
 * node_http.c - see node_http.h: the server side of the remote API, from
 * the listen socket to a routed, authorised request whose body is in.
 * What is done with the request then (node_http_serve.c) is apart: it is
 * the per-route answering, while this file is the gate every request
 * passes through (node_http_int.h).
 */
#include "node/http/node_http_int.h"

#include "common/fileutil.h"
#include "common/log.h"
#include "common/tcp_listen.h"

#include <arpa/inet.h>
#include <czmq.h>
#include <errno.h>
#include <netinet/in.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define S_COMP           "http"
#define S_PEM_MAX        (64u << 10) /* a certificate chain or key file */
#define S_LOG_EVERY_MS   1000        /* at most one line per reason this often */
#define S_POOL_IDLE      16          /* local API sockets kept between requests */
#define S_LISTEN_BACKLOG 1024        /* connections the kernel queues for accept */

/* Designated, so a counter added to the enum cannot shift the names. */
static const char *s_stat_names[ST_COUNT] = {
    [ST_REQ_2XX] = "requests_2xx",          [ST_REQ_4XX] = "requests_4xx",
    [ST_REQ_5XX] = "requests_5xx",          [ST_AUTH_MISSING] = "auth_missing",
    [ST_AUTH_MALFORMED] = "auth_malformed", [ST_AUTH_UNKNOWN] = "auth_unknown",
    [ST_AUTH_EXPIRED] = "auth_expired",     [ST_AUTH_FORBIDDEN] = "auth_forbidden",
    [ST_TOO_LARGE] = "body_too_large",      [ST_BAD_REQUEST] = "bad_request",
    [ST_RATE_LIMITED] = "rate_limited",     [ST_NO_REPLY] = "no_reply",
    [ST_CONN_REFUSED] = "conn_refused",     [ST_CONN_TIMEOUT] = "conn_timeout",
    [ST_CONN_EVICTED] = "conn_evicted",     [ST_CONNS] = "connections",
};

void
shed_http__count (shed_http_t *self, shed_http_stat_t s)
{
    atomic_fetch_add_explicit (&self->stats[s], 1, memory_order_relaxed);
}

/* Hostile clients can make a line per request: one per reason per second. */
bool
shed_http__log_ok (shed_http_t *self, shed_http_stat_t s)
{
    int64_t now = zclock_mono ();
    int64_t last = atomic_load_explicit (&self->last_log_ms[s], memory_order_relaxed);
    if (now - last < S_LOG_EVERY_MS)
        return false;
    return atomic_compare_exchange_strong (&self->last_log_ms[s], &last, now);
}

/* ---- token commands on the local API (main loop) ------------------------------ */

static void
s_api_token_create (shed_api_call_t *call, const api_msg_t *msg, void *arg)
{
    shed_http_t *self = arg;
    const api_token_create_req_t *r = &msg->u.api_token_create_req;
    http_role_t role = http_role_parse (r->role);
    api_msg_t rep = { .hdr.type = API_TOKEN_REP };
    api_token_t item = { 0 };
    char why[256];
    if (role == HTTP_ROLE_NONE) {
        shed_api_reply_error (&call, API_ERR_INVALID, "role '%s': expected read or operator",
                              r->role);
        return;
    }
    if (http_tokens_create (self->tokens, role, r->name, r->ttl_ms, rep.u.api_token_rep.token,
                            item.id, why, sizeof why)
        != 0) {
        shed_api_reply_error (&call, API_ERR_INVALID, "%s", why);
        return;
    }
    snprintf (item.role, sizeof item.role, "%s", http_role_name (role));
    snprintf (item.name, sizeof item.name, "%s", r->name);
    if (r->ttl_ms)
        item.expires_ms = (uint64_t) zclock_time () + r->ttl_ms; /* as the store set it, +-1 ms */
    rep.u.api_token_rep.tokens.n = 1;
    rep.u.api_token_rep.tokens.items = &item;
    log_info (S_COMP, "token created|id=%s role=%s name=%s ttl_ms=%llu", item.id, item.role,
              item.name, (unsigned long long) r->ttl_ms);
    shed_api_reply (&call, &rep);
    sodium_memzero (&rep, sizeof rep);
}

static void
s_api_token_list (shed_api_call_t *call, const api_msg_t *msg, void *arg)
{
    (void) msg;
    shed_http_t *self = arg;
    api_msg_t rep = { .hdr.type = API_TOKEN_REP };
    size_t n = 0;
    api_token_t *items = http_tokens_list (self->tokens, &n);
    if (!items) {
        shed_api_reply_error (&call, API_ERR_INTERNAL, "out of memory");
        return;
    }
    rep.u.api_token_rep.tokens.n = n;
    rep.u.api_token_rep.tokens.items = items;
    shed_api_reply (&call, &rep);
    free (items);
}

static void
s_api_token_revoke (shed_api_call_t *call, const api_msg_t *msg, void *arg)
{
    shed_http_t *self = arg;
    const char *id = msg->u.api_token_revoke_req.id;
    char why[256];
    if (http_tokens_revoke (self->tokens, id, why, sizeof why) != 0) {
        shed_api_reply_error (&call, API_ERR_NOT_FOUND, "%s", why);
        return;
    }
    log_info (S_COMP, "token revoked|id=%s", id);
    api_msg_t rep = { .hdr.type = API_OK };
    snprintf (rep.u.api_ok.message, sizeof rep.u.api_ok.message, "token %s revoked", id);
    shed_api_reply (&call, &rep);
}

/* ---- HTTP threads ------------------------------------------------------------- */

static void
s_remote (struct MHD_Connection *conn, char *out, size_t size)
{
    snprintf (out, size, "?");
    const union MHD_ConnectionInfo *ci =
        sym_MHD_get_connection_info (conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (!ci || !ci->client_addr)
        return;
    const struct sockaddr *sa = ci->client_addr;
    char ip[INET6_ADDRSTRLEN] = "?";
    if (sa->sa_family == AF_INET)
        inet_ntop (AF_INET, &((const struct sockaddr_in *) sa)->sin_addr, ip, sizeof ip);
    else if (sa->sa_family == AF_INET6)
        inet_ntop (AF_INET6, &((const struct sockaddr_in6 *) sa)->sin6_addr, ip, sizeof ip);
    snprintf (out, size, "%s", ip);
}

static MHD_Result_t
s_fail_r (shed_http_t *self, struct MHD_Connection *conn, const shed_http_req_t *r,
          const http_error_t *err)
{
    return r->compat ? shed_http__fail_compat (self, conn, err)
                     : shed_http__fail (self, conn, err, NULL);
}

/* Headers are in, the body not yet: authenticate, route, authorise, and
 * refuse a declared body over the limit before reading a byte of it. */
static MHD_Result_t
s_first (shed_http_t *self, struct MHD_Connection *conn, shed_http_req_t *r, const char *url,
         const char *method)
{
    http_error_t err;
    /* Shed's routes: matched first (their table is public, and GET
     * /api/info needs no token, as on Shed), errors in Shed's shape. */
    r->compat = http_compat_path (url);
    if (r->compat && http_compat_match (method, url, &r->cmatch, &err) != 0)
        return shed_http__fail_compat (self, conn, &err);
    if (r->compat && http_compat_role (&r->cmatch) == HTTP_ROLE_NONE)
        return MHD_YES;
    const char *auth =
        sym_MHD_lookup_connection_value (conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    http_role_t role = HTTP_ROLE_NONE;
    http_auth_t a = http_tokens_check (self->tokens, auth, &role, r->token_id);
    r->role = role;
    if (a == HTTP_AUTH_LIMITED) {
        shed_http__count (self, ST_RATE_LIMITED);
        if (shed_http__log_ok (self, ST_RATE_LIMITED))
            log_warn (S_COMP, "request refused: rate|remote=%s id=%s", r->remote, r->token_id);
        http_error_set (&err, 429, "rate_limited",
                        "token %s is over its request rate (http.rate_per_token); retry later",
                        r->token_id);
        return s_fail_r (self, conn, r, &err);
    }
    if (a != HTTP_AUTH_OK) {
        shed_http_stat_t s = a == HTTP_AUTH_MISSING     ? ST_AUTH_MISSING
                             : a == HTTP_AUTH_MALFORMED ? ST_AUTH_MALFORMED
                             : a == HTTP_AUTH_EXPIRED   ? ST_AUTH_EXPIRED
                                                        : ST_AUTH_UNKNOWN;
        shed_http__count (self, s);
        if (shed_http__log_ok (self, s))
            log_warn (S_COMP, "unauthenticated request refused|remote=%s method=%s reason=%s id=%s",
                      r->remote, method, s_stat_names[s] + 5, r->token_id[0] ? r->token_id : "-");
        http_error_set (&err, 401, "unauthorized",
                        a == HTTP_AUTH_MISSING ? "missing bearer token (Authorization: Bearer ...)"
                        : a == HTTP_AUTH_MALFORMED ? "malformed bearer token"
                        : a == HTTP_AUTH_EXPIRED   ? "expired token"
                                                   : "unknown or revoked token");
        return s_fail_r (self, conn, r, &err);
    }
    if (!r->compat && http_route_match (method, url, &r->match, &err) != 0)
        return s_fail_r (self, conn, r, &err);
    http_role_t need = r->compat ? http_compat_role (&r->cmatch) : http_route_role (r->match.route);
    const char *rname =
        r->compat ? http_compat_name (&r->cmatch) : http_route_name (r->match.route);
    if (role < need) {
        shed_http__count (self, ST_AUTH_FORBIDDEN);
        if (shed_http__log_ok (self, ST_AUTH_FORBIDDEN))
            log_warn (S_COMP, "request refused: role|remote=%s id=%s role=%s route=%s", r->remote,
                      r->token_id, http_role_name (role), rname);
        http_error_set (&err, 403, "forbidden", "token %s has role %s; %s needs %s", r->token_id,
                        http_role_name (role), rname, http_role_name (need));
        return s_fail_r (self, conn, r, &err);
    }
    const char *cl =
        sym_MHD_lookup_connection_value (conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (cl && strtoull (cl, NULL, 10) > self->max_body) {
        shed_http__count (self, ST_TOO_LARGE);
        http_error_set (&err, 413, "body_too_large", "request body over %zu bytes", self->max_body);
        return s_fail_r (self, conn, r, &err);
    }
    return MHD_YES;
}

static MHD_Result_t
s_on_http (void *cls, struct MHD_Connection *conn, const char *url, const char *method,
           const char *version, const char *upload_data, size_t *upload_data_size, void **con_cls)
{
    (void) version;
    shed_http_t *self = cls;
    shed_http_req_t *r = *con_cls;
    if (!r) {
        r = calloc (1, sizeof *r);
        if (!r)
            return MHD_NO;
        *con_cls = r;
        r->started_ms = zclock_mono ();
        s_remote (conn, r->remote, sizeof r->remote);
        const union MHD_ConnectionInfo *ci =
            sym_MHD_get_connection_info (conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
        r->conn = ci ? ci->socket_context : NULL;
        http_conns_busy (self->conns, r->conn, true);
        return s_first (self, conn, r, url, method);
    }
    if (*upload_data_size) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        /* A body dripped in to hold a thread: http.timeout_s closes a
         * silent connection, this one that sends a byte now and then. */
        if (zclock_mono () - r->started_ms > (int64_t) self->body_deadline_ms) {
            shed_http__count (self, ST_CONN_TIMEOUT);
            if (shed_http__log_ok (self, ST_CONN_TIMEOUT))
                log_warn (S_COMP, "request body too slow: connection closed|remote=%s", r->remote);
            return MHD_NO;
        }
        if (r->too_big || r->len + n > self->max_body) {
            /* Chunked or lying about its length: stop keeping it, answer
             * 413 at its end, and close at once if it goes on and on. */
            if (!r->too_big)
                shed_http__count (self, ST_TOO_LARGE);
            r->too_big = true;
            free (r->body);
            r->body = NULL;
            r->len = 0;
            r->dropped += n;
            return r->dropped > 4 * self->max_body ? MHD_NO : MHD_YES;
        }
        char *grown = realloc (r->body, r->len + n + 1);
        if (!grown)
            return MHD_NO;
        memcpy (grown + r->len, upload_data, n);
        r->body = grown;
        r->len += n;
        r->body[r->len] = '\0';
        return MHD_YES;
    }
    if (r->too_big) {
        http_error_t err;
        http_error_set (&err, 413, "body_too_large", "request body over %zu bytes", self->max_body);
        return s_fail_r (self, conn, r, &err);
    }
    return r->compat ? shed_http__serve_compat (self, conn, r) : shed_http__serve (self, conn, r);
}

static void
s_on_completed (void *cls, struct MHD_Connection *conn, void **con_cls,
                enum MHD_RequestTerminationCode toe)
{
    (void) conn;
    shed_http_t *self = cls;
    if (toe == MHD_REQUEST_TERMINATED_TIMEOUT_REACHED)
        shed_http__count (self, ST_CONN_TIMEOUT);
    shed_http_req_t *r = *con_cls;
    if (r) {
        http_conns_busy (self->conns, r->conn, false);
        free (r->body);
        free (r);
        *con_cls = NULL;
    }
}

static void
s_on_connection (void *cls, struct MHD_Connection *conn, void **socket_context,
                 enum MHD_ConnectionNotificationCode toe)
{
    shed_http_t *self = cls;
    if (toe != MHD_CONNECTION_NOTIFY_STARTED) {
        /* libmicrohttpd's timeout counts from the last bytes received;
         * ours from the accept or the last request's end: a little less. */
        if (http_conns_close (self->conns, *socket_context, self->idle_ms - 100))
            shed_http__count (self, ST_CONN_TIMEOUT);
        *socket_context = NULL;
        atomic_fetch_sub (&self->stats[ST_CONNS], 1);
        return;
    }
    atomic_fetch_add (&self->stats[ST_CONNS], 1);
    const union MHD_ConnectionInfo *ci =
        sym_MHD_get_connection_info (conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    bool evicted = false;
    *socket_context = ci ? http_conns_open (self->conns, (int) ci->connect_fd, &evicted) : NULL;
    if (evicted) {
        shed_http__count (self, ST_CONN_EVICTED);
        if (shed_http__log_ok (self, ST_CONN_EVICTED))
            log_warn (S_COMP, "http.max_connections reached: the longest idle connection closed");
    }
}

static void
s_mhd_log (void *cls, const char *fmt, va_list ap)
{
    shed_http_t *self = cls;
    char text[256];
    vsnprintf (text, sizeof text, fmt, ap);
    text[strcspn (text, "\n")] = '\0';
    /* Connections over the limits are closed at accept; MHD only says so
     * here. Count them, and keep a flood from flooding the log. */
    shed_http_stat_t s = strstr (text, "limit") ? ST_CONN_REFUSED : ST_COUNT;
    if (s == ST_CONN_REFUSED)
        shed_http__count (self, s);
    /* An event stream whose client left ends this way (http_events.c):
     * routine, not worth a warning per stream. */
    if (strstr (text, "application error generating response")) {
        log_debug (S_COMP, "libmicrohttpd: %s", text);
        return;
    }
    if (s == ST_COUNT || shed_http__log_ok (self, s))
        log_warn (S_COMP, "libmicrohttpd: %s", text);
}

/* A PEM file; the key must not be readable by others. */
static char *
s_read_pem (const char *key, const char *path, bool secret, size_t *len, char *err, size_t errlen)
{
    struct stat st;
    if (stat (path, &st) != 0) {
        snprintf (err, errlen, "%s %s: %s", key, path, strerror (errno));
        return NULL;
    }
    if (secret && (st.st_mode & 077)) {
        snprintf (err, errlen, "%s %s: readable by others (mode %03o): chmod 600", key, path,
                  (unsigned) (st.st_mode & 0777));
        return NULL;
    }
    char *text = shed_read_file (path, S_PEM_MAX, len);
    if (!text)
        snprintf (err, errlen, "%s %s: %s", key, path, strerror (errno));
    return text;
}

static int
s_start (shed_http_t *self, const shed_config_t *cfg, char *err, size_t errlen)
{
    /* libmicrohttpd is loaded on first use (common/mhd_dl.h). */
    char dlerr[200];
    if (!mhd_dl_open (dlerr, sizeof dlerr)) {
        snprintf (err, errlen, "http: %s", dlerr);
        return -1;
    }
    bool tls = cfg->http.tls_cert[0] != '\0';
    if (tls && !sym_MHD_is_feature_supported (MHD_FEATURE_TLS)) {
        snprintf (err, errlen, "http.tls_cert: this libmicrohttpd was built without TLS");
        return -1;
    }
    size_t cert_len = 0;
    if (tls) {
        self->cert =
            s_read_pem ("http.tls_cert", cfg->http.tls_cert, false, &cert_len, err, errlen);
        if (!self->cert)
            return -1;
        self->key =
            s_read_pem ("http.tls_key", cfg->http.tls_key, true, &self->key_len, err, errlen);
        if (!self->key)
            return -1;
    }
    bool v6 = false;
    /* A deep accept queue: a burst of connections (a crowd over its
     * limits) is drained by the listener, which closes the excess at once;
     * a short queue would drop the SYNs of everyone, well-behaved clients
     * included, who would then wait a second for their retransmission
     * (integration/test_http_limits.sh found it). */
    int fd = shed_tcp_listen ("http.listen", cfg->http.listen, S_LISTEN_BACKLOG, self->address,
                              sizeof self->address, &v6, err, errlen);
    if (fd < 0)
        return -1;
    /* poll(), not select(): a node with many sheds holds over 1,024
     * descriptors (agent sockets and more), and MHD's select() refuses
     * every connection whose descriptor is past FD_SETSIZE (bench/api.sh
     * with 1,000 sheds found it). */
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD
                     | (sym_MHD_is_feature_supported (MHD_FEATURE_POLL) ? MHD_USE_POLL : 0)
                     | MHD_USE_ERROR_LOG | (v6 ? MHD_USE_IPv6 : 0) | (tls ? MHD_USE_TLS : 0);
    struct MHD_OptionItem tls_opts[] = {
        { MHD_OPTION_HTTPS_MEM_CERT, 0, self->cert },
        { MHD_OPTION_HTTPS_MEM_KEY, 0, self->key },
        { MHD_OPTION_END, 0, NULL },
    };
    struct MHD_OptionItem no_opts[] = { { MHD_OPTION_END, 0, NULL } };
    /* The logger first: MHD complains (on stderr) about any option before it.
     * CONNECTION_TIMEOUT closes idle and slow connections, TLS handshakes
     * that never finish included; the limits bound the threads a crowd of
     * clients can hold. */
    self->mhd = sym_MHD_start_daemon (
        flags, 0, NULL, NULL, s_on_http, self, MHD_OPTION_EXTERNAL_LOGGER, s_mhd_log, self,
        MHD_OPTION_LISTEN_SOCKET, (MHD_socket) fd, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned) cfg->http.max_connections, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
        (unsigned) cfg->http.per_client_connections, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned) cfg->http.timeout_s, MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t) 32768,
        MHD_OPTION_NOTIFY_COMPLETED, s_on_completed, self, MHD_OPTION_NOTIFY_CONNECTION,
        s_on_connection, self, MHD_OPTION_ARRAY, tls ? tls_opts : no_opts, MHD_OPTION_END);
    if (!self->mhd) {
        snprintf (err, errlen, "http.listen %s: libmicrohttpd did not start%s", cfg->http.listen,
                  tls ? " (are http.tls_cert and http.tls_key a matching PEM pair?)" : "");
        close (fd);
        return -1;
    }
    return 0;
}

/* ---- lifecycle ----------------------------------------------------------------- */

shed_http_t *
shed_http_new (const shed_config_t *cfg, shed_api_server_t *api, char *err, size_t errlen)
{
    shed_http_t *self = calloc (1, sizeof *self);
    if (!self) {
        snprintf (err, errlen, "out of memory");
        return NULL;
    }
    self->api = api;
    self->pool = shed_api_pool_new (cfg->api_endpoint, S_POOL_IDLE);
    self->events = http_events_new (self->pool, cfg->http.max_streams_per_token, &self->stopping);
    self->watch = http_watch_new ();
    self->conns = http_conns_new ((unsigned) cfg->http.max_connections);
    if (!self->pool || !self->events || !self->watch || !self->conns) {
        snprintf (err, errlen, "out of memory");
        http_events_destroy (&self->events);
        http_watch_destroy (&self->watch);
        http_conns_destroy (&self->conns);
        shed_api_pool_destroy (&self->pool);
        free (self);
        return NULL;
    }
    self->max_body = cfg->http.max_body_bytes;
    self->body_deadline_ms = (uint64_t) cfg->http.timeout_s * 3000;
    self->idle_ms = (int64_t) cfg->http.timeout_s * 1000;
    char path[PATH_MAX + 16];
    snprintf (path, sizeof path, "%s/api_tokens", cfg->data_dir);
    self->tokens = http_tokens_open (path, err, errlen);
    if (!self->tokens) {
        http_events_destroy (&self->events);
        http_watch_destroy (&self->watch);
        http_conns_destroy (&self->conns);
        shed_api_pool_destroy (&self->pool);
        free (self);
        return NULL;
    }
    http_tokens_set_rate (self->tokens, cfg->http.rate_per_token, cfg->http.rate_burst);
    shed_api_server_on (api, API_TOKEN_CREATE_REQ, s_api_token_create, self);
    shed_api_server_on (api, API_TOKEN_LIST_REQ, s_api_token_list, self);
    shed_api_server_on (api, API_TOKEN_REVOKE_REQ, s_api_token_revoke, self);
    if (cfg->http.listen[0] && s_start (self, cfg, err, errlen) != 0) {
        shed_http_destroy (&self);
        return NULL;
    }
    return self;
}

void
shed_http_destroy (shed_http_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    shed_http_t *self = *self_p;
    self->stopping = 1;
    if (self->mhd)
        sym_MHD_stop_daemon (self->mhd);
    if (self->api) {
        shed_api_server_on (self->api, API_TOKEN_CREATE_REQ, NULL, NULL);
        shed_api_server_on (self->api, API_TOKEN_LIST_REQ, NULL, NULL);
        shed_api_server_on (self->api, API_TOKEN_REVOKE_REQ, NULL, NULL);
    }
    http_tokens_destroy (&self->tokens);
    http_events_destroy (&self->events);
    http_watch_destroy (&self->watch);
    shed_api_pool_destroy (&self->pool); /* after MHD: no thread uses it now */
    http_conns_destroy (&self->conns);
    free (self->cert);
    if (self->key)
        sodium_memzero (self->key, self->key_len);
    free (self->key);
    free (self);
    *self_p = NULL;
}

http_tokens_t *
shed_http_tokens (shed_http_t *self)
{
    return self->tokens;
}

const char *
shed_http_address (shed_http_t *self)
{
    return self->address;
}

char *
shed_http_stats (shed_http_t *self)
{
    char *out = malloc (2048);
    if (!out)
        return NULL;
    size_t len = 0;
    for (int i = 0; i < ST_COUNT; i++)
        len += (size_t) snprintf (out + len, 2048 - len, "%s=%llu ", s_stat_names[i],
                                  (unsigned long long) atomic_load (&self->stats[i]));
    len +=
        (size_t) snprintf (out + len, 2048 - len, "tokens=%zu ", http_tokens_count (self->tokens));
    if (len < 2048)
        http_events_stats (self->events, out + len, 2048 - len);
    len += strlen (out + len);
    if (len + 1 < 2048) {
        out[len++] = ' ';
        http_watch_stats (self->watch, out + len, 2048 - len);
    }
    return out;
}
