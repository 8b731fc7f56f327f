// SPDX-License-Identifier: MIT
// The transport AEAD: RFC 8439 ChaCha20-Poly1305 by libsodium, by OpenSSL 3 (aead_openssl.c), or
// with the cipher from chacha20.c where the CPU has AVX-512. All give the same bytes
// (tests/test_aead.c checks the RFC vectors and random inputs across them), so peers never need
// to agree on which one runs.
#include "ruphin/aead.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "aead_openssl.h"
#include "chacha20.h"
#include "ruphin/error.h"

#ifdef RUPHIN_HAVE_SODIUM
#include <sodium.h>

/* 0 = not chosen yet (an enum rph_aead_impl otherwise). Read per packet, so relaxed: any
 * thread sees either 0 or a valid choice, and all choices give the same bytes. */
static atomic_int chosen;

static void choose(enum rph_aead_impl impl)
{
    atomic_store_explicit(&chosen, (int)impl, memory_order_relaxed);
}

static int impl_parse(const char *name, enum rph_aead_impl *out)
{
    static const struct {
        const char *name;
        enum rph_aead_impl impl;
    } names[] = {{"", RPH_AEAD_AUTO},
                 {"auto", RPH_AEAD_AUTO},
                 {"sodium", RPH_AEAD_SODIUM},
                 {"avx512", RPH_AEAD_AVX512},
                 {"openssl", RPH_AEAD_OPENSSL}};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (strcmp(name, names[i].name) == 0) {
            *out = names[i].impl;
            return 0;
        }
    }
    return RPH_E_INVALID;
}

/* 0 when impl can run in this process (AUTO is not asked here). */
static int can_run(enum rph_aead_impl impl)
{
    switch (impl) {
    case RPH_AEAD_SODIUM:
        return 0;
    case RPH_AEAD_AVX512:
        return rph_chacha20_avx512_usable() ? 0 : RPH_E_NOTSUP;
    case RPH_AEAD_OPENSSL:
        return rph_aead_openssl_ready();
    default:
        return RPH_E_INVALID;
    }
}

int rph_aead_select(enum rph_aead_impl want)
{
    /* sodium_init directly: rph_seal_init asks for the default choice, which comes here. */
    if (sodium_init() < 0) return -ENOMEM;
    if (want != RPH_AEAD_AUTO) {
        int r = can_run(want);
        if (r == 0) choose(want);
        return r;
    }
    /* The default stays what it was before OpenSSL was an option; which one the tunnel should
     * use is measured by bench/tunnel.sh (docs/SECURITY.md, "Transport"). */
    enum rph_aead_impl def = rph_chacha20_avx512_usable() ? RPH_AEAD_AVX512 : RPH_AEAD_SODIUM;
    const char *env = getenv("RUPHIN_AEAD");
    enum rph_aead_impl named = RPH_AEAD_AUTO;
    int r = env ? impl_parse(env, &named) : 0;
    if (r == 0 && named != RPH_AEAD_AUTO) r = can_run(named);
    /* A name that cannot run still leaves a working choice behind: callers that ignore the
     * error (the library's own) keep sealing; the daemons refuse to start on it. */
    if (r < 0) {
        choose(def);
        return r == RPH_E_INVALID ? RPH_E_NOTSUP : r;
    }
    choose(named != RPH_AEAD_AUTO ? named : def);
    return 0;
}

static enum rph_aead_impl impl(void)
{
    int c = atomic_load_explicit(&chosen, memory_order_relaxed);
    if (c) return (enum rph_aead_impl)c;
    rph_aead_select(RPH_AEAD_AUTO); /* the first use picks the default (or RUPHIN_AEAD's) */
    return (enum rph_aead_impl)atomic_load_explicit(&chosen, memory_order_relaxed);
}

