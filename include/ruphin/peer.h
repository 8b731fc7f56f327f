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
    /* Sealed only: when the direct path does not work, send through the holepuncher's relay
     * (RelayData, docs/PROTOCOL.md "Relay"), keep trying direct, go back to it when it
     * answers. Ignored in plaintext mode: the crate's protocol has no relay. */
    bool relay;
    /* Sealed client only: other members of the session (clients too) that its server
     * introduces (rph_peer_introduce) and that it keeps sessions of their own with, straight
     * to each other (docs/PROTOCOL.md "Mesh"); at most this many at once. 0: none, all traffic
     * goes through the server (a hub). Slot 0 stays the server's. */
    uint32_t mesh_max;
};

/* Candidates: endpoints of a remote other than the one it talks from, probed while no better
 * path works (docs/PROTOCOL.md "Candidates"). Only an authenticated answer from one moves the
 * remote there. */
#define RPH_MAX_CANDIDATES 8
enum rph_cand_kind {
    RPH_CAND_PUNCHED = 1, /* its plain punch came from here: its NAT gave that destination a
                             port of its own (symmetric); same IP as the introduced endpoint */
    RPH_CAND_LAN = 2,     /* it offered this LAN address in a sealed control message */
    RPH_CAND_MAPPED = 3,  /* its router's port mapping (NAT-PMP), offered the same way */
    RPH_CAND_V6 = 4,      /* one of its global IPv6 addresses, offered the same way: probes
                             from both sides open both stateful firewalls */
};
struct rph_candidate {
    struct rph_addr addr;
    uint8_t kind;        /* enum rph_cand_kind */
    uint8_t probes_left; /* punched: a few, so a spoofed punch buys little; LAN: ~1 min */
    uint8_t probes_sent;
    uint64_t next_ms; /* the next probe */
};

