// SPDX-License-Identifier: MIT
// Sealed mode's cryptography, all from libsodium: BLAKE2b for derivation and MACs, Ed25519
// for ownership proofs, ChaCha20-Poly1305 transport under keys from the Noise handshake.
#include "ruphin/seal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ruphin/aead.h"
#include "ruphin/error.h"

bool rph_owner_fresh(uint64_t ts_ms, uint64_t now_ms, int64_t wall_offset_ms, uint64_t skew_ms)
{
    /* Unsigned arithmetic wraps instead of overflowing; the distance is taken both ways. */
    uint64_t wall = now_ms + (uint64_t)wall_offset_ms;
    uint64_t d = ts_ms > wall ? ts_ms - wall : wall - ts_ms;
    return d <= skew_ms;
}

char *rph_seal_fingerprint(const struct rph_session *wire_session, char *out)
{
    static const char hex[] = "0123456789abcdef";
    size_t n = wire_session->len < 4 ? wire_session->len : 4, o = 0;
    for (size_t i = 0; i < n; i++) {
        out[o++] = hex[wire_session->id[i] >> 4];
        out[o++] = hex[wire_session->id[i] & 15];
    }
    out[o] = 0;
    return out;
}

#ifdef RUPHIN_HAVE_SODIUM
#include <sodium.h>

static const char LABEL[] = "ruphin-seal-v1";

bool rph_seal_available(void)
{
    return true;
}

static atomic_bool seal_ready;

int rph_seal_init(void)
{
    /* One load after the first success: cheap enough for every entry point to call. */
    if (atomic_load_explicit(&seal_ready, memory_order_acquire)) return 0;
    /* sodium_init is itself thread-safe and idempotent, so racing first calls are fine. */
    if (sodium_init() < 0) return -ENOMEM;
    /* Fix the transport AEAD (a CPU probe) now, not on the first packet; an explicit
     * rph_aead_select, before or after, still wins. */
    (void)rph_aead_impl_name();
    atomic_store_explicit(&seal_ready, true, memory_order_release);
    return 0;
}

void rph_seal_wipe(void *p, size_t n)
{
    sodium_memzero(p, n);
}

static void kdf(uint8_t *out, size_t outlen, const uint8_t key[32], const char *label)
{
    crypto_generichash(out, outlen, (const uint8_t *)label, strlen(label), key, 32);
}

int rph_seal_derive(struct rph_seal_keys *k, const uint8_t key[RPH_KEY_LEN], const void *name,
                    size_t name_len)
{
    if (name_len > RPH_SESSION_MAX) return RPH_E_SESSION_LEN;
    int r = rph_seal_init();
    if (r < 0) return r;
    uint8_t in[sizeof LABEL + RPH_SESSION_MAX];
    memcpy(in, LABEL, sizeof LABEL); /* the NUL separates label and name */
    memcpy(in + sizeof LABEL, name, name_len);
    crypto_generichash(k->prk, 32, in, sizeof LABEL + name_len, key, RPH_KEY_LEN);
    kdf(k->noise_psk, 32, k->prk, "noise psk");
    kdf(k->cookie_key, 32, k->prk, "cookie");
    uint8_t seed[32];
    kdf(seed, 32, k->prk, "owner");
    crypto_sign_seed_keypair(k->sign_pk, k->sign_sk, seed);
    sodium_memzero(seed, sizeof seed);
    k->wire_session.len = RPH_SESSION_MAX;
    crypto_generichash(k->wire_session.id, RPH_SESSION_MAX, k->sign_pk, 32, NULL, 0);
    return 0;
}

int rph_key_generate(uint8_t key[RPH_KEY_LEN])
{
    int r = rph_seal_init();
    if (r < 0) return r;
    randombytes_buf(key, RPH_KEY_LEN);
    return 0;
}

int rph_key_to_base64(const uint8_t key[RPH_KEY_LEN], char *out, size_t cap)
{
    if (cap < RPH_KEY_B64_LEN + 1) return RPH_E_NOSPACE;
    sodium_bin2base64(out, cap, key, RPH_KEY_LEN, sodium_base64_VARIANT_ORIGINAL);
    return 0;
}

