// SPDX-License-Identifier: MIT
// The mesh in the core: sealed clients of one server, each behind a simulated NAT, introduced to
// each other (as ruphin-tund's server does over its tunnels) punch and handshake straight to each
// other on a fake clock. Data between two clients never touches the server; their session
// outlives the server and rekeys without it; only the introduced node key gets a member's slot;
// a member whose path breaks is reported unusable and found again by a handshake; an idle pair
// rests (no keepalives, via the server) and wakes on its first packet or when the server goes.
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "peer_net.h"
#include "ruphin/error.h"
#include "ruphin/noise.h"
#include "ruphin/peer.h"
#include "ruphin/wire.h"

#define MAXMAP 512
#define NODES 8 /* 0: the server; 1..7: clients */

enum nat_kind {
    NAT_NONE,            /* public */
    NAT_SYMMETRIC,       /* a new public port per destination, inbound only from it */
    NAT_PORT_RESTRICTED, /* keeps the port, inbound only from where it sent */
};

struct node {
    struct rph_addr lan;
    enum nat_kind nat;
    uint8_t router_ip[4];
    struct rph_peer *peer;
    bool down; /* the machine sleeps: nothing in or out */
    int data_count;
    char last_data[64];
    int paths;
    uint64_t rx_from[NODES]; /* datagrams received, by the node whose NAT/address sent them */
    /* Ticked as ev_peer does (at its deadline, and after input), not every step: wake-ups
     * counted (timer: its deadline came; rx: datagrams arrived, once per instant). */
    bool evloop;
    uint64_t deadline, timer_wakeups, rx_wakeups, last_rx_at;
};

struct mapping {
    int node;
    struct rph_addr dest;
    uint16_t pub_port;
};

static struct node nodes[NODES];
static struct mapping maps[MAXMAP];
static size_t n_maps;
static uint16_t next_port;
static bool cut[NODES][NODES]; /* datagrams from i to j are lost */

static struct rph_addr v4(uint8_t a, uint8_t b, uint8_t c, uint8_t d, uint16_t port)
{
    struct rph_addr x = {.family = 4, .ip = {a, b, c, d}, .port = port};
    return x;
}

static struct rph_addr router(int k, uint16_t port)
{
    const uint8_t *ip = nodes[k].router_ip;
    return v4(ip[0], ip[1], ip[2], ip[3], port);
}

static struct rph_addr outbound(int k, const struct rph_addr *to)
{
    if (nodes[k].nat == NAT_NONE) return nodes[k].lan;
    for (size_t i = 0; i < n_maps; i++)
        if (maps[i].node == k && rph_addr_equal(&maps[i].dest, to))
            return router(k, maps[i].pub_port);
    cr_assert_lt(n_maps, MAXMAP);
    struct mapping *m = &maps[n_maps++];
    m->node = k;
    m->dest = *to;
    m->pub_port = nodes[k].nat == NAT_SYMMETRIC ? next_port++ : nodes[k].lan.port;
    return router(k, m->pub_port);
}

static int inbound(const struct rph_addr *from, const struct rph_addr *to)
{
    for (int k = 0; k < NODES; k++)
        if (nodes[k].peer && nodes[k].nat == NAT_NONE && rph_addr_equal(to, &nodes[k].lan))
            return k;
    for (size_t i = 0; i < n_maps; i++) {
        struct rph_addr pub = router(maps[i].node, maps[i].pub_port);
        if (rph_addr_equal(to, &pub) && rph_addr_equal(from, &maps[i].dest)) return maps[i].node;
    }
    return -1;
}

/* Which node's address a datagram came from (the holepuncher: -1). */
static int sender_of(const struct rph_addr *from)
{
    for (int k = 0; k < NODES; k++) {
        if (nodes[k].nat == NAT_NONE && rph_addr_equal(from, &nodes[k].lan)) return k;
        if (nodes[k].nat != NAT_NONE && from->family == 4 &&
            memcmp(from->ip, nodes[k].router_ip, 4) == 0)
            return k;
    }
    return -1;
}

