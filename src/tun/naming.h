/* SPDX-License-Identifier: MIT */
/* Member names and automatic addresses at runtime, both ends: a member says its name (tag
 * 0x05), asking for addresses when it has none; the server grants a unique name, assigns
 * addresses from its member table (addrpool.h, tag 0x04) and refuses a fixed address that
 * is assigned to another node, and lists the other members to each client (0x06); the
 * client puts the assigned addresses on its device. */
#ifndef RUPHIN_TUN_NAMING_H
#define RUPHIN_TUN_NAMING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "announce.h"
#include "errmsg.h"
#include "policy.h"

struct tunnel;
struct rph_remote;

/* Server, sealed: loads STATE_DIR/members (a corrupt file fails the start, naming it). */
int naming_init(struct tunnel *t, struct errmsg *err);
void naming_free(struct tunnel *t);
/* Client: our name (and the wish for addresses) to r; with the announcements. */
void naming_send(struct tunnel *t, struct rph_remote *r);
/* A name message (0x05) or an assignment (0x04) from peer p. */
void naming_receive(struct tunnel *t, struct tpeer *p, const uint8_t *d, size_t n);
void naming_assign_receive(struct tunnel *t, struct tpeer *p, const uint8_t *d, size_t n);
/* Client: a member entry (0x06) from the server: kept (by node key, else name) with its time. */
void naming_member_receive(struct tunnel *t, struct tpeer *p, const uint8_t *d, size_t n);
/* Server: q's entry is new or changed (its name granted, its addresses taken): every other
 * client that speaks names hears it now, not at its next name message. */
void naming_member_changed(struct tunnel *t, const struct tpeer *q);
/* Server: q's remote went away (goodbye, or silent past peer_timeout): unless q's node is still
 * here from another endpoint, every other client hears at once that it left. */
void naming_member_left(struct tunnel *t, const struct tpeer *q);
/* Server: true when a's address is assigned to another node in the member table; then the
 * refusal went to p (verdict "assigned to another member", naming the holder) and the log. */
bool naming_refuses(struct tunnel *t, struct tpeer *p, const struct announce *a, uint64_t now_ms);
/* Our name: the granted one on a client once the server said it, else the configured one. */
const char *naming_self(const struct tunnel *t);

#endif
