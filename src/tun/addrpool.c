// SPDX-License-Identifier: MIT
// Automatic addresses (addrpool.h): the lowest free host address of the server's prefix,
// remembered per node key in a small text file that survives restarts.
#include "addrpool.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "route.h"
#include "ruphin/seal.h"

#define POOL_HEADER "ruphin-members 1"

void pool_init(struct addrpool *p, const struct announce *self)
{
    memset(p, 0, sizeof *p);
    p->self = *self;
}

void pool_free(struct addrpool *p)
{
    free(p->e);
    p->e = NULL;
    p->n = 0;
}

struct pool_entry *pool_find(struct addrpool *p, const uint8_t pk[32])
{
    for (size_t i = 0; i < p->n; i++)
        if (memcmp(p->e[i].pk, pk, 32) == 0) return &p->e[i];
    return NULL;
}

const struct pool_entry *pool_holder(const struct addrpool *p, int family, const uint8_t *addr)
{
    for (size_t i = 0; i < p->n; i++) {
        const struct pool_entry *e = &p->e[i];
        if (family == 4 && e->has4 && memcmp(e->addr4, addr, 4) == 0) return e;
        if (family == 6 && e->has6 && memcmp(e->addr6, addr, 16) == 0) return e;
    }
    return NULL;
}

struct pool_entry *pool_entry(struct addrpool *p, const uint8_t pk[32], struct errmsg *err)
{
    struct pool_entry *e = pool_find(p, pk);
    if (e) return e;
    if (p->n >= ADDRPOOL_MAX) {
        errmsg_set(err, "the member table is full (%d node keys)", ADDRPOOL_MAX);
        return NULL;
    }
    struct pool_entry *ne = realloc(p->e, (p->n + 1) * sizeof *ne);
    if (!ne) {
        errmsg_set(err, "out of memory");
        return NULL;
    }
    p->e = ne;
    e = &p->e[p->n++];
    memset(e, 0, sizeof *e);
    memcpy(e->pk, pk, 32);
    return e;
}

/* A host address of the server's prefix that nobody else may have: not the network or
 * broadcast address, not the server's own. */
static bool usable(const struct addrpool *p, int fam, const uint8_t *a)
{
    if (fam == 4) {
        if (!route_in_prefix(a, p->self.addr4, p->self.prefix4) || !memcmp(a, p->self.addr4, 4))
            return false;
        uint32_t v = ((uint32_t)a[0] << 24) | ((uint32_t)a[1] << 16) | ((uint32_t)a[2] << 8) | a[3];
        uint32_t host = p->self.prefix4 ? v & (0xffffffffu >> p->self.prefix4) : v;
        if (p->self.prefix4 <= 30 && (host == 0 || host == (0xffffffffu >> p->self.prefix4)))
            return false;
        return true;
    }
    static const uint8_t zero[16];
    if (!p->self.has6 || !route_in_prefix(a, p->self.addr6, p->self.prefix6) ||
        !memcmp(a, p->self.addr6, 16))
        return false;
    /* Not the subnet-router anycast address (host part zero). */
    uint8_t host[16];
    memcpy(host, a, 16);
    for (int i = 0; i < 16; i++) {
        int keep = p->self.prefix6 - 8 * i;
        if (keep >= 8)
            host[i] = 0;
        else if (keep > 0)
            host[i] &= (uint8_t)(0xff >> keep);
    }
    return memcmp(host, zero, 16) != 0;
}

/* net's prefix with host number n in the low bits (n fits the host part: checked by usable). */
static void with_host(int fam, const uint8_t *net, int bits, uint32_t n, uint8_t *out)
{
    size_t len = fam == 4 ? 4 : 16;
    memcpy(out, net, len);
    for (size_t i = 0; i < len; i++) {
        int keep = bits - 8 * (int)i;
        if (keep >= 8) continue;
        out[i] &= keep > 0 ? (uint8_t)(0xff00u >> keep) : 0;
    }
    for (size_t i = 0; i < 4 && n; i++, n >>= 8)
        out[len - 1 - i] |= (uint8_t)(n & 0xff);
}

static bool free_for(const struct addrpool *p, const struct pool_entry *e, int fam,
                     const uint8_t *a, pool_busy_fn busy, void *ctx)
{
    const struct pool_entry *h = pool_holder(p, fam, a);
    return usable(p, fam, a) && (!h || h == e) && !busy(ctx, fam, a);
}

/* The lowest free host number of a family's prefix, preferring want (the IPv4 host number,
 * so that 10.77.0.5 is fd77::5). 0 or -ENOSPC. */
static int pick(const struct addrpool *p, const struct pool_entry *e, int fam, uint32_t want,
                pool_busy_fn busy, void *ctx, uint8_t *out)
{
    int bits = fam == 4 ? p->self.prefix4 : p->self.prefix6;
    const uint8_t *net = fam == 4 ? p->self.addr4 : p->self.addr6;
    int hostbits = (fam == 4 ? 32 : 128) - bits;
    /* A large IPv6 prefix is searched only in its first 2^20 host numbers: plenty. */
    uint32_t limit = hostbits >= 20 ? (1u << 20) : (1u << hostbits);
    if (want && want < limit) {
        with_host(fam, net, bits, want, out);
        if (free_for(p, e, fam, out, busy, ctx)) return 0;
    }
    for (uint32_t n = 1; n < limit; n++) {
        with_host(fam, net, bits, n, out);
        if (free_for(p, e, fam, out, busy, ctx)) return 0;
    }
    return -ENOSPC;
}

