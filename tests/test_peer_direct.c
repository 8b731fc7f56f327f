// SPDX-License-Identifier: MIT
// Direct paths where the NATs allow them (candidates): sealed peers behind simulated NATs
// (symmetric, port-restricted, one router without hairpinning), with the core holepuncher and
// its relay, on a fake clock. A symmetric server against a public client is direct from the
// start; two hosts behind one router go direct over their LAN addresses; an endpoint moves only
// on an authenticated datagram, never on a punch, a forgery or a replay. Two symmetric NATs
// whose hosts also have IPv6 behind stateful firewalls go direct over IPv6.
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "peer_net.h"
#include "ruphin/error.h"
#include "ruphin/peer.h"
#include "ruphin/wire.h"

#define MAXMAP 256

enum nat_kind {
    NAT_NONE,            /* public: its own address on the internet */
    NAT_SYMMETRIC,       /* a new public port for every destination, inbound only from it */
    NAT_PORT_RESTRICTED, /* keeps the port, inbound only from where it sent */
};

struct node {
    struct rph_addr lan; /* its own address (public when NAT_NONE) */
    struct rph_addr v6;  /* its global IPv6 address behind a stateful firewall (family 0: none) */
    enum nat_kind nat;
    uint8_t router_ip[4]; /* behind a NAT: its router's public IP */
    struct rph_peer *peer;
    int data_count;
    char last_data[64];
    int paths;
    int last_reason;
};

/* A NAT mapping: node's datagrams to dest leave from pub_port, and only dest gets back in. */
struct mapping {
    int node;
    struct rph_addr dest;
    uint16_t pub_port;
};

/* A stateful IPv6 firewall's entry: node sent to dest, so dest gets back in. */
struct pinhole {
    int node;
    struct rph_addr dest;
};

static struct pinhole holes[MAXMAP];
static size_t n_holes;
static struct node nodes[2];
static struct mapping maps[MAXMAP];
static size_t n_maps;
static uint16_t next_port;
static bool drop_to_client;  /* node 0's datagrams to node 1 are lost (a punching client) */
static size_t sent_to_probe; /* datagrams a node sent to probe_addr */
static struct rph_addr probe_addr;
static bool hairpin; /* the shared router hairpins: its public address works from inside */
static bool capture; /* hold back the next transport node 0 sends straight to node 1 */
static struct dgram captured;
static size_t tx_transport[2], tx_hello[2]; /* what each node sent, straight (not relayed) */
static bool mute[2];                        /* everything the node sends is lost */
static bool hold_peerinfo; /* keep the holepuncher's next PeerInfo to node 1 (in `held`) */
static struct dgram held;
static bool have_held;

static struct rph_addr v4(uint8_t a, uint8_t b, uint8_t c, uint8_t d, uint16_t port)
{
    struct rph_addr x = {.family = 4, .ip = {a, b, c, d}, .port = port};
    return x;
}

static bool behind(int k)
{
    return nodes[k].nat != NAT_NONE;
}

static bool same_router(void)
{
    return behind(0) && behind(1) && memcmp(nodes[0].router_ip, nodes[1].router_ip, 4) == 0;
}

static struct rph_addr router(int k, uint16_t port)
{
    const uint8_t *ip = nodes[k].router_ip;
    return v4(ip[0], ip[1], ip[2], ip[3], port);
}

