// SPDX-License-Identifier: MIT
// The transport AEAD: the RFC 8439 vectors, and every implementation (AVX-512, OpenSSL) against
// libsodium's on random inputs of every length a packet can have, in place and not, tampering
// that must fail without releasing plaintext, OpenSSL failing, and the AVX-512 cipher's block
// counter at the 2^32 edge.
#include <criterion/criterion.h>
#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#ifdef RUPHIN_HAVE_OPENSSL
#include <dlfcn.h>
#include <openssl/evp.h>
#endif

#include "../src/core/chacha20.h"
#include "ruphin/aead.h"
#include "ruphin/error.h"
#include "ruphin/seal.h"

static void unhex(const char *h, uint8_t *out, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        cr_assert_eq(sscanf(h + 2 * i, "%2x", &v), 1);
        out[i] = (uint8_t)v;
    }
}

static const enum rph_aead_impl ALL[] = {RPH_AEAD_SODIUM, RPH_AEAD_AVX512, RPH_AEAD_OPENSSL};
#define N_ALL (sizeof ALL / sizeof ALL[0])

/* Whether this build and CPU should run impl: a refusal is checked, not assumed. */
static bool expect_usable(enum rph_aead_impl impl)
{
    switch (impl) {
    case RPH_AEAD_AVX512:
        return rph_chacha20_avx512_usable();
    case RPH_AEAD_OPENSSL:
#ifdef RUPHIN_HAVE_OPENSSL
        return true;
#else
        return false;
#endif
    default:
        return true;
    }
}

/* Selects impl; false (after checking the refusal) where it cannot run here. */
static bool use(enum rph_aead_impl impl)
{
    int r = rph_aead_select(impl);
    if (!expect_usable(impl)) {
        cr_assert_eq(r, RPH_E_NOTSUP, "impl %d: selecting it gave %d", (int)impl, r);
        return false;
    }
    cr_assert_eq(r, 0, "impl %d: %s", (int)impl, rph_strerror(r));
    return true;
}

static const char RFC_PT[] = "Ladies and Gentlemen of the class of '99: If I could offer you only "
                             "one tip for the future, sunscreen would be it.";
static const char RFC_CT[] = "d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d6"
                             "3dbea45e8ca9671282fafb69da92728b1a71de0a9e060b2905d6a5b67ecd3b36"
                             "92ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc"
                             "3ff4def08e4b7a9de576d26586cec64b6116";
static const char RFC_TAG[] = "1ae10b594f09e26a7e902ecbd0600691";

static void rfc_vector(enum rph_aead_impl impl, const char *name)
{
    cr_assert_eq(rph_seal_init(), 0);
    if (!use(impl)) {
        cr_log_warn("%s: not in this build or on this CPU: only the refusal is checked", name);
        return;
    }
    cr_assert_str_eq(rph_aead_impl_name(), name);
    uint8_t key[32], nonce[12], ad[12], ct[114], tag[16], buf[114], out_tag[16];
    for (int i = 0; i < 32; i++)
        key[i] = (uint8_t)(0x80 + i);
    unhex("070000004041424344454647", nonce, 12);
    unhex("50515253c0c1c2c3c4c5c6c7", ad, 12);
    unhex(RFC_CT, ct, sizeof ct);
    unhex(RFC_TAG, tag, sizeof tag);
    cr_assert_eq(strlen(RFC_PT), 114);
    memcpy(buf, RFC_PT, 114);
    cr_assert_eq(rph_aead_seal(buf, out_tag, buf, 114, ad, 12, nonce, key), 0);
    cr_assert_arr_eq(buf, ct, 114, "%s: ciphertext differs from RFC 8439 2.8.2", name);
    cr_assert_arr_eq(out_tag, tag, 16, "%s: tag differs from RFC 8439 2.8.2", name);
    cr_assert_eq(rph_aead_open(buf, buf, 114, tag, ad, 12, nonce, key), 0);
    cr_assert_arr_eq(buf, RFC_PT, 114);
}

Test(aead, rfc8439_vector_sodium)
{
    rfc_vector(RPH_AEAD_SODIUM, "sodium");
}

