// SPDX-License-Identifier: MIT
// The event peer's send queue: trains formed and cut where UDP GSO needs it, every datagram
// delivered intact and in order over loopback, plaintext and sealed, with and without GSO.
#include <criterion/criterion.h>
#include <event2/event.h>
#include <stdint.h>
#include <string.h>

#include "ruphin/be.h"
#include "ruphin/clock.h"
#include "ruphin/error.h"
#include "ruphin/ev.h"

#define MAX_REPORTS 64
#define MAX_GOT 512

struct client {
    struct rph_ev_peer *ep;
    bool connected;
    uint32_t got[MAX_GOT]; /* sequence numbers in arrival order */
    size_t got_len[MAX_GOT];
    size_t n_got;
    bool corrupt; /* a payload whose bytes were not what its sender wrote */
};

struct world {
    struct event_base *base;
    struct rph_ev_holepuncher *hp;
    struct rph_ev_peer *server;
    int server_ups;
    struct client a, b;
    struct rph_ev_sent reports[MAX_REPORTS];
    size_t n_reports;
};

static struct world w;

static uint8_t pattern(uint32_t seq, size_t i)
{
    return (uint8_t)(seq * 7u + i);
}

/* A payload of len bytes (at least 4): its sequence number, then a pattern of it. */
static void fill(uint8_t *p, uint32_t seq, size_t len)
{
    rph_put32(p, seq);
    for (size_t i = 4; i < len; i++)
        p[i] = pattern(seq, i);
}

static void client_data(void *ctx, struct rph_remote *from, const uint8_t *d, size_t n)
{
    (void)from;
    struct client *c = ctx;
    if (n < 4 || c->n_got == MAX_GOT) {
        c->corrupt = true;
        return;
    }
    uint32_t seq = rph_get32(d);
    for (size_t i = 4; i < n; i++)
        if (d[i] != pattern(seq, i)) c->corrupt = true;
    c->got[c->n_got] = seq;
    c->got_len[c->n_got++] = n;
}

static void client_state(void *ctx, enum rph_peer_state s, int err)
{
    (void)err;
    struct client *c = ctx;
    if (s == RPH_STATE_CONNECTED) c->connected = true;
}

static void server_remote(void *ctx, struct rph_remote *r, bool up)
{
    (void)ctx;
    (void)r;
    if (up) w.server_ups++;
}

static void server_sent(void *ctx, const struct rph_ev_sent *s)
{
    (void)ctx;
    cr_assert_lt(w.n_reports, MAX_REPORTS);
    w.reports[w.n_reports++] = *s;
}

/* Runs the loop until done() or 10 s pass; the result of done(). */
static bool run_until(bool (*done)(void))
{
    uint64_t end = rph_now_ms() + 10000;
    while (!done() && rph_now_ms() < end) {
        struct timeval tick = {0, 20000};
        event_base_loopexit(w.base, &tick);
        event_base_dispatch(w.base);
    }
    return done();
}

static bool all_up(void)
{
    return w.server_ups == 2 && w.a.connected && w.b.connected;
}

static const uint8_t key[RPH_KEY_LEN] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};

static struct rph_ev_peer *new_peer(struct rph_peer_config *c, const struct rph_ev_peer_options *o,
                                    const struct rph_peer_callbacks *cb, void *ctx)
{
    int err = 0;
    struct rph_ev_peer *p = rph_ev_peer_new(w.base, c, o, cb, ctx, &err);
    cr_assert_not_null(p, "%s", rph_strerror(err));
    return p;
}

/* A server and two clients A and B, connected; the server's queue sends without GSO when
 * no_gso. */
