// SPDX-License-Identifier: MIT
// Attacks on holepuncherd for tests/e2e/test_attacks_holepuncher.sh (linked into rph_attack).
#ifndef RUPHIN_TOOLS_ATTACK_HOLEPUNCHER_H
#define RUPHIN_TOOLS_ATTACK_HOLEPUNCHER_H

#include <stddef.h>
#include <stdint.h>

/* rph_attack hpx ...: see attack_holepuncher.c. */
int cmd_hpx(int argc, char **argv);
/* For a sealed request in dg (n bytes) on a connected socket: sends it, and if holepuncherd
 * answers with HpCookie within a second, returns the request with the cookie added (124 bytes,
 * in dg); else n. As a peer does it: the attacker is a host that can receive. */
size_t hpx_with_cookie(int fd, uint8_t *dg, size_t n);

#endif
