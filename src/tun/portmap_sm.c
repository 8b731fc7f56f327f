// SPDX-License-Identifier: MIT
// The port mapping's timing: ask at once, renew at half the granted lifetime (RFC 6886 3.3),
// retry a failure after 30 s doubling to 10 min, keep a mapping until it expires even while
// renewals fail.
#include "portmap_sm.h"

void portmap_sm_init(struct portmap_sm *s, uint64_t now_ms)
{
    *s = (struct portmap_sm){
        .state = PORTMAP_IDLE, .next_ms = now_ms, .retry_ms = PORTMAP_RETRY_MIN_MS};
}

bool portmap_sm_mapped(const struct portmap_sm *s)
{
    return s->state == PORTMAP_MAPPED || s->state == PORTMAP_RENEWING;
}

enum portmap_action portmap_sm_tick(struct portmap_sm *s, uint64_t now_ms)
{
    if (now_ms < s->next_ms) return PORTMAP_NOTHING;
    switch (s->state) {
    case PORTMAP_IDLE:
        s->state = PORTMAP_ASKING;
        s->next_ms = now_ms + PORTMAP_ASK_TIMEOUT_MS;
        return PORTMAP_ASK;
    case PORTMAP_MAPPED:
        s->state = PORTMAP_RENEWING;
        s->next_ms = now_ms + PORTMAP_ASK_TIMEOUT_MS;
        return PORTMAP_ASK;
    case PORTMAP_ASKING:
    case PORTMAP_RENEWING:
        return PORTMAP_TIMEOUT;
    }
    return PORTMAP_NOTHING;
}

bool portmap_sm_granted(struct portmap_sm *s, uint64_t now_ms, uint32_t ext_ip, uint16_t ext_port,
                        uint32_t lifetime_s)
{
    bool changed = !portmap_sm_mapped(s) || s->ext_ip != ext_ip || s->ext_port != ext_port;
    if (portmap_sm_mapped(s))
        s->renewals++;
    else
        s->mapped++;
    s->state = PORTMAP_MAPPED;
    s->ext_ip = ext_ip;
    s->ext_port = ext_port;
    s->lifetime_s = lifetime_s;
    s->expires_ms = now_ms + (uint64_t)lifetime_s * 1000;
    /* Half the lifetime, but never sooner than 1 s (a router granting 1 s is not asked 1000
     * times a second). */
    uint64_t half = (uint64_t)lifetime_s * 500;
    s->next_ms = now_ms + (half < 1000 ? 1000 : half);
    s->retry_ms = PORTMAP_RETRY_MIN_MS;
    return changed;
}

void portmap_sm_failed(struct portmap_sm *s, uint64_t now_ms)
{
    s->failures++;
    if (s->state == PORTMAP_RENEWING && now_ms + 1000 < s->expires_ms) {
        /* Still mapped: try again at half the time left (at least 1 s before it runs out). */
        s->state = PORTMAP_MAPPED;
        s->next_ms = now_ms + (s->expires_ms - now_ms) / 2;
        return;
    }
    s->state = PORTMAP_IDLE;
    s->ext_ip = 0;
    s->ext_port = 0;
    s->next_ms = now_ms + s->retry_ms;
    s->retry_ms *= 2;
    if (s->retry_ms > PORTMAP_RETRY_MAX_MS) s->retry_ms = PORTMAP_RETRY_MAX_MS;
}