static void start(bool sealed, bool no_gso)
{
    memset(&w, 0, sizeof w);
    w.base = event_base_new();
    struct rph_holepuncher_config hc;
    rph_holepuncher_config_defaults(&hc);
    struct rph_addr lo = {.family = 4, .ip = {127, 0, 0, 1}};
    int err = 0;
    w.hp = rph_ev_holepuncher_new(w.base, &hc, &lo, 1, &err);
    cr_assert_not_null(w.hp, "%s", rph_strerror(err));
    struct rph_peer_config sc, cc;
    rph_peer_config_defaults(&sc, RPH_ROLE_SERVER);
    rph_ev_holepuncher_local_addr(w.hp, 0, &sc.holepuncher);
    sc.handshake_timeout_ms = 0;
    rph_session_set(&sc.session, "queue", 5);
    if (sealed) {
        sc.sealed = true;
        cr_assert_eq(rph_seal_init(), 0);
        rph_seal_derive(&sc.seal, key, "queue", 5);
    }
    cc = sc;
    cc.role = RPH_ROLE_CLIENT;
    struct rph_ev_peer_options so = {.bind = lo, .no_gso = no_gso, .on_sent = server_sent};
    struct rph_ev_peer_options co = {.bind = lo, .rcvbuf = 4 << 20};
    struct rph_peer_callbacks scb = {.on_remote = server_remote};
    struct rph_peer_callbacks ccb = {.on_data = client_data, .on_state = client_state};
    w.server = new_peer(&sc, &so, &scb, NULL);
    w.a.ep = new_peer(&cc, &co, &ccb, &w.a);
    w.b.ep = new_peer(&cc, &co, &ccb, &w.b);
    cr_assert(run_until(all_up), "the server and both clients did not connect");
}

static void stop(void)
{
    rph_ev_peer_free(w.a.ep);
    rph_ev_peer_free(w.b.ep);
    rph_ev_peer_free(w.server);
    rph_ev_holepuncher_free(w.hp);
    event_base_free(w.base);
}

/* The server's remote slot for client c. */
static struct rph_remote *remote_of(struct client *c)
{
    struct rph_addr ca;
    cr_assert_eq(rph_ev_peer_local_addr(c->ep, &ca), 0);
    struct rph_remote *r = rph_peer_find(rph_ev_peer_core(w.server), &ca);
    cr_assert_not_null(r);
    return r;
}

static void overhead(size_t *per_dgram)
{
    size_t head, tail;
    rph_peer_frame_overhead(rph_ev_peer_core(w.server), &head, &tail);
    *per_dgram = head + tail;
}

static uint32_t seq_a, seq_b, want_a, want_b;

static void queue(struct rph_remote *to, size_t len)
{
    uint8_t buf[4096];
    bool to_a = to == remote_of(&w.a);
    uint32_t seq = to_a ? seq_a++ : seq_b++;
    fill(buf, seq, len);
    cr_assert_eq(rph_ev_peer_queue(w.server, to, buf, len), 0);
    if (to_a)
        want_a++;
    else
        want_b++;
}

static bool delivered(void)
{
    return w.a.n_got >= want_a && w.b.n_got >= want_b;
}

/* Reports since `from` are exactly these trains (remote, datagrams, payload bytes). */
static void expect_trains(size_t from, size_t n, const struct rph_remote *const *to,
                          const size_t *dgrams, const size_t *bytes)
{
    cr_assert_eq(w.n_reports - from, n, "%zu trains, not %zu", w.n_reports - from, n);
    for (size_t i = 0; i < n; i++) {
        const struct rph_ev_sent *s = &w.reports[from + i];
        cr_assert_eq(s->err, 0, "train %zu: %s", i, rph_strerror(s->err));
        cr_assert_eq(s->to, to[i], "train %zu went to the wrong remote", i);
        cr_assert_eq(s->datagrams, dgrams[i], "train %zu: %zu datagrams, not %zu", i, s->datagrams,
                     dgrams[i]);
        cr_assert_eq(s->payload_bytes, bytes[i], "train %zu: %zu bytes, not %zu", i,
                     s->payload_bytes, bytes[i]);
    }
}

static void expect_in_order(struct client *c, uint32_t n)
{
    cr_assert_not(c->corrupt, "a payload arrived changed");
    cr_assert_eq(c->n_got, n, "%zu datagrams arrived, not %u", c->n_got, n);
    for (uint32_t i = 0; i < n; i++)
        cr_assert_eq(c->got[i], i, "datagram %u arrived as number %u", c->got[i], i);
}

