// SPDX-License-Identifier: MIT
// Sealed mode's building blocks: key derivation and files, ownership proofs, the handshake,
// AEAD transport with tampering, replays and wrong keys, and the replay window.
#include <criterion/criterion.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ruphin/aead.h"
#include "ruphin/error.h"
#include "ruphin/noise.h"
#include "ruphin/seal.h"

static const uint8_t K1[32] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
static const uint8_t K2[32] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 11};

static void derive(struct rph_seal_keys *k, const uint8_t *key, const char *name)
{
    cr_assert_eq(rph_seal_init(), 0);
    cr_assert_eq(rph_seal_derive(k, key, name, strlen(name)), 0);
}

static void *init_from_a_thread(void *arg)
{
    (void)arg;
    return (void *)(intptr_t)rph_seal_init();
}

Test(seal, init_is_idempotent_thread_safe_and_keeps_the_chosen_aead)
{
    /* First calls racing on several threads all succeed. */
    pthread_t th[8];
    for (int i = 0; i < 8; i++)
        cr_assert_eq(pthread_create(&th[i], NULL, init_from_a_thread, NULL), 0);
    for (int i = 0; i < 8; i++) {
        void *rc;
        cr_assert_eq(pthread_join(th[i], &rc), 0);
        cr_assert_eq((intptr_t)rc, 0);
    }
    /* Calling it again (every entry point does) leaves an explicit choice alone. */
    cr_assert_eq(rph_aead_select(RPH_AEAD_SODIUM), 0);
    cr_assert_eq(rph_seal_init(), 0);
    cr_assert_str_eq(rph_aead_impl_name(), "sodium");
}

Test(seal, entry_points_initialise_libsodium_themselves)
{
    /* No rph_seal_init() here: key generation and derivation do it. */
    uint8_t k[32] = {0}, zero[32] = {0};
    cr_assert_eq(rph_key_generate(k), 0);
    cr_assert_neq(memcmp(k, zero, sizeof k), 0);
    struct rph_seal_keys a;
    cr_assert_eq(rph_seal_derive(&a, k, "office", 6), 0);
    cr_assert_eq(a.wire_session.len, 20);
}

Test(seal, derivation_binds_key_and_name)
{
    struct rph_seal_keys a, b, c, d;
    derive(&a, K1, "office");
    derive(&b, K1, "office");
    derive(&c, K1, "home");
    derive(&d, K2, "office");
    cr_assert(rph_session_equal(&a.wire_session, &b.wire_session));
    cr_assert_eq(a.wire_session.len, 20);
    cr_assert_not(rph_session_equal(&a.wire_session, &c.wire_session));
    cr_assert_not(rph_session_equal(&a.wire_session, &d.wire_session));
    cr_assert_neq(memcmp(a.noise_psk, d.noise_psk, 32), 0);
    cr_assert_neq(memcmp(a.noise_psk, c.noise_psk, 32), 0);
    cr_assert_neq(memcmp(a.noise_psk, a.cookie_key, 32), 0);
}

Test(seal, fingerprint_is_the_wire_sessions_first_4_bytes_in_hex)
{
    struct rph_seal_keys a, b;
    derive(&a, K1, "office");
    derive(&b, K2, "office");
    char fa[RPH_SEAL_FINGERPRINT_LEN], fb[RPH_SEAL_FINGERPRINT_LEN], want[16];
    rph_seal_fingerprint(&a.wire_session, fa);
    rph_seal_fingerprint(&b.wire_session, fb);
    snprintf(want, sizeof want, "%02x%02x%02x%02x", a.wire_session.id[0], a.wire_session.id[1],
             a.wire_session.id[2], a.wire_session.id[3]);
    cr_assert_str_eq(fa, want);
    cr_assert_eq(strlen(fa), 8);
    cr_assert_str_neq(fa, fb, "another key, another fingerprint");
    struct rph_session s = {.len = 2, .id = {0xab, 0x01}};
    cr_assert_str_eq(rph_seal_fingerprint(&s, fa), "ab01");
}

