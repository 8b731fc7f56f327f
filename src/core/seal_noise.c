// SPDX-License-Identifier: MIT
// Sealed mode's handshake (docs/PROTOCOL.md "Sealed mode", docs/SECURITY.md "The handshake"):
// Noise_XXpsk0 messages with ruphin's indices around them, and WireGuard-style cookies.
#include "seal_noise.h"

#include <string.h>

#include "ruphin/be.h"
#include "ruphin/error.h"

#ifdef RUPHIN_HAVE_SODIUM
#include <sodium.h>
#endif

/* Offsets inside the datagrams (header included). */
#define INIT_NOISE 8                     /* e[32] tag[16] */
#define INIT_TAG (INIT_NOISE + 32)       /* the payload's tag: what a CookieReply binds to */
#define INIT_MAC2 (RPH_HS_INIT_LEN - 16) /* mac2[16] */
#define RESP_NOISE 12                    /* e[32] s[48] tag[16] */
#define FINISH_NOISE 8                   /* s[48] ts[12 + 16] */
#define COOKIE_NONCE 8
#define COOKIE_BOX (COOKIE_NONCE + 24)
#define FINISH_TRIES 5

int sn_proto_init(struct sn_proto *p, const struct rph_seal_keys *k, const uint8_t node_sk[32],
                  bool initiator, const uint8_t (*members)[32], size_t n_members)
{
    /* Bound to the session: a handshake of another session fails at its first tag. */
    uint8_t prologue[sizeof SN_PROLOGUE_LABEL - 1 + RPH_SESSION_MAX];
    memcpy(prologue, SN_PROLOGUE_LABEL, sizeof SN_PROLOGUE_LABEL - 1);
    memcpy(prologue + sizeof SN_PROLOGUE_LABEL - 1, k->wire_session.id, RPH_SESSION_MAX);
    p->keys = k;
    p->members = members;
    p->n_members = n_members;
    return rph_noise_init(&p->tmpl, RPH_NOISE_XXPSK0, initiator, prologue, sizeof prologue, node_sk,
                          NULL, k->noise_psk);
}

bool sn_member(const struct sn_proto *p, const uint8_t pk[32])
{
    if (p->n_members == 0) return true;
    for (size_t i = 0; i < p->n_members; i++)
        if (memcmp(p->members[i], pk, 32) == 0) return true;
    return false;
}

void sn_tai64n(uint8_t out[SN_TS_LEN], uint64_t wall_ms)
{
    /* TAI64 label 2^62 + 10 + seconds, as WireGuard writes it (leap seconds ignored). */
    uint64_t s = 0x400000000000000aull + wall_ms / 1000;
    uint32_t ns = (uint32_t)(wall_ms % 1000) * 1000000u;
    rph_put32(out, (uint32_t)(s >> 32));
    rph_put32(out + 4, (uint32_t)s);
    rph_put32(out + 8, ns);
}

static void put_header(uint8_t *buf, size_t len, enum rph_type type)
{
    rph_put16(buf, (uint16_t)len);
    rph_put16(buf + 2, (uint16_t)type);
}

static void mac16(uint8_t out[16], const uint8_t *key, size_t key_len, const uint8_t *in,
                  size_t len)
{
#ifdef RUPHIN_HAVE_SODIUM
    crypto_generichash(out, 16, in, len, key, key_len);
#else
    (void)key, (void)key_len, (void)in, (void)len;
    memset(out, 0, 16);
#endif
}

static void set_mac2(struct sn_initiator *h, uint64_t now)
{
    uint8_t *mac2 = h->msg + INIT_MAC2;
    if (h->has_cookie && now - h->cookie_ms < SN_COOKIE_MS)
        mac16(mac2, h->cookie, SN_COOKIE_LEN, h->msg, INIT_MAC2);
    else
        memset(mac2, 0, 16);
}

int sn_initiate(struct sn_initiator *h, const struct sn_proto *p, uint32_t index, uint64_t now,
                uint32_t retry_ms)
{
    struct rph_noise_hs hs = p->tmpl;
    uint8_t msg[RPH_HS_INIT_LEN];
    put_header(msg, sizeof msg, RPH_HANDSHAKE_INIT);
    rph_put32(msg + 4, index);
    int n = rph_noise_write_message(&hs, NULL, 0, msg + INIT_NOISE, INIT_MAC2 - INIT_NOISE);
    if (n != INIT_MAC2 - INIT_NOISE) {
        rph_noise_wipe(&hs);
        return n < 0 ? n : RPH_E_CRYPTO;
    }
    rph_noise_wipe(&h->hs);
    h->hs = hs;
    rph_noise_wipe(&hs);
    memcpy(h->msg, msg, sizeof msg);
    h->msg_len = sizeof msg;
    h->index = index;
    h->phase = SN_INIT;
    h->early_sent = false;
    h->finish_tries = 0;
    h->next_ms = now + retry_ms;
    set_mac2(h, now);
    return 0;
}

