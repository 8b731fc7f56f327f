/* SPDX-License-Identifier: MIT */
/* A ruphin peer (server or client role) as a socket-free state machine. The passive
 * and event-driven modules wrap it with a socket; tests drive it with a fake clock. */
#ifndef RUPHIN_PEER_H
#define RUPHIN_PEER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ruphin/addr.h"
#include "ruphin/holepuncher.h" /* rph_send_fn */
#include "ruphin/seal.h"
#include "ruphin/wire.h"

/* Room a caller leaves around a payload for rph_peer_frame (sealed or not). */
#define RPH_FRAME_HEADROOM RPH_TRANSPORT_HEADER_LEN
#define RPH_FRAME_TAILROOM RPH_TAG_LEN

enum rph_role { RPH_ROLE_SERVER = 1, RPH_ROLE_CLIENT = 2 };

enum rph_peer_state {
    RPH_STATE_REGISTERING = 1, /* server: Register sent, no RegisterAck yet */
    RPH_STATE_REGISTERED,      /* server: acknowledged; re-registers every keepalive */
    RPH_STATE_JOINING,         /* client: Join sent, waiting for PeerInfo */
    RPH_STATE_PUNCHING,        /* client: HelloReq toward the server, no answer yet */
    RPH_STATE_CONNECTED,       /* client: the server answered */
    RPH_STATE_FAILED,          /* handshake_timeout_ms passed (only when it is not 0) */
};

struct rph_peer_config {
    enum rph_role role;
    struct rph_session session;
    struct rph_addr holepuncher;
    uint32_t retry_ms;             /* between Register/Join/HelloReq retries; crate: 400 */
    uint32_t keepalive_ms;         /* server re-Register, client HelloReq; crate: 10000 */
    uint32_t peer_timeout_ms;      /* a silent remote is dropped (client: re-joins) */
    uint32_t handshake_timeout_ms; /* 0: retry forever (daemons); crate: 10000 */
    uint32_t max_remotes;          /* clients a server keeps at once (sealed: at most 1000) */
    /* Sealed mode (docs/SECURITY.md): Sealed Register/Join, authenticated handshake,
     * AEAD transport. Off (false) is the crate's plaintext protocol. */
    bool sealed;
    struct rph_seal_keys seal;
    uint32_t rekey_ms;            /* sealed: the client re-handshakes this often; default 120000 */
    uint8_t node_sk[32];          /* this node's X25519 private key (sealed: required; all
                                     zero: a fresh key for this run only) */
    const uint8_t (*members)[32]; /* if n_members > 0: only these node public keys are peers */
    size_t n_members;
};

struct rph_remote {
    struct rph_addr addr;
    bool in_use;
    bool up;                /* something came back from it */
    uint64_t added_ms;      /* PeerInfo that introduced it */
    uint64_t up_ms;         /* first packet back from it */
    uint64_t last_rx_ms;    /* last valid packet of any kind from it */
    uint64_t last_hello_ms; /* last HelloReq/HelloResp from it: the "handshake" */
    uint64_t punch_until_ms;
    uint64_t next_hello_ms;
    uint8_t punches_left; /* server: punches still allowed toward it while it has not answered */
    uint8_t node_pk[32];  /* sealed: the remote's node public key, once a handshake proved it */
    bool has_node_pk;
    void *user; /* the caller's per-peer data; the slot never moves while in use */
};

struct rph_peer_stats {
    uint64_t received, sent;
    uint64_t data_in;
    uint64_t malformed;        /* failed to decode */
    uint64_t unknown_peer;     /* from an address that is neither holepuncher nor remote */
    uint64_t unexpected;       /* valid, but not for this role/state */
    uint64_t session_mismatch; /* RegisterAck/SessionNotFound/PeerInfo not for our session */
    uint64_t remotes_full;     /* PeerInfo dropped: max_remotes reached by remotes that answered */
    uint64_t remotes_evicted;  /* a remote that never answered gave its slot to a newer one */
    uint64_t registers_sent, joins_sent, hellos_sent;
    uint64_t rejoins; /* client: server went silent, joined again */
    /* sealed mode */
    uint64_t auth_failed; /* MAC, signature or AEAD tag did not verify */
    uint64_t replayed;    /* transport counter seen before or too old */
    uint64_t no_key;      /* transport for an index we do not have */
    uint64_t handshakes_sent, handshakes_done;
    uint64_t roamed;        /* a peer's endpoint moved, following authenticated packets */
    uint64_t plain_ignored; /* sealed: plain HelloReq/HelloResp/Data, which prove nothing */
    uint64_t hp_cookies;    /* sealed: HpCookie taken, the Register/Join repeated with it */
    uint64_t not_member;    /* sealed: a handshake whose node key is not in members */
    uint64_t node_conflict; /* sealed: a new node key at a live remote's address: own slot */
    uint64_t cookies_sent;  /* sealed, under load: CookieReply instead of a handshake */
    uint64_t hs_limited;    /* sealed, under load: HandshakeInit over its source's rate */
    uint64_t hp_refused;    /* sealed server: RegisterRefused (another server holds it) */
};

