/* SPDX-License-Identifier: MIT */
/* UDP GSO trains (internal header): datagrams for one destination laid back to back in one
 * buffer, all of one size but the last, leaving with one system call. */
#ifndef RUPHIN_CORE_TXTRAIN_H
#define RUPHIN_CORE_TXTRAIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "ruphin/addr.h"

/* Datagrams per train: the kernel's UDP_MAX_SEGMENTS (64 before Linux 6.2). */
#define TXTRAIN_SEGS 64
/* Bytes per train: one UDP GSO send carries at most 64 KB with its headers. */
#define TXTRAIN_BYTES 65000

struct txtrain_report {
    const void *key;
    size_t datagrams, bytes;
    bool gso; /* they left in one UDP GSO send */
    int err;  /* 0, or the negative errno that lost them */
};

struct txtrain {
    int fd, family;
    bool gso;        /* UDP GSO works (or has not failed yet) */
    uint8_t *mem;    /* headroom, then cap bytes */
    uint8_t *base;   /* mem + headroom: offsets count from here */
    size_t cap;      /* TXTRAIN_SEGS slots of slot_max, or the longest datagram if more */
    size_t slot_max; /* datagrams up to this long always join trains */
    /* Longer ones (a relayed slot is a RelayData header longer) join too while the kernel takes
     * them as GSO segments; the first refusal (a segment over the route's MTU) sets this to
     * slot_max, and such a datagram leaves alone, for the kernel to fragment. */
    size_t seg_limit;
    void (*report)(void *ctx, const struct txtrain_report *r);
    void *ctx;
    /* The train: n datagrams from base + start, bytes in all, each seg bytes but the last. */
    const void *key;
    struct sockaddr_storage to;
    socklen_t to_len;
    size_t start, bytes, seg, n;
    bool closed; /* its last datagram is shorter than seg (or alone): it takes no more */
    /* for sending without GSO */
    struct mmsghdr msgs[TXTRAIN_SEGS];
    struct iovec iov[TXTRAIN_SEGS];
};

/* 0 or -ENOMEM. slot_max: the longest datagram that surely fits the path in a train;
 * seg_try (>= slot_max): the longest tried in a train until the kernel refuses one; longest:
 * the longest datagram it must take (alone); headroom: bytes kept writable before the buffer
 * (for framing in place). */
int txtrain_init(struct txtrain *t, int fd, int family, size_t slot_max, size_t seg_try,
                 size_t longest, size_t headroom, bool gso);
void txtrain_free(struct txtrain *t);
/* Where n datagrams of stride bytes each for key go (datagram k at base + *off + k * stride):
 * right after the train when the first can join it, else at the start after sending the
 * train. -1 when they cannot fit in the buffer. */
int txtrain_reserve(struct txtrain *t, const void *key, size_t stride, size_t n, size_t *off);
/* Adds the datagram of len bytes written at base + off for key, to be sent to `to`; sends the
 * train first when the datagram cannot join it. */
void txtrain_add(struct txtrain *t, const void *key, const struct rph_addr *to, size_t off,
                 size_t len);
/* Sends the train, if any, and reports it. */
void txtrain_flush(struct txtrain *t);

#endif
