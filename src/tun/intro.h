/* SPDX-License-Identifier: MIT */
/* The mesh's introduction message (tag 0x09, docs/PROTOCOL.md "Mesh"): a sealed server tells a
 * client about another member of the session (its node key, overlay addresses, the endpoint the
 * server hears it from, its round trip to the server and its candidates), or that a member left.
 * Server to client only, sealed only. */
#ifndef RUPHIN_TUN_INTRO_H
#define RUPHIN_TUN_INTRO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "announce.h"
#include "ruphin/addr.h"
#include "ruphin/peer.h" /* RPH_MAX_CANDIDATES */

#define INTRO_TAG 0x09
#define INTRO_VERSION 1      /* a member: introduced, or introduced again (something changed) */
#define INTRO_VERSION_LEFT 2 /* a member left (goodbye or timeout) */
#define INTRO_MAX_CAND RPH_MAX_CANDIDATES
/* Version 1: tag, version, flags, node key (32), IPv4 (4) and prefix, IPv6 (16) and prefix,
 * endpoint family (0, 4, 6), address (16), port (2), RTT (2), LAN count, IPv6 count; then the
 * LAN entries (IPv4 + port, 6 bytes), the IPv6 entries (18 bytes), the mapped one (6 bytes, with
 * flag 4). */
#define INTRO_FIXED_LEN 80
#define INTRO_LAN_LEN 6
#define INTRO_V6_LEN 18
#define INTRO_MAPPED_LEN 6
#define INTRO_MAX_LEN                                                                              \
    (INTRO_FIXED_LEN + INTRO_MAX_CAND * (INTRO_LAN_LEN + INTRO_V6_LEN) + INTRO_MAPPED_LEN)
#define INTRO_LEFT_LEN 35

#define INTRO_F_HAS4 1u
#define INTRO_F_HAS6 2u
#define INTRO_F_MAPPED 4u

struct intro {
    bool left; /* version 2: only node_pk is meaningful */
    uint8_t node_pk[32];
    struct announce addrs;    /* its overlay addresses (has4/has6) */
    struct rph_addr endpoint; /* where the server hears it from; family 0: unknown */
    uint16_t rtt_ms;          /* its round trip to the server, 0: unknown */
    struct rph_addr lan[INTRO_MAX_CAND];
    size_t n_lan;
    struct rph_addr v6[INTRO_MAX_CAND];
    size_t n_v6;
    bool has_mapped;
    struct rph_addr mapped;
};

/* Encodes in into out (INTRO_MAX_LEN bytes); returns the length. Candidates beyond
 * INTRO_MAX_CAND, LAN ones not IPv4, IPv6 ones not IPv6, and endpoints of port 0 are skipped. */
size_t intro_encode(const struct intro *in, uint8_t out[INTRO_MAX_LEN]);
/* Decodes; 0, or -1 with *why naming what is wrong (size, version, flags, prefix, family,
 * non-zero padding, a candidate of port 0). Exactly one encoding decodes to a message. */
int intro_decode(const uint8_t *buf, size_t len, struct intro *out, const char **why);

#endif
