/* SPDX-License-Identifier: MIT */
/* DNS on the LAN (config "dns"): the responder answers NAME.DOMAIN for every member this
 * daemon knows, on this member's overlay addresses, and systemd-resolved is told so; both
 * follow the addresses when an automatic one arrives or changes. */
#ifndef RUPHIN_TUN_LAN_DNS_H
#define RUPHIN_TUN_LAN_DNS_H

#include <stdbool.h>

#include "dns_answer.h"
#include "errmsg.h"

struct tunnel;

/* No "dns": nothing. Else the responder, bound to the addresses we have (a fixed address:
 * now; an automatic one: when it comes). A bind failure is logged, not fatal: the tunnel
 * works without names. 0, or -ENOMEM. */
int lan_dns_start(struct tunnel *t, struct errmsg *err);
/* Our addresses changed (tunnel_priv.h pol.self): rebind, tell resolved. */
void lan_dns_update(struct tunnel *t);
void lan_dns_stop(struct tunnel *t);
/* The addresses of the member called label (ours included): what the responder answers. */
bool lan_dns_lookup(void *tunnel, const char *label, struct dns_addrs *out);

#endif
