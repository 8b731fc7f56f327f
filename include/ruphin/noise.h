/* SPDX-License-Identifier: MIT */
/* Noise Protocol Framework handshakes (revision 34) on libsodium: socket-free and
 * allocation-free CipherState, SymmetricState and HandshakeState for three patterns.
 *
 * Which pattern for what:
 *  - Noise_IKpsk2_25519_ChaChaPoly_SHA256 (WireGuard's shape, one round trip): the initiator
 *    already knows the responder's node public key (rs). Message 1 carries the initiator's
 *    static key encrypted to it, and its payload is already encrypted and authenticated by
 *    both static keys, so a responder can check a timestamp in it before answering.
 *  - Noise_XXpsk3_25519_ChaChaPoly_SHA256 (three messages): the initiator does not know the
 *    responder's node key; each side learns the other's static key during the handshake,
 *    both encrypted.
 *  - Noise_XXpsk0_25519_ChaChaPoly_SHA256 (sealed mode's peer handshake, docs/SECURITY.md):
 *    XX with the PSK mixed in before message 1, so every message, message 1's payload
 *    included, is sealed under a key only PSK holders have, and neither static key is ever
 *    revealed to anyone without the PSK.
 * The PSK is the session key (or a key derived from it), mixed into the last handshake message:
 * the node keys say which node a peer is, the PSK says it is a member. A handshake completes
 * only between holders of the PSK, so a stolen node key alone impersonates nobody; with a
 * list of member node keys, a leaked session key alone lets no stranger in either. The PSK
 * also keeps recorded traffic secret should X25519 be broken later, while it stays secret.
 * What is proven when: in IKpsk2, message 1 and its payload are authenticated by the
 * initiator's static key (es, ss) but not yet by the PSK; the responder learns that the
 * initiator holds the PSK from its first transport message. In XXpsk3, message 1's payload
 * is authenticated by nothing, message 2's by the responder's static key, and message 3
 * proves the initiator's static key and the PSK.
 *
 * Failure is atomic: rph_noise_write_message and rph_noise_read_message either succeed or
 * leave the HandshakeState exactly as it was (so a forged or damaged message cannot disturb
 * a handshake in progress); rph_noise_wipe abandons one. Secrets in temporaries are wiped on
 * every path, and rph_noise_split wipes the handshake's secrets. */
#ifndef RUPHIN_NOISE_H
#define RUPHIN_NOISE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RPH_NOISE_KEY_LEN 32    /* X25519 keys, cipher keys, PSK */
#define RPH_NOISE_HASH_LEN 32   /* SHA-256 */
#define RPH_NOISE_TAG_LEN 16    /* Poly1305 */
#define RPH_NOISE_MAX_MSG 65535 /* the spec's limit on any Noise message */

enum rph_noise_pattern {
    RPH_NOISE_IKPSK2 = 0, /* Noise_IKpsk2_25519_ChaChaPoly_SHA256 */
    RPH_NOISE_XXPSK3 = 1, /* Noise_XXpsk3_25519_ChaChaPoly_SHA256 */
    RPH_NOISE_XXPSK0 = 2, /* Noise_XXpsk0_25519_ChaChaPoly_SHA256 (sealed mode's handshake) */
};

/* CipherState: k and n. A nonce of 2^64-1 is never used (the spec reserves it). */
struct rph_noise_cipher {
    uint8_t k[RPH_NOISE_KEY_LEN];
    uint64_t n;
    bool has_key;
};

/* SymmetricState: a CipherState, the chaining key and the handshake hash. */
struct rph_noise_symmetric {
    struct rph_noise_cipher cs;
    uint8_t ck[RPH_NOISE_HASH_LEN];
    uint8_t h[RPH_NOISE_HASH_LEN];
};

/* HandshakeState. Plain data: copy it to keep a snapshot, but wipe copies (rph_noise_wipe). */
struct rph_noise_hs {
    struct rph_noise_symmetric ss;
    uint8_t s_sk[32], s_pk[32]; /* our static key pair */
    uint8_t e_sk[32], e_pk[32]; /* our ephemeral key pair */
    uint8_t rs[32], re[32];     /* the remote static and ephemeral public keys */
    uint8_t psk[32];
    bool has_rs, has_re;
    uint8_t e_state; /* none, preset for a test, or in use */
    uint8_t pattern; /* enum rph_noise_pattern */
    bool initiator;
    uint8_t msg;   /* index of the next message in the pattern */
    uint8_t state; /* in progress, ready to split, split, or not initialised */
};

/* The result of Split(), oriented for this side. Wipe it once the keys are in use. */
struct rph_noise_keys {
    uint8_t send[RPH_NOISE_KEY_LEN]; /* the spec's c1 for the initiator, c2 for the responder */
    uint8_t recv[RPH_NOISE_KEY_LEN];
    uint8_t hash[RPH_NOISE_HASH_LEN]; /* the handshake hash h, for channel binding */
};

