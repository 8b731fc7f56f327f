// SPDX-License-Identifier: MIT
// The introduction message (tag 0x09): encode and a strict decode. Whether a candidate is
// usable as a path is the core's call (rph_peer_set_*_candidates); this only rejects what no
// encoder writes, so every message has one encoding.
#include "intro.h"

#include <string.h>

static uint8_t *put_port(uint8_t *p, uint16_t port)
{
    p[0] = (uint8_t)(port >> 8);
    p[1] = (uint8_t)port;
    return p + 2;
}

static uint16_t get_port(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static bool zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i]) return false;
    return true;
}

size_t intro_encode(const struct intro *in, uint8_t out[INTRO_MAX_LEN])
{
    memset(out, 0, INTRO_MAX_LEN);
    out[0] = INTRO_TAG;
    memcpy(out + 3, in->node_pk, 32);
    if (in->left) {
        out[1] = INTRO_VERSION_LEFT;
        return INTRO_LEFT_LEN;
    }
    out[1] = INTRO_VERSION;
    const struct announce *a = &in->addrs;
    uint8_t flags = 0, *p = out + 35;
    if (a->has4) {
        flags |= INTRO_F_HAS4;
        memcpy(p, a->addr4, 4);
        p[4] = a->prefix4;
    }
    p += 5;
    if (a->has6) {
        flags |= INTRO_F_HAS6;
        memcpy(p, a->addr6, 16);
        p[16] = a->prefix6;
    }
    p += 17;
    const struct rph_addr *ep = &in->endpoint;
    if ((ep->family == 4 || ep->family == 6) && ep->port) {
        p[0] = (uint8_t)ep->family;
        memcpy(p + 1, ep->ip, ep->family == 4 ? 4 : 16);
        put_port(p + 17, ep->port);
    }
    p += 19;
    p = put_port(p, in->rtt_ms);
    uint8_t *counts = p;
    p += 2;
    for (size_t i = 0; i < in->n_lan && i < INTRO_MAX_CAND; i++) {
        if (in->lan[i].family != 4 || !in->lan[i].port) continue;
        memcpy(p, in->lan[i].ip, 4);
        p = put_port(p + 4, in->lan[i].port);
        counts[0]++;
    }
    for (size_t i = 0; i < in->n_v6 && i < INTRO_MAX_CAND; i++) {
        if (in->v6[i].family != 6 || !in->v6[i].port) continue;
        memcpy(p, in->v6[i].ip, 16);
        p = put_port(p + 16, in->v6[i].port);
        counts[1]++;
    }
    if (in->has_mapped && in->mapped.family == 4 && in->mapped.port) {
        flags |= INTRO_F_MAPPED;
        memcpy(p, in->mapped.ip, 4);
        p = put_port(p + 4, in->mapped.port);
    }
    out[2] = flags;
    return (size_t)(p - out);
}

static int fail(const char **why, const char *what)
{
    *why = what;
    return -1;
}

int intro_decode(const uint8_t *buf, size_t len, struct intro *out, const char **why)
{
    memset(out, 0, sizeof *out);
    if (len < 3 || buf[0] != INTRO_TAG) return fail(why, "too short or another tag");
    if (buf[1] == INTRO_VERSION_LEFT) {
        if (len != INTRO_LEFT_LEN) return fail(why, "a \"left\" message not 35 bytes long");
        if (buf[2]) return fail(why, "unknown flags");
        out->left = true;
        memcpy(out->node_pk, buf + 3, 32);
        return 0;
    }
    if (buf[1] != INTRO_VERSION) return fail(why, "unknown version");
    if (len < INTRO_FIXED_LEN) return fail(why, "shorter than 80 bytes");
    uint8_t flags = buf[2];
    if (flags & ~(INTRO_F_HAS4 | INTRO_F_HAS6 | INTRO_F_MAPPED)) return fail(why, "unknown flags");
    memcpy(out->node_pk, buf + 3, 32);
    const uint8_t *p = buf + 35;
    struct announce *a = &out->addrs;
    if (flags & INTRO_F_HAS4) {
        a->has4 = true;
        memcpy(a->addr4, p, 4);
        a->prefix4 = p[4];
        if (a->prefix4 > 32) return fail(why, "IPv4 prefix over 32");
    } else if (!zero(p, 5)) {
        return fail(why, "an IPv4 address without the flag");
    }
    p += 5;
    if (flags & INTRO_F_HAS6) {
        a->has6 = true;
        memcpy(a->addr6, p, 16);
        a->prefix6 = p[16];
        if (a->prefix6 > 128) return fail(why, "IPv6 prefix over 128");
    } else if (!zero(p, 17)) {
        return fail(why, "an IPv6 address without the flag");
    }
    p += 17;
    if (!a->has4 && !a->has6) return fail(why, "no overlay address");
    struct rph_addr *ep = &out->endpoint;
    if (p[0] == 4) {
        if (!zero(p + 5, 12)) return fail(why, "non-zero padding after the IPv4 endpoint");
    } else if (p[0] != 6 && (p[0] != 0 || !zero(p + 1, 18))) {
        return fail(why, "unknown endpoint family");
    }
    if (p[0]) {
        ep->family = p[0];
        memcpy(ep->ip, p + 1, p[0] == 4 ? 4 : 16);
        ep->port = get_port(p + 17);
        if (!ep->port) return fail(why, "endpoint port 0");
    }
    p += 19;
    out->rtt_ms = get_port(p);
    p += 2;
    size_t n_lan = p[0], n_v6 = p[1];
    p += 2;
    if (n_lan > INTRO_MAX_CAND || n_v6 > INTRO_MAX_CAND) return fail(why, "more than 8 candidates");
    size_t want = INTRO_FIXED_LEN + n_lan * INTRO_LAN_LEN + n_v6 * INTRO_V6_LEN +
                  ((flags & INTRO_F_MAPPED) ? INTRO_MAPPED_LEN : 0);
    if (len != want) return fail(why, "length does not match the counts");
    for (size_t i = 0; i < n_lan; i++, p += INTRO_LAN_LEN) {
        struct rph_addr *c = &out->lan[i];
        c->family = 4;
        memcpy(c->ip, p, 4);
        c->port = get_port(p + 4);
        if (!c->port) return fail(why, "a candidate with port 0");
    }
    out->n_lan = n_lan;
    for (size_t i = 0; i < n_v6; i++, p += INTRO_V6_LEN) {
        struct rph_addr *c = &out->v6[i];
        c->family = 6;
        memcpy(c->ip, p, 16);
        c->port = get_port(p + 16);
        if (!c->port) return fail(why, "a candidate with port 0");
    }
    out->n_v6 = n_v6;
    if (flags & INTRO_F_MAPPED) {
        out->has_mapped = true;
        out->mapped.family = 4;
        memcpy(out->mapped.ip, p, 4);
        out->mapped.port = get_port(p + 4);
        if (!out->mapped.port) return fail(why, "a candidate with port 0");
    }
    return 0;
}
