// SPDX-License-Identifier: MIT
// The holepuncher's session table: expiry, the cap, growth and deletion under load.
#include <criterion/criterion.h>
#include <stdio.h>

#include "ruphin/error.h"
#include "ruphin/store.h"

static struct rph_session sess(unsigned i)
{
    char id[21];
    int n = snprintf(id, sizeof id, "s%u", i);
    struct rph_session s;
    rph_session_set(&s, id, (size_t)n);
    return s;
}

static struct rph_addr addr(unsigned i)
{
    struct rph_addr a = {
        .family = 4, .ip = {198, 51, 100, (uint8_t)(i & 0xff)}, .port = (uint16_t)i};
    return a;
}

Test(store, put_get_refresh)
{
    struct rph_store *s = rph_store_new(10);
    struct rph_session a = sess(1);
    struct rph_addr x = addr(1), y = addr(2);
    cr_assert_eq(rph_store_put(s, &a, &x, 1000), 1);
    cr_assert(rph_addr_equal(rph_store_get(s, &a, 0), &x));
    cr_assert_eq(rph_store_put(s, &a, &y, 2000), 0);
    cr_assert(rph_addr_equal(rph_store_get(s, &a, 1500), &y));
    cr_assert_eq(rph_store_count(s), 1);
    struct rph_session none = sess(99);
    cr_assert_null(rph_store_get(s, &none, 0));
    rph_store_free(s);
}

Test(store, sessions_expire_at_their_deadline)
{
    struct rph_store *s = rph_store_new(100);
    for (unsigned i = 0; i < 50; i++) {
        struct rph_session k = sess(i);
        struct rph_addr v = addr(i);
        rph_store_put(s, &k, &v, i < 25 ? 1000 : 5000);
    }
    struct rph_session k0 = sess(0), k30 = sess(30);
    cr_assert_not_null(rph_store_get(s, &k0, 999));
    cr_assert_null(rph_store_get(s, &k0, 1000), "expired session still visible");
    cr_assert_eq(rph_store_expire(s, 1000, 1 << 20, NULL, NULL), 25);
    cr_assert_eq(rph_store_count(s), 25);
    cr_assert_not_null(rph_store_get(s, &k30, 1000));
    /* every survivor is still reachable after backward-shift deletions */
    for (unsigned i = 25; i < 50; i++) {
        struct rph_session k = sess(i);
        struct rph_addr v = addr(i);
        const struct rph_addr *got = rph_store_get(s, &k, 1000);
        cr_assert_not_null(got, "session %u lost", i);
        cr_assert(rph_addr_equal(got, &v));
    }
    rph_store_free(s);
}

Test(store, never_grows_past_max_sessions)
{
    struct rph_store *s = rph_store_new(3);
    for (unsigned i = 0; i < 3; i++) {
        struct rph_session k = sess(i);
        struct rph_addr v = addr(i);
        cr_assert_eq(rph_store_put(s, &k, &v, 100), 1);
    }
    struct rph_session k = sess(3);
    struct rph_addr v = addr(3);
    cr_assert_eq(rph_store_put(s, &k, &v, 100), RPH_E_FULL);
    /* an existing session may still refresh when full */
    struct rph_session k1 = sess(1);
    cr_assert_eq(rph_store_put(s, &k1, &v, 200), 0);
    cr_assert_eq(rph_store_count(s), 3);
    rph_store_expire(s, 1000, 1000, NULL, NULL);
    cr_assert_eq(rph_store_put(s, &k, &v, 3000), 1, "room after expiry");
    rph_store_free(s);
}

static size_t expired_seen;
static void count_expired(void *ctx, const struct rph_session *id, const struct rph_addr *a)
{
    (void)ctx;
    cr_assert_gt(id->len, 0);
    cr_assert_eq(a->family, 4);
    expired_seen++;
}

Test(store, many_sessions_churn)
{
    struct rph_store *s = rph_store_new(200000);
    for (unsigned i = 0; i < 100000; i++) {
        struct rph_session k = sess(i);
        struct rph_addr v = addr(i);
        cr_assert_eq(rph_store_put(s, &k, &v, (i % 2) ? 10000 : 20000), 1);
    }
    cr_assert_eq(rph_store_count(s), 100000);
    expired_seen = 0;
    size_t total = 0;
    for (int round = 0; round < 64 && rph_store_count(s) > 50000; round++)
        total += rph_store_expire(s, 10000, 65536, count_expired, NULL);
    cr_assert_eq(total, 50000);
    cr_assert_eq(expired_seen, 50000);
    for (unsigned i = 0; i < 100000; i += 2) {
        struct rph_session k = sess(i);
        cr_assert_not_null(rph_store_get(s, &k, 10000), "session %u lost", i);
    }
    /* one flat table: a bounded cost per session, whatever the power-of-two rounding */
    cr_assert_leq(rph_store_memory(s) / 100000, 140);
    rph_store_free(s);
}

Test(store, sealed_entries_keep_their_flag_and_timestamp)
{
    struct rph_store *s = rph_store_new(10);
    struct rph_session k = sess(7);
    struct rph_store_entry e = {.server = addr(7), .sealed = true, .ts_s = 1764000000}, got;
    cr_assert_eq(rph_store_put_entry(s, &k, &e, 60000), 1);
    cr_assert(rph_store_find(s, &k, 0, &got));
    cr_assert(got.sealed);
    cr_assert_eq(got.ts_s, 1764000000u);
    cr_assert(rph_addr_equal(&got.server, &e.server));
    cr_assert_not(rph_store_find(s, &k, 60000, &got), "expired entry found");
    rph_store_free(s);
}
