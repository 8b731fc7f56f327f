/* SPDX-License-Identifier: MIT */
/* LAN and IPv6 candidates: the control message (tag 0x07) in which a sealed member offers its
 * LAN endpoints (version 1) and global IPv6 endpoints (version 2) to the peer at the other end
 * of the session, and this host's addresses of both kinds. */
#ifndef RUPHIN_TUN_LANCAND_H
#define RUPHIN_TUN_LANCAND_H

#include <stddef.h>
#include <stdint.h>

#include "ruphin/addr.h"
#include "ruphin/peer.h" /* RPH_MAX_CANDIDATES */

/* Layout (docs/PROTOCOL.md "LAN candidates"): tag 0x07, version, count n (0..8), then n
 * entries. Version 1 (IPv4 LAN endpoints): each an IPv4 address (4 bytes) and a UDP port (2
 * bytes, big-endian). Version 2 (global IPv6 endpoints, from a dual-stack socket): each a
 * family (4 or 6), the address (4 or 16 bytes) and the port. Peers before version 2 refuse it
 * ("unknown version") and keep what version 1 told them, so both are sent. */
#define LANCAND_TAG 0x07
#define LANCAND_VERSION 1
#define LANCAND_VERSION_V6 2
#define LANCAND_HDR_LEN 3
#define LANCAND_ENTRY_LEN 6
#define LANCAND_ENTRY6_LEN 19 /* the longest version 2 entry */
#define LANCAND_MAX RPH_MAX_CANDIDATES
#define LANCAND_MAX_LEN (LANCAND_HDR_LEN + LANCAND_MAX * LANCAND_ENTRY6_LEN)

/* Encodes the IPv4 endpoints of a[0..n) (at most LANCAND_MAX; others are skipped) into out
 * (LANCAND_MAX_LEN bytes) as version 1; returns the length. */
size_t lancand_encode(const struct rph_addr *a, size_t n, uint8_t out[LANCAND_MAX_LEN]);
/* The same as version 2: endpoints of either family (at most LANCAND_MAX). */
size_t lancand_encode_v2(const struct rph_addr *a, size_t n, uint8_t out[LANCAND_MAX_LEN]);
/* Decodes into out[LANCAND_MAX], *n of them. The version (1 or 2), or -1 with *why naming
 * what is wrong (size, version, count, family, an address of all zeros or port 0). Whether an
 * address is usable as a path is the core's call (rph_peer_set_lan_candidates,
 * rph_peer_set_v6_candidates). */
int lancand_decode(const uint8_t *buf, size_t len, struct rph_addr out[LANCAND_MAX], size_t *n,
                   const char **why);

/* Removes from a[0..n) the candidates at one of this host's own IPs (own[0..n_own)): both
 * hosts may have the same private address (a docker0 172.17.0.1), and a probe there would go
 * to ourselves. Returns the new n; the order is kept. */
size_t lancand_drop_own(struct rph_addr *a, size_t n, const struct rph_addr *own, size_t n_own);

/* This host's IPv4 addresses on interfaces that are up, not loopback and not skip_ifname (the
 * tunnel's own), not in the overlay (overlay4/prefix4, prefix 0: none), each with port; at most
 * LANCAND_MAX. Returns how many, or a negative errno when the interfaces cannot be listed. */
int lancand_local(struct rph_addr out[LANCAND_MAX], uint16_t port, const char *skip_ifname,
                  const uint8_t overlay4[4], int prefix4);
/* This host's global IPv6 addresses (2000::/3) on interfaces that are up, not loopback and not
 * skip_ifname, not in the overlay (overlay6/prefix6, NULL: none), each with port; at most
 * LANCAND_MAX. Returns how many, or a negative errno. */
int lancand_local6(struct rph_addr out[LANCAND_MAX], uint16_t port, const char *skip_ifname,
                   const uint8_t *overlay6, int prefix6);

#endif
