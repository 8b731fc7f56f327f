// SPDX-License-Identifier: MIT
// The mapped candidate (tag 0x08): its bytes, every malformed form with its reason, and what the
// core keeps (one usable mapped candidate per remote, replaced and cleared by new messages,
// naming the path "direct-mapped" once the remote talks from it).
#include <criterion/criterion.h>
#include <string.h>

#include "../src/core/candidates.h"
#include "../src/tun/mapcand.h"
#include "ruphin/error.h"

static struct rph_addr v4(uint8_t a, uint8_t b, uint8_t c, uint8_t d, uint16_t port)
{
    struct rph_addr x = {.family = 4, .port = port};
    x.ip[0] = a, x.ip[1] = b, x.ip[2] = c, x.ip[3] = d;
    return x;
}

Test(mapcand, bytes_of_an_endpoint_and_of_none)
{
    uint8_t b[MAPCAND_LEN];
    struct rph_addr a = v4(203, 0, 113, 2, 40000);
    cr_assert_eq(mapcand_encode(&a, b), 9);
    const uint8_t want[] = {0x08, 0x01, 0x01, 203, 0, 113, 2, 0x9c, 0x40};
    cr_assert_arr_eq(b, want, 9);
    bool has = false;
    struct rph_addr out;
    const char *why = NULL;
    cr_assert_eq(mapcand_decode(b, 9, &has, &out, &why), 0);
    cr_assert(has && rph_addr_equal(&out, &a));
    const uint8_t none[] = {0x08, 0x01, 0x00, 0, 0, 0, 0, 0, 0};
    cr_assert_eq(mapcand_encode(NULL, b), 9);
    cr_assert_arr_eq(b, none, 9);
    cr_assert_eq(mapcand_decode(none, 9, &has, &out, &why), 0);
    cr_assert_not(has);
}

Test(mapcand, malformed_ones_name_the_reason)
{
    static const struct {
        uint8_t b[10];
        size_t len;
        const char *why;
    } bad[] = {
        {{0x08, 0x01, 0x01, 1, 2, 3, 4, 0, 1}, 8, "not 9 bytes long"},
        {{0x08, 0x01, 0x01, 1, 2, 3, 4, 0, 1, 0}, 10, "not 9 bytes long"},
        {{0x08, 0x02, 0x01, 1, 2, 3, 4, 0, 1}, 9, "unknown version"},
        {{0x08, 0x01, 0x03, 1, 2, 3, 4, 0, 1}, 9, "unknown flags"},
        {{0x08, 0x01, 0x00, 1, 2, 3, 4, 0, 1}, 9, "an endpoint without the flag"},
        {{0x08, 0x01, 0x01, 1, 2, 3, 4, 0, 0}, 9, "port 0"},
        {{0x07, 0x01, 0x01, 1, 2, 3, 4, 0, 1}, 9, "another tag"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        bool has;
        struct rph_addr out;
        const char *why = NULL;
        cr_assert_eq(mapcand_decode(bad[i].b, bad[i].len, &has, &out, &why), -1, "case %zu", i);
        cr_assert_str_eq(why, bad[i].why, "case %zu", i);
    }
}

Test(mapcand, the_core_keeps_one_usable_mapped_candidate)
{
    struct rph_remote r;
    memset(&r, 0, sizeof r);
    r.in_use = true;
    r.addr = r.relay_addr = v4(203, 0, 113, 2, 5555); /* its symmetric NAT's port for hp */
    r.has_relay_addr = true;
    r.relayed = true;
    struct rph_addr m = v4(203, 0, 113, 2, 40000), m2 = v4(203, 0, 113, 2, 40001);
    cr_assert_eq(cand_set_mapped(&r, &m, 1000), 1);
    cr_assert_eq(r.n_cand, 1);
    cr_assert_eq(r.cand[0].kind, RPH_CAND_MAPPED);
    cr_assert(cand_wanted(&r, &r.cand[0]), "a relayed remote's mapping is probed");
    cr_assert_eq(cand_due(&r, 1000), &r.cand[0]);
    cand_probed(&r.cand[0], 1000, 400);
    /* The same again keeps its probe count; another replaces it. */
    cr_assert_eq(cand_set_mapped(&r, &m, 2000), 0);
    cr_assert_eq(r.cand[0].probes_sent, 1);
    cr_assert_eq(cand_set_mapped(&r, &m2, 3000), 1);
    cr_assert_eq(r.n_cand, 1);
    cr_assert(rph_addr_equal(&r.cand[0].addr, &m2));
    cr_assert_eq(r.cand[0].probes_sent, 0);
    /* Not usable: loopback, multicast, IPv6. */
    struct rph_addr lo = v4(127, 0, 0, 1, 1), mc = v4(224, 0, 0, 1, 1),
                    six = {.family = 6, .port = 1};
    six.ip[0] = 0x20;
    cr_assert_eq(cand_set_mapped(&r, &lo, 4000), RPH_E_INVALID);
    cr_assert_eq(cand_set_mapped(&r, &mc, 4000), RPH_E_INVALID);
    cr_assert_eq(cand_set_mapped(&r, &six, 4000), RPH_E_INVALID);
    cr_assert_eq(r.n_cand, 1, "a refused one leaves the old one");
    /* The remote talks from its mapping: the path is direct-mapped, and the candidate needs no
     * more probes there. */
    r.relayed = false;
    r.direct_ok = true;
    r.addr = m2;
    cr_assert_eq(rph_remote_path_kind(&r), RPH_PATHK_MAPPED);
    cr_assert_str_eq(rph_path_kind_name(RPH_PATHK_MAPPED), "direct-mapped");
    cr_assert_not(cand_wanted(&r, &r.cand[0]));
    /* "None any more" clears it. */
    cr_assert_eq(cand_set_mapped(&r, NULL, 5000), 0);
    cr_assert_eq(r.n_cand, 0);
    cr_assert_eq(rph_remote_path_kind(&r), RPH_PATHK_DIRECT4);
}
