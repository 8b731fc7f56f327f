/* SPDX-License-Identifier: MIT */
/* The relay of sealed sessions through holepuncherd: the RelayData wire format (docs/PROTOCOL.md
 * "Relay"), the peer-side wrap/unwrap helpers (pure, no socket) and the relay's counters. */
#ifndef RUPHIN_RELAY_H
#define RUPHIN_RELAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ruphin/addr.h"
#include "ruphin/wire.h"

/* Message type 22: not in the Rust crate, sealed sessions only. */
#define RPH_RELAY_DATA 22
/* The sealed wire session ID, BLAKE2b-160 of the session's public key: always 20 bytes. */
#define RPH_RELAY_SESSION_LEN 20
/* header[4] session[20] cookie[16] family[1] address[16] port[2], then the payload */
#define RPH_RELAY_OFF_SESSION 4
#define RPH_RELAY_OFF_COOKIE 24
#define RPH_RELAY_OFF_FAMILY 40
#define RPH_RELAY_OFF_ADDR 41
#define RPH_RELAY_OFF_PORT 57
#define RPH_RELAY_HEADER_LEN 59
/* The payload is a whole ruphin datagram: at least its 4-byte header. */
#define RPH_RELAY_PAYLOAD_MIN RPH_HEADER_LEN
#define RPH_RELAY_PAYLOAD_MAX (RPH_DATAGRAM_MAX - RPH_RELAY_HEADER_LEN)

/* A decoded RelayData. Member -> holepuncher: peer is the destination and cookie the sender's
 * HpCookie for its own endpoint. Holepuncher -> member: peer is the source, cookie all zero. */
struct rph_relay_msg {
    struct rph_session session;
    uint8_t cookie[RPH_COOKIE_LEN];
    struct rph_addr peer;
    const uint8_t *payload; /* into the buffer */
    size_t payload_len;
};

/* Whether buf is a RelayData by its header (type 22, and a length field equal to len; nothing
 * else checked): the cheap test the holepuncher's receive loop makes before the relay's own
 * checks. A datagram whose length lies goes to the ordinary decoder, counted as malformed. */
bool rph_relay_is(const uint8_t *buf, size_t len);
/* Strict decode: 0, or RPH_E_SHORT (under the header), RPH_E_LENGTH (length field differs from
 * the datagram), RPH_E_TYPE (not type 22), RPH_E_SIZE (payload under 4 bytes), RPH_E_FAMILY
 * (family neither 4 nor 6), RPH_E_INVALID (port 0, or an IPv4 address whose 12 unused bytes
 * are not zero). The payload is not read. */
int rph_relay_decode(const uint8_t *buf, size_t len, struct rph_relay_msg *out);
/* Writes the RelayData header for m (its payload fields ignored) into buf[0..59) in front of a
 * payload of payload_len bytes already in place at buf + RPH_RELAY_HEADER_LEN. Returns the
 * datagram's length, RPH_E_TOOBIG over RPH_RELAY_PAYLOAD_MAX, RPH_E_SIZE under
 * RPH_RELAY_PAYLOAD_MIN, RPH_E_SESSION_LEN for a session ID that is not 20 bytes,
 * RPH_E_FAMILY / RPH_E_INVALID for an endpoint the decoder would refuse. */
int rph_relay_put_header(const struct rph_relay_msg *m, uint8_t *buf, size_t payload_len);

/* Peer side (the next phase's ruphin-tund): wraps the sealed datagram of payload_len bytes
 * at buf + RPH_RELAY_HEADER_LEN for dst, with this peer's cookie from the holepuncher (the
 * HpCookie of its last accepted SealedRegister/SealedJoin). cap is buf's size. The payload must
 * be a sealed datagram (Transport or a handshake message, checked like unwrap does).
 * Returns the datagram's length or a negative code as rph_relay_put_header, RPH_E_NOSPACE. */
int rph_relay_wrap(uint8_t *buf, size_t cap, const struct rph_session *session,
                   const uint8_t cookie[RPH_COOKIE_LEN], const struct rph_addr *dst,
                   size_t payload_len);
/* Peer side: a RelayData the holepuncher forwarded, for session: 0 with *src the member that
 * sent it and *payload and *payload_len the sealed datagram inside buf; or why it is refused:
 * any rph_relay_decode error, RPH_E_SESSION_MISMATCH (another session), RPH_E_UNEXPECTED (a
 * cookie field that is not zero: only a member's request carries one), or the payload's own
 * decode error / RPH_E_UNEXPECTED when it is not a sealed datagram (Transport, handshake). */
int rph_relay_unwrap(const uint8_t *buf, size_t len, const struct rph_session *session,
                     struct rph_addr *src, const uint8_t **payload, size_t *payload_len);

/* The relay's counters (holepuncherd's stop line). Datagrams and bytes are RelayData's as
 * received, whole: a forwarded one leaves with the same size. */
struct rph_relay_stats {
    uint64_t relayed, relayed_bytes; /* forwarded */
    uint64_t disabled;               /* RelayData while the relay is off */
    uint64_t malformed;              /* RelayData that failed rph_relay_decode */
    uint64_t not_member;             /* the source is no member of the session (or spoofed:
                                      * its cookie is not the one it proved with) */
    uint64_t bad_destination;        /* the destination is no member of that session */
    uint64_t rate_limited;           /* over the session's max_kbps_per_session */
    uint64_t rate_limited_bytes;     /* ... and their bytes */
    uint64_t refused_full;           /* a new relayed session beyond max_sessions */
    uint64_t members_added;          /* proofs that made an endpoint a member (or refreshed) */
    uint64_t members_full;           /* proofs not recorded: the member table is full */
    uint64_t sessions_started, sessions_ended;
};

/* A relayed session that ended (idle for the session TTL), with what it relayed. */
struct rph_relay_session_end {
    const struct rph_session *session;
    uint64_t relayed, relayed_bytes, rate_limited;
};
typedef void (*rph_relay_end_fn)(void *ctx, const struct rph_relay_session_end *e);

#endif
