/* SPDX-License-Identifier: MIT */
/* Sliding-window replay check for transport counters, in the style of RFC 6479. */
#ifndef RUPHIN_REPLAY_H
#define RUPHIN_REPLAY_H

#include <stdbool.h>
#include <stdint.h>

/* Counters up to RPH_REPLAY_WINDOW behind the highest seen are still accepted once. */
#define RPH_REPLAY_WORDS 64
#define RPH_REPLAY_WINDOW ((RPH_REPLAY_WORDS - 1) * 64)

struct rph_replay {
    uint64_t top; /* highest counter accepted + 1; 0 = none yet */
    uint64_t bits[RPH_REPLAY_WORDS];
};

void rph_replay_init(struct rph_replay *r);
/* Would counter be accepted? (No change; check before the costly decryption.) */
bool rph_replay_check(const struct rph_replay *r, uint64_t counter);
/* Marks counter as seen; call only after the packet authenticated. false if it was a replay. */
bool rph_replay_update(struct rph_replay *r, uint64_t counter);

#endif
