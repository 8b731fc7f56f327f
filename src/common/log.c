// SPDX-License-Identifier: MIT
// Logging for the daemons: one line per event, level-tagged, to stderr.
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static enum log_level cur_level = LOG_LVL_INFO;
static const char *prog = "ruphin";
static int to_journal;

static const char *const names[] = {"error", "warn", "info", "debug"};
#define N_LEVELS (sizeof names / sizeof names[0])
/* syslog priorities: err, warning, info, debug */
static const int prio[] = {3, 4, 6, 7};

void log_init(const char *program)
{
    prog = program;
    /* journald sets JOURNAL_STREAM for a service's stderr; it then adds its own timestamps. */
    to_journal = getenv("JOURNAL_STREAM") != NULL;
}

void log_set_level(enum log_level lvl)
{
    cur_level = lvl;
}

enum log_level log_get_level(void)
{
    return cur_level;
}

int log_parse_level(const char *s, enum log_level *out)
{
    for (size_t i = 0; i < N_LEVELS; i++) {
        if (strcmp(s, names[i]) == 0) {
            *out = (enum log_level)i;
            return 0;
        }
    }
    return -EINVAL;
}

const char *log_level_name(enum log_level lvl)
{
    return (unsigned)lvl < N_LEVELS ? names[lvl] : "?";
}

const char *log_level_choices(char *buf, size_t cap)
{
    size_t o = 0;
    if (cap) buf[0] = 0;
    for (size_t i = 0; i < N_LEVELS && o < cap; i++) {
        const char *sep = i == 0 ? "" : i + 1 == N_LEVELS ? " or " : ", ";
        int n = snprintf(buf + o, cap - o, "%s\"%s\"", sep, names[i]);
        if (n < 0) break;
        o += (size_t)n;
    }
    return buf;
}

void log_msg(enum log_level lvl, const char *fmt, ...)
{
    if (lvl > cur_level) return;
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (to_journal) {
        fprintf(stderr, "<%d>%s\n", prio[lvl], line);
    } else {
        struct timespec ts;
        struct tm tm;
        clock_gettime(CLOCK_REALTIME, &ts);
        localtime_r(&ts.tv_sec, &tm);
        fprintf(stderr, "%02d:%02d:%02d.%03ld %s %-5s %s\n", tm.tm_hour, tm.tm_min, tm.tm_sec,
                ts.tv_nsec / 1000000, prog, names[lvl], line);
    }
    fflush(stderr);
}
