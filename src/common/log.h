/* SPDX-License-Identifier: MIT */
/* One line per event on stderr, with a level journald understands (sd-daemon "<N>" prefix
 * when stderr is the journal, a plain word otherwise). Shared by both daemons. */
#ifndef RUPHIN_COMMON_LOG_H
#define RUPHIN_COMMON_LOG_H

#include <stddef.h>

enum log_level { LOG_LVL_ERROR = 0, LOG_LVL_WARN = 1, LOG_LVL_INFO = 2, LOG_LVL_DEBUG = 3 };

void log_init(const char *program);
void log_set_level(enum log_level lvl);
enum log_level log_get_level(void);
/* The level names ("error", "warn", "info", "debug") live in log.c only. 0, or -EINVAL. */
int log_parse_level(const char *s, enum log_level *out);
/* "info" for LOG_LVL_INFO; "?" for a value that is no level. */
const char *log_level_name(enum log_level lvl);
/* Writes the names for an error message into buf: "error", "warn", "info" or "debug" (quoted,
 * as in JSON); returns buf. */
const char *log_level_choices(char *buf, size_t cap);
void log_msg(enum log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(LOG_LVL_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_LVL_DEBUG, __VA_ARGS__)

#endif
