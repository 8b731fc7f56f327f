// SPDX-License-Identifier: MIT
// The relay: RelayData's bytes and every malformation, the peer-side wrap/unwrap, the forwarding
// table on a fake clock (members only, one session, TTL, bandwidth, max_sessions), and the
// holepuncher learning members only from signed, cookie-checked Register/Join.
#include <criterion/criterion.h>
#include <string.h>

#include "../src/core/relay_table.h"
#include "ruphin/be.h"
#include "ruphin/clock.h"
#include "ruphin/error.h"
#include "ruphin/holepuncher.h"
#include "ruphin/relay.h"
#include "ruphin/seal.h"

static const struct rph_addr A = {.family = 4, .ip = {203, 0, 113, 1}, .port = 52702};
static const struct rph_addr B = {.family = 4, .ip = {198, 51, 100, 2}, .port = 44295};
static const struct rph_addr C = {
    .family = 6, .ip = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7}, .port = 7000};

static struct rph_session sess(uint8_t fill)
{
    struct rph_session s = {.len = RPH_RELAY_SESSION_LEN};
    memset(s.id, fill, sizeof s.id);
    return s;
}

static const uint8_t COOKIE_A[RPH_COOKIE_LEN] = {0xa1, 0xa2, 0xa3};
static const uint8_t COOKIE_B[RPH_COOKIE_LEN] = {0xb1, 0xb2, 0xb3};
static const uint8_t COOKIE_C[RPH_COOKIE_LEN] = {0xc1, 0xc2, 0xc3};

/* A Transport datagram of n bytes (n >= 16 + 16) as the payload at buf + 59. */
static void put_transport(uint8_t *buf, size_t n)
{
    uint8_t *p = buf + RPH_RELAY_HEADER_LEN;
    rph_put16(p, (uint16_t)n);
    rph_put16(p + 2, RPH_TRANSPORT);
    for (size_t i = 4; i < n; i++)
        p[i] = (uint8_t)(i * 7);
}

/* A RelayData from a member: session s, the sender's cookie, destination dst, payload n. */
static size_t relay_msg(uint8_t *buf, const struct rph_session *s, const uint8_t *cookie,
                        const struct rph_addr *dst, size_t n)
{
    put_transport(buf, n);
    int len = rph_relay_wrap(buf, RPH_DATAGRAM_MAX, s, cookie, dst, n);
    cr_assert_eq(len, (int)(RPH_RELAY_HEADER_LEN + n), "wrap: %d", len);
    return (size_t)len;
}

/* ---- wire ---- */

Test(relay_wire, the_bytes_are_the_documented_ones)
{
    uint8_t buf[128];
    struct rph_session s = sess(0x5a);
    size_t len = relay_msg(buf, &s, COOKIE_A, &A, 32);
    cr_assert_eq(len, 91);
    static const uint8_t head[4] = {0x00, 91, 0x00, 22};
    cr_assert_arr_eq(buf, head, 4);
    cr_assert_arr_eq(buf + 4, s.id, 20);
    cr_assert_arr_eq(buf + 24, COOKIE_A, 16);
    cr_assert_eq(buf[40], 4);
    static const uint8_t addr[16] = {203, 0, 113, 1};
    cr_assert_arr_eq(buf + 41, addr, 16);
    cr_assert_eq(rph_get16(buf + 57), 52702);
    cr_assert_eq(rph_get16(buf + 59), 32, "the payload starts at 59");
}

Test(relay_wire, round_trips_ipv4_and_ipv6)
{
    const struct rph_addr *peers[2] = {&A, &C};
    for (int i = 0; i < 2; i++) {
        uint8_t buf[RPH_DATAGRAM_MAX];
        struct rph_session s = sess((uint8_t)(i + 1));
        for (size_t n = RPH_RELAY_PAYLOAD_MIN; n <= RPH_RELAY_PAYLOAD_MAX; n += 4093) {
            memset(buf + RPH_RELAY_HEADER_LEN, (int)n, n);
            struct rph_relay_msg m = {.session = s, .peer = *peers[i]};
            memcpy(m.cookie, COOKIE_B, sizeof m.cookie);
            int len = rph_relay_put_header(&m, buf, n);
            cr_assert_eq(len, (int)(RPH_RELAY_HEADER_LEN + n));
            struct rph_relay_msg d;
            cr_assert_eq(rph_relay_decode(buf, (size_t)len, &d), 0);
            cr_assert(rph_session_equal(&d.session, &s));
            cr_assert_arr_eq(d.cookie, COOKIE_B, RPH_COOKIE_LEN);
            cr_assert(rph_addr_equal(&d.peer, peers[i]));
            cr_assert_eq(d.payload, buf + RPH_RELAY_HEADER_LEN);
            cr_assert_eq(d.payload_len, n);
        }
        /* The largest: a full 65535-byte datagram. */
        struct rph_relay_msg m = {.session = s, .peer = *peers[i]};
        cr_assert_eq(rph_relay_put_header(&m, buf, RPH_RELAY_PAYLOAD_MAX), RPH_DATAGRAM_MAX);
        struct rph_relay_msg d;
        cr_assert_eq(rph_relay_decode(buf, RPH_DATAGRAM_MAX, &d), 0);
    }
}

