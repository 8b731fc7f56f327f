// SPDX-License-Identifier: MIT
// The NAT-PMP exchange on the daemon's event loop: ask the default gateway for its public
// address, then for a UDP mapping of the tunnel's port; portmap_sm.c says when. Each attempt
// opens the gateway anew, so a machine that moved to another network asks its new router.
#include "portmap.h"

#include <arpa/inet.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "ruphin/clock.h"

#ifdef RUPHIN_HAVE_NATPMP
#define ENABLE_STRNATPMPERR 1 /* Debian's libnatpmp has it; the header hides it by default */
#include <natpmp.h>
#include <poll.h>

enum step { STEP_NONE, STEP_PUBLIC, STEP_MAP };

struct portmap {
    struct event_base *base;
    struct event *timer, *rd;
    natpmp_t np;
    bool open;
    enum step step;
    uint16_t local_port;
    uint32_t public_ip; /* from the public address answer of this exchange */
    struct portmap_sm sm;
    char gateway[16];
    char last_error[96];
    bool told_failure; /* the failure since the last success was logged at info */
    portmap_change_fn fn;
    void *ctx;
};

static void np_close(struct portmap *p)
{
    if (p->rd) event_free(p->rd);
    p->rd = NULL;
    if (p->open) closenatpmp(&p->np);
    p->open = false;
    p->step = STEP_NONE;
}

static void on_event(evutil_socket_t fd, short what, void *arg);

static void fail(struct portmap *p, uint64_t now, const char *what, int code)
{
    bool was = portmap_sm_mapped(&p->sm);
    snprintf(p->last_error, sizeof p->last_error, "%s: %s", what,
             code ? strnatpmperr(code) : "no answer within 2 s");
    np_close(p);
    portmap_sm_failed(&p->sm, now);
    uint64_t next = p->sm.next_ms > now ? (p->sm.next_ms - now) / 1000 : 0;
    if (!p->told_failure || (was && !portmap_sm_mapped(&p->sm)))
        log_info("port mapping: gateway %s: %s (NAT-PMP; next try in %llu s)",
                 p->gateway[0] ? p->gateway : "(none)", p->last_error, (unsigned long long)next);
    else
        log_debug("port mapping: gateway %s: %s (next try in %llu s)", p->gateway, p->last_error,
                  (unsigned long long)next);
    p->told_failure = true;
    if (was && !portmap_sm_mapped(&p->sm) && p->fn) p->fn(p->ctx, 0, 0);
}

static void start(struct portmap *p, uint64_t now)
{
    np_close(p);
    int r = initnatpmp(&p->np, 0, 0);
    if (r < 0) {
        p->gateway[0] = 0;
        fail(p, now, "finding the default gateway", r);
        return;
    }
    p->open = true;
    struct in_addr gw = {.s_addr = p->np.gateway};
    inet_ntop(AF_INET, &gw, p->gateway, sizeof p->gateway);
    p->rd = event_new(p->base, p->np.s, EV_READ | EV_PERSIST, on_event, p);
    if (!p->rd || event_add(p->rd, NULL) < 0) {
        fail(p, now, "event", NATPMP_ERR_SOCKETERROR);
        return;
    }
    r = sendpublicaddressrequest(&p->np);
    if (r < 0) {
        fail(p, now, "sending the public address request", r);
        return;
    }
    p->step = STEP_PUBLIC;
}

