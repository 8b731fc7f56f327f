/* SPDX-License-Identifier: MIT */
/* The tunnel's state, private to its lifecycle and data path (the status report reads it
 * through tunnel.h). */
#ifndef RUPHIN_TUN_TUNNEL_PRIV_H
#define RUPHIN_TUN_TUNNEL_PRIV_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "policy.h"
#include "ruphin/ev.h"
#include "tun_linux.h"
#include "tunnel.h"

struct event;
struct gro;

/* Segments one TSO super-packet may become (64 KB at the smallest MSS worth offloading). */
#define GSO_SEGS 64

#define MAX_PEERS 256
/* Reads per TUN event before the loop gets a turn (the UDP side reads in batches too). */
#define TUN_BURST 64

struct tunnel {
    struct tund_config cfg;
    struct event_base *base;
    struct tun_dev tun;
    struct rph_ev_peer *ep;
    struct rph_peer *peer;
    struct rph_remote *rbase;
    size_t n_slots;
    struct policy pol; /* the peer table (one entry per remote slot) and the routes */
    struct event *tun_ev, *announce_ev;
    struct tunnel_drops drops;
    struct tunnel_offload off;
    uint8_t *buf; /* RPH_FRAME_HEADROOM, one packet (a TSO one: 64 KB), tailroom */
    size_t buf_cap;
    uint8_t *gso_buf; /* the segments of one TSO packet, or a run, as datagrams back to back */
    size_t gso_stride_max;
    /* A run: packets read in one burst for one peer, framed and queued in gso_buf for one
     * GSO send. All datagrams but the last have run_seg bytes (UDP GSO's rule). */
    struct tpeer *run_to;
    size_t run_seg, run_bytes;
    uint64_t run_payload;
    int run_n;
    size_t seg_len[GSO_SEGS];
    struct gro *gro; /* TCP segments coalesced toward the TUN device */
};

#endif
