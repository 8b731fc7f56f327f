/* SPDX-License-Identifier: MIT */
/* One recvmmsg batch of datagrams, shared by the event-driven peer and holepuncher (internal
 * header). */
#ifndef RUPHIN_CORE_RXBATCH_H
#define RUPHIN_CORE_RXBATCH_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>

#include "ruphin/wire.h"

#define RXBATCH_N 16
/* One byte more than the largest datagram, so an oversized one shows as truncated. */
#define RXBATCH_SLOT (RPH_DATAGRAM_MAX + 1)

struct rxbatch {
    struct mmsghdr msgs[RXBATCH_N];
    struct iovec iov[RXBATCH_N];
    struct sockaddr_storage src[RXBATCH_N];
    /* room for the UDP_GRO segment size and the receive timestamp (SO_TIMESTAMPNS) */
    union {
        char buf[CMSG_SPACE(sizeof(int)) + CMSG_SPACE(sizeof(struct timespec))];
        struct cmsghdr align;
    } ctl[RXBATCH_N];
    uint8_t *buf; /* RXBATCH_N * RXBATCH_SLOT */
};

/* 0 or -ENOMEM. */
int rxbatch_init(struct rxbatch *b);
void rxbatch_free(struct rxbatch *b);
/* Receives up to RXBATCH_N datagrams; returns the count, 0 when it would block, or -errno. */
int rxbatch_recv(struct rxbatch *b, int fd);
/* The size of each datagram in a GRO-coalesced buffer, or 0 when it holds one datagram. */
size_t rxbatch_gro_size(struct msghdr *h);
/* Asks the kernel to stamp each datagram with its arrival (SO_TIMESTAMPNS); 0 or -errno. */
int rxbatch_stamp_arrivals(int fd);
/* When the datagram arrived, on the monotonic clock of rph_now_ms (the stamp is wall time:
 * wall_offset_ms is rph_wall_offset_ms()), or 0 when it has no stamp. */
uint64_t rxbatch_arrival_ms(struct msghdr *h, int64_t wall_offset_ms);

#endif
