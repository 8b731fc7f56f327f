// SPDX-License-Identifier: MIT
// Fuzzes the tunnel's inner-packet parsing: IP headers it routes on, the address announcement
// the server's address verdict, the address assignment, the member name and member entry, the
// LAN candidate list (and the core's candidate table it fills).
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../src/core/candidates.h"
#include "../src/tun/announce.h"
#include "../src/tun/ippkt.h"
#include "../src/tun/lancand.h"
#include "../src/tun/mapcand.h"
#include "../src/tun/name.h"
#include "harness.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static volatile uint8_t sink;

static void check_ip(const uint8_t *data, size_t size)
{
    struct ippkt ip;
    memset(&ip, 0, sizeof ip);
    if (ippkt_parse(data, size, &ip) < 0) return;
    size_t alen = ip.version == 4 ? 4 : 16;
    FZ_CHECK(ip.version == 4 || ip.version == 6);
    FZ_CHECK(ip.version == data[0] >> 4);
    FZ_CHECK(ip.src >= data && ip.src + alen <= data + size);
    FZ_CHECK(ip.dst >= data && ip.dst + alen <= data + size);
    /* Touch every byte the router will read (ASan checks the buffer is that long). */
    for (size_t i = 0; i < alen; i++)
        sink ^= ip.src[i] ^ ip.dst[i];
    if (ip.version == 4) {
        size_t ihl = (size_t)(data[0] & 15) * 4, total = ((size_t)data[2] << 8) | data[3];
        FZ_CHECK(size >= 20 && ihl >= 20 && ihl <= total && total <= size);
        FZ_CHECK(ip.src == data + 12 && ip.dst == data + 16);
    } else {
        size_t payload = ((size_t)data[4] << 8) | data[5];
        FZ_CHECK(size >= 40 && 40 + payload <= size);
        FZ_CHECK(ip.src == data + 8 && ip.dst == data + 24);
    }
}

static void check_announce(const uint8_t *data, size_t size)
{
    struct announce a;
    if (announce_decode(data, size, &a) < 0) return;
    FZ_CHECK(size == ANNOUNCE_LEN);
    FZ_CHECK(a.has4 || a.has6);
    FZ_CHECK(a.prefix4 <= 32 && a.prefix6 <= 128);
    uint8_t out[ANNOUNCE_LEN];
    FZ_CHECK(announce_encode(&a, out) == ANNOUNCE_LEN);
    /* Strict codec: one announcement has one encoding, so decode -> encode is the identity. */
    FZ_CHECK(memcmp(out, data, ANNOUNCE_LEN) == 0);
    struct announce b;
    FZ_CHECK(announce_decode(out, sizeof out, &b) == 0);
    FZ_CHECK(a.has4 == b.has4 && a.has6 == b.has6 && a.prefix4 == b.prefix4 &&
             a.prefix6 == b.prefix6 && memcmp(a.addr4, b.addr4, 4) == 0 &&
             memcmp(a.addr6, b.addr6, 16) == 0);
}

static void check_verdict(const uint8_t *data, size_t size)
{
    struct verdict v;
    if (verdict_decode(data, size, &v) < 0) return;
    FZ_CHECK(size == VERDICT_LEN || (size > VERDICT_LEN + 1 && size <= VERDICT_MAX_LEN));
    FZ_CHECK(v.reason <= VERDICT_REASON_MAX);
    FZ_CHECK(name_valid(v.holder, strlen(v.holder)) == (size > VERDICT_LEN));
    FZ_CHECK(v.family == 4 || v.family == 6);
    FZ_CHECK(v.prefix <= (v.family == 4 ? 32 : 128));
    FZ_CHECK(verdict_reason_str(v.reason) != NULL);
    uint8_t out[VERDICT_MAX_LEN];
    FZ_CHECK(verdict_encode(&v, out) == size);
    /* Strict codec, as for announcements: decode -> encode is the identity. */
    FZ_CHECK(memcmp(out, data, size) == 0);
}

static void check_assign(const uint8_t *data, size_t size)
{
    struct announce a;
    if (assign_decode(data, size, &a) < 0) return;
    FZ_CHECK(size == ASSIGN_LEN && a.has4);
    FZ_CHECK(a.prefix4 >= 1 && a.prefix4 <= 32 &&
             (!a.has6 || (a.prefix6 >= 1 && a.prefix6 <= 128)));
    uint8_t out[ASSIGN_LEN];
    FZ_CHECK(assign_encode(&a, out) == ASSIGN_LEN);
    FZ_CHECK(memcmp(out, data, ASSIGN_LEN) == 0);
}

static void check_name(const uint8_t *data, size_t size)
{
    struct name_msg m;
    if (name_msg_decode(data, size, &m) < 0) return;
    size_t n = strlen(m.name);
    FZ_CHECK(name_valid(m.name, n) && size == NAME_HDR_LEN + n);
    FZ_CHECK(m.flags != (NAME_WANT_ADDRESS | NAME_GRANTED));
    uint8_t out[NAME_MAX_LEN];
    FZ_CHECK(name_msg_encode(&m, out) == size);
    FZ_CHECK(memcmp(out, data, size) == 0);
}

