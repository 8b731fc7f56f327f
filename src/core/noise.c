// SPDX-License-Identifier: MIT
// Noise's HandshakeState: the patterns as token tables and one interpreter that writes or
// reads a message by walking its tokens. Every call works on a copy and commits only on success.
#include <errno.h>
#include <string.h>

#include "noise_priv.h"
#include "ruphin/error.h"
#include "ruphin/noise.h"

enum token { T_END = 0, T_E, T_S, T_EE, T_ES, T_SE, T_SS, T_PSK };

#define MAX_MSGS 3
#define MAX_TOKENS 5

struct pattern {
    const char *name;
    bool responder_pre_s; /* the "<- s" pre-message: the initiator knows rs */
    bool psk;             /* a psk modifier: 'e' also calls MixKey */
    uint8_t n_msgs;
    uint8_t msgs[MAX_MSGS][MAX_TOKENS]; /* initiator writes 0, 2; responder writes 1 */
};

static const struct pattern PATTERNS[] = {
    [RPH_NOISE_IKPSK2] =
        {
            .name = "Noise_IKpsk2_25519_ChaChaPoly_SHA256",
            .responder_pre_s = true,
            .psk = true,
            .n_msgs = 2,
            .msgs = {{T_E, T_ES, T_S, T_SS}, {T_E, T_EE, T_SE, T_PSK}},
        },
    [RPH_NOISE_XXPSK3] =
        {
            .name = "Noise_XXpsk3_25519_ChaChaPoly_SHA256",
            .psk = true,
            .n_msgs = 3,
            .msgs = {{T_E}, {T_E, T_EE, T_S, T_ES}, {T_S, T_SE, T_PSK}},
        },
    [RPH_NOISE_XXPSK0] =
        {
            .name = "Noise_XXpsk0_25519_ChaChaPoly_SHA256",
            .psk = true,
            .n_msgs = 3,
            .msgs = {{T_PSK, T_E}, {T_E, T_EE, T_S, T_ES}, {T_S, T_SE}},
        },
};

enum { E_NONE = 0, E_PRESET, E_USED };
enum { ST_NONE = 0, ST_ACTIVE, ST_READY, ST_SPLIT };

const char *rph_noise_pattern_name(enum rph_noise_pattern p)
{
    if ((unsigned)p >= sizeof PATTERNS / sizeof PATTERNS[0]) return NULL;
    return PATTERNS[p].name;
}

bool rph_noise_is_writer(const struct rph_noise_hs *hs)
{
    return hs->state == ST_ACTIVE && (hs->msg % 2 == 0) == hs->initiator;
}

bool rph_noise_handshake_done(const struct rph_noise_hs *hs)
{
    return hs->state == ST_READY;
}

int rph_noise_message_len(const struct rph_noise_hs *hs, size_t payload_len)
{
    if (hs->state != ST_ACTIVE) return RPH_E_UNEXPECTED;
    const struct pattern *p = &PATTERNS[hs->pattern];
    bool keyed = hs->ss.cs.has_key;
    size_t n = 0;
    for (const uint8_t *t = p->msgs[hs->msg]; t < p->msgs[hs->msg] + MAX_TOKENS && *t; t++) {
        switch (*t) {
        case T_E:
            n += 32;
            if (p->psk) keyed = true;
            break;
        case T_S:
            n += 32 + (keyed ? RPH_NOISE_TAG_LEN : 0);
            break;
        default: /* DH tokens and psk call MixKey */
            keyed = true;
            break;
        }
    }
    if (payload_len > RPH_NOISE_MAX_MSG) return RPH_E_TOOBIG;
    n += payload_len + (keyed ? RPH_NOISE_TAG_LEN : 0);
    if (n > RPH_NOISE_MAX_MSG) return RPH_E_TOOBIG;
    return (int)n;
}

#ifdef RUPHIN_HAVE_SODIUM
#include <sodium.h>

int rph_noise_global_init(void)
{
    return sodium_init() < 0 ? -ENOMEM : 0;
}

int rph_noise_public_key(uint8_t pk[RPH_NOISE_KEY_LEN], const uint8_t sk[RPH_NOISE_KEY_LEN])
{
    return crypto_scalarmult_base(pk, sk) == 0 ? 0 : RPH_E_INVALID;
}

