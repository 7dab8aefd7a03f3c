/*
 * passwd.c - the shed's /etc/passwd and /etc/group, parsed by hand (see
 * passwd.h).
 */
#include "agent/passwd.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define S_FIELDS_MAX 8
#define S_ID_MAX     0xfffffffeull /* (uid_t) -1 means "no change" to setuid */

bool
agent_user_name_ok (const char *name)
{
    if (!name)
        return false;
    size_t len = strlen (name);
    if (len == 0 || len > AGENT_USER_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char) name[i];
        if (c <= ' ' || c >= 0x7f || c == ':' || c == ',')
            return false;
    }
    return true;
}

/* One line split at ':' into at most S_FIELDS_MAX fields (pointers into
 * the line, not terminated). Returns the number of fields. */
typedef struct {
    const char *p;
    size_t len;
} s_field_t;

static size_t
s_split (const char *line, size_t len, s_field_t *f)
{
    size_t n = 0;
    const char *p = line, *end = line + len;
    for (;;) {
        const char *colon = memchr (p, ':', (size_t) (end - p));
        const char *stop = colon ? colon : end;
        if (n == S_FIELDS_MAX)
            return n + 1; /* too many: the caller refuses the line */
        f[n].p = p;
        f[n].len = (size_t) (stop - p);
        n++;
        if (!colon)
            return n;
        p = colon + 1;
    }
}

/* Strict decimal id, at most S_ID_MAX: no sign, no blanks, no trailing
 * bytes (strtoul alone would take "-1", " 0" and "0x"). */
static int
s_id (const s_field_t *f, unsigned long long *out)
{
    if (f->len == 0 || f->len > 10)
        return -1;
    unsigned long long v = 0;
    for (size_t i = 0; i < f->len; i++) {
        if (!isdigit ((unsigned char) f->p[i]))
            return -1;
        v = v * 10 + (unsigned) (f->p[i] - '0');
    }
    if (v > S_ID_MAX)
        return -1;
    *out = v;
    return 0;
}

static bool
s_field_is (const s_field_t *f, const char *s)
{
    size_t len = strlen (s);
    return f->len == len && memcmp (f->p, s, len) == 0;
}

/* Calls fn for each line of text that is not a comment or a NIS line;
 * stops when fn returns true. */
typedef bool (s_line_fn) (void *arg, const s_field_t *f, size_t n);

static void
s_each_line (const char *text, s_line_fn *fn, void *arg)
{
    for (const char *line = text; line && *line;) {
        const char *eol = strchr (line, '\n');
        size_t len = eol ? (size_t) (eol - line) : strlen (line);
        if (len && line[len - 1] == '\r')
            len--;
        s_field_t f[S_FIELDS_MAX];
        size_t n;
        if (len && line[0] != '#' && line[0] != '+' && line[0] != '-'
            && (n = s_split (line, len, f)) <= S_FIELDS_MAX && fn (arg, f, n))
            return;
        line = eol ? eol + 1 : NULL;
    }
}

typedef struct {
    const char *name;
    agent_user_t *out;
    bool found;
} s_pw_arg_t;

static bool
s_pw_line (void *arg, const s_field_t *f, size_t n)
{
    s_pw_arg_t *a = arg;
    /* name:password:uid:gid:gecos:home:shell (the shell may be missing) */
    unsigned long long uid, gid;
    if (n < 6 || n > 7 || !s_field_is (&f[0], a->name) || s_id (&f[2], &uid) != 0
        || s_id (&f[3], &gid) != 0)
        return false;
    agent_user_t *u = a->out;
    memset (u, 0, sizeof *u);
    snprintf (u->name, sizeof u->name, "%s", a->name);
    u->uid = (uid_t) uid;
    u->gid = (gid_t) gid;
    const s_field_t *home = &f[5];
    bool home_ok = home->len > 0 && home->len <= AGENT_PATH_MAX && home->p[0] == '/'
                   && !memchr (home->p, '\0', home->len);
    if (home_ok) {
        memcpy (u->home, home->p, home->len);
        u->home[home->len] = '\0';
    }
    else
        snprintf (u->home, sizeof u->home, "/");
    u->groups[0] = u->gid;
    u->ngroups = 1;
    a->found = true;
    return true;
}

