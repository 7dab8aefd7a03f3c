/*
 * node_overlay.c - see node_overlay.h. This file owns the overlay's
 * lifecycle (plain or encrypted mode, NAT), the public functions and the
 * small helpers the others share; following peers and records, our own
 * records and the local API live beside it (node_overlay_int.h lists the
 * files).
 */
#include "node/overlay/node_overlay_int.h"

#include "common/ipaddr.h"

/* -------------------------------------------------------------------------
 * Small helpers
 */

void
novl_mac_text (const uint8_t mac[6], char out[SHED_OVERLAY_MAC_MAX])
{
    snprintf (out, SHED_OVERLAY_MAC_MAX, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2],
              mac[3], mac[4], mac[5]);
}

int
novl_mac_parse (const char *text, uint8_t mac[6])
{
    unsigned v[6];
    char tail;
    if (sscanf (text, "%2x:%2x:%2x:%2x:%2x:%2x%c", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &tail)
        != 6)
        return -1;
    for (int i = 0; i < 6; i++)
        mac[i] = (uint8_t) v[i];
    return 0;
}

/* Run an nftables script (plain-mode filter, NAT) through libnftables, no
 * shell. The tables are ours alone (named after the node), so a whole-table
 * script is atomic and never touches anyone else's rules. */
static int
s_nft (const char *script, char *why, size_t whylen)
{
    return shed_nft_run (script, NULL, 0, why, whylen);
}

/* An address from gossip or a record, in its canonical text (inet_pton,
 * inet_ntop), or false: counted and logged, never used. `want` 4 takes
 * IPv4 only. Text that is not exactly an address ("1.1.1.1 }\nflush
 * ruleset") would otherwise reach nftables and netlink. */
bool
novl_addr_ok (shed_overlay_t *self, const char *text, int want, char out[NOVL_ADDR_TEXT_MAX],
              const char *what, const char *from)
{
    int family = shed_nft_addr_canon (text, out);
    if (family > 0 && (!want || family == want))
        return true;
    self->bad_addr++;
    out[0] = '\0';
    log_warn ("overlay", "refused a bad address|what=%s from=%s", what, from);
    return false;
}

novl_node_t *
novl_node (shed_overlay_t *self, const char *name)
{
    novl_node_t *n = zhashx_lookup (self->nodes, name);
    if (!n) {
        n = calloc (1, sizeof *n);
        assert (n);
        snprintf (n->name, sizeof n->name, "%s", name);
        zhashx_insert (self->nodes, name, n);
    }
    return n;
}

/* -------------------------------------------------------------------------
 * Public API
 */

int
shed_overlay_attach (shed_overlay_t *self, const char *shed, char ip[SHED_OVERLAY_ADDR_MAX],
                     char mac[SHED_OVERLAY_MAC_MAX], char gw[SHED_OVERLAY_ADDR_MAX], int *prefix,
                     unsigned *mtu, char *err, size_t errlen)
{
    assert (self);
    uint8_t hw[6];
    if (ipam_assign (self->ipam, shed, (uint64_t) zclock_mono (), ip, hw) != 0) {
        int e = errno;
        if (e == EAGAIN)
            snprintf (err, errlen, "address block not settled yet; retry shortly");
        else if (e == ENOSPC)
            snprintf (err, errlen, "no free address left in this node's block");
        else
            snprintf (err, errlen, "bad shed name '%s'", shed ? shed : "");
        errno = e;
        return -1;
    }
    if (ipam_save (self->ipam, self->ipam_path) != 0) {
        int e = errno;
        snprintf (err, errlen, "cannot save %s: %s", self->ipam_path, strerror (e));
        ipam_release (self->ipam, shed);
        errno = e;
        return -1;
    }
    if (novl_put_endpoint (self, shed, ip, hw, err, errlen) != 0) {
        errno = EIO;
        return -1;
    }
    novl_endpoint_resync (self, hw);
    novl_mac_text (hw, mac);
    ipam_gateway (self->ipam, gw);
    *prefix = ipam_cidr_prefix (self->ipam);
    *mtu = (unsigned) self->mtu;
    log_info ("overlay", "attached|shed=%s ip=%s mac=%s", shed, ip, mac);
    return 0;
}

