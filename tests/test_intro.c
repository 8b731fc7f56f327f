// SPDX-License-Identifier: MIT
// The mesh's introduction message (tag 0x09, src/tun/intro.c): the round trip of both forms,
// the exact bytes, every malformed message refused with its reason, and random bytes either
// refused or decoded to a message whose encoding is exactly those bytes.
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../src/tun/intro.h"

static struct intro sample(void)
{
    struct intro in;
    memset(&in, 0, sizeof in);
    for (int i = 0; i < 32; i++)
        in.node_pk[i] = (uint8_t)(i + 1);
    in.addrs.has4 = true;
    memcpy(in.addrs.addr4, (uint8_t[]){10, 77, 0, 3}, 4);
    in.addrs.prefix4 = 24;
    in.addrs.has6 = true;
    in.addrs.addr6[0] = 0xfd;
    in.addrs.addr6[15] = 3;
    in.addrs.prefix6 = 64;
    in.endpoint = (struct rph_addr){.family = 4, .ip = {203, 0, 113, 9}, .port = 41000};
    in.rtt_ms = 37;
    in.lan[0] = (struct rph_addr){.family = 4, .ip = {192, 168, 1, 5}, .port = 41000};
    in.n_lan = 1;
    in.v6[0] = (struct rph_addr){.family = 6, .ip = {0x20, 0x01, 0x0d, 0xb8, [15] = 5}, .port = 7};
    in.v6[1] = (struct rph_addr){.family = 6, .ip = {0x20, 0x01, 0x0d, 0xb8, [15] = 6}, .port = 8};
    in.n_v6 = 2;
    in.has_mapped = true;
    in.mapped = (struct rph_addr){.family = 4, .ip = {198, 51, 100, 1}, .port = 5351};
    return in;
}

static void same(const struct intro *a, const struct intro *b)
{
    cr_assert_eq(a->left, b->left);
    cr_assert_eq(memcmp(a->node_pk, b->node_pk, 32), 0);
    if (a->left) return;
    cr_assert_eq(memcmp(&a->addrs, &b->addrs, sizeof a->addrs), 0);
    cr_assert(rph_addr_equal(&a->endpoint, &b->endpoint));
    cr_assert_eq(a->rtt_ms, b->rtt_ms);
    cr_assert_eq(a->n_lan, b->n_lan);
    cr_assert_eq(a->n_v6, b->n_v6);
    for (size_t i = 0; i < a->n_lan; i++)
        cr_assert(rph_addr_equal(&a->lan[i], &b->lan[i]));
    for (size_t i = 0; i < a->n_v6; i++)
        cr_assert(rph_addr_equal(&a->v6[i], &b->v6[i]));
    cr_assert_eq(a->has_mapped, b->has_mapped);
    if (a->has_mapped) cr_assert(rph_addr_equal(&a->mapped, &b->mapped));
}

Test(intro, round_trip)
{
    struct intro in = sample(), out;
    uint8_t b[INTRO_MAX_LEN];
    size_t n = intro_encode(&in, b);
    cr_assert_eq(n, INTRO_FIXED_LEN + INTRO_LAN_LEN + 2 * INTRO_V6_LEN + INTRO_MAPPED_LEN);
    cr_assert_eq(b[0], 0x09);
    cr_assert_eq(b[1], 1);
    cr_assert_eq(b[2], INTRO_F_HAS4 | INTRO_F_HAS6 | INTRO_F_MAPPED);
    /* The fixed part's fields at their documented offsets (docs/PROTOCOL.md "Mesh"). */
    const uint8_t v4[] = {10, 77, 0, 3, 24};
    cr_assert_eq(memcmp(b + 35, v4, 5), 0);
    cr_assert_eq(b[56], 64);
    const uint8_t ep[] = {4, 203, 0, 113, 9};
    cr_assert_eq(memcmp(b + 57, ep, 5), 0);
    cr_assert_eq(b[74], 0xa0);
    cr_assert_eq(b[75], 0x28);
    cr_assert_eq(b[76], 0);
    cr_assert_eq(b[77], 37);
    cr_assert_eq(b[78], 1);
    cr_assert_eq(b[79], 2);
    const char *why = NULL;
    cr_assert_eq(intro_decode(b, n, &out, &why), 0, "%s", why);
    same(&in, &out);
    /* The least: one IPv4 address, no endpoint, no candidates. */
    struct intro small;
    memset(&small, 0, sizeof small);
    small.addrs.has4 = true;
    small.addrs.prefix4 = 32;
    n = intro_encode(&small, b);
    cr_assert_eq(n, INTRO_FIXED_LEN);
    cr_assert_eq(intro_decode(b, n, &out, &why), 0, "%s", why);
    same(&small, &out);
}