static void node_send(void *ctx, const struct rph_addr *to, const uint8_t *b, size_t n)
{
    struct node *nd = ctx;
    if (nd->down) return;
    struct rph_addr src = outbound((int)(nd - nodes), to);
    enqueue(&src, to, b, n);
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
    cr_assert_str_neq(rph_path_reason_name(reason), "?");
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
    int k = inbound(&d->from, &d->to);
    if (k < 0 || nodes[k].down) return;
    int s = sender_of(&d->from);
    if (s >= 0 && cut[s][k]) return;
    if (s >= 0) nodes[k].rx_from[s]++;
    rph_peer_input(nodes[k].peer, d->buf, d->len, &d->from, now);
    if (!nodes[k].evloop) return;
    if (nodes[k].last_rx_at != now) nodes[k].rx_wakeups++;
    nodes[k].last_rx_at = now;
    rph_peer_tick(nodes[k].peer, now);
    nodes[k].deadline = rph_peer_next_deadline(nodes[k].peer);
}

static void net_tick(void)
{
    for (int k = 0; k < NODES; k++) {
        struct node *nd = &nodes[k];
        if (!nd->peer || nd->down) continue;
        if (nd->evloop && now < nd->deadline) continue;
        rph_peer_tick(nd->peer, now);
        if (!nd->evloop) continue;
        nd->timer_wakeups++;
        nd->deadline = rph_peer_next_deadline(nd->peer);
        cr_assert_gt(nd->deadline, now, "node %d: a deadline at or before its tick spins", k);
    }
}

static const uint8_t KEY[32] = {7, 7, 7};

static void node_sk(int k, uint8_t sk[32])
{
    memset(sk, 0, 32);
    sk[1] = (uint8_t)(0x50 + k); /* not sk[0]: X25519 clears its low bits */
    sk[2] = 0x5a;
}

static void start(int k, const uint8_t (*members)[32], size_t n_members)
{
    struct rph_peer_config c;
    rph_peer_config_defaults(&c, k == 0 ? RPH_ROLE_SERVER : RPH_ROLE_CLIENT);
    c.holepuncher = hp_addr;
    c.handshake_timeout_ms = 0;
    c.keepalive_ms = 10000;
    c.peer_timeout_ms = 30000;
    c.rekey_ms = 60000;
    rph_session_set(&c.session, "mesh", 4);
    c.relay = true;
    c.sealed = true;
    rph_seal_derive(&c.seal, KEY, "mesh", 4);
    node_sk(k, c.node_sk);
    c.members = members;
    c.n_members = n_members;
    if (k != 0) c.mesh_max = 8;
    struct rph_peer_callbacks cb = {.send = node_send, .on_data = node_data, .on_path = node_path};
    int err = 0;
    nodes[k].peer = rph_peer_new(&c, &cb, &nodes[k], now, &err);
    cr_assert_not_null(nodes[k].peer, "peer_new: %s", rph_strerror(err));
    run();
}

static void place(int k, enum nat_kind nat)
{
    nodes[k].nat = nat;
    if (nat == NAT_NONE) {
        nodes[k].lan = v4(198, 51, 100, (uint8_t)(k + 1), (uint16_t)(41000 + k));
    } else {
        nodes[k].lan = v4(192, 168, (uint8_t)(k + 1), 2, (uint16_t)(41000 + k));
        memcpy(nodes[k].router_ip, (uint8_t[]){203, 0, 113, (uint8_t)(k + 1)}, 4);
    }
}

static void setup(void)
{
    n_maps = 0;
    next_port = 30000;
    memset(nodes, 0, sizeof nodes);
    memset(cut, 0, sizeof cut);
    rph_seal_init();
    struct rph_holepuncher_config hc;
    rph_holepuncher_config_defaults(&hc);
    hc.relay_enabled = true;
    net_reset(9000000, &hc);
    cr_assert_not_null(hp);
}

static void teardown(void)
{
    for (int k = 0; k < NODES; k++)
        rph_peer_free(nodes[k].peer);
    net_free();
}

/* The server's remote that is client k (by its proven node key). */
static struct rph_remote *server_remote_of(int k)
{
    uint8_t pk[32];
    rph_peer_node_public(nodes[k].peer, pk);
    size_t n;
    struct rph_remote *r = rph_peer_remotes(nodes[0].peer, &n);
    for (size_t i = 0; i < n; i++)
        if (r[i].in_use && r[i].has_node_pk && memcmp(r[i].node_pk, pk, 32) == 0) return &r[i];
    return NULL;
}

/* Client a's remote for member b, or NULL. */
static struct rph_remote *member(int a, int b)
{
    uint8_t pk[32];
    rph_peer_node_public(nodes[b].peer, pk);
    size_t n;
    struct rph_remote *r = rph_peer_remotes(nodes[a].peer, &n);
    for (size_t i = 0; i < n; i++)
        if (r[i].in_use && r[i].member && memcmp(r[i].node_pk, pk, 32) == 0) return &r[i];
    return NULL;
}

