/* SPDX-License-Identifier: MIT */
/* Shared by the fuzz targets: a reader over the fuzzer's bytes, checks that abort, a hash,
 * and a deterministic random source for libsodium so runs are reproducible. */
#ifndef RUPHIN_FUZZ_HARNESS_H
#define RUPHIN_FUZZ_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* A failed check is a finding: print where and abort, so libFuzzer saves the input. */
#define FZ_CHECK(cond)                                                                             \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz check failed: %s:%d: %s\n", __FILE__, __LINE__, #cond);          \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* Reads the input front to back; past its end every read gives zeros. */
struct fz {
    const uint8_t *p;
    size_t n;
};

static inline bool fz_done(const struct fz *f)
{
    return f->n == 0;
}

static inline uint8_t fz_u8(struct fz *f)
{
    if (!f->n) return 0;
    f->n--;
    return *f->p++;
}

static inline uint16_t fz_u16(struct fz *f)
{
    uint16_t hi = fz_u8(f);
    return (uint16_t)((hi << 8) | fz_u8(f));
}

static inline uint32_t fz_u32(struct fz *f)
{
    uint32_t hi = fz_u16(f);
    return (hi << 16) | fz_u16(f);
}

static inline uint64_t fz_u64(struct fz *f)
{
    uint64_t hi = fz_u32(f);
    return (hi << 32) | fz_u32(f);
}

/* Up to want bytes in place; returns how many there were. */
static inline size_t fz_bytes(struct fz *f, size_t want, const uint8_t **out)
{
    size_t n = want < f->n ? want : f->n;
    *out = f->p;
    f->p += n;
    f->n -= n;
    return n;
}

/* FNV-1a, 64 bits: names byte strings in the targets' small shadow sets. */
static inline uint64_t fz_hash(const void *p, size_t n)
{
    const uint8_t *b = p;
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 1099511628211ull;
    return h ^ n;
}

/* Makes libsodium's randombytes (ephemeral keys) a seeded generator; call before
 * sodium_init. Reseed at the start of each input so an input always runs the same. */
void fz_rng_install(void);
void fz_rng_seed(uint64_t seed);

#endif