Test(relay_wire, every_malformation_is_refused_with_its_reason)
{
    uint8_t good[100];
    struct rph_session s = sess(3);
    size_t len = relay_msg(good, &s, COOKIE_A, &A, 32);
    struct rph_relay_msg d;
    uint8_t b[100];
    /* Every truncation of a good datagram fails (its length field then differs). */
    for (size_t n = 0; n < len; n++) {
        memcpy(b, good, len);
        cr_assert_lt(rph_relay_decode(b, n, &d), 0, "truncated to %zu decoded", n);
    }
    cr_assert_eq(rph_relay_decode(good, 3, &d), RPH_E_SHORT);
    memcpy(b, good, len);
    b[1]++;
    cr_assert_eq(rph_relay_decode(b, len, &d), RPH_E_LENGTH);
    memcpy(b, good, len);
    b[3] = RPH_TRANSPORT;
    cr_assert_eq(rph_relay_decode(b, len, &d), RPH_E_TYPE);
    cr_assert(!rph_relay_is(b, len));
    cr_assert(rph_relay_is(good, len));
    cr_assert(!rph_relay_is(good, 3));
    cr_assert(!rph_relay_is(good, len - 1), "a RelayData whose length field lies");
    /* A payload under 4 bytes: 59 + 3. */
    memcpy(b, good, len);
    b[1] = RPH_RELAY_HEADER_LEN + 3;
    cr_assert_eq(rph_relay_decode(b, RPH_RELAY_HEADER_LEN + 3, &d), RPH_E_SIZE);
    b[1] = RPH_RELAY_HEADER_LEN;
    cr_assert_eq(rph_relay_decode(b, RPH_RELAY_HEADER_LEN, &d), RPH_E_SIZE);
    for (int fam = 0; fam < 256; fam++) {
        if (fam == 4 || fam == 6) continue;
        memcpy(b, good, len);
        b[40] = (uint8_t)fam;
        cr_assert_eq(rph_relay_decode(b, len, &d), RPH_E_FAMILY, "family %d", fam);
    }
    memcpy(b, good, len);
    b[57] = b[58] = 0;
    cr_assert_eq(rph_relay_decode(b, len, &d), RPH_E_INVALID, "port 0");
    for (int i = 45; i < 57; i++) {
        memcpy(b, good, len);
        b[i] = 1;
        cr_assert_eq(rph_relay_decode(b, len, &d), RPH_E_INVALID, "IPv4 with byte %d set", i);
    }
    /* The same bytes under family 6 are an IPv6 address: fine. */
    memcpy(b, good, len);
    b[40] = 6;
    b[50] = 1;
    cr_assert_eq(rph_relay_decode(b, len, &d), 0);
}

Test(relay_wire, put_header_refuses_what_the_decoder_would)
{
    static uint8_t buf[RPH_DATAGRAM_MAX + 1];
    struct rph_relay_msg m = {.session = sess(1), .peer = A};
    cr_assert_eq(rph_relay_put_header(&m, buf, RPH_RELAY_PAYLOAD_MAX + 1), RPH_E_TOOBIG);
    cr_assert_eq(rph_relay_put_header(&m, buf, 3), RPH_E_SIZE);
    m.session.len = 19;
    cr_assert_eq(rph_relay_put_header(&m, buf, 32), RPH_E_SESSION_LEN);
    m.session.len = 20;
    m.peer.family = 0;
    cr_assert_eq(rph_relay_put_header(&m, buf, 32), RPH_E_FAMILY);
    m.peer = A;
    m.peer.port = 0;
    cr_assert_eq(rph_relay_put_header(&m, buf, 32), RPH_E_INVALID);
}

