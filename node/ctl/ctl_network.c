/* ctl_network.c - `shedctl network`: the overlay as this node sees it (mode,
 * CIDR, blocks per node, MTU, peers with their sessions and counters), plus
 * `network attach NAME` / `network detach NAME`, which give a shed an address
 * by hand (what the drivers do through shed_overlay_attach; tests use it). */
#include "node/ctl/ctl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void
s_json_tags (json_t *j, const wire_tags_t *tags)
{
    json_obj_begin (j);
    for (size_t i = 0; i < tags->n; i++) {
        json_key (j, tags->items[i].key);
        unsigned long long v = strtoull (tags->items[i].value, NULL, 10);
        json_u64 (j, v);
    }
    json_obj_end (j);
}

static void
s_text_tags (const wire_tags_t *tags, char *out, size_t len)
{
    size_t n = 0;
    out[0] = '\0';
    for (size_t i = 0; i < tags->n && n < len; i++)
        n += (size_t) snprintf (out + n, len - n, "%s%s=%s", i ? "," : "", tags->items[i].key,
                                tags->items[i].value);
    if (!tags->n)
        snprintf (out, len, "-");
}

static void
s_print_json (const api_network_rep_t *r)
{
    json_t j;
    json_init (&j, stdout);
    json_obj_begin (&j);
    /* clang-format off */
    json_key (&j, "mode");            json_str (&j, r->mode);
    json_key (&j, "cidr");            json_str (&j, r->cidr);
    json_key (&j, "block");           json_str (&j, r->block);
    json_key (&j, "ready");           json_bool (&j, r->ready);
    json_key (&j, "gateway");         json_str (&j, r->gateway);
    json_key (&j, "bridge");          json_str (&j, r->bridge);
    json_key (&j, "device");          json_str (&j, r->device);
    json_key (&j, "mtu");             json_u64 (&j, r->mtu);
    json_key (&j, "vni");             json_u64 (&j, r->vni);
    json_key (&j, "port");            json_u64 (&j, r->port);
    json_key (&j, "endpoints");       json_u64 (&j, r->endpoints);
    json_key (&j, "local_endpoints"); json_u64 (&j, r->local_endpoints);
    json_key (&j, "arp_answered");    json_u64 (&j, r->arp_answered);
    json_key (&j, "drops");           s_json_tags (&j, &r->drops);
    /* clang-format on */
    json_key (&j, "blocks");
    json_arr_begin (&j);
    for (size_t i = 0; i < r->blocks.n; i++) {
        const api_netblock_t *b = &r->blocks.items[i];
        json_obj_begin (&j);
        /* clang-format off */
        json_key (&j, "node");   json_str (&j, b->node);
        json_key (&j, "block");  json_str (&j, b->block);
        json_key (&j, "addr");   json_str (&j, b->addr);
        json_key (&j, "port");   json_u64 (&j, b->port);
        json_key (&j, "mode");   json_str (&j, b->mode);
        json_key (&j, "status"); json_str (&j, b->status);
        /* clang-format on */
        json_obj_end (&j);
    }
    json_arr_end (&j);
    json_key (&j, "peers");
    json_arr_begin (&j);
    for (size_t i = 0; i < r->peers.n; i++) {
        const api_netpeer_t *p = &r->peers.items[i];
        json_obj_begin (&j);
        /* clang-format off */
        json_key (&j, "node");       json_str (&j, p->node);
        json_key (&j, "addr");       json_str (&j, p->addr);
        json_key (&j, "port");       json_u64 (&j, p->port);
        json_key (&j, "session");    json_str (&j, p->session);
        json_key (&j, "aead");       json_str (&j, p->aead);
        json_key (&j, "key_age_ms"); json_u64 (&j, p->key_age_ms);
        json_key (&j, "handshakes"); json_u64 (&j, p->handshakes);
        json_key (&j, "tx_packets"); json_u64 (&j, p->tx_packets);
        json_key (&j, "tx_bytes");   json_u64 (&j, p->tx_bytes);
        json_key (&j, "rx_packets"); json_u64 (&j, p->rx_packets);
        json_key (&j, "rx_bytes");   json_u64 (&j, p->rx_bytes);
        json_key (&j, "drops");      s_json_tags (&j, &p->drops);
        /* clang-format on */
        json_obj_end (&j);
    }
    json_arr_end (&j);
    json_obj_end (&j);
    json_end (&j);
}