/* The server introduces b to a with b's endpoint as it sees it (ruphin-tund sends this in its
 * tunnel; here the test carries it). pk, if given, replaces b's node key (a forgery test). */
static struct rph_remote *introduce(int a, int b, const uint8_t *pk)
{
    struct rph_remote *sr = server_remote_of(b);
    cr_assert_not_null(sr, "the server has no session with node %d", b);
    struct rph_intro in = {.endpoint = sr->addr, .rtt_ms = 0};
    if (pk)
        memcpy(in.node_pk, pk, 32);
    else
        rph_peer_node_public(nodes[b].peer, in.node_pk);
    int err = 0;
    struct rph_remote *r = rph_peer_introduce(nodes[a].peer, &in, now, &err);
    cr_assert_not_null(r, "introduce: %s", rph_strerror(err));
    run();
    return r;
}

/* Server node 0 and clients 1..n_clients placed as given, all connected to the server. */
static void connect_all(enum nat_kind server, const enum nat_kind *clients, int n_clients)
{
    place(0, server);
    start(0, NULL, 0);
    advance(100);
    for (int k = 1; k <= n_clients; k++) {
        place(k, clients[k - 1]);
        start(k, NULL, 0);
    }
    uint64_t t0 = now;
    for (bool all = false; !all && now - t0 < 5000;) {
        step();
        all = true;
        for (int k = 1; k <= n_clients; k++)
            all = all && rph_peer_state(nodes[k].peer) == RPH_STATE_CONNECTED &&
                  server_remote_of(k) != NULL;
    }
    for (int k = 1; k <= n_clients; k++)
        cr_assert_eq(rph_peer_state(nodes[k].peer), RPH_STATE_CONNECTED, "client %d", k);
}

/* Introduces a and b to each other (both at once, as the server does) and waits until both
 * have a usable member remote; returns how long that took. */
static uint64_t pair_up(int a, int b, uint64_t max_ms)
{
    introduce(a, b, NULL);
    introduce(b, a, NULL);
    uint64_t t0 = now;
    while (now - t0 < max_ms &&
           !(rph_remote_usable(member(a, b), now) && rph_remote_usable(member(b, a), now)))
        step();
    cr_assert(rph_remote_usable(member(a, b), now), "%d -> %d not usable", a, b);
    cr_assert(rph_remote_usable(member(b, a), now), "%d -> %d not usable", b, a);
    return now - t0;
}

static void send_to(int a, int b, const char *text)
{
    struct rph_remote *r = member(a, b);
    cr_assert_not_null(r);
    cr_assert_eq(rph_peer_send_data(nodes[a].peer, &r->addr, text, strlen(text)), 0);
    rph_peer_note_sent(nodes[a].peer, r, now);
    run();
}

static void until_data(int a, int b, const char *text, uint64_t max_ms)
{
    uint64_t t0 = now;
    int before = nodes[b].data_count;
    send_to(a, b, text);
    while (nodes[b].data_count == before && now - t0 < max_ms) {
        step();
        if (nodes[b].data_count == before) send_to(a, b, text);
    }
    cr_assert_gt(nodes[b].data_count, before, "no data %d -> %d in %lu ms", a, b,
                 (unsigned long)max_ms);
    cr_assert_str_eq(nodes[b].last_data, text);
}

TestSuite(peer_mesh, .init = setup, .fini = teardown);

