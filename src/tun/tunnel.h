/* SPDX-License-Identifier: MIT */
/* The running tunnel: TUN device + ruphin peer + peer table + data path + control socket. */
#ifndef RUPHIN_TUN_TUNNEL_H
#define RUPHIN_TUN_TUNNEL_H

#include <stddef.h>

#include "config.h"

struct event_base;
struct tunnel;

/* Creates and configures the interface, opens the UDP socket and starts the handshake.
 * 0, or a negative errno with err naming what failed. */
int tunnel_open(struct tunnel **out, const struct tund_config *cfg, struct event_base *base,
                char *err, size_t errlen);
void tunnel_close(struct tunnel *t);
/* The status document ruphinctl shows (malloc'd JSON text). */
char *tunnel_status_json(struct tunnel *t);

#endif
