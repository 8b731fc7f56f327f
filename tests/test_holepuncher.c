// SPDX-License-Identifier: MIT
// The holepuncher state machine alone: answers, silence on garbage, limits, reply sizes.
#include <criterion/criterion.h>
#include <string.h>

#include "ruphin/error.h"
#include "ruphin/clock.h"
#include "ruphin/holepuncher.h"
#include "ruphin/seal.h"
#include "ruphin/store.h"

struct sent {
    struct rph_addr to;
    uint8_t buf[RPH_HP_TX_MAX];
    size_t len;
};
static struct sent out[16];
static int nout;

static void cap_send(void *ctx, const struct rph_addr *to, const uint8_t *b, size_t n)
{
    (void)ctx;
    cr_assert_lt(nout, 16);
    out[nout].to = *to;
    memcpy(out[nout].buf, b, n);
    out[nout].len = n;
    nout++;
}

static struct rph_addr A = {.family = 4, .ip = {203, 0, 113, 1}, .port = 52702};
static struct rph_addr B = {.family = 4, .ip = {203, 0, 113, 2}, .port = 44295};

static struct rph_holepuncher *mk(uint32_t ttl, size_t max)
{
    struct rph_holepuncher_config c;
    rph_holepuncher_config_defaults(&c);
    c.session_ttl_ms = ttl;
    c.max_sessions = max;
    nout = 0;
    return rph_holepuncher_new(&c, cap_send, NULL);
}

Test(holepuncher, matches_the_crates_bytes_across_two_nats)
{
    struct rph_holepuncher *hp = mk(60000, 10);
    rph_holepuncher_input(hp, (const uint8_t *)"\x00\x0b\x00\x02natsess", 11, &A, 0);
    cr_assert_eq(nout, 1);
    cr_assert_arr_eq(out[0].buf, "\x00\x0b\x00\x06natsess", 11);
    nout = 0;
    rph_holepuncher_input(hp, (const uint8_t *)"\x00\x0b\x00\x03natsess", 11, &B, 10);
    cr_assert_eq(nout, 2);
    cr_assert(rph_addr_equal(&out[0].to, &B));
    cr_assert_arr_eq(out[0].buf, "\x00\x0b\x00\x04\x04\xcb\x00\x71\x01\xcd\xde", 11);
    cr_assert(rph_addr_equal(&out[1].to, &A));
    cr_assert_arr_eq(out[1].buf, "\x00\x0b\x00\x04\x04\xcb\x00\x71\x02\xad\x07", 11);
    rph_holepuncher_free(hp);
}

Test(holepuncher, unknown_session_and_hello)
{
    struct rph_holepuncher *hp = mk(60000, 10);
    rph_holepuncher_input(hp, (const uint8_t *)"\x00\x0a\x00\x03nosuch", 10, &B, 0);
    cr_assert_eq(nout, 1);
    cr_assert_arr_eq(out[0].buf, "\x00\x0a\x00\x07nosuch", 10);
    rph_holepuncher_input(hp, (const uint8_t *)"\x00\x04\x00\x08", 4, &B, 0);
    cr_assert_eq(nout, 2);
    cr_assert_arr_eq(out[1].buf, "\x00\x04\x00\x09", 4);
    rph_holepuncher_free(hp);
}

Test(holepuncher, garbage_gets_no_answer)
{
    struct rph_holepuncher *hp = mk(60000, 10);
    const char *junk[] = {"",
                          "\x00",
                          "\x00\x05\x00\x02",
                          "\x00\x04\x00\x63",
                          "\x00\x04\x00\x06",
                          "\x00\x04\x00\x09",
                          "\x00\x05\x00\x05x"};
    size_t lens[] = {0, 1, 4, 4, 4, 4, 5};
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++)
        cr_assert_lt(rph_holepuncher_input(hp, (const uint8_t *)junk[i], lens[i], &A, 0), 0);
    cr_assert_eq(nout, 0, "answered garbage");
    const struct rph_holepuncher_stats *st = rph_holepuncher_stats(hp);
    cr_assert_eq(st->malformed + st->unexpected, 7);
    rph_holepuncher_free(hp);
}

