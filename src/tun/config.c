// SPDX-License-Identifier: MIT
// Reads ruphin-tund's JSON config strictly: unknown keys, wrong types and bad ranges all fail.
#include "config.h"

#include "ruphin/seal.h"

#include <arpa/inet.h>
#include <pwd.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hostport.h"

static const char *const top_keys[] = {
    "holepuncher",        "session",      "role", "interface",
    "keepalive_interval", "peer_timeout", "seal", "control_socket",
    "log_level",          "port",         "user", NULL};
static const char *const iface_keys[] = {"name", "address", "address6", "mtu", NULL};

/* The shared getters name the bare key; a key inside "interface" is reported with its path
 * so the message points at the right line of the file. */
static void qualify(struct cfg_err *err, const char *key, const char *path)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\"", key);
    const char *at = strstr(err->msg, pat);
    if (!at) return;
    char buf[sizeof err->msg];
    snprintf(buf, sizeof buf, "%.*s\"%s\"%s", (int)(at - err->msg), err->msg, path,
             at + strlen(pat));
    memcpy(err->msg, buf, sizeof buf);
}

static int get_string(const cJSON *obj, const char *key, const char *path, bool required,
                      const char **out, struct cfg_err *err)
{
    int rc = cfg_get_string(obj, key, out, err);
    if (rc < 0) {
        qualify(err, key, path);
        return -EINVAL;
    }
    if (rc == 1 && required) {
        cfg_errorf(err, "config: \"%s\" is required", path);
        return -EINVAL;
    }
    return rc;
}

static int get_int(const cJSON *obj, const char *key, const char *path, long min, long max,
                   long def, int *out, struct cfg_err *err)
{
    long v = def;
    if (cfg_get_int(obj, key, min, max, &v, err) < 0) {
        qualify(err, key, path);
        return -EINVAL;
    }
    *out = (int)v;
    return 0;
}

static int parse_holepuncher(const cJSON *root, struct tund_config *c, struct cfg_err *err)
{
    const char *s;
    int rc = get_string(root, "holepuncher", "holepuncher", true, &s, err);
    if (rc) return rc;
    if (strlen(s) > TUND_HOLEPUNCHER_MAX) {
        cfg_errorf(err, "config: \"holepuncher\" must be at most %d characters, got %zu",
                   TUND_HOLEPUNCHER_MAX, strlen(s));
        return -EINVAL;
    }
    const char *why = NULL;
    char host[256];
    unsigned port;
    /* Split first so a malformed value is reported as such, not as a failed DNS lookup. */
    if (hostport_split(s, host, sizeof host, &port, &why) < 0) {
        cfg_errorf(
            err, "config: \"holepuncher\" must be \"host:port\" or \"[IPv6]:port\": %s, got \"%s\"",
            why, s);
        return -EINVAL;
    }
    if (hostport_resolve(s, &c->holepuncher_addr, &why) < 0) {
        cfg_errorf(err, "config: \"holepuncher\": cannot resolve \"%s\": %s", s, why);
        return -EINVAL;
    }
    static const uint8_t zero[16];
    if (memcmp(c->holepuncher_addr.ip, zero, sizeof zero) == 0) {
        cfg_errorf(
            err, "config: \"holepuncher\" must name a host, got the unspecified address \"%s\"", s);
        return -EINVAL;
    }
    strcpy(c->holepuncher, s);
    return 0;
}

static int parse_session(const cJSON *root, struct tund_config *c, struct cfg_err *err)
{
    const char *s;
    int rc = get_string(root, "session", "session", true, &s, err);
    if (rc) return rc;
    size_t n = strlen(s);
    if (n < 1 || n > RPH_SESSION_MAX) {
        cfg_errorf(err, "config: \"session\" must be 1..%d bytes, got %zu", RPH_SESSION_MAX, n);
        return -EINVAL;
    }
    /* The ID shows up in logs, status output and the default socket path. */
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch < 0x20 || ch == 0x7f) {
            cfg_errorf(err, "config: \"session\" must not contain control characters (byte %zu)",
                       i);
            return -EINVAL;
        }
    }
    rph_session_set(&c->session, s, n);
    memcpy(c->session_str, s, n + 1);
    return 0;
}

