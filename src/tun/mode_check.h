/* SPDX-License-Identifier: MIT */
/* A "seal" that differs between two configs, named when it shows: a peer speaking the other
 * mode's messages (sealed at a plaintext tunnel, or the reverse). Polled, rate-limited. */
#ifndef RUPHIN_TUN_MODE_CHECK_H
#define RUPHIN_TUN_MODE_CHECK_H

#include <stdint.h>

#include "tunnel.h"

/* One warning when the count of other-mode datagrams grew, at most once a minute. */
#define MODE_CHECK_EVERY_MS 60000u

void mode_check_poll(struct tunnel *t, uint64_t now_ms);

#endif
