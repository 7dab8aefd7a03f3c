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
        jw_t j;
        jw_init (&j, stdout);
        jw_arr_begin (&j);
        for (size_t i = 0; i < r->records.n; i++) {
            const api_staterec_t *x = &r->records.items[i];
            jw_obj_begin (&j);
            /* clang-format off */
            jw_key (&j, "origin");  jw_str (&j, x->origin);
            jw_key (&j, "kind");    jw_str (&j, x->kind);
            jw_key (&j, "key");     jw_str (&j, x->key);
            jw_key (&j, "version"); jw_u64 (&j, x->version);
            jw_key (&j, "status");  jw_str (&j, x->status);
            jw_key (&j, "size");    jw_u64 (&j, x->size);
            /* clang-format on */
            jw_obj_end (&j);
        }
        jw_arr_end (&j);
        jw_end (&j);
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
