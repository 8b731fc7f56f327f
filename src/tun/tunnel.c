// SPDX-License-Identifier: MIT
// The running tunnel: opening and closing it, peers up and down, their announcements (the
// policy decides, this file logs), the status accessors. The data path is send.c (TUN -> UDP)
// and receive.c (UDP -> TUN).
#include "tunnel.h"

#include <errno.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "announce.h"
#include "lancand.h"
#include "mapcand.h"
#include "offload.h"
#include "lan_dns.h"
#include "log.h"
#include "naming.h"
#include "nodekey.h"
#include "policy.h"
#include "portmap.h"
#include "ruphin/clock.h"
#include "ruphin/aead.h"
#include "ruphin/error.h"
#include "ruphin/ev.h"
#include "tun_linux.h"
#include "tunnel_priv.h"
#include "verdict.h"
#include "watch.h"

static const char *fmt_addr(const struct rph_addr *a, char *b)
{
    return rph_addr_format(a, b, RPH_ADDR_STRLEN);
}

static void send_announce(struct tunnel *t, struct rph_remote *r)
{
    /* A client waiting for its automatic address has nothing to announce yet. */
    if (!t->pol.self.has4 && !t->pol.self.has6) return;
    uint8_t b[RPH_FRAME_HEADROOM + ANNOUNCE_LEN + RPH_FRAME_TAILROOM];
    size_t n = announce_encode(&t->pol.self, b + RPH_FRAME_HEADROOM);
    rph_ev_peer_send_frame(t->ep, r, b, n);
    t->ann_sent_ms[r - t->rbase] = rph_now_ms();
}

/* Our LAN endpoints (t->local) and global IPv6 ones (t->local6), listed again once a second at
 * most: a server hears lists from every client each keepalive. n_local is -1 when the socket
 * has no IPv4, n_local6 when it has no IPv6 (no candidates of that family then). */
void tunnel_local_candidates(struct tunnel *t)
{
    uint64_t now = rph_now_ms();
    if (t->local_ms && now - t->local_ms < 1000) return;
    t->local_ms = now;
    struct rph_addr sock;
    t->n_local = t->n_local6 = -1;
    if (rph_ev_peer_local_addr(t->ep, &sock) < 0) return;
    unsigned fam = rph_ev_peer_families(t->ep);
    if (fam & RPH_EV_IPV4)
        t->n_local =
            lancand_local(t->local, sock.port, t->tun.name,
                          t->pol.self.has4 ? t->pol.self.addr4 : NULL, t->pol.self.prefix4);
    if (fam & RPH_EV_IPV6)
        t->n_local6 =
            lancand_local6(t->local6, sock.port, t->tun.name,
                           t->pol.self.has6 ? t->pol.self.addr6 : NULL, t->pol.self.prefix6);
}

/* Sealed: our LAN endpoints to r (tag 0x07 version 1, lancand.h), so that a peer behind the
 * same router reaches us without the router hairpinning, and our global IPv6 ones (version 2)
 * when the socket has IPv6, so that a peer with IPv6 reaches us directly when IPv4 would be
 * relayed. Never in plaintext: the crate's peers know no such message. */
static void send_lancand(struct tunnel *t, struct rph_remote *r)
{
    if (!t->cfg.seal) return;
    tunnel_local_candidates(t);
    uint8_t b[RPH_FRAME_HEADROOM + LANCAND_MAX_LEN + RPH_FRAME_TAILROOM];
    if (t->n_local >= 0) {
        size_t len = lancand_encode(t->local, (size_t)t->n_local, b + RPH_FRAME_HEADROOM);
        rph_ev_peer_send_frame(t->ep, r, b, len);
    }
    if (t->n_local6 >= 0) {
        size_t len = lancand_encode_v2(t->local6, (size_t)t->n_local6, b + RPH_FRAME_HEADROOM);
        rph_ev_peer_send_frame(t->ep, r, b, len);
    }
}

size_t tunnel_keep_paths(const struct tunnel *t, struct rph_addr *a, size_t n,
                         const struct rph_addr *own, int n_own)
{
    const struct announce *s = &t->pol.self;
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        bool overlay = a[i].family == 4 ? s->has4 && route_in_prefix(a[i].ip, s->addr4, s->prefix4)
                                        : s->has6 && route_in_prefix(a[i].ip, s->addr6, s->prefix6);
        if (!overlay) a[m++] = a[i];
    }
    return lancand_drop_own(a, m, own, n_own > 0 ? (size_t)n_own : 0);
}

/* A malformed or refused candidate list: at most one debug line per this. */
#define LANCAND_LOG_MS 10000u

/* Sealed: the endpoint our router maps to us (tag 0x08, mapcand.h), or that there is none, when
 * we ask for a mapping: a peer whose path to us is relayed tries it. */
static void send_mapcand(struct tunnel *t, struct rph_remote *r)
{
    if (!t->cfg.seal || !t->pm) return;
    struct portmap_info pmi;
    portmap_info(t->pm, rph_now_ms(), &pmi);
    struct rph_addr ext = {.family = 4, .port = pmi.ext_port};
    memcpy(ext.ip, &pmi.ext_ip, 4);
    uint8_t b[RPH_FRAME_HEADROOM + MAPCAND_LEN + RPH_FRAME_TAILROOM];
    size_t len = mapcand_encode(pmi.ext_ip ? &ext : NULL, b + RPH_FRAME_HEADROOM);
    rph_ev_peer_send_frame(t->ep, r, b, len);
}

