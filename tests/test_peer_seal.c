// SPDX-License-Identifier: MIT
// Sealing driven on its own, without a peer or a socket: what each call returns (datagrams,
// adopted slots, payload), the Noise handshake's resends, key rotation, answered inits, node
// keys and timestamps, members, cookies under load.
#include <criterion/criterion.h>
#include <string.h>

#include "../src/core/peer_seal.h"
#include "ruphin/error.h"
#include "ruphin/noise.h"

static const uint8_t KEY[32] = {7, 7, 7, 1, 2, 3};
static const uint8_t CL_SK[32] = {0x11, 1}, SV_SK[32] = {0x22, 2}, EVE_SK[32] = {0x33, 3};
static uint8_t cl_pk[32], sv_pk[32], eve_pk[32];
static struct rph_seal_keys keys;
static struct rph_peer_stats cst, sst, est; /* client's, server's and another node's counters */
static struct seal *cl, *sv;
static int64_t wall_cl = 1700000000000, wall_sv = 1700000000000, wall_eve = 1700000000000;
static const struct rph_addr A = {.family = 4, .ip = {198, 51, 100, 1}, .port = 40001};
static const struct rph_addr B = {.family = 4, .ip = {198, 51, 100, 2}, .port = 40002};

#define RETRY 400
#define REKEY 120000
#define PENDING 10000

static struct seal *make_with(bool initiator, size_t slots, struct rph_peer_stats *st,
                              const uint8_t *sk, int64_t *wall, const uint8_t (*members)[32],
                              size_t n_members, uint32_t load)
{
    struct seal_config c = {.keys = &keys,
                            .initiator = initiator,
                            .slots = slots,
                            .retry_ms = RETRY,
                            .rekey_ms = REKEY,
                            .pending_ms = PENDING,
                            .node_sk = sk,
                            .members = members,
                            .n_members = n_members,
                            .wall_offset_ms = wall,
                            .load_per_s = load,
                            .stats = st};
    int err = 0;
    struct seal *s = seal_new(&c, &err);
    cr_assert_not_null(s, "seal_new: %s", rph_strerror(err));
    return s;
}

static struct seal *make(bool initiator, size_t slots, struct rph_peer_stats *st)
{
    return initiator ? make_with(true, slots, st, CL_SK, &wall_cl, NULL, 0, 0)
                     : make_with(false, slots, st, SV_SK, &wall_sv, NULL, 0, 0);
}

static void setup(void)
{
    cr_assert_eq(rph_seal_init(), 0);
    cr_assert_eq(rph_seal_derive(&keys, KEY, "office", 6), 0);
    rph_noise_public_key(cl_pk, CL_SK);
    rph_noise_public_key(sv_pk, SV_SK);
    rph_noise_public_key(eve_pk, EVE_SK);
    memset(&cst, 0, sizeof cst);
    memset(&sst, 0, sizeof sst);
    memset(&est, 0, sizeof est);
    cl = make(true, 1, &cst);
    sv = make(false, 4, &sst);
}

static void teardown(void)
{
    seal_free(cl);
    seal_free(sv);
}

TestSuite(peer_seal, .init = setup, .fini = teardown);

/* A datagram as it arrives: copied (sealing's buffers change on its next call), decoded. */
struct rx {
    uint8_t buf[RPH_DATAGRAM_MAX];
    size_t len;
    struct rph_msg m;
};

static void receive(struct rx *rx, const uint8_t *d, size_t n)
{
    cr_assert_gt(n, 0, "no datagram");
    memcpy(rx->buf, d, n);
    rx->len = n;
    cr_assert_eq(rph_wire_decode(rx->buf, n, &rx->m), 0);
}

static int handshake(struct seal *s, struct rx *rx, const struct rph_addr *from, size_t at_from,
                     uint64_t now, struct seal_event *ev)
{
    return seal_handshake(s, &rx->m, rx->buf, from, at_from, now, ev);
}

/* Frames text under slot's current keys into rx, as a datagram that arrives elsewhere. */
static void frame(struct seal *s, size_t slot, const char *text, struct rx *rx)
{
    uint8_t buf[256];
    uint8_t *d;
    size_t n = strlen(text);
    memcpy(buf + RPH_TRANSPORT_HEADER_LEN, text, n);
    int len = seal_frame(s, slot, buf, n, &d);
    cr_assert_eq(len, (int)(RPH_TRANSPORT_HEADER_LEN + n + RPH_TAG_LEN));
    receive(rx, d, (size_t)len);
}

