// SPDX-License-Identifier: MIT
// The event-driven modules: holepuncher, server and client on one libevent base, one thread.
#include <criterion/criterion.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../src/core/udp.h"
#include "ruphin/error.h"
#include "ruphin/ev.h"

struct world {
    struct event_base *base;
    struct rph_ev_peer *server, *client;
    int server_ups, client_state_connected;
    char client_got[64];
    int client_got_len;
};

static void server_data(void *ctx, struct rph_remote *from, const uint8_t *d, size_t n)
{
    struct world *w = ctx;
    uint8_t buf[RPH_FRAME_HEADROOM + 128 + RPH_FRAME_TAILROOM];
    cr_assert_leq(n, 100);
    memcpy(buf + RPH_FRAME_HEADROOM, "re:", 3);
    memcpy(buf + RPH_FRAME_HEADROOM + 3, d, n);
    /* the zero-copy path the tunnel uses */
    cr_assert_eq(rph_ev_peer_send_frame(w->server, from, buf, n + 3), 0);
}

static void server_remote(void *ctx, struct rph_remote *r, bool up)
{
    (void)r;
    struct world *w = ctx;
    if (up) w->server_ups++;
}

static void client_state(void *ctx, enum rph_peer_state s, int err)
{
    (void)err;
    struct world *w = ctx;
    if (s != RPH_STATE_CONNECTED) return;
    w->client_state_connected++;
    size_t n;
    struct rph_remote *r = rph_peer_remotes(rph_ev_peer_core(w->client), &n);
    rph_ev_peer_send(w->client, &r[0].addr, "ping", 4);
}

static void client_data(void *ctx, struct rph_remote *from, const uint8_t *d, size_t n)
{
    (void)from;
    struct world *w = ctx;
    memcpy(w->client_got, d, n);
    w->client_got_len = (int)n;
    event_base_loopbreak(w->base);
}

/* Holepuncher, server and client on one base; dual: the peers' sockets are dual stack. */
static void handshake_and_data(bool dual)
{
    struct world w = {0};
    w.base = event_base_new();
    struct rph_holepuncher_config hc;
    rph_holepuncher_config_defaults(&hc);
    struct rph_addr listen = {.family = 4, .ip = {127, 0, 0, 1}};
    int err = 0;
    struct rph_ev_holepuncher *hp = rph_ev_holepuncher_new(w.base, &hc, &listen, 1, &err);
    cr_assert_not_null(hp, "%s", rph_strerror(err));
    struct rph_addr hpa;
    rph_ev_holepuncher_local_addr(hp, 0, &hpa);

    struct rph_peer_config sc, cc;
    rph_peer_config_defaults(&sc, RPH_ROLE_SERVER);
    sc.holepuncher = hpa;
    sc.handshake_timeout_ms = 0;
    rph_session_set(&sc.session, "ev", 2);
    cc = sc;
    cc.role = RPH_ROLE_CLIENT;
    struct rph_peer_callbacks scb = {.on_data = server_data, .on_remote = server_remote};
    struct rph_peer_callbacks ccb = {.on_data = client_data, .on_state = client_state};
    struct rph_ev_peer_options opt = {.dual_stack = dual};
    w.server = rph_ev_peer_new(w.base, &sc, &opt, &scb, &w, &err);
    cr_assert_not_null(w.server, "%s", rph_strerror(err));
    w.client = rph_ev_peer_new(w.base, &cc, &opt, &ccb, &w, &err);
    cr_assert_not_null(w.client, "%s", rph_strerror(err));
    unsigned fam = rph_ev_peer_families(w.client);
    struct rph_addr local;
    cr_assert_eq(rph_ev_peer_local_addr(w.client, &local), 0);
    int probe = socket(AF_INET6, SOCK_DGRAM, 0); /* whether this host has IPv6 at all */
    if (dual && probe >= 0) {
        cr_assert_eq(fam, RPH_EV_IPV4 | RPH_EV_IPV6);
        cr_assert_eq(local.family, 6, "a dual-stack socket is an IPv6 one");
    } else {
        cr_assert_eq(fam, RPH_EV_IPV4);
        cr_assert_eq(local.family, 4);
    }
    if (probe >= 0) close(probe);

    struct timeval limit = {10, 0};
    event_base_loopexit(w.base, &limit);
    event_base_dispatch(w.base);

    cr_assert_eq(w.client_state_connected, 1);
    cr_assert_eq(w.server_ups, 1);
    cr_assert_eq(w.client_got_len, 7);
    cr_assert_arr_eq(w.client_got, "re:ping", 7);
    cr_assert_eq(rph_holepuncher_stats(rph_ev_holepuncher_core(hp))->joins >= 1, 1);
    /* An IPv4 peer on a dual-stack socket is family 4 (from ::ffff:127.0.0.1), the one the
     * holepuncher introduced. */
    size_t n;
    struct rph_remote *r = rph_peer_remotes(rph_ev_peer_core(w.client), &n);
    cr_assert_eq(r[0].addr.family, 4);
    cr_assert_eq(r[0].addr.ip[0], 127);

    rph_ev_peer_free(w.client);
    rph_ev_peer_free(w.server);
    rph_ev_holepuncher_free(hp);
    event_base_free(w.base);
}

Test(ev, handshake_and_data_on_one_event_base, .timeout = 20)
{
    handshake_and_data(false);
}

