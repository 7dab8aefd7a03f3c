/*
 * firecracker_test.c - the Firecracker driver against a test double built
 * from Firecracker's published OpenAPI document (testdata/firecracker.yaml,
 * firecracker_double.h): Firecracker cannot run here (no KVM), so every
 * request of create/start/stop/snapshot/restore goes to a server on the
 * shed's API socket that checks path, method and JSON body against the
 * document and the call order against Firecracker's docs, and the test
 * asserts no request broke either. test_openapi_rejects proves the checker
 * refuses what the document does not allow.
 */
#include "node/drivers/drv_state.h"
#include "node/drivers/firecracker.h"
#include "node/drivers/firecracker_double.h"
#include "node/drivers/firecracker_int.h"
#include "node/drivers/firecracker_openapi.h"
#include "node/drivers/json_read.h"
#include "common/fileutil.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

static char s_dir[64];

static int
s_setup (void **state)
{
    snprintf (s_dir, sizeof s_dir, "/tmp/shed-fc-test-%d", (int) getpid ());
    drv_remove_tree (s_dir);
    return shed_mkdir_p (s_dir, 0700);
}

static int
s_teardown (void **state)
{
    drv_remove_tree (s_dir);
    return 0;
}

static fc_openapi_t *
s_api (void)
{
    char why[256];
    fc_openapi_t *api = fc_openapi_load (SHED_FC_OPENAPI, why, sizeof why);
    if (!api)
        fail_msg ("%s", why);
    return api;
}

static void
s_no_violations (fc_double_t *fc)
{
    char first[512];
    size_t n = fc_double_violations (fc, first, sizeof first);
    if (n)
        fail_msg ("%zu request(s) Firecracker would refuse; first: %s", n, first);
}

/* `body` parsed, kept until the next call (the checks below read one
 * body several times); a body that is not JSON fails the test. */
static const json_t *
s_doc (const char *body)
{
    static json_t *doc;
    static char *text;
    if (text && !strcmp (text, body))
        return doc;
    json_decref (doc);
    free (text);
    char why[128];
    doc = json_read (body, strlen (body), why, sizeof why);
    text = strdup (body);
    if (!doc)
        fail_msg ("request body is not JSON (%s): %s", why, body);
    return doc;
}

#define S_NUM(body, path, want)                                                                    \
    do {                                                                                           \
        double v_;                                                                                 \
        assert_int_equal (json_read_num (s_doc (body), path, &v_), 0);                             \
        assert_float_equal (v_, want, 0);                                                          \
    } while (0)
#define S_STR(body, path, want)                                                                    \
    do {                                                                                           \
        char v_[256];                                                                              \
        assert_int_equal (json_read_str (s_doc (body), path, v_, sizeof v_), 0);                   \
        assert_string_equal (v_, want);                                                            \
    } while (0)
#define S_BOOL(body, path, want)                                                                   \
    do {                                                                                           \
        bool v_;                                                                                   \
        assert_int_equal (json_read_bool (s_doc (body), path, &v_), 0);                            \
        assert_int_equal (v_, want);                                                               \
    } while (0)

/* The i-th request: method and url, and its body. */
static const char *
s_req (fc_double_t *fc, size_t i, const char *method, const char *url, test_httpd_req_t *req)
{
    fc_double_get (fc, i, req);
    assert_string_equal (req->method, method);
    assert_string_equal (req->url, url);
    return req->body;
}

