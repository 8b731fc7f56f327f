// SPDX-License-Identifier: MIT
// ruphin-tund's control socket: a unix socket where ruphinctl asks for the daemon's status.
#ifndef RUPHIN_TUN_CONTROL_H
#define RUPHIN_TUN_CONTROL_H

#include <stddef.h>

#include "errmsg.h"

struct event_base;
struct control;

/* Longest request line, newline included; a longer one gets an error answer. */
#define CONTROL_REQUEST_MAX 256
/* Clients served at once; more are answered {"error": "busy ..."} and closed. */
#define CONTROL_MAX_CLIENTS 32
/* A client that neither finishes its request nor reads its answer for this long is dropped. */
#define CONTROL_CLIENT_TIMEOUT_S 5

/* The status document as malloc'd JSON text; control frees it. Newlines in it are sent as
 * spaces (the answer is one line), so cJSON_Print's formatting is fine but wasted.
 * NULL makes the client get {"error": "status is unavailable"}. */
typedef char *(*control_status_fn)(void *ctx);

/* Listens on path (absolute, < 108 bytes): creates missing parent directories (mode 0755),
 * replaces a stale socket file, refuses a path where another daemon answers or that is not
 * a socket, and makes the socket mode 0660. Protocol: the client sends one line, "status\n";
 * the answer is one JSON document and "\n", then the connection is closed. Anything else gets
 * {"error": "..."}. Never blocks the loop. Sets SIGPIPE to be ignored (answers are written
 * with writev). NULL with err set on failure. */
struct control *control_new(struct event_base *base, const char *path, control_status_fn fn,
                            void *ctx, struct errmsg *err);
/* Drops the clients, closes the socket and removes its file (unless another process has
 * replaced it since). NULL is fine. */
void control_free(struct control *c);

#endif
