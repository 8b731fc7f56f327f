// SPDX-License-Identifier: MIT
// The port mapping's timing (src/tun/portmap_sm.c), with the time passed in: ask at once, give an
// unanswered exchange 2 s, retry failures 30 s doubling to 10 min, renew at half the lifetime,
// keep a mapping through failed renewals until it expires.
#include <criterion/criterion.h>

#include "../src/tun/portmap_sm.h"

#define T0 1000000ull

Test(portmap_sm, asks_at_once_and_times_out_after_2_s)
{
    struct portmap_sm s;
    portmap_sm_init(&s, T0);
    cr_assert_eq(portmap_sm_tick(&s, T0), PORTMAP_ASK);
    cr_assert_eq(s.state, PORTMAP_ASKING);
    cr_assert_eq(portmap_sm_tick(&s, T0 + 1999), PORTMAP_NOTHING);
    cr_assert_eq(portmap_sm_tick(&s, T0 + 2000), PORTMAP_TIMEOUT);
    portmap_sm_failed(&s, T0 + 2000);
    cr_assert_eq(s.state, PORTMAP_IDLE);
    cr_assert_eq(s.next_ms, T0 + 2000 + 30000);
    cr_assert_eq(s.failures, 1);
    cr_assert_not(portmap_sm_mapped(&s));
}

Test(portmap_sm, failures_back_off_doubling_to_ten_minutes)
{
    struct portmap_sm s;
    portmap_sm_init(&s, T0);
    uint64_t now = T0;
    uint64_t want[] = {30000, 60000, 120000, 240000, 480000, 600000, 600000};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        cr_assert_eq(portmap_sm_tick(&s, now), PORTMAP_ASK, "attempt %zu", i);
        portmap_sm_failed(&s, now + 5); /* an error answer, quickly */
        cr_assert_eq(s.next_ms - (now + 5), want[i], "wait after failure %zu", i);
        cr_assert_eq(portmap_sm_tick(&s, s.next_ms - 1), PORTMAP_NOTHING);
        now = s.next_ms;
    }
}

Test(portmap_sm, renews_at_half_the_lifetime_and_tells_what_changed)
{
    struct portmap_sm s;
    portmap_sm_init(&s, T0);
    cr_assert_eq(portmap_sm_tick(&s, T0), PORTMAP_ASK);
    cr_assert(portmap_sm_granted(&s, T0 + 10, 0x010203cb, 40000, 7200));
    cr_assert(portmap_sm_mapped(&s));
    cr_assert_eq(s.mapped, 1);
    cr_assert_eq(s.next_ms, T0 + 10 + 3600000);
    cr_assert_eq(s.expires_ms, T0 + 10 + 7200000);
    cr_assert_eq(portmap_sm_tick(&s, T0 + 3600000), PORTMAP_NOTHING);
    cr_assert_eq(portmap_sm_tick(&s, T0 + 10 + 3600000), PORTMAP_ASK);
    cr_assert_eq(s.state, PORTMAP_RENEWING);
    cr_assert(portmap_sm_mapped(&s), "a renewal in flight keeps the mapping");
    /* The same endpoint again: a renewal, nothing new to offer. */
    cr_assert_not(portmap_sm_granted(&s, T0 + 3600100, 0x010203cb, 40000, 7200));
    cr_assert_eq(s.renewals, 1);
    /* The router gave another port: changed. */
    cr_assert_eq(portmap_sm_tick(&s, s.next_ms), PORTMAP_ASK);
    cr_assert(portmap_sm_granted(&s, s.next_ms, 0x010203cb, 40001, 7200));
    cr_assert_eq(s.ext_port, 40001);
}

Test(portmap_sm, failed_renewals_keep_the_mapping_until_it_expires)
{
    struct portmap_sm s;
    portmap_sm_init(&s, T0);
    portmap_sm_tick(&s, T0);
    portmap_sm_granted(&s, T0, 0x010203cb, 40000, 100); /* 100 s */
    uint64_t now = s.next_ms;                           /* T0 + 50 s */
    cr_assert_eq(now, T0 + 50000);
    int tries = 0;
    while (portmap_sm_mapped(&s) && tries < 50) {
        cr_assert_eq(portmap_sm_tick(&s, now), PORTMAP_ASK);
        now += PORTMAP_ASK_TIMEOUT_MS;
        cr_assert_eq(portmap_sm_tick(&s, now), PORTMAP_TIMEOUT);
        portmap_sm_failed(&s, now);
        tries++;
        if (portmap_sm_mapped(&s)) {
            cr_assert_lt(s.next_ms, s.expires_ms, "the next renewal comes before the end");
            now = s.next_ms;
        }
    }
    cr_assert_not(portmap_sm_mapped(&s), "a mapping that could not be renewed stays forever");
    cr_assert_geq(tries, 3, "only %d renewals tried", tries);
    cr_assert_geq(now + 1000, T0 + 100000, "given up at %llu ms, before the expiry",
                  (unsigned long long)(now - T0));
    cr_assert_eq(s.ext_port, 0);
    cr_assert_eq(s.next_ms, now + 30000, "then a fresh attempt after 30 s");
}

Test(portmap_sm, a_tiny_lifetime_is_not_renewed_more_than_once_a_second)
{
    struct portmap_sm s;
    portmap_sm_init(&s, T0);
    portmap_sm_tick(&s, T0);
    portmap_sm_granted(&s, T0, 0x010203cb, 40000, 1);
    cr_assert_eq(s.next_ms, T0 + 1000);
}
