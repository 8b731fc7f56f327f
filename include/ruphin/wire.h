/* SPDX-License-Identifier: MIT */
/* The ruphin wire codec, byte-compatible with the Rust crate (docs/PROTOCOL.md). */
#ifndef RUPHIN_WIRE_H
#define RUPHIN_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ruphin/addr.h"

#define RPH_HEADER_LEN 4
#define RPH_SESSION_MAX 20
#define RPH_DATAGRAM_MAX 65535
#define RPH_DATA_MAX (RPH_DATAGRAM_MAX - RPH_HEADER_LEN)
/* The largest message other than Data: an IPv6 PeerInfo. */
#define RPH_PEERINFO6_LEN 23

enum rph_type {
    RPH_LOCAL_INTERRUPT = 1,
    RPH_REGISTER = 2,
    RPH_JOIN = 3,
    RPH_PEER_INFO = 4,
    RPH_DATA = 5,
    RPH_REGISTER_ACK = 6,
    RPH_SESSION_NOT_FOUND = 7,
    RPH_HELLO_REQ = 8,
    RPH_HELLO_RESP = 9,
    /* Sealed mode (docs/SECURITY.md); not in the Rust crate. */
    RPH_SEALED_REGISTER = 10, /* owner: pk[32] ts[8] sig[64], or pk[32] ts[8] node[32] sig[64] */
    RPH_SEALED_JOIN = 11,     /* owner: pk[32] ts[8] sig[64] */
    /* 12 and 13 were a home-made handshake, retired: unknown types now. */
    RPH_TRANSPORT = 14,        /* tr: receiver[4] counter[8], then ciphertext + 16-byte tag */
    RPH_SEALED_PEER_INFO = 15, /* PeerInfo's body + the client's SealedJoin (to the server) */
    /* The Noise_XXpsk0 handshake (docs/PROTOCOL.md "Sealed mode"); data: the rest of the body */
    RPH_HANDSHAKE_INIT = 16,   /* hs: sender[4], then e[32] tag[16] mac2[16] */
    RPH_HANDSHAKE_RESP = 17,   /* hs: sender[4] receiver[4], then e[32] s[48] tag[16] */
    RPH_HANDSHAKE_FINISH = 18, /* hs: receiver[4], then s[48] timestamp[12 + 16] */
    RPH_COOKIE_REPLY = 19,     /* hs: receiver[4], then nonce[24] cookie[16 + 16] */
    RPH_HP_COOKIE = 20,        /* holepuncher -> peer: echo[8] cookie[16] (return routability) */
    /* holepuncher -> server: session[20] echo[8] holder: family[1] ip[16] port[2] */
    RPH_REGISTER_REFUSED = 21,
    /* 22 is RelayData (ruphin/relay.h), outside this codec. */
    RPH_TIMED_PEER_INFO = 23, /* holepuncher -> a timed client: PeerInfo's body + rtt[2] */
};

#define RPH_OWNER_LEN (RPH_HEADER_LEN + 32 + 8 + 64)
/* A SealedRegister/SealedJoin may carry the holepuncher's cookie after its signature. */
#define RPH_COOKIE_LEN 16
#define RPH_OWNER_COOKIE_LEN (RPH_OWNER_LEN + RPH_COOKIE_LEN)
/* A SealedRegister that names its node (a node ID under the signature, after ts): 140 bytes,
 * 156 with a cookie. The 108/124-byte forms stay valid: an "unknown node". */
#define RPH_NODE_ID_LEN 32
#define RPH_OWNER_NODE_LEN (RPH_OWNER_LEN + RPH_NODE_ID_LEN)
#define RPH_OWNER_NODE_COOKIE_LEN (RPH_OWNER_NODE_LEN + RPH_COOKIE_LEN)
/* Timed punching (docs/PROTOCOL.md "Timed punches"): a 2-byte round trip to the holepuncher in
 * ms, after everything else, in a SealedRegister/SealedJoin (the sender's), a SealedPeerInfo
 * (the client's) and a TimedPeerInfo (the server's). Not signed; 0 means unknown. */
