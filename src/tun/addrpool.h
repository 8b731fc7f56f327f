/* SPDX-License-Identifier: MIT */
/* The server's member table for automatic addresses and names: node key -> name and overlay
 * addresses, assigned from the server's prefixes, kept in STATE_DIR/members across restarts
 * (written atomically). Pure rules plus that one file; the tunnel asks who is live. */
#ifndef RUPHIN_TUN_ADDRPOOL_H
#define RUPHIN_TUN_ADDRPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "announce.h"
#include "errmsg.h"
#include "name.h"

#define ADDRPOOL_FILE "members" /* inside the state directory */
#define ADDRPOOL_MAX 1024       /* node keys remembered */

struct pool_entry {
    uint8_t pk[32];
    char name[NAME_LABEL_MAX + 1]; /* the name granted; "" none yet */
    bool has4, has6;               /* addresses assigned (a fixed-address member has none) */
    uint8_t addr4[4], addr6[16];
};

struct addrpool {
    struct announce self; /* the server's own addresses and prefixes */
    struct pool_entry *e;
    size_t n;
};

/* Is this address in use by a live member right now (a fixed one included)? */
typedef bool (*pool_busy_fn)(void *ctx, int family, const uint8_t *addr);

void pool_init(struct addrpool *p, const struct announce *self);
void pool_free(struct addrpool *p);
struct pool_entry *pool_find(struct addrpool *p, const uint8_t pk[32]);
/* The entry an address is assigned to, or NULL. */
const struct pool_entry *pool_holder(const struct addrpool *p, int family, const uint8_t *addr);
/* The entry for pk, made when missing. NULL: out of memory or ADDRPOOL_MAX reached (err). */
struct pool_entry *pool_entry(struct addrpool *p, const uint8_t pk[32], struct errmsg *err);
/* Gives e addresses from the server's prefixes (IPv4, and IPv6 when the server has an IPv6
 * prefix) unless it has valid ones: never the server's own, another entry's, or one busy()
 * says a live member uses. 1 assigned now, 0 it had them, or -ENOSPC with err naming the
 * exhausted prefix. */
int pool_assign(struct addrpool *p, struct pool_entry *e, pool_busy_fn busy, void *ctx,
                struct errmsg *err);

/* The file's text (format in docs/CONFIG.md "state_dir"): header, one line per entry. Parse
 * is strict: 0, or -EINVAL with err naming the line and problem ("line 3: ..."). */
char *pool_format(const struct addrpool *p);
int pool_parse(struct addrpool *p, const char *text, struct errmsg *err);
/* STATE_DIR/members: load (a missing file is an empty table) and save (temporary file, fsync,
 * rename, fsync of the directory). 0, or a negative errno with err naming the file. */
int pool_load(struct addrpool *p, const char *dir, struct errmsg *err);
int pool_save(const struct addrpool *p, const char *dir, struct errmsg *err);

#endif