int
shed_overlay_attach_addr (shed_overlay_t *self, const char *shed, const char *want_ip,
                          char ip[SHED_OVERLAY_ADDR_MAX], char mac[SHED_OVERLAY_MAC_MAX],
                          char gw[SHED_OVERLAY_ADDR_MAX], int *prefix, unsigned *mtu, char *err,
                          size_t errlen)
{
    assert (self);
    uint8_t hw[6];
    bool adopted = false;
    bool had = shed && ipam_lookup (self->ipam, shed, ip, hw) == 0;
    if (ipam_take (self->ipam, shed, want_ip, (uint64_t) zclock_mono (), ip, hw, &adopted) != 0) {
        int e = errno;
        if (e == EAGAIN)
            snprintf (err, errlen, "address block not settled yet; retry shortly");
        else if (e == EADDRINUSE)
            snprintf (err, errlen, "address %s is held by another shed on this node", want_ip);
        else if (e == EEXIST)
            snprintf (err, errlen, "shed '%s' already holds another address here", shed);
        else if (e == EINVAL && shed && *shed && want_ip)
            snprintf (err, errlen, "%s is not a shed address of the cluster's CIDR %s", want_ip,
                      self->cfg.network.cidr);
        else
            snprintf (err, errlen, "bad shed name or address");
        errno = e;
        return -1;
    }
    if (ipam_save (self->ipam, self->ipam_path) != 0) {
        int e = errno;
        snprintf (err, errlen, "cannot save %s: %s", self->ipam_path, strerror (e));
        if (!had)
            ipam_release (self->ipam, shed);
        errno = e;
        return -1;
    }
    /* Our record outranks the source's (its epoch is above every one seen
     * for the MAC); the resync takes any remote entry for the MAC out of
     * our datapath, since the shed now lives on our bridge. */
    if (novl_put_endpoint (self, shed, ip, hw, err, errlen) != 0) {
        errno = EIO;
        return -1;
    }
    novl_endpoint_resync (self, hw);
    novl_mac_text (hw, mac);
    ipam_gateway (self->ipam, gw);
    *prefix = ipam_cidr_prefix (self->ipam);
    *mtu = (unsigned) self->mtu;
    log_info ("overlay", "attached with its address|shed=%s ip=%s mac=%s adopted=%s", shed, ip, mac,
              adopted ? "yes" : "no");
    return 0;
}

int
shed_overlay_lend (shed_overlay_t *self, const char *shed, char *err, size_t errlen)
{
    assert (self);
    char ip[IPAM_ADDR_MAX], mtext[SHED_OVERLAY_MAC_MAX];
    uint8_t mac[6];
    if (!shed || ipam_lookup (self->ipam, shed, ip, mac) != 0) {
        snprintf (err, errlen, "shed '%s' has no overlay address here", shed ? shed : "");
        errno = ENOENT;
        return -1;
    }
    novl_mac_text (mac, mtext);
    if (shed_nstate_delete (self->state, REC_KIND_ENDPOINT, mtext, err, errlen) != 0) {
        errno = EIO;
        return -1;
    }
    int kept = ipam_lend (self->ipam, shed, (uint64_t) zclock_mono ());
    if (ipam_save (self->ipam, self->ipam_path) != 0)
        log_warn ("overlay", "cannot save %s: %s", self->ipam_path, strerror (errno));
    /* The shed runs elsewhere now: program the MAC from the holder there. */
    novl_endpoint_resync (self, mac);
    log_info ("overlay", "lent|shed=%s ip=%s %s", shed, ip,
              kept == 0 ? "reserved=yes" : "reserved=no (adopted)");
    return 0;
}

