// SPDX-License-Identifier: MIT
// libruphin's Noise handshakes (IKpsk2, XXpsk3): known answers from dissononce, atomic failure
// on tampered, short or misdirected messages, wrong PSK or static key, and the CipherState.
#include <criterion/criterion.h>
#include <sodium.h>
#include <string.h>

#include "ruphin/error.h"
#include "ruphin/noise.h"

/* The keys of tests/tools/noise_interop.py: 0x10.., 0x40.., 0x70.., 0xa0.. and 0x5a * 32. */
static uint8_t I_S[32], R_S[32], I_E[32], R_E[32], PSK[32], R_PUB[32], I_PUB[32];
static const char PROLOGUE[] = "ruphin-noise-interop";
static const char *const PAYLOADS[] = {"first: timestamp and hello", "",
                                       "third message, longer payload third message, longer "
                                       "payload third message, longer payload "};

static void setup(void)
{
    cr_assert_eq(rph_noise_global_init(), 0);
    for (int i = 0; i < 32; i++) {
        I_S[i] = (uint8_t)(0x10 + i);
        R_S[i] = (uint8_t)(0x40 + i);
        I_E[i] = (uint8_t)(0x70 + i);
        R_E[i] = (uint8_t)(0xa0 + i);
        PSK[i] = 0x5a;
    }
    cr_assert_eq(rph_noise_public_key(R_PUB, R_S), 0);
    cr_assert_eq(rph_noise_public_key(I_PUB, I_S), 0);
}

TestSuite(noise, .init = setup);

static void unhex(const char *s, uint8_t *out, size_t n)
{
    size_t got = 0;
    cr_assert_eq(sodium_hex2bin(out, n, s, strlen(s), NULL, &got, NULL), 0);
    cr_assert_eq(got, n);
}

struct pair {
    struct rph_noise_hs i, r;
};

/* Both sides initialised with the interop keys and fixed ephemerals. */
static void start(struct pair *p, enum rph_noise_pattern pat, const uint8_t *i_psk,
                  const uint8_t *r_psk, const uint8_t *rs)
{
    const uint8_t *pro = (const uint8_t *)PROLOGUE;
    size_t plen = strlen(PROLOGUE);
    if (pat == RPH_NOISE_IKPSK2 && !rs) rs = R_PUB;
    cr_assert_eq(rph_noise_init(&p->i, pat, true, pro, plen, I_S, rs, i_psk ? i_psk : PSK), 0);
    cr_assert_eq(rph_noise_init(&p->r, pat, false, pro, plen, R_S, NULL, r_psk ? r_psk : PSK), 0);
    cr_assert_eq(rph_noise_set_ephemeral(&p->i, I_E), 0);
    cr_assert_eq(rph_noise_set_ephemeral(&p->r, R_E), 0);
}

static int n_msgs(enum rph_noise_pattern pat)
{
    return pat == RPH_NOISE_IKPSK2 ? 2 : 3;
}

/* Message i: written by its writer, returned in m (length in *len), not yet read. */
static void write_msg(struct pair *p, int i, uint8_t *m, size_t *len)
{
    struct rph_noise_hs *w = i % 2 == 0 ? &p->i : &p->r;
    const char *pl = PAYLOADS[i];
    int expect = rph_noise_message_len(w, strlen(pl));
    int n = rph_noise_write_message(w, (const uint8_t *)pl, strlen(pl), m, RPH_NOISE_MAX_MSG);
    cr_assert_gt(n, 0, "message %d: %s", i + 1, rph_strerror(n));
    cr_assert_eq(n, expect);
    *len = (size_t)n;
}

static void read_msg(struct pair *p, int i, const uint8_t *m, size_t len)
{
    struct rph_noise_hs *r = i % 2 == 0 ? &p->r : &p->i;
    uint8_t payload[256];
    int n = rph_noise_read_message(r, m, len, payload, sizeof payload);
    cr_assert_eq(n, (int)strlen(PAYLOADS[i]), "message %d: %s", i + 1, rph_strerror(n));
    cr_assert_eq(memcmp(payload, PAYLOADS[i], (size_t)n), 0);
}

