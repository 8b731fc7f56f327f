// SPDX-License-Identifier: MIT
// The overlay policy's rules (src/tun/policy.c), without a device or a socket: who may hold an
// address, takeover of a silent holder, the source check, forwarding and routing.
#include <criterion/criterion.h>
#include <string.h>

#include "../src/tun/policy.h"

#define SILENT_MS 20000

static struct policy pol;
static struct rph_remote rem[4];

static const struct announce server_self = {.has4 = true,
                                            .addr4 = {10, 77, 0, 1},
                                            .prefix4 = 24,
                                            .has6 = true,
                                            .addr6 = {0xfd, 0x77, [15] = 1},
                                            .prefix6 = 64};

static struct announce ann(uint8_t host4, uint8_t host6)
{
    struct announce a = {0};
    if (host4) {
        a.has4 = true;
        memcpy(a.addr4, (uint8_t[]){10, 77, 0, host4}, 4);
        a.prefix4 = 24;
    }
    if (host6) {
        a.has6 = true;
        memcpy(a.addr6, (uint8_t[]){0xfd, 0x77, [15] = host6}, 16);
        a.prefix6 = 64;
    }
    return a;
}

static struct ippkt v4(const uint8_t *src, const uint8_t *dst)
{
    return (struct ippkt){.version = 4, .src = src, .dst = dst};
}

static void setup_server(void)
{
    cr_assert_eq(policy_init(&pol, RPH_ROLE_SERVER, &server_self, SILENT_MS, 4), 0);
    memset(rem, 0, sizeof rem);
}

static void teardown(void)
{
    policy_free(&pol);
}

static struct tpeer *up(size_t i, uint64_t last_rx)
{
    rem[i].in_use = true;
    rem[i].last_rx_ms = last_rx;
    /* Every peer behind its own public address unless a test says otherwise. */
    if (!rem[i].addr.family)
        rem[i].addr = (struct rph_addr){
            .family = 4, .ip = {198, 51, 100, (uint8_t)(10 + i)}, .port = (uint16_t)(40000 + i)};
    return policy_peer_up(&pol, i, &rem[i]);
}

TestSuite(policy, .init = setup_server, .fini = teardown);

Test(policy, server_admits_addresses_of_its_prefixes)
{
    struct tpeer *a = up(0, 1000);
    struct policy_ann_result res;
    struct announce x = ann(2, 2);
    cr_assert_eq(policy_announce(&pol, a, &x, 1000, &res), POLICY_ANN_NEW);
    cr_assert_eq(policy_announce(&pol, a, &x, 1000, &res), POLICY_ANN_SAME, "a repeat is news");
    struct tpeer *to;
    uint8_t src[4] = {10, 77, 0, 1}, dst[4] = {10, 77, 0, 2};
    struct ippkt ip = v4(src, dst);
    cr_assert_eq(policy_tx(&pol, &ip, 0, &to), POLICY_TX_SEND);
    cr_assert_eq(to, a);
    uint8_t dst6[16] = {0xfd, 0x77, [15] = 2}, src6[16] = {0xfd, 0x77, [15] = 1};
    struct ippkt ip6 = {.version = 6, .src = src6, .dst = dst6};
    cr_assert_eq(policy_tx(&pol, &ip6, 0, &to), POLICY_TX_SEND);
    cr_assert_eq(to, a);
}

Test(policy, server_refuses_foreign_and_own_addresses)
{
    struct tpeer *a = up(0, 1000);
    struct policy_ann_result res;
    struct announce x = ann(2, 0);
    x.addr4[2] = 1; /* 10.77.1.2: outside 10.77.0.0/24 */
    cr_assert_eq(policy_announce(&pol, a, &x, 1000, &res), POLICY_ANN_FOREIGN);
    cr_assert_eq(res.family, 4);
    cr_assert_not(a->announced);
    x = ann(1, 0); /* the server's own address */
    cr_assert_eq(policy_announce(&pol, a, &x, 1000, &res), POLICY_ANN_FOREIGN);
    x = ann(2, 0);
    x.addr6[0] = 0xfe; /* v6 outside fd77::/64 spoils the whole announcement */
    x.has6 = true;
    x.prefix6 = 64;
    cr_assert_eq(policy_announce(&pol, a, &x, 1000, &res), POLICY_ANN_FOREIGN);
    cr_assert_eq(res.family, 6);
    cr_assert_not(a->announced, "half an announcement was taken");
}

