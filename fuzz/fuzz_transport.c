// SPDX-License-Identifier: MIT
// Fuzzes the sealed-packet opener and its replay window: only a genuine, never-opened packet opens.
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "ruphin/error.h"
#include "ruphin/noise.h"
#include "ruphin/replay.h"
#include "ruphin/seal.h"
#include "ruphin/wire.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_PKTS 32
#define MAX_PAYLOAD 1024
#define MAX_OPS 512
#define MAX_REPLAY_OPS 2048

static const uint8_t KEY[RPH_KEY_LEN] = {0x52, 0x75, 0x70, 0x68, 0x69, 0x6e, 1, 2, 3, 4, 5, 6};
static struct rph_seal_keys keys;

/* A packet the harness sealed: the only kind that may ever open. */
struct pkt {
    int dir; /* sealed with kp[dir], opens with kp[1 - dir] */
    uint64_t counter;
    uint8_t *bytes;
    size_t len;
    uint8_t payload[MAX_PAYLOAD];
    size_t payload_len;
};

/* What a receiver must have accepted so far: counters opened and the highest + 1. */
struct model {
    uint64_t opened[MAX_PKTS];
    size_t n_opened;
    uint64_t top;
};

struct run {
    struct rph_keypair kp[2]; /* 0: initiator (client), 1: responder (server) */
    struct model model[2];
    struct pkt pkts[MAX_PKTS];
    size_t n_pkts;
    /* The handshake's first two Noise messages, and the states that read them. */
    uint8_t msg1[48], msg2[96];
    struct rph_noise_hs reads1, reads2;
};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    fz_rng_install();
    if (rph_seal_available()) FZ_CHECK(rph_seal_derive(&keys, KEY, "fuzz", 4) == 0);
    return 0;
}

static bool window_ok(uint64_t top, uint64_t c)
{
    if (c == UINT64_MAX) return false;
    return c >= top || top - 1 - c < RPH_REPLAY_WINDOW;
}

static bool model_accepts(const struct model *m, uint64_t c)
{
    for (size_t i = 0; i < m->n_opened; i++)
        if (m->opened[i] == c) return false;
    return window_ok(m->top, c);
}

/* Sealed mode's handshake (Noise_XXpsk0) under the session's PSK: the transport keypairs. */
static void handshake(struct run *r)
{
    static const uint8_t si[32] = {1, 2}, sr[32] = {3, 4};
    struct rph_noise_hs i, h;
    struct rph_noise_keys ki, kr;
    uint8_t m3[128], p[16];
    FZ_CHECK(rph_noise_init(&i, RPH_NOISE_XXPSK0, true, NULL, 0, si, NULL, keys.noise_psk) == 0);
    FZ_CHECK(rph_noise_init(&h, RPH_NOISE_XXPSK0, false, NULL, 0, sr, NULL, keys.noise_psk) == 0);
    r->reads1 = h;
    FZ_CHECK(rph_noise_write_message(&i, NULL, 0, r->msg1, sizeof r->msg1) == 48);
    r->reads2 = i;
    FZ_CHECK(rph_noise_read_message(&h, r->msg1, 48, p, sizeof p) == 0);
    FZ_CHECK(rph_noise_write_message(&h, NULL, 0, r->msg2, sizeof r->msg2) == 96);
    FZ_CHECK(rph_noise_read_message(&i, r->msg2, 96, p, sizeof p) == 0);
    int n = rph_noise_write_message(&i, NULL, 0, m3, sizeof m3);
    FZ_CHECK(n > 0 && rph_noise_read_message(&h, m3, (size_t)n, p, sizeof p) == 0);
    FZ_CHECK(rph_noise_split(&i, &ki) == 0 && rph_noise_split(&h, &kr) == 0);
    FZ_CHECK(rph_keypair_from_noise(&r->kp[0], ki.send, ki.recv, 0x1001, 0x2002, true, 1000) == 0);
    FZ_CHECK(rph_keypair_from_noise(&r->kp[1], kr.send, kr.recv, 0x2002, 0x1001, false, 1000) == 0);
    FZ_CHECK(memcmp(r->kp[0].send_key, r->kp[1].recv_key, 32) == 0);
    FZ_CHECK(memcmp(r->kp[1].send_key, r->kp[0].recv_key, 32) == 0);
    FZ_CHECK(r->kp[0].remote_index == r->kp[1].local_index);
    FZ_CHECK(r->kp[1].remote_index == r->kp[0].local_index);
}