Test(holepuncher, sessions_expire_and_the_table_is_capped)
{
    struct rph_holepuncher *hp = mk(5000, 2);
    rph_holepuncher_input(hp,
                          (const uint8_t *)"\x00\x05\x00\x02"
                                           "a",
                          5, &A, 0);
    rph_holepuncher_input(hp,
                          (const uint8_t *)"\x00\x05\x00\x02"
                                           "b",
                          5, &A, 0);
    nout = 0;
    rph_holepuncher_input(hp,
                          (const uint8_t *)"\x00\x05\x00\x02"
                                           "c",
                          5, &A, 0);
    cr_assert_eq(nout, 0, "a refused Register must not be acknowledged");
    cr_assert_eq(rph_holepuncher_stats(hp)->refused_full, 1);
    rph_holepuncher_tick(hp, 4999);
    cr_assert_eq(rph_holepuncher_session_count(hp), 2);
    rph_holepuncher_tick(hp, 5000);
    cr_assert_eq(rph_holepuncher_session_count(hp), 0);
    cr_assert_eq(rph_holepuncher_stats(hp)->expired, 2);
    rph_holepuncher_input(hp,
                          (const uint8_t *)"\x00\x05\x00\x03"
                                           "a",
                          5, &B, 5001);
    cr_assert_arr_eq(out[0].buf,
                     "\x00\x05\x00\x07"
                     "a",
                     5, "expired session still joinable");
    rph_holepuncher_free(hp);
}

Test(holepuncher, replies_stay_within_the_documented_factor)
{
    /* Worst case: a 4-byte Join for the empty session, answered with an IPv6 PeerInfo. */
    struct rph_holepuncher *hp = mk(60000, 10);
    struct rph_addr v6 = {.family = 6, .ip = {0x20, 0x01, 0x0d, 0xb8, [15] = 1}, .port = 9};
    rph_holepuncher_input(hp, (const uint8_t *)"\x00\x04\x00\x02", 4, &v6, 0);
    nout = 0;
    rph_holepuncher_input(hp, (const uint8_t *)"\x00\x04\x00\x03", 4, &A, 0);
    size_t to_sender = 0;
    for (int i = 0; i < nout; i++)
        if (rph_addr_equal(&out[i].to, &A)) to_sender += out[i].len;
    cr_assert_eq(to_sender, 23);
    cr_assert_leq(to_sender, 6 * 4, "reply to a 4-byte request was %zu bytes", to_sender);
    rph_holepuncher_free(hp);
}

/* Sends a sealed request from `from` as a peer would: without a cookie, then, answered with
 * HpCookie, again with it; what the second one got is in out[]. Returns the second input's. */
static int sealed_request(struct rph_holepuncher *hp, const struct rph_seal_keys *k,
                          enum rph_type t, const struct rph_addr *from, uint64_t now,
                          uint8_t buf[RPH_OWNER_COOKIE_LEN])
{
    uint64_t wall = now + (uint64_t)rph_wall_offset_ms();
    nout = 0;
    cr_assert_eq(rph_owner_encode(k, t, wall, buf, RPH_OWNER_LEN), RPH_OWNER_LEN);
    cr_assert_eq(rph_holepuncher_input(hp, buf, RPH_OWNER_LEN, from, now), 0);
    cr_assert_eq(nout, 1, "no answer to a sealed request without a cookie");
    struct rph_msg c;
    cr_assert_eq(rph_wire_decode(out[0].buf, out[0].len, &c), 0);
    cr_assert_eq(c.type, RPH_HP_COOKIE);
    cr_assert(rph_addr_equal(&out[0].to, from));
    cr_assert_arr_eq(c.hpc.echo, buf + 44, RPH_COOKIE_ECHO_LEN);
    cr_assert_eq(rph_owner_encode_cookie(k, t, wall, c.hpc.cookie, buf, RPH_OWNER_COOKIE_LEN),
                 RPH_OWNER_COOKIE_LEN);
    nout = 0;
    return rph_holepuncher_input(hp, buf, RPH_OWNER_COOKIE_LEN, from, now);
}