Test(policy, address_claimed_twice_goes_to_the_live_holder)
{
    struct tpeer *a = up(0, 1000), *b = up(1, 1000);
    struct policy_ann_result res;
    struct announce x = ann(2, 0);
    cr_assert_eq(policy_announce(&pol, a, &x, 1000, &res), POLICY_ANN_NEW);
    /* a was heard from within the silence limit: b cannot take its address */
    rem[0].last_rx_ms = 5000;
    cr_assert_eq(policy_announce(&pol, b, &x, 5000 + SILENT_MS, &res), POLICY_ANN_HELD);
    cr_assert_not(b->announced);
    struct tpeer *to;
    uint8_t src[4] = {10, 77, 0, 1}, dst[4] = {10, 77, 0, 2};
    struct ippkt ip = v4(src, dst);
    policy_tx(&pol, &ip, 0, &to);
    cr_assert_eq(to, a);
    /* the IPv6 half is held too: the announcement is refused whole */
    struct announce y = ann(3, 2), z = ann(0, 2);
    cr_assert_eq(policy_announce(&pol, a, &z, 5000, &res), POLICY_ANN_NEW);
    cr_assert_eq(policy_announce(&pol, b, &y, 5000, &res), POLICY_ANN_HELD);
    cr_assert_eq(res.family, 6);
}

Test(policy, silent_holder_is_displaced)
{
    struct tpeer *a = up(0, 1000), *b = up(1, 1000);
    struct policy_ann_result res;
    struct announce x = ann(2, 2);
    cr_assert_eq(policy_announce(&pol, a, &x, 1000, &res), POLICY_ANN_NEW);
    cr_assert_eq(policy_announce(&pol, b, &x, 1000 + SILENT_MS + 1, &res), POLICY_ANN_NEW);
    cr_assert_eq(res.displaced, a);
    cr_assert_not(a->announced);
    struct tpeer *to;
    uint8_t src[4] = {10, 77, 0, 1}, dst[4] = {10, 77, 0, 2};
    struct ippkt ip = v4(src, dst);
    policy_tx(&pol, &ip, 0, &to);
    cr_assert_eq(to, b);
    /* the displaced peer's packets are not attributed any more */
    uint8_t s2[4] = {10, 77, 0, 2}, d1[4] = {10, 77, 0, 1};
    ip = v4(s2, d1);
    cr_assert_eq(policy_rx(&pol, a, &ip, &to), POLICY_RX_NO_ADDRESS);
    cr_assert_eq(policy_rx(&pol, b, &ip, &to), POLICY_RX_DELIVER);
}

/* Slot i comes up with a proven node key filled with byte k (0: none, as in plaintext). */
static struct tpeer *up_key(size_t i, uint64_t last_rx, uint8_t k)
{
    rem[i].has_node_pk = k != 0;
    memset(rem[i].node_pk, k, sizeof rem[i].node_pk);
    return up(i, last_rx);
}

Test(policy, the_same_node_key_takes_its_address_back_at_once)
{
    /* The node restarted: its new session came up in another slot while the old one is still
     * within the silence limit. It must not wait two keepalives for its own address. */
    struct tpeer *old = up_key(0, 1000, 0xa1);
    cr_assert(old->has_key);
    struct policy_ann_result res;
    struct announce x = ann(2, 2);
    cr_assert_eq(policy_announce(&pol, old, &x, 1000, &res), POLICY_ANN_NEW);
    struct tpeer *fresh = up_key(1, 2000, 0xa1);
    cr_assert_eq(policy_announce(&pol, fresh, &x, 2000, &res), POLICY_ANN_NEW);
    cr_assert_eq(res.displaced, old);
    cr_assert(res.same_node);
    cr_assert_not(old->announced);
    struct tpeer *to;
    uint8_t src[4] = {10, 77, 0, 1}, dst[4] = {10, 77, 0, 2};
    struct ippkt ip = v4(src, dst);
    cr_assert_eq(policy_tx(&pol, &ip, 0, &to), POLICY_TX_SEND);
    cr_assert_eq(to, fresh);
}