static void op_seal(struct run *r, struct fz *f)
{
    int dir = fz_u8(f) & 1;
    size_t want = fz_u8(f);
    if (want & 0x80) want = (want & 0x7f) * 8; /* up to 1016 bytes */
    const uint8_t *src;
    size_t n = fz_bytes(f, want, &src);
    uint8_t *buf = malloc(RPH_TRANSPORT_HEADER_LEN + n + RPH_TAG_LEN);
    FZ_CHECK(buf != NULL);
    memcpy(buf + RPH_TRANSPORT_HEADER_LEN, src, n);
    uint64_t ctr = r->kp[dir].send_counter;
    int len = rph_transport_seal(&r->kp[dir], buf, n);
    if (ctr == UINT64_MAX) {
        /* The last counter is never used: the window could not hold it. */
        FZ_CHECK(len == RPH_E_NOKEY && r->kp[dir].send_counter == UINT64_MAX);
        free(buf);
        return;
    }
    FZ_CHECK(len == (int)(RPH_TRANSPORT_HEADER_LEN + n + RPH_TAG_LEN));
    FZ_CHECK(r->kp[dir].send_counter == ctr + 1);
    struct rph_msg m;
    FZ_CHECK(rph_wire_decode(buf, (size_t)len, &m) == 0);
    FZ_CHECK(m.type == RPH_TRANSPORT && m.tr.counter == ctr);
    FZ_CHECK(m.tr.receiver == r->kp[dir].remote_index);
    if (r->n_pkts == MAX_PKTS) {
        free(buf);
        return;
    }
    struct pkt *p = &r->pkts[r->n_pkts++];
    p->dir = dir;
    p->counter = ctr;
    p->bytes = buf;
    p->len = (size_t)len;
    memcpy(p->payload, src, n);
    p->payload_len = n;
}

/* Feeds one datagram to kp[to] and checks the verdict against the model. */
static void feed(struct run *r, int to, const uint8_t *bytes, size_t len)
{
    uint8_t *buf = malloc(len ? len : 1); /* exact size: ASan sees any overread */
    FZ_CHECK(buf != NULL);
    memcpy(buf, bytes, len);
    struct rph_msg m;
    const struct pkt *genuine = NULL;
    for (size_t i = 0; i < r->n_pkts && !genuine; i++) {
        const struct pkt *p = &r->pkts[i];
        if (p->dir == 1 - to && p->len == len && memcmp(p->bytes, bytes, len) == 0) genuine = p;
    }
    if (rph_wire_decode(buf, len, &m) != 0 || m.type != RPH_TRANSPORT) {
        FZ_CHECK(!genuine);
        free(buf);
        return;
    }
    struct rph_keypair *kp = &r->kp[to];
    struct rph_replay before = kp->replay;
    uint8_t *plain = NULL;
    size_t plain_len = 0;
    int rc = rph_transport_open(kp, buf, &m, &plain, &plain_len);
    struct model *mo = &r->model[to];
    bool expect = genuine && model_accepts(mo, genuine->counter);
    if (rc != 0) {
        FZ_CHECK(!expect);
        /* The window is checked first: REPLAY exactly when the model has no room for it. */
        FZ_CHECK(rc == (model_accepts(mo, m.tr.counter) ? RPH_E_AUTH : RPH_E_REPLAY));
        /* A packet that did not open leaves no trace in the window. */
        FZ_CHECK(memcmp(&before, &kp->replay, sizeof before) == 0);
        free(buf);
        return;
    }
    FZ_CHECK(expect);
    FZ_CHECK(plain == buf + RPH_TRANSPORT_HEADER_LEN);
    FZ_CHECK(plain_len == genuine->payload_len);
    FZ_CHECK(memcmp(plain, genuine->payload, plain_len) == 0);
    mo->opened[mo->n_opened++] = genuine->counter;
    if (genuine->counter >= mo->top) mo->top = genuine->counter + 1;
    FZ_CHECK(kp->replay.top == mo->top);
    free(buf);
}

static struct pkt *pick(struct run *r, struct fz *f)
{
    uint8_t i = fz_u8(f);
    return r->n_pkts ? &r->pkts[i % r->n_pkts] : NULL;
}

static void op_mutate(struct run *r, struct fz *f)
{
    struct pkt *p = pick(r, f);
    uint8_t flips = (uint8_t)(fz_u8(f) % 4 + 1);
    if (!p) return;
    uint8_t *c = malloc(p->len);
    FZ_CHECK(c != NULL);
    memcpy(c, p->bytes, p->len);
    for (int i = 0; i < flips; i++) {
        size_t pos = fz_u16(f) % p->len;
        c[pos] ^= fz_u8(f);
    }
    feed(r, 1 - p->dir, c, p->len);
    free(c);
}

static void op_truncate(struct run *r, struct fz *f)
{
    struct pkt *p = pick(r, f);
    uint16_t cut = fz_u16(f);
    bool fix_len = cut & 0x8000;
    if (!p) return;
    size_t n = (cut & 0x7fff) % (p->len + 1);
    uint8_t *c = malloc(n ? n : 1);
    FZ_CHECK(c != NULL);
    memcpy(c, p->bytes, n);
    if (fix_len && n >= 2) {
        c[0] = (uint8_t)(n >> 8);
        c[1] = (uint8_t)n;
    }
    feed(r, 1 - p->dir, c, n);
    free(c);
}

static void op_skip(struct run *r, struct fz *f)
{
    uint8_t how = fz_u8(f);
    struct rph_keypair *kp = &r->kp[how & 1];
    switch ((how >> 1) % 4) {
    case 0:
        kp->send_counter += fz_u8(f);
        break;
    case 1:
        kp->send_counter += fz_u16(f); /* around the 4032-packet window */
        break;
    case 2:
        kp->send_counter += fz_u32(f);
        break;
    default:
        kp->send_counter = UINT64_MAX - fz_u8(f) % 4;
        break;
    }
}

