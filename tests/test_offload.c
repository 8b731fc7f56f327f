// SPDX-License-Identifier: MIT
// TUN offloads: TSO splitting gives valid, complete segments; coalescing rebuilds the stream;
// checksums match a plain byte-by-byte RFC 1071 reference.
#include <criterion/criterion.h>
#include <string.h>

#include "../src/tun/offload.h"

/* Reference one's-complement sum over big-endian 16-bit words. */
static uint32_t ref_sum(const uint8_t *p, size_t n, uint32_t s)
{
    for (size_t i = 0; i + 1 < n; i += 2)
        s += (uint32_t)(p[i] << 8 | p[i + 1]);
    if (n & 1) s += (uint32_t)p[n - 1] << 8;
    while (s >> 16)
        s = (s & 0xffff) + (s >> 16);
    return s;
}

static bool tcp_csum_ok(const uint8_t *ip, size_t len)
{
    int v = ip[0] >> 4;
    size_t t = v == 4 ? (size_t)(ip[0] & 15) * 4 : 40;
    uint8_t ph[40] = {0};
    size_t phl;
    size_t tl = len - t;
    if (v == 4) {
        memcpy(ph, ip + 12, 8);
        ph[9] = 6;
        ph[10] = (uint8_t)(tl >> 8);
        ph[11] = (uint8_t)tl;
        phl = 12;
    } else {
        memcpy(ph, ip + 8, 32);
        ph[34] = (uint8_t)(tl >> 8);
        ph[35] = (uint8_t)tl;
        ph[39] = 6;
        phl = 40;
    }
    return ref_sum(ip + t, tl, ref_sum(ph, phl, 0)) == 0xffff;
}

static size_t build(uint8_t *p, int v, size_t payload, uint32_t seq, uint8_t flags)
{
    size_t ihl = v == 4 ? 20 : 40, thl = 32;
    memset(p, 0, ihl + thl);
    size_t total = ihl + thl + payload;
    if (v == 4) {
        p[0] = 0x45;
        p[2] = (uint8_t)(total >> 8);
        p[3] = (uint8_t)total;
        p[4] = 0x12;
        p[5] = 0x34;
        p[6] = 0x40; /* DF */
        p[8] = 64;
        p[9] = 6;
        memcpy(p + 12, (uint8_t[]){10, 77, 0, 2, 10, 77, 0, 1}, 8);
    } else {
        p[0] = 0x60;
        p[4] = (uint8_t)((total - 40) >> 8);
        p[5] = (uint8_t)(total - 40);
        p[6] = 6;
        p[7] = 64;
        p[8] = 0xfd;
        p[9] = 0x77;
        p[23] = 2;
        p[24] = 0xfd;
        p[25] = 0x77;
        p[39] = 1;
    }
    uint8_t *t = p + ihl;
    t[0] = 0xa0, t[1] = 0x00, t[2] = 0x13, t[3] = 0x89; /* ports 40960 -> 5001 */
    t[4] = (uint8_t)(seq >> 24), t[5] = (uint8_t)(seq >> 16), t[6] = (uint8_t)(seq >> 8),
    t[7] = (uint8_t)seq;
    t[11] = 7; /* ack */
    t[12] = (uint8_t)((thl / 4) << 4);
    t[13] = flags;
    t[14] = 0x01;                                /* window */
    t[20] = 1, t[21] = 1, t[22] = 8, t[23] = 10; /* NOP NOP timestamp */
    t[27] = 5;
    for (size_t i = 0; i < payload; i++)
        p[ihl + thl + i] = (uint8_t)(i * 7 + 3);
    return total;
}

/* What gro_finish would have the TUN write: its iovecs, gathered. */
static size_t gather(struct gro *g, int n, uint8_t *out)
{
    size_t o = 0;
    for (int i = 0; i < n; i++) {
        memcpy(out + o, g->iov[i].iov_base, g->iov[i].iov_len);
        o += g->iov[i].iov_len;
    }
    return o;
}

