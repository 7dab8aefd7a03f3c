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
s_json_agent (jw_t *j, const agent_msg_t *m)
{
    switch (m->hdr.type) {
    case AGENT_METRICS: {
        const agent_metrics_t *x = &m->u.agent_metrics;
        /* clang-format off */
            jw_key (j, "cpu_pct");   jw_f64 (j, x->cpu_pct);
            jw_key (j, "cpu_count"); jw_u64 (j, x->cpu_count);
            jw_key (j, "mem_used");  jw_u64 (j, x->mem_used);
            jw_key (j, "mem_total"); jw_u64 (j, x->mem_total);
            jw_key (j, "load1");     jw_f64 (j, x->load1);
            jw_key (j, "load5");     jw_f64 (j, x->load5);
            jw_key (j, "load15");    jw_f64 (j, x->load15);
            jw_key (j, "procs");     jw_u64 (j, x->procs);
            jw_key (j, "net_rx");    jw_u64 (j, x->net_rx);
            jw_key (j, "net_tx");    jw_u64 (j, x->net_tx);
            jw_key (j, "uptime_s");  jw_u64 (j, x->uptime_s);
        /* clang-format on */
        jw_key (j, "disks");
        jw_arr_begin (j);
        const agent_disk_t *d = x->disks.items;
        for (size_t i = 0; i < x->disks.n; i++) {
            jw_obj_begin (j);
            /* clang-format off */
                jw_key (j, "mount"); jw_str (j, d[i].mount);
                jw_key (j, "used");  jw_u64 (j, d[i].used);
                jw_key (j, "total"); jw_u64 (j, d[i].total);
            /* clang-format on */
            jw_obj_end (j);
        }
        jw_arr_end (j);
        break;
    }
    case AGENT_PROC_EVENT: {
        const agent_proc_event_t *p = &m->u.agent_proc_event;
        /* clang-format off */
            jw_key (j, "event");       jw_str (j, shed_event_proc_kind (p->kind));
            jw_key (j, "name");        jw_str (j, p->name);
            jw_key (j, "pid");         jw_u64 (j, p->pid);
            jw_key (j, "exit_code");   jw_i64 (j, p->exit_code);
            jw_key (j, "signal");      jw_u64 (j, p->signal);
            jw_key (j, "crashed");     jw_bool (j, p->crashed);
            jw_key (j, "restarts");    jw_u64 (j, p->restarts);
            jw_key (j, "run");         jw_u64 (j, p->run);
            jw_key (j, "step");        jw_u64 (j, p->step);
            jw_key (j, "duration_ms"); jw_u64 (j, p->duration_ms);
        /* clang-format on */
        break;
    }
    case AGENT_LOG:
        /* clang-format off */
            jw_key (j, "stream");  jw_str (j, m->u.agent_log.stream);
            jw_key (j, "seq");     jw_u64 (j, m->u.agent_log.seq);
            jw_key (j, "ts_ms");   jw_u64 (j, m->u.agent_log.ts_ms);
            jw_key (j, "text");    jw_str (j, m->u.agent_log.text);
            jw_key (j, "partial"); jw_bool (j, m->u.agent_log.partial);
        /* clang-format on */
        break;
    case AGENT_HELLO:
        /* clang-format off */
            jw_key (j, "agent_version"); jw_str (j, m->u.agent_hello.agent_version);
            jw_key (j, "hostname");      jw_str (j, m->u.agent_hello.hostname);
            jw_key (j, "pid");           jw_u64 (j, m->u.agent_hello.pid);
        /* clang-format on */
        break;
    case AGENT_CLOSE:
        /* clang-format off */
            jw_key (j, "code");   jw_u64 (j, m->u.agent_close.code);
            jw_key (j, "reason"); jw_str (j, m->u.agent_close.reason);
        /* clang-format on */
        break;
    case AGENT_DROPPED:
        /* clang-format off */
            jw_key (j, "count"); jw_u64 (j, m->u.agent_dropped.count);
            jw_key (j, "total"); jw_u64 (j, m->u.agent_dropped.total);
        /* clang-format on */
        break;
    case AGENT_SERVICE_REGISTER:
        /* clang-format off */
            jw_key (j, "service"); jw_str (j, m->u.agent_service_register.name);
            jw_key (j, "port");    jw_u64 (j, m->u.agent_service_register.port);
        /* clang-format on */
        break;
    case AGENT_SERVICE_DEREGISTER:
        jw_key (j, "service");
        jw_str (j, m->u.agent_service_deregister.name);
        break;
    case AGENT_SERVICE_HEALTH:
        /* clang-format off */
            jw_key (j, "service"); jw_str (j, m->u.agent_service_health.name);
            jw_key (j, "status");  jw_u64 (j, m->u.agent_service_health.status);
            jw_key (j, "output");  jw_str (j, m->u.agent_service_health.output);
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
        jw_key (j, "run");  jw_u64 (j, o->run);
        jw_key (j, "step"); jw_u64 (j, o->step);
        jw_key (j, "fd");   jw_u64 (j, o->fd);
        jw_key (j, "data"); jw_str (j, text);
        /* clang-format on */
        break;
    }
    case AGENT_PROVISION_DONE: {
        const agent_provision_done_t *d = &m->u.agent_provision_done;
        /* clang-format off */
            jw_key (j, "run");         jw_u64 (j, d->run);
            jw_key (j, "ok");          jw_bool (j, d->ok);
            jw_key (j, "steps_run");   jw_u64 (j, d->steps_run);
            jw_key (j, "failed_step"); jw_i64 (j, d->failed_step);
            jw_key (j, "error");       jw_str (j, d->error);
        /* clang-format on */
        break;
    }
    default:
        jw_key (j, "type");
        jw_u64 (j, m->hdr.type);
        break;
    }
}

