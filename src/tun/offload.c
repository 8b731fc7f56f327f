// SPDX-License-Identifier: MIT
// Offload helpers for the TUN side: RFC 1071 checksums over native-endian words (the sum is
// byte-order independent, so no swapping per word), TSO segmentation and TCP coalescing.
#include "offload.h"

#include <string.h>

#include "ruphin/be.h"

#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_PSH 0x08
#define TCP_ACK 0x10
#define TCP_URG 0x20
#define TCP_CWR 0x80

static uint64_t acc(const uint8_t *p, size_t n, uint64_t s)
{
    while (n >= 4) {
        uint32_t w;
        memcpy(&w, p, 4);
        s += w;
        p += 4;
        n -= 4;
    }
    if (n >= 2) {
        uint16_t w;
        memcpy(&w, p, 2);
        s += w;
        p += 2;
        n -= 2;
    }
    if (n) {
        uint16_t w = 0;
        memcpy(&w, p, 1);
        s += w;
    }
    return s;
}

static uint16_t fold(uint64_t s)
{
    s = (s & 0xffffffffu) + (s >> 32);
    s = (s & 0xffffffffu) + (s >> 32);
    s = (s & 0xffffu) + (s >> 16);
    s = (s & 0xffffu) + (s >> 16);
    return (uint16_t)s;
}

/* Sum of the TCP pseudo-header for a TCP segment of tcp_len bytes. */
static uint64_t pseudo(int version, const uint8_t *ip, size_t tcp_len)
{
    uint8_t tail[8] = {0};
    if (version == 4) {
        tail[1] = 6;
        rph_put16(tail + 2, (uint16_t)tcp_len);
        return acc(tail, 4, acc(ip + 12, 8, 0));
    }
    rph_put32(tail, (uint32_t)tcp_len);
    tail[7] = 6;
    return acc(tail, 8, acc(ip + 8, 32, 0));
}

static void ipv4_csum(uint8_t *ip, size_t ihl)
{
    ip[10] = ip[11] = 0;
    uint16_t c = (uint16_t)~fold(acc(ip, ihl, 0));
    memcpy(ip + 10, &c, 2);
}

int offload_csum(const struct virtio_net_hdr *h, uint8_t *pkt, size_t len)
{
    size_t start = h->csum_start, off = h->csum_offset;
    if (start + off + 2 > len) return -1;
    /* The field already holds the pseudo-header sum; sum the rest over it. */
    uint16_t c = (uint16_t)~fold(acc(pkt + start, len - start, 0));
    if (c == 0 && off == 6) c = 0xffff; /* UDP: 0 means "no checksum" */
    memcpy(pkt + start + off, &c, 2);
    return 0;
}

/* Header layout of a TCP packet: 0 and the offsets, or -1 when it is not plain TCP. */
static int tcp_layout(const uint8_t *pkt, size_t len, int *version, size_t *thoff, size_t *hdrlen)
{
    if (len < 20) return -1;
    int v = pkt[0] >> 4;
    size_t t;
    if (v == 4) {
        t = (size_t)(pkt[0] & 15) * 4;
        if (t < 20 || pkt[9] != 6) return -1;
        if ((rph_get16(pkt + 6) & 0x3fff) != 0) return -1; /* a fragment */
    } else if (v == 6) {
        t = 40;
        if (len < 40 || pkt[6] != 6) return -1; /* extension headers: not ours to split */
    } else {
        return -1;
    }
    if (len < t + 20) return -1;
    size_t thl = (size_t)(pkt[t + 12] >> 4) * 4;
    if (thl < 20 || t + thl > len) return -1;
    *version = v;
    *thoff = t;
    *hdrlen = t + thl;
    return 0;
}

int offload_tcp_hdrlen(const uint8_t *pkt, size_t len)
{
    int v;
    size_t thoff, hdrlen;
    return tcp_layout(pkt, len, &v, &thoff, &hdrlen) < 0 ? -1 : (int)hdrlen;
}

static void set_lengths(uint8_t *p, int version, size_t thoff, size_t total)
{
    if (version == 4) {
        rph_put16(p + 2, (uint16_t)total);
        ipv4_csum(p, thoff);
    } else {
        rph_put16(p + 4, (uint16_t)(total - 40));
    }
}

int offload_split(const struct virtio_net_hdr *h, const uint8_t *pkt, size_t len, uint8_t *base,
                  size_t stride, size_t head, size_t max, size_t *seg_len)
{
    int v;
    size_t thoff, hdrlen;
    if (tcp_layout(pkt, len, &v, &thoff, &hdrlen) < 0) return -1;
    size_t mss = h->gso_size, payload = len - hdrlen;
    if (mss == 0 || payload == 0) return -1;
    size_t n = (payload + mss - 1) / mss;
    if (n > max || head + hdrlen + mss > stride) return -1;
    uint16_t id = v == 4 ? rph_get16(pkt + 4) : 0;
    uint32_t seq = rph_get32(pkt + thoff + 4);
    uint8_t flags = pkt[thoff + 13];
    for (size_t k = 0; k < n; k++) {
        uint8_t *d = base + k * stride + head;
        size_t chunk = k + 1 < n ? mss : payload - k * mss;
        memcpy(d, pkt, hdrlen);
        memcpy(d + hdrlen, pkt + hdrlen + k * mss, chunk);
        size_t total = hdrlen + chunk;
        if (v == 4) rph_put16(d + 4, (uint16_t)(id + k));
        set_lengths(d, v, thoff, total);
        uint8_t *tcp = d + thoff;
        rph_put32(tcp + 4, seq + (uint32_t)(k * mss));
        uint8_t f = flags;
        if (k + 1 < n) f &= (uint8_t) ~(TCP_FIN | TCP_PSH);
        if (k > 0) f &= (uint8_t)~TCP_CWR;
        tcp[13] = f;
        tcp[16] = tcp[17] = 0;
        size_t tcp_len = total - thoff;
        uint16_t c = (uint16_t)~fold(acc(tcp, tcp_len, pseudo(v, d, tcp_len)));
        memcpy(tcp + 16, &c, 2);
        seg_len[k] = total;
    }
    return (int)n;
}