Test(intro, left)
{
    struct intro in = sample(), out;
    in.left = true;
    uint8_t b[INTRO_MAX_LEN];
    size_t n = intro_encode(&in, b);
    cr_assert_eq(n, INTRO_LEFT_LEN);
    cr_assert_eq(b[1], INTRO_VERSION_LEFT);
    const char *why = NULL;
    cr_assert_eq(intro_decode(b, n, &out, &why), 0, "%s", why);
    cr_assert(out.left);
    cr_assert_eq(memcmp(out.node_pk, in.node_pk, 32), 0);
    b[2] = 1;
    cr_assert_eq(intro_decode(b, n, &out, &why), -1);
    cr_assert_str_eq(why, "unknown flags");
    b[2] = 0;
    cr_assert_eq(intro_decode(b, n - 1, &out, &why), -1);
    cr_assert_str_eq(why, "a \"left\" message not 35 bytes long");
}

/* Skipped on encoding: what could not be decoded back. */
Test(intro, encoder_skips)
{
    struct intro in = sample(), out;
    in.lan[1] = (struct rph_addr){.family = 6, .port = 1};          /* not IPv4 */
    in.lan[2] = (struct rph_addr){.family = 4, .ip = {1, 2, 3, 4}}; /* port 0 */
    in.n_lan = 3;
    in.endpoint.port = 0;
    uint8_t b[INTRO_MAX_LEN];
    size_t n = intro_encode(&in, b);
    const char *why = NULL;
    cr_assert_eq(intro_decode(b, n, &out, &why), 0, "%s", why);
    cr_assert_eq(out.n_lan, 1);
    cr_assert_eq(out.endpoint.family, 0);
}

static void refused(const uint8_t *b, size_t n, const char *reason)
{
    struct intro out;
    const char *why = NULL;
    cr_assert_eq(intro_decode(b, n, &out, &why), -1, "taken: %s", reason);
    cr_assert_not_null(why);
    cr_assert_str_eq(why, reason);
}

Test(intro, malformed)
{
    struct intro in = sample();
    uint8_t good[INTRO_MAX_LEN], b[INTRO_MAX_LEN];
    size_t n = intro_encode(&in, good);
#define MUT(stmt, reason)                                                                          \
    do {                                                                                           \
        memcpy(b, good, n);                                                                        \
        size_t len = n;                                                                            \
        stmt;                                                                                      \
        refused(b, len, reason);                                                                   \
    } while (0)
    MUT(b[0] = 0x08, "too short or another tag");
    MUT(len = 2, "too short or another tag");
    MUT(b[1] = 3, "unknown version");
    MUT(len = 79, "shorter than 80 bytes");
    MUT(b[2] |= 8, "unknown flags");
    MUT(b[39] = 33, "IPv4 prefix over 32");
    MUT(b[56] = 129, "IPv6 prefix over 128");
    MUT(b[2] &= (uint8_t)~INTRO_F_HAS4, "an IPv4 address without the flag");
    MUT(b[2] &= (uint8_t)~INTRO_F_HAS6, "an IPv6 address without the flag");
    MUT(b[60] = 1; b[62] = 1, "non-zero padding after the IPv4 endpoint");
    MUT(b[57] = 5, "unknown endpoint family");
    MUT(b[74] = 0; b[75] = 0, "endpoint port 0");
    MUT(b[78] = 9, "more than 8 candidates");
    MUT(len = n - 1, "length does not match the counts");
    MUT(b[2] &= (uint8_t)~INTRO_F_MAPPED, "length does not match the counts");
    MUT(b[84] = 0; b[85] = 0, "a candidate with port 0");
    MUT(b[n - 1] = 0; b[n - 2] = 0, "a candidate with port 0");
    /* Neither address: nothing to route to the member. */
    struct intro none = sample();
    none.addrs.has4 = none.addrs.has6 = false;
    memset(&none.addrs, 0, sizeof none.addrs);
    size_t k = intro_encode(&none, b);
    refused(b, k, "no overlay address");
#undef MUT
}

/* One encoding per message: whatever decodes encodes back to exactly the same bytes. */
Test(intro, random_bytes)
{
    uint8_t b[INTRO_MAX_LEN + 8], again[INTRO_MAX_LEN];
    struct intro in = sample(), out;
    uint8_t good[INTRO_MAX_LEN];
    size_t n = intro_encode(&in, good);
    srand(7);
    unsigned taken = 0;
    for (int round = 0; round < 200000; round++) {
        size_t len;
        if (round & 1) { /* a valid message with a few bytes flipped */
            memcpy(b, good, n);
            len = n;
            for (int k = 0; k < 1 + rand() % 3; k++)
                b[rand() % (int)n] ^= (uint8_t)(1u << (rand() % 8));
        } else {
            len = (size_t)rand() % sizeof b;
            for (size_t i = 0; i < len; i++)
                b[i] = (uint8_t)rand();
            if (len > 1) b[0] = INTRO_TAG;
        }
        const char *why = NULL;
        if (intro_decode(b, len, &out, &why) < 0) {
            cr_assert_not_null(why);
            continue;
        }
        taken++;
        size_t m = intro_encode(&out, again);
        cr_assert_eq(m, len);
        cr_assert_eq(memcmp(again, b, len), 0);
    }
    cr_assert_gt(taken, 0);
}
