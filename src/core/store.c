// SPDX-License-Identifier: MIT
// The holepuncher's session table: open addressing with linear probing and backward-shift
// deletion, so a million sessions cost one flat array and no per-session allocation.
#include "ruphin/store.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "ruphin/error.h"

/* 52 bytes: at a million sessions (2^21 slots, load <= 3/4) about 110 bytes a session. */
struct slot {
    uint32_t expires_s; /* seconds of the caller's clock, rounded up */
    uint32_t ts_s;
    struct rph_addr addr;
    struct rph_session id;
    uint8_t used;  /* SLOT_USED, | SLOT_SEALED, | SLOT_NODE, | the round trip's class << 4 */
    uint16_t node; /* SLOT_NODE: the server's node tag (in what was padding) */
};
_Static_assert(sizeof(struct slot) == 52, "a session slot grew: the memory figures change");

#define SLOT_USED 1
#define SLOT_SEALED 2
#define SLOT_DEAD 4      /* old table only: moved or gone; probes go on past it */
#define SLOT_NODE 8      /* the Register named its node */
#define SLOT_RTT_SHIFT 4 /* the high 4 bits: the server's round trip (rph_store_rtt_class) */

/* The values of the classes 1..15: ratio 1.5 from 1 ms to 474 ms (a punch delay is half a
 * difference of round trips, bounded at 500 ms). A value is within 25% of what it stands for,
 * and the window a timed punch must hit is as wide as half the sum of the round trips. */
static const uint16_t rtt_classes[16] = {0,  1,  2,  4,  6,   9,   13,  19,
                                         28, 42, 63, 94, 141, 211, 316, 474};

uint8_t rph_store_rtt_class(uint16_t rtt_ms)
{
    if (rtt_ms == 0) return 0;
    /* Nearest by ratio: past the geometric mean of two neighbours, the higher one. */
    uint8_t best = 1;
    uint32_t sq = (uint32_t)rtt_ms * rtt_ms;
    while (best < 15 && sq >= (uint32_t)rtt_classes[best] * rtt_classes[best + 1])
        best++;
    return best;
}

uint16_t rph_store_rtt_value(uint8_t cls)
{
    return rtt_classes[cls & 15];
}

static uint32_t to_s_up(uint64_t ms)
{
    uint64_t s = (ms + 999) / 1000;
    return s > UINT32_MAX ? UINT32_MAX : (uint32_t)s;
}

static bool expired(const struct slot *sl, uint64_t now_ms)
{
    return now_ms / 1000 >= sl->expires_s;
}

struct rph_store {
    struct slot *slots;
    size_t cap; /* power of two */
    size_t count;
    size_t max;
    size_t sweep;  /* where the next expiry sweep resumes */
    uint64_t seed; /* keyed hash: a sender cannot aim sessions at one bucket */
    /* A grow in progress: the previous table, drained into slots from index mig onward a few
     * entries per put and per expiry sweep, so that doubling a table of a million sessions is
     * not one 80 ms stall. Nothing is inserted into it any more; entries leaving it are only
     * marked dead, so its probe runs stay intact. A session lives in one table only. */
    struct slot *old;
    size_t ocap, mig;
};

static uint64_t hash_session(const struct rph_store *s, const struct rph_session *id)
{
    uint64_t h = 1469598103934665603ull ^ s->seed;
    for (size_t i = 0; i < id->len; i++)
        h = (h ^ id->id[i]) * 1099511628211ull;
    h ^= id->len;
    h ^= h >> 29;
    h *= 0xbf58476d1ce4e5b9ull;
    h ^= h >> 32;
    return h;
}

static struct slot *alloc_slots(size_t cap)
{
    return calloc(cap, sizeof(struct slot));
}

struct rph_store *rph_store_new(size_t max_sessions)
{
    struct rph_store *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->cap = 64;
    s->slots = alloc_slots(s->cap);
    if (!s->slots) {
        free(s);
        return NULL;
    }
    s->max = max_sessions;
    if (getrandom(&s->seed, sizeof s->seed, 0) != sizeof s->seed) s->seed = (uint64_t)(uintptr_t)s;
    return s;
}