/* The router's mapping appeared, changed or went: every peer hears it now. */
static void on_mapping(void *ctx, uint32_t ext_ip, uint16_t ext_port)
{
    (void)ext_ip;
    (void)ext_port;
    struct tunnel *t = ctx;
    for (size_t i = 0; i < t->pol.n_peers; i++)
        if (t->pol.peers[i].remote) send_mapcand(t, t->pol.peers[i].remote);
}

void tunnel_mapcand_from(struct tunnel *t, struct rph_remote *r, const uint8_t *d, size_t n)
{
    bool has = false;
    struct rph_addr a;
    const char *why = "not a sealed tunnel";
    int taken = -1;
    if (t->cfg.seal && mapcand_decode(d, n, &has, &a, &why) == 0) {
        taken = rph_peer_set_mapped_candidate(rph_ev_peer_core(t->ep), r, has ? &a : NULL,
                                              rph_now_ms());
        mesh_server_mapped(t, r, has ? &a : NULL);
        if (taken < 0) why = "no unicast IPv4 endpoint";
    }
    if (taken < 0) t->drops.bad_control++;
    char ep[RPH_ADDR_STRLEN], m[RPH_ADDR_STRLEN];
    if (taken == 1)
        log_debug("peer %s offers its port mapping %s", fmt_addr(&r->addr, ep), fmt_addr(&a, m));
    if (taken >= 0) return;
    uint64_t now = rph_now_ms();
    if (t->lancand_log_ms && now - t->lancand_log_ms < LANCAND_LOG_MS) return;
    t->lancand_log_ms = now;
    log_debug("peer %s: mapped candidate dropped: %s", fmt_addr(&r->addr, ep), why);
}

void tunnel_lancand_from(struct tunnel *t, struct rph_remote *r, const uint8_t *d, size_t n)
{
    struct rph_addr a[LANCAND_MAX];
    size_t k = 0;
    const char *why = "not a sealed tunnel";
    int taken = -1, version = -1;
    size_t own = 0, other = 0;
    if (t->cfg.seal && (version = lancand_decode(d, n, a, &k, &why)) > 0) {
        /* As offered, for its introductions to the other clients (mesh_server.c). */
        mesh_server_lan(t, r, version, a, k);
        tunnel_local_candidates(t);
        /* Version 1 lists IPv4 LAN endpoints; version 2 its global IPv6 ones (IPv4 entries
         * there are left to version 1, which every peer reads). */
        int want = version == LANCAND_VERSION ? 4 : 6;
        size_t m = 0;
        for (size_t i = 0; i < k; i++)
            if (a[i].family == want) a[m++] = a[i];
        other = k - m;
        const struct rph_addr *mine = want == 4 ? t->local : t->local6;
        int n_mine = want == 4 ? t->n_local : t->n_local6;
        size_t kept = tunnel_keep_paths(t, a, m, mine, n_mine);
        own = m - kept;
        struct rph_peer *core = rph_ev_peer_core(t->ep);
        unsigned fam = want == 4 ? RPH_EV_IPV4 : RPH_EV_IPV6;
        if (!(rph_ev_peer_families(t->ep) & fam)) { /* our socket lacks it: nothing to probe */
            taken = 0;
            own = 0;
            other = k;
        } else if (want == 4) {
            taken = rph_peer_set_lan_candidates(core, r, a, kept, rph_now_ms());
        } else {
            taken = rph_peer_set_v6_candidates(core, r, a, kept, rph_now_ms());
        }
    }
    if (taken < 0) t->drops.bad_control++;
    if (taken >= 0 && (size_t)taken + own + other == k) return;
    uint64_t now = rph_now_ms();
    if (t->lancand_log_ms && now - t->lancand_log_ms < LANCAND_LOG_MS) return;
    t->lancand_log_ms = now;
    char ep[RPH_ADDR_STRLEN];
    if (taken < 0)
        log_debug("peer %s: LAN candidates dropped: %s", fmt_addr(&r->addr, ep), why);
    else if (version == LANCAND_VERSION)
        log_debug(
            "peer %s: %d of %zu LAN candidates taken, %zu at our own addresses (the others: not "
            "unicast IPv4, where the holepuncher sees it, duplicates or too many)",
            fmt_addr(&r->addr, ep), taken, k, own);
    else
        log_debug("peer %s: %d of %zu IPv6 candidates taken, %zu at our own addresses, %zu not "
                  "IPv6 (the others: not global unicast, duplicates or too many)",
                  fmt_addr(&r->addr, ep), taken, k, own, other);
}

/* Within this, an announcement is not answered with ours: two peers never ping-pong. */
#define ANNOUNCE_ANSWER_MS 1000u

void tunnel_announce_now(struct tunnel *t, struct rph_remote *r)
{
    send_announce(t, r);
}

void tunnel_announce_answer(struct tunnel *t, struct rph_remote *r)
{
    if (!r->user) return;
    uint64_t sent = t->ann_sent_ms[r - t->rbase];
    /* Sealed, a handshake since our last announcement may be with a peer that restarted (a
     * server at a fixed port that kept nothing): it drops our traffic until it has our address,
     * so it gets it now, not with the next keepalive. A handshake comes once per session and
     * rekey, so this answers at most once more per handshake. */
    bool new_keys = t->cfg.seal && sent < r->last_hello_ms;
    if (!new_keys && rph_now_ms() - sent < ANNOUNCE_ANSWER_MS) return;
    send_announce(t, r);
}

