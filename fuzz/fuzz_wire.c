// SPDX-License-Identifier: MIT
// Fuzzes the wire codec: a datagram that decodes must encode back to exactly its own bytes.
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "ruphin/error.h"
#include "ruphin/wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void same_msg(const struct rph_msg *a, const struct rph_msg *b)
{
    FZ_CHECK(a->type == b->type);
    FZ_CHECK(a->session.len == b->session.len);
    FZ_CHECK(memcmp(a->session.id, b->session.id, a->session.len) == 0);
    FZ_CHECK(rph_addr_equal(&a->peer, &b->peer) || (a->peer.family == 0 && b->peer.family == 0));
    FZ_CHECK(a->data_len == b->data_len);
    FZ_CHECK((a->data == NULL) == (b->data == NULL));
    if (a->data_len) FZ_CHECK(memcmp(a->data, b->data, a->data_len) == 0);
    /* The decoder fills only the fields of the message's own type (the rest are unspecified). */
    /* Field by field: the struct has padding, and no cookie bytes in the 108-byte form. */
    if (a->type == RPH_SEALED_REGISTER || a->type == RPH_SEALED_JOIN) {
        FZ_CHECK(memcmp(a->owner.pk, b->owner.pk, sizeof a->owner.pk) == 0);
        FZ_CHECK(a->owner.ts_ms == b->owner.ts_ms);
        FZ_CHECK(memcmp(a->owner.sig, b->owner.sig, sizeof a->owner.sig) == 0);
        FZ_CHECK(a->owner.has_cookie == b->owner.has_cookie);
        if (a->owner.has_cookie)
            FZ_CHECK(memcmp(a->owner.cookie, b->owner.cookie, RPH_COOKIE_LEN) == 0);
        FZ_CHECK(a->owner.has_node == b->owner.has_node);
        if (a->owner.has_node) FZ_CHECK(memcmp(a->owner.node, b->owner.node, RPH_NODE_ID_LEN) == 0);
    }
    if (a->type == RPH_HP_COOKIE) FZ_CHECK(memcmp(&a->hpc, &b->hpc, sizeof a->hpc) == 0);
    if (a->type == RPH_REGISTER_REFUSED)
        FZ_CHECK(memcmp(a->hpc.echo, b->hpc.echo, RPH_COOKIE_ECHO_LEN) == 0);
    if (a->type == RPH_HANDSHAKE_INIT || a->type == RPH_HANDSHAKE_RESP ||
        a->type == RPH_HANDSHAKE_FINISH || a->type == RPH_COOKIE_REPLY)
        FZ_CHECK(a->hs.sender == b->hs.sender && a->hs.receiver == b->hs.receiver);
    if (a->type == RPH_TRANSPORT)
        FZ_CHECK(a->tr.receiver == b->tr.receiver && a->tr.counter == b->tr.counter);
}

/* The decoder's verdict, re-derived from docs/PROTOCOL.md for the first two checks. */
static void check_error(const uint8_t *data, size_t size, int r)
{
    if (size < RPH_HEADER_LEN) {
        FZ_CHECK(r == RPH_E_SHORT);
        return;
    }
    if ((((size_t)data[0] << 8) | data[1]) != size) {
        FZ_CHECK(r == RPH_E_LENGTH);
        return;
    }
    unsigned type = ((unsigned)data[2] << 8) | data[3];
    FZ_CHECK(r != RPH_E_SHORT && r != RPH_E_LENGTH);
    FZ_CHECK(r == RPH_E_TYPE || r == RPH_E_SESSION_LEN || r == RPH_E_FAMILY ||
             r == RPH_E_PEERINFO_SIZE || r == RPH_E_BODY || r == RPH_E_SIZE);
    /* A type the codec gains must be added here (and to docs/PROTOCOL.md) on purpose. */
    bool known =
        (type >= RPH_LOCAL_INTERRUPT && type <= RPH_REGISTER_REFUSED && type != 12 && type != 13) ||
        type == RPH_TIMED_PEER_INFO;
    FZ_CHECK((r == RPH_E_TYPE) == !known);
}