Test(seal, keys_in_base64_and_files)
{
    uint8_t k[32], back[32];
    char text[64];
    rph_seal_init();
    rph_key_generate(k);
    cr_assert_eq(rph_key_to_base64(k, text, sizeof text), 0);
    cr_assert_eq(strlen(text), RPH_KEY_B64_LEN);
    cr_assert_eq(rph_key_from_base64(text, back), 0);
    cr_assert_arr_eq(k, back, 32);
    cr_assert_eq(rph_key_from_base64("  short==\n", back), RPH_E_INVALID);
    char junk[80];
    snprintf(junk, sizeof junk, "%s!", text);
    cr_assert_eq(rph_key_from_base64(junk, back), RPH_E_INVALID);

    char path[] = "/tmp/rph-seal-XXXXXX";
    int fd = mkstemp(path);
    dprintf(fd, "%s\n", text);
    close(fd);
    char err[256];
    chmod(path, 0600);
    cr_assert_eq(rph_key_load_file(path, back, err, sizeof err), 0, "%s", err);
    cr_assert_arr_eq(k, back, 32);
    chmod(path, 0640);
    cr_assert_lt(rph_key_load_file(path, back, err, sizeof err), 0);
    cr_assert(strstr(err, "chmod 600"), "%s", err);
    unlink(path);
    cr_assert_lt(rph_key_load_file(path, back, err, sizeof err), 0);
    cr_assert(strstr(err, "No such file"), "%s", err);
}

Test(seal, ownership_proofs_verify_and_tampering_fails)
{
    struct rph_seal_keys k;
    derive(&k, K1, "office");
    uint8_t buf[RPH_OWNER_LEN];
    cr_assert_eq(rph_owner_encode(&k, RPH_SEALED_REGISTER, 1764000000123ull, buf, sizeof buf),
                 RPH_OWNER_LEN);
    struct rph_msg m;
    cr_assert_eq(rph_wire_decode(buf, sizeof buf, &m), 0);
    cr_assert_eq(m.owner.ts_ms, 1764000000123ull);
    struct rph_session s;
    cr_assert_eq(rph_owner_verify(buf, &m, &s), 0);
    cr_assert(rph_session_equal(&s, &k.wire_session));
    /* a Register's proof is no Join's: the type is signed */
    buf[3] = RPH_SEALED_JOIN;
    cr_assert_eq(rph_wire_decode(buf, sizeof buf, &m), 0);
    cr_assert_eq(rph_owner_verify(buf, &m, &s), RPH_E_AUTH);
    buf[3] = RPH_SEALED_REGISTER;
    buf[40] ^= 1; /* the timestamp */
    cr_assert_eq(rph_wire_decode(buf, sizeof buf, &m), 0);
    cr_assert_eq(rph_owner_verify(buf, &m, &s), RPH_E_AUTH);
}

/* A Noise_XXpsk0 handshake under ki's and kr's PSKs; RPH_E_AUTH where the PSKs differ. */
static int noise3(const struct rph_seal_keys *ki, const struct rph_seal_keys *kr,
                  struct rph_noise_keys *oi, struct rph_noise_keys * or)
{
    static const uint8_t si[32] = {1}, sr[32] = {2};
    struct rph_noise_hs i, r;
    uint8_t m[256], p[64];
    cr_assert_eq(rph_noise_init(&i, RPH_NOISE_XXPSK0, true, NULL, 0, si, NULL, ki->noise_psk), 0);
    cr_assert_eq(rph_noise_init(&r, RPH_NOISE_XXPSK0, false, NULL, 0, sr, NULL, kr->noise_psk), 0);
    int n = rph_noise_write_message(&i, NULL, 0, m, sizeof m);
    int e = rph_noise_read_message(&r, m, (size_t)n, p, sizeof p);
    if (e < 0) return e;
    n = rph_noise_write_message(&r, NULL, 0, m, sizeof m);
    cr_assert_eq(rph_noise_read_message(&i, m, (size_t)n, p, sizeof p), 0);
    n = rph_noise_write_message(&i, NULL, 0, m, sizeof m);
    cr_assert_eq(rph_noise_read_message(&r, m, (size_t)n, p, sizeof p), 0);
    cr_assert_eq(rph_noise_split(&i, oi), 0);
    cr_assert_eq(rph_noise_split(&r, or), 0);
    return 0;
}