Test(holepuncher, a_plaintext_flood_faked_from_a_server_does_not_starve_its_sealed_register)
{
    struct rph_holepuncher *hp = mk(60000, 10);
    rph_seal_init();
    struct rph_seal_keys k;
    static const uint8_t key[32] = {9};
    rph_seal_derive(&k, key, "office", 6);
    /* 1000 plaintext Joins "from" the server's address use up that address's budget... */
    for (int i = 0; i < 1000; i++) {
        nout = 0;
        rph_holepuncher_input(hp, (const uint8_t *)"\x00\x05\x00\x03x", 5, &A, 1000);
    }
    cr_assert_geq(rph_holepuncher_stats(hp)->rate_limited, 900);
    /* ...and its signed Register still goes through (after the cookie exchange). */
    uint8_t reg[RPH_OWNER_COOKIE_LEN];
    nout = 0;
    cr_assert_eq(sealed_request(hp, &k, RPH_SEALED_REGISTER, &A, 1000, reg), 0);
    cr_assert_eq(nout, 1);
    cr_assert_eq(out[0].buf[3], RPH_REGISTER_ACK);
    rph_holepuncher_free(hp);
}

static struct rph_holepuncher *mk_cfg(void (*tune)(struct rph_holepuncher_config *))
{
    struct rph_holepuncher_config c;
    rph_holepuncher_config_defaults(&c);
    tune(&c);
    nout = 0;
    return rph_holepuncher_new(&c, cap_send, NULL);
}

static void verify_5(struct rph_holepuncher_config *c)
{
    c->verify_per_s = 5;
}

static void derive(struct rph_seal_keys *k, uint8_t seed)
{
    rph_seal_init();
    uint8_t key[32] = {seed};
    rph_seal_derive(k, key, "office", 6);
}

Test(holepuncher, junk_sealed_joins_with_timestamp_0_spend_no_signature_budget)
{
    struct rph_holepuncher *hp = mk_cfg(verify_5);
    struct rph_seal_keys k;
    derive(&k, 1);
    /* 1000 SealedJoins of garbage with time 0, from everywhere: refused by the clock alone. */
    uint8_t junk[RPH_OWNER_COOKIE_LEN];
    for (int i = 0; i < 1000; i++) {
        memset(junk, i, sizeof junk);
        junk[0] = 0, junk[1] = (uint8_t)(i & 1 ? RPH_OWNER_LEN : RPH_OWNER_COOKIE_LEN);
        junk[2] = 0, junk[3] = RPH_SEALED_JOIN;
        memset(junk + 36, 0, 8);
        struct rph_addr from = B;
        from.ip[3] = (uint8_t)i;
        rph_holepuncher_input(hp, junk, i & 1 ? RPH_OWNER_LEN : RPH_OWNER_COOKIE_LEN, &from, 1000);
    }
    cr_assert_eq(nout, 0, "a stale request was answered");
    const struct rph_holepuncher_stats *st = rph_holepuncher_stats(hp);
    cr_assert_eq(st->stale, 1000);
    cr_assert_eq(st->rate_limited + st->bad_signature, 0);
    /* The budget of 5 checks a second is whole: five genuine Registers in this second pass. */
    uint8_t reg[RPH_OWNER_COOKIE_LEN];
    for (int i = 0; i < 5; i++) {
        struct rph_seal_keys ki;
        derive(&ki, (uint8_t)(10 + i));
        cr_assert_eq(sealed_request(hp, &ki, RPH_SEALED_REGISTER, &A, 1000, reg), 0);
        cr_assert_eq(nout, 1);
        cr_assert_eq(out[0].buf[3], RPH_REGISTER_ACK, "Register %d was not acknowledged", i);
    }
    rph_holepuncher_free(hp);
}

