// SPDX-License-Identifier: MIT
// The DNS responder's answers (src/tun/dns_answer.c): queries built with ldns, answers read
// back with ldns; the domain rules of the "dns" config key; the responder's sockets on
// loopback (src/tun/dns_server.c), UDP and TCP with its framing and connection limit.
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <event2/event.h>
#include <ldns/ldns.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../src/tun/dns_answer.h"
#include "../src/tun/dns_server.h"

#define DOMAIN "office.lan.arpa"

/* Two members: laptop with IPv4 and IPv6, desk with IPv4 only; "new" has no address yet. */
static bool lookup(void *ctx, const char *label, struct dns_addrs *out)
{
    unsigned *calls = ctx;
    if (calls) (*calls)++;
    memset(out, 0, sizeof *out);
    if (strcmp(label, "laptop") == 0) {
        out->has4 = out->has6 = true;
        memcpy(out->addr4, (uint8_t[]){10, 77, 0, 2}, 4);
        inet_pton(AF_INET6, "fd77::2", out->addr6);
        return true;
    }
    if (strcmp(label, "desk") == 0) {
        out->has4 = true;
        memcpy(out->addr4, (uint8_t[]){10, 77, 0, 3}, 4);
        return true;
    }
    return strcmp(label, "new") == 0;
}

/* A query's wire form: name, type, RD set, ID 0x1234. */
static size_t make_query(const char *name, ldns_rr_type type, ldns_rr_class cls, uint8_t *out)
{
    ldns_rdf *dn = ldns_dname_new_frm_str(name);
    cr_assert_not_null(dn, "%s", name);
    ldns_pkt *q = ldns_pkt_query_new(dn, type, cls, LDNS_RD);
    cr_assert_not_null(q);
    ldns_pkt_set_id(q, 0x1234);
    uint8_t *w;
    size_t n;
    cr_assert_eq(ldns_pkt2wire(&w, q, &n), LDNS_STATUS_OK);
    memcpy(out, w, n);
    free(w);
    ldns_pkt_free(q);
    return n;
}

/* The answer to name/type, parsed; outcome in *o. */
static ldns_pkt *ask(const char *name, ldns_rr_type type, enum dns_outcome *o)
{
    uint8_t q[512], a[1232];
    size_t qn = make_query(name, type, LDNS_RR_CLASS_IN, q);
    size_t n = dns_answer(q, qn, DOMAIN, true, lookup, NULL, a, sizeof a, o);
    cr_assert_gt(n, 0, "no answer to %s", name);
    ldns_pkt *r = NULL;
    cr_assert_eq(ldns_wire2pkt(&r, a, n), LDNS_STATUS_OK, "answer to %s unreadable", name);
    cr_assert_eq(ldns_pkt_id(r), 0x1234);
    cr_assert(ldns_pkt_qr(r));
    cr_assert(ldns_pkt_rd(r), "RD is copied");
    cr_assert(!ldns_pkt_ra(r), "no recursion offered");
    return r;
}

static void assert_a(const ldns_rr *rr, const char *owner, const char *ip)
{
    char *o = ldns_rdf2str(ldns_rr_owner(rr));
    cr_assert_str_eq(o, owner);
    free(o);
    cr_assert_eq(ldns_rr_ttl(rr), DNS_TTL);
    char *d = ldns_rdf2str(ldns_rr_rdf(rr, 0));
    cr_assert_str_eq(d, ip);
    free(d);
}

