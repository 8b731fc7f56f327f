// SPDX-License-Identifier: MIT
// One DNS query in, one answer out (dns_answer.h): ldns parses the query and writes the answer;
// this file only decides, from the question and the members' names, what the answer says.
#include "dns_answer.h"

#include <ctype.h>
#include <errno.h>
#include <ldns/ldns.h>
#include <stdlib.h>
#include <string.h>

#include "name.h"

int dns_domain_parse(const char *s, char out[DNS_DOMAIN_MAX + 1], struct errmsg *err)
{
    size_t n = strlen(s);
    if (n && s[n - 1] == '.') n--; /* "office.lan.arpa." is the same domain, written absolute */
    if (n == 0 || n > DNS_DOMAIN_MAX)
        return errmsg_fail(err, -EINVAL,
                           "\"dns.domain\" must be a domain name of 1..%d characters (so a member "
                           "name fits in front of it), got %zu",
                           DNS_DOMAIN_MAX, n);
    size_t label = 0;
    for (size_t i = 0; i <= n; i++) {
        char c = i < n ? s[i] : '.';
        if (c == '.') {
            if (label == 0 || s[i - 1] == '-' || s[i - label] == '-' || label > 63)
                return errmsg_fail(err, -EINVAL,
                                   "\"dns.domain\" \"%.*s\": each label must be 1..63 letters, "
                                   "digits and \"-\", not starting or ending with \"-\"",
                                   (int)n, s);
            label = 0;
            continue;
        }
        if (!isalnum((unsigned char)c) && c != '-')
            return errmsg_fail(err, -EINVAL,
                               "\"dns.domain\" \"%.*s\" may contain only letters, digits, \"-\" "
                               "and dots, got '%c'",
                               (int)n, s, isprint((unsigned char)c) ? c : '?');
        label++;
    }
    for (size_t i = 0; i < n; i++)
        out[i] = (char)tolower((unsigned char)s[i]);
    out[n] = 0;
    return 0;
}

const char *dns_outcome_name(enum dns_outcome o)
{
    switch (o) {
    case DNS_ANSWERED:
        return "answered";
    case DNS_NODATA:
        return "no data";
    case DNS_NXDOMAIN:
        return "NXDOMAIN";
    case DNS_REFUSED:
        return "REFUSED";
    case DNS_FORMERR:
        return "FORMERR";
    case DNS_NOTIMP:
        return "NOTIMP";
    case DNS_DROPPED:
        return "dropped";
    }
    return "?";
}

static bool push_addr(ldns_pkt *r, const ldns_rdf *owner, ldns_rr_type type, const uint8_t *a)
{
    ldns_rr *rr = ldns_rr_new();
    ldns_rdf *own = ldns_rdf_clone(owner);
    ldns_rdf *data =
        ldns_rdf_new_frm_data(type == LDNS_RR_TYPE_A ? LDNS_RDF_TYPE_A : LDNS_RDF_TYPE_AAAA,
                              type == LDNS_RR_TYPE_A ? 4 : 16, a);
    if (!rr || !own || !data) {
        ldns_rr_free(rr);
        ldns_rdf_deep_free(own);
        ldns_rdf_deep_free(data);
        return false;
    }
    ldns_rr_set_owner(rr, own); /* the query's spelling: resolvers match the case they sent */
    ldns_rr_set_type(rr, type);
    ldns_rr_set_class(rr, LDNS_RR_CLASS_IN);
    ldns_rr_set_ttl(rr, DNS_TTL);
    if (!ldns_rr_push_rdf(rr, data)) {
        ldns_rdf_deep_free(data);
        ldns_rr_free(rr);
        return false;
    }
    if (!ldns_pkt_push_rr(r, LDNS_SECTION_ANSWER, rr)) {
        ldns_rr_free(rr);
        return false;
    }
    return true;
}

/* The member label of owner when owner is LABEL.DOMAIN: 1 and label set; 0 when owner is not
 * one label below dom. */
static int member_label(const ldns_rdf *owner, const ldns_rdf *dom, char label[NAME_LABEL_MAX + 1])
{
    if (ldns_dname_label_count(owner) != ldns_dname_label_count(dom) + 1) return 0;
    ldns_rdf *first = ldns_dname_label(owner, 0);
    char *s = first ? ldns_rdf2str(first) : NULL;
    ldns_rdf_deep_free(first);
    if (!s) return 0;
    /* "laptop." (ldns escapes any byte outside the usual as \DDD, which no name has). */
    size_t n = strlen(s);
    if (n && s[n - 1] == '.') n--;
    int ok = 0;
    if (n >= 1 && n <= NAME_LABEL_MAX) {
        for (size_t i = 0; i < n; i++)
            label[i] = (char)tolower((unsigned char)s[i]);
        label[n] = 0;
        ok = name_valid(label, n);
    }
    free(s);
    return ok;
}

