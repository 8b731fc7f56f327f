/* SPDX-License-Identifier: MIT */
/* The node key: this ruphin-tund's own X25519 static key pair, kept in its state directory
 * as WireGuard keeps one (base64 of the private key and a newline, mode 0600). */
#ifndef RUPHIN_TUN_NODEKEY_H
#define RUPHIN_TUN_NODEKEY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "errmsg.h"

#define NODEKEY_FILE "node.key" /* inside the state directory */
#define NODEKEY_B64_LEN 44      /* base64 of 32 bytes, without the NUL */

struct nodekey {
    uint8_t sk[32];
    uint8_t pk[32]; /* derived from sk */
};

/* Loads STATE_DIR/node.key, or at first start makes a random key pair and writes it there
 * atomically (a 0600 temporary file, fsync, rename, fsync of the directory). A missing
 * state directory is made with mode 0700 (missing parents 0755); one that group or others may
 * write, or that is owned by neither root nor this process's effective uid, is refused, as is a key
 * file that group or others may access or that has such an owner. *created (may be NULL) says
 * whether the key is new. 0, or a negative code with e naming the file and the problem. */
int nodekey_load_or_create(const char *state_dir, struct nodekey *k, bool *created,
                           struct errmsg *e);
/* What --check runs: the checks of nodekey_load_or_create, making nothing. A missing state
 * directory or key file is no error (a start makes them): *found says whether k was loaded. */
int nodekey_check(const char *state_dir, struct nodekey *k, bool *found, struct errmsg *e);
/* The owner rule of every key file the daemon reads (the node key, its directory, the session
 * key): root, this process's effective uid, or user, the uid it drops to ("user" in the
 * config; NODEKEY_NO_USER for none). Anyone else could read or replace the key. 0, or -EPERM
 * with e saying "WHAT PATH: owned by uid N, which is neither root nor ...". */
#define NODEKEY_NO_USER ((uid_t)-1)
int nodekey_owner_check(const char *what, const char *path, uid_t owner, uid_t user,
                        struct errmsg *e);
/* Loads one key file with the checks above (no symbolic link, regular file, mode, owner). */
int nodekey_load(const char *path, struct nodekey *k, struct errmsg *e);
/* The public key in base64, as `wg pubkey` prints it; out holds NODEKEY_B64_LEN + 1. */
int nodekey_public_base64(const uint8_t pk[32], char *out, size_t cap);
/* " (node Ab3dEf9h)": the first 8 base64 characters of a node key, enough to tell nodes apart
 * in a log line; "" when there is none (has false: plaintext, or not proven yet). */
#define NODEKEY_SHORT_LEN 24
const char *nodekey_short(bool has, const uint8_t pk[32], char out[NODEKEY_SHORT_LEN]);
void nodekey_wipe(struct nodekey *k);

#endif
