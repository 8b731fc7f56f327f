/* SPDX-License-Identifier: MIT */
/* Sealed mode: keys from a shared 32-byte session key, ownership proofs for the holepuncher,
 * transport keypairs and AEAD transport (docs/SECURITY.md). Needs libsodium at build time. */
#ifndef RUPHIN_SEAL_H
#define RUPHIN_SEAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ruphin/replay.h"
#include "ruphin/wire.h"

#define RPH_KEY_LEN 32
#define RPH_KEY_B64_LEN 44 /* base64 text of a key, without the NUL */

/* Everything derived from (session key, session name). */
struct rph_seal_keys {
    uint8_t prk[32];        /* BLAKE2b(key = session key, "ruphin-seal-v1" || name) */
    uint8_t noise_psk[32];  /* the PSK of the Noise handshake: BLAKE2b(key = prk, "noise psk") */
    uint8_t cookie_key[32]; /* seals CookieReply: BLAKE2b(key = prk, "cookie") */
    uint8_t sign_pk[32];    /* Ed25519 ownership key: the holepuncher sees only this */
    uint8_t sign_sk[64];
    struct rph_session wire_session; /* BLAKE2b-160(sign_pk): the session ID on the wire */
};

/* One direction pair of transport keys from one handshake. */
struct rph_keypair {
    bool valid;
    bool confirmed; /* responder: a transport packet under these keys arrived */
    bool initiator;
    uint32_t local_index, remote_index;
    uint8_t send_key[32], recv_key[32];
    uint64_t send_counter;
    uint64_t created_ms;
    struct rph_replay replay;
};

bool rph_seal_available(void);
/* libsodium's one-time set-up; idempotent, thread-safe and cheap after the first call. The
 * library's entry points that need libsodium call it themselves (sealed peer creation,
 * holepuncher creation, key generation, derivation, rph_aead_select), so callers need not.
 * 0, -ENOMEM when libsodium cannot start, or RPH_E_NOTSUP without libsodium. */
int rph_seal_init(void);
int rph_seal_derive(struct rph_seal_keys *k, const uint8_t key[RPH_KEY_LEN], const void *name,
                    size_t name_len);
void rph_seal_wipe(void *p, size_t n);

/* The key fingerprint users compare: a sealed wire session ID's first 4 bytes as 8 lowercase
 * hex digits (e.g. "4d8b12ef"). ruphin-tund and holepuncherd both print it, so a wrong key
 * shows as two different fingerprints. out must hold RPH_SEAL_FINGERPRINT_LEN bytes; returns
 * out. A session shorter than 4 bytes is printed as far as it goes. */
#define RPH_SEAL_FINGERPRINT_LEN 9
char *rph_seal_fingerprint(const struct rph_session *wire_session, char *out);

int rph_key_generate(uint8_t key[RPH_KEY_LEN]);
/* out must hold RPH_KEY_B64_LEN + 1 bytes. */
int rph_key_to_base64(const uint8_t key[RPH_KEY_LEN], char *out, size_t cap);
/* Surrounding whitespace is ignored; anything but exactly 32 bytes of base64 is RPH_E_INVALID. */
int rph_key_from_base64(const char *text, uint8_t key[RPH_KEY_LEN]);
/* Reads a key file, refusing one that others may read (mode & 077) or that is not a regular
 * file; err says which. 0, or a negative code. */
int rph_key_load_file(const char *path, uint8_t key[RPH_KEY_LEN], char *err, size_t errlen);
/* The same on a file the caller opened (and checked further, as its owner); path names it in
 * err. Does not close fd. */
int rph_key_load_fd(int fd, const char *path, uint8_t key[RPH_KEY_LEN], char *err, size_t errlen);

/* SealedRegister / SealedJoin: pk, wall-clock time and an Ed25519 signature over both. */
int rph_owner_encode(const struct rph_seal_keys *k, enum rph_type type, uint64_t wall_ms,
                     uint8_t *buf, size_t cap);
/* The same carrying the holepuncher's cookie (RPH_COOKIE_LEN bytes; NULL: none), 124 bytes.
 * The signature is the one of the 108-byte form: the cookie is not part of the proof. */
int rph_owner_encode_cookie(const struct rph_seal_keys *k, enum rph_type type, uint64_t wall_ms,
                            const uint8_t *cookie, uint8_t *buf, size_t cap);
/* A SealedRegister naming this node (node_id: RPH_NODE_ID_LEN bytes, signed; NULL: the old
 * form, an unknown node), with or without a cookie: 140/156 bytes (108/124 without node_id).
 * node_id is for SealedRegister only. */
int rph_owner_encode_node(const struct rph_seal_keys *k, enum rph_type type, uint64_t wall_ms,
                          const uint8_t *node_id, const uint8_t *cookie, uint8_t *buf, size_t cap);
/* The node ID a server's SealedRegister carries: BLAKE2b-256 of its node public key under the
 * label "ruphin-node-id-v1". It tells holepuncherd a restarted server from a second one. */
void rph_node_id(const uint8_t node_pk[32], uint8_t out[RPH_NODE_ID_LEN]);
/* Verifies a decoded SealedRegister/SealedJoin (raw: its bytes, with or without a cookie); on
 * success *session is the session ID the key owns. RPH_E_AUTH on a bad signature. */
int rph_owner_verify(const uint8_t *raw, const struct rph_msg *m, struct rph_session *session);
/* Whether a proof's wall-clock timestamp (ts_ms, from the wire: any value) is within skew_ms
 * of this host's wall clock, now_ms + wall_offset_ms. No overflow for any input. */
bool rph_owner_fresh(uint64_t ts_ms, uint64_t now_ms, int64_t wall_offset_ms, uint64_t skew_ms);

/* A keypair from a completed handshake's transport keys (the handshake is seal_noise.c's). */
int rph_keypair_from_noise(struct rph_keypair *kp, const uint8_t send_key[32],
                           const uint8_t recv_key[32], uint32_t local_index, uint32_t remote_index,
                           bool initiator, uint64_t now_ms);

/* Transport. buf holds RPH_TRANSPORT_HEADER_LEN bytes of headroom, the payload, and
 * RPH_TAG_LEN bytes of tailroom; sealed in place. Returns the datagram length. */
int rph_transport_seal(struct rph_keypair *kp, uint8_t *buf, size_t payload_len);
/* Opens a decoded Transport datagram in place (raw is writable); on success *plain points to
 * the payload inside raw. Checks the replay window before and updates it after the tag. */
int rph_transport_open(struct rph_keypair *kp, uint8_t *raw, const struct rph_msg *m,
                       uint8_t **plain, size_t *plain_len);

#endif