Test(peer_mesh, two_port_restricted_clients_talk_straight_without_the_server)
{
    enum nat_kind c[] = {NAT_PORT_RESTRICTED, NAT_PORT_RESTRICTED};
    connect_all(NAT_PORT_RESTRICTED, c, 2);
    uint64_t took = pair_up(1, 2, 2000);
    printf("port-restricted clients: direct in %lu ms\n", (unsigned long)took);
    cr_assert_lt(took, 1000, "took %lu ms", (unsigned long)took);
    /* The lower node key starts the handshakes, the other only punched. */
    cr_assert_neq(member(1, 2)->initiator, member(2, 1)->initiator);
    cr_assert(member(1, 2)->has_node_pk && member(2, 1)->has_node_pk);
    uint64_t server_rx = nodes[0].rx_from[1] + nodes[0].rx_from[2];
    uint64_t server_hs = rph_peer_stats(nodes[0].peer)->handshakes_done;
    for (int i = 0; i < 20; i++) {
        until_data(1, 2, "one-to-two", 100);
        until_data(2, 1, "two-to-one", 100);
    }
    /* None of it went through the server: it heard nothing more than keepalives. */
    cr_assert_leq(nodes[0].rx_from[1] + nodes[0].rx_from[2], server_rx + 4);
    cr_assert_eq(rph_peer_stats(nodes[0].peer)->handshakes_done, server_hs);
    cr_assert_eq(rph_remote_path_kind(member(1, 2)), RPH_PATHK_DIRECT4);
    /* Introduced again (the server's refresh): the same remote, nothing restarts. */
    struct rph_remote *was = member(1, 2);
    uint64_t hs = rph_peer_stats(nodes[1].peer)->handshakes_sent;
    cr_assert_eq(introduce(1, 2, NULL), was);
    cr_assert_eq(rph_peer_stats(nodes[1].peer)->handshakes_sent, hs);
}

Test(peer_mesh, the_session_between_clients_outlives_the_server_and_rekeys)
{
    enum nat_kind c[] = {NAT_PORT_RESTRICTED, NAT_PORT_RESTRICTED};
    connect_all(NAT_NONE, c, 2);
    pair_up(1, 2, 2000);
    until_data(1, 2, "before", 100);
    uint64_t done1 = rph_peer_stats(nodes[1].peer)->handshakes_done;
    uint64_t done2 = rph_peer_stats(nodes[2].peer)->handshakes_done;
    nodes[0].down = true; /* the server machine sleeps */
    for (int i = 0; i < 15; i++) {
        advance(10000);
        until_data(1, 2, "asleep", 200);
        until_data(2, 1, "asleep-back", 200);
    }
    /* 150 s: both clients lost their server (and keep joining), the members stayed. */
    cr_assert_neq(rph_peer_state(nodes[1].peer), RPH_STATE_CONNECTED);
    cr_assert_geq(rph_peer_stats(nodes[1].peer)->rejoins, 1);
    cr_assert(rph_remote_usable(member(1, 2), now) && rph_remote_usable(member(2, 1), now));
    /* Rekeyed meanwhile (rekey every 60 s, by the lower key only). */
    uint64_t more = rph_peer_stats(nodes[1].peer)->handshakes_done - done1 +
                    rph_peer_stats(nodes[2].peer)->handshakes_done - done2;
    cr_assert_geq(more, 2, "handshakes while the server slept: %lu", (unsigned long)more);
    /* The server wakes up: the clients are its again. */
    nodes[0].down = false;
    uint64_t t0 = now;
    while (now - t0 < 20000 && !(rph_peer_state(nodes[1].peer) == RPH_STATE_CONNECTED &&
                                 rph_peer_state(nodes[2].peer) == RPH_STATE_CONNECTED))
        step();
    cr_assert_eq(rph_peer_state(nodes[1].peer), RPH_STATE_CONNECTED);
    cr_assert_eq(rph_peer_state(nodes[2].peer), RPH_STATE_CONNECTED);
    printf("server back: clients connected again in %lu ms\n", (unsigned long)(now - t0));
    until_data(1, 2, "after", 100);
}

Test(peer_mesh, a_symmetric_client_and_a_public_one_go_direct)
{
    enum nat_kind c[] = {NAT_SYMMETRIC, NAT_NONE};
    connect_all(NAT_NONE, c, 2);
    uint64_t took = pair_up(1, 2, 3000);
    printf("symmetric and public client: direct in %lu ms\n", (unsigned long)took);
    until_data(1, 2, "sym-to-pub", 100);
    until_data(2, 1, "pub-to-sym", 100);
}

Test(peer_mesh, symmetric_and_port_restricted_never_connect_and_the_server_path_stays)
{
    enum nat_kind c[] = {NAT_SYMMETRIC, NAT_PORT_RESTRICTED};
    connect_all(NAT_NONE, c, 2);
    introduce(1, 2, NULL);
    introduce(2, 1, NULL);
    advance(3000);
    cr_assert(!rph_remote_usable(member(1, 2), now));
    /* After the handshake window the members are dropped, and nobody rejoined for it. */
    advance(10000);
    cr_assert_null(member(1, 2));
    cr_assert_null(member(2, 1));
    cr_assert_eq(rph_peer_stats(nodes[1].peer)->rejoins, 0);
    cr_assert_eq(rph_peer_stats(nodes[2].peer)->rejoins, 0);
    cr_assert_eq(rph_peer_state(nodes[1].peer), RPH_STATE_CONNECTED);
    cr_assert_eq(rph_peer_state(nodes[2].peer), RPH_STATE_CONNECTED);
}

