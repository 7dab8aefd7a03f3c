/*
 * fuzz_gossip.c - libFuzzer target for the membership protocol.
 *
 * Arbitrary bytes are handed to a swim core that already knows a few
 * members, as a datagram (swim_receive) or a stream message
 * (swim_receive_stream, first input byte odd), and the core then runs its
 * timers. Decoding is bounds-checked by the codec; this target checks that
 * whatever survives decoding (nonsense names, absurd incarnations, acks for
 * nobody, claims about ourselves) is dropped or applied without crashes,
 * leaks or undefined behaviour, and that the member table stays bounded.
 * Members and senders are IPv4 and IPv6 (input bit 1 picks the sender's
 * family): whatever address the core sends to must be the canonical text
 * of one unicast address, as gossip_msg.c admits them.
 */
#include "cluster/swim.h"
#include "common/ipaddr.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static uint64_t s_clock;
static uint32_t s_rand_state = 1;

static uint64_t
s_now (void *ctx)
{
    return s_clock;
}

static uint32_t
s_random (void *ctx)
{
    s_rand_state = s_rand_state * 1103515245u + 12345u;
    return s_rand_state;
}

static void
s_check_addr (const char *addr, uint16_t port)
{
    char canon[SHED_IP_TEXT_MAX];
    if (!shed_ip_canon (addr, canon) || strcmp (canon, addr) != 0 || port == 0)
        abort ();
}

static void
s_send (void *ctx, const char *addr, uint16_t port, const uint8_t *buf, size_t len)
{
    s_check_addr (addr, port);
    /* Everything we send must decode again. */
    gossip_msg_t msg;
    if (wire_decode (&gossip_proto, buf, len, &msg, NULL) != WIRE_OK)
        abort ();
    wire_msg_free (&gossip_proto, &msg);
}

static void
s_stream (void *ctx, const char *addr, uint16_t port, const uint8_t *buf, size_t len)
{
    s_check_addr (addr, port);
}

static void
s_seed_members (swim_t *swim)
{
    gossip_update_t items[3];
    uint8_t key[SWIM_KEY_BYTES] = { 1 };
    memset (items, 0, sizeof items);
    for (int i = 0; i < 3; i++) {
        items[i].kind = SWIM_UPD_ALIVE;
        snprintf (items[i].name, sizeof items[i].name, "peer-%d", i);
        if (i == 1)
            snprintf (items[i].addr, sizeof items[i].addr, "fd00:5ed::%d", i + 2);
        else
            snprintf (items[i].addr, sizeof items[i].addr, "10.0.0.%d", i + 2);
        items[i].port = 7946;
        items[i].inc = 1;
        items[i].vmin = items[i].vmax = 1;
        items[i].key.data = key;
        items[i].key.len = SWIM_KEY_BYTES;
    }
    gossip_msg_t msg;
    memset (&msg, 0, sizeof msg);
    msg.hdr.type = GOSSIP_GOSSIP;
    snprintf (msg.u.gossip_gossip.from, sizeof msg.u.gossip_gossip.from, "peer-0");
    msg.u.gossip_gossip.updates.n = 3;
    msg.u.gossip_gossip.updates.items = items;
    uint8_t *buf = NULL;
    size_t len = 0;
    if (wire_encode (&gossip_proto, &msg, &buf, &len) == WIRE_OK)
        swim_receive (swim, "10.0.0.2", 7946, buf, len);
    free (buf);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    swim_config_t cfg;
    swim_config_lan (&cfg);
    snprintf (cfg.name, sizeof cfg.name, "me");
    snprintf (cfg.addr, sizeof cfg.addr, "10.0.0.1");
    memset (cfg.key, 7, sizeof cfg.key);
    s_clock = 1000;
    swim_env_t env = { NULL, s_now, s_random, s_send, s_stream, NULL };
    swim_t *swim = swim_new (&cfg, &env);
    if (!swim)
        abort ();
    s_seed_members (swim);
    const char *from = size > 0 && (data[0] & 2) ? "fd00:5ed::9" : "10.0.0.9";
    if (size > 0 && (data[0] & 1)) {
        uint8_t *reply = NULL;
        size_t reply_len = 0;
        swim_receive_stream (swim, from, 7946, data + 1, size - 1, &reply, &reply_len);
        free (reply);
    }
    else
        swim_receive (swim, from, 7946, data, size);
    for (int i = 0; i < 50; i++) {
        s_clock += 100;
        swim_tick (swim);
    }
    if (swim_size (swim) > SWIM_MAX_MEMBERS)
        abort ();
    swim_destroy (&swim);
    return 0;
}