Test(policy, another_node_key_cannot_take_a_live_holders_address)
{
    /* A member with the session key but its own node key claims a live member's address. */
    struct tpeer *victim = up_key(0, 1000, 0xa1), *thief = up_key(1, 1000, 0xb2);
    struct policy_ann_result res;
    struct announce x = ann(2, 0);
    cr_assert_eq(policy_announce(&pol, victim, &x, 1000, &res), POLICY_ANN_NEW);
    rem[0].last_rx_ms = 9000;
    cr_assert_eq(policy_announce(&pol, thief, &x, 9000 + SILENT_MS, &res), POLICY_ANN_HELD);
    cr_assert_eq(res.holder, victim);
    cr_assert_null(res.displaced);
    cr_assert_not(res.same_node);
    cr_assert_not(thief->announced);
    cr_assert(victim->announced);
    /* Its packets from that address are not let in either. */
    struct tpeer *to;
    uint8_t s2[4] = {10, 77, 0, 2}, d1[4] = {10, 77, 0, 1};
    struct ippkt ip = v4(s2, d1);
    cr_assert_eq(policy_rx(&pol, thief, &ip, &to), POLICY_RX_NO_ADDRESS);
    /* Once the holder is silent past the limit, the address is free again, as without keys. */
    cr_assert_eq(policy_announce(&pol, thief, &x, 9000 + SILENT_MS + 1, &res), POLICY_ANN_NEW);
    cr_assert_eq(res.displaced, victim);
    cr_assert_not(res.same_node);
}

Test(policy, a_key_not_yet_proven_does_not_count_as_the_same_node)
{
    /* Only keys both sides proved make a restart; an unknown key falls back to silence. */
    struct tpeer *a = up_key(0, 1000, 0xa1), *b = up_key(1, 1000, 0);
    struct policy_ann_result res;
    struct announce x = ann(2, 0);
    cr_assert_eq(policy_announce(&pol, a, &x, 1000, &res), POLICY_ANN_NEW);
    cr_assert_eq(policy_announce(&pol, b, &x, 1000, &res), POLICY_ANN_HELD);
    /* Proven later, and it is a's key: the restart rule applies. */
    uint8_t k[32];
    memset(k, 0xa1, sizeof k);
    cr_assert(policy_peer_key(&pol, b, k));
    cr_assert_not(policy_peer_key(&pol, b, k), "the same key again is no change");
    cr_assert_not(policy_peer_key(&pol, b, NULL));
    cr_assert_eq(policy_announce(&pol, b, &x, 1000, &res), POLICY_ANN_NEW);
    cr_assert(res.same_node);
}

Test(policy, refusal_names_the_servers_own_address)
{
    struct tpeer *a = up(0, 1000);
    struct policy_ann_result res;
    struct announce x = ann(1, 0);
    cr_assert_eq(policy_announce(&pol, a, &x, 1000, &res), POLICY_ANN_FOREIGN);
    cr_assert(res.own, "the server's own address is not named as such");
    cr_assert_eq(res.prefix, 24);
    x = ann(2, 0);
    x.addr4[2] = 1;
    cr_assert_eq(policy_announce(&pol, a, &x, 1000, &res), POLICY_ANN_FOREIGN);
    cr_assert_not(res.own, "an address outside the subnet is named the server's own");
}

/* A plaintext client restarted on a new UDP port behind the same public IP address. */
static void same_ip(size_t i, size_t j)
{
    rem[j].addr = rem[i].addr;
    rem[j].addr.port = (uint16_t)(rem[i].addr.port + 1);
}

Test(policy, plaintext_same_ip_takes_over_after_one_second_of_silence)
{
    struct tpeer *old = up(0, 1000);
    same_ip(0, 1);
    struct tpeer *fresh = up(1, 1000);
    struct policy_ann_result res;
    struct announce x = ann(2, 2);
    cr_assert_eq(policy_announce(&pol, old, &x, 1000, &res), POLICY_ANN_NEW);
    /* The old endpoint spoke 999 ms ago: it may still be a live client behind that NAT. */
    rem[0].last_rx_ms = 5000;
    cr_assert_eq(policy_announce(&pol, fresh, &x, 5000 + POLICY_SAME_IP_SILENT_MS - 1, &res),
                 POLICY_ANN_HELD);
    cr_assert_eq(res.holder, old);
    cr_assert(old->announced);
    /* Silent for 1 s: the same IP address takes the address over, long before SILENT_MS. */
    cr_assert_eq(policy_announce(&pol, fresh, &x, 5000 + POLICY_SAME_IP_SILENT_MS, &res),
                 POLICY_ANN_NEW);
    cr_assert_eq(res.displaced, old);
    cr_assert(res.same_ip);
    cr_assert_not(res.same_node);
    cr_assert_eq(res.family, 4, "the takeover is named by its IPv6 address");
    cr_assert_not(old->announced);
    struct tpeer *to;
    uint8_t src[4] = {10, 77, 0, 1}, dst[4] = {10, 77, 0, 2};
    struct ippkt ip = v4(src, dst);
    cr_assert_eq(policy_tx(&pol, &ip, 0, &to), POLICY_TX_SEND);
    cr_assert_eq(to, fresh);
}