static int parse_role(const cJSON *root, struct tund_config *c, struct cfg_err *err)
{
    const char *s;
    int rc = get_string(root, "role", "role", true, &s, err);
    if (rc) return rc;
    if (strcmp(s, "server") == 0) {
        c->role = RPH_ROLE_SERVER;
    } else if (strcmp(s, "client") == 0) {
        c->role = RPH_ROLE_CLIENT;
    } else {
        cfg_errorf(err, "config: \"role\" must be \"server\" or \"client\", got \"%.64s\"", s);
        return -EINVAL;
    }
    return 0;
}

static int parse_ifname(const cJSON *iface, struct tund_config *c, struct cfg_err *err)
{
    const char *s;
    int rc = get_string(iface, "name", "interface.name", true, &s, err);
    if (rc) return rc;
    size_t n = strlen(s);
    if (n < 1 || n > TUND_IFNAME_MAX) {
        cfg_errorf(err, "config: \"interface.name\" must be 1..%d characters, got %zu",
                   TUND_IFNAME_MAX, n);
        return -EINVAL;
    }
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                  (ch >= '0' && ch <= '9') || ch == '_' || ch == '.' || ch == '-';
        if (!ok) {
            cfg_errorf(err,
                       "config: \"interface.name\" may contain only letters, digits, \"_\", \".\" "
                       "and \"-\", got \"%.15s\"",
                       s);
            return -EINVAL;
        }
    }
    /* The kernel refuses these two names (dev_valid_name). */
    if (strcmp(s, ".") == 0 || strcmp(s, "..") == 0) {
        cfg_errorf(err, "config: \"interface.name\" cannot be \"%s\"", s);
        return -EINVAL;
    }
    memcpy(c->ifname, s, n + 1);
    return 0;
}

/* "addr/prefix" with a decimal prefix 1..maxp; 0, or -1 with *why set. */
static int split_prefix(const char *s, int af, uint8_t *ip, int maxp, int *prefix)
{
    const char *slash = strchr(s, '/');
    if (!slash || slash == s || (size_t)(slash - s) >= INET6_ADDRSTRLEN) return -1;
    char host[INET6_ADDRSTRLEN];
    memcpy(host, s, (size_t)(slash - s));
    host[slash - s] = 0;
    if (inet_pton(af, host, ip) != 1) return -1;
    const char *p = slash + 1;
    if (*p < '0' || *p > '9' || strlen(p) > 3) return -1;
    int v = 0;
    for (; *p; p++) {
        if (*p < '0' || *p > '9') return -1;
        v = v * 10 + (*p - '0');
    }
    if (v < 1 || v > maxp) return -1;
    *prefix = v;
    return 0;
}

static int parse_addr4(const cJSON *iface, struct tund_config *c, struct cfg_err *err)
{
    const char *s;
    int rc = get_string(iface, "address", "interface.address", true, &s, err);
    if (rc) return rc;
    if (split_prefix(s, AF_INET, c->addr4, 32, &c->prefix4) < 0) {
        cfg_errorf(err,
                   "config: \"interface.address\" must be an IPv4 address with a prefix length "
                   "1..32 like \"10.77.0.1/24\", got \"%.64s\"",
                   s);
        return -EINVAL;
    }
    uint32_t a = ((uint32_t)c->addr4[0] << 24) | ((uint32_t)c->addr4[1] << 16) |
                 ((uint32_t)c->addr4[2] << 8) | c->addr4[3];
    const char *bad = NULL;
    if (a == 0)
        bad = "the unspecified address";
    else if (c->addr4[0] == 127)
        bad = "a loopback address";
    else if (c->addr4[0] >= 224)
        bad = "a multicast or reserved address";
    else if (c->prefix4 <= 30) {
        /* The kernel would accept these, but no peer could be told apart from the subnet. */
        uint32_t host = a & (0xffffffffu >> c->prefix4);
        if (host == 0) bad = "the network address of its subnet";
        if (host == (0xffffffffu >> c->prefix4)) bad = "the broadcast address of its subnet";
    }
    if (bad) {
        cfg_errorf(err, "config: \"interface.address\" must be a host address, \"%s\" is %s", s,
                   bad);
        return -EINVAL;
    }
    char ip[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, c->addr4, ip, sizeof ip);
    snprintf(c->address, sizeof c->address, "%s/%d", ip, c->prefix4);
    return 0;
}