/* Init, response, finish between initiator c (its slot 0) and responder s: the finish's event
 * in *ev (SEAL_ADOPT expected), the messages in init/resp/fin. */
static int three(struct seal *c, struct seal *s, const struct rph_addr *from, size_t at_from,
                 uint64_t now, struct rx *init, struct rx *resp, struct rx *fin,
                 struct seal_event *ev)
{
    struct seal_dgram d = seal_start(c, 0, now);
    receive(init, d.data, d.len);
    cr_assert_eq(init->m.type, RPH_HANDSHAKE_INIT);
    cr_assert_eq(handshake(s, init, from, at_from, now, ev), 0);
    cr_assert_eq(ev->what, SEAL_REPLY);
    receive(resp, ev->reply.data, ev->reply.len);
    cr_assert_eq(resp->m.type, RPH_HANDSHAKE_RESP);
    cr_assert_eq(handshake(c, resp, &B, SEAL_NO_SLOT, now, ev), 0);
    cr_assert_eq(ev->what, SEAL_REPLY);
    receive(fin, ev->reply.data, ev->reply.len);
    cr_assert_eq(fin->m.type, RPH_HANDSHAKE_FINISH);
    return handshake(s, fin, from, at_from, now, ev);
}

/* The responder's first packet under the new keys: the initiator switches to them. */
static void confirm(struct seal *s, size_t slot, struct seal *c)
{
    struct rx ka;
    struct seal_event ev;
    frame(s, slot, "", &ka);
    cr_assert_eq(seal_open(c, &ka.m, ka.buf, &ev), 0);
    cr_assert_eq(ev.what, SEAL_ESTABLISHED);
    cr_assert_eq(ev.slot, 0);
    cr_assert_arr_eq(ev.node_pk, sv_pk, 32, "the client learnt the server's node key");
}

/* Client slot 0 and server slot `slot` share keys after this, as in a peer: the server made
 * the slot for the client's address (SealedPeerInfo) before its init came. */
static void establish(size_t slot, uint64_t now)
{
    struct seal_event ev;
    struct rx init, resp, fin;
    three(cl, sv, &A, slot, now, &init, &resp, &fin, &ev);
    cr_assert_eq(ev.what, SEAL_ADOPT);
    cr_assert_eq(ev.slot, SEAL_NO_SLOT, "no slot has the client's node key yet");
    cr_assert_arr_eq(ev.node_pk, cl_pk, 32, "the server learnt the client's node key");
    cr_assert_eq(seal_adopt(sv, &ev, slot), 0);
    confirm(sv, slot, cl);
}

Test(peer_seal, handshake_then_data_both_ways)
{
    establish(2, 1000);
    cr_assert_eq(cst.handshakes_sent, 1);
    cr_assert_eq(cst.handshakes_done, 1);
    cr_assert_eq(sst.handshakes_done, 1);

    struct seal_event ev;
    struct rx rx, copy;
    frame(sv, 2, "pong", &rx);
    cr_assert_eq(seal_open(cl, &rx.m, rx.buf, &ev), 0);
    cr_assert_eq(ev.what, SEAL_DATA);
    cr_assert_eq(ev.slot, 0);
    cr_assert(ev.newest);
    cr_assert_eq(ev.plain_len, 4);
    cr_assert_arr_eq(ev.plain, "pong", 4);

    frame(cl, 0, "ping", &rx);
    copy = rx;
    cr_assert_eq(seal_open(sv, &rx.m, rx.buf, &ev), 0);
    cr_assert_eq(ev.what, SEAL_DATA);
    cr_assert_eq(ev.slot, 2);
    cr_assert_arr_eq(ev.plain, "ping", 4);
    cr_assert_eq(seal_open(sv, &copy.m, copy.buf, &ev), RPH_E_REPLAY);
    cr_assert_eq(sst.replayed, 1);
}

