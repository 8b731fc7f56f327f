// SPDX-License-Identifier: MIT
// The ruphin wire codec: 4-byte header (length u16 BE of the whole datagram, type u16 BE),
// then a type-specific body. Strict: anything the Rust crate would not produce is rejected.
#include "ruphin/wire.h"

#include <string.h>

#include "ruphin/error.h"

#include "ruphin/be.h"

static uint64_t get64(const uint8_t *p)
{
    return ((uint64_t)rph_get32(p) << 32) | rph_get32(p + 4);
}

static void put64(uint8_t *p, uint64_t v)
{
    rph_put32(p, (uint32_t)(v >> 32));
    rph_put32(p + 4, (uint32_t)v);
}

static int decode_peerinfo(const uint8_t *body, size_t n, struct rph_msg *out);

/* The fixed length of a handshake message type; 0 for other types. */
static size_t hs_len(enum rph_type t)
{
    switch (t) {
    case RPH_HANDSHAKE_INIT:
        return RPH_HS_INIT_LEN;
    case RPH_HANDSHAKE_RESP:
        return RPH_HS_RESP_LEN;
    case RPH_HANDSHAKE_FINISH:
        return RPH_HS_FINISH_LEN;
    case RPH_COOKIE_REPLY:
        return RPH_COOKIE_REPLY_LEN;
    default:
        return 0;
    }
}

static int decode_sealed(const uint8_t *buf, size_t len, struct rph_msg *out)
{
    const uint8_t *b = buf + RPH_HEADER_LEN;
    switch (out->type) {
    case RPH_SEALED_REGISTER:
    case RPH_SEALED_JOIN: {
        /* The sizes tell the forms apart: with or without a node ID (Register only), with
         * or without the holepuncher's cookie, with or without a round trip (timed) last. */
        size_t node_len = RPH_OWNER_NODE_LEN;
        bool node =
            out->type == RPH_SEALED_REGISTER && len >= node_len &&
            (len - node_len == 0 || len - node_len == RPH_COOKIE_LEN ||
             len - node_len == RPH_RTT_LEN || len - node_len == RPH_COOKIE_LEN + RPH_RTT_LEN);
        size_t base = node ? RPH_OWNER_NODE_LEN : RPH_OWNER_LEN;
        if (len < base) return RPH_E_SIZE;
        size_t extra = len - base;
        if (extra != 0 && extra != RPH_COOKIE_LEN && extra != RPH_RTT_LEN &&
            extra != RPH_COOKIE_LEN + RPH_RTT_LEN)
            return RPH_E_SIZE;
        memcpy(out->owner.pk, b, 32);
        out->owner.ts_ms = get64(b + 32);
        out->owner.has_node = node;
        if (node) memcpy(out->owner.node, b + 40, RPH_NODE_ID_LEN);
        memcpy(out->owner.sig, b + 40 + (node ? RPH_NODE_ID_LEN : 0), 64);
        out->owner.has_cookie = extra >= RPH_COOKIE_LEN;
        out->has_rtt = extra == RPH_RTT_LEN || extra == RPH_COOKIE_LEN + RPH_RTT_LEN;
        if (out->has_rtt) out->rtt_ms = rph_get16(buf + len - RPH_RTT_LEN);
        if (out->owner.has_cookie) memcpy(out->owner.cookie, buf + base, RPH_COOKIE_LEN);
        return 0;
    }
    case RPH_HP_COOKIE:
        if (len != RPH_HP_COOKIE_LEN) return RPH_E_SIZE;
        memcpy(out->hpc.echo, b, RPH_COOKIE_ECHO_LEN);
        memcpy(out->hpc.cookie, b + RPH_COOKIE_ECHO_LEN, RPH_COOKIE_LEN);
        return 0;
    case RPH_REGISTER_REFUSED: {
        if (len != RPH_REGISTER_REFUSED_LEN) return RPH_E_SIZE;
        out->session.len = RPH_SESSION_MAX;
        memcpy(out->session.id, b, RPH_SESSION_MAX);
        memcpy(out->hpc.echo, b + RPH_SESSION_MAX, RPH_COOKIE_ECHO_LEN);
        const uint8_t *a = b + RPH_SESSION_MAX + RPH_COOKIE_ECHO_LEN;
        static const uint8_t zero[12];
        /* Fixed size: an IPv4 holder's 12 unused address bytes must be zero (one encoding). */
        if (a[0] != 4 && a[0] != 6) return RPH_E_FAMILY;
        if (a[0] == 4 && memcmp(a + 5, zero, sizeof zero) != 0) return RPH_E_SIZE;
        out->peer.family = a[0];
        memcpy(out->peer.ip, a + 1, 16);
        out->peer.port = rph_get16(a + 17);
        return 0;
    }
    case RPH_HANDSHAKE_INIT:
    case RPH_HANDSHAKE_RESP:
    case RPH_HANDSHAKE_FINISH:
    case RPH_COOKIE_REPLY: {
        size_t want = hs_len(out->type), idx = out->type == RPH_HANDSHAKE_RESP ? 8 : 4;
        if (len != want) return RPH_E_SIZE;
        out->hs.sender =
            out->type == RPH_HANDSHAKE_INIT || out->type == RPH_HANDSHAKE_RESP ? rph_get32(b) : 0;
        out->hs.receiver = out->type == RPH_HANDSHAKE_RESP   ? rph_get32(b + 4)
                           : out->type == RPH_HANDSHAKE_INIT ? 0
                                                             : rph_get32(b);
        out->data = b + idx;
        out->data_len = len - RPH_HEADER_LEN - idx;
        return 0;
    }
    case RPH_SEALED_PEER_INFO: {
        /* PeerInfo's body, then the client's SealedJoin as the holepuncher received it. */
        size_t n = len - RPH_HEADER_LEN;
        if (n < 1) return RPH_E_SIZE;
        size_t alen = b[0] == 4 ? 4 : b[0] == 6 ? 16 : 0;
        if (!alen) return RPH_E_FAMILY;
        /* Timed: the client's round trip last. */
        size_t plain = 1 + alen + 2 + RPH_OWNER_LEN;
        if (n != plain && n != plain + RPH_RTT_LEN) return RPH_E_SIZE;
        int r = decode_peerinfo(b, 1 + alen + 2, out);
        if (r < 0) return r;
        out->data = b + 1 + alen + 2;
        out->data_len = RPH_OWNER_LEN;
        out->has_rtt = n == plain + RPH_RTT_LEN;
        if (out->has_rtt) out->rtt_ms = rph_get16(b + plain);
        return 0;
    }
    case RPH_TIMED_PEER_INFO: {
        /* PeerInfo's body, then the server's round trip. */
        if (len < RPH_HEADER_LEN + RPH_RTT_LEN) return RPH_E_SIZE;
        int r = decode_peerinfo(b, len - RPH_HEADER_LEN - RPH_RTT_LEN, out);
        if (r < 0) return r;
        out->has_rtt = true;
        out->rtt_ms = rph_get16(buf + len - RPH_RTT_LEN);
        return 0;
    }
    case RPH_TRANSPORT:
        if (len < RPH_TRANSPORT_HEADER_LEN + RPH_TAG_LEN) return RPH_E_SIZE;
        out->tr.receiver = rph_get32(b);
        out->tr.counter = get64(b + 4);
        out->data = buf + RPH_TRANSPORT_HEADER_LEN;
        out->data_len = len - RPH_TRANSPORT_HEADER_LEN;
        return 0;
    default:
        return RPH_E_TYPE;
    }
}

