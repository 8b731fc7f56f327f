/* SPDX-License-Identifier: MIT */
/* The tunnel's overlay policy, with no I/O: the peer table, who may hold which overlay
 * address (announcements, takeover of a silent holder or by the same node key), where a packet read
 * from the TUN device goes, and whether a packet received from a peer may enter the network. The
 * data path asks it one question per packet; the caller logs and counts what it answers. */
#ifndef RUPHIN_TUN_POLICY_H
#define RUPHIN_TUN_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "announce.h"
#include "ippkt.h"
#include "route.h"
#include "ruphin/peer.h"

struct tpeer {
    struct rph_remote *remote; /* NULL: slot free */
    bool has_key;              /* sealed: the remote's node key is known (a handshake proved it) */
    uint8_t node_pk[32];
    bool announced;
    struct announce ann;
    uint64_t rx_packets, rx_bytes, tx_packets, tx_bytes;
    uint64_t drop_spoofed;
    /* Server: the last verdict on this peer's announcement it was sent (its rate limit);
     * client: the last verdict the server sent on ours. Reset with the entry. */
    bool has_verdict;
    struct verdict verdict;
    uint64_t verdict_ms;
    /* Its member name (naming.c): on a server the one granted to it, on a client the
     * server's; has_name also says the peer speaks names (tag 0x05). */
    bool has_name;
    char name[64];
    /* Client, mesh: another client its server introduced (tag 0x09); ann holds the addresses the
     * server vouched for, the only ones the member may send from or announce. */
    bool member;
};

struct policy {
    enum rph_role role;
    struct announce self; /* our own overlay addresses and prefixes */
    /* A holder silent this long is gone (a client restarted elsewhere): its address is free
     * again rather than blocked until the peer timeout. */
    uint64_t silent_ms;
    struct tpeer *peers; /* one per remote slot of the ruphin peer */
    size_t n_peers;
    struct route routes; /* server: overlay address -> peer */
};

int policy_init(struct policy *p, enum rph_role role, const struct announce *self,
                uint64_t silent_ms, size_t n_peers);
void policy_free(struct policy *p);

/* Slot i's remote came up (the entry starts clean, with r's node key if it has one) or went
 * down (its addresses are released). */
struct tpeer *policy_peer_up(struct policy *p, size_t i, struct rph_remote *r);
void policy_peer_down(struct policy *p, struct tpeer *tp);
/* The remote's node key became known (NULL: still unknown, nothing changes). A key other than
 * the one the entry had means another node now speaks from the slot: what the old one
 * announced is released. true when the key changed. */
bool policy_peer_key(struct policy *p, struct tpeer *tp, const uint8_t *node_pk);
/* Client, mesh: tp is a member the server introduced with addresses a (again: they may have
 * changed). Its addresses route to it while its path is usable (policy_tx). */
void policy_member(struct policy *p, struct tpeer *tp, const struct announce *a);

enum policy_announce {
    POLICY_ANN_SAME,    /* nothing changed */
    POLICY_ANN_NEW,     /* the peer now holds the announced addresses */
    POLICY_ANN_FOREIGN, /* server: an address outside our prefix, or our own; client: a member's
                           that is not what the server introduced; ignored */
    POLICY_ANN_HELD,    /* server: another live peer (another node key) holds it; ignored */
};

/* What an announcement did; for the log line. */
struct policy_ann_result {
    int family; /* the address the verdict is about (FOREIGN/HELD/takeover) */
    uint8_t addr[16];
    struct tpeer *displaced; /* the holder the address was taken from, or NULL */
    bool same_node;          /* displaced has the announcer's node key: that node restarted */
    bool same_ip;            /* plaintext: displaced spoke from the announcer's IP address */
    bool own;                /* FOREIGN: the address is the server's own */
    uint8_t prefix;          /* the announced prefix length of that family */
    struct tpeer *holder;    /* HELD: the live peer that holds the address */
};

/* A peer announced its addresses at now_ms. A client takes the server's word, and a member's
 * only when it is what the server vouched for (else FOREIGN); a server
 * admits only addresses of its own prefixes that no other live peer holds. Addresses belong to
 * node keys: a holder with the announcer's node key is the same node, restarted, and gives the
 * address up at once; one with another key keeps it while it is live (heard from within
 * silent_ms). Without node keys (plaintext) silence frees an address, and a holder at the
 * announcer's IP address (a client restarted on a new UDP port) gives it up once it has sent
 * nothing for POLICY_SAME_IP_SILENT_MS. */
#define POLICY_SAME_IP_SILENT_MS 1000u
enum policy_announce policy_announce(struct policy *p, struct tpeer *from, const struct announce *a,
                                     uint64_t now_ms, struct policy_ann_result *res);

enum policy_rx {
    POLICY_RX_DELIVER,    /* to the TUN device */
    POLICY_RX_FORWARD,    /* server: to another peer (client to client) */
    POLICY_RX_SPOOFED,    /* the inner source is not the sender's own address */
    POLICY_RX_NO_ADDRESS, /* the sender has not announced an address yet */
    POLICY_RX_NO_ROUTE,   /* server: for a peer address nobody holds */
};

/* A packet received from peer from: may it enter, and where does it go (*to for FORWARD)?
 * Counts a spoofed source on the peer. A client takes anything from its server (its router)
 * and from a member only what comes from that member's own addresses. */
enum policy_rx policy_rx(struct policy *p, struct tpeer *from, const struct ippkt *ip,
                         struct tpeer **to);

enum policy_tx {
    POLICY_TX_SEND,        /* to *to */
    POLICY_TX_LOCAL_SCOPE, /* multicast, broadcast, link-local: this link only */
    POLICY_TX_NO_ROUTE,
};

/* A packet read from the TUN device at now_ms: which peer does it go to? A client sends to a
 * member straight while rph_remote_usable() says its path works, else through its server (which
 * forwards it); with the server gone, still to the member if it is up. */
/* Client, mesh: the member that holds ip's destination (dst) or source (!dst) address, or NULL.
 * For waking a quiet member when a packet for it or from it goes through the server. */
struct tpeer *policy_member_of(const struct policy *p, const struct ippkt *ip, bool dst);
enum policy_tx policy_tx(const struct policy *p, const struct ippkt *ip, uint64_t now_ms,
                         struct tpeer **to);

#endif