void tunnel_goodbye_from(struct tunnel *t, struct rph_remote *r, const uint8_t *d, size_t n)
{
    if (goodbye_decode(d, n) < 0) {
        t->drops.bad_control++;
        return;
    }
    char ep[RPH_ADDR_STRLEN], k[NODEKEY_SHORT_LEN];
    const struct tpeer *tp = r->user;
    log_info("%s %s%s stopped (goodbye)%s", r->member ? "member" : "peer", fmt_addr(&r->addr, ep),
             nodekey_short(tp->has_key, tp->node_pk, k),
             t->cfg.role == RPH_ROLE_SERVER ? "; its address is free"
             : r->member                    ? ""
                                            : "; joining again");
    t->removing = true;
    rph_peer_remove(rph_ev_peer_core(t->ep), r, rph_now_ms());
    t->removing = false;
}

void tunnel_goodbye(struct tunnel *t)
{
    unsigned told = 0;
    for (size_t i = 0; i < t->n_slots; i++) {
        struct rph_remote *r = &t->rbase[i];
        if (!r->in_use || !r->up) continue;
        uint8_t b[RPH_FRAME_HEADROOM + GOODBYE_LEN + RPH_FRAME_TAILROOM];
        size_t n = goodbye_encode(b + RPH_FRAME_HEADROOM);
        if (rph_ev_peer_send_frame(t->ep, r, b, n) >= 0) told++;
    }
    if (told) log_info("told %u peer%s that we stop (goodbye)", told, told == 1 ? "" : "s");
}

static void on_remote(void *ctx, struct rph_remote *r, bool up)
{
    struct tunnel *t = ctx;
    char ep[RPH_ADDR_STRLEN];
    if (up) {
        struct tpeer *tp = policy_peer_up(&t->pol, (size_t)(r - t->rbase), r);
        r->user = tp;
        char k[NODEKEY_SHORT_LEN];
        log_info("%s %s%s up (handshake %llu ms after %s)", r->member ? "member" : "peer",
                 fmt_addr(&r->addr, ep), nodekey_short(tp->has_key, tp->node_pk, k),
                 (unsigned long long)(r->up_ms - r->added_ms),
                 r->member ? "the introduction" : "PeerInfo");
        mesh_client_up(t, r);
        mesh_server_changed(t, (size_t)(r - t->rbase));
        /* First: a server that knows our name names the holder in a refusal. Names and
         * addresses are the server's business, not a member's. */
        if (!r->member) naming_send(t, r);
        send_announce(t, r);
        send_lancand(t, r);
        send_mapcand(t, r);
        return;
    }
    if (!t->removing) /* a goodbye logged its own line */
        log_info("peer %s down: silent for %.1f s", fmt_addr(&r->addr, ep),
                 (double)(rph_now_ms() - r->last_rx_ms) / 1000.0);
    if (r->user && !r->member) naming_member_left(t, r->user);
    if (r->user) policy_peer_down(&t->pol, r->user);
    r->user = NULL;
    mesh_server_changed(t, (size_t)(r - t->rbase));
}

/* A flapping path must not flood the log: at most this many path lines a window. */
#define PATH_LINES 10
#define PATH_WINDOW_MS 10000u

/* The core moved a peer to the relay or back (docs/CONFIG.md "Log lines"). */
static void on_path(void *ctx, struct rph_remote *r, int reason)
{
    struct tunnel *t = ctx;
    uint64_t now = rph_now_ms();
    if (now - t->path_window_ms >= PATH_WINDOW_MS) {
        t->path_window_ms = now;
        t->path_lines = 0;
    }
    if (t->path_lines >= PATH_LINES) {
        t->path_suppressed++;
        return;
    }
    t->path_lines++;
    char ep[RPH_ADDR_STRLEN], rel[RPH_ADDR_STRLEN], sup[64] = "";
    if (t->path_suppressed)
        snprintf(sup, sizeof sup, " (%llu changes not logged before)",
                 (unsigned long long)t->path_suppressed);
    t->path_suppressed = 0;
    if (r->member && r->via_server && reason == RPH_PATH_IDLE)
        log_info("member %s idle %u s: its direct path rests (no keepalives), traffic to it goes "
                 "via the server and wakes it%s",
                 fmt_addr(&r->addr, ep), RPH_MEMBER_IDLE_MS / 1000, sup);
    else if (r->member && r->via_server)
        log_info("member %s path via the server (its direct path stopped answering): %s%s",
                 fmt_addr(&r->addr, ep), rph_path_reason_name(reason), sup);
    else if (r->relayed)
        log_info("peer %s path relayed (through holepuncher %s, as %s): %s%s",
                 fmt_addr(&r->addr, ep), t->cfg.holepuncher, fmt_addr(&r->relay_addr, rel),
                 rph_path_reason_name(reason), sup);
    else
        log_info("peer %s path direct: %s (%s)%s", fmt_addr(&r->addr, ep),
                 rph_path_reason_name(reason), tunnel_path_kind_text(mesh_client_path_kind(t, r)),
                 sup);
}

/* The core reports every SessionNotFound answer to a Join. The first is "is the server up?";
 * after NOT_FOUND_SUSPECT in a row a wrong key (or plaintext against sealed) is as likely, so
 * the warning says so, with this key's fingerprint to compare with the server's start line.
 * Then at most once a NOT_FOUND_EVERY_MS, never once per retry. */
