// SPDX-License-Identifier: MIT
// Two whole tunnels in one process, without root: each gets one end of a
// socketpair(AF_UNIX, SOCK_SEQPACKET) as its TUN device, a holepuncher runs on loopback, and the
// test plays both kernels, writing IP packets into one tunnel and reading them out of the other
// (as wireguard-go tests its device over a channel TUN).
#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../src/tun/nodekey.h"
#include "../src/tun/offload.h"
#include "../src/tun/status.h"
#include "../src/tun/tunnel.h"
#include "ruphin/clock.h"
#include "ruphin/error.h"
#include "ruphin/ev.h"
#include "ruphin/noise.h"

struct side {
    struct tunnel *t;
    int kernel; /* our end of the socketpair: what the kernel would read and write */
};

struct bed {
    struct event_base *base;
    struct rph_ev_holepuncher *hp;
    struct event *tick;
    struct side server, client;
};

static void tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what, (void)arg; /* only wakes the loop so conditions get checked */
}

static void config(struct tund_config *c, enum rph_role role, const struct rph_addr *hp, bool seal,
                   uint8_t host)
{
    memset(c, 0, sizeof *c);
    c->role = role;
    c->holepuncher_addr = *hp;
    snprintf(c->holepuncher, sizeof c->holepuncher, "127.0.0.1:%u", hp->port);
    rph_session_set(&c->session, "pairtest", 8);
    snprintf(c->session_str, sizeof c->session_str, "pairtest");
    snprintf(c->ifname, sizeof c->ifname, "pair%u", host);
    memcpy(c->addr4, (uint8_t[]){10, 77, 0, host}, 4);
    c->prefix4 = 24;
    snprintf(c->address, sizeof c->address, "10.77.0.%u/24", host);
    c->has_addr6 = true;
    memcpy(c->addr6, (uint8_t[]){0xfd, 0x77, [15] = host}, 16);
    c->prefix6 = 64;
    snprintf(c->address6, sizeof c->address6, "fd77::%u/64", host);
    c->mtu = 1400;
    c->keepalive_interval = 10;
    c->peer_timeout = 30;
    c->seal = seal;
    memset(c->seal_key, 0x5a, sizeof c->seal_key);
    if (seal) {
        /* What tund_config_resolve loads from the state directory at a start. */
        cr_assert_eq(rph_noise_global_init(), 0);
        cr_assert_eq(rph_noise_keygen(c->node_sk, c->node_pk), 0);
        c->has_node_key = true;
    }
    c->log_level = LOG_LVL_INFO;
}