static void finish(struct pair *p, struct rph_noise_keys *ki, struct rph_noise_keys *kr)
{
    cr_assert(rph_noise_handshake_done(&p->i));
    cr_assert(rph_noise_handshake_done(&p->r));
    cr_assert_eq(rph_noise_split(&p->i, ki), 0);
    cr_assert_eq(rph_noise_split(&p->r, kr), 0);
    cr_assert_eq(memcmp(ki->send, kr->recv, 32), 0);
    cr_assert_eq(memcmp(ki->recv, kr->send, 32), 0);
    cr_assert_eq(memcmp(ki->hash, kr->hash, 32), 0);
    cr_assert_neq(memcmp(ki->send, ki->recv, 32), 0);
}

static void handshake(enum rph_noise_pattern pat, struct rph_noise_keys *ki,
                      struct rph_noise_keys *kr)
{
    struct pair p;
    start(&p, pat, NULL, NULL, NULL);
    for (int i = 0; i < n_msgs(pat); i++) {
        uint8_t m[RPH_NOISE_MAX_MSG];
        size_t len;
        write_msg(&p, i, m, &len);
        read_msg(&p, i, m, len);
    }
    finish(&p, ki, kr);
}

/* c1, c2 and h that dissononce 0.34.3 computes for the same keys, prologue and payloads. */
static void check_known(const struct rph_noise_keys *ki, const char *c1, const char *c2,
                        const char *h)
{
    uint8_t want[32];
    unhex(c1, want, 32);
    cr_assert_eq(memcmp(ki->send, want, 32), 0, "c1");
    unhex(c2, want, 32);
    cr_assert_eq(memcmp(ki->recv, want, 32), 0, "c2");
    unhex(h, want, 32);
    cr_assert_eq(memcmp(ki->hash, want, 32), 0, "handshake hash");
}

Test(noise, ikpsk2_known_answer)
{
    struct rph_noise_keys ki, kr;
    cr_assert_str_eq(rph_noise_pattern_name(RPH_NOISE_IKPSK2),
                     "Noise_IKpsk2_25519_ChaChaPoly_SHA256");
    handshake(RPH_NOISE_IKPSK2, &ki, &kr);
    check_known(&ki, "1e206a950081800bc97d9691612d380cbbb29f1d1c3eb3165ff6ee3342d950b5",
                "80842d7c435a28079e5253e0b080497d19fb20c46d65ff8feb0130694d7e1f0a",
                "676c29711ae45695c3bd232f2068b6e1243b0b107f2da97516725a982457f5da");
}

Test(noise, xxpsk3_known_answer)
{
    struct rph_noise_keys ki, kr;
    cr_assert_str_eq(rph_noise_pattern_name(RPH_NOISE_XXPSK3),
                     "Noise_XXpsk3_25519_ChaChaPoly_SHA256");
    handshake(RPH_NOISE_XXPSK3, &ki, &kr);
    check_known(&ki, "3919a5c0bb937fa46473830a865322c1a5fe21675f82fac52f7ab84995dcd969",
                "199d582c751681664a2a68d227c33c5b44d25189a6fca36acd81cd2629233a9b",
                "94e9b8d121d60ffeeac771b9e7c5da62c11c97407f0e8fbccc94750919a76d70");
}

