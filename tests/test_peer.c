// SPDX-License-Identifier: MIT
// The peer and holepuncher state machines wired together in memory, on a fake clock:
// handshakes, several clients, retries, timeouts, keepalives, re-join, and the crate fixes.
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#define PN_STEP_MS 50
#include "peer_net.h"
#include "ruphin/clock.h"
#include "ruphin/error.h"
#include "ruphin/noise.h"
#include "ruphin/peer.h"

#define NODES 4

struct node {
    struct rph_addr addr;
    struct rph_peer *peer;
    int ups, downs, data_count;
    char last_data[64];
    struct rph_addr last_data_from;
    int traces[RPH_TRACE_PATH + 1]; /* on_trace events by kind */
    int last_drop;                  /* the code of the last RPH_TRACE_DROP */
    /* Behind a port-restricted NAT: datagrams come in only from where it has sent to. */
    bool nat;
    struct rph_addr nat_open[16];
    size_t nat_n;
};

static struct node nodes[NODES];
/* Drop filter: datagrams from/to these addresses vanish (a dead host or a cut link). */
static const struct rph_addr *drop_from, *drop_to;
static size_t dropped;
static int drop_budget = -1; /* drop_to: only this many datagrams (-1: all) */

/* Datagrams and their bytes on the wire (IPv4: + 28 header bytes) sent toward this address. */
static const struct rph_addr *watch;
static size_t watch_n, watch_wire;

/* The first datagram of record_type sent to the holepuncher (an observer's recording). */
static int record_type;
static uint8_t recorded[RPH_OWNER_COOKIE_LEN];
static size_t recorded_len;

