// SPDX-License-Identifier: MIT
// Sending in trains: datagrams for one address queue back to back and leave with one UDP GSO
// sendmsg, or, where the kernel has no GSO, one sendmmsg.
#include "txtrain.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <stdlib.h>
#include <string.h>

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif

int txtrain_init(struct txtrain *t, int fd, int family, size_t slot_max, size_t seg_try,
                 size_t longest, size_t headroom, bool gso)
{
    memset(t, 0, sizeof *t);
    t->fd = fd;
    t->family = family;
    t->gso = gso;
    t->slot_max = slot_max;
    t->seg_limit = seg_try > slot_max ? seg_try : slot_max;
    t->cap = TXTRAIN_SEGS * t->seg_limit;
    /* A datagram too long for a train still goes through the buffer, alone. */
    if (t->cap < longest) t->cap = longest;
    t->mem = malloc(headroom + t->cap);
    if (!t->mem) return -ENOMEM;
    t->base = t->mem + headroom;
    return 0;
}

void txtrain_free(struct txtrain *t)
{
    free(t->mem);
    t->mem = t->base = NULL;
}

static bool joins(const struct txtrain *t, const void *key, size_t off, size_t len)
{
    return t->n && t->key == key && !t->closed && len <= t->seg && t->n < TXTRAIN_SEGS &&
           t->bytes + len <= TXTRAIN_BYTES && off == t->start + t->bytes;
}

int txtrain_reserve(struct txtrain *t, const void *key, size_t stride, size_t n, size_t *off)
{
    if (n == 0 || stride == 0 || n > t->cap / stride) return -1;
    size_t end = t->start + t->bytes;
    if (joins(t, key, end, stride) && end + n * stride <= t->cap) {
        *off = end;
        return 0;
    }
    txtrain_flush(t);
    *off = 0;
    return 0;
}

void txtrain_add(struct txtrain *t, const void *key, const struct rph_addr *to, size_t off,
                 size_t len)
{
    if (t->n && !joins(t, key, off, len)) txtrain_flush(t);
    if (!t->n) {
        t->key = key;
        t->to_len = rph_addr_to_sockaddr(to, &t->to, t->family);
        t->start = off;
        t->seg = len;
        /* A segment the kernel refused (over the route's MTU) goes alone, as the kernel
         * fragments it. */
        t->closed = len > t->seg_limit;
    } else if (len < t->seg) {
        t->closed = true;
    }
    t->bytes += len;
    t->n++;
}

static void report(struct txtrain *t, size_t n, size_t bytes, bool gso, int err)
{
    if (!n || !t->report) return;
    struct txtrain_report r = {
        .key = t->key, .datagrams = n, .bytes = bytes, .gso = gso, .err = err};
    t->report(t->ctx, &r);
}

/* 0 when sent; 1 when the kernel cannot do GSO here; 2 when it refuses segments this long
 * (over the route's MTU); else a negative errno. */
static int send_gso(struct txtrain *t)
{
    struct iovec iov = {t->base + t->start, t->bytes};
    union {
        char b[CMSG_SPACE(sizeof(uint16_t))];
        struct cmsghdr align;
    } ctl;
    memset(&ctl, 0, sizeof ctl);
    struct msghdr mh = {.msg_name = &t->to,
                        .msg_namelen = t->to_len,
                        .msg_iov = &iov,
                        .msg_iovlen = 1,
                        .msg_control = ctl.b,
                        .msg_controllen = sizeof ctl.b};
    struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
    c->cmsg_level = SOL_UDP;
    c->cmsg_type = UDP_SEGMENT;
    c->cmsg_len = CMSG_LEN(sizeof(uint16_t));
    uint16_t gs = (uint16_t)t->seg;
    memcpy(CMSG_DATA(c), &gs, sizeof gs);
    for (;;) {
        if (sendmsg(t->fd, &mh, 0) >= 0) return 0;
        if (errno != EINTR) break;
    }
    /* Segments over the route's MTU: EINVAL, or EMSGSIZE with DF set. */
    if ((errno == EINVAL || errno == EMSGSIZE) && t->seg > t->slot_max) return 2;
    /* No GSO here (an old kernel, or a device without it). */
    if (errno == EIO || errno == EINVAL || errno == EOPNOTSUPP) return 1;
    return -errno;
}

/* One datagram per message, all in as few sendmmsg calls as the kernel allows. */
static void send_each(struct txtrain *t)
{
    for (size_t k = 0; k < t->n; k++) {
        size_t off = k * t->seg;
        t->iov[k].iov_base = t->base + t->start + off;
        t->iov[k].iov_len = k + 1 < t->n ? t->seg : t->bytes - off;
        memset(&t->msgs[k], 0, sizeof t->msgs[k]);
        t->msgs[k].msg_hdr.msg_name = &t->to;
        t->msgs[k].msg_hdr.msg_namelen = t->to_len;
        t->msgs[k].msg_hdr.msg_iov = &t->iov[k];
        t->msgs[k].msg_hdr.msg_iovlen = 1;
    }
    size_t done = 0, sent = 0, sent_bytes = 0;
    while (done < t->n) {
        int r = sendmmsg(t->fd, t->msgs + done, (unsigned)(t->n - done), 0);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            /* This one is lost like any UDP datagram the kernel refuses; the rest may go. */
            report(t, 1, t->iov[done].iov_len, false, -errno);
            done++;
            continue;
        }
        for (int i = 0; i < r; i++)
            sent_bytes += t->iov[done + (size_t)i].iov_len;
        sent += (size_t)r;
        done += (size_t)r;
    }
    report(t, sent, sent_bytes, false, 0);
}

void txtrain_flush(struct txtrain *t)
{
    if (!t->n) return;
    if (t->n > 1 && t->gso) {
        int r = send_gso(t);
        if (r <= 0) {
            report(t, t->n, t->bytes, r == 0, r);
            goto done;
        }
        if (r == 2)
            t->seg_limit = t->slot_max; /* too long for the route: those go alone from now */
        else
            t->gso = false; /* for good: the kernel will not learn it later */
    }
    send_each(t);
done:
    t->n = 0;
    t->bytes = 0;
    t->start = 0;
    t->closed = false;
}