struct rph_remote {
    struct rph_addr addr;
    bool in_use;
    bool up;                /* something came back from it */
    uint64_t added_ms;      /* PeerInfo that introduced it */
    uint64_t up_ms;         /* first packet back from it */
    uint64_t last_rx_ms;    /* last valid packet of any kind from it */
    uint64_t last_hello_ms; /* last HelloReq/HelloResp from it: the "handshake" */
    uint64_t data_rx_ms;    /* last data from it (server: its silence after data re-registers) */
    uint64_t punch_until_ms;
    uint64_t next_hello_ms;
    uint8_t punches_left; /* server: punches still allowed toward it while it has not answered */
    /* Data sent to it since the last valid packet from it (rph_peer_note_sent), from when:
     * a client whose server stays silent this long after it probes (docs/PROTOCOL.md). */
    bool tx_unanswered;
    uint64_t tx_unanswered_ms;
    /* Data from it since we last sent it anything, from when: a passive keepalive is due. */
    bool rx_unanswered;
    uint64_t rx_unanswered_ms;
    uint8_t node_pk[32]; /* sealed: the remote's node public key, once a handshake proved it */
    bool has_node_pk;
    /* The path (relay on): where datagrams to it go. relay_addr is its endpoint as the
     * holepuncher sees it (its PeerInfo's, or the source of a relayed datagram). */
    bool relayed;   /* through the holepuncher's relay; else straight to addr */
    bool direct_ok; /* an authenticated datagram came straight from it, ever */
    bool has_relay_addr;
    struct rph_addr relay_addr;
    uint64_t path_ms;            /* when the path last changed */
    uint64_t direct_rx_ms;       /* last authenticated datagram straight from it */
    uint64_t relay_rx_ms;        /* last authenticated datagram from it through the relay */
    uint64_t next_direct_try_ms; /* relayed: the next keepalive straight to addr */
    uint64_t rtt_ms;             /* smoothed round-trip time (handshakes), 0: not measured */
    uint64_t hs_sent_ms;         /* our last handshake message to it: the RTT's start */
    /* Timed punches (docs/PROTOCOL.md): the delay our first packet toward it waited (0: none),
     * and, a sealed client, when its held first handshake message goes (0: none held). */
    uint32_t punch_delay_ms;
    uint64_t hs_at_ms;
    struct rph_candidate cand[RPH_MAX_CANDIDATES];
    uint8_t n_cand;
    /* Mesh (sealed client): another client of the session its server introduced, not the
     * server; the side with the lower node public key starts its handshakes and rekeys. */
    bool member;
    bool initiator;
    bool via_server;  /* member: its direct path stopped answering, or rests (quiet) */
    bool quiet;       /* member: idle, its direct path rests (rph_peer_member_traffic wakes it) */
    uint64_t data_ms; /* member: last data to or from it straight (or its coming up, or waking) */
    uint64_t woke_ms; /* member: when it last woke from quiet (its silence counts from then) */
    bool has_intro_addr;
    struct rph_addr intro_addr; /* member: its endpoint as its server hears it (the last
                                   introduction): what the holepuncher's is to a server */
    void *user;                 /* the caller's per-peer data; the slot never moves while in use */
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
    uint64_t probes;  /* client: data went unanswered ~1 s: rekey and Join again */
    uint64_t moved;   /* client: a probe's PeerInfo named a new server endpoint: moved to it */
    uint64_t passive_keepalives; /* data came in and nothing went back for ~500 ms */
    uint64_t removed;            /* remotes dropped by the caller (a goodbye) */
    uint64_t reregisters; /* server: a client went silent after data: registered again at once */
    /* sealed mode */
    uint64_t auth_failed; /* MAC, signature or AEAD tag did not verify */
    uint64_t replayed;    /* transport counter seen before or too old */
    uint64_t no_key;      /* transport for an index we do not have */
    uint64_t handshakes_sent, handshakes_done;
    uint64_t roamed;             /* a peer's endpoint moved, following authenticated packets */
    uint64_t plain_ignored;      /* sealed: plain HelloReq/HelloResp/Data, which prove nothing */
    uint64_t hp_cookies;         /* sealed: HpCookie taken, the Register/Join repeated with it */
    uint64_t not_member;         /* sealed: a handshake whose node key is not in members */
    uint64_t node_conflict;      /* sealed: a new node key at a live remote's address: own slot */
    uint64_t cookies_sent;       /* sealed, under load: CookieReply instead of a handshake */
    uint64_t hs_limited;         /* sealed, under load: HandshakeInit over its source's rate */
    uint64_t hp_refused;         /* sealed server: RegisterRefused (another server holds it) */
    uint64_t timed_punches;      /* sealed: a first punch/handshake held to fire with the other's */
    uint64_t fresh_port_retries; /* sealed client: tries from a fresh local port after the
                                    direct path to the server failed (fresh_port callback) */
    uint32_t
        hp_rtt_ms; /* sealed: the least of our last 4 round trips to the holepuncher, 0: none */
    /* relay (sealed, relay on) */
    uint64_t relay_out;     /* datagrams sent wrapped in RelayData by the core (handshakes,
                               keepalives; a caller's data trains count their own) */
    uint64_t relay_in;      /* RelayData from the holepuncher whose payload was taken */
    uint64_t relay_refused; /* RelayData refused: not ours, malformed, not a sealed payload */
    uint64_t path_changes;  /* a remote's path went direct -> relayed or back, or its kind
                               changed (public -> LAN) */
    uint64_t member_quiets; /* a member pair went quiet (idle RPH_MEMBER_IDLE_MS) */
    uint64_t member_wakes;  /* a quiet member woke: traffic came, or the server went away */
    /* candidates (sealed) */
    uint64_t cand_added;   /* candidates learned (punched from, offered LAN addresses) */
    uint64_t cand_probes;  /* probes sent to candidates */
    uint64_t cand_refused; /* offered candidates refused (full, not unicast, our own...) */
};

