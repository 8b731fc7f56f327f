// SPDX-License-Identifier: MIT
// The wire codec against the Rust crate's byte samples, and every malformed case.
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "ruphin/error.h"
#include "ruphin/wire.h"

static size_t unhex(const char *h, uint8_t *out, size_t cap)
{
    size_t n = 0;
    while (h[0] && h[1] && n < cap) {
        unsigned v;
        cr_assert_eq(sscanf(h, "%2x", &v), 1);
        out[n++] = (uint8_t)v;
        h += 2;
    }
    return n;
}

Test(wire, vectors_round_trip_byte_for_byte)
{
    FILE *f = fopen(RUPHIN_SOURCE_DIR "/tests/vectors/ruphin-v1.txt", "r");
    cr_assert_not_null(f, "tests/vectors/ruphin-v1.txt missing");
    char line[512];
    int valid = 0, invalid = 0;
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '#' || line[0] == '\n') continue;
        char *name = strtok(line, "\t");
        char *hex = strtok(NULL, "\t");
        cr_assert_not_null(hex);
        uint8_t buf[256], enc[256];
        size_t n = unhex(hex, buf, sizeof buf);
        struct rph_msg m;
        int r = rph_wire_decode(buf, n, &m);
        if (strcmp(name, "Invalid") == 0) {
            cr_assert_eq(r, RPH_E_LENGTH, "vector %s: got %d", hex, r);
            invalid++;
            continue;
        }
        cr_assert_eq(r, 0, "vector %s %s: %s", name, hex, rph_strerror(r));
        cr_assert_str_eq(rph_type_name(m.type), name);
        int e = rph_wire_encode(&m, enc, sizeof enc);
        cr_assert_eq(e, (int)n, "vector %s: encoded %d bytes, want %zu", hex, e, n);
        cr_assert_arr_eq(enc, buf, n, "vector %s re-encodes differently", hex);
        valid++;
    }
    fclose(f);
    cr_assert_eq(valid, 19);
    cr_assert_eq(invalid, 1);
}

Test(wire, decoded_fields_match_the_samples)
{
    uint8_t b[64];
    struct rph_msg m;
    size_t n = unhex("000e00026f66666963652d6c616e", b, sizeof b);
    cr_assert_eq(rph_wire_decode(b, n, &m), 0);
    cr_assert_eq(m.type, RPH_REGISTER);
    cr_assert_eq(m.session.len, 10);
    cr_assert_arr_eq(m.session.id, "office-lan", 10);

    n = unhex("000b000404cb007101cdde", b, sizeof b);
    cr_assert_eq(rph_wire_decode(b, n, &m), 0);
    char s[RPH_ADDR_STRLEN];
    cr_assert_str_eq(rph_addr_format(&m.peer, s, sizeof s), "203.0.113.1:52702");

    n = unhex("0017000406fd0000000000000000000000000000011e14", b, sizeof b);
    cr_assert_eq(rph_wire_decode(b, n, &m), 0);
    cr_assert_str_eq(rph_addr_format(&m.peer, s, sizeof s), "[fd00::1]:7700");

    n = unhex("000e00056563686f3a68656c6c6f", b, sizeof b);
    cr_assert_eq(rph_wire_decode(b, n, &m), 0);
    cr_assert_eq(m.data_len, 10);
    cr_assert_arr_eq(m.data, "echo:hello", 10);
}

