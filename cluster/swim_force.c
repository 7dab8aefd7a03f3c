/*
 * swim_force.c - `shedctl force-leave NODE`: a failed member made "left"
 * cluster-wide at once, as Serf's force-leave does (docs/membership.md,
 * "Force-leave").
 *
 * The forcing node gossips a LEFT update at the member's incarnation: every
 * node that has it failed (or suspect, or alive) applies it as it applies
 * a graceful leave, and a member that is in fact alive refutes it with a
 * higher incarnation, as it refutes any rumour of its death, so a force
 * leave can never remove a live member for good. The membership actor then
 * forgets, at once, a member that went from failed to left (swim_forget),
 * rather than after reap_dead (24 h) or reap_left.
 */
#include "cluster/swim_internal.h"

#include <stdio.h>
#include <string.h>

int
swim_force_leave (swim_t *self, const char *name, char *why, size_t whylen)
{
    assert (self);
    swim_node_t *node = swim__lookup (self, name);
    if (!node) {
        snprintf (why, whylen, "no member named %s", name);
        return -1;
    }
    if (node == self->nodes[0]) {
        snprintf (why, whylen, "%s is this node: use 'shedctl leave'", name);
        return -1;
    }
    if (node->pub.state == SWIM_ALIVE || node->pub.state == SWIM_SUSPECT) {
        snprintf (why, whylen,
                  "%s is %s: only a failed member can be forced out (stop it, or run "
                  "'shedctl leave' on it)",
                  name, swim_state_name (node->pub.state));
        return -1;
    }
    if (node->pub.state == SWIM_LEFT)
        return 0;
    gossip_update_t u;
    memset (&u, 0, sizeof u);
    u.kind = SWIM_UPD_LEFT;
    snprintf (u.name, sizeof u.name, "%s", node->pub.name);
    u.inc = node->pub.incarnation;
    snprintf (u.from, sizeof u.from, "%s", self->nodes[0]->pub.name);
    swim__apply (self, &u);
    self->gossip_next_ms = swim__now (self); /* tell people now */
    return 0;
}

int
swim_forget (swim_t *self, const char *name)
{
    assert (self);
    swim_node_t *node = swim__lookup (self, name);
    if (!node || node == self->nodes[0] || node->pub.state != SWIM_LEFT)
        return -1;
    swim_member_t copy = node->pub;
    copy.tags.n = 0;
    copy.tags.items = NULL;
    swim__remove (self, node);
    swim__emit (self, SWIM_EV_REAP, &copy, NULL);
    return 0;
}
