/*
 * links_probe.c - try to read replicated state from a node's links port
 * (the CURVE ROUTER of cluster/links.c) the way an outsider would.
 *
 *     links_probe [--plain] [--identity DATA_DIR] [--wait MS] ENDPOINT SERVER_KEY
 *
 * ENDPOINT    the node's links endpoint, e.g. tcp://198.18.0.11:7947
 * SERVER_KEY  the node's X25519 public key, base64 as `shedctl status --json`
 *             prints it (public_key), or Z85 (40 characters)
 *
 * By default the probe makes a fresh X25519 key pair (a host that may know
 * the cluster key but is not a member: the links port does not use the
 * cluster key at all, only member identities), connects a CURVE DEALER with
 * the node's public key as server key, sends a valid state DIGEST asking for
 * a reply (state_msg.h: an empty digest, so a member would answer with a
 * DELTA of every record) and waits for any answer.
 *   --plain              connect without CURVE (NULL mechanism)
 *   --identity DATA_DIR  use the identity of a node (DATA_DIR/identity.key,
 *                        which must exist): the positive control, a member's
 *                        key is admitted and answered
 *   --wait MS            how long to wait for an answer (default 2000)
 *   --forge ORIGIN KIND KEY VALUE
 *                        a rogue member (needs --identity): instead of the
 *                        digest, send a PUSH of one record claiming ORIGIN's
 *                        (KIND, KEY) = VALUE at a high version, signed with
 *                        the given identity's own Ed25519 key (a member can
 *                        sign, but only as itself: docs/state.md, "Trust")
 *
 * Prints one line saying what happened. Exit status: 0 nothing came back,
 * 1 data came back (the line says how many frames and, if it decodes, which
 * message and how many records), 2 usage or setup error.
 */
#include "cluster/state.h"
#include "cluster/state_msg.h"
#include "common/wire.h"
#include "crypto/identity.h"

#include <czmq.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Far above any real version, so the forgery would win if it were taken. */
#define S_FORGED_VERSION (((uint64_t) 1) << 40)

static void
s_usage (void)
{
    fprintf (stderr, "usage: links_probe [--plain] [--identity DATA_DIR] [--wait MS] "
                     "[--forge ORIGIN KIND KEY VALUE] ENDPOINT SERVER_KEY\n");
    exit (2);
}

/* The server key from base64 (shedctl) or Z85 (libzmq). */
static int
s_parse_key (const char *text, uint8_t key[32])
{
    if (shed_key_from_text (text, key) == 0)
        return 0;
    if (strlen (text) == 40 && zmq_z85_decode (key, text))
        return 0;
    return -1;
}