Test(noise, message_sizes_and_remote_static)
{
    /* IK: e, s+tag, payload+tag / e, payload+tag. XX with psk3: every payload has a tag. */
    static const int ik[] = {96, 48}, xx[] = {48, 96, 64};
    for (int pat = 0; pat < 2; pat++) {
        const int *base = pat == RPH_NOISE_IKPSK2 ? ik : xx;
        struct pair p;
        start(&p, (enum rph_noise_pattern)pat, NULL, NULL, NULL);
        cr_assert_eq(rph_noise_remote_static(&p.r) == NULL, true);
        cr_assert_eq(rph_noise_remote_static(&p.i) != NULL, pat == RPH_NOISE_IKPSK2);
        for (int i = 0; i < n_msgs((enum rph_noise_pattern)pat); i++) {
            uint8_t m[RPH_NOISE_MAX_MSG];
            size_t len;
            cr_assert_eq(rph_noise_is_writer(i % 2 == 0 ? &p.i : &p.r), true);
            cr_assert_eq(rph_noise_is_writer(i % 2 == 0 ? &p.r : &p.i), false);
            write_msg(&p, i, m, &len);
            cr_assert_eq(len, base[i] + strlen(PAYLOADS[i]), "pattern %d message %d", pat, i);
            read_msg(&p, i, m, len);
        }
        cr_assert_eq(memcmp(rph_noise_remote_static(&p.r), I_PUB, 32), 0);
        cr_assert_eq(memcmp(rph_noise_remote_static(&p.i), R_PUB, 32), 0);
        rph_noise_wipe(&p.i);
        rph_noise_wipe(&p.r);
    }
}

Test(noise, random_ephemerals_differ_and_still_agree)
{
    uint8_t m1[RPH_NOISE_MAX_MSG], m2[RPH_NOISE_MAX_MSG];
    struct rph_noise_hs a, b, r;
    const uint8_t *pro = (const uint8_t *)PROLOGUE;
    cr_assert_eq(rph_noise_init(&a, RPH_NOISE_IKPSK2, true, pro, 5, I_S, R_PUB, PSK), 0);
    cr_assert_eq(rph_noise_init(&b, RPH_NOISE_IKPSK2, true, pro, 5, I_S, R_PUB, PSK), 0);
    int n1 = rph_noise_write_message(&a, NULL, 0, m1, sizeof m1);
    int n2 = rph_noise_write_message(&b, NULL, 0, m2, sizeof m2);
    cr_assert_eq(n1, 96);
    cr_assert_eq(n2, 96);
    cr_assert_neq(memcmp(m1, m2, 32), 0, "two handshakes used the same ephemeral key");
    cr_assert_eq(rph_noise_init(&r, RPH_NOISE_IKPSK2, false, pro, 5, R_S, NULL, PSK), 0);
    cr_assert_eq(rph_noise_read_message(&r, m1, (size_t)n1, m2, sizeof m2), 0);
    int n = rph_noise_write_message(&r, NULL, 0, m2, sizeof m2);
    cr_assert_eq(n, 48);
    cr_assert_eq(rph_noise_read_message(&a, m2, (size_t)n, m1, sizeof m1), 0);
    struct rph_noise_keys ka, kr;
    cr_assert_eq(rph_noise_split(&a, &ka), 0);
    cr_assert_eq(rph_noise_split(&r, &kr), 0);
    cr_assert_eq(memcmp(ka.send, kr.recv, 32), 0);
    rph_noise_wipe(&b);
}

/* Every changed bit of every message is refused, leaves the reader exactly as it was, and the
 * genuine message is then still accepted: the result is the untampered handshake's. */
