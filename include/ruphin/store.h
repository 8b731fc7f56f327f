/* SPDX-License-Identifier: MIT */
/* The holepuncher's session table: session ID -> server endpoint, with expiry and a cap. */
#ifndef RUPHIN_STORE_H
#define RUPHIN_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ruphin/addr.h"
#include "ruphin/wire.h"

struct rph_store;

/* What a session holds besides its ID. Times are kept in seconds to keep slots small. */
struct rph_store_entry {
    struct rph_addr server;
    bool sealed;   /* registered with a SealedRegister: plaintext messages cannot touch it */
    uint32_t ts_s; /* sealed: UNIX time of the newest accepted SealedRegister */
    /* sealed: the Register named its node; node is its node ID's first 2 bytes. Two servers
     * of one session are told apart but for a 1 in 65536 chance (then they move it between
     * them, as without node IDs); the ID is no secret and no proof anyway (rph_node_id). */
    bool has_node;
    uint16_t node;
    /* sealed: the server's round trip to us in ms (its timed Register), 0 when it sent none.
     * Kept as a 4-bit class in the slot's spare flag bits (rph_store_rtt_class): what comes
     * back is the class's value, within about 25% of what was put. */
    uint16_t rtt_ms;
};

struct rph_store *rph_store_new(size_t max_sessions);
void rph_store_free(struct rph_store *s);
void rph_store_set_max(struct rph_store *s, size_t max_sessions);
/* 1 if the session was added, 0 if it was refreshed, RPH_E_FULL or -ENOMEM. */
int rph_store_put(struct rph_store *s, const struct rph_session *id, const struct rph_addr *server,
                  uint64_t expires_ms);
/* Adds or replaces the whole entry (sealed flag and timestamp too). Same returns as put. */
int rph_store_put_entry(struct rph_store *s, const struct rph_session *id,
                        const struct rph_store_entry *e, uint64_t expires_ms);
/* NULL when absent or expired at now_ms. */
const struct rph_addr *rph_store_get(const struct rph_store *s, const struct rph_session *id,
                                     uint64_t now_ms);
/* false when absent or expired; else fills *out. */
bool rph_store_find(const struct rph_store *s, const struct rph_session *id, uint64_t now_ms,
                    struct rph_store_entry *out);
/* The entry held for id even when it has expired and not been swept yet; false if none. */
bool rph_store_peek(const struct rph_store *s, const struct rph_session *id,
                    struct rph_store_entry *out);
/* Removes up to budget expired sessions (a sweep that resumes where it stopped); returns how many.
 */
typedef void (*rph_store_expire_fn)(void *ctx, const struct rph_session *id,
                                    const struct rph_store_entry *e);
size_t rph_store_expire(struct rph_store *s, uint64_t now_ms, size_t budget, rph_store_expire_fn fn,
                        void *ctx);
/* The class (1..15, ratio 1.5) a round trip is kept as, 0 for none, and back. */
uint8_t rph_store_rtt_class(uint16_t rtt_ms);
uint16_t rph_store_rtt_value(uint8_t cls);
size_t rph_store_count(const struct rph_store *s);
/* Bytes held by the table, for the memory benchmark. */
size_t rph_store_memory(const struct rph_store *s);

#endif