int rph_noise_keygen(uint8_t sk[RPH_NOISE_KEY_LEN], uint8_t pk[RPH_NOISE_KEY_LEN])
{
    randombytes_buf(sk, RPH_NOISE_KEY_LEN);
    return rph_noise_public_key(pk, sk);
}

void rph_noise_wipe(struct rph_noise_hs *hs)
{
    sodium_memzero(hs, sizeof *hs);
}

int rph_noise_init(struct rph_noise_hs *hs, enum rph_noise_pattern p, bool initiator,
                   const uint8_t *prologue, size_t prologue_len,
                   const uint8_t s_sk[RPH_NOISE_KEY_LEN], const uint8_t *rs,
                   const uint8_t psk[RPH_NOISE_KEY_LEN])
{
    rph_noise_wipe(hs);
    if (!rph_noise_pattern_name(p) || !s_sk || !psk || (prologue_len && !prologue))
        return RPH_E_INVALID;
    const struct pattern *pt = &PATTERNS[p];
    /* rs is given exactly when a pre-message tells the initiator the responder's key. */
    if ((rs != NULL) != (pt->responder_pre_s && initiator)) return RPH_E_INVALID;
    hs->pattern = (uint8_t)p;
    hs->initiator = initiator;
    memcpy(hs->s_sk, s_sk, 32);
    memcpy(hs->psk, psk, 32);
    if (rph_noise_public_key(hs->s_pk, hs->s_sk) != 0) {
        rph_noise_wipe(hs);
        return RPH_E_INVALID;
    }
    noise_sym_init(&hs->ss, pt->name);
    noise_mix_hash(&hs->ss, prologue, prologue_len);
    if (pt->responder_pre_s) {
        if (initiator) {
            memcpy(hs->rs, rs, 32);
            hs->has_rs = true;
        }
        noise_mix_hash(&hs->ss, initiator ? hs->rs : hs->s_pk, 32);
    }
    hs->state = ST_ACTIVE;
    return 0;
}

int rph_noise_set_ephemeral(struct rph_noise_hs *hs, const uint8_t e_sk[RPH_NOISE_KEY_LEN])
{
    if (hs->state != ST_ACTIVE || hs->e_state == E_USED) return RPH_E_UNEXPECTED;
    memcpy(hs->e_sk, e_sk, 32);
    if (rph_noise_public_key(hs->e_pk, hs->e_sk) != 0) {
        sodium_memzero(hs->e_sk, 32);
        return RPH_E_INVALID;
    }
    hs->e_state = E_PRESET;
    return 0;
}

const uint8_t *rph_noise_remote_static(const struct rph_noise_hs *hs)
{
    return hs->state != ST_NONE && hs->has_rs ? hs->rs : NULL;
}

/* MixKey(DH(sk, pk)), refusing the all-zero output of a low-order pk. */
static int mix_dh(struct rph_noise_hs *t, const uint8_t sk[32], const uint8_t pk[32])
{
    uint8_t shared[32];
    int r = 0;
    if (crypto_scalarmult(shared, sk, pk) != 0 || sodium_is_zero(shared, sizeof shared))
        r = RPH_E_AUTH;
    else
        noise_mix_key(&t->ss, shared);
    sodium_memzero(shared, sizeof shared);
    return r;
}

/* The DH tokens and psk, the same whether writing or reading. */
static int mix_token(struct rph_noise_hs *t, uint8_t tok)
{
    bool ini = t->initiator;
    switch (tok) {
    case T_EE:
        return mix_dh(t, t->e_sk, t->re);
    case T_ES:
        return ini ? mix_dh(t, t->e_sk, t->rs) : mix_dh(t, t->s_sk, t->re);
    case T_SE:
        return ini ? mix_dh(t, t->s_sk, t->re) : mix_dh(t, t->e_sk, t->rs);
    case T_SS:
        return mix_dh(t, t->s_sk, t->rs);
    case T_PSK:
        noise_mix_key_and_hash(&t->ss, t->psk);
        return 0;
    default:
        return RPH_E_INVALID;
    }
}

static void advance(struct rph_noise_hs *t)
{
    t->msg++;
    if (t->msg == PATTERNS[t->pattern].n_msgs) t->state = ST_READY;
}

