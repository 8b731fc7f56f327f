/* SPDX-License-Identifier: MIT */
/* Passive modules, as in the Rust crate: blocking objects that the caller drives by calling
 * wait_for_data / serve periodically; each call also answers HelloReq and sends keepalives. */
#ifndef RUPHIN_PASSIVE_H
#define RUPHIN_PASSIVE_H

#include <stddef.h>
#include <sys/types.h>

#include "ruphin/holepuncher.h"
#include "ruphin/peer.h"

struct rph_passive_server;
struct rph_passive_client;
struct rph_passive_holepuncher;

/* Blocks until the holepuncher acknowledges the session (or handshake_timeout_ms passes). */
struct rph_passive_server *rph_passive_server_create(const struct rph_peer_config *cfg, int *err);
/* Sends Data to one of the clients that punched through. */
int rph_passive_server_send(struct rph_passive_server *s, const struct rph_addr *to,
                            const void *data, size_t len);
/* Waits up to timeout_ms for one Data payload; returns its length, RPH_E_TIMEOUT or another error.
 */
ssize_t rph_passive_server_wait_for_data(struct rph_passive_server *s, int timeout_ms, void *buf,
                                         size_t cap, struct rph_addr *from);
struct rph_peer *rph_passive_server_peer(struct rph_passive_server *s);
int rph_passive_server_local_addr(struct rph_passive_server *s, struct rph_addr *out);
void rph_passive_server_free(struct rph_passive_server *s);

/* Blocks until the server answered our HelloReq (Join, PeerInfo, punch). */
struct rph_passive_client *rph_passive_client_create(const struct rph_peer_config *cfg, int *err);
int rph_passive_client_send(struct rph_passive_client *c, const void *data, size_t len);
ssize_t rph_passive_client_wait_for_data(struct rph_passive_client *c, int timeout_ms, void *buf,
                                         size_t cap);
/* The server's punched endpoint. */
int rph_passive_client_server_addr(struct rph_passive_client *c, struct rph_addr *out);
struct rph_peer *rph_passive_client_peer(struct rph_passive_client *c);
void rph_passive_client_free(struct rph_passive_client *c);

struct rph_passive_holepuncher *
rph_passive_holepuncher_create(const struct rph_addr *bind,
                               const struct rph_holepuncher_config *cfg, int *err);
/* Answers datagrams for up to timeout_ms; 0, RPH_E_INTERRUPTED, or a socket error. */
int rph_passive_holepuncher_serve(struct rph_passive_holepuncher *h, int timeout_ms);
int rph_passive_holepuncher_local_addr(struct rph_passive_holepuncher *h, struct rph_addr *out);
struct rph_holepuncher *rph_passive_holepuncher_core(struct rph_passive_holepuncher *h);
void rph_passive_holepuncher_free(struct rph_passive_holepuncher *h);

#endif