Test(noise, tampered_message_fails_and_changes_nothing)
{
    for (int pat = 0; pat < 2; pat++) {
        struct rph_noise_keys want_i, want_r, ki, kr;
        handshake((enum rph_noise_pattern)pat, &want_i, &want_r);
        struct pair p;
        start(&p, (enum rph_noise_pattern)pat, NULL, NULL, NULL);
        for (int i = 0; i < n_msgs((enum rph_noise_pattern)pat); i++) {
            uint8_t m[RPH_NOISE_MAX_MSG], payload[256];
            size_t len;
            write_msg(&p, i, m, &len);
            struct rph_noise_hs *r = i % 2 == 0 ? &p.r : &p.i;
            struct rph_noise_hs before = *r;
            for (size_t at = 0; at < len; at++) {
                for (int bit = 0; bit < 8; bit += 3) {
                    m[at] ^= (uint8_t)(1u << bit);
                    int n = rph_noise_read_message(r, m, len, payload, sizeof payload);
                    m[at] ^= (uint8_t)(1u << bit);
                    cr_assert_eq(n, RPH_E_AUTH, "pattern %d message %d byte %zu: %d", pat, i + 1,
                                 at, n);
                    cr_assert_eq(memcmp(&before, r, sizeof before), 0);
                }
            }
            read_msg(&p, i, m, len);
        }
        finish(&p, &ki, &kr);
        cr_assert_eq(memcmp(&ki, &want_i, sizeof ki), 0);
        cr_assert_eq(memcmp(&kr, &want_r, sizeof kr), 0);
    }
}

Test(noise, message_too_short_or_too_long)
{
    for (int pat = 0; pat < 2; pat++) {
        struct pair p;
        start(&p, (enum rph_noise_pattern)pat, NULL, NULL, NULL);
        uint8_t m[RPH_NOISE_MAX_MSG + 1], payload[RPH_NOISE_MAX_MSG];
        size_t len;
        write_msg(&p, 0, m, &len);
        int min = rph_noise_message_len(&p.r, 0);
        cr_assert_eq(min, (int)(len - strlen(PAYLOADS[0])));
        struct rph_noise_hs before = p.r;
        for (int n = 0; n < min; n++) {
            cr_assert_eq(rph_noise_read_message(&p.r, m, (size_t)n, payload, sizeof payload),
                         RPH_E_SIZE, "length %d", n);
            cr_assert_eq(memcmp(&before, &p.r, sizeof before), 0);
        }
        cr_assert_eq(rph_noise_read_message(&p.r, m, sizeof m, payload, sizeof payload),
                     RPH_E_SIZE);
        /* A payload buffer too small is refused before any work. */
        cr_assert_eq(rph_noise_read_message(&p.r, m, len, payload, strlen(PAYLOADS[0]) - 1),
                     RPH_E_NOSPACE);
        cr_assert_eq(memcmp(&before, &p.r, sizeof before), 0);
        read_msg(&p, 0, m, len);
    }
}

Test(noise, write_refusals_leave_state_unchanged)
{
    struct pair p;
    start(&p, RPH_NOISE_XXPSK3, NULL, NULL, NULL);
    static uint8_t m[RPH_NOISE_MAX_MSG + 64], big[RPH_NOISE_MAX_MSG];
    struct rph_noise_hs before = p.i;
    cr_assert_eq(rph_noise_write_message(&p.i, (const uint8_t *)"abc", 3, m, 50), RPH_E_NOSPACE);
    cr_assert_eq(rph_noise_write_message(&p.i, big, RPH_NOISE_MAX_MSG - 47, m, sizeof m),
                 RPH_E_TOOBIG);
    cr_assert_eq(rph_noise_write_message(&p.i, NULL, 3, m, sizeof m), RPH_E_INVALID);
    cr_assert_eq(memcmp(&before, &p.i, sizeof before), 0);
    /* Out of turn: the responder cannot write first, the initiator cannot read first. */
    cr_assert_eq(rph_noise_write_message(&p.r, NULL, 0, m, sizeof m), RPH_E_UNEXPECTED);
    cr_assert_eq(rph_noise_read_message(&p.i, m, 48, m + 64, 100), RPH_E_UNEXPECTED);
    cr_assert_eq(rph_noise_split(&p.i, &(struct rph_noise_keys){0}), RPH_E_UNEXPECTED);
    /* The largest payload that fits is accepted. */
    int n = rph_noise_write_message(&p.i, big, RPH_NOISE_MAX_MSG - 48, m, sizeof m);
    cr_assert_eq(n, RPH_NOISE_MAX_MSG);
    cr_assert_eq(rph_noise_set_ephemeral(&p.i, I_E), RPH_E_UNEXPECTED);
}

