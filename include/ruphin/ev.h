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

struct rph_ev_peer_options {
    struct rph_addr bind; /* family 0: any address of the holepuncher's family, port 0 */
    int sndbuf, rcvbuf;   /* 0: kernel default */
    /* UDP GRO: the kernel may hand over several datagrams at once; they are split again
     * before rph_peer_input, so callers see no difference but fewer system calls. */
    bool gro;
    /* Called after each batch of received datagrams (e.g. to flush coalesced writes). */
    void (*on_flush)(void *ctx);
};

/* cb->send is ignored: the module sends on its own socket. */
struct rph_ev_peer *rph_ev_peer_new(struct event_base *base, const struct rph_peer_config *cfg,
                                    const struct rph_ev_peer_options *opt,
                                    const struct rph_peer_callbacks *cb, void *ctx, int *err);
void rph_ev_peer_free(struct rph_ev_peer *p);
int rph_ev_peer_send(struct rph_ev_peer *p, const struct rph_addr *to, const void *data,
                     size_t len);
/* Sends a payload at buf + RPH_FRAME_HEADROOM (with RPH_FRAME_TAILROOM free after it) to
 * remote r, framed (and sealed) in place: no copy. RPH_E_NOKEY before a sealed handshake. */
int rph_ev_peer_send_frame(struct rph_ev_peer *p, struct rph_remote *r, uint8_t *buf,
                           size_t payload_len);
/* Sends datagrams laid back to back in buf (total bytes, each seg bytes but the last, which
 * may be shorter) to one address, with UDP GSO in one system call where the kernel has it,
 * else one by one. 0 or a negative errno. */
int rph_ev_peer_send_gso(struct rph_ev_peer *p, const struct rph_addr *to, const uint8_t *buf,
                         size_t total, size_t seg);
struct rph_peer *rph_ev_peer_core(struct rph_ev_peer *p);
int rph_ev_peer_fd(const struct rph_ev_peer *p);
int rph_ev_peer_local_addr(const struct rph_ev_peer *p, struct rph_addr *out);

/* ---- holepuncher (src/core/ev_holepuncher.c) ---- */

/* Binds one UDP socket per listen address (IPv6 ones v6-only) and expires sessions on its own
 * one-second timer. On failure *err is a negative errno (e.g. -EADDRINUSE from bind). */
struct rph_ev_holepuncher *rph_ev_holepuncher_new(struct event_base *base,
                                                  const struct rph_holepuncher_config *cfg,
                                                  const struct rph_addr *listen, size_t n_listen,
                                                  int *err);
void rph_ev_holepuncher_free(struct rph_ev_holepuncher *h);
struct rph_holepuncher *rph_ev_holepuncher_core(struct rph_ev_holepuncher *h);
int rph_ev_holepuncher_local_addr(const struct rph_ev_holepuncher *h, size_t i,
                                  struct rph_addr *out);

#endif
