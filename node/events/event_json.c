/* event_json.c - see event_json.h. */
#include "node/events/event_json.h"

#include "agent/proto/agent_proto.h"
#include "bridges/event_msg.h"

#include <string.h>
#include <time.h>

const char *
shed_event_proc_kind (uint64_t k)
{
    static const char *const names[] = { "?", "start", "exit", "restart", "giveup", "step_done" };
    return k < sizeof names / sizeof names[0] ? names[k] : "?";
}

static void
s_json_agent (json_t *j, const agent_msg_t *m)
{
    switch (m->hdr.type) {
    case AGENT_METRICS: {
        const agent_metrics_t *x = &m->u.agent_metrics;
        /* clang-format off */
            json_key (j, "cpu_pct");   json_f64 (j, x->cpu_pct);
            json_key (j, "cpu_count"); json_u64 (j, x->cpu_count);
            json_key (j, "mem_used");  json_u64 (j, x->mem_used);
            json_key (j, "mem_total"); json_u64 (j, x->mem_total);
            json_key (j, "load1");     json_f64 (j, x->load1);
            json_key (j, "load5");     json_f64 (j, x->load5);
            json_key (j, "load15");    json_f64 (j, x->load15);
            json_key (j, "procs");     json_u64 (j, x->procs);
            json_key (j, "net_rx");    json_u64 (j, x->net_rx);
            json_key (j, "net_tx");    json_u64 (j, x->net_tx);
            json_key (j, "uptime_s");  json_u64 (j, x->uptime_s);
        /* clang-format on */
        json_key (j, "disks");
        json_arr_begin (j);
        const agent_disk_t *d = x->disks.items;
        for (size_t i = 0; i < x->disks.n; i++) {
            json_obj_begin (j);
            /* clang-format off */
                json_key (j, "mount"); json_str (j, d[i].mount);
                json_key (j, "used");  json_u64 (j, d[i].used);
                json_key (j, "total"); json_u64 (j, d[i].total);
            /* clang-format on */
            json_obj_end (j);
        }
        json_arr_end (j);
        break;
    }
    case AGENT_PROC_EVENT: {
        const agent_proc_event_t *p = &m->u.agent_proc_event;
        /* clang-format off */
            json_key (j, "event");       json_str (j, shed_event_proc_kind (p->kind));
            json_key (j, "name");        json_str (j, p->name);
            json_key (j, "pid");         json_u64 (j, p->pid);
            json_key (j, "exit_code");   json_i64 (j, p->exit_code);
            json_key (j, "signal");      json_u64 (j, p->signal);
            json_key (j, "crashed");     json_bool (j, p->crashed);
            json_key (j, "restarts");    json_u64 (j, p->restarts);
            json_key (j, "run");         json_u64 (j, p->run);
            json_key (j, "step");        json_u64 (j, p->step);
            json_key (j, "duration_ms"); json_u64 (j, p->duration_ms);
        /* clang-format on */
        break;
    }
    case AGENT_LOG:
        /* clang-format off */
            json_key (j, "stream");  json_str (j, m->u.agent_log.stream);
            json_key (j, "seq");     json_u64 (j, m->u.agent_log.seq);
            json_key (j, "ts_ms");   json_u64 (j, m->u.agent_log.ts_ms);
            json_key (j, "text");    json_str (j, m->u.agent_log.text);
            json_key (j, "partial"); json_bool (j, m->u.agent_log.partial);
        /* clang-format on */
        break;
    case AGENT_HELLO:
        /* clang-format off */
            json_key (j, "agent_version"); json_str (j, m->u.agent_hello.agent_version);
            json_key (j, "hostname");      json_str (j, m->u.agent_hello.hostname);
            json_key (j, "pid");           json_u64 (j, m->u.agent_hello.pid);
        /* clang-format on */
        break;
    case AGENT_CLOSE:
        /* clang-format off */
            json_key (j, "code");   json_u64 (j, m->u.agent_close.code);
            json_key (j, "reason"); json_str (j, m->u.agent_close.reason);
        /* clang-format on */
        break;
    case AGENT_DROPPED:
        /* clang-format off */
            json_key (j, "count"); json_u64 (j, m->u.agent_dropped.count);
            json_key (j, "total"); json_u64 (j, m->u.agent_dropped.total);
        /* clang-format on */
        break;
    case AGENT_SERVICE_REGISTER:
        /* clang-format off */
            json_key (j, "service"); json_str (j, m->u.agent_service_register.name);
            json_key (j, "port");    json_u64 (j, m->u.agent_service_register.port);
        /* clang-format on */
        break;
    case AGENT_SERVICE_DEREGISTER:
        json_key (j, "service");
        json_str (j, m->u.agent_service_deregister.name);
        break;
    case AGENT_SERVICE_HEALTH:
        /* clang-format off */
            json_key (j, "service"); json_str (j, m->u.agent_service_health.name);
            json_key (j, "status");  json_u64 (j, m->u.agent_service_health.status);
            json_key (j, "output");  json_str (j, m->u.agent_service_health.output);
        /* clang-format on */
        break;
    case AGENT_PROVISION_OUTPUT: {
        const agent_provision_output_t *o = &m->u.agent_provision_output;
        char text[AGENT_OUTPUT_CHUNK_MAX + 1];
        size_t n = o->data.len < AGENT_OUTPUT_CHUNK_MAX ? o->data.len : AGENT_OUTPUT_CHUNK_MAX;
        memcpy (text, o->data.data, n);
        text[n] = '\0';
        for (size_t i = 0; i < n; i++)
            if (!text[i])
                text[i] = '?';
        /* clang-format off */
        json_key (j, "run");  json_u64 (j, o->run);
        json_key (j, "step"); json_u64 (j, o->step);
        json_key (j, "fd");   json_u64 (j, o->fd);
        json_key (j, "data"); json_str (j, text);
        /* clang-format on */
        break;
    }
    case AGENT_PROVISION_DONE: {
        const agent_provision_done_t *d = &m->u.agent_provision_done;
        /* clang-format off */
            json_key (j, "run");         json_u64 (j, d->run);
            json_key (j, "ok");          json_bool (j, d->ok);
            json_key (j, "steps_run");   json_u64 (j, d->steps_run);
            json_key (j, "failed_step"); json_i64 (j, d->failed_step);
            json_key (j, "error");       json_str (j, d->error);
        /* clang-format on */
        break;
    }
    default:
        json_key (j, "type");
        json_u64 (j, m->hdr.type);
        break;
    }
}

