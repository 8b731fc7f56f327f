/* SPDX-License-Identifier: MIT */
/* The tunnel's state, shared by its data path (tunnel.c) and its status report (status.c). */
#ifndef RUPHIN_TUN_TUNNEL_PRIV_H
#define RUPHIN_TUN_TUNNEL_PRIV_H

#include <stdbool.h>
#include <stdint.h>

#include "announce.h"
#include "config.h"
#include "route.h"
#include "ruphin/ev.h"
#include "tun_linux.h"

struct event;
struct control;
struct gro;

/* Segments one TSO super-packet may become (64 KB at the smallest MSS worth offloading). */
#define GSO_SEGS 64

#define MAX_PEERS 256
/* Reads per TUN event before the loop gets a turn (the UDP side reads in batches too). */
#define TUN_BURST 64

struct tpeer {
    struct rph_remote *remote; /* NULL: slot free */
    bool announced;
    struct announce ann;
    uint64_t rx_packets, rx_bytes, tx_packets, tx_bytes;
    uint64_t drop_spoofed;
};

struct drops {
    uint64_t no_route, malformed, spoofed_source, no_address, tun_write, udp_send;
    uint64_t address_conflict, bad_control, local_scope, no_key;
};

/* How much traffic took the offloaded paths (status "offload"). */
struct offload_stats {
    uint64_t tso_in[2];      /* TSO super-packets read from the TUN device: [0] IPv4, [1] IPv6 */
    uint64_t tso_segments;   /* the datagrams they were split into */
    uint64_t gso_sends;      /* UDP GSO sends of more than one datagram */
    uint64_t coalesced[2];   /* super-packets written to the TUN device: IPv4, IPv6 */
    uint64_t coalesced_segs; /* the received segments they carried */
};

struct tunnel {
    struct tund_config cfg;
    struct event_base *base;
    struct tun_dev tun;
    struct rph_ev_peer *ep;
    struct rph_peer *peer;
    struct rph_remote *rbase;
    size_t n_slots;
    struct tpeer *tp;
    struct route routes;
    struct event *tun_ev, *announce_ev;
    struct control *ctl;
    struct drops drops;
    struct offload_stats off;
    struct announce self;
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
