/*
 * firecracker_test.c - the Firecracker driver against a libmicrohttpd
 * server on the shed's API Unix socket, standing in for Firecracker
 * (which cannot run here: no KVM). Every call's method, path and JSON
 * body is checked, and a 400 with a fault_message becomes a clear error.
 */
#include "node/drivers/drv_state.h"
#include "node/drivers/firecracker.h"
#include "node/drivers/json_read.h"
#include "node/drivers/test_httpd.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

typedef struct {
    bool reject_machine_config;
    bool running;
} s_fake_t;

static int
s_fake (void *arg, const test_httpd_req_t *req, char *out, size_t size)
{
    s_fake_t *f = (s_fake_t *) arg;
    if (strcmp (req->method, "GET") == 0 && strcmp (req->url, "/") == 0) {
        snprintf (out, size, "{\"id\":\"web\",\"state\":\"%s\",\"vmm_version\":\"1.7.0\"}",
                  f->running ? "Running" : "Not started");
        return 200;
    }
    if (strcmp (req->method, "PUT") != 0)
        return 405;
    if (!json_valid (req->body, strlen (req->body))) {
        snprintf (out, size, "{\"fault_message\":\"body is not JSON\"}");
        return 400;
    }
    if (strcmp (req->url, "/machine-config") == 0 && f->reject_machine_config) {
        snprintf (out, size,
                  "{\"fault_message\":\"Invalid memory configuration: "
                  "mem_size_mib must be positive\"}");
        return 400;
    }
    if (strcmp (req->url, "/actions") == 0) {
        char action[32] = "";
        json_get_str (req->body, strlen (req->body), "action_type", action, sizeof action);
        if (strcmp (action, "InstanceStart") == 0)
            f->running = true;
        else if (strcmp (action, "SendCtrlAltDel") == 0)
            f->running = false;
    }
    return 204;
}

static void
s_expect_put (test_httpd_t *srv, size_t i, const char *url)
{
    test_httpd_req_t req;
    test_httpd_get (srv, i, &req);
    assert_string_equal (req.method, "PUT");
    assert_string_equal (req.url, url);
}

static const char *
s_body (test_httpd_t *srv, size_t i, test_httpd_req_t *req)
{
    test_httpd_get (srv, i, req);
    return req->body;
}

#define S_NUM(body, path, want)                                                                    \
    do {                                                                                           \
        double v_;                                                                                 \
        assert_int_equal (json_get_num (body, strlen (body), path, &v_), 0);                       \
        assert_float_equal (v_, want, 0);                                                          \
    } while (0)
#define S_STR(body, path, want)                                                                    \
    do {                                                                                           \
        char v_[256];                                                                              \
        assert_int_equal (json_get_str (body, strlen (body), path, v_, sizeof v_), 0);             \
        assert_string_equal (v_, want);                                                            \
    } while (0)
#define S_BOOL(body, path, want)                                                                   \
    do {                                                                                           \
        bool v_;                                                                                   \
        assert_int_equal (json_get_bool (body, strlen (body), path, &v_), 0);                      \
        assert_int_equal (v_, want);                                                               \
    } while (0)

