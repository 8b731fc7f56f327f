// SPDX-License-Identifier: MIT
// Encode/decode of the overlay-address announcement (docs/PROTOCOL.md, "Tunnel payloads").
#include "announce.h"

#include <string.h>

#include "name.h"

/* Layout (25 bytes): tag 0x01, version 1, flags (bit 0 IPv4, bit 1 IPv6), prefix4, addr4[4],
 * prefix6, addr6[16]. Fields of an absent family are zero. */
size_t announce_encode(const struct announce *a, uint8_t out[ANNOUNCE_LEN])
{
    memset(out, 0, ANNOUNCE_LEN);
    out[0] = ANNOUNCE_TAG;
    out[1] = ANNOUNCE_VERSION;
    out[2] = (uint8_t)((a->has4 ? 1 : 0) | (a->has6 ? 2 : 0));
    if (a->has4) {
        out[3] = a->prefix4;
        memcpy(out + 4, a->addr4, 4);
    }
    if (a->has6) {
        out[8] = a->prefix6;
        memcpy(out + 9, a->addr6, 16);
    }
    return ANNOUNCE_LEN;
}

int announce_decode(const uint8_t *buf, size_t len, struct announce *out)
{
    if (len != ANNOUNCE_LEN || buf[0] != ANNOUNCE_TAG || buf[1] != ANNOUNCE_VERSION) return -1;
    if (buf[2] & ~3u) return -1;
    memset(out, 0, sizeof *out);
    out->has4 = buf[2] & 1;
    out->has6 = (buf[2] & 2) != 0;
    if (!out->has4 && !out->has6) return -1;
    /* One encoding per announcement: the fields of an absent family must be zero. */
    static const uint8_t zero[17];
    if (!out->has4 && memcmp(buf + 3, zero, 5) != 0) return -1;
    if (!out->has6 && memcmp(buf + 8, zero, 17) != 0) return -1;
    if (out->has4) {
        if (buf[3] > 32) return -1;
        out->prefix4 = buf[3];
        memcpy(out->addr4, buf + 4, 4);
    }
    if (out->has6) {
        if (buf[8] > 128) return -1;
        out->prefix6 = buf[8];
        memcpy(out->addr6, buf + 9, 16);
    }
    return 0;
}

/* Layout (21 bytes): tag 0x03, version 1, reason, family (4 or 6), prefix, addr[16] (IPv4 in
 * the first 4 bytes, the other 12 zero). */
size_t verdict_encode(const struct verdict *v, uint8_t *out)
{
    memset(out, 0, VERDICT_LEN);
    out[0] = VERDICT_TAG;
    out[1] = VERDICT_VERSION;
    out[2] = v->reason;
    out[3] = v->family;
    out[4] = v->prefix;
    memcpy(out + 5, v->addr, v->family == 4 ? 4 : 16);
    size_t hl = strnlen(v->holder, sizeof v->holder - 1);
    if (!hl) return VERDICT_LEN;
    /* Then the holder's name: length byte, name. */
    out[VERDICT_LEN] = (uint8_t)hl;
    memcpy(out + VERDICT_LEN + 1, v->holder, hl);
    return VERDICT_LEN + 1 + hl;
}

int verdict_decode(const uint8_t *buf, size_t len, struct verdict *out)
{
    if (len < VERDICT_LEN || buf[0] != VERDICT_TAG || buf[1] != VERDICT_VERSION) return -1;
    /* Exactly 21 bytes, or 21 + length byte + that many bytes of a valid name. */
    size_t hl = 0;
    if (len > VERDICT_LEN) {
        hl = buf[VERDICT_LEN];
        if (len != VERDICT_LEN + 1 + hl || !name_valid((const char *)buf + VERDICT_LEN + 1, hl))
            return -1;
    }
    if (buf[2] > VERDICT_REASON_MAX) return -1;
    if (buf[3] != 4 && buf[3] != 6) return -1;
    if (buf[4] > (buf[3] == 4 ? 32 : 128)) return -1;
    /* One encoding per verdict: an IPv4 address leaves the other 12 bytes zero. */
    static const uint8_t zero[12];
    if (buf[3] == 4 && memcmp(buf + 9, zero, sizeof zero) != 0) return -1;
    memset(out, 0, sizeof *out);
    out->reason = buf[2];
    out->family = buf[3];
    out->prefix = buf[4];
    memcpy(out->addr, buf + 5, buf[3] == 4 ? 4 : 16);
    memcpy(out->holder, buf + VERDICT_LEN + 1, hl);
    return 0;
}

const char *verdict_reason_str(uint8_t reason)
{
    switch (reason) {
    case VERDICT_ACCEPTED:
        return "accepted";
    case VERDICT_HELD:
        return "held by another member";
    case VERDICT_OUTSIDE:
        return "outside the server's subnet";
    case VERDICT_SERVERS:
        return "the server's own address";
    case VERDICT_ASSIGNED:
        return "assigned to another member";
    default:
        return "unknown reason";
    }
}

size_t goodbye_encode(uint8_t out[GOODBYE_LEN])
{
    out[0] = GOODBYE_TAG;
    out[1] = GOODBYE_VERSION;
    return GOODBYE_LEN;
}

int goodbye_decode(const uint8_t *buf, size_t len)
{
    return len == GOODBYE_LEN && buf[0] == GOODBYE_TAG && buf[1] == GOODBYE_VERSION ? 0 : -1;
}