Test(peer_seal, the_client_has_no_keys_to_send_until_the_server_answers_under_them)
{
    struct seal_event ev;
    struct rx init, resp, fin;
    three(cl, sv, &A, 1, 0, &init, &resp, &fin, &ev);
    uint8_t buf[64], *d;
    cr_assert_eq(seal_frame(cl, 0, buf, 0, &d), RPH_E_NOKEY, "keys the server may not have");
    cr_assert_eq(seal_adopt(sv, &ev, 1), 0);
    confirm(sv, 1, cl);
    cr_assert_gt(seal_frame(cl, 0, buf, 0, &d), 0);
}

Test(peer_seal, an_init_from_an_unknown_address_gets_a_slot_when_it_finishes)
{
    struct seal_event ev;
    struct rx init, resp, fin, rx;
    three(cl, sv, &A, SEAL_NO_SLOT, 0, &init, &resp, &fin, &ev);
    cr_assert_eq(ev.what, SEAL_ADOPT);
    cr_assert_eq(ev.slot, SEAL_NO_SLOT);
    cr_assert_eq(sst.handshakes_done, 0, "counted before the peer gave a slot");
    cr_assert_eq(seal_adopt(sv, &ev, 1), 0);
    cr_assert_eq(sst.handshakes_done, 1);
    confirm(sv, 1, cl);
    for (int i = 0; i < 3; i++) {
        frame(cl, 0, "again", &rx);
        cr_assert_eq(seal_open(sv, &rx.m, rx.buf, &ev), 0, "packet %d after adoption refused", i);
        cr_assert_eq(ev.what, SEAL_DATA);
        cr_assert_eq(ev.slot, 1);
    }
    /* The same node again, from elsewhere: sealing knows its slot by its node key. */
    three(cl, sv, &B, SEAL_NO_SLOT, 10, &init, &resp, &fin, &ev);
    cr_assert_eq(ev.what, SEAL_ADOPT);
    cr_assert_eq(ev.slot, 1);
    cr_assert_eq(seal_adopt(sv, &ev, 1), 0);
    confirm(sv, 1, cl);
    /* Once the slot is forgotten, the keys' index leads nowhere. */
    seal_forget(sv, 1);
    frame(cl, 0, "gone", &rx);
    cr_assert_eq(seal_open(sv, &rx.m, rx.buf, &ev), RPH_E_NOKEY);
}

Test(peer_seal, a_replayed_init_gets_the_same_answer_no_new_keys_and_not_at_once)
{
    establish(1, 0);
    struct seal_event ev;
    struct rx init, r1, r2, rx;
    struct seal_dgram d = seal_start(cl, 0, 1000);
    receive(&init, d.data, d.len);
    cr_assert_eq(handshake(sv, &init, &A, 1, 1000, &ev), 0);
    receive(&r1, ev.reply.data, ev.reply.len);
    /* Replayed at once, from anywhere: dropped, counted, nothing sent. */
    for (int i = 0; i < 50; i++)
        cr_assert_eq(handshake(sv, &init, &B, SEAL_NO_SLOT, 1001, &ev), RPH_E_REPLAY);
    cr_assert_eq(sst.replayed, 50);
    /* After half a retry period (the initiator's own resend): the very same answer, so no new
     * ephemeral key and no DH was spent on it. */
    cr_assert_eq(handshake(sv, &init, &B, SEAL_NO_SLOT, 1000 + RETRY / 2, &ev), 0);
    receive(&r2, ev.reply.data, ev.reply.len);
    cr_assert_eq(r1.len, r2.len);
    cr_assert_arr_eq(r1.buf, r2.buf, r1.len, "a repeated init was answered anew");
    /* None of it touched the running session. */
    frame(cl, 0, "still", &rx);
    cr_assert_eq(seal_open(sv, &rx.m, rx.buf, &ev), 0);
    cr_assert_eq(ev.slot, 1);
    frame(sv, 1, "here", &rx);
    cr_assert_eq(seal_open(cl, &rx.m, rx.buf, &ev), 0);
    cr_assert_eq(sst.handshakes_done, 1);
}