const char *rph_aead_impl_name(void)
{
    switch (impl()) {
    case RPH_AEAD_AVX512:
        return "avx512";
    case RPH_AEAD_OPENSSL:
        return "openssl";
    default:
        return "sodium";
    }
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

int rph_aead_seal(uint8_t *c, uint8_t tag[16], const uint8_t *m, size_t mlen, const uint8_t *ad,
                  size_t adlen, const uint8_t nonce[12], const uint8_t key[32])
{
    if ((uint64_t)mlen > RPH_AEAD_MAX_MSG) return RPH_E_TOOBIG;
    switch (impl()) {
    case RPH_AEAD_SODIUM:
        crypto_aead_chacha20poly1305_ietf_encrypt_detached(c, tag, NULL, m, mlen, ad, adlen, NULL,
                                                           nonce, key);
        return 0;
    case RPH_AEAD_OPENSSL:
        return rph_aead_openssl_seal(c, tag, m, mlen, ad, adlen, nonce, key);
    default:
        break;
    }
    uint8_t block0[64];
    /* From counter 1 a message within RPH_AEAD_MAX_MSG never reaches the wrap; the check is
     * the cipher's own. */
    int r = rph_chacha20_xor_avx512(c, m, mlen, key, nonce, 1, block0);
    if (r < 0) return r;
    poly_tag(tag, block0, ad, adlen, c, mlen);
    sodium_memzero(block0, sizeof block0);
    return 0;
}

int rph_aead_open(uint8_t *m, const uint8_t *c, size_t clen, const uint8_t tag[16],
                  const uint8_t *ad, size_t adlen, const uint8_t nonce[12], const uint8_t key[32])
{
    if ((uint64_t)clen > RPH_AEAD_MAX_MSG) return RPH_E_TOOBIG;
    switch (impl()) {
    case RPH_AEAD_SODIUM:
        return crypto_aead_chacha20poly1305_ietf_decrypt_detached(m, NULL, c, clen, tag, ad, adlen,
                                                                  nonce, key) == 0
                   ? 0
                   : RPH_E_AUTH;
    case RPH_AEAD_OPENSSL:
        return rph_aead_openssl_open(m, c, clen, tag, ad, adlen, nonce, key);
    default:
        break;
    }
    /* Nothing is decrypted before the tag verifies. A packet-sized keystream is made in one
     * pass into a scratch buffer (with the Poly1305 key block); a bigger one takes the key
     * block alone first, which costs as much as computing 23 blocks at once. */
    uint8_t block0[64], want[16];
    uint8_t ks[2048];
    bool whole = clen <= sizeof ks;
    int r = 0;
    if (whole) {
        memset(ks, 0, clen);
        r = rph_chacha20_xor_avx512(ks, ks, clen, key, nonce, 1, block0);
    } else {
        crypto_stream_chacha20_ietf(block0, sizeof block0, nonce, key);
    }
    if (r == 0) {
        poly_tag(want, block0, ad, adlen, c, clen);
        r = crypto_verify_16(want, tag) == 0 ? 0 : RPH_E_AUTH;
    }
    sodium_memzero(block0, sizeof block0);
    if (r == 0 && whole) {
        for (size_t i = 0; i < clen; i++)
            m[i] = c[i] ^ ks[i];
    } else if (r == 0) {
        /* refuses before writing anything, so m never holds half a message */
        r = rph_chacha20_xor_avx512(m, c, clen, key, nonce, 1, NULL);
    }
    if (whole) sodium_memzero(ks, clen);
    return r;
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
int rph_aead_seal(uint8_t *c, uint8_t tag[16], const uint8_t *m, size_t mlen, const uint8_t *ad,
                  size_t adlen, const uint8_t nonce[12], const uint8_t key[32])
{
    (void)c, (void)tag, (void)m, (void)mlen, (void)ad, (void)adlen, (void)nonce, (void)key;
    return RPH_E_NOTSUP;
}
int rph_aead_open(uint8_t *m, const uint8_t *c, size_t clen, const uint8_t tag[16],
                  const uint8_t *ad, size_t adlen, const uint8_t nonce[12], const uint8_t key[32])
{
    (void)m, (void)c, (void)clen, (void)tag, (void)ad, (void)adlen, (void)nonce, (void)key;
    return RPH_E_NOTSUP;
}

#endif
