/* SPDX-License-Identifier: MIT */
/* The one error-message type of the daemons and ruphinctl: a function that fails fills it with
 * a line naming what failed ("config /etc/x.json: \"mtu\" must be 576..9000, got 70000"). */
#ifndef RUPHIN_COMMON_ERRMSG_H
#define RUPHIN_COMMON_ERRMSG_H

struct errmsg {
    char msg[512];
};

/* Sets the message (printf format). NULL e is allowed: the message is dropped. */
void errmsg_set(struct errmsg *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Sets the message and yields code, so a failing path is `return errmsg_fail(e, -EIO, ...)`.
 * A macro, not a function: the compiler then sees the code returned, and knows that a caller
 * which checks `< 0` never reads what the failing function left unset (-Wmaybe-uninitialized
 * in Release builds). */
#define errmsg_fail(e, code, ...) (errmsg_set((e), __VA_ARGS__), (code))
/* Adds to the end of the message already there (e.g. "; " and a further problem). */
void errmsg_append(struct errmsg *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Puts "PREFIX: " before the message already there (e.g. the config file's name). */
void errmsg_prefix(struct errmsg *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
