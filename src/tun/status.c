// SPDX-License-Identifier: MIT
// The status document of `ruphinctl status`: interface, holepuncher, peers (with what the
// policy granted each and the server's verdict on our address), drops.
#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

#include "nodekey.h"
#include "portmap.h"
#include "status.h"
#include "tunnel.h"
#include "verdict.h"

static void add_ago(cJSON *o, const char *key, uint64_t now, uint64_t then)
{
    if (then == 0)
        cJSON_AddNullToObject(o, key);
    else
        cJSON_AddNumberToObject(o, key, (double)(now - then) / 1000.0);
}

static void add_key(cJSON *o, const char *name, const uint8_t *key)
{
    char b64[NODEKEY_B64_LEN + 1];
    if (key && nodekey_public_base64(key, b64, sizeof b64) == 0)
        cJSON_AddStringToObject(o, name, b64);
    else
        cJSON_AddNullToObject(o, name);
}

static void add_ip(cJSON *o, const char *key, int fam, const uint8_t *a)
{
    char s[64];
    inet_ntop(fam == 4 ? AF_INET : AF_INET6, a, s, sizeof s);
    cJSON_AddStringToObject(o, key, s);
}

/* "10.77.0.2/24"; with net, the network ("10.77.0.0/24"). */
static void add_cidr(cJSON *arr, int fam, const uint8_t *a, unsigned prefix, bool net)
{
    uint8_t m[16] = {0};
    size_t len = fam == 4 ? 4 : 16;
    memcpy(m, a, len);
    if (net)
        for (size_t i = 0; i < len; i++) {
            unsigned keep = prefix > 8 * i ? prefix - 8 * (unsigned)i : 0;
            if (keep < 8) m[i] &= (uint8_t)(0xff00u >> keep);
        }
    char ip[64], s[72];
    inet_ntop(fam == 4 ? AF_INET : AF_INET6, m, ip, sizeof ip);
    snprintf(s, sizeof s, "%s/%u", ip, prefix);
    cJSON_AddItemToArray(arr, cJSON_CreateString(s));
}

/* What the policy grants the peer (docs/CONFIG.md): on a server, the addresses it announced
 * and was granted (one route each); on a client, its server is its router: every address of
 * the overlay networks comes from it and goes to it. */
static void add_allowed(cJSON *o, const struct tund_config *cfg, const struct announce *self,
                        const struct tunnel_peer_info *p)
{
    cJSON *ann = cJSON_AddArrayToObject(o, "announced");
    if (p->has4) add_cidr(ann, 4, p->addr4, p->prefix4, false);
    if (p->has6) add_cidr(ann, 6, p->addr6, p->prefix6, false);
    cJSON *al = cJSON_AddArrayToObject(o, "allowed_ips");
    if (cfg->role == RPH_ROLE_SERVER) {
        if (p->has4) add_cidr(al, 4, p->addr4, 32, false);
        if (p->has6) add_cidr(al, 6, p->addr6, 128, false);
    } else if (p->member) { /* a member: its own addresses, as the server introduced them */
        if (p->has4) add_cidr(al, 4, p->addr4, 32, false);
        if (p->has6) add_cidr(al, 6, p->addr6, 128, false);
    } else if (p->up) {
        if (self->has4) add_cidr(al, 4, self->addr4, self->prefix4, true);
        if (self->has6) add_cidr(al, 6, self->addr6, self->prefix6, true);
    }
}

/* The server's verdict on the client's overlay address (verdict.h); null before any. */
static void add_verdict(cJSON *o, const struct tunnel_peer_info *p)
{
    if (!p->has_verdict) {
        cJSON_AddNullToObject(o, "address_verdict");
        return;
    }
    char a[80];
    cJSON *v = cJSON_AddObjectToObject(o, "address_verdict");
    cJSON_AddBoolToObject(v, "accepted", p->verdict.reason == VERDICT_ACCEPTED);
    cJSON_AddNumberToObject(v, "code", p->verdict.reason);
    cJSON_AddStringToObject(v, "reason", verdict_reason_str(p->verdict.reason));
    cJSON_AddStringToObject(v, "address", verdict_addr_str(&p->verdict, a, sizeof a));
    if (p->verdict.holder[0]) cJSON_AddStringToObject(v, "holder", p->verdict.holder);
}

