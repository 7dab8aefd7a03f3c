/*
 * nftables.c - see nftables.h. Scripts are text for libnftables; what goes
 * into them is either ours (table and chain names built here) or re-formatted
 * from its parsed value (addresses, MACs), so the text is exactly what we
 * meant: a gossiped address like "1.1.1.1 }\nflush ruleset\n#" never parses
 * and never reaches a script.
 */
#include "node/overlay/nftables.h"

#include "common/nft_dl.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static shed_nft_runner_fn *s_runner;

int
shed_nft_addr_canon (const char *text, char out[SHED_NFT_ADDR_MAX])
{
    if (!text || !out)
        return -1;
    out[0] = '\0';
    unsigned char bin[16];
    int family = strchr (text, ':') ? AF_INET6 : AF_INET;
    if (inet_pton (family, text, bin) != 1 || !inet_ntop (family, bin, out, SHED_NFT_ADDR_MAX)) {
        out[0] = '\0';
        return -1;
    }
    return family == AF_INET ? 4 : 6;
}

int
shed_nft_mac_canon (const char *text, char out[SHED_NFT_MAC_MAX])
{
    if (!text || !out)
        return -1;
    out[0] = '\0';
    /* Exactly "xx:xx:xx:xx:xx:xx": sscanf alone would take " 2:..." too. */
    if (strlen (text) != 17)
        return -1;
    for (int i = 0; i < 17; i++) {
        bool colon = i % 3 == 2;
        if (colon ? text[i] != ':' : !isxdigit ((unsigned char) text[i]))
            return -1;
    }
    for (int i = 0; i < 17; i++)
        out[i] = (char) tolower ((unsigned char) text[i]);
    out[17] = '\0';
    return 0;
}

void
shed_nft_table_name (const char *node, const char *suffix, char *out, size_t len)
{
    if (!out || len == 0)
        return;
    size_t n = (size_t) snprintf (out, len, "shed_");
    for (const char *p = node ? node : ""; *p && n + 1 < len; p++)
        out[n++] = isalnum ((unsigned char) *p) ? *p : '_';
    out[n < len ? n : len - 1] = '\0';
    if (n < len)
        snprintf (out + n, len - n, "%s", suffix ? suffix : "");
}

/* Identifiers we put in scripts unquoted (tables, chains, ports): a letter,
 * then letters, digits, '_'. A veth name ("sv" + hex) is one. */
static bool
s_ident_ok (const char *s, size_t max)
{
    if (!s || !isalpha ((unsigned char) s[0]))
        return false;
    size_t n = 0;
    for (; s[n]; n++)
        if (n >= max || !(isalnum ((unsigned char) s[n]) || s[n] == '_'))
            return false;
    return true;
}

static int
s_refuse (char *buf, size_t len)
{
    if (buf && len)
        buf[0] = '\0';
    errno = EINVAL;
    return -1;
}

/* Append to buf; false once it no longer fits (the caller refuses). */
static bool __attribute__ ((format (printf, 4, 5)))
s_put (char *buf, size_t len, size_t *at, const char *fmt, ...)
{
    if (*at >= len)
        return false;
    va_list ap;
    va_start (ap, fmt);
    int n = vsnprintf (buf + *at, len - *at, fmt, ap);
    va_end (ap);
    if (n < 0 || (size_t) n >= len - *at) {
        *at = len;
        return false;
    }
    *at += (size_t) n;
    return true;
}