#define NOT_FOUND_SUSPECT 3
#define NOT_FOUND_EVERY_MS 60000u
static void not_found(struct tunnel *t, const char *hp)
{
    uint64_t now = rph_now_ms();
    unsigned n = ++t->not_found_n;
    if (n == 1) {
        log_warn("holepuncher %s: session \"%s\" not found (is the server up?); retrying", hp,
                 t->cfg.session_str);
        return;
    }
    if (n < NOT_FOUND_SUSPECT) return;
    if (n > NOT_FOUND_SUSPECT && now - t->not_found_warn_ms < NOT_FOUND_EVERY_MS) return;
    t->not_found_warn_ms = now;
    if (t->cfg.seal)
        log_warn("holepuncher %s: session \"%s\" not found: is the server up, or does the key "
                 "differ? (this key's fingerprint %s; the server logs its own at start); "
                 "retrying (%u answers so far)",
                 hp, t->cfg.session_str, t->key_fp, n);
    else
        log_warn("holepuncher %s: session \"%s\" not found: is the server up, or is it sealed "
                 "(\"seal\" in its config) while this tunnel is plaintext? retrying (%u answers "
                 "so far)",
                 hp, t->cfg.session_str, n);
}

/* holepuncherd refuses our Register (RegisterRefused) every keepalive while another server
 * holds the session: an error line when that starts or the holder changes, not each time. */
static void held_by_other(struct tunnel *t, const char *hp)
{
    struct rph_addr holder = {0};
    if (!rph_peer_refused_by(rph_ev_peer_core(t->ep), &holder)) return;
    if (t->refused && rph_addr_equal(&holder, &t->refused_by)) return;
    t->refused = true;
    t->refused_by = holder;
    char other[RPH_ADDR_STRLEN];
    log_error("holepuncher %s: another server (from %s) holds session \"%s\" (key %s); "
              "retrying; is a second server configured?",
              hp, fmt_addr(&holder, other), t->cfg.session_str, t->key_fp);
}

static void on_state(void *ctx, enum rph_peer_state s, int err)
{
    struct tunnel *t = ctx;
    char hp[RPH_ADDR_STRLEN];
    fmt_addr(&t->cfg.holepuncher_addr, hp);
    if (!(s == RPH_STATE_JOINING && err == RPH_E_NOT_FOUND)) t->not_found_n = 0;
    switch (s) {
    case RPH_STATE_REGISTERED:
        log_info("session \"%s\" registered with holepuncher %s%s", t->cfg.session_str, hp,
                 t->refused ? " (no other server holds it now)" : "");
        t->refused = false;
        break;
    case RPH_STATE_REGISTERING:
        if (err == RPH_E_HELD)
            held_by_other(t, hp);
        else
            log_info("state %s", rph_state_name(s));
        break;
    case RPH_STATE_JOINING:
        if (err == RPH_E_NOT_FOUND)
            not_found(t, hp);
        else
            log_info("joining session \"%s\" through holepuncher %s", t->cfg.session_str, hp);
        break;
    case RPH_STATE_PUNCHING:
        log_info("got the server's endpoint from the holepuncher; punching");
        break;
    case RPH_STATE_CONNECTED:
        log_info("connected to the server");
        break;
    default:
        log_info("state %s", rph_state_name(s));
        break;
    }
}

/* Dropped datagrams can come at any rate (a flood): at most this many debug lines a second,
 * the rest counted in the next line. */
#define TRACE_DROP_LINES_PER_S 5

static void trace_drop(struct tunnel *t, const struct rph_trace *tr)
{
    uint64_t now = rph_now_ms();
    if (now - t->drop_window_ms >= 1000) {
        t->drop_window_ms = now;
        t->drop_lines = 0;
    }
    if (t->drop_lines >= TRACE_DROP_LINES_PER_S) {
        t->drop_suppressed++;
        return;
    }
    t->drop_lines++;
    char a[RPH_ADDR_STRLEN];
    log_debug("trace: dropped a datagram from %s: %s%s", fmt_addr(&tr->addr, a),
              rph_strerror(tr->code), t->drop_suppressed ? " (and more, not logged)" : "");
    t->drop_suppressed = 0;
}

/* The core's fresh-port retry (docs/PROTOCOL.md "Fresh-port retries"): rph_ev_peer swapped in a
 * socket on a new port. The router's port mapping and our LAN candidates follow it. */
static int on_fresh_port(void *ctx, unsigned attempt)
{
    struct tunnel *t = ctx;
    struct rph_addr local = {0};
    rph_ev_peer_local_addr(t->ep, &local);
    log_info("fresh local port %u (attempt %u of %u): direct path to server failed", local.port,
             attempt, RPH_FRESH_PORT_TRIES);
    if (t->pm) portmap_set_local_port(t->pm, local.port);
    t->local_ms = 0; /* our LAN endpoints carry the port */
    for (size_t i = 0; i < t->pol.n_peers; i++)
        if (t->pol.peers[i].remote) send_lancand(t, t->pol.peers[i].remote);
    return 0;
}