/* Our addresses and name (names and automatic addresses, naming.h). A client waiting for
 * its automatic address shows "address": null; address_auto says where it came from. */
/* A candidate's kind as the status names it. */
static const char *cand_kind_name(uint8_t kind)
{
    switch (kind) {
    case RPH_CAND_LAN:
        return "lan";
    case RPH_CAND_MAPPED:
        return "mapped";
    case RPH_CAND_V6:
        return "ipv6";
    case RPH_CAND_PUNCHED:
        return "punched";
    }
    return "?";
}

static void add_self(cJSON *root, const struct tunnel *t, const struct tund_config *cfg)
{
    const struct announce *s = tunnel_self(t);
    cJSON *arr = cJSON_CreateArray();
    if (s->has4) add_cidr(arr, 4, s->addr4, s->prefix4, false);
    if (s->has6) add_cidr(arr, 6, s->addr6, s->prefix6, false);
    cJSON *a4 = cJSON_GetArrayItem(arr, 0), *a6 = cJSON_GetArrayItem(arr, s->has4 ? 1 : 0);
    if (s->has4)
        cJSON_AddStringToObject(root, "address", a4->valuestring);
    else
        cJSON_AddNullToObject(root, "address");
    if (s->has6) cJSON_AddStringToObject(root, "address6", a6->valuestring);
    cJSON_Delete(arr);
    cJSON_AddBoolToObject(root, "address_auto", cfg->addr_auto);
    cJSON_AddStringToObject(root, "name", tunnel_name(t));
    /* The server gave us another name (ours was taken): what we asked for. */
    if (strcmp(tunnel_name(t), cfg->name) != 0)
        cJSON_AddStringToObject(root, "name_asked", cfg->name);
}

/* The peer's member name: on a server the one it was granted, on a client the server's. */
static void add_peer_name(cJSON *o, const struct tunnel_peer_info *p)
{
    if (p->has_name)
        cJSON_AddStringToObject(o, "name", p->name);
    else
        cJSON_AddNullToObject(o, "name");
}

/* The DNS responder ("dns"; null without): where it listens now and what it answered. */
static void add_dns(cJSON *root, const struct tunnel *t)
{
    struct tunnel_dns_info di;
    if (!tunnel_dns(t, &di)) {
        cJSON_AddNullToObject(root, "dns");
        return;
    }
    cJSON *o = cJSON_AddObjectToObject(root, "dns");
    cJSON_AddStringToObject(o, "domain", di.domain);
    cJSON *l = cJSON_AddArrayToObject(o, "listening");
    char ip[INET6_ADDRSTRLEN];
    if (di.on4)
        cJSON_AddItemToArray(l, cJSON_CreateString(inet_ntop(AF_INET, di.addr4, ip, sizeof ip)));
    if (di.on6)
        cJSON_AddItemToArray(l, cJSON_CreateString(inet_ntop(AF_INET6, di.addr6, ip, sizeof ip)));
    cJSON_AddNumberToObject(o, "port", di.port);
    cJSON_AddNumberToObject(o, "queries", (double)di.queries);
    cJSON_AddNumberToObject(o, "tcp_connections", di.tcp_open);
}

/* Client: the other members its server listed (tag 0x06), those listed lately (an older entry
 * is a member that left). */