/* Where node k's datagram to `to` appears to come from, its NAT's mapping made on the way. */
static struct rph_addr outbound(int k, const struct rph_addr *to)
{
    if (!behind(k)) return nodes[k].lan;
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

/* The node a datagram from `from` to `to` reaches, or -1 (no mapping lets it in). */
static int inbound(const struct rph_addr *from, const struct rph_addr *to)
{
    if (to->family == 6) {
        /* IPv6: no NAT, a stateful firewall in front of each node lets in only replies. */
        for (size_t i = 0; i < n_holes; i++) {
            int k = holes[i].node;
            if (nodes[k].peer && rph_addr_equal(to, &nodes[k].v6) &&
                rph_addr_equal(from, &holes[i].dest))
                return k;
        }
        return -1;
    }
    for (int k = 0; k < 2; k++) {
        if (!nodes[k].peer) continue;
        if (rph_addr_equal(to, &nodes[k].lan)) {
            /* A LAN address is reached only from its own LAN (or it is public). */
            if (!behind(k)) return k;
            for (int j = 0; j < 2; j++)
                if (j != k && same_router() && rph_addr_equal(from, &nodes[j].lan)) return k;
            return -1;
        }
    }
    for (size_t i = 0; i < n_maps; i++) {
        struct rph_addr pub = router(maps[i].node, maps[i].pub_port);
        if (rph_addr_equal(to, &pub) && rph_addr_equal(from, &maps[i].dest)) return maps[i].node;
    }
    return -1;
}

static void node_send(void *ctx, const struct rph_addr *to, const uint8_t *b, size_t n)
{
    struct node *nd = ctx;
    int k = (int)(nd - nodes);
    if (rph_addr_equal(to, &probe_addr)) sent_to_probe++;
    if (mute[k]) return;
    if (n > 3 && !rph_relay_is(b, n) && !rph_addr_equal(to, &hp_addr)) {
        if (b[3] == RPH_TRANSPORT) tx_transport[k]++;
        if (b[3] == RPH_HELLO_REQ) tx_hello[k]++;
    }
    if (capture && k == 0 && n > 3 && b[3] == RPH_TRANSPORT && !rph_relay_is(b, n)) {
        capture = false;
        captured.len = n;
        memcpy(captured.buf, b, n);
        return; /* held back: the test delivers it (or a forgery of it) itself */
    }
    if (to->family == 6) {
        if (!nd->v6.family) return; /* no IPv6 here */
        bool known = false;
        for (size_t i = 0; i < n_holes && !known; i++)
            known = holes[i].node == k && rph_addr_equal(&holes[i].dest, to);
        if (!known) {
            cr_assert_lt(n_holes, MAXMAP);
            holes[n_holes].node = k;
            holes[n_holes++].dest = *to;
        }
        enqueue(&nd->v6, to, b, n);
        return;
    }
    /* Inside one router: to the other's LAN address stays on the LAN; to the router's own
     * public address is lost (no hairpinning). */
    if (same_router()) {
        if (rph_addr_equal(to, &nodes[1 - k].lan)) {
            enqueue(&nd->lan, to, b, n);
            return;
        }
        if (memcmp(to->ip, nd->router_ip, 4) == 0 && !hairpin) return;
    }
    struct rph_addr src = outbound(k, to);
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
    nd->last_reason = reason;
    cr_assert_str_neq(rph_path_reason_name(reason), "?");
}

static bool net_hold(const struct dgram *d)
{
    uint8_t t = d->len > 3 ? d->buf[3] : 0;
    bool info = t == RPH_PEER_INFO || t == RPH_SEALED_PEER_INFO || t == RPH_TIMED_PEER_INFO;
    if (!hold_peerinfo || !info || !rph_addr_equal(&d->from, &hp_addr) ||
        !rph_addr_equal(&d->to, &nodes[1].lan))
        return false;
    hold_peerinfo = false;
    held = *d;
    have_held = true;
    return true;
}

static bool net_pass(const struct dgram *d)
{
    (void)d;
    return true;
}

static void net_deliver(struct dgram *d)
{
    int k = inbound(&d->from, &d->to);
    if (k < 0 || (k == 1 && drop_to_client && rph_addr_equal(&d->from, &nodes[0].lan))) return;
    rph_peer_input(nodes[k].peer, d->buf, d->len, &d->from, now);
}

static void net_tick(void)
{
    for (int k = 0; k < 2; k++)
        if (nodes[k].peer) rph_peer_tick(nodes[k].peer, now);
}

static const uint8_t KEY[32] = {9, 9, 9};

static struct rph_peer *start(int k, enum rph_role role, bool relay)
{
    struct rph_peer_config c;
    rph_peer_config_defaults(&c, role);
    c.holepuncher = hp_addr;
    c.handshake_timeout_ms = 0;
    rph_session_set(&c.session, "direct", 6);
    c.relay = relay;
    c.sealed = true;
    rph_seal_derive(&c.seal, KEY, "direct", 6);
    c.node_sk[1] = (uint8_t)(0x70 + k);
    struct rph_peer_callbacks cb = {.send = node_send, .on_data = node_data, .on_path = node_path};
    int err = 0;
    nodes[k].peer = rph_peer_new(&c, &cb, &nodes[k], now, &err);
    cr_assert_not_null(nodes[k].peer, "peer_new: %s", rph_strerror(err));
    run();
    return nodes[k].peer;
}

static void place(int k, enum nat_kind nat)
{
    nodes[k].nat = nat;
    if (nat == NAT_NONE) {
        nodes[k].lan = v4(198, 51, 100, (uint8_t)(k + 1), (uint16_t)(40000 + k));
    } else {
        nodes[k].lan = v4(192, 168, 1, (uint8_t)(k + 2), (uint16_t)(40000 + k));
        memcpy(nodes[k].router_ip, (uint8_t[]){203, 0, 113, (uint8_t)(k + 1)}, 4);
    }
}

static void setup(void)
{
    n_maps = 0;
    n_holes = 0;
    next_port = 20000;
    drop_to_client = false;
    sent_to_probe = 0;
    memset(&probe_addr, 0, sizeof probe_addr);
    capture = false;
    hairpin = false;
    memset(tx_transport, 0, sizeof tx_transport);
    memset(tx_hello, 0, sizeof tx_hello);
    memset(mute, 0, sizeof mute);
    hold_peerinfo = have_held = false;
    memset(nodes, 0, sizeof nodes);
    rph_seal_init();
    struct rph_holepuncher_config hc;
    rph_holepuncher_config_defaults(&hc);
    hc.relay_enabled = true;
    net_reset(7000000, &hc);
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
        if (r[i].in_use && r[i].up) return &r[i];
    for (size_t i = 0; i < n; i++)
        if (r[i].in_use) return &r[i];
    return NULL;
}

static void send_text(int k, const char *text)
{
    struct rph_remote *r = remote0(k);
    cr_assert_not_null(r);
    cr_assert_eq(rph_peer_send_data(nodes[k].peer, &r->addr, text, strlen(text)), 0);
    rph_peer_note_sent(nodes[k].peer, r, now);
    run();
}

static void until_data(int k, const char *text, uint64_t max_ms)
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
}

