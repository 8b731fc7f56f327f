// SPDX-License-Identifier: MIT
// The transport AEAD: RFC 8439 ChaCha20-Poly1305 with the cipher from chacha20.c where the CPU
// has AVX-512, libsodium's otherwise. Both give the same bytes (tests/test_aead.c checks the RFC
// vector and random inputs across both), so peers never need to agree on which one runs.
#include "ruphin/aead.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "chacha20.h"
#include "ruphin/error.h"
#include "ruphin/seal.h"

#ifdef RUPHIN_HAVE_SODIUM
#include <sodium.h>

/* 0 = not chosen yet (an enum rph_aead_impl otherwise). Read per packet, so relaxed: any
 * thread sees either 0 or a valid choice, and both choices give the same bytes. */
static atomic_int chosen;

static enum rph_aead_impl auto_choice(void)
{
    const char *env = getenv("RUPHIN_AEAD");
    return rph_chacha20_avx512_usable() && !(env && strcmp(env, "sodium") == 0) ? RPH_AEAD_AVX512
                                                                                : RPH_AEAD_SODIUM;
}

int rph_aead_select(enum rph_aead_impl impl)
{
    int r = rph_seal_init();
    if (r < 0) return r;
    if (impl == RPH_AEAD_AVX512 && !rph_chacha20_avx512_usable()) return RPH_E_NOTSUP;
    if (impl == RPH_AEAD_AUTO) impl = auto_choice();
    atomic_store_explicit(&chosen, (int)impl, memory_order_relaxed);
    return 0;
}

static enum rph_aead_impl impl(void)
{
    int c = atomic_load_explicit(&chosen, memory_order_relaxed);
    if (c) return (enum rph_aead_impl)c;
    /* The first use picks the default, unless a racing rph_aead_select got there first. */
    int none = 0;
    c = (int)auto_choice();
    if (!atomic_compare_exchange_strong(&chosen, &none, c)) c = none;
    return (enum rph_aead_impl)c;
}

const char *rph_aead_impl_name(void)
{
    return impl() == RPH_AEAD_AVX512 ? "avx512" : "sodium";
}

static const uint8_t zeros[16];

/* RFC 8439 section 2.8: Poly1305 over ad || pad16 || c || pad16 || le64(adlen) || le64(clen). */
static void poly_tag(uint8_t tag[16], const uint8_t otk[32], const uint8_t *ad, size_t adlen,
                     const uint8_t *c, size_t clen)
{
    crypto_onetimeauth_poly1305_state st;
    crypto_onetimeauth_poly1305_init(&st, otk);
    crypto_onetimeauth_poly1305_update(&st, ad, adlen);
    crypto_onetimeauth_poly1305_update(&st, zeros, (16 - adlen % 16) % 16);
    crypto_onetimeauth_poly1305_update(&st, c, clen);
    crypto_onetimeauth_poly1305_update(&st, zeros, (16 - clen % 16) % 16);
    uint8_t lens[16];
    for (int i = 0; i < 8; i++) {
        lens[i] = (uint8_t)((uint64_t)adlen >> (8 * i));
        lens[8 + i] = (uint8_t)((uint64_t)clen >> (8 * i));
    }
    crypto_onetimeauth_poly1305_update(&st, lens, sizeof lens);
    crypto_onetimeauth_poly1305_final(&st, tag);
    sodium_memzero(&st, sizeof st);
}

void rph_aead_seal(uint8_t *c, uint8_t tag[16], const uint8_t *m, size_t mlen, const uint8_t *ad,
                   size_t adlen, const uint8_t nonce[12], const uint8_t key[32])
{
    if (impl() == RPH_AEAD_SODIUM) {
        crypto_aead_chacha20poly1305_ietf_encrypt_detached(c, tag, NULL, m, mlen, ad, adlen, NULL,
                                                           nonce, key);
        return;
    }
    uint8_t block0[64];
    rph_chacha20_xor_avx512(c, m, mlen, key, nonce, 1, block0);
    poly_tag(tag, block0, ad, adlen, c, mlen);
    sodium_memzero(block0, sizeof block0);
}

int rph_aead_open(uint8_t *m, const uint8_t *c, size_t clen, const uint8_t tag[16],
                  const uint8_t *ad, size_t adlen, const uint8_t nonce[12], const uint8_t key[32])
{
    if (impl() == RPH_AEAD_SODIUM)
        return crypto_aead_chacha20poly1305_ietf_decrypt_detached(m, NULL, c, clen, tag, ad, adlen,
                                                                  nonce, key) == 0
                   ? 0
                   : RPH_E_AUTH;
    /* Nothing is decrypted before the tag verifies. A packet-sized keystream is made in one
     * pass into a scratch buffer (with the Poly1305 key block); a bigger one takes the key
     * block alone first, which costs as much as computing 23 blocks at once. */
    uint8_t block0[64], want[16];
    uint8_t ks[2048];
    bool whole = clen <= sizeof ks;
    if (whole) {
        memset(ks, 0, clen);
        rph_chacha20_xor_avx512(ks, ks, clen, key, nonce, 1, block0);
    } else {
        crypto_stream_chacha20_ietf(block0, sizeof block0, nonce, key);
    }
    poly_tag(want, block0, ad, adlen, c, clen);
    sodium_memzero(block0, sizeof block0);
    int ok = crypto_verify_16(want, tag) == 0;
    if (ok && whole) {
        for (size_t i = 0; i < clen; i++)
            m[i] = c[i] ^ ks[i];
    } else if (ok) {
        rph_chacha20_xor_avx512(m, c, clen, key, nonce, 1, NULL);
    }
    if (whole) sodium_memzero(ks, clen);
    return ok ? 0 : RPH_E_AUTH;
}

#else /* no libsodium: sealing is not built, and nothing calls these */

int rph_aead_select(enum rph_aead_impl impl)
{
    (void)impl;
    return RPH_E_NOTSUP;
}
const char *rph_aead_impl_name(void)
{
    return "none";
}
void rph_aead_seal(uint8_t *c, uint8_t tag[16], const uint8_t *m, size_t mlen, const uint8_t *ad,
                   size_t adlen, const uint8_t nonce[12], const uint8_t key[32])
{
    (void)c, (void)tag, (void)m, (void)mlen, (void)ad, (void)adlen, (void)nonce, (void)key;
}
int rph_aead_open(uint8_t *m, const uint8_t *c, size_t clen, const uint8_t tag[16],
                  const uint8_t *ad, size_t adlen, const uint8_t nonce[12], const uint8_t key[32])
{
    (void)m, (void)c, (void)clen, (void)tag, (void)ad, (void)adlen, (void)nonce, (void)key;
    return RPH_E_NOTSUP;
}

#endif
