// SPDX-License-Identifier: MIT
// Per-source token buckets: a source's rate is bounded whatever other sources send, and an
// IPv6 source is its /64.
#include <criterion/criterion.h>
#include <string.h>

#include "../src/core/token_bucket.h"

static struct token_bucket tb;

static struct rph_addr v4(uint32_t ip, uint16_t port)
{
    struct rph_addr a = {.family = 4, .port = port};
    a.ip[0] = (uint8_t)(ip >> 24), a.ip[1] = (uint8_t)(ip >> 16);
    a.ip[2] = (uint8_t)(ip >> 8), a.ip[3] = (uint8_t)ip;
    return a;
}

Test(token_bucket, a_source_gets_its_burst_then_its_rate)
{
    tb_init(&tb, 20, 40);
    struct rph_addr a = v4(0xcb007101, 1);
    int ok = 0;
    for (int i = 0; i < 100; i++)
        ok += tb_take(&tb, &a, 5000);
    cr_assert_eq(ok, 40);
    ok = 0;
    for (uint64_t t = 5000; t < 6000; t += 10)
        ok += tb_take(&tb, &a, t + 10);
    cr_assert_eq(ok, 20, "one second at 20/s gave %d", ok);
}

/* The attack of issue 11: one address interleaved with requests from 8,192 spoofed sources.
 * A bucket handed to a newcomer used to start full, so the real source kept finding a fresh
 * burst; now whoever shares its bucket only spends the same budget. */
Test(token_bucket, interleaved_spoofed_sources_never_raise_a_sources_rate)
{
    const uint32_t rate = 20, burst = 40;
    tb_init(&tb, rate, burst);
    struct rph_addr real = v4(0xc6336401, 40000);
    uint32_t rng = 12345;
    int ok = 0;
    const uint64_t t0 = 1000000, secs = 50;
    for (uint64_t t = t0; t < t0 + secs * 1000; t++) { /* 1000 requests a second */
        for (int k = 0; k < 8; k++) {
            rng = rng * 1103515245u + 12345u;
            struct rph_addr spoofed = v4(0x0a000000u | (rng >> 19), (uint16_t)rng);
            tb_take(&tb, &spoofed, t); /* 8,192 sources: 10.0.0.0 + 13 random bits */
        }
        ok += tb_take(&tb, &real, t);
    }
    cr_assert_leq(ok, (int)(rate * secs + burst), "%d of %llu requests passed, bound %u", ok,
                  (unsigned long long)(secs * 1000), rate * (uint32_t)secs + burst);
}

Test(token_bucket, an_ipv6_source_is_its_slash_64)
{
    tb_init(&tb, 1, 5);
    struct rph_addr a = {.family = 6, .ip = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 1}, .port = 1};
    int ok = 0;
    for (int i = 0; i < 50; i++) {
        struct rph_addr b = a;
        b.ip[15] = (uint8_t)i; /* another address of the same /64 each time */
        b.ip[9] = (uint8_t)(i * 7);
        ok += tb_take(&tb, &b, 1000);
    }
    cr_assert_eq(ok, 5, "a /64 got %d tokens from a burst of 5", ok);
    struct rph_addr other = a;
    other.ip[7] = 2; /* the next /64 */
    cr_assert_neq(tb_index(&tb, &other), tb_index(&tb, &a));
    cr_assert(tb_take(&tb, &other, 1000));
}

Test(token_bucket, zero_rate_is_no_limit)
{
    tb_init(&tb, 0, 0);
    struct rph_addr a = v4(1, 1);
    for (int i = 0; i < 1000; i++)
        cr_assert(tb_take(&tb, &a, 0));
}
