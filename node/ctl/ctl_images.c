/*
 * ctl_images.c - shedctl image import | list | show | rm (docs/images.md).
 *
 * import reads FILE itself and streams it to the node in chunks: the node
 * runs as root and must never open a path a client names. The sha256 of
 * what was read goes with the commit, so a damaged transfer is refused.
 */
#include "node/ctl/ctl.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define S_COMMIT_TIMEOUT_MS (30 * 60 * 1000) /* unpacking a large image */

static void
s_json_image (jw_t *j, const api_image_t *im)
{
    jw_obj_begin (j);
    /* clang-format off */
    jw_key (j, "name");           jw_str (j, im->name);
    jw_key (j, "digest");         jw_str (j, im->digest);
    jw_key (j, "archive_size");   jw_u64 (j, im->archive_size);
    jw_key (j, "unpacked_bytes"); jw_u64 (j, im->unpacked_bytes);
    jw_key (j, "files");          jw_u64 (j, im->files);
    jw_key (j, "entries");        jw_u64 (j, im->entries);
    jw_key (j, "imported_ms");    jw_u64 (j, im->imported_ms);
    jw_key (j, "os_name");        jw_str (j, im->os_name);
    jw_key (j, "rootfs");         jw_str (j, im->rootfs);
    jw_key (j, "existed");        jw_bool (j, im->existed);
    /* clang-format on */
    jw_obj_end (j);
}

static void
s_time_text (uint64_t ms, char *out, size_t size)
{
    time_t t = (time_t) (ms / 1000);
    struct tm tm;
    if (!ms || !localtime_r (&t, &tm) || !strftime (out, size, "%Y-%m-%d %H:%M", &tm))
        snprintf (out, size, "-");
}

static void
s_print_image (const api_image_t *im)
{
    char archive[32], unpacked[32], when[32];
    ctl_format_size (im->archive_size, archive, sizeof archive);
    ctl_format_size (im->unpacked_bytes, unpacked, sizeof unpacked);
    s_time_text (im->imported_ms, when, sizeof when);
    printf ("name:      %s\n", im->name);
    printf ("digest:    sha256:%s\n", im->digest);
    printf ("os:        %s\n", im->os_name[0] ? im->os_name : "-");
    printf ("archive:   %s\n", archive);
    printf ("unpacked:  %s in %llu files (%llu entries)\n", unpacked,
            (unsigned long long) im->files, (unsigned long long) im->entries);
    printf ("imported:  %s\n", when);
    if (im->rootfs[0])
        printf ("root:      %s\n", im->rootfs);
}

/* ---- import ------------------------------------------------------------------ */

static void
s_abort (ctl_t *ctl, const char *upload)
{
    api_msg_t req = { .hdr.type = API_IMAGE_ABORT_REQ }, rep;
    snprintf (req.u.api_image_abort_req.upload, sizeof req.u.api_image_abort_req.upload, "%s",
              upload);
    char err[256];
    if (shed_api_call (ctl->endpoint, &req, &rep, ctl->timeout_ms, err, sizeof err) == 0)
        wire_msg_free (&api_proto, &rep);
}

