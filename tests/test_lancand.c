// SPDX-License-Identifier: MIT
// LAN and IPv6 candidates (tag 0x07 versions 1 and 2, src/tun/lancand.c): the codec round trip,
// every malformed list refused with its reason, random bytes never crash the decoder, and this
// host's addresses.
#include <criterion/criterion.h>
#include <stdint.h>
#include <string.h>

#include "../src/tun/lancand.h"

static struct rph_addr v4(uint8_t a, uint8_t b, uint8_t c, uint8_t d, uint16_t port)
{
    struct rph_addr x = {.family = 4, .ip = {a, b, c, d}, .port = port};
    return x;
}

Test(lancand, round_trip)
{
    struct rph_addr in[3] = {
        v4(192, 168, 1, 2, 41000), v4(10, 0, 0, 7, 1), {.family = 6, .ip = {0xfd}, .port = 5}};
    uint8_t b[LANCAND_MAX_LEN];
    size_t n = lancand_encode(in, 3, b);
    /* The IPv6 one is skipped: 2 entries. */
    cr_assert_eq(n, LANCAND_HDR_LEN + 2 * LANCAND_ENTRY_LEN);
    const uint8_t want[] = {0x07, 0x01, 0x02, 192, 168, 1, 2, 0xa0, 0x28, 10, 0, 0, 7, 0, 1};
    cr_assert_eq(n, sizeof want);
    cr_assert_eq(memcmp(b, want, n), 0);
    struct rph_addr out[LANCAND_MAX];
    size_t k = 99;
    const char *why = NULL;
    cr_assert_eq(lancand_decode(b, n, out, &k, &why), 1);
    cr_assert_eq(k, 2);
    cr_assert(rph_addr_equal(&out[0], &in[0]));
    cr_assert(rph_addr_equal(&out[1], &in[1]));
    /* An empty list is a list: "I have none (any more)". */
    n = lancand_encode(NULL, 0, b);
    cr_assert_eq(n, LANCAND_HDR_LEN);
    cr_assert_eq(lancand_decode(b, n, out, &k, &why), 1);
    cr_assert_eq(k, 0);
    /* More than eight given: eight encoded. */
    struct rph_addr many[12];
    for (int i = 0; i < 12; i++)
        many[i] = v4(10, 1, 0, (uint8_t)i, 7000);
    n = lancand_encode(many, 12, b);
    cr_assert_eq(n, LANCAND_HDR_LEN + LANCAND_MAX * LANCAND_ENTRY_LEN);
    cr_assert_eq(lancand_decode(b, n, out, &k, &why), 1);
    cr_assert_eq(k, LANCAND_MAX);
}

static void refused(const uint8_t *b, size_t n, const char *reason)
{
    struct rph_addr out[LANCAND_MAX];
    size_t k = 99;
    const char *why = NULL;
    cr_assert_eq(lancand_decode(b, n, out, &k, &why), -1, "taken: %s", reason);
    cr_assert_not_null(why);
    cr_assert_str_eq(why, reason);
    cr_assert_eq(k, 0);
}

Test(lancand, malformed_lists_are_refused_with_a_reason)
{
    const uint8_t one[] = {0x07, 0x01, 0x01, 10, 0, 0, 1, 0x1b, 0x58};
    uint8_t b[64];
    refused(one, 0, "shorter than its header");
    refused(one, 2, "shorter than its header");
    memcpy(b, one, sizeof one);
    b[0] = 0x06;
    refused(b, sizeof one, "not tag 0x07");
    memcpy(b, one, sizeof one);
    b[1] = 3;
    refused(b, sizeof one, "unknown version");
    memcpy(b, one, sizeof one);
    b[2] = 9;
    refused(b, sizeof one, "more than 8 candidates");
    refused(one, sizeof one - 1, "length does not match the count");
    memcpy(b, one, sizeof one);
    b[sizeof one] = 0;
    refused(b, sizeof one + 1, "length does not match the count");
    memcpy(b, one, sizeof one);
    b[2] = 0;
    refused(b, sizeof one, "length does not match the count");
    memcpy(b, one, sizeof one);
    b[7] = b[8] = 0;
    refused(b, sizeof one, "a candidate with port 0");
    memcpy(b, one, sizeof one);
    memset(b + 3, 0, 4);
    refused(b, sizeof one, "a candidate 0.0.0.0");
}