/* Server node 0 and client node 1 placed as given; until the client is connected. */
static uint64_t connect_pair(enum nat_kind server, enum nat_kind client, bool relay)
{
    place(0, server);
    place(1, client);
    start(0, RPH_ROLE_SERVER, relay);
    advance(100);
    uint64_t t0 = now;
    start(1, RPH_ROLE_CLIENT, relay);
    while (rph_peer_state(nodes[1].peer) != RPH_STATE_CONNECTED && now - t0 < 5000)
        step();
    cr_assert_eq(rph_peer_state(nodes[1].peer), RPH_STATE_CONNECTED);
    return now - t0;
}

TestSuite(peer_direct, .init = setup, .fini = teardown);

/* Sealed, idle: the client keeps the pair alive and the server answers each keepalive, with
 * none of its own and no punch at the client's relay re-Joins (every 20 s): an idle server
 * wakes once per client and interval, not three times. Silent client: the server sends nothing
 * and drops it after peer_timeout, as before. */
Test(peer_direct, a_sealed_server_answers_its_clients_keepalives_and_sends_none_of_its_own)
{
    connect_pair(NAT_PORT_RESTRICTED, NAT_PORT_RESTRICTED, true);
    advance(1000);
    memset(tx_transport, 0, sizeof tx_transport);
    memset(tx_hello, 0, sizeof tx_hello);
    const struct rph_peer_stats *cs = rph_peer_stats(nodes[1].peer);
    uint64_t rejoins = cs->rejoins, joins = cs->joins_sent;
    advance(300000); /* 5 minutes: 30 keepalive intervals, 15 relay re-Joins, 2 rekeys */
    printf("5 idle minutes: client sent %zu transport, server %zu (and %zu hellos); %llu Joins\n",
           tx_transport[1], tx_transport[0], tx_hello[0],
           (unsigned long long)(cs->joins_sent - joins));
    cr_assert_eq(rph_peer_state(nodes[1].peer), RPH_STATE_CONNECTED);
    cr_assert_eq(cs->rejoins, rejoins, "the pair held without a rejoin");
    cr_assert_geq(cs->joins_sent - joins, 14, "the client kept its relay membership");
    cr_assert(remote0(0)->up && remote0(1)->up);
    cr_assert_geq(tx_transport[1], 30, "a keepalive every interval from the client");
    /* Beyond the answers only each rekey's confirmation (a keepalive under the new keys). */
    cr_assert_leq(tx_transport[0], tx_transport[1] + 3, "the server answers, it adds none");
    cr_assert_geq(tx_transport[0] + 3, tx_transport[1], "each keepalive answered");
    cr_assert_eq(tx_hello[0], 0, "no punch toward an up client at its re-Joins");

    mute[1] = true; /* the client is gone without a word */
    size_t before = tx_transport[0];
    uint64_t t0 = now;
    while (remote0(0) && remote0(0)->up && now - t0 < 60000)
        step();
    cr_assert(!remote0(0) || !remote0(0)->up, "the silent client was dropped");
    cr_assert_geq(now - t0, 29000, "not before peer_timeout");
    cr_assert_eq(tx_transport[0], before, "nothing sent toward the silent client");
}

