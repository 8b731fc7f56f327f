/* SPDX-License-Identifier: MIT */
/* Readiness for systemd (Type=notify): tells the service manager when a daemon is ready,
 * reloading or stopping. Does nothing when NOTIFY_SOCKET is not set (not under systemd). */
#ifndef RUPHIN_COMMON_NOTIFY_H
#define RUPHIN_COMMON_NOTIFY_H

/* Sends one sd_notify(3) state string such as "READY=1" or "STATUS=...". 1 sent, 0 nobody
 * listens (no NOTIFY_SOCKET), negative errno on failure. Callers may ignore the result: a
 * daemon works the same without a service manager. */
int notify_send(const char *state);

/* READY=1: start-up finished (sockets bound, interface up), or a reload finished. */
int notify_ready(void);
/* RELOADING=1 with MONOTONIC_USEC, as systemd wants it before a reload; READY=1 ends it. */
int notify_reloading(void);
/* STOPPING=1: shutting down on a signal. */
int notify_stopping(void);

#endif