int
shed_overlay_detach (shed_overlay_t *self, const char *shed, char *err, size_t errlen)
{
    assert (self);
    char ip[IPAM_ADDR_MAX], mtext[SHED_OVERLAY_MAC_MAX];
    uint8_t mac[6];
    if (ipam_lookup (self->ipam, shed, ip, mac) != 0) {
        snprintf (err, errlen, "shed '%s' has no overlay address here", shed);
        errno = ENOENT;
        return -1;
    }
    novl_mac_text (mac, mtext);
    if (shed_nstate_delete (self->state, REC_KIND_ENDPOINT, mtext, err, errlen) != 0) {
        errno = EIO;
        return -1;
    }
    ipam_release (self->ipam, shed);
    if (ipam_save (self->ipam, self->ipam_path) != 0)
        log_warn ("overlay", "cannot save %s: %s", self->ipam_path, strerror (errno));
    /* Another node may still hold the MAC (a move's source before it
     * lends): its entry comes back into our datapath. */
    novl_endpoint_resync (self, mac);
    log_info ("overlay", "detached|shed=%s ip=%s", shed, ip);
    return 0;
}

int
shed_overlay_stats (shed_overlay_t *self, overlay_stats_t *out, overlay_peer_stats_t *peers,
                    size_t cap, size_t *npeers)
{
    assert (self);
    if (!self->dp)
        return -1;
    overlay_stats (self->dp, out, peers, cap, npeers);
    return 0;
}

int
shed_overlay_address (shed_overlay_t *self, const char *shed, char ip[SHED_OVERLAY_ADDR_MAX])
{
    assert (self);
    uint8_t mac[6];
    char text[IPAM_ADDR_MAX];
    if (!shed || ipam_lookup (self->ipam, shed, text, mac) != 0)
        return -1;
    snprintf (ip, SHED_OVERLAY_ADDR_MAX, "%s", text);
    return 0;
}

void
shed_overlay_on_gateway (shed_overlay_t *self, shed_overlay_gateway_fn *fn, void *arg)
{
    assert (self);
    self->on_gateway = fn;
    self->on_gateway_arg = arg;
    if (fn && self->gateway[0])
        fn (self->gateway, self->cfg.network.bridge, arg);
}

bool
shed_overlay_ready (shed_overlay_t *self)
{
    assert (self);
    return ipam_ready (self->ipam, (uint64_t) zclock_mono ());
}

const char *
shed_overlay_bridge (shed_overlay_t *self)
{
    assert (self);
    return self->cfg.network.bridge;
}

/* -------------------------------------------------------------------------
 * Lifecycle
 */

static int
s_start_plain (shed_overlay_t *self, char *err, size_t errlen)
{
    char why[256];
    /* A device left by a crashed run would carry stale FDB entries. */
    hostnet_link_del (self->device, why, sizeof why);
    if (hostnet_vxlan_create (self->device, self->cfg.network.vni, self->port,
                              self->local_addr[0] ? self->local_addr : NULL, why, sizeof why)
            != 0
        || hostnet_link_set (self->device, self->cfg.network.bridge, self->mtu, true, why,
                             sizeof why)
               != 0) {
        snprintf (err, errlen, "plain mode: %s", why);
        return -1;
    }
    /* Accept VXLAN only from members: a set the membership events fill. */
    char table[SHED_NFT_NAME_MAX], script[SHED_NFT_SCRIPT_MAX];
    shed_nft_table_name (self->cfg.name, "", table, sizeof table);
    if (shed_nft_members_table_script (table, self->port, script, sizeof script) != 0
        || s_nft (script, why, sizeof why) != 0) {
        snprintf (err, errlen, "plain mode member filter: %s", why);
        return -1;
    }
    snprintf (self->nft_table, sizeof self->nft_table, "%s", table);
    return 0;
}

/* Optional egress NAT for sheds (network.nat): masquerade traffic from the
 * cluster CIDR leaving through anything but the bridge. */
