/*
 * arp.c - proxy ARP from the replicated state: an ARP request for a shed
 * address we know is answered on our own bridge, so address resolution
 * never floods the overlay (and a member cannot answer for addresses it
 * does not own). Requests for unknown addresses are flooded like other
 * broadcast, so the gateway and anything outside the table still resolve.
 *
 * The table is also the authority on who holds an address: an ARP frame
 * claiming a table address for another MAC, whichever way it goes, is a
 * spoof and is dropped (overlay__arp_spoofed; docs/overlay.md, "ARP and
 * broadcast").
 */
#include "node/overlay/overlay_int.h"

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define BUCKETS        1024
#define ETH_P_ARP_     0x0806
#define ARP_HW_ETHER   1
#define ARP_OP_REQUEST 1
#define ARP_OP_REPLY   2

typedef struct entry {
    struct entry *next;
    uint32_t ip; //  network byte order
    uint8_t mac[6];
} entry_t;

struct _overlay_arp_t {
    entry_t *bucket[BUCKETS];
};

static size_t
s_hash (uint32_t ip)
{
    return (ip * 2654435761u) >> 22 & (BUCKETS - 1);
}

overlay_arp_t *
overlay__arp_new (void)
{
    return (overlay_arp_t *) calloc (1, sizeof (overlay_arp_t));
}

void
overlay__arp_destroy (overlay_arp_t **self_p)
{
    assert (self_p);
    overlay_arp_t *self = *self_p;
    if (!self)
        return;
    for (size_t b = 0; b < BUCKETS; b++)
        while (self->bucket[b]) {
            entry_t *e = self->bucket[b];
            self->bucket[b] = e->next;
            free (e);
        }
    free (self);
    *self_p = NULL;
}

static entry_t **
s_find (overlay_arp_t *self, uint32_t ip)
{
    entry_t **e = &self->bucket[s_hash (ip)];
    while (*e && (*e)->ip != ip)
        e = &(*e)->next;
    return e;
}

int
overlay__arp_set (overlay_arp_t *self, uint32_t ip_be, const uint8_t mac[6])
{
    assert (self);
    if (!mac || (mac[0] & 1)) {
        errno = EINVAL;
        return -1;
    }
    entry_t **slot = s_find (self, ip_be);
    if (!*slot) {
        *slot = (entry_t *) calloc (1, sizeof (entry_t));
        if (!*slot)
            return -1;
        (*slot)->ip = ip_be;
    }
    memcpy ((*slot)->mac, mac, 6);
    return 0;
}

int
overlay__arp_del (overlay_arp_t *self, uint32_t ip_be)
{
    assert (self);
    entry_t **slot = s_find (self, ip_be);
    if (!*slot) {
        errno = ENOENT;
        return -1;
    }
    entry_t *e = *slot;
    *slot = e->next;
    free (e);
    return 0;
}

bool
overlay__arp_lookup (const overlay_arp_t *self, uint32_t ip_be, uint8_t mac[6])
{
    assert (self);
    for (const entry_t *e = self->bucket[s_hash (ip_be)]; e; e = e->next)
        if (e->ip == ip_be) {
            if (mac)
                memcpy (mac, e->mac, 6);
            return true;
        }
    return false;
}

static uint16_t
s_get16 (const uint8_t *p)
{
    return (uint16_t) (p[0] << 8 | p[1]);
}

bool
overlay__arp_answer (const overlay_arp_t *self, const uint8_t *frame, size_t len,
                     uint8_t reply[OVERLAY_ARP_FRAME])
{
    assert (self);
    //  Ethernet (14) + ARP for IPv4 over Ethernet (28); padding may follow.
    if (!frame || len < OVERLAY_ARP_FRAME || s_get16 (frame + 12) != ETH_P_ARP_)
        return false;
    const uint8_t *arp = frame + 14;
    if (s_get16 (arp) != ARP_HW_ETHER || s_get16 (arp + 2) != 0x0800 || arp[4] != 6 || arp[5] != 4
        || s_get16 (arp + 6) != ARP_OP_REQUEST)
        return false;
    const uint8_t *sender_mac = arp + 8;
    const uint8_t *sender_ip = arp + 14;
    const uint8_t *target_ip = arp + 24;
    uint32_t target, sender;
    memcpy (&target, target_ip, 4);
    memcpy (&sender, sender_ip, 4);
    uint8_t mac[6];
    //  Gratuitous ARP / duplicate address probes (target == sender, or a
    //  zero sender) are announcements, not questions: flood them.
    if (target == sender || sender == 0 || !overlay__arp_lookup (self, target, mac))
        return false;

    uint8_t *r = reply;
    memcpy (r, sender_mac, 6); //  to the asker
    memcpy (r + 6, mac, 6);    //  from the owner
    r[12] = 0x08;
    r[13] = 0x06;
    uint8_t *ra = r + 14;
    ra[0] = 0;
    ra[1] = ARP_HW_ETHER;
    ra[2] = 0x08;
    ra[3] = 0x00;
    ra[4] = 6;
    ra[5] = 4;
    ra[6] = 0;
    ra[7] = ARP_OP_REPLY;
    memcpy (ra + 8, mac, 6);         //  sender hw: the owner
    memcpy (ra + 14, target_ip, 4);  //  sender ip: the asked address
    memcpy (ra + 18, sender_mac, 6); //  target hw: the asker
    memcpy (ra + 24, sender_ip, 4);
    return true;
}

bool
overlay__arp_spoofed (const overlay_arp_t *self, const uint8_t *frame, size_t len)
{
    assert (self);
    if (!frame || len < OVERLAY_ARP_FRAME || s_get16 (frame + 12) != ETH_P_ARP_)
        return false;
    const uint8_t *arp = frame + 14;
    if (s_get16 (arp) != ARP_HW_ETHER || s_get16 (arp + 2) != 0x0800 || arp[4] != 6 || arp[5] != 4)
        return false;
    const uint8_t *sender_mac = arp + 8;
    if (memcmp (sender_mac, frame + 6, 6) != 0)
        return true;
    uint32_t sender;
    memcpy (&sender, arp + 14, 4);
    uint8_t owner[6];
    //  A zero sender (a probe) claims nothing.
    return sender != 0 && overlay__arp_lookup (self, sender, owner)
           && memcmp (owner, sender_mac, 6) != 0;
}
