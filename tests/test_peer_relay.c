// SPDX-License-Identifier: MIT
// Sealed peers and the core holepuncher with its relay on, wired together in memory on a fake
// clock: a pair whose direct path is blocked connects through the relay within a second, moves
// to direct when the block lifts, back to the relay when direct dies; relayed traffic is
// authenticated end to end; plaintext peers never relay.
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "peer_net.h"
#include "ruphin/error.h"
#include "ruphin/peer.h"

struct node {
    struct rph_addr addr;
    struct rph_peer *peer;
    int data_count;
    char last_data[64];
    int paths; /* on_path calls */
    int last_reason;
};

static struct node nodes[2];
static bool blocked;      /* the direct path between the two nodes drops everything */
static size_t relay_seen; /* RelayData datagrams sent by anyone */
static bool capture;      /* keep the next RelayData the holepuncher sends to node 1 */
static struct dgram captured;

static bool net_hold(const struct dgram *d)
{
    if (rph_relay_is(d->buf, d->len)) relay_seen++;
    if (capture && rph_addr_equal(&d->from, &hp_addr) && rph_addr_equal(&d->to, &nodes[1].addr) &&
        rph_relay_is(d->buf, d->len) && d->buf[RPH_RELAY_HEADER_LEN + 3] == RPH_TRANSPORT) {
        capture = false;
        captured = *d;
        return true; /* held back: the test delivers it (or a forgery of it) itself */
    }
    return false;
}

static void node_send(void *ctx, const struct rph_addr *to, const uint8_t *b, size_t n)
{
    struct node *nd = ctx;
    enqueue(&nd->addr, to, b, n);
}

static void node_data(void *ctx, struct rph_remote *from, const uint8_t *d, size_t n)
{
    (void)from;
    struct node *nd = ctx;
    nd->data_count++;
    size_t k = n < sizeof nd->last_data - 1 ? n : sizeof nd->last_data - 1;
    memcpy(nd->last_data, d, k);
    nd->last_data[k] = 0;
}

static void node_path(void *ctx, struct rph_remote *r, int reason)
{
    (void)r;
    struct node *nd = ctx;
    nd->paths++;
    nd->last_reason = reason;
    cr_assert_str_neq(rph_path_reason_name(reason), "?");
}

static bool is_node(const struct rph_addr *a)
{
    return rph_addr_equal(a, &nodes[0].addr) || rph_addr_equal(a, &nodes[1].addr);
}

static bool net_pass(const struct dgram *d)
{
    return !(blocked && is_node(&d->from) && is_node(&d->to));
}

static void net_deliver(struct dgram *d)
{
    for (int k = 0; k < 2; k++)
        if (nodes[k].peer && rph_addr_equal(&d->to, &nodes[k].addr))
            rph_peer_input(nodes[k].peer, d->buf, d->len, &d->from, now);
}

static void net_tick(void)
{
    for (int k = 0; k < 2; k++)
        if (nodes[k].peer) rph_peer_tick(nodes[k].peer, now);
}

static const uint8_t KEY[32] = {7, 7, 7};

static struct rph_peer *start(int k, enum rph_role role, bool sealed)
{
    struct rph_peer_config c;
    rph_peer_config_defaults(&c, role);
    c.holepuncher = hp_addr;
    c.handshake_timeout_ms = 0;
    rph_session_set(&c.session, "relay", 5);
    c.relay = true;
    if (sealed) {
        c.sealed = true;
        rph_seal_derive(&c.seal, KEY, "relay", 5);
        c.node_sk[1] = (uint8_t)(0x60 + k);
    }
    struct rph_peer_callbacks cb = {.send = node_send, .on_data = node_data, .on_path = node_path};
    int err = 0;
    nodes[k].peer = rph_peer_new(&c, &cb, &nodes[k], now, &err);
    cr_assert_not_null(nodes[k].peer, "peer_new: %s", rph_strerror(err));
    run();
    return nodes[k].peer;
}

static void setup(void)
{
    blocked = false;
    relay_seen = 0;
    capture = false;
    memset(nodes, 0, sizeof nodes);
    for (int k = 0; k < 2; k++) {
        nodes[k].addr.family = 4;
        memcpy(nodes[k].addr.ip, (uint8_t[]){198, 51, 100, (uint8_t)(k + 1)}, 4);
        nodes[k].addr.port = (uint16_t)(40000 + k);
    }
    rph_seal_init();
    struct rph_holepuncher_config hc;
    rph_holepuncher_config_defaults(&hc);
    hc.relay_enabled = true;
    net_reset(5000000, &hc);
    cr_assert_not_null(hp);
}

