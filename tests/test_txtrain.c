// SPDX-License-Identifier: MIT
// Send trains whose segments are longer than a slot (a relayed datagram is a RelayData header
// longer than a direct one): they leave as one GSO send while the route's MTU takes them, and
// datagram by datagram (fragmented by the kernel, never lost) once it refused them, while
// trains of slot-sized datagrams keep GSO. Runs in its own network namespace, where the
// loopback's MTU is set to 1500 like an Ethernet path.
#include <criterion/criterion.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../src/core/txtrain.h"
#include "ruphin/addr.h"

#define SLOT 1400 /* 1428 bytes on the wire: fits 1500 */
#define LONG 1480 /* 1508 bytes on the wire: over 1500 */
#define FITS 1460 /* 1488 bytes on the wire: longer than a slot, fits 1500 */

struct rig {
    int tx, rx;
    struct rph_addr to;
    struct txtrain t;
    struct txtrain_report reports[16];
    size_t n_reports;
};

static void on_report(void *ctx, const struct txtrain_report *r)
{
    struct rig *g = ctx;
    if (g->n_reports < 16) g->reports[g->n_reports++] = *r;
}

static void lo_up_mtu(int mtu)
{
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    cr_assert_geq(s, 0);
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    strcpy(ifr.ifr_name, "lo");
    cr_assert_eq(ioctl(s, SIOCGIFFLAGS, &ifr), 0, "SIOCGIFFLAGS lo: %s", strerror(errno));
    ifr.ifr_flags |= IFF_UP;
    cr_assert_eq(ioctl(s, SIOCSIFFLAGS, &ifr), 0, "SIOCSIFFLAGS lo: %s", strerror(errno));
    ifr.ifr_mtu = mtu;
    cr_assert_eq(ioctl(s, SIOCSIFMTU, &ifr), 0, "SIOCSIFMTU lo: %s", strerror(errno));
    close(s);
}

static void rig_up(struct rig *g, size_t seg_try)
{
    if (geteuid() != 0) cr_skip_test("needs root for a network namespace");
    cr_assert_eq(unshare(CLONE_NEWNET), 0, "unshare: %s", strerror(errno));
    lo_up_mtu(1500);
    memset(g, 0, sizeof *g);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    g->rx = socket(AF_INET, SOCK_DGRAM, 0);
    g->tx = socket(AF_INET, SOCK_DGRAM, 0);
    cr_assert(g->rx >= 0 && g->tx >= 0);
    cr_assert_eq(bind(g->rx, (struct sockaddr *)&a, sizeof a), 0);
    socklen_t al = sizeof a;
    cr_assert_eq(getsockname(g->rx, (struct sockaddr *)&a, &al), 0);
    cr_assert_eq(rph_addr_from_sockaddr(&g->to, (struct sockaddr *)&a, al), 0);
    cr_assert_eq(txtrain_init(&g->t, g->tx, 4, SLOT, seg_try, 65000, 64, true), 0);
    g->t.report = on_report;
    g->t.ctx = g;
}

static void rig_down(struct rig *g)
{
    txtrain_free(&g->t);
    close(g->tx);
    close(g->rx);
}

/* n datagrams of len bytes queued back to back, then sent. */
static void send_train(struct rig *g, size_t n, size_t len, uint8_t tag)
{
    size_t off;
    cr_assert_eq(txtrain_reserve(&g->t, g, len, n, &off), 0);
    for (size_t k = 0; k < n; k++) {
        memset(g->t.base + off + k * len, tag + (int)k, len);
        txtrain_add(&g->t, g, &g->to, off + k * len, len);
    }
    txtrain_flush(&g->t);
}

/* Each of the n datagrams arrives whole, in order, with its bytes. */
static void expect(struct rig *g, size_t n, size_t len, uint8_t tag)
{
    static uint8_t buf[65536];
    for (size_t k = 0; k < n; k++) {
        struct pollfd p = {.fd = g->rx, .events = POLLIN};
        cr_assert_eq(poll(&p, 1, 5000), 1, "datagram %zu of %zu did not arrive", k, n);
        ssize_t r = recv(g->rx, buf, sizeof buf, 0);
        cr_assert_eq(r, (ssize_t)len, "datagram %zu: %zd bytes, sent %zu", k, r, len);
        for (size_t i = 0; i < len; i++)
            cr_assert_eq(buf[i], (uint8_t)(tag + k), "datagram %zu byte %zu", k, i);
    }
}

Test(txtrain, longer_than_a_slot_that_fits_the_route_is_one_gso_send)
{
    struct rig g;
    rig_up(&g, FITS);
    send_train(&g, 4, FITS, 10);
    expect(&g, 4, FITS, 10);
    cr_assert_eq(g.n_reports, 1);
    cr_assert(g.reports[0].gso, "a train of 1460-byte datagrams on a 1500 route left without GSO");
    cr_assert_eq(g.reports[0].datagrams, 4);
    cr_assert_eq(g.t.seg_limit, FITS);
    rig_down(&g);
}

Test(txtrain, over_the_route_mtu_goes_alone_and_gso_stays_for_the_rest)
{
    struct rig g;
    rig_up(&g, LONG);
    /* The kernel refuses the GSO send: the four go one by one, fragmented, and arrive. */
    send_train(&g, 4, LONG, 20);
    expect(&g, 4, LONG, 20);
    cr_assert_eq(g.n_reports, 1);
    cr_assert_not(g.reports[0].gso);
    cr_assert_eq(g.reports[0].datagrams, 4);
    cr_assert_eq(g.reports[0].err, 0);
    cr_assert_eq(g.t.seg_limit, SLOT, "the refusal did not lower the segment limit");
    cr_assert(g.t.gso, "a refusal of over-long segments turned GSO off for every train");
    /* Slot-sized datagrams still leave as one GSO send. */
    send_train(&g, 4, SLOT, 40);
    expect(&g, 4, SLOT, 40);
    cr_assert_eq(g.n_reports, 2);
    cr_assert(g.reports[1].gso);
    cr_assert_eq(g.reports[1].datagrams, 4);
    /* Long ones now leave alone without trying GSO again: four sends of one. */
    send_train(&g, 4, LONG, 60);
    expect(&g, 4, LONG, 60);
    cr_assert_eq(g.n_reports, 6);
    for (size_t i = 2; i < 6; i++) {
        cr_assert_eq(g.reports[i].datagrams, 1);
        cr_assert_not(g.reports[i].gso);
    }
    rig_down(&g);
}
