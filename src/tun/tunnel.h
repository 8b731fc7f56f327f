/* SPDX-License-Identifier: MIT */
/* The running tunnel: an open TUN device + the ruphin peer + the overlay policy + the data
 * path. main.c opens and configures the device and owns the control socket; tests hand the
 * tunnel one end of a socketpair instead of a device. */
#ifndef RUPHIN_TUN_TUNNEL_H
#define RUPHIN_TUN_TUNNEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "announce.h"
#include "config.h"
#include "errmsg.h"
#include "ruphin/addr.h"
#include "ruphin/peer.h" /* struct rph_candidate */
#include "tun_linux.h"

struct event_base;
struct tunnel;

/* Packets the tunnel threw away, by reason (status "drops"; docs/CONFIG.md). */
struct tunnel_drops {
    uint64_t no_route, malformed, spoofed_source, no_address, tun_write, udp_send;
    uint64_t address_conflict, bad_control, local_scope, no_key;
};

/* How much traffic took the offloaded paths (status "offload"). */
struct tunnel_offload {
    uint64_t tso_in[2];      /* TSO super-packets read from the TUN device: [0] IPv4, [1] IPv6 */
    uint64_t tso_segments;   /* the datagrams they were split into */
    uint64_t gso_sends;      /* UDP GSO sends of more than one datagram */
    uint64_t coalesced[2];   /* super-packets written to the TUN device: IPv4, IPv6 */
    uint64_t coalesced_segs; /* the received segments they carried */
};

/* The mesh (status "mesh"; docs/CONFIG.md). */
struct tunnel_mesh_stats {
    uint64_t intros_sent, lefts_sent;         /* server: introductions and "left" messages sent */
    uint64_t intros_received, intros_refused; /* client: taken, and refused by the core */
    uint64_t forwarded_packets, forwarded_bytes; /* server: client to client through itself */
};

/* One remote the ruphin peer knows (punching or up), for the status report. */
struct tunnel_peer_info {
    bool has4, has6; /* overlay addresses it announced (and, on a server, was granted) */
    uint8_t addr4[4], addr6[16];
    uint8_t prefix4, prefix6; /* the prefix lengths it announced with them */
    bool has_verdict;         /* the server's last verdict on the client's address: on a */
    struct verdict verdict;   /* client the one it received, on a server the one it sent */
    struct rph_addr endpoint;
    bool relayed;            /* through the holepuncher's relay (else direct) */
    uint8_t path_kind;       /* enum rph_path_kind: direct over IPv4, IPv6, the LAN; relayed */
    bool has_relay_endpoint; /* its endpoint as the holepuncher sees it */
    struct rph_addr relay_endpoint;
    struct rph_candidate cand[RPH_MAX_CANDIDATES]; /* its other endpoints, probed (sealed) */
    uint8_t n_cand;
    uint64_t path_ms;        /* when the path last changed (or it came up) */
    uint64_t rtt_ms;         /* smoothed, measured at handshakes; 0: not yet */
    uint32_t punch_delay_ms; /* timed punches: how long our first packet to it waited */
    bool up;
    uint64_t last_handshake_ms, last_rx_ms; /* monotonic; 0: never */
    uint64_t rx_packets, rx_bytes, tx_packets, tx_bytes;
    uint64_t drop_spoofed;
    bool has_node_pk; /* sealed: its node public key, once a handshake proved it */
    uint8_t node_pk[32];
    bool has_name; /* its member name (naming.h): on a server the granted one */
    char name[64];
    bool member;     /* client, mesh: another client its server introduced */
    bool via_server; /* member: its traffic goes through the server now (not usable) */
    bool idle;       /* member: via the server because the pair is idle (its direct path rests
                        until traffic wakes it), not because the path failed */
};

/* Takes over tun (already open and, for a real device, configured: tun_open_offload and
 * tun_configure), opens the UDP socket and starts the handshake. The tunnel closes the device
 * in tunnel_close, also when this fails. 0, or a negative errno with err naming what failed. */
