// SPDX-License-Identifier: MIT
// A remote's sealed transport keys: which keypair a packet's index names, and when a keypair
// moves from next to current to previous to gone.
#include "seal_keyring.h"

void keyring_install(struct keyring *kr, struct rph_keypair *kp)
{
    kr->kp[KP_PREV] = kr->kp[KP_CUR];
    kr->kp[KP_CUR] = *kp;
    kr->kp[KP_CUR].confirmed = true;
    rph_seal_wipe(kp, sizeof *kp);
}

int keyring_find(const struct keyring *kr, uint32_t index)
{
    for (int k = 0; k < 3; k++)
        if (kr->kp[k].valid && kr->kp[k].local_index == index) return k;
    return -1;
}

void keyring_expire(struct keyring *kr, uint64_t now_ms, uint64_t lifetime_ms)
{
    for (int k = 0; k < 3; k++)
        if (kr->kp[k].valid && now_ms - kr->kp[k].created_ms >= lifetime_ms)
            rph_seal_wipe(&kr->kp[k], sizeof kr->kp[k]);
}

bool keyring_worn(const struct keyring *kr)
{
    /* 2^48 packets under one key: far below nonce reuse. */
    return kr->kp[KP_CUR].send_counter >= (1ull << 48);
}