/* Transport keypairs of a full handshake between initiator (client) and responder (server). */
static void handshake(struct rph_seal_keys *ki, struct rph_seal_keys *kr, struct rph_keypair *ci,
                      struct rph_keypair *sr)
{
    struct rph_noise_keys a, b;
    cr_assert_eq(noise3(ki, kr, &a, &b), 0);
    cr_assert_eq(rph_keypair_from_noise(ci, a.send, a.recv, 0x1000, 0x2000, true, 5), 0);
    cr_assert_eq(rph_keypair_from_noise(sr, b.send, b.recv, 0x2000, 0x1000, false, 5), 0);
}

static int seal_msg(struct rph_keypair *kp, uint8_t *buf, const char *text)
{
    size_t n = strlen(text);
    memcpy(buf + RPH_TRANSPORT_HEADER_LEN, text, n);
    return rph_transport_seal(kp, buf, n);
}

static int open_msg(struct rph_keypair *kp, uint8_t *buf, int n, char *out)
{
    struct rph_msg m;
    int r = rph_wire_decode(buf, (size_t)n, &m);
    if (r < 0) return r;
    uint8_t *pt;
    size_t pl;
    r = rph_transport_open(kp, buf, &m, &pt, &pl);
    if (r < 0) return r;
    memcpy(out, pt, pl);
    out[pl] = 0;
    return 0;
}

Test(seal, handshake_and_transport_both_ways)
{
    struct rph_seal_keys k;
    derive(&k, K1, "office");
    struct rph_keypair c, s;
    handshake(&k, &k, &c, &s);
    cr_assert_arr_eq(c.send_key, s.recv_key, 32);
    cr_assert_arr_eq(c.recv_key, s.send_key, 32);
    cr_assert_eq(c.remote_index, s.local_index);
    uint8_t buf[256];
    char out[128];
    int n = seal_msg(&c, buf, "hello through the tunnel");
    cr_assert_eq(n, RPH_TRANSPORT_HEADER_LEN + 24 + RPH_TAG_LEN);
    cr_assert_null(memmem(buf, (size_t)n, "hello", 5), "plaintext visible on the wire");
    cr_assert_eq(open_msg(&s, buf, n, out), 0);
    cr_assert_str_eq(out, "hello through the tunnel");
    n = seal_msg(&s, buf, "and back");
    cr_assert_eq(open_msg(&c, buf, n, out), 0);
    cr_assert_str_eq(out, "and back");
}

Test(seal, tampering_replay_and_wrong_keys_are_refused)
{
    struct rph_seal_keys k, other;
    derive(&k, K1, "office");
    derive(&other, K2, "office");
    struct rph_keypair c, s;
    handshake(&k, &k, &c, &s);
    uint8_t buf[256], copy[256];
    char out[128];
    int n = seal_msg(&c, buf, "payload");
    memcpy(copy, buf, (size_t)n);
    copy[RPH_TRANSPORT_HEADER_LEN + 2] ^= 0x40; /* ciphertext */
    cr_assert_eq(open_msg(&s, copy, n, out), RPH_E_AUTH);
    memcpy(copy, buf, (size_t)n);
    copy[11] ^= 1; /* the counter, which is authenticated data */
    cr_assert_eq(open_msg(&s, copy, n, out), RPH_E_AUTH);
    memcpy(copy, buf, (size_t)n);
    cr_assert_eq(open_msg(&s, buf, n, out), 0);
    cr_assert_eq(open_msg(&s, copy, n, out), RPH_E_REPLAY, "replay accepted");

    /* another session's handshake fails at its first message (psk0) */
    struct rph_noise_keys x, y;
    cr_assert_eq(noise3(&other, &k, &x, &y), RPH_E_AUTH);
    /* a packet sealed under another handshake's keys does not open */
    struct rph_keypair c2, s2;
    handshake(&k, &k, &c2, &s2);
    seal_msg(&c2, buf, "first");
    n = seal_msg(&c2, buf, "other session"); /* counter 1: not yet seen by s */
    cr_assert_eq(open_msg(&s, buf, n, out), RPH_E_AUTH);
}

