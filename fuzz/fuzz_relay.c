// SPDX-License-Identifier: MIT
// Fuzzes the relay: RelayData decode/unwrap on any bytes, and the forwarding table against a
// shadow of its members as members come and go, time passes and limits change. Whatever it
// forwards came from a live member with that member's cookie, goes to another live member of
// the same session, leaves as large as it came, with the source in place and no cookie.
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../src/core/relay_table.h"
#include "harness.h"
#include "ruphin/error.h"
#include "ruphin/relay.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_OPS 256
#define N_ADDR 8
#define N_SESS 4
#define N_COOKIE 4
#define TTL 5000u

static struct rph_addr addrs[N_ADDR];
static struct rph_session sessions[N_SESS];
static uint8_t cookies[N_COOKIE][RPH_COOKIE_LEN];

struct shadow {
    bool used;
    uint8_t cookie;
    uint64_t expires;
};

struct run {
    struct relay_table *t;
    uint64_t now;
    struct shadow m[N_SESS][N_ADDR];
};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    static const char *const a[N_ADDR] = {
        "198.51.100.1:40000", "198.51.100.2:40001", "198.51.100.1:40009", "[2001:db8::1]:7700",
        "[2001:db8::2]:7701", "203.0.113.7:1",      "[2001:db8::1]:7701", "192.0.2.1:65535"};
    for (int i = 0; i < N_ADDR; i++)
        FZ_CHECK(rph_addr_parse(a[i], &addrs[i]) == 0);
    for (int i = 0; i < N_SESS; i++) {
        sessions[i].len = RPH_RELAY_SESSION_LEN;
        memset(sessions[i].id, 'a' + i, RPH_RELAY_SESSION_LEN);
    }
    for (int i = 0; i < N_COOKIE; i++)
        memset(cookies[i], 0x10 * (i + 1), RPH_COOKIE_LEN);
    return 0;
}

static bool live(const struct run *r, int s, int a)
{
    return r->m[s][a].used && r->now < r->m[s][a].expires;
}

static int addr_index(const struct rph_addr *x)
{
    for (int i = 0; i < N_ADDR; i++)
        if (rph_addr_equal(&addrs[i], x)) return i;
    return -1;
}

static int sess_index(const uint8_t *id)
{
    for (int i = 0; i < N_SESS; i++)
        if (memcmp(sessions[i].id, id, RPH_RELAY_SESSION_LEN) == 0) return i;
    return -1;
}

/* Forwards len bytes of buf (an exact-size copy, so ASan sees any overread) from addrs[from]. */
static void forward(struct run *r, const uint8_t *bytes, size_t len, int from)
{
    uint8_t *buf = malloc(len ? len : 1);
    FZ_CHECK(buf != NULL);
    memcpy(buf, bytes, len);
    struct rph_relay_msg in;
    bool decoded = rph_relay_decode(buf, len, &in) == 0;
    struct rph_addr to;
    int rc = relay_forward(r->t, buf, len, &addrs[from], r->now, &to);
    if (!decoded) FZ_CHECK(rc < 0);
    if (decoded && rc == RPH_E_UNKNOWN_PEER) {
        int s = sess_index(in.session.id);
        FZ_CHECK(s < 0 || !live(r, s, from) ||
                 memcmp(cookies[r->m[s][from].cookie], in.cookie, RPH_COOKIE_LEN) != 0);
    }
    if (rc == 0) {
        FZ_CHECK(decoded);
        int s = sess_index(in.session.id);
        FZ_CHECK(s >= 0 && live(r, s, from));
        FZ_CHECK(memcmp(cookies[r->m[s][from].cookie], in.cookie, RPH_COOKIE_LEN) == 0);
        int d = addr_index(&to);
        FZ_CHECK(d >= 0 && d != from && live(r, s, d));
        FZ_CHECK(rph_addr_equal(&to, &in.peer));
        struct rph_relay_msg out;
        FZ_CHECK(rph_relay_decode(buf, len, &out) == 0);
        FZ_CHECK(rph_addr_equal(&out.peer, &addrs[from]));
        FZ_CHECK(rph_session_equal(&out.session, &in.session));
        static const uint8_t zero[RPH_COOKIE_LEN];
        FZ_CHECK(memcmp(out.cookie, zero, RPH_COOKIE_LEN) == 0);
        FZ_CHECK(out.payload_len == in.payload_len);
        FZ_CHECK(memcmp(buf + RPH_RELAY_HEADER_LEN, bytes + RPH_RELAY_HEADER_LEN,
                        len - RPH_RELAY_HEADER_LEN) == 0);
    } else {
        FZ_CHECK(memcmp(buf, bytes, len) == 0); /* a dropped datagram is left as it was */
    }
    /* The peer side's unwrap never accepts what the decoder refuses. */
    struct rph_addr src;
    const uint8_t *pl;
    size_t pn;
    if (rph_relay_unwrap(buf, len, &in.session, &src, &pl, &pn) == 0) {
        FZ_CHECK(rph_relay_decode(buf, len, &in) == 0);
        FZ_CHECK(pl == buf + RPH_RELAY_HEADER_LEN && pn + RPH_RELAY_HEADER_LEN == len);
    }
    free(buf);
}

