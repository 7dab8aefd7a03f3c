/* agent_check.c - see agent_check.h. */
#include "node/events/agent_check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_SERVICES_DEFAULT 64 /* agent_host's services_max default */

void
agent_check_shed_init (agent_check_shed_t *s, size_t services_max)
{
    memset (s, 0, sizeof *s);
    s->max = services_max ? services_max : S_SERVICES_DEFAULT;
}

void
agent_check_shed_set_max (agent_check_shed_t *s, size_t services_max)
{
    s->max = services_max ? services_max : S_SERVICES_DEFAULT;
}

void
agent_check_shed_free (agent_check_shed_t *s)
{
    free (s->ids);
    s->ids = NULL;
    s->n = s->cap = 0;
}

/* The catalog id of shed `shed`'s service `name`: "<shed>.<name>", whole.
 * Shed names have no dot, so the first dot splits the id back into the
 * pair: two different pairs never share an id, and a shed can name only
 * ids that start with its own name. A pair longer than a record name
 * (REC_NAME_MAX) has no such id: -1, and the caller refuses it (cutting
 * either part is what let sheds collide: docs/agent.md, section 5). */
int
agent_check_service_id (const char *shed, const char *name, char *id, size_t cap)
{
    size_t sl = strlen (shed), nl = strlen (name);
    if (sl == 0 || nl == 0 || sl + 1 + nl > REC_NAME_MAX || sl + 1 + nl >= cap
        || memchr (shed, '.', sl))
        return -1;
    memcpy (id, shed, sl);
    id[sl] = '.';
    memcpy (id + sl + 1, name, nl);
    id[sl + 1 + nl] = '\0';
    return 0;
}

bool
agent_check_held (agent_check_shed_t *s, const char *id, bool forget)
{
    for (size_t i = 0; i < s->n; i++)
        if (!strcmp (s->ids[i], id)) {
            if (forget) {
                /* Order is kept: the node deregisters in registration
                 * order when the shed goes. */
                memmove (&s->ids[i], &s->ids[i + 1], (s->n - i - 1) * sizeof s->ids[0]);
                s->n--;
            }
            return true;
        }
    return false;
}

int
agent_check_hold (agent_check_shed_t *s, const char *id)
{
    /* Held again: moved to the end, as the node's list always did. */
    agent_check_held (s, id, true);
    if (s->n >= s->max || strlen (id) > REC_NAME_MAX)
        return -1;
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 8;
        if (cap > s->max)
            cap = s->max;
        void *ids = realloc (s->ids, cap * sizeof s->ids[0]);
        if (!ids)
            return -1;
        s->ids = ids;
        s->cap = cap;
    }
    snprintf (s->ids[s->n++], sizeof s->ids[0], "%s", id);
    return 0;
}

static int
s_refuse (agent_check_out_t *out, agent_bad_t bad, bool count, bool warn, const char *reason)
{
    out->bad = bad;
    out->count = count;
    out->warn = warn;
    snprintf (out->reason, sizeof out->reason, "%s", reason);
    return -1;
}