Test(noise, wrong_psk_fails)
{
    uint8_t other[32];
    memcpy(other, PSK, 32);
    other[31] ^= 1;
    for (int pat = 0; pat < 2; pat++) {
        struct pair p;
        start(&p, (enum rph_noise_pattern)pat, NULL, other, NULL);
        int last = n_msgs((enum rph_noise_pattern)pat) - 1;
        uint8_t m[RPH_NOISE_MAX_MSG], payload[256];
        size_t len;
        for (int i = 0; i < last; i++) { /* the messages before the psk token still pass */
            write_msg(&p, i, m, &len);
            read_msg(&p, i, m, len);
        }
        write_msg(&p, last, m, &len);
        struct rph_noise_hs *r = last % 2 == 0 ? &p.r : &p.i;
        cr_assert_eq(rph_noise_read_message(r, m, len, payload, sizeof payload), RPH_E_AUTH);
        cr_assert_not(rph_noise_handshake_done(r));
    }
}

Test(noise, ik_wrong_responder_static_fails)
{
    uint8_t sk[32], pk[32];
    cr_assert_eq(rph_noise_keygen(sk, pk), 0);
    struct pair p;
    start(&p, RPH_NOISE_IKPSK2, NULL, NULL, pk);
    uint8_t m[RPH_NOISE_MAX_MSG], payload[256];
    size_t len;
    write_msg(&p, 0, m, &len);
    cr_assert_eq(rph_noise_read_message(&p.r, m, len, payload, sizeof payload), RPH_E_AUTH);
    cr_assert_null(rph_noise_remote_static(&p.r));
}

Test(noise, low_order_remote_key_refused)
{
    /* The all-zero public key gives the all-zero DH output: refused before any message. */
    static const uint8_t zero[32];
    struct rph_noise_hs hs;
    uint8_t m[256];
    cr_assert_eq(rph_noise_init(&hs, RPH_NOISE_IKPSK2, true, NULL, 0, I_S, zero, PSK), 0);
    cr_assert_eq(rph_noise_write_message(&hs, NULL, 0, m, sizeof m), RPH_E_AUTH);
    /* A responder given a low-order ephemeral key refuses at the first DH. */
    struct pair p;
    size_t len;
    start(&p, RPH_NOISE_XXPSK3, NULL, NULL, NULL);
    write_msg(&p, 0, m, &len);
    read_msg(&p, 0, m, len);
    uint8_t m2[RPH_NOISE_MAX_MSG];
    write_msg(&p, 1, m2, &len);
    memset(m2, 0, 32);
    cr_assert_eq(rph_noise_read_message(&p.i, m2, len, m, sizeof m), RPH_E_AUTH);
}

Test(noise, init_checks_its_arguments)
{
    struct rph_noise_hs hs;
    cr_assert_eq(rph_noise_init(&hs, RPH_NOISE_IKPSK2, true, NULL, 0, I_S, NULL, PSK),
                 RPH_E_INVALID);
    cr_assert_eq(rph_noise_init(&hs, RPH_NOISE_IKPSK2, false, NULL, 0, R_S, I_PUB, PSK),
                 RPH_E_INVALID);
    cr_assert_eq(rph_noise_init(&hs, RPH_NOISE_XXPSK3, true, NULL, 0, I_S, R_PUB, PSK),
                 RPH_E_INVALID);
    cr_assert_eq(rph_noise_init(&hs, RPH_NOISE_XXPSK3, true, NULL, 0, I_S, NULL, NULL),
                 RPH_E_INVALID);
    cr_assert_eq(rph_noise_init(&hs, (enum rph_noise_pattern)7, true, NULL, 0, I_S, NULL, PSK),
                 RPH_E_INVALID);
    cr_assert_eq(rph_noise_init(&hs, RPH_NOISE_XXPSK3, true, NULL, 3, I_S, NULL, PSK),
                 RPH_E_INVALID);
    cr_assert_null(rph_noise_pattern_name((enum rph_noise_pattern)3));
    /* A refused init leaves nothing usable behind. */
    uint8_t m[128];
    cr_assert_eq(rph_noise_write_message(&hs, NULL, 0, m, sizeof m), RPH_E_UNEXPECTED);
}