void rph_store_free(struct rph_store *s)
{
    if (!s) return;
    free(s->old);
    free(s->slots);
    free(s);
}

void rph_store_set_max(struct rph_store *s, size_t max_sessions)
{
    s->max = max_sessions;
}

/* Index of the slot holding id, or of the empty slot where it would go. */
static size_t probe(const struct rph_store *s, const struct rph_session *id, bool *found)
{
    size_t mask = s->cap - 1;
    size_t i = (size_t)hash_session(s, id) & mask;
    while (s->slots[i].used) {
        if (rph_session_equal(&s->slots[i].id, id)) {
            *found = true;
            return i;
        }
        i = (i + 1) & mask;
    }
    *found = false;
    return i;
}

/* Index of id's live slot in the old table, or SIZE_MAX. */
static size_t probe_old(const struct rph_store *s, const struct rph_session *id)
{
    if (!s->old) return SIZE_MAX;
    size_t mask = s->ocap - 1;
    size_t i = (size_t)hash_session(s, id) & mask;
    while (s->old[i].used) {
        if (!(s->old[i].used & SLOT_DEAD) && rph_session_equal(&s->old[i].id, id)) return i;
        i = (i + 1) & mask;
    }
    return SIZE_MAX;
}

/* Moves up to n slots' worth of the old table into the new one; frees it when drained. */
static void migrate(struct rph_store *s, size_t n)
{
    while (s->old && n--) {
        struct slot *o = &s->old[s->mig];
        if (o->used && !(o->used & SLOT_DEAD)) {
            bool found;
            size_t j = probe(s, &o->id, &found); /* never found: one table per session */
            s->slots[j] = *o;
            o->used |= SLOT_DEAD;
        }
        if (++s->mig == s->ocap) {
            free(s->old);
            s->old = NULL;
            s->ocap = s->mig = 0;
        }
    }
}

/* Starts doubling: a fresh table takes the inserts, the current one becomes the old one. */
static int grow(struct rph_store *s)
{
    if (s->old) migrate(s, s->ocap - s->mig); /* the previous grow must end first */
    struct slot *n = alloc_slots(s->cap * 2);
    if (!n) return -ENOMEM;
    s->old = s->slots;
    s->ocap = s->cap;
    s->mig = 0;
    s->slots = n;
    s->cap *= 2;
    s->sweep = 0;
    return 0;
}

/* The live slot holding id in either table, or NULL. */
static const struct slot *lookup(const struct rph_store *s, const struct rph_session *id)
{
    bool found;
    size_t i = probe(s, id, &found);
    if (found) return &s->slots[i];
    size_t o = probe_old(s, id);
    return o == SIZE_MAX ? NULL : &s->old[o];
}

static void fill(struct slot *sl, const struct rph_store_entry *e, uint64_t expires_ms)
{
    sl->addr = e->server;
    sl->ts_s = e->ts_s;
    sl->node = e->node;
    sl->expires_s = to_s_up(expires_ms);
    sl->used = (uint8_t)(SLOT_USED | (e->sealed ? SLOT_SEALED : 0) | (e->has_node ? SLOT_NODE : 0) |
                         rph_store_rtt_class(e->rtt_ms) << SLOT_RTT_SHIFT);
}

int rph_store_put(struct rph_store *s, const struct rph_session *id, const struct rph_addr *server,
                  uint64_t expires_ms)
{
    struct rph_store_entry e = {.server = *server};
    return rph_store_put_entry(s, id, &e, expires_ms);
}

