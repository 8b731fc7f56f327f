/* SPDX-License-Identifier: MIT */
/* UDP socket plumbing shared by the passive and event-driven modules (internal header). */
#ifndef RUPHIN_CORE_UDP_H
#define RUPHIN_CORE_UDP_H

#include <stdint.h>

#include "ruphin/addr.h"

/* A non-blocking, close-on-exec UDP socket bound to bind (family 0: any address of
 * `family`, port 0). IPv6 sockets are v6-only. Returns the fd or a negative errno. */
int rph_udp_open(const struct rph_addr *bind, int family, int sndbuf, int rcvbuf);
/* A socket of both families on `port` (0: any) at every address: AF_INET6 with IPV6_V6ONLY
 * off, IPv4 peers as ::ffff:a.b.c.d (send with family 6; rph_addr_from_sockaddr turns them back
 * into family 4). Returns the fd or a negative errno (no IPv6 on this host). */
int rph_udp_open_dual(uint16_t port, int sndbuf, int rcvbuf);
/* For a socket that only ever sends small datagrams (the holepuncher's): IPv4 "don't
 * fragment" regardless of path MTU, which also spares the kernel an IP ID per datagram. */
void rph_udp_tiny_replies(int fd);
/* The socket's family as 4 or 6. */
int rph_udp_family(int fd);
int rph_udp_local(int fd, struct rph_addr *out);
/* sendto with the address mapped for the socket's family; 0 or negative errno. */
int rph_udp_send(int fd, int family, const struct rph_addr *to, const void *buf, size_t len);

#endif