int tunnel_new(struct tunnel **out, const struct tund_config *cfg, struct event_base *base,
               const struct tun_dev *tun, struct errmsg *err);
void tunnel_close(struct tunnel *t);
/* "over IPv4", "over IPv6", "over the LAN", "through the relay": a path kind for a log line. */
const char *tunnel_path_kind_text(int kind);
/* A clean stop: each peer that is up is told (a goodbye, sealed when the tunnel is), so it
 * frees what it holds for us now instead of after peer_timeout. */
void tunnel_goodbye(struct tunnel *t);

/* What the status report shows, read without touching the data path. */
const struct tund_config *tunnel_config(const struct tunnel *t);
struct portmap_info;
/* false when the tunnel asks for no port mapping ("port_mapping": false, or an IPv6 underlay). */
bool tunnel_port_mapping(const struct tunnel *t, uint64_t now_ms, struct portmap_info *out);
bool tunnel_offload_enabled(const struct tunnel *t);
const struct tunnel_drops *tunnel_drops(const struct tunnel *t);
const struct tunnel_offload *tunnel_offload(const struct tunnel *t);
const struct tunnel_mesh_stats *tunnel_mesh(const struct tunnel *t);
const struct rph_peer_stats *tunnel_proto_stats(const struct tunnel *t);
/* Client, mesh: members whose direct path rests now (idle). */
size_t tunnel_quiet_members(const struct tunnel *t);
int tunnel_local_addr(const struct tunnel *t, struct rph_addr *out);
/* The underlay families the UDP socket takes: "ipv4", "ipv6" or "ipv4+ipv6" (dual stack). */
const char *tunnel_local_families(const struct tunnel *t);
/* "registered", "joined", "unreachable", ... and the last contact (0: never). */
const char *tunnel_holepuncher_state(const struct tunnel *t, uint64_t now_ms, uint64_t *last_ms);
/* Sealed: our round trip to the holepuncher (the figure timed punches use), 0: none yet. */
uint32_t tunnel_holepuncher_rtt(const struct tunnel *t);
/* Sealed: the session key's fingerprint (8 hex digits, what holepuncherd logs as sealed:X);
 * plaintext: "". */
const char *tunnel_key_fingerprint(const struct tunnel *t);
/* Remote slot i (0 .. tunnel_peer_slots - 1): false when the slot is free. */
size_t tunnel_peer_slots(const struct tunnel *t);
bool tunnel_peer_info(const struct tunnel *t, size_t i, struct tunnel_peer_info *out);
/* The DNS responder ("dns"): its domain, the addresses it listens on now, queries answered
 * and TCP connections open. false without "dns". */
struct tunnel_dns_info {
    const char *domain;
    bool on4, on6;
    uint8_t addr4[4], addr6[16];
    uint16_t port;
    uint64_t queries;
    unsigned tcp_open;
};
bool tunnel_dns(const struct tunnel *t, struct tunnel_dns_info *out);
/* This node's public key; false for a plaintext tunnel, which has none. */
bool tunnel_node_public(const struct tunnel *t, uint8_t out[32]);

/* Our overlay addresses (an automatic one: none until assigned) and member name. */
const struct announce *tunnel_self(const struct tunnel *t);
const char *tunnel_name(const struct tunnel *t);
/* Client: the other members its server listed (i < tunnel_listed_count), with the time it last
 * listed each (monotonic ms); false past the end. */
size_t tunnel_listed_count(const struct tunnel *t);
bool tunnel_listed(const struct tunnel *t, size_t i, struct member_msg *out, uint64_t *seen_ms);
/* ... of which those listed within this long are current (three rounds of our name message,
 * which the server answers with its list; older ones left). */
uint64_t tunnel_listed_fresh_ms(const struct tunnel *t);

#endif