Test(relay_wire, wrap_takes_only_sealed_datagrams_that_fit)
{
    uint8_t buf[200];
    struct rph_session s = sess(1);
    put_transport(buf, 40);
    cr_assert_eq(rph_relay_wrap(buf, 98, &s, COOKIE_A, &B, 40), RPH_E_NOSPACE);
    cr_assert_eq(rph_relay_wrap(buf, 10, &s, COOKIE_A, &B, 40), RPH_E_NOSPACE);
    cr_assert_eq(rph_relay_wrap(buf, 99, &s, COOKIE_A, &B, 40), 99);
    /* A plaintext Register is no sealed datagram: the relay is for sealed sessions. */
    uint8_t *p = buf + RPH_RELAY_HEADER_LEN;
    memcpy(p, "\x00\x06\x00\x02xy", 6);
    cr_assert_eq(rph_relay_wrap(buf, sizeof buf, &s, COOKIE_A, &B, 6), RPH_E_UNEXPECTED);
    /* A payload whose own length field is wrong. */
    put_transport(buf, 40);
    cr_assert_eq(rph_relay_wrap(buf, sizeof buf, &s, COOKIE_A, &B, 41), RPH_E_LENGTH);
}

Test(relay_wire, unwrap_checks_session_cookie_and_payload)
{
    uint8_t buf[200];
    struct rph_session s = sess(1), other = sess(2);
    static const uint8_t zero[RPH_COOKIE_LEN];
    size_t len = relay_msg(buf, &s, zero, &A, 40); /* as forwarded: source A, no cookie */
    struct rph_addr src;
    const uint8_t *pl;
    size_t pn;
    cr_assert_eq(rph_relay_unwrap(buf, len, &s, &src, &pl, &pn), 0);
    cr_assert(rph_addr_equal(&src, &A));
    cr_assert_eq(pl, buf + RPH_RELAY_HEADER_LEN);
    cr_assert_eq(pn, 40);
    cr_assert_eq(rph_relay_unwrap(buf, len, &other, &src, &pl, &pn), RPH_E_SESSION_MISMATCH);
    buf[30] = 1; /* a cookie: only a member's request has one */
    cr_assert_eq(rph_relay_unwrap(buf, len, &s, &src, &pl, &pn), RPH_E_UNEXPECTED);
    buf[30] = 0;
    buf[RPH_RELAY_HEADER_LEN + 3] = RPH_HELLO_REQ;
    cr_assert_lt(rph_relay_unwrap(buf, len, &s, &src, &pl, &pn), 0);
    buf[RPH_RELAY_HEADER_LEN + 3] = RPH_TRANSPORT;
    buf[RPH_RELAY_HEADER_LEN + 1]++;
    cr_assert_eq(rph_relay_unwrap(buf, len, &s, &src, &pl, &pn), RPH_E_LENGTH);
    buf[RPH_RELAY_HEADER_LEN + 1]--;
    buf[1]++;
    cr_assert_eq(rph_relay_unwrap(buf, len, &s, &src, &pl, &pn), RPH_E_LENGTH);
}

/* ---- the forwarding table ---- */

#define T0 1000000ull
#define TTL 60000u

static struct relay_table *table(size_t max_sessions, uint32_t kbps)
{
    struct relay_config c = {.enabled = true,
                             .max_sessions = max_sessions,
                             .max_kbps = kbps,
                             .ttl_ms = TTL,
                             .max_members = 100000};
    struct relay_table *t = relay_table_new(&c);
    cr_assert_not_null(t);
    return t;
}

/* A and B members of session 1 (cookies A, B); C a member of session 2. */
static struct relay_table *two_members(size_t max_sessions, uint32_t kbps)
{
    struct relay_table *t = table(max_sessions, kbps);
    struct rph_session s1 = sess(1), s2 = sess(2);
    cr_assert_eq(relay_member_add(t, &s1, &A, COOKIE_A, T0), 0);
    cr_assert_eq(relay_member_add(t, &s1, &B, COOKIE_B, T0), 0);
    cr_assert_eq(relay_member_add(t, &s2, &C, COOKIE_C, T0), 0);
    return t;
}

