// SPDX-License-Identifier: MIT
// Sealing driven on its own, without a peer or a socket: what each call returns (datagrams,
// confirmed slots, payload), the init's resends, key rotation, waiting responder keys.
#include <criterion/criterion.h>
#include <string.h>

#include "../src/core/peer_seal.h"
#include "ruphin/error.h"

static const uint8_t KEY[32] = {7, 7, 7, 1, 2, 3};
static struct rph_seal_keys keys;
static struct rph_peer_stats cst, sst; /* client's and server's counters */
static struct seal *cl, *sv;
static const struct rph_addr A = {.family = 4, .ip = {198, 51, 100, 1}, .port = 40001};
static const struct rph_addr B = {.family = 4, .ip = {198, 51, 100, 2}, .port = 40002};

#define RETRY 400
#define REKEY 120000
#define PENDING 10000

static struct seal *make(bool initiator, size_t slots, struct rph_peer_stats *st)
{
    struct seal_config c = {.keys = &keys,
                            .initiator = initiator,
                            .slots = slots,
                            .retry_ms = RETRY,
                            .rekey_ms = REKEY,
                            .pending_ms = PENDING,
                            .stats = st};
    int err = 0;
    struct seal *s = seal_new(&c, &err);
    cr_assert_not_null(s, "seal_new: %s", rph_strerror(err));
    return s;
}