Test(holepuncher, a_sealed_request_without_a_cookie_gets_a_small_cookie_and_no_signature_check)
{
    struct rph_holepuncher *hp = mk(60000, 10);
    struct rph_seal_keys k;
    derive(&k, 1);
    uint8_t req[RPH_OWNER_COOKIE_LEN];
    uint64_t wall = 1000 + (uint64_t)rph_wall_offset_ms();
    for (int t = 0; t < 2; t++) {
        enum rph_type type = t ? RPH_SEALED_JOIN : RPH_SEALED_REGISTER;
        rph_owner_encode(&k, type, wall, req, sizeof req);
        req[60] ^= 1; /* a bad signature: never looked at without a cookie */
        nout = 0;
        cr_assert_eq(rph_holepuncher_input(hp, req, RPH_OWNER_LEN, &A, 1000), 0);
        cr_assert_eq(nout, 1);
        cr_assert_eq(out[0].len, RPH_HP_COOKIE_LEN);
        cr_assert_leq(out[0].len, RPH_OWNER_LEN, "the cookie is bigger than the request");
        cr_assert(rph_addr_equal(&out[0].to, &A));
    }
    const struct rph_holepuncher_stats *st = rph_holepuncher_stats(hp);
    cr_assert_eq(st->cookies_sent, 2);
    cr_assert_eq(st->bad_signature, 0);
    cr_assert_eq(rph_holepuncher_session_count(hp), 0);
    /* A cookie is good only for the endpoint it was sent to. */
    struct rph_msg c;
    cr_assert_eq(rph_wire_decode(out[0].buf, out[0].len, &c), 0);
    rph_owner_encode_cookie(&k, RPH_SEALED_REGISTER, wall, c.hpc.cookie, req, sizeof req);
    struct rph_addr a2 = A;
    a2.port++;
    nout = 0;
    rph_holepuncher_input(hp, req, sizeof req, &a2, 1000);
    cr_assert_eq(nout, 1);
    cr_assert_eq(out[0].buf[3], RPH_HP_COOKIE, "a cookie worked from another port");
    nout = 0;
    rph_holepuncher_input(hp, req, sizeof req, &B, 1000);
    cr_assert_eq(out[0].buf[3], RPH_HP_COOKIE, "a cookie worked from another address");
    cr_assert_eq(rph_holepuncher_session_count(hp), 0);
    /* From its own endpoint it is taken, for this secret and the next, not later. */
    nout = 0;
    rph_holepuncher_input(hp, req, sizeof req, &A, 1000);
    cr_assert_eq(out[0].buf[3], RPH_REGISTER_ACK);
    rph_holepuncher_set_wall_offset(hp, rph_wall_offset_ms() - 130000);
    rph_owner_encode_cookie(&k, RPH_SEALED_REGISTER, wall + 1000, c.hpc.cookie, req, sizeof req);
    nout = 0;
    rph_holepuncher_input(hp, req, sizeof req, &A, 131000);
    cr_assert_eq(out[0].buf[3], RPH_REGISTER_ACK, "the previous secret's cookie was refused");
    rph_holepuncher_set_wall_offset(hp, rph_wall_offset_ms() - 250000);
    rph_owner_encode_cookie(&k, RPH_SEALED_REGISTER, wall + 2000, c.hpc.cookie, req, sizeof req);
    nout = 0;
    rph_holepuncher_input(hp, req, sizeof req, &A, 251000);
    cr_assert_eq(out[0].buf[3], RPH_HP_COOKIE, "a cookie two secrets old was taken");
    rph_holepuncher_free(hp);
}

Test(holepuncher, spoofed_sealed_requests_register_nothing_and_send_the_victim_less_than_they_carry)
{
    struct rph_holepuncher *hp = mk(60000, 1000);
    uint8_t req[RPH_OWNER_COOKIE_LEN];
    size_t in = 0, to_victim = 0;
    for (int i = 0; i < 200; i++) {
        /* Self-made keys, signed correctly, "from" the victim: with no cookie, or a guessed one. */
        struct rph_seal_keys k;
        derive(&k, (uint8_t)(100 + i));
        uint8_t guess[RPH_COOKIE_LEN];
        memset(guess, i, sizeof guess);
        int n = rph_owner_encode_cookie(&k, i & 1 ? RPH_SEALED_JOIN : RPH_SEALED_REGISTER,
                                        1000 + (uint64_t)rph_wall_offset_ms(), i & 2 ? guess : NULL,
                                        req, sizeof req);
        nout = 0;
        rph_holepuncher_input(hp, req, (size_t)n, &B, 1000);
        in += (size_t)n;
        for (int j = 0; j < nout; j++)
            if (rph_addr_equal(&out[j].to, &B)) to_victim += out[j].len;
        cr_assert_leq(nout, 1);
    }
    cr_assert_eq(rph_holepuncher_session_count(hp), 0, "a spoofed source registered");
    cr_assert_eq(
        rph_holepuncher_stats(hp)->bad_signature + rph_holepuncher_stats(hp)->peerinfos_sent, 0);
    cr_assert_leq(to_victim * 3, in, "victim got %zu bytes for %zu sent", to_victim, in);
    rph_holepuncher_free(hp);
}