static void trains_are_cut_where_gso_needs(bool sealed, bool no_gso)
{
    start(sealed, no_gso);
    seq_a = seq_b = want_a = want_b = 0;
    struct rph_remote *a = remote_of(&w.a), *b = remote_of(&w.b);
    size_t ovh;
    overhead(&ovh);

    /* another remote */
    size_t r0 = w.n_reports;
    for (int i = 0; i < 3; i++)
        queue(a, 100);
    queue(b, 100);
    queue(b, 100);
    queue(a, 100);
    rph_ev_peer_flush(w.server);
    expect_trains(r0, 3, (const struct rph_remote *[]){a, b, a}, (size_t[]){3, 2, 1},
                  (size_t[]){300, 200, 100});

    /* a shorter datagram ends a train; a longer one cannot join */
    r0 = w.n_reports;
    queue(a, 200);
    queue(a, 200);
    queue(a, 150);
    queue(a, 150);
    queue(a, 300);
    queue(a, 300);
    rph_ev_peer_flush(w.server);
    expect_trains(r0, 3, (const struct rph_remote *[]){a, a, a}, (size_t[]){3, 1, 2},
                  (size_t[]){550, 150, 600});

    /* 64 datagrams at most */
    r0 = w.n_reports;
    for (int i = 0; i < 70; i++)
        queue(a, 10);
    rph_ev_peer_flush(w.server);
    expect_trains(r0, 2, (const struct rph_remote *[]){a, a}, (size_t[]){64, 6},
                  (size_t[]){640, 60});

    /* 64 KB at most */
    r0 = w.n_reports;
    for (int i = 0; i < 50; i++)
        queue(a, 1400);
    rph_ev_peer_flush(w.server);
    size_t per = 65000 / (1400 + ovh);
    expect_trains(r0, 2, (const struct rph_remote *[]){a, a}, (size_t[]){per, 50 - per},
                  (size_t[]){per * 1400, (50 - per) * 1400});

    /* longer than queue_payload_max (1400): alone, and nothing joins it */
    r0 = w.n_reports;
    queue(a, 3000);
    queue(a, 1000);
    rph_ev_peer_flush(w.server);
    expect_trains(r0, 2, (const struct rph_remote *[]){a, a}, (size_t[]){1, 1},
                  (size_t[]){3000, 1000});

    for (size_t i = 0; i < w.n_reports; i++)
        cr_assert_eq(w.reports[i].gso, !no_gso && w.reports[i].datagrams > 1, "train %zu: gso %d",
                     i, w.reports[i].gso);
    cr_assert(run_until(delivered), "a: %zu of %u arrived, b: %zu of %u", w.a.n_got, want_a,
              w.b.n_got, want_b);
    expect_in_order(&w.a, want_a);
    expect_in_order(&w.b, want_b);
    stop();
}

Test(ev_queue, plaintext_trains_cut_at_peer_size_count_and_64k, .timeout = 30)
{
    trains_are_cut_where_gso_needs(false, false);
}

Test(ev_queue, sealed_trains_cut_at_peer_size_count_and_64k, .timeout = 30)
{
    trains_are_cut_where_gso_needs(true, false);
}

Test(ev_queue, without_gso_trains_leave_by_sendmmsg_in_order, .timeout = 30)
{
    trains_are_cut_where_gso_needs(true, true);
}

