/* SPDX-License-Identifier: MIT */
/* UDP socket plumbing shared by the passive and event-driven modules (internal header). */
#ifndef RUPHIN_CORE_UDP_H
#define RUPHIN_CORE_UDP_H

#include "ruphin/addr.h"

/* A non-blocking, close-on-exec UDP socket bound to bind (family 0: any address of
 * `family`, port 0). IPv6 sockets are v6-only. Returns the fd or a negative errno. */
int rph_udp_open(const struct rph_addr *bind, int family, int sndbuf, int rcvbuf);
/* For a socket that only ever sends small datagrams (the holepuncher's): IPv4 "don't
 * fragment" regardless of path MTU, which also spares the kernel an IP ID per datagram. */
void rph_udp_tiny_replies(int fd);
/* The socket's family as 4 or 6. */
int rph_udp_family(int fd);
int rph_udp_local(int fd, struct rph_addr *out);
/* sendto with the address mapped for the socket's family; 0 or negative errno. */
int rph_udp_send(int fd, int family, const struct rph_addr *to, const void *buf, size_t len);

#endif