int rph_key_from_base64(const char *text, uint8_t key[RPH_KEY_LEN])
{
    while (*text == ' ' || *text == '\t' || *text == '\n' || *text == '\r')
        text++;
    size_t n = strlen(text);
    while (n && (text[n - 1] == ' ' || text[n - 1] == '\t' || text[n - 1] == '\n' ||
                 text[n - 1] == '\r'))
        n--;
    size_t got = 0;
    const char *end = NULL;
    if (n != RPH_KEY_B64_LEN ||
        sodium_base642bin(key, RPH_KEY_LEN, text, n, NULL, &got, &end,
                          sodium_base64_VARIANT_ORIGINAL) != 0 ||
        got != RPH_KEY_LEN || end != text + n)
        return RPH_E_INVALID;
    return 0;
}

int rph_owner_encode(const struct rph_seal_keys *k, enum rph_type type, uint64_t wall_ms,
                     uint8_t *buf, size_t cap)
{
    return rph_owner_encode_cookie(k, type, wall_ms, NULL, buf, cap);
}

int rph_owner_encode_cookie(const struct rph_seal_keys *k, enum rph_type type, uint64_t wall_ms,
                            const uint8_t *cookie, uint8_t *buf, size_t cap)
{
    return rph_owner_encode_node(k, type, wall_ms, NULL, cookie, buf, cap);
}

/* The node ID names a node, not a secret: anyone may compute it from the public key, and any
 * holder of the session key may sign a Register claiming it. It tells a restarted server
 * from a second one; it is no proof of which node sent the Register. */
void rph_node_id(const uint8_t node_pk[32], uint8_t out[RPH_NODE_ID_LEN])
{
    static const char label[] = "ruphin-node-id-v1";
    crypto_generichash(out, RPH_NODE_ID_LEN, node_pk, 32, (const uint8_t *)label, sizeof label - 1);
}

int rph_owner_encode_node(const struct rph_seal_keys *k, enum rph_type type, uint64_t wall_ms,
                          const uint8_t *node_id, const uint8_t *cookie, uint8_t *buf, size_t cap)
{
    if (type != RPH_SEALED_REGISTER && type != RPH_SEALED_JOIN) return RPH_E_INVALID;
    if (node_id && type != RPH_SEALED_REGISTER) return RPH_E_INVALID;
    size_t base = node_id ? RPH_OWNER_NODE_LEN : RPH_OWNER_LEN;
    if (cap < base + (cookie ? RPH_COOKIE_LEN : 0)) return RPH_E_NOSPACE;
    struct rph_msg m = {.type = type};
    memcpy(m.owner.pk, k->sign_pk, 32);
    m.owner.ts_ms = wall_ms;
    if (node_id) {
        m.owner.has_node = true;
        memcpy(m.owner.node, node_id, RPH_NODE_ID_LEN);
    }
    int n = rph_wire_encode(&m, buf, cap);
    if (n < 0) return n;
    /* The signature covers header (length and type: Register and Join differ, and so do the
     * forms with and without a node ID), key, time, node ID. */
    crypto_sign_detached(buf + base - 64, NULL, buf, base - 64, k->sign_sk);
    if (!cookie) return n;
    /* The cookie is not signed: the length field is signed as 108 (140), so the holepuncher
     * can pass a Join on without the cookie and the server still verifies it. */
    memcpy(buf + base, cookie, RPH_COOKIE_LEN);
    buf[0] = (uint8_t)((base + RPH_COOKIE_LEN) >> 8);
    buf[1] = (uint8_t)(base + RPH_COOKIE_LEN);
    return (int)(base + RPH_COOKIE_LEN);
}

int rph_owner_verify(const uint8_t *raw, const struct rph_msg *m, struct rph_session *session)
{
    if (m->type != RPH_SEALED_REGISTER && m->type != RPH_SEALED_JOIN) return RPH_E_INVALID;
    /* Signed as the cookie-less form (108 or 140 bytes), with or without a cookie after the
     * signature. */
    size_t base = m->owner.has_node ? RPH_OWNER_NODE_LEN : RPH_OWNER_LEN;
    uint8_t signed_part[RPH_OWNER_NODE_LEN - 64];
    memcpy(signed_part, raw, base - 64);
    signed_part[0] = (uint8_t)(base >> 8);
    signed_part[1] = (uint8_t)base;
    if (crypto_sign_verify_detached(m->owner.sig, signed_part, base - 64, m->owner.pk) != 0)
        return RPH_E_AUTH;
    session->len = RPH_SESSION_MAX;
    crypto_generichash(session->id, RPH_SESSION_MAX, m->owner.pk, 32, NULL, 0);
    return 0;
}

