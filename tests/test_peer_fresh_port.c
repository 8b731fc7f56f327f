// SPDX-License-Identifier: MIT
// Fresh-port retries (docs/PROTOCOL.md "Fresh-port retries"): a sealed server and client, each
// behind a Linux router without an input drop (the conntrack race), and the core holepuncher
// with its relay, in memory. A punch that reaches a router before its host's own first packet to
// that peer has left makes a conntrack entry there; the host's packet then clashes with it and
// leaves from another port, which the other router drops. The client's router here drops the
// client's first packets toward the server (as the e2e test's short-lived nft rule does), so the
// first attempt loses the race and the pair ends relayed; a fresh local port gets a new mapping
// and the next attempt ends direct. Also: the bound (3 tries), the schedule, no retry for a pair
// that is direct, and no data lost across the swap.
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../src/core/fresh_port.h"
#include "peer_net.h"
#include "ruphin/error.h"
#include "ruphin/peer.h"

#define NCONN 64
#define LINGER_MS 5000 /* the old socket stays readable this long (as rph_ev_peer's does) */
#define CLASH_OFFSET 10000

/* A Linux router that masquerades keeping ports and keeps no input drop: outbound makes a
 * connection (local port, destination) -> public port; inbound passes only for a connection;
 * anything else leaves a conntrack entry (a stray) that a later outbound to the same
 * destination and port clashes with. */
struct conn {
    uint16_t local, pub;
    struct rph_addr dest;
};
struct stray {
    uint16_t pub;
    struct rph_addr from;
};
struct node {
    struct rph_addr pub; /* the router's public IP (port unused) */
    struct rph_peer *peer;
    uint16_t port;      /* the socket's local port */
    uint16_t old_port;  /* the socket before the last fresh port, 0: none */
    uint64_t old_until; /* readable until then */
    struct conn conns[NCONN];
    size_t n_conns;
    struct stray strays[NCONN];
    size_t n_strays;
    uint64_t fresh_at[8]; /* when each fresh_port call came */
    unsigned fresh_attempt[8];
    size_t n_fresh;
    bool fresh_fails; /* the callback cannot open a socket */
    uint32_t rx_seq;  /* the next sequence number expected in data */
    uint32_t rx_count, rx_gaps;
};

static struct node nodes[2];           /* 0: server, 1: client */
static uint64_t drop_client_out_until; /* the client's router drops its packets to the server */
static bool drop_client_out_always;

static int node_at(const struct rph_addr *a)
{
    for (int k = 0; k < 2; k++)
        if (a->family == 4 && memcmp(a->ip, nodes[k].pub.ip, 4) == 0) return k;
    return -1;
}

/* The public port node k's packet from local port `local` to dest leaves from. */
static uint16_t nat_out(struct node *n, uint16_t local, const struct rph_addr *dest)
{
    for (size_t i = 0; i < n->n_conns; i++)
        if (n->conns[i].local == local && rph_addr_equal(&n->conns[i].dest, dest))
            return n->conns[i].pub;
    uint16_t pub = local;
    for (size_t i = 0; i < n->n_strays; i++)
        if (n->strays[i].pub == pub && rph_addr_equal(&n->strays[i].from, dest))
            pub = (uint16_t)(local + CLASH_OFFSET); /* the race lost: another port */
    cr_assert_lt(n->n_conns, NCONN);
    n->conns[n->n_conns++] = (struct conn){.local = local, .pub = pub, .dest = *dest};
    return pub;
}

/* The local port an inbound datagram goes to, 0 when the router drops it (a stray now). */
static uint16_t nat_in(struct node *n, const struct rph_addr *from, uint16_t pub)
{
    for (size_t i = 0; i < n->n_conns; i++)
        if (n->conns[i].pub == pub && rph_addr_equal(&n->conns[i].dest, from))
            return n->conns[i].local;
    for (size_t i = 0; i < n->n_strays; i++)
        if (n->strays[i].pub == pub && rph_addr_equal(&n->strays[i].from, from)) return 0;
    cr_assert_lt(n->n_strays, NCONN);
    n->strays[n->n_strays++] = (struct stray){.pub = pub, .from = *from};
    return 0;
}

static bool net_hold(const struct dgram *d)
{
    (void)d;
    return false;
}

static bool net_pass(const struct dgram *d)
{
    (void)d;
    return true;
}

static void net_deliver(struct dgram *d)
{
    int k = node_at(&d->to);
    if (k < 0 || !nodes[k].peer) return;
    struct node *n = &nodes[k];
    uint16_t local = nat_in(n, &d->from, d->to.port);
    if (local == 0) return;
    if (local != n->port && !(local == n->old_port && now < n->old_until)) return;
    rph_peer_input(n->peer, d->buf, d->len, &d->from, now);
}