int
main (int argc, char **argv)
{
    bool plain = false;
    const char *identity_dir = NULL;
    const char *forge[4] = { NULL, NULL, NULL, NULL };
    long wait_ms = 2000;
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (!strcmp (argv[i], "--plain"))
            plain = true;
        else if (!strcmp (argv[i], "--identity") && i + 1 < argc)
            identity_dir = argv[++i];
        else if (!strcmp (argv[i], "--forge") && i + 4 < argc) {
            for (int k = 0; k < 4; k++)
                forge[k] = argv[++i];
        }
        else if (!strcmp (argv[i], "--wait") && i + 1 < argc) {
            char *end;
            wait_ms = strtol (argv[++i], &end, 10);
            if (*end || wait_ms < 1 || wait_ms > 600000)
                s_usage ();
        }
        else
            s_usage ();
    }
    if (argc - i != 2 || (forge[0] && !identity_dir))
        s_usage ();
    const char *endpoint = argv[i];
    uint8_t server[32];
    if (s_parse_key (argv[i + 1], server)) {
        fprintf (stderr, "links_probe: '%s' is not a 32-byte key in base64 or Z85\n", argv[i + 1]);
        return 2;
    }
    if (sodium_init () < 0) {
        fprintf (stderr, "links_probe: sodium_init failed\n");
        return 2;
    }
    zsys_init ();
    zsys_set_logstream (NULL);

    uint8_t pub[32], sec[32];
    uint8_t sig[SHED_SIG_BYTES];
    const char *who = "a fresh key";
    if (identity_dir) {
        /* load_or_create would make a new identity in an empty directory:
         * the positive control must use an existing node's key. */
        char path[4096];
        struct stat st;
        snprintf (path, sizeof path, "%s/%s", identity_dir, SHED_IDENTITY_FILE);
        if (stat (path, &st) != 0) {
            fprintf (stderr, "links_probe: %s does not exist\n", path);
            return 2;
        }
        char err[256];
        shed_identity_t *id = shed_identity_load_or_create (identity_dir, err, sizeof err);
        if (!id) {
            fprintf (stderr, "links_probe: %s\n", err);
            return 2;
        }
        memcpy (pub, shed_identity_x25519_public (id), 32);
        memcpy (sec, shed_identity_x25519_secret (id), 32);
        if (forge[0]) {
            uint8_t signed_msg[STATE_SIGNED_LEN];
            state_rec_signed_msg (forge[0], forge[1], forge[2], S_FORGED_VERSION, false,
                                  (const uint8_t *) forge[3], strlen (forge[3]), signed_msg);
            shed_identity_sign (id, signed_msg, sizeof signed_msg, sig);
        }
        shed_identity_destroy (&id);
        who = "the identity in the given data dir";
    }
    else
        crypto_box_keypair (pub, sec);

    zsock_t *dealer = zsock_new (ZMQ_DEALER);
    if (!dealer) {
        fprintf (stderr, "links_probe: cannot create a socket\n");
        return 2;
    }
    void *h = zsock_resolve (dealer);
    int zero = 0;
    zmq_setsockopt (h, ZMQ_LINGER, &zero, sizeof zero);
    if (!plain) {
        if (zmq_setsockopt (h, ZMQ_CURVE_SERVERKEY, server, 32)
            || zmq_setsockopt (h, ZMQ_CURVE_PUBLICKEY, pub, 32)
            || zmq_setsockopt (h, ZMQ_CURVE_SECRETKEY, sec, 32)) {
            fprintf (stderr, "links_probe: CURVE options refused: %s\n",
                     zmq_strerror (zmq_errno ()));
            return 2;
        }
    }
    sodium_memzero (sec, sizeof sec);
    if (zsock_connect (dealer, "%s", endpoint)) {
        fprintf (stderr, "links_probe: cannot connect to %s\n", endpoint);
        return 2;
    }

    /* A valid request: an empty digest with `reply`, as a new member sends;
     * or, with --forge, a PUSH of another origin's record. */
    state_msg_t msg;
    memset (&msg, 0, sizeof msg);
    state_rec_t rec;
    memset (&rec, 0, sizeof rec);
    if (forge[0]) {
        msg.hdr.type = STATE_PUSH;
        snprintf (msg.u.state_push.from, sizeof msg.u.state_push.from, "%s", forge[0]);
        snprintf (rec.origin, sizeof rec.origin, "%s", forge[0]);
        snprintf (rec.kind, sizeof rec.kind, "%s", forge[1]);
        snprintf (rec.key, sizeof rec.key, "%s", forge[2]);
        rec.version = S_FORGED_VERSION;
        rec.value.data = (uint8_t *) (uintptr_t) forge[3];
        rec.value.len = strlen (forge[3]);
        memcpy (rec.sig, sig, sizeof rec.sig);
        msg.u.state_push.recs.items = &rec;
        msg.u.state_push.recs.n = 1;
    }
    else {
        msg.hdr.type = STATE_DIGEST;
        snprintf (msg.u.state_digest.from, sizeof msg.u.state_digest.from, "probe-%d",
                  (int) getpid ());
        msg.u.state_digest.reply = true;
    }
    uint8_t *buf = NULL;
    size_t len = 0;
    if (wire_encode (&state_proto, &msg, &buf, &len)) {
        fprintf (stderr, "links_probe: cannot encode the digest\n");
        return 2;
    }
    zframe_t *frame = zframe_new (buf, len);
    free (buf);
    /* DEALER queues the frame until a connection completes its handshake;
     * if none ever does, the frame is simply never sent. */
    if (zframe_send (&frame, dealer, ZFRAME_DONTWAIT)) {
        zframe_destroy (&frame);
        fprintf (stderr, "links_probe: cannot queue the digest\n");
        return 2;
    }

    int frames = 0;
    char what[128] = "";
    zpoller_t *poller = zpoller_new (dealer, NULL);
    int64_t deadline = zclock_mono () + wait_ms;
    for (int64_t left; (left = deadline - zclock_mono ()) > 0;) {
        if (zpoller_wait (poller, (int) left) != dealer)
            break;
        zmsg_t *reply = zmsg_recv (dealer);
        if (!reply)
            break;
        for (zframe_t *f = zmsg_first (reply); f; f = zmsg_next (reply)) {
            frames++;
            state_msg_t in;
            if (!*what
                && wire_decode (&state_proto, zframe_data (f), zframe_size (f), &in, NULL) == 0) {
                if (in.hdr.type == STATE_DELTA)
                    snprintf (what, sizeof what, "DELTA from %s with %zu records",
                              in.u.state_delta.from, in.u.state_delta.recs.n);
                else if (in.hdr.type == STATE_DIGEST)
                    snprintf (what, sizeof what, "DIGEST from %s with %zu origins",
                              in.u.state_digest.from, in.u.state_digest.entries.n);
                else
                    snprintf (what, sizeof what, "message type %u", (unsigned) in.hdr.type);
                wire_msg_free (&state_proto, &in);
            }
        }
        zmsg_destroy (&reply);
    }
    zpoller_destroy (&poller);
    zsock_destroy (&dealer);

    const char *mode = plain ? "no CURVE" : who;
    if (frames == 0) {
        printf ("links_probe: %s -> %s: nothing came back in %ld ms\n", mode, endpoint, wait_ms);
        return 0;
    }
    printf ("links_probe: %s -> %s: %d frame(s) came back%s%s\n", mode, endpoint, frames,
            *what ? ", first: " : "", what);
    return 1;
}