Test(relay_table, member_to_member_is_forwarded_with_the_source_in_place_and_the_same_size)
{
    struct relay_table *t = two_members(10, 0);
    struct rph_session s1 = sess(1);
    uint8_t buf[1500], orig[1500];
    size_t len = relay_msg(buf, &s1, COOKIE_A, &B, 1400);
    memcpy(orig, buf, len);
    struct rph_addr to;
    cr_assert_eq(relay_forward(t, buf, len, &A, T0 + 5, &to), 0);
    cr_assert(rph_addr_equal(&to, &B), "sent to the destination");
    /* Same length field, same session, no cookie, the source endpoint, the payload as it was. */
    cr_assert_arr_eq(buf, orig, 24);
    static const uint8_t zero[RPH_COOKIE_LEN];
    cr_assert_arr_eq(buf + 24, zero, RPH_COOKIE_LEN);
    struct rph_relay_msg d;
    cr_assert_eq(rph_relay_decode(buf, len, &d), 0);
    cr_assert(rph_addr_equal(&d.peer, &A));
    cr_assert_arr_eq(buf + 59, orig + 59, len - 59);
    /* And the receiving peer's unwrap takes it. */
    struct rph_addr src;
    const uint8_t *pl;
    size_t pn;
    cr_assert_eq(rph_relay_unwrap(buf, len, &s1, &src, &pl, &pn), 0);
    cr_assert(rph_addr_equal(&src, &A));
    /* Back the other way. */
    len = relay_msg(buf, &s1, COOKIE_B, &A, 100);
    cr_assert_eq(relay_forward(t, buf, len, &B, T0 + 6, &to), 0);
    cr_assert(rph_addr_equal(&to, &A));
    const struct rph_relay_stats *st = relay_stats(t);
    cr_assert_eq(st->relayed, 2);
    cr_assert_eq(st->relayed_bytes, 1459 + 159);
    uint64_t n, bytes, rl;
    cr_assert(relay_session_counters(t, &s1, &n, &bytes, &rl));
    cr_assert_eq(n, 2);
    cr_assert_eq(bytes, 1459 + 159);
    cr_assert_eq(relay_session_count(t), 1);
    relay_table_free(t);
}

Test(relay_table, non_members_and_spoofed_sources_are_dropped_and_counted)
{
    struct relay_table *t = two_members(10, 0);
    struct rph_session s1 = sess(1), s2 = sess(2), s3 = sess(3);
    uint8_t buf[200];
    struct rph_addr to;
    struct rph_addr stranger = {.family = 4, .ip = {192, 0, 2, 9}, .port = 1234};
    /* A source that is no member. */
    size_t len = relay_msg(buf, &s1, COOKIE_A, &B, 40);
    cr_assert_eq(relay_forward(t, buf, len, &stranger, T0, &to), RPH_E_UNKNOWN_PEER);
    /* A's endpoint spoofed without A's cookie. */
    len = relay_msg(buf, &s1, COOKIE_B, &B, 40);
    cr_assert_eq(relay_forward(t, buf, len, &A, T0, &to), RPH_E_UNKNOWN_PEER);
    /* A member, but of another session than it names. */
    len = relay_msg(buf, &s2, COOKIE_A, &C, 40);
    cr_assert_eq(relay_forward(t, buf, len, &A, T0, &to), RPH_E_UNKNOWN_PEER);
    len = relay_msg(buf, &s3, COOKIE_A, &B, 40);
    cr_assert_eq(relay_forward(t, buf, len, &A, T0, &to), RPH_E_UNKNOWN_PEER);
    cr_assert_eq(relay_stats(t)->not_member, 4);
    /* To a destination that is no member, a member of another session, or itself. */
    len = relay_msg(buf, &s1, COOKIE_A, &stranger, 40);
    cr_assert_eq(relay_forward(t, buf, len, &A, T0, &to), RPH_E_UNEXPECTED);
    len = relay_msg(buf, &s1, COOKIE_A, &C, 40);
    cr_assert_eq(relay_forward(t, buf, len, &A, T0, &to), RPH_E_UNEXPECTED);
    len = relay_msg(buf, &s1, COOKIE_A, &A, 40);
    cr_assert_eq(relay_forward(t, buf, len, &A, T0, &to), RPH_E_UNEXPECTED);
    struct rph_addr b_other_port = B;
    b_other_port.port++;
    len = relay_msg(buf, &s1, COOKIE_A, &b_other_port, 40);
    cr_assert_eq(relay_forward(t, buf, len, &A, T0, &to), RPH_E_UNEXPECTED);
    cr_assert_eq(relay_stats(t)->bad_destination, 4);
    /* Garbage of type 22. */
    len = relay_msg(buf, &s1, COOKIE_A, &B, 40);
    buf[40] = 5;
    cr_assert_eq(relay_forward(t, buf, len, &A, T0, &to), RPH_E_FAMILY);
    cr_assert_eq(relay_stats(t)->malformed, 1);
    cr_assert_eq(relay_stats(t)->relayed, 0);
    cr_assert_eq(relay_session_count(t), 0, "a dropped datagram started a session");
    relay_table_free(t);
}