/* Protocol events for a debug log (on_trace). Never called per data packet that is taken. */
enum rph_trace_event {
    RPH_TRACE_HP_SENT = 1, /* Register/Join sent to the holepuncher (addr); code: its type */
    RPH_TRACE_HP_ANSWER,   /* from the holepuncher: code RegisterAck, PeerInfo (addr: the
                              endpoint it names), SessionNotFound, HpCookie... */
    RPH_TRACE_PUNCH_SENT,  /* HelloReq toward addr */
    RPH_TRACE_HS_SENT,     /* handshake message (code: its type) sent to addr */
    RPH_TRACE_HS_TAKEN,    /* handshake message (code: its type) from addr taken */
    RPH_TRACE_KEYS,        /* keys installed for remote (code 0: first, 1: rekeyed) */
    RPH_TRACE_MOVED,       /* remote's endpoint moved from addr to addr2 */
    RPH_TRACE_UP,          /* remote at addr answered: up */
    RPH_TRACE_DOWN,        /* remote at addr dropped */
    RPH_TRACE_DROP,        /* a datagram from addr dropped; code: the RPH_E_* reason */
    RPH_TRACE_PROBE,       /* client: the server at addr is silent; Join again (code 1: and
                            * rekey); code 2, server: the client at addr went silent: Register */
    RPH_TRACE_PATH,        /* remote's path changed (remote->relayed); code: rph_path_reason */
    RPH_TRACE_CANDIDATE,   /* a probe to remote's candidate addr; code: rph_cand_kind */
    RPH_TRACE_PUNCH_TIMED, /* the first packet toward addr waits code ms (timed punches) */
    RPH_TRACE_FRESH_PORT,  /* client: the direct path to the server at addr failed: a fresh
                              local port, try code (1..RPH_FRESH_PORT_TRIES); code < 0: the
                              caller could not open one (that RPH_E_* error) */
};

/* Why a remote's path changed (on_path, RPH_TRACE_PATH). */
enum rph_path_reason {
    RPH_PATH_NO_DIRECT = 1, /* -> relayed: no authenticated answer straight from it yet */
    RPH_PATH_DIRECT_SILENT, /* -> relayed: data to it went unanswered on the direct path */
    RPH_PATH_RELAYED_IN,    /* -> relayed: it speaks through the relay, direct is quiet */
    RPH_PATH_DIRECT_IN,     /* -> direct: an authenticated datagram came straight from it */
    RPH_PATH_KIND,          /* direct, another kind: its endpoint moved (to a LAN candidate),
                               or it offered the endpoint it uses as its LAN address */
    RPH_PATH_IDLE,          /* member -> via the server: idle RPH_MEMBER_IDLE_MS, its direct
                               path rests (no keepalives) until traffic wakes it */
};
/* "no direct answer", ...: a short reason for a log line. */
const char *rph_path_reason_name(int reason);

/* Path timings (docs/PROTOCOL.md "Relay"): a remote not confirmed direct this long after its
 * PeerInfo is relayed; a direct one whose data goes unanswered this long is relayed; a relayed
 * one gets a keepalive straight to its endpoint this often (the background direct attempt); a
 * client with the relay on joins again this often (the relay's membership, session_ttl 60 s,
 * and a new punch from its server). */
#define RPH_RELAY_AFTER_MS 400u
#define RPH_RELAY_FALLBACK_MS 1000u
#define RPH_DIRECT_RETRY_MS 2000u
#define RPH_RELAY_JOIN_MS 20000u

/* Timed punches (docs/PROTOCOL.md): the nearer side to the holepuncher holds its first punch
 * (server) or handshake message (client) for three quarters of the difference of the two
 * round trips (punch_timing.c says why), at most this long. */
#define RPH_PUNCH_DELAY_MAX_MS 500u
/* That wait; 0 when either round trip is unknown (0) or ours is not the shorter. */
uint32_t rph_punch_delay_ms(uint32_t own_rtt_ms, uint32_t other_rtt_ms);
/* The same between a server and its client, placed in the window so that a late or slow
 * moment of either host loses the race, if at all, at the client's router, which a fresh port
 * recovers, not at the server's, which none does: a server waits 5/8 of the difference, not
 * 3/4 (punch_timing.c says why); a client as rph_punch_delay_ms, as member pairs do. */
