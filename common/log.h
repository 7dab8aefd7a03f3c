/*
 * log.h - structured, levelled logging for every shed-cluster binary.
 *
 * One line per event on stderr: `ts=... level=... comp=... msg="..." k=v ...`
 * (logfmt), so both people and log shippers can read it. The level is
 * process-wide and set once at start-up; the calls are thread-safe (one
 * fprintf per line, which stdio locks).
 *
 * Never pass secrets to these functions: keys are logged by id, never by value.
 */
#ifndef SHED_LOG_H
#define SHED_LOG_H

#include <stdarg.h>

typedef enum {
    SHED_LOG_DEBUG = 0,
    SHED_LOG_INFO = 1,
    SHED_LOG_WARN = 2,
    SHED_LOG_ERROR = 3,
} shed_log_level_t;

/* When stderr is the journal (systemd sets JOURNAL_STREAM to stderr's
 * "DEVICE:INODE"), start each line with its sd-daemon(3) priority, "<3>"
 * error, "<4>" warn, "<6>" info, "<7>" debug, so `journalctl -p warning`
 * finds the warnings. Checked once, at this call (the daemon's start);
 * returns whether the prefixes are on. */
int shed_log_detect_journal (void);

/* Set the minimum level printed. */
void shed_log_set_level (shed_log_level_t level);
shed_log_level_t shed_log_get_level (void);

/* Parse "debug|info|warn|error"; returns 0 and sets *out, or -1. */
int shed_log_parse_level (const char *text, shed_log_level_t *out);

/* Log one line. `comp` is the component ("swim", "api", ...); `fmt` builds the
 * message text, which is quoted; pass extra key=value pairs inside fmt after a
 * literal "|" to have them emitted unquoted:  "joined|peer=%s port=%d". */
void shed_log (shed_log_level_t level, const char *comp, const char *fmt, ...)
    __attribute__ ((format (printf, 3, 4)));

#define log_debug(comp, ...) shed_log (SHED_LOG_DEBUG, comp, __VA_ARGS__)
#define log_info(comp, ...)  shed_log (SHED_LOG_INFO, comp, __VA_ARGS__)
#define log_warn(comp, ...)  shed_log (SHED_LOG_WARN, comp, __VA_ARGS__)
#define log_error(comp, ...) shed_log (SHED_LOG_ERROR, comp, __VA_ARGS__)

#endif