static void per_source_3(struct rph_holepuncher_config *c)
{
    c->max_sessions_per_source = 3;
}

Test(holepuncher, a_source_holds_at_most_max_sessions_per_source)
{
    struct rph_holepuncher *hp = mk_cfg(per_source_3);
    uint8_t req[RPH_OWNER_COOKIE_LEN];
    int acked = 0;
    for (int i = 0; i < 6; i++) {
        struct rph_seal_keys k;
        derive(&k, (uint8_t)(50 + i));
        sealed_request(hp, &k, RPH_SEALED_REGISTER, &A, 1000, req);
        acked += nout == 1 && out[0].buf[3] == RPH_REGISTER_ACK;
    }
    cr_assert_eq(acked, 3, "%d sealed sessions from one address", acked);
    cr_assert_eq(rph_holepuncher_stats(hp)->refused_per_source, 3);
    /* Another address, and plaintext sessions from the same one, have their own count. */
    struct rph_seal_keys k;
    derive(&k, 60);
    sealed_request(hp, &k, RPH_SEALED_REGISTER, &B, 1000, req);
    cr_assert_eq(out[0].buf[3], RPH_REGISTER_ACK);
    nout = 0;
    rph_holepuncher_input(hp, (const uint8_t *)"\x00\x05\x00\x02p", 5, &A, 1000);
    cr_assert_eq(nout, 1, "a plaintext session was refused for the sealed ones");
    /* A refresh of a held session is no new session. */
    derive(&k, 50);
    sealed_request(hp, &k, RPH_SEALED_REGISTER, &A, 2000, req);
    cr_assert_eq(out[0].buf[3], RPH_REGISTER_ACK);
    /* Expired sessions give their places back. */
    rph_holepuncher_tick(hp, 70000);
    cr_assert_eq(rph_holepuncher_session_count(hp), 0);
    derive(&k, 55);
    sealed_request(hp, &k, RPH_SEALED_REGISTER, &A, 70000, req);
    cr_assert_eq(out[0].buf[3], RPH_REGISTER_ACK);
    rph_holepuncher_free(hp);
}

Test(holepuncher, an_ipv6_source_is_its_slash_64_for_sessions)
{
    struct rph_holepuncher *hp = mk_cfg(per_source_3);
    int acked = 0;
    for (int i = 0; i < 6; i++) {
        struct rph_addr v6 = {.family = 6, .ip = {0x20, 0x01, 0x0d, 0xb8, [15] = 1}, .port = 9};
        v6.ip[8 + i] = (uint8_t)(i + 1); /* another address in the same /64 */
        uint8_t reg[6] = {0, 6, 0, RPH_REGISTER, 's', (uint8_t)('0' + i)};
        nout = 0;
        rph_holepuncher_input(hp, reg, sizeof reg, &v6, 1000);
        acked += nout;
    }
    cr_assert_eq(acked, 3);
    rph_holepuncher_free(hp);
}

Test(holepuncher, cookie_proven_sealed_requests_are_limited_per_source)
{
    struct rph_holepuncher *hp = mk(60000, 10);
    struct rph_seal_keys k;
    derive(&k, 1);
    uint8_t req[RPH_OWNER_COOKIE_LEN];
    sealed_request(hp, &k, RPH_SEALED_JOIN, &A, 1000, req);
    int answered = nout > 0;
    /* Fresh Joins with the cookie (a replayed one would be refused anyway), 500 at once. */
    struct rph_msg m;
    rph_wire_decode(req, sizeof req, &m);
    uint64_t wall = m.owner.ts_ms;
    for (int i = 1; i < 500; i++) {
        rph_owner_encode_cookie(&k, RPH_SEALED_JOIN, wall + (uint64_t)i, m.owner.cookie, req,
                                sizeof req);
        nout = 0;
        rph_holepuncher_input(hp, req, sizeof req, &A, 1000);
        answered += nout > 0;
    }
    cr_assert_eq(answered, 40, "%d Joins answered, the burst is 40", answered);
    cr_assert_geq(rph_holepuncher_stats(hp)->rate_limited, 460);
    rph_holepuncher_free(hp);
}

