// SPDX-License-Identifier: MIT
// Fuzzes the DNS responder's answer builder (src/tun/dns_answer.c): any bytes as a query, over
// UDP and TCP; an answer, when there is one, must be a DNS message ldns reads back with the
// query's ID, QR set, RA clear, and fit the size the transport allows.
#include <ldns/ldns.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../src/tun/dns_answer.h"
#include "harness.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool lookup(void *ctx, const char *label, struct dns_addrs *out)
{
    (void)ctx;
    memset(out, 0, sizeof *out);
    FZ_CHECK(label[0] && strlen(label) <= 63);
    if (strcmp(label, "laptop") == 0) {
        out->has4 = out->has6 = true;
        memcpy(out->addr4, (uint8_t[]){10, 77, 0, 2}, 4);
        out->addr6[0] = 0xfd;
        out->addr6[15] = 2;
        return true;
    }
    return strcmp(label, "desk") == 0; /* a member without an address yet */
}

static void check(const uint8_t *q, size_t size, bool udp)
{
    static uint8_t out[65535];
    enum dns_outcome o;
    size_t cap = udp ? 1232 : sizeof out;
    size_t n = dns_answer(q, size, "office.lan.arpa", udp, lookup, NULL, out, cap, &o);
    FZ_CHECK(o >= DNS_ANSWERED && o <= DNS_DROPPED);
    if (!n) {
        FZ_CHECK(o == DNS_DROPPED);
        return;
    }
    FZ_CHECK(o != DNS_DROPPED);
    FZ_CHECK(size >= 12 && n >= 12 && n <= cap);
    ldns_pkt *r = NULL;
    FZ_CHECK(ldns_wire2pkt(&r, out, n) == LDNS_STATUS_OK);
    FZ_CHECK(ldns_pkt_id(r) == (uint16_t)(q[0] << 8 | q[1]));
    FZ_CHECK(ldns_pkt_qr(r) && !ldns_pkt_ra(r));
    if (udp && !ldns_pkt_edns(r)) FZ_CHECK(n <= 512);
    if (ldns_pkt_ancount(r)) FZ_CHECK(o == DNS_ANSWERED && ldns_pkt_aa(r));
    ldns_pkt_free(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check(data, size, true);
    check(data, size, false);
    return 0;
}