static void split_and_check(int v)
{
    static uint8_t pkt[65536], out[80 * 2048], again[70000];
    size_t len = build(pkt, v, 10000, 1000000, 0x18 /* ACK|PSH */);
    struct virtio_net_hdr h = {.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
                               .gso_type =
                                   v == 4 ? VIRTIO_NET_HDR_GSO_TCPV4 : VIRTIO_NET_HDR_GSO_TCPV6,
                               .gso_size = 1348};
    size_t seg_len[80];
    int n = offload_split(&h, pkt, len, out, 2048, 16, 80, seg_len);
    cr_assert_eq(n, 8, "10000 bytes at 1348 a segment: 8 segments, got %d", n);
    size_t ihl = v == 4 ? 20 : 40, hl = ihl + 32, got = 0;
    for (int k = 0; k < n; k++) {
        uint8_t *s = out + (size_t)k * 2048 + 16;
        size_t chunk = k < n - 1 ? 1348 : 10000 - 7 * 1348;
        cr_assert_eq(seg_len[k], hl + chunk);
        if (v == 4) {
            cr_assert_eq(ref_sum(s, 20, 0), 0xffff, "IPv4 header checksum of segment %d", k);
            cr_assert_eq((size_t)(s[2] << 8 | s[3]), hl + chunk);
            cr_assert_eq(s[5], (uint8_t)(0x34 + k), "IP ID advances");
        } else {
            cr_assert_eq((size_t)(s[4] << 8 | s[5]), 32 + chunk);
        }
        cr_assert(tcp_csum_ok(s, seg_len[k]), "TCP checksum of segment %d", k);
        uint32_t seq = (uint32_t)s[ihl + 4] << 24 | (uint32_t)s[ihl + 5] << 16 |
                       (uint32_t)s[ihl + 6] << 8 | s[ihl + 7];
        cr_assert_eq(seq, 1000000 + (uint32_t)k * 1348);
        cr_assert_eq(s[ihl + 13] & 0x08, k == n - 1 ? 0x08 : 0, "PSH only on the last segment");
        cr_assert_arr_eq(s + hl, pkt + hl + got, chunk);
        got += chunk;
    }
    cr_assert_eq(got, 10000);

    /* ...and coalesced back, as the receiving side does. */
    static struct gro g;
    memset(&g, 0, sizeof g);
    cr_assert(gro_start(&g, out + 16, seg_len[0]));
    for (int k = 1; k < n; k++)
        cr_assert(gro_append(&g, out + (size_t)k * 2048 + 16, seg_len[k]), "segment %d refused", k);
    static uint8_t wr[VNET_LEN + 70000];
    int nio = gro_finish(&g);
    cr_assert_eq(nio, 1 + n, "one iovec for the headers, one per payload");
    size_t w = gather(&g, nio, wr);
    cr_assert_eq(w, VNET_LEN + len);
    struct virtio_net_hdr r;
    memcpy(&r, wr, VNET_LEN);
    cr_assert_eq(r.gso_size, 1348);
    cr_assert_eq(r.gso_type, v == 4 ? VIRTIO_NET_HDR_GSO_TCPV4 : VIRTIO_NET_HDR_GSO_TCPV6);
    cr_assert_eq(r.csum_start, ihl);
    cr_assert_eq(r.csum_offset, 16);
    cr_assert_arr_eq(wr + VNET_LEN + hl, pkt + hl, 10000, "payload changed in coalescing");
    /* completing the partial checksum gives a valid TCP checksum over the whole */
    memcpy(again, wr + VNET_LEN, len);
    cr_assert_eq(offload_csum(&r, again, len), 0);
    cr_assert(tcp_csum_ok(again, len));
}

Test(offload, tso_ipv4_split_and_coalesce)
{
    split_and_check(4);
}

Test(offload, tso_ipv6_split_and_coalesce)
{
    split_and_check(6);
}