int
shed_nft_antispoof_script (const char *table, const char *port, const char *mac, const char *ip,
                           char *buf, size_t len)
{
    char m[SHED_NFT_MAC_MAX], a[SHED_NFT_ADDR_MAX], host[SHED_NFT_ADDR_MAX];
    if (!buf || !s_ident_ok (table, SHED_NFT_NAME_MAX) || !s_ident_ok (port, 15)
        || shed_nft_mac_canon (mac, m) != 0)
        return s_refuse (buf, len);
    bool has_ip = ip && ip[0];
    if (has_ip) {
        /* The state keeps "a.b.c.d/prefix": the host part is the address. */
        snprintf (host, sizeof host, "%s", ip);
        char *slash = strchr (host, '/');
        if (slash)
            *slash = '\0';
        if (shed_nft_addr_canon (host, a) != 4)
            return s_refuse (buf, len);
    }
    size_t at = 0;
    const char *t = table, *p = port;
    /* The base chain and map are declared with `add` (a no-op when they
     * exist); the one dispatch rule is flushed and put back so that it is
     * never doubled. The port's chain is flushed and refilled: re-running
     * for a rebuilt veth replaces its rules, in one transaction. */
    bool ok =
        s_put (buf, len, &at, "add table bridge %s\n", t)
        && s_put (buf, len, &at, "add map bridge %s ports { type ifname : verdict; }\n", t)
        && s_put (buf, len, &at,
                  "add chain bridge %s prerouting { type filter hook prerouting priority "
                  "-200; policy accept; }\n",
                  t)
        && s_put (buf, len, &at, "flush chain bridge %s prerouting\n", t)
        && s_put (buf, len, &at, "add rule bridge %s prerouting iifname vmap @ports\n", t)
        && s_put (buf, len, &at, "add chain bridge %s %s\n", t, p)
        && s_put (buf, len, &at, "flush chain bridge %s %s\n", t, p)
        && s_put (buf, len, &at,
                  "add rule bridge %s %s ether saddr != %s counter drop comment \"mac\"\n", t, p, m)
        /* Only IPv4 and ARP: the overlay carries IPv4 (docs/overlay.md);
            * a VLAN tag or IPv6 would carry any source address past the
            * rules below. */
        && s_put (buf, len, &at,
                  "add rule bridge %s %s ether type != { ip, arp } counter drop "
                  "comment \"proto\"\n",
                  t, p)
        && s_put (buf, len, &at,
                  "add rule bridge %s %s arp saddr ether != %s counter drop "
                  "comment \"arp_mac\"\n",
                  t, p, m);
    if (ok && has_ip)
        ok = s_put (buf, len, &at,
                    "add rule bridge %s %s arp saddr ip != %s counter drop "
                    "comment \"arp_ip\"\n",
                    t, p, a)
             && s_put (buf, len, &at,
                       "add rule bridge %s %s ip saddr != %s counter drop comment \"ip\"\n", t, p,
                       a);
    ok = ok && s_put (buf, len, &at, "add element bridge %s ports { \"%s\" : jump %s }\n", t, p, p);
    return ok ? 0 : s_refuse (buf, len);
}

int
shed_nft_antispoof_del_script (const char *table, const char *port, char *buf, size_t len)
{
    if (!buf || !s_ident_ok (table, SHED_NFT_NAME_MAX) || !s_ident_ok (port, 15))
        return s_refuse (buf, len);
    size_t at = 0;
    const char *t = table, *p = port;
    /* Declared first so the deletes succeed when the port (or the table)
     * was never there: a teardown after a failed create, or a shed made
     * before the rules existed. */
    bool ok =
        s_put (buf, len, &at, "add table bridge %s\n", t)
        && s_put (buf, len, &at, "add map bridge %s ports { type ifname : verdict; }\n", t)
        && s_put (buf, len, &at, "add chain bridge %s %s\n", t, p)
        && s_put (buf, len, &at, "add element bridge %s ports { \"%s\" : jump %s }\n", t, p, p)
        && s_put (buf, len, &at, "delete element bridge %s ports { \"%s\" }\n", t, p)
        && s_put (buf, len, &at, "flush chain bridge %s %s\n", t, p)
        && s_put (buf, len, &at, "delete chain bridge %s %s\n", t, p);
    return ok ? 0 : s_refuse (buf, len);
}

int
shed_nft_members_table_script (const char *table, unsigned port, char *buf, size_t len)
{
    if (!buf || !s_ident_ok (table, SHED_NFT_NAME_MAX) || port == 0 || port > 65535)
        return s_refuse (buf, len);
    size_t at = 0;
    const char *t = table;
    bool ok = s_put (buf, len, &at,
                     "table inet %s {}\n"
                     "delete table inet %s\n"
                     "table inet %s {\n"
                     "  set members { type ipv4_addr; }\n"
                     "  set members6 { type ipv6_addr; }\n"
                     "  chain input {\n"
                     "    type filter hook input priority -10; policy accept;\n"
                     "    udp dport %u ip saddr @members accept\n"
                     "    udp dport %u ip6 saddr @members6 accept\n"
                     "    udp dport %u counter drop\n"
                     "  }\n"
                     "}\n",
                     t, t, t, port, port, port);
    return ok ? 0 : s_refuse (buf, len);
}

int
shed_nft_member_script (const char *table, const char *addr, bool add, char *buf, size_t len)
{
    char a[SHED_NFT_ADDR_MAX];
    int family = shed_nft_addr_canon (addr, a);
    if (!buf || !s_ident_ok (table, SHED_NFT_NAME_MAX) || family < 0)
        return s_refuse (buf, len);
    size_t at = 0;
    bool ok = s_put (buf, len, &at, "%s element inet %s %s { %s }\n", add ? "add" : "delete", table,
                     family == 4 ? "members" : "members6", a);
    return ok ? 0 : s_refuse (buf, len);
}

