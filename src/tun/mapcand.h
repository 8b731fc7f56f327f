/* SPDX-License-Identifier: MIT */
/* The mapped candidate: the control message (tag 0x08) in which a sealed member tells its peer
 * the endpoint its router maps to it (portmap.c, NAT-PMP), or that it has none any more. */
#ifndef RUPHIN_TUN_MAPCAND_H
#define RUPHIN_TUN_MAPCAND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ruphin/addr.h"

/* Layout (docs/PROTOCOL.md "Mapped candidate"): tag 0x08, version 1, flags (bit 0: an endpoint
 * follows; no other bit), an IPv4 address (4 bytes) and a UDP port (2 bytes, big-endian); both
 * zero without bit 0. */
#define MAPCAND_TAG 0x08
#define MAPCAND_VERSION 1
#define MAPCAND_LEN 9

/* Encodes a (NULL: no mapping) into out. Returns MAPCAND_LEN. */
size_t mapcand_encode(const struct rph_addr *a, uint8_t out[MAPCAND_LEN]);
/* 0 with *has and out set, or -1 with *why naming what is wrong. */
int mapcand_decode(const uint8_t *buf, size_t len, bool *has, struct rph_addr *out,
                   const char **why);

#endif
