// SPDX-License-Identifier: MIT
// RFC 6479-style replay window: a ring of 64-bit words; moving forward clears whole words,
// so the cost per packet stays constant however far the counter jumps.
#include "ruphin/replay.h"

#include <string.h>

#define WORD_BITS 64u
#define RING_MASK (RPH_REPLAY_WORDS - 1)

void rph_replay_init(struct rph_replay *r)
{
    memset(r, 0, sizeof *r);
}

bool rph_replay_check(const struct rph_replay *r, uint64_t c)
{
    if (c == UINT64_MAX) return false; /* keeps top = c + 1 from wrapping */
    if (c >= r->top) return true;
    if (r->top - 1 - c >= RPH_REPLAY_WINDOW) return false;
    uint64_t w = (c / WORD_BITS) & RING_MASK;
    return !(r->bits[w] & (1ull << (c % WORD_BITS)));
}

bool rph_replay_update(struct rph_replay *r, uint64_t c)
{
    if (!rph_replay_check(r, c)) return false;
    if (c >= r->top) {
        /* Clear the words between the old top and c: counters there were never seen. */
        uint64_t old_word = r->top ? (r->top - 1) / WORD_BITS : 0;
        uint64_t new_word = c / WORD_BITS;
        if (r->top == 0) {
            memset(r->bits, 0, sizeof r->bits);
        } else if (new_word > old_word) {
            uint64_t n = new_word - old_word;
            if (n > RPH_REPLAY_WORDS) n = RPH_REPLAY_WORDS;
            for (uint64_t i = 1; i <= n; i++)
                r->bits[(old_word + i) & RING_MASK] = 0;
        }
        r->top = c + 1;
    }
    r->bits[(c / WORD_BITS) & RING_MASK] |= 1ull << (c % WORD_BITS);
    return true;
}
