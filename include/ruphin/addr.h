/* SPDX-License-Identifier: MIT */
/* Endpoint addresses as the protocol sees them: family 4 or 6, address, port. */
#ifndef RUPHIN_ADDR_H
#define RUPHIN_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define RPH_ADDR_STRLEN 56

struct rph_addr {
    uint8_t family; /* 4, 6, or 0 for "none" */
    uint8_t ip[16]; /* IPv4 uses the first 4 bytes; the rest stay zero */
    uint16_t port;  /* host byte order */
};

/* IPv4-mapped IPv6 addresses (::ffff:a.b.c.d) come out as family 4. */
int rph_addr_from_sockaddr(struct rph_addr *a, const struct sockaddr *sa, socklen_t len);
/* For an AF_INET6 socket pass want_family 6: IPv4 addresses are then mapped. */
socklen_t rph_addr_to_sockaddr(const struct rph_addr *a, struct sockaddr_storage *ss,
                               int want_family);
bool rph_addr_equal(const struct rph_addr *a, const struct rph_addr *b);
bool rph_addr_is_loopback(const struct rph_addr *a);
/* Numeric "1.2.3.4:7700" or "[::1]:7700"; returns 0 or RPH_E_INVALID. */
int rph_addr_parse(const char *s, struct rph_addr *out);
/* "1.2.3.4:7700" / "[::1]:7700" into buf (RPH_ADDR_STRLEN); returns buf. */
char *rph_addr_format(const struct rph_addr *a, char *buf, size_t cap);
/* 32-bit hash for tables. */
uint32_t rph_addr_hash(const struct rph_addr *a);

#endif
