/* log.c - see log.h. */
#include "common/log.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

static _Atomic int s_level = SHED_LOG_INFO;
static _Atomic int s_journal; /* prefix sd-daemon priorities */

/* sd-daemon.h's SD_ERR, SD_WARNING, SD_INFO, SD_DEBUG by our level. */
static const char *s_prio[] = { "<7>", "<6>", "<4>", "<3>" };

int
shed_log_detect_journal (void)
{
    /* The variable alone is inherited by anything started from a unit:
     * only a stderr that is that very stream gets the prefixes. */
    const char *js = getenv ("JOURNAL_STREAM");
    unsigned long long dev, ino;
    struct stat st;
    int on = js && sscanf (js, "%llu:%llu", &dev, &ino) == 2 && fstat (STDERR_FILENO, &st) == 0
             && (unsigned long long) st.st_dev == dev && (unsigned long long) st.st_ino == ino;
    atomic_store (&s_journal, on);
    return on;
}

static const char *s_names[] = { "debug", "info", "warn", "error" };

void
shed_log_set_level (shed_log_level_t level)
{
    atomic_store (&s_level, (int) level);
}

shed_log_level_t
shed_log_get_level (void)
{
    return (shed_log_level_t) atomic_load (&s_level);
}

int
shed_log_parse_level (const char *text, shed_log_level_t *out)
{
    for (int i = 0; i < 4; i++)
        if (text && strcmp (text, s_names[i]) == 0) {
            *out = (shed_log_level_t) i;
            return 0;
        }
    return -1;
}

/* Where a piece of text lands in the line. */
typedef enum {
    S_IN_MSG,    /* the quoted message */
    S_IN_QUOTED, /* a field value between quotes: k="..." */
    S_IN_BARE,   /* a bare field value: k=... */
} s_where_t;

/* Append n bytes of a conversion's output, made harmless for its place:
 * whatever came from an argument (a guest's HELLO strings, a peer's name)
 * can neither end the line, nor close a quote, nor start a field of its
 * own. Control bytes become '?', quotes '\'', and in fields '|' becomes
 * '!' and, where the value is bare, spaces '_'. */
static void
s_put_arg (char *out, size_t cap, size_t *pos, const char *p, size_t n, s_where_t where)
{
    for (size_t i = 0; i < n && *pos + 1 < cap; i++) {
        unsigned char c = (unsigned char) p[i];
        if (c < 0x20 || c == 0x7f)
            c = '?';
        else if (c == '"')
            c = '\'';
        else if (c == '|' && where != S_IN_MSG)
            c = '!';
        else if (c == ' ' && where == S_IN_BARE)
            c = '_';
        out[(*pos)++] = (char) c;
    }
    out[*pos] = '\0';
}

/* Format one conversion spec (`spec`, "%...X") taking its arguments from
 * *ap by its type. Returns the length written into tmp (cut to cap). */
static size_t
s_convert (char *tmp, size_t cap, const char *spec, char conv, const char *len, int stars,
           va_list *ap)
{
    int a1 = 0, a2 = 0;
    if (stars > 0)
        a1 = va_arg (*ap, int);
    if (stars > 1)
        a2 = va_arg (*ap, int);
    int n = 0;
#define S_CALL(type)                                                                               \
    do {                                                                                           \
        type v_ = va_arg (*ap, type);                                                              \
        n = stars == 0   ? snprintf (tmp, cap, spec, v_)                                           \
            : stars == 1 ? snprintf (tmp, cap, spec, a1, v_)                                       \
                         : snprintf (tmp, cap, spec, a1, a2, v_);                                  \
    } while (0)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
    bool l = !strcmp (len, "l"), ll = !strcmp (len, "ll") || !strcmp (len, "q");
    bool z = !strcmp (len, "z"), j = !strcmp (len, "j"), t = !strcmp (len, "t");
    switch (conv) {
    case 'd':
    case 'i':
        if (ll)
            S_CALL (long long);
        else if (l)
            S_CALL (long);
        else if (z)
            S_CALL (ssize_t);
        else if (j)
            S_CALL (intmax_t);
        else if (t)
            S_CALL (ptrdiff_t);
        else
            S_CALL (int);
        break;
    case 'u':
    case 'o':
    case 'x':
    case 'X':
        if (ll)
            S_CALL (unsigned long long);
        else if (l)
            S_CALL (unsigned long);
        else if (z)
            S_CALL (size_t);
        else if (j)
            S_CALL (uintmax_t);
        else if (t)
            S_CALL (ptrdiff_t);
        else
            S_CALL (unsigned);
        break;
    case 'c':
        S_CALL (int);
        break;
    case 's': {
        const char *v = va_arg (*ap, const char *);
        if (!v)
            v = "(null)";
        n = stars == 0   ? snprintf (tmp, cap, spec, v)
            : stars == 1 ? snprintf (tmp, cap, spec, a1, v)
                         : snprintf (tmp, cap, spec, a1, a2, v);
        break;
    }
    case 'p':
        S_CALL (void *);
        break;
    case 'f':
    case 'F':
    case 'e':
    case 'E':
    case 'g':
    case 'G':
    case 'a':
    case 'A':
        if (!strcmp (len, "L"))
            S_CALL (long double);
        else
            S_CALL (double);
        break;
    default:
        n = 0; /* %n and unknown conversions print nothing */
        break;
    }
#pragma GCC diagnostic pop
#undef S_CALL
    if (n < 0)
        n = 0;
    return (size_t) n < cap ? (size_t) n : cap - 1;
}

