// SPDX-License-Identifier: MIT
// RelayData (type 22) byte by byte, and the peer-side wrap/unwrap. One layout both ways, so a
// forwarded datagram is exactly as large as the one the holepuncher received.
#include "ruphin/relay.h"

#include <string.h>

#include "ruphin/be.h"
#include "ruphin/error.h"

bool rph_relay_is(const uint8_t *buf, size_t len)
{
    /* The framing first: a datagram whose length field lies is malformed, whatever its type
     * bytes say, and is counted so by the holepuncher's decoder, not the relay. */
    return len >= RPH_HEADER_LEN && rph_get16(buf) == len && rph_get16(buf + 2) == RPH_RELAY_DATA;
}

/* The endpoint checks of decode and encode: a destination the decoder refuses is never sent. */
static int check_endpoint(const struct rph_addr *a)
{
    if (a->family != 4 && a->family != 6) return RPH_E_FAMILY;
    if (a->port == 0) return RPH_E_INVALID;
    if (a->family == 4) {
        for (size_t i = 4; i < 16; i++)
            if (a->ip[i]) return RPH_E_INVALID;
    }
    return 0;
}

int rph_relay_decode(const uint8_t *buf, size_t len, struct rph_relay_msg *out)
{
    if (len < RPH_HEADER_LEN) return RPH_E_SHORT;
    if (rph_get16(buf) != len) return RPH_E_LENGTH;
    if (rph_get16(buf + 2) != RPH_RELAY_DATA) return RPH_E_TYPE;
    if (len < RPH_RELAY_HEADER_LEN + RPH_RELAY_PAYLOAD_MIN) return RPH_E_SIZE;
    memset(out, 0, sizeof *out);
    out->session.len = RPH_RELAY_SESSION_LEN;
    memcpy(out->session.id, buf + RPH_RELAY_OFF_SESSION, RPH_RELAY_SESSION_LEN);
    memcpy(out->cookie, buf + RPH_RELAY_OFF_COOKIE, RPH_COOKIE_LEN);
    out->peer.family = buf[RPH_RELAY_OFF_FAMILY];
    memcpy(out->peer.ip, buf + RPH_RELAY_OFF_ADDR, 16);
    out->peer.port = rph_get16(buf + RPH_RELAY_OFF_PORT);
    int r = check_endpoint(&out->peer);
    if (r < 0) return r;
    out->payload = buf + RPH_RELAY_HEADER_LEN;
    out->payload_len = len - RPH_RELAY_HEADER_LEN;
    return 0;
}

int rph_relay_put_header(const struct rph_relay_msg *m, uint8_t *buf, size_t payload_len)
{
    if (payload_len > RPH_RELAY_PAYLOAD_MAX) return RPH_E_TOOBIG;
    if (payload_len < RPH_RELAY_PAYLOAD_MIN) return RPH_E_SIZE;
    if (m->session.len != RPH_RELAY_SESSION_LEN) return RPH_E_SESSION_LEN;
    int r = check_endpoint(&m->peer);
    if (r < 0) return r;
    size_t len = RPH_RELAY_HEADER_LEN + payload_len;
    rph_put16(buf, (uint16_t)len);
    rph_put16(buf + 2, RPH_RELAY_DATA);
    memcpy(buf + RPH_RELAY_OFF_SESSION, m->session.id, RPH_RELAY_SESSION_LEN);
    memcpy(buf + RPH_RELAY_OFF_COOKIE, m->cookie, RPH_COOKIE_LEN);
    buf[RPH_RELAY_OFF_FAMILY] = m->peer.family;
    memcpy(buf + RPH_RELAY_OFF_ADDR, m->peer.ip, 16);
    rph_put16(buf + RPH_RELAY_OFF_PORT, m->peer.port);
    return (int)len;
}

/* Only what two sealed peers send each other travels through the relay. */
static int check_sealed_payload(const uint8_t *p, size_t n)
{
    struct rph_msg m;
    int r = rph_wire_decode(p, n, &m);
    if (r < 0) return r;
    switch ((int)m.type) {
    case RPH_TRANSPORT:
    case RPH_HANDSHAKE_INIT:
    case RPH_HANDSHAKE_RESP:
    case RPH_HANDSHAKE_FINISH:
    case RPH_COOKIE_REPLY:
        return 0;
    default:
        return RPH_E_UNEXPECTED;
    }
}

int rph_relay_wrap(uint8_t *buf, size_t cap, const struct rph_session *session,
                   const uint8_t cookie[RPH_COOKIE_LEN], const struct rph_addr *dst,
                   size_t payload_len)
{
    if (cap < RPH_RELAY_HEADER_LEN || payload_len > cap - RPH_RELAY_HEADER_LEN)
        return RPH_E_NOSPACE;
    if (payload_len > RPH_RELAY_PAYLOAD_MAX) return RPH_E_TOOBIG;
    int r = check_sealed_payload(buf + RPH_RELAY_HEADER_LEN, payload_len);
    if (r < 0) return r;
    struct rph_relay_msg m = {.session = *session, .peer = *dst};
    memcpy(m.cookie, cookie, RPH_COOKIE_LEN);
    return rph_relay_put_header(&m, buf, payload_len);
}

int rph_relay_unwrap(const uint8_t *buf, size_t len, const struct rph_session *session,
                     struct rph_addr *src, const uint8_t **payload, size_t *payload_len)
{
    struct rph_relay_msg m;
    int r = rph_relay_decode(buf, len, &m);
    if (r < 0) return r;
    if (!rph_session_equal(&m.session, session)) return RPH_E_SESSION_MISMATCH;
    for (size_t i = 0; i < RPH_COOKIE_LEN; i++)
        if (m.cookie[i]) return RPH_E_UNEXPECTED;
    r = check_sealed_payload(m.payload, m.payload_len);
    if (r < 0) return r;
    *src = m.peer;
    *payload = m.payload;
    *payload_len = m.payload_len;
    return 0;
}
