/* SPDX-License-Identifier: MIT */
/* The holepuncher as a socket-free state machine: datagrams in, datagrams out. */
#ifndef RUPHIN_HOLEPUNCHER_H
#define RUPHIN_HOLEPUNCHER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ruphin/addr.h"
#include "ruphin/relay.h"

struct rph_holepuncher_config {
    uint32_t session_ttl_ms;    /* a session whose server has not re-registered is dropped */
    size_t max_sessions;        /* Register of a new session beyond this is refused */
    bool allow_local_interrupt; /* LocalInterrupt from loopback stops serve() (the crate's) */
    /* Register/Join allowed per source (IPv4 address, IPv6 /64): a token bucket of
     * rate_burst tokens refilled at rate_per_s, one table for plaintext requests and one for
     * sealed requests whose cookie proved their source. 0 turns the limit off. */
    uint32_t rate_per_s, rate_burst;
    /* Sealed Register/Join must carry a UNIX time within this of ours. */
    uint32_t sealed_skew_ms;
    /* Signature checks of sealed Register/Join per second, all sources together (CPU bound). */
    uint32_t verify_per_s;
    /* Sessions one source (IPv4 address, IPv6 /64) may hold, sealed and plaintext counted
     * apart; a Register beyond it is refused. 0: no limit. */
    uint32_t max_sessions_per_source;
    /* The relay of sealed sessions (docs/PROTOCOL.md "Relay"): off by default. */
    bool relay_enabled;
    size_t relay_max_sessions; /* sessions relayed at once */
    uint32_t relay_max_kbps;   /* per session, kilobits a second; 0: no limit */
};

struct rph_holepuncher_stats {
    uint64_t received, sent;
    uint64_t registers, joins, hellos, peerinfos_sent, not_found;
    uint64_t refused_full; /* Register of a new session with the table full */
    uint64_t malformed;    /* failed to decode */
    uint64_t unexpected;   /* decoded, but not a message a holepuncher takes */
    uint64_t expired;
    /* sealed sessions and limits */
    uint64_t sealed_registers, sealed_joins;
    uint64_t bad_signature;  /* sealed message whose signature does not verify */
    uint64_t stale;          /* sealed message outside the clock window, or replayed */
    uint64_t refused_sealed; /* plaintext Register/Join for a sealed session */
    uint64_t rate_limited;
    uint64_t no_crypto;          /* sealed message to a holepuncher built without libsodium */
    uint64_t cookies_sent;       /* HpCookie answers to sealed requests without a valid cookie */
    uint64_t refused_per_source; /* Register beyond max_sessions_per_source */
    uint64_t refused_held;       /* SealedRegister of another node while the session is live */
};

/* Called for each reply; to is never NULL. */
typedef void (*rph_send_fn)(void *ctx, const struct rph_addr *to, const uint8_t *buf, size_t len);

enum rph_hp_event_type {
    RPH_HP_REGISTERED,   /* a new session */
    RPH_HP_REFRESHED,    /* a server re-registered (keepalive) */
    RPH_HP_MOVED,        /* a Register from another address took the session over */
    RPH_HP_JOINED,       /* a client joined: PeerInfo sent to both */
    RPH_HP_NOT_FOUND,    /* Join for an unknown session */
    RPH_HP_REFUSED_FULL, /* Register of a new session with the table full */
    RPH_HP_EXPIRED,      /* session_ttl passed without a Register */
    RPH_HP_DROPPED,      /* malformed or unexpected datagram; err says why */
    RPH_HP_REFUSED,      /* a well-formed request refused: err is RPH_E_AUTH (bad signature),
                          * RPH_E_REPLAY (stale or replayed), RPH_E_RATE, RPH_E_FULL (the
                          * source's max_sessions_per_source), RPH_E_UNEXPECTED
                          * (plaintext message for a sealed session), or RPH_E_HELD
                          * (another node's server holds the sealed session: server is the
                          * holder; RegisterRefused sent) */
    RPH_HP_COOKIE_SENT,  /* a sealed request without a valid cookie: HpCookie sent */
};

struct rph_hp_event {
    enum rph_hp_event_type type;
    const struct rph_session *session; /* NULL for DROPPED */
    const struct rph_addr *from;       /* NULL for EXPIRED */
    const struct rph_addr *server;     /* JOINED, EXPIRED: the server; MOVED: the old one;
                                        * REFUSED (RPH_E_HELD): the one holding the session */
    int err;                           /* DROPPED: the RPH_E_* reason */
};

typedef void (*rph_hp_event_fn)(void *ctx, const struct rph_hp_event *ev);

struct rph_holepuncher;

void rph_holepuncher_config_defaults(struct rph_holepuncher_config *c);
struct rph_holepuncher *rph_holepuncher_new(const struct rph_holepuncher_config *cfg,
                                            rph_send_fn send, void *ctx);
void rph_holepuncher_free(struct rph_holepuncher *hp);
/* For logging: one call per event, from inside input() and tick(). */
void rph_holepuncher_set_event_cb(struct rph_holepuncher *hp, rph_hp_event_fn fn, void *ctx);
/* Applies new limits without dropping sessions (config reload). */
/* Wall clock minus the clock passed as now_ms, for sealed timestamps; keep it current. */
void rph_holepuncher_set_wall_offset(struct rph_holepuncher *hp, int64_t offset_ms);
void rph_holepuncher_reconfigure(struct rph_holepuncher *hp,
                                 const struct rph_holepuncher_config *cfg);
/* 0 when handled, RPH_E_INTERRUPTED for an accepted LocalInterrupt, another RPH_E_* when dropped.
 */
int rph_holepuncher_input(struct rph_holepuncher *hp, const uint8_t *buf, size_t len,
                          const struct rph_addr *from, uint64_t now_ms);
/* Expires sessions; call about once a second. */
void rph_holepuncher_tick(struct rph_holepuncher *hp, uint64_t now_ms);
const struct rph_holepuncher_stats *rph_holepuncher_stats(const struct rph_holepuncher *hp);
/* The relay: a RelayData datagram (rph_relay_is) goes here instead of input(). buf is writable:
 * on 0 it holds the datagram to send, the same len bytes, to *to; else the RPH_E_* reason it
 * was dropped (counted in the relay's stats; nothing is ever answered). */
int rph_holepuncher_relay(struct rph_holepuncher *hp, uint8_t *buf, size_t len,
                          const struct rph_addr *from, uint64_t now_ms, struct rph_addr *to);
const struct rph_relay_stats *rph_holepuncher_relay_stats(const struct rph_holepuncher *hp);
size_t rph_holepuncher_relay_sessions(const struct rph_holepuncher *hp);
/* Called from tick() for each relayed session that ended, with its counters. */
void rph_holepuncher_set_relay_end_cb(struct rph_holepuncher *hp, rph_relay_end_fn fn, void *ctx);
size_t rph_holepuncher_session_count(const struct rph_holepuncher *hp);
struct rph_store *rph_holepuncher_store(struct rph_holepuncher *hp);

#endif