/* log_level debug: the core's protocol events, one line each (docs/CONFIG.md "log_level"). */
static void on_trace(void *ctx, const struct rph_trace *tr)
{
    struct tunnel *t = ctx;
    if (tr->what == RPH_TRACE_FRESH_PORT && tr->code < 0)
        log_warn("fresh local port: no new socket (%s); the path to the server stays relayed",
                 rph_strerror(tr->code));
    if (log_get_level() < LOG_LVL_DEBUG) return;
    if (tr->what == RPH_TRACE_DROP) {
        trace_drop(t, tr);
        return;
    }
    char a[RPH_ADDR_STRLEN], b[RPH_ADDR_STRLEN];
    const char *name = rph_trace_name(tr->what);
    fmt_addr(&tr->addr, a);
    switch (tr->what) {
    case RPH_TRACE_HP_SENT:
        log_debug("trace: %s: %s to holepuncher %s", name, rph_type_name(tr->code), a);
        break;
    case RPH_TRACE_HP_ANSWER: {
        bool info = tr->code == RPH_PEER_INFO || tr->code == RPH_SEALED_PEER_INFO ||
                    tr->code == RPH_TIMED_PEER_INFO;
        log_debug("trace: %s: %s%s%s", name, rph_type_name(tr->code), info ? " naming " : "",
                  info ? a : "");
        break;
    }
    case RPH_TRACE_PUNCH_TIMED:
        log_debug("trace: %s: first packet to %s held %d ms (we are nearer the holepuncher)", name,
                  a, tr->code);
        break;
    case RPH_TRACE_HS_SENT:
        log_debug("trace: %s: %s to %s", name, rph_type_name(tr->code), a);
        break;
    case RPH_TRACE_HS_TAKEN:
        log_debug("trace: %s: %s from %s", name, rph_type_name(tr->code), a);
        break;
    case RPH_TRACE_KEYS:
        log_debug("trace: %s: %s with %s", name, tr->code ? "rekeyed" : "installed", a);
        break;
    case RPH_TRACE_MOVED:
        log_debug("trace: %s: peer endpoint %s -> %s%s", name, tr->remote ? a : "(none)",
                  fmt_addr(&tr->addr2, b), tr->code ? " (the holepuncher named it)" : "");
        break;
    case RPH_TRACE_CANDIDATE:
        log_debug("trace: %s: probe to %s (%s)", name, a,
                  tr->code == RPH_CAND_LAN ? "a LAN address it offered"
                                           : "the port its punch came from");
        break;
    case RPH_TRACE_PROBE:
        if (tr->code == 2) /* a server: our NAT may have given us a new port */
            log_debug("trace: %s: client %s silent for 1 s after data; registering again", name, a);
        else
            log_debug("trace: %s: server %s silent for 1 s after data; %sasking the holepuncher",
                      name, a, tr->code ? "rekeying, " : "");
        break;
    default:
        log_debug("trace: %s: %s", name, a);
        break;
    }
}

/* How often (s) a member hears our announcement and candidates again, unchanged. */
#define MEMBER_REPEAT_S 300u
/* ... and a sealed server or client of ours: a restarted one handshakes again and hears all of
 * it as it comes up (on_remote), so the repeat only covers a lost message. */
#define SEALED_REPEAT_S 60u

/* Every so many timer ticks (the keepalive interval), at least once. */
static unsigned ticks_of(const struct tunnel *t, unsigned secs)
{
    unsigned ka = (unsigned)t->cfg.keepalive_interval;
    unsigned n = (secs + ka - 1) / ka;
    return n ? n : 1;
}

/* Sealed, our own server: the repeats go every tick while something is still asked of it (no
 * verdict yet, or a refusal; our automatic address not assigned yet). */
static bool client_waiting(const struct tunnel *t, const struct rph_remote *r)
{
    if (t->cfg.role != RPH_ROLE_CLIENT || r->member) return false;
    const struct tpeer *tp = r->user;
    if (!tp || !tp->has_verdict || tp->verdict.reason != VERDICT_ACCEPTED) return true;
    return t->cfg.addr_auto && !t->assigned;
}

static bool same_list(const struct rph_addr *a, int n, const struct rph_addr *b, int m)
{
    if (n != m) return false;
    for (int i = 0; i < n; i++)
        if (!rph_addr_equal(&a[i], &b[i])) return false;
    return true;
}

/* Sealed: our candidate lists changed since the last tick (an address came, went or moved)? */
static bool candidates_changed(struct tunnel *t)
{
    if (!t->cfg.seal) return false;
    tunnel_local_candidates(t);
    bool same = same_list(t->local, t->n_local, t->local_tx, t->n_local_tx) &&
                same_list(t->local6, t->n_local6, t->local6_tx, t->n_local6_tx);
    memcpy(t->local_tx, t->local, sizeof t->local);
    memcpy(t->local6_tx, t->local6, sizeof t->local6);
    t->n_local_tx = t->n_local;
    t->n_local6_tx = t->n_local6;
    return !same;
}

static void on_announce_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct tunnel *t = arg;
    /* Everything goes to a peer as it comes up, and a change at once (an address assigned, a
     * mapping, the candidates below); the repeats only make up for a lost message. Plaintext
     * peers hear them every keepalive: without a handshake, a restarted peer learns our address
     * from them. Sealed ones every minute, members every 5 minutes: in an idle 64-member mesh
     * the repeats and their answers were most of each member's wake-ups. */
    unsigned tick = ++t->announce_ticks; /* from 1: the first tick is a keepalive after all of
                                          * it went to the peers that came up */
    bool members_due = tick % ticks_of(t, MEMBER_REPEAT_S) == 0;
    bool sealed_due = !t->cfg.seal || tick % ticks_of(t, SEALED_REPEAT_S) == 0;
    bool moved = candidates_changed(t) && tick > 1;
    for (size_t i = 0; i < t->pol.n_peers; i++) {
        struct rph_remote *r = t->pol.peers[i].remote;
        if (!r) continue;
        bool due = r->member ? members_due : sealed_due || client_waiting(t, r);
        if (!due) {
            if (moved) send_lancand(t, r);
            continue;
        }
        if (!r->member) naming_send(t, r);
        send_announce(t, r);
        send_lancand(t, r);
        send_mapcand(t, r);
    }
    /* An endpoint that moved changes an introduction: a look, not a resend of all. */
    mesh_server_changed(t, SIZE_MAX);
    mesh_client_retry(t, rph_now_ms());
}