Test(relay_table, memberships_end_with_the_session_ttl)
{
    struct relay_table *t = two_members(10, 0);
    struct rph_session s1 = sess(1);
    uint8_t buf[200];
    struct rph_addr to;
    size_t len = relay_msg(buf, &s1, COOKIE_A, &B, 40);
    cr_assert_eq(relay_forward(t, buf, len, &A, T0 + TTL - 1, &to), 0);
    len = relay_msg(buf, &s1, COOKIE_A, &B, 40);
    cr_assert_eq(relay_forward(t, buf, len, &A, T0 + TTL, &to), RPH_E_UNKNOWN_PEER);
    /* A proves again; B has not: B is no destination any more. */
    cr_assert_eq(relay_member_add(t, &s1, &A, COOKIE_A, T0 + TTL), 0);
    len = relay_msg(buf, &s1, COOKIE_A, &B, 40);
    cr_assert_eq(relay_forward(t, buf, len, &A, T0 + TTL, &to), RPH_E_UNEXPECTED);
    cr_assert(relay_is_member(t, &s1, &A, T0 + TTL));
    cr_assert(!relay_is_member(t, &s1, &B, T0 + TTL));
    /* The sweep removes the expired ones and ends the idle session with its counters. */
    relay_expire(t, T0 + TTL, 1000, NULL, NULL);
    cr_assert_eq(relay_member_count(t), 1);
    cr_assert_eq(relay_session_count(t), 1, "the session was used at T0 + TTL - 1");
    relay_expire(t, T0 + 2 * TTL, 1000, NULL, NULL);
    cr_assert_eq(relay_member_count(t), 0);
    cr_assert_eq(relay_session_count(t), 0);
    cr_assert_eq(relay_stats(t)->sessions_ended, 1);
    relay_table_free(t);
}

Test(relay_table, bytes_over_the_sessions_bandwidth_are_dropped_and_counted)
{
    /* 1000 kbit/s = 125 000 bytes a second; the burst is the larger of a quarter second and
     * two 65535-byte datagrams: 131 070 bytes. */
    struct relay_table *t = two_members(10, 1000);
    struct rph_session s1 = sess(1);
    uint8_t buf[1100];
    struct rph_addr to;
    int ok = 0, dropped = 0;
    for (int i = 0; i < 200; i++) {
        size_t len = relay_msg(buf, &s1, COOKIE_A, &B, 941); /* 1000 bytes on the wire */
        int r = relay_forward(t, buf, len, &A, T0, &to);
        ok += r == 0;
        dropped += r == RPH_E_RATE;
    }
    cr_assert_eq(ok, 131, "the burst let %d through", ok);
    cr_assert_eq(dropped, 69);
    cr_assert_eq(relay_stats(t)->rate_limited, 69);
    cr_assert_eq(relay_stats(t)->rate_limited_bytes, 69000);
    /* One second later: 125 000 more bytes (plus the 70 left). */
    ok = 0;
    for (int i = 0; i < 200; i++) {
        size_t len = relay_msg(buf, &s1, COOKIE_A, &B, 941);
        ok += relay_forward(t, buf, len, &A, T0 + 1000, &to) == 0;
    }
    cr_assert_eq(ok, 125, "one second let %d through", ok);
    /* Other sessions have budgets of their own. */
    struct rph_session s2 = sess(2);
    struct rph_addr d = C;
    d.port++;
    relay_member_add(t, &s2, &d, COOKIE_B, T0);
    size_t len = relay_msg(buf, &s2, COOKIE_C, &d, 941);
    cr_assert_eq(relay_forward(t, buf, len, &C, T0 + 1000, &to), 0);
    uint64_t n, bytes, rl;
    cr_assert(relay_session_counters(t, &s1, &n, &bytes, &rl));
    cr_assert_eq(n, 256);
    cr_assert_eq(bytes, 256000);
    cr_assert_eq(rl, 69 + 75);
    relay_table_free(t);
}