static int parse_addr6(const cJSON *iface, struct tund_config *c, struct cfg_err *err)
{
    const char *s;
    int rc = get_string(iface, "address6", "interface.address6", false, &s, err);
    if (rc < 0) return rc;
    if (rc == 1) {
        c->has_addr6 = false;
        c->address6[0] = 0;
        return 0;
    }
    if (split_prefix(s, AF_INET6, c->addr6, 128, &c->prefix6) < 0) {
        cfg_errorf(err,
                   "config: \"interface.address6\" must be an IPv6 address with a prefix length "
                   "1..128 like \"fd77::1/64\", got \"%.64s\"",
                   s);
        return -EINVAL;
    }
    static const uint8_t zero[16];
    static const uint8_t one[16] = {[15] = 1};
    const char *bad = NULL;
    if (memcmp(c->addr6, zero, 16) == 0)
        bad = "the unspecified address";
    else if (memcmp(c->addr6, one, 16) == 0)
        bad = "the loopback address";
    else if (c->addr6[0] == 0xff)
        bad = "a multicast address";
    if (bad) {
        cfg_errorf(err, "config: \"interface.address6\" must be a host address, \"%s\" is %s", s,
                   bad);
        return -EINVAL;
    }
    char ip[INET6_ADDRSTRLEN];
    inet_ntop(AF_INET6, c->addr6, ip, sizeof ip);
    snprintf(c->address6, sizeof c->address6, "%s/%d", ip, c->prefix6);
    c->has_addr6 = true;
    return 0;
}

static int parse_interface(const cJSON *root, struct tund_config *c, struct cfg_err *err)
{
    const cJSON *iface = cJSON_GetObjectItemCaseSensitive(root, "interface");
    if (!iface) {
        cfg_errorf(err, "config: \"interface\" is required (an object with \"name\" and "
                        "\"address\")");
        return -EINVAL;
    }
    if (!cJSON_IsObject(iface)) {
        cfg_errorf(err, "config: \"interface\" must be an object");
        return -EINVAL;
    }
    if (cfg_check_keys(iface, "interface", iface_keys, err) < 0) return -EINVAL;
    int rc;
    if ((rc = parse_ifname(iface, c, err)) || (rc = parse_addr4(iface, c, err)) ||
        (rc = parse_addr6(iface, c, err)))
        return rc;
    if ((rc = get_int(iface, "mtu", "interface.mtu", 576, 9000, TUND_DEFAULT_MTU, &c->mtu, err)))
        return rc;
    /* Linux turns IPv6 off on a link whose MTU is below the IPv6 minimum. */
    if (c->has_addr6 && c->mtu < 1280) {
        cfg_errorf(err,
                   "config: \"interface.mtu\" must be at least 1280 (the IPv6 minimum) when "
                   "\"interface.address6\" is set, got %d",
                   c->mtu);
        return -EINVAL;
    }
    return 0;
}