/* After each core tick: the status watch looks then (watch.c), not on a timer of its own. */
static void on_core_tick(void *ctx, uint64_t now_ms)
{
    struct tunnel *t = ctx;
    if (t->watch) watch_nudge(t->watch, now_ms);
}

int tunnel_new(struct tunnel **out, const struct tund_config *cfg, struct event_base *base,
               const struct tun_dev *tun, struct errmsg *err)
{
    struct tunnel *t = calloc(1, sizeof *t);
    if (!t) {
        struct tun_dev dev = *tun;
        tun_close(&dev);
        return errmsg_fail(err, -ENOMEM, "out of memory");
    }
    t->cfg = *cfg;
    /* Only keys derived from the caller's copy are kept; this copy is never needed. */
    rph_seal_wipe(t->cfg.seal_key, sizeof t->cfg.seal_key);
    rph_seal_wipe(t->cfg.node_sk, sizeof t->cfg.node_sk);
    t->base = base;
    t->tun = *tun;
    /* Room for a 64 KB TSO super-packet (IPv6: 65535 + 40) besides framing. */
    t->buf_cap = RPH_FRAME_HEADROOM + 65535 + 40 + RPH_FRAME_TAILROOM;
    t->buf = malloc(t->buf_cap);
    int r = -ENOMEM;
    if (!t->buf) {
        errmsg_set(err, "out of memory");
        goto fail;
    }

    struct rph_peer_config pc;
    rph_peer_config_defaults(&pc, cfg->role);
    pc.session = cfg->session;
    pc.holepuncher = cfg->holepuncher_addr;
    pc.keepalive_ms = (uint32_t)cfg->keepalive_interval * 1000u;
    pc.peer_timeout_ms = (uint32_t)cfg->peer_timeout * 1000u;
    pc.handshake_timeout_ms = 0; /* a daemon never gives up */
    pc.max_remotes = MAX_PEERS;
    /* A sealed client with "mesh" keeps sessions with the members its server introduces; it
     * gets none from a hub server. */
    if (cfg->seal && cfg->mesh && cfg->role == RPH_ROLE_CLIENT) pc.mesh_max = MESH_MAX;
    if (cfg->seal) {
        pc.sealed = true;
        pc.relay = cfg->seal_relay;
        r = rph_aead_select(RPH_AEAD_AUTO); /* the default, or RUPHIN_AEAD's choice */
        if (r < 0) {
            /* The benchmarks name an implementation: running another would measure it. */
            const char *env = getenv("RUPHIN_AEAD");
            if (r == RPH_E_NOTSUP && env)
                errmsg_set(err,
                           "sealing: RUPHIN_AEAD=\"%s\" names no implementation this build "
                           "and CPU have (sodium, avx512, openssl)",
                           env);
            else if (r == RPH_E_CRYPTO)
                errmsg_set(err, "sealing: OpenSSL failed to set up ChaCha20-Poly1305");
            else
                errmsg_set(err, "sealing: libsodium failed to initialise");
            goto fail;
        }
        log_info("sealed: ChaCha20-Poly1305 with the %s implementation", rph_aead_impl_name());
        r = rph_seal_derive(&pc.seal, cfg->seal_key, cfg->session.id, cfg->session.len);
        if (r < 0) {
            errmsg_set(err, "sealing: deriving the session's keys: %s", rph_strerror(r));
            goto fail;
        }
        rph_seal_fingerprint(&pc.seal.wire_session, t->key_fp);
        if (!cfg->has_node_key) {
            errmsg_set(err, "sealing: no node key (the config was not resolved for a start)");
            r = -EINVAL;
            goto fail;
        }
        memcpy(pc.node_sk, cfg->node_sk, sizeof pc.node_sk);
        /* t->cfg lives as long as the peer that points into it. */
        pc.members = (const uint8_t(*)[32])t->cfg.members;
        pc.n_members = t->cfg.n_members;
        /* Tests only (ruphin-tund(8)): rekey every few seconds, to attack many rekeys. */
        const char *rekey = getenv("RUPHIN_TEST_REKEY_MS");
        if (rekey) {
            char *end;
            long v = strtol(rekey, &end, 10);
            if (!*rekey || *end || v < 500 || v > 3600000) {
                errmsg_set(err,
                           "RUPHIN_TEST_REKEY_MS=\"%s\": not a number of ms from 500 to 3600000",
                           rekey);
                r = -EINVAL;
                goto fail;
            }
            pc.rekey_ms = (uint32_t)v;
            log_warn("RUPHIN_TEST_REKEY_MS: rekeying every %ld ms (a test setting)", v);
        }
    }
    struct rph_ev_peer_options opt = {.sndbuf = 4 << 20,
                                      .rcvbuf = 4 << 20,
                                      .gro = t->tun.offload,
                                      .queue_payload_max = (size_t)cfg->mtu,
                                      .on_flush = receive_on_flush,
                                      .on_sent = send_on_sent,
                                      .on_tick = on_core_tick};
    t->gro = malloc(sizeof *t->gro);
    if (!t->gro) {
        errmsg_set(err, "out of memory");
        r = -ENOMEM;
        goto fail;
    }
    memset(t->gro, 0, sizeof *t->gro);
    opt.bind.family = cfg->holepuncher_addr.family;
    opt.bind.port = cfg->port;
    /* An IPv4 holepuncher and a global IPv6 address here: one socket for both families, so
     * that peers with IPv6 can reach us directly over it (IPv6 candidates) when IPv4 would be
     * relayed. A host without one keeps a plain IPv4 socket. */
    if (cfg->holepuncher_addr.family == 4 && cfg->seal) {
        struct rph_addr v6[LANCAND_MAX];
        opt.dual_stack =
            lancand_local6(v6, 0, tun->name, cfg->has_addr6 ? cfg->addr6 : NULL, cfg->prefix6) > 0;
    }
    struct rph_peer_callbacks cb = {.on_data = receive_on_data,
                                    .on_remote = on_remote,
                                    .on_path = on_path,
                                    .on_state = on_state,
                                    .on_trace = on_trace,
                                    .fresh_port = on_fresh_port};
    t->ep = rph_ev_peer_new(base, &pc, &opt, &cb, t, &r);
    rph_seal_wipe(&pc.seal, sizeof pc.seal);
    rph_seal_wipe(pc.node_sk, sizeof pc.node_sk);
    if (!t->ep) {
        errmsg_set(err, "UDP socket (port %u): %s", cfg->port, rph_strerror(r));
        goto fail;
    }
    t->rbase = rph_peer_remotes(rph_ev_peer_core(t->ep), &t->n_slots);
    if (opt.dual_stack) {
        if (rph_ev_peer_families(t->ep) == (RPH_EV_IPV4 | RPH_EV_IPV6))
            log_info("UDP socket takes IPv4 and IPv6: our global IPv6 addresses are offered to "
                     "peers as candidates");
        else
            log_warn("no dual-stack UDP socket here (IPv6 disabled?): IPv4 only, no IPv6 "
                     "candidates");
    }
    /* An automatic address is none until the server assigns it (naming.c). */
    struct announce self = {.has4 = !cfg->addr_auto, .prefix4 = (uint8_t)cfg->prefix4};
    memcpy(self.addr4, cfg->addr4, 4);
    if (cfg->has_addr6) {
        self.has6 = true;
        memcpy(self.addr6, cfg->addr6, 16);
        self.prefix6 = (uint8_t)cfg->prefix6;
    }
    /* Two keepalives of silence and a holder is gone (policy.h). */
    r = policy_init(&t->pol, cfg->role, &self, 2000ull * (unsigned)cfg->keepalive_interval,
                    t->n_slots);
    t->tun_ev = event_new(base, t->tun.fd, EV_READ | EV_PERSIST, send_on_tun, t);
    t->announce_ev = event_new(base, -1, EV_PERSIST, on_announce_timer, t);
    if (r < 0 || !t->tun_ev || !t->announce_ev) {
        errmsg_set(err, "out of memory");
        r = -ENOMEM;
        goto fail;
    }
    bool mesh_srv = cfg->role == RPH_ROLE_SERVER && cfg->seal && cfg->mesh;
    bool mesh_cli = cfg->role == RPH_ROLE_CLIENT && cfg->seal && cfg->mesh;
    if ((mesh_cli && !(t->known = mesh_client_table())) ||
        (mesh_srv && !(t->ms = mesh_server_new(t)))) {
        errmsg_set(err, "out of memory");
        r = -ENOMEM;
        goto fail;
    }
    if (mesh_srv)
        log_info("mesh: clients are introduced to each other (\"mesh\": false for a hub)");
    if ((r = naming_init(t, err)) < 0) goto fail;
    /* NAT-PMP maps IPv4 only: an IPv6 underlay has no NAT to ask. */
    struct rph_addr local;
    if (cfg->port_mapping && cfg->holepuncher_addr.family == 4 &&
        rph_ev_peer_local_addr(t->ep, &local) == 0) {
        t->pm = portmap_new(base, local.port, on_mapping, t);
        if (!t->pm) {
            errmsg_set(err, "out of memory");
            r = -ENOMEM;
            goto fail;
        }
    }
    if ((r = lan_dns_start(t, err)) < 0) goto fail;
    event_add(t->tun_ev, NULL);
    struct timeval ka = {cfg->keepalive_interval, 0};
    event_add(t->announce_ev, &ka);
    *out = t;
    return 0;
fail:
    tunnel_close(t);
    return r;
}