Test(peer_seal, the_init_is_resent_on_time_and_once_early_per_punch)
{
    struct rx first, again;
    struct seal_dgram d = seal_start(cl, 0, 0);
    receive(&first, d.data, d.len);
    cr_assert_eq(seal_deadline(cl, 0, false), RETRY);
    d = seal_punched(cl, 0);
    receive(&again, d.data, d.len);
    cr_assert_arr_eq(again.buf, first.buf, first.len, "a resend must be the same init");
    cr_assert_eq(seal_punched(cl, 0).len, 0, "a second punch in one period resent the init");
    cr_assert_eq(seal_tick(cl, 0, false, RETRY - 1).len, 0);
    d = seal_tick(cl, 0, false, RETRY);
    receive(&again, d.data, d.len);
    cr_assert_arr_eq(again.buf, first.buf, first.len);
    cr_assert_eq(seal_deadline(cl, 0, false), 2 * RETRY);
    cr_assert_neq(seal_punched(cl, 0).len, 0, "a new period allows an early resend again");
    cr_assert_eq(cst.handshakes_sent, 1, "resends are not new handshakes");
}

Test(peer_seal, the_finish_is_resent_until_confirmed_and_answered_again_not_too_often)
{
    struct seal_event ev;
    struct rx init, resp, fin, again;
    three(cl, sv, &A, 1, 0, &init, &resp, &fin, &ev);
    cr_assert_eq(seal_adopt(sv, &ev, 1), 0);
    /* The server's keepalive is lost: the client sends its finish again. */
    struct seal_dgram d = seal_tick(cl, 0, false, RETRY);
    receive(&again, d.data, d.len);
    cr_assert_arr_eq(again.buf, fin.buf, fin.len);
    cr_assert_eq(handshake(sv, &again, &A, 1, RETRY, &ev), 0);
    cr_assert_eq(ev.what, SEAL_RECONFIRM, "a repeated finish gets a keepalive");
    cr_assert_eq(ev.slot, 1);
    cr_assert_eq(handshake(sv, &again, &A, 1, RETRY + 1, &ev), RPH_E_REPLAY, "not at once");
    cr_assert_eq(sst.handshakes_done, 1, "a repeated finish made new keys");
    confirm(sv, 1, cl);
    cr_assert_eq(seal_deadline(cl, 0, true), REKEY, "confirmed: nothing left to resend");
}

Test(peer_seal, rekey_keeps_old_keys_until_the_new_ones_are_confirmed)
{
    establish(3, 0);
    cr_assert_eq(seal_deadline(cl, 0, true), REKEY);
    cr_assert_eq(seal_tick(cl, 0, true, REKEY - 1).len, 0);
    struct seal_event ev;
    struct rx init, resp, fin, rx, old;
    struct seal_dgram d = seal_tick(cl, 0, true, REKEY);
    receive(&init, d.data, d.len);
    cr_assert_eq(init.m.type, RPH_HANDSHAKE_INIT);
    cr_assert_eq(cst.handshakes_sent, 2);
    /* From a new address the peer knows no slot for: sealing finds it by the node key. */
    cr_assert_eq(handshake(sv, &init, &B, SEAL_NO_SLOT, REKEY, &ev), 0);
    receive(&resp, ev.reply.data, ev.reply.len);
    frame(sv, 3, "old keys", &old); /* the server still sends under the current keys */
    cr_assert_eq(handshake(cl, &resp, &B, SEAL_NO_SLOT, REKEY, &ev), 0);
    receive(&fin, ev.reply.data, ev.reply.len);
    cr_assert_eq(seal_open(cl, &old.m, old.buf, &ev), 0, "current keys still open");
    cr_assert_arr_eq(ev.plain, "old keys", 8);
    frame(cl, 0, "old too", &old); /* and the client sends under them until confirmed */
    cr_assert_eq(handshake(sv, &fin, &B, SEAL_NO_SLOT, REKEY, &ev), 0);
    cr_assert_eq(ev.what, SEAL_ADOPT);
    cr_assert_eq(ev.slot, 3);
    cr_assert_eq(seal_adopt(sv, &ev, 3), 0);
    cr_assert_eq(seal_open(sv, &old.m, old.buf, &ev), 0, "previous keys still open");
    cr_assert_eq(ev.slot, 3);
    frame(sv, 3, "new keys", &rx);
    cr_assert_eq(seal_open(cl, &rx.m, rx.buf, &ev), 0);
    cr_assert_eq(ev.what, SEAL_ESTABLISHED);
    cr_assert_arr_eq(ev.plain, "new keys", 8);
    frame(cl, 0, "new keys", &rx);
    cr_assert_eq(seal_open(sv, &rx.m, rx.buf, &ev), 0);
    cr_assert_eq(ev.what, SEAL_DATA);
    cr_assert_eq(sst.handshakes_done, 2);
    cr_assert_eq(cst.handshakes_done, 2);
}

