/* SPDX-License-Identifier: MIT */
/* A remote's candidate endpoints (internal): which ones to keep and when to probe each. The
 * peer sends the probes and lets only an authenticated answer move the remote. */
#ifndef RUPHIN_CORE_CANDIDATES_H
#define RUPHIN_CORE_CANDIDATES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ruphin/peer.h"

/* Probes a candidate gets: one at once, then every retry_ms for the first CAND_FAST, then every
 * RPH_DIRECT_RETRY_MS. A punched one gets few (a spoofed punch buys little: each probe goes to
 * the introduced endpoint's own IP, at most this many per punch address); a LAN one about a
 * minute's worth. */
#define CAND_FAST 3u
#define CAND_PUNCHED_PROBES 4u
#define CAND_LAN_PROBES 32u
#define CAND_MAPPED_PROBES 32u
#define CAND_V6_PROBES 32u
/* The slow probes (after CAND_FAST) of every candidate of every remote due within this long go
 * at one wake-up: with 63 members each offering an unreachable LAN address, their 2 s
 * schedules at 63 phases woke a daemon 30 times a second for its first minute. */
#define CAND_SLACK_MS 1000u

/* A plain punch came from `from`, which is not r's endpoint: a candidate if it is r's IP
 * (a symmetric NAT gave the punch's destination a port of its own). 1: new, 0: known or not
 * wanted, RPH_E_INVALID: another IP. A full table gives up its oldest punched candidate. */
int cand_add_punched(struct rph_remote *r, const struct rph_addr *from, uint64_t now);
/* Replaces r's LAN candidates with the usable ones of a[0..n) (unicast IPv4, port not 0, not
 * r's endpoint as the holepuncher sees it, no duplicates); *refused counts the others. One that
 * is r's endpoint already is taken (it names the path's kind) but needs no probe. Returns how
 * many were taken. */
size_t cand_set_lan(struct rph_remote *r, const struct rph_addr *a, size_t n, uint64_t now,
                    size_t *refused);
/* Replaces r's IPv6 candidates with the usable ones of a[0..n) (cand_v6_usable, no
 * duplicates); *refused counts the others. Returns how many were taken. */
size_t cand_set_v6(struct rph_remote *r, const struct rph_addr *a, size_t n, uint64_t now,
                   size_t *refused);
/* Replaces r's mapped candidate with a (NULL: none). 1: taken, 0: cleared or the same as
 * before (its probes kept), RPH_E_INVALID: not usable (as cand_lan_usable, or r's endpoint as
 * the holepuncher sees it is fine: a port-keeping NAT maps the same port). */
int cand_set_mapped(struct rph_remote *r, const struct rph_addr *a, uint64_t now);
/* Whether c is still worth a probe: not where r already is, and no better path works yet. */
bool cand_wanted(const struct rph_remote *r, const struct rph_candidate *c);
/* The first candidate of r due a probe at now, or NULL. */
struct rph_candidate *cand_due(struct rph_remote *r, uint64_t now);
/* c was probed at now: counts it and sets the next probe. */
void cand_probed(struct rph_candidate *c, uint64_t now, uint32_t retry_ms);
/* No probe of r before t (what they carry is not there yet); none is counted. */
void cand_defer(struct rph_remote *r, uint64_t t);
/* When r's next probe is due; UINT64_MAX for none. */
uint64_t cand_deadline(const struct rph_remote *r);
/* Whether a is one of r's LAN candidates. */
bool cand_is_lan(const struct rph_remote *r, const struct rph_addr *a);
/* Whether a can be a LAN candidate: unicast IPv4, not 0/8, 127/8, 169.254/16, multicast or
 * broadcast, port not 0. */
bool cand_lan_usable(const struct rph_addr *a);
/* Whether a can be an IPv6 candidate: global unicast (2000::/3), port not 0. */
bool cand_v6_usable(const struct rph_addr *a);

#endif