/* The same through dual-stack sockets (IPV6_V6ONLY off) with an IPv4 holepuncher: IPv4 goes
 * out as ::ffff:a.b.c.d and comes back as family 4, GSO/GRO and all. */
Test(ev, a_dual_stack_socket_talks_ipv4_as_family_4, .timeout = 20)
{
    handshake_and_data(true);
}

/* The holepuncher's sockets send with DF and no path-MTU logic (no per-datagram IP ID);
 * IPv6 sockets are left alone. */
Test(ev, tiny_reply_sockets_set_dont_fragment)
{
    struct rph_addr lo4 = {.family = 4, .ip = {127, 0, 0, 1}};
    int fd = rph_udp_open(&lo4, 4, 0, 0);
    cr_assert_geq(fd, 0);
    int v = -1;
    socklen_t sl = sizeof v;
    cr_assert_eq(getsockopt(fd, IPPROTO_IP, IP_MTU_DISCOVER, &v, &sl), 0);
    cr_assert_neq(v, IP_PMTUDISC_PROBE);
    rph_udp_tiny_replies(fd);
    cr_assert_eq(getsockopt(fd, IPPROTO_IP, IP_MTU_DISCOVER, &v, &sl), 0);
    cr_assert_eq(v, IP_PMTUDISC_PROBE);
    close(fd);
    fd = rph_udp_open(NULL, 6, 0, 0);
    if (fd >= 0) { /* no IPv6 here: nothing to check */
        rph_udp_tiny_replies(fd);
        close(fd);
    }
}

/* Sends datagrams from a socket of our own to an ev peer and runs its loop until it counted
 * want datagrams of the other mode (or 5 s pass); returns the count. */
static uint64_t other_mode_after(struct event_base *base, struct rph_ev_peer *p, uint64_t want,
                                 const uint8_t *const *dg, const size_t *len, int n,
                                 struct rph_addr *from, uint16_t *our_port)
{
    struct rph_addr lo4 = {.family = 4, .ip = {127, 0, 0, 1}}, to, mine;
    int fd = rph_udp_open(&lo4, 4, 0, 0);
    cr_assert_geq(fd, 0);
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    cr_assert_eq(getsockname(fd, (struct sockaddr *)&ss, &sl), 0);
    rph_addr_from_sockaddr(&mine, (struct sockaddr *)&ss, sl);
    *our_port = mine.port;
    cr_assert_eq(rph_ev_peer_local_addr(p, &to), 0);
    to.family = 4;
    memcpy(to.ip, lo4.ip, 4);
    socklen_t tl = rph_addr_to_sockaddr(&to, &ss, 4);
    for (int i = 0; i < n; i++)
        cr_assert_eq(sendto(fd, dg[i], len[i], 0, (struct sockaddr *)&ss, tl), (ssize_t)len[i]);
    for (int round = 0; round < 50 && rph_ev_peer_other_mode(p, NULL) < want; round++) {
        struct timeval t = {0, 100000};
        event_base_loopexit(base, &t);
        event_base_dispatch(base);
    }
    close(fd);
    return rph_ev_peer_other_mode(p, from);
}

Test(ev, datagrams_of_the_other_mode_are_counted_with_their_sender, .timeout = 20)
{
    struct event_base *base = event_base_new();
    struct rph_peer_config c;
    rph_peer_config_defaults(&c, RPH_ROLE_SERVER);
    c.holepuncher = (struct rph_addr){.family = 4, .ip = {127, 0, 0, 1}, .port = 9};
    c.handshake_timeout_ms = 0;
    rph_session_set(&c.session, "office", 6);
    struct rph_peer_callbacks cb = {0};
    int err = 0;
    struct rph_ev_peer *plain = rph_ev_peer_new(base, &c, NULL, &cb, NULL, &err);
    cr_assert_not_null(plain, "%s", rph_strerror(err));
    /* At a plaintext peer: a HandshakeInit counts; a HelloReq and an unknown type do not. */
    uint8_t init[72] = {0, 72, 0, RPH_HANDSHAKE_INIT}, hello[4] = {0, 4, 0, RPH_HELLO_REQ},
            junk[6] = {0, 6, 0, 99};
    const uint8_t *d1[] = {hello, junk, init};
    const size_t l1[] = {sizeof hello, sizeof junk, sizeof init};
    struct rph_addr from;
    uint16_t port;
    cr_assert_eq(other_mode_after(base, plain, 1, d1, l1, 3, &from, &port), 1);
    cr_assert_eq(from.port, port, "the sender is named");
    rph_ev_peer_free(plain);

    /* At a sealed peer: plain Data counts (a sealed peer never sends it). */
    c.sealed = true;
    static const uint8_t key[32] = {7};
    cr_assert_eq(rph_seal_derive(&c.seal, key, "office", 6), 0);
    struct rph_ev_peer *sealed = rph_ev_peer_new(base, &c, NULL, &cb, NULL, &err);
    cr_assert_not_null(sealed, "%s", rph_strerror(err));
    uint8_t data[9] = {0, 9, 0, RPH_DATA, 'h', 'e', 'l', 'l', 'o'};
    const uint8_t *d2[] = {hello, data};
    const size_t l2[] = {sizeof hello, sizeof data};
    cr_assert_eq(other_mode_after(base, sealed, 1, d2, l2, 2, &from, &port), 1);
    cr_assert_eq(from.port, port);
    rph_ev_peer_free(sealed);
    event_base_free(base);
}
