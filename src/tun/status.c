// SPDX-License-Identifier: MIT
// The status document of `ruphinctl status`: interface, holepuncher, peers, drops.
#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <stdio.h>

#include "ruphin/clock.h"
#include "tunnel.h"
#include "tunnel_priv.h"

static void add_ago(cJSON *o, const char *key, uint64_t now, uint64_t then)
{
    if (then == 0)
        cJSON_AddNullToObject(o, key);
    else
        cJSON_AddNumberToObject(o, key, (double)(now - then) / 1000.0);
}

static void add_ip(cJSON *o, const char *key, int fam, const uint8_t *a)
{
    char s[64];
    inet_ntop(fam == 4 ? AF_INET : AF_INET6, a, s, sizeof s);
    cJSON_AddStringToObject(o, key, s);
}

char *tunnel_status_json(struct tunnel *t)
{
    uint64_t now = rph_now_ms();
    char a[RPH_ADDR_STRLEN];
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "interface", t->cfg.ifname);
    cJSON_AddStringToObject(root, "role", t->cfg.role == RPH_ROLE_SERVER ? "server" : "client");
    cJSON_AddStringToObject(root, "session", t->cfg.session_str);
    cJSON_AddStringToObject(root, "address", t->cfg.address);
    if (t->cfg.has_addr6) cJSON_AddStringToObject(root, "address6", t->cfg.address6);
    struct rph_addr local;
    if (rph_ev_peer_local_addr(t->ep, &local) == 0)
        cJSON_AddStringToObject(root, "listen", rph_addr_format(&local, a, sizeof a));
    cJSON_AddStringToObject(root, "version", RUPHIN_VERSION);
    cJSON_AddBoolToObject(root, "sealed", t->cfg.seal);

    cJSON *hp = cJSON_AddObjectToObject(root, "holepuncher");
    cJSON_AddStringToObject(hp, "address", t->cfg.holepuncher);
    cJSON_AddStringToObject(hp, "endpoint", rph_addr_format(&t->cfg.holepuncher_addr, a, sizeof a));
    cJSON_AddStringToObject(hp, "state", rph_peer_holepuncher_status(t->peer, now));
    add_ago(hp, "last_contact_ago_s", now, rph_peer_holepuncher_last_ms(t->peer));

    cJSON *peers = cJSON_AddArrayToObject(root, "peers");
    for (size_t i = 0; i < t->n_slots; i++) {
        struct rph_remote *r = &t->rbase[i];
        if (!r->in_use) continue;
        struct tpeer *p = &t->tp[i];
        cJSON *o = cJSON_CreateObject();
        if (p->remote && p->announced && p->ann.has4)
            add_ip(o, "overlay", 4, p->ann.addr4);
        else
            cJSON_AddNullToObject(o, "overlay");
        if (p->remote && p->announced && p->ann.has6) add_ip(o, "overlay6", 6, p->ann.addr6);
        cJSON_AddStringToObject(o, "endpoint", rph_addr_format(&r->addr, a, sizeof a));
        cJSON_AddStringToObject(o, "state", r->up ? "up" : "punching");
        add_ago(o, "last_handshake_ago_s", now, r->last_hello_ms);
        add_ago(o, "last_rx_ago_s", now, r->last_rx_ms);
        cJSON_AddNumberToObject(o, "rx_packets", (double)p->rx_packets);
        cJSON_AddNumberToObject(o, "rx_bytes", (double)p->rx_bytes);
        cJSON_AddNumberToObject(o, "tx_packets", (double)p->tx_packets);
        cJSON_AddNumberToObject(o, "tx_bytes", (double)p->tx_bytes);
        cJSON *d = cJSON_AddObjectToObject(o, "drops");
        cJSON_AddNumberToObject(d, "spoofed_source", (double)p->drop_spoofed);
        cJSON_AddItemToArray(peers, o);
    }

    cJSON *off = cJSON_AddObjectToObject(root, "offload");
    cJSON_AddBoolToObject(off, "enabled", t->tun.offload);
    cJSON_AddNumberToObject(off, "tso4_in", (double)t->off.tso_in[0]);
    cJSON_AddNumberToObject(off, "tso6_in", (double)t->off.tso_in[1]);
    cJSON_AddNumberToObject(off, "tso_segments", (double)t->off.tso_segments);
    cJSON_AddNumberToObject(off, "gso_sends", (double)t->off.gso_sends);
    cJSON_AddNumberToObject(off, "coalesced4_out", (double)t->off.coalesced[0]);
    cJSON_AddNumberToObject(off, "coalesced6_out", (double)t->off.coalesced[1]);
    cJSON_AddNumberToObject(off, "coalesced_segments", (double)t->off.coalesced_segs);

    const struct rph_peer_stats *st = rph_peer_stats(t->peer);
    cJSON *d = cJSON_AddObjectToObject(root, "drops");
    cJSON_AddNumberToObject(d, "no_route", (double)t->drops.no_route);
    cJSON_AddNumberToObject(d, "malformed", (double)(t->drops.malformed + st->malformed));
    cJSON_AddNumberToObject(d, "unknown_peer", (double)st->unknown_peer);
    cJSON_AddNumberToObject(d, "spoofed_source", (double)t->drops.spoofed_source);
    cJSON_AddNumberToObject(d, "no_address", (double)t->drops.no_address);
    cJSON_AddNumberToObject(d, "address_conflict", (double)t->drops.address_conflict);
    cJSON_AddNumberToObject(d, "bad_control", (double)t->drops.bad_control);
    cJSON_AddNumberToObject(d, "unexpected", (double)(st->unexpected + st->session_mismatch));
    cJSON_AddNumberToObject(d, "local_scope", (double)t->drops.local_scope);
    cJSON_AddNumberToObject(d, "auth_failed", (double)st->auth_failed);
    cJSON_AddNumberToObject(d, "replayed", (double)st->replayed);
    cJSON_AddNumberToObject(d, "plain_ignored", (double)st->plain_ignored);
    cJSON_AddNumberToObject(d, "no_key", (double)(st->no_key + t->drops.no_key));
    cJSON_AddNumberToObject(d, "tun_write", (double)t->drops.tun_write);
    cJSON_AddNumberToObject(d, "udp_send", (double)t->drops.udp_send);
    char *s = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return s;
}
