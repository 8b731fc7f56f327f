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
/* Sets the message and returns code, so a failing path is `return errmsg_fail(e, -EIO, ...)`. */
int errmsg_fail(struct errmsg *e, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Adds to the end of the message already there (e.g. "; " and a further problem). */
void errmsg_append(struct errmsg *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Puts "PREFIX: " before the message already there (e.g. the config file's name). */
void errmsg_prefix(struct errmsg *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
