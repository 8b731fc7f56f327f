// SPDX-License-Identifier: MIT
// A remote's candidate endpoints: the table (punched-from addresses, offered LAN and global IPv6
// addresses, a port mapping), the
// probe schedule, and the kind of path a remote uses.
#include "candidates.h"

#include <string.h>

#include "ruphin/error.h"

static bool same_ip(const struct rph_addr *a, const struct rph_addr *b)
{
    return a->family == b->family && memcmp(a->ip, b->ip, sizeof a->ip) == 0;
}

static struct rph_candidate *find(struct rph_remote *r, const struct rph_addr *a)
{
    for (size_t i = 0; i < r->n_cand; i++)
        if (rph_addr_equal(&r->cand[i].addr, a)) return &r->cand[i];
    return NULL;
}

static void drop_at(struct rph_remote *r, size_t i)
{
    memmove(&r->cand[i], &r->cand[i + 1], (r->n_cand - i - 1) * sizeof r->cand[0]);
    r->n_cand--;
    memset(&r->cand[r->n_cand], 0, sizeof r->cand[0]);
}

static void put(struct rph_remote *r, const struct rph_addr *a, uint8_t kind, uint8_t probes,
                uint64_t now)
{
    struct rph_candidate *c = &r->cand[r->n_cand++];
    memset(c, 0, sizeof *c);
    c->addr = *a;
    c->kind = kind;
    c->probes_left = probes;
    c->next_ms = now;
}

int cand_add_punched(struct rph_remote *r, const struct rph_addr *from, uint64_t now)
{
    /* Only the IP the holepuncher vouched for: a punch proves nothing, so it may only point
     * at another port of the host we already talk to. */
    if (!same_ip(&r->addr, from) && !(r->has_relay_addr && same_ip(&r->relay_addr, from)))
        return RPH_E_INVALID;
    if (rph_addr_equal(&r->addr, from) || find(r, from)) return 0;
    if (r->n_cand == RPH_MAX_CANDIDATES) {
        size_t i = 0;
        while (i < r->n_cand && r->cand[i].kind != RPH_CAND_PUNCHED)
            i++;
        if (i == r->n_cand) return 0; /* all LAN: authenticated offers win */
        drop_at(r, i);                /* the oldest punched one */
    }
    put(r, from, RPH_CAND_PUNCHED, CAND_PUNCHED_PROBES, now);
    return 1;
}

bool cand_lan_usable(const struct rph_addr *a)
{
    if (a->family != 4 || a->port == 0) return false;
    const uint8_t *ip = a->ip;
    if (ip[0] == 0 || ip[0] == 127 || ip[0] >= 224)
        return false;                               /* this net, loopback, class D/E */
    if (ip[0] == 169 && ip[1] == 254) return false; /* link-local */
    for (size_t i = 4; i < sizeof a->ip; i++)
        if (ip[i]) return false;
    return true;
}

bool cand_v6_usable(const struct rph_addr *a)
{
    /* Global unicast (2000::/3) only: link-local needs a scope the peer cannot name, a ULA is
     * as private as a LAN address but routed nowhere between sites, the rest is no unicast. */
    return a->family == 6 && a->port != 0 && (a->ip[0] & 0xe0) == 0x20;
}

/* Replaces r's candidates of kind with the usable ones of a[0..n) (see cand_set_lan). */
static size_t set_offered(struct rph_remote *r, uint8_t kind, const struct rph_addr *a, size_t n,
                          uint64_t now, size_t *refused)
{
    size_t taken = 0, bad = 0;
    /* The new offer replaces the old one; probes already made for a kept address stay made. */
    struct rph_candidate old[RPH_MAX_CANDIDATES];
    size_t n_old = 0;
    for (size_t i = 0; i < r->n_cand;) {
        if (r->cand[i].kind == kind) {
            old[n_old++] = r->cand[i];
            drop_at(r, i);
        } else {
            i++;
        }
    }
    for (size_t i = 0; i < n; i++) {
        bool usable = kind == RPH_CAND_LAN ? cand_lan_usable(&a[i]) : cand_v6_usable(&a[i]);
        /* Where the holepuncher sees it is no LAN address (a host without NAT offers it). */
        bool public =
            kind == RPH_CAND_LAN && r->has_relay_addr && rph_addr_equal(&a[i], &r->relay_addr);
        if (!usable || public || find(r, &a[i])) {
            bad++;
            continue;
        }
        if (r->n_cand == RPH_MAX_CANDIDATES) {
            /* Offered candidates are authenticated: they push out punched ones, not each
             * other. */
            size_t k = 0;
            while (k < r->n_cand && r->cand[k].kind != RPH_CAND_PUNCHED)
                k++;
            if (k == r->n_cand) {
                bad++;
                continue;
            }
            drop_at(r, k);
        }
        put(r, &a[i], kind, kind == RPH_CAND_LAN ? CAND_LAN_PROBES : CAND_V6_PROBES, now);
        for (size_t k = 0; k < n_old; k++)
            if (rph_addr_equal(&old[k].addr, &a[i])) {
                struct rph_candidate *c = &r->cand[r->n_cand - 1];
                c->probes_sent = old[k].probes_sent;
                c->probes_left = old[k].probes_left;
                c->next_ms = old[k].next_ms;
            }
        taken++;
    }
    if (refused) *refused = bad;
    return taken;
}

