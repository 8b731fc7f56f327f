/* SPDX-License-Identifier: MIT */
/* The tunnel's state, private to its lifecycle (tunnel.c) and its data path (send.c,
 * receive.c); the status report reads it through tunnel.h. */
#ifndef RUPHIN_TUN_TUNNEL_PRIV_H
#define RUPHIN_TUN_TUNNEL_PRIV_H

#include <event2/util.h>
#include <stdbool.h>
#include <stdint.h>

#include "addrpool.h"
#include "config.h"
#include "lancand.h"
#include "policy.h"
#include "ruphin/ev.h"
#include "ruphin/seal.h"
#include "tun_linux.h"
#include "tunnel.h"

struct dns_server;
struct mesh_server;
struct mesh_known;
struct event;
struct gro;
struct portmap;
struct resolved;

/* Client: another member of the session as the server listed it, and when. */
struct listed_member {
    struct member_msg m;
    uint64_t seen_ms;
};

/* Segments one TSO super-packet may become (64 KB at the smallest MSS worth offloading). */
#define GSO_SEGS 64

#define MAX_PEERS 256
/* Client, mesh: at most this many members besides the server (slot 0). */
#define MESH_MAX (MAX_PEERS - 2)
/* Reads per TUN event before the loop gets a turn (the UDP side reads in batches too). */
#define TUN_BURST 64

struct watch;

struct tunnel {
    unsigned announce_ticks; /* keepalive intervals since start: members hear ours less often */
    struct tund_config cfg;
    struct event_base *base;
    struct tun_dev tun;
    struct rph_ev_peer *ep; /* the one handle to the peers: frames, queues, sends */
    struct rph_remote *rbase;
    size_t n_slots;
    struct policy pol; /* the peer table (one entry per remote slot) and the routes */
    struct event *tun_ev, *announce_ev;
    struct tunnel_drops drops;
    struct tunnel_offload off;
    uint8_t *buf; /* RPH_FRAME_HEADROOM, one packet read (a TSO one: 64 KB), tailroom */
    size_t buf_cap;
    size_t seg_len[GSO_SEGS];              /* the segments of the TSO packet being split */
    struct gro *gro;                       /* TCP segments coalesced toward the TUN device */
    char key_fp[RPH_SEAL_FINGERPRINT_LEN]; /* sealed: the key's fingerprint; plaintext: "" */
    unsigned not_found_n;                  /* consecutive SessionNotFound answers (client) */
    uint64_t not_found_warn_ms;            /* when the last "not found" warning was logged */
    struct event *verdict_ev;              /* client, refused: the next announcement (verdict.c) */
    uint64_t verdict_retry_ms;             /* its current delay; 0: not refused */
    uint64_t ann_sent_ms[MAX_PEERS];       /* per remote slot: our last announcement to it */
    bool removing;                         /* a goodbye is dropping a peer: logged already */
    uint64_t drop_window_ms;               /* debug drop lines: the current second, */
    unsigned drop_lines;                   /* lines in it, */
    uint64_t drop_suppressed;              /* drops since the last line that got none */
    bool refused;                          /* server: holepuncherd said another server holds it */
    struct rph_addr refused_by;            /* ... that server, as last logged */
    uint64_t mode_seen;                    /* other-mode datagrams reported (mode_check.c) */
    uint64_t mode_warned_ms;               /* when that was last logged */
    uint64_t path_window_ms;               /* path change lines: the current window, */
    unsigned path_lines;                   /* lines in it, */
    uint64_t path_suppressed;              /* changes since the last line that got none */
    /* Names and automatic addresses (naming.c). */
    bool pool_on; /* server, sealed: the member table of STATE_DIR/members */
    struct addrpool pool;
    char granted[64];             /* client: the name the server granted us ("" none yet) */
    bool assigned;                /* client, automatic address: the server assigned ours */
    unsigned assign_asks;         /* client: address requests since the last assignment */
    uint64_t pool_warn_ms;        /* when a member-table error was last logged */
    struct listed_member *listed; /* client: the other members the server listed (tag 0x06), */
    size_t n_listed;              /* MAX_PEERS at most */
    struct portmap *pm;           /* "port_mapping": the router's mapping of our UDP port */
    /* DNS on the LAN (lan_dns.c): NULL without "dns". */
    struct dns_server *dns;
    struct resolved *resolved;
    uint64_t lancand_log_ms;                /* when a dropped LAN candidate list was last logged */
    struct rph_addr local[LANCAND_MAX];     /* sealed: our LAN candidates, */
    int n_local;                            /* how many (< 0: none: not IPv4, or no list), */
    struct rph_addr local6[LANCAND_MAX];    /* our global IPv6 candidates, */
    int n_local6;                           /* how many (< 0: none: the socket has no IPv6), */
    uint64_t local_ms;                      /* both listed then (once a second at most) */
    struct rph_addr local_tx[LANCAND_MAX];  /* the lists as the announcement timer last saw */
    struct rph_addr local6_tx[LANCAND_MAX]; /* them: a change goes to every peer at once */
    int n_local_tx, n_local6_tx;
    /* The mesh (docs/PROTOCOL.md "Mesh"). */
    struct mesh_server *ms;        /* server with "mesh": what each client was introduced to */
    struct tunnel_mesh_stats mesh; /* counters for the status */
    struct mesh_known *known;      /* client: the members the server introduced (MAX_PEERS) */
    uint64_t mesh_log_ms;          /* when a refused introduction was last logged */
    struct watch *watch;           /* the status watch (watch.c), nudged after core ticks */
};