static int decode_session(const uint8_t *body, size_t n, struct rph_msg *out)
{
    if (n > RPH_SESSION_MAX) return RPH_E_SESSION_LEN;
    out->session.len = (uint8_t)n;
    memcpy(out->session.id, body, n);
    return 0;
}

static int decode_peerinfo(const uint8_t *body, size_t n, struct rph_msg *out)
{
    if (n < 1) return RPH_E_PEERINFO_SIZE;
    size_t alen;
    if (body[0] == 4)
        alen = 4;
    else if (body[0] == 6)
        alen = 16;
    else
        return RPH_E_FAMILY;
    if (n != 1 + alen + 2) return RPH_E_PEERINFO_SIZE;
    out->peer.family = body[0];
    memset(out->peer.ip, 0, sizeof out->peer.ip);
    memcpy(out->peer.ip, body + 1, alen);
    out->peer.port = rph_get16(body + 1 + alen);
    return 0;
}

int rph_wire_decode(const uint8_t *buf, size_t len, struct rph_msg *out)
{
    /* Not a memset of the whole struct (~280 bytes) for every datagram on the data path:
     * each type's decoder sets its own fields; these are the ones read for every type. */
    out->type = 0;
    out->session.len = 0;
    out->peer.family = 0;
    out->data = NULL;
    out->data_len = 0;
    out->has_rtt = false;
    if (len < RPH_HEADER_LEN) return RPH_E_SHORT;
    if (rph_get16(buf) != len) return RPH_E_LENGTH;
    uint16_t type = rph_get16(buf + 2);
    const uint8_t *body = buf + RPH_HEADER_LEN;
    size_t n = len - RPH_HEADER_LEN;
    out->type = (enum rph_type)type;
    switch (type) {
    case RPH_REGISTER:
    case RPH_JOIN:
    case RPH_REGISTER_ACK:
    case RPH_SESSION_NOT_FOUND:
        return decode_session(body, n, out);
    case RPH_PEER_INFO:
        return decode_peerinfo(body, n, out);
    case RPH_DATA:
        out->data = body;
        out->data_len = n;
        return 0;
    case RPH_LOCAL_INTERRUPT:
    case RPH_HELLO_REQ:
    case RPH_HELLO_RESP:
        return n == 0 ? 0 : RPH_E_BODY;
    default:
        return decode_sealed(buf, len, out);
    }
}