static int
s_import (ctl_t *ctl, const char *name, const char *file)
{
    /* Our own open, with our own rights: the node only sees bytes. */
    int fd = open (file, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0)
        return ctl_fail ("%s: %s", file, strerror (errno));
    if (fstat (fd, &st) != 0 || !S_ISREG (st.st_mode)) {
        close (fd);
        return ctl_fail ("%s: not a regular file", file);
    }
    uint64_t size = (uint64_t) st.st_size;
    api_msg_t req = { .hdr.type = API_IMAGE_BEGIN_REQ }, rep;
    snprintf (req.u.api_image_begin_req.name, sizeof req.u.api_image_begin_req.name, "%s", name);
    req.u.api_image_begin_req.size = size;
    if (ctl_call (ctl, &req, &rep, API_IMAGE_UPLOAD_REP) != 0) {
        close (fd);
        return 1;
    }
    char upload[API_IMAGE_UPLOAD_MAX + 1];
    snprintf (upload, sizeof upload, "%s", rep.u.api_image_upload_rep.upload);
    size_t chunk = rep.u.api_image_upload_rep.chunk_max;
    wire_msg_free (&api_proto, &rep);
    if (chunk == 0 || chunk > API_IMAGE_CHUNK_MAX)
        chunk = API_IMAGE_CHUNK_MAX;

    bool progress = !ctl->json && isatty (STDERR_FILENO);
    uint8_t *buf = malloc (chunk);
    crypto_hash_sha256_state hash;
    crypto_hash_sha256_init (&hash);
    uint64_t sent = 0;
    int rc = buf ? 0 : ctl_fail ("out of memory");
    while (rc == 0 && sent < size) {
        size_t want = size - sent < chunk ? (size_t) (size - sent) : chunk;
        ssize_t n = pread (fd, buf, want, (off_t) sent);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            rc = ctl_fail ("%s: %s", file, n < 0 ? strerror (errno) : "shorter than it was");
            break;
        }
        crypto_hash_sha256_update (&hash, buf, (unsigned long long) n);
        api_msg_t creq = { .hdr.type = API_IMAGE_CHUNK_REQ };
        api_image_chunk_req_t *c = &creq.u.api_image_chunk_req;
        snprintf (c->upload, sizeof c->upload, "%s", upload);
        c->offset = sent;
        c->data.data = buf;
        c->data.len = (size_t) n;
        if (ctl_call (ctl, &creq, &rep, API_IMAGE_UPLOAD_REP) != 0) {
            rc = 1;
            break;
        }
        wire_msg_free (&api_proto, &rep);
        sent += (uint64_t) n;
        if (progress) {
            char done[32], total[32];
            ctl_format_size (sent, done, sizeof done);
            ctl_format_size (size, total, sizeof total);
            fprintf (stderr, "\rsending %s: %3u%% (%s of %s)", name, (unsigned) (sent * 100 / size),
                     done, total);
        }
    }
    free (buf);
    close (fd);
    if (progress)
        fprintf (stderr, rc == 0 ? "\nunpacking and checking %s...\n" : "\n", name);
    if (rc != 0) {
        s_abort (ctl, upload);
        return rc;
    }
    uint8_t sum[crypto_hash_sha256_BYTES];
    crypto_hash_sha256_final (&hash, sum);
    api_msg_t commit = { .hdr.type = API_IMAGE_COMMIT_REQ };
    snprintf (commit.u.api_image_commit_req.upload, sizeof commit.u.api_image_commit_req.upload,
              "%s", upload);
    sodium_bin2hex (commit.u.api_image_commit_req.sha256,
                    sizeof commit.u.api_image_commit_req.sha256, sum, sizeof sum);
    int saved = ctl->timeout_ms;
    if (ctl->timeout_ms < S_COMMIT_TIMEOUT_MS)
        ctl->timeout_ms = S_COMMIT_TIMEOUT_MS;
    rc = ctl_call (ctl, &commit, &rep, API_IMAGE_LIST_REP);
    ctl->timeout_ms = saved;
    if (rc != 0)
        return rc;
    const api_image_list_rep_t *r = &rep.u.api_image_list_rep;
    if (r->images.n != 1) {
        wire_msg_free (&api_proto, &rep);
        return ctl_fail ("the node answered the import without the image");
    }
    const api_image_t *im = &r->images.items[0];
    if (ctl->json) {
        jw_t j;
        jw_init (&j, stdout);
        s_json_image (&j, im);
        jw_end (&j);
    }
    else if (im->existed)
        printf ("image %s: sha256:%.12s... was already here (%s)\n", im->name, im->digest,
                im->os_name[0] ? im->os_name : "no os-release");
    else {
        char unpacked[32];
        ctl_format_size (im->unpacked_bytes, unpacked, sizeof unpacked);
        printf ("imported %s: sha256:%.12s..., %s in %llu files (%s)\n", im->name, im->digest,
                unpacked, (unsigned long long) im->files,
                im->os_name[0] ? im->os_name : "no os-release");
    }
    wire_msg_free (&api_proto, &rep);
    return 0;
}

