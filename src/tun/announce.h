/* SPDX-License-Identifier: MIT */
/* The tunnel's control messages, carried in ruphin Data (sealed: Transport): a peer announces
 * its overlay addresses (0x01), says it stops (0x02), a server gives its verdict on an
 * announced address (0x03) or assigns one (0x04), a member says its name (0x05), a server
 * lists another member to a client (0x06). IP packets start with version nibble 4 or 6. */
#ifndef RUPHIN_TUN_ANNOUNCE_H
#define RUPHIN_TUN_ANNOUNCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ANNOUNCE_TAG 0x01
#define ANNOUNCE_VERSION 1
#define ANNOUNCE_LEN 25

struct announce {
    bool has4, has6;
    uint8_t addr4[4];
    uint8_t prefix4;
    uint8_t addr6[16];
    uint8_t prefix6;
};

size_t announce_encode(const struct announce *a, uint8_t out[ANNOUNCE_LEN]);
/* 0, or -1 when malformed (wrong size, version, flags or prefix). */
int announce_decode(const uint8_t *buf, size_t len, struct announce *out);

/* The server's verdict on a client's announcement, tag 0x03 (docs/PROTOCOL.md): reason 0 says
 * the announcement was accepted (traffic from that address enters the network), any other why
 * it was refused. A client learns from it whether it is really up; an old client drops it as a
 * malformed packet and works as before. */
#define VERDICT_TAG 0x03
#define VERDICT_VERSION 1
#define VERDICT_LEN 21

enum verdict_reason {
    VERDICT_ACCEPTED = 0,
    VERDICT_HELD = 1,     /* another live member holds the address */
    VERDICT_OUTSIDE = 2,  /* outside the server's overlay subnet */
    VERDICT_SERVERS = 3,  /* the server's own address */
    VERDICT_ASSIGNED = 4, /* assigned to another member (automatic addresses); only to a peer
                             that sent a name, which knows this reason */
    VERDICT_REASON_MAX = 4,
};

/* A verdict may name the member that holds the address: a length byte (1..63) and that many
 * bytes of its name after the 21 bytes. Only sent to a peer that sent a name (tag 0x05): an
 * older one takes exactly 21 bytes. */
#define VERDICT_MAX_LEN (VERDICT_LEN + 1 + 63)

struct verdict {
    uint8_t reason; /* enum verdict_reason */
    uint8_t family; /* 4 or 6: the address the verdict is about */
    uint8_t prefix;
    uint8_t addr[16]; /* IPv4 in the first 4 bytes, the rest zero */
    char holder[64];  /* the holding member's name, "" when not named */
};

/* VERDICT_LEN, or more with the holder's name. */
/* out has room for VERDICT_MAX_LEN bytes. */
size_t verdict_encode(const struct verdict *v, uint8_t *out);
/* 0, or -1 when malformed (wrong size, version, reason, family, prefix, non-zero padding, or a
 * holder name that is not a valid name). */
int verdict_decode(const uint8_t *buf, size_t len, struct verdict *out);
/* "accepted", "held by another member", ... for logs and the status report. */
const char *verdict_reason_str(uint8_t reason);

/* Goodbye: the sender is stopping (SIGTERM/SIGINT), so the receiver frees what it holds for
 * it at once instead of after peer_timeout. Two bytes: tag 0x02, version 1. */
#define GOODBYE_TAG 0x02
#define GOODBYE_VERSION 1
#define GOODBYE_LEN 2

size_t goodbye_encode(uint8_t out[GOODBYE_LEN]);
/* 0, or -1 when malformed (anything but exactly tag 0x02, version 1). */
int goodbye_decode(const uint8_t *buf, size_t len);

/* Address assignment, tag 0x04, server -> client: the overlay addresses the server assigned
 * to the client's node key (automatic addresses). The 25-byte layout of the announcement with
 * tag 0x04; IPv4 is always there, prefixes are 1..32 and 1..128. */
#define ASSIGN_TAG 0x04
#define ASSIGN_VERSION 1
#define ASSIGN_LEN 25

size_t assign_encode(const struct announce *a, uint8_t out[ASSIGN_LEN]);
/* 0, or -1 when malformed (wrong size, version or flags, no IPv4, a prefix of 0 or too long,
 * non-zero fields of an absent IPv6). */
int assign_decode(const uint8_t *buf, size_t len, struct announce *out);

/* A member's name, tag 0x05: tag, version 1, flags, length (1..63), the name (a DNS label,
 * name.h). Flags: NAME_WANT_ADDRESS (client -> server: assign me addresses), NAME_GRANTED
 * (server -> client: the name the server gave you, maybe with a suffix); none: "my name". */
#define NAME_TAG 0x05
#define NAME_VERSION 1
#define NAME_HDR_LEN 4
#define NAME_MAX_LEN (NAME_HDR_LEN + 63)
#define NAME_WANT_ADDRESS 0x01
#define NAME_GRANTED 0x02

struct name_msg {
    uint8_t flags;
    char name[64];
};

size_t name_msg_encode(const struct name_msg *m, uint8_t out[NAME_MAX_LEN]);
/* 0, or -1 when malformed (size, version, unknown or both flags, a length that is not the rest
 * of the payload, or not a valid name). */
int name_msg_decode(const uint8_t *buf, size_t len, struct name_msg *out);

/* A member of the session, tag 0x06, server -> a client that sent a name: another member the
 * server knows (name, overlay addresses, node key), so every member can list (and later
 * resolve) every other. Layout: tag, version 1, flags (bit 0 IPv4, bit 1 IPv6, bit 2 node
 * key, bit 3 left), prefix4, addr4[4], prefix6, addr6[16], node key[32], length n (1..63),
 * name[n]; the fields of an absent part are zero. "Left" (no addresses then): the member has
 * left the session (its goodbye, or silence past peer_timeout), forget it; older clients
 * drop such an entry as malformed and forget the member at the end of its listing window. */
#define MEMBER_TAG 0x06
#define MEMBER_VERSION 1
#define MEMBER_HDR_LEN 58
#define MEMBER_MAX_LEN (MEMBER_HDR_LEN + 63)
#define MEMBER_HAS_KEY 0x04
#define MEMBER_LEFT 0x08

struct member_msg {
    struct announce addrs; /* has4/has6 and the addresses with their prefixes */
    bool has_key;
    bool left;
    uint8_t pk[32];
    char name[64];
};

size_t member_msg_encode(const struct member_msg *m, uint8_t out[MEMBER_MAX_LEN]);
/* 0, or -1 when malformed (size, version, flags, a prefix too long, non-zero fields of an
 * absent part, addresses of a member that left, a length that is not the rest, not a valid
 * name). */
int member_msg_decode(const uint8_t *buf, size_t len, struct member_msg *out);

#endif