void tunnel_close(struct tunnel *t)
{
    if (!t) return;
    if (t->tun_ev) event_free(t->tun_ev);
    if (t->announce_ev) event_free(t->announce_ev);
    if (t->verdict_ev) event_free(t->verdict_ev);
    lan_dns_stop(t);     /* before the device goes: resolved is told while the link is there */
    portmap_free(t->pm); /* deletes the mapping on the router */
    rph_ev_peer_free(t->ep);
    tun_close(&t->tun);
    policy_free(&t->pol);
    mesh_server_free(t->ms);
    free(t->known);
    naming_free(t);
    free(t->buf);
    free(t->gro);
    free(t);
}

bool tunnel_port_mapping(const struct tunnel *t, uint64_t now_ms, struct portmap_info *out)
{
    if (!t->pm) return false;
    portmap_info(t->pm, now_ms, out);
    return true;
}

const struct tund_config *tunnel_config(const struct tunnel *t)
{
    return &t->cfg;
}

bool tunnel_offload_enabled(const struct tunnel *t)
{
    return t->tun.offload;
}

const struct tunnel_drops *tunnel_drops(const struct tunnel *t)
{
    return &t->drops;
}

const struct tunnel_offload *tunnel_offload(const struct tunnel *t)
{
    return &t->off;
}

const struct tunnel_mesh_stats *tunnel_mesh(const struct tunnel *t)
{
    return &t->mesh;
}