int rph_store_put_entry(struct rph_store *s, const struct rph_session *id,
                        const struct rph_store_entry *e, uint64_t expires_ms)
{
    migrate(s, 8); /* a grow drains about 6 entries per put (load <= 3/4) */
    bool found;
    size_t i = probe(s, id, &found);
    if (found) {
        fill(&s->slots[i], e, expires_ms);
        return 0;
    }
    size_t o = probe_old(s, id);
    if (o != SIZE_MAX) { /* a refresh moves it over now */
        s->slots[i] = s->old[o];
        s->old[o].used |= SLOT_DEAD;
        fill(&s->slots[i], e, expires_ms);
        return 0;
    }
    if (s->count >= s->max) return RPH_E_FULL;
    /* Keep the load factor at or below 3/4 so probes stay short. */
    if ((s->count + 1) * 4 > s->cap * 3) {
        int r = grow(s);
        if (r < 0) return r;
        i = probe(s, id, &found);
    }
    struct slot *sl = &s->slots[i];
    sl->id = *id;
    fill(sl, e, expires_ms);
    s->count++;
    return 1;
}

const struct rph_addr *rph_store_get(const struct rph_store *s, const struct rph_session *id,
                                     uint64_t now_ms)
{
    const struct slot *sl = lookup(s, id);
    if (!sl || expired(sl, now_ms)) return NULL;
    return &sl->addr;
}

static void entry_of(const struct slot *sl, struct rph_store_entry *out)
{
    out->server = sl->addr;
    out->sealed = (sl->used & SLOT_SEALED) != 0;
    out->ts_s = sl->ts_s;
    out->has_node = (sl->used & SLOT_NODE) != 0;
    out->node = sl->node;
    out->rtt_ms = rph_store_rtt_value((uint8_t)(sl->used >> SLOT_RTT_SHIFT));
}

bool rph_store_find(const struct rph_store *s, const struct rph_session *id, uint64_t now_ms,
                    struct rph_store_entry *out)
{
    const struct slot *sl = lookup(s, id);
    if (!sl || expired(sl, now_ms)) return false;
    entry_of(sl, out);
    return true;
}

bool rph_store_peek(const struct rph_store *s, const struct rph_session *id,
                    struct rph_store_entry *out)
{
    const struct slot *sl = lookup(s, id);
    if (!sl) return false;
    entry_of(sl, out);
    return true;
}

/* Backward-shift deletion: later members of the probe run move up, so no tombstones pile up. */
static void remove_at(struct rph_store *s, size_t i)
{
    size_t mask = s->cap - 1;
    size_t j = i;
    for (;;) {
        j = (j + 1) & mask;
        if (!s->slots[j].used) break;
        size_t home = (size_t)hash_session(s, &s->slots[j].id) & mask;
        /* Move j into the hole i unless its home lies cyclically in (i, j]. */
        bool between = i <= j ? (home > i && home <= j) : (home > i || home <= j);
        if (!between) {
            s->slots[i] = s->slots[j];
            i = j;
        }
    }
    memset(&s->slots[i], 0, sizeof s->slots[i]);
    s->count--;
}

size_t rph_store_expire(struct rph_store *s, uint64_t now_ms, size_t budget, rph_store_expire_fn fn,
                        void *ctx)
{
    /* A grow in progress drains a quarter budget per sweep too; expired entries are found
     * once they are in the new table. */
    migrate(s, budget / 4 + 1);
    size_t removed = 0;
    size_t visited = 0, advanced = 0;
    /* One full lap at most; a removal does not advance (an entry may shift into the hole). */
    while (visited < budget && advanced < s->cap && s->count > 0) {
        size_t i = s->sweep;
        struct slot *sl = &s->slots[i];
        if (sl->used && expired(sl, now_ms)) {
            if (fn) {
                struct rph_session id = sl->id;
                struct rph_store_entry e;
                entry_of(sl, &e);
                fn(ctx, &id, &e);
            }
            remove_at(s, i);
            removed++;
            /* An entry may have shifted into i: look at it again. */
        } else {
            s->sweep = (s->sweep + 1) & (s->cap - 1);
            advanced++;
        }
        visited++;
    }
    return removed;
}

size_t rph_store_count(const struct rph_store *s)
{
    return s->count;
}

size_t rph_store_memory(const struct rph_store *s)
{
    return sizeof *s + (s->cap + s->ocap) * sizeof(struct slot);
}