/* A SealedRegister naming node_id (NULL: the old form, an unknown node) from `from`, with the
 * cookie exchange; returns the type of the one answer (0: none) and leaves it in out[0]. */
static int node_register(struct rph_holepuncher *hp, const struct rph_seal_keys *k,
                         const uint8_t *node_id, const struct rph_addr *from, uint64_t now,
                         uint8_t sig_echo[RPH_COOKIE_ECHO_LEN])
{
    uint64_t wall = now + (uint64_t)rph_wall_offset_ms();
    uint8_t buf[RPH_OWNER_NODE_COOKIE_LEN];
    size_t base = node_id ? RPH_OWNER_NODE_LEN : RPH_OWNER_LEN;
    nout = 0;
    cr_assert_eq(
        rph_owner_encode_node(k, RPH_SEALED_REGISTER, wall, node_id, NULL, buf, sizeof buf),
        (int)base);
    rph_holepuncher_input(hp, buf, base, from, now);
    cr_assert_eq(nout, 1);
    struct rph_msg c;
    cr_assert_eq(rph_wire_decode(out[0].buf, out[0].len, &c), 0);
    cr_assert_eq(c.type, RPH_HP_COOKIE);
    cr_assert_eq(
        rph_owner_encode_node(k, RPH_SEALED_REGISTER, wall, node_id, c.hpc.cookie, buf, sizeof buf),
        (int)(base + RPH_COOKIE_LEN));
    memcpy(sig_echo, buf + base - 64, RPH_COOKIE_ECHO_LEN);
    nout = 0;
    rph_holepuncher_input(hp, buf, base + RPH_COOKIE_LEN, from, now);
    cr_assert_leq(nout, 1);
    /* Never more than the request: RegisterRefused (51) answers 156 bytes. */
    if (nout) cr_assert_leq(out[0].len, base + RPH_COOKIE_LEN);
    return nout ? out[0].buf[3] : 0;
}

static void expect_refused(const struct rph_seal_keys *k, const uint8_t echo[8],
                           const struct rph_addr *to, const struct rph_addr *holder)
{
    struct rph_msg r;
    cr_assert_eq(rph_wire_decode(out[0].buf, out[0].len, &r), 0);
    cr_assert_eq(r.type, RPH_REGISTER_REFUSED);
    cr_assert(rph_addr_equal(&out[0].to, to));
    cr_assert(rph_session_equal(&r.session, &k->wire_session));
    cr_assert_arr_eq(r.hpc.echo, echo, RPH_COOKIE_ECHO_LEN);
    cr_assert(rph_addr_equal(&r.peer, holder), "the refusal names the live server");
}

Test(holepuncher, one_live_server_per_sealed_session_unless_it_is_the_same_node)
{
    struct rph_holepuncher *hp = mk(60000, 10);
    struct rph_seal_keys k;
    derive(&k, 3);
    uint8_t n1[RPH_NODE_ID_LEN], n2[RPH_NODE_ID_LEN], pk1[32] = {1}, pk2[32] = {2}, echo[8];
    rph_node_id(pk1, n1);
    rph_node_id(pk2, n2);
    cr_assert(memcmp(n1, n2, 2) != 0, "the test's two nodes must differ in their tags");
    struct rph_addr A2 = A;
    A2.port = 52703;
    /* The first server registers the session. */
    cr_assert_eq(node_register(hp, &k, n1, &A, 1000, echo), RPH_REGISTER_ACK);
    /* A second server (another node, another host) is refused while the first is live, and
     * told who holds it; the session stays with the first, which keeps refreshing it. */
    cr_assert_eq(node_register(hp, &k, n2, &B, 3000, echo), RPH_REGISTER_REFUSED);
    expect_refused(&k, echo, &B, &A);
    cr_assert_eq(rph_holepuncher_stats(hp)->refused_held, 1);
    cr_assert_eq(node_register(hp, &k, n1, &A, 11000, echo), RPH_REGISTER_ACK);
    cr_assert_eq(node_register(hp, &k, n2, &B, 12000, echo), RPH_REGISTER_REFUSED);
    expect_refused(&k, echo, &B, &A);
    /* The first server restarted (same node, new port): it takes the session over at once. */
    cr_assert_eq(node_register(hp, &k, n1, &A2, 13000, echo), RPH_REGISTER_ACK);
    cr_assert_eq(node_register(hp, &k, n2, &B, 14000, echo), RPH_REGISTER_REFUSED);
    expect_refused(&k, echo, &B, &A2);
    cr_assert_eq(rph_holepuncher_stats(hp)->refused_held, 3);
    /* Once the holder has been silent for session_ttl, the entry is no longer live: the
     * second server gets it. */
    cr_assert_eq(node_register(hp, &k, n2, &B, 13000 + 60000 + 1000, echo), RPH_REGISTER_ACK);
    rph_holepuncher_free(hp);
}