Test(relay_table, at_most_max_sessions_are_relayed_at_once)
{
    struct relay_table *t = table(2, 0);
    uint8_t buf[200];
    struct rph_addr to;
    for (uint8_t i = 1; i <= 3; i++) {
        struct rph_session s = sess(i);
        cr_assert_eq(relay_member_add(t, &s, &A, COOKIE_A, T0), 0);
        cr_assert_eq(relay_member_add(t, &s, &B, COOKIE_B, T0), 0);
    }
    for (uint8_t i = 1; i <= 3; i++) {
        struct rph_session s = sess(i);
        size_t len = relay_msg(buf, &s, COOKIE_A, &B, 40);
        cr_assert_eq(relay_forward(t, buf, len, &A, T0 + i, &to), i <= 2 ? 0 : RPH_E_FULL,
                     "session %u", i);
    }
    cr_assert_eq(relay_stats(t)->refused_full, 1);
    cr_assert_eq(relay_session_count(t), 2);
    /* Session 1 goes idle; its place frees once it expired. */
    struct rph_session s2 = sess(2), s3 = sess(3);
    for (uint8_t i = 2; i <= 3; i++) {
        struct rph_session s = sess(i);
        cr_assert_eq(relay_member_add(t, &s, &A, COOKIE_A, T0 + TTL), 0);
        cr_assert_eq(relay_member_add(t, &s, &B, COOKIE_B, T0 + TTL), 0);
    }
    size_t len = relay_msg(buf, &s2, COOKIE_A, &B, 40);
    cr_assert_eq(relay_forward(t, buf, len, &A, T0 + TTL, &to), 0);
    relay_expire(t, T0 + TTL + 1, 1000, NULL, NULL);
    cr_assert_eq(relay_session_count(t), 1);
    len = relay_msg(buf, &s3, COOKIE_A, &B, 40);
    cr_assert_eq(relay_forward(t, buf, len, &A, T0 + TTL + 2, &to), 0);
    cr_assert_eq(relay_stats(t)->sessions_started, 3);
    /* A lower max_sessions drops nothing; a higher one admits more. */
    struct relay_config c = {.enabled = true, .max_sessions = 1, .ttl_ms = TTL, .max_members = 99};
    cr_assert_eq(relay_table_reconfigure(t, &c), 0);
    cr_assert_eq(relay_session_count(t), 2);
    len = relay_msg(buf, &s2, COOKIE_A, &B, 40);
    cr_assert_eq(relay_forward(t, buf, len, &A, T0 + TTL + 3, &to), 0, "a kept session failed");
    relay_table_free(t);
}

Test(relay_table, off_relays_nothing)
{
    struct relay_table *t = two_members(10, 0);
    struct relay_config c = {
        .enabled = false, .max_sessions = 10, .ttl_ms = TTL, .max_members = 99};
    cr_assert_eq(relay_table_reconfigure(t, &c), 0);
    struct rph_session s1 = sess(1);
    uint8_t buf[200];
    struct rph_addr to;
    size_t len = relay_msg(buf, &s1, COOKIE_A, &B, 40);
    cr_assert_eq(relay_forward(t, buf, len, &A, T0, &to), RPH_E_NOTSUP);
    cr_assert_eq(relay_stats(t)->disabled, 1);
    cr_assert_eq(relay_stats(t)->relayed, 0);
    relay_table_free(t);
}

static struct rph_addr nth_addr(uint32_t i)
{
    struct rph_addr a = {.family = 4,
                         .ip = {10, (uint8_t)(i >> 16), (uint8_t)(i >> 8), (uint8_t)i},
                         .port = (uint16_t)(1000 + i % 7)};
    return a;
}

/* The open-addressing table under growth and deletion: membership is exactly what was added and
 * has not expired, through every backward shift. */
Test(relay_table, many_members_grow_and_expire_exactly)
{
    struct relay_table *t = table(10, 0);
    struct rph_session s = sess(9);
    const uint32_t n = 20000;
    for (uint32_t i = 0; i < n; i++) {
        struct rph_addr a = nth_addr(i);
        /* odd ones expire at T0 + TTL, even ones a TTL later */
        cr_assert_eq(relay_member_add(t, &s, &a, COOKIE_A, i % 2 ? T0 : T0 + TTL), 0);
    }
    cr_assert_eq(relay_member_count(t), n);
    for (int round = 0; round < 64; round++)
        relay_expire(t, T0 + TTL, 1000, NULL, NULL);
    cr_assert_eq(relay_member_count(t), n / 2);
    for (uint32_t i = 0; i < n; i++) {
        struct rph_addr a = nth_addr(i);
        cr_assert_eq(relay_is_member(t, &s, &a, T0 + TTL), i % 2 == 0, "member %u", i);
    }
    /* The table is capped. */
    struct relay_config c = {
        .enabled = true, .max_sessions = 10, .ttl_ms = TTL, .max_members = n / 2};
    cr_assert_eq(relay_table_reconfigure(t, &c), 0);
    struct rph_addr extra = nth_addr(n + 1);
    cr_assert_eq(relay_member_add(t, &s, &extra, COOKIE_A, T0 + TTL), RPH_E_FULL);
    cr_assert_eq(relay_stats(t)->members_full, 1);
    relay_table_free(t);
}

