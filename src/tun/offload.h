/* SPDX-License-Identifier: MIT */
/* TUN offloads: checksums the kernel left to us, splitting TSO super-packets into MSS-sized
 * segments for the UDP side, and coalescing TCP segments back into one for the TUN side. */
#ifndef RUPHIN_TUN_OFFLOAD_H
#define RUPHIN_TUN_OFFLOAD_H

#include <linux/virtio_net.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#define VNET_LEN sizeof(struct virtio_net_hdr)
#define GRO_MAX 65535

/* Completes the checksum of a packet the kernel marked VIRTIO_NET_HDR_F_NEEDS_CSUM. */
int offload_csum(const struct virtio_net_hdr *h, uint8_t *pkt, size_t len);

/* Splits a TSO packet (TCP over IPv4 or IPv6) into segments of h->gso_size payload bytes with
 * complete headers and checksums. Segment k is written at base + k * stride + head and its
 * length stored in seg_len[k]. Returns the number of segments, or -1 when the packet is not
 * one we can split (or needs more than max segments, or more than stride - head bytes). */
int offload_split(const struct virtio_net_hdr *h, const uint8_t *pkt, size_t len, uint8_t *base,
                  size_t stride, size_t head, size_t max, size_t *seg_len);

/* Header bytes (IP + TCP) of a plain TCP packet, or -1. */
int offload_tcp_hdrlen(const uint8_t *pkt, size_t len);

/* Coalesces consecutive TCP segments of one flow into one super-packet for the TUN device,
 * as the kernel's GRO would, without copying payloads: the result is an iovec list over the
 * callers' buffers, which must stay valid until gro_finish. */
#define GRO_SEGS 64
#define GRO_HDR_MAX 120 /* IPv6 (40) + the longest TCP header (60), with room */

struct gro {
    uint8_t hdr[VNET_LEN + GRO_HDR_MAX]; /* virtio header + a copy of the first headers */
    struct iovec iov[1 + GRO_SEGS];      /* hdr, then each segment's payload */
    size_t len;                          /* packet bytes (headers + payloads); 0 = none */
    int version;
    size_t thoff, hdrlen;
    uint16_t seg;      /* payload bytes of the first segment: the gso_size */
    unsigned count;    /* segments held */
    uint32_t next_seq; /* the sequence number that may be appended */
    bool closed;       /* a short or PSH segment ended the run */
};

/* Appends pkt to the held super-packet when it continues the same flow; true if taken. */
bool gro_append(struct gro *g, const uint8_t *pkt, size_t len);
/* Starts holding pkt when it is a TCP segment worth coalescing; true if taken. */
bool gro_start(struct gro *g, const uint8_t *pkt, size_t len);
/* Finishes the held packet (headers, checksum, virtio header) and returns how many entries
 * of g->iov to write (writev), 0 when nothing is held. Empties the holder. */
int gro_finish(struct gro *g);

#endif