static void net_tick(void)
{
    for (int k = 0; k < 2; k++)
        if (nodes[k].peer) rph_peer_tick(nodes[k].peer, now);
}

static void node_send(void *ctx, const struct rph_addr *to, const uint8_t *b, size_t len)
{
    struct node *n = ctx;
    /* The client's router drops what it sends the server (before its conntrack). */
    if (n == &nodes[1] && node_at(to) == 0 &&
        (drop_client_out_always || now < drop_client_out_until))
        return;
    struct rph_addr from = n->pub;
    from.port = nat_out(n, n->port, to);
    enqueue(&from, to, b, len);
}

static int node_fresh_port(void *ctx, unsigned attempt)
{
    struct node *n = ctx;
    cr_assert_lt(n->n_fresh, 8);
    n->fresh_at[n->n_fresh] = now;
    n->fresh_attempt[n->n_fresh++] = attempt;
    if (n->fresh_fails) return RPH_E_INVALID;
    n->old_port = n->port;
    n->old_until = now + LINGER_MS;
    n->port = (uint16_t)(n->port + 1000);
    return 0;
}

static void node_data(void *ctx, struct rph_remote *from, const uint8_t *d, size_t len)
{
    (void)from;
    struct node *n = ctx;
    uint32_t seq;
    if (len != sizeof seq) return;
    memcpy(&seq, d, sizeof seq);
    if (seq != n->rx_seq) n->rx_gaps++;
    n->rx_seq = seq + 1;
    n->rx_count++;
}

static const uint8_t KEY[32] = {5, 5, 5};

static bool relay_on = true;
static void dbg_trace(void *ctx, const struct rph_trace *t)
{
    char a[64], b[64];
    rph_addr_format(&t->addr, a, sizeof a);
    rph_addr_format(&t->addr2, b, sizeof b);
    printf("%lu node%d %s %s %s %d\n", (unsigned long)(now % 1000000),
           (int)((struct node *)ctx - nodes), rph_trace_name(t->what), a, b, t->code);
}

static void start(int k, bool fresh)
{
    struct rph_peer_config c;
    rph_peer_config_defaults(&c, k == 0 ? RPH_ROLE_SERVER : RPH_ROLE_CLIENT);
    c.holepuncher = hp_addr;
    c.handshake_timeout_ms = 0;
    rph_session_set(&c.session, "fresh", 5);
    c.relay = relay_on;
    c.sealed = true;
    rph_seal_derive(&c.seal, KEY, "fresh", 5);
    c.node_sk[1] = (uint8_t)(0x50 + k);
    struct rph_peer_callbacks cb = {.on_trace = getenv("FP_TRACE") ? dbg_trace : NULL,
                                    .send = node_send,
                                    .on_data = node_data,
                                    .fresh_port = fresh ? node_fresh_port : NULL};
    int err = 0;
    nodes[k].peer = rph_peer_new(&c, &cb, &nodes[k], now, &err);
    cr_assert_not_null(nodes[k].peer, "peer_new: %s", rph_strerror(err));
    run();
}

static void setup(void)
{
    memset(nodes, 0, sizeof nodes);
    drop_client_out_until = 0;
    drop_client_out_always = false;
    relay_on = true;
    for (int k = 0; k < 2; k++) {
        nodes[k].pub = (struct rph_addr){.family = 4, .ip = {198, 51, 100, (uint8_t)(k + 1)}};
        nodes[k].port = (uint16_t)(40000 + k);
    }
    rph_seal_init();
    struct rph_holepuncher_config hc;
    rph_holepuncher_config_defaults(&hc);
    hc.relay_enabled = true;
    net_reset(9000000, &hc);
    cr_assert_not_null(hp);
}

static void teardown(void)
{
    for (int k = 0; k < 2; k++)
        rph_peer_free(nodes[k].peer);
    net_free();
}

/* Node k's remote that holds keys (a server may have a placeholder beside it). */
static struct rph_remote *live(int k)
{
    size_t n;
    struct rph_remote *r = rph_peer_remotes(nodes[k].peer, &n);
    for (size_t i = 0; i < n; i++)
        if (r[i].in_use && r[i].up) return &r[i];
    return NULL;
}

static bool direct(int k)
{
    struct rph_remote *r = live(k);
    return r && !r->relayed;
}

/* The server registers, the client joins; returns when the client is connected. */
static void meet(bool fresh)
{
    start(0, false);
    advance(200);
    drop_client_out_until = now + 500; /* the first attempt loses the race */
    start(1, fresh);
    uint64_t t0 = now;
    while (!(live(0) && live(1)) && now - t0 < 5000)
        step();
    cr_assert(live(0) && live(1), "the pair never came up");
}