Test(peer_seal, an_old_or_replayed_finish_is_refused)
{
    establish(1, 0);
    struct seal_event ev;
    struct rx init, resp, fin, rx;
    three(cl, sv, &A, 1, 100, &init, &resp, &fin, &ev);
    cr_assert_eq(seal_adopt(sv, &ev, 1), 0);
    confirm(sv, 1, cl);
    /* Replayed much later, after the initiator's next rekey: its handshake is over. */
    three(cl, sv, &A, 1, 5000, &init, &resp, &rx, &ev);
    cr_assert_eq(seal_adopt(sv, &ev, 1), 0);
    uint64_t r0 = sst.replayed, k0 = sst.no_key;
    cr_assert_lt(handshake(sv, &fin, &A, 1, 6000, &ev), 0);
    cr_assert_eq(sst.replayed + sst.no_key, r0 + k0 + 1);
    cr_assert_eq(sst.handshakes_done, 3);

    /* The same node key with an older clock (a copy of the node, or its own old handshake
     * held back): a finish not newer than the last one is refused, and the slot keeps its
     * keys. */
    int64_t wall_old = wall_cl - 60000;
    struct rph_peer_stats ost = {0};
    struct seal *old = make_with(true, 1, &ost, CL_SK, &wall_old, NULL, 0, 0);
    cr_assert_eq(three(old, sv, &B, SEAL_NO_SLOT, 7000, &init, &resp, &fin, &ev), RPH_E_REPLAY);
    cr_assert_eq(ev.what, SEAL_NONE);
    frame(cl, 0, "mine", &rx);
    cr_assert_eq(seal_open(sv, &rx.m, rx.buf, &ev), 0, "the refused finish took the keys");
    seal_free(old);
}

Test(peer_seal, a_restarted_node_with_the_same_key_replaces_its_session_at_once)
{
    establish(2, 0);
    int64_t wall_new = wall_cl + 5000;
    struct rph_peer_stats nst = {0};
    struct seal *again = make_with(true, 1, &nst, CL_SK, &wall_new, NULL, 0, 0);
    struct seal_event ev;
    struct rx init, resp, fin, rx;
    three(again, sv, &B, SEAL_NO_SLOT, 100, &init, &resp, &fin, &ev);
    cr_assert_eq(ev.what, SEAL_ADOPT);
    cr_assert_eq(ev.slot, 2, "the restarted node's slot is its node key's");
    cr_assert_eq(seal_adopt(sv, &ev, 2), 0);
    confirm(sv, 2, again);
    frame(again, 0, "back", &rx);
    cr_assert_eq(seal_open(sv, &rx.m, rx.buf, &ev), 0);
    cr_assert_eq(ev.slot, 2);
    cr_assert_arr_eq(ev.plain, "back", 4);
    seal_free(again);
}

Test(peer_seal, another_node_key_cannot_displace_a_live_session)
{
    establish(2, 0);
    struct seal *eve = make_with(true, 1, &est, EVE_SK, &wall_eve, NULL, 0, 0);
    struct seal_event ev;
    struct rx init, resp, fin, rx;
    /* A member with the session key but its own node key, from the client's address. */
    three(eve, sv, &A, 2, 100, &init, &resp, &fin, &ev);
    cr_assert_eq(ev.what, SEAL_ADOPT);
    cr_assert_eq(ev.slot, SEAL_NO_SLOT, "another node's handshake was given the client's slot");
    cr_assert_arr_eq(ev.node_pk, eve_pk, 32);
    cr_assert_eq(seal_adopt(sv, &ev, 2), RPH_E_INVALID, "keys went into another node's slot");
    frame(cl, 0, "mine", &rx);
    cr_assert_eq(seal_open(sv, &rx.m, rx.buf, &ev), 0);
    cr_assert_eq(ev.slot, 2);
    frame(sv, 2, "yours", &rx);
    cr_assert_eq(seal_open(cl, &rx.m, rx.buf, &ev), 0);
    /* In a slot of its own it is a peer like any other. */
    three(eve, sv, &A, 2, 200, &init, &resp, &fin, &ev);
    cr_assert_eq(seal_adopt(sv, &ev, 3), 0);
    seal_free(eve);
}