static int write_tokens(struct rph_noise_hs *t, const uint8_t *payload, size_t payload_len,
                        uint8_t *out, size_t cap)
{
    const struct pattern *p = &PATTERNS[t->pattern];
    size_t off = 0;
    for (const uint8_t *tok = p->msgs[t->msg]; tok < p->msgs[t->msg] + MAX_TOKENS && *tok; tok++) {
        int r = 0;
        switch (*tok) {
        case T_E:
            if (t->e_state == E_USED) return RPH_E_UNEXPECTED;
            if (t->e_state == E_NONE && (r = rph_noise_keygen(t->e_sk, t->e_pk)) != 0) return r;
            t->e_state = E_USED;
            memcpy(out + off, t->e_pk, 32);
            off += 32;
            noise_mix_hash(&t->ss, t->e_pk, 32);
            if (p->psk) noise_mix_key(&t->ss, t->e_pk);
            break;
        case T_S:
            r = noise_encrypt_and_hash(&t->ss, t->s_pk, 32, out + off, cap - off);
            if (r < 0) return r;
            off += (size_t)r;
            break;
        default:
            if ((r = mix_token(t, *tok)) != 0) return r;
            break;
        }
    }
    int r = noise_encrypt_and_hash(&t->ss, payload, payload_len, out + off, cap - off);
    if (r < 0) return r;
    advance(t);
    return (int)(off + (size_t)r);
}

int rph_noise_write_message(struct rph_noise_hs *hs, const uint8_t *payload, size_t payload_len,
                            uint8_t *out, size_t cap)
{
    if (payload_len && !payload) return RPH_E_INVALID;
    if (!rph_noise_is_writer(hs)) return RPH_E_UNEXPECTED;
    int need = rph_noise_message_len(hs, payload_len);
    if (need < 0) return need;
    if (cap < (size_t)need) return RPH_E_NOSPACE;
    struct rph_noise_hs t = *hs;
    int n = write_tokens(&t, payload, payload_len, out, cap);
    if (n >= 0) *hs = t;
    sodium_memzero(&t, sizeof t);
    return n;
}

static int read_tokens(struct rph_noise_hs *t, const uint8_t *msg, size_t len, uint8_t *payload,
                       size_t cap)
{
    const struct pattern *p = &PATTERNS[t->pattern];
    size_t off = 0; /* the caller checked that len covers every token and the tag */
    for (const uint8_t *tok = p->msgs[t->msg]; tok < p->msgs[t->msg] + MAX_TOKENS && *tok; tok++) {
        int r = 0;
        switch (*tok) {
        case T_E:
            if (t->has_re) return RPH_E_UNEXPECTED;
            memcpy(t->re, msg + off, 32);
            t->has_re = true;
            off += 32;
            noise_mix_hash(&t->ss, t->re, 32);
            if (p->psk) noise_mix_key(&t->ss, t->re);
            break;
        case T_S: {
            size_t n = 32 + (t->ss.cs.has_key ? RPH_NOISE_TAG_LEN : 0);
            if (t->has_rs) return RPH_E_UNEXPECTED;
            if ((r = noise_decrypt_and_hash(&t->ss, msg + off, n, t->rs, 32)) < 0) return r;
            t->has_rs = true;
            off += n;
            break;
        }
        default:
            if ((r = mix_token(t, *tok)) != 0) return r;
            break;
        }
    }
    int r = noise_decrypt_and_hash(&t->ss, msg + off, len - off, payload, cap);
    if (r < 0) return r;
    advance(t);
    return r;
}

int rph_noise_read_message(struct rph_noise_hs *hs, const uint8_t *msg, size_t len,
                           uint8_t *payload, size_t cap)
{
    if (hs->state != ST_ACTIVE || rph_noise_is_writer(hs)) return RPH_E_UNEXPECTED;
    int min = rph_noise_message_len(hs, 0);
    if (min < 0) return min;
    if (len < (size_t)min || len > RPH_NOISE_MAX_MSG) return RPH_E_SIZE;
    if (cap < len - (size_t)min) return RPH_E_NOSPACE;
    struct rph_noise_hs t = *hs;
    int n = read_tokens(&t, msg, len, payload, cap);
    if (n >= 0) *hs = t;
    sodium_memzero(&t, sizeof t);
    return n;
}

