/* ctl_status.c - `shedctl status` and `shedctl keygen`. */
#include "node/ctl/ctl.h"

#include "crypto/keyring.h"
#include "common/fileutil.h"
#include "crypto/identity.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

int
ctl_status (ctl_t *ctl, int argc, char **argv)
{
    if (argc > 1)
        return ctl_fail ("status takes no arguments");
    api_msg_t req = { .hdr.type = API_STATUS_REQ }, rep;
    if (ctl_call (ctl, &req, &rep, API_STATUS_REP) != 0)
        return 1;
    const api_status_rep_t *r = &rep.u.api_status_rep;
    if (ctl->json) {
        jw_t j;
        jw_init (&j, stdout);
        jw_obj_begin (&j);
        /* clang-format off */
        jw_key (&j, "name");          jw_str (&j, r->name);
        jw_key (&j, "public_key");    jw_str (&j, r->public_key);
        jw_key (&j, "version");       jw_str (&j, r->version);
        jw_key (&j, "uptime_s");      jw_u64 (&j, r->uptime_ms / 1000);
        jw_key (&j, "uptime_ms");     jw_u64 (&j, r->uptime_ms);
        jw_key (&j, "pid");           jw_u64 (&j, r->pid);
        jw_key (&j, "data_dir");      jw_str (&j, r->data_dir);
        jw_key (&j, "addr");          jw_str (&j, r->gossip_addr);
        jw_key (&j, "port");          jw_u64 (&j, r->gossip_port);
        jw_key (&j, "members_alive"); jw_u64 (&j, r->members_alive);
        jw_key (&j, "members_total"); jw_u64 (&j, r->members_total);
        /* clang-format on */
        jw_key (&j, "tags");
        jw_obj_begin (&j);
        for (size_t i = 0; i < r->tags.n; i++) {
            jw_key (&j, r->tags.items[i].key);
            jw_str (&j, r->tags.items[i].value);
        }
        jw_obj_end (&j);
        jw_obj_end (&j);
        jw_end (&j);
    }
    else {
        char up[32];
        ctl_format_duration (r->uptime_ms, up, sizeof up);
        printf ("Name:        %s\n", r->name);
        printf ("Public key:  %s\n", r->public_key);
        printf ("Version:     %s\n", r->version);
        printf ("Uptime:      %s\n", up);
        printf ("Address:     %s:%llu\n", r->gossip_addr, (unsigned long long) r->gossip_port);
        printf ("Members:     %llu alive of %llu\n", (unsigned long long) r->members_alive,
                (unsigned long long) r->members_total);
        printf ("Data dir:    %s\n", r->data_dir);
        if (r->tags.n) {
            printf ("Tags:       ");
            for (size_t i = 0; i < r->tags.n; i++)
                printf (" %s=%s", r->tags.items[i].key, r->tags.items[i].value);
            printf ("\n");
        }
    }
    wire_msg_free (&api_proto, &rep);
    return 0;
}

int
ctl_keygen (ctl_t *ctl, int argc, char **argv)
{
    if (argc == 3 && !strcmp (argv[1], "--identity")) {
        /* A remote consumer's identity: its X25519 public key goes into the
         * node's events.consumer_keys file. An existing one is kept. */
        char err[256];
        if (shed_mkdir_p (argv[2], 0700) != 0)
            return ctl_fail ("cannot create %s: %s", argv[2], strerror (errno));
        shed_identity_t *id = shed_identity_load_or_create (argv[2], err, sizeof err);
        if (!id)
            return ctl_fail ("%s", err);
        char text[SHED_KEY_TEXT_MAX];
        shed_key_to_text (shed_identity_x25519_public (id), text);
        shed_identity_destroy (&id);
        if (ctl->json) {
            /* The directory is the user's: any bytes, quoted by jansson. */
            jw_t j;
            jw_init (&j, stdout);
            jw_obj_begin (&j);
            jw_key (&j, "public_key");
            jw_str (&j, text);
            jw_key (&j, "identity");
            jw_str (&j, argv[2]);
            jw_obj_end (&j);
            jw_end (&j);
        }
        else
            printf ("%s\n", text);
        return 0;
    }
    if (argc > 1)
        return ctl_fail ("usage: keygen [--identity DIR]");
    uint8_t key[SHED_KEY_BYTES];
    char text[SHED_KEY_TEXT_MAX];
    shed_keyring_generate (key);
    shed_key_to_text (key, text);
    if (ctl->json)
        printf ("{\"key\":\"%s\"}\n", text);
    else
        printf ("%s\n", text);
    sodium_memzero (key, sizeof key);
    sodium_memzero (text, sizeof text);
    return 0;
}
