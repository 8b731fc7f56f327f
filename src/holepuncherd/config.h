// SPDX-License-Identifier: MIT
// holepuncherd's JSON config: the listen addresses and the session table's limits.
#ifndef HOLEPUNCHERD_CONFIG_H
#define HOLEPUNCHERD_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "jsoncfg.h"
#include "log.h"
#include "ruphin/addr.h"

/* ev_holepuncher.c binds at most this many sockets. */
#define HPD_MAX_LISTEN 8

#define HPD_TTL_MIN 5
#define HPD_TTL_MAX 86400
#define HPD_TTL_DEFAULT 60
#define HPD_MAX_SESSIONS_MIN 1
#define HPD_MAX_SESSIONS_MAX 10000000
#define HPD_MAX_SESSIONS_DEFAULT 100000
#define HPD_PER_SOURCE_DEFAULT 32
#define HPD_RELAY_SESSIONS_DEFAULT 1000
#define HPD_RELAY_SESSIONS_MAX 1000000
#define HPD_RELAY_KBPS_DEFAULT 20000
#define HPD_RELAY_KBPS_MAX 100000000 /* 100 Gbit/s */

struct hpd_config {
    struct rph_addr listen[HPD_MAX_LISTEN];
    size_t n_listen;
    uint32_t session_ttl_s;
    size_t max_sessions;
    enum log_level log_level;
    uint32_t rate_per_s; /* Register/Join per source IP per second; 0: no limit */
    uint32_t rate_burst;
    uint32_t max_sessions_per_source; /* per IPv4 address or IPv6 /64; 0: no limit */
    bool relay_enabled;               /* "relay": relaying of sealed sessions */
    size_t relay_max_sessions;
    uint32_t relay_max_kbps; /* per session; 0: no limit */
};

/* Fills out from a parsed config object (no I/O: the listen addresses are numeric); 0, or
 * -EINVAL with err naming the key and the problem. out is only written on success. */
int hpd_config_parse(const cJSON *root, struct hpd_config *out, struct errmsg *err);
/* Reads and parses path; errors name the file ("config PATH: ..."). 0 or a negative errno. */
int hpd_config_load(const char *path, struct hpd_config *out, struct errmsg *err);
/* true when both configs listen on the same set of addresses (in any order). */
bool hpd_config_same_listen(const struct hpd_config *a, const struct hpd_config *b);

#endif