Test(holepuncher, a_register_without_a_node_id_moves_a_live_session_as_before)
{
    struct rph_holepuncher *hp = mk(60000, 10);
    struct rph_seal_keys k;
    derive(&k, 4);
    uint8_t n1[RPH_NODE_ID_LEN], pk1[32] = {1}, echo[8];
    rph_node_id(pk1, n1);
    cr_assert_eq(node_register(hp, &k, n1, &A, 1000, echo), RPH_REGISTER_ACK);
    /* An older peer's 108/124-byte Register is an unknown node: it moves the session. */
    cr_assert_eq(node_register(hp, &k, NULL, &B, 2000, echo), RPH_REGISTER_ACK);
    /* And a node-naming Register moves it back from an unknown node. */
    cr_assert_eq(node_register(hp, &k, n1, &A, 3000, echo), RPH_REGISTER_ACK);
    cr_assert_eq(rph_holepuncher_stats(hp)->refused_held, 0);
    /* A refusal is not a replay window: the same second from another endpoint stays a
     * (silent) replay, as without node IDs. */
    uint8_t n2[RPH_NODE_ID_LEN], pk2[32] = {2};
    rph_node_id(pk2, n2);
    cr_assert_eq(node_register(hp, &k, n2, &B, 3000, echo), 0);
    cr_assert_eq(rph_holepuncher_stats(hp)->refused_held, 0);
    rph_holepuncher_free(hp);
}

/* A sealed request in its timed form (docs/PROTOCOL.md "Timed punches"): the cookie round trip
 * first, then the signed request with the cookie and, last, 2 bytes of round trip in ms. */
static void timed_request(struct rph_holepuncher *hp, const struct rph_seal_keys *k,
                          enum rph_type t, const struct rph_addr *from, uint64_t now, uint16_t rtt)
{
    uint64_t wall = now + (uint64_t)rph_wall_offset_ms();
    uint8_t node[RPH_NODE_ID_LEN] = {0xab, 0xcd};
    const uint8_t *nid = t == RPH_SEALED_REGISTER ? node : NULL;
    size_t base = nid ? RPH_OWNER_NODE_LEN : RPH_OWNER_LEN;
    uint8_t buf[RPH_OWNER_NODE_COOKIE_LEN + 2];
    cr_assert_eq(rph_owner_encode_node(k, t, wall, nid, NULL, buf, sizeof buf), (int)base);
    /* Timed, without a cookie yet: base + 2 bytes (the round trip unknown: 0). */
    buf[base] = 0, buf[base + 1] = 0;
    buf[0] = 0, buf[1] = (uint8_t)(base + 2);
    nout = 0;
    cr_assert_eq(rph_holepuncher_input(hp, buf, base + 2, from, now), 0);
    cr_assert_eq(nout, 1);
    struct rph_msg c;
    cr_assert_eq(rph_wire_decode(out[0].buf, out[0].len, &c), 0);
    cr_assert_eq(c.type, RPH_HP_COOKIE, "a timed request without a cookie gets one");
    cr_assert_eq(rph_owner_encode_node(k, t, wall, nid, c.hpc.cookie, buf, sizeof buf),
                 (int)(base + RPH_COOKIE_LEN));
    size_t n = base + RPH_COOKIE_LEN;
    buf[n] = (uint8_t)(rtt >> 8), buf[n + 1] = (uint8_t)rtt;
    n += 2;
    buf[0] = (uint8_t)(n >> 8), buf[1] = (uint8_t)n;
    nout = 0;
    cr_assert_eq(rph_holepuncher_input(hp, buf, n, from, now), 0);
}