Test(wire, malformed_inputs_get_distinct_errors)
{
    uint8_t b[80] = {0};
    struct rph_msg m;
    cr_assert_eq(rph_wire_decode(b, 0, &m), RPH_E_SHORT);
    cr_assert_eq(rph_wire_decode((const uint8_t *)"\x00\x04\x00", 3, &m), RPH_E_SHORT);
    /* length field larger and smaller than the datagram */
    cr_assert_eq(rph_wire_decode((const uint8_t *)"\x00\x05\x00\x08", 4, &m), RPH_E_LENGTH);
    cr_assert_eq(rph_wire_decode((const uint8_t *)"\x00\x04\x00\x02\x41", 5, &m), RPH_E_LENGTH);
    cr_assert_eq(rph_wire_decode((const uint8_t *)"\x00\x04\x00\x00", 4, &m), RPH_E_TYPE);
    /* 12 and 13, the retired home-made handshake, are unknown now */
    cr_assert_eq(rph_wire_decode((const uint8_t *)"\x00\x04\x00\x0c", 4, &m), RPH_E_TYPE);
    cr_assert_eq(rph_wire_decode((const uint8_t *)"\x00\x04\x00\x0d", 4, &m), RPH_E_TYPE);
    cr_assert_eq(rph_wire_decode((const uint8_t *)"\x00\x04\x00\x16", 4, &m),
                 RPH_E_TYPE); /* 22: past RegisterRefused */
    /* sealed-mode types have fixed sizes (a transport a minimum one) */
    static const uint8_t sealed[] = {
        RPH_SEALED_REGISTER,  RPH_SEALED_JOIN,    RPH_TRANSPORT,
        RPH_SEALED_PEER_INFO, RPH_HANDSHAKE_INIT, RPH_HANDSHAKE_RESP,
        RPH_HANDSHAKE_FINISH, RPH_COOKIE_REPLY,   RPH_REGISTER_REFUSED};
    for (size_t i = 0; i < sizeof sealed; i++) {
        uint8_t h[4] = {0, 4, 0, sealed[i]};
        cr_assert_eq(rph_wire_decode(h, 4, &m), RPH_E_SIZE, "type %u", sealed[i]);
    }
    cr_assert_eq(rph_wire_decode((const uint8_t *)"\x00\x04\xff\xff", 4, &m), RPH_E_TYPE);
    /* session of 21 bytes */
    memset(b, 'a', sizeof b);
    b[0] = 0;
    b[1] = 25;
    b[2] = 0;
    b[3] = RPH_JOIN;
    cr_assert_eq(rph_wire_decode(b, 25, &m), RPH_E_SESSION_LEN);
    b[1] = 24; /* 20 bytes: the limit is allowed */
    cr_assert_eq(rph_wire_decode(b, 24, &m), 0);
    /* PeerInfo: bad family, wrong sizes, empty */
    cr_assert_eq(
        rph_wire_decode((const uint8_t *)"\x00\x0b\x00\x04\x05\x7f\x00\x00\x01\x9e\xe6", 11, &m),
        RPH_E_FAMILY);
    cr_assert_eq(
        rph_wire_decode((const uint8_t *)"\x00\x0a\x00\x04\x04\x7f\x00\x00\x01\x9e", 10, &m),
        RPH_E_PEERINFO_SIZE);
    cr_assert_eq(
        rph_wire_decode((const uint8_t *)"\x00\x0b\x00\x04\x06\x7f\x00\x00\x01\x9e\xe6", 11, &m),
        RPH_E_PEERINFO_SIZE);
    cr_assert_eq(rph_wire_decode((const uint8_t *)"\x00\x04\x00\x04", 4, &m), RPH_E_PEERINFO_SIZE);
    /* bodies where none belong */
    cr_assert_eq(rph_wire_decode((const uint8_t *)"\x00\x05\x00\x08\x00", 5, &m), RPH_E_BODY);
    cr_assert_eq(rph_wire_decode((const uint8_t *)"\x00\x05\x00\x09\x00", 5, &m), RPH_E_BODY);
    cr_assert_eq(rph_wire_decode((const uint8_t *)"\x00\x05\x00\x01\x00", 5, &m), RPH_E_BODY);
}

Test(wire, data_beyond_the_crates_1024_bytes_up_to_the_length_field)
{
    static uint8_t big[RPH_DATAGRAM_MAX + 8], payload[RPH_DATA_MAX + 1];
    memset(payload, 0x5a, sizeof payload);
    struct rph_msg m = {.type = RPH_DATA, .data = payload, .data_len = 1400};
    cr_assert_eq(rph_wire_encode(&m, big, sizeof big), 1404);
    struct rph_msg d;
    cr_assert_eq(rph_wire_decode(big, 1404, &d), 0);
    cr_assert_eq(d.data_len, 1400);
    m.data_len = RPH_DATA_MAX;
    cr_assert_eq(rph_wire_encode(&m, big, sizeof big), RPH_DATAGRAM_MAX);
    cr_assert_eq(rph_wire_decode(big, RPH_DATAGRAM_MAX, &d), 0);
    m.data_len = RPH_DATA_MAX + 1;
    cr_assert_eq(rph_wire_encode(&m, big, sizeof big), RPH_E_TOOBIG);
    /* A datagram longer than the length field can express never decodes. */
    cr_assert_eq(rph_wire_decode(big, RPH_DATAGRAM_MAX + 1, &d), RPH_E_LENGTH);
}