Test(dns_answer, a_and_aaaa)
{
    enum dns_outcome o;
    ldns_pkt *r = ask("laptop." DOMAIN, LDNS_RR_TYPE_A, &o);
    cr_assert_eq(o, DNS_ANSWERED);
    cr_assert_eq(ldns_pkt_get_rcode(r), LDNS_RCODE_NOERROR);
    cr_assert(ldns_pkt_aa(r));
    cr_assert_eq(ldns_pkt_qdcount(r), 1);
    cr_assert_eq(ldns_pkt_ancount(r), 1);
    const ldns_rr *rr = ldns_rr_list_rr(ldns_pkt_answer(r), 0);
    cr_assert_eq(ldns_rr_get_type(rr), LDNS_RR_TYPE_A);
    assert_a(rr, "laptop." DOMAIN ".", "10.77.0.2");
    ldns_pkt_free(r);

    r = ask("laptop." DOMAIN, LDNS_RR_TYPE_AAAA, &o);
    cr_assert_eq(o, DNS_ANSWERED);
    cr_assert_eq(ldns_pkt_ancount(r), 1);
    rr = ldns_rr_list_rr(ldns_pkt_answer(r), 0);
    cr_assert_eq(ldns_rr_get_type(rr), LDNS_RR_TYPE_AAAA);
    assert_a(rr, "laptop." DOMAIN ".", "fd77::2");
    ldns_pkt_free(r);

    r = ask("laptop." DOMAIN, LDNS_RR_TYPE_ANY, &o);
    cr_assert_eq(ldns_pkt_ancount(r), 2, "ANY: both addresses");
    ldns_pkt_free(r);
}

Test(dns_answer, case_and_trailing_dot)
{
    enum dns_outcome o;
    /* The owner comes back as the query spelled it (resolvers check the case they sent). */
    ldns_pkt *r = ask("LapTop.Office.LAN.arpa.", LDNS_RR_TYPE_A, &o);
    cr_assert_eq(o, DNS_ANSWERED);
    assert_a(ldns_rr_list_rr(ldns_pkt_answer(r), 0), "LapTop.Office.LAN.arpa.", "10.77.0.2");
    ldns_pkt_free(r);
    r = ask("desk." DOMAIN ".", LDNS_RR_TYPE_A, &o);
    cr_assert_eq(o, DNS_ANSWERED);
    assert_a(ldns_rr_list_rr(ldns_pkt_answer(r), 0), "desk." DOMAIN ".", "10.77.0.3");
    ldns_pkt_free(r);
}

Test(dns_answer, nodata_nxdomain_refused)
{
    enum dns_outcome o;
    /* A known name without the type: NOERROR, no records. */
    ldns_pkt *r = ask("desk." DOMAIN, LDNS_RR_TYPE_AAAA, &o);
    cr_assert_eq(o, DNS_NODATA);
    cr_assert_eq(ldns_pkt_get_rcode(r), LDNS_RCODE_NOERROR);
    cr_assert_eq(ldns_pkt_ancount(r), 0);
    cr_assert(ldns_pkt_aa(r));
    ldns_pkt_free(r);
    r = ask("desk." DOMAIN, LDNS_RR_TYPE_MX, &o);
    cr_assert_eq(o, DNS_NODATA);
    ldns_pkt_free(r);
    r = ask("new." DOMAIN, LDNS_RR_TYPE_A, &o);
    cr_assert_eq(o, DNS_NODATA, "a member without an address yet");
    ldns_pkt_free(r);
    r = ask(DOMAIN, LDNS_RR_TYPE_A, &o);
    cr_assert_eq(o, DNS_NODATA, "the domain itself");
    ldns_pkt_free(r);

    const char *nx[] = {"nobody." DOMAIN, "a.laptop." DOMAIN, "under_score." DOMAIN};
    for (size_t i = 0; i < sizeof nx / sizeof nx[0]; i++) {
        r = ask(nx[i], LDNS_RR_TYPE_A, &o);
        cr_assert_eq(o, DNS_NXDOMAIN, "%s", nx[i]);
        cr_assert_eq(ldns_pkt_get_rcode(r), LDNS_RCODE_NXDOMAIN, "%s", nx[i]);
        cr_assert(ldns_pkt_aa(r));
        ldns_pkt_free(r);
    }

    const char *out[] = {"example.org", "laptop.lan.arpa", "arpa", "xoffice.lan.arpa",
                         "laptop.office.lan.arpa.example"};
    for (size_t i = 0; i < sizeof out / sizeof out[0]; i++) {
        r = ask(out[i], LDNS_RR_TYPE_A, &o);
        cr_assert_eq(o, DNS_REFUSED, "%s", out[i]);
        cr_assert_eq(ldns_pkt_get_rcode(r), LDNS_RCODE_REFUSED, "%s", out[i]);
        cr_assert(!ldns_pkt_aa(r));
        cr_assert_eq(ldns_pkt_ancount(r), 0);
        ldns_pkt_free(r);
    }
}

