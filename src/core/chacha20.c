// SPDX-License-Identifier: MIT
// ChaCha20 (RFC 8439) keystream with AVX-512: the transport AEAD's cipher half on CPUs that have
// it. libsodium's own ChaCha20 tops out at AVX2 and, at tunnel packet sizes, is half of the whole
// sealed data path's cycles; computing 16 blocks per pass with native 32-bit rotates about
// doubles it. Poly1305 stays libsodium's (aead.c). Other CPUs never reach this code.
#include "chacha20.h"

#include <string.h>

#include "ruphin/error.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

#define RPH_AVX512 __attribute__((target("avx512f,avx512vl")))
/* The block functions keep key words and keystream in registers that spill to their own stack
 * frames; kept out of line, those frames lie below the caller's, where burn_stack reaches. */
#define RPH_BLOCKS __attribute__((target("avx512f,avx512vl"), noinline))

bool rph_chacha20_avx512_usable(void)
{
    /* libgcc/compiler-rt check both CPUID and that the OS saves the ZMM state (XCR0). */
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl");
}

static inline uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* One quarter round on 16 (or 8) blocks at once: each register holds one state word of every
 * block, so a round is plain lane-wise arithmetic. */
#define QR512(a, b, c, d)                                                                          \
    do {                                                                                           \
        a = _mm512_add_epi32(a, b), d = _mm512_rol_epi32(_mm512_xor_si512(d, a), 16);              \
        c = _mm512_add_epi32(c, d), b = _mm512_rol_epi32(_mm512_xor_si512(b, c), 12);              \
        a = _mm512_add_epi32(a, b), d = _mm512_rol_epi32(_mm512_xor_si512(d, a), 8);               \
        c = _mm512_add_epi32(c, d), b = _mm512_rol_epi32(_mm512_xor_si512(b, c), 7);               \
    } while (0)
#define QR256(a, b, c, d)                                                                          \
    do {                                                                                           \
        a = _mm256_add_epi32(a, b), d = _mm256_rol_epi32(_mm256_xor_si256(d, a), 16);              \
        c = _mm256_add_epi32(c, d), b = _mm256_rol_epi32(_mm256_xor_si256(b, c), 12);              \
        a = _mm256_add_epi32(a, b), d = _mm256_rol_epi32(_mm256_xor_si256(d, a), 8);               \
        c = _mm256_add_epi32(c, d), b = _mm256_rol_epi32(_mm256_xor_si256(b, c), 7);               \
    } while (0)

/* XORs n keystream bytes (ks) into in -> out; n <= 64. */
static inline void xor_block(uint8_t *out, const uint8_t *in, const uint8_t *ks, size_t n)
{
    for (size_t i = 0; i < n; i++)
        out[i] = in[i] ^ ks[i];
}

/* 16 blocks, counters ctr..ctr+15. Full blocks are XORed straight from registers; a block that
 * is short goes through a stack copy. With key0, block ctr goes there and the data starts at
 * block ctr + 1. Returns the data bytes consumed. */
