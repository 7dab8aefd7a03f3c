/* ctl_state.c - `shedctl state [KIND]`: the replicated records this node
 * holds (origin, kind, key, version, origin status, value size). */
#include "node/ctl/ctl.h"

#include <stdio.h>
#include <string.h>

int
ctl_state (ctl_t *ctl, int argc, char **argv)
{
    if (argc > 2)
        return ctl_fail ("usage: state [KIND]");
    api_msg_t req = { .hdr.type = API_STATE_REQ }, rep;
    if (argc == 2) {
        if (strlen (argv[1]) >= sizeof req.u.api_state_req.kind)
            return ctl_fail ("kind too long: '%s'", argv[1]);
        strcpy (req.u.api_state_req.kind, argv[1]);
    }
    if (ctl_call (ctl, &req, &rep, API_STATE_REP) != 0)
        return 1;
    const api_state_rep_t *r = &rep.u.api_state_rep;
    if (ctl->json) {
        json_t j;
        json_init (&j, stdout);
        json_arr_begin (&j);
        for (size_t i = 0; i < r->records.n; i++) {
            const api_staterec_t *x = &r->records.items[i];
            json_obj_begin (&j);
            /* clang-format off */
            json_key (&j, "origin");  json_str (&j, x->origin);
            json_key (&j, "kind");    json_str (&j, x->kind);
            json_key (&j, "key");     json_str (&j, x->key);
            json_key (&j, "version"); json_u64 (&j, x->version);
            json_key (&j, "status");  json_str (&j, x->status);
            json_key (&j, "size");    json_u64 (&j, x->size);
            /* clang-format on */
            json_obj_end (&j);
        }
        json_arr_end (&j);
        json_end (&j);
    }
    else {
        printf ("%-16s %-10s %-32s %8s %-12s %s\n", "ORIGIN", "KIND", "KEY", "VERSION", "STATUS",
                "BYTES");
        for (size_t i = 0; i < r->records.n; i++) {
            const api_staterec_t *x = &r->records.items[i];
            printf ("%-16s %-10s %-32s %8llu %-12s %llu\n", x->origin, x->kind, x->key,
                    (unsigned long long) x->version, x->status, (unsigned long long) x->size);
        }
    }
    wire_msg_free (&api_proto, &rep);
    return 0;
}
