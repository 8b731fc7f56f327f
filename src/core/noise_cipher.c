// SPDX-License-Identifier: MIT
// Noise's CipherState on libsodium's ChaCha20-Poly1305 (IETF): the nonce is 4 zero bytes and
// the counter n in 64-bit little-endian; n = 2^64-1 is reserved, so it is never used.
#include <string.h>

#include "ruphin/error.h"
#include "ruphin/noise.h"

#ifdef RUPHIN_HAVE_SODIUM
#include <sodium.h>

static void nonce_of(uint8_t nonce[12], uint64_t n)
{
    memset(nonce, 0, 4);
    for (int i = 0; i < 8; i++)
        nonce[4 + i] = (uint8_t)(n >> (8 * i));
}

void rph_noise_cipher_init(struct rph_noise_cipher *c, const uint8_t k[RPH_NOISE_KEY_LEN])
{
    memcpy(c->k, k, RPH_NOISE_KEY_LEN);
    c->n = 0;
    c->has_key = true;
}

void rph_noise_cipher_set_nonce(struct rph_noise_cipher *c, uint64_t n)
{
    c->n = n;
}

int rph_noise_encrypt(struct rph_noise_cipher *c, const uint8_t *ad, size_t ad_len,
                      const uint8_t *in, size_t len, uint8_t *out, size_t cap)
{
    size_t need = len + (c->has_key ? RPH_NOISE_TAG_LEN : 0);
    if (len > RPH_NOISE_MAX_MSG || need > RPH_NOISE_MAX_MSG) return RPH_E_TOOBIG;
    if (cap < need) return RPH_E_NOSPACE;
    if (!c->has_key) {
        memmove(out, in, len);
        return (int)len;
    }
    if (c->n == UINT64_MAX) return RPH_E_EXHAUSTED;
    uint8_t nonce[12];
    nonce_of(nonce, c->n);
    unsigned long long clen = 0;
    crypto_aead_chacha20poly1305_ietf_encrypt(out, &clen, in, len, ad, ad_len, NULL, nonce, c->k);
    c->n++;
    return (int)clen;
}

int rph_noise_decrypt(struct rph_noise_cipher *c, const uint8_t *ad, size_t ad_len,
                      const uint8_t *in, size_t len, uint8_t *out, size_t cap)
{
    if (len > RPH_NOISE_MAX_MSG) return RPH_E_SIZE;
    if (!c->has_key) {
        if (cap < len) return RPH_E_NOSPACE;
        memmove(out, in, len);
        return (int)len;
    }
    if (len < RPH_NOISE_TAG_LEN) return RPH_E_SIZE;
    if (cap < len - RPH_NOISE_TAG_LEN) return RPH_E_NOSPACE;
    if (c->n == UINT64_MAX) return RPH_E_EXHAUSTED;
    uint8_t nonce[12];
    nonce_of(nonce, c->n);
    unsigned long long mlen = 0;
    /* libsodium checks the tag before it writes any plaintext, and zeroes out on failure. */
    if (crypto_aead_chacha20poly1305_ietf_decrypt(out, &mlen, NULL, in, len, ad, ad_len, nonce,
                                                  c->k) != 0)
        return RPH_E_AUTH;
    c->n++;
    return (int)mlen;
}

#endif