Test(aead, rfc8439_vector_avx512)
{
    rfc_vector(RPH_AEAD_AVX512, "avx512");
}

Test(aead, rfc8439_vector_openssl)
{
    rfc_vector(RPH_AEAD_OPENSSL, "openssl");
}

/* RFC 8439 2.4.2: the bare cipher from block counter 1, and block 0 in the same pass. */
Test(aead, rfc8439_chacha20_keystream)
{
    if (!rph_chacha20_avx512_usable()) return;
    uint8_t key[32], nonce[12], block0[64], want0[64], buf[114];
    for (int i = 0; i < 32; i++)
        key[i] = (uint8_t)i;
    unhex("000000000000004a00000000", nonce, 12);
    memcpy(buf, RFC_PT, 114);
    cr_assert_eq(rph_chacha20_xor_avx512(buf, buf, 114, key, nonce, 1, block0), 0);
    uint8_t want[114];
    unhex("6e2e359a2568f98041ba0728dd0d6981e97e7aec1d4360c20a27afccfd9fae0b"
          "f91b65c5524733ab8f593dabcd62b3571639d624e65152ab8f530c359f0861d8"
          "07ca0dbf500d6a6156a38e088a22b65e52bc514d16ccf806818ce91ab7793736"
          "5af90bbf74a35be6b40b8eedf2785e42874d",
          want, 114);
    cr_assert_arr_eq(buf, want, 114);
    crypto_stream_chacha20_ietf(want0, 64, nonce, key);
    cr_assert_arr_eq(block0, want0, 64);
}

/* Every length 0..1600 and some large ones, random key/nonce/AD: each implementation seals
 * what libsodium seals, out of place at an odd offset and in place, and opens libsodium's
 * ciphertext out of place and in place. */
Test(aead, every_impl_matches_sodium_on_random_inputs)
{
    cr_assert_eq(rph_seal_init(), 0);
    static uint8_t m[65536], a[65536 + 64], b[65536], back[65536];
    size_t lens[1700], nl = 0;
    for (size_t l = 0; l <= 1600; l++)
        lens[nl++] = l;
    const size_t big[] = {2047, 2048, 2049, 4096, 9000, 16383, 32768, 65000, 65535};
    for (size_t i = 0; i < sizeof big / sizeof big[0]; i++)
        lens[nl++] = big[i];
    size_t compared = 0;
    for (size_t k = 1; k < N_ALL; k++) {
        if (!use(ALL[k])) continue;
        compared++;
        for (size_t i = 0; i < nl; i++) {
            size_t len = lens[i];
            uint8_t key[32], nonce[12], ad[40], ta[16], tb[16];
            size_t adlen = (size_t)randombytes_uniform(sizeof ad + 1);
            randombytes_buf(key, sizeof key);
            randombytes_buf(nonce, sizeof nonce);
            randombytes_buf(ad, sizeof ad);
            randombytes_buf(m, len);
            cr_assert_eq(rph_aead_select(RPH_AEAD_SODIUM), 0);
            cr_assert_eq(rph_aead_seal(b, tb, m, len, ad, adlen, nonce, key), 0);
            cr_assert_eq(rph_aead_select(ALL[k]), 0);
            const char *name = rph_aead_impl_name();
            cr_assert_eq(rph_aead_seal(a + 3, ta, m, len, ad, adlen, nonce, key), 0);
            cr_assert_arr_eq(a + 3, b, len, "%s: ciphertext differs at length %zu", name, len);
            cr_assert_arr_eq(ta, tb, 16, "%s: tag differs at length %zu", name, len);
            memcpy(back, m, len);
            cr_assert_eq(rph_aead_seal(back, ta, back, len, ad, adlen, nonce, key), 0);
            cr_assert_arr_eq(back, b, len, "%s: in-place ciphertext differs at length %zu", name,
                             len);
            cr_assert_arr_eq(ta, tb, 16, "%s: in-place tag differs at length %zu", name, len);
            cr_assert_eq(rph_aead_open(a + 1, b, len, tb, ad, adlen, nonce, key), 0);
            cr_assert_arr_eq(a + 1, m, len, "%s: decryption differs at length %zu", name, len);
            cr_assert_eq(rph_aead_open(back, back, len, tb, ad, adlen, nonce, key), 0);
            cr_assert_arr_eq(back, m, len, "%s: in-place decryption differs at length %zu", name,
                             len);
        }
    }
    if (!compared) cr_log_warn("neither AVX-512 nor OpenSSL here: nothing compared");
}

