/* SPDX-License-Identifier: MIT */
/* The holepuncher as a socket-free state machine: datagrams in, datagrams out. */
#ifndef RUPHIN_HOLEPUNCHER_H
#define RUPHIN_HOLEPUNCHER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ruphin/addr.h"

struct rph_holepuncher_config {
    uint32_t session_ttl_ms;     /* a session whose server has not re-registered is dropped */
    size_t max_sessions;         /* Register of a new session beyond this is refused */
    bool allow_local_interrupt;  /* LocalInterrupt from loopback stops serve() (the crate's) */
};

struct rph_holepuncher_stats {
    uint64_t received, sent;
    uint64_t registers, joins, hellos, peerinfos_sent, not_found;
    uint64_t refused_full;  /* Register of a new session with the table full */
    uint64_t malformed;     /* failed to decode */
    uint64_t unexpected;    /* decoded, but not a message a holepuncher takes */
    uint64_t expired;
};

/* Called for each reply; to is never NULL. */
typedef void (*rph_send_fn)(void *ctx, const struct rph_addr *to, const uint8_t *buf, size_t len);

struct rph_holepuncher;

void rph_holepuncher_config_defaults(struct rph_holepuncher_config *c);
struct rph_holepuncher *rph_holepuncher_new(const struct rph_holepuncher_config *cfg,
                                            rph_send_fn send, void *ctx);
void rph_holepuncher_free(struct rph_holepuncher *hp);
/* Applies new limits without dropping sessions (config reload). */
void rph_holepuncher_reconfigure(struct rph_holepuncher *hp, const struct rph_holepuncher_config *cfg);
/* 0 when handled, RPH_E_INTERRUPTED for an accepted LocalInterrupt, another RPH_E_* when dropped. */
int rph_holepuncher_input(struct rph_holepuncher *hp, const uint8_t *buf, size_t len,
                          const struct rph_addr *from, uint64_t now_ms);
/* Expires sessions; call about once a second. */
void rph_holepuncher_tick(struct rph_holepuncher *hp, uint64_t now_ms);
const struct rph_holepuncher_stats *rph_holepuncher_stats(const struct rph_holepuncher *hp);
size_t rph_holepuncher_session_count(const struct rph_holepuncher *hp);
struct rph_store *rph_holepuncher_store(struct rph_holepuncher *hp);

#endif