void
shed_event_json_payload (json_t *j, const char *kind, const uint8_t *payload, size_t size)
{
    if (!strncmp (kind, "agent.", 6)) {
        agent_msg_t m;
        if (wire_decode (&agent_proto, payload, size, &m, NULL) == WIRE_OK) {
            json_obj_begin (j);
            s_json_agent (j, &m);
            json_obj_end (j);
            wire_msg_free (&agent_proto, &m);
            return;
        }
    }
    else if (!strcmp (kind, EVPAY_KIND_MEMBER) || !strcmp (kind, EVPAY_KIND_RECORD)
             || !strcmp (kind, EVPAY_KIND_PROGRESS)) {
        evpay_msg_t m;
        if (wire_decode (&evpay_proto, payload, size, &m, NULL) == WIRE_OK) {
            json_obj_begin (j);
            if (m.hdr.type == EVPAY_MEMBER) {
                const evpay_member_t *x = &m.u.evpay_member;
                /* clang-format off */
                json_key (j, "node");     json_str (j, x->node);
                json_key (j, "change");   json_str (j, x->change);
                json_key (j, "observer"); json_str (j, x->observer);
                json_key (j, "addr");     json_str (j, x->addr);
                json_key (j, "port");     json_u64 (j, x->port);
                json_key (j, "inc");      json_u64 (j, x->inc);
                json_key (j, "reason");   json_str (j, x->reason);
                /* clang-format on */
                json_key (j, "tags");
                json_tags (j, &x->tags);
            }
            else if (m.hdr.type == EVPAY_RECORD) {
                const evpay_record_t *x = &m.u.evpay_record;
                /* clang-format off */
                json_key (j, "change");  json_str (j, x->change);
                json_key (j, "origin");  json_str (j, x->origin);
                json_key (j, "kind");    json_str (j, x->rkind);
                json_key (j, "key");     json_str (j, x->key);
                json_key (j, "version"); json_u64 (j, x->version);
                json_key (j, "status");  json_str (j, x->status);
                json_key (j, "size");    json_u64 (j, x->value.len);
                /* clang-format on */
            }
            else if (m.hdr.type == EVPAY_PROGRESS) {
                const evpay_progress_t *x = &m.u.evpay_progress;
                /* clang-format off */
                json_key (j, "what");  json_str (j, x->what);
                json_key (j, "name");  json_str (j, x->name);
                json_key (j, "shed");  json_str (j, x->shed);
                json_key (j, "peer");  json_str (j, x->peer);
                json_key (j, "done");  json_u64 (j, x->done);
                json_key (j, "total"); json_u64 (j, x->total);
                json_key (j, "state"); json_str (j, x->state);
                json_key (j, "why");   json_str (j, x->why);
                /* clang-format on */
            }
            json_obj_end (j);
            wire_msg_free (&evpay_proto, &m);
            return;
        }
    }
    json_obj_begin (j);
    json_key (j, "size");
    json_u64 (j, size);
    json_obj_end (j);
}

void
shed_event_json (json_t *j, const bus_event_t *ev)
{
    char when[40];
    time_t t = (time_t) (ev->time_us / 1000000);
    struct tm tm;
    gmtime_r (&t, &tm);
    size_t n = strftime (when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf (when + n, sizeof when - n, ".%06dZ", (int) (ev->time_us % 1000000));
    json_obj_begin (j);
    /* clang-format off */
    json_key (j, "topic");   json_str (j, ev->topic);
    json_key (j, "origin");  json_str (j, ev->origin);
    json_key (j, "seq");     json_u64 (j, ev->seq);
    json_key (j, "tseq");    json_u64 (j, ev->tseq);
    json_key (j, "boot");    json_u64 (j, ev->boot);
    json_key (j, "kind");    json_str (j, ev->kind);
    json_key (j, "time_us"); json_i64 (j, ev->time_us);
    json_key (j, "time");    json_str (j, when);
    json_key (j, "gap");     json_u64 (j, ev->gap);
    json_key (j, "payload"); shed_event_json_payload (j, ev->kind, ev->payload, ev->size);
    /* clang-format on */
    json_obj_end (j);
}