Test(wire, encode_checks_its_buffer_and_arguments)
{
    uint8_t b[8];
    struct rph_msg m = {.type = RPH_REGISTER};
    rph_session_set(&m.session, "office-lan", 10);
    cr_assert_eq(rph_wire_encode(&m, b, sizeof b), RPH_E_NOSPACE);
    m.type = RPH_PEER_INFO;
    m.peer.family = 5;
    cr_assert_eq(rph_wire_encode(&m, b, sizeof b), RPH_E_FAMILY);
    m.type = (enum rph_type)42;
    cr_assert_eq(rph_wire_encode(&m, b, sizeof b), RPH_E_TYPE);
    struct rph_session s;
    cr_assert_eq(rph_session_set(&s, "012345678901234567890", 21), RPH_E_SESSION_LEN);
}

Test(wire, put_data_header_frames_in_place)
{
    uint8_t b[16] = {0, 0, 0, 0, 'h', 'e', 'l', 'l', 'o'};
    cr_assert_eq(rph_wire_put_data_header(b, 5), 9);
    cr_assert_arr_eq(b, "\x00\x09\x00\x05hello", 9);
}

Test(addr, parse_and_format)
{
    struct rph_addr a;
    char s[RPH_ADDR_STRLEN];
    cr_assert_eq(rph_addr_parse("203.0.113.10:7700", &a), 0);
    cr_assert_str_eq(rph_addr_format(&a, s, sizeof s), "203.0.113.10:7700");
    cr_assert_eq(rph_addr_parse("[2001:db8::1]:53", &a), 0);
    cr_assert_str_eq(rph_addr_format(&a, s, sizeof s), "[2001:db8::1]:53");
    cr_assert_eq(rph_addr_parse("[::ffff:192.0.2.1]:9", &a), 0);
    cr_assert_eq(a.family, 4);
    cr_assert_eq(rph_addr_parse("203.0.113.10", &a), RPH_E_INVALID);
    cr_assert_eq(rph_addr_parse("203.0.113.10:70000", &a), RPH_E_INVALID);
    cr_assert_eq(rph_addr_parse("host:1", &a), RPH_E_INVALID);
    cr_assert_eq(rph_addr_parse("[::1:5", &a), RPH_E_INVALID);
}

Test(wire, hp_cookie_and_the_cookie_form_of_sealed_requests)
{
    struct rph_msg m = {.type = RPH_HP_COOKIE};
    for (int i = 0; i < RPH_COOKIE_ECHO_LEN; i++)
        m.hpc.echo[i] = (uint8_t)(0xe0 + i);
    for (int i = 0; i < RPH_COOKIE_LEN; i++)
        m.hpc.cookie[i] = (uint8_t)i;
    uint8_t buf[RPH_OWNER_COOKIE_LEN + 1];
    cr_assert_eq(rph_wire_encode(&m, buf, sizeof buf), RPH_HP_COOKIE_LEN);
    cr_assert_arr_eq(buf, "\x00\x1c\x00\x14\xe0\xe1\xe2\xe3\xe4\xe5\xe6\xe7\x00\x01", 14);
    struct rph_msg d;
    cr_assert_eq(rph_wire_decode(buf, RPH_HP_COOKIE_LEN, &d), 0);
    cr_assert_eq(d.type, RPH_HP_COOKIE);
    cr_assert_arr_eq(d.hpc.cookie, m.hpc.cookie, RPH_COOKIE_LEN);
    buf[1] = RPH_HP_COOKIE_LEN + 1;
    cr_assert_eq(rph_wire_decode(buf, RPH_HP_COOKIE_LEN + 1, &d), RPH_E_SIZE);
    cr_assert_str_eq(rph_type_name(RPH_HP_COOKIE), "HpCookie");

    /* SealedJoin: 108 bytes without a cookie, 124 with one after the signature. */
    struct rph_msg j = {.type = RPH_SEALED_JOIN, .owner = {.ts_ms = 7, .has_cookie = true}};
    memset(j.owner.cookie, 0xcc, RPH_COOKIE_LEN);
    cr_assert_eq(rph_wire_encode(&j, buf, sizeof buf), RPH_OWNER_COOKIE_LEN);
    cr_assert_eq(buf[1], 124);
    cr_assert_eq(buf[RPH_OWNER_LEN], 0xcc);
    cr_assert_eq(rph_wire_decode(buf, RPH_OWNER_COOKIE_LEN, &d), 0);
    cr_assert(d.owner.has_cookie);
    cr_assert_arr_eq(d.owner.cookie, j.owner.cookie, RPH_COOKIE_LEN);
    j.owner.has_cookie = false;
    cr_assert_eq(rph_wire_encode(&j, buf, sizeof buf), RPH_OWNER_LEN);
    cr_assert_eq(rph_wire_decode(buf, RPH_OWNER_LEN, &d), 0);
    cr_assert_not(d.owner.has_cookie);
    /* Any other size is refused (the timed forms, 2 bytes longer, below). */
    for (size_t n = RPH_OWNER_LEN + 1; n < RPH_OWNER_COOKIE_LEN + RPH_RTT_LEN + 2; n++) {
        if (n == RPH_OWNER_COOKIE_LEN || n == RPH_OWNER_LEN + RPH_RTT_LEN ||
            n == RPH_OWNER_COOKIE_LEN + RPH_RTT_LEN)
            continue;
        buf[0] = 0, buf[1] = (uint8_t)n;
        cr_assert_eq(rph_wire_decode(buf, n, &d), RPH_E_SIZE, "size %zu", n);
    }
}

