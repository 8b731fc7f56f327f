// SPDX-License-Identifier: MIT
// The holepuncher's session table: expiry, the cap, growth and deletion under load.
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

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
static void count_expired(void *ctx, const struct rph_session *id, const struct rph_store_entry *e)
{
    (void)ctx;
    cr_assert_gt(id->len, 0);
    cr_assert_eq(e->server.family, 4);
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

/* Doubling is spread over later calls: right after the put that starts it both tables exist,
 * and every session stays findable, refreshable and expirable, exactly once, until the old
 * table is drained and freed. */
Test(store, grow_is_incremental_and_loses_nothing)
{
    struct rph_store *s = rph_store_new(100000);
    size_t one_table = rph_store_memory(s);
    unsigned n = 0;
    /* fill until a put starts a grow: memory then holds two tables */
    size_t before = one_table;
    for (;; n++) {
        struct rph_session k = sess(n);
        struct rph_addr v = addr(n);
        cr_assert_eq(rph_store_put(s, &k, &v, (n % 3 == 0) ? 10000 : 50000), 1);
        size_t now = rph_store_memory(s);
        if (n > 40000 && now > before * 2) break; /* old (cap) + new (2 cap) */
        before = now;
    }
    n++;
    cr_assert_eq(rph_store_count(s), n);
    /* mid-grow: all there, with the right addresses */
    for (unsigned i = 0; i < n; i++) {
        struct rph_session k = sess(i);
        const struct rph_addr *a = rph_store_get(s, &k, 0);
        cr_assert_not_null(a, "session %u lost during the grow", i);
        cr_assert_eq(a->port, (uint16_t)i);
    }
    /* a refresh of a not yet moved session updates it, and does not count as new */
    struct rph_session k0 = sess(1);
    struct rph_addr moved = {.family = 4, .ip = {203, 0, 113, 9}, .port = 9999};
    cr_assert_eq(rph_store_put(s, &k0, &moved, 50000), 0);
    cr_assert_eq(rph_store_get(s, &k0, 0)->port, 9999);
    cr_assert_eq(rph_store_count(s), n);
    /* expiry across both tables: every third session, each reported once */
    expired_seen = 0;
    size_t total = 0;
    for (int round = 0; round < 200; round++) /* drain (1025 a call) and sweep laps */
        total += rph_store_expire(s, 10000, 4096, count_expired, NULL);
    unsigned want = (n + 2) / 3;
    cr_assert_eq(total, want);
    cr_assert_eq(expired_seen, (size_t)want);
    cr_assert_eq(rph_store_count(s), n - want);
    /* drained: one table again, and the survivors intact */
    cr_assert_lt(rph_store_memory(s), before * 2, "the old table was not freed");
    for (unsigned i = 0; i < n; i++) {
        struct rph_session k = sess(i);
        const struct rph_addr *a = rph_store_get(s, &k, 10000);
        if (i % 3 == 0)
            cr_assert_null(a, "expired session %u still there", i);
        else
            cr_assert_not_null(a, "session %u lost", i);
    }
    rph_store_free(s);
}

/* Random puts, refreshes, lookups and expiry sweeps over a pool of names, checked against a
 * plain array, through several grows (64 slots up to 16384) with sweeps landing mid-grow. */
enum { POOL = 8000 };
static struct {
    bool live;
    uint64_t expires_ms;
    uint16_t port;
} model[POOL];
static size_t model_live;

static void model_expired(void *ctx, const struct rph_session *id, const struct rph_store_entry *e)
{
    (void)e;
    uint64_t now = *(const uint64_t *)ctx;
    char name[RPH_SESSION_MAX + 1] = "";
    memcpy(name, id->id, id->len);
    unsigned j = 0;
    cr_assert_eq(sscanf(name, "s%u", &j), 1);
    cr_assert(j < POOL && model[j].live, "sweep removed %u, which is not live", j);
    cr_assert_geq(now / 1000, (model[j].expires_ms + 999) / 1000, "%u removed before its time", j);
    model[j].live = false;
    model_live--;
}

static bool model_valid(unsigned j, uint64_t now)
{
    return model[j].live && now / 1000 < (model[j].expires_ms + 999) / 1000;
}

Test(store, random_operations_match_a_model)
{
    memset(model, 0, sizeof model);
    model_live = 0;
    struct rph_store *s = rph_store_new(POOL);
    uint64_t now = 0, seed = 0x9e3779b97f4a7c15ull;
    unsigned sweeps = 0;
    for (unsigned step = 0; step < 200000; step++) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        uint64_t r = seed >> 17;
        /* a growing active range, so the table keeps doubling as the run goes */
        unsigned range = 64 + step / 20;
        unsigned i = (unsigned)(r % (range < POOL ? range : POOL));
        struct rph_session k = sess(i);
        switch ((r >> 40) % 8) {
        case 0:
        case 1:
        case 2: { /* put: new, or a refresh (an expired entry not yet swept is refreshed) */
            struct rph_addr v = addr(i);
            v.port = (uint16_t)(r >> 20);
            uint64_t exp = now + 1000 + (r >> 50) % 60000;
            int got = rph_store_put(s, &k, &v, exp);
            cr_assert_eq(got, model[i].live ? 0 : 1, "step %u: put %u gave %d", step, i, got);
            if (!model[i].live) model_live++;
            model[i].live = true;
            model[i].expires_ms = exp;
            model[i].port = v.port;
            break;
        }
        case 3: /* time passes and a sweep runs */
            now += (r >> 48) % 700;
            rph_store_expire(s, now, 256, model_expired, &now);
            if (++sweeps % 64 == 0) { /* now and then, everything */
                for (unsigned j = 0; j < POOL; j++) {
                    struct rph_session kj = sess(j);
                    struct rph_store_entry e;
                    bool in = rph_store_find(s, &kj, now, &e);
                    cr_assert_eq(in, model_valid(j, now), "step %u: session %u", step, j);
                    if (in) cr_assert_eq(e.server.port, model[j].port);
                }
            }
            break;
        default: { /* lookup */
            const struct rph_addr *a = rph_store_get(s, &k, now);
            cr_assert_eq(a != NULL, model_valid(i, now), "step %u: get %u", step, i);
            if (a) cr_assert_eq(a->port, model[i].port);
            break;
        }
        }
        cr_assert_eq(rph_store_count(s), model_live, "step %u: count %zu, model %zu", step,
                     rph_store_count(s), model_live);
    }
    cr_assert_gt(rph_store_memory(s), 16384 * 40, "the run never grew the table that far");
    rph_store_free(s);
}

