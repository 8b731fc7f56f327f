// SPDX-License-Identifier: MIT
// Filling the daemons' one error-message type.
#include "errmsg.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static void vset(struct errmsg *e, const char *fmt, va_list ap)
{
    if (!e) return;
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
}

void errmsg_set(struct errmsg *e, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vset(e, fmt, ap);
    va_end(ap);
}

void errmsg_append(struct errmsg *e, const char *fmt, ...)
{
    if (!e) return;
    size_t n = strnlen(e->msg, sizeof e->msg - 1);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg + n, sizeof e->msg - n, fmt, ap);
    va_end(ap);
}

void errmsg_prefix(struct errmsg *e, const char *fmt, ...)
{
    if (!e) return;
    char prefix[256], old[sizeof e->msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, e->msg, sizeof old);
    /* Truncating a long message is fine: the prefix and its start are what a reader needs. */
    size_t n = strlen(prefix);
    if (n > sizeof e->msg - 3) n = sizeof e->msg - 3;
    memcpy(e->msg, prefix, n);
    memcpy(e->msg + n, ": ", 2);
    size_t room = sizeof e->msg - n - 2 - 1, m = strnlen(old, room);
    memcpy(e->msg + n + 2, old, m);
    e->msg[n + 2 + m] = 0;
}
