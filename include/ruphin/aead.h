/* SPDX-License-Identifier: MIT */
/* ChaCha20-Poly1305 (RFC 8439, 96-bit nonce, detached 16-byte tag): the transport AEAD.
 * Byte-identical to libsodium's crypto_aead_chacha20poly1305_ietf_*_detached, which it uses
 * unless the CPU has AVX-512; then ChaCha20 is computed here and Poly1305 stays libsodium's. */
#ifndef RUPHIN_AEAD_H
#define RUPHIN_AEAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum rph_aead_impl {
    RPH_AEAD_AUTO = 0,   /* the fastest this CPU runs (the default) */
    RPH_AEAD_SODIUM = 1, /* libsodium's whole construction */
    RPH_AEAD_AVX512 = 2, /* AVX-512 ChaCha20 + libsodium's Poly1305 */
};

/* Picks the implementation for the process; RPH_AEAD_AVX512 on a CPU without it is
 * RPH_E_NOTSUP. The environment variable RUPHIN_AEAD=sodium does the same as
 * rph_aead_select(RPH_AEAD_SODIUM) at first use (for benchmarks and bug reports). */
int rph_aead_select(enum rph_aead_impl impl);
/* The implementation in use: "avx512" or "sodium". */
const char *rph_aead_impl_name(void);

/* c = Enc(m) (c may equal m), tag over (ad, c). */
void rph_aead_seal(uint8_t *c, uint8_t tag[16], const uint8_t *m, size_t mlen, const uint8_t *ad,
                   size_t adlen, const uint8_t nonce[12], const uint8_t key[32]);
/* Verifies the tag first; only then m = Dec(c) (m may equal c). 0, or RPH_E_AUTH with no
 * plaintext in m (libsodium zeroes it; the AVX-512 path leaves it as it was). */
int rph_aead_open(uint8_t *m, const uint8_t *c, size_t clen, const uint8_t tag[16],
                  const uint8_t *ad, size_t adlen, const uint8_t nonce[12], const uint8_t key[32]);

#endif
