// SPDX-License-Identifier: MIT
// The address verdict (tag 0x03, src/tun/announce.c and verdict.c): its one encoding, every
// malformation refused, and which verdict each policy answer means.
#include <criterion/criterion.h>
#include <string.h>

#include "../src/tun/announce.h"
#include "../src/tun/verdict.h"

static const struct verdict held4 = {
    .reason = VERDICT_HELD, .family = 4, .prefix = 24, .addr = {10, 77, 0, 2}};
static const struct verdict ok6 = {
    .reason = VERDICT_ACCEPTED, .family = 6, .prefix = 64, .addr = {0xfd, 0x77, [15] = 2}};

Test(verdict, round_trip_v4_and_v6)
{
    uint8_t b[VERDICT_LEN];
    struct verdict d;
    cr_assert_eq(verdict_encode(&held4, b), VERDICT_LEN);
    const uint8_t want[VERDICT_LEN] = {0x03, 0x01, 0x01, 0x04, 24, 10, 77, 0, 2};
    cr_assert_eq(memcmp(b, want, sizeof want), 0, "the bytes differ from docs/PROTOCOL.md");
    cr_assert_eq(verdict_decode(b, sizeof b, &d), 0);
    cr_assert_eq(memcmp(&d, &held4, sizeof d), 0);
    cr_assert_eq(verdict_encode(&ok6, b), VERDICT_LEN);
    cr_assert_eq(verdict_decode(b, sizeof b, &d), 0);
    cr_assert_eq(memcmp(&d, &ok6, sizeof d), 0);
    for (uint8_t r = 0; r <= VERDICT_REASON_MAX; r++) {
        struct verdict v = held4;
        v.reason = r;
        verdict_encode(&v, b);
        cr_assert_eq(verdict_decode(b, sizeof b, &d), 0, "reason %u refused", r);
        cr_assert_eq(d.reason, r);
    }
}

Test(verdict, every_malformation_is_refused)
{
    uint8_t b[VERDICT_LEN + 1], c[VERDICT_LEN];
    struct verdict d;
    verdict_encode(&held4, b);
    memcpy(c, b, VERDICT_LEN);
    cr_assert_eq(verdict_decode(b, VERDICT_LEN - 1, &d), -1, "short accepted");
    b[VERDICT_LEN] = 0;
    cr_assert_eq(verdict_decode(b, VERDICT_LEN + 1, &d), -1, "long accepted");
    cr_assert_eq(verdict_decode(b, 0, &d), -1, "empty accepted");
    struct {
        size_t at;
        uint8_t v;
        const char *what;
    } bad[] = {
        {0, 0x01, "the announcement's tag"},
        {0, 0x02, "another tag"},
        {1, 0x00, "version 0"},
        {1, 0x02, "version 2"},
        {2, VERDICT_REASON_MAX + 1, "an unknown reason"},
        {2, 0xff, "reason 255"},
        {3, 0, "family 0"},
        {3, 5, "family 5"},
        {4, 33, "IPv4 prefix 33"},
        {9, 1, "IPv4 with padding bytes set"},
        {20, 1, "IPv4 with the last padding byte set"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        memcpy(b, c, VERDICT_LEN);
        b[bad[i].at] = bad[i].v;
        cr_assert_eq(verdict_decode(b, VERDICT_LEN, &d), -1, "%s accepted", bad[i].what);
    }
    verdict_encode(&ok6, b);
    b[4] = 129;
    cr_assert_eq(verdict_decode(b, VERDICT_LEN, &d), -1, "IPv6 prefix 129 accepted");
    b[4] = 128;
    cr_assert_eq(verdict_decode(b, VERDICT_LEN, &d), 0, "IPv6 prefix 128 refused");
}

Test(verdict, any_byte_changed_is_refused_or_reencodes_the_same)
{
    /* Strict: whatever decodes has exactly one encoding, the bytes it came from. */
    uint8_t b[VERDICT_LEN], out[VERDICT_LEN];
    struct verdict d;
    for (size_t at = 0; at < VERDICT_LEN; at++)
        for (unsigned v = 0; v < 256; v++) {
            verdict_encode(&held4, b);
            b[at] = (uint8_t)v;
            if (verdict_decode(b, sizeof b, &d) < 0) continue;
            verdict_encode(&d, out);
            cr_assert_eq(memcmp(out, b, sizeof b), 0, "byte %zu = %u decodes non-canonically", at,
                         v);
        }
}

Test(verdict, the_policy_answer_names_the_reason_and_address)
{
    struct announce a = {.has4 = true, .addr4 = {10, 77, 0, 2}, .prefix4 = 24};
    struct policy_ann_result res = {.family = 4, .addr = {10, 77, 0, 2}, .prefix = 24};
    struct verdict v;
    verdict_of(POLICY_ANN_HELD, &a, &res, &v);
    cr_assert_eq(v.reason, VERDICT_HELD);
    cr_assert_eq(memcmp(&v, &held4, sizeof v), 0);
    verdict_of(POLICY_ANN_FOREIGN, &a, &res, &v);
    cr_assert_eq(v.reason, VERDICT_OUTSIDE);
    res.own = true;
    verdict_of(POLICY_ANN_FOREIGN, &a, &res, &v);
    cr_assert_eq(v.reason, VERDICT_SERVERS);
    memset(&res, 0, sizeof res);
    verdict_of(POLICY_ANN_NEW, &a, &res, &v);
    cr_assert_eq(v.reason, VERDICT_ACCEPTED);
    cr_assert_eq(v.family, 4);
    cr_assert_eq(v.prefix, 24);
    cr_assert_eq(memcmp(v.addr, a.addr4, 4), 0);
    struct announce six = {.has6 = true, .addr6 = {0xfd, 0x77, [15] = 2}, .prefix6 = 64};
    verdict_of(POLICY_ANN_SAME, &six, &res, &v);
    cr_assert_eq(memcmp(&v, &ok6, sizeof v), 0, "a repeated acceptance differs");
    char s[64];
    cr_assert_str_eq(verdict_addr_str(&held4, s, sizeof s), "10.77.0.2/24");
    cr_assert_str_eq(verdict_addr_str(&ok6, s, sizeof s), "fd77::2/64");
    cr_assert_str_eq(verdict_reason_str(VERDICT_HELD), "held by another member");
    cr_assert_str_eq(verdict_reason_str(VERDICT_OUTSIDE), "outside the server's subnet");
    cr_assert_str_eq(verdict_reason_str(VERDICT_SERVERS), "the server's own address");
    cr_assert_str_eq(verdict_reason_str(VERDICT_ACCEPTED), "accepted");
}
