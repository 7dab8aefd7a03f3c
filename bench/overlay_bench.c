/*
 * overlay_bench.c - `overlay_bench_node`, one overlay datapath as a process,
 * for bench/overlay_bench.sh (which builds the namespaces), plus an AEAD
 * throughput measurement that decides AES-256-GCM vs ChaCha20-Poly1305.
 *
 *   overlay_bench_node genkey DIR            create DIR/identity.key, print
 *                                            the X25519 public key (hex)
 *   overlay_bench_node aead                  seal/open speed of both AEADs
 *   overlay_bench_node run --data DIR --tap NAME [--bridge BR] --bind ADDR
 *       --port N [--vni N] [--threads N] [--no-offload] [--chacha]
 *       [--peer NODE,PUBHEX,ADDR,PORT]... [--fdb MAC,NODE]... [--arp IP,MAC]...
 *                                            run until SIGINT/SIGTERM, then
 *                                            print per-peer stats to stderr
 */
#include "node/overlay/overlay.h"
#include "crypto/aead.h"
#include "crypto/identity.h"
#include "crypto/session.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

static volatile sig_atomic_t s_stop;

static void
s_on_signal (int sig)
{
    (void) sig;
    s_stop = 1;
}

//  This thread's CPU time: the machine is shared, and wall time would
//  measure how much of a core we got rather than what a call costs.
static double
s_now (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double) ts.tv_sec + ts.tv_nsec / 1e9;
}

static int
s_parse_mac (const char *text, uint8_t mac[6])
{
    unsigned m[6];
    if (sscanf (text, "%x:%x:%x:%x:%x:%x", &m[0], &m[1], &m[2], &m[3], &m[4], &m[5]) != 6)
        return -1;
    for (int i = 0; i < 6; i++)
        mac[i] = (uint8_t) m[i];
    return 0;
}

//  Seal+open rate of one AEAD on `size`-byte messages, in Gbit/s of
//  plaintext: the datapath's (crypto/aead.c, libgcrypt) or, with `sodium`,
//  libsodium's (what the datapath used before; docs/overlay.md).
static double
s_aead_rate (uint8_t aead, size_t size, bool sodium)
{
    uint8_t key[32], nonce[12] = { 0 }, ad[16] = { 0 };
    randombytes_buf (key, sizeof key);
    uint8_t *buf = malloc (size + 16);
    memset (buf, 0xa5, size);
    size_t total = 0;
    double start = s_now (), elapsed;
    unsigned long long clen, mlen;
    do {
        for (int i = 0; i < 64; i++) {
            nonce[4]++;
            if (!sodium) {
                if (shed_aead_seal (aead, key, nonce, ad, 16, buf, size)
                    || shed_aead_open (aead, key, nonce, ad, 16, buf, size))
                    abort ();
            }
            else if (aead == SHED_AEAD_AES256GCM) {
                crypto_aead_aes256gcm_encrypt (buf, &clen, buf, size, ad, 16, NULL, nonce, key);
                if (crypto_aead_aes256gcm_decrypt (buf, &mlen, NULL, buf, clen, ad, 16, nonce, key))
                    abort ();
            }
            else {
                crypto_aead_chacha20poly1305_ietf_encrypt (buf, &clen, buf, size, ad, 16, NULL,
                                                           nonce, key);
                if (crypto_aead_chacha20poly1305_ietf_decrypt (buf, &mlen, NULL, buf, clen, ad, 16,
                                                               nonce, key))
                    abort ();
            }
            total += size;
        }
        elapsed = s_now () - start;
    } while (elapsed < 0.5);
    free (buf);
    sodium_memzero (key, sizeof key);
    shed_aead_thread_flush ();
    //  One seal and one open per message: report per direction (seal+open
    //  of the same bytes is what one hop costs on two hosts).
    return (double) total * 8 / elapsed / 1e9;
}

static int
s_aead (void)
{
    uint8_t avail = shed_session_aead_available ();
    bool aes = avail & SHED_AEAD_AES256GCM;
    size_t sizes[] = { 1420, 65000 };
    for (size_t s = 0; s < 2; s++) {
        double chacha = s_aead_rate (SHED_AEAD_CHACHA20POLY1305, sizes[s], false);
        double gcm = aes ? s_aead_rate (SHED_AEAD_AES256GCM, sizes[s], false) : 0;
        double sodium_gcm = aes ? s_aead_rate (SHED_AEAD_AES256GCM, sizes[s], true) : 0;
        printf ("aead size=%zu chacha20poly1305_gbps=%.2f aes256gcm_gbps=%.2f "
                "sodium_aes256gcm_gbps=%.2f (seal+open, per CPU second)\n",
                sizes[s], chacha, gcm, sodium_gcm);
    }
    printf ("aead aes256gcm_available=%s\n", aes ? "yes" : "no");
    return 0;
}

static int
s_genkey (const char *dir)
{
    char err[256];
    shed_identity_t *id = shed_identity_load_or_create (dir, err, sizeof err);
    if (!id) {
        fprintf (stderr, "genkey: %s\n", err);
        return 1;
    }
    const uint8_t *pk = shed_identity_x25519_public (id);
    for (int i = 0; i < 32; i++)
        printf ("%02x", pk[i]);
    printf ("\n");
    shed_identity_destroy (&id);
    return 0;
}