static void symmetric_server_public_client(bool relay)
{
    uint64_t took = connect_pair(NAT_SYMMETRIC, NAT_NONE, relay);
    printf("symmetric server, public client (relay %s): connected in %lu ms\n",
           relay ? "on" : "off", (unsigned long)took);
    cr_assert_lt(took, RPH_RELAY_AFTER_MS, "took %lu ms", (unsigned long)took);
    struct rph_remote *c = remote0(1);
    /* The client moved to the port the server's punch came from, not the holepuncher's. */
    cr_assert(c->has_relay_addr);
    cr_assert_neq(c->addr.port, c->relay_addr.port);
    cr_assert_eq(memcmp(c->addr.ip, c->relay_addr.ip, 4), 0);
    cr_assert_geq(rph_peer_stats(nodes[1].peer)->cand_probes, 1);
    cr_assert_eq(rph_peer_stats(nodes[1].peer)->cand_added, 1);
    until_data(0, "to-server", 100);
    until_data(1, "to-client", 100);
    advance(30000);
    until_data(0, "later", 100);
    cr_assert(!remote0(0)->relayed && !remote0(1)->relayed);
    cr_assert_eq(nodes[0].paths + nodes[1].paths, 0, "the path changed");
    cr_assert_eq(rph_holepuncher_relay_stats(hp)->relayed, 0);
    cr_assert_eq(rph_remote_path_kind(remote0(1)), RPH_PATHK_DIRECT4);
    cr_assert_str_eq(rph_path_kind_name(rph_remote_path_kind(remote0(1))), "direct-ipv4");
}

Test(peer_direct, a_symmetric_server_and_a_public_client_are_direct_from_the_start)
{
    symmetric_server_public_client(true);
}

Test(peer_direct, a_symmetric_server_and_a_public_client_are_direct_without_a_relay_too)
{
    symmetric_server_public_client(false);
}

/* holepuncherd sends both PeerInfos at once, and the server's punch can reach the client before
 * the client's own PeerInfo does: the client remembers the punch, and when the PeerInfo names
 * that IP it probes the punch's port at once, direct before the relay would take over (before:
 * at the server's next punch, 400 ms later, after the relay). */
Test(peer_direct, a_symmetric_servers_punch_that_beats_our_peerinfo_is_probed_when_it_comes)
{
    place(0, NAT_SYMMETRIC);
    place(1, NAT_NONE);
    start(0, RPH_ROLE_SERVER, true);
    advance(100);
    hold_peerinfo = true;
    uint64_t t0 = now;
    start(1, RPH_ROLE_CLIENT, true);
    cr_assert(have_held, "the client's PeerInfo was held back");
    cr_assert_eq(rph_peer_stats(nodes[1].peer)->cand_added, 0, "nothing to take the punch yet");
    advance(30);
    enqueue(&held.from, &held.to, held.buf, held.len); /* the PeerInfo, 30 ms late */
    run();
    while (rph_peer_state(nodes[1].peer) != RPH_STATE_CONNECTED && now - t0 < 5000)
        step();
    uint64_t took = now - t0;
    printf("symmetric server's punch before the client's PeerInfo: connected in %lu ms\n",
           (unsigned long)took);
    cr_assert_eq(rph_peer_state(nodes[1].peer), RPH_STATE_CONNECTED);
    cr_assert_lt(took, RPH_RELAY_AFTER_MS, "took %lu ms", (unsigned long)took);
    cr_assert_eq(rph_peer_stats(nodes[1].peer)->cand_added, 1, "the early punch's port");
    cr_assert(!remote0(1)->relayed);
    cr_assert_eq(rph_remote_path_kind(remote0(1)), RPH_PATHK_DIRECT4);
    until_data(0, "to-server", 100);
    until_data(1, "to-client", 100);
    cr_assert_eq(rph_holepuncher_relay_stats(hp)->relayed, 0);
}

Test(peer_direct, a_public_server_answers_a_symmetric_client_where_its_init_came_from)
{
    uint64_t took = connect_pair(NAT_NONE, NAT_SYMMETRIC, true);
    cr_assert_lt(took, RPH_RELAY_AFTER_MS, "took %lu ms", (unsigned long)took);
    until_data(0, "to-server", 100);
    until_data(1, "to-client", 100);
    cr_assert(!remote0(0)->relayed && !remote0(1)->relayed);
    /* The server's remote is the client's real (second) port, not the holepuncher's. */
    cr_assert_neq(remote0(0)->addr.port, remote0(0)->relay_addr.port);
}

static void hello_from(int k, const struct rph_addr *from)
{
    uint8_t b[16];
    struct rph_msg m = {.type = RPH_HELLO_REQ};
    int n = rph_wire_encode(&m, b, sizeof b);
    cr_assert_gt(n, 0);
    rph_peer_input(nodes[k].peer, b, (size_t)n, from, now);
    run();
}

