/* port_owner.c - see port_owner.h. */
#include "node/port_owner.h"

#include "node/members/peer_dir.h"

#include <ctype.h>
#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define S_TCP_LISTEN 0x0A /* include/net/tcp_states.h */

/* The inode of a socket bound to local `port` in one /proc/net table, or 0. */
static unsigned long
s_find_inode (const char *table, unsigned port, bool listen_only)
{
    FILE *f = fopen (table, "r");
    if (!f)
        return 0;
    char line[512];
    unsigned long found = 0;
    if (!fgets (line, sizeof line, f)) { /* header */
        fclose (f);
        return 0;
    }
    while (!found && fgets (line, sizeof line, f)) {
        char local[64];
        unsigned st;
        unsigned long inode;
        /* sl local rem st tx:rx tr:when retrnsmt uid timeout inode */
        if (sscanf (line, " %*s %63s %*s %x %*s %*s %*s %*s %*s %lu", local, &st, &inode) != 3)
            continue;
        const char *colon = strrchr (local, ':');
        if (!colon || strtoul (colon + 1, NULL, 16) != port)
            continue;
        if (listen_only && st != S_TCP_LISTEN)
            continue;
        found = inode;
    }
    fclose (f);
    return found;
}

/* The process with an fd on socket `inode`: its pid and comm, or -1. */
static long
s_find_pid (unsigned long inode, char *comm, size_t commlen)
{
    char want[64];
    snprintf (want, sizeof want, "socket:[%lu]", inode);
    DIR *proc = opendir ("/proc");
    if (!proc)
        return -1;
    long pid = -1;
    struct dirent *p;
    while (pid < 0 && (p = readdir (proc))) {
        if (!isdigit ((unsigned char) p->d_name[0]))
            continue;
        char path[300];
        snprintf (path, sizeof path, "/proc/%s/fd", p->d_name);
        DIR *fds = opendir (path);
        if (!fds)
            continue;
        struct dirent *fd;
        while (pid < 0 && (fd = readdir (fds))) {
            char link[600], target[64];
            snprintf (link, sizeof link, "%s/%s", path, fd->d_name);
            ssize_t n = readlink (link, target, sizeof target - 1);
            if (n <= 0)
                continue;
            target[n] = '\0';
            if (strcmp (target, want) == 0)
                pid = strtol (p->d_name, NULL, 10);
        }
        closedir (fds);
    }
    closedir (proc);
    if (pid > 0) {
        char path[64];
        snprintf (path, sizeof path, "/proc/%ld/comm", pid);
        FILE *f = fopen (path, "r");
        comm[0] = '\0';
        if (f) {
            if (fgets (comm, (int) commlen, f))
                comm[strcspn (comm, "\n")] = '\0';
            fclose (f);
        }
    }
    return pid;
}

void
shed_port_owner (const char *proto, unsigned port, char *out, size_t outlen)
{
    bool tcp = strcmp (proto, "tcp") == 0;
    char t4[32], t6[32];
    snprintf (t4, sizeof t4, "/proc/net/%s", tcp ? "tcp" : "udp");
    snprintf (t6, sizeof t6, "/proc/net/%s6", tcp ? "tcp" : "udp");
    unsigned long inode = s_find_inode (t4, port, tcp);
    if (!inode)
        inode = s_find_inode (t6, port, tcp);
    out[0] = '\0';
    if (!inode)
        return;
    char comm[64] = "";
    long pid = s_find_pid (inode, comm, sizeof comm);
    if (pid > 0)
        snprintf (out, outlen, "pid %ld (%s)", pid, comm[0] ? comm : "?");
    else
        snprintf (out, outlen, "another process (pid unknown: run as root to see it)");
}

/* The neighbours known to use a port, and the one-line change. */
static const char *
s_neighbour (unsigned port)
{
    switch (port) {
    case 7946:
        return "Serf and Docker Swarm use 7946: move shed-node with 'bind: 0.0.0.0:7956' "
               "(it uses 7946-7950)";
    case 7947:
    case 7948:
    case 7949:
    case 7950:
        return "shed-node uses gossip port + 1..4: move it with 'bind: 0.0.0.0:7956'";
    case 8600:
        return "Consul's DNS uses 8600: move shed-node's with 'dns: {addr: \"127.0.0.1:8601\"}'";
    case 7951:
        return "move the metrics endpoint with 'metrics: {listen: \"127.0.0.1:7952\"}'";
    default:
        return NULL;
    }
}

static void
s_check (const char *proto, unsigned port, const char *what, char *out, size_t outlen)
{
    if (port == 0)
        return;
    char who[128];
    shed_port_owner (proto, port, who, sizeof who);
    if (!who[0])
        return;
    size_t len = strlen (out);
    const char *hint = s_neighbour (port);
    snprintf (out + len, outlen - len, "%sport %u/%s (%s) is held by %s%s%s", len ? "; " : "", port,
              proto, what, who, hint ? "; " : "", hint ? hint : "");
}

/* The port of "ADDR:PORT" / "[V6]:PORT", or 0. */
static unsigned
s_listen_port (const char *listen)
{
    const char *colon = strrchr (listen, ':');
    return colon ? (unsigned) strtoul (colon + 1, NULL, 10) : 0;
}

void
shed_port_explain (const shed_config_t *cfg, char *out, size_t outlen)
{
    out[0] = '\0';
    unsigned g = cfg->bind_port;
    s_check ("udp", g, "gossip", out, outlen);
    s_check ("tcp", g, "gossip push-pull", out, outlen);
    s_check ("tcp", g + PEER_PORT_LINKS, "replicated state", out, outlen);
    s_check ("tcp", g + PEER_PORT_BUS, "event bus", out, outlen);
    s_check ("tcp", g + PEER_PORT_RPC, "node RPC", out, outlen);
    if (cfg->network.enabled)
        s_check ("udp", cfg->network.port ? cfg->network.port : g + PEER_PORT_OVERLAY, "overlay",
                 out, outlen);
    if (cfg->dns.enabled) {
        s_check ("udp", s_listen_port (cfg->dns.addr), "DNS", out, outlen);
        s_check ("tcp", s_listen_port (cfg->dns.addr), "DNS", out, outlen);
    }
    if (cfg->metrics.enabled && cfg->metrics.explicit_listen)
        s_check ("tcp", s_listen_port (cfg->metrics.listen), "metrics", out, outlen);
}