/* Same layout as the announcement (above), tag 0x04: flags, prefix4, addr4, prefix6, addr6. */
size_t assign_encode(const struct announce *a, uint8_t out[ASSIGN_LEN])
{
    announce_encode(a, out);
    out[0] = ASSIGN_TAG;
    out[1] = ASSIGN_VERSION;
    return ASSIGN_LEN;
}

int assign_decode(const uint8_t *buf, size_t len, struct announce *out)
{
    if (len != ASSIGN_LEN || buf[0] != ASSIGN_TAG || buf[1] != ASSIGN_VERSION) return -1;
    uint8_t tmp[ANNOUNCE_LEN];
    memcpy(tmp, buf, ANNOUNCE_LEN);
    tmp[0] = ANNOUNCE_TAG;
    tmp[1] = ANNOUNCE_VERSION;
    struct announce a;
    if (announce_decode(tmp, sizeof tmp, &a) < 0) return -1;
    /* A server always has IPv4; a prefix of 0 would make every address a neighbour. */
    if (!a.has4 || a.prefix4 == 0 || (a.has6 && a.prefix6 == 0)) return -1;
    *out = a;
    return 0;
}

/* Layout: tag 0x05, version 1, flags, length n (1..63), n bytes of name. */
size_t name_msg_encode(const struct name_msg *m, uint8_t out[NAME_MAX_LEN])
{
    size_t n = strnlen(m->name, NAME_LABEL_MAX);
    out[0] = NAME_TAG;
    out[1] = NAME_VERSION;
    out[2] = m->flags;
    out[3] = (uint8_t)n;
    memcpy(out + NAME_HDR_LEN, m->name, n);
    return NAME_HDR_LEN + n;
}

int name_msg_decode(const uint8_t *buf, size_t len, struct name_msg *out)
{
    if (len < NAME_HDR_LEN + 1 || len > NAME_MAX_LEN || buf[0] != NAME_TAG ||
        buf[1] != NAME_VERSION)
        return -1;
    uint8_t f = buf[2];
    /* A client asks for addresses, a server grants a name: never both in one message. */
    if ((f & ~(NAME_WANT_ADDRESS | NAME_GRANTED)) || f == (NAME_WANT_ADDRESS | NAME_GRANTED))
        return -1;
    size_t n = buf[3];
    if (len != NAME_HDR_LEN + n || !name_valid((const char *)buf + NAME_HDR_LEN, n)) return -1;
    memset(out, 0, sizeof *out);
    out->flags = f;
    memcpy(out->name, buf + NAME_HDR_LEN, n);
    return 0;
}

size_t member_msg_encode(const struct member_msg *m, uint8_t out[MEMBER_MAX_LEN])
{
    /* The announcement's layout for the addresses, then the node key and the name. */
    memset(out, 0, MEMBER_HDR_LEN);
    out[0] = MEMBER_TAG;
    out[1] = MEMBER_VERSION;
    out[2] = (uint8_t)((m->addrs.has4 ? 1 : 0) | (m->addrs.has6 ? 2 : 0) |
                       (m->has_key ? MEMBER_HAS_KEY : 0) | (m->left ? MEMBER_LEFT : 0));
    if (m->addrs.has4) {
        out[3] = m->addrs.prefix4;
        memcpy(out + 4, m->addrs.addr4, 4);
    }
    if (m->addrs.has6) {
        out[8] = m->addrs.prefix6;
        memcpy(out + 9, m->addrs.addr6, 16);
    }
    if (m->has_key) memcpy(out + 25, m->pk, 32);
    size_t n = strnlen(m->name, NAME_LABEL_MAX);
    out[57] = (uint8_t)n;
    memcpy(out + MEMBER_HDR_LEN, m->name, n);
    return MEMBER_HDR_LEN + n;
}

int member_msg_decode(const uint8_t *buf, size_t len, struct member_msg *out)
{
    if (len < MEMBER_HDR_LEN + 1 || len > MEMBER_MAX_LEN || buf[0] != MEMBER_TAG ||
        buf[1] != MEMBER_VERSION || (buf[2] & ~15u))
        return -1;
    size_t n = buf[57];
    if (len != MEMBER_HDR_LEN + n || !name_valid((const char *)buf + MEMBER_HDR_LEN, n)) return -1;
    static const uint8_t zero[32];
    bool has4 = buf[2] & 1, has6 = (buf[2] & 2) != 0, key = (buf[2] & MEMBER_HAS_KEY) != 0;
    bool left = (buf[2] & MEMBER_LEFT) != 0;
    if (left && (has4 || has6)) return -1; /* a member that left has no addresses */
    /* One encoding per member: absent parts are zero. */
    if ((!has4 && memcmp(buf + 3, zero, 5)) || (!has6 && memcmp(buf + 8, zero, 17)) ||
        (!key && memcmp(buf + 25, zero, 32)))
        return -1;
    if (buf[3] > 32 || buf[8] > 128) return -1;
    memset(out, 0, sizeof *out);
    out->addrs.has4 = has4;
    out->addrs.has6 = has6;
    out->addrs.prefix4 = buf[3];
    memcpy(out->addrs.addr4, buf + 4, 4);
    out->addrs.prefix6 = buf[8];
    memcpy(out->addrs.addr6, buf + 9, 16);
    out->has_key = key;
    out->left = left;
    memcpy(out->pk, buf + 25, 32);
    memcpy(out->name, buf + MEMBER_HDR_LEN, n);
    return 0;
}
