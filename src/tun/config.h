// SPDX-License-Identifier: MIT
// ruphin-tund's JSON config (docs/CONFIG.md): every key checked without touching the system
// (parse), then the host name, key file and user looked up (resolve), all held in one struct.
#ifndef RUPHIN_TUN_CONFIG_H
#define RUPHIN_TUN_CONFIG_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <cjson/cJSON.h>

#include "dns_answer.h"
#include "errmsg.h"
#include "jsoncfg.h"
#include "log.h"
#include "ruphin/addr.h"
#include "ruphin/peer.h"
#include "ruphin/wire.h"

#define TUND_IFNAME_MAX 15       /* IFNAMSIZ - 1 */
#define TUND_SOCKPATH_MAX 108    /* sizeof sun_path, the NUL included */
#define TUND_HOLEPUNCHER_MAX 263 /* "[" 255-byte host "]:65535" */

#define TUND_MEMBERS_MAX 256 /* node keys in "members" (a server keeps 256 peers) */
#define TUND_STATE_DIR_BASE "/var/lib/ruphin"

#define TUND_DEFAULT_MTU 1340
#define TUND_DEFAULT_KEEPALIVE 10
#define TUND_DEFAULT_PEER_TIMEOUT 30

struct tund_config {
    char holepuncher[TUND_HOLEPUNCHER_MAX + 1]; /* as written in the config */
    struct rph_addr holepuncher_addr;           /* a numeric one parsed, a name resolved;
                                                   family 0 until then */
    bool holepuncher_pending;  /* a well-formed name that did not resolve: retry it */
    char holepuncher_why[160]; /* what the resolver said then */
    struct rph_session session;
    char session_str[RPH_SESSION_MAX + 1]; /* the same bytes, NUL-terminated, no control chars */
    enum rph_role role;
    char ifname[TUND_IFNAME_MAX + 1];
    uint8_t addr4[4];
    int prefix4;
    char address[sizeof "255.255.255.255/32"]; /* canonical "10.77.0.1/24"; "auto" */
    bool addr_auto; /* client: no "address" (or "auto"): the server assigns it (addr4 zero) */
    char name[64];  /* "name": this member's name (default: the host name's first label) */
    bool name_set;  /* written in the config */
    bool has_addr6;
    uint8_t addr6[16];
    int prefix6;
    char address6[46 + sizeof "/128"]; /* canonical "fd77::1/64", "" when absent */
    int mtu;
    int keepalive_interval;  /* seconds */
    int peer_timeout;        /* seconds, > keepalive_interval */
    bool seal;               /* "seal": {"key_file": ...} */
    char seal_key_file[256]; /* loaded from a file: relative to the file's directory */
    bool seal_relay;         /* "seal.relay" (default true): use holepuncherd's relay */
    bool port_mapping;       /* "port_mapping" (default: when sealed): NAT-PMP on the router */
    bool mesh; /* "mesh" (default: when sealed): introductions between clients (server), direct
                  sessions with the members introduced (client); docs/PROTOCOL.md "Mesh" */
    uint8_t seal_key[32]; /* read by tund_config_resolve; wiped once the tunnel has its keys */
    char state_dir[256];  /* sealed: holds node.key; "" until a default is known */
    bool state_dir_set;   /* written in the config (else the default, from the file's name) */
    uint8_t members[TUND_MEMBERS_MAX][32]; /* node public keys; none: any holder of the key */
    size_t n_members;
    uint8_t node_sk[32]; /* read (or made) by tund_config_resolve; wiped like seal_key */
    uint8_t node_pk[32];
    bool has_node_key;     /* node_sk/node_pk hold the key (--check: only if the file exists) */
    bool node_key_created; /* tund_config_resolve made it (first start) */
    char control_socket[TUND_SOCKPATH_MAX];
    enum log_level log_level;
    uint16_t port;                       /* local UDP port, 0 = ephemeral */
    char user[64];                       /* "" or the user to switch to once the interface is up */
    uid_t uid;                           /* looked up by tund_config_resolve */
    char dns_domain[DNS_DOMAIN_MAX + 1]; /* "dns.domain", lowercased, no trailing dot; "": no
                                            responder */
    gid_t gid;
};

/* Validates root (a JSON object) into out: every key's type, range and form, and nothing that
 * asks the system (no DNS, no key file, no user database), so SIGHUP and the fuzzer can run
 * it. 0, or -EINVAL with err naming the key and the problem. out is only written on success. */
int tund_config_parse(const cJSON *root, struct tund_config *out, struct errmsg *err);
enum tund_resolve_mode {
    TUND_RESOLVE_START, /* a start: the node key is made when state_dir has none */
    TUND_RESOLVE_CHECK, /* --check: the same checks, nothing made on disk */
};

/* The effects parse leaves out: resolves a holepuncher host name (may block on DNS), reads
 * seal_key into c, loads (or, starting, makes) the node key in state_dir and looks up "user".
 * Runs every step, so err names every problem ("; " between them); 0, or the first step's
 * negative errno with the keys wiped. A well-formed name that does not resolve is no error:
 * it returns 0 with holepuncher_pending set (tund_config_resolve_holepuncher retries it). */
int tund_config_resolve(struct tund_config *c, enum tund_resolve_mode mode, struct errmsg *err);
/* Resolves the holepuncher's name alone (a numeric one is there already): 0 (holepuncher_addr
 * set), -EAGAIN for a well-formed name that does not resolve now (holepuncher_pending set, err
 * names the name and the resolver's reason), -EINVAL for a malformed one or a bad address. */
int tund_config_resolve_holepuncher(struct tund_config *c, struct errmsg *err);
/* Reads and parses a file, a relative key_file taken from the file's directory; errors name the
 * file ("config PATH: ..."). No resolve step: what SIGHUP runs. 0 or a negative errno. */
int tund_config_load(const char *path, struct tund_config *out, struct errmsg *err);
/* tund_config_load, then tund_config_resolve: what a start and --check run. */
int tund_config_load_resolved(const char *path, struct tund_config *out,
                              enum tund_resolve_mode mode, struct errmsg *err);
/* Zeroes the session key and the node's private key (sodium_memzero): call once the tunnel
 * holds them. */
void tund_config_wipe_key(struct tund_config *c);

/* One key that differs between the running config and a reloaded one, both values as text;
 * live: SIGHUP applies it (log_level), otherwise it takes a restart. */
typedef void (*tund_config_change_fn)(void *ctx, const char *key, const char *was, const char *now,
                                      bool live);
/* Calls fn for each key whose value differs, in the order of docs/CONFIG.md; returns how many.
 * The key file's content is not compared (a reload never reads it), only its path. */
size_t tund_config_diff(const struct tund_config *running, const struct tund_config *next,
                        tund_config_change_fn fn, void *ctx);

#endif
