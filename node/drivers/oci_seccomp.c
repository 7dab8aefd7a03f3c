/*
 * oci_seccomp.c - the seccomp profile of a container shed.
 *
 * A deny list over a default of "allow": a shed is a developer's machine,
 * where compilers, debuggers (ptrace is allowed: since Linux 4.8 seccomp
 * is re-checked after a tracer changes a syscall) and language runtimes
 * must work, so we block what no developer environment needs and what has
 * been the way out of containers or into the kernel. The list is the set
 * of syscalls Docker's (moby's) default profile does NOT allow to a
 * container without CAP_SYS_ADMIN (profiles/seccomp/default.json), plus
 * the syscalls that arrived after it was written and share the risk:
 * io_uring (moby blocks it since 2023: a large, often-exploited kernel
 * surface) and the new mount API. Namespaces: unshare, setns and clone
 * with namespace flags are denied, so a shed cannot build a user namespace
 * of its own and reach the kernel code that only namespace root can.
 * clone3 answers ENOSYS (its flags are in memory seccomp cannot read), so
 * libc falls back to clone, whose flags are checked. docs/security.md has
 * the table.
 */
#include "node/drivers/oci_spec.h"

#include <errno.h>
#include <jansson.h>

static const char *const s_denied[] = {
    /* kernel modules, kexec, reboot */
    "init_module",
    "finit_module",
    "delete_module",
    "create_module",
    "query_module",
    "get_kernel_syms",
    "kexec_load",
    "kexec_file_load",
    "reboot",
    /* mounts and namespaces (also the new mount API) */
    "mount",
    "umount",
    "umount2",
    "pivot_root",
    "unshare",
    "setns",
    "fsopen",
    "fsconfig",
    "fsmount",
    "fspick",
    "move_mount",
    "open_tree",
    "mount_setattr",
    /* the kernel keyring: not namespaced */
    "add_key",
    "request_key",
    "keyctl",
    /* file handles bypass the mount namespace (the "shocker" escape) */
    "open_by_handle_at",
    "name_to_handle_at",
    /* BPF, perf and userfaultfd: kernel attack surface and timing channels */
    "bpf",
    "perf_event_open",
    "userfaultfd",
    /* io_uring */
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
    /* host-wide clocks, swap, accounting, quotas, raw I/O ports */
    "settimeofday",
    "stime",
    "clock_settime",
    "clock_adjtime",
    "adjtimex",
    "swapon",
    "swapoff",
    "acct",
    "quotactl",
    "quotactl_fd",
    "ioperm",
    "iopl",
    /* obsolete or NUMA calls moby denies */
    "lookup_dcookie",
    "nfsservctl",
    "sysfs",
    "_sysctl",
    "uselib",
    "ustat",
    "vm86",
    "vm86old",
    "get_mempolicy",
    "set_mempolicy",
    "mbind",
    "move_pages",
    /* reading other processes' memory outside ptrace's checks */
    "process_vm_readv",
    "process_vm_writev",
    "kcmp",
};

/* CLONE_NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET|NEWTIME */
#define S_NS_FLAGS 0x7E020080ULL

size_t
oci_seccomp_denied_count (void)
{
    return sizeof s_denied / sizeof s_denied[0] + 2; /* + clone, clone3 */
}

static json_t *
s_rule (json_t *names, int errno_ret)
{
    return json_pack ("{s:o, s:s, s:i}", "names", names, "action", "SCMP_ACT_ERRNO", "errnoRet",
                      errno_ret);
}

void *
oci_seccomp_json (void)
{
    json_t *names = json_array ();
    for (size_t i = 0; i < sizeof s_denied / sizeof s_denied[0]; i++)
        json_array_append_new (names, json_string (s_denied[i]));
    json_t *syscalls = json_array ();
    json_array_append_new (syscalls, s_rule (names, EPERM));
    json_array_append_new (syscalls, s_rule (json_pack ("[s]", "clone3"), ENOSYS));
    /* clone with a namespace flag in its first argument: EPERM. seccomp's
     * MASKED_EQ tests (arg & value) == valueTwo, so "any of the flags" is
     * one rule per flag: (flags & F) == F. */
    for (int bit = 0; bit < 64; bit++) {
        unsigned long long flag = 1ULL << bit;
        if (!(S_NS_FLAGS & flag))
            continue;
        json_array_append_new (syscalls, json_pack ("{s:[s], s:s, s:i, s:[{s:i, s:I, s:I, s:s}]}",
                                                    "names", "clone", "action", "SCMP_ACT_ERRNO",
                                                    "errnoRet", EPERM, "args", "index", 0, "value",
                                                    (json_int_t) flag, "valueTwo",
                                                    (json_int_t) flag, "op", "SCMP_CMP_MASKED_EQ"));
    }
    return json_pack ("{s:s, s:[s,s,s], s:o}", "defaultAction", "SCMP_ACT_ALLOW", "architectures",
                      "SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32", "syscalls", syscalls);
}
