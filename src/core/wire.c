// SPDX-License-Identifier: MIT
// The ruphin wire codec: 4-byte header (length u16 BE of the whole datagram, type u16 BE),
// then a type-specific body. Strict: anything the Rust crate would not produce is rejected.
#include "ruphin/wire.h"

#include <string.h>

#include "ruphin/error.h"

static uint16_t get16(const uint8_t *p)
{
    return (uint16_t)((p[0] << 8) | p[1]);
}

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
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
    memcpy(out->peer.ip, body + 1, alen);
    out->peer.port = get16(body + 1 + alen);
    return 0;
}

int rph_wire_decode(const uint8_t *buf, size_t len, struct rph_msg *out)
{
    memset(out, 0, sizeof *out);
    if (len < RPH_HEADER_LEN) return RPH_E_SHORT;
    if (get16(buf) != len) return RPH_E_LENGTH;
    uint16_t type = get16(buf + 2);
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
        return RPH_E_TYPE;
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
    default:
        return RPH_E_TYPE;
    }
    size_t total = RPH_HEADER_LEN + body;
    if (total > cap) return RPH_E_NOSPACE;
    put16(buf, (uint16_t)total);
    put16(buf + 2, (uint16_t)m->type);
    uint8_t *p = buf + RPH_HEADER_LEN;
    switch (m->type) {
    case RPH_PEER_INFO: {
        size_t alen = m->peer.family == 4 ? 4 : 16;
        p[0] = m->peer.family;
        memcpy(p + 1, m->peer.ip, alen);
        put16(p + 1 + alen, m->peer.port);
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
    default:
        memcpy(p, m->session.id, body);
        break;
    }
    return (int)total;
}

int rph_wire_put_data_header(uint8_t *buf, size_t payload_len)
{
    if (payload_len > RPH_DATA_MAX) return RPH_E_TOOBIG;
    put16(buf, (uint16_t)(payload_len + RPH_HEADER_LEN));
    put16(buf + 2, RPH_DATA);
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
        "?",    "LocalInterrupt", "Register",        "Join",     "PeerInfo",
        "Data", "RegisterAck",    "SessionNotFound", "HelloReq", "HelloResp",
    };
    if (type < 1 || type > 9) return "Unknown";
    return names[type];
}