/* Counts the bytes of want[] found at the same place in got[]: a random buffer shares about
 * n/256 of them by chance. */
static size_t same_bytes(const uint8_t *got, const uint8_t *want, size_t n)
{
    size_t same = 0;
    for (size_t i = 0; i < n; i++)
        same += got[i] == want[i];
    return same;
}

Test(aead, tampering_fails_and_releases_nothing)
{
    cr_assert_eq(rph_seal_init(), 0);
    /* 4096 takes the AVX-512 path that makes the Poly1305 key on its own */
    const size_t lens[] = {1, 63, 64, 65, 1372, 4096};
    static uint8_t m[4096], c[4096], keep[4096], out[4096];
    for (size_t k = 0; k < N_ALL; k++) {
        if (!use(ALL[k])) continue;
        const char *name = rph_aead_impl_name();
        for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++) {
            size_t len = lens[li];
            uint8_t key[32] = {7}, nonce[12] = {1}, ad[16] = {2}, tag[16];
            randombytes_buf(m, len);
            cr_assert_eq(rph_aead_seal(c, tag, m, len, ad, sizeof ad, nonce, key), 0);
            for (int what = 0; what < 5; what++) {
                uint8_t k2[32], n2[12], ad2[16], t2[16];
                memcpy(k2, key, 32), memcpy(n2, nonce, 12), memcpy(ad2, ad, 16);
                memcpy(t2, tag, 16);
                memcpy(keep, c, len);
                switch (what) {
                case 0:
                    keep[len / 2] ^= 1;
                    break;
                case 1:
                    t2[15] ^= 0x80;
                    break;
                case 2:
                    ad2[3] ^= 4;
                    break;
                case 3:
                    n2[11] ^= 1;
                    break;
                case 4:
                    k2[31] ^= 1;
                    break;
                }
                /* out of place into a buffer that held the plaintext's complement */
                for (size_t i = 0; i < len; i++)
                    out[i] = (uint8_t)~m[i];
                cr_assert_eq(rph_aead_open(out, keep, len, t2, ad2, 16, n2, k2), RPH_E_AUTH,
                             "%s: tampering %d was accepted at length %zu", name, what, len);
                cr_assert_leq(same_bytes(out, m, len), 8 + len / 32,
                              "%s: a failed open released plaintext (length %zu, tampering %d)",
                              name, len, what);
                /* in place */
                cr_assert_eq(rph_aead_open(keep, keep, len, t2, ad2, 16, n2, k2), RPH_E_AUTH,
                             "%s: tampering %d was accepted in place at length %zu", name, what,
                             len);
                cr_assert_leq(same_bytes(keep, m, len), 8 + len / 32,
                              "%s: a failed in-place open released plaintext (length %zu)", name,
                              len);
            }
        }
    }
}

/* Past RFC 8439's 2^32 blocks per nonce every implementation refuses before touching memory
 * (libsodium itself would abort the process). */
Test(aead, longer_than_one_nonce_allows_is_refused)
{
    cr_assert_eq(rph_seal_init(), 0);
    uint8_t buf[16] = {0}, tag[16] = {0}, key[32] = {0}, nonce[12] = {0};
    size_t too_long = (size_t)(RPH_AEAD_MAX_MSG + 1);
    for (size_t k = 0; k < N_ALL; k++) {
        if (!use(ALL[k])) continue;
        cr_assert_eq(rph_aead_seal(buf, tag, buf, too_long, NULL, 0, nonce, key), RPH_E_TOOBIG);
        cr_assert_eq(rph_aead_open(buf, buf, too_long, tag, NULL, 0, nonce, key), RPH_E_TOOBIG);
    }
}

