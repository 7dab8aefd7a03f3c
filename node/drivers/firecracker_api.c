/*
 * firecracker_api.c - the Firecracker driver's API calls and their JSON
 * bodies (firecracker_int.h). Every body here is checked against
 * Firecracker's published OpenAPI document by firecracker_test
 * (node/drivers/testdata/firecracker.yaml, docs/drivers.md).
 */
#include "node/drivers/firecracker_int.h"
#include "node/drivers/json_read.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Token buckets refill over one second, so `size` is the rate per second
 * and also the largest burst. */
#define FC_REFILL_MS 1000

void
fc_shed_dir (const fc_t *self, const char *name, char *buf, size_t size)
{
    drv_fmt (buf, size, "%s/sheds/%s", self->data_dir, name);
}

void
fc_vm_dir (const fc_t *self, const char *name, char *buf, size_t size)
{
    drv_fmt (buf, size, "%s/sheds/%s/" FC_VM_DIR, self->data_dir, name);
}

int
fc_api (const fc_t *self, const char *sock, const char *name, const char *method, const char *path,
        const char *body, http_reply_t *keep, driver_error_t *err)
{
    http_reply_t r;
    if (http_request (NULL, sock, method, path, body, self->api_timeout_ms, &r) != 0) {
        int rc = driver_fail (err, DRIVER_ERR_UNAVAILABLE, "firecracker: %s: %s %s: %s (%s)", name,
                              method, path, r.error, sock);
        http_reply_free (&r);
        return rc;
    }
    if (r.status < 200 || r.status > 299) {
        char fault[200] = "", why[128];
        json_t *doc = json_read (r.body, r.len, why, sizeof why);
        if (json_read_str (doc, "fault_message", fault, sizeof fault) != 0)
            snprintf (fault, sizeof fault, "%.120s", r.body);
        json_decref (doc);
        int rc =
            driver_fail (err, r.status == 400 ? DRIVER_ERR_INVALID : DRIVER_ERR_BACKEND,
                         "firecracker: %s: %s %s: %ld: %s", name, method, path, r.status, fault);
        http_reply_free (&r);
        return rc;
    }
    if (keep)
        *keep = r;
    else
        http_reply_free (&r);
    return 0;
}

static int s_put (char *out, size_t size, const char *fmt, ...)
    __attribute__ ((format (printf, 3, 4)));
static int
s_put (char *out, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start (ap, fmt);
    int n = vsnprintf (out, size, fmt, ap);
    va_end (ap);
    return n < 0 || (size_t) n >= size ? -1 : 0;
}

/* {"bandwidth": {"size": bytes_per_s, "refill_time": 1000}} */
static int
s_limiter (uint64_t bytes_per_s, char *out, size_t size)
{
    return s_put (out, size, "{\"bandwidth\":{\"size\":%llu,\"refill_time\":%d}}",
                  (unsigned long long) bytes_per_s, FC_REFILL_MS);
}

int
fc_body_machine (const drv_state_t *st, char *out, size_t size)
{
    /* Firecracker takes 1 to 32 whole vCPUs. */
    uint64_t vcpus = (st->cpus_milli + 999) / 1000;
    vcpus = vcpus < 1 ? 1 : vcpus > 32 ? 32 : vcpus;
    return s_put (out, size, "{\"vcpu_count\":%llu,\"mem_size_mib\":%llu,\"smt\":false}",
                  (unsigned long long) vcpus,
                  (unsigned long long) (st->memory_mb ? st->memory_mb : 512));
}

int
fc_body_boot (const char *kernel, const char *args, char *out, size_t size)
{
    char q1[DRIVER_PATH_MAX * 2], q2[DRIVER_PATH_MAX * 2 + 256];
    if (json_quote (kernel, q1, sizeof q1) < 0 || json_quote (args, q2, sizeof q2) < 0)
        return -1;
    return s_put (out, size, "{\"kernel_image_path\":%s,\"boot_args\":%s}", q1, q2);
}