#define RPH_RTT_LEN 2
/* The largest datagram the holepuncher sends: an IPv6 SealedPeerInfo with a round trip. */
#define RPH_HP_TX_MAX (RPH_PEERINFO6_LEN + RPH_OWNER_LEN + RPH_RTT_LEN)
/* RegisterRefused: a sealed session ID, the echo, the live holder's endpoint. 51 bytes. */
#define RPH_REGISTER_REFUSED_LEN (RPH_HEADER_LEN + RPH_SESSION_MAX + 8 + 1 + 16 + 2)
#define RPH_COOKIE_ECHO_LEN 8
#define RPH_HP_COOKIE_LEN (RPH_HEADER_LEN + RPH_COOKIE_ECHO_LEN + RPH_COOKIE_LEN)
#define RPH_HS_INIT_LEN (RPH_HEADER_LEN + 4 + 32 + 16 + 16)
#define RPH_HS_RESP_LEN (RPH_HEADER_LEN + 4 + 4 + 32 + 48 + 16)
#define RPH_HS_FINISH_LEN (RPH_HEADER_LEN + 4 + 48 + 12 + 16)
#define RPH_COOKIE_REPLY_LEN (RPH_HEADER_LEN + 4 + 24 + 16 + 16)
#define RPH_TRANSPORT_HEADER_LEN (RPH_HEADER_LEN + 4 + 8)
#define RPH_TAG_LEN 16
#define RPH_MAC_LEN 16

struct rph_session {
    uint8_t len;
    uint8_t id[RPH_SESSION_MAX];
};

struct rph_msg {
    enum rph_type type;
    struct rph_session session; /* Register, Join, RegisterAck, SessionNotFound, RegisterRefused */
    struct rph_addr peer;       /* PeerInfo; RegisterRefused: the server that holds the session */
    const uint8_t *data;        /* Data, Transport (ciphertext + tag): into the buffer */
    /* SealedRegister/SealedJoin/SealedPeerInfo: a round trip follows (the timed forms);
     * TimedPeerInfo always has one. */
    bool has_rtt;
    uint16_t rtt_ms;
    size_t data_len;
    struct {
        uint8_t pk[32];
        uint64_t ts_ms; /* UNIX time, milliseconds */
        uint8_t sig[64];
        bool has_cookie; /* a cookie follows the signature (124 or 156 bytes) */
        uint8_t cookie[RPH_COOKIE_LEN];
        bool has_node; /* SealedRegister of 140/156 bytes: node is signed, before sig */
        uint8_t node[RPH_NODE_ID_LEN];
    } owner; /* SealedRegister, SealedJoin */
    struct {
        uint8_t echo[RPH_COOKIE_ECHO_LEN]; /* the request's first 8 signature bytes */
        uint8_t cookie[RPH_COOKIE_LEN];
    } hpc; /* HpCookie; RegisterRefused uses echo only */
    struct {
        uint32_t sender, receiver; /* the indices the message has */
    } hs; /* HandshakeInit/Resp/Finish, CookieReply; data: the body after them */
    struct {
        uint32_t receiver;
        uint64_t counter;
    } tr; /* Transport */
};

/* Strict decode: 0, or a distinct RPH_E_* for each way a datagram can be malformed. */
int rph_wire_decode(const uint8_t *buf, size_t len, struct rph_msg *out);
/* Returns the number of bytes written, or RPH_E_NOSPACE / RPH_E_TOOBIG / RPH_E_INVALID. */
int rph_wire_encode(const struct rph_msg *m, uint8_t *buf, size_t cap);
/* Writes the Data header in front of a payload already in place at buf + 4. */
int rph_wire_put_data_header(uint8_t *buf, size_t payload_len);

int rph_session_set(struct rph_session *s, const void *id, size_t len);
int rph_session_equal(const struct rph_session *a, const struct rph_session *b);
const char *rph_type_name(int type);

#endif