Test(policy, plaintext_another_ip_waits_for_the_silence_limit)
{
    struct tpeer *a = up(0, 1000), *b = up(1, 1000);
    struct policy_ann_result res;
    struct announce x = ann(2, 0);
    cr_assert_eq(policy_announce(&pol, a, &x, 1000, &res), POLICY_ANN_NEW);
    rem[0].last_rx_ms = 5000;
    cr_assert_eq(policy_announce(&pol, b, &x, 5000 + POLICY_SAME_IP_SILENT_MS, &res),
                 POLICY_ANN_HELD, "another IP address took a held address after 1 s");
    cr_assert_eq(policy_announce(&pol, b, &x, 5000 + SILENT_MS, &res), POLICY_ANN_HELD);
    cr_assert_eq(policy_announce(&pol, b, &x, 5000 + SILENT_MS + 1, &res), POLICY_ANN_NEW);
    cr_assert_not(res.same_ip);
}

Test(policy, sealed_same_ip_keeps_node_key_ownership)
{
    /* Another node key behind the same NAT: the same IP address earns it nothing. */
    struct tpeer *victim = up_key(0, 1000, 0xa1);
    same_ip(0, 1);
    struct tpeer *other = up_key(1, 1000, 0xb2);
    struct policy_ann_result res;
    struct announce x = ann(2, 0);
    cr_assert_eq(policy_announce(&pol, victim, &x, 1000, &res), POLICY_ANN_NEW);
    rem[0].last_rx_ms = 5000;
    cr_assert_eq(policy_announce(&pol, other, &x, 5000 + 5 * POLICY_SAME_IP_SILENT_MS, &res),
                 POLICY_ANN_HELD);
    cr_assert(victim->announced);
    /* A plaintext announcer at the holder's IP cannot take a keyed holder's address either. */
    struct tpeer *plain = up_key(2, 1000, 0);
    rem[2].addr = rem[0].addr;
    cr_assert_eq(policy_announce(&pol, plain, &x, 5000 + 5 * POLICY_SAME_IP_SILENT_MS, &res),
                 POLICY_ANN_HELD);
}

Test(policy, another_node_in_a_slot_loses_the_old_ones_addresses)
{
    struct tpeer *a = up_key(0, 1000, 0xa1);
    struct policy_ann_result res;
    struct announce x = ann(2, 2);
    cr_assert_eq(policy_announce(&pol, a, &x, 1000, &res), POLICY_ANN_NEW);
    uint8_t k[32];
    memset(k, 0xc3, sizeof k);
    cr_assert(policy_peer_key(&pol, a, k));
    cr_assert_not(a->announced);
    struct tpeer *to;
    uint8_t src[4] = {10, 77, 0, 1}, dst[4] = {10, 77, 0, 2};
    struct ippkt ip = v4(src, dst);
    cr_assert_eq(policy_tx(&pol, &ip, 0, &to), POLICY_TX_NO_ROUTE);
    /* The first key proven in a slot keeps what was announced before it was known. */
    struct tpeer *b = up_key(1, 1000, 0);
    struct announce y = ann(3, 0);
    cr_assert_eq(policy_announce(&pol, b, &y, 1000, &res), POLICY_ANN_NEW);
    cr_assert(policy_peer_key(&pol, b, k));
    cr_assert(b->announced);
}