Test(wire, sealed_register_with_a_node_id_and_its_sizes)
{
    /* 140 bytes with a node ID between ts and sig, 156 with a cookie after the signature. */
    struct rph_msg r = {.type = RPH_SEALED_REGISTER, .owner = {.ts_ms = 0x0102030405060708ull}};
    r.owner.has_node = true;
    memset(r.owner.pk, 0x11, 32);
    memset(r.owner.node, 0x33, RPH_NODE_ID_LEN);
    memset(r.owner.sig, 0x55, 64);
    memset(r.owner.cookie, 0xcc, RPH_COOKIE_LEN);
    uint8_t buf[RPH_OWNER_NODE_COOKIE_LEN + 8];
    cr_assert_eq(rph_wire_encode(&r, buf, sizeof buf), RPH_OWNER_NODE_LEN);
    cr_assert_eq(buf[1], 140);
    cr_assert_eq(buf[4 + 32 + 8], 0x33, "the node ID follows ts");
    cr_assert_eq(buf[4 + 32 + 8 + 32], 0x55, "the signature follows the node ID");
    struct rph_msg d;
    cr_assert_eq(rph_wire_decode(buf, RPH_OWNER_NODE_LEN, &d), 0);
    cr_assert(d.owner.has_node);
    cr_assert_not(d.owner.has_cookie);
    cr_assert_eq(d.owner.ts_ms, r.owner.ts_ms);
    cr_assert_arr_eq(d.owner.node, r.owner.node, RPH_NODE_ID_LEN);
    cr_assert_arr_eq(d.owner.sig, r.owner.sig, 64);
    r.owner.has_cookie = true;
    cr_assert_eq(rph_wire_encode(&r, buf, sizeof buf), RPH_OWNER_NODE_COOKIE_LEN);
    cr_assert_eq(buf[1], 156);
    cr_assert_eq(rph_wire_decode(buf, RPH_OWNER_NODE_COOKIE_LEN, &d), 0);
    cr_assert(d.owner.has_node && d.owner.has_cookie);
    cr_assert_arr_eq(d.owner.cookie, r.owner.cookie, RPH_COOKIE_LEN);
    cr_assert_arr_eq(d.owner.sig, r.owner.sig, 64);
    /* The old forms still decode, as an unknown node. */
    r.owner.has_node = false;
    cr_assert_eq(rph_wire_encode(&r, buf, sizeof buf), RPH_OWNER_COOKIE_LEN);
    cr_assert_eq(rph_wire_decode(buf, RPH_OWNER_COOKIE_LEN, &d), 0);
    cr_assert_not(d.owner.has_node);
    /* A SealedJoin has no node form: neither encoded nor decoded. */
    struct rph_msg j = {.type = RPH_SEALED_JOIN, .owner = {.has_node = true}};
    cr_assert_eq(rph_wire_encode(&j, buf, sizeof buf), RPH_E_INVALID);
    buf[0] = 0, buf[1] = RPH_OWNER_NODE_LEN, buf[3] = RPH_SEALED_JOIN;
    cr_assert_eq(rph_wire_decode(buf, RPH_OWNER_NODE_LEN, &d), RPH_E_SIZE);
    /* Every size from 108 to 160 but the four forms and their timed ones (2 bytes longer) is
     * refused for a Register. */
    buf[3] = RPH_SEALED_REGISTER;
    for (size_t n = RPH_OWNER_LEN; n <= RPH_OWNER_NODE_COOKIE_LEN + 4; n++) {
        buf[0] = 0, buf[1] = (uint8_t)n;
        size_t f = n >= RPH_OWNER_LEN + RPH_RTT_LEN ? n - RPH_RTT_LEN : 0;
        bool ok = n == RPH_OWNER_LEN || n == RPH_OWNER_COOKIE_LEN || n == RPH_OWNER_NODE_LEN ||
                  n == RPH_OWNER_NODE_COOKIE_LEN || f == RPH_OWNER_LEN ||
                  f == RPH_OWNER_COOKIE_LEN || f == RPH_OWNER_NODE_LEN ||
                  f == RPH_OWNER_NODE_COOKIE_LEN;
        cr_assert_eq(rph_wire_decode(buf, n, &d), ok ? 0 : RPH_E_SIZE, "size %zu", n);
    }
}

