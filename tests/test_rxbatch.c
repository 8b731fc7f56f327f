// SPDX-License-Identifier: MIT
// Receive timestamps (rxbatch_arrival_ms): a datagram read late by a busy process still says
// when it arrived, on the clock of rph_now_ms, so round trips to the holepuncher leave the busy
// moment out (timed punches). Loopback sockets only.
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../src/core/rxbatch.h"
#include "ruphin/clock.h"

static int tx = -1, rx = -1;
static struct sockaddr_in to;
static struct rxbatch b;

static void setup(void)
{
    tx = socket(AF_INET, SOCK_DGRAM, 0);
    rx = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    cr_assert(tx >= 0 && rx >= 0);
    to = (struct sockaddr_in){.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    cr_assert_eq(bind(rx, (struct sockaddr *)&to, sizeof to), 0);
    socklen_t len = sizeof to;
    cr_assert_eq(getsockname(rx, (struct sockaddr *)&to, &len), 0);
    cr_assert_eq(rxbatch_init(&b), 0);
}

static void teardown(void)
{
    rxbatch_free(&b);
    close(tx);
    close(rx);
}

/* Sends one datagram and returns how many the batch read once it is readable (5 s at most). */
static int send_and_read(void)
{
    cr_assert_eq(sendto(tx, "ping", 4, 0, (struct sockaddr *)&to, sizeof to), 4);
    struct pollfd pfd = {.fd = rx, .events = POLLIN};
    cr_assert_eq(poll(&pfd, 1, 5000), 1, "the datagram never came");
    return rxbatch_recv(&b, rx);
}

TestSuite(rxbatch, .init = setup, .fini = teardown);

/* The kernel turns stamping on a little after the first socket asks (a static key flipped from
 * a work queue); until then a datagram is stamped when it is read. So: try until one is
 * stamped at its arrival, for 5 s at most (a daemon's socket asks long before it matters). */
Test(rxbatch, a_datagram_read_late_says_when_it_arrived)
{
    cr_assert_eq(rxbatch_stamp_arrivals(rx), 0);
    uint64_t deadline = rph_now_ms() + 5000, before = 0, sent = 0, arrived = 0, read = 0;
    int tries = 0;
    do {
        tries++;
        before = rph_now_ms();
        cr_assert_eq(sendto(tx, "ping", 4, 0, (struct sockaddr *)&to, sizeof to), 4);
        sent = rph_now_ms();
        /* A busy process: it reads 50 ms later (a spin, bounded, not a wait for anything). */
        while (rph_now_ms() < sent + 50) {
        }
        cr_assert_eq(rxbatch_recv(&b, rx), 1);
        read = rph_now_ms();
        arrived = rxbatch_arrival_ms(&b.msgs[0].msg_hdr, rph_wall_offset_ms());
        cr_assert_neq(arrived, 0, "no stamp");
    } while (arrived > sent + 1 && rph_now_ms() < deadline);
    cr_log_info("try %d: sent at +0 ms, arrived at +%ld ms, read at +%ld ms", tries,
                (long)(arrived - before), (long)(read - before));
    /* Loopback delivers within sendto; a ms either way for the two clocks' rounding. */
    cr_assert(arrived + 1 >= before && arrived <= sent + 1, "arrived %lu, sent %lu..%lu",
              (unsigned long)arrived, (unsigned long)before, (unsigned long)sent);
    cr_assert_geq(read - arrived, 49, "read only %lu ms after it arrived",
                  (unsigned long)(read - arrived));
}

Test(rxbatch, without_stamps_there_is_no_arrival)
{
    cr_assert_eq(send_and_read(), 1);
    cr_assert_eq(rxbatch_arrival_ms(&b.msgs[0].msg_hdr, rph_wall_offset_ms()), 0);
}

Test(rxbatch, the_stamp_and_the_gro_size_fit_together)
{
    cr_assert_eq(rxbatch_stamp_arrivals(rx), 0);
    int one = 1;
    cr_assert_eq(setsockopt(rx, SOL_UDP, 104 /* UDP_GRO */, &one, sizeof one), 0);
    cr_assert_eq(send_and_read(), 1);
    struct msghdr *h = &b.msgs[0].msg_hdr;
    cr_assert_eq(h->msg_flags & MSG_CTRUNC, 0, "control data cut short");
    cr_assert_neq(rxbatch_arrival_ms(h, rph_wall_offset_ms()), 0);
    cr_assert_eq(b.msgs[0].msg_len, 4);
}
