// SPDX-License-Identifier: MIT
// The transport AEAD: the RFC 8439 vector, and the AVX-512 path against libsodium's whole
// construction on random inputs of every length a packet can have, in place and not, with
// tampering that must fail without releasing plaintext.
#include <criterion/criterion.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

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

static const char RFC_PT[] = "Ladies and Gentlemen of the class of '99: If I could offer you only "
                             "one tip for the future, sunscreen would be it.";
static const char RFC_CT[] = "d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d6"
                             "3dbea45e8ca9671282fafb69da92728b1a71de0a9e060b2905d6a5b67ecd3b36"
                             "92ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc"
                             "3ff4def08e4b7a9de576d26586cec64b6116";
static const char RFC_TAG[] = "1ae10b594f09e26a7e902ecbd0600691";

static void rfc_vector(enum rph_aead_impl impl)
{
    cr_assert_eq(rph_seal_init(), 0);
    cr_assert_eq(rph_aead_select(impl), 0);
    uint8_t key[32], nonce[12], ad[12], ct[114], tag[16], buf[114], out_tag[16];
    for (int i = 0; i < 32; i++)
        key[i] = (uint8_t)(0x80 + i);
    unhex("070000004041424344454647", nonce, 12);
    unhex("50515253c0c1c2c3c4c5c6c7", ad, 12);
    unhex(RFC_CT, ct, sizeof ct);
    unhex(RFC_TAG, tag, sizeof tag);
    cr_assert_eq(strlen(RFC_PT), 114);
    memcpy(buf, RFC_PT, 114);
    rph_aead_seal(buf, out_tag, buf, 114, ad, 12, nonce, key);
    cr_assert_arr_eq(buf, ct, 114, "%s: ciphertext differs from RFC 8439 2.8.2",
                     rph_aead_impl_name());
    cr_assert_arr_eq(out_tag, tag, 16, "%s: tag differs from RFC 8439 2.8.2", rph_aead_impl_name());
    cr_assert_eq(rph_aead_open(buf, buf, 114, tag, ad, 12, nonce, key), 0);
    cr_assert_arr_eq(buf, RFC_PT, 114);
}

Test(aead, rfc8439_vector_sodium)
{
    rfc_vector(RPH_AEAD_SODIUM);
    cr_assert_str_eq(rph_aead_impl_name(), "sodium");
}

Test(aead, rfc8439_vector_avx512)
{
    cr_assert_eq(rph_seal_init(), 0);
    if (!rph_chacha20_avx512_usable()) {
        cr_assert_eq(rph_aead_select(RPH_AEAD_AVX512), RPH_E_NOTSUP);
        cr_log_warn("no AVX-512 on this CPU: only the refusal is checked");
        return;
    }
    rfc_vector(RPH_AEAD_AVX512);
    cr_assert_str_eq(rph_aead_impl_name(), "avx512");
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
    rph_chacha20_xor_avx512(buf, buf, 114, key, nonce, 1, block0);
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

/* Every length 0..1600 and some large ones, random key/nonce/AD, against libsodium. */
Test(aead, avx512_matches_sodium_on_random_inputs)
{
    cr_assert_eq(rph_seal_init(), 0);
    if (!rph_chacha20_avx512_usable()) return;
    static uint8_t m[65536], a[65536 + 64], b[65536], back[65536];
    size_t lens[1700], nl = 0;
    for (size_t l = 0; l <= 1600; l++)
        lens[nl++] = l;
    const size_t big[] = {2047, 2048, 2049, 4096, 9000, 16383, 32768, 65000, 65535};
    for (size_t i = 0; i < sizeof big / sizeof big[0]; i++)
        lens[nl++] = big[i];
    for (size_t i = 0; i < nl; i++) {
        size_t len = lens[i];
        uint8_t key[32], nonce[12], ad[40], ta[16], tb[16];
        size_t adlen = (size_t)randombytes_uniform(sizeof ad + 1);
        randombytes_buf(key, sizeof key);
        randombytes_buf(nonce, sizeof nonce);
        randombytes_buf(ad, sizeof ad);
        randombytes_buf(m, len);
        cr_assert_eq(rph_aead_select(RPH_AEAD_SODIUM), 0);
        rph_aead_seal(b, tb, m, len, ad, adlen, nonce, key);
        cr_assert_eq(rph_aead_select(RPH_AEAD_AVX512), 0);
        /* out of place at an odd offset, then in place */
        rph_aead_seal(a + 3, ta, m, len, ad, adlen, nonce, key);
        cr_assert_arr_eq(a + 3, b, len, "ciphertext differs at length %zu", len);
        cr_assert_arr_eq(ta, tb, 16, "tag differs at length %zu", len);
        memcpy(back, m, len);
        rph_aead_seal(back, ta, back, len, ad, adlen, nonce, key);
        cr_assert_arr_eq(back, b, len, "in-place ciphertext differs at length %zu", len);
        cr_assert_eq(rph_aead_open(back, b, len, tb, ad, adlen, nonce, key), 0);
        cr_assert_arr_eq(back, m, len, "decryption differs at length %zu", len);
    }
}

Test(aead, tampering_fails_and_releases_nothing)
{
    cr_assert_eq(rph_seal_init(), 0);
    enum rph_aead_impl impls[] = {RPH_AEAD_SODIUM, RPH_AEAD_AVX512};
    for (size_t n = 0; n < 2; n++) {
        if (rph_aead_select(impls[n]) != 0) continue;
        uint8_t key[32] = {7}, nonce[12] = {1}, ad[16] = {2}, m[1372], c[1372], keep[1372], tag[16];
        randombytes_buf(m, sizeof m);
        rph_aead_seal(c, tag, m, sizeof m, ad, sizeof ad, nonce, key);
        for (int what = 0; what < 5; what++) {
            uint8_t k2[32], n2[12], ad2[16], t2[16];
            memcpy(k2, key, 32), memcpy(n2, nonce, 12), memcpy(ad2, ad, 16), memcpy(t2, tag, 16);
            memcpy(keep, c, sizeof c);
            switch (what) {
            case 0:
                keep[700] ^= 1;
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
            cr_assert_eq(rph_aead_open(keep, keep, sizeof keep, t2, ad2, 16, n2, k2), RPH_E_AUTH,
                         "%s: tampering %d was accepted", rph_aead_impl_name(), what);
            /* no unverified plaintext comes out (libsodium zeroes the buffer, ours leaves it) */
            size_t same = 0;
            for (size_t i = 0; i < sizeof keep; i++)
                same += keep[i] == m[i];
            cr_assert_lt(same, 40, "%s: a failed open released %zu plaintext bytes",
                         rph_aead_impl_name(), same);
        }
    }
}

Test(aead, environment_forces_sodium)
{
    cr_assert_eq(rph_seal_init(), 0);
    setenv("RUPHIN_AEAD", "sodium", 1);
    cr_assert_eq(rph_aead_select(RPH_AEAD_AUTO), 0);
    cr_assert_str_eq(rph_aead_impl_name(), "sodium");
    unsetenv("RUPHIN_AEAD");
    cr_assert_eq(rph_aead_select(RPH_AEAD_AUTO), 0);
    cr_assert_str_eq(rph_aead_impl_name(), rph_chacha20_avx512_usable() ? "avx512" : "sodium");
}
