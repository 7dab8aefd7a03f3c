/* event_msg.c - see event_msg.h. The codec itself is generated from the
 * tables; this file adds the one-frame layout and the topic rules. */
#include "bridges/event_msg.h"

#include <string.h>
#include <sys/time.h>

static int s_validate (uint16_t type, const void *body, const char **why);

WIRE_DEFINE_PROTO (event, EVENT_MESSAGES, EVENT_VERSION_MIN, EVENT_VERSION, s_validate)
WIRE_DEFINE_PROTO (evpay, EVPAY_MESSAGES, EVENT_VERSION_MIN, EVENT_VERSION, NULL)

static bool
s_printable (const char *s, size_t max)
{
    size_t n = strnlen (s, max + 1);
    if (n == 0 || n > max)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char) s [i] < 0x21 || (unsigned char) s [i] > 0x7e)
            return false;
    return true;
}

bool
event_topic_valid (const char *topic)
{
    return topic && topic [0] != EVENT_CTL_CHAR && s_printable (topic, EVENT_TOPIC_MAX);
}

bool
event_node_valid (const char *node)
{
    if (!node)
        return false;
    size_t n = strnlen (node, EVENT_NODE_MAX + 1);
    if (n == 0 || n > EVENT_NODE_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = node [i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
              || c == '-' || c == '_'))
            return false;
    }
    return true;
}

bool
event_topic_is_state (const char *topic)
{
    static const char *const prefixes [] = { "metrics.", "shed.", "member.", "service." };
    for (size_t i = 0; i < sizeof prefixes / sizeof prefixes [0]; i++)
        if (strncmp (topic, prefixes [i], strlen (prefixes [i])) == 0)
            return true;
    return false;
}

int64_t
event_now_us (void)
{
    struct timeval tv;
    gettimeofday (&tv, NULL);
    return (int64_t) tv.tv_sec * 1000000 + tv.tv_usec;
}

/* Semantic checks run by the generic codec after decode and before encode,
 * so we never emit, nor accept, an event a consumer could not attribute. */
static int
s_validate (uint16_t type, const void *body, const char **why)
{
    if (type == EVENT_EVENT) {
        const event_event_t *ev = (const event_event_t *) body;
        if (!event_node_valid (ev->origin)) {
            *why = "origin";
            return -1;
        }
        if (ev->seq == 0) {
            *why = "seq";
            return -1;
        }
        if (ev->topic [0] && !event_topic_valid (ev->topic)) {
            *why = "topic";
            return -1;
        }
        if (ev->kind [0] && !s_printable (ev->kind, EVENT_KIND_MAX)) {
            *why = "kind";
            return -1;
        }
    }
    return 0;
}

long
event_frame_encode (const char *route, const event_msg_t *msg, uint8_t *buf, size_t cap)
{
    size_t rlen = route ? strnlen (route, EVENT_TOPIC_MAX + 1) : 0;
    if (rlen == 0 || rlen > EVENT_TOPIC_MAX || memchr (route, 0, rlen))
        return WIRE_ERR_INVALID;
    if (cap < rlen + 1)
        return WIRE_ERR_TOO_BIG;
    memcpy (buf, route, rlen);
    buf [rlen] = 0;
    size_t blen = 0;
    int rc = wire_encode_into (&event_proto, msg, buf + rlen + 1, cap - rlen - 1, &blen);
    if (rc)
        return rc;
    return (long) (rlen + 1 + blen);
}

int
event_frame_split (const uint8_t *frame, size_t len, const char **route,
                   const uint8_t **body, size_t *body_len)
{
    size_t scan = len < EVENT_TOPIC_MAX + 1 ? len : EVENT_TOPIC_MAX + 1;
    const uint8_t *nul = frame ? memchr (frame, 0, scan) : NULL;
    if (!nul || nul == frame)
        return -1;
    *route = (const char *) frame;
    *body = nul + 1;
    *body_len = len - (size_t) (nul + 1 - frame);
    return 0;
}

int
event_frame_decode (const uint8_t *frame, size_t len, const char **route, event_msg_t *msg)
{
    const uint8_t *body;
    size_t body_len;
    if (event_frame_split (frame, len, route, &body, &body_len)) {
        memset (msg, 0, sizeof *msg);
        return WIRE_ERR_MALFORMED;
    }
    int rc = wire_decode (&event_proto, body, body_len, msg, NULL);
    if (rc)
        return rc;
    if (msg->hdr.type == EVENT_EVENT && (*route) [0] != EVENT_CTL_CHAR) {
        /* A live event: its route is its topic, which must be valid and
         * must not disagree with an explicit topic field. */
        event_event_t *ev = &msg->u.event_event;
        if (!event_topic_valid (*route)
        ||  (ev->topic [0] && strcmp (ev->topic, *route) != 0)) {
            wire_msg_free (&event_proto, msg);
            return WIRE_ERR_INVALID;
        }
        strcpy (ev->topic, *route);
    }
    return 0;
}