static void add_listed(cJSON *root, const struct tunnel *t, const struct tund_config *cfg,
                       uint64_t now)
{
    if (cfg->role != RPH_ROLE_CLIENT) return;
    cJSON *arr = cJSON_AddArrayToObject(root, "session_members");
    uint64_t fresh = tunnel_listed_fresh_ms(t);
    for (size_t i = 0; i < tunnel_listed_count(t); i++) {
        struct member_msg m;
        uint64_t seen;
        if (!tunnel_listed(t, i, &m, &seen) || now - seen > fresh) continue;
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "name", m.name);
        cJSON *a = cJSON_AddArrayToObject(o, "addresses");
        if (m.addrs.has4) add_cidr(a, 4, m.addrs.addr4, m.addrs.prefix4, false);
        if (m.addrs.has6) add_cidr(a, 6, m.addrs.addr6, m.addrs.prefix6, false);
        if (cfg->seal) add_key(o, "public_key", m.has_key ? m.pk : NULL);
        add_ago(o, "listed_ago_s", now, seen);
        cJSON_AddItemToArray(arr, o);
    }
}

/* The mesh (docs/CONFIG.md "mesh"): on a server what it introduced and what it still forwards
 * between clients (a direct pair adds nothing), on a client the introductions it took. */
static void add_mesh(cJSON *root, const struct tunnel *t, const struct tund_config *cfg)
{
    const struct tunnel_mesh_stats *m = tunnel_mesh(t);
    cJSON *o = cJSON_AddObjectToObject(root, "mesh");
    cJSON_AddBoolToObject(o, "enabled", cfg->seal && cfg->mesh);
    if (cfg->role == RPH_ROLE_SERVER) {
        cJSON_AddNumberToObject(o, "introductions_sent", (double)m->intros_sent);
        cJSON_AddNumberToObject(o, "lefts_sent", (double)m->lefts_sent);
        cJSON_AddNumberToObject(o, "forwarded_packets", (double)m->forwarded_packets);
        cJSON_AddNumberToObject(o, "forwarded_bytes", (double)m->forwarded_bytes);
    } else {
        cJSON_AddNumberToObject(o, "introductions_received", (double)m->intros_received);
        cJSON_AddNumberToObject(o, "introductions_refused", (double)m->intros_refused);
        /* Idle members (docs/PROTOCOL.md "Idle members"): how many rest now, how often. */
        const struct rph_peer_stats *ps = tunnel_proto_stats(t);
        cJSON_AddNumberToObject(o, "idle_members", (double)tunnel_quiet_members(t));
        cJSON_AddNumberToObject(o, "idle_rests", (double)ps->member_quiets);
        cJSON_AddNumberToObject(o, "idle_wakes", (double)ps->member_wakes);
    }
}