static int
s_run (int argc, char **argv)
{
    overlay_config_t cfg = { .vni = 42, .threads = 1 };
    const char *data = NULL;
    shed_session_cfg_t scfg;
    shed_session_cfg_default (&scfg);
    int first_list = argc;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp (a, "--data") && v) {
            data = v;
            i++;
        }
        else if (!strcmp (a, "--tap") && v) {
            cfg.tap_name = v;
            i++;
        }
        else if (!strcmp (a, "--bridge") && v) {
            cfg.bridge_name = v;
            i++;
        }
        else if (!strcmp (a, "--bind") && v) {
            cfg.bind_addr = v;
            i++;
        }
        else if (!strcmp (a, "--port") && v) {
            cfg.port = (uint16_t) atoi (v);
            i++;
        }
        else if (!strcmp (a, "--vni") && v) {
            cfg.vni = (uint32_t) atoi (v);
            i++;
        }
        else if (!strcmp (a, "--threads") && v) {
            cfg.threads = atoi (v);
            i++;
        }
        else if (!strcmp (a, "--no-offload"))
            cfg.no_offload = true;
        else if (!strcmp (a, "--chacha"))
            scfg.aead_mask = SHED_AEAD_CHACHA20POLY1305;
        else if (v && (!strcmp (a, "--peer") || !strcmp (a, "--fdb") || !strcmp (a, "--arp"))) {
            if (first_list == argc)
                first_list = i;
            i++;
        }
        else {
            fprintf (stderr, "run: bad argument '%s'\n", a);
            return 2;
        }
    }
    cfg.session = &scfg;
    char err[256];
    shed_identity_t *id = data ? shed_identity_load_or_create (data, err, sizeof err) : NULL;
    if (!id) {
        fprintf (stderr, "run: identity: %s\n", data ? err : "--data missing");
        return 1;
    }
    cfg.identity = id;
    overlay_t *ov = overlay_new (&cfg, err, sizeof err);
    if (!ov) {
        fprintf (stderr, "run: %s\n", err);
        shed_identity_destroy (&id);
        return 1;
    }
    for (int i = first_list; i + 1 < argc; i++) {
        char item[256];
        snprintf (item, sizeof item, "%s", argv[i + 1]);
        char *f[4] = { 0 }, *save = NULL;
        int n = 0;
        for (char *t = strtok_r (item, ",", &save); t && n < 4; t = strtok_r (NULL, ",", &save))
            f[n++] = t;
        int rc = -1;
        uint8_t mac[6], pk[32];
        if (!strcmp (argv[i], "--peer") && n == 4
            && sodium_hex2bin (pk, 32, f[1], strlen (f[1]), NULL, NULL, NULL) == 0)
            rc = overlay_peer_add (ov, f[0], pk, f[2], (uint16_t) atoi (f[3]));
        else if (!strcmp (argv[i], "--fdb") && n == 2 && s_parse_mac (f[0], mac) == 0)
            rc = overlay_fdb_set (ov, mac, f[1]);
        else if (!strcmp (argv[i], "--arp") && n == 2 && s_parse_mac (f[1], mac) == 0)
            rc = overlay_arp_set (ov, f[0], mac);
        else if (strcmp (argv[i], "--peer") && strcmp (argv[i], "--fdb")
                 && strcmp (argv[i], "--arp"))
            continue;
        if (rc != 0) {
            fprintf (stderr, "run: bad %s %s\n", argv[i], argv[i + 1]);
            overlay_destroy (&ov);
            shed_identity_destroy (&id);
            return 2;
        }
        i++;
    }
    signal (SIGINT, s_on_signal);
    signal (SIGTERM, s_on_signal);
    while (!s_stop)
        pause ();

    overlay_stats_t st;
    overlay_peer_stats_t ps[16];
    size_t np;
    overlay_stats (ov, &st, ps, 16, &np);
    for (size_t p = 0; p < np && p < 16; p++) {
        fprintf (stderr, "stats peer=%s aead=%s key_age_ms=%llu tx=%llu/%lluB rx=%llu/%lluB",
                 ps[p].node, shed_session_aead_name (ps[p].aead),
                 (unsigned long long) ps[p].key_age_ms, (unsigned long long) ps[p].tx_packets,
                 (unsigned long long) ps[p].tx_bytes, (unsigned long long) ps[p].rx_packets,
                 (unsigned long long) ps[p].rx_bytes);
        for (int d = 0; d < OVERLAY_DROP_COUNT; d++)
            if (ps[p].drops[d])
                fprintf (stderr, " drop_%s=%llu", overlay_drop_name ((overlay_drop_t) d),
                         (unsigned long long) ps[p].drops[d]);
        fprintf (stderr, "\n");
    }
    fprintf (stderr, "stats arp_answered=%llu", (unsigned long long) st.arp_answered);
    for (int d = 0; d < OVERLAY_DROP_COUNT; d++)
        if (st.drops[d])
            fprintf (stderr, " drop_%s=%llu", overlay_drop_name ((overlay_drop_t) d),
                     (unsigned long long) st.drops[d]);
    fprintf (stderr, "\n");
    overlay_destroy (&ov);
    shed_identity_destroy (&id);
    return 0;
}

int
main (int argc, char **argv)
{
    if (sodium_init () < 0)
        return 1;
    if (argc >= 3 && !strcmp (argv[1], "genkey"))
        return s_genkey (argv[2]);
    if (argc >= 2 && !strcmp (argv[1], "aead"))
        return s_aead ();
    if (argc >= 2 && !strcmp (argv[1], "run"))
        return s_run (argc - 2, argv + 2);
    fprintf (stderr, "usage: %s genkey DIR | aead | run OPTIONS (see overlay_bench.c)\n", argv[0]);
    return 2;
}