/* sodium_init; 0, or RPH_E_NOTSUP without libsodium. Call once before anything below. */
int rph_noise_global_init(void);

/* The protocol name, e.g. "Noise_IKpsk2_25519_ChaChaPoly_SHA256"; NULL for no such pattern. */
const char *rph_noise_pattern_name(enum rph_noise_pattern p);

/* A fresh X25519 key pair from libsodium's random source. */
int rph_noise_keygen(uint8_t sk[RPH_NOISE_KEY_LEN], uint8_t pk[RPH_NOISE_KEY_LEN]);
/* The public key of a private key. */
int rph_noise_public_key(uint8_t pk[RPH_NOISE_KEY_LEN], const uint8_t sk[RPH_NOISE_KEY_LEN]);

/* Initialize(). s_sk is our static private key; rs is the responder's static public key for
 * an IKpsk2 initiator and must be NULL otherwise; psk is required. The prologue (any length,
 * may be NULL if 0) must be the same on both sides. RPH_E_INVALID on a wrong combination. */
int rph_noise_init(struct rph_noise_hs *hs, enum rph_noise_pattern p, bool initiator,
                   const uint8_t *prologue, size_t prologue_len,
                   const uint8_t s_sk[RPH_NOISE_KEY_LEN], const uint8_t *rs,
                   const uint8_t psk[RPH_NOISE_KEY_LEN]);
/* Tests only: use e_sk as the ephemeral private key instead of a random one. Must come before
 * this side writes its 'e' token; RPH_E_UNEXPECTED after. */
int rph_noise_set_ephemeral(struct rph_noise_hs *hs, const uint8_t e_sk[RPH_NOISE_KEY_LEN]);

/* Whether the next message is ours to write (false: ours to read, or no next message). */
bool rph_noise_is_writer(const struct rph_noise_hs *hs);
/* Whether all messages are done and rph_noise_split may be called. */
bool rph_noise_handshake_done(const struct rph_noise_hs *hs);
/* Length of the next message if it carries payload_len bytes of payload; negative if there
 * is no next message or it would exceed RPH_NOISE_MAX_MSG. */
int rph_noise_message_len(const struct rph_noise_hs *hs, size_t payload_len);

/* WriteMessage(payload): the message into out; returns its length. RPH_E_UNEXPECTED when it
 * is not our turn, RPH_E_NOSPACE when out is too small, RPH_E_TOOBIG past the limit,
 * RPH_E_AUTH when a DH gives the all-zero output (a low-order remote key). */
int rph_noise_write_message(struct rph_noise_hs *hs, const uint8_t *payload, size_t payload_len,
                            uint8_t *out, size_t cap);
/* ReadMessage(message): the payload into payload (cap bytes); returns its length. RPH_E_SIZE
 * when the message is too short for its tokens and tag, RPH_E_AUTH when a tag does not verify
 * (wrong PSK, wrong static key, any changed byte) or a DH output is all zero. */
int rph_noise_read_message(struct rph_noise_hs *hs, const uint8_t *msg, size_t len,
                           uint8_t *payload, size_t cap);
/* The remote static public key once the handshake has received it (it stays readable after
 * split); NULL before. For an IKpsk2 initiator, the key it was given. */
const uint8_t *rph_noise_remote_static(const struct rph_noise_hs *hs);
/* Split(): the two transport keys and the handshake hash; wipes the handshake's secrets.
 * Only once, only after the last message; RPH_E_UNEXPECTED otherwise. */
int rph_noise_split(struct rph_noise_hs *hs, struct rph_noise_keys *out);
/* Abandons a handshake: every secret zeroed; all further calls refused. */
void rph_noise_wipe(struct rph_noise_hs *hs);

/* Transport messages with a CipherState (ChaCha20-Poly1305, nonce = 4 zero bytes and n as
 * 64-bit little-endian). Without a key, the plaintext passes through as the spec says. */
void rph_noise_cipher_init(struct rph_noise_cipher *c, const uint8_t k[RPH_NOISE_KEY_LEN]);
void rph_noise_cipher_set_nonce(struct rph_noise_cipher *c, uint64_t n);
/* out gets len + RPH_NOISE_TAG_LEN bytes (out may equal in); returns that length, or
 * RPH_E_NOSPACE, or RPH_E_EXHAUSTED once n reached 2^64-1. */
int rph_noise_encrypt(struct rph_noise_cipher *c, const uint8_t *ad, size_t ad_len,
                      const uint8_t *in, size_t len, uint8_t *out, size_t cap);
/* out gets len - RPH_NOISE_TAG_LEN bytes (out may equal in); returns that length, or
 * RPH_E_SIZE, RPH_E_NOSPACE, RPH_E_AUTH (n unchanged), RPH_E_EXHAUSTED. */
int rph_noise_decrypt(struct rph_noise_cipher *c, const uint8_t *ad, size_t ad_len,
                      const uint8_t *in, size_t len, uint8_t *out, size_t cap);

#endif
