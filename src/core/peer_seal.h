/* SPDX-License-Identifier: MIT */
/* Sealed mode as an object the peer calls into (internal): per remote slot the handshake and
 * the transport keys, responder handshakes that have no slot yet, the SealedJoin check. */
#ifndef RUPHIN_CORE_PEER_SEAL_H
#define RUPHIN_CORE_PEER_SEAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ruphin/peer.h" /* struct rph_peer_stats */
#include "ruphin/seal.h"

/*
 * The interface goes one way: the peer calls sealing, sealing never calls the peer. Each call
 * parses and authenticates, updates sealing's own state, and returns what happened; peer.c
 * acts on it (sends, marks a remote alive, moves its endpoint, gives it a slot, delivers).
 * A send callback would have been shorter, but it lets a datagram leave from the middle of a
 * state change and hides from peer.c when it does; as return values, the order of all effects
 * is in one place (peer.c) and sealing runs in a unit test without a peer or a socket. No call
 * makes more than one datagram, so a returned pointer into sealing's state is enough.
 *
 * Sealing counts its own drops (auth_failed, replayed, no_key, unexpected) and handshakes in
 * the stats struct it is given; the peer counts what it does (sent, roamed, data_in).
 *
 * Slots are the peer's remote slots by index; sealing keeps a slot's keys until seal_forget.
 * Inside, the handshake (seal_handshake.h: messages and their state) is apart from the
 * transport (seal_keyring.h: keypairs, counters, replay); a new handshake changes what this
 * file's events carry at most, not when peer.c acts on them.
 */

/* Slot indices live in 12 bits of a local index, below the codes of waiting handshakes. */
#define SEAL_MAX_SLOTS 1000u
#define SEAL_NO_SLOT ((size_t)-1)

struct seal;

struct seal_config {
    const struct rph_seal_keys *keys; /* must outlive the seal */
    bool initiator;                   /* the client: starts handshakes, rekeys */
    size_t slots;                     /* at most SEAL_MAX_SLOTS */
    uint32_t retry_ms;                /* init resend period */
    uint32_t rekey_ms;                /* initiator: a new handshake this often */
    uint32_t pending_ms;              /* responder keys without a slot wait this long */
    struct rph_peer_stats *stats;
};

/* A datagram to send; len 0: none. data points into the seal, valid until its next call. */
struct seal_dgram {
    const uint8_t *data;
    size_t len;
};

enum seal_what {
    SEAL_REPLY = 1,   /* send reply to the sender (a handshake answer) */
    SEAL_ESTABLISHED, /* initiator: our handshake with slot is done; confirm it with a packet */
    SEAL_CONFIRMED,   /* responder: the first packet under slot's next keys; they are current */
    SEAL_ADOPT,       /* responder: keys waiting without a slot were confirmed: seal_adopt */
    SEAL_DATA,        /* a transport packet under slot's keys */
};

struct seal_event {
    enum seal_what what;
    size_t slot;   /* SEAL_ADOPT: the slot of the same initiator, or SEAL_NO_SLOT */
    bool newest;   /* the newest authenticated packet: the remote's endpoint may follow it */
    uint8_t id[8]; /* CONFIRMED, ADOPT: the initiator's identity (rph_remote.sender_id) */
    struct seal_dgram reply;
    uint8_t *plain; /* DATA, CONFIRMED, ADOPT: payload to deliver (inside the datagram) */
    size_t plain_len;
    size_t pending; /* ADOPT: which waiting keys */
};

/* NULL with *err set (-ENOMEM, or -EIO without randomness). */
struct seal *seal_new(const struct seal_config *cfg, int *err);
void seal_free(struct seal *s);
/* The slot's remote is gone: its keys and handshakes are wiped. */
void seal_forget(struct seal *s, size_t slot);

/* A HandshakeInit/HandshakeResp (decoded m, raw its bytes) from `from`. at_from is the slot
 * whose endpoint is from, or SEAL_NO_SLOT. 0 and *ev, or a negative code (counted). */
int seal_handshake(struct seal *s, const struct rph_msg *m, const uint8_t *raw,
                   const struct rph_addr *from, size_t at_from, uint64_t now_ms,
                   struct seal_event *ev);
/* A Transport datagram, opened in place (raw is writable). 0 and *ev, or a negative code. */
int seal_open(struct seal *s, const struct rph_msg *m, uint8_t *raw, struct seal_event *ev);
/* After SEAL_ADOPT: the waiting keys become slot's (its remote is now from ev's sender).
 * slot SEAL_NO_SLOT, when the peer has none free, drops them: RPH_E_FULL. */
int seal_adopt(struct seal *s, const struct seal_event *ev, size_t slot);

/* Initiator: a new handshake with slot; the init to send to its endpoint. */
struct seal_dgram seal_start(struct seal *s, size_t slot, uint64_t now_ms);
/* Initiator: the responder punched us, its NAT is open: the init again now, at most once per
 * retry period. */
struct seal_dgram seal_punched(struct seal *s, size_t slot);
/* Timers of slot (up: its remote answered): key expiry, init resends, rekeys. The init to
 * send to the slot's endpoint, if one is due. */
struct seal_dgram seal_tick(struct seal *s, size_t slot, bool up, uint64_t now_ms);
/* When seal_tick next has something to do for slot; UINT64_MAX for never. */
uint64_t seal_deadline(const struct seal *s, size_t slot, bool up);
/* Drops waiting responder keys older than pending_ms. */
void seal_expire_pending(struct seal *s, uint64_t now_ms);
/* The earliest creation time of waiting responder keys plus window_ms; UINT64_MAX for none. */
uint64_t seal_pending_deadline(const struct seal *s, uint32_t window_ms);

/* Seals payload_len bytes at buf + RPH_TRANSPORT_HEADER_LEN under slot's current keys, in
 * place; *dgram = buf. The datagram's length, or RPH_E_NOKEY before keys exist. */
int seal_frame(struct seal *s, size_t slot, uint8_t *buf, size_t payload_len, uint8_t **dgram);

/* The client's SealedJoin inside a SealedPeerInfo: signed for our session, fresh against
 * this host's wall clock (now_ms + wall_offset_ms), not seen before. 0, or a negative code. */
int seal_check_join(struct seal *s, const struct rph_msg *m, uint64_t now_ms,
                    int64_t wall_offset_ms);

#endif
