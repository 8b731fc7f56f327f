/* SPDX-License-Identifier: MIT */
/* The transport AEAD on OpenSSL 3's EVP_chacha20_poly1305 (aead_openssl.c), one of the
 * implementations aead.c chooses from. Same contracts as rph_aead_seal and rph_aead_open. */
#ifndef RUPHIN_AEAD_OPENSSL_H
#define RUPHIN_AEAD_OPENSSL_H

#include <stddef.h>
#include <stdint.h>

/* Sets up the calling thread's cipher contexts: 0, RPH_E_NOTSUP (built without OpenSSL) or
 * RPH_E_CRYPTO. Seal and open do it themselves on first use; this reports a failure early. */
int rph_aead_openssl_ready(void);
int rph_aead_openssl_seal(uint8_t *c, uint8_t tag[16], const uint8_t *m, size_t mlen,
                          const uint8_t *ad, size_t adlen, const uint8_t nonce[12],
                          const uint8_t key[32]);
int rph_aead_openssl_open(uint8_t *m, const uint8_t *c, size_t clen, const uint8_t tag[16],
                          const uint8_t *ad, size_t adlen, const uint8_t nonce[12],
                          const uint8_t key[32]);

#endif
