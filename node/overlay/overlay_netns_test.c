/*
 * overlay_netns_test.c - the datapath end to end, in network namespaces.
 * Needs root (skips with a message otherwise). Names carry our PID; every
 * namespace is deleted at the end, also on failure (atexit).
 *
 *   shA (198.19.1.1)                              shB (198.19.2.1)
 *     | eth0 (veth)                                  | eth0
 *   [hA] sv-A --- brA --- tapA                     [hB] sv-B --- brB --- tapB
 *                          \                                      /
 *                           overlay A :7000 ==== overlay B :7000
 *                           uA 198.18.N.1/24 ---- uB 198.18.N.2/24
 *
 * Both overlays run in this process: we enter hA, create A (TAP, socket),
 * enter hB, create B, and go back; their threads work on the fds.
 * Checks: ping across both ways (after the handshake), the largest inner
 * packet that fits the computed MTU, a replayed captured datagram dropped
 * and counted, plaintext VXLAN and forged data from a non-member dropped.
 */
#include "node/overlay/overlay_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <netinet/ip.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#define PORT 7000

static char s_ns[4][32]; //  hA hB shA shB
static char s_uA[16], s_uB[16];
static int s_net = 0;   //  third octet of the underlay /24
static int s_home = -1; //  our original namespace
static bool s_built = false;
static const uint8_t s_macA[6] = { 0x02, 0x5e, 0, 0, 1, 1 };
static const uint8_t s_macB[6] = { 0x02, 0x5e, 0, 0, 2, 1 };

static int
s_sh (const char *fmt, ...)
{
    char cmd[1024];
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (cmd, sizeof cmd, fmt, ap);
    va_end (ap);
    int rc = system (cmd);
    return rc == -1 ? -1 : WEXITSTATUS (rc);
}

static void
s_cleanup (void)
{
    if (!s_built)
        return;
    for (int i = 0; i < 4; i++)
        s_sh ("ip netns del %s 2>/dev/null", s_ns[i]);
    s_built = false;
}