Test(dns_answer, other_class_refused)
{
    uint8_t q[512], a[1232];
    enum dns_outcome o;
    size_t qn = make_query("laptop." DOMAIN, LDNS_RR_TYPE_A, LDNS_RR_CLASS_CH, q);
    cr_assert_gt(dns_answer(q, qn, DOMAIN, true, lookup, NULL, a, sizeof a, &o), 0);
    cr_assert_eq(o, DNS_REFUSED);
}

Test(dns_answer, formerr_and_dropped)
{
    uint8_t q[512], a[1232];
    enum dns_outcome o;
    unsigned calls = 0;
    size_t qn = make_query("laptop." DOMAIN, LDNS_RR_TYPE_A, LDNS_RR_CLASS_IN, q);
    /* Cut inside the question: a header to answer to, nothing to read after it. */
    size_t n = dns_answer(q, qn - 3, DOMAIN, true, lookup, &calls, a, sizeof a, &o);
    cr_assert_gt(n, 0);
    cr_assert_eq(o, DNS_FORMERR);
    ldns_pkt *r = NULL;
    cr_assert_eq(ldns_wire2pkt(&r, a, n), LDNS_STATUS_OK);
    cr_assert_eq(ldns_pkt_get_rcode(r), LDNS_RCODE_FORMERR);
    cr_assert_eq(ldns_pkt_id(r), 0x1234);
    cr_assert(!ldns_pkt_ra(r));
    ldns_pkt_free(r);
    /* Two questions in the count, one in the message. */
    uint8_t two[512];
    memcpy(two, q, qn);
    two[5] = 2;
    dns_answer(two, qn, DOMAIN, true, lookup, &calls, a, sizeof a, &o);
    cr_assert_eq(o, DNS_FORMERR);
    /* No questions at all. */
    two[5] = 0;
    dns_answer(two, 12, DOMAIN, true, lookup, &calls, a, sizeof a, &o);
    cr_assert_eq(o, DNS_FORMERR);
    /* Shorter than a header: nothing to answer to. */
    cr_assert_eq(dns_answer(q, 11, DOMAIN, true, lookup, &calls, a, sizeof a, &o), 0);
    cr_assert_eq(o, DNS_DROPPED);
    cr_assert_eq(dns_answer(q, 0, DOMAIN, true, lookup, &calls, a, sizeof a, &o), 0);
    /* A response (QR set) is never answered. */
    memcpy(two, q, qn);
    two[2] |= 0x80;
    cr_assert_eq(dns_answer(two, qn, DOMAIN, true, lookup, &calls, a, sizeof a, &o), 0);
    cr_assert_eq(o, DNS_DROPPED);
    /* Another opcode (NOTIFY, 4): not implemented. */
    memcpy(two, q, qn);
    two[2] = (uint8_t)((two[2] & ~0x78) | (4 << 3));
    cr_assert_gt(dns_answer(two, qn, DOMAIN, true, lookup, &calls, a, sizeof a, &o), 0);
    cr_assert_eq(o, DNS_NOTIMP);
    cr_assert_eq(calls, 0, "no lookup for a malformed query");
}

Test(dns_answer, edns_is_said_back)
{
    ldns_pkt *q = ldns_pkt_query_new(ldns_dname_new_frm_str("laptop." DOMAIN), LDNS_RR_TYPE_A,
                                     LDNS_RR_CLASS_IN, LDNS_RD);
    ldns_pkt_set_edns_udp_size(q, 4096);
    uint8_t *w, a[1232];
    size_t qn, n;
    cr_assert_eq(ldns_pkt2wire(&w, q, &qn), LDNS_STATUS_OK);
    ldns_pkt_free(q);
    enum dns_outcome o;
    n = dns_answer(w, qn, DOMAIN, true, lookup, NULL, a, sizeof a, &o);
    free(w);
    ldns_pkt *r = NULL;
    cr_assert_eq(ldns_wire2pkt(&r, a, n), LDNS_STATUS_OK);
    cr_assert_eq(o, DNS_ANSWERED);
    cr_assert(ldns_pkt_edns(r));
    cr_assert_eq(ldns_pkt_edns_udp_size(r), 1232);
    ldns_pkt_free(r);
}