Test(peer_direct, a_plain_punch_gets_a_probe_but_moves_nothing)
{
    /* A public server whose datagrams never reach the client: it stays punching. */
    place(0, NAT_NONE);
    place(1, NAT_NONE);
    drop_to_client = true;
    start(0, RPH_ROLE_SERVER, false);
    advance(100);
    start(1, RPH_ROLE_CLIENT, false);
    advance(50);
    struct rph_remote *c = remote0(1);
    cr_assert_not_null(c);
    cr_assert(!c->up);
    struct rph_addr server = c->addr;
    const struct rph_peer_stats *st = rph_peer_stats(nodes[1].peer);

    /* From another IP: nothing (a punch may only name another port of the introduced host). */
    struct rph_addr stranger = v4(192, 0, 2, 66, 5555);
    probe_addr = stranger;
    uint64_t unknown = st->unknown_peer;
    hello_from(1, &stranger);
    cr_assert_eq(st->cand_added, 0);
    cr_assert_eq(st->unknown_peer, unknown + 1);
    cr_assert_eq(sent_to_probe, 0);

    /* From the server's IP, another port: one probe (the init in flight) goes there at once. */
    struct rph_addr other = server;
    other.port = 1234;
    probe_addr = other;
    hello_from(1, &other);
    cr_assert_eq(st->cand_added, 1);
    cr_assert_eq(sent_to_probe, 1);
    /* The same punch again is no new candidate (and no extra probe). */
    hello_from(1, &other);
    cr_assert_eq(st->cand_added, 1);
    cr_assert_eq(sent_to_probe, 1);
    cr_assert(rph_addr_equal(&remote0(1)->addr, &server), "a punch moved the endpoint");
    /* A forged handshake answer from there is refused and moves nothing. */
    uint8_t forged[RPH_HS_RESP_LEN] = {0, RPH_HS_RESP_LEN, 0, RPH_HANDSHAKE_RESP};
    uint64_t bad = st->auth_failed + st->no_key + st->unexpected + st->malformed;
    cr_assert_lt(rph_peer_input(nodes[1].peer, forged, sizeof forged, &other, now), 0);
    cr_assert_gt(st->auth_failed + st->no_key + st->unexpected + st->malformed, bad);
    cr_assert(rph_addr_equal(&remote0(1)->addr, &server));
    /* Probes stay bounded: a spoofed punch buys a few. */
    advance(20000);
    printf("probes to a punched candidate nobody answers: %zu\n", sent_to_probe);
    cr_assert_leq(sent_to_probe, 4);
    cr_assert(rph_addr_equal(&remote0(1)->addr, &server));
}

Test(peer_direct, only_an_authenticated_fresh_datagram_moves_the_endpoint)
{
    connect_pair(NAT_NONE, NAT_NONE, false);
    until_data(1, "warm-up", 100);
    struct rph_remote *c = remote0(1);
    struct rph_addr server = c->addr;
    const struct rph_peer_stats *st = rph_peer_stats(nodes[1].peer);
    capture = true;
    send_text(0, "genuine");
    cr_assert(!capture);
    uint64_t roamed = st->roamed;
    int count = nodes[1].data_count;

    /* A forgery of it (one bit flipped) from a new endpoint: refused, nothing moves. */
    struct rph_addr elsewhere = v4(192, 0, 2, 99, 4444);
    struct dgram f = captured;
    f.buf[f.len - 1] ^= 1;
    cr_assert_eq(rph_peer_input(nodes[1].peer, f.buf, f.len, &elsewhere, now), RPH_E_AUTH);
    cr_assert(rph_addr_equal(&c->addr, &server));
    /* The genuine one from where it was sent: taken. */
    f = captured;
    cr_assert_eq(rph_peer_input(nodes[1].peer, f.buf, f.len, &server, now), 0);
    cr_assert_str_eq(nodes[1].last_data, "genuine");
    cr_assert_eq(nodes[1].data_count, count + 1);
    /* The same again from a new endpoint (an attacker replaying it): refused, nothing moves. */
    f = captured;
    cr_assert_eq(rph_peer_input(nodes[1].peer, f.buf, f.len, &elsewhere, now), RPH_E_REPLAY);
    cr_assert(rph_addr_equal(&c->addr, &server));
    cr_assert_eq(st->roamed, roamed);

    /* A fresh authenticated one from there: the endpoint follows it. */
    uint8_t buf[RPH_FRAME_HEADROOM + 16 + RPH_FRAME_TAILROOM];
    memcpy(buf + RPH_FRAME_HEADROOM, "moved", 5);
    uint8_t *d;
    int n = rph_peer_frame(nodes[0].peer, remote0(0), buf, 5, &d);
    cr_assert_gt(n, 0);
    cr_assert_eq(rph_peer_input(nodes[1].peer, d, (size_t)n, &elsewhere, now), 0);
    cr_assert_str_eq(nodes[1].last_data, "moved");
    cr_assert(rph_addr_equal(&c->addr, &elsewhere));
    cr_assert_eq(st->roamed, roamed + 1);
}

static struct rph_addr lan_of(int k)
{
    return nodes[k].lan;
}

