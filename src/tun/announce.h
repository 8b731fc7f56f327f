/* SPDX-License-Identifier: MIT */
/* The tunnel's one control message, carried in ruphin Data: a peer announces its overlay
 * addresses. IP packets start with version nibble 4 or 6; this starts with byte 0x01. */
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

#endif