uint32_t rph_punch_delay_role_ms(uint32_t own_rtt_ms, uint32_t other_rtt_ms, enum rph_role role);

/* Fresh-port retries (docs/PROTOCOL.md "Fresh-port retries"): a sealed client whose direct
 * path to its server failed (relayed, or no direct answer within the punch window) asks its
 * caller for a new local port (callbacks.fresh_port) and joins again from it, this long after
 * the failure began (the first) or after the try before, at most RPH_FRESH_PORT_TRIES times per
 * server endpoint. */
#define RPH_FRESH_PORT_TRIES 3u
#define RPH_FRESH_PORT_WAIT_1_MS 3000u
#define RPH_FRESH_PORT_WAIT_2_MS 3000u
#define RPH_FRESH_PORT_WAIT_3_MS 10000u

/* The kind of a remote's path, for status and logs. */
enum rph_path_kind {
    RPH_PATHK_DIRECT4 = 1, /* straight to its IPv4 endpoint */
    RPH_PATHK_DIRECT6,     /* straight to its IPv6 endpoint */
    RPH_PATHK_LAN,         /* straight to a LAN address it offered (RPH_CAND_LAN), at
                              another IP than the holepuncher sees it at */
    RPH_PATHK_RELAYED,     /* through the holepuncher's relay */
    RPH_PATHK_MAPPED,      /* straight to the port mapping it offered (RPH_CAND_MAPPED) */
};
enum rph_path_kind rph_remote_path_kind(const struct rph_remote *r);
/* "direct-ipv4", "direct-ipv6", "direct-lan", "relayed", "direct-mapped". */
const char *rph_path_kind_name(enum rph_path_kind k);

struct rph_trace {
    enum rph_trace_event what;
    const struct rph_remote *remote; /* or NULL */
    struct rph_addr addr, addr2;
    int code;
};

/* "hp-sent", "hp-answer", ...: a short name for a log line. */
const char *rph_trace_name(enum rph_trace_event e);