static int
s_enter (const char *ns)
{
    char path[128];
    snprintf (path, sizeof path, "/var/run/netns/%s", ns);
    int fd = open (path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = setns (fd, CLONE_NEWNET);
    close (fd);
    return rc;
}

static void
s_home_again (void)
{
    assert_int_equal (setns (s_home, CLONE_NEWNET), 0);
}

static int
s_build (void)
{
    pid_t pid = getpid ();
    s_net = (int) (pid % 250) + 1;
    snprintf (s_ns[0], 32, "ovhA%d", pid);
    snprintf (s_ns[1], 32, "ovhB%d", pid);
    snprintf (s_ns[2], 32, "ovsA%d", pid);
    snprintf (s_ns[3], 32, "ovsB%d", pid);
    snprintf (s_uA, 16, "ouA%d", pid % 1000000);
    snprintf (s_uB, 16, "ouB%d", pid % 1000000);
    s_built = true;
    atexit (s_cleanup);
    int mtu = overlay_compute_mtu (1500, false);
    int rc = 0;
    for (int i = 0; i < 4; i++)
        rc |= s_sh ("ip netns add %s", s_ns[i]);
    rc |= s_sh ("ip link add %s netns %s type veth peer name %s netns %s", s_uA, s_ns[0], s_uB,
                s_ns[1]);
    rc |= s_sh ("ip -n %s addr add 198.18.%d.1/24 dev %s && ip -n %s link set %s up"
                " && ip -n %s link set lo up",
                s_ns[0], s_net, s_uA, s_ns[0], s_uA, s_ns[0]);
    rc |= s_sh ("ip -n %s addr add 198.18.%d.2/24 dev %s && ip -n %s link set %s up"
                " && ip -n %s link set lo up",
                s_ns[1], s_net, s_uB, s_ns[1], s_uB, s_ns[1]);
    for (int h = 0; h < 2; h++) {
        const char *host = s_ns[h], *shed = s_ns[2 + h];
        const uint8_t *mac = h ? s_macB : s_macA;
        rc |= s_sh ("ip -n %s link add br0 type bridge && ip -n %s link set br0 up", host, host);
        rc |= s_sh ("ip -n %s link add sv0 type veth peer name eth0 netns %s", host, shed);
        rc |= s_sh ("ip -n %s link set sv0 master br0 mtu %d up", host, mtu);
        rc |= s_sh ("ip -n %s link set eth0 address %02x:%02x:%02x:%02x:%02x:%02x mtu %d up"
                    " && ip -n %s link set lo up && ip -n %s addr add 198.19.%d.1/16 dev eth0",
                    shed, mac[0], mac[1], mac[2], mac[3], mac[4], mac[5], mtu, shed, shed, h + 1);
    }
    return rc;
}

typedef struct {
    shed_identity_t *idA, *idB;
    overlay_t *A, *B;
} fixture_t;

static overlay_t *
s_overlay (const char *host, const shed_identity_t *id, const char *addr)
{
    assert_int_equal (s_enter (host), 0);
    overlay_config_t cfg = {
        .tap_name = "tap0",
        .bridge_name = "br0",
        .bind_addr = addr,
        .port = PORT,
        .vni = 4242,
        .identity = id,
        .threads = 1,
    };
    char err[256] = "";
    overlay_t *ov = overlay_new (&cfg, err, sizeof err);
    if (!ov)
        fprintf (stderr, "overlay_new: %s\n", err);
    s_home_again ();
    return ov;
}

static int
s_setup (void **state)
{
    if (geteuid () != 0 || access ("/dev/net/tun", R_OK | W_OK) != 0
        || s_sh ("command -v ip >/dev/null && command -v ping >/dev/null") != 0)
        return 0; //  test skips, see below
    s_home = open ("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
    if (s_home < 0 || s_build () != 0) {
        fprintf (stderr, "overlay_netns_test: topology failed\n");
        return -1;
    }
    fixture_t *f = calloc (1, sizeof *f);
    f->idA = shed_identity_new_ephemeral ();
    f->idB = shed_identity_new_ephemeral ();
    char a[32], b[32];
    snprintf (a, sizeof a, "198.18.%d.1", s_net);
    snprintf (b, sizeof b, "198.18.%d.2", s_net);
    f->A = s_overlay (s_ns[0], f->idA, a);
    f->B = s_overlay (s_ns[1], f->idB, b);
    if (!f->A || !f->B)
        return -1;
    overlay_peer_add (f->A, "node-b", shed_identity_x25519_public (f->idB), b, PORT);
    overlay_peer_add (f->B, "node-a", shed_identity_x25519_public (f->idA), a, PORT);
    overlay_fdb_set (f->A, s_macB, "node-b");
    overlay_fdb_set (f->B, s_macA, "node-a");
    overlay_arp_set (f->A, "198.19.2.1", s_macB);
    overlay_arp_set (f->B, "198.19.1.1", s_macA);
    *state = f;
    return 0;
}

static int
s_teardown (void **state)
{
    fixture_t *f = *state;
    if (f) {
        overlay_destroy (&f->A);
        overlay_destroy (&f->B);
        shed_identity_destroy (&f->idA);
        shed_identity_destroy (&f->idB);
        free (f);
    }
    s_cleanup ();
    if (s_home >= 0)
        close (s_home);
    return 0;
}

static overlay_stats_t
s_stats (overlay_t *ov)
{
    overlay_stats_t st;
    overlay_stats (ov, &st, NULL, 0, NULL);
    return st;
}

//  Capture (in hB, on uB) one data datagram from A to B's port: its IP
//  packet. Runs while a ping is going on.
static size_t
s_capture_data (uint8_t *pkt, size_t cap)
{
    assert_int_equal (s_enter (s_ns[1]), 0);
    int fd = socket (AF_PACKET, SOCK_DGRAM | SOCK_CLOEXEC, htons (ETH_P_IP));
    s_home_again ();
    assert_true (fd >= 0);
    struct timeval tv = { .tv_sec = 1, .tv_usec = 0 };
    setsockopt (fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    s_sh ("ip netns exec %s ping -c 3 -i 0.2 -q 198.19.2.1 >/dev/null 2>&1 &", s_ns[2]);
    size_t got = 0;
    for (int tries = 0; tries < 50 && !got; tries++) {
        ssize_t n = recv (fd, pkt, cap, 0);
        if (n < 28 + SHED_SESSION_DATA_OVERHEAD)
            continue;
        const struct iphdr *ip = (const struct iphdr *) pkt;
        size_t ihl = ip->ihl * 4u;
        const uint8_t *udp = pkt + ihl;
        char src[16];
        snprintf (src, sizeof src, "198.18.%d.1", s_net);
        struct in_addr a;
        inet_pton (AF_INET, src, &a);
        if (ip->protocol == IPPROTO_UDP && ip->saddr == a.s_addr && (udp[2] << 8 | udp[3]) == PORT
            && udp[8] == SHED_MSG_DATA && (size_t) n > ihl + 8 + SHED_SESSION_DATA_OVERHEAD)
            got = (size_t) n;
    }
    close (fd);
    return got;
}

//  Re-inject a captured IP packet on uA (in hA), as if A sent it again.
static void
s_inject (uint8_t *pkt, size_t len)
{
    const struct iphdr *ip = (const struct iphdr *) pkt;
    uint8_t *udp = pkt + ip->ihl * 4u;
    udp[6] = udp[7] = 0; //  UDP checksum "none" (IPv4): the
                         //  captured one may be offload-partial
    assert_int_equal (s_enter (s_ns[1]), 0);
    struct ifreq ifr;
    memset (&ifr, 0, sizeof ifr);
    snprintf (ifr.ifr_name, sizeof ifr.ifr_name, "%s", s_uB);
    int probe = socket (AF_INET, SOCK_DGRAM, 0);
    assert_int_equal (ioctl (probe, SIOCGIFHWADDR, &ifr), 0);
    close (probe);
    assert_int_equal (s_enter (s_ns[0]), 0);
    int fd = socket (AF_PACKET, SOCK_DGRAM | SOCK_CLOEXEC, htons (ETH_P_IP));
    struct sockaddr_ll ll;
    memset (&ll, 0, sizeof ll);
    ll.sll_family = AF_PACKET;
    ll.sll_protocol = htons (ETH_P_IP);
    ll.sll_ifindex = (int) if_nametoindex (s_uA);
    ll.sll_halen = 6;
    memcpy (ll.sll_addr, ifr.ifr_hwaddr.sa_data, 6);
    s_home_again ();
    assert_true (fd >= 0);
    assert_int_equal (sendto (fd, pkt, len, 0, (struct sockaddr *) &ll, sizeof ll), (ssize_t) len);
    close (fd);
}

//  Send a raw UDP datagram to B's overlay port from hA, port `sport`.
static void
s_send_from_a (uint16_t sport, const uint8_t *data, size_t len)
{
    assert_int_equal (s_enter (s_ns[0]), 0);
    int fd = socket (AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    s_home_again ();
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons (sport) };
    char b[32];
    snprintf (b, sizeof b, "198.18.%d.1", s_net);
    inet_pton (AF_INET, b, &sa.sin_addr);
    assert_int_equal (bind (fd, (struct sockaddr *) &sa, sizeof sa), 0);
    snprintf (b, sizeof b, "198.18.%d.2", s_net);
    inet_pton (AF_INET, b, &sa.sin_addr);
    sa.sin_port = htons (PORT);
    assert_int_equal (sendto (fd, data, len, 0, (struct sockaddr *) &sa, sizeof sa), (ssize_t) len);
    close (fd);
}

static void
s_wait_drop (overlay_t *ov, overlay_drop_t reason, uint64_t above)
{
    for (int i = 0; i < 50 && s_stats (ov).drops[reason] <= above; i++)
        usleep (20 * 1000);
    assert_true (s_stats (ov).drops[reason] > above);
}

static void
test_end_to_end (void **state)
{
    fixture_t *f = *state;
    if (!f) {
        printf ("overlay_netns_test: skipped: needs root, /dev/net/tun, ip and ping\n");
        skip ();
    }
    //  The first ping may race the handshake; then it must work both ways.
    int rc = 1;
    for (int i = 0; i < 10 && rc != 0; i++)
        rc = s_sh ("ip netns exec %s ping -c 1 -W 1 -q 198.19.2.1 >/dev/null", s_ns[2]);
    assert_int_equal (rc, 0);
    assert_int_equal (
        s_sh ("ip netns exec %s ping -c 3 -i 0.2 -W 1 -q 198.19.2.1 >/dev/null", s_ns[2]), 0);
    assert_int_equal (
        s_sh ("ip netns exec %s ping -c 3 -i 0.2 -W 1 -q 198.19.1.1 >/dev/null", s_ns[3]), 0);
    //  The largest ICMP echo that fits the computed MTU, unfragmented.
    int payload = overlay_compute_mtu (1500, false) - 28;
    assert_int_equal (s_sh ("ip netns exec %s ping -c 2 -i 0.2 -W 1 -q -M do -s %d 198.19.2.1"
                            " >/dev/null",
                            s_ns[2], payload),
                      0);
    //  ARP was answered locally (the shed's first resolution).
    assert_true (s_stats (f->A).arp_answered + s_stats (f->B).arp_answered >= 1);

    overlay_peer_stats_t ps;
    size_t n;
    overlay_stats (f->A, NULL, &ps, 1, &n);
    assert_int_equal (n, 1);
    assert_string_equal (ps.node, "node-b");
    assert_true (ps.has_key);
    assert_true (ps.tx_packets >= 5 && ps.rx_packets >= 5);
    printf ("overlay_netns_test: aead=%s tx=%llu rx=%llu\n", shed_session_aead_name (ps.aead),
            (unsigned long long) ps.tx_packets, (unsigned long long) ps.rx_packets);
}

static void
test_replay_and_forgery_dropped (void **state)
{
    fixture_t *f = *state;
    if (!f)
        skip ();
    uint8_t pkt[2048];
    size_t len = s_capture_data (pkt, sizeof pkt);
    assert_true (len > 0);
    usleep (800 * 1000); //  let the ping finish
    uint64_t before = s_stats (f->B).drops[OVERLAY_DROP_REPLAY];
    s_inject (pkt, len);
    s_wait_drop (f->B, OVERLAY_DROP_REPLAY, before);

    //  Plaintext VXLAN at the overlay port, from anyone: dropped.
    uint8_t vx[64];
    memset (vx, 0, sizeof vx);
    overlay_vxlan_encode (vx, 4242);
    before = s_stats (f->B).drops[OVERLAY_DROP_PLAINTEXT];
    s_send_from_a (PORT + 1, vx, sizeof vx);
    s_wait_drop (f->B, OVERLAY_DROP_PLAINTEXT, before);

    //  The captured datagram from a non-member address (another port).
    const struct iphdr *ip = (const struct iphdr *) pkt;
    size_t off = ip->ihl * 4u + 8;
    before = s_stats (f->B).drops[OVERLAY_DROP_NOT_MEMBER];
    s_send_from_a (PORT + 2, pkt + off, len - off);
    s_wait_drop (f->B, OVERLAY_DROP_NOT_MEMBER, before);

    //  Connectivity unharmed.
    assert_int_equal (s_sh ("ip netns exec %s ping -c 1 -W 1 -q 198.19.2.1 >/dev/null", s_ns[2]),
                      0);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_end_to_end),
        cmocka_unit_test (test_replay_and_forgery_dropped),
    };
    return cmocka_run_group_tests (tests, s_setup, s_teardown);
}