Test(peer_direct, two_hosts_behind_one_router_go_direct_over_their_lan_addresses)
{
    place(0, NAT_PORT_RESTRICTED);
    place(1, NAT_PORT_RESTRICTED);
    memcpy(nodes[1].router_ip, nodes[0].router_ip, 4); /* one router, no hairpinning */
    start(0, RPH_ROLE_SERVER, true);
    advance(100);
    uint64_t t0 = now;
    start(1, RPH_ROLE_CLIENT, true);
    while (rph_peer_state(nodes[1].peer) != RPH_STATE_CONNECTED && now - t0 < 5000)
        step();
    cr_assert_eq(rph_peer_state(nodes[1].peer), RPH_STATE_CONNECTED);
    until_data(0, "relayed", 500);
    cr_assert(remote0(0)->relayed && remote0(1)->relayed);
    cr_assert_eq(rph_remote_path_kind(remote0(1)), RPH_PATHK_RELAYED);

    /* Each offers its LAN address (ruphin-tund sends them in a sealed control message). */
    struct rph_addr l0 = lan_of(0), l1 = lan_of(1);
    uint64_t t1 = now;
    cr_assert_eq(rph_peer_set_lan_candidates(nodes[1].peer, remote0(1), &l0, 1, now), 1);
    cr_assert_eq(rph_peer_set_lan_candidates(nodes[0].peer, remote0(0), &l1, 1, now), 1);
    run();
    while ((remote0(0)->relayed || remote0(1)->relayed) && now - t1 < 3000)
        step();
    printf("LAN path %lu ms after the candidates\n", (unsigned long)(now - t1));
    cr_assert(!remote0(0)->relayed && !remote0(1)->relayed);
    cr_assert_leq(now - t1, 100);
    cr_assert(rph_addr_equal(&remote0(1)->addr, &l0));
    cr_assert(rph_addr_equal(&remote0(0)->addr, &l1));
    cr_assert_eq(rph_remote_path_kind(remote0(1)), RPH_PATHK_LAN);
    cr_assert_eq(rph_remote_path_kind(remote0(0)), RPH_PATHK_LAN);
    cr_assert_str_eq(rph_path_kind_name(RPH_PATHK_LAN), "direct-lan");
    uint64_t relayed = rph_holepuncher_relay_stats(hp)->relayed;
    until_data(0, "over-the-lan", 100);
    until_data(1, "back-over-the-lan", 100);
    advance(30000);
    until_data(0, "still", 100);
    cr_assert_eq(rph_holepuncher_relay_stats(hp)->relayed, relayed, "data went through the relay");
    cr_assert_eq(rph_remote_path_kind(remote0(1)), RPH_PATHK_LAN);
}

Test(peer_direct, an_offered_candidate_list_is_checked_and_bounded)
{
    connect_pair(NAT_NONE, NAT_NONE, true);
    struct rph_remote *c = remote0(1);
    const struct rph_peer_stats *st = rph_peer_stats(nodes[1].peer);
    struct rph_addr bad[] = {
        v4(0, 0, 0, 0, 7000),
        v4(127, 0, 0, 1, 7000),
        v4(224, 0, 0, 1, 7000),
        v4(255, 255, 255, 255, 7000),
        v4(169, 254, 1, 1, 7000),
        v4(10, 0, 0, 1, 0),
        c->relay_addr, /* where the holepuncher sees it: not a LAN address */
        {.family = 6, .ip = {0xfd, 1}, .port = 7000},
        {.family = 9, .port = 1},
    };
    size_t nbad = sizeof bad / sizeof bad[0];
    uint64_t refused = st->cand_refused;
    cr_assert_eq(rph_peer_set_lan_candidates(nodes[1].peer, c, bad, nbad, now), 0);
    cr_assert_eq(st->cand_refused, refused + nbad);
    cr_assert_eq(c->n_cand, 0);
    /* Twelve good ones and a duplicate: eight kept, the rest refused. */
    struct rph_addr good[13];
    for (int i = 0; i < 12; i++)
        good[i] = v4(10, 0, 0, (uint8_t)(i + 1), 7000);
    good[12] = good[0];
    cr_assert_eq(rph_peer_set_lan_candidates(nodes[1].peer, c, good, 13, now), RPH_MAX_CANDIDATES);
    cr_assert_eq(c->n_cand, RPH_MAX_CANDIDATES);
    /* A new offer replaces the old one. */
    cr_assert_eq(rph_peer_set_lan_candidates(nodes[1].peer, c, good + 11, 1, now), 1);
    cr_assert_eq(c->n_cand, 1);
    cr_assert_eq(rph_peer_set_lan_candidates(nodes[1].peer, c, NULL, 0, now), 0);
    cr_assert_eq(c->n_cand, 0);
    cr_assert_eq(rph_peer_set_lan_candidates(nodes[1].peer, NULL, good, 1, now), RPH_E_INVALID);
    /* Probes to candidates nobody answers stay bounded (about a minute's worth). */
    rph_peer_set_lan_candidates(nodes[1].peer, c, good, 1, now);
    probe_addr = good[0];
    advance(300000);
    printf("probes to a LAN candidate nobody answers in 5 min: %zu\n", sent_to_probe);
    cr_assert_leq(sent_to_probe, 32);
    cr_assert_geq(sent_to_probe, 3);
}

