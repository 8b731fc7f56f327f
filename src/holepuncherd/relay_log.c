// SPDX-License-Identifier: MIT
// Log lines of the relay: session ends with their counters (10 a second at most) and one
// summary of drops per 10 s at most, so a flood of RelayData costs no log volume.
#include "relay_log.h"

#include "log.h"
#include "ruphin/clock.h"
#include "session_text.h"

void hpd_relay_log_init(struct hpd_relay_log *rl)
{
    log_limit_init_burst(&rl->ended, 1000, HPD_RELAY_END_LINES_PER_S);
    rl->drops_reported = 0;
    rl->last_summary_ms = 0;
}

void hpd_relay_log_end_cb(void *ctx, const struct rph_relay_session_end *e)
{
    struct hpd_relay_log *rl = ctx;
    uint64_t more;
    if (!log_limit_take(&rl->ended, rph_now_ms(), &more)) return;
    if (more) log_info("%llu similar suppressed (relay session ended)", (unsigned long long)more);
    char sess[HPD_SESSION_TEXT_MAX];
    log_info("relay session %s ended: relayed %llu datagrams, %llu bytes; rate limited %llu",
             hpd_session_text(e->session, sess, sizeof sess), (unsigned long long)e->relayed,
             (unsigned long long)e->relayed_bytes, (unsigned long long)e->rate_limited);
}

uint64_t hpd_relay_dropped(const struct rph_relay_stats *s)
{
    return s->disabled + s->malformed + s->not_member + s->bad_destination + s->rate_limited +
           s->refused_full;
}

void hpd_relay_log_tick(struct hpd_relay_log *rl, const struct rph_relay_stats *s, uint64_t now_ms)
{
    uint64_t more = log_limit_flush(&rl->ended, now_ms);
    if (more) log_info("%llu similar suppressed (relay session ended)", (unsigned long long)more);
    uint64_t dropped = hpd_relay_dropped(s);
    if (dropped == rl->drops_reported) return;
    if (rl->last_summary_ms && now_ms - rl->last_summary_ms < HPD_RELAY_DROP_INTERVAL_MS) return;
    log_warn("relay dropped %llu datagrams (totals: disabled %llu, malformed %llu, not_member "
             "%llu, bad_destination %llu, rate_limited %llu, refused_full %llu)",
             (unsigned long long)(dropped - rl->drops_reported), (unsigned long long)s->disabled,
             (unsigned long long)s->malformed, (unsigned long long)s->not_member,
             (unsigned long long)s->bad_destination, (unsigned long long)s->rate_limited,
             (unsigned long long)s->refused_full);
    rl->drops_reported = dropped;
    rl->last_summary_ms = now_ms;
}