Test(peer_mesh, only_the_introduced_node_key_gets_the_members_slot)
{
    enum nat_kind c[] = {NAT_NONE, NAT_NONE, NAT_NONE};
    connect_all(NAT_NONE, c, 3);
    /* Client 1 is told client 3's key sits at client 2's endpoint: whatever answers there
     * proves another key, so neither side's handshake gives it keys. */
    uint8_t pk3[32];
    rph_peer_node_public(nodes[3].peer, pk3);
    introduce(1, 2, pk3);
    introduce(2, 1, NULL);
    advance(3000);
    struct rph_remote *r = member(1, 3);
    cr_assert_not_null(r);
    cr_assert(!r->up, "a member came up under another node's key");
    cr_assert_null(member(1, 2));
    cr_assert(!rph_remote_usable(member(2, 1), now));
    cr_assert_geq(
        rph_peer_stats(nodes[1].peer)->not_member + rph_peer_stats(nodes[2].peer)->not_member, 1);
    /* Our own key, the server's and garbage endpoints are refused. */
    struct rph_intro in = {.endpoint = nodes[2].lan};
    int err = 0;
    rph_peer_node_public(nodes[1].peer, in.node_pk);
    cr_assert_null(rph_peer_introduce(nodes[1].peer, &in, now, &err));
    cr_assert_eq(err, RPH_E_INVALID);
    rph_peer_node_public(nodes[0].peer, in.node_pk);
    cr_assert_null(rph_peer_introduce(nodes[1].peer, &in, now, &err));
    cr_assert_eq(err, RPH_E_INVALID);
    rph_peer_node_public(nodes[2].peer, in.node_pk);
    in.endpoint.port = 0;
    cr_assert_null(rph_peer_introduce(nodes[1].peer, &in, now, &err));
    cr_assert_eq(err, RPH_E_INVALID);
    /* The server itself takes no introductions. */
    in.endpoint = nodes[2].lan;
    cr_assert_null(rph_peer_introduce(nodes[0].peer, &in, now, &err));
    cr_assert_eq(err, RPH_E_NOTSUP);
}

Test(peer_mesh, members_pinning_applies_between_clients)
{
    place(0, NAT_NONE);
    place(1, NAT_NONE);
    place(2, NAT_NONE);
    /* Client 1 pins the server and itself only: client 2 is no member of its network. */
    uint8_t sk[32], pins[2][32];
    node_sk(0, sk);
    cr_assert_eq(rph_noise_public_key(pins[0], sk), 0);
    node_sk(1, sk);
    cr_assert_eq(rph_noise_public_key(pins[1], sk), 0);
    start(0, NULL, 0);
    advance(100);
    start(1, pins, 2);
    start(2, NULL, 0);
    advance(2000);
    cr_assert_eq(rph_peer_state(nodes[1].peer), RPH_STATE_CONNECTED);
    struct rph_intro in = {.endpoint = server_remote_of(2)->addr};
    rph_peer_node_public(nodes[2].peer, in.node_pk);
    int err = 0;
    cr_assert_null(rph_peer_introduce(nodes[1].peer, &in, now, &err));
    cr_assert_eq(err, RPH_E_INVALID);
    /* Client 2 tries anyway: client 1 refuses its handshake. */
    introduce(2, 1, NULL);
    advance(3000);
    cr_assert(!rph_remote_usable(member(2, 1), now));
    cr_assert_geq(rph_peer_stats(nodes[1].peer)->not_member, 1);
}

