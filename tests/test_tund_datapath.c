// SPDX-License-Identifier: MIT
// The tunnel's pieces that need no device: inner IP parsing, the announcement and goodbye,
// the route table.
#include <criterion/criterion.h>
#include <string.h>

#include "../src/tun/announce.h"
#include "../src/tun/ippkt.h"
#include "../src/tun/route.h"

static void ipv4(uint8_t *p, size_t total, const uint8_t src[4], const uint8_t dst[4])
{
    memset(p, 0, total);
    p[0] = 0x45;
    p[2] = (uint8_t)(total >> 8);
    p[3] = (uint8_t)total;
    p[8] = 64;
    p[9] = 17;
    memcpy(p + 12, src, 4);
    memcpy(p + 16, dst, 4);
}

Test(ippkt, ipv4_and_ipv6_headers)
{
    uint8_t p[60];
    struct ippkt ip;
    ipv4(p, 28, (uint8_t[]){10, 77, 0, 2}, (uint8_t[]){10, 77, 0, 3});
    cr_assert_eq(ippkt_parse(p, 28, &ip), 0);
    cr_assert_eq(ip.version, 4);
    cr_assert_arr_eq(ip.dst, ((uint8_t[]){10, 77, 0, 3}), 4);
    /* total length beyond what was read, short header, options length bigger than total */
    cr_assert_eq(ippkt_parse(p, 27, &ip), -1);
    cr_assert_eq(ippkt_parse(p, 19, &ip), -1);
    p[0] = 0x44;
    cr_assert_eq(ippkt_parse(p, 28, &ip), -1);
    memset(p, 0, sizeof p);
    p[0] = 0x60;
    p[5] = 8;
    p[8] = 0xfd;
    p[24] = 0xfd;
    p[39] = 2;
    cr_assert_eq(ippkt_parse(p, 48, &ip), 0);
    cr_assert_eq(ip.version, 6);
    cr_assert_eq(ip.dst[15], 2);
    cr_assert_eq(ippkt_parse(p, 47, &ip), -1);
    p[0] = 0x50;
    cr_assert_eq(ippkt_parse(p, 48, &ip), -1);
    cr_assert_eq(ippkt_parse(p, 0, &ip), -1);
}

Test(announce, round_trip_and_rejects)
{
    struct announce a = {.has4 = true,
                         .addr4 = {10, 77, 0, 2},
                         .prefix4 = 24,
                         .has6 = true,
                         .addr6 = {0xfd, 0x77, [15] = 2},
                         .prefix6 = 64};
    uint8_t b[ANNOUNCE_LEN];
    cr_assert_eq(announce_encode(&a, b), ANNOUNCE_LEN);
    cr_assert_eq(b[0], ANNOUNCE_TAG);
    struct announce d;
    cr_assert_eq(announce_decode(b, sizeof b, &d), 0);
    cr_assert_eq(memcmp(&a, &d, sizeof a), 0);
    cr_assert_eq(announce_decode(b, sizeof b - 1, &d), -1);
    b[1] = 2;
    cr_assert_eq(announce_decode(b, sizeof b, &d), -1, "unknown version accepted");
    b[1] = 1;
    b[3] = 33;
    cr_assert_eq(announce_decode(b, sizeof b, &d), -1, "prefix 33 accepted");
    b[3] = 24;
    b[2] = 0;
    cr_assert_eq(announce_decode(b, sizeof b, &d), -1, "no family accepted");
    b[2] = 4;
    cr_assert_eq(announce_decode(b, sizeof b, &d), -1, "unknown flag accepted");
    /* IPv4 only, yet carrying IPv6 bytes: not the one encoding of that announcement */
    struct announce v4 = {.has4 = true, .addr4 = {10, 77, 0, 2}, .prefix4 = 24};
    announce_encode(&v4, b);
    b[9] = 0xfd;
    cr_assert_eq(announce_decode(b, sizeof b, &d), -1, "non-canonical announcement accepted");
}

Test(goodbye, exactly_two_bytes_tag_2_version_1)
{
    uint8_t b[GOODBYE_LEN + 1] = {0};
    cr_assert_eq(goodbye_encode(b), 2);
    cr_assert_eq(b[0], 0x02);
    cr_assert_eq(b[1], 0x01);
    cr_assert_eq(goodbye_decode(b, 2), 0);
    cr_assert_eq(goodbye_decode(b, 1), -1, "truncated goodbye accepted");
    cr_assert_eq(goodbye_decode(b, 3), -1, "goodbye with a trailing byte accepted");
    b[1] = 2;
    cr_assert_eq(goodbye_decode(b, 2), -1, "unknown version accepted");
    uint8_t ann[2] = {ANNOUNCE_TAG, 1};
    cr_assert_eq(goodbye_decode(ann, 2), -1, "another tag taken for a goodbye");
    cr_assert_neq(GOODBYE_TAG >> 4, 4, "a goodbye must not look like an IPv4 packet");
    cr_assert_neq(GOODBYE_TAG >> 4, 6, "a goodbye must not look like an IPv6 packet");
}

Test(route, add_lookup_replace_clear)
{
    struct route r;
    cr_assert_eq(route_init(&r, 256), 0);
    int peers[300];
    uint8_t a[16] = {10, 77, 0, 0};
    for (int i = 0; i < 256; i++) {
        a[3] = (uint8_t)i;
        cr_assert_eq(route_add(&r, 4, a, &peers[i]), 0);
        uint8_t v6[16] = {0xfd, 0x77, [14] = (uint8_t)(i >> 8), [15] = (uint8_t)i};
        cr_assert_eq(route_add(&r, 6, v6, &peers[i]), 0);
    }
    for (int i = 0; i < 256; i++) {
        a[3] = (uint8_t)i;
        cr_assert_eq(route_lookup(&r, 4, a), &peers[i]);
    }
    a[3] = 7;
    route_add(&r, 4, a, &peers[299]);
    cr_assert_eq(route_lookup(&r, 4, a), &peers[299]);
    uint8_t other[4] = {10, 78, 0, 7};
    cr_assert_null(route_lookup(&r, 4, other));
    /* an IPv4 address and an IPv6 address with the same first bytes do not collide */
    uint8_t v6[16] = {10, 77, 0, 7};
    cr_assert_null(route_lookup(&r, 6, v6));
    route_clear(&r);
    cr_assert_null(route_lookup(&r, 4, a));
    route_free(&r);
}