static int parse_seal(const cJSON *root, struct tund_config *c, struct cfg_err *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, "seal");
    c->seal = false;
    if (!v || cJSON_IsFalse(v)) return 0;
    if (!cJSON_IsObject(v)) {
        cfg_errorf(err,
                   "config: \"seal\" must be false or {\"key_file\": \"/etc/ruphin/NAME.key\"}");
        return -EINVAL;
    }
    static const char *const keys[] = {"key_file", NULL};
    if (cfg_check_keys(v, "seal", keys, err) < 0) return -EINVAL;
    const cJSON *kf = cJSON_GetObjectItemCaseSensitive(v, "key_file");
    if (!cJSON_IsString(kf) || !kf->valuestring[0]) {
        cfg_errorf(err, "config: \"seal.key_file\" must be the path of a key file (make one with "
                        "`ruphinctl genkey`)");
        return -EINVAL;
    }
    if (strlen(kf->valuestring) >= sizeof c->seal_key_file) {
        cfg_errorf(err, "config: \"seal.key_file\" is longer than %zu bytes",
                   sizeof c->seal_key_file - 1);
        return -EINVAL;
    }
    /* A config that asks for sealing must never silently run in the clear. */
    if (!rph_seal_available()) {
        cfg_errorf(err, "config: \"seal\": this build has no libsodium, so it cannot seal; "
                        "rebuild with -DRUPHIN_SODIUM=ON or set \"seal\": false");
        return -EINVAL;
    }
    char why[512];
    rph_seal_init();
    if (rph_key_load_file(kf->valuestring, c->seal_key, why, sizeof why) < 0) {
        cfg_errorf(err, "config: \"seal.key_file\": %s", why);
        return -EINVAL;
    }
    snprintf(c->seal_key_file, sizeof c->seal_key_file, "%s", kf->valuestring);
    c->seal = true;
    return 0;
}

static int parse_user(const cJSON *root, struct tund_config *c, struct cfg_err *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, "user");
    c->user[0] = 0;
    if (!v) return 0;
    if (!cJSON_IsString(v) || !v->valuestring[0] || strlen(v->valuestring) >= sizeof c->user) {
        cfg_errorf(err, "config: \"user\" must be a user name (1..%zu characters)",
                   sizeof c->user - 1);
        return -EINVAL;
    }
    struct passwd *pw = getpwnam(v->valuestring);
    if (!pw) {
        cfg_errorf(err, "config: \"user\": no such user \"%.64s\"", v->valuestring);
        return -EINVAL;
    }
    if (pw->pw_uid == 0) {
        cfg_errorf(err, "config: \"user\" \"%.64s\" is root; name an unprivileged user",
                   v->valuestring);
        return -EINVAL;
    }
    snprintf(c->user, sizeof c->user, "%s", v->valuestring);
    c->uid = pw->pw_uid;
    c->gid = pw->pw_gid;
    return 0;
}

static int parse_control_socket(const cJSON *root, struct tund_config *c, struct cfg_err *err)
{
    const char *s;
    int rc = get_string(root, "control_socket", "control_socket", false, &s, err);
    if (rc < 0) return rc;
    if (rc == 1) {
        /* The default path is built from the session, so it must be a plain file name. */
        if (strchr(c->session_str, '/') || strcmp(c->session_str, ".") == 0 ||
            strcmp(c->session_str, "..") == 0) {
            cfg_errorf(err,
                       "config: \"control_socket\" must be set: session \"%s\" cannot be used in "
                       "the default path /run/ruphin/<session>.sock",
                       c->session_str);
            return -EINVAL;
        }
        snprintf(c->control_socket, sizeof c->control_socket, "/run/ruphin/%s.sock",
                 c->session_str);
        return 0;
    }
    if (s[0] != '/') {
        cfg_errorf(err, "config: \"control_socket\" must be an absolute path, got \"%.64s\"", s);
        return -EINVAL;
    }
    size_t n = strlen(s);
    if (n >= TUND_SOCKPATH_MAX) {
        cfg_errorf(err,
                   "config: \"control_socket\" must be shorter than %d bytes (a unix socket "
                   "path), got %zu",
                   TUND_SOCKPATH_MAX, n);
        return -EINVAL;
    }
    if (s[n - 1] == '/') {
        cfg_errorf(err, "config: \"control_socket\" must name a file, got the directory \"%s\"", s);
        return -EINVAL;
    }
    memcpy(c->control_socket, s, n + 1);
    return 0;
}

