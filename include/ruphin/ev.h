/* SPDX-License-Identifier: MIT */
/* Event-driven modules on libevent: a peer or a holepuncher attached to the caller's
 * event_base, reporting through callbacks and never blocking. */
#ifndef RUPHIN_EV_H
#define RUPHIN_EV_H

#include <stddef.h>

#include "ruphin/holepuncher.h"
#include "ruphin/peer.h"

struct event_base;
struct rph_ev_peer;
struct rph_ev_holepuncher;

/* ---- peer (src/core/ev_peer.c) ---- */

/* What became of queued datagrams: one report per train (or per part of one that failed). */
struct rph_ev_sent {
    struct rph_remote *to; /* as queued; its slot may have been dropped since (in_use false) */
    size_t datagrams;      /* how many left (err 0) or were lost (err < 0) */
    size_t payload_bytes;  /* the bytes of their payloads, without framing */
    bool gso;              /* they left in one UDP GSO send */
    bool relayed;          /* they went through the holepuncher's relay */
    int err;               /* 0, or the negative errno of the send that lost them */
};

struct rph_ev_peer_options {
    struct rph_addr bind; /* family 0: any address of the holepuncher's family, port 0 */
    /* With an IPv4 holepuncher and bind at any address: one IPv6 socket that takes IPv4 too
     * (IPv4 endpoints as ::ffff:a.b.c.d), so the same port reaches IPv6 candidates. When the
     * host cannot open one (no IPv6), a plain IPv4 socket. */
    bool dual_stack;
    int sndbuf, rcvbuf; /* 0: kernel default */
    /* UDP GRO: the kernel may hand over several datagrams at once; they are split again
     * before rph_peer_input, so callers see no difference but fewer system calls. */
    bool gro;
    /* Send queued trains datagram by datagram (one sendmmsg) even where the kernel has UDP
     * GSO. Without it GSO is used until the kernel refuses it once. */
    bool no_gso;
    /* The largest payload that joins a train (e.g. the TUN device's MTU), so every GSO segment
     * fits the path; longer ones are queued but leave alone. 0: 1400. */
    size_t queue_payload_max;
    /* Called after each batch of received datagrams (e.g. to flush coalesced writes), before
     * the module sends what its callbacks queued during the batch. */
    void (*on_flush)(void *ctx);
    /* Called as queued datagrams leave or are lost (counters, no sending from here). */
    void (*on_sent)(void *ctx, const struct rph_ev_sent *s);
    /* Called after every core tick (its timer, a received batch): whatever watches the core's
     * state looks then, when it can have changed, instead of waking up on a timer of its own. */
    void (*on_tick)(void *ctx, uint64_t now_ms);
};

/* cb->send is ignored: the module sends on its own socket. */
struct rph_ev_peer *rph_ev_peer_new(struct event_base *base, const struct rph_peer_config *cfg,
                                    const struct rph_ev_peer_options *opt,
                                    const struct rph_peer_callbacks *cb, void *ctx, int *err);
void rph_ev_peer_free(struct rph_ev_peer *p);
/* Sends one datagram now (copying data), after anything queued. */
int rph_ev_peer_send(struct rph_ev_peer *p, const struct rph_addr *to, const void *data,
                     size_t len);
/* Sends a payload at buf + RPH_FRAME_HEADROOM (with RPH_FRAME_TAILROOM free after it) to
 * remote r now, after anything queued, framed (and sealed) in place: no copy. RPH_E_NOKEY
 * before a sealed handshake. */
int rph_ev_peer_send_frame(struct rph_ev_peer *p, struct rph_remote *r, uint8_t *buf,
                           size_t payload_len);

/* Send-side batching. Payloads queued for one remote are framed (sealed) straight into a
 * train of datagrams that leaves with one UDP GSO send (64 KB or 64 datagrams at most); a
 * payload that cannot join the train (another remote, longer than the train's datagrams, the
 * train full) sends the train first. Order is kept. The module sends what its callbacks queued
 * after each received batch; other callers end a burst with rph_ev_peer_flush. Nothing is
 * allocated per datagram, and how each train went is told to opt.on_sent. */

/* Copies a payload (the one copy) into the queue for r and frames it there. 0, or why it was
 * not queued: RPH_E_NOKEY before a sealed handshake, RPH_E_TOOBIG over RPH_DATA_MAX. */
int rph_ev_peer_queue(struct rph_ev_peer *p, struct rph_remote *r, const void *payload, size_t len);
/* For a caller that writes payloads into the queue itself (e.g. the segments of a TSO packet
 * split straight into place): reserves n slots for r of up to payload_max bytes each; slot k's
 * payload starts at *slots + k * *stride. Valid until the next call on p. RPH_E_TOOBIG when
 * they do not fit in the queue's buffer (payload_max over opt.queue_payload_max). */
int rph_ev_peer_reserve(struct rph_ev_peer *p, struct rph_remote *r, size_t payload_max, size_t n,
                        uint8_t **slots, size_t *stride);
/* Frames the first n reserved slots, holding len[k] payload bytes each, and queues them in
 * order. 0, or the first framing error (the slots before it are queued, the rest dropped). */
int rph_ev_peer_commit(struct rph_ev_peer *p, size_t n, const size_t *len);
/* Sends what is queued. */
void rph_ev_peer_flush(struct rph_ev_peer *p);

struct rph_peer *rph_ev_peer_core(struct rph_ev_peer *p);
/* rph_peer_member_traffic, and the timer follows at the next flush. */
void rph_ev_peer_member_traffic(struct rph_ev_peer *p, struct rph_remote *r);
int rph_ev_peer_fd(const struct rph_ev_peer *p);
int rph_ev_peer_local_addr(const struct rph_ev_peer *p, struct rph_addr *out);
/* The families the socket sends and receives: RPH_EV_IPV4 | RPH_EV_IPV6 for a dual-stack one. */
#define RPH_EV_IPV4 1u
#define RPH_EV_IPV6 2u
unsigned rph_ev_peer_families(const struct rph_ev_peer *p);
/* Datagrams refused so far that only a peer of the other mode sends (sealed handshake or
 * transport at a plaintext peer; plain Data or HelloResp at a sealed one), and the last one's
 * sender: a "seal" that differs between two configs. Poll it; it only grows. */
uint64_t rph_ev_peer_other_mode(const struct rph_ev_peer *p, struct rph_addr *last_from);

/* ---- holepuncher (src/core/ev_holepuncher.c) ---- */

/* Binds one UDP socket per listen address (IPv6 ones v6-only) and expires sessions on its own
 * one-second timer. On failure *err is a negative errno (e.g. -EADDRINUSE from bind). */
struct rph_ev_holepuncher *rph_ev_holepuncher_new(struct event_base *base,
                                                  const struct rph_holepuncher_config *cfg,
                                                  const struct rph_addr *listen, size_t n_listen,
                                                  int *err);
void rph_ev_holepuncher_free(struct rph_ev_holepuncher *h);
struct rph_holepuncher *rph_ev_holepuncher_core(struct rph_ev_holepuncher *h);
/* How relayed traffic used the kernel's offloads: UDP GRO trains received (any datagrams),
 * UDP GSO sends of relayed datagrams and the datagrams they carried. */
struct rph_ev_hp_io {
    uint64_t gro_trains, gso_sends, gso_datagrams;
};
const struct rph_ev_hp_io *rph_ev_holepuncher_io(const struct rph_ev_holepuncher *h);
int rph_ev_holepuncher_local_addr(const struct rph_ev_holepuncher *h, size_t i,
                                  struct rph_addr *out);

#endif
