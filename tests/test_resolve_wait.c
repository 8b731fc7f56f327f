// SPDX-License-Identifier: MIT
// ruphin-tund's wait for the holepuncher's name at start: the retry schedule (1 s doubling to
// 60 s, time passed in) and the event-loop wait ending once the name resolves.
#include <criterion/criterion.h>

#include <errno.h>
#include <string.h>

#include "../src/tun/resolve_wait.h"
#include "ruphin/clock.h"

Test(resolve_wait, the_schedule_doubles_from_1_s_to_60_s)
{
    struct backoff b;
    backoff_init(&b, RESOLVE_FIRST_MS, RESOLVE_MAX_MS);
    const uint32_t want[] = {1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000, 60000};
    uint64_t now = 5000; /* any clock: only differences count */
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        uint32_t d = backoff_failed(&b, now);
        cr_assert_eq(d, want[i], "failure %zu: delay %u, want %u", i + 1, d, want[i]);
        cr_assert_eq(b.failures, i + 1);
        cr_assert_eq(b.due_ms, now + want[i]);
        cr_assert_eq(b.since_ms, 5000, "since stays at the first failure");
        now = b.due_ms + 7; /* the retry runs a little late and fails again */
    }
}

Test(resolve_wait, the_cap_holds_for_any_first_delay)
{
    struct backoff b;
    backoff_init(&b, 700, 5000);
    const uint32_t want[] = {700, 1400, 2800, 5000, 5000};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        cr_assert_eq(backoff_failed(&b, 0), want[i]);
    /* A first delay above the cap is capped too, and a huge cap does not overflow. */
    backoff_init(&b, 9000, 5000);
    cr_assert_eq(backoff_failed(&b, 0), 5000);
    backoff_init(&b, 3000000000u, UINT32_MAX);
    cr_assert_eq(backoff_failed(&b, 0), 3000000000u);
    cr_assert_eq(backoff_failed(&b, 0), UINT32_MAX);
}

/* A name that failed at start and resolves at the first retry: the wait ends with the address,
 * one retry (about a second) later. "localhost" comes from /etc/hosts: no resolver is asked. */
Test(resolve_wait, ends_when_the_name_resolves)
{
    struct tund_config c;
    memset(&c, 0, sizeof c);
    strcpy(c.holepuncher, "localhost:7700");
    c.holepuncher_pending = true;
    strcpy(c.holepuncher_why, "Temporary failure in name resolution");
    struct event_base *base = event_base_new();
    cr_assert_not_null(base);
    struct errmsg err = {""};
    uint64_t t0 = rph_now_ms();
    int rc = resolve_wait(base, &c, &err);
    uint64_t took = rph_now_ms() - t0;
    event_base_free(base);
    cr_assert_eq(rc, 0, "%d %s", rc, err.msg);
    cr_assert(!c.holepuncher_pending);
    cr_assert_neq(c.holepuncher_addr.family, 0);
    cr_assert_eq(c.holepuncher_addr.port, 7700);
    cr_log_info("resolved at the first retry after %llu ms", (unsigned long long)took);
    cr_assert(took >= 900 && took < 10000, "took %llu ms, want the first retry at 1 s",
              (unsigned long long)took);
}

/* A name that resolves to the unspecified address is a config error, not a retry. */
Test(resolve_wait, a_bad_address_ends_the_wait_with_an_error)
{
    struct tund_config c;
    memset(&c, 0, sizeof c);
    strcpy(c.holepuncher, "0.0.0.0:7700"); /* numeric, but left unparsed as a name would be */
    c.holepuncher_pending = true;
    struct event_base *base = event_base_new();
    struct errmsg err = {""};
    int rc = resolve_wait(base, &c, &err);
    event_base_free(base);
    cr_assert_eq(rc, -EINVAL, "%d %s", rc, err.msg);
    cr_assert(strstr(err.msg, "unspecified address"), "%s", err.msg);
}
