/* SPDX-License-Identifier: MIT */
/* The inner IP header fields the tunnel routes on, read with bounds checks. */
#ifndef RUPHIN_TUN_IPPKT_H
#define RUPHIN_TUN_IPPKT_H

#include <stddef.h>
#include <stdint.h>

struct ippkt {
    int version;              /* 4 or 6 */
    const uint8_t *src, *dst; /* 4 or 16 bytes, pointing into the packet */
};

/* 0, or -1 when the packet is not a well-formed IPv4/IPv6 header within len. */
int ippkt_parse(const uint8_t *pkt, size_t len, struct ippkt *out);

#endif