static uint32_t tx_seq[2];

/* One numbered datagram from node k to the other, by its path (relayed or direct). */
static void send_seq(int k)
{
    struct rph_remote *r = live(k);
    cr_assert_not_null(r);
    uint32_t seq = tx_seq[k]++;
    cr_assert_eq(rph_peer_send_data(nodes[k].peer, &r->addr, &seq, sizeof seq), 0);
    rph_peer_note_sent(nodes[k].peer, r, now);
}

TestSuite(peer_fresh_port, .init = setup, .fini = teardown);

Test(peer_fresh_port, a_lost_race_is_won_from_a_fresh_port)
{
    meet(true);
    advance(1000);
    cr_assert(live(1)->relayed && live(0)->relayed, "the first attempt did not end relayed");
    /* Without a fresh port this pair stays relayed: the race's conntrack entry is still there
     * and the server's direct tries keep it fresh. */
    uint64_t t0 = now;
    while (!(direct(0) && direct(1)) && now - t0 < 15000)
        step();
    printf("direct %lu ms after the pair was relayed; fresh port at +%lu ms\n",
           (unsigned long)(now - t0 + 1000),
           (unsigned long)(nodes[1].n_fresh ? nodes[1].fresh_at[0] - t0 + 1000 : 0));
    cr_assert(direct(0) && direct(1), "not direct 15 s after a fresh port");
    cr_assert_eq(nodes[1].n_fresh, 1);
    cr_assert_eq(nodes[1].fresh_attempt[0], 1);
    cr_assert_eq(rph_peer_stats(nodes[1].peer)->fresh_port_retries, 1);
    /* The server talks to the client's new endpoint, and only to it. */
    cr_assert_eq(live(0)->addr.port, nodes[1].port, "server at port %u, client's %u",
                 live(0)->addr.port, nodes[1].port);
    advance(60000);
    cr_assert(direct(0) && direct(1));
    cr_assert_eq(nodes[1].n_fresh, 1, "a pair that went direct tried again");
    size_t n, used = 0;
    struct rph_remote *r = rph_peer_remotes(nodes[0].peer, &n);
    for (size_t i = 0; i < n; i++)
        used += r[i].in_use;
    cr_assert_eq(used, 1, "the server kept a remote for the client's old port");
}

Test(peer_fresh_port, at_most_three_tries_on_the_schedule)
{
    drop_client_out_always = true; /* every attempt loses */
    meet(true);
    uint64_t relayed_at = now;
    while (!live(1)->relayed)
        step();
    relayed_at = now;
    advance(200000);
    cr_assert_eq(nodes[1].n_fresh, RPH_FRESH_PORT_TRIES, "%zu tries", nodes[1].n_fresh);
    cr_assert_eq(rph_peer_stats(nodes[1].peer)->fresh_port_retries, RPH_FRESH_PORT_TRIES);
    uint64_t want[3] = {relayed_at + RPH_FRESH_PORT_WAIT_1_MS, 0, 0};
    want[1] = nodes[1].fresh_at[0] + RPH_FRESH_PORT_WAIT_2_MS;
    want[2] = nodes[1].fresh_at[1] + RPH_FRESH_PORT_WAIT_3_MS;
    for (int i = 0; i < 3; i++) {
        printf("try %d at +%lu ms (relayed at 0)\n", i + 1,
               (unsigned long)(nodes[1].fresh_at[i] - relayed_at));
        cr_assert_eq(nodes[1].fresh_attempt[i], (unsigned)i + 1);
        cr_assert(nodes[1].fresh_at[i] >= want[i] &&
                      nodes[1].fresh_at[i] <= want[i] + 2 * PN_STEP_MS,
                  "try %d at %lu, due %lu", i + 1, (unsigned long)nodes[1].fresh_at[i],
                  (unsigned long)want[i]);
    }
    /* Relayed throughout, and working. */
    cr_assert(live(1)->relayed);
    uint32_t before = nodes[0].rx_count;
    send_seq(1);
    run();
    cr_assert_eq(nodes[0].rx_count, before + 1);
}

Test(peer_fresh_port, a_failed_socket_counts_as_a_try)
{
    drop_client_out_always = true;
    meet(true);
    nodes[1].fresh_fails = true;
    advance(200000);
    cr_assert_eq(nodes[1].n_fresh, RPH_FRESH_PORT_TRIES);
    cr_assert_eq(nodes[1].port, 40001, "the port moved without a socket");
}

