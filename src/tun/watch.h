/* SPDX-License-Identifier: MIT */
/* What the daemon tells the user about its own health, at info level: losing and regaining the
 * holepuncher, and a peer that keeps punching without an answer. Polls the tunnel once a
 * second while something is watched, else when the core ticks; each line is logged once per
 * change, never per packet. */
#ifndef RUPHIN_TUN_WATCH_H
#define RUPHIN_TUN_WATCH_H

#include <event2/event.h>
#include <stdint.h>

#include "tunnel.h"

/* A peer punching for longer than this gets one line saying what was tried. */
#define WATCH_PUNCHING_MS 5000u

struct watch;

/* Starts the once-a-second poll of t on base; NULL when out of memory (the daemon runs on,
 * only quieter). watch_free before tunnel_close. */
struct watch *watch_new(struct event_base *base, struct tunnel *t);
void watch_free(struct watch *w);
/* After a core tick (tunnel.c): a poll at now_ms unless the 1 s timer is on or it polled less
 * than a second ago. */
void watch_nudge(struct watch *w, uint64_t now_ms);
/* One poll at now_ms (the timer's work; tests may call it with their own clock). */
void watch_poll(struct watch *w, uint64_t now_ms);

#endif