static void got(struct portmap *p, uint64_t now, const natpmpresp_t *resp)
{
    if (p->step == STEP_PUBLIC && resp->type == NATPMP_RESPTYPE_PUBLICADDRESS) {
        p->public_ip = resp->pnu.publicaddress.addr.s_addr;
        /* Ask for the port we had (a renewal), else the local port itself. */
        uint16_t want = p->sm.ext_port ? p->sm.ext_port : p->local_port;
        int r = sendnewportmappingrequest(&p->np, NATPMP_PROTOCOL_UDP, p->local_port, want,
                                          PORTMAP_LIFETIME_S);
        if (r < 0)
            fail(p, now, "sending the mapping request", r);
        else
            p->step = STEP_MAP;
        return;
    }
    if (p->step == STEP_MAP && resp->type == NATPMP_RESPTYPE_UDPPORTMAPPING) {
        uint16_t port = resp->pnu.newportmapping.mappedpublicport;
        uint32_t life = resp->pnu.newportmapping.lifetime;
        if (resp->pnu.newportmapping.privateport != p->local_port || port == 0 || life == 0) {
            fail(p, now, "the gateway's answer", NATPMP_ERR_UNDEFINEDERROR);
            return;
        }
        np_close(p);
        bool renewal = portmap_sm_mapped(&p->sm);
        bool changed = portmap_sm_granted(&p->sm, now, p->public_ip, port, life);
        char ip[INET_ADDRSTRLEN];
        inet_ntop(AF_INET, &p->public_ip, ip, sizeof ip);
        p->last_error[0] = 0;
        p->told_failure = false;
        if (changed)
            log_info("port mapping: %s:%u -> local port %u via NAT-PMP gateway %s (lifetime %u s)",
                     ip, port, p->local_port, p->gateway, life);
        else if (renewal)
            log_debug("port mapping: %s:%u renewed for %u s", ip, port, life);
        if (changed && p->fn) p->fn(p->ctx, p->public_ip, port);
    }
    /* Any other answer (a late one from an earlier request) is ignored. */
}

static void schedule(struct portmap *p, uint64_t now)
{
    uint64_t at = p->sm.next_ms;
    if (p->step != STEP_NONE) {
        struct timeval tv;
        if (getnatpmprequesttimeout(&p->np, &tv) == 0) {
            uint64_t ms = (uint64_t)tv.tv_sec * 1000 + (uint64_t)tv.tv_usec / 1000;
            if (now + ms < at) at = now + ms;
        }
    }
    uint64_t d = at > now ? at - now : 0;
    struct timeval tv = {.tv_sec = (time_t)(d / 1000), .tv_usec = (suseconds_t)(d % 1000) * 1000};
    evtimer_add(p->timer, &tv);
}

/* Drives libnatpmp (answers, resends) and the timing. */
static void on_event(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct portmap *p = arg;
    uint64_t now = rph_now_ms();
    while (p->step != STEP_NONE) {
        natpmpresp_t resp;
        int r = readnatpmpresponseorretry(&p->np, &resp);
        if (r == NATPMP_TRYAGAIN) break;
        if (r < 0) {
            fail(p, now, p->step == STEP_PUBLIC ? "public address" : "mapping", r);
            break;
        }
        got(p, now, &resp);
    }
    switch (portmap_sm_tick(&p->sm, now)) {
    case PORTMAP_ASK:
        start(p, now);
        break;
    case PORTMAP_TIMEOUT:
        fail(p, now, p->step == STEP_MAP ? "mapping" : "public address", 0);
        break;
    case PORTMAP_NOTHING:
        break;
    }
    schedule(p, now);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    on_event(fd, what, arg);
}

struct portmap *portmap_new(struct event_base *base, uint16_t local_port, portmap_change_fn fn,
                            void *ctx)
{
    struct portmap *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->base = base;
    p->local_port = local_port;
    p->fn = fn;
    p->ctx = ctx;
    p->timer = evtimer_new(base, on_timer, p);
    if (!p->timer) {
        free(p);
        return NULL;
    }
    portmap_sm_init(&p->sm, rph_now_ms());
    struct timeval now_tv = {0, 0};
    evtimer_add(p->timer, &now_tv);
    return p;
}