Test(wire, register_refused_round_trips_and_is_strict)
{
    struct rph_msg m = {.type = RPH_REGISTER_REFUSED,
                        .peer = {.family = 4, .ip = {198, 51, 100, 7}, .port = 40000}};
    m.session.len = RPH_SESSION_MAX;
    memset(m.session.id, 0x4d, RPH_SESSION_MAX);
    memset(m.hpc.echo, 0xe1, RPH_COOKIE_ECHO_LEN);
    uint8_t buf[RPH_REGISTER_REFUSED_LEN + 1];
    cr_assert_eq(rph_wire_encode(&m, buf, sizeof buf), RPH_REGISTER_REFUSED_LEN);
    cr_assert_eq(RPH_REGISTER_REFUSED_LEN, 51);
    cr_assert_eq(buf[1], 51);
    cr_assert_eq(buf[3], 21);
    struct rph_msg d;
    cr_assert_eq(rph_wire_decode(buf, RPH_REGISTER_REFUSED_LEN, &d), 0);
    cr_assert_eq(d.type, RPH_REGISTER_REFUSED);
    cr_assert(rph_session_equal(&d.session, &m.session));
    cr_assert_arr_eq(d.hpc.echo, m.hpc.echo, RPH_COOKIE_ECHO_LEN);
    cr_assert(rph_addr_equal(&d.peer, &m.peer));
    cr_assert_str_eq(rph_type_name(RPH_REGISTER_REFUSED), "RegisterRefused");
    /* An IPv4 holder's unused address bytes must be zero; a family must be 4 or 6. */
    buf[4 + 20 + 8 + 1 + 4] = 1;
    cr_assert_eq(rph_wire_decode(buf, RPH_REGISTER_REFUSED_LEN, &d), RPH_E_SIZE);
    buf[4 + 20 + 8 + 1 + 4] = 0;
    buf[4 + 20 + 8] = 5;
    cr_assert_eq(rph_wire_decode(buf, RPH_REGISTER_REFUSED_LEN, &d), RPH_E_FAMILY);
    buf[1] = RPH_REGISTER_REFUSED_LEN + 1;
    cr_assert_eq(rph_wire_decode(buf, RPH_REGISTER_REFUSED_LEN + 1, &d), RPH_E_SIZE);
    /* IPv6 holder */
    m.peer = (struct rph_addr){.family = 6, .ip = {0x20, 0x01, 0x0d, 0xb8, [15] = 7}, .port = 1};
    cr_assert_eq(rph_wire_encode(&m, buf, sizeof buf), RPH_REGISTER_REFUSED_LEN);
    cr_assert_eq(rph_wire_decode(buf, RPH_REGISTER_REFUSED_LEN, &d), 0);
    cr_assert(rph_addr_equal(&d.peer, &m.peer));
    /* Only a sealed session ID (20 bytes) can be refused. */
    m.session.len = 5;
    cr_assert_eq(rph_wire_encode(&m, buf, sizeof buf), RPH_E_SESSION_LEN);
}