Test(peer_direct, plaintext_takes_no_candidates)
{
    place(0, NAT_NONE);
    place(1, NAT_NONE);
    struct rph_peer_config c;
    rph_peer_config_defaults(&c, RPH_ROLE_CLIENT);
    c.holepuncher = hp_addr;
    rph_session_set(&c.session, "plain", 5);
    struct rph_peer_callbacks cb = {.send = node_send};
    int err = 0;
    nodes[1].peer = rph_peer_new(&c, &cb, &nodes[1], now, &err);
    cr_assert_not_null(nodes[1].peer);
    struct rph_remote r = {.in_use = true};
    struct rph_addr a = v4(10, 0, 0, 1, 7000);
    cr_assert_eq(rph_peer_set_lan_candidates(nodes[1].peer, &r, &a, 1, now), RPH_E_NOTSUP);
}

Test(peer_direct, a_lan_path_wins_over_a_working_public_one)
{
    /* One router that does hairpin: the public path works, the LAN one is better. */
    hairpin = true;
    place(0, NAT_PORT_RESTRICTED);
    place(1, NAT_PORT_RESTRICTED);
    memcpy(nodes[1].router_ip, nodes[0].router_ip, 4);
    start(0, RPH_ROLE_SERVER, true);
    advance(100);
    start(1, RPH_ROLE_CLIENT, true);
    advance(1000);
    cr_assert_eq(rph_peer_state(nodes[1].peer), RPH_STATE_CONNECTED);
    until_data(0, "via-the-router", 100);
    cr_assert(!remote0(0)->relayed && !remote0(1)->relayed);
    cr_assert_eq(rph_remote_path_kind(remote0(1)), RPH_PATHK_DIRECT4);
    int paths = nodes[1].paths;

    struct rph_addr l0 = lan_of(0), l1 = lan_of(1);
    cr_assert_eq(rph_peer_set_lan_candidates(nodes[1].peer, remote0(1), &l0, 1, now), 1);
    cr_assert_eq(rph_peer_set_lan_candidates(nodes[0].peer, remote0(0), &l1, 1, now), 1);
    run();
    advance(100);
    cr_assert_eq(rph_remote_path_kind(remote0(1)), RPH_PATHK_LAN);
    cr_assert_eq(rph_remote_path_kind(remote0(0)), RPH_PATHK_LAN);
    /* A change of kind on a direct path is a path change, with its own reason. */
    cr_assert_gt(nodes[1].paths, paths);
    cr_assert_eq(nodes[1].last_reason, RPH_PATH_KIND);
    until_data(0, "over-the-lan", 100);
    until_data(1, "back", 100);
    advance(30000);
    cr_assert_eq(rph_remote_path_kind(remote0(1)), RPH_PATHK_LAN);
}

static struct rph_addr v6_of(int k)
{
    struct rph_addr x = {.family = 6, .ip = {0x20, 0x01, 0x0d, 0xb8, 0, (uint8_t)(k + 1)}};
    x.ip[15] = 1;
    x.port = (uint16_t)(40000 + k);
    return x;
}

Test(peer_direct, two_symmetric_nats_with_ipv6_go_direct_over_ipv6)
{
    /* IPv4 alone would stay relayed (two symmetric NATs); both also have IPv6 behind stateful
     * firewalls that drop what is not a reply. */
    nodes[0].v6 = v6_of(0);
    nodes[1].v6 = v6_of(1);
    connect_pair(NAT_SYMMETRIC, NAT_SYMMETRIC, true);
    until_data(0, "relayed", RPH_RELAY_AFTER_MS + 1000);
    cr_assert(remote0(0)->relayed && remote0(1)->relayed);

    /* Each offers its IPv6 endpoint (ruphin-tund: tag 0x07 version 2). */
    struct rph_addr a0 = v6_of(0), a1 = v6_of(1);
    uint64_t t1 = now;
    cr_assert_eq(rph_peer_set_v6_candidates(nodes[1].peer, remote0(1), &a0, 1, now), 1);
    cr_assert_eq(rph_peer_set_v6_candidates(nodes[0].peer, remote0(0), &a1, 1, now), 1);
    run();
    while ((remote0(0)->relayed || remote0(1)->relayed) && now - t1 < 3000)
        step();
    printf("IPv6 path %lu ms after the candidates\n", (unsigned long)(now - t1));
    cr_assert(!remote0(0)->relayed && !remote0(1)->relayed);
    cr_assert_leq(now - t1, 100);
    cr_assert(rph_addr_equal(&remote0(1)->addr, &a0));
    cr_assert(rph_addr_equal(&remote0(0)->addr, &a1));
    cr_assert_eq(rph_remote_path_kind(remote0(1)), RPH_PATHK_DIRECT6);
    cr_assert_eq(rph_remote_path_kind(remote0(0)), RPH_PATHK_DIRECT6);
    uint64_t relayed = rph_holepuncher_relay_stats(hp)->relayed;
    until_data(0, "over-ipv6", 100);
    until_data(1, "back-over-ipv6", 100);
    advance(30000);
    until_data(0, "still", 100);
    cr_assert_eq(rph_holepuncher_relay_stats(hp)->relayed, relayed, "data went through the relay");
    cr_assert_eq(rph_remote_path_kind(remote0(1)), RPH_PATHK_DIRECT6);
}