Test(peer_seal, members_pin_node_keys_both_ways)
{
    /* A server that admits the client only. */
    const uint8_t only_cl[1][32] = {{0}};
    memcpy((void *)only_cl[0], cl_pk, 32);
    struct rph_peer_stats pst = {0};
    struct seal *pinned = make_with(false, 2, &pst, SV_SK, &wall_sv, only_cl, 1, 0);
    struct seal *eve = make_with(true, 1, &est, EVE_SK, &wall_eve, NULL, 0, 0);
    struct seal_event ev;
    struct rx init, resp, fin;
    struct seal_dgram d = seal_start(eve, 0, 0);
    receive(&init, d.data, d.len);
    cr_assert_eq(handshake(pinned, &init, &A, SEAL_NO_SLOT, 0, &ev), 0);
    receive(&resp, ev.reply.data, ev.reply.len);
    cr_assert_eq(handshake(eve, &resp, &A, SEAL_NO_SLOT, 0, &ev), 0);
    receive(&fin, ev.reply.data, ev.reply.len);
    cr_assert_eq(handshake(pinned, &fin, &A, SEAL_NO_SLOT, 0, &ev), RPH_E_UNKNOWN_PEER);
    cr_assert_eq(pst.not_member, 1);
    cr_assert_eq(pst.handshakes_done, 0);
    three(cl, pinned, &B, SEAL_NO_SLOT, 10, &init, &resp, &fin, &ev);
    cr_assert_eq(ev.what, SEAL_ADOPT, "the listed node was refused");

    /* A client that trusts another server only refuses this one's response. */
    struct rph_peer_stats qst = {0};
    const uint8_t only_eve[1][32] = {{0}};
    memcpy((void *)only_eve[0], eve_pk, 32);
    struct seal *picky = make_with(true, 1, &qst, CL_SK, &wall_cl, only_eve, 1, 0);
    d = seal_start(picky, 0, 20);
    receive(&init, d.data, d.len);
    cr_assert_eq(handshake(sv, &init, &A, SEAL_NO_SLOT, 20, &ev), 0);
    receive(&resp, ev.reply.data, ev.reply.len);
    cr_assert_eq(handshake(picky, &resp, &A, SEAL_NO_SLOT, 20, &ev), RPH_E_UNKNOWN_PEER);
    cr_assert_eq(qst.not_member, 1);
    cr_assert_eq(seal_deadline(picky, 0, false), 20 + RETRY, "the init is still resent");
    seal_free(picky);
    seal_free(eve);
    seal_free(pinned);
}

Test(peer_seal, under_load_an_init_without_a_cookie_gets_one_and_its_retry_is_answered)
{
    struct rph_peer_stats lst = {0};
    struct seal *busy = make_with(false, 4, &lst, SV_SK, &wall_sv, NULL, 0, 2);
    struct seal_event ev;
    struct rx init, reply, resp, fin;
    /* Two inits in a second are fine; the third asks for a cookie. */
    for (int i = 0; i < 2; i++) {
        struct seal_dgram d = seal_start(cl, 0, 0);
        receive(&init, d.data, d.len);
        cr_assert_eq(handshake(busy, &init, &A, SEAL_NO_SLOT, 0, &ev), 0);
        receive(&reply, ev.reply.data, ev.reply.len);
        cr_assert_eq(reply.m.type, RPH_HANDSHAKE_RESP);
    }
    struct seal_dgram d = seal_start(cl, 0, 10);
    receive(&init, d.data, d.len);
    cr_assert_eq(handshake(busy, &init, &A, SEAL_NO_SLOT, 10, &ev), 0);
    receive(&reply, ev.reply.data, ev.reply.len);
    cr_assert_eq(reply.m.type, RPH_COOKIE_REPLY, "no cookie asked for under load");
    cr_assert_eq(reply.len, RPH_COOKIE_REPLY_LEN);
    cr_assert_eq(lst.cookies_sent, 1);
    /* From another address the cookie is worth nothing. */
    cr_assert_eq(handshake(cl, &reply, &A, SEAL_NO_SLOT, 10, &ev), 0);
    cr_assert_eq(ev.what, SEAL_REPLY);
    receive(&init, ev.reply.data, ev.reply.len);
    cr_assert_eq(init.m.type, RPH_HANDSHAKE_INIT);
    cr_assert_eq(handshake(busy, &init, &B, SEAL_NO_SLOT, 11, &ev), 0);
    receive(&reply, ev.reply.data, ev.reply.len);
    cr_assert_eq(reply.m.type, RPH_COOKIE_REPLY);
    /* From the address it was made for, the same init with its mac2 is answered. */
    cr_assert_eq(handshake(busy, &init, &A, SEAL_NO_SLOT, 12, &ev), 0);
    receive(&resp, ev.reply.data, ev.reply.len);
    cr_assert_eq(resp.m.type, RPH_HANDSHAKE_RESP);
    cr_assert_eq(handshake(cl, &resp, &A, SEAL_NO_SLOT, 12, &ev), 0);
    receive(&fin, ev.reply.data, ev.reply.len);
    cr_assert_eq(handshake(busy, &fin, &A, SEAL_NO_SLOT, 12, &ev), 0);
    cr_assert_eq(ev.what, SEAL_ADOPT);
    /* A cookie reply for an init we did not send, or damaged, is refused. */
    reply.buf[40] ^= 1;
    cr_assert_lt(handshake(cl, &reply, &A, SEAL_NO_SLOT, 13, &ev), 0);
    seal_free(busy);
}

