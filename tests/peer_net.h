/* SPDX-License-Identifier: MIT */
/* The in-memory network the peer tests share: a queue of datagrams on a fake clock, the core
 * holepuncher (and its relay) at hp_addr, and a loop that delivers until nothing is in flight.
 * What the network does to a datagram is the test's: before including this, a test defines
 *   PN_STEP_MS                       the clock's step (advance() ticks everyone each step),
 * and after it, these hooks:
 *   static bool net_hold(const struct dgram *d)  queued now; true: the test keeps it (a capture),
 *   static bool net_pass(const struct dgram *d)  about to arrive; false: lost on the way,
 *   static void net_deliver(struct dgram *d)     arrives at someone other than the holepuncher,
 *   static void net_tick(void)                   ticks the test's peers at `now`.
 * One network per test program (static state); setup() resets it with net_reset(). */
#ifndef RUPHIN_TESTS_PEER_NET_H
#define RUPHIN_TESTS_PEER_NET_H

#include <criterion/criterion.h>
#include <string.h>

#include "ruphin/holepuncher.h"
#include "ruphin/relay.h"

#ifndef PN_STEP_MS
#define PN_STEP_MS 10
#endif
#define MAXQ 4096

struct dgram {
    struct rph_addr from, to;
    uint8_t buf[1600];
    size_t len;
};

static struct dgram q[MAXQ];
static size_t qn;
static uint64_t now;
static struct rph_holepuncher *hp;
static const struct rph_addr hp_addr = {.family = 4, .ip = {203, 0, 113, 10}, .port = 7700};

static bool net_hold(const struct dgram *d);
static bool net_pass(const struct dgram *d);
static void net_deliver(struct dgram *d);
static void net_tick(void);

static void enqueue(const struct rph_addr *from, const struct rph_addr *to, const uint8_t *b,
                    size_t n)
{
    cr_assert_lt(qn, MAXQ);
    cr_assert_leq(n, sizeof q[0].buf);
    struct dgram *d = &q[qn];
    d->from = *from;
    d->to = *to;
    memcpy(d->buf, b, n);
    d->len = n;
    if (!net_hold(d)) qn++;
}

static void hp_send(void *ctx, const struct rph_addr *to, const uint8_t *b, size_t n)
{
    (void)ctx;
    enqueue(&hp_addr, to, b, n);
}

/* The holepuncher (if there is one) at `now`; with relay on, it forwards RelayData. */
static void net_reset(uint64_t start, const struct rph_holepuncher_config *hc)
{
    qn = 0;
    now = start;
    hp = hc ? rph_holepuncher_new(hc, hp_send, NULL) : NULL;
}

/* Delivers everything queued (and what the deliveries send), in order. */
static void run(void)
{
    for (int guard = 0; qn > 0 && guard < 100; guard++) {
        static struct dgram cur[MAXQ];
        size_t n = qn;
        memcpy(cur, q, n * sizeof q[0]);
        qn = 0;
        for (size_t i = 0; i < n; i++) {
            struct dgram *d = &cur[i];
            if (!net_pass(d)) continue;
            if (!rph_addr_equal(&d->to, &hp_addr)) {
                net_deliver(d);
                continue;
            }
            struct rph_addr to;
            if (!hp) continue;
            if (!rph_relay_is(d->buf, d->len))
                rph_holepuncher_input(hp, d->buf, d->len, &d->from, now);
            else if (rph_holepuncher_relay(hp, d->buf, d->len, &d->from, now, &to) == 0)
                enqueue(&hp_addr, &to, d->buf, d->len);
        }
    }
}

static void step(void)
{
    now += PN_STEP_MS;
    if (hp) rph_holepuncher_tick(hp, now);
    net_tick();
    run();
}

static void advance(uint64_t ms)
{
    for (uint64_t end = now + ms; now < end;)
        step();
}

static void net_free(void)
{
    rph_holepuncher_free(hp);
    hp = NULL;
}

#endif