Test(dns_answer, domain_rules)
{
    char out[DNS_DOMAIN_MAX + 1];
    struct errmsg err;
    cr_assert_eq(dns_domain_parse("Office.LAN.arpa.", out, &err), 0);
    cr_assert_str_eq(out, "office.lan.arpa");
    cr_assert_eq(dns_domain_parse("home", out, &err), 0);
    cr_assert_eq(dns_domain_parse("my-lan.example", out, &err), 0);
    const char *bad[] = {
        "",      ".",
        "a..b",  "-a.b",
        "a-.b",  "a_b.c",
        "a b",   ".a",
        "a.b..", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.b"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_assert_eq(dns_domain_parse(bad[i], out, &err), -EINVAL, "\"%s\" taken", bad[i]);
        cr_assert(strstr(err.msg, "dns.domain"), "%s", err.msg);
    }
    char big[DNS_DOMAIN_MAX + 2];
    for (int i = 0; i < DNS_DOMAIN_MAX + 1; i++)
        big[i] = i % 10 == 9 ? '.' : 'a';
    big[DNS_DOMAIN_MAX] = 'b'; /* not a dot, which would be the absolute form's */
    big[DNS_DOMAIN_MAX + 1] = 0;
    cr_assert_eq(dns_domain_parse(big, out, &err), -EINVAL, "190 characters");
    big[DNS_DOMAIN_MAX] = 0;
    cr_assert_eq(dns_domain_parse(big, out, &err), 0, "189 characters: %s", err.msg);
}

/* ---- the sockets, on 127.0.0.1 and ::1 with ephemeral ports */

static void loop_until(struct event_base *base, bool (*done)(void *), void *arg)
{
    for (int i = 0; i < 2000 && !done(arg); i++)
        event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK), usleep(1000);
}

struct udp_wait {
    int fd;
};
static bool readable(void *arg)
{
    struct pollfd p = {((struct udp_wait *)arg)->fd, POLLIN, 0};
    return poll(&p, 1, 0) == 1;
}

static int connect_to(int family, uint16_t port, int type)
{
    int fd = socket(family == 4 ? AF_INET : AF_INET6, type, 0);
    cr_assert_geq(fd, 0);
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    socklen_t sl;
    if (family == 4) {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        a->sin_family = AF_INET;
        a->sin_port = htons(port);
        a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        sl = sizeof *a;
    } else {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        a->sin6_family = AF_INET6;
        a->sin6_port = htons(port);
        a->sin6_addr = in6addr_loopback;
        sl = sizeof *a;
    }
    cr_assert_eq(connect(fd, (struct sockaddr *)&ss, sl), 0, "%s", strerror(errno));
    return fd;
}

