/*
 * agent_sample.h - one filled-in example of every agent message, for tests,
 * the fuzzer's seed corpus and benchmarks. Header-only (static inline).
 *
 * Pointers inside the samples (lists, blobs, tags) point at static storage:
 * never pass a sample to wire_msg_free.
 */
#ifndef SHED_AGENT_SAMPLE_H
#define SHED_AGENT_SAMPLE_H

#include "agent/proto/agent_proto.h"

#include <stdio.h>
#include <string.h>

static inline void
agent_sample (unsigned type, agent_msg_t *m)
{
    static agent_disk_t disks[2] = { { 0, "/", 1000, 5000 }, { 0, "/data", 7, 9 } };
    static agent_nic_t nics[2] = { { 0, "eth0", 123456, 654321 }, { 0, "lo", 1, 2 } };
    static wire_tag_t tags[2] = { { "env", "dev" }, { "team", "core" } };
    static uint8_t bytes[] = { 'h', 'i', '\n', 0, 0xff };
    static agent_step_t steps[3];

    memset (m, 0, sizeof *m);
    m->hdr.type = (uint16_t) type;
    switch (type) {
    case AGENT_HELLO: {
        agent_hello_t *h = &m->u.agent_hello;
        snprintf (h->agent_version, sizeof h->agent_version, "0.1.0");
        h->caps = AGENT_CAP_ALL;
        h->boot_time = 1700000000;
        snprintf (h->shed, sizeof h->shed, "dev-1");
        h->pid = 1;
        snprintf (h->hostname, sizeof h->hostname, "dev-1");
        snprintf (h->kernel, sizeof h->kernel, "6.1.0");
        h->started_ms = 1700000000123;
        h->buffered = 3;
        break;
    }
    case AGENT_HELLO_ACK: {
        agent_hello_ack_t *a = &m->u.agent_hello_ack;
        a->metrics_interval_ms = 1000;
        a->heartbeat_ms = 5000;
        a->max_frame = AGENT_FRAME_MAX_DEFAULT;
        a->max_msgs_per_s = 1000;
        a->max_bytes_per_s = 1 << 20;
        a->host_time_ms = 1700000000999;
        snprintf (a->shed, sizeof a->shed, "dev-1");
        break;
    }
    case AGENT_HEARTBEAT:
        m->u.agent_heartbeat.ts_ms = 42;
        m->u.agent_heartbeat.buffered = 7;
        break;
    case AGENT_METRICS: {
        agent_metrics_t *x = &m->u.agent_metrics;
        x->ts_ms = 1700000000500;
        x->cpu_pct = 12.5;
        x->cpu_count = 2;
        x->mem_used = 1 << 30;
        x->mem_total = 4ull << 30;
        x->load1 = 0.5;
        x->load5 = 0.25;
        x->load15 = 0.125;
        x->procs = 42;
        x->net_rx = 123457;
        x->net_tx = 654323;
        x->disks.n = 2;
        x->disks.items = disks;
        x->nics.n = 2;
        x->nics.items = nics;
        x->uptime_s = 3600;
        break;
    }
    case AGENT_PROC_EVENT: {
        agent_proc_event_t *p = &m->u.agent_proc_event;
        p->kind = AGENT_PROC_EXIT;
        snprintf (p->name, sizeof p->name, "web");
        p->pid = 1234;
        p->exit_code = -1;
        p->signal = 9;
        p->crashed = true;
        p->restarts = 2;
        p->delay_ms = 400;
        p->run = 7;
        p->step = 1;
        p->duration_ms = 15;
        p->ts_ms = 99;
        break;
    }
    case AGENT_LOG: {
        agent_log_t *l = &m->u.agent_log;
        snprintf (l->stream, sizeof l->stream, "web-out");
        l->seq = 17;
        l->ts_ms = 1700000000600;
        snprintf (l->text, sizeof l->text, "GET / 200 in 3 ms");
        l->partial = true;
        break;
    }
    case AGENT_SERVICE_REGISTER: {
        agent_service_register_t *s = &m->u.agent_service_register;
        snprintf (s->name, sizeof s->name, "web");
        s->port = 8080;
        snprintf (s->protocol, sizeof s->protocol, "http");
        s->tags.n = 2;
        s->tags.items = tags;
        snprintf (s->check, sizeof s->check, "tcp");
        break;
    }
    case AGENT_SERVICE_DEREGISTER:
        snprintf (m->u.agent_service_deregister.name, sizeof m->u.agent_service_deregister.name,
                  "web");
        break;
    case AGENT_SERVICE_HEALTH: {
        agent_service_health_t *s = &m->u.agent_service_health;
        snprintf (s->name, sizeof s->name, "web");
        s->status = AGENT_HEALTH_CRITICAL;
        snprintf (s->output, sizeof s->output, "connection refused");
        break;
    }
    case AGENT_PROVISION: {
        agent_provision_t *p = &m->u.agent_provision;
        memset (steps, 0, sizeof steps);
        snprintf (steps[0].name, sizeof steps[0].name, "one");
        snprintf (steps[0].cmd, sizeof steps[0].cmd, "echo one");
        snprintf (steps[1].name, sizeof steps[1].name, "two");
        snprintf (steps[1].cmd, sizeof steps[1].cmd, "cat; exit 3");
        steps[1].timeout_ms = 5000;
        snprintf (steps[1].cwd, sizeof steps[1].cwd, "/tmp");
        steps[1].env.n = 2;
        steps[1].env.items = tags;
        steps[1].input.data = bytes;
        steps[1].input.len = sizeof bytes;
        snprintf (steps[2].name, sizeof steps[2].name, "three");
        snprintf (steps[2].cmd, sizeof steps[2].cmd, "true");
        p->run = 77;
        snprintf (p->user, sizeof p->user, "dev");
        p->keep_going = true;
        p->steps.n = 3;
        p->steps.items = steps;
        break;
    }
    case AGENT_PROVISION_OUTPUT: {
        agent_provision_output_t *o = &m->u.agent_provision_output;
        o->run = 77;
        o->step = 1;
        o->fd = AGENT_FD_STDERR;
        o->offset = 100;
        o->data.data = bytes;
        o->data.len = sizeof bytes;
        break;
    }
    case AGENT_PROVISION_DONE: {
        agent_provision_done_t *d = &m->u.agent_provision_done;
        d->run = 77;
        d->ok = false;
        d->steps_run = 2;
        d->failed_step = 1;
        snprintf (d->error, sizeof d->error, "step two exited 3");
        break;
    }
    case AGENT_DROPPED:
        m->u.agent_dropped.count = 10;
        m->u.agent_dropped.total = 30;
        m->u.agent_dropped.reason = AGENT_DROP_DISCONNECTED;
        m->u.agent_dropped.since_ms = 5;
        break;
    case AGENT_CHUNK: {
        agent_chunk_t *c = &m->u.agent_chunk;
        c->stream = 3;
        c->type = AGENT_PROVISION;
        c->offset = 0;
        c->total = sizeof bytes;
        c->final = true;
        c->data.data = bytes;
        c->data.len = sizeof bytes;
        break;
    }
    case AGENT_CLOSE:
        m->u.agent_close.code = AGENT_CLOSE_SHUTDOWN;
        snprintf (m->u.agent_close.reason, sizeof m->u.agent_close.reason, "bye");
        break;
    default:
        break;
    }
}

#endif