/* ---- the holepuncher learns members ---- */

struct sent {
    struct rph_addr to;
    uint8_t buf[256];
    size_t len;
};
static struct sent out[8];
static int nout;

static void cap_send(void *ctx, const struct rph_addr *to, const uint8_t *b, size_t n)
{
    (void)ctx;
    cr_assert_lt(nout, 8);
    cr_assert_leq(n, sizeof out[0].buf);
    out[nout].to = *to;
    memcpy(out[nout].buf, b, n);
    out[nout].len = n;
    nout++;
}

static struct rph_holepuncher *hp_new(bool relay)
{
    struct rph_holepuncher_config c;
    rph_holepuncher_config_defaults(&c);
    c.relay_enabled = relay;
    nout = 0;
    struct rph_holepuncher *hp = rph_holepuncher_new(&c, cap_send, NULL);
    cr_assert_not_null(hp);
    return hp;
}

/* A signed request from `from`; with_cookie: as a peer does, again with the HpCookie it got
 * (returned in cookie). Returns what the last input returned. */
static int sealed(struct rph_holepuncher *hp, const struct rph_seal_keys *k, enum rph_type t,
                  const struct rph_addr *from, uint64_t now, bool with_cookie,
                  uint8_t cookie[RPH_COOKIE_LEN])
{
    uint64_t wall = now + (uint64_t)rph_wall_offset_ms();
    uint8_t buf[RPH_OWNER_COOKIE_LEN];
    nout = 0;
    cr_assert_eq(rph_owner_encode(k, t, wall, buf, RPH_OWNER_LEN), RPH_OWNER_LEN);
    cr_assert_eq(rph_holepuncher_input(hp, buf, RPH_OWNER_LEN, from, now), 0);
    cr_assert_eq(nout, 1);
    struct rph_msg c;
    cr_assert_eq(rph_wire_decode(out[0].buf, out[0].len, &c), 0);
    cr_assert_eq(c.type, RPH_HP_COOKIE);
    memcpy(cookie, c.hpc.cookie, RPH_COOKIE_LEN);
    if (!with_cookie) return 0;
    rph_owner_encode_cookie(k, t, wall, c.hpc.cookie, buf, sizeof buf);
    nout = 0;
    return rph_holepuncher_input(hp, buf, sizeof buf, from, now);
}

static void keys(struct rph_seal_keys *k, uint8_t seed)
{
    cr_assert_eq(rph_seal_init(), 0);
    uint8_t key[32] = {seed};
    cr_assert_eq(rph_seal_derive(k, key, "office", 6), 0);
}

