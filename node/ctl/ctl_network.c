/* ctl_network.c - `shedctl network`: the overlay as this node sees it (mode,
 * CIDR, blocks per node, MTU, peers with their sessions and counters), plus
 * `network attach NAME` / `network detach NAME`, which give a shed an address
 * by hand (what the drivers do through shed_overlay_attach; tests use it). */
#include "node/ctl/ctl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void
s_json_tags (jw_t *j, const wire_tags_t *tags)
{
    jw_obj_begin (j);
    for (size_t i = 0; i < tags->n; i++) {
        jw_key (j, tags->items[i].key);
        unsigned long long v = strtoull (tags->items[i].value, NULL, 10);
        jw_u64 (j, v);
    }
    jw_obj_end (j);
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
    jw_t j;
    jw_init (&j, stdout);
    jw_obj_begin (&j);
    /* clang-format off */
    jw_key (&j, "mode");            jw_str (&j, r->mode);
    jw_key (&j, "cidr");            jw_str (&j, r->cidr);
    jw_key (&j, "block");           jw_str (&j, r->block);
    jw_key (&j, "ready");           jw_bool (&j, r->ready);
    jw_key (&j, "gateway");         jw_str (&j, r->gateway);
    jw_key (&j, "bridge");          jw_str (&j, r->bridge);
    jw_key (&j, "device");          jw_str (&j, r->device);
    jw_key (&j, "mtu");             jw_u64 (&j, r->mtu);
    jw_key (&j, "vni");             jw_u64 (&j, r->vni);
    jw_key (&j, "port");            jw_u64 (&j, r->port);
    jw_key (&j, "endpoints");       jw_u64 (&j, r->endpoints);
    jw_key (&j, "local_endpoints"); jw_u64 (&j, r->local_endpoints);
    jw_key (&j, "arp_answered");    jw_u64 (&j, r->arp_answered);
    jw_key (&j, "drops");           s_json_tags (&j, &r->drops);
    /* clang-format on */
    jw_key (&j, "blocks");
    jw_arr_begin (&j);
    for (size_t i = 0; i < r->blocks.n; i++) {
        const api_netblock_t *b = &r->blocks.items[i];
        jw_obj_begin (&j);
        /* clang-format off */
        jw_key (&j, "node");   jw_str (&j, b->node);
        jw_key (&j, "block");  jw_str (&j, b->block);
        jw_key (&j, "addr");   jw_str (&j, b->addr);
        jw_key (&j, "port");   jw_u64 (&j, b->port);
        jw_key (&j, "mode");   jw_str (&j, b->mode);
        jw_key (&j, "status"); jw_str (&j, b->status);
        /* clang-format on */
        jw_obj_end (&j);
    }
    jw_arr_end (&j);
    jw_key (&j, "peers");
    jw_arr_begin (&j);
    for (size_t i = 0; i < r->peers.n; i++) {
        const api_netpeer_t *p = &r->peers.items[i];
        jw_obj_begin (&j);
        /* clang-format off */
        jw_key (&j, "node");       jw_str (&j, p->node);
        jw_key (&j, "addr");       jw_str (&j, p->addr);
        jw_key (&j, "port");       jw_u64 (&j, p->port);
        jw_key (&j, "session");    jw_str (&j, p->session);
        jw_key (&j, "aead");       jw_str (&j, p->aead);
        jw_key (&j, "key_age_ms"); jw_u64 (&j, p->key_age_ms);
        jw_key (&j, "handshakes"); jw_u64 (&j, p->handshakes);
        jw_key (&j, "tx_packets"); jw_u64 (&j, p->tx_packets);
        jw_key (&j, "tx_bytes");   jw_u64 (&j, p->tx_bytes);
        jw_key (&j, "rx_packets"); jw_u64 (&j, p->rx_packets);
        jw_key (&j, "rx_bytes");   jw_u64 (&j, p->rx_bytes);
        jw_key (&j, "drops");      s_json_tags (&j, &p->drops);
        /* clang-format on */
        jw_obj_end (&j);
    }
    jw_arr_end (&j);
    jw_obj_end (&j);
    jw_end (&j);
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
    jw_t j;
    jw_init (&j, stdout);
    jw_obj_begin (&j);
    /* clang-format off */
    jw_key (&j, "shed");    jw_str (&j, shed);
    jw_key (&j, "ip");      jw_str (&j, r->ip);
    jw_key (&j, "mac");     jw_str (&j, r->mac);
    jw_key (&j, "gateway"); jw_str (&j, r->gateway);
    jw_key (&j, "prefix");  jw_u64 (&j, r->prefix);
    jw_key (&j, "mtu");     jw_u64 (&j, r->mtu);
    jw_key (&j, "bridge");  jw_str (&j, r->bridge);
    /* clang-format on */
    jw_obj_end (&j);
    jw_end (&j);
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
