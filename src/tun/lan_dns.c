// SPDX-License-Identifier: MIT
// DNS on the LAN (lan_dns.h): which member has which name comes from the tunnel (our own, the
// peers' name messages, a client's member list), the answers from dns_answer.c, the sockets
// from dns_server.c, systemd-resolved from resolved.c.
#include "lan_dns.h"

#include <errno.h>
#include <string.h>

#include "dns_server.h"
#include "log.h"
#include "resolved.h"
#include "tunnel.h"
#include "ruphin/clock.h"
#include "tunnel_priv.h"

#define DNS_PORT 53

static void from_announce(const struct announce *a, struct dns_addrs *out)
{
    memset(out, 0, sizeof *out);
    out->has4 = a->has4;
    out->has6 = a->has6;
    memcpy(out->addr4, a->addr4, 4);
    memcpy(out->addr6, a->addr6, 16);
}

bool lan_dns_lookup(void *tunnel, const char *label, struct dns_addrs *out)
{
    const struct tunnel *t = tunnel;
    if (strcmp(label, tunnel_name(t)) == 0) {
        from_announce(&t->pol.self, out);
        return true;
    }
    /* The peers we talk to: a server's clients, a client's server (which lists no itself). */
    for (size_t i = 0; i < t->pol.n_peers; i++) {
        const struct tpeer *p = &t->pol.peers[i];
        if (!p->remote || !p->has_name || strcmp(p->name, label) != 0) continue;
        if (p->announced)
            from_announce(&p->ann, out);
        else
            memset(out, 0, sizeof *out); /* a member without an address yet: no data */
        return true;
    }
    /* A client: the others, as its server listed them lately (an older entry is a member that
     * left; status shows the same set). */
    uint64_t now = rph_now_ms(), fresh = tunnel_listed_fresh_ms(t);
    for (size_t i = 0; i < t->n_listed; i++) {
        const struct listed_member *l = &t->listed[i];
        if (now - l->seen_ms > fresh || strcmp(l->m.name, label) != 0) continue;
        from_announce(&l->m.addrs, out);
        return true;
    }
    return false;
}

int lan_dns_start(struct tunnel *t, struct errmsg *err)
{
    if (!t->cfg.dns_domain[0]) return 0;
    t->dns = dns_server_new(t->base, t->cfg.dns_domain, DNS_PORT, lan_dns_lookup, t);
    /* Tests run the tunnel on a socketpair: no link to tell resolved about. */
    if (t->dns && t->tun.ifindex > 0) t->resolved = resolved_new(t->base, t->cfg.dns_domain);
    if (!t->dns || (t->tun.ifindex > 0 && !t->resolved))
        return errmsg_fail(err, -ENOMEM, "dns: out of memory");
    if (!t->pol.self.has4 && !t->pol.self.has6)
        log_info("dns: names under %s are answered once the server assigns this member's "
                 "address",
                 t->cfg.dns_domain);
    lan_dns_update(t);
    return 0;
}

void lan_dns_update(struct tunnel *t)
{
    if (!t->dns) return;
    struct dns_addrs a;
    from_announce(&t->pol.self, &a);
    struct errmsg err;
    if (dns_server_bind(t->dns, &a, &err) < 0)
        log_error("%s; names are not answered on that address", err.msg);
    resolved_set(t->resolved, t->tun.ifindex, t->tun.name, &a);
}

void lan_dns_stop(struct tunnel *t)
{
    resolved_free(t->resolved);
    t->resolved = NULL;
    dns_server_free(t->dns);
    t->dns = NULL;
}

bool tunnel_dns(const struct tunnel *t, struct tunnel_dns_info *out)
{
    if (!t->dns) return false;
    memset(out, 0, sizeof *out);
    out->domain = t->cfg.dns_domain;
    uint8_t a[16];
    uint16_t p4 = dns_server_port(t->dns, 4, a);
    if (p4) memcpy(out->addr4, a, 4);
    uint16_t p6 = dns_server_port(t->dns, 6, out->addr6);
    out->on4 = p4 != 0;
    out->on6 = p6 != 0;
    out->port = p4 ? p4 : p6;
    out->queries = dns_server_queries(t->dns);
    out->tcp_open = dns_server_tcp_open(t->dns);
    return true;
}