size_t cand_set_lan(struct rph_remote *r, const struct rph_addr *a, size_t n, uint64_t now,
                    size_t *refused)
{
    return set_offered(r, RPH_CAND_LAN, a, n, now, refused);
}

size_t cand_set_v6(struct rph_remote *r, const struct rph_addr *a, size_t n, uint64_t now,
                   size_t *refused)
{
    return set_offered(r, RPH_CAND_V6, a, n, now, refused);
}

int cand_set_mapped(struct rph_remote *r, const struct rph_addr *a, uint64_t now)
{
    if (a && !cand_lan_usable(a)) return RPH_E_INVALID;
    for (size_t i = 0; i < r->n_cand; i++) {
        if (r->cand[i].kind != RPH_CAND_MAPPED) continue;
        if (a && rph_addr_equal(&r->cand[i].addr, a)) return 0; /* the same: probes kept */
        drop_at(r, i);
        break;
    }
    if (!a) return 0;
    const struct rph_candidate *other = find(r, a);
    if (other) return 0; /* already a LAN or punched candidate: probed as that */
    if (r->n_cand == RPH_MAX_CANDIDATES) {
        /* Authenticated like the LAN ones: it pushes out a punched one. */
        size_t k = 0;
        while (k < r->n_cand && r->cand[k].kind != RPH_CAND_PUNCHED)
            k++;
        if (k == r->n_cand) return RPH_E_INVALID;
        drop_at(r, k);
    }
    put(r, a, RPH_CAND_MAPPED, CAND_MAPPED_PROBES, now);
    return 1;
}

static bool cand_is_mapped(const struct rph_remote *r, const struct rph_addr *a)
{
    for (size_t i = 0; i < r->n_cand; i++)
        if (r->cand[i].kind == RPH_CAND_MAPPED && rph_addr_equal(&r->cand[i].addr, a)) return true;
    return false;
}

bool cand_is_lan(const struct rph_remote *r, const struct rph_addr *a)
{
    for (size_t i = 0; i < r->n_cand; i++)
        if (r->cand[i].kind == RPH_CAND_LAN && rph_addr_equal(&r->cand[i].addr, a)) return true;
    return false;
}

bool cand_wanted(const struct rph_remote *r, const struct rph_candidate *c)
{
    if (c->probes_left == 0 || rph_addr_equal(&c->addr, &r->addr)) return false;
    /* A LAN path beats a working public one (no hairpin through the router, no NAT state);
     * a punched port only matters while nothing direct works. */
    if (c->kind == RPH_CAND_LAN) return rph_remote_path_kind(r) != RPH_PATHK_LAN;
    return r->relayed || !r->direct_ok;
}

struct rph_candidate *cand_due(struct rph_remote *r, uint64_t now)
{
    for (size_t i = 0; i < r->n_cand; i++)
        if (now + (r->cand[i].probes_sent >= CAND_FAST ? CAND_SLACK_MS : 0) >= r->cand[i].next_ms &&
            cand_wanted(r, &r->cand[i]))
            return &r->cand[i];
    return NULL;
}

void cand_probed(struct rph_candidate *c, uint64_t now, uint32_t retry_ms)
{
    if (c->probes_left) c->probes_left--;
    if (c->probes_sent < UINT8_MAX) c->probes_sent++;
    c->next_ms = now + (c->probes_sent < CAND_FAST ? retry_ms : RPH_DIRECT_RETRY_MS);
}

void cand_defer(struct rph_remote *r, uint64_t t)
{
    for (size_t i = 0; i < r->n_cand; i++)
        if (r->cand[i].next_ms < t) r->cand[i].next_ms = t;
}

uint64_t cand_deadline(const struct rph_remote *r)
{
    uint64_t d = UINT64_MAX;
    for (size_t i = 0; i < r->n_cand; i++)
        if (cand_wanted(r, &r->cand[i]) && r->cand[i].next_ms < d) d = r->cand[i].next_ms;
    return d;
}

enum rph_path_kind rph_remote_path_kind(const struct rph_remote *r)
{
    if (r->relayed) return RPH_PATHK_RELAYED;
    /* A LAN address it offered, and not the IP the holepuncher (a member: its server) sees it
     * at: a host with a public address offers that one too, and is no LAN peer for it. */
    const struct rph_addr *seen = r->has_relay_addr   ? &r->relay_addr
                                  : r->has_intro_addr ? &r->intro_addr
                                                      : NULL;
    if (cand_is_lan(r, &r->addr) && seen && !same_ip(seen, &r->addr)) return RPH_PATHK_LAN;
    if (cand_is_mapped(r, &r->addr)) return RPH_PATHK_MAPPED;
    return r->addr.family == 6 ? RPH_PATHK_DIRECT6 : RPH_PATHK_DIRECT4;
}

const char *rph_path_kind_name(enum rph_path_kind k)
{
    switch (k) {
    case RPH_PATHK_DIRECT4:
        return "direct-ipv4";
    case RPH_PATHK_DIRECT6:
        return "direct-ipv6";
    case RPH_PATHK_LAN:
        return "direct-lan";
    case RPH_PATHK_RELAYED:
        return "relayed";
    case RPH_PATHK_MAPPED:
        return "direct-mapped";
    }
    return "?";
}