Test(replay, window_semantics)
{
    struct rph_replay r;
    rph_replay_init(&r);
    cr_assert(rph_replay_update(&r, 0));
    cr_assert_not(rph_replay_update(&r, 0));
    cr_assert(rph_replay_update(&r, 5));
    cr_assert(rph_replay_update(&r, 3), "out of order within the window");
    cr_assert_not(rph_replay_update(&r, 3));
    cr_assert(rph_replay_update(&r, 5000));
    cr_assert(rph_replay_update(&r, 5000 - 2048), "2048 behind is still inside the window");
    cr_assert_not(rph_replay_check(&r, 5000 - RPH_REPLAY_WINDOW - 1), "too old accepted");
    cr_assert_not(rph_replay_check(&r, 5), "too old accepted");
    /* a big jump forgets everything behind it */
    cr_assert(rph_replay_update(&r, 1000000));
    cr_assert(rph_replay_update(&r, 999999));
    cr_assert_not(rph_replay_update(&r, 999999));
    cr_assert_not(rph_replay_check(&r, 5000));
    cr_assert_not(rph_replay_check(&r, UINT64_MAX));
    /* every counter in a window-sized stretch, shuffled, accepted exactly once */
    struct rph_replay w;
    rph_replay_init(&w);
    for (uint64_t i = 0; i < 3000; i++)
        cr_assert(rph_replay_update(&w, (i * 7919) % 3000 + 10000));
    for (uint64_t i = 0; i < 3000; i++)
        cr_assert_not(rph_replay_check(&w, i + 10000));
}

/* The freshness window of ownership proofs, at the edges and with timestamps from the wire that
 * are as far off as 64 bits allow (a fuzzer found a signed overflow here). */
Test(seal, owner_freshness_window_without_overflow)
{
    const uint64_t skew = 300000;
    int64_t off = 1764000000000; /* wall clock = monotonic + off */
    uint64_t now = 5000, wall = now + (uint64_t)off;
    cr_assert(rph_owner_fresh(wall, now, off, skew));
    cr_assert(rph_owner_fresh(wall + skew, now, off, skew));
    cr_assert(rph_owner_fresh(wall - skew, now, off, skew));
    cr_assert_not(rph_owner_fresh(wall + skew + 1, now, off, skew));
    cr_assert_not(rph_owner_fresh(wall - skew - 1, now, off, skew));
    cr_assert_not(rph_owner_fresh(0, now, off, skew));
    cr_assert_not(rph_owner_fresh(UINT64_MAX, now, off, skew));
    cr_assert_not(rph_owner_fresh((uint64_t)INT64_MAX + 1, now, off, skew));
    cr_assert_not(rph_owner_fresh(0x8000070fb8a3c0f2ull, now, off, skew));
    /* a negative offset (a clock before 1970 is nonsense, but must not overflow either) */
    cr_assert(rph_owner_fresh(0, 1000, -1000, 0));
    /* an absurd host offset: only that nothing overflows (this build runs under UBSan) */
    (void)rph_owner_fresh(UINT64_MAX / 2, 1000, INT64_MIN, skew);
    (void)rph_owner_fresh(UINT64_MAX, UINT64_MAX, INT64_MAX, UINT64_MAX);
}
