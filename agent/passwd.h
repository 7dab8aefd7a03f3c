/*
 * passwd.h - who a provisioning step runs as, read from the shed's own
 * /etc/passwd and /etc/group.
 *
 * Why not getpwnam/initgroups: shed-agent is a static binary (it runs in
 * any image: a busybox root without shared libraries, a Debian root, a
 * Firecracker rootfs; docs/agent.md "Building"), and static glibc's NSS
 * functions dlopen the shared NSS modules of whatever libc the image has,
 * or fail. The files are the only user database a shed has anyway.
 *
 * The files belong to the shed (root inside can write them), so the
 * parser treats them as hostile: only regular files, at most
 * AGENT_PASSWD_FILE_MAX bytes, read without blocking (a FIFO or a device
 * put at /etc/passwd is refused, not waited on); malformed lines, ids that
 * are not strict decimals below 2^32 - 1, NIS "+"/"-" lines and comments
 * are skipped; every copy is bounded. The first line naming the user wins,
 * as with glibc's files backend.
 */
#ifndef SHED_AGENT_PASSWD_H
#define SHED_AGENT_PASSWD_H

#include "agent/proto/agent_proto.h"
#include "agent/provision.h"

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define AGENT_PASSWD_FILE_MAX (4u << 20)
#define AGENT_GROUPS_MAX      64 /* supplementary groups taken on */

typedef struct {
    char name[AGENT_USER_MAX + 1];
    uid_t uid;
    gid_t gid;
    char home[AGENT_PATH_MAX + 1]; /* "/" when the entry's is empty, relative or too long */
    /* The primary group first, then each group that lists the user as a
     * member, without duplicates; what initgroups would set. */
    gid_t groups[AGENT_GROUPS_MAX];
    size_t ngroups;
} agent_user_t;

/* A user name we look up at all: 1 to AGENT_USER_MAX bytes, printable,
 * none of ':' ',' or whitespace. */
bool agent_user_name_ok (const char *name);

/* Find `name` in /etc/passwd text. 0 and *out filled (groups: the primary
 * only), or -1 when absent. */
int agent_passwd_find (const char *text, const char *name, agent_user_t *out);

/* Add the groups of /etc/group text that list out->name to out->groups
 * (after the primary; at most AGENT_GROUPS_MAX in all, the rest ignored). */
void agent_group_members (const char *text, agent_user_t *out);

/* Look `name` up in <root>/etc/passwd and <root>/etc/group (root "/" in
 * production; NULL means "/"). 0, or -1 with errno ENOENT when there is
 * no such user (an unreadable or refused passwd file counts as none). A
 * missing or refused group file leaves only the primary group. "root"
 * is uid 0, gid 0, home /root even without a passwd entry: root inside a
 * shed is always available. */
int agent_user_lookup (const char *root, const char *name, agent_user_t *out);

/* The text of a small regular file (see above), NUL-terminated, or NULL
 * (errno set: EFBIG over `max`, EINVAL not a regular file). Caller frees. */
char *agent_read_small_file (const char *path, size_t max);

#endif