Test(aead, environment_selects)
{
    cr_assert_eq(rph_seal_init(), 0);
    const char *def = rph_chacha20_avx512_usable() ? "avx512" : "sodium";
    const char *names[] = {"sodium", "avx512", "openssl"};
    for (size_t k = 0; k < N_ALL; k++) {
        setenv("RUPHIN_AEAD", names[k], 1);
        int r = rph_aead_select(RPH_AEAD_AUTO);
        if (expect_usable(ALL[k])) {
            cr_assert_eq(r, 0, "RUPHIN_AEAD=%s: %s", names[k], rph_strerror(r));
            cr_assert_str_eq(rph_aead_impl_name(), names[k]);
        } else {
            cr_assert_eq(r, RPH_E_NOTSUP, "RUPHIN_AEAD=%s", names[k]);
            cr_assert_str_eq(rph_aead_impl_name(), def);
        }
    }
    /* An unknown name is an error, and the default stays usable behind it. */
    setenv("RUPHIN_AEAD", "chacha", 1);
    cr_assert_eq(rph_aead_select(RPH_AEAD_AUTO), RPH_E_NOTSUP);
    cr_assert_str_eq(rph_aead_impl_name(), def);
    setenv("RUPHIN_AEAD", "auto", 1);
    cr_assert_eq(rph_aead_select(RPH_AEAD_AUTO), 0);
    cr_assert_str_eq(rph_aead_impl_name(), def);
    unsetenv("RUPHIN_AEAD");
    cr_assert_eq(rph_aead_select(RPH_AEAD_OPENSSL),
                 expect_usable(RPH_AEAD_OPENSSL) ? 0 : RPH_E_NOTSUP);
    cr_assert_eq(rph_aead_select(RPH_AEAD_AUTO), 0);
    cr_assert_str_eq(rph_aead_impl_name(), def);
}

#ifdef RUPHIN_HAVE_OPENSSL
/* Fault injection without a hook in the library: these definitions take the place of
 * libcrypto's for the code linked into this program and fail while the calling thread asks
 * them to; otherwise they pass the call on to libcrypto's. */
static _Thread_local bool fail_ctx_new, fail_update;

EVP_CIPHER_CTX *EVP_CIPHER_CTX_new(void)
{
    EVP_CIPHER_CTX *(*real)(void) = (EVP_CIPHER_CTX * (*)(void)) dlsym(RTLD_NEXT, __func__);
    return fail_ctx_new || !real ? NULL : real();
}

int EVP_CipherUpdate(EVP_CIPHER_CTX *ctx, unsigned char *out, int *outl, const unsigned char *in,
                     int inl)
{
    int (*real)(EVP_CIPHER_CTX *, unsigned char *, int *, const unsigned char *, int) =
        (int (*)(EVP_CIPHER_CTX *, unsigned char *, int *, const unsigned char *, int))dlsym(
            RTLD_NEXT, __func__);
    return fail_update || !real ? 0 : real(ctx, out, outl, in, inl);
}

static const uint8_t FK[32] = {9}, FN[12] = {4};

struct fault_run {
    int seal_r, open_r;
    uint8_t c[100], tag[16], m[100];
};

/* Seals 100 bytes of 0x5a and opens libsodium's sealing of them into a buffer that held the
 * plaintext, so anything left behind shows. */
static void fault_run(struct fault_run *f)
{
    uint8_t m[100], c[100], tag[16];
    memset(m, 0x5a, sizeof m);
    memset(f->c, 0xee, sizeof f->c);
    memset(f->tag, 0xee, sizeof f->tag);
    f->seal_r = rph_aead_seal(f->c, f->tag, m, sizeof m, NULL, 0, FN, FK);
    crypto_aead_chacha20poly1305_ietf_encrypt_detached(c, tag, NULL, m, sizeof m, NULL, 0, NULL, FN,
                                                       FK);
    memcpy(f->m, m, sizeof m);
    f->open_r = rph_aead_open(f->m, c, sizeof c, tag, NULL, 0, FN, FK);
}

