/* SPDX-License-Identifier: MIT */
/* Inside libruphin's Noise: the SymmetricState operations the handshake's token interpreter
 * (noise.c) is built from (noise_symmetric.c). */
#ifndef RUPHIN_NOISE_PRIV_H
#define RUPHIN_NOISE_PRIV_H

#include <stddef.h>
#include <stdint.h>

#include "ruphin/noise.h"

/* InitializeSymmetric(protocol_name). */
void noise_sym_init(struct rph_noise_symmetric *ss, const char *protocol_name);
/* h = HASH(h || data). */
void noise_mix_hash(struct rph_noise_symmetric *ss, const uint8_t *data, size_t len);
/* ck, k = HKDF(ck, ikm, 2); InitializeKey(k). */
void noise_mix_key(struct rph_noise_symmetric *ss, const uint8_t ikm[32]);
/* ck, temp_h, k = HKDF(ck, ikm, 3); MixHash(temp_h); InitializeKey(k). */
void noise_mix_key_and_hash(struct rph_noise_symmetric *ss, const uint8_t ikm[32]);
/* Ciphertext (len + 16 bytes with a key, len without) into out; returns its length. */
int noise_encrypt_and_hash(struct rph_noise_symmetric *ss, const uint8_t *in, size_t len,
                           uint8_t *out, size_t cap);
/* Plaintext into out; returns its length. On failure h is unchanged. */
int noise_decrypt_and_hash(struct rph_noise_symmetric *ss, const uint8_t *in, size_t len,
                           uint8_t *out, size_t cap);
/* k1, k2 = HKDF(ck, "", 2). */
void noise_split(const struct rph_noise_symmetric *ss, uint8_t k1[32], uint8_t k2[32]);

#endif
