/* SPDX-License-Identifier: MIT */
/* systemd-resolved integration: names under the "dns" domain go to this member's responder on
 * the tunnel's link (SetLinkDNS, SetLinkDomains "~DOMAIN") and nothing else's resolution
 * changes; without resolved, one line says what a user would configure instead. */
#ifndef RUPHIN_TUN_RESOLVED_H
#define RUPHIN_TUN_RESOLVED_H

#include "dns_answer.h"

struct event_base;
struct resolved;

/* Connects to the system bus and asks whether org.freedesktop.resolve1 is on it. Never fails:
 * without a bus (or a build without libsystemd) the result only logs the hint. NULL when out
 * of memory. */
struct resolved *resolved_new(struct event_base *base, const char *domain);
/* The link ifindex/ifname answers DOMAIN at addrs: told to resolved (replies are logged when
 * they come), or the hint logged. Again with each address change. */
void resolved_set(struct resolved *r, int ifindex, const char *ifname, const struct dns_addrs *a);
/* Forgets what resolved_set told (RevertLink; removing the link does the same) and frees. */
void resolved_free(struct resolved *r);

#endif
