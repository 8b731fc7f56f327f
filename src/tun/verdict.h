/* SPDX-License-Identifier: MIT */
/* The server's verdict on a client's overlay address (tag 0x03, announce.h), both ends: the
 * server tells a client whether its announcement was accepted or why it was refused; the
 * client logs each change and shows it in its status instead of "up". */
#ifndef RUPHIN_TUN_VERDICT_H
#define RUPHIN_TUN_VERDICT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "announce.h"
#include "policy.h"

struct tunnel;

/* Verdicts to one peer are repeated at most this often (a changed one goes out at once). */
#define VERDICT_EVERY_MS 1000u

/* The verdict a server's policy answer means for the announcement a. */
void verdict_of(enum policy_announce v, const struct announce *a,
                const struct policy_ann_result *res, struct verdict *out);
/* Server: sends vd to peer p unless the same verdict went out within VERDICT_EVERY_MS.
 * true when vd differs from the last verdict p was sent (worth a log line). */
bool verdict_send(struct tunnel *t, struct tpeer *p, const struct verdict *vd, uint64_t now_ms);
/* A verdict payload from peer p: a client takes its server's word and logs each change; a
 * server never takes one (counted as bad_control, as is a malformed one). */
void verdict_receive(struct tunnel *t, struct tpeer *p, const uint8_t *d, size_t n,
                     uint64_t now_ms);
/* "10.77.0.2/24" */
const char *verdict_addr_str(const struct verdict *vd, char *buf, size_t cap);

#endif
