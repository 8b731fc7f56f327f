// SPDX-License-Identifier: MIT
// Names and automatic addresses: the name label rules, the name (0x05) and assignment (0x04)
// codecs and the verdict's holder name, the allocator and its file (src/tun/name.c,
// announce.c, addrpool.c).
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../src/tun/addrpool.h"
#include "../src/tun/announce.h"
#include "../src/tun/name.h"

Test(names, labels)
{
    const char *good[] = {"a",   "laptop",
                          "a-b", "x1",
                          "0",   "abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghij123"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        cr_assert(name_valid(good[i], strlen(good[i])), "%s refused", good[i]);
    const char *bad[] = {
        "",       "-a",  "a-",
        "Laptop", "a_b", "a.b",
        "a b",    "é",   "abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghij1234"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_assert(!name_valid(bad[i], strlen(bad[i])), "\"%s\" accepted", bad[i]);
    char out[64];
    cr_assert_eq(name_from_host("Laptop.example.org", out), 0);
    cr_assert_str_eq(out, "laptop");
    cr_assert_eq(name_from_host("my_box", out), 0);
    cr_assert_str_eq(out, "my-box");
    cr_assert_eq(name_from_host("_A__b_.lan", out), 0);
    cr_assert_str_eq(out, "a-b");
    cr_assert_eq(name_from_host("___", out), -1);
    cr_assert_eq(name_from_host("", out), -1);
}

Test(names, suffixes)
{
    char out[64];
    name_suffixed("laptop", 2, out);
    cr_assert_str_eq(out, "laptop-2");
    char long63[64];
    memset(long63, 'a', 63);
    long63[63] = 0;
    name_suffixed(long63, 12, out);
    cr_assert_eq(strlen(out), 63);
    cr_assert(name_valid(out, strlen(out)));
    cr_assert_str_eq(out + 60, "-12");
    cr_assert(name_grants("laptop", "laptop"));
    cr_assert(name_grants("laptop-3", "laptop"));
    cr_assert(!name_grants("laptop-3", "desk"));
    cr_assert(!name_grants("laptopx", "laptop"));
}

static bool taken_two(void *ctx, const char *name)
{
    (void)ctx;
    return strcmp(name, "laptop") == 0 || strcmp(name, "laptop-2") == 0;
}

static bool taken_all(void *ctx, const char *name)
{
    (void)ctx;
    (void)name;
    return true;
}

Test(names, unique)
{
    char out[64];
    cr_assert_eq(name_unique("desk", taken_two, NULL, out), 0);
    cr_assert_str_eq(out, "desk");
    cr_assert_eq(name_unique("laptop", taken_two, NULL, out), 0);
    cr_assert_str_eq(out, "laptop-3");
    cr_assert_eq(name_unique("laptop", taken_all, NULL, out), -1);
}

Test(names, name_message_bytes_and_round_trip)
{
    struct name_msg m = {.flags = NAME_WANT_ADDRESS, .name = "laptop"}, d;
    uint8_t b[NAME_MAX_LEN];
    size_t n = name_msg_encode(&m, b);
    const uint8_t want[] = {0x05, 0x01, 0x01, 6, 'l', 'a', 'p', 't', 'o', 'p'};
    cr_assert_eq(n, sizeof want);
    cr_assert_eq(memcmp(b, want, n), 0, "the bytes differ from docs/PROTOCOL.md");
    cr_assert_eq(name_msg_decode(b, n, &d), 0);
    cr_assert_eq(d.flags, NAME_WANT_ADDRESS);
    cr_assert_str_eq(d.name, "laptop");
}

Test(names, name_message_malformations)
{
    struct name_msg m = {.flags = 0, .name = "desk"}, d;
    uint8_t b[NAME_MAX_LEN + 1], c[NAME_MAX_LEN];
    size_t n = name_msg_encode(&m, c);
    memcpy(b, c, n);
    cr_assert_eq(name_msg_decode(b, n - 1, &d), -1, "short accepted");
    b[n] = 'x';
    cr_assert_eq(name_msg_decode(b, n + 1, &d), -1, "a length byte that is not the rest accepted");
    cr_assert_eq(name_msg_decode(b, 0, &d), -1);
    cr_assert_eq(name_msg_decode(b, 4, &d), -1, "no name accepted");
    struct {
        size_t at;
        uint8_t v;
        const char *what;
    } bad[] = {{0, 0x01, "another tag"},   {1, 0, "version 0"},       {1, 2, "version 2"},
               {2, 3, "both flags"},       {2, 4, "an unknown flag"}, {3, 0, "length 0"},
               {3, 3, "a shorter length"}, {4, 'D', "upper case"},    {4, '-', "a leading -"},
               {7, '-', "a trailing -"},   {5, '.', "a dot"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        memcpy(b, c, n);
        b[bad[i].at] = bad[i].v;
        cr_assert_eq(name_msg_decode(b, n, &d), -1, "%s accepted", bad[i].what);
    }
    /* Whatever decodes re-encodes to the same bytes. */
    for (size_t at = 0; at < n; at++)
        for (unsigned v = 0; v < 256; v++) {
            memcpy(b, c, n);
            b[at] = (uint8_t)v;
            if (name_msg_decode(b, n, &d) < 0) continue;
            uint8_t o[NAME_MAX_LEN];
            cr_assert_eq(name_msg_encode(&d, o), n);
            cr_assert_eq(memcmp(o, b, n), 0, "byte %zu = %u decodes non-canonically", at, v);
        }
}

static const struct announce asg = {.has4 = true,
                                    .prefix4 = 24,
                                    .addr4 = {10, 77, 0, 3},
                                    .has6 = true,
                                    .prefix6 = 64,
                                    .addr6 = {0xfd, 0x77, [15] = 3}};

Test(names, assignment_bytes_and_malformations)
{
    uint8_t b[ASSIGN_LEN], c[ASSIGN_LEN];
    struct announce d;
    cr_assert_eq(assign_encode(&asg, c), ASSIGN_LEN);
    const uint8_t want[9] = {0x04, 0x01, 0x03, 24, 10, 77, 0, 3, 64};
    cr_assert_eq(memcmp(c, want, sizeof want), 0, "the bytes differ from docs/PROTOCOL.md");
    cr_assert_eq(assign_decode(c, ASSIGN_LEN, &d), 0);
    cr_assert_eq(memcmp(&d, &asg, sizeof d), 0);
    cr_assert_eq(assign_decode(c, ASSIGN_LEN - 1, &d), -1);
    struct {
        size_t at;
        uint8_t v;
        const char *what;
    } bad[] = {{0, 0x01, "the announcement's tag"},
               {1, 2, "version 2"},
               {2, 2, "no IPv4"},
               {2, 0, "no address"},
               {2, 7, "an unknown flag"},
               {3, 0, "IPv4 prefix 0"},
               {3, 33, "IPv4 prefix 33"},
               {8, 0, "IPv6 prefix 0"},
               {8, 129, "IPv6 prefix 129"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        memcpy(b, c, ASSIGN_LEN);
        b[bad[i].at] = bad[i].v;
        cr_assert_eq(assign_decode(b, ASSIGN_LEN, &d), -1, "%s accepted", bad[i].what);
    }
    struct announce only4 = asg;
    only4.has6 = false;
    memset(only4.addr6, 0, 16);
    only4.prefix6 = 0;
    assign_encode(&only4, b);
    cr_assert_eq(assign_decode(b, ASSIGN_LEN, &d), 0);
    b[20] = 1;
    cr_assert_eq(assign_decode(b, ASSIGN_LEN, &d), -1, "bytes of an absent IPv6 accepted");
}

Test(names, verdict_names_the_holder)
{
    struct verdict v = {.reason = VERDICT_ASSIGNED,
                        .family = 4,
                        .prefix = 24,
                        .addr = {10, 77, 0, 3},
                        .holder = "desk"},
                   d;
    uint8_t b[VERDICT_MAX_LEN + 1];
    size_t n = verdict_encode(&v, b);
    cr_assert_eq(n, VERDICT_LEN + 1 + 4);
    cr_assert_eq(b[VERDICT_LEN], 4);
    cr_assert_eq(verdict_decode(b, n, &d), 0);
    cr_assert_eq(memcmp(&d, &v, sizeof d), 0);
    cr_assert_str_eq(verdict_reason_str(VERDICT_ASSIGNED), "assigned to another member");
    cr_assert_eq(verdict_decode(b, n - 1, &d), -1, "a cut name accepted");
    b[n] = 'x';
    cr_assert_eq(verdict_decode(b, n + 1, &d), -1, "a byte after the name accepted");
    b[VERDICT_LEN + 1] = 'D';
    cr_assert_eq(verdict_decode(b, n, &d), -1, "an invalid name accepted");
    b[VERDICT_LEN + 1] = 'd';
    b[VERDICT_LEN] = 0;
    cr_assert_eq(verdict_decode(b, VERDICT_LEN + 1, &d), -1, "an empty name accepted");
}

/* ---- the allocator */

static const struct announce server = {.has4 = true,
                                       .prefix4 = 24,
                                       .addr4 = {10, 77, 0, 1},
                                       .has6 = true,
                                       .prefix6 = 64,
                                       .addr6 = {0xfd, 0x77, [15] = 1}};

static uint8_t busy4[4];
static bool busy_one(void *ctx, int fam, const uint8_t *a)
{
    (void)ctx;
    return fam == 4 && memcmp(a, busy4, 4) == 0;
}
static bool busy_none(void *ctx, int fam, const uint8_t *a)
{
    (void)ctx;
    (void)fam;
    (void)a;
    return false;
}

static void key(uint8_t pk[32], int i)
{
    memset(pk, 0, 32);
    pk[0] = (uint8_t)i;
    pk[1] = (uint8_t)(i >> 8);
    pk[31] = 0x42;
}

Test(pool, stable_per_key_and_distinct)
{
    struct addrpool p;
    struct errmsg err;
    pool_init(&p, &server);
    uint8_t k[32];
    key(k, 1);
    struct pool_entry *a = pool_entry(&p, k, &err);
    cr_assert_eq(pool_assign(&p, a, busy_none, NULL, &err), 1);
    const uint8_t want4[4] = {10, 77, 0, 2};
    cr_assert_eq(memcmp(a->addr4, want4, 4), 0, "not the lowest free address");
    cr_assert(a->has6);
    cr_assert_eq(a->addr6[15], 2, "IPv6 does not follow the IPv4 host number");
    uint8_t first[4];
    memcpy(first, a->addr4, 4);
    cr_assert_eq(pool_assign(&p, a, busy_none, NULL, &err), 0, "reassigned");
    cr_assert_eq(memcmp(pool_find(&p, k)->addr4, first, 4), 0);
    /* Ten more keys: all distinct, none the server's, the network's or the first one's. */
    for (int i = 2; i < 12; i++) {
        key(k, i);
        struct pool_entry *e = pool_entry(&p, k, &err);
        cr_assert_eq(pool_assign(&p, e, busy_none, NULL, &err), 1);
        cr_assert(e->addr4[3] != 0 && e->addr4[3] != 1 && e->addr4[3] != 255);
        for (size_t j = 0; j + 1 < p.n; j++)
            cr_assert(memcmp(p.e[j].addr4, e->addr4, 4) || &p.e[j] == e, "collision");
        cr_assert_eq(pool_holder(&p, 4, e->addr4), e);
    }
    /* An address a live member uses (a fixed one) is skipped. */
    key(k, 99);
    struct pool_entry *e = pool_entry(&p, k, &err);
    memcpy(busy4, (uint8_t[]){10, 77, 0, 13}, 4);
    cr_assert_eq(pool_assign(&p, e, busy_one, NULL, &err), 1);
    cr_assert_eq(e->addr4[3], 14, "took the busy 10.77.0.13");
    pool_free(&p);
}

Test(pool, a_small_prefix_runs_out_with_a_clear_error)
{
    struct announce s29 = {.has4 = true, .prefix4 = 29, .addr4 = {10, 9, 0, 1}};
    struct addrpool p;
    struct errmsg err;
    pool_init(&p, &s29);
    uint8_t k[32];
    /* 10.9.0.0/29: hosts .1-.6, .1 the server's: five to give. */
    for (int i = 0; i < 5; i++) {
        key(k, i);
        struct pool_entry *e = pool_entry(&p, k, &err);
        cr_assert_eq(pool_assign(&p, e, busy_none, NULL, &err), 1, "%d: %s", i, err.msg);
        cr_assert(e->addr4[3] >= 2 && e->addr4[3] <= 6);
        cr_assert(!e->has6);
    }
    key(k, 5);
    struct pool_entry *e = pool_entry(&p, k, &err);
    cr_assert_eq(pool_assign(&p, e, busy_none, NULL, &err), -ENOSPC);
    cr_assert(strstr(err.msg, "no free IPv4 address left") && strstr(err.msg, "10.9.0.1/29"), "%s",
              err.msg);
    pool_free(&p);
}

Test(pool, an_address_outside_a_changed_prefix_is_reassigned)
{
    struct addrpool p;
    struct errmsg err;
    pool_init(&p, &server);
    uint8_t k[32];
    key(k, 1);
    struct pool_entry *e = pool_entry(&p, k, &err);
    e->has4 = true;
    memcpy(e->addr4, (uint8_t[]){10, 66, 0, 5}, 4);
    cr_assert_eq(pool_assign(&p, e, busy_none, NULL, &err), 1);
    cr_assert_eq(e->addr4[1], 77);
    pool_free(&p);
}

static void filled(struct addrpool *p)
{
    struct errmsg err;
    pool_init(p, &server);
    const char *names[] = {"laptop", "desk", ""};
    for (int i = 0; i < 3; i++) {
        uint8_t k[32];
        key(k, i + 1);
        struct pool_entry *e = pool_entry(p, k, &err);
        snprintf(e->name, sizeof e->name, "%s", names[i]);
        if (i < 2) pool_assign(p, e, busy_none, NULL, &err); /* the third: a fixed address */
    }
}

Test(pool, file_round_trip)
{
    struct addrpool p, q;
    struct errmsg err;
    filled(&p);
    char *text = pool_format(&p);
    cr_assert(strncmp(text, "ruphin-members 1\n", 17) == 0, "%s", text);
    pool_init(&q, &server);
    cr_assert_eq(pool_parse(&q, text, &err), 0, "%s", err.msg);
    cr_assert_eq(q.n, p.n);
    cr_assert_eq(memcmp(q.e, p.e, p.n * sizeof *p.e), 0, "the table changed on the way");
    free(text);
    pool_free(&p);
    pool_free(&q);
}

Test(pool, every_corruption_is_an_error_naming_the_line)
{
    struct addrpool p, q;
    struct errmsg err;
    filled(&p);
    char *text = pool_format(&p);
    char k1[64];
    sscanf(strchr(strchr(text, '\n') + 1, '\n') + 1, "%63s", k1);
    struct {
        const char *text, *want;
    } bad[] = {
        {"", "empty"},
        {"ruphin-members 2\n", "line 1"},
        {"ruphin-members 1\nAAAA laptop 10.77.0.2 -\n", "not a node key"},
        {"ruphin-members 1\nKEY Laptop 10.77.0.2 -\n", "not a valid name"},
        {"ruphin-members 1\nKEY laptop 10.77.0.300 -\n", "not an IPv4 address"},
        {"ruphin-members 1\nKEY laptop 10.77.0.2 fd77::x\n", "not an IPv6 address"},
        {"ruphin-members 1\nKEY laptop 10.77.0.2\n", "3 fields"},
        {"ruphin-members 1\nKEY laptop 10.77.0.2 - x\n", "5 fields"},
        {"ruphin-members 1\nKEY laptop 10.77.0.2 -", "cut short"},
        {"ruphin-members 1\nKEY laptop 10.77.0.2 -\nKEY desk 10.77.0.3 -\n", "node key of an"},
        {"ruphin-members 1\nKEY laptop 10.77.0.2 -\nKEY2 laptop 10.77.0.3 -\n", "name of an"},
        {"ruphin-members 1\nKEY laptop 10.77.0.2 -\nKEY2 desk 10.77.0.2 -\n", "IPv4 address of an"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        /* KEY, KEY2: two valid node keys. */
        char t[512], k2[64];
        snprintf(k2, sizeof k2, "%s", k1);
        k2[0] = k2[0] == 'B' ? 'C' : 'B';
        size_t o = 0;
        for (const char *s = bad[i].text; *s && o < sizeof t - 64;) {
            if (strncmp(s, "KEY2", 4) == 0)
                o += (size_t)snprintf(t + o, sizeof t - o, "%s", k2), s += 4;
            else if (strncmp(s, "KEY", 3) == 0)
                o += (size_t)snprintf(t + o, sizeof t - o, "%s", k1), s += 3;
            else
                t[o++] = *s++;
        }
        t[o] = 0;
        pool_init(&q, &server);
        err.msg[0] = 0;
        cr_assert_eq(pool_parse(&q, t, &err), -EINVAL, "case %zu accepted: %s", i, t);
        cr_assert(strstr(err.msg, bad[i].want), "case %zu: \"%s\" lacks \"%s\"", i, err.msg,
                  bad[i].want);
        cr_assert_eq(q.n, 0, "a corrupt file left entries");
        pool_free(&q);
    }
    free(text);
    pool_free(&p);
}

static char *tmpdir(void)
{
    char *d = strdup("/tmp/test_names.XXXXXX");
    cr_assert(mkdtemp(d));
    return d;
}

Test(pool, saved_atomically_and_loaded)
{
    char *dir = tmpdir(), path[512];
    snprintf(path, sizeof path, "%s/" ADDRPOOL_FILE, dir);
    struct addrpool p, q;
    struct errmsg err;
    pool_init(&q, &server);
    cr_assert_eq(pool_load(&q, dir, &err), 0, "a missing file is an empty table: %s", err.msg);
    cr_assert_eq(q.n, 0);
    filled(&p);
    cr_assert_eq(pool_save(&p, dir, &err), 0, "%s", err.msg);
    /* Keep the first version open: a save that rewrote the file in place would change it. */
    int old = open(path, O_RDONLY);
    char before[4096];
    ssize_t n1 = read(old, before, sizeof before);
    cr_assert_gt(n1, 0);
    uint8_t k[32];
    key(k, 7);
    struct pool_entry *e = pool_entry(&p, k, &err);
    snprintf(e->name, sizeof e->name, "new");
    pool_assign(&p, e, busy_none, NULL, &err);
    cr_assert_eq(pool_save(&p, dir, &err), 0, "%s", err.msg);
    char again[4096];
    cr_assert_eq(pread(old, again, sizeof again, 0), n1, "the old file was rewritten in place");
    cr_assert_eq(memcmp(before, again, (size_t)n1), 0);
    close(old);
    /* No temporary file is left behind. */
    char cmd[600];
    snprintf(cmd, sizeof cmd, "test $(ls -A %s | wc -l) -eq 1", dir);
    cr_assert_eq(system(cmd), 0, "more than the table in %s", dir);
    pool_init(&q, &server);
    cr_assert_eq(pool_load(&q, dir, &err), 0, "%s", err.msg);
    cr_assert_eq(q.n, 4);
    cr_assert_str_eq(pool_find(&q, k)->name, "new");
    pool_free(&q);
    /* A corrupt file is an error naming it, and the table stays empty. */
    FILE *f = fopen(path, "a");
    fputs("garbage\n", f);
    fclose(f);
    pool_init(&q, &server);
    cr_assert_lt(pool_load(&q, dir, &err), 0);
    cr_assert(strstr(err.msg, path) && strstr(err.msg, "corrupt") && strstr(err.msg, "line 7"),
              "%s", err.msg);
    cr_assert_eq(q.n, 0);
    /* A save into a missing directory fails with the file named. */
    char gone[600];
    snprintf(gone, sizeof gone, "%s/nope", dir);
    cr_assert_lt(pool_save(&p, gone, &err), 0);
    cr_assert(strstr(err.msg, gone), "%s", err.msg);
    pool_free(&p);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
    free(dir);
}

/* A member that left: bit 3, the key and the name, no addresses. */
Test(names, member_left_entry)
{
    struct member_msg m = {.has_key = true, .left = true, .name = "desk"}, d;
    memset(m.pk, 0xab, 32);
    uint8_t c[MEMBER_MAX_LEN];
    size_t n = member_msg_encode(&m, c);
    cr_assert_eq(n, MEMBER_HDR_LEN + 4);
    cr_assert_eq(c[2], 0x0c, "flags: key and left");
    cr_assert_eq(member_msg_decode(c, n, &d), 0);
    cr_assert(d.left && d.has_key && !d.addrs.has4 && !d.addrs.has6);
    cr_assert_str_eq(d.name, "desk");
    cr_assert_eq(memcmp(d.pk, m.pk, 32), 0);
    /* Left with an address: malformed (one encoding; a member that left has none). */
    struct member_msg both = {.addrs = asg, .left = true, .name = "desk"};
    n = member_msg_encode(&both, c);
    cr_assert_eq(member_msg_decode(c, n, &d), -1, "a member that left with addresses accepted");
}

Test(names, member_entry_bytes_and_malformations)
{
    struct member_msg m = {.addrs = asg, .has_key = true, .name = "desk"}, d;
    memset(m.pk, 0xab, 32);
    uint8_t b[MEMBER_MAX_LEN + 1], c[MEMBER_MAX_LEN];
    size_t n = member_msg_encode(&m, c);
    cr_assert_eq(n, MEMBER_HDR_LEN + 4);
    const uint8_t head[9] = {0x06, 0x01, 0x07, 24, 10, 77, 0, 3, 64};
    cr_assert_eq(memcmp(c, head, sizeof head), 0, "the bytes differ from docs/PROTOCOL.md");
    cr_assert_eq(c[25], 0xab);
    cr_assert_eq(c[57], 4);
    cr_assert_eq(member_msg_decode(c, n, &d), 0);
    cr_assert_eq(memcmp(&d, &m, sizeof d), 0);
    /* A member without addresses or key (not announced yet, plaintext). */
    struct member_msg bare = {.name = "x"};
    size_t bn = member_msg_encode(&bare, b);
    cr_assert_eq(member_msg_decode(b, bn, &d), 0);
    cr_assert(!d.addrs.has4 && !d.addrs.has6 && !d.has_key);
    b[30] = 1;
    cr_assert_eq(member_msg_decode(b, bn, &d), -1, "key bytes without the key flag accepted");
    cr_assert_eq(member_msg_decode(c, n - 1, &d), -1, "a cut name accepted");
    memcpy(b, c, n);
    b[n] = 'x';
    cr_assert_eq(member_msg_decode(b, n + 1, &d), -1, "a byte after the name accepted");
    struct {
        size_t at;
        uint8_t v;
        const char *what;
    } bad[] = {{0, 0x05, "another tag"},     {1, 2, "version 2"},
               {2, 0x17, "an unknown flag"}, {3, 33, "IPv4 prefix 33"},
               {8, 129, "IPv6 prefix 129"},  {57, 0, "length 0"},
               {57, 5, "a longer length"},   {58, 'D', "upper case"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        memcpy(b, c, n);
        b[bad[i].at] = bad[i].v;
        cr_assert_eq(member_msg_decode(b, n, &d), -1, "%s accepted", bad[i].what);
    }
    for (size_t at = 0; at < 60; at++)
        for (unsigned v = 0; v < 256; v++) {
            memcpy(b, c, n);
            b[at] = (uint8_t)v;
            if (member_msg_decode(b, n, &d) < 0) continue;
            uint8_t o[MEMBER_MAX_LEN];
            cr_assert_eq(member_msg_encode(&d, o), n);
            cr_assert_eq(memcmp(o, b, n), 0, "byte %zu = %u decodes non-canonically", at, v);
        }
}