/* A session that left the old table (moved by the drain or by a refresh) must never come back
 * from it: refreshed to expire sooner, swept from the new table while the old one still
 * exists, it is gone, and a new put of it is a new session. */
Test(store, nothing_returns_from_the_old_table)
{
    struct rph_store *s = rph_store_new(200000);
    unsigned n = 0;
    size_t before = rph_store_memory(s);
    for (;; n++) {
        struct rph_session k = sess(n);
        struct rph_addr v = addr(n);
        cr_assert_eq(rph_store_put(s, &k, &v, 50000), 1);
        size_t now = rph_store_memory(s);
        if (n > 40000 && now > before * 2) break;
        before = now;
    }
    n++;
    /* drain part of the old table, then refresh 500 sessions to expire at 10 s */
    for (unsigned i = 0; i < 2000; i++) {
        struct rph_session k = sess(i);
        struct rph_addr v = addr(i);
        cr_assert_eq(rph_store_put(s, &k, &v, i < 500 ? 10000 : 50000), 0);
    }
    size_t two_tables = rph_store_memory(s);
    cr_assert_gt(two_tables, before * 2, "the grow already finished; the test needs it running");
    /* a sweep of the whole new table (131072 slots) at 20 s drains 4097 old slots a call */
    expired_seen = 0;
    size_t removed = 0;
    for (int i = 0; i < 10; i++) /* a lap and a bit: removals do not advance the sweep */
        removed += rph_store_expire(s, 20000, 16384, count_expired, NULL);
    cr_assert_eq(rph_store_memory(s), two_tables, "the old table was drained: no window left");
    cr_assert_eq(removed, 500);
    for (unsigned i = 0; i < 500; i++) {
        struct rph_session k = sess(i);
        struct rph_store_entry e;
        cr_assert_null(rph_store_get(s, &k, 20000), "session %u came back", i);
        cr_assert_not(rph_store_find(s, &k, 20000, &e), "session %u came back", i);
    }
    for (unsigned i = 0; i < 500; i++) {
        struct rph_session k = sess(i);
        struct rph_addr v = addr(i);
        cr_assert_eq(rph_store_put(s, &k, &v, 60000), 1, "session %u was not new", i);
    }
    cr_assert_eq(rph_store_count(s), n);
    rph_store_free(s);
}
