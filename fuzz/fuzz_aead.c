// SPDX-License-Identifier: MIT
// Differential fuzzing of the transport AEAD: every implementation this build and CPU run
// (AVX-512, OpenSSL) must give libsodium's bytes for any key, nonce, AD and message, open what
// libsodium sealed, and refuse any changed byte without leaving plaintext behind.
#include <stdint.h>
#include <string.h>

#include "harness.h"
#include "ruphin/aead.h"
#include "ruphin/error.h"
#include "ruphin/seal.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_MSG 4200 /* past the 2048-byte scratch of the open path, and odd sizes below it */

static const enum rph_aead_impl ALL[] = {RPH_AEAD_SODIUM, RPH_AEAD_AVX512, RPH_AEAD_OPENSSL};
static enum rph_aead_impl impls[3]; /* the ones that run here, sodium first */
static size_t n_impls;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    fz_rng_install();
    FZ_CHECK(rph_seal_init() == 0);
    for (size_t i = 0; i < sizeof ALL / sizeof ALL[0]; i++) {
        int r = rph_aead_select(ALL[i]);
        FZ_CHECK(r == 0 || r == RPH_E_NOTSUP);
        if (r == 0) impls[n_impls++] = ALL[i];
    }
    FZ_CHECK(n_impls > 0 && impls[0] == RPH_AEAD_SODIUM);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fz f = {data, size};
    uint8_t key[32], nonce[12], ad[64];
    for (size_t i = 0; i < sizeof key; i++)
        key[i] = fz_u8(&f);
    for (size_t i = 0; i < sizeof nonce; i++)
        nonce[i] = fz_u8(&f);
    size_t adlen = fz_u8(&f) % (sizeof ad + 1);
    for (size_t i = 0; i < adlen; i++)
        ad[i] = fz_u8(&f);
    uint16_t flip = fz_u16(&f); /* which byte of (ciphertext || tag || AD) a forger changes */
    uint8_t flip_bits = (uint8_t)(fz_u8(&f) | 1);
    const uint8_t *msg;
    size_t mlen = fz_bytes(&f, MAX_MSG, &msg);

    static uint8_t c_ref[MAX_MSG], c[MAX_MSG], m[MAX_MSG];
    uint8_t tag_ref[16], tag[16];
    FZ_CHECK(rph_aead_select(RPH_AEAD_SODIUM) == 0);
    FZ_CHECK(rph_aead_seal(c_ref, tag_ref, msg, mlen, ad, adlen, nonce, key) == 0);
    size_t at = flip % (mlen + 16 + adlen);
    for (size_t k = 0; k < n_impls; k++) {
        FZ_CHECK(rph_aead_select(impls[k]) == 0);
        if (k > 0) {
            FZ_CHECK(rph_aead_seal(c, tag, msg, mlen, ad, adlen, nonce, key) == 0);
            FZ_CHECK(memcmp(c, c_ref, mlen) == 0);
            FZ_CHECK(memcmp(tag, tag_ref, 16) == 0);
            FZ_CHECK(rph_aead_open(m, c_ref, mlen, tag_ref, ad, adlen, nonce, key) == 0);
            FZ_CHECK(memcmp(m, msg, mlen) == 0);
        }
        /* One changed bit anywhere must fail, in place, and leave no plaintext: the buffer
         * holds the changed ciphertext as it was (AVX-512) or zeros (libsodium, OpenSSL). */
        memcpy(c, c_ref, mlen);
        memcpy(tag, tag_ref, 16);
        uint8_t ad2[64];
        memcpy(ad2, ad, adlen);
        if (at < mlen)
            c[at] ^= flip_bits;
        else if (at < mlen + 16)
            tag[at - mlen] ^= flip_bits;
        else
            ad2[at - mlen - 16] ^= flip_bits;
        memcpy(m, c, mlen);
        FZ_CHECK(rph_aead_open(c, c, mlen, tag, ad2, adlen, nonce, key) == RPH_E_AUTH);
        bool zeros = true;
        for (size_t i = 0; i < mlen; i++)
            zeros = zeros && c[i] == 0;
        FZ_CHECK(zeros || memcmp(c, m, mlen) == 0);
    }
    return 0;
}