Test(peer_direct, ipv6_on_one_side_only_stays_relayed)
{
    /* Only node 0 has IPv6: node 1 is offered its candidate but cannot send IPv6, and node 0's
     * firewall never lets an unsolicited datagram in. */
    nodes[0].v6 = v6_of(0);
    connect_pair(NAT_SYMMETRIC, NAT_SYMMETRIC, true);
    until_data(0, "relayed", RPH_RELAY_AFTER_MS + 1000);
    struct rph_addr a0 = v6_of(0);
    cr_assert_eq(rph_peer_set_v6_candidates(nodes[1].peer, remote0(1), &a0, 1, now), 1);
    advance(5000);
    cr_assert(remote0(0)->relayed && remote0(1)->relayed);
    cr_assert_eq(rph_remote_path_kind(remote0(1)), RPH_PATHK_RELAYED);
    until_data(0, "still-relayed", 100);
}

Test(peer_direct, a_working_ipv4_path_is_not_left_for_ipv6)
{
    nodes[0].v6 = v6_of(0);
    nodes[1].v6 = v6_of(1);
    connect_pair(NAT_PORT_RESTRICTED, NAT_PORT_RESTRICTED, true);
    until_data(0, "direct", 1000);
    cr_assert(!remote0(0)->relayed && !remote0(1)->relayed);
    cr_assert_eq(rph_remote_path_kind(remote0(1)), RPH_PATHK_DIRECT4);
    struct rph_addr a0 = v6_of(0), a1 = v6_of(1);
    probe_addr = a0;
    cr_assert_eq(rph_peer_set_v6_candidates(nodes[1].peer, remote0(1), &a0, 1, now), 1);
    cr_assert_eq(rph_peer_set_v6_candidates(nodes[0].peer, remote0(0), &a1, 1, now), 1);
    advance(5000);
    cr_assert_eq(sent_to_probe, 0, "a working IPv4 path was probed away from");
    cr_assert_eq(rph_remote_path_kind(remote0(1)), RPH_PATHK_DIRECT4);
    cr_assert_eq(rph_remote_path_kind(remote0(0)), RPH_PATHK_DIRECT4);
}

Test(peer_direct, an_offered_ipv6_list_is_checked)
{
    connect_pair(NAT_NONE, NAT_NONE, true);
    struct rph_remote *c = remote0(1);
    const struct rph_peer_stats *st = rph_peer_stats(nodes[1].peer);
    struct rph_addr bad[] = {
        {.family = 6, .ip = {0xfe, 0x80, [15] = 1}, .port = 7000}, /* link-local */
        {.family = 6, .ip = {0xfd, 0x00, [15] = 1}, .port = 7000}, /* ULA */
        {.family = 6, .ip = {0xff, 0x02, [15] = 1}, .port = 7000}, /* multicast */
        {.family = 6, .ip = {[15] = 1}, .port = 7000},             /* loopback */
        {.family = 6, .ip = {0x20, 0x01, 0x0d, 0xb8}, .port = 0},
        v4(10, 0, 0, 1, 7000),
    };
    size_t nbad = sizeof bad / sizeof bad[0];
    uint64_t refused = st->cand_refused;
    cr_assert_eq(rph_peer_set_v6_candidates(nodes[1].peer, c, bad, nbad, now), 0);
    cr_assert_eq(st->cand_refused, refused + nbad);
    cr_assert_eq(c->n_cand, 0);
    /* IPv6 and LAN offers replace only their own kind. */
    struct rph_addr g = v6_of(0), l = v4(10, 0, 0, 1, 7000);
    cr_assert_eq(rph_peer_set_v6_candidates(nodes[1].peer, c, &g, 1, now), 1);
    cr_assert_eq(rph_peer_set_lan_candidates(nodes[1].peer, c, &l, 1, now), 1);
    cr_assert_eq(c->n_cand, 2);
    cr_assert_eq(rph_peer_set_v6_candidates(nodes[1].peer, c, NULL, 0, now), 0);
    cr_assert_eq(c->n_cand, 1);
    cr_assert_eq(c->cand[0].kind, RPH_CAND_LAN);
}