void
shed_event_json_payload (jw_t *j, const char *kind, const uint8_t *payload, size_t size)
{
    if (!strncmp (kind, "agent.", 6)) {
        agent_msg_t m;
        if (wire_decode (&agent_proto, payload, size, &m, NULL) == WIRE_OK) {
            jw_obj_begin (j);
            s_json_agent (j, &m);
            jw_obj_end (j);
            wire_msg_free (&agent_proto, &m);
            return;
        }
    }
    else if (!strcmp (kind, EVPAY_KIND_MEMBER) || !strcmp (kind, EVPAY_KIND_RECORD)
             || !strcmp (kind, EVPAY_KIND_PROGRESS)) {
        evpay_msg_t m;
        if (wire_decode (&evpay_proto, payload, size, &m, NULL) == WIRE_OK) {
            jw_obj_begin (j);
            if (m.hdr.type == EVPAY_MEMBER) {
                const evpay_member_t *x = &m.u.evpay_member;
                /* clang-format off */
                jw_key (j, "node");     jw_str (j, x->node);
                jw_key (j, "change");   jw_str (j, x->change);
                jw_key (j, "observer"); jw_str (j, x->observer);
                jw_key (j, "addr");     jw_str (j, x->addr);
                jw_key (j, "port");     jw_u64 (j, x->port);
                jw_key (j, "inc");      jw_u64 (j, x->inc);
                jw_key (j, "reason");   jw_str (j, x->reason);
                /* clang-format on */
                jw_key (j, "tags");
                jw_tags (j, &x->tags);
            }
            else if (m.hdr.type == EVPAY_RECORD) {
                const evpay_record_t *x = &m.u.evpay_record;
                /* clang-format off */
                jw_key (j, "change");  jw_str (j, x->change);
                jw_key (j, "origin");  jw_str (j, x->origin);
                jw_key (j, "kind");    jw_str (j, x->rkind);
                jw_key (j, "key");     jw_str (j, x->key);
                jw_key (j, "version"); jw_u64 (j, x->version);
                jw_key (j, "status");  jw_str (j, x->status);
                jw_key (j, "size");    jw_u64 (j, x->value.len);
                /* clang-format on */
            }
            else if (m.hdr.type == EVPAY_PROGRESS) {
                const evpay_progress_t *x = &m.u.evpay_progress;
                /* clang-format off */
                jw_key (j, "what");  jw_str (j, x->what);
                jw_key (j, "name");  jw_str (j, x->name);
                jw_key (j, "shed");  jw_str (j, x->shed);
                jw_key (j, "peer");  jw_str (j, x->peer);
                jw_key (j, "done");  jw_u64 (j, x->done);
                jw_key (j, "total"); jw_u64 (j, x->total);
                jw_key (j, "state"); jw_str (j, x->state);
                jw_key (j, "why");   jw_str (j, x->why);
                jw_key (j, "agent"); jw_bool (j, x->agent);
                /* clang-format on */
            }
            jw_obj_end (j);
            wire_msg_free (&evpay_proto, &m);
            return;
        }
    }
    jw_obj_begin (j);
    jw_key (j, "size");
    jw_u64 (j, size);
    jw_obj_end (j);
}

void
shed_event_json (jw_t *j, const bus_event_t *ev)
{
    char when[40];
    time_t t = (time_t) (ev->time_us / 1000000);
    struct tm tm;
    gmtime_r (&t, &tm);
    size_t n = strftime (when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf (when + n, sizeof when - n, ".%06dZ", (int) (ev->time_us % 1000000));
    jw_obj_begin (j);
    /* clang-format off */
    jw_key (j, "topic");   jw_str (j, ev->topic);
    jw_key (j, "origin");  jw_str (j, ev->origin);
    jw_key (j, "seq");     jw_u64 (j, ev->seq);
    jw_key (j, "tseq");    jw_u64 (j, ev->tseq);
    jw_key (j, "boot");    jw_u64 (j, ev->boot);
    jw_key (j, "kind");    jw_str (j, ev->kind);
    jw_key (j, "time_us"); jw_i64 (j, ev->time_us);
    jw_key (j, "time");    jw_str (j, when);
    jw_key (j, "gap");     jw_u64 (j, ev->gap);
    jw_key (j, "payload"); shed_event_json_payload (j, ev->kind, ev->payload, ev->size);
    /* clang-format on */
    jw_obj_end (j);
}
