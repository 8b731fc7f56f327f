// SPDX-License-Identifier: MIT
// ruphin-tund's JSON config (docs/CONFIG.md): every key checked, then held in one struct.
#ifndef RUPHIN_TUN_CONFIG_H
#define RUPHIN_TUN_CONFIG_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <cjson/cJSON.h>

#include "jsoncfg.h"
#include "log.h"
#include "ruphin/addr.h"
#include "ruphin/peer.h"
#include "ruphin/wire.h"

#define TUND_IFNAME_MAX 15       /* IFNAMSIZ - 1 */
#define TUND_SOCKPATH_MAX 108    /* sizeof sun_path, the NUL included */
#define TUND_HOLEPUNCHER_MAX 263 /* "[" 255-byte host "]:65535" */

#define TUND_DEFAULT_MTU 1400
#define TUND_DEFAULT_KEEPALIVE 10
#define TUND_DEFAULT_PEER_TIMEOUT 30

struct tund_config {
    char holepuncher[TUND_HOLEPUNCHER_MAX + 1]; /* as written in the config */
    struct rph_addr holepuncher_addr;           /* resolved when the config was read */
    struct rph_session session;
    char session_str[RPH_SESSION_MAX + 1]; /* the same bytes, NUL-terminated, no control chars */
    enum rph_role role;
    char ifname[TUND_IFNAME_MAX + 1];
    uint8_t addr4[4];
    int prefix4;
    char address[sizeof "255.255.255.255/32"]; /* canonical "10.77.0.1/24" */
    bool has_addr6;
    uint8_t addr6[16];
    int prefix6;
    char address6[46 + sizeof "/128"]; /* canonical "fd77::1/64", "" when absent */
    int mtu;
    int keepalive_interval; /* seconds */
    int peer_timeout;       /* seconds, > keepalive_interval */
    bool seal;              /* "seal": {"key_file": ...} */
    char seal_key_file[256];
    uint8_t seal_key[32]; /* the session key read from seal_key_file */
    char control_socket[TUND_SOCKPATH_MAX];
    enum log_level log_level;
    uint16_t port; /* local UDP port, 0 = ephemeral */
    char user[64]; /* "" or the user to switch to once the interface is up */
    uid_t uid;
    gid_t gid;
};

/* Validates root (a JSON object) into out; 0, or -EINVAL with err naming the key and the
 * problem. out is only written on success. Resolves the holepuncher's host name. */
int tund_config_parse(const cJSON *root, struct tund_config *out, struct cfg_err *err);
/* Reads and parses a file; errors name the file ("config /etc/x.json: ..."). 0 or -EINVAL. */
int tund_config_load(const char *path, struct tund_config *out, struct cfg_err *err);

#endif