int rph_noise_split(struct rph_noise_hs *hs, struct rph_noise_keys *out)
{
    if (hs->state != ST_READY) return RPH_E_UNEXPECTED;
    uint8_t k1[32], k2[32];
    noise_split(&hs->ss, k1, k2);
    memcpy(out->send, hs->initiator ? k1 : k2, 32);
    memcpy(out->recv, hs->initiator ? k2 : k1, 32);
    memcpy(out->hash, hs->ss.h, RPH_NOISE_HASH_LEN);
    sodium_memzero(k1, sizeof k1);
    sodium_memzero(k2, sizeof k2);
    /* Only the remote static key (public, and the caller's way to tell who this was) stays. */
    uint8_t rs[32];
    bool has_rs = hs->has_rs;
    memcpy(rs, hs->rs, 32);
    rph_noise_wipe(hs);
    memcpy(hs->rs, rs, 32);
    hs->has_rs = has_rs;
    hs->state = ST_SPLIT;
    return 0;
}

#else /* no libsodium: every entry point of noise.h refuses */

int rph_noise_global_init(void)
{
    return RPH_E_NOTSUP;
}
int rph_noise_public_key(uint8_t pk[RPH_NOISE_KEY_LEN], const uint8_t sk[RPH_NOISE_KEY_LEN])
{
    (void)pk, (void)sk;
    return RPH_E_NOTSUP;
}
int rph_noise_keygen(uint8_t sk[RPH_NOISE_KEY_LEN], uint8_t pk[RPH_NOISE_KEY_LEN])
{
    (void)sk, (void)pk;
    return RPH_E_NOTSUP;
}
void rph_noise_wipe(struct rph_noise_hs *hs)
{
    volatile uint8_t *v = (volatile uint8_t *)hs;
    for (size_t i = 0; i < sizeof *hs; i++)
        v[i] = 0;
}
int rph_noise_init(struct rph_noise_hs *hs, enum rph_noise_pattern p, bool initiator,
                   const uint8_t *prologue, size_t prologue_len,
                   const uint8_t s_sk[RPH_NOISE_KEY_LEN], const uint8_t *rs,
                   const uint8_t psk[RPH_NOISE_KEY_LEN])
{
    (void)p, (void)initiator, (void)prologue, (void)prologue_len, (void)s_sk, (void)rs, (void)psk;
    rph_noise_wipe(hs);
    return RPH_E_NOTSUP;
}
int rph_noise_set_ephemeral(struct rph_noise_hs *hs, const uint8_t e_sk[RPH_NOISE_KEY_LEN])
{
    (void)hs, (void)e_sk;
    return RPH_E_NOTSUP;
}
const uint8_t *rph_noise_remote_static(const struct rph_noise_hs *hs)
{
    (void)hs;
    return NULL;
}
int rph_noise_write_message(struct rph_noise_hs *hs, const uint8_t *payload, size_t payload_len,
                            uint8_t *out, size_t cap)
{
    (void)hs, (void)payload, (void)payload_len, (void)out, (void)cap;
    return RPH_E_NOTSUP;
}
int rph_noise_read_message(struct rph_noise_hs *hs, const uint8_t *msg, size_t len,
                           uint8_t *payload, size_t cap)
{
    (void)hs, (void)msg, (void)len, (void)payload, (void)cap;
    return RPH_E_NOTSUP;
}
int rph_noise_split(struct rph_noise_hs *hs, struct rph_noise_keys *out)
{
    (void)hs, (void)out;
    return RPH_E_NOTSUP;
}
void rph_noise_cipher_init(struct rph_noise_cipher *c, const uint8_t k[RPH_NOISE_KEY_LEN])
{
    (void)k;
    c->has_key = false;
}
void rph_noise_cipher_set_nonce(struct rph_noise_cipher *c, uint64_t n)
{
    c->n = n;
}
int rph_noise_encrypt(struct rph_noise_cipher *c, const uint8_t *ad, size_t ad_len,
                      const uint8_t *in, size_t len, uint8_t *out, size_t cap)
{
    (void)c, (void)ad, (void)ad_len, (void)in, (void)len, (void)out, (void)cap;
    return RPH_E_NOTSUP;
}
int rph_noise_decrypt(struct rph_noise_cipher *c, const uint8_t *ad, size_t ad_len,
                      const uint8_t *in, size_t len, uint8_t *out, size_t cap)
{
    (void)c, (void)ad, (void)ad_len, (void)in, (void)len, (void)out, (void)cap;
    return RPH_E_NOTSUP;
}

#endif
