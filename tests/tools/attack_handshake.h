/* SPDX-License-Identifier: MIT */
/* rph_attack's attacks on the sealed handshake (attack_handshake.c). */
#ifndef RUPHIN_TESTS_ATTACK_HANDSHAKE_H
#define RUPHIN_TESTS_ATTACK_HANDSHAKE_H

/* argv[0] "hs", argv[1] the mode; the exit status. */
int rph_attack_handshake(int argc, char **argv);

#endif