RPH_BLOCKS static size_t blocks16(uint8_t *out, const uint8_t *in, size_t len, const uint32_t s[16],
                                  uint32_t ctr, uint8_t *key0)
{
    __m512i x[16], init[16];
    for (int i = 0; i < 16; i++)
        init[i] = _mm512_set1_epi32((int)s[i]);
    init[12] =
        _mm512_add_epi32(_mm512_set1_epi32((int)ctr),
                         _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15));
    for (int i = 0; i < 16; i++)
        x[i] = init[i];
    for (int r = 0; r < 10; r++) {
        QR512(x[0], x[4], x[8], x[12]);
        QR512(x[1], x[5], x[9], x[13]);
        QR512(x[2], x[6], x[10], x[14]);
        QR512(x[3], x[7], x[11], x[15]);
        QR512(x[0], x[5], x[10], x[15]);
        QR512(x[1], x[6], x[11], x[12]);
        QR512(x[2], x[7], x[8], x[13]);
        QR512(x[3], x[4], x[9], x[14]);
    }
    for (int i = 0; i < 16; i++)
        x[i] = _mm512_add_epi32(x[i], init[i]);

    /* Transpose: word-major (x[i] = word i of blocks 0..15) to block-major. Within each 128-bit
     * lane, 4x4 transposes of words give q[g][k] = words 4g..4g+3 of blocks k, 4+k, 8+k, 12+k. */
    __m512i q[4][4];
    for (int g = 0; g < 4; g++) {
        __m512i t0 = _mm512_unpacklo_epi32(x[4 * g], x[4 * g + 1]);
        __m512i t1 = _mm512_unpackhi_epi32(x[4 * g], x[4 * g + 1]);
        __m512i t2 = _mm512_unpacklo_epi32(x[4 * g + 2], x[4 * g + 3]);
        __m512i t3 = _mm512_unpackhi_epi32(x[4 * g + 2], x[4 * g + 3]);
        q[g][0] = _mm512_unpacklo_epi64(t0, t2);
        q[g][1] = _mm512_unpackhi_epi64(t0, t2);
        q[g][2] = _mm512_unpacklo_epi64(t1, t3);
        q[g][3] = _mm512_unpackhi_epi64(t1, t3);
    }
    size_t done = 0;
    for (int k = 0; k < 4; k++) {
        /* then a 4x4 transpose of 128-bit lanes across the four word groups. */
        __m512i p0 = _mm512_shuffle_i32x4(q[0][k], q[1][k], 0x44);
        __m512i p1 = _mm512_shuffle_i32x4(q[0][k], q[1][k], 0xEE);
        __m512i p2 = _mm512_shuffle_i32x4(q[2][k], q[3][k], 0x44);
        __m512i p3 = _mm512_shuffle_i32x4(q[2][k], q[3][k], 0xEE);
        __m512i blk[4] = {
            _mm512_shuffle_i32x4(p0, p2, 0x88), /* block k */
            _mm512_shuffle_i32x4(p0, p2, 0xDD), /* block 4 + k */
            _mm512_shuffle_i32x4(p1, p3, 0x88), /* block 8 + k */
            _mm512_shuffle_i32x4(p1, p3, 0xDD), /* block 12 + k */
        };
        for (int l = 0; l < 4; l++) {
            size_t off = (size_t)(4 * l + k) * 64;
            if (key0) {
                if (off == 0) {
                    _mm512_storeu_si512((void *)key0, blk[l]);
                    continue;
                }
                off -= 64;
            }
            if (off >= len) continue;
            size_t n = len - off < 64 ? len - off : 64;
            if (n == 64) {
                __m512i v = _mm512_loadu_si512((const void *)(in + off));
                _mm512_storeu_si512((void *)(out + off), _mm512_xor_si512(v, blk[l]));
            } else {
                uint8_t ks[64];
                _mm512_storeu_si512((void *)ks, blk[l]);
                xor_block(out + off, in + off, ks, n);
            }
            done += n;
        }
    }
    return done;
}