char *status_json(const struct tunnel *t, uint64_t now)
{
    char a[RPH_ADDR_STRLEN];
    const struct tund_config *cfg = tunnel_config(t);
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "interface", cfg->ifname);
    cJSON_AddStringToObject(root, "role", cfg->role == RPH_ROLE_SERVER ? "server" : "client");
    cJSON_AddStringToObject(root, "session", cfg->session_str);
    add_self(root, t, cfg);
    struct rph_addr local;
    if (tunnel_local_addr(t, &local) == 0)
        cJSON_AddStringToObject(root, "listen", rph_addr_format(&local, a, sizeof a));
    cJSON_AddStringToObject(root, "listen_families", tunnel_local_families(t));
    cJSON_AddStringToObject(root, "version", RUPHIN_VERSION);
    cJSON_AddNumberToObject(root, "keepalive_interval_s", cfg->keepalive_interval);
    cJSON_AddNumberToObject(root, "peer_timeout_s", cfg->peer_timeout);
    cJSON_AddBoolToObject(root, "sealed", cfg->seal);
    if (cfg->seal) cJSON_AddStringToObject(root, "key_fingerprint", tunnel_key_fingerprint(t));
    uint8_t self[32];
    if (tunnel_node_public(t, self)) {
        /* Sealed only: plaintext peers have no node keys, so the keys are absent, not null. */
        add_key(root, "public_key", self);
        if (cfg->n_members) {
            cJSON *m = cJSON_AddArrayToObject(root, "members");
            for (size_t i = 0; i < cfg->n_members; i++) {
                char b64[NODEKEY_B64_LEN + 1];
                nodekey_public_base64(cfg->members[i], b64, sizeof b64);
                cJSON_AddItemToArray(m, cJSON_CreateString(b64));
            }
        }
    }

    uint64_t hp_last;
    const char *hp_state = tunnel_holepuncher_state(t, now, &hp_last);
    cJSON *hp = cJSON_AddObjectToObject(root, "holepuncher");
    cJSON_AddStringToObject(hp, "address", cfg->holepuncher);
    cJSON_AddStringToObject(hp, "endpoint", rph_addr_format(&cfg->holepuncher_addr, a, sizeof a));
    cJSON_AddStringToObject(hp, "state", hp_state);
    add_ago(hp, "last_contact_ago_s", now, hp_last);
    /* Sealed: what timed punches compare with the peer's (docs/PROTOCOL.md "Timed punches"). */
    uint32_t hp_rtt = tunnel_holepuncher_rtt(t);
    if (hp_rtt)
        cJSON_AddNumberToObject(hp, "rtt_ms", hp_rtt);
    else
        cJSON_AddNullToObject(hp, "rtt_ms");

    struct portmap_info pmi;
    if (tunnel_port_mapping(t, now, &pmi)) {
        cJSON *pm = cJSON_AddObjectToObject(root, "port_mapping");
        cJSON_AddStringToObject(pm, "protocol", "NAT-PMP");
        cJSON_AddBoolToObject(pm, "available", pmi.available);
        cJSON_AddStringToObject(pm, "state", pmi.state);
        if (pmi.gateway[0]) cJSON_AddStringToObject(pm, "gateway", pmi.gateway);
        cJSON_AddNumberToObject(pm, "local_port", pmi.local_port);
        if (pmi.ext_ip) {
            struct rph_addr ext = {.family = 4, .port = pmi.ext_port};
            memcpy(ext.ip, &pmi.ext_ip, 4);
            cJSON_AddStringToObject(pm, "external", rph_addr_format(&ext, a, sizeof a));
            cJSON_AddNumberToObject(pm, "lifetime_s", pmi.lifetime_s);
            cJSON_AddNumberToObject(pm, "expires_in_s", (double)(pmi.expires_in_ms / 1000));
        }
        cJSON_AddNumberToObject(pm, "next_attempt_in_s", (double)(pmi.next_in_ms / 1000));
        cJSON_AddNumberToObject(pm, "mapped", (double)pmi.mapped);
        cJSON_AddNumberToObject(pm, "renewals", (double)pmi.renewals);
        cJSON_AddNumberToObject(pm, "failures", (double)pmi.failures);
        if (pmi.last_error[0]) cJSON_AddStringToObject(pm, "last_error", pmi.last_error);
    }

    cJSON *peers = cJSON_AddArrayToObject(root, "peers");
    for (size_t i = 0; i < tunnel_peer_slots(t); i++) {
        struct tunnel_peer_info p;
        if (!tunnel_peer_info(t, i, &p)) continue;
        cJSON *o = cJSON_CreateObject();
        if (cfg->seal) add_key(o, "public_key", p.has_node_pk ? p.node_pk : NULL);
        add_peer_name(o, &p);
        if (p.has4)
            add_ip(o, "overlay", 4, p.addr4);
        else
            cJSON_AddNullToObject(o, "overlay");
        if (p.has6) add_ip(o, "overlay6", 6, p.addr6);
        cJSON_AddStringToObject(o, "endpoint", rph_addr_format(&p.endpoint, a, sizeof a));
        /* The path datagrams take now: straight to endpoint, or through the holepuncher's
         * relay to relay_endpoint (the peer's endpoint as the holepuncher sees it). */
        /* On a client: "server" (its router), "member" (another client its server introduced,
         * docs/PROTOCOL.md "Mesh"); on a server: "client". */
        cJSON_AddStringToObject(o, "kind",
                                cfg->role == RPH_ROLE_SERVER ? "client"
                                : p.member                   ? "member"
                                                             : "server");
        /* A member whose direct path does not work (yet) is reached through the server:
         * "via-server", never "direct". */
        cJSON_AddStringToObject(o, "path",
                                p.via_server ? "via-server"
                                : p.relayed  ? "relayed"
                                             : "direct");
        /* Which direct path (or relayed): direct-ipv4, direct-ipv6, direct-lan, relayed. */
        cJSON_AddStringToObject(o, "path_kind",
                                p.via_server ? "via-server" : rph_path_kind_name(p.path_kind));
        /* A member via the server because the pair is idle (docs/PROTOCOL.md "Idle members"). */
        if (p.member) cJSON_AddBoolToObject(o, "idle", p.idle);
        if (p.has_relay_endpoint)
            cJSON_AddStringToObject(o, "relay_endpoint",
                                    rph_addr_format(&p.relay_endpoint, a, sizeof a));
        else
            cJSON_AddNullToObject(o, "relay_endpoint");
        /* Other endpoints of the peer that are probed (sealed): where a LAN or punched path
         * would come from, and how many probes each has left. */
        cJSON *cands = cJSON_AddArrayToObject(o, "candidates");
        for (size_t k = 0; cands && k < p.n_cand; k++) {
            cJSON *c = cJSON_CreateObject();
            if (!c) break;
            cJSON_AddStringToObject(c, "endpoint", rph_addr_format(&p.cand[k].addr, a, sizeof a));
            cJSON_AddStringToObject(c, "kind", cand_kind_name(p.cand[k].kind));
            cJSON_AddNumberToObject(c, "probes_left", p.cand[k].probes_left);
            cJSON_AddItemToArray(cands, c);
        }
        add_ago(o, "path_since_ago_s", now, p.path_ms);
        if (p.rtt_ms)
            cJSON_AddNumberToObject(o, "rtt_ms", (double)p.rtt_ms);
        else
            cJSON_AddNullToObject(o, "rtt_ms");
        /* Timed punches: how long our first packet to it waited (0: we were not nearer). */
        cJSON_AddNumberToObject(o, "punch_delay_ms", p.punch_delay_ms);
        /* "up" only while the server accepts the client's address (an old server that
         * sends no verdict: up as before). */
        bool refused = p.has_verdict && p.verdict.reason != VERDICT_ACCEPTED;
        cJSON_AddStringToObject(o, "state", !p.up ? "punching" : refused ? "refused" : "up");
        add_verdict(o, &p);
        add_allowed(o, cfg, tunnel_self(t), &p);
        add_ago(o, "last_handshake_ago_s", now, p.last_handshake_ms);
        add_ago(o, "last_rx_ago_s", now, p.last_rx_ms);
        cJSON_AddNumberToObject(o, "rx_packets", (double)p.rx_packets);
        cJSON_AddNumberToObject(o, "rx_bytes", (double)p.rx_bytes);
        cJSON_AddNumberToObject(o, "tx_packets", (double)p.tx_packets);
        cJSON_AddNumberToObject(o, "tx_bytes", (double)p.tx_bytes);
        cJSON *d = cJSON_AddObjectToObject(o, "drops");
        cJSON_AddNumberToObject(d, "spoofed_source", (double)p.drop_spoofed);
        cJSON_AddItemToArray(peers, o);
    }

    add_listed(root, t, cfg, now);
    add_mesh(root, t, cfg);
    add_dns(root, t);

    const struct tunnel_offload *of = tunnel_offload(t);
    cJSON *off = cJSON_AddObjectToObject(root, "offload");
    cJSON_AddBoolToObject(off, "enabled", tunnel_offload_enabled(t));
    cJSON_AddNumberToObject(off, "tso4_in", (double)of->tso_in[0]);
    cJSON_AddNumberToObject(off, "tso6_in", (double)of->tso_in[1]);
    cJSON_AddNumberToObject(off, "tso_segments", (double)of->tso_segments);
    cJSON_AddNumberToObject(off, "gso_sends", (double)of->gso_sends);
    cJSON_AddNumberToObject(off, "coalesced4_out", (double)of->coalesced[0]);
    cJSON_AddNumberToObject(off, "coalesced6_out", (double)of->coalesced[1]);
    cJSON_AddNumberToObject(off, "coalesced_segments", (double)of->coalesced_segs);

    const struct rph_peer_stats *st = tunnel_proto_stats(t);
    const struct tunnel_drops *dr = tunnel_drops(t);
    /* How the tunnel kept itself up across restarts (docs/CONFIG.md "What the status shows"). */
    cJSON *rc = cJSON_AddObjectToObject(root, "recovery");
    cJSON_AddNumberToObject(rc, "probes", (double)st->probes);
    cJSON_AddNumberToObject(rc, "moved", (double)st->moved);
    cJSON_AddNumberToObject(rc, "reregisters", (double)st->reregisters);
    cJSON_AddNumberToObject(rc, "rejoins", (double)st->rejoins);
    cJSON_AddNumberToObject(rc, "fresh_port_retries", (double)st->fresh_port_retries);
    cJSON_AddNumberToObject(rc, "passive_keepalives", (double)st->passive_keepalives);
    cJSON_AddNumberToObject(rc, "goodbyes", (double)st->removed);
    /* Handshakes begun and finished by this node since it started (bench/mesh.sh: a server's
     * handshakes per second while a mesh forms). */
    cJSON *hs = cJSON_AddObjectToObject(root, "handshakes");
    cJSON_AddNumberToObject(hs, "sent", (double)st->handshakes_sent);
    cJSON_AddNumberToObject(hs, "done", (double)st->handshakes_done);
    cJSON *d = cJSON_AddObjectToObject(root, "drops");
    cJSON_AddNumberToObject(d, "no_route", (double)dr->no_route);
    cJSON_AddNumberToObject(d, "malformed", (double)(dr->malformed + st->malformed));
    cJSON_AddNumberToObject(d, "unknown_peer", (double)st->unknown_peer);
    cJSON_AddNumberToObject(d, "spoofed_source", (double)dr->spoofed_source);
    cJSON_AddNumberToObject(d, "no_address", (double)dr->no_address);
    cJSON_AddNumberToObject(d, "address_conflict", (double)dr->address_conflict);
    cJSON_AddNumberToObject(d, "bad_control", (double)dr->bad_control);
    cJSON_AddNumberToObject(d, "unexpected", (double)(st->unexpected + st->session_mismatch));
    cJSON_AddNumberToObject(d, "local_scope", (double)dr->local_scope);
    cJSON_AddNumberToObject(d, "auth_failed", (double)st->auth_failed);
    cJSON_AddNumberToObject(d, "replayed", (double)st->replayed);
    cJSON_AddNumberToObject(d, "plain_ignored", (double)st->plain_ignored);
    cJSON_AddNumberToObject(d, "not_member", (double)st->not_member);
    cJSON_AddNumberToObject(d, "node_conflict", (double)st->node_conflict);
    cJSON_AddNumberToObject(d, "handshake_limited", (double)st->hs_limited);
    cJSON_AddNumberToObject(d, "cookies_sent", (double)st->cookies_sent);
    cJSON_AddNumberToObject(d, "no_key", (double)(st->no_key + dr->no_key));
    cJSON_AddNumberToObject(d, "tun_write", (double)dr->tun_write);
    cJSON_AddNumberToObject(d, "udp_send", (double)dr->udp_send);
    char *s = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return s;
}
