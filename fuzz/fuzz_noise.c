// SPDX-License-Identifier: MIT
// Fuzzes the Noise handshakes: any bytes in place of each message of IKpsk2, XXpsk3, XXpsk0, to the
// responder and the initiator. A refused message changes nothing; only a genuine one is taken.
#include <stdint.h>
#include <string.h>

#include "harness.h"
#include "ruphin/error.h"
#include "ruphin/noise.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_PAYLOAD 96

static uint8_t I_S[32], R_S[32], I_E[32], R_E[32], PSK[32], R_PUB[32];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    fz_rng_install();
    FZ_CHECK(rph_noise_global_init() == 0);
    for (int i = 0; i < 32; i++) {
        I_S[i] = (uint8_t)(0x10 + i);
        R_S[i] = (uint8_t)(0x40 + i);
        I_E[i] = (uint8_t)(0x70 + i);
        R_E[i] = (uint8_t)(0xa0 + i);
        PSK[i] = 0x5a;
    }
    FZ_CHECK(rph_noise_public_key(R_PUB, R_S) == 0);
    return 0;
}

enum mode {
    M_RAW = 0,      /* the rest of the input is the message */
    M_MUTATE = 1,   /* the genuine message with (u16 position, u8 xor) changes */
    M_RESIZE = 2,   /* the genuine message cut to, or padded to, a u16 length */
    M_STRANGER = 3, /* a message from another initiator or responder (keys from the input) */
};

static void start(struct rph_noise_hs *i, struct rph_noise_hs *r, enum rph_noise_pattern pat)
{
    FZ_CHECK(rph_noise_init(i, pat, true, (const uint8_t *)"fz", 2, I_S,
                            pat == RPH_NOISE_IKPSK2 ? R_PUB : NULL, PSK) == 0);
    FZ_CHECK(rph_noise_init(r, pat, false, (const uint8_t *)"fz", 2, R_S, NULL, PSK) == 0);
    FZ_CHECK(rph_noise_set_ephemeral(i, I_E) == 0);
    FZ_CHECK(rph_noise_set_ephemeral(r, R_E) == 0);
}

/* The same handshake with the same payloads, but the writer of message k is a stranger with
 * its own static and ephemeral keys (and maybe another PSK); returns message k's length. */