/* A tampered handshake message must never be read: message 1 is already under the PSK. */
static void op_hs_tamper(struct run *r, struct fz *f)
{
    bool second = fz_u8(f) & 1;
    size_t pos = fz_u8(f);
    uint8_t x = fz_u8(f);
    uint8_t c[96], p[16];
    size_t n = second ? sizeof r->msg2 : sizeof r->msg1;
    memcpy(c, second ? r->msg2 : r->msg1, n);
    c[pos % n] ^= x;
    struct rph_noise_hs hs = second ? r->reads2 : r->reads1;
    int v = rph_noise_read_message(&hs, c, n, p, sizeof p);
    FZ_CHECK(x == 0 ? v == 0 : v == RPH_E_AUTH);
    rph_noise_wipe(&hs);
}

/* rph_replay_* on counters from the input, against an exact model of the window. */
struct replay_model {
    uint64_t *seen;
    size_t n, cap;
    uint64_t top;
};

static bool replay_model_accepts(const struct replay_model *m, uint64_t c)
{
    if (!window_ok(m->top, c)) return false;
    for (size_t i = 0; i < m->n; i++)
        if (m->seen[i] == c) return false;
    return true;
}

static void op_replay(struct rph_replay *rp, struct replay_model *m, struct fz *f)
{
    unsigned n = fz_u8(f) % 32 + 1;
    for (unsigned i = 0; i < n && m->n < m->cap; i++) {
        uint8_t how = fz_u8(f);
        int8_t d = (int8_t)fz_u8(f);
        uint64_t c;
        switch (how % 5) {
        case 0:
            c = fz_u64(f);
            break;
        case 1:
            c = m->top + (uint64_t)(int64_t)d;
            break;
        case 2:
            c = m->top - RPH_REPLAY_WINDOW + (uint64_t)(int64_t)d; /* the window's edge */
            break;
        case 3:
            c = m->top + fz_u16(f);
            break;
        default:
            c = m->top - fz_u16(f);
            break;
        }
        bool want = replay_model_accepts(m, c);
        FZ_CHECK(rph_replay_check(rp, c) == want);
        struct rph_replay before = *rp;
        bool got = rph_replay_update(rp, c);
        FZ_CHECK(got == want);
        if (!got) {
            FZ_CHECK(memcmp(&before, rp, sizeof before) == 0);
            continue;
        }
        /* Accepted once, never again. */
        FZ_CHECK(!rph_replay_check(rp, c));
        m->seen[m->n++] = c;
        if (c >= m->top) m->top = c + 1;
        FZ_CHECK(rp->top == m->top);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fz f = {data, size};
    struct rph_replay rp;
    rph_replay_init(&rp);
    uint64_t seen[MAX_REPLAY_OPS];
    struct replay_model rm = {seen, 0, MAX_REPLAY_OPS, 0};
    bool sealed = rph_seal_available();

    struct run *r = calloc(1, sizeof *r);
    FZ_CHECK(r != NULL);
    if (sealed) {
        /* Keys differ with every input: a packet sealed in one run means nothing in another. */
        fz_rng_seed(fz_hash(data, size));
        handshake(r);
    }
    /* Ops, op byte mod 9: 0 seal (direction, length: bit 7 means x8, bytes); 1 deliver a
     * sealed packet; 2 deliver it with 1-4 bytes flipped; 3 raw bytes (receiver, u16 length);
     * 4 skip send counters (small, ~window, large, or the last ones); 5 deliver a truncated
     * copy (u16: bit 15 fixes the length field); 6 reflect a packet to its sender; 7 tamper
     * with the handshake; 8 a batch of counters straight to rph_replay_*. */
    for (int ops = 0; ops < MAX_OPS && !fz_done(&f); ops++) {
        uint8_t op = fz_u8(&f);
        if (!sealed && op % 9 != 8) continue;
        switch (op % 9) {
        case 0:
            op_seal(r, &f);
            break;
        case 1: {
            struct pkt *p = pick(r, &f);
            if (p) feed(r, 1 - p->dir, p->bytes, p->len);
            break;
        }
        case 2:
            op_mutate(r, &f);
            break;
        case 3: {
            int to = fz_u8(&f) & 1;
            const uint8_t *b;
            size_t n = fz_bytes(&f, fz_u16(&f) % 2048, &b);
            feed(r, to, b, n);
            break;
        }
        case 4:
            op_skip(r, &f);
            break;
        case 5:
            op_truncate(r, &f);
            break;
        case 6: {
            /* Back to its sender: the other direction's key must not open it. */
            struct pkt *p = pick(r, &f);
            if (p) feed(r, p->dir, p->bytes, p->len);
            break;
        }
        case 7:
            op_hs_tamper(r, &f);
            break;
        default:
            op_replay(&rp, &rm, &f);
            break;
        }
    }
    for (size_t i = 0; i < r->n_pkts; i++)
        free(r->pkts[i].bytes);
    free(r);
    return 0;
}