static void teardown(void)
{
    for (int k = 0; k < 2; k++)
        rph_peer_free(nodes[k].peer);
    net_free();
}

static struct rph_remote *remote0(int k)
{
    size_t n;
    struct rph_remote *r = rph_peer_remotes(nodes[k].peer, &n);
    for (size_t i = 0; i < n; i++)
        if (r[i].in_use) return &r[i];
    return NULL;
}

/* Sends text from node k to the other and notes it sent (as the event peer does per train). */
static void send_text(int k, const char *text)
{
    struct rph_remote *r = remote0(k);
    cr_assert_not_null(r);
    cr_assert_eq(rph_peer_send_data(nodes[k].peer, &r->addr, text, strlen(text)), 0);
    rph_peer_note_sent(nodes[k].peer, r, now);
    run();
}

/* Steps until node k got text (a new datagram), at most max_ms; the time it took. */
static uint64_t until_data(int k, const char *text, uint64_t max_ms)
{
    uint64_t t0 = now;
    int before = nodes[k].data_count;
    send_text(1 - k, text);
    while (nodes[k].data_count == before && now - t0 < max_ms) {
        step();
        if (nodes[k].data_count == before) send_text(1 - k, text);
    }
    cr_assert_gt(nodes[k].data_count, before, "no data in %lu ms", (unsigned long)max_ms);
    cr_assert_str_eq(nodes[k].last_data, text);
    return now - t0;
}

/* The pair, direct blocked from the start, connected through the relay. */
static uint64_t connect_relayed(void)
{
    blocked = true;
    start(0, RPH_ROLE_SERVER, true);
    advance(100);
    uint64_t t0 = now;
    start(1, RPH_ROLE_CLIENT, true);
    while (rph_peer_state(nodes[1].peer) != RPH_STATE_CONNECTED && now - t0 < 5000)
        step();
    cr_assert_eq(rph_peer_state(nodes[1].peer), RPH_STATE_CONNECTED);
    until_data(0, "first", 1000);
    return now - t0;
}

TestSuite(peer_relay, .init = setup, .fini = teardown);

Test(peer_relay, a_pair_whose_direct_path_is_blocked_connects_through_the_relay_within_1s)
{
    uint64_t took = connect_relayed();
    printf("relayed: first datagram through after %lu ms\n", (unsigned long)took);
    cr_assert_lt(took, 1000, "took %lu ms", (unsigned long)took);
    cr_assert(remote0(0)->relayed);
    cr_assert(remote0(1)->relayed);
    cr_assert_eq(nodes[1].last_reason, RPH_PATH_NO_DIRECT);
    /* Round trips measured at the handshake, on the relayed path: 4 hops of 10 ms steps. */
    cr_assert_gt(remote0(1)->rtt_ms, 0);
    cr_assert_gt(remote0(0)->rtt_ms, 0);
    until_data(1, "back", 200);
    const struct rph_relay_stats *rs = rph_holepuncher_relay_stats(hp);
    cr_assert_gt(rs->relayed, 0);
    cr_assert_eq(rs->not_member, 0, "not_member %lu", (unsigned long)rs->not_member);
    cr_assert_gt(rph_peer_stats(nodes[0].peer)->relay_in, 0);
    /* Still relayed (and a member) long after: the client's re-Joins keep it one. */
    advance(90000);
    until_data(0, "later", 500);
    cr_assert(remote0(1)->relayed);
    cr_assert_eq(rph_holepuncher_relay_stats(hp)->not_member, 0);
}

