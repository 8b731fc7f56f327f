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
 * Inside, the handshake (seal_noise.h: Noise_XXpsk0 messages, cookies) is apart from the
 * transport (seal_keyring.h: keypairs, counters, replay). A responder finds a remote by the
 * node key its handshake proved; a HandshakeInit only ever takes a place in a small table of
 * answered inits, and only a HandshakeFinish (bound to our fresh ephemeral, newer than the
 * last one of that node key) installs keys.
 */

/* Slot indices live in 12 bits of a local index, below the codes of waiting handshakes. */
#define SEAL_MAX_SLOTS 1000u
#define SEAL_NO_SLOT ((size_t)-1)
/* HandshakeInits a second above which a responder wants cookies (mac2) and limits sources. */
#define SEAL_LOAD_DEFAULT 100u

struct seal;

struct seal_config {
    const struct rph_seal_keys *keys; /* must outlive the seal */
    bool initiator;                   /* the client: starts handshakes, rekeys */
    bool respond;                     /* an initiator that also answers handshakes, on the
                                         slots of seal_set_member only (a mesh client) */
    size_t slots;                     /* at most SEAL_MAX_SLOTS */
    uint32_t retry_ms;                /* init resend period */
    uint32_t rekey_ms;                /* initiator: a new handshake this often */
    uint32_t pending_ms;              /* responder: an answered init waits this long */
    const uint8_t *node_sk;           /* this node's X25519 private key (32 bytes) */
    const uint8_t (*members)[32];     /* n_members > 0: only these node keys are peers */
    size_t n_members;
    const int64_t *wall_offset_ms; /* wall clock minus now_ms: the timestamps (may change) */
    uint32_t load_per_s;           /* 0: SEAL_LOAD_DEFAULT (tests set less) */
    struct rph_peer_stats *stats;
};

/* A datagram to send; len 0: none. data points into the seal, valid until its next call. */
struct seal_dgram {
    const uint8_t *data;
    size_t len;
};

enum seal_what {
    SEAL_NONE = 0,    /* taken, nothing to do */
    SEAL_REPLY,       /* send reply to the sender (a handshake message) */
    SEAL_ESTABLISHED, /* initiator: the responder's first packet under our new keys: current */
    SEAL_ADOPT,       /* responder: a handshake finished: seal_adopt into node_pk's remote */
    SEAL_RECONFIRM,   /* responder: slot's last HandshakeFinish again: send slot a keepalive */
    SEAL_DATA,        /* a transport packet under slot's keys */
};

struct seal_event {
    enum seal_what what;
    size_t slot;         /* ADOPT: the remote that has node_pk already, or SEAL_NO_SLOT */
    bool newest;         /* the newest authenticated packet: the remote's endpoint may follow it */
    uint8_t node_pk[32]; /* ESTABLISHED, ADOPT: the remote's node public key, proven */
    struct seal_dgram reply;
    uint8_t *plain; /* DATA, ESTABLISHED: payload to deliver (inside the datagram) */
    size_t plain_len;
    size_t pending; /* ADOPT: which finished handshake */
};

/* NULL with *err set (-ENOMEM, or -EIO without randomness). */
struct seal *seal_new(const struct seal_config *cfg, int *err);
void seal_free(struct seal *s);
/* The slot's remote is gone: its keys and handshakes are wiped. */
void seal_forget(struct seal *s, size_t slot);

/* A HandshakeInit/Resp/Finish or CookieReply (decoded m, raw its bytes) from `from`. at_from
 * is the slot whose endpoint is from, or SEAL_NO_SLOT: only a guess where keys will live (the
 * node key the handshake proves decides). 0 and *ev, or a negative code (counted). */
int seal_handshake(struct seal *s, const struct rph_msg *m, const uint8_t *raw,
                   const struct rph_addr *from, size_t at_from, uint64_t now_ms,
                   struct seal_event *ev);
/* A Transport datagram, opened in place (raw is writable). 0 and *ev, or a negative code. */
int seal_open(struct seal *s, const struct rph_msg *m, uint8_t *raw, struct seal_event *ev);
/* After SEAL_ADOPT: the handshake's keys become slot's current keys, slot's node key is
 * ev->node_pk. slot SEAL_NO_SLOT, when the peer has none free, drops them: RPH_E_FULL. */
int seal_adopt(struct seal *s, const struct seal_event *ev, size_t slot);

/* Mesh (cfg.respond): slot holds another member of the session, of node key pk: only that key's
 * handshakes go to it, in either direction (the other side may start one too, when its path to
 * us broke). rekeys: whether we rekey it on time (one side only, the lower node key). */
void seal_set_member(struct seal *s, size_t slot, const uint8_t pk[32], bool rekeys);

/* Initiator: a new handshake with slot; the init to send to its endpoint. */
struct seal_dgram seal_start(struct seal *s, size_t slot, uint64_t now_ms);
/* Initiator: the responder punched us, its NAT is open: the init again now, at most once per
 * retry period. */
struct seal_dgram seal_punched(struct seal *s, size_t slot);
/* Initiator: the init in flight for slot (no answer yet), to send to a candidate as well; len 0
 * when none is. Does not count as a resend. */
struct seal_dgram seal_pending_init(const struct seal *s, size_t slot);
/* Timers of slot (up: its remote answered): key expiry, init resends, rekeys (not a member's:
 * seal_rekey_due). The init to send to the slot's endpoint, if one is due. */
struct seal_dgram seal_tick(struct seal *s, size_t slot, bool up, uint64_t now_ms);
/* Whether slot, which we rekey, is due a new handshake (rekey_ms since its keys, or keys worn
 * out). A member is rekeyed only when something is sent to it (data, a keepalive), as WireGuard
 * does: the caller asks then and calls seal_start. */
bool seal_rekey_due(const struct seal *s, size_t slot, uint64_t now_ms);
/* When seal_tick next has something to do for slot; UINT64_MAX for never. */
uint64_t seal_deadline(const struct seal *s, size_t slot, bool up);
/* Drops answered inits older than pending_ms. */
void seal_expire_pending(struct seal *s, uint64_t now_ms);
/* The earliest creation time of answered inits plus window_ms; UINT64_MAX for none. */
uint64_t seal_pending_deadline(const struct seal *s, uint32_t window_ms);

/* Seals payload_len bytes at buf + RPH_TRANSPORT_HEADER_LEN under slot's current keys, in
 * place; *dgram = buf. The datagram's length, or RPH_E_NOKEY before keys exist. */
int seal_frame(struct seal *s, size_t slot, uint8_t *buf, size_t payload_len, uint8_t **dgram);

/* The client's SealedJoin inside a SealedPeerInfo: signed for our session, fresh against
 * this host's wall clock (now_ms + wall_offset_ms), not seen before. 0, or a negative code. */
int seal_check_join(struct seal *s, const struct rph_msg *m, uint64_t now_ms,
                    int64_t wall_offset_ms);

#endif