Test(wire, the_timed_forms_carry_a_round_trip_last)
{
    uint8_t buf[RPH_HP_TX_MAX + 64];
    struct rph_msg d;
    /* A timed SealedJoin with its cookie: 126 bytes, the round trip in the last two. */
    struct rph_msg j = {.type = RPH_SEALED_JOIN, .has_rtt = true, .rtt_ms = 0x1234};
    j.owner.has_cookie = true;
    memset(j.owner.cookie, 0xcc, RPH_COOKIE_LEN);
    cr_assert_eq(rph_wire_encode(&j, buf, sizeof buf), RPH_OWNER_COOKIE_LEN + 2);
    cr_assert_eq(buf[1], 126);
    cr_assert_eq(buf[124], 0x12);
    cr_assert_eq(buf[125], 0x34);
    cr_assert_eq(buf[123], 0xcc, "the cookie stays before the round trip");
    cr_assert_eq(rph_wire_decode(buf, 126, &d), 0);
    cr_assert(d.has_rtt && d.owner.has_cookie);
    cr_assert_eq(d.rtt_ms, 0x1234);
    /* The plain form decodes without one. */
    j.has_rtt = false;
    cr_assert_eq(rph_wire_encode(&j, buf, sizeof buf), RPH_OWNER_COOKIE_LEN);
    cr_assert_eq(rph_wire_decode(buf, RPH_OWNER_COOKIE_LEN, &d), 0);
    cr_assert_not(d.has_rtt);
    /* A timed node Register without a cookie: 142 bytes. */
    struct rph_msg r = {.type = RPH_SEALED_REGISTER, .has_rtt = true, .rtt_ms = 80};
    r.owner.has_node = true;
    cr_assert_eq(rph_wire_encode(&r, buf, sizeof buf), RPH_OWNER_NODE_LEN + 2);
    cr_assert_eq(rph_wire_decode(buf, RPH_OWNER_NODE_LEN + 2, &d), 0);
    cr_assert(d.has_rtt && d.owner.has_node && !d.owner.has_cookie);
    cr_assert_eq(d.rtt_ms, 80);
    /* SealedPeerInfo: 119 bytes, or 121 with the client's round trip. */
    uint8_t join[RPH_OWNER_LEN] = {0};
    struct rph_msg s = {.type = RPH_SEALED_PEER_INFO,
                        .peer = {.family = 4, .ip = {192, 0, 2, 7}, .port = 4000},
                        .data = join,
                        .data_len = sizeof join,
                        .has_rtt = true,
                        .rtt_ms = 10};
    cr_assert_eq(rph_wire_encode(&s, buf, sizeof buf), 121);
    cr_assert_eq(buf[119], 0);
    cr_assert_eq(buf[120], 10);
    cr_assert_eq(rph_wire_decode(buf, 121, &d), 0);
    cr_assert(d.has_rtt);
    cr_assert_eq(d.rtt_ms, 10);
    cr_assert_eq(d.data_len, RPH_OWNER_LEN);
    buf[1] = 120;
    cr_assert_eq(rph_wire_decode(buf, 120, &d), RPH_E_SIZE);
    /* TimedPeerInfo (23): PeerInfo's body and the server's round trip; 13 or 25 bytes. */
    struct rph_msg t = {.type = RPH_TIMED_PEER_INFO,
                        .peer = {.family = 6, .ip = {0x20, 0x01, 0x0d, 0xb8}, .port = 443},
                        .rtt_ms = 300};
    cr_assert_eq(rph_wire_encode(&t, buf, sizeof buf), 25);
    const uint8_t head[] = {0, 25, 0, 23, 6, 0x20, 0x01, 0x0d, 0xb8};
    cr_assert_arr_eq(buf, head, sizeof head);
    cr_assert_eq(buf[23], 1);
    cr_assert_eq(buf[24], 44);
    cr_assert_eq(rph_wire_decode(buf, 25, &d), 0);
    cr_assert_eq(d.type, RPH_TIMED_PEER_INFO);
    cr_assert_eq(d.rtt_ms, 300);
    cr_assert_eq(d.peer.port, 443);
    buf[1] = 24;
    cr_assert_neq(rph_wire_decode(buf, 24, &d), 0, "a short TimedPeerInfo");
    cr_assert_str_eq(rph_type_name(RPH_TIMED_PEER_INFO), "TimedPeerInfo");
}