int rph_wire_encode(const struct rph_msg *m, uint8_t *buf, size_t cap)
{
    size_t body;
    switch (m->type) {
    case RPH_REGISTER:
    case RPH_JOIN:
    case RPH_REGISTER_ACK:
    case RPH_SESSION_NOT_FOUND:
        if (m->session.len > RPH_SESSION_MAX) return RPH_E_SESSION_LEN;
        body = m->session.len;
        break;
    case RPH_PEER_INFO:
        if (m->peer.family == 4)
            body = 1 + 4 + 2;
        else if (m->peer.family == 6)
            body = 1 + 16 + 2;
        else
            return RPH_E_FAMILY;
        break;
    case RPH_DATA:
        if (m->data_len > RPH_DATA_MAX) return RPH_E_TOOBIG;
        body = m->data_len;
        break;
    case RPH_LOCAL_INTERRUPT:
    case RPH_HELLO_REQ:
    case RPH_HELLO_RESP:
        body = 0;
        break;
    case RPH_SEALED_REGISTER:
    case RPH_SEALED_JOIN:
        if (m->owner.has_node && m->type != RPH_SEALED_REGISTER) return RPH_E_INVALID;
        body = (m->owner.has_node ? RPH_OWNER_NODE_LEN : RPH_OWNER_LEN) +
               (m->owner.has_cookie ? RPH_COOKIE_LEN : 0) + (m->has_rtt ? RPH_RTT_LEN : 0) -
               RPH_HEADER_LEN;
        break;
    case RPH_HP_COOKIE:
        body = RPH_HP_COOKIE_LEN - RPH_HEADER_LEN;
        break;
    case RPH_REGISTER_REFUSED:
        if (m->session.len != RPH_SESSION_MAX) return RPH_E_SESSION_LEN;
        if (m->peer.family != 4 && m->peer.family != 6) return RPH_E_FAMILY;
        body = RPH_REGISTER_REFUSED_LEN - RPH_HEADER_LEN;
        break;
    case RPH_HANDSHAKE_INIT:
    case RPH_HANDSHAKE_RESP:
    case RPH_HANDSHAKE_FINISH:
    case RPH_COOKIE_REPLY:
        body = hs_len(m->type) - RPH_HEADER_LEN;
        if (m->data_len != body - (m->type == RPH_HANDSHAKE_RESP ? 8 : 4)) return RPH_E_SIZE;
        break;
    case RPH_SEALED_PEER_INFO:
        if (m->peer.family != 4 && m->peer.family != 6) return RPH_E_FAMILY;
        if (m->data_len != RPH_OWNER_LEN) return RPH_E_SIZE;
        body = 1 + (m->peer.family == 4 ? 4u : 16u) + 2 + RPH_OWNER_LEN +
               (m->has_rtt ? RPH_RTT_LEN : 0);
        break;
    case RPH_TIMED_PEER_INFO:
        if (m->peer.family != 4 && m->peer.family != 6) return RPH_E_FAMILY;
        body = 1 + (m->peer.family == 4 ? 4u : 16u) + 2 + RPH_RTT_LEN;
        break;
    case RPH_TRANSPORT:
        if (m->data_len < RPH_TAG_LEN) return RPH_E_SIZE;
        if (m->data_len > RPH_DATAGRAM_MAX - RPH_TRANSPORT_HEADER_LEN) return RPH_E_TOOBIG;
        body = 4 + 8 + m->data_len;
        break;
    default:
        return RPH_E_TYPE;
    }
    size_t total = RPH_HEADER_LEN + body;
    if (total > cap) return RPH_E_NOSPACE;
    rph_put16(buf, (uint16_t)total);
    rph_put16(buf + 2, (uint16_t)m->type);
    uint8_t *p = buf + RPH_HEADER_LEN;
    switch (m->type) {
    case RPH_PEER_INFO:
    case RPH_SEALED_PEER_INFO:
    case RPH_TIMED_PEER_INFO: {
        size_t alen = m->peer.family == 4 ? 4 : 16;
        p[0] = m->peer.family;
        memcpy(p + 1, m->peer.ip, alen);
        rph_put16(p + 1 + alen, m->peer.port);
        if (m->type == RPH_SEALED_PEER_INFO) memcpy(p + 1 + alen + 2, m->data, RPH_OWNER_LEN);
        /* The timed forms: the round trip is the last 2 bytes. */
        if (m->type == RPH_TIMED_PEER_INFO || (m->type == RPH_SEALED_PEER_INFO && m->has_rtt))
            rph_put16(buf + total - RPH_RTT_LEN, m->rtt_ms);
        break;
    }
    case RPH_DATA:
        /* memmove: callers may encode a payload that already sits in buf. */
        if (body) memmove(p, m->data, body);
        break;
    case RPH_LOCAL_INTERRUPT:
    case RPH_HELLO_REQ:
    case RPH_HELLO_RESP:
        break;
    case RPH_SEALED_REGISTER:
    case RPH_SEALED_JOIN: {
        size_t o = 40;
        memcpy(p, m->owner.pk, 32);
        put64(p + 32, m->owner.ts_ms);
        if (m->owner.has_node) {
            memcpy(p + o, m->owner.node, RPH_NODE_ID_LEN);
            o += RPH_NODE_ID_LEN;
        }
        memcpy(p + o, m->owner.sig, 64);
        if (m->owner.has_cookie) memcpy(p + o + 64, m->owner.cookie, RPH_COOKIE_LEN);
        if (m->has_rtt) rph_put16(buf + total - RPH_RTT_LEN, m->rtt_ms);
        break;
    }
    case RPH_HP_COOKIE:
        memcpy(p, m->hpc.echo, RPH_COOKIE_ECHO_LEN);
        memcpy(p + RPH_COOKIE_ECHO_LEN, m->hpc.cookie, RPH_COOKIE_LEN);
        break;
    case RPH_REGISTER_REFUSED: {
        uint8_t *a = p + RPH_SESSION_MAX + RPH_COOKIE_ECHO_LEN;
        memcpy(p, m->session.id, RPH_SESSION_MAX);
        memcpy(p + RPH_SESSION_MAX, m->hpc.echo, RPH_COOKIE_ECHO_LEN);
        a[0] = m->peer.family;
        memset(a + 1, 0, 16);
        memcpy(a + 1, m->peer.ip, m->peer.family == 4 ? 4 : 16);
        rph_put16(a + 17, m->peer.port);
        break;
    }
    case RPH_HANDSHAKE_INIT:
        rph_put32(p, m->hs.sender);
        memmove(p + 4, m->data, m->data_len);
        break;
    case RPH_HANDSHAKE_RESP:
        rph_put32(p, m->hs.sender);
        rph_put32(p + 4, m->hs.receiver);
        memmove(p + 8, m->data, m->data_len);
        break;
    case RPH_HANDSHAKE_FINISH:
    case RPH_COOKIE_REPLY:
        rph_put32(p, m->hs.receiver);
        memmove(p + 4, m->data, m->data_len);
        break;
    case RPH_TRANSPORT:
        rph_put32(p, m->tr.receiver);
        put64(p + 4, m->tr.counter);
        memmove(p + 12, m->data, m->data_len);
        break;
    default:
        memcpy(p, m->session.id, body);
        break;
    }
    return (int)total;
}