int
fc_body_drive (const drv_state_t *st, char *out, size_t size)
{
    /* Firecracker has one bucket per drive for reads and writes together:
     * the lower of the two limits, so neither direction exceeds its own. */
    uint64_t r = st->io_read_bps, w = st->io_write_bps;
    uint64_t bps = r && w ? (r < w ? r : w) : (r ? r : w);
    char lim[128] = "";
    if (bps && s_limiter (bps, lim, sizeof lim) != 0)
        return -1;
    return s_put (out, size,
                  "{\"drive_id\":\"rootfs\",\"path_on_host\":\"" FC_ROOTFS "\","
                  "\"is_root_device\":true,\"is_read_only\":false%s%s}",
                  bps ? ",\"rate_limiter\":" : "", lim);
}

int
fc_body_net (const drv_state_t *st, char *out, size_t size)
{
    char mac[48] = "", lim[128] = "", rates[300] = "";
    if (st->mac[0] && s_put (mac, sizeof mac, ",\"guest_mac\":\"%s\"", st->mac) != 0)
        return -1;
    if (st->net_kbit) {
        /* kbit/s to bytes/s; the same rate each way, as tc gives netns sheds. */
        if (s_limiter (st->net_kbit * 1000 / 8, lim, sizeof lim) != 0
            || s_put (rates, sizeof rates, ",\"rx_rate_limiter\":%s,\"tx_rate_limiter\":%s", lim,
                      lim)
                   != 0)
            return -1;
    }
    return s_put (out, size, "{\"iface_id\":\"eth0\",\"host_dev_name\":\"%s\"%s%s}", st->veth, mac,
                  rates);
}

int
fc_body_vsock (const drv_state_t *st, const char *uds_path, char *out, size_t size)
{
    /* Guest CIDs 0-2 are reserved. Firecracker backs each VM's vsock with
     * its own Unix socket (uds_path), so the CID is only seen inside the
     * guest and need not be unique across VMs; derived from the name so it
     * is stable across restarts. */
    uint32_t cid = 3;
    for (const char *p = st->name; *p; p++)
        cid = cid * 31 + (uint8_t) *p;
    cid = 3 + cid % 0x7ffffff0u;
    char q[DRIVER_PATH_MAX * 2];
    if (json_quote (uds_path, q, sizeof q) < 0)
        return -1;
    return s_put (out, size, "{\"guest_cid\":%u,\"uds_path\":%s}", cid, q);
}

uint64_t
fc_balloon_mib (uint64_t memory_mb, double overcommit)
{
    if (overcommit <= 1.0 || !memory_mb)
        return 0;
    return memory_mb - (uint64_t) ((double) memory_mb / overcommit);
}

int
fc_body_balloon (const drv_state_t *st, double overcommit, char *out, size_t size)
{
    /* docs/scheduling.md: a node with overcommit_memory R promises R times
     * its memory. The balloon starts inflated by the promised surplus so
     * the guest uses what the node can back, and deflates when the guest
     * runs short (deflate_on_oom) rather than the guest OOM-killing. */
    uint64_t mem = st->memory_mb ? st->memory_mb : 512;
    return s_put (out, size, "{\"amount_mib\":%llu,\"deflate_on_oom\":true}",
                  (unsigned long long) fc_balloon_mib (mem, overcommit));
}

int
fc_body_snap_create (char *out, size_t size)
{
    return s_put (out, size,
                  "{\"snapshot_type\":\"Full\",\"snapshot_path\":\"" FC_SNAP_STATE
                  "\",\"mem_file_path\":\"" FC_SNAP_MEM "\"}");
}

int
fc_body_snap_load (const char *tap, char *out, size_t size)
{
    /* The TAP is this node's: a restore under another name has another
     * one, so the interface is pointed at it (network_overrides). The
     * disk and the vsock socket keep their relative paths. */
    return s_put (out, size,
                  "{\"snapshot_path\":\"" FC_RESTORE_STATE "\","
                  "\"mem_backend\":{\"backend_type\":\"File\",\"backend_path\":\"" FC_RESTORE_MEM
                  "\"},\"resume_vm\":true,"
                  "\"network_overrides\":[{\"iface_id\":\"eth0\",\"host_dev_name\":\"%s\"}]}",
                  tap);
}