int rph_keypair_from_noise(struct rph_keypair *kp, const uint8_t send_key[32],
                           const uint8_t recv_key[32], uint32_t local_index, uint32_t remote_index,
                           bool initiator, uint64_t now_ms)
{
    memset(kp, 0, sizeof *kp);
    kp->valid = true;
    kp->initiator = initiator;
    kp->confirmed = true;
    kp->local_index = local_index;
    kp->remote_index = remote_index;
    memcpy(kp->send_key, send_key, 32);
    memcpy(kp->recv_key, recv_key, 32);
    kp->created_ms = now_ms;
    rph_replay_init(&kp->replay);
    return 0;
}

static void nonce_of(uint8_t n[12], uint64_t counter)
{
    memset(n, 0, 4);
    for (int i = 0; i < 8; i++)
        n[4 + i] = (uint8_t)(counter >> (8 * i));
}

int rph_transport_seal(struct rph_keypair *kp, uint8_t *buf, size_t payload_len)
{
    if (!kp->valid) return RPH_E_NOKEY;
    if (payload_len > RPH_DATAGRAM_MAX - RPH_TRANSPORT_HEADER_LEN - RPH_TAG_LEN)
        return RPH_E_TOOBIG;
    if (kp->send_counter == UINT64_MAX) return RPH_E_NOKEY;
    uint64_t ctr = kp->send_counter++;
    size_t total = RPH_TRANSPORT_HEADER_LEN + payload_len + RPH_TAG_LEN;
    buf[0] = (uint8_t)(total >> 8);
    buf[1] = (uint8_t)total;
    buf[2] = 0;
    buf[3] = RPH_TRANSPORT;
    uint32_t ri = kp->remote_index;
    buf[4] = (uint8_t)(ri >> 24);
    buf[5] = (uint8_t)(ri >> 16);
    buf[6] = (uint8_t)(ri >> 8);
    buf[7] = (uint8_t)ri;
    for (int i = 0; i < 8; i++)
        buf[8 + i] = (uint8_t)(ctr >> (56 - 8 * i));
    uint8_t nonce[12];
    nonce_of(nonce, ctr);
    uint8_t *p = buf + RPH_TRANSPORT_HEADER_LEN;
    int r = rph_aead_seal(p, p + payload_len, p, payload_len, buf, RPH_TRANSPORT_HEADER_LEN, nonce,
                          kp->send_key);
    return r < 0 ? r : (int)total;
}

int rph_transport_open(struct rph_keypair *kp, uint8_t *raw, const struct rph_msg *m,
                       uint8_t **plain, size_t *plain_len)
{
    if (!kp->valid) return RPH_E_NOKEY;
    if (!rph_replay_check(&kp->replay, m->tr.counter)) return RPH_E_REPLAY;
    size_t clen = m->data_len - RPH_TAG_LEN;
    uint8_t *c = raw + RPH_TRANSPORT_HEADER_LEN;
    uint8_t nonce[12];
    nonce_of(nonce, m->tr.counter);
    if (rph_aead_open(c, c, clen, c + clen, raw, RPH_TRANSPORT_HEADER_LEN, nonce, kp->recv_key) !=
        0)
        return RPH_E_AUTH;
    if (!rph_replay_update(&kp->replay, m->tr.counter)) return RPH_E_REPLAY;
    *plain = c;
    *plain_len = clen;
    return 0;
}

#else /* no libsodium */