Test(relay_holepuncher, only_signed_cookie_checked_members_of_one_session_are_relayed)
{
    struct rph_seal_keys k, k2;
    keys(&k, 1);
    keys(&k2, 2);
    struct rph_holepuncher *hp = hp_new(true);
    uint64_t now = rph_now_ms();
    uint8_t ca[RPH_COOKIE_LEN], cb[RPH_COOKIE_LEN], cc[RPH_COOKIE_LEN];
    cr_assert_eq(sealed(hp, &k, RPH_SEALED_REGISTER, &A, now, true, ca), 0);
    cr_assert_eq(out[0].buf[3], RPH_REGISTER_ACK);
    /* C asks to join without ever showing its cookie: it proved nothing about its address. */
    cr_assert_eq(sealed(hp, &k, RPH_SEALED_JOIN, &C, now, false, cc), 0);
    uint8_t buf[300];
    struct rph_addr to;
    size_t len = relay_msg(buf, &k.wire_session, ca, &C, 100);
    cr_assert_eq(rph_holepuncher_relay(hp, buf, len, &A, now, &to), RPH_E_UNEXPECTED,
                 "relayed to an endpoint that never passed the cookie check");
    /* B joins as a peer does; then A and B reach each other through the relay. */
    cr_assert_eq(sealed(hp, &k, RPH_SEALED_JOIN, &B, now, true, cb), 0);
    len = relay_msg(buf, &k.wire_session, ca, &B, 100);
    cr_assert_eq(rph_holepuncher_relay(hp, buf, len, &A, now, &to), 0);
    cr_assert(rph_addr_equal(&to, &B));
    len = relay_msg(buf, &k.wire_session, cb, &A, 100);
    cr_assert_eq(rph_holepuncher_relay(hp, buf, len, &B, now, &to), 0);
    cr_assert(rph_addr_equal(&to, &A));
    /* A member of another sealed session cannot reach into this one. */
    struct rph_addr D = {.family = 4, .ip = {192, 0, 2, 4}, .port = 4};
    uint8_t cd[RPH_COOKIE_LEN];
    cr_assert_eq(sealed(hp, &k2, RPH_SEALED_REGISTER, &D, now, true, cd), 0);
    len = relay_msg(buf, &k.wire_session, cd, &B, 100);
    cr_assert_eq(rph_holepuncher_relay(hp, buf, len, &D, now, &to), RPH_E_UNKNOWN_PEER);
    len = relay_msg(buf, &k2.wire_session, cd, &B, 100);
    cr_assert_eq(rph_holepuncher_relay(hp, buf, len, &D, now, &to), RPH_E_UNEXPECTED);
    const struct rph_relay_stats *st = rph_holepuncher_relay_stats(hp);
    cr_assert_eq(st->relayed, 2);
    cr_assert_eq(st->members_added, 3);
    /* Nothing of this went through the reply path. */
    cr_assert_eq(rph_holepuncher_relay_sessions(hp), 1);
    /* When the holepuncher's session expires the memberships have too. */
    rph_holepuncher_tick(hp, now + 60000);
    len = relay_msg(buf, &k.wire_session, ca, &B, 100);
    cr_assert_eq(rph_holepuncher_relay(hp, buf, len, &A, now + 60000, &to), RPH_E_UNKNOWN_PEER);
    rph_holepuncher_free(hp);
}

Test(relay_holepuncher, plaintext_sessions_and_a_disabled_relay_get_nothing)
{
    struct rph_holepuncher *hp = hp_new(true);
    uint64_t now = rph_now_ms();
    /* A plaintext Register and Join of a 20-byte ID. */
    struct rph_session s = sess('p');
    uint8_t req[24] = {0, 24, 0, RPH_REGISTER};
    memcpy(req + 4, s.id, 20);
    cr_assert_eq(rph_holepuncher_input(hp, req, sizeof req, &A, now), 0);
    req[3] = RPH_JOIN;
    cr_assert_eq(rph_holepuncher_input(hp, req, sizeof req, &B, now), 0);
    uint8_t buf[300];
    struct rph_addr to;
    static const uint8_t zero[RPH_COOKIE_LEN];
    size_t len = relay_msg(buf, &s, zero, &B, 100);
    cr_assert_eq(rph_holepuncher_relay(hp, buf, len, &A, now, &to), RPH_E_UNKNOWN_PEER);
    rph_holepuncher_free(hp);

    /* Off: sealed members are not even recorded, and nothing is relayed. */
    struct rph_seal_keys k;
    keys(&k, 1);
    hp = hp_new(false);
    uint8_t ca[RPH_COOKIE_LEN], cb[RPH_COOKIE_LEN];
    cr_assert_eq(sealed(hp, &k, RPH_SEALED_REGISTER, &A, now, true, ca), 0);
    cr_assert_eq(sealed(hp, &k, RPH_SEALED_JOIN, &B, now, true, cb), 0);
    len = relay_msg(buf, &k.wire_session, ca, &B, 100);
    cr_assert_eq(rph_holepuncher_relay(hp, buf, len, &A, now, &to), RPH_E_NOTSUP);
    cr_assert_eq(rph_holepuncher_relay_stats(hp)->members_added, 0);
    cr_assert_eq(rph_holepuncher_relay_stats(hp)->disabled, 1);
    /* A RelayData through the ordinary input is dropped as unknown, never answered. */
    nout = 0;
    cr_assert_lt(rph_holepuncher_input(hp, buf, len, &A, now), 0);
    cr_assert_eq(nout, 0);
    rph_holepuncher_free(hp);
}