Test(offload, coalescing_stops_where_the_kernel_would)
{
    static uint8_t a[2000], b[2000];
    static struct gro g;
    size_t la = build(a, 4, 1000, 5000, 0x10);
    cr_assert(gro_start(&g, a, la));
    size_t lb = build(b, 4, 1000, 7000, 0x10); /* a gap in the sequence */
    cr_assert_not(gro_append(&g, b, lb));
    lb = build(b, 4, 1000, 6000, 0x10);
    b[20 + 1] = 0x01; /* another source port */
    cr_assert_not(gro_append(&g, b, lb));
    lb = build(b, 4, 1000, 6000, 0x11); /* FIN */
    cr_assert_not(gro_append(&g, b, lb));
    lb = build(b, 4, 1000, 6000, 0x10);
    b[20 + 27] = 6; /* a newer timestamp */
    cr_assert_not(gro_append(&g, b, lb));
    lb = build(b, 4, 500, 6000, 0x10); /* a short segment is taken, then nothing more */
    cr_assert(gro_append(&g, b, lb));
    lb = build(b, 4, 1000, 6500, 0x10);
    cr_assert_not(gro_append(&g, b, lb));
    static uint8_t wr[4000];
    int nio = gro_finish(&g);
    cr_assert_eq(gather(&g, nio, wr), VNET_LEN + la + 500);
    cr_assert_eq(gro_finish(&g), 0);
    /* SYN and pure ACKs are never held */
    la = build(a, 4, 0, 1, 0x10);
    cr_assert_not(gro_start(&g, a, la));
    la = build(a, 4, 10, 1, 0x02);
    cr_assert_not(gro_start(&g, a, la));
}

Test(offload, a_single_held_segment_is_written_as_it_was)
{
    static uint8_t a[2000];
    static struct gro g;
    size_t la = build(a, 6, 700, 42, 0x18);
    cr_assert(gro_start(&g, a, la));
    static uint8_t wr[4000];
    int nio = gro_finish(&g);
    cr_assert_eq(gather(&g, nio, wr), VNET_LEN + la);
    struct virtio_net_hdr r;
    memcpy(&r, wr, VNET_LEN);
    cr_assert_eq(r.gso_type, VIRTIO_NET_HDR_GSO_NONE);
    cr_assert_arr_eq(wr + VNET_LEN, a, la);
}

Test(offload, partial_checksum_completed)
{
    static uint8_t a[2000];
    size_t la = build(a, 4, 333, 9, 0x18);
    /* the kernel's CHECKSUM_PARTIAL: pseudo-header sum in the field, not complemented */
    uint8_t ph[12] = {0};
    memcpy(ph, a + 12, 8);
    ph[9] = 6;
    ph[11] = (uint8_t)(la - 20);
    ph[10] = (uint8_t)((la - 20) >> 8);
    uint16_t ps = (uint16_t)ref_sum(ph, 12, 0);
    a[36] = (uint8_t)(ps >> 8);
    a[37] = (uint8_t)ps;
    struct virtio_net_hdr h = {
        .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM, .csum_start = 20, .csum_offset = 16};
    cr_assert_eq(offload_csum(&h, a, la), 0);
    cr_assert(tcp_csum_ok(a, la));
    h.csum_start = 2000;
    cr_assert_eq(offload_csum(&h, a, la), -1, "out-of-range csum_start accepted");
}

Test(offload, refuses_what_it_cannot_split)
{
    static uint8_t pkt[4000], out[4 * 2048];
    size_t len = build(pkt, 4, 3000, 1, 0x10);
    struct virtio_net_hdr h = {.gso_type = VIRTIO_NET_HDR_GSO_TCPV4, .gso_size = 1000};
    size_t seg_len[4];
    cr_assert_eq(offload_split(&h, pkt, len, out, 2048, 16, 2, seg_len), -1, "too many segments");
    h.gso_size = 0;
    cr_assert_eq(offload_split(&h, pkt, len, out, 2048, 16, 4, seg_len), -1);
    h.gso_size = 1000;
    pkt[9] = 17; /* UDP */
    cr_assert_eq(offload_split(&h, pkt, len, out, 2048, 16, 4, seg_len), -1);
    pkt[9] = 6;
    cr_assert_eq(offload_split(&h, pkt, 30, out, 2048, 16, 4, seg_len), -1, "truncated header");
    cr_assert_eq(offload_split(&h, pkt, len, out, 2048, 16, 4, seg_len), 3);
}
