/* SPDX-License-Identifier: MIT */
/* Sealed mode's peer handshake: Noise_XXpsk0_25519_ChaChaPoly_SHA256 in ruphin's messages
 * (HandshakeInit/Resp/Finish) and the CookieReply of a responder under load (internal). It
 * makes keypairs and knows nothing of slots or peers: peer_seal.c maps them. */
#ifndef RUPHIN_CORE_SEAL_NOISE_H
#define RUPHIN_CORE_SEAL_NOISE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ruphin/addr.h"
#include "ruphin/noise.h"
#include "ruphin/seal.h"

#define SN_TS_LEN 12     /* TAI64N: 8 bytes of seconds, 4 of nanoseconds, big-endian */
#define SN_COOKIE_LEN 16 /* a cookie, and mac2 */
#define SN_COOKIE_MS                                                                               \
    120000u /* a cookie secret (responder) and a cookie (initiator) live so long                   \
             */
#define SN_PROLOGUE_LABEL "ruphin-handshake-v1"

/* One side's handshake right after Initialize() (prologue, PSK, node key), made once: each
 * handshake starts from a copy, so a HandshakeInit costs no scalar multiplication to refuse. */
struct sn_proto {
    struct rph_noise_hs tmpl;
    const struct rph_seal_keys *keys;
    const uint8_t (*members)[32];
    size_t n_members;
};

int sn_proto_init(struct sn_proto *p, const struct rph_seal_keys *k, const uint8_t node_sk[32],
                  bool initiator, const uint8_t (*members)[32], size_t n_members);
/* Whether pk may be a peer: no members list, or pk is on it. */
bool sn_member(const struct sn_proto *p, const uint8_t pk[32]);

/* A TAI64N timestamp of wall_ms (UNIX milliseconds). */
void sn_tai64n(uint8_t out[SN_TS_LEN], uint64_t wall_ms);

enum sn_phase {
    SN_IDLE = 0,
    SN_INIT,   /* HandshakeInit sent, no response yet */
    SN_FINISH, /* HandshakeFinish sent; its keys wait for the responder's first packet */
};

/* Initiator: the handshake in flight. msg is the datagram it resends. */
struct sn_initiator {
    uint8_t phase;
    bool early_sent; /* the init went again early this retry period (a responder punch came) */
    uint8_t finish_tries;
    uint32_t index;
    struct rph_noise_hs hs; /* SN_INIT: the state after message 1 */
    uint8_t msg[RPH_HS_FINISH_LEN > RPH_HS_INIT_LEN ? RPH_HS_FINISH_LEN : RPH_HS_INIT_LEN];
    size_t msg_len;
    uint64_t next_ms; /* the next resend */
    uint8_t cookie[SN_COOKIE_LEN];
    bool has_cookie;
    uint64_t cookie_ms;
};

/* A new handshake: h->msg is the HandshakeInit to send. 0, or a negative code. */
int sn_initiate(struct sn_initiator *h, const struct sn_proto *p, uint32_t index, uint64_t now_ms,
                uint32_t retry_ms);
/* The HandshakeResp (decoded m) to our init: the responder's node key must be a member; then
 * h->msg is the HandshakeFinish (carrying ts) to send, *kp the keys, *rs the responder's node
 * key. RPH_E_UNKNOWN_PEER for a node key not in members; on failure nothing changes. */
int sn_complete(struct sn_initiator *h, const struct sn_proto *p, const struct rph_msg *m,
                const uint8_t ts[SN_TS_LEN], uint64_t now_ms, uint32_t retry_ms,
                struct rph_keypair *kp, uint8_t rs[32]);
/* A CookieReply to our init: the cookie is kept and h->msg gets its mac2 (send it again). */
int sn_take_cookie(struct sn_initiator *h, const struct sn_proto *p, const struct rph_msg *m,
                   uint64_t now_ms);
/* The handshake's keys were confirmed: nothing more to resend. */
void sn_done(struct sn_initiator *h);
/* Whether h->msg goes again now: every retry_ms; a HandshakeFinish a few times only, then
 * *restart tells the caller to start over with a new init. */
bool sn_resend_due(struct sn_initiator *h, uint64_t now_ms, uint32_t retry_ms, bool *restart);
/* Once early per retry period, when the responder's punch shows its NAT open (init only). */
bool sn_resend_punched(struct sn_initiator *h);
/* When sn_resend_due next says yes; UINT64_MAX with no handshake in flight. */
uint64_t sn_deadline(const struct sn_initiator *h);

/* Responder: a HandshakeInit answered, waiting for its HandshakeFinish. */
struct sn_answer {
    struct rph_noise_hs hs; /* the state after message 2 */
    uint8_t re[32];         /* the init's ephemeral: a duplicate init gets resp again */
    uint32_t local_index, remote_index;
    uint8_t resp[RPH_HS_RESP_LEN];
};

/* The init's ephemeral key (32 bytes inside m). */
const uint8_t *sn_init_ephemeral(const struct rph_msg *m);
/* Reads a HandshakeInit: its payload's tag proves the sender holds the PSK. No DH; *hs is the
 * state to answer from. RPH_E_AUTH for a non-member's or damaged init. */
int sn_read_init(struct rph_noise_hs *hs, const struct sn_proto *p, const struct rph_msg *m);
/* Answers a read init from hs (wiped): a->resp, with our index. Two DH and a key pair. */
int sn_answer(struct sn_answer *a, struct rph_noise_hs *hs, const struct rph_msg *m,
              uint32_t index);
/* A HandshakeFinish for a: the initiator's node key (*rs, checked against members), its
 * timestamp (*ts) and the keys (*kp). RPH_E_UNKNOWN_PEER for a node key not in members; on
 * failure a is unchanged (a forgery cannot end it). */
int sn_finish(struct sn_answer *a, const struct sn_proto *p, const struct rph_msg *m,
              uint64_t now_ms, uint8_t rs[32], uint8_t ts[SN_TS_LEN], struct rph_keypair *kp);

/* Responder under load: cookies for source addresses, from a secret that changes every
 * SN_COOKIE_MS (the previous one still counts, so a reply across a change is not lost). */
struct sn_cookies {
    uint8_t secret[2][32]; /* current, previous */
    uint64_t born_ms;
    bool has;
};

/* Whether a HandshakeInit's mac2 is the MAC of its bytes under from's cookie. */
bool sn_mac2_ok(struct sn_cookies *c, const uint8_t *raw, const struct rph_addr *from,
                uint64_t now_ms);
/* The CookieReply to a HandshakeInit (raw, decoded m) from `from`, into out. */
int sn_cookie_reply(struct sn_cookies *c, const struct rph_seal_keys *k, const uint8_t *raw,
                    const struct rph_msg *m, const struct rph_addr *from, uint64_t now_ms,
                    uint8_t out[RPH_COOKIE_REPLY_LEN]);

#endif