static void
s_start_nat (shed_overlay_t *self)
{
    char table[80], script[768], why[256];
    shed_nft_table_name (self->cfg.name, "_nat", table, sizeof table);
    snprintf (script, sizeof script,
              "table ip %s {}\n"
              "delete table ip %s\n"
              "table ip %s {\n"
              "  chain postrouting {\n"
              "    type nat hook postrouting priority 100; policy accept;\n"
              "    ip saddr %s ip daddr != %s oifname != \"%s\" masquerade\n"
              "  }\n"
              "}\n",
              table, table, table, self->cfg.network.cidr, self->cfg.network.cidr,
              self->cfg.network.bridge);
    FILE *f = fopen ("/proc/sys/net/ipv4/ip_forward", "w");
    if (f) {
        fputs ("1\n", f);
        fclose (f);
    }
    if (s_nft (script, why, sizeof why) != 0)
        log_error ("overlay", "egress NAT not installed: %s", why);
    else
        snprintf (self->nat_table, sizeof self->nat_table, "%s", table);
}

static void
s_list_cb (const shed_record_t *rec, void *arg)
{
    novl_on_record (rec, arg);
}

shed_overlay_t *
shed_overlay_new (const shed_config_t *cfg, const shed_identity_t *identity, peer_dir_t *peers,
                  shed_nstate_t *state, zloop_t *loop, shed_api_server_t *api, char *err,
                  size_t errlen)
{
    shed_overlay_t *self = calloc (1, sizeof *self);
    if (!self) {
        snprintf (err, errlen, "out of memory");
        return NULL;
    }
    self->cfg = *cfg;
    self->state = state;
    self->loop = loop;
    self->timer = -1;
    self->started_ms = (uint64_t) zclock_mono ();
    self->plain = strcmp (cfg->network.mode, "plain") == 0;
    self->nodes = zhashx_new ();
    zhashx_set_destructor (self->nodes, (zhashx_destructor_fn *) zstr_free);
    self->endpoints = zhashx_new ();
    zhashx_set_destructor (self->endpoints, (zhashx_destructor_fn *) zstr_free);
    memcpy (self->pubkey, shed_identity_x25519_public (identity), 32);
    snprintf (self->device, sizeof self->device, "%s",
              cfg->network.device[0] ? cfg->network.device
              : self->plain          ? "shvx0"
                                     : "shtap0");
    self->port = cfg->network.port ? (uint16_t) cfg->network.port
                                   : (uint16_t) (cfg->bind_port + PEER_PORT_OVERLAY);
    const char *adv = cfg->advertise_addr[0] ? cfg->advertise_addr : cfg->bind_addr;
    if (!shed_ip_is_any (adv))
        snprintf (self->local_addr, sizeof self->local_addr, "%.45s", adv);
    int underlay = cfg->network.underlay_mtu ? (int) cfg->network.underlay_mtu : 1500;
    /* An IPv6 underlay (either address IPv6: a :: socket may still carry
     * IPv4 peers, the larger header is the safe one) costs 20 bytes more. */
    bool v6 = shed_ip_family (cfg->bind_addr) == 6 || shed_ip_family (self->local_addr) == 6;
    /* plain: outer IPv4 20 (IPv6 40) + UDP 8 + VXLAN 8 + inner Ethernet 14
     * = 50 (70). */
    self->mtu = cfg->network.mtu ? (int) cfg->network.mtu
                : self->plain    ? underlay - (v6 ? 70 : 50)
                                 : overlay_compute_mtu (underlay, v6);
    if (self->mtu < 576) {
        snprintf (err, errlen, "network: shed MTU %d is below 576 (underlay_mtu %d too small)",
                  self->mtu, underlay);
        goto fail;
    }
    snprintf (self->ipam_path, sizeof self->ipam_path, "%s/%s", cfg->data_dir, IPAM_FILE);

    ipam_config_t ic = { .cidr = cfg->network.cidr,
                         .block_prefix = (int) cfg->network.block_prefix,
                         .node = cfg->name,
                         .settle_ms = cfg->network.settle_ms };
    self->ipam = ipam_new (&ic, err, errlen);
    if (!self->ipam)
        goto fail;
    if (ipam_load (self->ipam, self->ipam_path, (uint64_t) zclock_mono (), err, errlen) != 0)
        goto fail;

    char why[256];
    if (hostnet_bridge_ensure (cfg->network.bridge, self->mtu, &self->bridge_created, why,
                               sizeof why)
        != 0) {
        snprintf (err, errlen, "network bridge: %s", why);
        goto fail;
    }
    if (self->plain) {
        if (s_start_plain (self, err, errlen) != 0)
            goto fail;
    }
    else {
        overlay_config_t oc = {
            .tap_name = self->device,
            .bridge_name = cfg->network.bridge,
            /* NULL: 0.0.0.0; "::" opens a dual-stack IPv6 socket */
            .bind_addr = strcmp (cfg->bind_addr, "0.0.0.0") ? cfg->bind_addr : NULL,
            .port = self->port,
            .vni = cfg->network.vni,
            .underlay_mtu = underlay,
            .mtu = self->mtu,
            .identity = identity,
        };
        char why2[256];
        self->dp = overlay_new (&oc, why2, sizeof why2);
        if (!self->dp) {
            snprintf (err, errlen, "overlay datapath: %s", why2);
            goto fail;
        }
        self->port = overlay_port (self->dp);
        self->mtu = overlay_mtu (self->dp);
    }
    if (cfg->network.nat)
        s_start_nat (self);

    /* Others' claims and endpoints first (the change listener does not
     * replay the past), then the peers (the directory replays its view),
     * then our own claim. */
    shed_nstate_on_change (state, REC_KIND_OVERLAY, novl_on_record, self);
    shed_nstate_on_change (state, REC_KIND_ENDPOINT, novl_on_record, self);
    shed_nstate_list (state, REC_KIND_OVERLAY, s_list_cb, self);
    shed_nstate_list (state, REC_KIND_ENDPOINT, s_list_cb, self);
    peer_dir_ops_t ops = { novl_on_peer_alive, novl_on_peer_alive, novl_on_peer_failed,
                           novl_on_peer_removed };
    if (peer_dir_on_peer (peers, &ops, NULL, self, err, errlen) != 0) {
        shed_overlay_destroy (&self);
        return NULL;
    }
    novl_on_tick (loop, 0, self);
    self->timer = zloop_timer (loop, NOVL_TICK_MS, 0, novl_on_tick, self);

    shed_api_server_on (api, API_NETWORK_REQ, novl_api_network, self);
    shed_api_server_on (api, API_NET_ATTACH_REQ, novl_api_attach, self);
    shed_api_server_on (api, API_NET_DETACH_REQ, novl_api_detach, self);
    log_info ("overlay", "network up|mode=%s cidr=%s bridge=%s device=%s port=%u mtu=%d vni=%u",
              self->plain ? "plain" : "encrypted", cfg->network.cidr, cfg->network.bridge,
              self->device, (unsigned) self->port, self->mtu, (unsigned) cfg->network.vni);
    return self;

fail:
    shed_overlay_destroy (&self);
    return NULL;
}

void
shed_overlay_destroy (shed_overlay_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    shed_overlay_t *self = *self_p;
    if (self->timer >= 0 && self->loop)
        zloop_timer_end (self->loop, self->timer);
    overlay_destroy (&self->dp);
    char why[256], script[128];
    if (self->plain)
        hostnet_link_del (self->device, why, sizeof why);
    if (self->nft_table[0]) {
        snprintf (script, sizeof script, "delete table inet %s\n", self->nft_table);
        s_nft (script, why, sizeof why);
    }
    if (self->nat_table[0]) {
        snprintf (script, sizeof script, "delete table ip %s\n", self->nat_table);
        s_nft (script, why, sizeof why);
    }
    ipam_destroy (&self->ipam);
    zhashx_destroy (&self->nodes);
    zhashx_destroy (&self->endpoints);
    free (self);
    *self_p = NULL;
}