/* Slots reserved for segments written in place (a TSO packet's), framed by commit. */
static void reserve_and_commit(bool sealed)
{
    start(sealed, false);
    seq_a = seq_b = want_a = want_b = 0;
    struct rph_remote *a = remote_of(&w.a);
    size_t ovh;
    overhead(&ovh);
    uint8_t *slots;
    size_t stride, len[64];

    /* ten segments, the last short: one train */
    size_t r0 = w.n_reports;
    cr_assert_eq(rph_ev_peer_reserve(w.server, a, 1000, 10, &slots, &stride), 0);
    cr_assert_geq(stride, 1000 + ovh);
    for (size_t k = 0; k < 10; k++) {
        len[k] = k < 9 ? 1000 : 500;
        fill(slots + k * stride, seq_a++, len[k]);
    }
    cr_assert_eq(rph_ev_peer_commit(w.server, 10, len), 0);
    want_a += 10;
    rph_ev_peer_flush(w.server);
    expect_trains(r0, 1, (const struct rph_remote *[]){a}, (size_t[]){10}, (size_t[]){9500});

    /* slots of the train's size join the train queued before them */
    r0 = w.n_reports;
    queue(a, 1000);
    cr_assert_eq(rph_ev_peer_reserve(w.server, a, 1000, 3, &slots, &stride), 0);
    for (size_t k = 0; k < 3; k++) {
        len[k] = 1000;
        fill(slots + k * stride, seq_a++, len[k]);
    }
    cr_assert_eq(rph_ev_peer_commit(w.server, 3, len), 0);
    want_a += 3;
    rph_ev_peer_flush(w.server);
    expect_trains(r0, 1, (const struct rph_remote *[]){a}, (size_t[]){4}, (size_t[]){4000});

    /* more than 64 KB of segments: cut into two trains */
    r0 = w.n_reports;
    cr_assert_eq(rph_ev_peer_reserve(w.server, a, 1400, 50, &slots, &stride), 0);
    for (size_t k = 0; k < 50; k++) {
        len[k] = 1400;
        fill(slots + k * stride, seq_a++, len[k]);
    }
    cr_assert_eq(rph_ev_peer_commit(w.server, 50, len), 0);
    want_a += 50;
    rph_ev_peer_flush(w.server);
    size_t per = 65000 / (1400 + ovh);
    expect_trains(r0, 2, (const struct rph_remote *[]){a, a}, (size_t[]){per, 50 - per},
                  (size_t[]){per * 1400, (50 - per) * 1400});

    /* refused: slots over queue_payload_max, none, more than reserved, a stale reservation */
    cr_assert_eq(rph_ev_peer_reserve(w.server, a, 1401, 2, &slots, &stride), RPH_E_TOOBIG);
    cr_assert_eq(rph_ev_peer_reserve(w.server, a, 100, 0, &slots, &stride), RPH_E_INVALID);
    cr_assert_eq(rph_ev_peer_reserve(w.server, a, 100, 2, &slots, &stride), 0);
    len[0] = len[1] = len[2] = 100;
    cr_assert_eq(rph_ev_peer_commit(w.server, 3, len), RPH_E_INVALID);
    cr_assert_eq(rph_ev_peer_reserve(w.server, a, 100, 2, &slots, &stride), 0);
    queue(a, 100);
    cr_assert_eq(rph_ev_peer_commit(w.server, 1, len), RPH_E_INVALID);
    rph_ev_peer_flush(w.server);

    cr_assert(run_until(delivered), "%zu of %u arrived", w.a.n_got, want_a);
    expect_in_order(&w.a, want_a);
    stop();
}

Test(ev_queue, plaintext_reserved_slots_are_framed_in_place, .timeout = 30)
{
    reserve_and_commit(false);
}

Test(ev_queue, sealed_reserved_slots_are_framed_in_place, .timeout = 30)
{
    reserve_and_commit(true);
}

/* Sealed, a remote without keys refuses each payload; nothing of it is sent. */
Test(ev_queue, sealed_without_keys_each_payload_is_refused, .timeout = 30)
{
    start(true, false);
    seq_a = seq_b = want_a = want_b = 0;
    size_t n;
    struct rph_remote *slots = rph_peer_remotes(rph_ev_peer_core(w.server), &n), *none = NULL;
    for (size_t i = 0; i < n && !none; i++)
        if (!slots[i].in_use) none = &slots[i];
    cr_assert_not_null(none);
    struct rph_remote *a = remote_of(&w.a);
    uint8_t buf[100];
    fill(buf, 0, sizeof buf);
    size_t r0 = w.n_reports;
    queue(a, 100);
    cr_assert_eq(rph_ev_peer_queue(w.server, none, buf, sizeof buf), RPH_E_NOKEY);
    uint8_t *s;
    size_t stride, len[2] = {100, 100};
    cr_assert_eq(rph_ev_peer_reserve(w.server, none, 100, 2, &s, &stride), 0);
    cr_assert_eq(rph_ev_peer_commit(w.server, 2, len), RPH_E_NOKEY);
    queue(a, 100);
    rph_ev_peer_flush(w.server);
    for (size_t i = r0; i < w.n_reports; i++)
        cr_assert_eq(w.reports[i].to, a, "something was sent to the remote without keys");
    cr_assert(run_until(delivered));
    expect_in_order(&w.a, 2);
    stop();
}