static void fault_expect(const struct fault_run *f, bool failed, const char *what)
{
    static const uint8_t zero[100];
    uint8_t m[100], want[100], want_tag[16];
    memset(m, 0x5a, sizeof m);
    if (failed) {
        cr_assert_eq(f->seal_r, RPH_E_CRYPTO, "%s: seal gave %d", what, f->seal_r);
        cr_assert_eq(f->open_r, RPH_E_CRYPTO, "%s: open gave %d", what, f->open_r);
        cr_assert_arr_eq(f->c, zero, sizeof f->c, "%s: ciphertext left behind", what);
        cr_assert_arr_eq(f->tag, zero, 16, "%s: tag left behind", what);
        cr_assert_arr_eq(f->m, zero, sizeof f->m, "%s: plaintext left behind", what);
        return;
    }
    crypto_aead_chacha20poly1305_ietf_encrypt_detached(want, want_tag, NULL, m, sizeof m, NULL, 0,
                                                       NULL, FN, FK);
    cr_assert_eq(f->seal_r, 0, "%s: seal gave %d", what, f->seal_r);
    cr_assert_eq(f->open_r, 0, "%s: open gave %d", what, f->open_r);
    cr_assert_arr_eq(f->c, want, sizeof want, "%s", what);
    cr_assert_arr_eq(f->tag, want_tag, 16, "%s", what);
    cr_assert_arr_eq(f->m, m, sizeof m, "%s", what);
}

static void *thread_without_contexts(void *arg)
{
    fail_ctx_new = true;
    fault_run(arg);
    return NULL;
}

static void *thread_of_its_own(void *arg)
{
    fault_run(arg);
    return NULL;
}

/* OpenSSL failing is RPH_E_CRYPTO from seal and open, never 0 nor RPH_E_AUTH, with zeros where
 * ciphertext, tag or plaintext would be: when a thread cannot set up its contexts, and when a
 * call fails on a packet. Each thread's contexts are its own. */
Test(aead, openssl_failure_is_an_error)
{
    cr_assert_eq(rph_seal_init(), 0);
    fail_ctx_new = true;
    cr_assert_eq(rph_aead_select(RPH_AEAD_OPENSSL), RPH_E_CRYPTO);
    fail_ctx_new = false;
    cr_assert_eq(rph_aead_select(RPH_AEAD_OPENSSL), 0);

    struct fault_run f;
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, thread_without_contexts, &f), 0);
    cr_assert_eq(pthread_join(th, NULL), 0);
    fault_expect(&f, true, "thread without contexts");
    cr_assert_eq(pthread_create(&th, NULL, thread_of_its_own, &f), 0);
    cr_assert_eq(pthread_join(th, NULL), 0);
    fault_expect(&f, false, "another thread");

    fail_update = true;
    fault_run(&f);
    fail_update = false;
    fault_expect(&f, true, "failing update");
    fault_run(&f); /* the contexts recover for the next packet */
    fault_expect(&f, false, "after a failed update");
}
#endif

/* ---- the AVX-512 cipher's 32-bit block counter at the 2^32 edge */

/* ChaCha20 from block ic as libsodium computes it, where ic + blocks <= 2^32. */
static void sodium_xor_ic(uint8_t *out, const uint8_t *in, size_t len, const uint8_t nonce[12],
                          uint32_t ic, const uint8_t key[32])
{
    cr_assert_eq(crypto_stream_chacha20_ietf_xor_ic(out, in, len, nonce, ic, key), 0);
}

/* One call at counter ctr (with or without the Poly1305-key block) for lengths that end
 * exactly at block 2^32 - 1, a byte short of it, and a byte past it. */
