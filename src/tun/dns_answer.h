/* SPDX-License-Identifier: MIT */
/* The answer to one DNS query about the members' names under the "dns" domain, built with
 * ldns: no sockets, no time; the caller's lookup says which addresses a name has. */
#ifndef RUPHIN_TUN_DNS_ANSWER_H
#define RUPHIN_TUN_DNS_ANSWER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "errmsg.h"

/* A domain as the config takes it: 1..189 characters (so a 63-character member name fits in
 * front of it within DNS's 253), labels of letters, digits and "-" (not first or last), an
 * optional trailing dot. out: lowercased, no trailing dot. 0, or -EINVAL naming the problem. */
#define DNS_DOMAIN_MAX 189
int dns_domain_parse(const char *s, char out[DNS_DOMAIN_MAX + 1], struct errmsg *err);

/* The addresses a member name has (no prefix lengths: DNS has none). */
struct dns_addrs {
    bool has4, has6;
    uint8_t addr4[4], addr6[16];
};
/* label: the query's first label, lowercased, a valid member name (name.h). true and *out set
 * when a member has it. */
typedef bool (*dns_lookup_fn)(void *ctx, const char *label, struct dns_addrs *out);

/* What was answered, for the caller's (rate-limited) log and counters. */
enum dns_outcome {
    DNS_ANSWERED, /* NOERROR with records */
    DNS_NODATA,   /* NOERROR, none: a known name without this type, or the domain itself */
    DNS_NXDOMAIN, /* an unknown name in the domain */
    DNS_REFUSED,  /* outside the domain, or a class other than IN */
    DNS_FORMERR,  /* a header, but no well-formed single question */
    DNS_NOTIMP,   /* an opcode other than QUERY */
    DNS_DROPPED,  /* no answer: shorter than a header, or a response */
};
const char *dns_outcome_name(enum dns_outcome o);

/* Seconds a resolver may keep an answer: short, because an automatic address can move. */
#define DNS_TTL 60
/* A UDP answer without EDNS fits 512 bytes; longer ones are cut with TC set. */
#define DNS_UDP_PLAIN_MAX 512

/* Answers query (len bytes) into out (cap bytes, at least 512), for domain (as dns_domain_parse
 * gives it). Recursion is never available (RA clear); names in the domain are authoritative (AA
 * set). Answers longer than cap (TCP: 65535) or, for UDP (udp set), than the query's EDNS size
 * or 512 are cut to the question with TC set. Returns the answer's length, or 0 when there is
 * none to send (DNS_DROPPED, or out of memory). *outcome says what it was. */
size_t dns_answer(const uint8_t *query, size_t len, const char *domain, bool udp,
                  dns_lookup_fn lookup, void *ctx, uint8_t *out, size_t cap,
                  enum dns_outcome *outcome);

#endif