/* nft's error text spans lines (the command, a caret line): keep the first,
 * which names the problem. */
static void
s_first_line (const char *text, char *why, size_t whylen)
{
    if (!why || !whylen)
        return;
    size_t n = 0;
    for (const char *p = text ? text : ""; *p && *p != '\n' && n + 1 < whylen; p++)
        why[n++] = isprint ((unsigned char) *p) ? *p : ' ';
    why[n] = '\0';
}

static int
s_libnftables (const char *script, char *out, size_t outlen, char *why, size_t whylen)
{
    /* Loaded on first use (common/nft_dl.h): most starts run no script
     * before membership is up. */
    char dlerr[200];
    if (!nft_dl_open (dlerr, sizeof dlerr)) {
        snprintf (why, whylen, "libnftables: %s", dlerr);
        errno = ENOSYS;
        return -1;
    }
    struct nft_ctx *ctx = sym_nft_ctx_new (NFT_CTX_DEFAULT);
    if (!ctx) {
        snprintf (why, whylen, "libnftables: cannot make a context");
        errno = ENOMEM;
        return -1;
    }
    sym_nft_ctx_buffer_output (ctx);
    sym_nft_ctx_buffer_error (ctx);
    int rc = sym_nft_run_cmd_from_buffer (ctx, script);
    if (rc != 0) {
        const char *e = sym_nft_ctx_get_error_buffer (ctx);
        char line[200];
        s_first_line (e && *e ? e : "nftables refused the rules", line, sizeof line);
        snprintf (why, whylen, "nftables: %s", line);
        errno = EPERM;
    }
    else if (out && outlen) {
        const char *o = sym_nft_ctx_get_output_buffer (ctx);
        snprintf (out, outlen, "%s", o ? o : "");
    }
    sym_nft_ctx_free (ctx);
    return rc == 0 ? 0 : -1;
}

void
shed_nft_set_runner (shed_nft_runner_fn *fn)
{
    s_runner = fn;
}

int
shed_nft_run (const char *script, char *out, size_t outlen, char *why, size_t whylen)
{
    if (out && outlen)
        out[0] = '\0';
    if (!script || !*script) {
        snprintf (why, whylen, "nftables: empty script");
        errno = EINVAL;
        return -1;
    }
    return (s_runner ? s_runner : s_libnftables) (script, out, outlen, why, whylen);
}

int
shed_nft_antispoof_add (const char *node, const char *port, const char *mac, const char *ip,
                        char *why, size_t whylen)
{
    char table[SHED_NFT_NAME_MAX], script[SHED_NFT_SCRIPT_MAX];
    shed_nft_table_name (node, "", table, sizeof table);
    if (shed_nft_antispoof_script (table, port, mac, ip, script, sizeof script) != 0) {
        snprintf (why, whylen, "anti-spoofing: bad port, MAC or address (%s %s %s)",
                  port ? port : "-", mac ? mac : "-", ip && *ip ? ip : "-");
        return -1;
    }
    return shed_nft_run (script, NULL, 0, why, whylen);
}

int
shed_nft_antispoof_del (const char *node, const char *port, char *why, size_t whylen)
{
    char table[SHED_NFT_NAME_MAX], script[SHED_NFT_SCRIPT_MAX], out[SHED_NFT_SCRIPT_MAX];
    shed_nft_table_name (node, "", table, sizeof table);
    if (shed_nft_antispoof_del_script (table, port, script, sizeof script) != 0) {
        snprintf (why, whylen, "anti-spoofing: bad port %s", port ? port : "-");
        return -1;
    }
    if (shed_nft_run (script, NULL, 0, why, whylen) != 0)
        return -1;
    /* The last port gone: the table goes too, so a node leaves nothing
     * behind. Calls come one at a time (the driver's lock), so nothing is
     * added between the list and the delete. */
    char cmd[SHED_NFT_NAME_MAX + 48];
    snprintf (cmd, sizeof cmd, "list map bridge %s ports\n", table);
    if (shed_nft_run (cmd, out, sizeof out, why, whylen) == 0 && !strstr (out, "elements")) {
        snprintf (cmd, sizeof cmd, "delete table bridge %s\n", table);
        shed_nft_run (cmd, NULL, 0, why, whylen);
    }
    return 0;
}

int
shed_nft_member (const char *table, const char *addr, bool add, char *why, size_t whylen)
{
    char script[SHED_NFT_SCRIPT_MAX];
    if (shed_nft_member_script (table, addr, add, script, sizeof script) != 0) {
        snprintf (why, whylen, "member filter: not an address");
        return -1;
    }
    return shed_nft_run (script, NULL, 0, why, whylen);
}