static int
s_service (agent_check_shed_t *s, const char *shed, const agent_msg_t *msg, agent_check_out_t *out)
{
    const char *name = NULL;
    switch (msg->hdr.type) {
    case AGENT_SERVICE_REGISTER:
        name = msg->u.agent_service_register.name;
        out->action = AGENT_CHECK_SERVICE_REGISTER;
        break;
    case AGENT_SERVICE_DEREGISTER:
        name = msg->u.agent_service_deregister.name;
        out->action = AGENT_CHECK_SERVICE_DEREGISTER;
        break;
    default:
        name = msg->u.agent_service_health.name;
        out->action = AGENT_CHECK_SERVICE_HEALTH;
        break;
    }
    /* The decoder checked the name; checked again, it costs nothing and
     * keeps this whole for any caller. */
    if (!agent_msg_service_name_ok (name))
        return s_refuse (out, AGENT_BAD_DECODE, true, false, "bad service name");
    if (agent_check_service_id (shed, name, out->id, sizeof out->id) != 0) {
        /* The host bounds how many names a shed has, so a warning for
         * each REGISTER is at most services_max per shed and connection. */
        char why[sizeof out->reason];
        snprintf (why, sizeof why,
                  "shed and service names together over %d bytes: no "
                  "catalog id",
                  REC_NAME_MAX - 1);
        return s_refuse (out, AGENT_BAD_SERVICE_ID, true, msg->hdr.type == AGENT_SERVICE_REGISTER,
                         why);
    }
    switch (msg->hdr.type) {
    case AGENT_SERVICE_REGISTER: {
        const agent_service_register_t *r = &msg->u.agent_service_register;
        if (r->port == 0 || r->port > 65535)
            return s_refuse (out, AGENT_BAD_DECODE, true, false, "bad port");
        if (!agent_check_held (s, out->id, false) && s->n >= s->max)
            return s_refuse (out, AGENT_BAD_SERVICE_CAP, true, true, "over the shed's services");
        rec_service_t *svc = &out->svc;
        snprintf (svc->name, sizeof svc->name, "%s", r->name);
        snprintf (svc->id, sizeof svc->id, "%s", out->id);
        snprintf (svc->shed, sizeof svc->shed, "%s", shed);
        svc->port = r->port;
        snprintf (svc->protocol, sizeof svc->protocol, "%.7s", r->protocol);
        svc->tags.n = r->tags.n;
        svc->tags.items = r->tags.items;
        svc->health = REC_HEALTH_PASSING;
        /* The agent reports health itself (SERVICE_HEALTH). */
        svc->check = REC_CHECK_NONE;
        return 0;
    }
    case AGENT_SERVICE_DEREGISTER:
        /* Only what this shed registered (the id starts with its own
             * name anyway; this also keeps refused names off the bus). */
        if (!agent_check_held (s, out->id, true)) {
            out->not_held = true;
            return s_refuse (out, AGENT_BAD_SERVICE_CAP, false, false, "not registered");
        }
        return 0;
    default: {
        const agent_service_health_t *h = &msg->u.agent_service_health;
        if (!agent_check_held (s, out->id, false)) {
            out->not_held = true;
            return s_refuse (out, AGENT_BAD_SERVICE_CAP, false, false, "not registered");
        }
        /* agent: 1 passing 2 warning 3 critical; records: 0 1 2 */
        out->health = h->status >= 1 && h->status <= 3 ? (int) h->status - 1 : REC_HEALTH_CRITICAL;
        out->output = h->output;
        return 0;
    }
    }
}

int
agent_check_msg (agent_check_shed_t *s, const char *shed, const agent_msg_t *msg,
                 agent_check_out_t *out)
{
    memset (out, 0, sizeof *out);
    if (!shed || !agent_msg_name_ok (shed))
        return s_refuse (out, AGENT_BAD_STATE, false, true, "bad shed name");
    if (!(agent_msg_direction (msg->hdr.type) & AGENT_DIR_TO_HOST))
        return s_refuse (out, AGENT_BAD_DIRECTION, true, false, "not an agent message");
    switch (msg->hdr.type) {
    case AGENT_HELLO:
        out->action = AGENT_CHECK_HELLO;
        /* Logged through common/log.c, which makes argument text
             * harmless; the field is bounded by the protocol. */
        out->version = msg->u.agent_hello.agent_version;
        return 0;
    case AGENT_LOG:
        if (!agent_msg_stream_name_ok (msg->u.agent_log.stream))
            return s_refuse (out, AGENT_BAD_DECODE, true, false, "bad stream name");
        out->action = AGENT_CHECK_LOG;
        out->log = &msg->u.agent_log;
        return 0;
    case AGENT_PROC_EVENT:
        if (msg->u.agent_proc_event.kind == AGENT_PROC_STEP_DONE) {
            out->action = AGENT_CHECK_STEP_DONE;
            out->run = msg->u.agent_proc_event.run;
            out->step = msg->u.agent_proc_event.step;
            out->result = &msg->u.agent_proc_event;
        }
        return 0;
    case AGENT_PROVISION_DONE:
        out->action = AGENT_CHECK_RUN_DONE;
        out->run = msg->u.agent_provision_done.run;
        out->done = &msg->u.agent_provision_done;
        return 0;
    case AGENT_SERVICE_REGISTER:
    case AGENT_SERVICE_DEREGISTER:
    case AGENT_SERVICE_HEALTH:
        return s_service (s, shed, msg, out);
    default:
        /* METRICS, DROPPED, PROVISION_OUTPUT...: the host keeps and
             * publishes them; nothing for the node. */
        return 0;
    }
}