/* The other direction: a message built from the input (any type, lengths and family) either
 * is refused by the encoder or encodes to a datagram that decodes and re-encodes identically. */
static void check_encoder(const uint8_t *data, size_t size)
{
    struct fz f = {data, size};
    struct rph_msg m;
    memset(&m, 0, sizeof m);
    m.type = (enum rph_type)(fz_u8(&f) % (RPH_REGISTER_REFUSED + 2));
    m.session.len = fz_u8(&f) % (RPH_SESSION_MAX + 4);
    m.peer.family = fz_u8(&f) % 8;
    m.peer.port = fz_u16(&f);
    size_t cap = fz_u16(&f) % 512;
    const uint8_t *fill;
    size_t n = fz_bytes(&f, sizeof m.session.id, &fill);
    memcpy(m.session.id, fill, n);
    n = fz_bytes(&f, sizeof m.peer.ip, &fill);
    memcpy(m.peer.ip, fill, n);
    uint8_t flags = fz_u8(&f);
    m.owner.has_cookie = flags & 1;
    m.owner.has_node = flags & 2; /* a SealedJoin with a node ID is refused (RPH_E_INVALID) */
    n = fz_bytes(&f, sizeof m.owner.node, &fill);
    memcpy(m.owner.node, fill, n);
    n = fz_bytes(&f, sizeof m.hpc.echo, &fill);
    memcpy(m.hpc.echo, fill, n);
    m.tr.counter = fz_u64(&f);
    m.hs.sender = fz_u32(&f);
    m.hs.receiver = fz_u32(&f);
    m.data_len = fz_bytes(&f, fz_u16(&f) % 400, &m.data);
    uint8_t *out = malloc(cap ? cap : 1); /* exact capacity: ASan sees a write past it */
    FZ_CHECK(out != NULL);
    int len = rph_wire_encode(&m, out, cap);
    if (len < 0) {
        FZ_CHECK(len == RPH_E_NOSPACE || len == RPH_E_TOOBIG || len == RPH_E_TYPE ||
                 len == RPH_E_SESSION_LEN || len == RPH_E_FAMILY || len == RPH_E_SIZE ||
                 len == RPH_E_INVALID);
        free(out);
        return;
    }
    FZ_CHECK((size_t)len <= cap && len >= RPH_HEADER_LEN);
    struct rph_msg back;
    FZ_CHECK(rph_wire_decode(out, (size_t)len, &back) == 0);
    FZ_CHECK(back.type == m.type);
    uint8_t *again = malloc((size_t)len);
    FZ_CHECK(again != NULL);
    FZ_CHECK(rph_wire_encode(&back, again, (size_t)len) == len);
    FZ_CHECK(memcmp(again, out, (size_t)len) == 0);
    free(again);
    free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_encoder(data, size);
    struct rph_msg m;
    int r = rph_wire_decode(data, size, &m);
    if (r != 0) {
        check_error(data, size, r);
        return 0;
    }
    FZ_CHECK(size >= RPH_HEADER_LEN && size <= RPH_DATAGRAM_MAX);
    FZ_CHECK(m.session.len <= RPH_SESSION_MAX);
    /* The payload runs to the end, but for a timed message's round trip (2 bytes last). */
    if (m.data)
        FZ_CHECK(m.data >= data &&
                 m.data + m.data_len == data + size - (m.has_rtt ? RPH_RTT_LEN : 0));

    /* Exactly the input's size: ASan catches a write past it. */
    uint8_t *out = malloc(size);
    FZ_CHECK(out != NULL);
    int n = rph_wire_encode(&m, out, size);
    FZ_CHECK(n == (int)size);
    FZ_CHECK(memcmp(out, data, size) == 0);
    /* One byte short must be refused, not truncated. */
    FZ_CHECK(rph_wire_encode(&m, out, size - 1) == RPH_E_NOSPACE);

    struct rph_msg again;
    FZ_CHECK(rph_wire_decode(out, size, &again) == 0);
    same_msg(&m, &again);
    free(out);
    return 0;
}