Test(peer_relay, it_moves_to_direct_when_the_block_lifts_and_back_when_direct_dies)
{
    connect_relayed();
    blocked = false;
    uint64_t t0 = now;
    while ((remote0(0)->relayed || remote0(1)->relayed) && now - t0 < 10000)
        step();
    printf("direct %lu ms after the block lifted\n", (unsigned long)(now - t0));
    cr_assert(!remote0(0)->relayed && !remote0(1)->relayed);
    cr_assert_leq(now - t0, 2 * RPH_DIRECT_RETRY_MS + 100);
    cr_assert_eq(nodes[1].last_reason, RPH_PATH_DIRECT_IN);
    uint64_t relayed = rph_holepuncher_relay_stats(hp)->relayed;
    until_data(0, "direct", 100);
    until_data(1, "direct-back", 100);
    cr_assert_eq(rph_holepuncher_relay_stats(hp)->relayed, relayed, "data went through the relay");

    /* Direct dies under traffic: both sides are relayed again within about a second and a
     * half (the session's keys carry on; the client's probe may rekey, through the relay). */
    blocked = true;
    t0 = now;
    uint64_t took = until_data(0, "after", 3000);
    printf("back through the relay %lu ms after direct died\n", (unsigned long)took);
    cr_assert(remote0(1)->relayed);
    cr_assert_eq(nodes[1].last_reason, RPH_PATH_DIRECT_SILENT);
    until_data(1, "after-back", 1000);
    cr_assert(remote0(0)->relayed);
    cr_assert_leq(now - t0, 2500);
}

Test(peer_relay, relayed_traffic_is_authenticated_a_forged_payload_is_refused)
{
    connect_relayed();
    capture = true;
    send_text(0, "genuine");
    cr_assert(!capture, "no relayed transport captured");
    int count = nodes[1].data_count;
    uint64_t auth = rph_peer_stats(nodes[1].peer)->auth_failed;
    /* One bit of the sealed payload flipped (the relay cannot read it, nor can it forge). */
    struct dgram f = captured;
    f.buf[f.len - 1] ^= 1;
    cr_assert_eq(rph_peer_input(nodes[1].peer, f.buf, f.len, &hp_addr, now), RPH_E_AUTH);
    cr_assert_eq(rph_peer_stats(nodes[1].peer)->auth_failed, auth + 1);
    cr_assert_eq(nodes[1].data_count, count);
    /* The genuine one is taken; again, it is a replay. */
    f = captured;
    cr_assert_eq(rph_peer_input(nodes[1].peer, f.buf, f.len, &hp_addr, now), 0);
    cr_assert_str_eq(nodes[1].last_data, "genuine");
    count = nodes[1].data_count;
    f = captured;
    cr_assert_eq(rph_peer_input(nodes[1].peer, f.buf, f.len, &hp_addr, now), RPH_E_REPLAY);
    /* A RelayData from anyone but the holepuncher is no message of ours. */
    f = captured;
    cr_assert_lt(rph_peer_input(nodes[1].peer, f.buf, f.len, &nodes[0].addr, now), 0);
    /* For another session. */
    f = captured;
    f.buf[RPH_RELAY_OFF_SESSION] ^= 1;
    cr_assert_eq(rph_peer_input(nodes[1].peer, f.buf, f.len, &hp_addr, now),
                 RPH_E_SESSION_MISMATCH);
    cr_assert_eq(nodes[1].data_count, count);
    cr_assert_gt(rph_peer_stats(nodes[1].peer)->relay_refused, 0);
}

Test(peer_relay, plaintext_peers_never_relay)
{
    blocked = true;
    start(0, RPH_ROLE_SERVER, false);
    start(1, RPH_ROLE_CLIENT, false);
    advance(5000);
    cr_assert_neq(rph_peer_state(nodes[1].peer), RPH_STATE_CONNECTED);
    cr_assert_eq(relay_seen, 0);
    cr_assert_eq(rph_holepuncher_relay_stats(hp)->relayed, 0);
    /* and connect directly as before once they can */
    blocked = false;
    advance(12000);
    cr_assert_eq(rph_peer_state(nodes[1].peer), RPH_STATE_CONNECTED);
    cr_assert_eq(relay_seen, 0);
}

Test(peer_relay, an_open_direct_path_is_never_relayed)
{
    start(0, RPH_ROLE_SERVER, true);
    start(1, RPH_ROLE_CLIENT, true);
    advance(200);
    until_data(0, "hello", 100);
    advance(30000);
    until_data(1, "hello-back", 100);
    cr_assert(!remote0(0)->relayed && !remote0(1)->relayed);
    cr_assert_eq(rph_peer_stats(nodes[1].peer)->path_changes, 0);
    cr_assert_eq(relay_seen, 0);
}