/* The same on 8 blocks with 256-bit registers, for the tail of a packet. */
RPH_BLOCKS static size_t blocks8(uint8_t *out, const uint8_t *in, size_t len, const uint32_t s[16],
                                 uint32_t ctr, uint8_t *key0)
{
    __m256i x[16], init[16];
    for (int i = 0; i < 16; i++)
        init[i] = _mm256_set1_epi32((int)s[i]);
    init[12] =
        _mm256_add_epi32(_mm256_set1_epi32((int)ctr), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    for (int i = 0; i < 16; i++)
        x[i] = init[i];
    for (int r = 0; r < 10; r++) {
        QR256(x[0], x[4], x[8], x[12]);
        QR256(x[1], x[5], x[9], x[13]);
        QR256(x[2], x[6], x[10], x[14]);
        QR256(x[3], x[7], x[11], x[15]);
        QR256(x[0], x[5], x[10], x[15]);
        QR256(x[1], x[6], x[11], x[12]);
        QR256(x[2], x[7], x[8], x[13]);
        QR256(x[3], x[4], x[9], x[14]);
    }
    for (int i = 0; i < 16; i++)
        x[i] = _mm256_add_epi32(x[i], init[i]);
    __m256i q[4][4];
    for (int g = 0; g < 4; g++) {
        __m256i t0 = _mm256_unpacklo_epi32(x[4 * g], x[4 * g + 1]);
        __m256i t1 = _mm256_unpackhi_epi32(x[4 * g], x[4 * g + 1]);
        __m256i t2 = _mm256_unpacklo_epi32(x[4 * g + 2], x[4 * g + 3]);
        __m256i t3 = _mm256_unpackhi_epi32(x[4 * g + 2], x[4 * g + 3]);
        q[g][0] = _mm256_unpacklo_epi64(t0, t2);
        q[g][1] = _mm256_unpackhi_epi64(t0, t2);
        q[g][2] = _mm256_unpacklo_epi64(t1, t3);
        q[g][3] = _mm256_unpackhi_epi64(t1, t3);
    }
    size_t done = 0;
    for (int k = 0; k < 4; k++) {
        /* q[g][k]: lane 0 = words of block k, lane 1 = of block 4 + k */
        for (int l = 0; l < 2; l++) {
            size_t off = (size_t)(4 * l + k) * 64;
            /* the selector must be an immediate */
            __m256i lo = l ? _mm256_permute2x128_si256(q[0][k], q[1][k], 0x31)
                           : _mm256_permute2x128_si256(q[0][k], q[1][k], 0x20);
            __m256i hi = l ? _mm256_permute2x128_si256(q[2][k], q[3][k], 0x31)
                           : _mm256_permute2x128_si256(q[2][k], q[3][k], 0x20);
            if (key0) {
                if (off == 0) {
                    _mm256_storeu_si256((void *)key0, lo);
                    _mm256_storeu_si256((void *)(key0 + 32), hi);
                    continue;
                }
                off -= 64;
            }
            if (off >= len) continue;
            size_t n = len - off < 64 ? len - off : 64;
            if (n == 64) {
                __m256i a = _mm256_loadu_si256((const void *)(in + off));
                __m256i b = _mm256_loadu_si256((const void *)(in + off + 32));
                _mm256_storeu_si256((void *)(out + off), _mm256_xor_si256(a, lo));
                _mm256_storeu_si256((void *)(out + off + 32), _mm256_xor_si256(b, hi));
            } else {
                uint8_t ks[64];
                _mm256_storeu_si256((void *)ks, lo);
                _mm256_storeu_si256((void *)(ks + 32), hi);
                xor_block(out + off, in + off, ks, n);
            }
            done += n;
        }
    }
    return done;
}

/* Deeper than blocks16's or blocks8's frame: -fstack-usage gives 3400 and 1576 bytes with GCC 12
 * at -O2, 2312 and 1032 at -O3 (the sanitizer builds, which are for tests, use more). */
#define BURN_BYTES 4096

/* Overwrites the stack where blocks16/blocks8 had their frames: explicit_bzero is not
 * optimised away, and this frame, being called from the same place, covers theirs. */
__attribute__((noinline)) static void burn_stack(void)
{
    uint8_t area[BURN_BYTES];
    explicit_bzero(area, sizeof area);
}

/* Zeroes all 32 vector registers: the last blocks' state and keystream would otherwise stay
 * there until other code happens to overwrite them. */
RPH_AVX512 static inline void zero_vector_regs(void)
{
    __asm__ volatile("vzeroall\n\t"
                     "vpxord %%zmm16, %%zmm16, %%zmm16\n\tvpxord %%zmm17, %%zmm17, %%zmm17\n\t"
                     "vpxord %%zmm18, %%zmm18, %%zmm18\n\tvpxord %%zmm19, %%zmm19, %%zmm19\n\t"
                     "vpxord %%zmm20, %%zmm20, %%zmm20\n\tvpxord %%zmm21, %%zmm21, %%zmm21\n\t"
                     "vpxord %%zmm22, %%zmm22, %%zmm22\n\tvpxord %%zmm23, %%zmm23, %%zmm23\n\t"
                     "vpxord %%zmm24, %%zmm24, %%zmm24\n\tvpxord %%zmm25, %%zmm25, %%zmm25\n\t"
                     "vpxord %%zmm26, %%zmm26, %%zmm26\n\tvpxord %%zmm27, %%zmm27, %%zmm27\n\t"
                     "vpxord %%zmm28, %%zmm28, %%zmm28\n\tvpxord %%zmm29, %%zmm29, %%zmm29\n\t"
                     "vpxord %%zmm30, %%zmm30, %%zmm30\n\tvpxord %%zmm31, %%zmm31, %%zmm31"
                     :
                     :
                     : "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8",
                       "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15", "xmm16",
                       "xmm17", "xmm18", "xmm19", "xmm20", "xmm21", "xmm22", "xmm23", "xmm24",
                       "xmm25", "xmm26", "xmm27", "xmm28", "xmm29", "xmm30", "xmm31");
}

RPH_AVX512 int rph_chacha20_xor_avx512(uint8_t *out, const uint8_t *in, size_t len,
                                       const uint8_t key[32], const uint8_t nonce[12],
                                       uint32_t counter, uint8_t block0[64])
{
    /* RFC 8439 gives one nonce 2^32 blocks: past counter 2^32 - 1 the 32-bit counter would
     * wrap to block 0 and repeat keystream (libsodium calls that misuse and aborts). */
    if (block0 && counter == 0) return RPH_E_INVALID;
    uint64_t first = block0 ? (uint64_t)counter - 1 : counter;
    uint64_t need = (uint64_t)(len / 64) + (len % 64 != 0) + (block0 ? 1 : 0);
    if (need > ((uint64_t)1 << 32) - first) return RPH_E_TOOBIG;

    uint32_t s[16] = {0x61707865, 0x3320646e, 0x79622d32, 0x6b206574};
    for (int i = 0; i < 8; i++)
        s[4 + i] = le32(key + 4 * i);
    for (int i = 0; i < 3; i++)
        s[13 + i] = le32(nonce + 4 * i);
    /* 16 blocks while more than 8 remain, then 8 at a time: a 1372-byte packet plus the
     * Poly1305 key block is 23 blocks, computed as 16 + 8 rather than 32. Lanes past the
     * message may run past counter 2^32 - 1; their keystream is never used. */
    uint8_t *key0 = block0;
    uint32_t ctr = (uint32_t)first;
    size_t blocks = (size_t)need;
    while (blocks > 0) {
        size_t n, per = blocks > 8 ? 16 : 8;
        n = per == 16 ? blocks16(out, in, len, s, ctr, key0) : blocks8(out, in, len, s, ctr, key0);
        out += n, in += n, len -= n, ctr += (uint32_t)per;
        blocks = blocks > per ? blocks - per : 0;
        key0 = NULL;
    }
    explicit_bzero(s, sizeof s);
    burn_stack();
    zero_vector_regs();
    return 0;
}

#else /* not x86-64 */

bool rph_chacha20_avx512_usable(void)
{
    return false;
}

int rph_chacha20_xor_avx512(uint8_t *out, const uint8_t *in, size_t len, const uint8_t key[32],
                            const uint8_t nonce[12], uint32_t counter, uint8_t block0[64])
{
    (void)out, (void)in, (void)len, (void)key, (void)nonce, (void)counter, (void)block0;
    return RPH_E_NOTSUP;
}

#endif
