/* SPDX-License-Identifier: MIT */
/* The sealed handshake and the state its messages need: ruphin's own init/response. It makes
 * keypairs and knows nothing of slots or peers, so a Noise handshake can take its place. */
#ifndef RUPHIN_CORE_SEAL_HANDSHAKE_H
#define RUPHIN_CORE_SEAL_HANDSHAKE_H

#include <stdbool.h>
#include <stdint.h>

#include "ruphin/seal.h"

/* Initiator: the handshake in flight. */
struct hs_initiator {
    bool pending;    /* init sent, no response yet */
    bool early_sent; /* the init went again early this retry period (a responder punch came) */
    uint8_t e_sk[32];
    uint8_t init[RPH_HS_INIT_LEN];
    uint64_t next_ms; /* the init's next resend */
};

/* Responder: the answer to the last init, re-sent for a duplicate of that init. */
struct hs_answer {
    bool valid;
    uint8_t init_mac[RPH_MAC_LEN];
    uint8_t resp[RPH_HS_RESP_LEN];
};

/* A new handshake: h->init is the datagram to send. 0, or a negative code. */
int hs_initiate(struct hs_initiator *h, const struct rph_seal_keys *k, uint32_t index,
                const uint8_t id[8], uint64_t now_ms, uint32_t retry_ms);
/* Whether h->init goes again now: every retry_ms (the same init, so a duplicate gets the
 * same answer), or once early per retry period when the responder's punch shows its NAT open. */
bool hs_resend_due(struct hs_initiator *h, uint64_t now_ms, uint32_t retry_ms);
bool hs_resend_punched(struct hs_initiator *h);
/* When hs_resend_due next says yes; UINT64_MAX with no handshake in flight. */
uint64_t hs_deadline(const struct hs_initiator *h);
/* The response (raw, decoded m) to our init: the initiator's keys in *kp, the handshake over. */
int hs_complete(struct hs_initiator *h, const struct rph_seal_keys *k, const uint8_t *raw,
                const struct rph_msg *m, uint64_t now_ms, struct rph_keypair *kp);

/* An init's own authentication (its MAC under the session's handshake key). */
int hs_verify(const struct rph_seal_keys *k, const uint8_t *raw);
/* Whether a answers this very init already: a retransmission gets a->resp again, no new keys. */
bool hs_answered(const struct hs_answer *a, const uint8_t *raw);
/* Answers a verified init (raw, decoded m): the response in a->resp, the responder's keys, not
 * confirmed yet, in *kp. */
int hs_answer(struct hs_answer *a, const struct rph_seal_keys *k, const uint8_t *raw,
              const struct rph_msg *m, uint32_t index, uint64_t now_ms, struct rph_keypair *kp);
/* Who sent a verified init: the identity its keys belong to (for roaming). */
const uint8_t *hs_init_id(const struct rph_msg *m);

#endif