/* ---- list, show, rm ------------------------------------------------------------ */

static int
s_list (ctl_t *ctl, const char *name)
{
    api_msg_t req = { .hdr.type = API_IMAGE_LIST_REQ }, rep;
    if (name)
        snprintf (req.u.api_image_list_req.name, sizeof req.u.api_image_list_req.name, "%s", name);
    if (ctl_call (ctl, &req, &rep, API_IMAGE_LIST_REP) != 0)
        return 1;
    const api_image_list_rep_t *r = &rep.u.api_image_list_rep;
    if (ctl->json) {
        jw_t j;
        jw_init (&j, stdout);
        if (name && r->images.n)
            s_json_image (&j, &r->images.items[0]);
        else {
            jw_arr_begin (&j);
            for (size_t i = 0; i < r->images.n; i++)
                s_json_image (&j, &r->images.items[i]);
            jw_arr_end (&j);
        }
        jw_end (&j);
    }
    else if (name) {
        if (r->images.n)
            s_print_image (&r->images.items[0]);
    }
    else {
        printf ("%-24s %-19s %8s %9s %7s  %-16s %s\n", "NAME", "DIGEST", "ARCHIVE", "UNPACKED",
                "FILES", "IMPORTED", "OS");
        for (size_t i = 0; i < r->images.n; i++) {
            const api_image_t *im = &r->images.items[i];
            char archive[32], unpacked[32], when[32];
            ctl_format_size (im->archive_size, archive, sizeof archive);
            ctl_format_size (im->unpacked_bytes, unpacked, sizeof unpacked);
            s_time_text (im->imported_ms, when, sizeof when);
            printf ("%-24s sha256:%.12s %8s %9s %7llu  %-16s %s\n", im->name, im->digest, archive,
                    unpacked, (unsigned long long) im->files, when,
                    im->os_name[0] ? im->os_name : "-");
        }
    }
    wire_msg_free (&api_proto, &rep);
    return 0;
}

static int
s_rm (ctl_t *ctl, const char *name)
{
    api_msg_t req = { .hdr.type = API_IMAGE_RM_REQ }, rep;
    snprintf (req.u.api_image_rm_req.name, sizeof req.u.api_image_rm_req.name, "%s", name);
    if (ctl_call (ctl, &req, &rep, API_OK) != 0)
        return 1;
    ctl_print_ok (ctl, "name", name, rep.u.api_ok.message);
    wire_msg_free (&api_proto, &rep);
    return 0;
}

static int
s_usage (void)
{
    return ctl_fail ("usage: shedctl image import NAME FILE | list | show NAME|DIGEST | rm NAME");
}

int
ctl_image (ctl_t *ctl, int argc, char **argv)
{
    if (argc < 2)
        return s_usage ();
    const char *sub = argv[1];
    if (strcmp (sub, "import") == 0 && argc == 4) {
        if (strlen (argv[2]) > 63)
            return ctl_fail ("image name '%s' is longer than 63 bytes", argv[2]);
        return s_import (ctl, argv[2], argv[3]);
    }
    if ((strcmp (sub, "list") == 0 || strcmp (sub, "ls") == 0) && argc == 2)
        return s_list (ctl, NULL);
    if (strcmp (sub, "show") == 0 && argc == 3) {
        if (strlen (argv[2]) > API_IMAGE_REF_MAX)
            return ctl_fail ("'%s' is not an image name or digest", argv[2]);
        return s_list (ctl, argv[2]);
    }
    if (strcmp (sub, "rm") == 0 && argc == 3) {
        if (strlen (argv[2]) > 63)
            return ctl_fail ("image name '%s' is longer than 63 bytes", argv[2]);
        return s_rm (ctl, argv[2]);
    }
    return s_usage ();
}