bool rph_seal_available(void)
{
    return false;
}
int rph_seal_init(void)
{
    return RPH_E_NOTSUP;
}
void rph_seal_wipe(void *p, size_t n)
{
    volatile uint8_t *v = p;
    while (n--)
        *v++ = 0;
}
int rph_seal_derive(struct rph_seal_keys *k, const uint8_t key[RPH_KEY_LEN], const void *name,
                    size_t name_len)
{
    (void)k, (void)key, (void)name, (void)name_len;
    return RPH_E_NOTSUP;
}
int rph_key_generate(uint8_t key[RPH_KEY_LEN])
{
    (void)key;
    return RPH_E_NOTSUP;
}
int rph_key_to_base64(const uint8_t key[RPH_KEY_LEN], char *out, size_t cap)
{
    (void)key, (void)out, (void)cap;
    return RPH_E_NOTSUP;
}
int rph_key_from_base64(const char *text, uint8_t key[RPH_KEY_LEN])
{
    (void)text, (void)key;
    return RPH_E_NOTSUP;
}
int rph_owner_encode(const struct rph_seal_keys *k, enum rph_type type, uint64_t wall_ms,
                     uint8_t *buf, size_t cap)
{
    (void)k, (void)type, (void)wall_ms, (void)buf, (void)cap;
    return RPH_E_NOTSUP;
}
int rph_owner_encode_cookie(const struct rph_seal_keys *k, enum rph_type type, uint64_t wall_ms,
                            const uint8_t *cookie, uint8_t *buf, size_t cap)
{
    (void)k, (void)type, (void)wall_ms, (void)cookie, (void)buf, (void)cap;
    return RPH_E_NOTSUP;
}
int rph_owner_encode_node(const struct rph_seal_keys *k, enum rph_type type, uint64_t wall_ms,
                          const uint8_t *node_id, const uint8_t *cookie, uint8_t *buf, size_t cap)
{
    (void)k, (void)type, (void)wall_ms, (void)node_id, (void)cookie, (void)buf, (void)cap;
    return RPH_E_NOTSUP;
}
void rph_node_id(const uint8_t node_pk[32], uint8_t out[RPH_NODE_ID_LEN])
{
    (void)node_pk;
    memset(out, 0, RPH_NODE_ID_LEN);
}
int rph_owner_verify(const uint8_t *raw, const struct rph_msg *m, struct rph_session *session)
{
    (void)raw, (void)m, (void)session;
    return RPH_E_NOTSUP;
}
int rph_keypair_from_noise(struct rph_keypair *kp, const uint8_t send_key[32],
                           const uint8_t recv_key[32], uint32_t local_index, uint32_t remote_index,
                           bool initiator, uint64_t now_ms)
{
    (void)send_key, (void)recv_key, (void)local_index, (void)remote_index, (void)initiator,
        (void)now_ms;
    memset(kp, 0, sizeof *kp);
    return RPH_E_NOTSUP;
}
int rph_transport_seal(struct rph_keypair *kp, uint8_t *buf, size_t payload_len)
{
    (void)kp, (void)buf, (void)payload_len;
    return RPH_E_NOTSUP;
}
int rph_transport_open(struct rph_keypair *kp, uint8_t *raw, const struct rph_msg *m,
                       uint8_t **plain, size_t *plain_len)
{
    (void)kp, (void)raw, (void)m, (void)plain, (void)plain_len;
    return RPH_E_NOTSUP;
}
#endif

int rph_key_load_file(const char *path, uint8_t key[RPH_KEY_LEN], char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        int e = errno;
        snprintf(err, errlen, "key file %s: %s", path, strerror(e));
        return -e;
    }
    int r = rph_key_load_fd(fd, path, key, err, errlen);
    close(fd);
    return r;
}

int rph_key_load_fd(int fd, const char *path, uint8_t key[RPH_KEY_LEN], char *err, size_t errlen)
{
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "key file %s: not a regular file", path);
        return RPH_E_INVALID;
    }
    if (st.st_mode & 077) {
        snprintf(err, errlen, "key file %s: mode %03o lets others read the key; run: chmod 600 %s",
                 path, (unsigned)(st.st_mode & 0777), path);
        return -EPERM;
    }
    char text[128];
    ssize_t n = read(fd, text, sizeof text - 1);
    if (n < 0) {
        snprintf(err, errlen, "key file %s: read: %s", path, strerror(errno));
        return -EIO;
    }
    text[n] = 0;
    int r = rph_key_from_base64(text, key);
    rph_seal_wipe(text, sizeof text);
    if (r == RPH_E_NOTSUP) {
        snprintf(err, errlen, "key file %s: %s", path, rph_strerror(r));
        return r;
    }
    if (r < 0) {
        snprintf(err, errlen,
                 "key file %s: not a key (expected 44 characters of base64 for 32 bytes, "
                 "as made by `ruphinctl genkey`)",
                 path);
        return r;
    }
    return 0;
}
