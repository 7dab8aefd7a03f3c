/* log.c - see log.h. */
#include "common/log.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static _Atomic int s_level = SHED_LOG_INFO;

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

void
shed_log (shed_log_level_t level, const char *comp, const char *fmt, ...)
{
    if ((int) level < atomic_load (&s_level))
        return;
    char text[1024];
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (text, sizeof text, fmt, ap);
    va_end (ap);

    /* Split "message|k=v ..." so structured fields stay unquoted. Quotes in
     * the message are replaced so the line stays parseable logfmt. */
    char *fields = strchr (text, '|');
    if (fields)
        *fields++ = '\0';
    for (char *p = text; *p; p++)
        if (*p == '"' || *p == '\n')
            *p = '\'';

    struct timespec ts;
    clock_gettime (CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r (&ts.tv_sec, &tm);
    char stamp[32];
    strftime (stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
    fprintf (stderr, "ts=%s.%03ldZ level=%s comp=%s msg=\"%s\"%s%s\n", stamp,
             ts.tv_nsec / 1000000L, s_names[level & 3], comp ? comp : "-", text,
             fields ? " " : "", fields ? fields : "");
}