bool gro_start(struct gro *g, const uint8_t *pkt, size_t len)
{
    int v;
    size_t thoff, hdrlen;
    g->len = 0;
    if (tcp_layout(pkt, len, &v, &thoff, &hdrlen) < 0 || hdrlen > GRO_HDR_MAX) return false;
    size_t payload = len - hdrlen;
    uint8_t f = pkt[thoff + 13];
    /* Only plain data segments: anything with SYN/FIN/RST/URG goes through as it is. */
    if (payload == 0 || (f & ~(TCP_ACK | TCP_PSH)) != 0) return false;
    memcpy(g->hdr + VNET_LEN, pkt, hdrlen);
    g->iov[0].iov_base = g->hdr;
    g->iov[0].iov_len = VNET_LEN + hdrlen;
    g->iov[1].iov_base = (void *)(pkt + hdrlen);
    g->iov[1].iov_len = payload;
    g->len = len;
    g->version = v;
    g->thoff = thoff;
    g->hdrlen = hdrlen;
    g->seg = (uint16_t)payload;
    g->count = 1;
    g->next_seq = rph_get32(pkt + thoff + 4) + (uint32_t)payload;
    g->closed = (f & TCP_PSH) != 0;
    return true;
}

bool gro_append(struct gro *g, const uint8_t *pkt, size_t len)
{
    if (g->len == 0 || g->closed || g->count == GRO_SEGS || len <= g->hdrlen ||
        (pkt[0] >> 4) != g->version)
        return false;
    const uint8_t *held = g->hdr + VNET_LEN;
    size_t payload = len - g->hdrlen;
    if (payload > g->seg || g->len + payload > GRO_MAX) return false;
    size_t t = g->thoff;
    if (g->version == 4) {
        /* Same header length, protocol, addresses, no fragment; TOS/TTL equal too. */
        if (pkt[0] != held[0] || pkt[1] != held[1] || pkt[8] != held[8] || pkt[9] != 6 ||
            (rph_get16(pkt + 6) & 0x3fff) != 0 || memcmp(pkt + 12, held + 12, 8) != 0 ||
            (t > 20 && memcmp(pkt + 20, held + 20, t - 20) != 0))
            return false;
        if (rph_get16(pkt + 2) != len) return false;
    } else {
        if (memcmp(pkt, held, 4) != 0 || pkt[6] != 6 || pkt[7] != held[7] ||
            memcmp(pkt + 8, held + 8, 32) != 0 || (size_t)rph_get16(pkt + 4) + 40 != len)
            return false;
    }
    const uint8_t *a = pkt + t, *b = held + t;
    /* Ports, ack, header length, window and options identical; seq continues the run. */
    if (memcmp(a, b, 4) != 0 || memcmp(a + 8, b + 8, 5) != 0 || memcmp(a + 14, b + 14, 2) != 0 ||
        memcmp(a + 18, b + 18, g->hdrlen - t - 18) != 0)
        return false;
    uint8_t f = a[13];
    if ((f & ~(TCP_ACK | TCP_PSH)) != 0 || rph_get32(a + 4) != g->next_seq) return false;
    g->count++;
    g->iov[g->count].iov_base = (void *)(pkt + g->hdrlen);
    g->iov[g->count].iov_len = payload;
    g->len += payload;
    g->next_seq += (uint32_t)payload;
    if (f & TCP_PSH) g->hdr[VNET_LEN + t + 13] |= TCP_PSH;
    /* A short segment or PSH ends a run, as in the kernel's GRO. */
    g->closed = payload < g->seg || (f & TCP_PSH);
    return true;
}

/* Headers fixed up, the virtio header written; the payloads stay where they are. */
int gro_finish(struct gro *g)
{
    if (g->len == 0) return 0;
    struct virtio_net_hdr h;
    memset(&h, 0, sizeof h);
    uint8_t *p = g->hdr + VNET_LEN;
    if (g->count > 1) {
        set_lengths(p, g->version, g->thoff, g->len);
        size_t tcp_len = g->len - g->thoff;
        /* CHECKSUM_PARTIAL: the field holds the pseudo-header sum, the kernel does the rest
         * (or, delivering locally, trusts it as the NIC's GRO would have). */
        uint16_t ps = fold(pseudo(g->version, p, tcp_len));
        memcpy(p + g->thoff + 16, &ps, 2);
        h.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
        h.gso_type = g->version == 4 ? VIRTIO_NET_HDR_GSO_TCPV4 : VIRTIO_NET_HDR_GSO_TCPV6;
        h.gso_size = g->seg;
        h.hdr_len = (uint16_t)g->hdrlen;
        h.csum_start = (uint16_t)g->thoff;
        h.csum_offset = 16;
    }
    memcpy(g->hdr, &h, VNET_LEN);
    int n = (int)g->count + 1;
    g->len = 0;
    g->count = 0;
    return n;
}