int rph_wire_put_data_header(uint8_t *buf, size_t payload_len)
{
    if (payload_len > RPH_DATA_MAX) return RPH_E_TOOBIG;
    rph_put16(buf, (uint16_t)(payload_len + RPH_HEADER_LEN));
    rph_put16(buf + 2, RPH_DATA);
    return (int)(payload_len + RPH_HEADER_LEN);
}

int rph_session_set(struct rph_session *s, const void *id, size_t len)
{
    if (len > RPH_SESSION_MAX) return RPH_E_SESSION_LEN;
    memset(s, 0, sizeof *s);
    s->len = (uint8_t)len;
    if (len) memcpy(s->id, id, len);
    return 0;
}

int rph_session_equal(const struct rph_session *a, const struct rph_session *b)
{
    return a->len == b->len && memcmp(a->id, b->id, a->len) == 0;
}

const char *rph_type_name(int type)
{
    static const char *const names[] = {
        "?",
        "LocalInterrupt",
        "Register",
        "Join",
        "PeerInfo",
        "Data",
        "RegisterAck",
        "SessionNotFound",
        "HelloReq",
        "HelloResp",
        "SealedRegister",
        "SealedJoin",
        NULL,
        NULL,
        "Transport",
        "SealedPeerInfo",
        "HandshakeInit",
        "HandshakeResp",
        "HandshakeFinish",
        "CookieReply",
    };
    if (type == RPH_HP_COOKIE) return "HpCookie";
    if (type == RPH_REGISTER_REFUSED) return "RegisterRefused";
    if (type == RPH_TIMED_PEER_INFO) return "TimedPeerInfo";
    if (type < 1 || type > RPH_COOKIE_REPLY || !names[type]) return "Unknown";
    return names[type];
}