Test(noise, prologue_must_match)
{
    struct rph_noise_hs i, r;
    uint8_t m[256], payload[64];
    cr_assert_eq(
        rph_noise_init(&i, RPH_NOISE_XXPSK3, true, (const uint8_t *)"v1", 2, I_S, NULL, PSK), 0);
    cr_assert_eq(
        rph_noise_init(&r, RPH_NOISE_XXPSK3, false, (const uint8_t *)"v2", 2, R_S, NULL, PSK), 0);
    int n = rph_noise_write_message(&i, NULL, 0, m, sizeof m);
    cr_assert_eq(rph_noise_read_message(&r, m, (size_t)n, payload, sizeof payload), RPH_E_AUTH);
}

Test(noise, reuse_after_split_refused_and_secrets_wiped)
{
    struct pair p;
    start(&p, RPH_NOISE_IKPSK2, NULL, NULL, NULL);
    uint8_t m[RPH_NOISE_MAX_MSG];
    size_t len;
    for (int i = 0; i < 2; i++) {
        write_msg(&p, i, m, &len);
        read_msg(&p, i, m, len);
    }
    struct rph_noise_keys ki, kr;
    finish(&p, &ki, &kr);
    static const uint8_t zero[32];
    for (int side = 0; side < 2; side++) {
        struct rph_noise_hs *hs = side ? &p.r : &p.i;
        cr_assert_eq(rph_noise_split(hs, &ki), RPH_E_UNEXPECTED);
        cr_assert_eq(rph_noise_write_message(hs, NULL, 0, m, sizeof m), RPH_E_UNEXPECTED);
        cr_assert_eq(rph_noise_read_message(hs, m, len, m, sizeof m), RPH_E_UNEXPECTED);
        cr_assert_eq(rph_noise_set_ephemeral(hs, I_E), RPH_E_UNEXPECTED);
        cr_assert_eq(rph_noise_message_len(hs, 0), RPH_E_UNEXPECTED);
        cr_assert_not(rph_noise_handshake_done(hs));
        cr_assert_eq(memcmp(hs->s_sk, zero, 32), 0);
        cr_assert_eq(memcmp(hs->e_sk, zero, 32), 0);
        cr_assert_eq(memcmp(hs->psk, zero, 32), 0);
        cr_assert_eq(memcmp(hs->ss.ck, zero, 32), 0);
        cr_assert_eq(memcmp(hs->ss.cs.k, zero, 32), 0);
        cr_assert_eq(memcmp(rph_noise_remote_static(hs), side ? I_PUB : R_PUB, 32), 0);
        rph_noise_wipe(hs);
        cr_assert_null(rph_noise_remote_static(hs));
    }
}

