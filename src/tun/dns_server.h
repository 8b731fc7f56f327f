/* SPDX-License-Identifier: MIT */
/* The DNS responder's sockets on the event loop: UDP and TCP on this member's overlay
 * addresses (port 53), bound when an address is set and again when it changes; each query
 * answered by dns_answer.h. */
#ifndef RUPHIN_TUN_DNS_SERVER_H
#define RUPHIN_TUN_DNS_SERVER_H

#include <stdint.h>

#include "dns_answer.h"

struct event_base;
struct dns_server;

/* TCP: connections open at once (more are closed at accept) and how long one may sit idle. */
#define DNS_TCP_MAX 16
#define DNS_TCP_IDLE_S 10

/* Nothing bound yet. domain as dns_domain_parse gives it (copied); port 53 but in tests. NULL
 * when out of memory. */
struct dns_server *dns_server_new(struct event_base *base, const char *domain, uint16_t port,
                                  dns_lookup_fn lookup, void *ctx);
/* Listens on exactly these addresses (none: closes all): sockets of an address that is no
 * longer ours are closed, with their TCP connections. 0 when every address is bound, else the
 * first error (negative errno), err naming the address; the others are bound still. */
int dns_server_bind(struct dns_server *s, const struct dns_addrs *a, struct errmsg *err);
/* The UDP port bound for family 4 or 6 (a test's port 0 picks one); 0 when none. addr (16
 * bytes, IPv4 in the first 4), when not NULL, gets the address it is bound to. */
uint16_t dns_server_port(const struct dns_server *s, int family, uint8_t *addr);
/* Queries answered so far, and TCP connections open now. */
uint64_t dns_server_queries(const struct dns_server *s);
unsigned dns_server_tcp_open(const struct dns_server *s);
void dns_server_free(struct dns_server *s);

#endif