static int stranger_message(struct fz *f, enum rph_noise_pattern pat, int k, const uint8_t *payload,
                            size_t plen, uint8_t *out)
{
    struct rph_noise_hs si, sr, *writer;
    uint8_t s[32], e[32], buf[RPH_NOISE_MAX_MSG], pl[MAX_PAYLOAD];
    for (int j = 0; j < 32; j++)
        s[j] = fz_u8(f), e[j] = fz_u8(f);
    bool same_psk = fz_u8(f) & 1;
    uint8_t psk[32];
    memcpy(psk, PSK, 32);
    if (!same_psk) psk[0] ^= 1;
    /* The stranger takes the writer's part; its counterpart is genuine up to message k. */
    bool ini = k % 2 == 0;
    FZ_CHECK(rph_noise_init(&si, pat, true, (const uint8_t *)"fz", 2, ini ? s : I_S,
                            pat == RPH_NOISE_IKPSK2 ? R_PUB : NULL, ini ? psk : PSK) == 0);
    FZ_CHECK(rph_noise_init(&sr, pat, false, (const uint8_t *)"fz", 2, ini ? R_S : s, NULL,
                            ini ? PSK : psk) == 0);
    FZ_CHECK(rph_noise_set_ephemeral(ini ? &si : &sr, e) == 0);
    FZ_CHECK(rph_noise_set_ephemeral(ini ? &sr : &si, ini ? R_E : I_E) == 0);
    int n = -1;
    for (int j = 0; j <= k; j++) {
        writer = j % 2 == 0 ? &si : &sr;
        struct rph_noise_hs *reader = j % 2 == 0 ? &sr : &si;
        n = rph_noise_write_message(writer, payload, plen, j == k ? out : buf, RPH_NOISE_MAX_MSG);
        if (n < 0 || j == k) break; /* a low-order key from the input may refuse */
        if (rph_noise_read_message(reader, buf, (size_t)n, pl, sizeof pl) < 0) {
            n = -1; /* a wrong PSK stops the stranger's own handshake early */
            break;
        }
    }
    rph_noise_wipe(&si);
    rph_noise_wipe(&sr);
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fz f = {data, size};
    uint8_t cfg = fz_u8(&f);
    enum rph_noise_pattern pat = (cfg & 0x20) ? RPH_NOISE_XXPSK0
                                 : (cfg & 1)  ? RPH_NOISE_XXPSK3
                                              : RPH_NOISE_IKPSK2;
    int n_msgs = pat == RPH_NOISE_IKPSK2 ? 2 : 3;
    int k = ((cfg >> 1) & 3) % n_msgs; /* the message the input replaces */
    enum mode mode = (enum mode)((cfg >> 3) & 3);
    size_t plen = fz_u8(&f) % (MAX_PAYLOAD + 1);

    struct rph_noise_hs hs[2]; /* 0 initiator, 1 responder */
    start(&hs[0], &hs[1], pat);
    static uint8_t genuine[RPH_NOISE_MAX_MSG], x[RPH_NOISE_MAX_MSG + 2];
    uint8_t payload[MAX_PAYLOAD], got[RPH_NOISE_MAX_MSG];
    for (size_t j = 0; j < plen; j++)
        payload[j] = (uint8_t)(j * 7);

    for (int j = 0; j < n_msgs; j++) {
        struct rph_noise_hs *w = &hs[j % 2], *r = &hs[1 - j % 2];
        struct rph_noise_hs wsave = *w; /* the writer before this message */
        int gn = rph_noise_write_message(w, payload, plen, genuine, sizeof genuine);
        FZ_CHECK(gn == rph_noise_message_len(r, plen));
        if (j == k) {
            size_t xn = 0;
            if (mode == M_RAW) {
                const uint8_t *p;
                xn = fz_bytes(&f, sizeof x, &p);
                memcpy(x, p, xn);
            } else if (mode == M_MUTATE) {
                memcpy(x, genuine, (size_t)gn);
                xn = (size_t)gn;
                for (int c = fz_u8(&f) % 8; c >= 0 && !fz_done(&f); c--) {
                    uint16_t at = fz_u16(&f);
                    x[at % xn] ^= fz_u8(&f);
                }
            } else if (mode == M_RESIZE) {
                xn = fz_u16(&f) % (sizeof x);
                memset(x, 0, xn);
                memcpy(x, genuine, xn < (size_t)gn ? xn : (size_t)gn);
            } else {
                int sn = stranger_message(&f, pat, k, payload, plen, x);
                if (sn < 0) {
                    memcpy(x, genuine, (size_t)gn); /* nothing forged: deliver the real one */
                    sn = gn;
                }
                xn = (size_t)sn;
            }
            struct rph_noise_hs before = *r;
            int rn = rph_noise_read_message(r, x, xn, got, sizeof got);
            bool is_genuine = xn == (size_t)gn && memcmp(x, genuine, xn) == 0;
            if (rn < 0) {
                FZ_CHECK(!is_genuine);
                FZ_CHECK(rn == RPH_E_AUTH || rn == RPH_E_SIZE);
                FZ_CHECK(memcmp(&before, r, sizeof before) == 0); /* refused: nothing changed */
            } else if (!is_genuine) {
                /* A stranger who lacks our static keys can only make a message that comes
                 * before the PSK token (the last message in both patterns) and that no
                 * static key pinned in advance protects: XX's first two (its own ephemeral
                 * key, then its own static key) and IK's first (authenticated by its own
                 * static key). The reader then knows who the stranger claims to be, but the
                 * genuine writer cannot go on with the reader. */
                FZ_CHECK(j < n_msgs - 1);
                FZ_CHECK(pat != RPH_NOISE_IKPSK2 || j == 0);
                /* psk0: every message is under the PSK already, so only a stranger that holds
                 * it (a member with keys of its own) gets one in; no changed bytes do. Such a
                 * stranger's message can come as raw bytes too (libFuzzer learns whole
                 * messages from the comparisons of earlier runs): its ephemeral key, the
                 * message's first 32 bytes, is not the writer's, and the checks for strangers
                 * below hold for it. */
                bool own_e = xn >= 32 && memcmp(x, genuine, 32) == 0;
                if (pat == RPH_NOISE_XXPSK0 && mode != M_STRANGER && own_e) {
                    /* The fuzzer's ephemeral keys are fixed, so an input can hold the genuine
                     * writer's message for another payload (a seed of another run): the same
                     * party's message, not a forgery. It must be exactly that. */
                    struct rph_noise_hs w2 = wsave;
                    static uint8_t y[RPH_NOISE_MAX_MSG + 2];
                    int n3 = rph_noise_write_message(&w2, got, (size_t)rn, y, sizeof y);
                    FZ_CHECK(n3 == (int)xn && memcmp(y, x, xn) == 0);
                    rph_noise_wipe(&w2);
                    rph_noise_wipe(&wsave);
                    rph_noise_wipe(&hs[0]);
                    rph_noise_wipe(&hs[1]);
                    return 0;
                }
                FZ_CHECK((rph_noise_remote_static(r) != NULL) ==
                         (pat == RPH_NOISE_IKPSK2 || j == 1));
                int n2 = rph_noise_write_message(r, NULL, 0, x, sizeof x);
                FZ_CHECK(n2 > 0);
                struct rph_noise_hs wbefore = *w;
                FZ_CHECK(rph_noise_read_message(w, x, (size_t)n2, got, sizeof got) == RPH_E_AUTH);
                FZ_CHECK(memcmp(&wbefore, w, sizeof wbefore) == 0);
                rph_noise_wipe(&hs[0]);
                rph_noise_wipe(&hs[1]);
                return 0;
            } else {
                FZ_CHECK((size_t)rn == plen && memcmp(got, payload, plen) == 0);
                continue;
            }
        }
        /* The genuine message still goes through after any refusal. */
        int rn = rph_noise_read_message(r, genuine, (size_t)gn, got, sizeof got);
        FZ_CHECK(rn == (int)plen && memcmp(got, payload, plen) == 0);
    }

    struct rph_noise_keys ki, kr;
    FZ_CHECK(rph_noise_split(&hs[0], &ki) == 0);
    FZ_CHECK(rph_noise_split(&hs[1], &kr) == 0);
    FZ_CHECK(memcmp(ki.send, kr.recv, 32) == 0 && memcmp(ki.recv, kr.send, 32) == 0);
    FZ_CHECK(memcmp(ki.hash, kr.hash, 32) == 0);
    FZ_CHECK(rph_noise_read_message(&hs[1], genuine, 64, got, sizeof got) == RPH_E_UNEXPECTED);

    /* What is left of the input, as a transport message: only the genuine one opens. */
    struct rph_noise_cipher enc, dec;
    rph_noise_cipher_init(&enc, ki.send);
    rph_noise_cipher_init(&dec, kr.recv);
    int tn = rph_noise_encrypt(&enc, NULL, 0, payload, plen, genuine, sizeof genuine);
    FZ_CHECK(tn == (int)plen + RPH_NOISE_TAG_LEN);
    const uint8_t *p;
    size_t xn = fz_bytes(&f, sizeof x, &p);
    int dn = rph_noise_decrypt(&dec, NULL, 0, p, xn, got, sizeof got);
    bool is_genuine = xn == (size_t)tn && memcmp(p, genuine, xn) == 0;
    FZ_CHECK(is_genuine ? dn == (int)plen : (dn == RPH_E_AUTH || dn == RPH_E_SIZE));
    FZ_CHECK(dec.n == (is_genuine ? 1u : 0u));
    rph_noise_wipe(&hs[0]);
    rph_noise_wipe(&hs[1]);
    return 0;
}