/* vsnprintf, but every argument is cleaned for where it lands (s_put_arg);
 * the format's own text is trusted. The message (before the format's first
 * literal '|') goes to msg, the fields to fields. */
static void
s_format (char *msg, size_t mcap, char *fields, size_t fcap, bool *has_fields, const char *fmt,
          va_list *ap)
{
    size_t mpos = 0, fpos = 0;
    msg[0] = fields[0] = '\0';
    *has_fields = false;
    char tmp[1024];
    for (const char *f = fmt; *f;) {
        char *out = *has_fields ? fields : msg;
        size_t cap = *has_fields ? fcap : mcap;
        size_t *pos = *has_fields ? &fpos : &mpos;
        if (*f != '%' || f[1] == '%') {
            char c = *f == '%' ? (f++, '%') : *f;
            f++;
            if (c == '|' && !*has_fields) {
                *has_fields = true;
                continue;
            }
            if (!*has_fields && (c == '"' || c == '\n'))
                c = '\'';
            if (*pos + 1 < cap) {
                out[(*pos)++] = c;
                out[*pos] = '\0';
            }
            continue;
        }
        /* A conversion: %[flags][width][.precision][length]conv */
        const char *start = f++;
        int stars = 0;
        while (*f && strchr ("-+ #0'", *f))
            f++;
        while (*f == '*' || (*f >= '0' && *f <= '9'))
            stars += *f++ == '*';
        if (*f == '.') {
            f++;
            while (*f == '*' || (*f >= '0' && *f <= '9'))
                stars += *f++ == '*';
        }
        char len[4] = "";
        size_t ln = 0;
        while (*f && strchr ("hlLqjzt", *f) && ln < sizeof len - 1)
            len[ln++] = *f++;
        len[ln] = '\0';
        if (!*f || stars > 2 || (size_t) (f + 1 - start) >= 32)
            break; /* malformed: stop rather than guess */
        char spec[32];
        memcpy (spec, start, (size_t) (f + 1 - start));
        spec[f + 1 - start] = '\0';
        char conv = *f++;
        /* "hh" and "h" promote to int: the default branches handle them. */
        size_t n = s_convert (tmp, sizeof tmp, spec, conv, len, stars, ap);
        s_where_t where = !*has_fields                      ? S_IN_MSG
                          : start > fmt && start[-1] == '"' ? S_IN_QUOTED
                                                            : S_IN_BARE;
        if (conv == 's' || conv == 'c')
            s_put_arg (out, cap, pos, tmp, n, where);
        else if (*pos + n < cap) {
            /* Numbers and pointers: nothing to clean. */
            memcpy (out + *pos, tmp, n);
            *pos += n;
            out[*pos] = '\0';
        }
    }
}

void
shed_log (shed_log_level_t level, const char *comp, const char *fmt, ...)
{
    if ((int) level < atomic_load (&s_level))
        return;
    /* "message|k=v ...": the message is quoted, the fields stay logfmt.
     * Only the format decides where fields start, and what the arguments
     * bring is cleaned (s_format), so no argument can add a line, a field
     * or a quote: log lines stay one event each, whatever a guest sends. */
    char text[1024], fields[1024];
    bool has_fields = false;
    va_list ap;
    va_start (ap, fmt);
    va_list copy;
    va_copy (copy, ap);
    s_format (text, sizeof text, fields, sizeof fields, &has_fields, fmt, &copy);
    va_end (copy);
    va_end (ap);

    struct timespec ts;
    clock_gettime (CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r (&ts.tv_sec, &tm);
    char stamp[32];
    strftime (stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
    fprintf (stderr, "%sts=%s.%03ldZ level=%s comp=%s msg=\"%s\"%s%s\n",
             atomic_load (&s_journal) ? s_prio[level & 3] : "", stamp, ts.tv_nsec / 1000000L,
             s_names[level & 3], comp ? comp : "-", text, has_fields ? " " : "",
             has_fields ? fields : "");
}