void portmap_set_local_port(struct portmap *p, uint16_t local_port)
{
    if (p->local_port == local_port) return;
    bool was = portmap_sm_mapped(&p->sm);
    np_close(p);
    p->local_port = local_port;
    /* A new socket (a fresh-port retry): a mapping for its port, asked for now. The old port's
     * mapping expires on the router with its lifetime; its counters stay. */
    struct portmap_sm old = p->sm;
    portmap_sm_init(&p->sm, rph_now_ms());
    p->sm.mapped = old.mapped;
    p->sm.renewals = old.renewals;
    p->sm.failures = old.failures;
    p->told_failure = false;
    if (was && p->fn) p->fn(p->ctx, 0, 0);
    struct timeval now_tv = {0, 0};
    evtimer_add(p->timer, &now_tv);
}

void portmap_free(struct portmap *p)
{
    if (!p) return;
    if (portmap_sm_mapped(&p->sm)) {
        /* Delete it: lifetime 0 (RFC 6886 3.4). The daemon is stopping: a short blocking wait. */
        np_close(p);
        if (initnatpmp(&p->np, 0, 0) == 0) {
            p->open = true;
            if (sendnewportmappingrequest(&p->np, NATPMP_PROTOCOL_UDP, p->local_port, 0, 0) >= 0) {
                struct pollfd pf = {.fd = p->np.s, .events = POLLIN};
                natpmpresp_t resp;
                bool done = false;
                for (int i = 0; i < 3 && !done; i++) {
                    if (poll(&pf, 1, 100) <= 0) continue;
                    done = readnatpmpresponseorretry(&p->np, &resp) == 0;
                }
                char ip[INET_ADDRSTRLEN];
                inet_ntop(AF_INET, &p->sm.ext_ip, ip, sizeof ip);
                if (done)
                    log_info("port mapping: %s:%u deleted", ip, p->sm.ext_port);
                else
                    log_info("port mapping: %s:%u: the gateway did not confirm the deletion (it "
                             "expires by itself)",
                             ip, p->sm.ext_port);
            }
        }
    }
    np_close(p);
    event_free(p->timer);
    free(p);
}

void portmap_info(const struct portmap *p, uint64_t now_ms, struct portmap_info *out)
{
    static const char *const names[] = {"none", "asking", "mapped", "renewing"};
    memset(out, 0, sizeof *out);
    out->available = true;
    out->state = names[p->sm.state];
    snprintf(out->gateway, sizeof out->gateway, "%s", p->gateway);
    out->local_port = p->local_port;
    if (portmap_sm_mapped(&p->sm)) {
        out->ext_ip = p->sm.ext_ip;
        out->ext_port = p->sm.ext_port;
        out->lifetime_s = p->sm.lifetime_s;
        out->expires_in_ms = p->sm.expires_ms > now_ms ? p->sm.expires_ms - now_ms : 0;
    }
    out->next_in_ms = p->sm.next_ms > now_ms ? p->sm.next_ms - now_ms : 0;
    out->mapped = p->sm.mapped;
    out->renewals = p->sm.renewals;
    out->failures = p->sm.failures;
    snprintf(out->last_error, sizeof out->last_error, "%s", p->last_error);
}

#else /* without libnatpmp: nothing to ask with */

struct portmap {
    uint16_t local_port;
};

struct portmap *portmap_new(struct event_base *base, uint16_t local_port, portmap_change_fn fn,
                            void *ctx)
{
    (void)base;
    (void)fn;
    (void)ctx;
    struct portmap *p = calloc(1, sizeof *p);
    if (p) p->local_port = local_port;
    log_info("port mapping: not in this build (no libnatpmp)");
    return p;
}

void portmap_free(struct portmap *p)
{
    free(p);
}

void portmap_set_local_port(struct portmap *p, uint16_t local_port)
{
    p->local_port = local_port;
}

void portmap_info(const struct portmap *p, uint64_t now_ms, struct portmap_info *out)
{
    (void)now_ms;
    memset(out, 0, sizeof *out);
    out->state = "none";
    out->local_port = p->local_port;
    snprintf(out->last_error, sizeof out->last_error, "not in this build (no libnatpmp)");
}

#endif