struct rph_peer_callbacks {
    rph_send_fn send; /* required */
    void (*on_data)(void *ctx, struct rph_remote *from, const uint8_t *data, size_t len);
    void (*on_remote)(void *ctx, struct rph_remote *r, bool up); /* up, or dropped */
    void (*on_state)(void *ctx, enum rph_peer_state state, int err);
};

struct rph_peer;

void rph_peer_config_defaults(struct rph_peer_config *c, enum rph_role role);
/* Starts the handshake at now_ms (sends the first Register or Join). NULL with *err set. */
struct rph_peer *rph_peer_new(const struct rph_peer_config *cfg,
                              const struct rph_peer_callbacks *cb, void *ctx, uint64_t now_ms,
                              int *err);
void rph_peer_free(struct rph_peer *p);
/* One received datagram. 0 when taken, RPH_E_INTERRUPTED for LocalInterrupt from loopback,
 * another RPH_E_* naming why it was dropped (also counted in the stats). */
int rph_peer_input(struct rph_peer *p, uint8_t *buf, size_t len, const struct rph_addr *from,
                   uint64_t now_ms);
/* Retries, keepalives, punching and timeouts due at now_ms. */
void rph_peer_tick(struct rph_peer *p, uint64_t now_ms);
/* When rph_peer_tick next has something to do. */
uint64_t rph_peer_next_deadline(const struct rph_peer *p);
/* Frames (plaintext: Data; sealed: Transport, encrypted in place) a payload that sits at
 * buf + RPH_FRAME_HEADROOM with RPH_FRAME_TAILROOM bytes free after it. *dgram is set to
 * the datagram inside buf; returns its length, or RPH_E_NOKEY before keys exist. */
int rph_peer_frame(struct rph_peer *p, struct rph_remote *r, uint8_t *buf, size_t payload_len,
                   uint8_t **dgram);
/* Bytes rph_peer_frame puts before (header) and after (tag) a payload: 4/0 in plaintext,
 * 16/16 sealed. A caller laying datagrams back to back (UDP GSO) needs them. */
void rph_peer_frame_overhead(const struct rph_peer *p, size_t *head, size_t *tail);
/* Wall clock minus the monotonic clock passed as now_ms (sealed Register/Join carry the
 * UNIX time); the wrappers keep it current. */
void rph_peer_set_wall_offset(struct rph_peer *p, int64_t offset_ms);
/* Frames and sends one Data datagram to a remote. */
int rph_peer_send_data(struct rph_peer *p, const struct rph_addr *to, const void *data, size_t len);
/* Client: forget the server and join again now (e.g. after a network change). */
void rph_peer_rejoin(struct rph_peer *p, uint64_t now_ms);

enum rph_peer_state rph_peer_state(const struct rph_peer *p);
const char *rph_state_name(enum rph_peer_state s);
enum rph_role rph_peer_role(const struct rph_peer *p);
const struct rph_peer_config *rph_peer_config(const struct rph_peer *p);
/* This node's public key (sealed mode), derived from cfg.node_sk. */
void rph_peer_node_public(const struct rph_peer *p, uint8_t out[32]);
const struct rph_peer_stats *rph_peer_stats(const struct rph_peer *p);
/* Last RegisterAck (server) or PeerInfo (client) from the holepuncher; 0 if never. */
uint64_t rph_peer_holepuncher_last_ms(const struct rph_peer *p);
/* "registering", "registered", "unreachable", "refused" (server); "joining", "joined"
 * (client). */
const char *rph_peer_holepuncher_status(const struct rph_peer *p, uint64_t now_ms);
/* The last error the handshake met (e.g. RPH_E_NOT_FOUND while joining), 0 if none. */
int rph_peer_last_error(const struct rph_peer *p);
/* Sealed server: whether holepuncherd refused our last Register because another node's server
 * holds the session (RegisterRefused; on_state reports RPH_E_HELD), and that server's
 * endpoint as it said. Cleared by the next RegisterAck. */
bool rph_peer_refused_by(const struct rph_peer *p, struct rph_addr *holder);
/* This node's public key (sealed mode), derived from cfg.node_sk. */
void rph_peer_node_public(const struct rph_peer *p, uint8_t out[32]);
/* The remote slots (capacity max_remotes; check in_use). */
struct rph_remote *rph_peer_remotes(struct rph_peer *p, size_t *count);
struct rph_remote *rph_peer_find(struct rph_peer *p, const struct rph_addr *addr);

#endif