const struct rph_peer_stats *tunnel_proto_stats(const struct tunnel *t)
{
    return rph_peer_stats(rph_ev_peer_core(t->ep));
}

size_t tunnel_quiet_members(const struct tunnel *t)
{
    return rph_peer_quiet_members(rph_ev_peer_core(t->ep));
}

int tunnel_local_addr(const struct tunnel *t, struct rph_addr *out)
{
    return rph_ev_peer_local_addr(t->ep, out);
}

const char *tunnel_local_families(const struct tunnel *t)
{
    unsigned f = rph_ev_peer_families(t->ep);
    return f == (RPH_EV_IPV4 | RPH_EV_IPV6) ? "ipv4+ipv6" : f == RPH_EV_IPV6 ? "ipv6" : "ipv4";
}

const char *tunnel_holepuncher_state(const struct tunnel *t, uint64_t now_ms, uint64_t *last_ms)
{
    const struct rph_peer *core = rph_ev_peer_core(t->ep);
    *last_ms = rph_peer_holepuncher_last_ms(core);
    return rph_peer_holepuncher_status(core, now_ms);
}

uint32_t tunnel_holepuncher_rtt(const struct tunnel *t)
{
    return rph_peer_stats(rph_ev_peer_core(t->ep))->hp_rtt_ms;
}

const char *tunnel_key_fingerprint(const struct tunnel *t)
{
    return t->key_fp;
}

size_t tunnel_peer_slots(const struct tunnel *t)
{
    return t->n_slots;
}

const char *tunnel_path_kind_text(int kind)
{
    switch (kind) {
    case RPH_PATHK_DIRECT4:
        return "over IPv4";
    case RPH_PATHK_DIRECT6:
        return "over IPv6";
    case RPH_PATHK_LAN:
        return "over the LAN";
    case RPH_PATHK_RELAYED:
        return "through the relay";
    case RPH_PATHK_MAPPED:
        return "through its router's port mapping";
    }
    return "?";
}

bool tunnel_peer_info(const struct tunnel *t, size_t i, struct tunnel_peer_info *out)
{
    if (i >= t->n_slots || !t->rbase[i].in_use) return false;
    const struct rph_remote *r = &t->rbase[i];
    const struct tpeer *p = &t->pol.peers[i];
    memset(out, 0, sizeof *out);
    bool ann = p->remote && p->announced;
    out->has4 = ann && p->ann.has4;
    out->has6 = ann && p->ann.has6;
    memcpy(out->addr4, p->ann.addr4, 4);
    memcpy(out->addr6, p->ann.addr6, 16);
    out->prefix4 = p->ann.prefix4;
    out->prefix6 = p->ann.prefix6;
    out->has_verdict = p->remote && p->has_verdict;
    out->verdict = p->verdict;
    out->endpoint = r->addr;
    out->relayed = r->relayed;
    out->path_kind = (uint8_t)mesh_client_path_kind(t, r);
    out->relay_endpoint = r->relay_addr;
    out->has_relay_endpoint = r->has_relay_addr;
    out->n_cand = r->n_cand;
    memcpy(out->cand, r->cand, sizeof out->cand);
    out->path_ms = r->path_ms ? r->path_ms : r->up_ms;
    out->rtt_ms = r->rtt_ms;
    out->punch_delay_ms = r->punch_delay_ms;
    out->up = r->up;
    out->last_handshake_ms = r->last_hello_ms;
    out->last_rx_ms = r->last_rx_ms;
    out->rx_packets = p->rx_packets;
    out->rx_bytes = p->rx_bytes;
    out->tx_packets = p->tx_packets;
    out->tx_bytes = p->tx_bytes;
    out->drop_spoofed = p->drop_spoofed;
    out->has_node_pk = r->has_node_pk;
    if (r->has_node_pk) memcpy(out->node_pk, r->node_pk, sizeof out->node_pk);
    out->has_name = p->remote && p->has_name;
    memcpy(out->name, p->name, sizeof out->name);
    out->member = r->member;
    out->via_server = r->member && !rph_remote_usable(r, rph_now_ms());
    out->idle = r->member && r->quiet;
    /* A member's name: the server's list of members (tag 0x06) has it by node key. */
    for (size_t k = 0; r->member && !out->has_name && k < t->n_listed; k++) {
        const struct member_msg *m = &t->listed[k].m;
        if (m->has_key && memcmp(m->pk, r->node_pk, 32) == 0) {
            out->has_name = true;
            snprintf(out->name, sizeof out->name, "%s", m->name);
        }
    }
    return true;
}

const struct announce *tunnel_self(const struct tunnel *t)
{
    return &t->pol.self;
}

const char *tunnel_name(const struct tunnel *t)
{
    return naming_self(t);
}

size_t tunnel_listed_count(const struct tunnel *t)
{
    return t->n_listed;
}

bool tunnel_listed(const struct tunnel *t, size_t i, struct member_msg *out, uint64_t *seen_ms)
{
    if (i >= t->n_listed) return false;
    *out = t->listed[i].m;
    *seen_ms = t->listed[i].seen_ms;
    return true;
}

uint64_t tunnel_listed_fresh_ms(const struct tunnel *t)
{
    unsigned ka = (unsigned)t->cfg.keepalive_interval;
    unsigned ticks = t->cfg.seal ? ticks_of(t, SEALED_REPEAT_S) : 1;
    return 3000ull * ka * ticks;
}

bool tunnel_node_public(const struct tunnel *t, uint8_t out[32])
{
    if (!t->cfg.seal) return false;
    rph_peer_node_public(rph_ev_peer_core(t->ep), out);
    return true;
}
