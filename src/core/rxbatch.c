// SPDX-License-Identifier: MIT
// Receiving in batches: one recvmmsg fills up to RXBATCH_N slots, each possibly a UDP GRO train
// of several datagrams of one size.
#include "rxbatch.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <stdlib.h>
#include <string.h>

#ifndef UDP_GRO
#define UDP_GRO 104
#endif

int rxbatch_init(struct rxbatch *b)
{
    b->buf = malloc((size_t)RXBATCH_N * RXBATCH_SLOT);
    return b->buf ? 0 : -ENOMEM;
}

void rxbatch_free(struct rxbatch *b)
{
    free(b->buf);
    b->buf = NULL;
}

int rxbatch_recv(struct rxbatch *b, int fd)
{
    for (int i = 0; i < RXBATCH_N; i++) {
        b->iov[i].iov_base = b->buf + (size_t)i * RXBATCH_SLOT;
        b->iov[i].iov_len = RXBATCH_SLOT;
        memset(&b->msgs[i].msg_hdr, 0, sizeof b->msgs[i].msg_hdr);
        b->msgs[i].msg_hdr.msg_iov = &b->iov[i];
        b->msgs[i].msg_hdr.msg_iovlen = 1;
        b->msgs[i].msg_hdr.msg_name = &b->src[i];
        b->msgs[i].msg_hdr.msg_namelen = sizeof b->src[i];
        b->msgs[i].msg_hdr.msg_control = b->ctl[i].buf;
        b->msgs[i].msg_hdr.msg_controllen = sizeof b->ctl[i].buf;
    }
    for (;;) {
        int n = recvmmsg(fd, b->msgs, RXBATCH_N, MSG_DONTWAIT, NULL);
        if (n >= 0) return n;
        if (errno == EINTR || errno == ECONNREFUSED) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
        return -errno;
    }
}

size_t rxbatch_gro_size(struct msghdr *h)
{
    for (struct cmsghdr *c = CMSG_FIRSTHDR(h); c; c = CMSG_NXTHDR(h, c)) {
        if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO) {
            int v;
            memcpy(&v, CMSG_DATA(c), sizeof v);
            return v > 0 ? (size_t)v : 0;
        }
    }
    return 0;
}

int rxbatch_stamp_arrivals(int fd)
{
    int one = 1;
    return setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof one) < 0 ? -errno : 0;
}

uint64_t rxbatch_arrival_ms(struct msghdr *h, int64_t wall_offset_ms)
{
    for (struct cmsghdr *c = CMSG_FIRSTHDR(h); c; c = CMSG_NXTHDR(h, c)) {
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS) {
            struct timespec ts;
            memcpy(&ts, CMSG_DATA(c), sizeof ts);
            int64_t wall = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
            int64_t mono = wall - wall_offset_ms;
            return mono > 0 ? (uint64_t)mono : 0;
        }
    }
    return 0;
}
