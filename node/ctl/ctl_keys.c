/*
 * ctl_keys.c - cluster keyring commands:
 *   shedctl keys list
 *   shedctl keys install KEY | use KEY | remove KEY
 * Each runs on every alive member; the output lists each node's answer.
 * Keys themselves are never printed by the node: only their ids.
 */
#include "node/ctl/ctl.h"

#include <stdio.h>
#include <string.h>

int
ctl_keys (ctl_t *ctl, int argc, char **argv)
{
    static const char *ops[] = { "list", "install", "use", "remove" };
    int op = -1;
    for (int i = 0; argc >= 2 && i < 4; i++)
        if (strcmp (argv[1], ops[i]) == 0)
            op = i;
    if (op < 0 || (op == API_KEY_LIST && argc != 2) || (op != API_KEY_LIST && argc != 3))
        return ctl_fail ("usage: keys list | keys install KEY | keys use KEY | keys remove KEY");
    api_msg_t req = { .hdr.type = API_KEYS_REQ }, rep;
    req.u.api_keys_req.op = (uint64_t) op;
    if (op != API_KEY_LIST) {
        if (strlen (argv[2]) >= sizeof req.u.api_keys_req.key)
            return ctl_fail ("not a base64 32-byte key");
        strcpy (req.u.api_keys_req.key, argv[2]);
    }
    if (ctl_call (ctl, &req, &rep, API_KEYS_REP) != 0)
        return 1;
    const api_keys_rep_t *r = &rep.u.api_keys_rep;
    int rc = strcmp (r->status, "OK") == 0 ? 0 : 1;
    if (ctl->json) {
        jw_t j;
        jw_init (&j, stdout);
        jw_obj_begin (&j);
        jw_key (&j, "status");
        jw_str (&j, r->status);
        jw_key (&j, "nodes");
        jw_arr_begin (&j);
        for (size_t i = 0; i < r->nodes.n; i++) {
            const api_keynode_t *n = &r->nodes.items[i];
            jw_obj_begin (&j);
            /* clang-format off */
            jw_key (&j, "name"); jw_str (&j, n->name);
            jw_key (&j, "ok");   jw_bool (&j, n->ok);
            /* clang-format on */
            if (n->ok) {
                jw_key (&j, "key_ids");
                jw_str (&j, n->keyids);
            }
            else {
                jw_key (&j, "error");
                jw_str (&j, n->error);
            }
            jw_obj_end (&j);
        }
        jw_arr_end (&j);
        jw_obj_end (&j);
        jw_end (&j);
    }
    else {
        printf ("%s: %s (%zu node%s answered)\n", ops[op], r->status, r->nodes.n,
                r->nodes.n == 1 ? "" : "s");
        printf ("%-20s %-6s %s\n", "NODE", "RESULT", "KEY IDS (* = primary) / ERROR");
        for (size_t i = 0; i < r->nodes.n; i++) {
            const api_keynode_t *n = &r->nodes.items[i];
            printf ("%-20s %-6s %s\n", n->name, n->ok ? "ok" : "error",
                    n->ok ? n->keyids : n->error);
        }
    }
    if (rc != 0 && !ctl->json)
        fprintf (stderr, "shedctl: keys %s did not succeed on every node: %s\n", ops[op],
                 r->status);
    wire_msg_free (&api_proto, &rep);
    return rc;
}