Test(dns_server, udp_tcp_rebind)
{
    struct event_base *base = event_base_new();
    struct dns_server *s = dns_server_new(base, DOMAIN, 0, lookup, NULL);
    cr_assert_not_null(s);
    struct dns_addrs at = {.has4 = true, .has6 = true};
    memcpy(at.addr4, (uint8_t[]){127, 0, 0, 1}, 4);
    at.addr6[15] = 1;
    struct errmsg err;
    cr_assert_eq(dns_server_bind(s, &at, &err), 0, "%s", err.msg);
    uint16_t p4 = dns_server_port(s, 4, NULL), p6 = dns_server_port(s, 6, NULL);
    cr_assert(p4 && p6);

    uint8_t q[512], a[2048];
    size_t qn = make_query("laptop." DOMAIN, LDNS_RR_TYPE_A, LDNS_RR_CLASS_IN, q);
    for (int fam = 4; fam <= 6; fam += 2) {
        int u = connect_to(fam, fam == 4 ? p4 : p6, SOCK_DGRAM);
        cr_assert_eq(send(u, q, qn, 0), (ssize_t)qn);
        struct udp_wait w = {u};
        loop_until(base, readable, &w);
        ssize_t n = recv(u, a, sizeof a, MSG_DONTWAIT);
        cr_assert_gt(n, 12, "UDP answer over IPv%d", fam);
        ldns_pkt *r = NULL;
        cr_assert_eq(ldns_wire2pkt(&r, a, (size_t)n), LDNS_STATUS_OK);
        cr_assert_eq(ldns_pkt_ancount(r), 1);
        ldns_pkt_free(r);
        close(u);
    }

    /* TCP: two queries in one write, each with its 2-byte length; two framed answers. */
    int t = connect_to(4, p4, SOCK_STREAM);
    uint8_t two[1024];
    two[0] = (uint8_t)(qn >> 8);
    two[1] = (uint8_t)qn;
    memcpy(two + 2, q, qn);
    memcpy(two + 2 + qn, two, 2 + qn);
    cr_assert_eq(send(t, two, 2 * (2 + qn), 0), (ssize_t)(2 * (2 + qn)));
    size_t got = 0;
    for (int i = 0; i < 2000 && got < 4; i++) {
        event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
        ssize_t n = recv(t, a + got, sizeof a - got, MSG_DONTWAIT);
        if (n > 0) got += (size_t)n;
        size_t l1 = got >= 2 ? ((size_t)a[0] << 8 | a[1]) : 0;
        if (l1 && got >= 2 + l1 + 2) {
            size_t l2 = (size_t)a[2 + l1] << 8 | a[3 + l1];
            if (got >= 2 + l1 + 2 + l2) break;
        }
        usleep(1000);
    }
    size_t l1 = (size_t)a[0] << 8 | a[1];
    cr_assert_gt(l1, 12);
    ldns_pkt *r = NULL;
    cr_assert_eq(ldns_wire2pkt(&r, a + 2, l1), LDNS_STATUS_OK);
    cr_assert_eq(ldns_pkt_ancount(r), 1);
    ldns_pkt_free(r);
    cr_assert_geq(got, 2 + l1 + 2 + ((size_t)a[2 + l1] << 8 | a[3 + l1]), "two answers");
    cr_assert_eq(dns_server_queries(s), 4);

    /* Rebinding to IPv4 alone closes the IPv6 sockets and keeps IPv4 (and its connection). */
    at.has6 = false;
    cr_assert_eq(dns_server_bind(s, &at, &err), 0);
    cr_assert_eq(dns_server_port(s, 6, NULL), 0);
    cr_assert_eq(dns_server_port(s, 4, NULL), p4);
    cr_assert_eq(dns_server_tcp_open(s), 1);
    close(t);
    dns_server_free(s);
    event_base_free(base);
}

static bool all_open(void *arg)
{
    return dns_server_tcp_open(arg) == DNS_TCP_MAX;
}

Test(dns_server, tcp_bounded)
{
    struct event_base *base = event_base_new();
    struct dns_server *s = dns_server_new(base, DOMAIN, 0, lookup, NULL);
    struct dns_addrs at = {.has4 = true};
    memcpy(at.addr4, (uint8_t[]){127, 0, 0, 1}, 4);
    struct errmsg err;
    cr_assert_eq(dns_server_bind(s, &at, &err), 0, "%s", err.msg);
    int fds[DNS_TCP_MAX + 1];
    for (int i = 0; i < DNS_TCP_MAX; i++)
        fds[i] = connect_to(4, dns_server_port(s, 4, NULL), SOCK_STREAM);
    loop_until(base, all_open, s);
    cr_assert_eq(dns_server_tcp_open(s), DNS_TCP_MAX);
    /* One more is accepted and closed at once: the client reads EOF. */
    fds[DNS_TCP_MAX] = connect_to(4, dns_server_port(s, 4, NULL), SOCK_STREAM);
    struct udp_wait w = {fds[DNS_TCP_MAX]};
    loop_until(base, readable, &w);
    char c;
    cr_assert_eq(recv(fds[DNS_TCP_MAX], &c, 1, MSG_DONTWAIT), 0, "closed");
    cr_assert_eq(dns_server_tcp_open(s), DNS_TCP_MAX);
    /* A client that leaves frees its place. */
    close(fds[0]);
    for (int i = 0; i < 2000 && dns_server_tcp_open(s) == DNS_TCP_MAX; i++)
        event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK), usleep(1000);
    cr_assert_eq(dns_server_tcp_open(s), DNS_TCP_MAX - 1);
    for (int i = 1; i <= DNS_TCP_MAX; i++)
        close(fds[i]);
    dns_server_free(s);
    event_base_free(base);
}