static void side_open(struct bed *b, struct side *s, const struct tund_config *c, bool vnet)
{
    int sv[2];
    cr_assert_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK, 0, sv), 0);
    int big = 1 << 20;
    for (int i = 0; i < 2; i++) {
        setsockopt(sv[i], SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
        setsockopt(sv[i], SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
    }
    struct tun_dev dev = {.fd = sv[0], .vnet = vnet, .offload = vnet};
    snprintf(dev.name, sizeof dev.name, "%s", c->ifname);
    struct errmsg err = {""};
    int r = tunnel_new(&s->t, c, b->base, &dev, &err);
    cr_assert_eq(r, 0, "tunnel_new: %s", err.msg);
    s->kernel = sv[1];
}

static void bed_up(struct bed *b, bool seal, bool vnet)
{
    memset(b, 0, sizeof *b);
    b->base = event_base_new();
    struct rph_holepuncher_config hc;
    rph_holepuncher_config_defaults(&hc);
    struct rph_addr listen = {.family = 4, .ip = {127, 0, 0, 1}};
    int err = 0;
    b->hp = rph_ev_holepuncher_new(b->base, &hc, &listen, 1, &err);
    cr_assert_not_null(b->hp, "holepuncher: %s", rph_strerror(err));
    struct rph_addr hpa;
    rph_ev_holepuncher_local_addr(b->hp, 0, &hpa);
    b->tick = event_new(b->base, -1, EV_PERSIST, tick, NULL);
    struct timeval ms10 = {0, 10000};
    event_add(b->tick, &ms10);
    struct tund_config sc, cc;
    config(&sc, RPH_ROLE_SERVER, &hpa, seal, 1);
    config(&cc, RPH_ROLE_CLIENT, &hpa, seal, 2);
    side_open(b, &b->server, &sc, vnet);
    side_open(b, &b->client, &cc, vnet);
}

static void bed_down(struct bed *b)
{
    tunnel_close(b->server.t);
    tunnel_close(b->client.t);
    close(b->server.kernel);
    close(b->client.kernel);
    event_free(b->tick);
    rph_ev_holepuncher_free(b->hp);
    event_base_free(b->base);
}

/* Runs the loop until cond(b) holds or timeout_ms passes; false on timeout. */
static bool run_until(struct bed *b, bool (*cond)(struct bed *), uint64_t timeout_ms)
{
    uint64_t end = rph_now_ms() + timeout_ms;
    while (!cond(b)) {
        if (rph_now_ms() > end) return false;
        event_base_loop(b->base, EVLOOP_ONCE);
    }
    return true;
}

/* The server has granted the client its announced address (so traffic may flow both ways). */
static bool joined(struct bed *b)
{
    for (size_t i = 0; i < tunnel_peer_slots(b->server.t); i++) {
        struct tunnel_peer_info p;
        if (tunnel_peer_info(b->server.t, i, &p) && p.up && p.has4) {
            for (size_t k = 0; k < tunnel_peer_slots(b->client.t); k++) {
                struct tunnel_peer_info q;
                if (tunnel_peer_info(b->client.t, k, &q) && q.up && q.has4) return true;
            }
        }
    }
    return false;
}

static size_t udp4(uint8_t *p, uint8_t src_host, uint8_t dst_host, uint16_t id, size_t payload)
{
    size_t total = 28 + payload;
    memset(p, 0, total);
    p[0] = 0x45;
    p[2] = (uint8_t)(total >> 8);
    p[3] = (uint8_t)total;
    p[4] = (uint8_t)(id >> 8);
    p[5] = (uint8_t)id;
    p[8] = 64;
    p[9] = 17;
    memcpy(p + 12, (uint8_t[]){10, 77, 0, src_host}, 4);
    memcpy(p + 16, (uint8_t[]){10, 77, 0, dst_host}, 4);
    for (size_t i = 0; i < payload; i++)
        p[28 + i] = (uint8_t)(id + i);
    return total;
}

/* What the receiving kernel would read: the next packet, or 0 when none has come. */
static struct {
    uint8_t buf[70000];
    ssize_t len;
} got;

static int want_fd;
static bool readable(struct bed *b)
{
    (void)b;
    got.len = recv(want_fd, got.buf, sizeof got.buf, 0);
    return got.len > 0;
}

static void expect_packet(struct bed *b, int fd, const uint8_t *pkt, size_t len, size_t skip)
{
    want_fd = fd;
    cr_assert(run_until(b, readable, 5000), "packet of %zu bytes did not arrive", len);
    cr_assert_eq((size_t)got.len, len + skip);
    cr_assert_arr_eq(got.buf + skip, pkt, len);
}

static void connect_and_ping(bool seal)
{
    struct bed b;
    bed_up(&b, seal, false);
    uint64_t t0 = rph_now_ms();
    cr_assert(run_until(&b, joined, 10000), "the tunnels did not connect within 10 s");
    cr_log_info("%s: connected after %llu ms", seal ? "sealed" : "plaintext",
                (unsigned long long)(rph_now_ms() - t0));
    uint8_t p[1500];
    for (uint16_t id = 1; id <= 20; id++) {
        size_t n = udp4(p, 2, 1, id, 100u + id * 50u);
        cr_assert_eq(send(b.client.kernel, p, n, 0), (ssize_t)n);
        expect_packet(&b, b.server.kernel, p, n, 0);
        n = udp4(p, 1, 2, (uint16_t)(id + 1000), 1200);
        cr_assert_eq(send(b.server.kernel, p, n, 0), (ssize_t)n);
        expect_packet(&b, b.client.kernel, p, n, 0);
    }
    /* A source that is not the client's own address never reaches the server's network,
     * and the next honest packet still does. */
    const struct tunnel_drops *d = tunnel_drops(b.server.t);
    uint64_t spoofed = d->spoofed_source;
    size_t n = udp4(p, 9, 1, 77, 40);
    cr_assert_eq(send(b.client.kernel, p, n, 0), (ssize_t)n);
    n = udp4(p, 2, 1, 78, 40);
    cr_assert_eq(send(b.client.kernel, p, n, 0), (ssize_t)n);
    expect_packet(&b, b.server.kernel, p, n, 0);
    cr_assert_eq(d->spoofed_source, spoofed + 1);
    /* multicast stays on the link */
    uint64_t local = tunnel_drops(b.client.t)->local_scope;
    n = udp4(p, 2, 1, 79, 10);
    p[16] = 224;
    cr_assert_eq(send(b.client.kernel, p, n, 0), (ssize_t)n);
    n = udp4(p, 2, 1, 80, 10);
    cr_assert_eq(send(b.client.kernel, p, n, 0), (ssize_t)n);
    expect_packet(&b, b.server.kernel, p, n, 0);
    cr_assert_eq(tunnel_drops(b.client.t)->local_scope, local + 1);
    bed_down(&b);
}

Test(tund_pair, sealed_packets_cross_both_ways, .timeout = 60)
{
    connect_and_ping(true);
}

Test(tund_pair, plaintext_packets_cross_both_ways, .timeout = 60)
{
    connect_and_ping(false);
}

static cJSON *status_of(const struct side *s)
{
    char *text = status_json(s->t, rph_now_ms());
    cr_assert_not_null(text);
    cJSON *st = cJSON_Parse(text);
    free(text);
    cr_assert(cJSON_IsObject(st));
    return st;
}

static const cJSON *first_peer(const cJSON *st)
{
    const cJSON *peers = cJSON_GetObjectItemCaseSensitive(st, "peers");
    cr_assert(cJSON_IsArray(peers) && cJSON_GetArraySize(peers) == 1);
    return cJSON_GetArrayItem(peers, 0);
}

/* Each side shows its own node public key, and the other's once a handshake proved it. */
Test(tund_pair, status_shows_node_public_keys, .timeout = 60)
{
    struct bed b;
    bed_up(&b, true, false);
    cr_assert(run_until(&b, joined, 10000), "the tunnels did not connect within 10 s");
    const struct side *sides[2] = {&b.server, &b.client};
    for (int i = 0; i < 2; i++) {
        const struct tund_config *mine = tunnel_config(sides[i]->t);
        const struct tund_config *theirs = tunnel_config(sides[1 - i]->t);
        static const uint8_t zero[32];
        cr_assert_arr_eq(mine->node_sk, zero, 32, "the tunnel's config copy keeps no private key");
        char want[NODEKEY_B64_LEN + 1], other[NODEKEY_B64_LEN + 1];
        nodekey_public_base64(mine->node_pk, want, sizeof want);
        nodekey_public_base64(theirs->node_pk, other, sizeof other);
        cJSON *st = status_of(sides[i]);
        const cJSON *pk = cJSON_GetObjectItemCaseSensitive(st, "public_key");
        cr_assert(cJSON_IsString(pk), "no top-level public_key");
        cr_assert_str_eq(pk->valuestring, want, "the key the core derives from node_sk");
        /* The handshake proved the other side's node key (joined() waited for it). */
        const cJSON *ppk = cJSON_GetObjectItemCaseSensitive(first_peer(st), "public_key");
        cr_assert(cJSON_IsString(ppk), "the peer's public_key is not known after the handshake");
        cr_assert_str_eq(ppk->valuestring, other);
        cr_assert_null(cJSON_GetObjectItemCaseSensitive(st, "members"));
        cJSON_Delete(st);
    }
    bed_down(&b);

    /* Plaintext has no node keys: the fields are absent, not null. */
    bed_up(&b, false, false);
    cr_assert(run_until(&b, joined, 10000), "the tunnels did not connect within 10 s");
    cJSON *st = status_of(&b.server);
    cr_assert_null(cJSON_GetObjectItemCaseSensitive(st, "public_key"));
    cr_assert_null(cJSON_GetObjectItemCaseSensitive(first_peer(st), "public_key"));
    cJSON_Delete(st);
    bed_down(&b);
}

/* A TSO super-packet from the client's "kernel" is split, sent as a GSO train, and coalesced
 * again on the server; every payload byte arrives in order. */
static size_t tcp4_tso(uint8_t *p, size_t payload, uint32_t seq)
{
    size_t total = 40 + payload;
    memset(p, 0, 40);
    p[0] = 0x45;
    p[2] = (uint8_t)(total >> 8);
    p[3] = (uint8_t)total;
    p[8] = 64;
    p[9] = 6;
    memcpy(p + 12, (uint8_t[]){10, 77, 0, 2}, 4);
    memcpy(p + 16, (uint8_t[]){10, 77, 0, 1}, 4);
    p[20] = 0x9c, p[21] = 0x40; /* port 40000 */
    p[22] = 0x1f, p[23] = 0x90; /* port 8080 */
    p[24] = (uint8_t)(seq >> 24), p[25] = (uint8_t)(seq >> 16), p[26] = (uint8_t)(seq >> 8);
    p[27] = (uint8_t)seq;
    p[32] = 5 << 4;
    p[33] = 0x10; /* ACK */
    p[34] = 0xff, p[35] = 0xff;
    for (size_t i = 0; i < payload; i++)
        p[40 + i] = (uint8_t)(i * 7 + 3);
    return total;
}

Test(tund_pair, tso_super_packet_arrives_whole, .timeout = 60)
{
    struct bed b;
    bed_up(&b, true, true);
    cr_assert(run_until(&b, joined, 10000), "the tunnels did not connect within 10 s");
    static uint8_t frame[VNET_LEN + 65535];
    struct virtio_net_hdr h = {.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
                               .gso_type = VIRTIO_NET_HDR_GSO_TCPV4,
                               .hdr_len = 40,
                               .gso_size = 1300,
                               .csum_start = 20,
                               .csum_offset = 16};
    size_t payload = 1300 * 30 + 17;
    memcpy(frame, &h, VNET_LEN);
    size_t n = tcp4_tso(frame + VNET_LEN, payload, 1000);
    cr_assert_eq(send(b.client.kernel, frame, VNET_LEN + n, 0), (ssize_t)(VNET_LEN + n));
    /* Whatever the coalescing did, the TCP payload bytes arrive in order and intact. */
    size_t have = 0;
    want_fd = b.server.kernel;
    while (have < payload) {
        cr_assert(run_until(&b, readable, 5000), "stalled after %zu of %zu payload bytes", have,
                  payload);
        const uint8_t *ip = got.buf + VNET_LEN;
        size_t len = (size_t)got.len - VNET_LEN;
        cr_assert_geq(len, 40);
        cr_assert_eq(ip[9], 6);
        uint32_t seq =
            (uint32_t)ip[24] << 24 | (uint32_t)ip[25] << 16 | (uint32_t)ip[26] << 8 | ip[27];
        cr_assert_eq(seq, 1000 + have, "segment out of order");
        for (size_t i = 40; i < len; i++, have++)
            cr_assert_eq(ip[i], (uint8_t)(have * 7 + 3), "payload byte %zu differs", have);
    }
    cr_assert_eq(have, payload);
    cr_assert_eq(tunnel_offload(b.client.t)->tso_in[0], 1);
    cr_assert_geq(tunnel_offload(b.client.t)->gso_sends, 1);
    bed_down(&b);
}
