/* SPDX-License-Identifier: MIT */
/* The tunnel's control messages, carried in ruphin Data: a peer announces its overlay
 * addresses (0x01), or says it stops (0x02). IP packets start with version nibble 4 or 6. */
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

/* Goodbye: the sender is stopping (SIGTERM/SIGINT), so the receiver frees what it holds for
 * it at once instead of after peer_timeout. Two bytes: tag 0x02, version 1. */
#define GOODBYE_TAG 0x02
#define GOODBYE_VERSION 1
#define GOODBYE_LEN 2

size_t goodbye_encode(uint8_t out[GOODBYE_LEN]);
/* 0, or -1 when malformed (anything but exactly tag 0x02, version 1). */
int goodbye_decode(const uint8_t *buf, size_t len);

#endif