int pool_assign(struct addrpool *p, struct pool_entry *e, pool_busy_fn busy, void *ctx,
                struct errmsg *err)
{
    bool ok4 = e->has4 && usable(p, 4, e->addr4);
    bool ok6 = !p->self.has6 || (e->has6 && usable(p, 6, e->addr6));
    if (ok4 && ok6 && (p->self.has6 || !e->has6)) return 0;
    char ip[INET6_ADDRSTRLEN];
    uint8_t a4[4], a6[16];
    if (ok4) {
        memcpy(a4, e->addr4, 4);
    } else if (pick(p, e, 4, 0, busy, ctx, a4) < 0) {
        inet_ntop(AF_INET, p->self.addr4, ip, sizeof ip);
        return errmsg_fail(err, -ENOSPC,
                           "no free IPv4 address left in the server's prefix (%s/%u): every host "
                           "address is the server's, assigned or in use",
                           ip, p->self.prefix4);
    }
    if (p->self.has6 && !ok6) {
        uint32_t host = ((uint32_t)a4[2] << 8 | a4[3]) & (0xffffffffu >> p->self.prefix4);
        if (pick(p, e, 6, host, busy, ctx, a6) < 0) {
            inet_ntop(AF_INET6, p->self.addr6, ip, sizeof ip);
            return errmsg_fail(err, -ENOSPC,
                               "no free IPv6 address left in the server's prefix (%s/%u)", ip,
                               p->self.prefix6);
        }
    } else if (ok6 && e->has6) {
        memcpy(a6, e->addr6, 16);
    }
    e->has4 = true;
    memcpy(e->addr4, a4, 4);
    e->has6 = p->self.has6;
    if (e->has6) memcpy(e->addr6, a6, 16);
    return 1;
}

char *pool_format(const struct addrpool *p)
{
    /* key, name, two addresses, separators: under 200 bytes a line. */
    size_t cap = sizeof POOL_HEADER + 128 + p->n * 200;
    char *s = malloc(cap);
    if (!s) return NULL;
    size_t at = (size_t)snprintf(s, cap,
                                 POOL_HEADER "\n# node key, name, IPv4, IPv6 (\"-\": none); "
                                             "written by ruphin-tund\n");
    for (size_t i = 0; i < p->n; i++) {
        const struct pool_entry *e = &p->e[i];
        char k[64], a4[INET_ADDRSTRLEN] = "-", a6[INET6_ADDRSTRLEN] = "-";
        rph_key_to_base64(e->pk, k, sizeof k);
        if (e->has4) inet_ntop(AF_INET, e->addr4, a4, sizeof a4);
        if (e->has6) inet_ntop(AF_INET6, e->addr6, a6, sizeof a6);
        at += (size_t)snprintf(s + at, cap - at, "%s %s %s %s\n", k, e->name[0] ? e->name : "-", a4,
                               a6);
    }
    return s;
}

static int parse_line(struct addrpool *p, char *line, unsigned no, struct errmsg *err)
{
    char *f[5];
    int n = 0;
    for (char *save = NULL, *t = strtok_r(line, " ", &save); t; t = strtok_r(NULL, " ", &save))
        if (n < 5)
            f[n++] = t;
        else
            return errmsg_fail(err, -EINVAL, "line %u: more than 4 fields", no);
    if (n != 4)
        return errmsg_fail(err, -EINVAL, "line %u: %d fields, expected 4 (key name ipv4 ipv6)", no,
                           n);
    struct pool_entry e;
    memset(&e, 0, sizeof e);
    if (rph_key_from_base64(f[0], e.pk) < 0)
        return errmsg_fail(err, -EINVAL, "line %u: \"%.60s\" is not a node key", no, f[0]);
    if (strcmp(f[1], "-") != 0) {
        if (!name_valid(f[1], strlen(f[1])))
            return errmsg_fail(err, -EINVAL, "line %u: \"%.70s\" is not a valid name", no, f[1]);
        snprintf(e.name, sizeof e.name, "%s", f[1]);
    }
    if (strcmp(f[2], "-") != 0) {
        if (inet_pton(AF_INET, f[2], e.addr4) != 1)
            return errmsg_fail(err, -EINVAL, "line %u: \"%.60s\" is not an IPv4 address", no, f[2]);
        e.has4 = true;
    }
    if (strcmp(f[3], "-") != 0) {
        if (inet_pton(AF_INET6, f[3], e.addr6) != 1)
            return errmsg_fail(err, -EINVAL, "line %u: \"%.60s\" is not an IPv6 address", no, f[3]);
        e.has6 = true;
    }
    /* Two members with one key, name or address: the file was not written by us. */
    for (size_t i = 0; i < p->n; i++) {
        const struct pool_entry *o = &p->e[i];
        const char *dup = !memcmp(o->pk, e.pk, 32)                              ? "node key"
                          : e.name[0] && !strcmp(o->name, e.name)               ? "name"
                          : e.has4 && o->has4 && !memcmp(o->addr4, e.addr4, 4)  ? "IPv4 address"
                          : e.has6 && o->has6 && !memcmp(o->addr6, e.addr6, 16) ? "IPv6 address"
                                                                                : NULL;
        if (dup)
            return errmsg_fail(err, -EINVAL, "line %u: the %s of an earlier line again", no, dup);
    }
    struct errmsg why;
    struct pool_entry *ne = pool_entry(p, e.pk, &why);
    if (!ne) return errmsg_fail(err, -EINVAL, "line %u: %s", no, why.msg);
    *ne = e;
    return 0;
}