static struct rph_addr v6(uint8_t first, uint8_t last, uint16_t port)
{
    struct rph_addr x = {.family = 6, .ip = {first, 0x01, 0x0d, 0xb8}, .port = port};
    x.ip[15] = last;
    return x;
}

Test(lancand, version2_round_trip_carries_both_families)
{
    struct rph_addr in[3] = {v6(0x20, 7, 41000), v4(10, 0, 0, 7, 1), v6(0xfd, 1, 5)};
    uint8_t b[LANCAND_MAX_LEN];
    size_t n = lancand_encode_v2(in, 3, b);
    cr_assert_eq(n, LANCAND_HDR_LEN + 19 + 7 + 19);
    const uint8_t head[] = {0x07, 0x02, 0x03, 0x06, 0x20, 0x01, 0x0d, 0xb8};
    cr_assert_eq(memcmp(b, head, sizeof head), 0);
    cr_assert_eq(b[3 + 1 + 15], 7);
    cr_assert_eq(b[3 + 17], 0xa0);
    cr_assert_eq(b[3 + 18], 0x28);
    const uint8_t second[] = {0x04, 10, 0, 0, 7, 0, 1};
    cr_assert_eq(memcmp(b + 3 + 19, second, sizeof second), 0);
    struct rph_addr out[LANCAND_MAX];
    size_t k = 99;
    const char *why = NULL;
    cr_assert_eq(lancand_decode(b, n, out, &k, &why), 2);
    cr_assert_eq(k, 3);
    for (size_t i = 0; i < 3; i++)
        cr_assert(rph_addr_equal(&out[i], &in[i]), "entry %zu", i);
    /* Eight IPv6 ones: the longest message. */
    struct rph_addr many[12];
    for (int i = 0; i < 12; i++)
        many[i] = v6(0x2a, (uint8_t)i, 7000);
    n = lancand_encode_v2(many, 12, b);
    cr_assert_eq(n, LANCAND_MAX_LEN);
    cr_assert_eq(lancand_decode(b, n, out, &k, &why), 2);
    cr_assert_eq(k, LANCAND_MAX);
    n = lancand_encode_v2(NULL, 0, b);
    cr_assert_eq(lancand_decode(b, n, out, &k, &why), 2);
    cr_assert_eq(k, 0);
}

Test(lancand, malformed_version2_lists_are_refused_with_a_reason)
{
    uint8_t enc[LANCAND_MAX_LEN], one[LANCAND_HDR_LEN + 19];
    struct rph_addr a = v6(0x20, 1, 7000);
    cr_assert_eq(lancand_encode_v2(&a, 1, enc), sizeof one);
    memcpy(one, enc, sizeof one);
    uint8_t b[64];
    refused(one, sizeof one - 1, "length does not match the count");
    refused(one, LANCAND_HDR_LEN, "length does not match the count");
    memcpy(b, one, sizeof one);
    b[sizeof one] = 0;
    refused(b, sizeof one + 1, "length does not match the count");
    memcpy(b, one, sizeof one);
    b[3] = 5;
    refused(b, sizeof one, "a candidate of unknown family");
    memcpy(b, one, sizeof one);
    b[sizeof one - 2] = b[sizeof one - 1] = 0;
    refused(b, sizeof one, "a candidate with port 0");
    memcpy(b, one, sizeof one);
    memset(b + 4, 0, 16);
    refused(b, sizeof one, "a candidate ::");
    memcpy(b, one, sizeof one);
    b[2] = 2;
    refused(b, sizeof one, "length does not match the count");
}

/* xorshift: the same bytes every run. */
static uint32_t rnd(void)
{
    static uint32_t x = 2463534242u;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return x;
}