Test(peer_fresh_port, a_direct_pair_never_tries)
{
    start(0, false);
    advance(200);
    start(1, true);
    uint64_t t0 = now;
    while (!(direct(0) && direct(1)) && now - t0 < 5000)
        step();
    cr_assert(direct(0) && direct(1), "the pair did not go direct");
    advance(100000);
    cr_assert_eq(nodes[1].n_fresh, 0);
    cr_assert_eq(rph_peer_stats(nodes[1].peer)->fresh_port_retries, 0);
}

Test(peer_fresh_port, without_the_callback_a_relayed_pair_stays_relayed)
{
    meet(false);
    advance(60000);
    cr_assert(live(1)->relayed);
    cr_assert_eq(rph_peer_stats(nodes[1].peer)->fresh_port_retries, 0);
}

Test(peer_fresh_port, no_data_lost_across_the_swap)
{
    meet(true);
    /* Both ways every 20 ms through the swap and until direct, and a while after. */
    uint64_t t0 = now;
    while (now - t0 < 12000) {
        send_seq(0);
        send_seq(1);
        run();
        advance(20);
    }
    cr_assert_eq(nodes[1].n_fresh, 1);
    cr_assert(direct(0) && direct(1));
    advance(100);
    for (int k = 0; k < 2; k++) {
        printf("node %d: %u of %u received, %u gaps\n", k, nodes[k].rx_count, tx_seq[1 - k],
               nodes[k].rx_gaps);
        cr_assert_eq(nodes[k].rx_gaps, 0, "node %d: %u gaps", k, nodes[k].rx_gaps);
        cr_assert_eq(nodes[k].rx_count, tx_seq[1 - k]);
    }
}

Test(peer_fresh_port, without_the_relay_an_unanswered_punch_window_tries_a_fresh_port)
{
    relay_on = false;
    start(0, false);
    advance(200);
    drop_client_out_until = now + 500; /* the first attempt loses the race */
    uint64_t t0 = now;
    start(1, true);
    while (!(direct(0) && direct(1)) && now - t0 < 30000)
        step();
    printf("no relay: direct %lu ms after the client's start, fresh port at +%lu ms\n",
           (unsigned long)(now - t0),
           (unsigned long)(nodes[1].n_fresh ? nodes[1].fresh_at[0] - t0 : 0));
    cr_assert(direct(0) && direct(1), "not direct after a fresh port");
    cr_assert_eq(nodes[1].n_fresh, 1);
    cr_assert_geq(nodes[1].fresh_at[0], t0 + 10000, "tried before the punch window ran out");
}

/* The schedule itself (fresh_port.c, pure): waits from the failure, then from each try; a
 * failure that clears and comes back keeps the count and waits from its start; a new server
 * endpoint starts over. */
Test(peer_fresh_port, the_schedule)
{
    struct fresh_port f = {0};
    struct rph_addr a = {.family = 4, .ip = {198, 51, 100, 1}, .port = 40000}, b = a;
    b.port = 40001;
    fresh_port_observe(&f, &a, false, 1000);
    cr_assert_eq(fresh_port_due(&f), UINT64_MAX, "working: nothing due");
    fresh_port_observe(&f, &a, true, 2000);
    fresh_port_observe(&f, &a, true, 4000); /* still the same failure */
    cr_assert_eq(fresh_port_due(&f), 2000 + RPH_FRESH_PORT_WAIT_1_MS);
    cr_assert_eq(fresh_port_take(&f, 5000), 1);
    cr_assert_eq(fresh_port_due(&f), 5000 + RPH_FRESH_PORT_WAIT_2_MS);
    fresh_port_observe(&f, &a, false, 6000); /* direct for a while */
    cr_assert_eq(fresh_port_due(&f), UINT64_MAX);
    fresh_port_observe(&f, &a, true, 7000); /* failed again: the whole wait from then */
    cr_assert_eq(fresh_port_due(&f), 7000 + RPH_FRESH_PORT_WAIT_2_MS);
    cr_assert_eq(fresh_port_take(&f, 15000), 2);
    cr_assert_eq(fresh_port_due(&f), 15000 + RPH_FRESH_PORT_WAIT_3_MS);
    cr_assert_eq(fresh_port_take(&f, 45000), 3);
    cr_assert_eq(fresh_port_due(&f), UINT64_MAX, "a fourth try");
    fresh_port_observe(&f, &b, true, 50000); /* the server moved: its own tries */
    cr_assert_eq(fresh_port_due(&f), 50000 + RPH_FRESH_PORT_WAIT_1_MS);
    fresh_port_observe(&f, NULL, true, 51000);
    cr_assert_eq(fresh_port_due(&f), UINT64_MAX, "no server: nothing due");
    cr_assert_eq(fresh_port_wait_ms(0), UINT64_MAX);
    cr_assert_eq(fresh_port_wait_ms(RPH_FRESH_PORT_TRIES + 1), UINT64_MAX);
}