Test(peer_mesh, a_broken_direct_path_goes_via_the_server_and_comes_back)
{
    enum nat_kind c[] = {NAT_PORT_RESTRICTED, NAT_PORT_RESTRICTED};
    connect_all(NAT_NONE, c, 2);
    pair_up(1, 2, 2000);
    until_data(1, 2, "fine", 100);
    int paths = nodes[1].paths;
    cut[1][2] = cut[2][1] = true;
    send_to(1, 2, "lost");
    uint64_t t0 = now;
    while (now - t0 < 3000 && rph_remote_usable(member(1, 2), now))
        step();
    cr_assert(!rph_remote_usable(member(1, 2), now));
    cr_assert(member(1, 2)->via_server);
    printf("broken path noticed in %lu ms\n", (unsigned long)(now - t0));
    cr_assert_geq(now - t0, RPH_RELAY_FALLBACK_MS);
    cr_assert_gt(nodes[1].paths, paths);
    advance(3000);
    cut[1][2] = cut[2][1] = false;
    t0 = now;
    while (now - t0 < 5000 && !rph_remote_usable(member(1, 2), now))
        step();
    cr_assert(rph_remote_usable(member(1, 2), now), "the path did not come back");
    cr_assert(!member(1, 2)->via_server);
    printf("path back in %lu ms\n", (unsigned long)(now - t0));
    until_data(1, 2, "back", 100);
    until_data(2, 1, "back-too", 100);
}

/* Idle cost (issue #15): a client with many members wakes up about as often as with none.
 * While data flows a pair keeps itself alive (keepalives every RPH_MEMBER_KEEPALIVE_MS, all at
 * one wake-up, rekeyed with them); idle RPH_MEMBER_IDLE_MS it rests on both ends: no keepalives,
 * no silence timeout, traffic via the server. The first packet wakes it: direct again within a
 * round trip or two, fresh keys. */
Test(peer_mesh, an_idle_mesh_rests_and_wakes_on_traffic)
{
    enum nat_kind c[] = {NAT_PORT_RESTRICTED,
                         NAT_PORT_RESTRICTED,
                         NAT_PORT_RESTRICTED,
                         NAT_PORT_RESTRICTED,
                         NAT_NONE,
                         NAT_NONE};
    int n = 6, members = n - 1;
    connect_all(NAT_NONE, c, n);
    for (int a = 1; a <= n; a++)
        for (int b = a + 1; b <= n; b++)
            pair_up(a, b, 3000);
    until_data(1, 2, "settle", 200);
    /* Still direct half-way to resting (keepalives keep it), then every pair rests. */
    advance(RPH_MEMBER_IDLE_MS / 2);
    cr_assert(rph_remote_usable(member(1, 2), now) && !member(1, 2)->quiet);
    advance(RPH_MEMBER_IDLE_MS / 2 + 5000);
    for (int a = 1; a <= n; a++) {
        cr_assert_eq(rph_peer_quiet_members(nodes[a].peer), (size_t)members, "client %d", a);
        for (int b = 1; b <= n; b++)
            if (a != b) {
                cr_assert(member(a, b)->quiet && member(a, b)->via_server, "%d -> %d", a, b);
                cr_assert(!rph_remote_usable(member(a, b), now));
            }
    }
    cr_assert_geq(rph_peer_stats(nodes[1].peer)->member_quiets, (uint64_t)members);
    nodes[1].evloop = true;
    nodes[1].deadline = rph_peer_next_deadline(nodes[1].peer);
    uint64_t from_members0 = 0;
    for (int b = 2; b <= n; b++)
        from_members0 += nodes[1].rx_from[b];
    uint64_t minutes = 6;
    advance(minutes * 60000);
    double timer = (double)nodes[1].timer_wakeups / (double)minutes;
    double rx = (double)nodes[1].rx_wakeups / (double)minutes;
    uint64_t from_members = 0;
    for (int b = 2; b <= n; b++)
        from_members += nodes[1].rx_from[b];
    printf("idle client with %d resting members: %.1f timer and %.1f receive wake-ups a minute, "
           "%lu datagrams from members in %lu minutes\n",
           members, timer, rx, (unsigned long)(from_members - from_members0),
           (unsigned long)minutes);
    /* The server's keepalive (every 10 s) alone is 6 a minute, its answers 6; the members add
     * nothing (their keepalives, every 25 s each, were 12 receive wake-ups a minute more). */
    cr_assert_leq(timer, 7.0, "timer wake-ups a minute: %.1f", timer);
    cr_assert_leq(rx, 7.0, "receive wake-ups a minute: %.1f", rx);
    cr_assert_eq(from_members, from_members0, "resting members sent %lu datagrams",
                 (unsigned long)(from_members - from_members0));
    nodes[1].evloop = false;
    /* Six minutes resting, never dropped (a silent member rests; the server says when it
     * leaves). Traffic 1 -> 2 through the server wakes 1 as it routes it and 2 as it arrives. */
    uint64_t done = rph_peer_stats(nodes[1].peer)->handshakes_done +
                    rph_peer_stats(nodes[2].peer)->handshakes_done;
    uint64_t t0 = now;
    cr_assert(rph_peer_member_traffic(nodes[1].peer, member(1, 2), now));
    cr_assert(!rph_peer_member_traffic(nodes[1].peer, member(1, 2), now), "woke twice");
    run();
    advance(5);
    cr_assert(rph_peer_member_traffic(nodes[2].peer, member(2, 1), now) || !member(2, 1)->quiet);
    while (now - t0 < 3000 &&
           !(rph_remote_usable(member(1, 2), now) && rph_remote_usable(member(2, 1), now)))
        step();
    cr_assert(rph_remote_usable(member(1, 2), now) && rph_remote_usable(member(2, 1), now),
              "1 <-> 2 did not wake");
    cr_assert(!member(1, 2)->via_server && !member(2, 1)->via_server);
    printf("resting pair direct again %lu ms after the first packet\n", (unsigned long)(now - t0));
    cr_assert_gt(rph_peer_stats(nodes[1].peer)->handshakes_done +
                     rph_peer_stats(nodes[2].peer)->handshakes_done,
                 done, "woke without a handshake (keys from six minutes ago)");
    until_data(1, 2, "awake", 200);
    until_data(2, 1, "awake-too", 200);
    /* Only the sender woke (the server's forwarded packet not seen yet): its handshake,
     * straight to the other, wakes that end too. */
    t0 = now;
    cr_assert(rph_peer_member_traffic(nodes[3].peer, member(3, 5), now));
    while (now - t0 < 3000 &&
           !(rph_remote_usable(member(3, 5), now) && rph_remote_usable(member(5, 3), now)))
        step();
    cr_assert(rph_remote_usable(member(3, 5), now) && rph_remote_usable(member(5, 3), now));
    cr_assert_eq(rph_peer_stats(nodes[5].peer)->member_wakes, 1);
    until_data(5, 3, "woken-by-handshake", 200);
    /* The others still rest; a woken pair idle again rests again. */
    cr_assert(member(4, 6)->quiet && member(6, 4)->quiet);
    advance(RPH_MEMBER_IDLE_MS + 5000);
    cr_assert(member(1, 2)->quiet && member(2, 1)->quiet, "a woken pair never rested again");
}

