/* SPDX-License-Identifier: MIT */
/* The peer's state, shared by the protocol core (peer.c) and sealed mode (peer_seal.c). */
#ifndef RUPHIN_CORE_PEER_PRIV_H
#define RUPHIN_CORE_PEER_PRIV_H

#include "ruphin/peer.h"
#include "ruphin/seal.h"

/* The crate's handshake window: retries at retry_ms for this long, then back off. */
#define HANDSHAKE_WINDOW_MS 10000u
/* Sealed: responder handshakes waiting for their first transport packet (key confirmation). */
#define SEAL_PENDING 16
/* Local index = random high bits | a 12-bit code saying where its keypair lives. */
#define IDX_CODE_BITS 12
#define IDX_PENDING_BASE 4000u
#define SEAL_MAX_REMOTES 1000u

enum { KP_CUR = 0, KP_PREV = 1, KP_NEXT = 2 };

struct seal_remote {
    struct rph_keypair kp[3]; /* current, previous, next (responder: not yet confirmed) */
    /* initiator: the handshake in flight */
    bool init_pending;
    bool early_sent; /* the init went again early this retry period (a server punch came) */
    uint8_t e_sk[32];
    uint8_t init_raw[RPH_HS_INIT_LEN];
    uint64_t next_init_ms, next_rekey_ms;
    /* responder: the answer to the last init, re-sent for a duplicate of that init */
    uint8_t resp_raw[RPH_HS_RESP_LEN];
    uint8_t resp_to_mac[RPH_MAC_LEN];
    bool resp_valid;
    uint8_t next_id[8]; /* sender_id of the init that made kp[KP_NEXT] */
};

struct seal_pending {
    bool used;
    struct rph_addr addr;
    uint8_t sender_id[8];
    struct rph_keypair kp;
    uint8_t resp_raw[RPH_HS_RESP_LEN];
    uint8_t init_mac[RPH_MAC_LEN];
    uint64_t created_ms;
};

struct rph_peer {
    struct rph_peer_config cfg;
    struct rph_peer_callbacks cb;
    void *ctx;
    enum rph_peer_state state;
    uint64_t started_ms; /* start of the current handshake attempt */
    uint64_t next_hp_ms; /* next Register/Join */
    uint32_t hp_backoff_ms;
    bool hp_pending; /* a Register/Join is unanswered */
    uint64_t hp_pending_since_ms;
    uint64_t hp_last_ms; /* last RegisterAck / PeerInfo */
    int last_err;
    int64_t wall_offset_ms;
    struct rph_remote *remotes;
    size_t n_slots;
    struct rph_peer_stats stats;
    /* sealed mode */
    struct seal_remote *sr; /* parallel to remotes */
    struct seal_pending pending[SEAL_PENDING];
    uint8_t sender_id[8];
    uint64_t join_seen[64]; /* signatures of SealedPeerInfo joins already acted on */
    size_t join_next;
    uint8_t txbuf[RPH_DATAGRAM_MAX + RPH_FRAME_HEADROOM + RPH_FRAME_TAILROOM];
};

/* peer.c */
void peer_send_raw(struct rph_peer *p, const struct rph_addr *to, const uint8_t *buf, size_t len);
void peer_remote_alive(struct rph_peer *p, struct rph_remote *r, bool hello, uint64_t now);
struct rph_remote *peer_alloc_remote(struct rph_peer *p, const struct rph_addr *addr, uint64_t now);
void peer_drop_remote(struct rph_peer *p, struct rph_remote *r);
void peer_deliver(struct rph_peer *p, struct rph_remote *r, const uint8_t *d, size_t n);

/* peer_seal.c */
int seal_setup(struct rph_peer *p);
int seal_input(struct rph_peer *p, const struct rph_msg *m, uint8_t *buf, size_t len,
               const struct rph_addr *from, uint64_t now);
void seal_start(struct rph_peer *p, struct rph_remote *r, uint64_t now);
int seal_check_join(struct rph_peer *p, const struct rph_msg *m, uint64_t now);
void seal_punched(struct rph_peer *p, struct rph_remote *r, uint64_t now);
void seal_tick_remote(struct rph_peer *p, struct rph_remote *r, uint64_t now);
uint64_t seal_deadline(const struct rph_peer *p, const struct rph_remote *r);
void seal_forget(struct rph_peer *p, struct rph_remote *r);
int seal_frame(struct rph_peer *p, struct rph_remote *r, uint8_t *buf, size_t len, uint8_t **dgram);
void seal_expire_pending(struct rph_peer *p, uint64_t now);

#endif