static bool net_hold(const struct dgram *d)
{
    if (record_type && !recorded_len && rph_addr_equal(&d->to, &hp_addr) && d->len >= 4 &&
        d->buf[3] == record_type && d->len <= sizeof recorded) {
        memcpy(recorded, d->buf, d->len);
        recorded_len = d->len;
    }
    if (watch && rph_addr_equal(&d->to, watch)) {
        watch_n++;
        watch_wire += d->len + 28;
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
    struct node *nd = ctx;
    nd->data_count++;
    size_t k = n < sizeof nd->last_data - 1 ? n : sizeof nd->last_data - 1;
    memcpy(nd->last_data, d, k);
    nd->last_data[k] = 0;
    nd->last_data_from = from->addr;
}

static void node_remote(void *ctx, struct rph_remote *r, bool up)
{
    (void)r;
    struct node *nd = ctx;
    if (up)
        nd->ups++;
    else
        nd->downs++;
}

static void node_trace(void *ctx, const struct rph_trace *t)
{
    struct node *nd = ctx;
    cr_assert(t->what >= RPH_TRACE_HP_SENT && t->what <= RPH_TRACE_PATH);
    cr_assert_str_neq(rph_trace_name(t->what), "?");
    nd->traces[t->what]++;
    if (t->what == RPH_TRACE_DROP) nd->last_drop = t->code;
}

/* A datagram left node k's NAT toward `to`: its answers come in from now on. */
static void nat_out(const struct rph_addr *from, const struct rph_addr *to)
{
    for (int k = 0; k < NODES; k++) {
        struct node *nd = &nodes[k];
        if (!nd->nat || !rph_addr_equal(&nd->addr, from)) continue;
        for (size_t i = 0; i < nd->nat_n; i++)
            if (rph_addr_equal(&nd->nat_open[i], to)) return;
        cr_assert_lt(nd->nat_n, 16);
        nd->nat_open[nd->nat_n++] = *to;
    }
}

static bool nat_drops(const struct rph_addr *from, const struct rph_addr *to)
{
    for (int k = 0; k < NODES; k++) {
        const struct node *nd = &nodes[k];
        if (!nd->nat || !rph_addr_equal(&nd->addr, to)) continue;
        for (size_t i = 0; i < nd->nat_n; i++)
            if (rph_addr_equal(&nd->nat_open[i], from)) return false;
        return true;
    }
    return false;
}

/* NATs, a dead host or a cut link on the way. */
static bool net_pass(const struct dgram *d)
{
    nat_out(&d->from, &d->to);
    if (nat_drops(&d->from, &d->to)) {
        dropped++;
        return false;
    }
    if ((drop_from && rph_addr_equal(&d->from, drop_from)) ||
        (drop_to && rph_addr_equal(&d->to, drop_to) && drop_budget != 0)) {
        if (drop_budget > 0 && !(drop_from && rph_addr_equal(&d->from, drop_from))) drop_budget--;
        dropped++;
        return false;
    }
    return true;
}

static void net_deliver(struct dgram *d)
{
    for (int k = 0; k < NODES; k++)
        if (nodes[k].peer && rph_addr_equal(&d->to, &nodes[k].addr))
            rph_peer_input(nodes[k].peer, d->buf, d->len, &d->from, now);
}

static void net_tick(void)
{
    for (int k = 0; k < NODES; k++)
        if (nodes[k].peer) rph_peer_tick(nodes[k].peer, now);
}

static const uint8_t *seal_key;      /* set: start() makes sealed peers with this key */
static const uint8_t (*members)[32]; /* sealed: start() gives peers this members list */
static size_t n_members;

/* Node k's node key: one per node (byte 0 is clamped away by X25519). */
static void node_sk(int k, uint8_t sk[32])
{
    memset(sk, 0, 32);
    sk[1] = (uint8_t)(0x50 + k);
}

static int sk_of = -1; /* >= 0: start() gives the next peer this node's key (a restart) */

static struct rph_peer *start(int k, enum rph_role role, const char *session, uint32_t hs_timeout)
{
    struct rph_peer_config c;
    rph_peer_config_defaults(&c, role);
    c.holepuncher = hp_addr;
    c.handshake_timeout_ms = hs_timeout;
    rph_session_set(&c.session, session, strlen(session));
    if (seal_key) {
        c.sealed = true;
        rph_seal_init();
        rph_seal_derive(&c.seal, seal_key, session, strlen(session));
        node_sk(sk_of >= 0 ? sk_of : k, c.node_sk);
        c.members = members;
        c.n_members = n_members;
    }
    struct rph_peer_callbacks cb = {
        .send = node_send, .on_data = node_data, .on_remote = node_remote, .on_trace = node_trace};
    int err = 0;
    nodes[k].peer = rph_peer_new(&c, &cb, &nodes[k], now, &err);
    cr_assert_not_null(nodes[k].peer, "peer_new: %s", rph_strerror(err));
    run();
    return nodes[k].peer;
}

static void setup(void)
{
    seal_key = NULL;
    members = NULL;
    n_members = 0;
    dropped = 0;
    drop_from = drop_to = NULL;
    drop_budget = -1;
    watch = NULL;
    watch_n = watch_wire = 0;
    record_type = 0;
    recorded_len = 0;
    sk_of = -1;
    memset(nodes, 0, sizeof nodes);
    for (int k = 0; k < NODES; k++) {
        nodes[k].addr.family = 4;
        memcpy(nodes[k].addr.ip, (uint8_t[]){198, 51, 100, (uint8_t)(k + 1)}, 4);
        nodes[k].addr.port = (uint16_t)(40000 + k);
    }
    struct rph_holepuncher_config hc;
    rph_holepuncher_config_defaults(&hc);
    net_reset(1000000, &hc);
}

static void teardown(void)
{
    for (int k = 0; k < NODES; k++)
        rph_peer_free(nodes[k].peer);
    net_free();
}

TestSuite(peer, .init = setup, .fini = teardown);

Test(peer, server_and_client_handshake_and_exchange_data)
{
    struct rph_peer *s = start(0, RPH_ROLE_SERVER, "office", 10000);
    cr_assert_eq(rph_peer_state(s), RPH_STATE_REGISTERED);
    struct rph_peer *c = start(1, RPH_ROLE_CLIENT, "office", 10000);
    advance(100);
    cr_assert_eq(rph_peer_state(c), RPH_STATE_CONNECTED, "client is %s",
                 rph_state_name(rph_peer_state(c)));
    cr_assert_eq(nodes[0].ups, 1);
    cr_assert_eq(nodes[1].ups, 1);
    cr_assert_eq(rph_peer_send_data(c, &nodes[0].addr, "hello", 5), 0);
    run();
    cr_assert_str_eq(nodes[0].last_data, "hello");
    cr_assert(rph_addr_equal(&nodes[0].last_data_from, &nodes[1].addr));
    rph_peer_send_data(s, &nodes[1].addr, "echo:hello", 10);
    run();
    cr_assert_str_eq(nodes[1].last_data, "echo:hello");
}

Test(peer, several_clients_share_one_server_session)
{
    struct rph_peer *s = start(0, RPH_ROLE_SERVER, "lan", 10000);
    start(1, RPH_ROLE_CLIENT, "lan", 10000);
    start(2, RPH_ROLE_CLIENT, "lan", 10000);
    advance(200);
    size_t n, up = 0;
    struct rph_remote *r = rph_peer_remotes(s, &n);
    for (size_t i = 0; i < n; i++)
        up += r[i].in_use && r[i].up;
    cr_assert_eq(up, 2);
    cr_assert_eq(rph_peer_state(nodes[2].peer), RPH_STATE_CONNECTED);
    rph_peer_send_data(s, &nodes[2].addr, "to-2", 4);
    run();
    cr_assert_str_eq(nodes[2].last_data, "to-2");
    cr_assert_eq(nodes[1].data_count, 0);
}

Test(peer, register_is_retried_every_400ms_until_acknowledged)
{
    drop_to = &hp_addr;
    struct rph_peer *s = start(0, RPH_ROLE_SERVER, "office", 10000);
    advance(2000);
    cr_assert_eq(rph_peer_state(s), RPH_STATE_REGISTERING);
    cr_assert_eq(rph_peer_stats(s)->registers_sent, 6, "sent %lu",
                 (unsigned long)rph_peer_stats(s)->registers_sent);
    drop_to = NULL;
    advance(400);
    cr_assert_eq(rph_peer_state(s), RPH_STATE_REGISTERED);
}

Test(peer, handshake_times_out_after_the_configured_time)
{
    drop_to = &hp_addr;
    struct rph_peer *c = start(1, RPH_ROLE_CLIENT, "office", 10000);
    advance(9900);
    cr_assert_eq(rph_peer_state(c), RPH_STATE_JOINING);
    advance(200);
    cr_assert_eq(rph_peer_state(c), RPH_STATE_FAILED);
    cr_assert_eq(rph_peer_last_error(c), RPH_E_TIMEOUT);
}

Test(peer, session_not_found_fails_a_passive_client_but_a_daemon_keeps_trying)
{
    struct rph_peer *c = start(1, RPH_ROLE_CLIENT, "nosuch", 10000);
    cr_assert_eq(rph_peer_state(c), RPH_STATE_FAILED);
    cr_assert_eq(rph_peer_last_error(c), RPH_E_NOT_FOUND);
    struct rph_peer *d = start(2, RPH_ROLE_CLIENT, "later", 0);
    advance(1000);
    cr_assert_eq(rph_peer_state(d), RPH_STATE_JOINING);
    cr_assert_eq(rph_peer_last_error(d), RPH_E_NOT_FOUND);
    start(0, RPH_ROLE_SERVER, "later", 0);
    advance(1000);
    cr_assert_eq(rph_peer_state(d), RPH_STATE_CONNECTED);
}

Test(peer, peerinfo_is_believed_only_from_the_holepuncher)
{
    struct rph_peer *c = start(1, RPH_ROLE_CLIENT, "office", 0);
    /* A stranger (node 3) claims the server is at its own address. */
    uint8_t fake[] = {0, 11, 0, 4, 4, 198, 51, 100, 4, 0x9c, 0x43};
    cr_assert_eq(rph_peer_input(c, fake, sizeof fake, &nodes[3].addr, now), RPH_E_UNKNOWN_PEER);
    cr_assert_eq(rph_peer_state(c), RPH_STATE_JOINING);
    cr_assert_eq(rph_peer_stats(c)->unknown_peer, 1);
}

Test(peer, acks_and_not_found_must_name_our_session)
{
    drop_to = &hp_addr;
    struct rph_peer *s = start(0, RPH_ROLE_SERVER, "office", 0);
    uint8_t ack_other[] = {0, 9, 0, 6, 'o', 't', 'h', 'e', 'r'};
    cr_assert_eq(rph_peer_input(s, ack_other, sizeof ack_other, &hp_addr, now),
                 RPH_E_SESSION_MISMATCH);
    cr_assert_eq(rph_peer_state(s), RPH_STATE_REGISTERING);
    struct rph_peer *c = start(1, RPH_ROLE_CLIENT, "office", 10000);
    uint8_t nf_other[] = {0, 9, 0, 7, 'o', 't', 'h', 'e', 'r'};
    cr_assert_eq(rph_peer_input(c, nf_other, sizeof nf_other, &hp_addr, now),
                 RPH_E_SESSION_MISMATCH);
    cr_assert_eq(rph_peer_state(c), RPH_STATE_JOINING);
}

Test(peer, keepalives_reregister_and_hello)
{
    struct rph_peer *s = start(0, RPH_ROLE_SERVER, "office", 10000);
    struct rph_peer *c = start(1, RPH_ROLE_CLIENT, "office", 10000);
    advance(100);
    uint64_t regs = rph_peer_stats(s)->registers_sent, hellos = rph_peer_stats(c)->hellos_sent;
    advance(10000);
    cr_assert_eq(rph_peer_stats(s)->registers_sent, regs + 1);
    cr_assert_geq(rph_peer_stats(c)->hellos_sent, hellos + 1);
    advance(60000);
    /* Sixty seconds of keepalives keep both sides up and the session alive at the holepuncher. */
    cr_assert_eq(rph_peer_state(c), RPH_STATE_CONNECTED);
    cr_assert_eq(nodes[0].downs, 0);
    cr_assert_eq(rph_holepuncher_session_count(hp), 1);
}

Test(peer, client_rejoins_when_its_server_goes_silent)
{
    start(0, RPH_ROLE_SERVER, "office", 0);
    struct rph_peer *c = start(1, RPH_ROLE_CLIENT, "office", 0);
    advance(100);
    cr_assert_eq(rph_peer_state(c), RPH_STATE_CONNECTED);
    /* The server restarts elsewhere: the old endpoint goes dead, a new one registers. */
    rph_peer_free(nodes[0].peer);
    nodes[0].peer = NULL;
    nodes[0].addr.port = 41000;
    start(0, RPH_ROLE_SERVER, "office", 0);
    advance(29000);
    cr_assert_eq(rph_peer_state(c), RPH_STATE_CONNECTED, "gave up before peer_timeout");
    advance(2000);
    cr_assert_eq(rph_peer_stats(c)->rejoins, 1);
    cr_assert_eq(nodes[1].downs, 1);
    advance(500);
    cr_assert_eq(rph_peer_state(c), RPH_STATE_CONNECTED);
    size_t n;
    struct rph_remote *r = rph_peer_remotes(c, &n);
    cr_assert_eq(r[0].addr.port, 41000, "client talks to the new server endpoint");
}

Test(peer, server_drops_a_client_silent_for_peer_timeout)
{
    struct rph_peer *s = start(0, RPH_ROLE_SERVER, "office", 0);
    start(1, RPH_ROLE_CLIENT, "office", 0);
    advance(100);
    cr_assert_eq(nodes[0].ups, 1);
    drop_from = &nodes[1].addr;
    advance(31000);
    cr_assert_eq(nodes[0].downs, 1);
    size_t n, used = 0;
    struct rph_remote *r = rph_peer_remotes(s, &n);
    for (size_t i = 0; i < n; i++)
        used += r[i].in_use;
    cr_assert_eq(used, 0);
}

Test(peer, a_dead_holepuncher_is_retried_with_backoff)
{
    drop_to = &hp_addr;
    struct rph_peer *s = start(0, RPH_ROLE_SERVER, "office", 0);
    advance(10000);
    uint64_t first = rph_peer_stats(s)->registers_sent;
    cr_assert_geq(first, 24);
    advance(60000);
    uint64_t later = rph_peer_stats(s)->registers_sent - first;
    /* Backing off to the keepalive interval: far fewer than the 150 a fixed 400 ms would send. */
    cr_assert_leq(later, 12, "sent %lu in a minute", (unsigned long)later);
    cr_assert_geq(later, 5);
    drop_to = NULL;
    advance(10000);
    cr_assert_eq(rph_peer_state(s), RPH_STATE_REGISTERED);
}

Test(peer, holepuncher_restart_is_registered_with_again)
{
    struct rph_peer *s = start(0, RPH_ROLE_SERVER, "office", 0);
    rph_holepuncher_free(hp);
    struct rph_holepuncher_config hc;
    rph_holepuncher_config_defaults(&hc);
    hp = rph_holepuncher_new(&hc, hp_send, NULL);
    cr_assert_eq(rph_holepuncher_session_count(hp), 0);
    advance(10100);
    cr_assert_eq(rph_holepuncher_session_count(hp), 1);
    cr_assert_str_eq(rph_peer_holepuncher_status(s, now), "registered");
}

Test(peer, local_interrupt_only_from_loopback)
{
    struct rph_peer *s = start(0, RPH_ROLE_SERVER, "office", 0);
    uint8_t li[] = {0, 4, 0, 1};
    struct rph_addr lo = {.family = 4, .ip = {127, 0, 0, 1}, .port = 5};
    cr_assert_eq(rph_peer_input(s, li, 4, &lo, now), RPH_E_INTERRUPTED);
    cr_assert_eq(rph_peer_input(s, li, 4, &nodes[3].addr, now), RPH_E_UNKNOWN_PEER);
}

Test(peer, garbage_is_counted_and_changes_nothing)
{
    struct rph_peer *s = start(0, RPH_ROLE_SERVER, "office", 0);
    uint8_t junk[] = {0xff, 0xff, 0x00, 0x05, 1, 2, 3};
    cr_assert_eq(rph_peer_input(s, junk, sizeof junk, &hp_addr, now), RPH_E_LENGTH);
    cr_assert_eq(rph_peer_stats(s)->malformed, 1);
    cr_assert_eq(rph_peer_state(s), RPH_STATE_REGISTERED);
}

/* ---- sealed mode ---- */

static const uint8_t KEY[32] = {42, 1, 2, 3};
static const uint8_t OTHER_KEY[32] = {43, 1, 2, 3};

static bool queue_contains(const char *needle)
{
    for (size_t i = 0; i < qn; i++)
        if (memmem(q[i].buf, q[i].len, needle, strlen(needle))) return true;
    return false;
}

static size_t up_remotes(struct rph_peer *p)
{
    size_t n, up = 0;
    struct rph_remote *r = rph_peer_remotes(p, &n);
    for (size_t i = 0; i < n; i++)
        up += r[i].in_use && r[i].up;
    return up;
}

Test(peer, sealed_handshake_and_data_never_in_clear)
{
    seal_key = KEY;
    struct rph_peer *s = start(0, RPH_ROLE_SERVER, "office", 0);
    cr_assert_eq(rph_peer_state(s), RPH_STATE_REGISTERED);
    struct rph_peer *c = start(1, RPH_ROLE_CLIENT, "office", 0);
    advance(500);
    cr_assert_eq(rph_peer_state(c), RPH_STATE_CONNECTED);
    cr_assert_eq(up_remotes(s), 1);
    cr_assert_eq(rph_peer_send_data(c, &nodes[0].addr, "hello", 5), 0);
    cr_assert_not(queue_contains("hello"), "plaintext on the wire");
    run();
    cr_assert_str_eq(nodes[0].last_data, "hello");
    rph_peer_send_data(s, &nodes[1].addr, "echo:hello", 10);
    cr_assert_not(queue_contains("echo"), "plaintext on the wire");
    run();
    cr_assert_str_eq(nodes[1].last_data, "echo:hello");
    /* the session name never reaches the holepuncher: only a hash of the owner key */
    /* one Register without the cookie (answered with HpCookie), one with it */
    cr_assert_eq(rph_holepuncher_stats(hp)->sealed_registers, 2);
    cr_assert_eq(rph_peer_stats(s)->hp_cookies, 1);
    cr_assert_eq(rph_holepuncher_stats(hp)->registers, 0);
}

Test(peer, sealed_session_resists_strangers)
{
    seal_key = KEY;
    start(0, RPH_ROLE_SERVER, "office", 0);
    struct rph_session wire = rph_peer_config(nodes[0].peer)->seal.wire_session;
    /* A stranger with another key joins the same name: its Join names another session. */
    seal_key = OTHER_KEY;
    struct rph_peer *x = start(3, RPH_ROLE_CLIENT, "office", 10000);
    cr_assert_eq(rph_peer_state(x), RPH_STATE_FAILED);
    cr_assert_eq(rph_peer_last_error(x), RPH_E_NOT_FOUND);
    /* The wire session ID, seen on the wire, in a plaintext Register and Join: refused. */
    uint8_t reg[4 + RPH_SESSION_MAX] = {0, 4 + RPH_SESSION_MAX, 0, RPH_REGISTER};
    memcpy(reg + 4, wire.id, RPH_SESSION_MAX);
    qn = 0;
    rph_holepuncher_input(hp, reg, sizeof reg, &nodes[3].addr, now);
    reg[3] = RPH_JOIN;
    rph_holepuncher_input(hp, reg, sizeof reg, &nodes[3].addr, now);
    cr_assert_eq(qn, 0, "the holepuncher answered a plaintext message for a sealed session");
    cr_assert_eq(rph_holepuncher_stats(hp)->refused_sealed, 2);
    /* A replayed SealedRegister from the stranger's address does not move the session. */
    rph_peer_free(x);
    nodes[3].peer = NULL;
    seal_key = KEY;
    start(1, RPH_ROLE_CLIENT, "office", 0);
    advance(500);
    cr_assert_eq(rph_peer_state(nodes[1].peer), RPH_STATE_CONNECTED,
                 "the real client still joins the real server");
}

Test(peer, sealed_register_replay_cannot_move_the_session)
{
    seal_key = KEY;
    struct rph_peer *s = start(0, RPH_ROLE_SERVER, "office", 0);
    /* A genuine Register from two seconds ago, as an eavesdropper would have recorded it. */
    uint8_t captured[RPH_OWNER_LEN];
    struct rph_seal_keys keys = rph_peer_config(s)->seal;
    cr_assert_eq(rph_owner_encode(&keys, RPH_SEALED_REGISTER, now - 2000 + rph_wall_offset_ms(),
                                  captured, sizeof captured),
                 RPH_OWNER_LEN);
    advance(10000); /* the server has re-registered since: its proof is newer */
    /* From an address that can receive: it gets a cookie, not an ack... */
    qn = 0;
    rph_holepuncher_input(hp, captured, sizeof captured, &nodes[3].addr, now);
    cr_assert_eq(qn, 1);
    cr_assert_eq(q[0].buf[3], RPH_HP_COOKIE, "a stale Register was acknowledged");
    /* ...and with the cookie it is refused as stale. */
    struct rph_msg ck;
    cr_assert_eq(rph_wire_decode(q[0].buf, q[0].len, &ck), 0);
    uint8_t with[RPH_OWNER_COOKIE_LEN];
    cr_assert_eq(rph_owner_encode_cookie(&keys, RPH_SEALED_REGISTER,
                                         now - 12000 + rph_wall_offset_ms(), ck.hpc.cookie, with,
                                         sizeof with),
                 RPH_OWNER_COOKIE_LEN);
    qn = 0;
    rph_holepuncher_input(hp, with, sizeof with, &nodes[3].addr, now);
    cr_assert_eq(qn, 0, "a stale Register was acknowledged");
    cr_assert_geq(rph_holepuncher_stats(hp)->stale, 1);
    start(1, RPH_ROLE_CLIENT, "office", 0);
    advance(500);
    cr_assert_eq(rph_peer_state(nodes[1].peer), RPH_STATE_CONNECTED);
}

Test(peer, sealed_transport_drops_tampered_and_replayed_packets)
{
    seal_key = KEY;
    struct rph_peer *s = start(0, RPH_ROLE_SERVER, "office", 0);
    struct rph_peer *c = start(1, RPH_ROLE_CLIENT, "office", 0);
    advance(500);
    rph_peer_send_data(c, &nodes[0].addr, "one", 3);
    cr_assert_eq(qn, 1);
    struct dgram orig = q[0];
    run();
    cr_assert_eq(nodes[0].data_count, 1);
    uint64_t r0 = rph_peer_stats(s)->replayed, a0 = rph_peer_stats(s)->auth_failed;
    /* replay */
    struct dgram d = orig;
    cr_assert_eq(rph_peer_input(s, d.buf, d.len, &nodes[1].addr, now), RPH_E_REPLAY);
    /* tamper, from the right address and from a stranger's */
    d = orig;
    d.buf[d.len - 1] ^= 1;
    d.buf[15] ^= 0x10; /* a fresh counter, so it is the tag that fails */
    cr_assert_eq(rph_peer_input(s, d.buf, d.len, &nodes[1].addr, now), RPH_E_AUTH);
    d = orig;
    d.buf[15] ^= 0x20;
    d.buf[20] ^= 1;
    cr_assert_eq(rph_peer_input(s, d.buf, d.len, &nodes[3].addr, now), RPH_E_AUTH);
    cr_assert_eq(nodes[0].data_count, 1, "a bad packet was delivered");
    cr_assert_eq(rph_peer_stats(s)->replayed, r0 + 1);
    cr_assert_eq(rph_peer_stats(s)->auth_failed, a0 + 2);
    /* plaintext Data and hellos from the client's address change nothing */
    uint8_t data[] = {0, 7, 0, 5, 'x', 'y', 'z'};
    cr_assert_eq(rph_peer_input(s, data, sizeof data, &nodes[1].addr, now), RPH_E_UNEXPECTED);
    cr_assert_eq(nodes[0].data_count, 1);
    /* the endpoint did not move to the stranger */
    size_t n;
    cr_assert(rph_addr_equal(&rph_peer_remotes(s, &n)[0].addr, &nodes[1].addr));
}

Test(peer, sealed_endpoint_follows_authenticated_packets)
{
    seal_key = KEY;
    struct rph_peer *s = start(0, RPH_ROLE_SERVER, "office", 0);
    struct rph_peer *c = start(1, RPH_ROLE_CLIENT, "office", 0);
    advance(500);
    /* The client's NAT rebinds: same host, new port. */
    nodes[1].addr.port = 50000;
    rph_peer_send_data(c, &nodes[0].addr, "moved", 5);
    run();
    cr_assert_str_eq(nodes[0].last_data, "moved");
    cr_assert_eq(rph_peer_stats(s)->roamed, 1);
    rph_peer_send_data(s, &nodes[1].addr, "found you", 9);
    run();
    cr_assert_str_eq(nodes[1].last_data, "found you");
    cr_assert_eq(nodes[0].downs, 0, "the peer was dropped instead of followed");
}

Test(peer, sealed_keys_rotate_and_traffic_goes_on)
{
    seal_key = KEY;
    struct rph_peer *s = start(0, RPH_ROLE_SERVER, "office", 0);
    struct rph_peer *c = start(1, RPH_ROLE_CLIENT, "office", 0);
    advance(500);
    uint64_t hs = rph_peer_stats(c)->handshakes_done;
    for (int minute = 0; minute < 5; minute++) {
        advance(60000);
        char msg[16];
        snprintf(msg, sizeof msg, "minute %d", minute);
        cr_assert_eq(rph_peer_send_data(c, &nodes[0].addr, msg, strlen(msg)), 0);
        run();
        cr_assert_str_eq(nodes[0].last_data, msg);
    }
    cr_assert_geq(rph_peer_stats(c)->handshakes_done, hs + 2, "no rekey in 5 minutes");
    cr_assert_eq(nodes[0].downs, 0);
    cr_assert_eq(up_remotes(s), 1);
}

Test(peer, sealed_client_finds_a_restarted_server)
{
    seal_key = KEY;
    start(0, RPH_ROLE_SERVER, "office", 0);
    struct rph_peer *c = start(1, RPH_ROLE_CLIENT, "office", 0);
    advance(500);
    rph_peer_free(nodes[0].peer);
    nodes[0].peer = NULL;
    nodes[0].addr.port = 41000;
    start(0, RPH_ROLE_SERVER, "office", 0);
    advance(32000);
    cr_assert_eq(rph_peer_state(c), RPH_STATE_CONNECTED);
    cr_assert_eq(rph_peer_stats(c)->rejoins, 1);
    rph_peer_send_data(c, &nodes[0].addr, "again", 5);
    run();
    cr_assert_str_eq(nodes[0].last_data, "again");
}

Test(peer, sealed_client_answers_a_server_punch_with_its_init_at_once)
{
    seal_key = KEY;
    start(0, RPH_ROLE_SERVER, "office", 0);
    /* The server's NAT drops the client's first init (it has not punched yet)... */
    drop_to = &nodes[0].addr;
    drop_budget = 1;
    struct rph_peer *c = start(1, RPH_ROLE_CLIENT, "office", 0);
    cr_assert_eq(dropped, 1);
    /* ...then the server's punch reaches the client, which resends at once, not at 400 ms. */
    advance(50);
    cr_assert_eq(rph_peer_state(c), RPH_STATE_CONNECTED, "client is %s",
                 rph_state_name(rph_peer_state(c)));
}

Test(peer, sealed_server_punches_only_for_signed_joins)
{
    seal_key = KEY;
    struct rph_peer *s = start(0, RPH_ROLE_SERVER, "office", 0);
    /* A PeerInfo faked from the holepuncher's address, naming a stranger. */
    uint8_t pi[] = {0, 11, 0, 4, 4, 198, 51, 100, 4, 0x9c, 0x43};
    qn = 0;
    cr_assert_lt(rph_peer_input(s, pi, sizeof pi, &hp_addr, now), 0);
    cr_assert_eq(qn, 0, "the server punched for a forged PeerInfo");
    /* SealedPeerInfo with a Join signed by another key, or not a Join at all. */
    struct rph_seal_keys other;
    rph_seal_derive(&other, OTHER_KEY, "office", 6);
    uint8_t join[RPH_OWNER_LEN], spi[4 + 7 + RPH_OWNER_LEN];
    struct rph_msg m = {.type = RPH_SEALED_PEER_INFO,
                        .peer = nodes[3].addr,
                        .data = join,
                        .data_len = RPH_OWNER_LEN};
    rph_owner_encode(&other, RPH_SEALED_JOIN, now + rph_wall_offset_ms(), join, sizeof join);
    cr_assert_eq(rph_wire_encode(&m, spi, sizeof spi), (int)sizeof spi);
    cr_assert_eq(rph_peer_input(s, spi, sizeof spi, &hp_addr, now), RPH_E_AUTH);
    /* A genuine Join, acted on once; replayed, it is refused. */
    rph_owner_encode(&rph_peer_config(s)->seal, RPH_SEALED_JOIN, now + rph_wall_offset_ms(), join,
                     sizeof join);
    rph_wire_encode(&m, spi, sizeof spi);
    uint8_t copy[sizeof spi];
    memcpy(copy, spi, sizeof spi);
    cr_assert_eq(rph_peer_input(s, spi, sizeof spi, &hp_addr, now), 0);
    cr_assert_eq(qn, 1, "one punch toward the joining client");
    cr_assert_eq(rph_peer_input(s, copy, sizeof copy, &hp_addr, now), RPH_E_REPLAY);
    /* Stale: a genuine Join from ten minutes ago. */
    rph_owner_encode(&rph_peer_config(s)->seal, RPH_SEALED_JOIN,
                     now + rph_wall_offset_ms() - 600000, join, sizeof join);
    rph_wire_encode(&m, spi, sizeof spi);
    cr_assert_eq(rph_peer_input(s, spi, sizeof spi, &hp_addr, now), RPH_E_REPLAY);
    /* None of the forgeries took a slot in the peer table. */
    size_t n, used = 0;
    struct rph_remote *r = rph_peer_remotes(s, &n);
    for (size_t i = 0; i < n; i++)
        used += r[i].in_use;
    cr_assert_eq(used, 1);
}

/* One spoofed plaintext Join "from" a victim: the holepuncher's PeerInfo to the victim and the
 * server's punches toward it, on the wire, stay within 3x the Join's bytes (they were 26
 * datagrams, 839 bytes for a 38-byte Join). */
Test(peer, a_spoofed_join_sends_the_victim_at_most_3x_its_bytes)
{
    const char *names[] = {"", "office", "01234567890123456789"};
    static struct rph_addr victim = {.family = 4, .ip = {192, 0, 2, 77}};
    for (int i = 0; i < 3; i++) {
        watch = NULL;
        rph_peer_free(nodes[0].peer);
        nodes[0].peer = NULL;
        start(0, RPH_ROLE_SERVER, names[i], 0);
        victim.port = (uint16_t)(9000 + i);
        watch = &victim;
        watch_n = watch_wire = 0;
        uint8_t join[4 + RPH_SESSION_MAX] = {0, (uint8_t)(4 + strlen(names[i])), 0, RPH_JOIN};
        memcpy(join + 4, names[i], strlen(names[i]));
        size_t join_wire = 4 + strlen(names[i]) + 28;
        rph_holepuncher_input(hp, join, 4 + strlen(names[i]), &victim, now);
        advance(15000); /* past the punch window: everything it will ever get */
        cr_assert_geq(watch_n, 2, "no PeerInfo and punch");
        cr_assert_leq(watch_wire, 3 * join_wire,
                      "session \"%s\": %zu datagrams, %zu bytes for a %zu-byte Join", names[i],
                      watch_n, watch_wire, join_wire);
    }
}

/* 300 spoofed Joins from 300 addresses used to fill all 256 of a server's slots, so that
 * real clients were refused; remotes that never answered now give way. */
Test(peer, unanswered_remotes_do_not_fill_a_servers_table)
{
    struct rph_peer *s = start(0, RPH_ROLE_SERVER, "office", 0);
    for (int i = 0; i < 300; i++) {
        struct rph_addr victim = {
            .family = 4, .ip = {192, 0, 2, (uint8_t)i}, .port = (uint16_t)(1000 + i)};
        victim.ip[2] = (uint8_t)(i >> 8);
        rph_holepuncher_input(hp, (const uint8_t *)"\x00\x0a\x00\x03office", 10, &victim, now);
        run();
    }
    cr_assert_geq(rph_peer_stats(s)->remotes_evicted, 300 - 256);
    struct rph_peer *c = start(1, RPH_ROLE_CLIENT, "office", 0);
    advance(1000);
    cr_assert_eq(rph_peer_state(c), RPH_STATE_CONNECTED, "client is %s",
                 rph_state_name(rph_peer_state(c)));
    cr_assert_eq(up_remotes(s), 1);
    cr_assert_eq(rph_peer_stats(s)->remotes_full, 0);
}

Test(peer, sealed_peers_take_holepuncherd_cookie_and_ignore_forged_ones)
{
    seal_key = KEY;
    struct rph_peer *s = start(0, RPH_ROLE_SERVER, "office", 0);
    cr_assert_eq(rph_peer_state(s), RPH_STATE_REGISTERED);
    cr_assert_eq(rph_peer_stats(s)->hp_cookies, 1);
    cr_assert_eq(rph_holepuncher_stats(hp)->cookies_sent, 1);
    /* Re-Registers carry the cookie: no new exchange while the secret holds. */
    advance(60000);
    cr_assert_eq(rph_holepuncher_stats(hp)->cookies_sent, 1);
    cr_assert_geq(rph_peer_stats(s)->registers_sent, 7);
    /* An HpCookie that does not echo our last request changes nothing and sends nothing. */
    uint8_t forged[RPH_HP_COOKIE_LEN] = {0, RPH_HP_COOKIE_LEN, 0, RPH_HP_COOKIE, 1, 2, 3};
    qn = 0;
    uint64_t sent = rph_peer_stats(s)->sent;
    cr_assert_eq(rph_peer_input(s, forged, sizeof forged, &hp_addr, now), RPH_E_UNEXPECTED);
    cr_assert_eq(qn, 0);
    cr_assert_eq(rph_peer_stats(s)->sent, sent);
    /* After the secret changed twice, holepuncherd answers with a new cookie and the server
     * is registered again at once. */
    advance(250000);
    cr_assert_geq(rph_holepuncher_stats(hp)->cookies_sent, 2);
    cr_assert_str_eq(rph_peer_holepuncher_status(s, now), "registered");
    struct rph_peer *c = start(1, RPH_ROLE_CLIENT, "office", 0);
    advance(500);
    cr_assert_eq(rph_peer_state(c), RPH_STATE_CONNECTED);
}

/* The peer repeats the very request holepuncherd answered with a cookie, so the cookie-less
 * copy an observer records is a replay of the accepted one: refused, wherever it comes from. */
Test(peer, a_recorded_first_sealed_join_is_a_replay_of_the_accepted_one)
{
    seal_key = KEY;
    start(0, RPH_ROLE_SERVER, "office", 0);
    record_type = RPH_SEALED_JOIN;
    start(1, RPH_ROLE_CLIENT, "office", 0);
    advance(500);
    cr_assert_eq(rph_peer_state(nodes[1].peer), RPH_STATE_CONNECTED);
    /* Timed (its round trip last, unsigned), without a cookie. */
    cr_assert_eq(recorded_len, RPH_OWNER_LEN + RPH_RTT_LEN,
                 "the client's first Join went out without a cookie");
    recorded[1] = RPH_OWNER_LEN; /* the signed part alone: the untimed form */
    cr_assert_eq(rph_holepuncher_stats(hp)->sealed_joins, 2);
    /* An observer at another address replays it, doing the cookie exchange itself. */
    qn = 0;
    rph_holepuncher_input(hp, recorded, RPH_OWNER_LEN, &nodes[3].addr, now);
    cr_assert_eq(qn, 1);
    struct rph_msg ck;
    cr_assert_eq(rph_wire_decode(q[0].buf, q[0].len, &ck), 0);
    cr_assert_eq(ck.type, RPH_HP_COOKIE);
    memcpy(recorded + RPH_OWNER_LEN, ck.hpc.cookie, RPH_COOKIE_LEN);
    recorded[1] = RPH_OWNER_COOKIE_LEN;
    uint64_t stale = rph_holepuncher_stats(hp)->stale;
    qn = 0;
    rph_holepuncher_input(hp, recorded, RPH_OWNER_COOKIE_LEN, &nodes[3].addr, now);
    cr_assert_eq(qn, 0, "a replayed Join was answered (it tells the server's endpoint)");
    cr_assert_eq(rph_holepuncher_stats(hp)->stale, stale + 1);
}

static void node_pk(int k, uint8_t pk[32])
{
    uint8_t sk[32];
    node_sk(k, sk);
    cr_assert_eq(rph_noise_public_key(pk, sk), 0);
}

Test(peer, sealed_handshake_proves_node_keys_both_ways)
{
    seal_key = KEY;
    struct rph_peer *s = start(0, RPH_ROLE_SERVER, "office", 0);
    struct rph_peer *c = start(1, RPH_ROLE_CLIENT, "office", 0);
    advance(500);
    cr_assert_eq(rph_peer_state(c), RPH_STATE_CONNECTED);
    uint8_t spk[32], cpk[32], want[32];
    rph_peer_node_public(s, spk);
    rph_peer_node_public(c, cpk);
    node_pk(0, want);
    cr_assert_arr_eq(spk, want, 32);
    size_t n;
    struct rph_remote *r = rph_peer_remotes(s, &n);
    cr_assert(r[0].in_use && r[0].has_node_pk);
    cr_assert_arr_eq(r[0].node_pk, cpk, 32, "the server's remote names the client's node key");
    r = rph_peer_remotes(c, &n);
    cr_assert(r[0].has_node_pk);
    cr_assert_arr_eq(r[0].node_pk, spk, 32, "the client's remote names the server's node key");
}

Test(peer, sealed_members_admit_only_listed_node_keys)
{
    seal_key = KEY;
    uint8_t list[1][32];
    node_pk(2, list[0]); /* the server admits node 2 only */
    members = (const uint8_t(*)[32])list;
    n_members = 1;
    struct rph_peer *s = start(0, RPH_ROLE_SERVER, "office", 0);
    members = NULL;
    n_members = 0;
    struct rph_peer *c = start(1, RPH_ROLE_CLIENT, "office", 0);
    advance(3000);
    cr_assert_neq(rph_peer_state(c), RPH_STATE_CONNECTED, "a node not listed connected");
    cr_assert_eq(up_remotes(s), 0);
    cr_assert_geq(rph_peer_stats(s)->not_member, 1);
    struct rph_peer *c2 = start(2, RPH_ROLE_CLIENT, "office", 0);
    advance(500);
    cr_assert_eq(rph_peer_state(c2), RPH_STATE_CONNECTED, "the listed node was refused");
    cr_assert_eq(up_remotes(s), 1);
}

Test(peer, sealed_restart_with_the_same_node_key_replaces_the_old_session_at_once)
{
    seal_key = KEY;
    struct rph_peer *s = start(0, RPH_ROLE_SERVER, "office", 0);
    start(1, RPH_ROLE_CLIENT, "office", 0);
    advance(500);
    cr_assert_eq(up_remotes(s), 1);
    /* The client restarts (same node key, a later clock) from another port. */
    rph_peer_free(nodes[1].peer);
    nodes[1].peer = NULL;
    now += 2000;
    nodes[1].addr.port = 45000;
    struct rph_peer *c = start(1, RPH_ROLE_CLIENT, "office", 0);
    advance(500);
    cr_assert_eq(rph_peer_state(c), RPH_STATE_CONNECTED);
    size_t n, in_use = 0;
    struct rph_remote *r = rph_peer_remotes(s, &n);
    for (size_t i = 0; i < n; i++)
        in_use += r[i].in_use;
    cr_assert_eq(in_use, 1, "the restarted node got a second remote instead of its own");
    cr_assert(rph_addr_equal(&r[0].addr, &nodes[1].addr), "the remote did not follow it");
    cr_assert_eq(rph_peer_send_data(s, &nodes[1].addr, "welcome back", 12), 0);
    run();
    cr_assert_str_eq(nodes[1].last_data, "welcome back");
}

/* A sealed client whose server does not answer yet waits for its next resend: its deadline
 * lies ahead (it was 0 while punching, so the event loop's timer fired without pause). */
Test(peer, a_punching_sealed_client_sleeps_until_its_next_resend)
{
    seal_key = KEY;
    start(0, RPH_ROLE_SERVER, "office", 0);
    drop_from = &nodes[0].addr; /* the server's packets never arrive */
    struct rph_peer *c = start(1, RPH_ROLE_CLIENT, "office", 0);
    for (int i = 0; i < 40; i++) {
        advance(50);
        if (rph_peer_state(c) != RPH_STATE_PUNCHING) continue;
        uint64_t d = rph_peer_next_deadline(c);
        cr_assert_gt(d, now, "deadline %llu is not after now %llu while punching",
                     (unsigned long long)d, (unsigned long long)now);
    }
    cr_assert_eq(rph_peer_state(c), RPH_STATE_PUNCHING);
}

/* ---- recovery: probes, passive keepalives, goodbye (docs/PROTOCOL.md "Timings") ---- */

/* The client's one remote (its server). */
static struct rph_remote *server_of(struct rph_peer *c)
{
    size_t n;
    return &rph_peer_remotes(c, &n)[0];
}

/* The client sends data to its server, as ruphin-tund does (a datagram, then note_sent). */
static void client_sends(struct rph_peer *c, const char *what)
{
    struct rph_remote *r = server_of(c);
    rph_peer_send_data(c, &r->addr, what, strlen(what));
    rph_peer_note_sent(c, r, now);
    run();
}

/* The server process restarts: its state is gone; port 0 keeps its address (a fixed port). */
static void restart_server(uint16_t port)
{
    rph_peer_free(nodes[0].peer);
    nodes[0].peer = NULL;
    if (port) nodes[0].addr.port = port;
    nodes[0].ups = nodes[0].downs = nodes[0].data_count = 0;
    nodes[0].last_data[0] = 0;
    start(0, RPH_ROLE_SERVER, "office", 0);
}

/* Sends data every 100 ms until the (restarted) server has it; the ms that took. */
static uint64_t ms_until_server_gets(struct rph_peer *c, uint64_t limit)
{
    uint64_t t0 = now;
    while (now - t0 < limit) {
        client_sends(c, "ping");
        if (strcmp(nodes[0].last_data, "ping") == 0) return now - t0;
        advance(100);
    }
    return UINT64_MAX;
}

static void connected_pair(bool sealed)
{
    seal_key = sealed ? KEY : NULL;
    start(0, RPH_ROLE_SERVER, "office", 0);
    struct rph_peer *c = start(1, RPH_ROLE_CLIENT, "office", 0);
    advance(500);
    cr_assert_eq(rph_peer_state(c), RPH_STATE_CONNECTED);
}

Test(peer, unanswered_data_probes_after_1s_and_a_restarted_fixed_port_server_rekeys)
{
    connected_pair(true);
    struct rph_peer *c = nodes[1].peer;
    restart_server(0);
    uint64_t joins = rph_peer_stats(c)->joins_sent, hs = rph_peer_stats(c)->handshakes_sent;
    client_sends(c, "lost"); /* no_key at the new server: nothing comes back */
    advance(900);
    cr_assert_eq(rph_peer_stats(c)->probes, 0, "probed before 1 s of silence");
    cr_assert_eq(rph_peer_stats(c)->joins_sent, joins);
    advance(200);
    cr_assert_eq(rph_peer_stats(c)->probes, 1, "no probe 1.1 s after unanswered data");
    cr_assert_gt(rph_peer_stats(c)->handshakes_sent, hs, "the probe starts a rekey");
    cr_assert_gt(rph_peer_stats(c)->joins_sent, joins, "the probe asks the holepuncher");
    cr_assert_eq(rph_peer_state(c), RPH_STATE_CONNECTED);
    cr_assert_eq(rph_peer_stats(c)->moved, 0, "the same endpoint changes nothing");
    uint64_t ms = ms_until_server_gets(c, 5000);
    cr_log_info("fixed-port server restart: data through after %llu ms of probing",
                (unsigned long long)ms);
    cr_assert_leq(ms, 500, "data through %llu ms after the probe", (unsigned long long)ms);
    cr_assert_eq(nodes[1].downs, 0, "the client never dropped its server");
    /* Answered: the probe is over, no more Joins. */
    joins = rph_peer_stats(c)->joins_sent;
    advance(3000);
    cr_assert_eq(rph_peer_stats(c)->joins_sent, joins);
}

static void moves_to_a_restarted_server(bool sealed)
{
    connected_pair(sealed);
    struct rph_peer *c = nodes[1].peer;
    restart_server(41000); /* a new UDP port, registered with the holepuncher */
    advance(100);
    uint64_t t0 = now;
    uint64_t ms = ms_until_server_gets(c, 10000);
    cr_log_info("%s server restarted on a new port: data through after %llu ms",
                sealed ? "sealed" : "plaintext", (unsigned long long)ms);
    cr_assert_leq(ms, 2000, "data through after %llu ms", (unsigned long long)ms);
    cr_assert_eq(server_of(c)->addr.port, 41000, "client talks to the new endpoint");
    cr_assert_eq(rph_peer_stats(c)->moved, 1);
    cr_assert_eq(rph_peer_stats(c)->rejoins, 0, "moved without waiting for peer_timeout");
    cr_assert_lt(now - t0, 30000);
    /* Sealed, the client keeps its peer across the move (its keys, then the handshake's):
     * nothing goes down. Plaintext has no keys to keep: a new remote at the new endpoint. */
    if (sealed) cr_assert_eq(nodes[1].downs, 0, "the client dropped its server to move");
}

Test(peer, a_probe_moves_a_sealed_client_to_its_servers_new_endpoint)
{
    moves_to_a_restarted_server(true);
}

Test(peer, a_probe_moves_a_plaintext_client_to_its_servers_new_endpoint)
{
    moves_to_a_restarted_server(false);
}

Test(peer, a_briefly_silent_server_at_the_same_endpoint_keeps_its_session)
{
    connected_pair(true);
    struct rph_peer *c = nodes[1].peer;
    struct rph_addr before = server_of(c)->addr;
    drop_from = &nodes[0].addr; /* the server's answers are lost for a while */
    client_sends(c, "one");
    advance(1500);
    cr_assert_eq(rph_peer_stats(c)->probes, 1);
    drop_from = NULL;
    advance(1000);
    cr_assert_eq(rph_peer_stats(c)->moved, 0);
    cr_assert_eq(nodes[1].downs, 0);
    cr_assert(rph_addr_equal(&server_of(c)->addr, &before));
    uint64_t joins = rph_peer_stats(c)->joins_sent;
    advance(2000);
    cr_assert_eq(rph_peer_stats(c)->joins_sent, joins, "Joins go on after the server answered");
}

/* ---- rebinding: a NAT that gives a peer a new port (issue 14) ---- */

Test(peer, a_server_whose_nat_gives_it_a_new_port_is_back_within_2s_and_never_down)
{
    nodes[0].nat = nodes[1].nat = true; /* both behind port-restricted NATs */
    connected_pair(true);
    struct rph_peer *s = nodes[0].peer, *c = nodes[1].peer;
    client_sends(c, "before");
    cr_assert_str_eq(nodes[0].last_data, "before");
    advance(100);
    /* The server's NAT forgets its mapping and gives it a new port: what it sends leaves from
     * there, what goes to the old one arrives nowhere, and the client's NAT takes nothing from
     * the new one until the client sent there. The server sends nothing of its own (the client
     * uploads), so only its Register (every 10 s) would tell the holepuncher. */
    nodes[0].addr.port = 41000;
    nodes[0].nat_n = 0;
    uint64_t ms = ms_until_server_gets(c, 15000);
    cr_log_info("server NAT rebinding: data through %llu ms after the new port",
                (unsigned long long)ms);
    cr_assert_leq(ms, 2000, "data through after %llu ms", (unsigned long long)ms);
    cr_assert_eq(rph_peer_stats(s)->reregisters, 1, "the server registered again %llu times",
                 (unsigned long long)rph_peer_stats(s)->reregisters);
    cr_assert_eq(nodes[0].traces[RPH_TRACE_PROBE], 1, "the Register is traced");
    cr_assert_eq(server_of(c)->addr.port, 41000, "the client talks to the new port");
    cr_assert_eq(nodes[1].downs, 0, "the client dropped its server");
    cr_assert_eq(nodes[0].downs, 0, "the server dropped its client");
    cr_assert_eq(rph_peer_stats(c)->rejoins, 0);
    rph_peer_send_data(s, &nodes[1].addr, "back", 4);
    run();
    cr_assert_str_eq(nodes[1].last_data, "back");
}

Test(peer, a_server_registers_again_once_per_silence_after_data_and_never_when_idle)
{
    connected_pair(true);
    struct rph_peer *s = nodes[0].peer, *c = nodes[1].peer;
    advance(30000); /* idle: keepalives only */
    cr_assert_eq(rph_peer_stats(s)->reregisters, 0, "an idle client made the server register");
    for (int i = 0; i < 30; i++) { /* data every 100 ms for 3 s */
        client_sends(c, "x");
        advance(100);
    }
    cr_assert_eq(rph_peer_stats(s)->reregisters, 0, "registered while data kept coming");
    uint64_t regs = rph_peer_stats(s)->registers_sent;
    advance(800); /* 900 ms after the last data */
    cr_assert_eq(rph_peer_stats(s)->reregisters, 0, "registered before 1 s of silence");
    advance(200);
    cr_assert_eq(rph_peer_stats(s)->reregisters, 1, "no Register 1.1 s after the data stopped");
    cr_assert_eq(rph_peer_stats(s)->registers_sent, regs + 1);
    advance(5000);
    cr_assert_eq(rph_peer_stats(s)->reregisters, 1, "more than one Register for one silence");
    cr_assert_eq(nodes[0].downs + nodes[1].downs, 0);
}

/* Joins a silent server's client sends in the first 9 s of its probe and in the 10 s after. */
static void probe_joins(uint64_t *first, uint64_t *second)
{
    struct rph_peer *c = nodes[1].peer;
    client_sends(c, "one");
    advance(1000);
    uint64_t j0 = rph_peer_stats(c)->joins_sent;
    advance(9000);
    *first = rph_peer_stats(c)->joins_sent - j0;
    advance(10000);
    *second = rph_peer_stats(c)->joins_sent - j0 - *first;
}

Test(peer, probe_joins_every_500ms_then_every_second_while_the_holepuncher_answers)
{
    connected_pair(true);
    drop_from = &nodes[0].addr; /* the server is gone and stays gone */
    uint64_t first, second;
    probe_joins(&first, &second);
    cr_log_info("probe Joins: %llu in the first 9 s, %llu in the next 10 s",
                (unsigned long long)first, (unsigned long long)second);
    cr_assert_geq(first, 16, "every 500 ms in the window");
    cr_assert_leq(first, 20);
    cr_assert_geq(second, 9, "a server back from a reboot waits for the next Join");
    cr_assert_leq(second, 11, "more than one a second after the window");
}

Test(peer, probe_joins_back_off_when_the_holepuncher_is_dead_too)
{
    connected_pair(true);
    rph_holepuncher_free(hp); /* nothing answers at all */
    hp = NULL;
    drop_from = &nodes[0].addr;
    uint64_t first, second;
    probe_joins(&first, &second);
    cr_log_info("probe Joins, dead holepuncher: %llu in the first 9 s, %llu in the next 10 s",
                (unsigned long long)first, (unsigned long long)second);
    cr_assert_geq(first, 16);
    cr_assert_leq(second, 6, "not backed off after the window");
}

Test(peer, a_server_back_after_90s_is_found_within_about_a_second)
{
    connected_pair(true);
    struct rph_peer *c = nodes[1].peer;
    /* A reboot: down 90 s (its registration expired at the holepuncher, which answers
     * SessionNotFound meanwhile), back on a new port. */
    rph_peer_free(nodes[0].peer);
    nodes[0].peer = NULL;
    for (int i = 0; i < 90; i++) {
        client_sends(c, "lost");
        advance(1000);
    }
    cr_assert_geq(rph_peer_stats(c)->rejoins, 1, "dropped after peer_timeout, joining");
    restart_server(41000);
    uint64_t t0 = now;
    while (rph_peer_state(c) != RPH_STATE_CONNECTED && now - t0 < 20000)
        advance(50);
    cr_log_info("server back after 90 s: client connected %llu ms after it registered",
                (unsigned long long)(now - t0));
    cr_assert_eq(rph_peer_state(c), RPH_STATE_CONNECTED);
    cr_assert_leq(now - t0, RPH_WAIT_JOIN_MS + 200, "not a keepalive's wait: %llu ms",
                  (unsigned long long)(now - t0));
}

Test(peer, one_way_traffic_is_answered_by_passive_keepalives_not_probed)
{
    connected_pair(true);
    struct rph_peer *c = nodes[1].peer, *s = nodes[0].peer;
    uint64_t ka = rph_peer_stats(s)->passive_keepalives;
    for (int i = 0; i < 50; i++) { /* 5 s of data one way, nothing sent back by the server */
        client_sends(c, "up");
        advance(100);
    }
    uint64_t n = rph_peer_stats(s)->passive_keepalives - ka;
    cr_log_info("5 s of one-way data: %llu passive keepalives", (unsigned long long)n);
    cr_assert_eq(rph_peer_stats(c)->probes, 0, "one-way traffic taken for a dead server");
    cr_assert_geq(n, 5);
    cr_assert_leq(n, 11, "more than one per 500 ms");
    advance(3000); /* data stopped: no more keepalives than the periodic one */
    uint64_t after = rph_peer_stats(s)->passive_keepalives;
    advance(3000);
    cr_assert_eq(rph_peer_stats(s)->passive_keepalives, after);
}

Test(peer, remove_frees_a_server_slot_and_a_client_rejoins_at_once)
{
    connected_pair(true);
    struct rph_peer *c = nodes[1].peer, *s = nodes[0].peer;
    size_t n;
    struct rph_remote *r = rph_peer_remotes(s, &n);
    cr_assert(r[0].in_use && r[0].up);
    rph_peer_remove(s, &r[0], now); /* the client said goodbye */
    cr_assert_eq(nodes[0].downs, 1, "on_remote(down) not called");
    cr_assert_not(r[0].in_use);
    cr_assert_eq(rph_peer_stats(s)->removed, 1);
    cr_assert_eq(up_remotes(s), 0);
    /* The server said goodbye: the client joins again now, not after peer_timeout. */
    rph_peer_remove(c, server_of(c), now);
    cr_assert_eq(nodes[1].downs, 1);
    cr_assert_eq(rph_peer_state(c), RPH_STATE_JOINING);
    cr_assert_eq(rph_peer_stats(c)->rejoins, 1);
    run();
    advance(500);
    cr_assert_eq(rph_peer_state(c), RPH_STATE_CONNECTED);
    cr_assert_eq(up_remotes(s), 1);
}

Test(peer, a_client_punching_a_stale_endpoint_joins_again_every_500ms)
{
    seal_key = KEY;
    start(0, RPH_ROLE_SERVER, "office", 0);
    rph_peer_free(nodes[0].peer); /* killed: the holepuncher still names its endpoint */
    nodes[0].peer = NULL;
    struct rph_peer *c = start(1, RPH_ROLE_CLIENT, "office", 0);
    advance(2000);
    cr_assert_eq(rph_peer_state(c), RPH_STATE_PUNCHING);
    cr_assert_eq(rph_peer_stats(c)->probes, 1, "punching 1 s without an answer re-joins");
    restart_server(41000);
    uint64_t t0 = now;
    while (rph_peer_state(c) != RPH_STATE_CONNECTED && now - t0 < 10000)
        advance(50);
    cr_log_info("stale endpoint: connected %llu ms after the new server registered",
                (unsigned long long)(now - t0));
    cr_assert_eq(rph_peer_state(c), RPH_STATE_CONNECTED);
    cr_assert_leq(now - t0, 1000, "not the 10 s punch window");
    cr_assert_eq(server_of(c)->addr.port, 41000);
}

Test(peer, trace_events_name_each_protocol_step)
{
    connected_pair(true);
    const int *ct = nodes[1].traces, *st = nodes[0].traces;
    cr_assert_geq(ct[RPH_TRACE_HP_SENT], 1, "Join");
    cr_assert_geq(ct[RPH_TRACE_HP_ANSWER], 1, "PeerInfo");
    cr_assert_geq(st[RPH_TRACE_HP_ANSWER], 2, "HpCookie, RegisterAck, SealedPeerInfo");
    cr_assert_geq(st[RPH_TRACE_PUNCH_SENT], 1);
    cr_assert_geq(ct[RPH_TRACE_HS_SENT], 2, "init, finish");
    cr_assert_geq(st[RPH_TRACE_HS_SENT], 1, "resp");
    cr_assert_geq(st[RPH_TRACE_HS_TAKEN], 2, "init, finish");
    cr_assert_geq(ct[RPH_TRACE_HS_TAKEN], 1, "resp");
    cr_assert_eq(ct[RPH_TRACE_KEYS], 1);
    cr_assert_eq(st[RPH_TRACE_KEYS], 1);
    cr_assert_eq(ct[RPH_TRACE_UP], 1);
    cr_assert_eq(st[RPH_TRACE_UP], 1);
    cr_assert_eq(ct[RPH_TRACE_DROP], 0, "a clean handshake drops nothing");
    /* A probe, then a move to the restarted server's new endpoint, each named. */
    restart_server(41000);
    advance(100);
    ms_until_server_gets(nodes[1].peer, 10000);
    cr_assert_eq(ct[RPH_TRACE_PROBE], 1);
    cr_assert_eq(ct[RPH_TRACE_MOVED], 1);
    cr_assert_eq(ct[RPH_TRACE_DOWN], 0, "the remote moved with its keys: nothing went down");
    /* A drop names its reason. */
    uint8_t junk[3] = {0, 9, 0};
    rph_peer_input(nodes[1].peer, junk, sizeof junk, &nodes[3].addr, now);
    cr_assert_eq(ct[RPH_TRACE_DROP], 1);
    cr_assert_lt(nodes[1].last_drop, 0);
}

/* Two sealed servers of one session: the second (another node) is refused and says so; it
 * asks again at the keepalive pace and takes over once the first has been gone a TTL. */
Test(peer, a_second_sealed_server_is_refused_until_the_first_is_gone)
{
    static const uint8_t key[32] = {42};
    seal_key = key;
    struct rph_peer *s0 = start(0, RPH_ROLE_SERVER, "office", 0);
    cr_assert_str_eq(rph_peer_holepuncher_status(s0, now), "registered");
    advance(1000);
    struct rph_peer *s1 = start(1, RPH_ROLE_SERVER, "office", 0);
    cr_assert_str_eq(rph_peer_holepuncher_status(s1, now), "refused");
    cr_assert_eq(rph_peer_state(s1), RPH_STATE_REGISTERING);
    cr_assert_eq(rph_peer_last_error(s1), RPH_E_HELD);
    cr_assert_eq(rph_peer_stats(s1)->hp_refused, 1);
    struct rph_addr holder;
    cr_assert(rph_peer_refused_by(s1, &holder));
    cr_assert(rph_addr_equal(&holder, &nodes[0].addr), "the refusal names the first server");
    /* Refused is an answer: no retries every 400 ms, the next Register after keepalive. */
    uint64_t sent = rph_peer_stats(s1)->registers_sent;
    advance(5000);
    cr_assert_eq(rph_peer_stats(s1)->registers_sent, sent);
    advance(6000);
    cr_assert_gt(rph_peer_stats(s1)->registers_sent, sent);
    cr_assert_eq(rph_peer_stats(s1)->hp_refused, 2);
    cr_assert_str_eq(rph_peer_holepuncher_status(s0, now), "registered");
    /* A client gets the first server. */
    struct rph_peer *c = start(2, RPH_ROLE_CLIENT, "office", 0);
    advance(500);
    cr_assert_eq(rph_peer_state(c), RPH_STATE_CONNECTED);
    cr_assert_eq(nodes[0].ups, 1);
    cr_assert_eq(nodes[1].ups, 0);
    /* The first server goes away: after the session's TTL the second one registers. */
    rph_peer_free(nodes[2].peer);
    nodes[2].peer = NULL;
    drop_from = &nodes[0].addr;
    advance(60000 + 11000);
    cr_assert_str_eq(rph_peer_holepuncher_status(s1, now), "registered");
    cr_assert_eq(rph_peer_state(s1), RPH_STATE_REGISTERED);
    cr_assert_not(rph_peer_refused_by(s1, NULL));
}

Test(peer, a_refused_server_with_a_handshake_timeout_fails_with_the_reason)
{
    static const uint8_t key[32] = {45};
    seal_key = key;
    start(0, RPH_ROLE_SERVER, "office", 10000);
    advance(1000);
    struct rph_peer *s1 = start(1, RPH_ROLE_SERVER, "office", 10000);
    cr_assert_eq(rph_peer_state(s1), RPH_STATE_FAILED);
    cr_assert_eq(rph_peer_last_error(s1), RPH_E_HELD);
    cr_assert_str_eq(rph_strerror(RPH_E_HELD), "another server holds the session");
}

Test(peer, a_restarted_sealed_server_takes_its_session_over_at_once)
{
    static const uint8_t key[32] = {43};
    seal_key = key;
    start(0, RPH_ROLE_SERVER, "office", 0);
    advance(3000);
    /* The same node (same node key) again from a new port, the old one not yet expired. */
    rph_peer_free(nodes[0].peer);
    nodes[0].peer = NULL;
    sk_of = 0;
    struct rph_peer *s = start(1, RPH_ROLE_SERVER, "office", 0);
    sk_of = -1;
    cr_assert_str_eq(rph_peer_holepuncher_status(s, now), "registered");
    cr_assert_eq(rph_peer_stats(s)->hp_refused, 0);
    struct rph_peer *c = start(2, RPH_ROLE_CLIENT, "office", 0);
    advance(500);
    cr_assert_eq(rph_peer_state(c), RPH_STATE_CONNECTED);
    cr_assert_eq(nodes[1].ups, 1, "the client reached the restarted server");
}

Test(peer, a_register_refused_that_answers_no_register_of_ours_is_ignored)
{
    static const uint8_t key[32] = {44};
    seal_key = key;
    struct rph_peer *s = start(0, RPH_ROLE_SERVER, "office", 0);
    struct rph_msg m = {.type = RPH_REGISTER_REFUSED,
                        .session = rph_peer_config(s)->seal.wire_session,
                        .peer = nodes[3].addr};
    memset(m.hpc.echo, 0x77, RPH_COOKIE_ECHO_LEN); /* a guess, not our signature's bytes */
    uint8_t buf[RPH_REGISTER_REFUSED_LEN];
    cr_assert_eq(rph_wire_encode(&m, buf, sizeof buf), RPH_REGISTER_REFUSED_LEN);
    cr_assert_eq(rph_peer_input(s, buf, sizeof buf, &hp_addr, now), RPH_E_UNEXPECTED);
    cr_assert_str_eq(rph_peer_holepuncher_status(s, now), "registered");
    cr_assert_eq(rph_peer_stats(s)->hp_refused, 0);
    /* A plaintext server takes none at all. */
    seal_key = NULL;
    struct rph_peer *p = start(1, RPH_ROLE_SERVER, "plain", 0);
    cr_assert_eq(rph_peer_input(p, buf, sizeof buf, &hp_addr, now), RPH_E_UNEXPECTED);
    cr_assert_str_eq(rph_peer_holepuncher_status(p, now), "registered");
}