Test(policy, source_check_and_forwarding)
{
    struct tpeer *a = up(0, 1000), *b = up(1, 1000), *to;
    struct policy_ann_result res;
    uint8_t s2[4] = {10, 77, 0, 2}, s3[4] = {10, 77, 0, 3}, d1[4] = {10, 77, 0, 1},
            d9[4] = {10, 77, 0, 9}, out[4] = {192, 0, 2, 1};
    struct ippkt ip = v4(s2, d1);
    cr_assert_eq(policy_rx(&pol, a, &ip, &to), POLICY_RX_NO_ADDRESS, "before announcing");
    struct announce x = ann(2, 0), y = ann(3, 0);
    policy_announce(&pol, a, &x, 1000, &res);
    policy_announce(&pol, b, &y, 1000, &res);
    cr_assert_eq(policy_rx(&pol, a, &ip, &to), POLICY_RX_DELIVER);
    ip = v4(s3, d1); /* a claims b's address as its source */
    cr_assert_eq(policy_rx(&pol, a, &ip, &to), POLICY_RX_SPOOFED);
    cr_assert_eq(a->drop_spoofed, 1);
    ip = v4(s2, s3);
    cr_assert_eq(policy_rx(&pol, a, &ip, &to), POLICY_RX_FORWARD);
    cr_assert_eq(to, b);
    ip = v4(s2, d9);
    cr_assert_eq(policy_rx(&pol, a, &ip, &to), POLICY_RX_NO_ROUTE);
    ip = v4(s2, out); /* beyond the overlay: the server's own stack decides */
    cr_assert_eq(policy_rx(&pol, a, &ip, &to), POLICY_RX_DELIVER);
    /* IPv6 source of an IPv4-only peer */
    uint8_t s6[16] = {0xfd, 0x77, [15] = 2}, d6[16] = {0xfd, 0x77, [15] = 1};
    struct ippkt ip6 = {.version = 6, .src = s6, .dst = d6};
    cr_assert_eq(policy_rx(&pol, a, &ip6, &to), POLICY_RX_SPOOFED);
}

Test(policy, peer_down_releases_its_addresses)
{
    struct tpeer *a = up(0, 1000), *b = up(1, 1000), *to;
    struct policy_ann_result res;
    struct announce x = ann(2, 0);
    policy_announce(&pol, a, &x, 1000, &res);
    policy_peer_down(&pol, a);
    uint8_t src[4] = {10, 77, 0, 1}, dst[4] = {10, 77, 0, 2};
    struct ippkt ip = v4(src, dst);
    cr_assert_eq(policy_tx(&pol, &ip, 0, &to), POLICY_TX_NO_ROUTE);
    cr_assert_eq(policy_announce(&pol, b, &x, 1001, &res), POLICY_ANN_NEW);
    cr_assert_null(res.displaced);
}

Test(policy, local_scope_stays_on_the_link)
{
    up(0, 1000);
    struct tpeer *to;
    uint8_t src[4] = {10, 77, 0, 1}, mc[4] = {224, 0, 0, 251}, bc[4] = {255, 255, 255, 255};
    struct ippkt ip = v4(src, mc);
    cr_assert_eq(policy_tx(&pol, &ip, 0, &to), POLICY_TX_LOCAL_SCOPE);
    ip = v4(src, bc);
    cr_assert_eq(policy_tx(&pol, &ip, 0, &to), POLICY_TX_LOCAL_SCOPE);
    uint8_t ll[16] = {0xfe, 0x80, [15] = 1}, g[16] = {0xfd, 0x77, [15] = 2},
            m6[16] = {0xff, 0x02, [15] = 1};
    struct ippkt ip6 = {.version = 6, .src = ll, .dst = g};
    cr_assert_eq(policy_tx(&pol, &ip6, 0, &to), POLICY_TX_LOCAL_SCOPE);
    ip6 = (struct ippkt){.version = 6, .src = g, .dst = m6};
    cr_assert_eq(policy_tx(&pol, &ip6, 0, &to), POLICY_TX_LOCAL_SCOPE);
}

Test(policy_client, the_server_routes_everything)
{
    struct policy c;
    struct announce self = ann(2, 0);
    cr_assert_eq(policy_init(&c, RPH_ROLE_CLIENT, &self, SILENT_MS, 2), 0);
    struct rph_remote r = {.in_use = true};
    struct tpeer *to;
    uint8_t src[4] = {10, 77, 0, 2}, dst[4] = {10, 77, 0, 3};
    struct ippkt ip = v4(src, dst);
    cr_assert_eq(policy_tx(&c, &ip, 0, &to), POLICY_TX_NO_ROUTE, "no server yet");
    struct tpeer *s = policy_peer_up(&c, 1, &r);
    cr_assert_eq(policy_tx(&c, &ip, 0, &to), POLICY_TX_SEND);
    cr_assert_eq(to, s);
    /* a client takes the server's word for anything, and delivers whatever it routes */
    struct announce any = ann(1, 0);
    any.addr4[0] = 192;
    struct policy_ann_result res;
    cr_assert_eq(policy_announce(&c, s, &any, 1, &res), POLICY_ANN_NEW);
    uint8_t far[4] = {198, 51, 100, 7};
    ip = v4(far, src);
    cr_assert_eq(policy_rx(&c, s, &ip, &to), POLICY_RX_DELIVER);
    policy_free(&c);
}