/* send.c: TUN -> UDP */
void send_on_tun(evutil_socket_t fd, short what, void *arg);
/* Queues one packet to a peer, to leave with the next flush (also forwarded ones). */
void send_to_peer(struct tunnel *t, struct tpeer *to, const uint8_t *pkt, size_t len);
void send_on_sent(void *ctx, const struct rph_ev_sent *s);

/* receive.c: UDP -> TUN */
void receive_on_data(void *ctx, struct rph_remote *r, const uint8_t *d, size_t n);
void receive_on_flush(void *ctx);

/* tunnel.c: a peer announced itself; ours goes back unless it went there within a second
 * (a peer that restarted, or rekeyed with one that did, learns our address at once). */
void tunnel_announce_answer(struct tunnel *t, struct rph_remote *r);
/* tunnel.c: a peer said goodbye: dropped now (its slot and overlay address freed; a client
 * joins again). */
void tunnel_goodbye_from(struct tunnel *t, struct rph_remote *r, const uint8_t *d, size_t n);

/* tunnel.c: r offered its router's port mapping (tag 0x08): a candidate for the core. */
void tunnel_mapcand_from(struct tunnel *t, struct rph_remote *r, const uint8_t *d, size_t n);
/* tunnel.c: r offered its LAN endpoints (tag 0x07): candidates for the core to probe. */
void tunnel_lancand_from(struct tunnel *t, struct rph_remote *r, const uint8_t *d, size_t n);

/* tunnel.c: of a peer's candidates a[0..n), those that can be a path to it: none inside our
 * overlay (a path through the tunnel itself) or at our own addresses own[0..n_own) (a probe
 * would reach ourselves). Returns the new n; the order is kept. */
size_t tunnel_keep_paths(const struct tunnel *t, struct rph_addr *a, size_t n,
                         const struct rph_addr *own, int n_own);
/* tunnel.c: our LAN and IPv6 endpoints listed again (at most once a second). */
void tunnel_local_candidates(struct tunnel *t);

/* tunnel.c: our announcement to r now (an automatic address just assigned). */
void tunnel_announce_now(struct tunnel *t, struct rph_remote *r);

/* mesh_server.c: a sealed server with "mesh" introduces its clients to each other (tag 0x09),
 * paced, on change only. NULL from new when the mesh is off (a hub). */
struct mesh_server *mesh_server_new(struct tunnel *t);
void mesh_server_free(struct mesh_server *ms);
/* Something about slot i changed (up, down, its announcement, its node key, its candidates;
 * SIZE_MAX: a periodic look, endpoints may have moved): introductions are checked at the next
 * pacing tick. */
void mesh_server_changed(struct tunnel *t, size_t i);
/* The candidates client r offered (tag 0x07 version 1: LAN, 2: IPv6; tag 0x08: mapped), as it
 * sent them: they go into its introductions. */
void mesh_server_lan(struct tunnel *t, struct rph_remote *r, int version, const struct rph_addr *a,
                     size_t n);
void mesh_server_mapped(struct tunnel *t, struct rph_remote *r, const struct rph_addr *a);

/* mesh_client.c: the server introduced a member, or said one left (tag 0x09). */
void mesh_client_receive(struct tunnel *t, struct rph_remote *from, const uint8_t *d, size_t n);
/* The client's table of introduced members (free() it), NULL without memory. */
struct mesh_known *mesh_client_table(void);
/* Member r came up: its tpeer gets the introduced addresses (routes, the source check). */
void mesh_client_up(struct tunnel *t, struct rph_remote *r);
/* Its path kind (enum rph_path_kind), a member's direct-lan too (mesh_client.c knows the
 * endpoint the server introduced it at). */
int mesh_client_path_kind(const struct tunnel *t, const struct rph_remote *r);
/* Each keepalive: a member the core dropped (it never answered, or went silent) is introduced
 * to the core again from what the server said, every MESH_RETRY_MS, a few times: the server
 * introduces on change only. */
void mesh_client_retry(struct tunnel *t, uint64_t now_ms);

#endif
