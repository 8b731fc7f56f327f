/* SPDX-License-Identifier: MIT */
/* ChaCha20-Poly1305 (RFC 8439, 96-bit nonce, detached 16-byte tag): the transport AEAD, with
 * three implementations that give the same bytes: libsodium's, OpenSSL 3's, and ruphin's own
 * AVX-512 ChaCha20 with libsodium's Poly1305. */
#ifndef RUPHIN_AEAD_H
#define RUPHIN_AEAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum rph_aead_impl {
    RPH_AEAD_AUTO = 0,    /* avx512 where the CPU has it, else sodium (the default) */
    RPH_AEAD_SODIUM = 1,  /* libsodium's whole construction */
    RPH_AEAD_AVX512 = 2,  /* AVX-512 ChaCha20 (src/core/chacha20.c) + libsodium's Poly1305 */
    RPH_AEAD_OPENSSL = 3, /* OpenSSL 3's EVP_chacha20_poly1305 */
};

/* The longest message one key and nonce can seal: RFC 8439's 32-bit block counter, less the
 * block that makes the Poly1305 key. Longer ones are refused with RPH_E_TOOBIG. */
#define RPH_AEAD_MAX_MSG (64 * (((uint64_t)1 << 32) - 1))

/* Picks the implementation for the process. One this build or CPU lacks is RPH_E_NOTSUP and
 * changes nothing; OpenSSL failing to set up is RPH_E_CRYPTO. RPH_AEAD_AUTO reads the
 * environment variable RUPHIN_AEAD first (for benchmarks and bug reports): "sodium", "avx512"
 * or "openssl" select that one, "" or "auto" the default; any other value, or one that cannot
 * run here, is RPH_E_NOTSUP with the default in use. */
int rph_aead_select(enum rph_aead_impl impl);
/* The implementation in use: "avx512", "sodium" or "openssl". */
const char *rph_aead_impl_name(void);

/* c = Enc(m) (c may equal m), tag over (ad, c). 0; RPH_E_TOOBIG past RPH_AEAD_MAX_MSG, or
 * RPH_E_CRYPTO if OpenSSL failed: then c and tag hold zeros, nothing to send. */
int rph_aead_seal(uint8_t *c, uint8_t tag[16], const uint8_t *m, size_t mlen, const uint8_t *ad,
                  size_t adlen, const uint8_t nonce[12], const uint8_t key[32]);
/* Verifies the tag before any plaintext is returned: 0 and m = Dec(c) (m may equal c), or an
 * error with no plaintext in m: RPH_E_AUTH for a wrong tag (libsodium and OpenSSL leave zeros
 * in m, the AVX-512 path leaves m as it was), RPH_E_TOOBIG, RPH_E_CRYPTO. */
int rph_aead_open(uint8_t *m, const uint8_t *c, size_t clen, const uint8_t tag[16],
                  const uint8_t *ad, size_t adlen, const uint8_t nonce[12], const uint8_t key[32]);

#endif