int pool_parse(struct addrpool *p, const char *text, struct errmsg *err)
{
    pool_free(p);
    char *copy = strdup(text);
    if (!copy) return errmsg_fail(err, -ENOMEM, "out of memory");
    int rc = 0;
    unsigned no = 0;
    bool header = false;
    for (char *line = copy, *nl; line && *line && rc == 0; line = nl) {
        nl = strchr(line, '\n');
        no++;
        if (!nl) {
            rc = errmsg_fail(err, -EINVAL, "line %u: cut short (no newline at the end)", no);
            break;
        }
        *nl++ = 0;
        if (!header) {
            if (strcmp(line, POOL_HEADER) != 0)
                rc = errmsg_fail(err, -EINVAL, "line 1: expected \"" POOL_HEADER "\"");
            header = true;
            continue;
        }
        if (line[0] == '#') continue;
        rc = parse_line(p, line, no, err);
    }
    if (rc == 0 && !header) rc = errmsg_fail(err, -EINVAL, "empty (no \"" POOL_HEADER "\" line)");
    free(copy);
    if (rc < 0) pool_free(p);
    return rc;
}

int pool_load(struct addrpool *p, const char *dir, struct errmsg *err)
{
    char path[512];
    snprintf(path, sizeof path, "%s/" ADDRPOOL_FILE, dir);
    FILE *f = fopen(path, "re");
    if (!f) {
        if (errno == ENOENT) return 0;
        int e = errno;
        return errmsg_fail(err, -e, "member table %s: %s", path, strerror(e));
    }
    /* A bounded read: ADDRPOOL_MAX lines of under 200 bytes. */
    size_t cap = 256 + (size_t)ADDRPOOL_MAX * 200;
    char *buf = malloc(cap + 1);
    if (!buf) {
        fclose(f);
        return errmsg_fail(err, -ENOMEM, "member table %s: out of memory", path);
    }
    size_t n = fread(buf, 1, cap + 1, f);
    bool bad = ferror(f);
    fclose(f);
    int rc;
    if (bad)
        rc = errmsg_fail(err, -EIO, "member table %s: read error", path);
    else if (n > cap)
        rc = errmsg_fail(err, -EINVAL, "member table %s: longer than %zu bytes", path, cap);
    else if (memchr(buf, 0, n))
        rc = errmsg_fail(err, -EINVAL,
                         "member table %s: corrupt (a NUL byte); move it away to "
                         "start with an empty table",
                         path);
    else {
        buf[n] = 0;
        struct errmsg why;
        rc = pool_parse(p, buf, &why);
        if (rc < 0)
            errmsg_set(err,
                       "member table %s: corrupt, %s; fix or move it away to start with an "
                       "empty table",
                       path, why.msg);
    }
    free(buf);
    return rc;
}

int pool_save(const struct addrpool *p, const char *dir, struct errmsg *err)
{
    char path[512], tmp[530];
    snprintf(path, sizeof path, "%s/" ADDRPOOL_FILE, dir);
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    char *text = pool_format(p);
    if (!text) return errmsg_fail(err, -ENOMEM, "member table %s: out of memory", path);
    const char *step = "create";
    int r = 0;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) r = -errno;
    size_t len = strlen(text), off = 0;
    while (r == 0 && off < len) {
        ssize_t w = write(fd, text + off, len - off);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0)
            r = -errno, step = "write";
        else
            off += (size_t)w;
    }
    free(text);
    if (r == 0 && fsync(fd) < 0) r = -errno, step = "fsync";
    if (fd >= 0 && close(fd) < 0 && r == 0) r = -errno, step = "close";
    if (r == 0 && rename(tmp, path) < 0) r = -errno, step = "rename";
    if (r < 0) {
        if (fd >= 0) unlink(tmp);
        return errmsg_fail(err, r, "member table %s: %s: %s", path, step, strerror(-r));
    }
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        if (fsync(dfd) < 0) r = -errno;
        close(dfd);
    }
    if (r < 0)
        return errmsg_fail(err, r, "member table %s: fsync of the directory: %s", path,
                           strerror(-r));
    return 0;
}