int sn_complete(struct sn_initiator *h, const struct sn_proto *p, const struct rph_msg *m,
                const uint8_t ts[SN_TS_LEN], uint64_t now, uint32_t retry_ms,
                struct rph_keypair *kp, uint8_t rs[32])
{
    if (h->phase != SN_INIT || m->hs.receiver != h->index) return RPH_E_UNEXPECTED;
    struct rph_noise_hs hs = h->hs;
    struct rph_noise_keys keys;
    uint8_t msg[RPH_HS_FINISH_LEN];
    uint8_t none[1];
    int r = rph_noise_read_message(&hs, m->data, m->data_len, none, sizeof none);
    if (r == 0 && !sn_member(p, rph_noise_remote_static(&hs))) r = RPH_E_UNKNOWN_PEER;
    if (r == 0) {
        memcpy(rs, rph_noise_remote_static(&hs), 32);
        put_header(msg, sizeof msg, RPH_HANDSHAKE_FINISH);
        rph_put32(msg + 4, m->hs.sender);
        r = rph_noise_write_message(&hs, ts, SN_TS_LEN, msg + FINISH_NOISE,
                                    sizeof msg - FINISH_NOISE);
        if (r >= 0) r = r == (int)(sizeof msg - FINISH_NOISE) ? 0 : RPH_E_CRYPTO;
    }
    if (r == 0) r = rph_noise_split(&hs, &keys);
    if (r == 0) {
        rph_keypair_from_noise(kp, keys.send, keys.recv, h->index, m->hs.sender, true, now);
        rph_seal_wipe(&keys, sizeof keys);
        rph_noise_wipe(&h->hs);
        memcpy(h->msg, msg, sizeof msg);
        h->msg_len = sizeof msg;
        h->phase = SN_FINISH;
        h->finish_tries = 0;
        h->next_ms = now + retry_ms;
    }
    rph_noise_wipe(&hs);
    return r;
}

int sn_take_cookie(struct sn_initiator *h, const struct sn_proto *p, const struct rph_msg *m,
                   uint64_t now)
{
    if (h->phase != SN_INIT || m->hs.receiver != h->index) return RPH_E_UNEXPECTED;
#ifdef RUPHIN_HAVE_SODIUM
    const uint8_t *raw = m->data - 8; /* the datagram: header and receiver before data */
    uint8_t cookie[SN_COOKIE_LEN];
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(
            cookie, NULL, NULL, raw + COOKIE_BOX, RPH_COOKIE_REPLY_LEN - COOKIE_BOX,
            h->msg + INIT_TAG, 16, raw + COOKIE_NONCE, p->keys->cookie_key) != 0)
        return RPH_E_AUTH;
    memcpy(h->cookie, cookie, sizeof cookie);
    sodium_memzero(cookie, sizeof cookie);
    h->has_cookie = true;
    h->cookie_ms = now;
    set_mac2(h, now);
    return 0;
#else
    (void)p, (void)now;
    return RPH_E_NOTSUP;
#endif
}

void sn_done(struct sn_initiator *h)
{
    rph_noise_wipe(&h->hs);
    h->phase = SN_IDLE;
}

bool sn_resend_due(struct sn_initiator *h, uint64_t now, uint32_t retry_ms, bool *restart)
{
    *restart = false;
    if (h->phase == SN_IDLE || now < h->next_ms) return false;
    if (h->phase == SN_FINISH && ++h->finish_tries > FINISH_TRIES) {
        /* The responder lost our handshake (it restarted): a new one. */
        *restart = true;
        return false;
    }
    h->next_ms = now + retry_ms;
    h->early_sent = false;
    if (h->phase == SN_INIT) set_mac2(h, now);
    return true;
}

bool sn_resend_punched(struct sn_initiator *h)
{
    /* One early resend per retry period at most, whoever sends the punches. A finish too: a
     * mesh member that punches was just introduced, and may have refused it before. */
    if (h->phase == SN_IDLE || h->early_sent) return false;
    h->early_sent = true;
    return true;
}

uint64_t sn_deadline(const struct sn_initiator *h)
{
    return h->phase == SN_IDLE ? UINT64_MAX : h->next_ms;
}

const uint8_t *sn_init_ephemeral(const struct rph_msg *m)
{
    return m->data; /* the body after the sender index starts with e */
}

int sn_read_init(struct rph_noise_hs *hs, const struct sn_proto *p, const struct rph_msg *m)
{
    *hs = p->tmpl;
    uint8_t none[1];
    /* Message 1 is e and the payload's tag; mac2 after it is not Noise's. */
    int r = rph_noise_read_message(hs, m->data, m->data_len - 16, none, sizeof none);
    if (r != 0) {
        rph_noise_wipe(hs);
        return r < 0 ? r : RPH_E_AUTH; /* a payload: not ours */
    }
    return 0;
}