Test(peer_seal, answered_inits_expire_and_a_full_peer_drops_finished_ones)
{
    struct seal_event ev;
    struct rx init, resp, fin;
    struct seal_dgram d = seal_start(cl, 0, 100);
    receive(&init, d.data, d.len);
    cr_assert_eq(handshake(sv, &init, &A, SEAL_NO_SLOT, 100, &ev), 0);
    receive(&resp, ev.reply.data, ev.reply.len);
    cr_assert_eq(seal_pending_deadline(sv, 3000), 3100);
    cr_assert_eq(handshake(cl, &resp, &B, SEAL_NO_SLOT, 100, &ev), 0);
    receive(&fin, ev.reply.data, ev.reply.len);
    struct rx fin2 = fin;
    seal_expire_pending(sv, 100 + PENDING - 1);
    cr_assert_eq(handshake(sv, &fin, &A, SEAL_NO_SLOT, 200, &ev), 0);
    cr_assert_eq(ev.what, SEAL_ADOPT);
    cr_assert_eq(seal_adopt(sv, &ev, SEAL_NO_SLOT), RPH_E_FULL);
    cr_assert_lt(handshake(sv, &fin2, &A, SEAL_NO_SLOT, 300, &ev), 0, "dropped keys came back");
    cr_assert_eq(seal_pending_deadline(sv, 3000), UINT64_MAX);

    /* Once more, this time left waiting past pending_ms. */
    d = seal_start(cl, 0, 200);
    receive(&init, d.data, d.len);
    cr_assert_eq(handshake(sv, &init, &A, SEAL_NO_SLOT, 200, &ev), 0);
    receive(&resp, ev.reply.data, ev.reply.len);
    cr_assert_eq(handshake(cl, &resp, &B, SEAL_NO_SLOT, 200, &ev), 0);
    receive(&fin, ev.reply.data, ev.reply.len);
    seal_expire_pending(sv, 200 + PENDING);
    cr_assert_eq(handshake(sv, &fin, &A, SEAL_NO_SLOT, 200 + PENDING, &ev), RPH_E_NOKEY);
    cr_assert_eq(sst.handshakes_done, 0);
}

