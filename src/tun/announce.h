/* SPDX-License-Identifier: MIT */
/* The tunnel's control messages, carried in ruphin Data (sealed: Transport): a peer announces
 * its overlay addresses (0x01), says it stops (0x02), or a server gives its verdict on an
 * announced address (0x03). IP packets start with version nibble 4 or 6. */
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
    VERDICT_HELD = 1,    /* another live member holds the address */
    VERDICT_OUTSIDE = 2, /* outside the server's overlay subnet */
    VERDICT_SERVERS = 3, /* the server's own address */
    VERDICT_REASON_MAX = 3,
};

struct verdict {
    uint8_t reason; /* enum verdict_reason */
    uint8_t family; /* 4 or 6: the address the verdict is about */
    uint8_t prefix;
    uint8_t addr[16]; /* IPv4 in the first 4 bytes, the rest zero */
};

size_t verdict_encode(const struct verdict *v, uint8_t out[VERDICT_LEN]);
/* 0, or -1 when malformed (wrong size, version, reason, family, prefix, or non-zero padding). */
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

#endif