int sn_answer(struct sn_answer *a, struct rph_noise_hs *hs, const struct rph_msg *m, uint32_t index)
{
    uint8_t resp[RPH_HS_RESP_LEN];
    put_header(resp, sizeof resp, RPH_HANDSHAKE_RESP);
    rph_put32(resp + 4, index);
    rph_put32(resp + 8, m->hs.sender);
    int n = rph_noise_write_message(hs, NULL, 0, resp + RESP_NOISE, sizeof resp - RESP_NOISE);
    if (n != (int)(sizeof resp - RESP_NOISE)) {
        rph_noise_wipe(hs);
        return n < 0 ? n : RPH_E_CRYPTO;
    }
    rph_noise_wipe(&a->hs);
    a->hs = *hs;
    rph_noise_wipe(hs);
    memcpy(a->re, sn_init_ephemeral(m), 32);
    a->local_index = index;
    a->remote_index = m->hs.sender;
    memcpy(a->resp, resp, sizeof resp);
    return 0;
}

int sn_finish(struct sn_answer *a, const struct sn_proto *p, const struct rph_msg *m, uint64_t now,
              uint8_t rs[32], uint8_t ts[SN_TS_LEN], struct rph_keypair *kp)
{
    if (m->hs.receiver != a->local_index) return RPH_E_NOKEY;
    struct rph_noise_hs hs = a->hs;
    struct rph_noise_keys keys;
    uint8_t payload[SN_TS_LEN];
    int r = rph_noise_read_message(&hs, m->data, m->data_len, payload, sizeof payload);
    if (r >= 0) r = r == SN_TS_LEN ? 0 : RPH_E_AUTH;
    if (r == 0 && !sn_member(p, rph_noise_remote_static(&hs))) r = RPH_E_UNKNOWN_PEER;
    if (r == 0) {
        memcpy(rs, rph_noise_remote_static(&hs), 32);
        memcpy(ts, payload, SN_TS_LEN);
        r = rph_noise_split(&hs, &keys);
    }
    if (r == 0) {
        rph_keypair_from_noise(kp, keys.send, keys.recv, a->local_index, a->remote_index, false,
                               now);
        rph_seal_wipe(&keys, sizeof keys);
    }
    rph_noise_wipe(&hs);
    return r;
}

#ifdef RUPHIN_HAVE_SODIUM
static void rotate(struct sn_cookies *c, uint64_t now)
{
    if (c->has && now - c->born_ms < SN_COOKIE_MS) return;
    memcpy(c->secret[1], c->has ? c->secret[0] : c->secret[1], 32);
    randombytes_buf(c->secret[0], 32);
    if (!c->has) memcpy(c->secret[1], c->secret[0], 32);
    c->born_ms = now;
    c->has = true;
}

static void cookie_of(uint8_t out[SN_COOKIE_LEN], const uint8_t secret[32],
                      const struct rph_addr *from)
{
    uint8_t src[19];
    src[0] = from->family;
    memcpy(src + 1, from->ip, 16);
    rph_put16(src + 17, from->port);
    mac16(out, secret, 32, src, sizeof src);
}

bool sn_mac2_ok(struct sn_cookies *c, const uint8_t *raw, const struct rph_addr *from, uint64_t now)
{
    rotate(c, now);
    bool ok = false;
    for (int i = 0; i < 2 && !ok; i++) {
        uint8_t cookie[SN_COOKIE_LEN], want[16];
        cookie_of(cookie, c->secret[i], from);
        mac16(want, cookie, sizeof cookie, raw, INIT_MAC2);
        ok = sodium_memcmp(want, raw + INIT_MAC2, 16) == 0;
        sodium_memzero(cookie, sizeof cookie);
    }
    return ok;
}

int sn_cookie_reply(struct sn_cookies *c, const struct rph_seal_keys *k, const uint8_t *raw,
                    const struct rph_msg *m, const struct rph_addr *from, uint64_t now,
                    uint8_t out[RPH_COOKIE_REPLY_LEN])
{
    rotate(c, now);
    uint8_t cookie[SN_COOKIE_LEN];
    cookie_of(cookie, c->secret[0], from);
    put_header(out, RPH_COOKIE_REPLY_LEN, RPH_COOKIE_REPLY);
    rph_put32(out + 4, m->hs.sender);
    randombytes_buf(out + COOKIE_NONCE, 24);
    /* Bound to the init's tag: only who sent that init can use the cookie. */
    crypto_aead_xchacha20poly1305_ietf_encrypt(out + COOKIE_BOX, NULL, cookie, sizeof cookie,
                                               raw + INIT_TAG, 16, NULL, out + COOKIE_NONCE,
                                               k->cookie_key);
    sodium_memzero(cookie, sizeof cookie);
    return RPH_COOKIE_REPLY_LEN;
}
#else
bool sn_mac2_ok(struct sn_cookies *c, const uint8_t *raw, const struct rph_addr *from, uint64_t now)
{
    (void)c, (void)raw, (void)from, (void)now;
    return false;
}
int sn_cookie_reply(struct sn_cookies *c, const struct rph_seal_keys *k, const uint8_t *raw,
                    const struct rph_msg *m, const struct rph_addr *from, uint64_t now,
                    uint8_t out[RPH_COOKIE_REPLY_LEN])
{
    (void)c, (void)k, (void)raw, (void)m, (void)from, (void)now, (void)out;
    return RPH_E_NOTSUP;
}
#endif