static enum dns_outcome answer_question(const ldns_pkt *q, ldns_pkt *r, const char *domain,
                                        dns_lookup_fn lookup, void *ctx)
{
    const ldns_rr *qrr = ldns_rr_list_rr(ldns_pkt_question(q), 0);
    ldns_rr *copy = qrr ? ldns_rr_clone(qrr) : NULL;
    if (!copy) return DNS_FORMERR;
    if (!ldns_pkt_push_rr(r, LDNS_SECTION_QUESTION, copy)) {
        ldns_rr_free(copy);
        return DNS_FORMERR;
    }
    if (ldns_rr_get_class(qrr) != LDNS_RR_CLASS_IN) return DNS_REFUSED;
    const ldns_rdf *owner = ldns_rr_owner(qrr);
    ldns_rdf *dom = ldns_dname_new_frm_str(domain);
    if (!owner || !dom) {
        ldns_rdf_deep_free(dom);
        return DNS_REFUSED;
    }
    enum dns_outcome o;
    char label[NAME_LABEL_MAX + 1];
    if (ldns_dname_compare(owner, dom) == 0) {
        o = DNS_NODATA; /* the domain itself exists (it holds the names) and has no address */
    } else if (!ldns_dname_is_subdomain(owner, dom)) {
        o = DNS_REFUSED; /* not ours to answer, and we do not recurse */
    } else if (!member_label(owner, dom, label)) {
        o = DNS_NXDOMAIN; /* deeper than NAME.DOMAIN, or no valid member name */
    } else {
        struct dns_addrs a;
        memset(&a, 0, sizeof a);
        if (!lookup(ctx, label, &a)) {
            o = DNS_NXDOMAIN;
        } else {
            ldns_rr_type t = ldns_rr_get_type(qrr);
            bool any = t == LDNS_RR_TYPE_ANY;
            bool ok = true;
            if (a.has4 && (any || t == LDNS_RR_TYPE_A))
                ok = push_addr(r, owner, LDNS_RR_TYPE_A, a.addr4);
            if (ok && a.has6 && (any || t == LDNS_RR_TYPE_AAAA))
                ok = push_addr(r, owner, LDNS_RR_TYPE_AAAA, a.addr6);
            o = !ok ? DNS_DROPPED : ldns_pkt_ancount(r) ? DNS_ANSWERED : DNS_NODATA;
        }
    }
    ldns_rdf_deep_free(dom);
    if (o != DNS_REFUSED) ldns_pkt_set_aa(r, true);
    return o;
}

static uint8_t rcode_of(enum dns_outcome o)
{
    switch (o) {
    case DNS_NXDOMAIN:
        return LDNS_RCODE_NXDOMAIN;
    case DNS_REFUSED:
        return LDNS_RCODE_REFUSED;
    case DNS_FORMERR:
        return LDNS_RCODE_FORMERR;
    case DNS_NOTIMP:
        return LDNS_RCODE_NOTIMPL;
    default:
        return LDNS_RCODE_NOERROR;
    }
}

/* The answer's wire form into out when it fits limit; else the same without the answer
 * records and with TC set (the client asks again over TCP). 0 when even that fails. */
static size_t wire(ldns_pkt *r, uint8_t *out, size_t limit)
{
    uint8_t *w = NULL;
    size_t n = 0;
    if (ldns_pkt2wire(&w, r, &n) != LDNS_STATUS_OK) return 0;
    if (n > limit) {
        free(w);
        w = NULL;
        ldns_rr_list_deep_free(ldns_pkt_answer(r));
        ldns_pkt_set_answer(r, ldns_rr_list_new());
        ldns_pkt_set_ancount(r, 0);
        ldns_pkt_set_tc(r, true);
        if (ldns_pkt2wire(&w, r, &n) != LDNS_STATUS_OK) return 0;
        if (n > limit) n = 0;
    }
    if (n) memcpy(out, w, n);
    free(w);
    return n;
}

size_t dns_answer(const uint8_t *query, size_t len, const char *domain, bool udp,
                  dns_lookup_fn lookup, void *ctx, uint8_t *out, size_t cap,
                  enum dns_outcome *outcome)
{
    *outcome = DNS_DROPPED;
    /* Without a header there is no ID to answer to; a response is never answered (no loops). */
    if (len < LDNS_HEADER_SIZE || LDNS_QR_WIRE(query) || cap < DNS_UDP_PLAIN_MAX) return 0;
    ldns_pkt *r = ldns_pkt_new();
    if (!r) return 0;
    ldns_pkt_set_id(r, LDNS_ID_WIRE(query));
    ldns_pkt_set_qr(r, true);
    ldns_pkt_set_opcode(r, (ldns_pkt_opcode)LDNS_OPCODE_WIRE(query));
    ldns_pkt_set_rd(r, LDNS_RD_WIRE(query) != 0);
    ldns_pkt_set_ra(r, false); /* no recursion here: names outside the domain are REFUSED */
    ldns_pkt *q = NULL;
    size_t limit = udp ? DNS_UDP_PLAIN_MAX : cap;
    enum dns_outcome o;
    if (LDNS_OPCODE_WIRE(query) != LDNS_PACKET_QUERY) {
        o = DNS_NOTIMP;
    } else if (ldns_wire2pkt(&q, query, len) != LDNS_STATUS_OK || ldns_pkt_qdcount(q) != 1 ||
               ldns_rr_list_rr_count(ldns_pkt_question(q)) != 1) {
        o = DNS_FORMERR;
    } else {
        /* EDNS: said back, and the client's UDP size (at least 512) bounds a UDP answer. */
        if (ldns_pkt_edns(q)) {
            ldns_pkt_set_edns_udp_size(r, (uint16_t)(cap < 1232 ? cap : 1232));
            size_t want = ldns_pkt_edns_udp_size(q);
            if (udp && want > DNS_UDP_PLAIN_MAX) limit = want < cap ? want : cap;
        }
        o = answer_question(q, r, domain, lookup, ctx);
    }
    ldns_pkt_free(q);
    size_t n = 0;
    if (o != DNS_DROPPED) {
        ldns_pkt_set_rcode(r, rcode_of(o));
        n = wire(r, out, limit);
    }
    ldns_pkt_free(r);
    *outcome = n ? o : DNS_DROPPED;
    return n;
}