static int parse_timers(const cJSON *root, struct tund_config *c, struct cfg_err *err)
{
    int rc;
    if ((rc = get_int(root, "keepalive_interval", "keepalive_interval", 1, 3600,
                      TUND_DEFAULT_KEEPALIVE, &c->keepalive_interval, err)) ||
        (rc = get_int(root, "peer_timeout", "peer_timeout", 2, 86400, TUND_DEFAULT_PEER_TIMEOUT,
                      &c->peer_timeout, err)))
        return rc;
    /* A peer that is dropped before its next keepalive is due would flap forever. */
    if (c->peer_timeout <= c->keepalive_interval) {
        cfg_errorf(err,
                   "config: \"peer_timeout\" must be greater than \"keepalive_interval\" (%d), "
                   "got %d",
                   c->keepalive_interval, c->peer_timeout);
        return -EINVAL;
    }
    return 0;
}

static int parse_log_level(const cJSON *root, struct tund_config *c, struct cfg_err *err)
{
    const char *s;
    int rc = get_string(root, "log_level", "log_level", false, &s, err);
    if (rc < 0) return rc;
    c->log_level = LOG_LVL_INFO;
    if (rc == 1) return 0;
    if (log_parse_level(s, &c->log_level) < 0) {
        cfg_errorf(err,
                   "config: \"log_level\" must be \"error\", \"warn\", \"info\" or \"debug\", got "
                   "\"%.64s\"",
                   s);
        return -EINVAL;
    }
    return 0;
}

int tund_config_parse(const cJSON *root, struct tund_config *out, struct cfg_err *err)
{
    if (!cJSON_IsObject(root)) {
        cfg_errorf(err, "config: the top level must be a JSON object");
        return -EINVAL;
    }
    if (cfg_check_keys(root, NULL, top_keys, err) < 0) return -EINVAL;
    struct tund_config c;
    memset(&c, 0, sizeof c);
    int port = 0;
    int rc;
    /* In the order docs/CONFIG.md lists the keys, so the first problem reported is stable. */
    if ((rc = parse_holepuncher(root, &c, err)) || (rc = parse_session(root, &c, err)) ||
        (rc = parse_role(root, &c, err)) || (rc = parse_interface(root, &c, err)) ||
        (rc = parse_timers(root, &c, err)) || (rc = parse_seal(root, &c, err)) ||
        (rc = parse_control_socket(root, &c, err)) || (rc = parse_log_level(root, &c, err)) ||
        (rc = get_int(root, "port", "port", 0, 65535, 0, &port, err)) ||
        (rc = parse_user(root, &c, err)))
        return rc;
    c.port = (uint16_t)port;
    *out = c;
    return 0;
}

int tund_config_load(const char *path, struct tund_config *out, struct cfg_err *err)
{
    cJSON *root = NULL;
    if (cfg_load_file(path, &root, err) < 0) return -EINVAL;
    int rc = tund_config_parse(root, out, err);
    cJSON_Delete(root);
    if (rc < 0) {
        /* Name the file, as cfg_load_file's own messages do. */
        const char *prefix = "config: ";
        if (strncmp(err->msg, prefix, strlen(prefix)) == 0) {
            char buf[sizeof err->msg];
            snprintf(buf, sizeof buf, "config %s: %s", path, err->msg + strlen(prefix));
            memcpy(err->msg, buf, sizeof buf);
        }
    }
    return rc;
}