/* A well-formed RelayData from choices: session, cookie, destination, source, payload size,
 * and optionally one byte flipped. */
static void op_relay(struct run *r, struct fz *f)
{
    uint8_t sel = fz_u8(f), sel2 = fz_u8(f);
    size_t n = RPH_RELAY_PAYLOAD_MIN + fz_u8(f);
    static uint8_t buf[RPH_RELAY_HEADER_LEN + 300];
    struct rph_relay_msg m = {.session = sessions[sel & 3], .peer = addrs[(sel >> 2) & 7]};
    memcpy(m.cookie, cookies[(sel >> 5) & 3], RPH_COOKIE_LEN);
    memset(buf + RPH_RELAY_HEADER_LEN, sel2, n);
    FZ_CHECK(rph_relay_put_header(&m, buf, n) == (int)(RPH_RELAY_HEADER_LEN + n));
    if (sel2 & 0x80) buf[fz_u8(f) % (RPH_RELAY_HEADER_LEN + n)] ^= (uint8_t)(1 + (sel2 & 7));
    forward(r, buf, RPH_RELAY_HEADER_LEN + n, sel2 & 7);
}

static void op_member(struct run *r, struct fz *f)
{
    uint8_t sel = fz_u8(f);
    int s = sel & 3, a = (sel >> 2) & 7, c = (sel >> 5) & 3;
    int rc = relay_member_add(r->t, &sessions[s], &addrs[a], cookies[c], r->now);
    FZ_CHECK(rc == 0 || rc == RPH_E_FULL);
    if (rc == 0) r->m[s][a] = (struct shadow){true, (uint8_t)c, r->now + TTL};
}

static void configure(struct run *r, uint8_t b, bool first)
{
    struct relay_config c = {.enabled = !(b & 1),
                             .max_sessions = 1 + ((b >> 1) & 3),
                             .max_kbps = b & 8 ? 1 + (b >> 4) : 0,
                             .ttl_ms = TTL,
                             .max_members = b & 0x80 ? 5 : 64};
    if (first) {
        r->t = relay_table_new(&c);
        FZ_CHECK(r->t != NULL);
    } else {
        FZ_CHECK(relay_table_reconfigure(r->t, &c) == 0);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fz f = {data, size};
    struct run *r = calloc(1, sizeof *r);
    FZ_CHECK(r != NULL);
    r->now = 1000000;
    configure(r, fz_u8(&f), true);
    for (int ops = 0; ops < MAX_OPS && !fz_done(&f); ops++) {
        uint8_t op = fz_u8(&f);
        switch (op & 7) {
        case 0:
        case 1:
            op_member(r, &f);
            break;
        case 2:
        case 3:
            op_relay(r, &f);
            break;
        case 4: {
            const uint8_t *b;
            size_t n = fz_bytes(&f, fz_u16(&f) & 0x1ff, &b);
            forward(r, b, n, (op >> 3) & 7);
            break;
        }
        case 5: {
            uint8_t b = fz_u8(&f);
            r->now += b & 0x80 ? (uint64_t)(b & 0x7f) * 100 : b;
            relay_expire(r->t, r->now, 1 + fz_u8(&f), NULL, NULL);
            break;
        }
        case 6:
            configure(r, fz_u8(&f), false);
            break;
        default: {
            /* Membership as the table reports it is the shadow's. */
            for (int s = 0; s < N_SESS; s++)
                for (int a = 0; a < N_ADDR; a++)
                    FZ_CHECK(relay_is_member(r->t, &sessions[s], &addrs[a], r->now) ==
                             live(r, s, a));
            break;
        }
        }
        FZ_CHECK(relay_session_count(r->t) <= 4);
    }
    relay_table_free(r->t);
    free(r);
    return 0;
}
