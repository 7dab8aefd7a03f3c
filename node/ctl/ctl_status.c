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
        json_t j;
        json_init (&j, stdout);
        json_obj_begin (&j);
        /* clang-format off */
        json_key (&j, "name");          json_str (&j, r->name);
        json_key (&j, "public_key");    json_str (&j, r->public_key);
        json_key (&j, "version");       json_str (&j, r->version);
        json_key (&j, "uptime_s");      json_u64 (&j, r->uptime_ms / 1000);
        json_key (&j, "uptime_ms");     json_u64 (&j, r->uptime_ms);
        json_key (&j, "pid");           json_u64 (&j, r->pid);
        json_key (&j, "data_dir");      json_str (&j, r->data_dir);
        json_key (&j, "addr");          json_str (&j, r->gossip_addr);
        json_key (&j, "port");          json_u64 (&j, r->gossip_port);
        json_key (&j, "members_alive"); json_u64 (&j, r->members_alive);
        json_key (&j, "members_total"); json_u64 (&j, r->members_total);
        /* clang-format on */
        json_key (&j, "tags");
        json_obj_begin (&j);
        for (size_t i = 0; i < r->tags.n; i++) {
            json_key (&j, r->tags.items[i].key);
            json_str (&j, r->tags.items[i].value);
        }
        json_obj_end (&j);
        json_obj_end (&j);
        json_end (&j);
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
        if (ctl->json)
            printf ("{\"public_key\":\"%s\",\"identity\":\"%s\"}\n", text, argv[2]);
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
