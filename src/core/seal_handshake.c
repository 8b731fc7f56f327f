// SPDX-License-Identifier: MIT
// ruphin's sealed handshake (docs/SECURITY.md): an init, a response bound to it, keys from
// both ephemerals. The initiator re-sends its same init until answered; the responder caches
// its answer per init, so a duplicate costs no new key agreement.
#include "seal_handshake.h"

#include <string.h>

static const uint8_t *init_mac(const uint8_t *raw)
{
    return raw + RPH_HS_INIT_LEN - RPH_MAC_LEN;
}

int hs_initiate(struct hs_initiator *h, const struct rph_seal_keys *k, uint32_t index,
                const uint8_t id[8], uint64_t now_ms, uint32_t retry_ms)
{
    int e = rph_hs_init_encode(k, index, id, h->e_sk, h->init);
    if (e < 0) return e;
    h->pending = true;
    h->early_sent = false;
    h->next_ms = now_ms + retry_ms;
    return 0;
}

bool hs_resend_due(struct hs_initiator *h, uint64_t now_ms, uint32_t retry_ms)
{
    if (!h->pending || now_ms < h->next_ms) return false;
    h->next_ms = now_ms + retry_ms;
    h->early_sent = false;
    return true;
}

bool hs_resend_punched(struct hs_initiator *h)
{
    /* One early resend per retry period at most, whoever sends the punches. */
    if (!h->pending || h->early_sent) return false;
    h->early_sent = true;
    return true;
}

uint64_t hs_deadline(const struct hs_initiator *h)
{
    return h->pending ? h->next_ms : UINT64_MAX;
}

int hs_complete(struct hs_initiator *h, const struct rph_seal_keys *k, const uint8_t *raw,
                const struct rph_msg *m, uint64_t now_ms, struct rph_keypair *kp)
{
    int e = rph_hs_complete(k, h->init, h->e_sk, raw, m, now_ms, kp);
    if (e < 0) return e;
    h->pending = false;
    rph_seal_wipe(h->e_sk, sizeof h->e_sk);
    return 0;
}

int hs_verify(const struct rph_seal_keys *k, const uint8_t *raw)
{
    return rph_hs_init_verify(k, raw);
}

bool hs_answered(const struct hs_answer *a, const uint8_t *raw)
{
    return a->valid && memcmp(a->init_mac, init_mac(raw), RPH_MAC_LEN) == 0;
}

int hs_answer(struct hs_answer *a, const struct rph_seal_keys *k, const uint8_t *raw,
              const struct rph_msg *m, uint32_t index, uint64_t now_ms, struct rph_keypair *kp)
{
    int e = rph_hs_respond(k, raw, m, index, now_ms, a->resp, kp);
    if (e < 0) return e;
    memcpy(a->init_mac, init_mac(raw), RPH_MAC_LEN);
    a->valid = true;
    return 0;
}

const uint8_t *hs_init_id(const struct rph_msg *m)
{
    return m->hs.sender_id;
}
