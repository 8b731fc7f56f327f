// SPDX-License-Identifier: MIT
// Noise's SymmetricState with SHA-256: HASH is crypto_hash_sha256 and HKDF is built on
// crypto_auth_hmacsha256, since libsodium 1.0.18 has no crypto_kdf_hkdf.
#include <string.h>

#include "noise_priv.h"
#include "ruphin/error.h"

#ifdef RUPHIN_HAVE_SODIUM
#include <sodium.h>

#define HASHLEN RPH_NOISE_HASH_LEN

static void hmac(uint8_t out[HASHLEN], const uint8_t key[HASHLEN], const uint8_t *a, size_t alen,
                 const uint8_t *b, size_t blen)
{
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, key, HASHLEN);
    if (alen) crypto_auth_hmacsha256_update(&st, a, alen);
    if (blen) crypto_auth_hmacsha256_update(&st, b, blen);
    crypto_auth_hmacsha256_final(&st, out);
    sodium_memzero(&st, sizeof st);
}

/* HKDF(chaining_key, ikm, n) of the spec (section 4.3), for n = 2 or 3 (o3 NULL for 2). */
static void hkdf(const uint8_t ck[HASHLEN], const uint8_t *ikm, size_t ikm_len, uint8_t o1[HASHLEN],
                 uint8_t o2[HASHLEN], uint8_t *o3)
{
    uint8_t temp_key[HASHLEN];
    static const uint8_t one = 1, two = 2, three = 3;
    hmac(temp_key, ck, ikm, ikm_len, NULL, 0);
    hmac(o1, temp_key, &one, 1, NULL, 0);
    hmac(o2, temp_key, o1, HASHLEN, &two, 1);
    if (o3) hmac(o3, temp_key, o2, HASHLEN, &three, 1);
    sodium_memzero(temp_key, sizeof temp_key);
}

void noise_sym_init(struct rph_noise_symmetric *ss, const char *protocol_name)
{
    size_t n = strlen(protocol_name);
    memset(ss->h, 0, HASHLEN);
    if (n <= HASHLEN)
        memcpy(ss->h, protocol_name, n);
    else
        crypto_hash_sha256(ss->h, (const uint8_t *)protocol_name, n);
    memcpy(ss->ck, ss->h, HASHLEN);
    sodium_memzero(&ss->cs, sizeof ss->cs); /* InitializeKey(empty) */
}

static void hash2(uint8_t out[HASHLEN], const uint8_t h[HASHLEN], const uint8_t *data, size_t len)
{
    crypto_hash_sha256_state st;
    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, h, HASHLEN);
    crypto_hash_sha256_update(&st, data, len);
    crypto_hash_sha256_final(&st, out);
    sodium_memzero(&st, sizeof st);
}

void noise_mix_hash(struct rph_noise_symmetric *ss, const uint8_t *data, size_t len)
{
    hash2(ss->h, ss->h, data, len);
}

void noise_mix_key(struct rph_noise_symmetric *ss, const uint8_t ikm[32])
{
    uint8_t k[HASHLEN];
    hkdf(ss->ck, ikm, 32, ss->ck, k, NULL);
    rph_noise_cipher_init(&ss->cs, k);
    sodium_memzero(k, sizeof k);
}

void noise_mix_key_and_hash(struct rph_noise_symmetric *ss, const uint8_t ikm[32])
{
    uint8_t temp_h[HASHLEN], k[HASHLEN];
    hkdf(ss->ck, ikm, 32, ss->ck, temp_h, k);
    noise_mix_hash(ss, temp_h, HASHLEN);
    rph_noise_cipher_init(&ss->cs, k);
    sodium_memzero(temp_h, sizeof temp_h);
    sodium_memzero(k, sizeof k);
}

int noise_encrypt_and_hash(struct rph_noise_symmetric *ss, const uint8_t *in, size_t len,
                           uint8_t *out, size_t cap)
{
    int n = rph_noise_encrypt(&ss->cs, ss->h, HASHLEN, in, len, out, cap);
    if (n < 0) return n;
    noise_mix_hash(ss, out, (size_t)n);
    return n;
}

int noise_decrypt_and_hash(struct rph_noise_symmetric *ss, const uint8_t *in, size_t len,
                           uint8_t *out, size_t cap)
{
    /* The next h is taken over the ciphertext before decryption may overwrite it in place. */
    uint8_t next_h[HASHLEN];
    hash2(next_h, ss->h, in, len);
    int n = rph_noise_decrypt(&ss->cs, ss->h, HASHLEN, in, len, out, cap);
    if (n >= 0) memcpy(ss->h, next_h, HASHLEN);
    return n;
}

void noise_split(const struct rph_noise_symmetric *ss, uint8_t k1[32], uint8_t k2[32])
{
    hkdf(ss->ck, NULL, 0, k1, k2, NULL);
}

#endif