struct rph_peer_callbacks {
    rph_send_fn send; /* required */
    void (*on_data)(void *ctx, struct rph_remote *from, const uint8_t *data, size_t len);
    void (*on_remote)(void *ctx, struct rph_remote *r, bool up); /* up, or dropped */
    void (*on_state)(void *ctx, enum rph_peer_state state, int err);
    void (*on_trace)(void *ctx, const struct rph_trace *t); /* optional: debug tracing */
    /* optional: r's path changed (r->relayed), for a reason rph_path_reason */
    void (*on_path)(void *ctx, struct rph_remote *r, int reason);
    /* optional, sealed client: the direct path to the server failed; send from a new local UDP
     * port (a new socket, so the NAT makes a new mapping) from now on, keeping the old one
     * readable a while for what is in flight to it. attempt: 1..RPH_FRESH_PORT_TRIES. 0 when
     * done (the core then joins again from it), a negative RPH_E_* / -errno when not (the try
     * counts all the same). NULL: no fresh-port retries. rph_ev_peer implements it itself (not
     * for a socket bound to a fixed port) and calls the caller's one after the swap, only to
     * tell it (its result is ignored). */
    int (*fresh_port)(void *ctx, unsigned attempt);
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
/* The same for a datagram that arrived at arrived_ms (the socket's receive timestamp, on the
 * clock of now_ms) and is read only now: the round trip to the holepuncher is timed to its
 * arrival, so a busy moment of our own (a slow loop, a descheduled process) is not in it. An
 * arrival before the request went or after now_ms counts as now_ms. */
int rph_peer_input_at(struct rph_peer *p, uint8_t *buf, size_t len, const struct rph_addr *from,
                      uint64_t now_ms, uint64_t arrived_ms);
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
/* The caller sent data to r at now_ms (once per batch, not per packet): if nothing valid
 * comes back from a client's server for RPH_PROBE_AFTER_MS, the client probes (a rekey to
 * the current endpoint and Joins every RPH_PROBE_JOIN_MS for a new one); a server registers
 * again (its NAT may have given it a new port), as it does when a client sending data goes
 * silent that long. Also tells the core that r heard from us (no passive keepalive due).
 * True when the next deadline may have become earlier (the caller re-arms its timer). */
#define RPH_PROBE_AFTER_MS 1000u
#define RPH_PROBE_JOIN_MS 500u
#define RPH_PASSIVE_KEEPALIVE_MS 500u
/* A client's Joins while its holepuncher answers (only a dead holepuncher makes them back off
 * further): a rebooted server is found within about this long of registering. */
#define RPH_WAIT_JOIN_MS 1000u
bool rph_peer_note_sent(struct rph_peer *p, struct rph_remote *r, uint64_t now_ms);
/* The remote said it stopped (an authenticated goodbye): dropped now (on_remote(..., false)
 * while it was up); a client joins again at once. */
void rph_peer_remove(struct rph_peer *p, struct rph_remote *r, uint64_t now_ms);

/* Sealed: r offered these LAN endpoints (from an authenticated control message, so from r
 * itself): each becomes a candidate probed with keepalives until one answers, then the path
 * stays there while it answers. Addresses that are no unicast IPv4 (IPv6 LAN candidates are
 * not taken yet), port 0, r's endpoint as the holepuncher sees it or duplicates are refused
 * (counted). Returns how many were taken, RPH_E_NOTSUP in plaintext. A new offer replaces r's
 * LAN candidates. */
int rph_peer_set_lan_candidates(struct rph_peer *p, struct rph_remote *r, const struct rph_addr *a,
                                size_t n, uint64_t now_ms);
/* Sealed: r offered these global IPv6 endpoints (a tunnel control message from r itself): each
 * becomes a candidate probed while no direct path works (relayed, or nothing direct yet), like
 * the mapped one; probes from both sides open both stateful firewalls, and an authenticated
 * answer makes the path "direct-ipv6". Only for a socket that can send IPv6. Addresses that are
 * no global unicast IPv6 (2000::/3), port 0 or duplicates are refused (counted). Returns how
 * many were taken, RPH_E_NOTSUP in plaintext. A new offer replaces r's IPv6 candidates. */
int rph_peer_set_v6_candidates(struct rph_peer *p, struct rph_remote *r, const struct rph_addr *a,
                               size_t n, uint64_t now_ms);
/* Sealed: the endpoint r's router maps to it (NAT-PMP; a tunnel control message from r
 * itself), or NULL when it has none any more. A candidate like the LAN ones, probed while no
 * direct path works; an authenticated answer from it makes the path "direct-mapped". Returns 1
 * when taken, 0 when cleared or unchanged, RPH_E_INVALID for an address that is no unicast
 * IPv4 (counted in cand_refused), RPH_E_NOTSUP in plaintext. */
int rph_peer_set_mapped_candidate(struct rph_peer *p, struct rph_remote *r,
                                  const struct rph_addr *a, uint64_t now_ms);

/* Relay: writes the RelayData header for r (destination r->relay_addr, this peer's cookie of
 * its last accepted Register/Join) into buf[0..RPH_RELAY_HEADER_LEN) in front of the framed
 * datagram of payload_len bytes at buf + RPH_RELAY_HEADER_LEN; send the result to the
 * holepuncher. The datagram's length, RPH_E_NOTSUP when r cannot be relayed (relay off,
 * plaintext, no cookie or endpoint yet), or rph_relay_wrap's error. */
int rph_peer_relay_wrap(const struct rph_peer *p, const struct rph_remote *r, uint8_t *buf,
                        size_t cap, size_t payload_len);

/* After a fresh-port retry, until holepuncherd accepted a Join from the new port: its relay
 * still has us as a member at the old one (RelayData carry that endpoint's cookie), so the
 * caller sends RelayData from the old socket while it has it. */
bool rph_peer_relay_old_port(const struct rph_peer *p);

/* Mesh (sealed client with mesh_max > 0): the server introduced another member of the session
 * over our sealed tunnel (docs/PROTOCOL.md "Mesh"). */
struct rph_intro {
    uint8_t node_pk[32];      /* its node public key: the only one its handshake may prove */
    struct rph_addr endpoint; /* where the server hears it from (port 0: unknown) */
    uint16_t rtt_ms;          /* its round trip to the server, 0: unknown (timed punches) */
};
/* The member's remote: a new one, punched and (the side with the lower node key) handshaken
 * with, or the one that has its node key already, whose endpoint follows the introduction while
 * no direct path to it works. Candidates (LAN, mapped, IPv6) go to it with the
 * rph_peer_set_*_candidates calls. NULL with *err: RPH_E_NOTSUP (not a sealed client with
 * mesh_max), RPH_E_INVALID (our own node key, or not a member of cfg.members), RPH_E_FULL. A
 * member that never answers is dropped after the handshake window (the server introduces it
 * again); one that goes silent after RPH_MEMBER_TIMEOUT_MS too; neither makes the client rejoin,
 * and a rejoin (our server went away) keeps them: the mesh outlives its server. rph_peer_remove
 * drops one (it said goodbye, or the server said it left). */
struct rph_remote *rph_peer_introduce(struct rph_peer *p, const struct rph_intro *in,
                                      uint64_t now_ms, int *err);
/* An idle member costs little (docs/PROTOCOL.md "Mesh"): a keepalive every
 * RPH_MEMBER_KEEPALIVE_MS only, as NAT mappings need (WireGuard's persistent keepalive), from
 * the side with the lower node key (the other answers each one at once), sent
 * together with every other member keepalive due within RPH_MEMBER_KEEPALIVE_SLACK_MS (one
 * wake-up for all of them); a rekey only when something is sent to it once rekey_ms passed (a
 * keepalive is something: an idle member's keys stay fresh without a timer of their own); and
 * it is dropped only after RPH_MEMBER_TIMEOUT_MS of silence (or peer_timeout_ms if longer), so
 * that one lost keepalive does not end it. */
#define RPH_MEMBER_KEEPALIVE_MS 25000u
#define RPH_MEMBER_KEEPALIVE_SLACK_MS 5000u
#define RPH_MEMBER_TIMEOUT_MS (3u * RPH_MEMBER_KEEPALIVE_MS)
/* A member pair with no data either way for RPH_MEMBER_IDLE_MS, while our server is up, goes
 * quiet on both sides (as Tailscale's idle paths do): no keepalives, no silence timeout, no
 * rekey, and traffic to it goes through the server (rph_remote_usable false, via_server, path
 * reason RPH_PATH_IDLE). The first packet either way wakes both ends: the sender's with
 * rph_peer_member_traffic as it routes the packet through the server, the receiver's as the
 * server forwards it; each sends a handshake straight to the other (every RPH_DIRECT_RETRY_MS
 * until answered, which also opens both NATs again), and the pair is direct again a round trip
 * later, nothing lost meanwhile. Losing the server wakes every quiet member at once: the
 * direct paths are then the only ones. */
#define RPH_MEMBER_IDLE_MS 60000u
/* Traffic to or from member r is going through the server (the caller routes it so because
 * r is not usable): a quiet r wakes (above). Returns whether deadlines changed. */
bool rph_peer_member_traffic(struct rph_peer *p, struct rph_remote *r, uint64_t now_ms);
/* How many members are quiet now (0: rph_peer_member_traffic has nothing to do). */
size_t rph_peer_quiet_members(const struct rph_peer *p);
/* Whether traffic to member r goes straight to it now: up, and data to it has not gone
 * unanswered for RPH_RELAY_FALLBACK_MS. Otherwise it goes through the server, while the core
 * probes r (a new handshake, keepalives) until it answers again. */
bool rph_remote_usable(const struct rph_remote *r, uint64_t now_ms);

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
