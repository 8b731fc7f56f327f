/* SPDX-License-Identifier: MIT */
/* Sealed transport keys of one remote: current, previous and next keypair, their rotation and
 * expiry. Whatever handshake made them, the transport only sees keypairs. */
#ifndef RUPHIN_CORE_SEAL_KEYRING_H
#define RUPHIN_CORE_SEAL_KEYRING_H

#include <stdbool.h>
#include <stdint.h>

#include "ruphin/seal.h"

enum { KP_CUR = 0, KP_PREV = 1, KP_NEXT = 2 };

struct keyring {
    /* current, previous (packets in flight across a rekey), next (responder: made, but no
     * packet under it has arrived yet, so the initiator may not have it) */
    struct rph_keypair kp[3];
};

/* Confirmed keys become current, the current ones previous; *kp is wiped. */
void keyring_install(struct keyring *kr, struct rph_keypair *kp);
/* The keypair whose local index is index: KP_CUR, KP_PREV, KP_NEXT, or -1. */
int keyring_find(const struct keyring *kr, uint32_t index);
/* Wipes keys older than lifetime_ms. */
void keyring_expire(struct keyring *kr, uint64_t now_ms, uint64_t lifetime_ms);
/* Whether the current keys have sealed so much that the initiator should rekey now. */
bool keyring_worn(const struct keyring *kr);

#endif