static void
s_print_text (const api_network_rep_t *r)
{
    char drops[512];
    s_text_tags (&r->drops, drops, sizeof drops);
    printf ("mode %s  cidr %s  vni %llu  mtu %llu  port %llu\n", r->mode, r->cidr,
            (unsigned long long) r->vni, (unsigned long long) r->mtu, (unsigned long long) r->port);
    printf ("block %s (%s)  gateway %s  bridge %s  device %s\n", r->block[0] ? r->block : "-",
            r->ready ? "ready" : "settling", r->gateway[0] ? r->gateway : "-", r->bridge,
            r->device);
    printf ("endpoints %llu (%llu here)  arp answered %llu  drops %s\n\n",
            (unsigned long long) r->endpoints, (unsigned long long) r->local_endpoints,
            (unsigned long long) r->arp_answered, drops);
    printf ("%-16s %-18s %-22s %-10s %s\n", "NODE", "BLOCK", "OVERLAY ENDPOINT", "MODE", "STATUS");
    for (size_t i = 0; i < r->blocks.n; i++) {
        const api_netblock_t *b = &r->blocks.items[i];
        char ep[64];
        snprintf (ep, sizeof ep, "%s:%llu", b->addr[0] ? b->addr : "?",
                  (unsigned long long) b->port);
        printf ("%-16s %-18s %-22s %-10s %s\n", b->node, b->block[0] ? b->block : "-", ep, b->mode,
                b->status);
    }
    printf ("\n%-16s %-22s %-12s %-17s %-8s %10s %12s %10s %12s  %s\n", "PEER", "ADDRESS",
            "SESSION", "AEAD", "KEY AGE", "TX PKTS", "TX BYTES", "RX PKTS", "RX BYTES", "DROPS");
    for (size_t i = 0; i < r->peers.n; i++) {
        const api_netpeer_t *p = &r->peers.items[i];
        char ep[64], age[32] = "-";
        snprintf (ep, sizeof ep, "%s:%llu", p->addr, (unsigned long long) p->port);
        if (!strcmp (p->session, "established"))
            ctl_format_duration (p->key_age_ms, age, sizeof age);
        s_text_tags (&p->drops, drops, sizeof drops);
        printf ("%-16s %-22s %-12s %-17s %-8s %10llu %12llu %10llu %12llu  %s\n", p->node, ep,
                p->session, p->aead[0] ? p->aead : "-", age, (unsigned long long) p->tx_packets,
                (unsigned long long) p->tx_bytes, (unsigned long long) p->rx_packets,
                (unsigned long long) p->rx_bytes, drops);
    }
}

static int
s_attach (ctl_t *ctl, const char *shed)
{
    api_msg_t req = { .hdr.type = API_NET_ATTACH_REQ }, rep;
    if (strlen (shed) >= sizeof req.u.api_net_attach_req.shed)
        return ctl_fail ("shed name too long: '%s'", shed);
    strcpy (req.u.api_net_attach_req.shed, shed);
    if (ctl_call (ctl, &req, &rep, API_NET_ATTACH_REP) != 0)
        return 1;
    const api_net_attach_rep_t *r = &rep.u.api_net_attach_rep;
    /* JSON either way: scripts wire the interface from it. */
    json_t j;
    json_init (&j, stdout);
    json_obj_begin (&j);
    /* clang-format off */
    json_key (&j, "shed");    json_str (&j, shed);
    json_key (&j, "ip");      json_str (&j, r->ip);
    json_key (&j, "mac");     json_str (&j, r->mac);
    json_key (&j, "gateway"); json_str (&j, r->gateway);
    json_key (&j, "prefix");  json_u64 (&j, r->prefix);
    json_key (&j, "mtu");     json_u64 (&j, r->mtu);
    json_key (&j, "bridge");  json_str (&j, r->bridge);
    /* clang-format on */
    json_obj_end (&j);
    json_end (&j);
    wire_msg_free (&api_proto, &rep);
    return 0;
}

static int
s_detach (ctl_t *ctl, const char *shed)
{
    api_msg_t req = { .hdr.type = API_NET_DETACH_REQ }, rep;
    if (strlen (shed) >= sizeof req.u.api_net_detach_req.shed)
        return ctl_fail ("shed name too long: '%s'", shed);
    strcpy (req.u.api_net_detach_req.shed, shed);
    if (ctl_call (ctl, &req, &rep, API_OK) != 0)
        return 1;
    if (!ctl->json)
        printf ("%s\n", rep.u.api_ok.message);
    wire_msg_free (&api_proto, &rep);
    return 0;
}

int
ctl_network (ctl_t *ctl, int argc, char **argv)
{
    if (argc == 3 && !strcmp (argv[1], "attach"))
        return s_attach (ctl, argv[2]);
    if (argc == 3 && !strcmp (argv[1], "detach"))
        return s_detach (ctl, argv[2]);
    if (argc != 1)
        return ctl_fail ("usage: network | network attach SHED | network detach SHED");
    api_msg_t req = { .hdr.type = API_NETWORK_REQ }, rep;
    if (ctl_call (ctl, &req, &rep, API_NETWORK_REP) != 0)
        return 1;
    if (ctl->json)
        s_print_json (&rep.u.api_network_rep);
    else
        s_print_text (&rep.u.api_network_rep);
    wire_msg_free (&api_proto, &rep);
    return 0;
}