static void counter_edge(uint32_t ctr, bool with_block0)
{
    static uint8_t in[64 * 300 + 64], out[64 * 300 + 64], want[64 * 300 + 64];
    uint8_t key[32], nonce[12], b0[64], want0[64];
    randombytes_buf(key, sizeof key);
    randombytes_buf(nonce, sizeof nonce);
    uint64_t first = with_block0 ? (uint64_t)ctr - 1 : ctr;
    uint64_t left = ((uint64_t)1 << 32) - first - (with_block0 ? 1 : 0); /* data blocks left */
    cr_assert_leq(left * 64 + 1, sizeof in);
    size_t fit = (size_t)left * 64;
    randombytes_buf(in, fit + 1);
    const size_t lens[] = {fit, fit - 1, fit > 64 ? fit - 64 : 0, 1, 0};
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        size_t len = lens[i];
        memset(out, 0xa5, len);
        int r = rph_chacha20_xor_avx512(out, in, len, key, nonce, ctr, with_block0 ? b0 : NULL);
        cr_assert_eq(r, 0, "counter %#x, %zu bytes, block0 %d: refused (%d)", ctr, len, with_block0,
                     r);
        sodium_xor_ic(want, in, len, nonce, ctr, key);
        cr_assert_arr_eq(out, want, len, "counter %#x, %zu bytes: differs from libsodium", ctr,
                         len);
        if (with_block0) {
            memset(want0, 0, 64);
            sodium_xor_ic(want0, want0, 64, nonce, ctr - 1, key);
            cr_assert_arr_eq(b0, want0, 64, "counter %#x: block %#x differs", ctr, ctr - 1);
        }
    }
    /* one byte more would need block 2^32, which the counter cannot name: refused, and
     * nothing written */
    memset(out, 0xa5, fit + 1);
    memset(b0, 0xa5, 64);
    int r = rph_chacha20_xor_avx512(out, in, fit + 1, key, nonce, ctr, with_block0 ? b0 : NULL);
    cr_assert_eq(r, RPH_E_TOOBIG, "counter %#x, %zu bytes: not refused (%d)", ctr, fit + 1, r);
    for (size_t i = 0; i < fit + 1; i++)
        cr_assert_eq(out[i], 0xa5, "counter %#x: refused call wrote byte %zu", ctr, i);
    for (size_t i = 0; i < 64; i++)
        cr_assert_eq(b0[i], 0xa5, "counter %#x: refused call wrote block0", ctr);
}

Test(aead, chacha20_counter_across_2_32)
{
    if (!rph_chacha20_avx512_usable()) {
        cr_log_warn("no AVX-512 on this CPU: the cipher is not used here");
        return;
    }
    cr_assert_eq(rph_seal_init(), 0);
    /* 1 to 300 blocks left before the top: the 8-block, 16-block and mixed passes */
    const uint32_t left[] = {1, 2, 7, 8, 9, 15, 16, 17, 23, 24, 31, 32, 33, 100, 256, 300};
    for (size_t i = 0; i < sizeof left / sizeof left[0]; i++) {
        uint32_t ctr = (uint32_t)(((uint64_t)1 << 32) - left[i]);
        counter_edge(ctr, false);
        if (left[i] >= 2) counter_edge(ctr + 1, true); /* block0 at ctr, data from ctr + 1 */
    }
    /* Block 0 goes before the counter, so counter 0 with block0 has none to give. */
    uint8_t buf[64] = {0}, b0[64], key[32] = {1}, nonce[12] = {2};
    cr_assert_eq(rph_chacha20_xor_avx512(buf, buf, 64, key, nonce, 0, b0), RPH_E_INVALID);
    /* Counter 0 without it starts at the first block, as libsodium does. */
    uint8_t want[64] = {0};
    cr_assert_eq(rph_chacha20_xor_avx512(buf, buf, 64, key, nonce, 0, NULL), 0);
    sodium_xor_ic(want, want, 64, nonce, 0, key);
    cr_assert_arr_eq(buf, want, 64);
    /* A byte past the largest message the AEAD allows (block 0 for the Poly1305 key, data
     * from block 1) is refused before any memory is touched. */
    cr_assert_eq(
        rph_chacha20_xor_avx512(NULL, NULL, (size_t)RPH_AEAD_MAX_MSG + 1, key, nonce, 1, b0),
        RPH_E_TOOBIG);
}