/* Mesh (client): a member's addresses go straight to it while its path is usable, through the
 * server while it punches or stopped answering, to it alone when the server is gone; it may
 * send only from the addresses the server introduced, and announce no others. */
Test(policy_client, members_go_direct_while_usable)
{
    struct policy c;
    struct announce self = ann(2, 0);
    cr_assert_eq(policy_init(&c, RPH_ROLE_CLIENT, &self, SILENT_MS, 3), 0);
    struct rph_remote srv = {.in_use = true, .up = true};
    struct rph_remote mem = {.in_use = true, .member = true};
    struct tpeer *s = policy_peer_up(&c, 0, &srv), *m = policy_peer_up(&c, 1, &mem), *to;
    struct announce ma = ann(3, 0);
    policy_member(&c, m, &ma);
    uint8_t me[4] = {10, 77, 0, 2}, peer[4] = {10, 77, 0, 3}, other[4] = {10, 77, 0, 4};
    struct ippkt ip = v4(me, peer);
    /* Still punching (not up): through the server, nothing lost. */
    cr_assert_eq(policy_tx(&c, &ip, 100, &to), POLICY_TX_SEND);
    cr_assert_eq(to, s);
    mem.up = true;
    cr_assert_eq(policy_tx(&c, &ip, 100, &to), POLICY_TX_SEND);
    cr_assert_eq(to, m, "direct once usable");
    /* Another overlay address: the server's business. */
    struct ippkt ip2 = v4(me, other);
    cr_assert_eq(policy_tx(&c, &ip2, 100, &to), POLICY_TX_SEND);
    cr_assert_eq(to, s);
    /* Data unanswered past the fallback: via the server again, then direct when it answers. */
    mem.tx_unanswered = true;
    mem.tx_unanswered_ms = 100;
    cr_assert_eq(policy_tx(&c, &ip, 100 + RPH_RELAY_FALLBACK_MS, &to), POLICY_TX_SEND);
    cr_assert_eq(to, s);
    /* The server's daemon stopped: the member's path is the only one. */
    policy_peer_down(&c, s);
    cr_assert_eq(policy_tx(&c, &ip, 100 + RPH_RELAY_FALLBACK_MS, &to), POLICY_TX_SEND);
    cr_assert_eq(to, m);
    cr_assert_eq(policy_tx(&c, &ip2, 100, &to), POLICY_TX_NO_ROUTE);
    mem.tx_unanswered = false;
    /* Receive: only from the member's own address. */
    struct ippkt in = v4(peer, me);
    cr_assert_eq(policy_rx(&c, m, &in, &to), POLICY_RX_DELIVER);
    in = v4(other, me);
    cr_assert_eq(policy_rx(&c, m, &in, &to), POLICY_RX_SPOOFED);
    cr_assert_eq(m->drop_spoofed, 1);
    /* Its announcement: the introduced one is taken, another refused. */
    struct policy_ann_result res;
    cr_assert_eq(policy_announce(&c, m, &ma, 1, &res), POLICY_ANN_SAME);
    struct announce grab = ann(4, 0);
    cr_assert_eq(policy_announce(&c, m, &grab, 1, &res), POLICY_ANN_FOREIGN);
    cr_assert_eq(policy_rx(&c, m, &in, &to), POLICY_RX_SPOOFED, "still not its address");
    /* Introduced again with a new address: the route follows. */
    policy_member(&c, m, &grab);
    struct ippkt ip3 = v4(me, other);
    cr_assert_eq(policy_tx(&c, &ip3, 100, &to), POLICY_TX_SEND);
    cr_assert_eq(to, m);
    cr_assert_eq(policy_tx(&c, &ip, 100, &to), POLICY_TX_NO_ROUTE);
    policy_free(&c);
}