Test(lancand, random_bytes_never_crash_and_what_is_taken_encodes_back)
{
    uint8_t b[LANCAND_MAX_LEN + 8], again[LANCAND_MAX_LEN];
    size_t taken = 0;
    for (int i = 0; i < 200000; i++) {
        size_t n = rnd() % sizeof b;
        for (size_t j = 0; j < n; j++)
            b[j] = (uint8_t)rnd();
        /* Half of them with a valid header, so the entries get looked at too; a quarter of
         * those version 2 with families 4 or 6. */
        if (n >= LANCAND_HDR_LEN && (i & 3) == 3) {
            b[0] = LANCAND_TAG;
            b[1] = LANCAND_VERSION_V6;
            b[2] = 0;
            size_t off = LANCAND_HDR_LEN;
            while (b[2] < LANCAND_MAX) {
                size_t e = (rnd() & 1) ? 19 : 7;
                if (off + e > n) break;
                b[off] = e == 19 ? 6 : 4;
                off += e;
                b[2]++;
            }
            n = off;
        } else if (n >= LANCAND_HDR_LEN && (i & 1)) {
            b[0] = LANCAND_TAG;
            b[1] = LANCAND_VERSION;
            b[2] = (uint8_t)((n - LANCAND_HDR_LEN) / LANCAND_ENTRY_LEN);
            n = LANCAND_HDR_LEN + b[2] * (size_t)LANCAND_ENTRY_LEN;
            if (b[2] > LANCAND_MAX) continue;
        }
        struct rph_addr out[LANCAND_MAX];
        size_t k = 0;
        const char *why = NULL;
        if (lancand_decode(b, n, out, &k, &why) < 0) {
            cr_assert_not_null(why);
            continue;
        }
        taken++;
        cr_assert_leq(k, LANCAND_MAX);
        int version = b[1];
        cr_assert_eq(
            version == 1 ? lancand_encode(out, k, again) : lancand_encode_v2(out, k, again), n);
        cr_assert_eq(memcmp(again, b, n), 0);
    }
    cr_assert_gt(taken, 1000, "only %zu lists decoded", taken);
}

Test(lancand, candidates_at_our_own_addresses_are_dropped)
{
    struct rph_addr a[4] = {v4(172, 17, 0, 1, 7000), v4(192, 168, 1, 2, 7000),
                            v4(10, 0, 0, 1, 7000), v4(172, 17, 0, 1, 7001)};
    struct rph_addr own[2] = {v4(172, 17, 0, 1, 9999), v4(192, 168, 9, 9, 9999)};
    size_t n = lancand_drop_own(a, 4, own, 2);
    cr_assert_eq(n, 2);
    cr_assert(rph_addr_equal(
        &a[0], &(struct rph_addr){.family = 4, .ip = {192, 168, 1, 2}, .port = 7000}));
    cr_assert(
        rph_addr_equal(&a[1], &(struct rph_addr){.family = 4, .ip = {10, 0, 0, 1}, .port = 7000}));
    cr_assert_eq(lancand_drop_own(a, n, NULL, 0), n);
}

Test(lancand, local_ipv6_addresses_are_global_unicast_with_the_port)
{
    struct rph_addr a[LANCAND_MAX];
    int n = lancand_local6(a, 4242, NULL, NULL, 0);
    cr_assert_geq(n, 0);
    for (int i = 0; i < n; i++) {
        cr_assert_eq(a[i].family, 6);
        cr_assert_eq(a[i].port, 4242);
        cr_assert_eq(a[i].ip[0] & 0xe0, 0x20, "not 2000::/3");
    }
    /* An overlay of 2000::/3 covers every one of them. */
    uint8_t ov[16] = {0x20};
    cr_assert_eq(lancand_local6(a, 1, NULL, ov, 3), 0);
}

Test(lancand, local_addresses_skip_loopback_and_carry_the_port)
{
    struct rph_addr a[LANCAND_MAX];
    int n = lancand_local(a, 4242, NULL, NULL, 0);
    cr_assert_geq(n, 0);
    for (int i = 0; i < n; i++) {
        cr_assert_eq(a[i].family, 4);
        cr_assert_eq(a[i].port, 4242);
        cr_assert_neq(a[i].ip[0], 127);
    }
    /* The overlay's prefix is never offered: a /0 skips nothing, a /1 half, both halves all. */
    uint8_t lo[4] = {0, 0, 0, 0}, hi[4] = {128, 0, 0, 0};
    struct rph_addr b[LANCAND_MAX], c[LANCAND_MAX];
    int nb = lancand_local(b, 1, NULL, lo, 1), nc = lancand_local(c, 1, NULL, hi, 1);
    cr_assert_eq(nb + nc, n);
}