int
agent_passwd_find (const char *text, const char *name, agent_user_t *out)
{
    if (!text || !out || !agent_user_name_ok (name))
        return -1;
    s_pw_arg_t a = { name, out, false };
    s_each_line (text, s_pw_line, &a);
    return a.found ? 0 : -1;
}

static bool
s_gr_line (void *arg, const s_field_t *f, size_t n)
{
    agent_user_t *u = arg;
    /* name:password:gid:member,member,... */
    unsigned long long gid;
    if (n != 4 || s_id (&f[2], &gid) != 0)
        return false;
    size_t nlen = strlen (u->name);
    const char *p = f[3].p, *end = f[3].p + f[3].len;
    bool member = false;
    while (p < end && !member) {
        const char *comma = memchr (p, ',', (size_t) (end - p));
        const char *stop = comma ? comma : end;
        member = (size_t) (stop - p) == nlen && memcmp (p, u->name, nlen) == 0;
        p = stop + 1;
    }
    if (!member)
        return false;
    for (size_t i = 0; i < u->ngroups; i++)
        if (u->groups[i] == (gid_t) gid)
            return false;
    u->groups[u->ngroups++] = (gid_t) gid;
    return u->ngroups == AGENT_GROUPS_MAX; /* full: stop */
}

void
agent_group_members (const char *text, agent_user_t *out)
{
    if (!out)
        return;
    if (out->ngroups == 0) {
        out->groups[0] = out->gid;
        out->ngroups = 1;
    }
    if (text && agent_user_name_ok (out->name) && out->ngroups < AGENT_GROUPS_MAX)
        s_each_line (text, s_gr_line, out);
}

char *
agent_read_small_file (const char *path, size_t max)
{
    /* O_NONBLOCK: opening a FIFO must not wait for a writer; O_NOCTTY: a
     * terminal put there must not become ours. */
    int fd = open (path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    struct stat st;
    if (fstat (fd, &st) != 0 || !S_ISREG (st.st_mode)) {
        close (fd);
        errno = EINVAL;
        return NULL;
    }
    /* Read up to max + 1 bytes rather than trusting st_size: the file may
     * grow under us. */
    size_t cap = (size_t) st.st_size < max ? (size_t) st.st_size + 1 : max + 1;
    char *buf = malloc (cap + 1);
    size_t len = 0;
    int err = ENOMEM;
    while (buf) {
        if (len == cap) {
            if (cap > max) {
                err = EFBIG;
                break;
            }
            size_t grown_cap = cap * 2 > max + 1 ? max + 1 : cap * 2;
            char *grown = realloc (buf, grown_cap + 1);
            if (!grown)
                break;
            buf = grown;
            cap = grown_cap;
        }
        ssize_t r = read (fd, buf + len, cap - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            err = errno;
            break;
        }
        if (r == 0) {
            close (fd);
            buf[len] = '\0';
            return buf;
        }
        len += (size_t) r;
    }
    free (buf);
    close (fd);
    errno = err;
    return NULL;
}

int
agent_user_lookup (const char *root, const char *name, agent_user_t *out)
{
    if (!out || !agent_user_name_ok (name)) {
        errno = ENOENT;
        return -1;
    }
    if (!root || !root[0])
        root = "/";
    size_t rlen = strlen (root);
    const char *sep = root[rlen - 1] == '/' ? "" : "/";
    char path[AGENT_PATH_MAX + 32];
    snprintf (path, sizeof path, "%s%setc/passwd", root, sep);
    char *text = agent_read_small_file (path, AGENT_PASSWD_FILE_MAX);
    int rc = agent_passwd_find (text, name, out);
    free (text);
    if (rc != 0) {
        if (strcmp (name, "root") != 0) {
            errno = ENOENT;
            return -1;
        }
        memset (out, 0, sizeof *out);
        snprintf (out->name, sizeof out->name, "root");
        snprintf (out->home, sizeof out->home, "/root");
        out->ngroups = 1; /* groups[0] = gid 0 */
    }
    snprintf (path, sizeof path, "%s%setc/group", root, sep);
    text = agent_read_small_file (path, AGENT_PASSWD_FILE_MAX);
    agent_group_members (text, out);
    free (text);
    return 0;
}