static void setup(void)
{
    cr_assert_eq(rph_seal_init(), 0);
    cr_assert_eq(rph_seal_derive(&keys, KEY, "office", 6), 0);
    memset(&cst, 0, sizeof cst);
    memset(&sst, 0, sizeof sst);
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

/* Client slot 0 and server slot `slot` share confirmed keys after this, as in a peer: the
 * server made the slot for the client's address (SealedPeerInfo) before its init came. */
static void establish(size_t slot, uint64_t now)
{
    struct seal_event ev;
    struct rx init, resp, ka;
    struct seal_dgram d = seal_start(cl, 0, now);
    receive(&init, d.data, d.len);
    cr_assert_eq(init.m.type, RPH_HANDSHAKE_INIT);
    cr_assert_eq(handshake(sv, &init, &A, slot, now, &ev), 0);
    cr_assert_eq(ev.what, SEAL_REPLY);
    receive(&resp, ev.reply.data, ev.reply.len);
    cr_assert_eq(handshake(cl, &resp, &B, SEAL_NO_SLOT, now, &ev), 0);
    cr_assert_eq(ev.what, SEAL_ESTABLISHED);
    cr_assert_eq(ev.slot, 0);
    frame(cl, 0, "", &ka); /* the key confirmation */
    cr_assert_eq(seal_open(sv, &ka.m, ka.buf, &ev), 0);
    cr_assert_eq(ev.what, SEAL_CONFIRMED);
    cr_assert_eq(ev.slot, slot);
    cr_assert_arr_eq(ev.id, init.m.hs.sender_id, 8);
    cr_assert_eq(ev.plain_len, 0);
}

Test(peer_seal, handshake_confirmation_and_data_both_ways)
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

Test(peer_seal, an_init_from_an_unknown_address_waits_for_a_slot)
{
    struct seal_event ev;
    struct rx init, resp, ka, rx;
    struct seal_dgram d = seal_start(cl, 0, 0);
    receive(&init, d.data, d.len);
    cr_assert_eq(handshake(sv, &init, &A, SEAL_NO_SLOT, 0, &ev), 0);
    cr_assert_eq(ev.what, SEAL_REPLY);
    receive(&resp, ev.reply.data, ev.reply.len);
    cr_assert_eq(handshake(cl, &resp, &B, SEAL_NO_SLOT, 0, &ev), 0);
    frame(cl, 0, "first", &ka);
    cr_assert_eq(seal_open(sv, &ka.m, ka.buf, &ev), 0);
    cr_assert_eq(ev.what, SEAL_ADOPT);
    cr_assert_eq(ev.slot, SEAL_NO_SLOT, "no slot has this initiator yet");
    cr_assert_arr_eq(ev.id, init.m.hs.sender_id, 8);
    cr_assert_arr_eq(ev.plain, "first", 5);
    cr_assert_eq(sst.handshakes_done, 0, "counted before the peer gave a slot");
    cr_assert_eq(seal_adopt(sv, &ev, 1), 0);
    cr_assert_eq(sst.handshakes_done, 1);
    frame(sv, 1, "welcome", &rx);
    cr_assert_eq(seal_open(cl, &rx.m, rx.buf, &ev), 0);
    cr_assert_arr_eq(ev.plain, "welcome", 7);
    /* The same initiator again, from elsewhere: sealing knows its slot by the sender id. */
    d = seal_start(cl, 0, 10);
    receive(&init, d.data, d.len);
    cr_assert_eq(handshake(sv, &init, &B, SEAL_NO_SLOT, 10, &ev), 0);
    receive(&resp, ev.reply.data, ev.reply.len);
    cr_assert_eq(handshake(cl, &resp, &B, SEAL_NO_SLOT, 10, &ev), 0);
    frame(cl, 0, "moved", &ka);
    cr_assert_eq(seal_open(sv, &ka.m, ka.buf, &ev), 0);
    cr_assert_eq(ev.what, SEAL_CONFIRMED);
    cr_assert_eq(ev.slot, 1);
}

Test(peer_seal, a_duplicate_init_gets_the_same_answer_and_no_new_keys)
{
    struct seal_event ev;
    struct rx init, r1, r2;
    struct seal_dgram d = seal_start(cl, 0, 0);
    receive(&init, d.data, d.len);
    cr_assert_eq(handshake(sv, &init, &A, SEAL_NO_SLOT, 0, &ev), 0);
    receive(&r1, ev.reply.data, ev.reply.len);
    cr_assert_eq(handshake(sv, &init, &A, SEAL_NO_SLOT, 5, &ev), 0);
    receive(&r2, ev.reply.data, ev.reply.len);
    cr_assert_eq(r1.len, r2.len);
    cr_assert_arr_eq(r1.buf, r2.buf, r1.len, "a retransmitted init was answered anew");
    /* The same goes for an init to a slot the peer named by its address. */
    cr_assert_eq(handshake(sv, &init, &A, 1, 0, &ev), 0);
    receive(&r1, ev.reply.data, ev.reply.len);
    cr_assert_eq(handshake(sv, &init, &A, 1, 5, &ev), 0);
    receive(&r2, ev.reply.data, ev.reply.len);
    cr_assert_arr_eq(r1.buf, r2.buf, r1.len);
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

Test(peer_seal, rekey_keeps_old_keys_until_the_new_ones_are_confirmed)
{
    establish(3, 0);
    cr_assert_eq(seal_deadline(cl, 0, true), REKEY);
    cr_assert_eq(seal_tick(cl, 0, true, REKEY - 1).len, 0);
    struct seal_event ev;
    struct rx init, resp, rx, old;
    struct seal_dgram d = seal_tick(cl, 0, true, REKEY);
    receive(&init, d.data, d.len);
    cr_assert_eq(init.m.type, RPH_HANDSHAKE_INIT);
    cr_assert_eq(cst.handshakes_sent, 2);
    /* From a new address the peer knows no slot for: sealing finds it by the sender id. */
    cr_assert_eq(handshake(sv, &init, &B, SEAL_NO_SLOT, REKEY, &ev), 0);
    cr_assert_eq(ev.what, SEAL_REPLY);
    receive(&resp, ev.reply.data, ev.reply.len);
    frame(sv, 3, "old keys", &old); /* the server still sends under the current keys */
    cr_assert_eq(handshake(cl, &resp, &B, SEAL_NO_SLOT, REKEY, &ev), 0);
    cr_assert_eq(ev.what, SEAL_ESTABLISHED);
    cr_assert_eq(seal_open(cl, &old.m, old.buf, &ev), 0, "previous keys still open");
    cr_assert_arr_eq(ev.plain, "old keys", 8);
    frame(cl, 0, "new keys", &rx);
    cr_assert_eq(seal_open(sv, &rx.m, rx.buf, &ev), 0);
    cr_assert_eq(ev.what, SEAL_CONFIRMED);
    cr_assert_eq(ev.slot, 3);
    cr_assert_arr_eq(ev.id, init.m.hs.sender_id, 8);
    cr_assert_arr_eq(ev.plain, "new keys", 8);
    cr_assert_eq(sst.handshakes_done, 2);
}

Test(peer_seal, waiting_responder_keys_expire_and_a_full_peer_drops_them)
{
    struct seal_event ev;
    struct rx init, resp, ka;
    struct seal_dgram d = seal_start(cl, 0, 0);
    receive(&init, d.data, d.len);
    cr_assert_eq(handshake(sv, &init, &A, SEAL_NO_SLOT, 100, &ev), 0);
    receive(&resp, ev.reply.data, ev.reply.len);
    cr_assert_eq(handshake(cl, &resp, &B, SEAL_NO_SLOT, 100, &ev), 0);
    cr_assert_eq(seal_pending_deadline(sv, 3000), 3100);
    frame(cl, 0, "", &ka);
    struct rx ka2 = ka;
    seal_expire_pending(sv, 100 + PENDING - 1);
    cr_assert_eq(seal_open(sv, &ka.m, ka.buf, &ev), 0);
    cr_assert_eq(ev.what, SEAL_ADOPT);
    cr_assert_eq(seal_adopt(sv, &ev, SEAL_NO_SLOT), RPH_E_FULL);
    cr_assert_eq(seal_open(sv, &ka2.m, ka2.buf, &ev), RPH_E_NOKEY, "dropped keys still open");
    cr_assert_eq(seal_pending_deadline(sv, 3000), UINT64_MAX);

    /* Once more, this time left waiting past pending_ms. */
    d = seal_start(cl, 0, 200);
    receive(&init, d.data, d.len);
    cr_assert_eq(handshake(sv, &init, &A, SEAL_NO_SLOT, 200, &ev), 0);
    receive(&resp, ev.reply.data, ev.reply.len);
    cr_assert_eq(handshake(cl, &resp, &B, SEAL_NO_SLOT, 200, &ev), 0);
    frame(cl, 0, "", &ka);
    seal_expire_pending(sv, 200 + PENDING);
    cr_assert_eq(seal_open(sv, &ka.m, ka.buf, &ev), RPH_E_NOKEY);
    cr_assert_eq(sst.no_key, 2);
    cr_assert_eq(sst.handshakes_done, 0);
}

Test(peer_seal, forgotten_slots_and_wrong_roles_and_forgeries_are_refused)
{
    establish(0, 0);
    struct seal_event ev;
    struct rx rx, init, resp;
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

    init.buf[20] ^= 1; /* inside the ephemeral key, under the MAC */
    cr_assert_eq(rph_wire_decode(init.buf, init.len, &init.m), 0);
    cr_assert_eq(handshake(sv, &init, &A, SEAL_NO_SLOT, 0, &ev), RPH_E_AUTH);
    cr_assert_eq(sst.auth_failed, 1);
    resp.buf[20] ^= 1;
    cr_assert_eq(rph_wire_decode(resp.buf, resp.len, &resp.m), 0);
    cr_assert_eq(handshake(cl, &resp, &A, SEAL_NO_SLOT, 0, &ev), RPH_E_AUTH);
    cr_assert_eq(cst.auth_failed, 1);
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

/* Adopted keys keep the index they were made with: the initiator's next packets under them
 * reach the slot (they were dropped as no_key until the next rekey). */
Test(peer_seal, adopted_keys_keep_working_after_the_first_packet)
{
    struct seal_event ev;
    struct rx init, resp, ka, rx;
    struct seal_dgram d = seal_start(cl, 0, 0);
    receive(&init, d.data, d.len);
    cr_assert_eq(handshake(sv, &init, &A, SEAL_NO_SLOT, 0, &ev), 0);
    receive(&resp, ev.reply.data, ev.reply.len);
    cr_assert_eq(handshake(cl, &resp, &B, SEAL_NO_SLOT, 0, &ev), 0);
    frame(cl, 0, "first", &ka);
    cr_assert_eq(seal_open(sv, &ka.m, ka.buf, &ev), 0);
    cr_assert_eq(ev.what, SEAL_ADOPT);
    cr_assert_eq(seal_adopt(sv, &ev, 3), 0);
    for (int i = 0; i < 3; i++) {
        frame(cl, 0, "again", &rx);
        cr_assert_eq(seal_open(sv, &rx.m, rx.buf, &ev), 0, "packet %d after adoption refused", i);
        cr_assert_eq(ev.what, SEAL_DATA);
        cr_assert_eq(ev.slot, 3);
        cr_assert_arr_eq(ev.plain, "again", 5);
    }
    cr_assert_eq(sst.no_key, 0);
    /* Once the slot is forgotten, the old index leads nowhere. */
    seal_forget(sv, 3);
    frame(cl, 0, "gone", &rx);
    cr_assert_eq(seal_open(sv, &rx.m, rx.buf, &ev), RPH_E_NOKEY);
}
