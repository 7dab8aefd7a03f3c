/*
 * zap.h - the process-wide ZAP handler: which CURVE keys may connect.
 *
 * libzmq asks a ZAP handler (RFC 27, a REP socket bound at
 * inproc://zeromq.zap.01 in the same context) whether to admit each
 * connection to a socket with a ZAP domain. There can be only one per
 * context, so one zap_t serves every server socket of the process (node
 * links, the event bus...); each socket picks a domain and each domain has
 * its own allow-list of X25519 public keys, updated as members come and go.
 *
 * Decisions: mechanism CURVE and a key on the domain's list -> 200, with the
 * key's Z85 text as User-Id (readable on every message through the "User-Id"
 * metadata property, which lets a server drop messages of a key denied
 * after the connection was made). Anything else -> 400: unknown domain,
 * unknown key, NULL or PLAIN mechanism, malformed request.
 *
 * PITFALL: libzmq admits every CURVE client if no ZAP handler answers,
 * unless the socket sets ZMQ_ZAP_ENFORCE_DOMAIN; czmq 4.2.1's
 * zsock_set_zap_enforce_domain does nothing. Use zap_secure_server() on
 * every CURVE server socket: it sets the keys, the domain and the
 * enforcement with zmq_setsockopt, so a missing handler fails closed.
 *
 * Thread-safe: the allow-lists sit behind a mutex; the handler runs in its
 * own czmq actor.
 */
#ifndef SHED_ZAP_H
#define SHED_ZAP_H

#include <czmq.h>
#include <stdbool.h>
#include <stdint.h>

#define ZAP_ENDPOINT   "inproc://zeromq.zap.01"
#define ZAP_DOMAIN_MAX 64
#define ZAP_KEY_BYTES  32

typedef struct _zap_t zap_t;

/* Start the handler. NULL (and a log line) if another handler is bound in
 * this process already. */
zap_t *zap_new (void);
/* Stop the handler and free. NULL-safe. */
void zap_destroy (zap_t **self_p);

/* Add / remove a key for a domain. Return 0, -1 on a bad domain. */
int zap_allow (zap_t *self, const char *domain, const uint8_t key[ZAP_KEY_BYTES]);
int zap_deny (zap_t *self, const char *domain, const uint8_t key[ZAP_KEY_BYTES]);
/* Is this key on the domain's list now? */
bool zap_allowed (zap_t *self, const char *domain, const uint8_t key[ZAP_KEY_BYTES]);
/* Same, for a key in Z85 text (a message's "User-Id"). */
bool zap_allowed_z85 (zap_t *self, const char *domain, const char *z85);

/* The decision the handler makes for one request (exposed for tests).
 * Returns 200 or 400 and, on 200, the Z85 key in user_id. Counts it. */
int zap_decide (zap_t *self, const char *domain, const char *mechanism, const uint8_t *cred,
                size_t cred_len, char user_id[41]);

/* Requests admitted / refused for a domain so far. */
void zap_counts (zap_t *self, const char *domain, uint64_t *admitted, uint64_t *refused);

/* Make `sock` a CURVE server with these keys, in ZAP `domain`, with
 * ZMQ_ZAP_ENFORCE_DOMAIN set (see PITFALL). Call before bind. Returns 0 or
 * -1 (errno from libzmq). */
int zap_secure_server (zsock_t *sock, const uint8_t public_key[ZAP_KEY_BYTES],
                       const uint8_t secret_key[ZAP_KEY_BYTES], const char *domain);

/* The client side: a socket that only completes a handshake with the holder
 * of `server_key`, presenting our key pair. Call before connecting. Returns
 * 0, or -1 (errno from libzmq). */
int zap_secure_client (zsock_t *sock, const uint8_t server_key[ZAP_KEY_BYTES],
                       const uint8_t public_key[ZAP_KEY_BYTES],
                       const uint8_t secret_key[ZAP_KEY_BYTES]);

/* Handshake monitor of a CURVE client socket. libzmq 4.3 never retries a
 * handshake the server refused (a ZAP denial is a protocol error that ends
 * the session), so every dialler watches its handshakes and dials again
 * after a refusal. Returns a PAIR socket that becomes readable once per
 * handshake outcome, or NULL if libzmq cannot monitor `sock`. The caller
 * owns it and frees it with zap_monitor_destroy. */
zsock_t *zap_monitor_new (zsock_t *sock);

/* Stop monitoring `sock` and destroy the monitor (NULL-safe). */
void zap_monitor_destroy (zsock_t *sock, zsock_t **monitor_p);

/* Read one outcome from a monitor: 1 = handshake succeeded, 0 = refused or
 * failed (`event`, if not NULL, gets libzmq's event code), -1 = nothing. */
int zap_monitor_recv (zsock_t *monitor, uint16_t *event);

#endif