static void check_member(const uint8_t *data, size_t size)
{
    struct member_msg m;
    if (member_msg_decode(data, size, &m) < 0) return;
    size_t n = strlen(m.name);
    FZ_CHECK(name_valid(m.name, n) && size == MEMBER_HDR_LEN + n);
    FZ_CHECK(m.addrs.prefix4 <= 32 && m.addrs.prefix6 <= 128);
    FZ_CHECK(!m.left || (!m.addrs.has4 && !m.addrs.has6)); /* a member that left has none */
    uint8_t out[MEMBER_MAX_LEN];
    FZ_CHECK(member_msg_encode(&m, out) == size);
    FZ_CHECK(memcmp(out, data, size) == 0);
}

static void check_lancand(const uint8_t *data, size_t size)
{
    struct rph_addr a[LANCAND_MAX];
    size_t n = 99;
    const char *why = NULL;
    if (lancand_decode(data, size, a, &n, &why) < 0) {
        FZ_CHECK(why != NULL && n == 0);
        return;
    }
    uint8_t out[LANCAND_MAX_LEN];
    if (data[1] == LANCAND_VERSION_V6) {
        /* Version 2: the same identity; the core takes the IPv6 entries as IPv6 candidates. */
        FZ_CHECK(n <= LANCAND_MAX && size <= LANCAND_MAX_LEN);
        FZ_CHECK(lancand_encode_v2(a, n, out) == size);
        FZ_CHECK(memcmp(out, data, size) == 0);
        struct rph_remote r6;
        memset(&r6, 0, sizeof r6);
        r6.in_use = true;
        r6.addr.family = 4;
        r6.addr.port = 7000;
        size_t refused = 0, taken = cand_set_v6(&r6, a, n, 1000, &refused);
        FZ_CHECK(taken + refused == n && taken == r6.n_cand && r6.n_cand <= RPH_MAX_CANDIDATES);
        for (size_t i = 0; i < r6.n_cand; i++) {
            FZ_CHECK(r6.cand[i].kind == RPH_CAND_V6 && cand_v6_usable(&r6.cand[i].addr));
            for (size_t j = 0; j < i; j++)
                FZ_CHECK(!rph_addr_equal(&r6.cand[i].addr, &r6.cand[j].addr));
        }
        return;
    }
    FZ_CHECK(n <= LANCAND_MAX && size == LANCAND_HDR_LEN + n * LANCAND_ENTRY_LEN);
    FZ_CHECK(lancand_encode(a, n, out) == size);
    FZ_CHECK(memcmp(out, data, size) == 0);
    /* What the core makes of it: a bounded table of usable, distinct LAN candidates. */
    struct rph_remote r;
    memset(&r, 0, sizeof r);
    r.in_use = true;
    r.addr.family = 4;
    memcpy(r.addr.ip, (uint8_t[]){10, 0, 0, 1}, 4);
    r.addr.port = 7000;
    r.relay_addr = r.addr;
    r.has_relay_addr = true;
    size_t refused = 0, taken = cand_set_lan(&r, a, n, 1000, &refused);
    FZ_CHECK(taken + refused == n && taken == r.n_cand && r.n_cand <= RPH_MAX_CANDIDATES);
    for (size_t i = 0; i < r.n_cand; i++) {
        FZ_CHECK(r.cand[i].kind == RPH_CAND_LAN && cand_lan_usable(&r.cand[i].addr));
        FZ_CHECK(!rph_addr_equal(&r.cand[i].addr, &r.relay_addr));
        for (size_t j = 0; j < i; j++)
            FZ_CHECK(!rph_addr_equal(&r.cand[i].addr, &r.cand[j].addr));
    }
}

/* The mapped candidate (tag 0x08): decode -> encode is the identity, and the core keeps at most
 * one mapped candidate, a usable one. */
static void check_mapcand(const uint8_t *data, size_t size)
{
    bool has = false;
    struct rph_addr a;
    const char *why = NULL;
    if (mapcand_decode(data, size, &has, &a, &why) < 0) {
        FZ_CHECK(why != NULL);
        return;
    }
    uint8_t out[MAPCAND_LEN];
    FZ_CHECK(size == MAPCAND_LEN && mapcand_encode(has ? &a : NULL, out) == MAPCAND_LEN);
    FZ_CHECK(memcmp(out, data, size) == 0);
    struct rph_remote r;
    memset(&r, 0, sizeof r);
    r.in_use = true;
    r.addr.family = 4;
    memcpy(r.addr.ip, (uint8_t[]){10, 0, 0, 1}, 4);
    r.addr.port = 7000;
    int taken = cand_set_mapped(&r, has ? &a : NULL, 1000);
    FZ_CHECK(taken == 1 ? r.n_cand == 1 && r.cand[0].kind == RPH_CAND_MAPPED &&
                              cand_lan_usable(&r.cand[0].addr)
                        : r.n_cand == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_ip(data, size);
    check_announce(data, size);
    check_verdict(data, size);
    check_assign(data, size);
    check_name(data, size);
    check_member(data, size);
    check_lancand(data, size);
    check_mapcand(data, size);
    return 0;
}