Test(noise, cipher_nonce_layout_and_exhaustion)
{
    uint8_t key[32], nonce[12] = {0}, c[64], c2[64], m[64];
    for (int i = 0; i < 32; i++)
        key[i] = (uint8_t)i;
    struct rph_noise_cipher cs;
    rph_noise_cipher_init(&cs, key);
    /* The nonce is 4 zero bytes then n in little-endian (libsodium's own AEAD as reference). */
    uint64_t n = 0x0102030405060708ull;
    rph_noise_cipher_set_nonce(&cs, n);
    cr_assert_eq(
        rph_noise_encrypt(&cs, (const uint8_t *)"ad", 2, (const uint8_t *)"hello", 5, c, sizeof c),
        21);
    for (int i = 0; i < 8; i++)
        nonce[4 + i] = (uint8_t)(n >> (8 * i));
    unsigned long long clen;
    crypto_aead_chacha20poly1305_ietf_encrypt(c2, &clen, (const uint8_t *)"hello", 5,
                                              (const uint8_t *)"ad", 2, NULL, nonce, key);
    cr_assert_eq(clen, 21);
    cr_assert_eq(memcmp(c, c2, 21), 0);
    cr_assert_eq(cs.n, n + 1);

    /* 2^64-2 is the last nonce used; 2^64-1 is never used. */
    struct rph_noise_cipher enc, dec;
    rph_noise_cipher_init(&enc, key);
    rph_noise_cipher_init(&dec, key);
    rph_noise_cipher_set_nonce(&enc, UINT64_MAX - 1);
    rph_noise_cipher_set_nonce(&dec, UINT64_MAX - 1);
    int len = rph_noise_encrypt(&enc, NULL, 0, (const uint8_t *)"last", 4, c, sizeof c);
    cr_assert_eq(len, 20);
    cr_assert_eq(rph_noise_encrypt(&enc, NULL, 0, (const uint8_t *)"more", 4, c2, sizeof c2),
                 RPH_E_EXHAUSTED);
    cr_assert_eq(enc.n, UINT64_MAX);
    /* A tag that fails leaves n alone; then the genuine message opens, and nothing after. */
    c[0] ^= 1;
    cr_assert_eq(rph_noise_decrypt(&dec, NULL, 0, c, 20, m, sizeof m), RPH_E_AUTH);
    cr_assert_eq(dec.n, UINT64_MAX - 1);
    c[0] ^= 1;
    cr_assert_eq(rph_noise_decrypt(&dec, NULL, 0, c, 20, m, sizeof m), 4);
    cr_assert_eq(memcmp(m, "last", 4), 0);
    cr_assert_eq(rph_noise_decrypt(&dec, NULL, 0, c, 20, m, sizeof m), RPH_E_EXHAUSTED);
}

Test(noise, cipher_sizes_in_place_and_keyless)
{
    uint8_t key[32] = {9}, buf[64], bad[64], out[64];
    struct rph_noise_cipher enc, dec, none = {0};
    rph_noise_cipher_init(&enc, key);
    rph_noise_cipher_init(&dec, key);
    memcpy(buf, "in place", 8);
    cr_assert_eq(rph_noise_encrypt(&enc, NULL, 0, buf, 8, buf, 23), RPH_E_NOSPACE);
    cr_assert_eq(enc.n, 0);
    cr_assert_eq(rph_noise_encrypt(&enc, NULL, 0, buf, 8, buf, sizeof buf), 24);
    cr_assert_neq(memcmp(buf, "in place", 8), 0);
    cr_assert_eq(rph_noise_decrypt(&dec, NULL, 0, buf, 15, out, sizeof out), RPH_E_SIZE);
    cr_assert_eq(rph_noise_decrypt(&dec, NULL, 0, buf, 24, out, 7), RPH_E_NOSPACE);
    memcpy(bad, buf, 24);
    bad[23] ^= 0x80;
    cr_assert_eq(rph_noise_decrypt(&dec, NULL, 0, bad, 24, out, sizeof out), RPH_E_AUTH);
    cr_assert_eq(rph_noise_decrypt(&dec, (const uint8_t *)"x", 1, buf, 24, out, sizeof out),
                 RPH_E_AUTH);
    cr_assert_eq(dec.n, 0);
    cr_assert_eq(rph_noise_decrypt(&dec, NULL, 0, buf, 24, buf, sizeof buf), 8);
    cr_assert_eq(memcmp(buf, "in place", 8), 0);
    cr_assert_eq(dec.n, 1);
    /* Without a key the spec passes plaintext through. */
    cr_assert_eq(rph_noise_encrypt(&none, NULL, 0, (const uint8_t *)"clear", 5, buf, sizeof buf),
                 5);
    cr_assert_eq(memcmp(buf, "clear", 5), 0);
}
