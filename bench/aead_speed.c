// SPDX-License-Identifier: MIT
// aead_speed: the transport AEAD's throughput per core at tunnel packet sizes, for each
// implementation this build and CPU run: libsodium, AVX-512, OpenSSL 3 (bench/micro.sh). Prints
// a markdown table; not a test.
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ruphin/aead.h"
#include "ruphin/seal.h"

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* MB/s of seal (open = 0) or open (1) on len-byte packets, for about `seconds`. */
static double rate(size_t len, int open, double seconds)
{
    static uint8_t buf[65536], plain[65536];
    uint8_t key[32] = {1}, nonce[12] = {0}, ad[16] = {3}, tag[16];
    randombytes_buf(buf, len);
    if (rph_aead_seal(buf, tag, buf, len, ad, sizeof ad, nonce, key) != 0) abort();
    size_t bytes = 0;
    double t0 = now_s(), t;
    do {
        for (int i = 0; i < 256; i++) {
            if (open) {
                /* out of place, so the ciphertext stays valid for the next round */
                if (rph_aead_open(plain, buf, len, tag, ad, sizeof ad, nonce, key) != 0) abort();
            } else if (rph_aead_seal(buf, tag, buf, len, ad, sizeof ad, nonce, key) != 0) {
                abort();
            }
            bytes += len;
        }
        t = now_s() - t0;
    } while (t < seconds);
    return (double)bytes / t / 1e6;
}

int main(int argc, char **argv)
{
    double seconds = argc > 1 ? atof(argv[1]) : 1.0;
    if (argc > 2 || !(seconds > 0 && seconds <= 60)) {
        fprintf(stderr, "usage: aead_speed [SECONDS per figure, 0 < s <= 60; default 1]\n");
        return 2;
    }
    if (rph_seal_init() != 0) {
        fprintf(stderr, "aead_speed: libsodium init failed\n");
        return 1;
    }
    const size_t lens[] = {64, 576, 1372, 8192};
    const enum rph_aead_impl impls[] = {RPH_AEAD_SODIUM, RPH_AEAD_AVX512, RPH_AEAD_OPENSSL};
    const char *names[] = {"sodium", "avx512", "openssl"};
    printf("| implementation | operation |");
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++)
        printf(" %zu B |", lens[i]);
    printf("\n|---|---|");
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++)
        printf("---|");
    printf("\n");
    for (size_t k = 0; k < sizeof impls / sizeof impls[0]; k++) {
        if (rph_aead_select(impls[k]) != 0) {
            printf("| %s | — | not in this build or on this CPU |\n", names[k]);
            continue;
        }
        for (int open = 0; open < 2; open++) {
            printf("| %s | %s |", rph_aead_impl_name(), open ? "open" : "seal");
            for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++)
                printf(" %.0f MB/s |", rate(lens[i], open, seconds));
            printf("\n");
        }
    }
    return 0;
}
