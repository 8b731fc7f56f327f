// SPDX-License-Identifier: MIT
// The fuzz targets' deterministic random source for libsodium (splitmix64; not for real keys).
#include "harness.h"

#include <string.h>

#ifdef RUPHIN_HAVE_SODIUM
#include <sodium.h>
#endif

static uint64_t rng_state;

void fz_rng_seed(uint64_t seed)
{
    rng_state = seed;
}

#ifdef RUPHIN_HAVE_SODIUM
static uint64_t next64(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static const char *rng_name(void)
{
    return "ruphin-fuzz-splitmix64";
}

static uint32_t rng_random(void)
{
    return (uint32_t)next64();
}

static void rng_buf(void *const buf, const size_t size)
{
    uint8_t *b = buf;
    for (size_t i = 0; i < size; i += 8) {
        uint64_t v = next64();
        memcpy(b + i, &v, size - i < 8 ? size - i : 8);
    }
}

static struct randombytes_implementation rng_impl = {
    .implementation_name = rng_name,
    .random = rng_random,
    .stir = NULL,
    .uniform = NULL,
    .buf = rng_buf,
    .close = NULL,
};
#endif

void fz_rng_install(void)
{
#ifdef RUPHIN_HAVE_SODIUM
    randombytes_set_implementation(&rng_impl);
    if (sodium_init() < 0) abort();
#endif
}