Test(holepuncher, timed_requests_carry_each_sides_round_trip_to_the_other)
{
    struct rph_seal_keys k;
    derive(&k, 41);
    struct rph_holepuncher *hp = mk(60000, 16);
    timed_request(hp, &k, RPH_SEALED_REGISTER, &A, 1000, 80);
    cr_assert_eq(nout, 1);
    cr_assert_eq(out[0].buf[3], RPH_REGISTER_ACK);
    timed_request(hp, &k, RPH_SEALED_JOIN, &B, 1100, 10);
    cr_assert_eq(nout, 2, "PeerInfo both ways");
    struct rph_msg c, s;
    cr_assert_eq(rph_wire_decode(out[0].buf, out[0].len, &c), 0);
    cr_assert_eq(rph_wire_decode(out[1].buf, out[1].len, &s), 0);
    cr_assert(rph_addr_equal(&out[0].to, &B));
    cr_assert_eq(c.type, RPH_TIMED_PEER_INFO, "a timed client gets the server's round trip");
    cr_assert_eq(out[0].len, 4 + 7 + 2);
    cr_assert(rph_addr_equal(&c.peer, &A));
    /* The table keeps a class of it: 80 ms comes back as 94 (within 25%). */
    cr_assert_eq(c.rtt_ms, rph_store_rtt_value(rph_store_rtt_class(80)));
    cr_assert(c.rtt_ms >= 60 && c.rtt_ms <= 100, "%u", c.rtt_ms);
    cr_assert(rph_addr_equal(&out[1].to, &A));
    cr_assert_eq(s.type, RPH_SEALED_PEER_INFO);
    cr_assert_eq(out[1].len, 119 + 2, "a timed server gets the client's round trip last");
    cr_assert(s.has_rtt);
    cr_assert_eq(s.rtt_ms, 10, "the client's round trip goes on exactly");
    rph_holepuncher_free(hp);
}

Test(holepuncher, older_peers_get_the_old_forms_from_a_timed_session)
{
    struct rph_seal_keys k;
    derive(&k, 42);
    struct rph_holepuncher *hp = mk(60000, 16);
    uint8_t buf[RPH_OWNER_COOKIE_LEN];
    /* An older server (no round trip), a timed client: a plain PeerInfo, 119 bytes. */
    cr_assert_eq(sealed_request(hp, &k, RPH_SEALED_REGISTER, &A, 1000, buf), 0);
    timed_request(hp, &k, RPH_SEALED_JOIN, &B, 1100, 10);
    cr_assert_eq(nout, 2);
    cr_assert_eq(out[0].buf[3], RPH_PEER_INFO);
    cr_assert_eq(out[0].len, 11);
    cr_assert_eq(out[1].buf[3], RPH_SEALED_PEER_INFO);
    cr_assert_eq(out[1].len, 119, "an older server gets the SealedPeerInfo it decodes");
    /* A timed server, an older client: PeerInfo to it; the server learns no round trip (0). */
    timed_request(hp, &k, RPH_SEALED_REGISTER, &A, 3000, 80);
    cr_assert_eq(sealed_request(hp, &k, RPH_SEALED_JOIN, &B, 3100, buf), 0);
    cr_assert_eq(nout, 2);
    cr_assert_eq(out[0].buf[3], RPH_PEER_INFO);
    cr_assert_eq(out[0].len, 11, "an older client gets the PeerInfo it decodes");
    struct rph_msg s;
    cr_assert_eq(rph_wire_decode(out[1].buf, out[1].len, &s), 0);
    cr_assert(s.has_rtt);
    cr_assert_eq(s.rtt_ms, 0, "unknown: the server does not wait");
    rph_holepuncher_free(hp);
}