static void
test_firecracker_calls (void **state)
{
    char dir[64];
    snprintf (dir, sizeof dir, "/tmp/shed-fc-test-%d", (int) getpid ());
    driver_firecracker_config_t cfg = {
        .data_dir = dir,
        .firecracker_bin = "",
        .kernel_image = "/var/lib/shed/vmlinux",
        .bridge = "shbr0",
        .create_tap = false,
        .stop_timeout_ms = 500,
    };
    driver_error_t err = { 0, "" };
    driver_t *d = driver_firecracker_new (&cfg, &err);
    assert_non_null (d);

    driver_spec_t spec;
    memset (&spec, 0, sizeof spec);
    snprintf (spec.name, sizeof spec.name, "web");
    spec.cpus_milli = 2500;
    spec.memory_mb = 1024;
    snprintf (spec.image, sizeof spec.image, "/var/lib/shed/images/rootfs.ext4");
    snprintf (spec.mac, sizeof spec.mac, "02:00:c6:13:00:0a");
    snprintf (spec.ip, sizeof spec.ip, "198.19.1.5/16");
    snprintf (spec.gateway, sizeof spec.gateway, "198.19.1.1");
    assert_int_equal (driver_create (d, &spec, &err), 0);
    assert_int_equal (driver_create (d, &spec, &err), DRIVER_ERR_EXISTS);

    char sock[256];
    driver_firecracker_api_sock (&cfg, "web", sock, sizeof sock);
    s_fake_t fake = { false, false };
    test_httpd_t *srv = test_httpd_new (sock, s_fake, &fake);
    assert_non_null (srv);

    if (driver_start (d, "web", &err) != 0)
        fail_msg ("%s", err.message);
    assert_int_equal (test_httpd_count (srv), 6);
    test_httpd_req_t req;
    const char *b;

    s_expect_put (srv, 0, "/machine-config");
    b = s_body (srv, 0, &req);
    S_NUM (b, "vcpu_count", 3);
    S_NUM (b, "mem_size_mib", 1024);
    S_BOOL (b, "smt", false);

    s_expect_put (srv, 1, "/boot-source");
    b = s_body (srv, 1, &req);
    S_STR (b, "kernel_image_path", "/var/lib/shed/vmlinux");
    /* The overlay address reaches the guest on the kernel command line. */
    S_STR (b, "boot_args",
           "console=ttyS0 reboot=k panic=1 pci=off "
           "ip=198.19.1.5::198.19.1.1:255.255.0.0:web:eth0:off");

    s_expect_put (srv, 2, "/drives/rootfs");
    b = s_body (srv, 2, &req);
    S_STR (b, "drive_id", "rootfs");
    S_STR (b, "path_on_host", "/var/lib/shed/images/rootfs.ext4");
    S_BOOL (b, "is_root_device", true);
    S_BOOL (b, "is_read_only", false);

    s_expect_put (srv, 3, "/network-interfaces/eth0");
    b = s_body (srv, 3, &req);
    S_STR (b, "iface_id", "eth0");
    S_STR (b, "guest_mac", "02:00:c6:13:00:0a");
    char tap[32];
    assert_int_equal (json_get_str (b, strlen (b), "host_dev_name", tap, sizeof tap), 0);
    assert_true (strncmp (tap, "ft", 2) == 0 && strlen (tap) <= 15);

    s_expect_put (srv, 4, "/vsock");
    b = s_body (srv, 4, &req);
    char uds[256], want[300];
    snprintf (want, sizeof want, "%s/sheds/web/vsock.sock", dir);
    S_STR (b, "uds_path", want);
    double cid;
    assert_int_equal (json_get_num (b, strlen (b), "guest_cid", &cid), 0);
    assert_true (cid >= 3);
    (void) uds;
    /* The guest's agent dials vsock port 1026; Firecracker connects that to
     * <uds_path>_1026 on the host, where the node must listen. */
    assert_string_equal (driver_agent_suffix (d), "_1026");

    s_expect_put (srv, 5, "/actions");
    b = s_body (srv, 5, &req);
    S_STR (b, "action_type", "InstanceStart");

    driver_status_t st;
    assert_int_equal (driver_status (d, "web", &st, &err), 0);
    assert_int_equal (st.state, DRIVER_ST_RUNNING);

    assert_int_equal (driver_stop (d, "web", &err), 0);
    size_t n = test_httpd_count (srv);
    s_expect_put (srv, n - 1, "/actions");
    b = s_body (srv, n - 1, &req);
    S_STR (b, "action_type", "SendCtrlAltDel");
    assert_int_equal (driver_status (d, "web", &st, &err), 0);
    assert_int_equal (st.state, DRIVER_ST_STOPPED);

    /* A fault answer is one clear line with Firecracker's own words. */
    fake.reject_machine_config = true;
    assert_int_equal (driver_start (d, "web", &err), DRIVER_ERR_INVALID);
    assert_string_equal (err.message, "firecracker: web: PUT /machine-config: 400: Invalid "
                                      "memory configuration: mem_size_mib must be positive");

    driver_usage_t u;
    assert_int_equal (driver_usage (d, "web", &u, &err), 0);
    assert_int_equal (u.memory_limit, 1024ULL << 20);

    assert_int_equal (driver_remove (d, "web", &err), 0);
    assert_int_equal (driver_status (d, "web", &st, &err), DRIVER_ERR_NOT_FOUND);
    test_httpd_destroy (&srv);

    /* No API socket: unavailable, naming the socket. */
    assert_int_equal (driver_create (d, &spec, &err), 0);
    assert_int_equal (driver_start (d, "web", &err), DRIVER_ERR_UNAVAILABLE);
    assert_non_null (strstr (err.message, "api.sock"));
    /* No image: invalid. */
    driver_spec_t noimg = spec;
    snprintf (noimg.name, sizeof noimg.name, "bare");
    noimg.image[0] = '\0';
    assert_int_equal (driver_create (d, &noimg, &err), DRIVER_ERR_INVALID);
    assert_int_equal (driver_remove (d, "web", &err), 0);
    driver_destroy (&d);

    /* A binary that does not exist is refused up front. */
    cfg.firecracker_bin = "/nonexistent/firecracker";
    assert_null (driver_firecracker_new (&cfg, &err));
    assert_int_equal (err.code, DRIVER_ERR_UNAVAILABLE);
    drv_remove_tree (dir);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_firecracker_calls),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