Test(peer_seal, forgotten_slots_and_wrong_roles_and_forgeries_are_refused)
{
    establish(0, 0);
    struct seal_event ev;
    struct rx rx, init, resp, fin;
    frame(sv, 0, "bye", &rx);
    seal_forget(cl, 0);
    uint8_t buf[64], *d;
    cr_assert_eq(seal_frame(cl, 0, buf, 0, &d), RPH_E_NOKEY);
    cr_assert_eq(seal_open(cl, &rx.m, rx.buf, &ev), RPH_E_NOKEY);
    cr_assert_eq(cst.no_key, 1);

    struct seal_dgram dg = seal_start(cl, 0, 0);
    receive(&init, dg.data, dg.len);
    cr_assert_eq(handshake(cl, &init, &A, SEAL_NO_SLOT, 0, &ev), RPH_E_UNEXPECTED,
                 "the initiator answered an init");
    cr_assert_eq(cst.unexpected, 1);
    cr_assert_eq(handshake(sv, &init, &A, SEAL_NO_SLOT, 0, &ev), 0);
    receive(&resp, ev.reply.data, ev.reply.len);
    cr_assert_eq(handshake(sv, &resp, &A, SEAL_NO_SLOT, 0, &ev), RPH_E_UNEXPECTED);
    cr_assert_eq(sst.unexpected, 1);

    struct rx bad = init;
    bad.buf[20] ^= 1; /* inside the ephemeral key, under the PSK's tag */
    cr_assert_eq(rph_wire_decode(bad.buf, bad.len, &bad.m), 0);
    cr_assert_eq(handshake(sv, &bad, &A, SEAL_NO_SLOT, 0, &ev), RPH_E_AUTH);
    cr_assert_eq(sst.auth_failed, 1);
    bad = resp;
    bad.buf[60] ^= 1; /* inside the encrypted node key */
    cr_assert_eq(rph_wire_decode(bad.buf, bad.len, &bad.m), 0);
    cr_assert_eq(handshake(cl, &bad, &A, SEAL_NO_SLOT, 0, &ev), RPH_E_AUTH);
    cr_assert_eq(cst.auth_failed, 1);
    /* The genuine response still completes: a forgery does not end a handshake. */
    cr_assert_eq(handshake(cl, &resp, &A, SEAL_NO_SLOT, 0, &ev), 0);
    receive(&fin, ev.reply.data, ev.reply.len);
    bad = fin;
    bad.buf[30] ^= 1;
    cr_assert_eq(rph_wire_decode(bad.buf, bad.len, &bad.m), 0);
    cr_assert_eq(handshake(sv, &bad, &A, SEAL_NO_SLOT, 0, &ev), RPH_E_AUTH);
    cr_assert_eq(handshake(sv, &fin, &A, SEAL_NO_SLOT, 0, &ev), 0);
    cr_assert_eq(ev.what, SEAL_ADOPT);

    /* Another session's handshake fails at its first tag. */
    struct rph_seal_keys other_keys;
    cr_assert_eq(rph_seal_derive(&other_keys, KEY, "home", 4), 0);
    struct seal_config oc = {.keys = &other_keys,
                             .initiator = true,
                             .slots = 1,
                             .retry_ms = RETRY,
                             .rekey_ms = REKEY,
                             .pending_ms = PENDING,
                             .node_sk = CL_SK,
                             .stats = &est};
    int err;
    struct seal *other = seal_new(&oc, &err);
    cr_assert_not_null(other);
    dg = seal_start(other, 0, 0);
    receive(&init, dg.data, dg.len);
    cr_assert_eq(handshake(sv, &init, &A, SEAL_NO_SLOT, 0, &ev), RPH_E_AUTH);
    seal_free(other);
}

Test(peer_seal, a_join_is_acted_on_once_and_only_when_signed_for_the_session)
{
    const int64_t wall = 1700000000000;
    uint8_t join[RPH_OWNER_LEN];
    cr_assert_eq(rph_owner_encode(&keys, RPH_SEALED_JOIN, (uint64_t)wall + 50, join, sizeof join),
                 RPH_OWNER_LEN);
    struct rph_msg pi = {.type = RPH_SEALED_PEER_INFO, .data = join, .data_len = sizeof join};
    cr_assert_eq(seal_check_join(sv, &pi, 0, wall), 0);
    cr_assert_eq(seal_check_join(sv, &pi, 10, wall), RPH_E_REPLAY, "a replayed join was taken");
    cr_assert_eq(seal_check_join(sv, &pi, 600000, wall), RPH_E_REPLAY, "a stale join was taken");
    cr_assert_eq(sst.replayed, 2);

    struct rph_seal_keys other;
    cr_assert_eq(rph_seal_derive(&other, KEY, "home", 4), 0);
    cr_assert_eq(rph_owner_encode(&other, RPH_SEALED_JOIN, (uint64_t)wall, join, sizeof join),
                 RPH_OWNER_LEN);
    cr_assert_eq(seal_check_join(sv, &pi, 0, wall), RPH_E_AUTH, "another session's join");
    cr_assert_eq(sst.auth_failed, 1);
}
