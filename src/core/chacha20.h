/* SPDX-License-Identifier: MIT */
/* ChaCha20 keystream on AVX-512 (chacha20.c), used by the transport AEAD (aead.c). */
#ifndef RUPHIN_CHACHA20_H
#define RUPHIN_CHACHA20_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* True when this CPU and OS run AVX-512F/VL code. */
bool rph_chacha20_avx512_usable(void);

/* out = in XOR ChaCha20(key, nonce) from block `counter` (RFC 8439, 32-bit counter, 96-bit
 * nonce); out may equal in. With block0, the keystream block `counter - 1` is also written
 * there (the AEAD's Poly1305 key), in the same pass. Returns 0, or RPH_E_TOOBIG with nothing
 * written when a block would pass counter 2^32 - 1 (the counter never wraps into a block used
 * before), RPH_E_INVALID for block0 with counter 0. Key words and keystream are wiped from the
 * stack and vector registers before it returns. Call only when rph_chacha20_avx512_usable. */
int rph_chacha20_xor_avx512(uint8_t *out, const uint8_t *in, size_t len, const uint8_t key[32],
                            const uint8_t nonce[12], uint32_t counter, uint8_t block0[64]);

#endif