/* The server goes away while pairs rest: the direct paths are the only ones now, so every
 * resting member wakes and the pairs carry traffic without the server. */
Test(peer_mesh, resting_members_wake_when_the_server_goes_away)
{
    enum nat_kind c[] = {NAT_PORT_RESTRICTED, NAT_PORT_RESTRICTED, NAT_PORT_RESTRICTED};
    connect_all(NAT_NONE, c, 3);
    pair_up(1, 2, 2000);
    pair_up(1, 3, 2000);
    pair_up(2, 3, 2000);
    advance(RPH_MEMBER_IDLE_MS + 5000);
    cr_assert(member(1, 2)->quiet && member(2, 3)->quiet);
    nodes[0].down = true; /* the server machine sleeps */
    uint64_t t0 = now;
    while (now - t0 < 60000 &&
           (rph_peer_quiet_members(nodes[1].peer) || rph_peer_quiet_members(nodes[2].peer) ||
            rph_peer_quiet_members(nodes[3].peer)))
        step();
    for (int a = 1; a <= 3; a++)
        cr_assert_eq(rph_peer_quiet_members(nodes[a].peer), 0, "client %d still rests", a);
    printf("server gone: resting members woke %lu ms later (its silence is peer_timeout)\n",
           (unsigned long)(now - t0));
    t0 = now;
    while (now - t0 < 5000 &&
           !(rph_remote_usable(member(1, 2), now) && rph_remote_usable(member(2, 3), now) &&
             rph_remote_usable(member(3, 1), now)))
        step();
    cr_assert(rph_remote_usable(member(1, 2), now) && rph_remote_usable(member(2, 3), now) &&
              rph_remote_usable(member(3, 1), now));
    until_data(1, 2, "no-server", 200);
    until_data(3, 2, "no-server-either", 200);
    /* Without the server they do not rest: idle, they keep themselves alive. */
    advance(3 * RPH_MEMBER_IDLE_MS);
    cr_assert(!member(1, 2)->quiet && rph_remote_usable(member(1, 2), now));
    until_data(2, 1, "still-there", 200);
}