static void
test_openapi_rejects (void **state)
{
    fc_openapi_t *api = s_api ();
    char why[512];
    /* Accepted: what the document allows. */
    assert_int_equal (fc_openapi_check (api, "PUT", "/machine-config",
                                        "{\"vcpu_count\":2,\"mem_size_mib\":256}", why, sizeof why),
                      0);
    assert_int_equal (fc_openapi_check (api, "GET", "/", NULL, why, sizeof why), 0);
    assert_int_equal (fc_openapi_check (api, "PUT", "/drives/data",
                                        "{\"drive_id\":\"data\",\"is_root_device\":false,"
                                        "\"rate_limiter\":{\"ops\":{\"size\":10,\"refill_time\":"
                                        "100}}}",
                                        why, sizeof why),
                      0);
    /* Refused, each with a reason. */
    struct {
        const char *method, *url, *body, *reason;
    } bad[] = {
        { "PUT", "/machine-config", "{\"vcpu_count\":2,\"mem_size_mib\":256,\"cpus\":2}",
          "body.cpus: unknown property" },
        { "PUT", "/machine-config", "{\"vcpu_count\":2}", "body.mem_size_mib: required" },
        { "PUT", "/machine-config", "{\"vcpu_count\":\"2\",\"mem_size_mib\":256}",
          "body.vcpu_count: expected integer, got string" },
        { "PUT", "/machine-config", "{\"vcpu_count\":0,\"mem_size_mib\":256}",
          "body.vcpu_count: below the minimum" },
        { "PUT", "/machine-config", "{\"vcpu_count\":1.5,\"mem_size_mib\":256}",
          "expected integer, got number" },
        { "PUT", "/actions", "{\"action_type\":\"Reboot\"}", "not one of the enum's values" },
        { "PUT", "/actions", NULL, "a body is required" },
        { "PUT", "/actions", "{\"action_type\":", "body is not JSON" },
        { "PUT", "/drives/rootfs",
          "{\"drive_id\":\"rootfs\",\"is_root_device\":true,\"rate_limiter\":{\"bandwidth\":"
          "{\"size\":1}}}",
          "bandwidth.refill_time: required" },
        { "PUT", "/drives/rootfs",
          "{\"drive_id\":\"rootfs\",\"is_root_device\":true,\"rate_limiter\":{\"bw\":{}}}",
          "rate_limiter.bw: unknown property" },
        { "PUT", "/snapshot/load",
          "{\"snapshot_path\":\"s\",\"mem_backend\":{\"backend_type\":\"Disk\","
          "\"backend_path\":\"m\"}}",
          "backend_type: not one of" },
        { "PUT", "/snapshot/load",
          "{\"snapshot_path\":\"s\",\"network_overrides\":[{\"iface_id\":\"eth0\"}]}",
          "network_overrides[0].host_dev_name: required" },
        { "PUT", "/snapshot/restore", "{}", "no such path" },
        { "DELETE", "/drives/rootfs", NULL, "method not allowed" },
        { "PUT", "/drives/", "{}", "no such path" },
        { "GET", "/", "{}", "takes no body" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        why[0] = '\0';
        if (fc_openapi_check (api, bad[i].method, bad[i].url, bad[i].body, why, sizeof why) != -1)
            fail_msg ("accepted: %s %s %s", bad[i].method, bad[i].url, bad[i].body);
        if (!strstr (why, bad[i].reason))
            fail_msg ("%s %s: reason \"%s\", wanted \"%s\"", bad[i].method, bad[i].url, why,
                      bad[i].reason);
    }
    /* And the double answers such a request as Firecracker does, counting it. */
    char sock[128];
    snprintf (sock, sizeof sock, "%s/bad.sock", s_dir);
    fc_double_t *fc = fc_double_new (api, sock, s_dir);
    assert_non_null (fc);
    http_reply_t r;
    assert_int_equal (
        http_request (NULL, sock, "PUT", "/machine-config", "{\"vcpus\":2}", 2000, &r), 0);
    assert_int_equal (r.status, 400);
    char fault[256];
    json_t *fdoc = json_read (r.body, r.len, NULL, 0);
    assert_int_equal (json_read_str (fdoc, "fault_message", fault, sizeof fault), 0);
    json_decref (fdoc);
    assert_non_null (strstr (fault, "required"));
    http_reply_free (&r);
    assert_int_equal (fc_double_violations (fc, fault, sizeof fault), 1);
    fc_double_destroy (&fc);
    fc_openapi_destroy (&api);
}

static void
test_jailer_argv (void **state)
{
    fc_t fc;
    memset (&fc, 0, sizeof fc);
    snprintf (fc.data_dir, sizeof fc.data_dir, "/var/lib/shed");
    snprintf (fc.bin, sizeof fc.bin, "/usr/local/bin/firecracker");
    char *argv[24], buf[2048];
    assert_int_equal (fc_argv (&fc, "web", argv, 24, buf, sizeof buf), 5);
    const char *plain[] = { "/usr/local/bin/firecracker", "--api-sock",
                            "/var/lib/shed/sheds/web/vm/api.sock", "--id", "web" };
    for (int i = 0; i < 5; i++)
        assert_string_equal (argv[i], plain[i]);
    assert_null (argv[5]);

    snprintf (fc.jailer, sizeof fc.jailer, "/usr/local/bin/jailer");
    snprintf (fc.chroot_base, sizeof fc.chroot_base, "/srv/jailer");
    fc.jailer_uid = 123;
    fc.jailer_gid = 100;
    const char *jailed[] = { "/usr/local/bin/jailer",
                             "--id",
                             "web",
                             "--exec-file",
                             "/usr/local/bin/firecracker",
                             "--uid",
                             "123",
                             "--gid",
                             "100",
                             "--chroot-base-dir",
                             "/srv/jailer",
                             "--",
                             "--api-sock",
                             "/api.sock" };
    int n = fc_argv (&fc, "web", argv, 24, buf, sizeof buf);
    assert_int_equal (n, 14);
    for (int i = 0; i < n; i++)
        assert_string_equal (argv[i], jailed[i]);
    assert_null (argv[n]);
    char root[256];
    fc_jail_root (&fc, "web", root, sizeof root);
    assert_string_equal (root, "/srv/jailer/firecracker/web/root");
    assert_int_equal (fc_argv (&fc, "web", argv, 10, buf, sizeof buf), -1);
    assert_int_equal (fc_argv (&fc, "web", argv, 24, buf, 64), -1);

    /* The driver wants a non-root uid and the binaries. */
    driver_firecracker_config_t cfg = { .data_dir = s_dir,
                                        .firecracker_bin = "/bin/true",
                                        .jailer_bin = "/bin/true",
                                        .jailer_uid = 0,
                                        .jailer_gid = 100 };
    driver_error_t err;
    assert_null (driver_firecracker_new (&cfg, &err));
    assert_int_equal (err.code, DRIVER_ERR_INVALID);
    cfg.jailer_bin = "/nonexistent/jailer";
    cfg.jailer_uid = 123;
    assert_null (driver_firecracker_new (&cfg, &err));
    assert_int_equal (err.code, DRIVER_ERR_UNAVAILABLE);

    /* As root: the jail's root is the shed's vm/ directory, bind-mounted,
     * owned by the jail's uid. */
    if (geteuid () != 0)
        return;
    snprintf (fc.data_dir, sizeof fc.data_dir, "%s/j", s_dir);
    snprintf (fc.chroot_base, sizeof fc.chroot_base, "%s/j/jail", s_dir);
    snprintf (fc.kernel, sizeof fc.kernel, "%s/j/vmlinux", s_dir);
    char vm[256], p[320];
    fc_vm_dir (&fc, "web", vm, sizeof vm);
    assert_int_equal (shed_mkdir_p (vm, 0700), 0);
    assert_int_equal (shed_write_file_atomic (fc.kernel, "kernel", 6, 0600), 0);
    snprintf (p, sizeof p, "%s/" FC_ROOTFS, vm);
    assert_int_equal (shed_write_file_atomic (p, "disk", 4, 0600), 0);
    driver_error_t jerr;
    if (fc_jail_prepare (&fc, "web", &jerr) != 0)
        fail_msg ("%s", jerr.message);
    assert_int_equal (fc_jail_prepare (&fc, "web", &jerr), 0); /* again: bound already */
    fc_jail_root (&fc, "web", root, sizeof root);
    struct stat s;
    snprintf (p, sizeof p, "%s/" FC_ROOTFS, root);
    assert_int_equal (stat (p, &s), 0);
    assert_int_equal (s.st_uid, 123);
    snprintf (p, sizeof p, "%s/" FC_KERNEL, root);
    assert_int_equal (stat (p, &s), 0);
    fc_jail_release (&fc, "web");
    assert_int_not_equal (stat (root, &s), 0);
}

static void
s_write_at (const char *path, off_t size, const char *a, const char *b)
{
    int fd = open (path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true (fd >= 0);
    assert_int_equal (ftruncate (fd, size), 0);
    assert_int_equal (pwrite (fd, a, strlen (a), 0), (ssize_t) strlen (a));
    assert_int_equal (pwrite (fd, b, strlen (b), size / 2), (ssize_t) strlen (b));
    close (fd);
}

static void
s_expect_at (const char *path, off_t size, const char *a, const char *b)
{
    char buf[64] = "";
    int fd = open (path, O_RDONLY);
    assert_true (fd >= 0);
    struct stat s;
    assert_int_equal (fstat (fd, &s), 0);
    assert_int_equal (s.st_size, size);
    assert_int_equal (pread (fd, buf, strlen (a), 0), (ssize_t) strlen (a));
    assert_memory_equal (buf, a, strlen (a));
    assert_int_equal (pread (fd, buf, strlen (b), size / 2), (ssize_t) strlen (b));
    assert_memory_equal (buf, b, strlen (b));
    /* Holes stay holes: far fewer blocks than the size. */
    assert_true ((off_t) s.st_blocks * 512 < size / 4);
    close (fd);
}

static void
test_disk_copy (void **state)
{
    char src[128], dst[128], why[256];
    snprintf (src, sizeof src, "%s/image", s_dir);
    snprintf (dst, sizeof dst, "%s/copy", s_dir);
    s_write_at (src, 64 << 20, "ROOTFS", "middle");
    assert_int_equal (fc_copy_file (src, dst, why, sizeof why), 0);
    s_expect_at (dst, 64 << 20, "ROOTFS", "middle");
    /* The copy is the shed's own: writing it leaves the image alone. */
    int fd = open (dst, O_WRONLY);
    assert_int_equal (pwrite (fd, "CHANGE", 6, 0), 6);
    close (fd);
    s_expect_at (src, 64 << 20, "ROOTFS", "middle");
    assert_int_equal (fc_copy_file (src, dst, why, sizeof why), -1); /* never overwrites */
    assert_int_equal (fc_copy_file ("/nonexistent", dst, why, sizeof why), -1);
    unlink (src);
    unlink (dst);
}

static driver_t *
s_driver (const char *data_dir)
{
    driver_firecracker_config_t cfg = {
        .data_dir = data_dir,
        .firecracker_bin = "",
        .kernel_image = "/var/lib/shed/vmlinux",
        .bridge = "shbr0",
        .stop_timeout_ms = 500,
        .memory_overcommit = 1.5,
    };
    driver_error_t err;
    driver_t *d = driver_firecracker_new (&cfg, &err);
    if (!d)
        fail_msg ("%s", err.message);
    return d;
}

static void
s_spec (driver_spec_t *spec, const char *name, const char *image)
{
    memset (spec, 0, sizeof *spec);
    snprintf (spec->name, sizeof spec->name, "%s", name);
    spec->cpus_milli = 2500;
    spec->memory_mb = 1024;
    spec->io_read_bps = 50000000;
    spec->io_write_bps = 20000000;
    spec->net_kbit = 100000;
    snprintf (spec->image, sizeof spec->image, "%s", image);
    snprintf (spec->mac, sizeof spec->mac, "02:00:c6:13:00:0a");
    snprintf (spec->ip, sizeof spec->ip, "198.19.1.5/16");
    snprintf (spec->gateway, sizeof spec->gateway, "198.19.1.1");
}

static fc_double_t *
s_double (fc_openapi_t *api, const char *data_dir, const char *name)
{
    char sock[256], vm[256];
    driver_firecracker_config_t cfg = { .data_dir = data_dir };
    driver_firecracker_api_sock (&cfg, name, sock, sizeof sock);
    snprintf (vm, sizeof vm, "%s/sheds/%s/vm", data_dir, name);
    fc_double_t *fc = fc_double_new (api, sock, vm);
    assert_non_null (fc);
    return fc;
}

/* A fresh boot's requests from index i: devices, balloon, InstanceStart. */
static void
s_expect_boot (fc_double_t *fc, size_t i)
{
    test_httpd_req_t req;
    const char *b = s_req (fc, i++, "PUT", "/machine-config", &req);
    S_NUM (b, "vcpu_count", 3);
    S_NUM (b, "mem_size_mib", 1024);
    b = s_req (fc, i++, "PUT", "/boot-source", &req);
    S_STR (b, "kernel_image_path", "/var/lib/shed/vmlinux");
    /* The overlay address reaches the guest on the kernel command line. */
    S_STR (b, "boot_args",
           "console=ttyS0 reboot=k panic=1 pci=off "
           "ip=198.19.1.5::198.19.1.1:255.255.0.0:web:eth0:off");
    b = s_req (fc, i++, "PUT", "/drives/rootfs", &req);
    /* The shed's own copy, relative to the VMM's directory. */
    S_STR (b, "path_on_host", "rootfs.ext4");
    S_BOOL (b, "is_read_only", false);
    /* One bucket for both directions: the lower limit. */
    S_NUM (b, "rate_limiter.bandwidth.size", 20000000);
    S_NUM (b, "rate_limiter.bandwidth.refill_time", 1000);
    b = s_req (fc, i++, "PUT", "/network-interfaces/eth0", &req);
    S_STR (b, "guest_mac", "02:00:c6:13:00:0a");
    S_NUM (b, "rx_rate_limiter.bandwidth.size", 12500000); /* 100 Mbit/s */
    S_NUM (b, "tx_rate_limiter.bandwidth.size", 12500000);
    b = s_req (fc, i++, "PUT", "/vsock", &req);
    S_STR (b, "uds_path", "agent.sock");
    b = s_req (fc, i++, "PUT", "/balloon", &req);
    S_NUM (b, "amount_mib", 1024 - 682); /* overcommit 1.5 */
    S_BOOL (b, "deflate_on_oom", true);
    b = s_req (fc, i++, "PUT", "/actions", &req);
    S_STR (b, "action_type", "InstanceStart");
}

static void
test_lifecycle (void **state)
{
    fc_openapi_t *api = s_api ();
    char data[128], image[160], p[320];
    snprintf (data, sizeof data, "%s/a", s_dir);
    snprintf (image, sizeof image, "%s/image.ext4", s_dir);
    s_write_at (image, 8 << 20, "ROOTFS", "middle");
    driver_t *d = s_driver (data);
    driver_error_t err = { 0, "" };
    driver_spec_t spec;
    s_spec (&spec, "web", image);
    if (driver_create (d, &spec, &err) != 0)
        fail_msg ("%s", err.message);
    assert_int_equal (driver_create (d, &spec, &err), DRIVER_ERR_EXISTS);
    /* Its own disk, not the image. */
    snprintf (p, sizeof p, "%s/sheds/web/vm/rootfs.ext4", data);
    s_expect_at (p, 8 << 20, "ROOTFS", "middle");
    struct stat a, b;
    assert_int_equal (stat (image, &a), 0);
    assert_int_equal (stat (p, &b), 0);
    assert_true (a.st_ino != b.st_ino);
    /* The node listens below vm/, where Firecracker (jailed or not) puts
     * the vsock's connections: <uds_path>_1026. */
    assert_string_equal (driver_agent_socket_name (d), "vm/agent.sock");
    assert_string_equal (driver_agent_suffix (d), "_1026");

    /* A vsock socket left by the last run: Firecracker would refuse it. */
    snprintf (p, sizeof p, "%s/sheds/web/vm/agent.sock", data);
    assert_int_equal (shed_write_file_atomic (p, "", 0, 0600), 0);
    fc_double_t *fc = s_double (api, data, "web");
    if (driver_start (d, "web", &err) != 0)
        fail_msg ("%s", err.message);
    assert_int_equal (access (p, F_OK), -1);
    assert_int_equal (fc_double_count (fc), 7);
    s_expect_boot (fc, 0);
    assert_string_equal (fc_double_state (fc), "Running");

    driver_status_t st;
    assert_int_equal (driver_status (d, "web", &st, &err), 0);
    assert_int_equal (st.state, DRIVER_ST_RUNNING);
    assert_int_equal (driver_start (d, "web", &err), 0); /* idempotent: nothing sent */

    assert_int_equal (driver_stop (d, "web", &err), 0);
    test_httpd_req_t req;
    size_t n = fc_double_count (fc);
    S_STR (s_req (fc, n - 1, "PUT", "/actions", &req), "action_type", "SendCtrlAltDel");
    assert_string_equal (fc_double_state (fc), "Not started");
    assert_int_equal (driver_status (d, "web", &st, &err), 0);
    assert_int_equal (st.state, DRIVER_ST_STOPPED);

    /* A fault answer is one clear line with Firecracker's own words. */
    fc_double_fault (fc, "/machine-config",
                     "Invalid memory configuration: mem_size_mib must be positive");
    assert_int_equal (driver_start (d, "web", &err), DRIVER_ERR_INVALID);
    assert_string_equal (err.message, "firecracker: web: PUT /machine-config: 400: Invalid "
                                      "memory configuration: mem_size_mib must be positive");
    driver_usage_t u;
    assert_int_equal (driver_usage (d, "web", &u, &err), 0);
    assert_int_equal (u.memory_limit, 1024ULL << 20);
    s_no_violations (fc);

    assert_int_equal (driver_remove (d, "web", &err), 0);
    assert_int_equal (driver_status (d, "web", &st, &err), DRIVER_ERR_NOT_FOUND);
    fc_double_destroy (&fc);

    /* No API socket: unavailable, naming the socket. */
    assert_int_equal (driver_create (d, &spec, &err), 0);
    assert_int_equal (driver_start (d, "web", &err), DRIVER_ERR_UNAVAILABLE);
    assert_non_null (strstr (err.message, "api.sock"));
    /* No image and no snapshot: invalid; an image that is not there: IO. */
    driver_spec_t noimg = spec;
    snprintf (noimg.name, sizeof noimg.name, "bare");
    noimg.image[0] = '\0';
    assert_int_equal (driver_create (d, &noimg, &err), DRIVER_ERR_INVALID);
    snprintf (noimg.image, sizeof noimg.image, "/nonexistent.ext4");
    assert_int_equal (driver_create (d, &noimg, &err), DRIVER_ERR_IO);
    snprintf (p, sizeof p, "%s/sheds/bare", data);
    assert_int_equal (access (p, F_OK), -1);
    assert_int_equal (driver_remove (d, "web", &err), 0);
    driver_destroy (&d);

    driver_firecracker_config_t cfg = { .data_dir = data,
                                        .firecracker_bin = "/nonexistent/firecracker" };
    assert_null (driver_firecracker_new (&cfg, &err));
    assert_int_equal (err.code, DRIVER_ERR_UNAVAILABLE);
    fc_openapi_destroy (&api);
}

static void
test_snapshot_restore (void **state)
{
    fc_openapi_t *api = s_api ();
    char data_a[128], data_b[128], image[160], snap[160], fetched[160], p[320];
    snprintf (data_a, sizeof data_a, "%s/node-a", s_dir);
    snprintf (data_b, sizeof data_b, "%s/other-node-b", s_dir);
    snprintf (image, sizeof image, "%s/image.ext4", s_dir);
    snprintf (snap, sizeof snap, "%s/web.snap", s_dir);
    snprintf (fetched, sizeof fetched, "%s/fetched.snap", s_dir);
    s_write_at (image, 8 << 20, "ROOTFS", "middle");
    driver_t *da = s_driver (data_a);
    driver_error_t err = { 0, "" };
    driver_spec_t spec;
    s_spec (&spec, "web", image);
    assert_int_equal (driver_create (da, &spec, &err), 0);
    fc_double_t *fa = s_double (api, data_a, "web");
    assert_int_equal (driver_start (da, "web", &err), 0);
    /* The guest wrote to its disk. */
    snprintf (p, sizeof p, "%s/sheds/web/vm/rootfs.ext4", data_a);
    s_write_at (p, 8 << 20, "GUEST1", "wrote2");

    /* LIVE: paused, a Full snapshot, the disk copied, resumed. */
    size_t n0 = fc_double_count (fa);
    uint64_t bytes = 0;
    if (driver_snapshot (da, "web", snap, DRIVER_SNAP_LIVE, &bytes, &err) != 0)
        fail_msg ("%s", err.message);
    test_httpd_req_t req;
    s_req (fa, n0, "GET", "/", &req);
    S_STR (s_req (fa, n0 + 1, "PATCH", "/vm", &req), "state", "Paused");
    const char *b = s_req (fa, n0 + 2, "PUT", "/snapshot/create", &req);
    S_STR (b, "snapshot_type", "Full");
    S_STR (b, "snapshot_path", "snap.vmstate");
    S_STR (b, "mem_file_path", "snap.mem");
    S_STR (s_req (fa, n0 + 3, "PATCH", "/vm", &req), "state", "Resumed");
    assert_int_equal (fc_double_count (fa), n0 + 4);
    assert_string_equal (fc_double_state (fa), "Running");
    s_no_violations (fa);
    struct stat s;
    assert_int_equal (stat (snap, &s), 0);
    assert_int_equal ((uint64_t) s.st_size, bytes);
    /* 1 GiB of guest memory and an 8 MiB disk, mostly holes: kept sparse. */
    assert_true (bytes < (1 << 20));
    snprintf (p, sizeof p, "%s/sheds/web/vm/snap.mem", data_a);
    assert_int_equal (access (p, F_OK), -1); /* working files gone */

    /* Another node, another data_dir and name: the file is copied there,
     * a create from it, a start that loads it. */
    char why[256];
    assert_int_equal (fc_copy_file (snap, fetched, why, sizeof why), 0);
    driver_t *db = s_driver (data_b);
    driver_spec_t spec2;
    s_spec (&spec2, "web2", "");
    snprintf (spec2.layer, sizeof spec2.layer, "%s", fetched);
    if (driver_create (db, &spec2, &err) != 0)
        fail_msg ("%s", err.message);
    snprintf (p, sizeof p, "%s/sheds/web2/vm/rootfs.ext4", data_b);
    s_expect_at (p, 8 << 20, "GUEST1", "wrote2");
    snprintf (p, sizeof p, "%s/sheds/web2/vm/restore.mem", data_b);
    s_expect_at (p, 1LL << 30, "guest memory", "upper half");
    fc_double_t *fb = s_double (api, data_b, "web2");
    if (driver_start (db, "web2", &err) != 0)
        fail_msg ("%s", err.message);
    assert_int_equal (fc_double_count (fb), 1); /* nothing but the load */
    b = s_req (fb, 0, "PUT", "/snapshot/load", &req);
    S_STR (b, "snapshot_path", "restore.vmstate");
    S_STR (b, "mem_backend.backend_type", "File");
    S_STR (b, "mem_backend.backend_path", "restore.mem");
    S_BOOL (b, "resume_vm", true);
    char tap[32];
    drv_state_t st2;
    char dir2[256];
    snprintf (dir2, sizeof dir2, "%s/sheds/web2", data_b);
    assert_int_equal (drv_state_load (dir2, &st2, &err), 0);
    snprintf (tap, sizeof tap, "%s", st2.veth);
    assert_true (strncmp (tap, "ft", 2) == 0);
    assert_true (json_is_array (json_read_at (s_doc (b), "network_overrides")));
    assert_non_null (strstr (b, tap));
    assert_string_equal (fc_double_state (fb), "Running");
    driver_status_t st;
    assert_int_equal (driver_status (db, "web2", &st, &err), 0);
    assert_int_equal (st.state, DRIVER_ST_RUNNING);
    snprintf (p, sizeof p, "%s/sheds/web2/vm/restore.vmstate", data_b);
    assert_int_equal (access (p, F_OK), -1); /* read by Firecracker, released */
    /* Stopped, the memory goes; the next start boots from the disk. */
    assert_int_equal (driver_stop (db, "web2", &err), 0);
    snprintf (p, sizeof p, "%s/sheds/web2/vm/restore.mem", data_b);
    assert_int_equal (access (p, F_OK), -1);
    size_t n1 = fc_double_count (fb);
    assert_int_equal (driver_start (db, "web2", &err), 0);
    s_req (fb, n1, "PUT", "/machine-config", &req);
    s_no_violations (fb);
    assert_int_equal (driver_remove (db, "web2", &err), 0);

    /* STOP: the VM stops, its disk is captured, it starts again. */
    n0 = fc_double_count (fa);
    if (driver_snapshot (da, "web", snap, DRIVER_SNAP_STOP, &bytes, &err) != 0)
        fail_msg ("%s", err.message);
    S_STR (s_req (fa, n0, "PUT", "/actions", &req), "action_type", "SendCtrlAltDel");
    s_expect_boot (fa, n0 + 1);
    assert_string_equal (fc_double_state (fa), "Running");
    s_no_violations (fa);
    /* A disk-only bundle restores as a cold boot. */
    snprintf (spec2.layer, sizeof spec2.layer, "%s", snap);
    assert_int_equal (driver_create (db, &spec2, &err), 0);
    snprintf (p, sizeof p, "%s/sheds/web2/vm/restore.vmstate", data_b);
    assert_int_equal (access (p, F_OK), -1);
    snprintf (p, sizeof p, "%s/sheds/web2/vm/rootfs.ext4", data_b);
    s_expect_at (p, 8 << 20, "GUEST1", "wrote2");
    /* The first web2 was removed with its socket: a new VMM, a new double. */
    fc_double_destroy (&fb);
    fb = s_double (api, data_b, "web2");
    if (driver_start (db, "web2", &err) != 0)
        fail_msg ("%s", err.message);
    s_req (fb, 0, "PUT", "/machine-config", &req);
    s_no_violations (fb);

    /* A stopped shed: a disk-only bundle, and it stays stopped. */
    assert_int_equal (driver_stop (da, "web", &err), 0);
    n0 = fc_double_count (fa);
    assert_int_equal (driver_snapshot (da, "web", snap, DRIVER_SNAP_LIVE, &bytes, &err), 0);
    assert_int_equal (fc_double_count (fa), n0);
    assert_int_equal (driver_snapshot (da, "nosuch", snap, DRIVER_SNAP_LIVE, &bytes, &err),
                      DRIVER_ERR_NOT_FOUND);

    fc_double_destroy (&fa);
    fc_double_destroy (&fb);
    driver_destroy (&da);
    driver_destroy (&db);
    fc_openapi_destroy (&api);
}

/* A tar with the given (name, type, content) entries. */
static void
s_tar (const char *path, const char *const *names, const int *types, size_t n)
{
    struct archive *a = archive_write_new ();
    archive_write_set_format_pax_restricted (a);
    assert_int_equal (archive_write_open_filename (a, path), ARCHIVE_OK);
    for (size_t i = 0; i < n; i++) {
        struct archive_entry *e = archive_entry_new ();
        const char *body = "shed-firecracker-snapshot 1\nkind disk\n";
        archive_entry_set_pathname (e, names[i]);
        archive_entry_set_filetype (e, (unsigned) types[i]);
        archive_entry_set_perm (e, 0600);
        if (types[i] == AE_IFLNK)
            archive_entry_set_symlink (e, "/etc/shadow");
        else
            archive_entry_set_size (e, (la_int64_t) strlen (body));
        archive_write_header (a, e);
        if (types[i] == AE_IFREG)
            archive_write_data (a, body, strlen (body));
        archive_entry_free (e);
    }
    archive_write_close (a);
    archive_write_free (a);
}

static void
test_bundle_hostile (void **state)
{
    char data[128], bad[160], p[320];
    snprintf (data, sizeof data, "%s/h", s_dir);
    snprintf (bad, sizeof bad, "%s/bad.snap", s_dir);
    driver_t *d = s_driver (data);
    driver_spec_t spec;
    s_spec (&spec, "evil", "");
    snprintf (spec.layer, sizeof spec.layer, "%s", bad);
    driver_error_t err;
    struct {
        const char *names[3];
        int types[3];
        size_t n;
        const char *reason;
    } cases[] = {
        { { "shed-snapshot", "../escape" }, { AE_IFREG, AE_IFREG }, 2, "unexpected entry" },
        { { "shed-snapshot", "rootfs.ext4" }, { AE_IFREG, AE_IFLNK }, 2, "unexpected entry" },
        { { "shed-snapshot", "rootfs.ext4", "rootfs.ext4" },
          { AE_IFREG, AE_IFREG, AE_IFREG },
          3,
          "unexpected entry" },
        { { "shed-snapshot", "rootfs.ext4", "vmstate" },
          { AE_IFREG, AE_IFREG, AE_IFREG },
          3,
          "must come together" },
        { { "rootfs.ext4" }, { AE_IFREG }, 1, "not a Firecracker shed snapshot" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        s_tar (bad, cases[i].names, cases[i].types, cases[i].n);
        assert_int_equal (driver_create (d, &spec, &err), DRIVER_ERR_INVALID);
        if (!strstr (err.message, cases[i].reason))
            fail_msg ("case %zu: %s", i, err.message);
        snprintf (p, sizeof p, "%s/sheds/evil", data);
        assert_int_equal (access (p, F_OK), -1); /* nothing left behind */
    }
    snprintf (p, sizeof p, "%s/sheds/escape", data);
    assert_int_equal (access (p, F_OK), -1);
    /* Not a tar at all. */
    assert_int_equal (shed_write_file_atomic (bad, "garbage", 7, 0600), 0);
    assert_int_not_equal (driver_create (d, &spec, &err), 0);
    driver_destroy (&d);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_openapi_rejects),  cmocka_unit_test (test_jailer_argv),
        cmocka_unit_test (test_disk_copy),        cmocka_unit_test (test_lifecycle),
        cmocka_unit_test (test_snapshot_restore), cmocka_unit_test (test_bundle_hostile),
    };
    return cmocka_run_group_tests (tests, s_setup, s_teardown);
}
