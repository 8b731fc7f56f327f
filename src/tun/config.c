// SPDX-License-Identifier: MIT
// Reads ruphin-tund's JSON config strictly (unknown keys, wrong types and bad ranges all fail),
// then, apart from that, resolves what needs the system: DNS, the key file, the user database.
#include "config.h"

#include "ruphin/seal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hostport.h"
#include "name.h"
#include "nodekey.h"
#include "ruphin/error.h"
#include "ruphin/noise.h"

static const char *const top_keys[] = {
    "holepuncher",  "session", "role",      "interface", "keepalive_interval",
    "peer_timeout", "seal",    "state_dir", "members",   "control_socket",
    "log_level",    "port",    "user",      "name",      "port_mapping",
    "dns",          "mesh",    NULL};
static const char *const iface_keys[] = {"name", "address", "address6", "mtu", NULL};

/* The shared getters name the bare key; a key inside "interface" is reported with its path
 * so the message points at the right line of the file. */
static void qualify(struct errmsg *err, const char *key, const char *path)
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
                      const char **out, struct errmsg *err)
{
    int rc = cfg_get_string(obj, key, out, err);
    if (rc < 0) {
        qualify(err, key, path);
        return -EINVAL;
    }
    if (rc == 1 && required) return errmsg_fail(err, -EINVAL, "\"%s\" is required", path);
    return rc;
}

static int get_int(const cJSON *obj, const char *key, const char *path, long min, long max,
                   long def, int *out, struct errmsg *err)
{
    long v = def;
    if (cfg_get_int(obj, key, min, max, &v, err) < 0) {
        qualify(err, key, path);
        return -EINVAL;
    }
    *out = (int)v;
    return 0;
}

static int check_holepuncher_addr(const struct tund_config *c, struct errmsg *err)
{
    static const uint8_t zero[16];
    if (memcmp(c->holepuncher_addr.ip, zero, sizeof zero) == 0)
        return errmsg_fail(err, -EINVAL,
                           "\"holepuncher\" must name a host, got the unspecified address \"%s\"",
                           c->holepuncher);
    return 0;
}

static int parse_holepuncher(const cJSON *root, struct tund_config *c, struct errmsg *err)
{
    const char *s;
    int rc = get_string(root, "holepuncher", "holepuncher", true, &s, err);
    if (rc) return rc;
    if (strlen(s) > TUND_HOLEPUNCHER_MAX)
        return errmsg_fail(err, -EINVAL, "\"holepuncher\" must be at most %d characters, got %zu",
                           TUND_HOLEPUNCHER_MAX, strlen(s));
    struct errmsg why;
    char host[256];
    unsigned port;
    if (hostport_split(s, host, sizeof host, &port, &why) < 0)
        return errmsg_fail(
            err, -EINVAL,
            "\"holepuncher\" must be \"host:port\" or \"[IPv6]:port\": %s, got \"%s\"", why.msg, s);
    strcpy(c->holepuncher, s);
    /* A numeric address is taken now; a name waits for tund_config_resolve (DNS may block). */
    memset(&c->holepuncher_addr, 0, sizeof c->holepuncher_addr);
    if (rph_addr_parse(s, &c->holepuncher_addr) < 0) {
        memset(&c->holepuncher_addr, 0, sizeof c->holepuncher_addr);
        return 0;
    }
    return check_holepuncher_addr(c, err);
}

static int parse_session(const cJSON *root, struct tund_config *c, struct errmsg *err)
{
    const char *s;
    int rc = get_string(root, "session", "session", true, &s, err);
    if (rc) return rc;
    size_t n = strlen(s);
    if (n < 1 || n > RPH_SESSION_MAX)
        return errmsg_fail(err, -EINVAL, "\"session\" must be 1..%d bytes, got %zu",
                           RPH_SESSION_MAX, n);
    /* The ID shows up in logs, status output and the default socket path. */
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch < 0x20 || ch == 0x7f)
            return errmsg_fail(err, -EINVAL,
                               "\"session\" must not contain control characters (byte %zu)", i);
    }
    rph_session_set(&c->session, s, n);
    memcpy(c->session_str, s, n + 1);
    return 0;
}

static int parse_role(const cJSON *root, struct tund_config *c, struct errmsg *err)
{
    const char *s;
    int rc = get_string(root, "role", "role", true, &s, err);
    if (rc) return rc;
    if (strcmp(s, "server") == 0) {
        c->role = RPH_ROLE_SERVER;
    } else if (strcmp(s, "client") == 0) {
        c->role = RPH_ROLE_CLIENT;
    } else {
        return errmsg_fail(err, -EINVAL, "\"role\" must be \"server\" or \"client\", got \"%.64s\"",
                           s);
    }
    return 0;
}

static int parse_ifname(const cJSON *iface, struct tund_config *c, struct errmsg *err)
{
    const char *s;
    int rc = get_string(iface, "name", "interface.name", true, &s, err);
    if (rc) return rc;
    size_t n = strlen(s);
    if (n < 1 || n > TUND_IFNAME_MAX)
        return errmsg_fail(err, -EINVAL, "\"interface.name\" must be 1..%d characters, got %zu",
                           TUND_IFNAME_MAX, n);
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                  (ch >= '0' && ch <= '9') || ch == '_' || ch == '.' || ch == '-';
        if (!ok)
            return errmsg_fail(err, -EINVAL,
                               "\"interface.name\" may contain only letters, digits, \"_\", \".\" "
                               "and \"-\", got \"%.15s\"",
                               s);
    }
    /* The kernel refuses these two names (dev_valid_name). */
    if (strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
        return errmsg_fail(err, -EINVAL, "\"interface.name\" cannot be \"%s\"", s);
    memcpy(c->ifname, s, n + 1);
    return 0;
}

/* "addr/prefix" with a decimal prefix 1..maxp; 0, or -EINVAL. */
static int split_prefix(const char *s, int af, uint8_t *ip, int maxp, int *prefix)
{
    const char *slash = strchr(s, '/');
    if (!slash || slash == s || (size_t)(slash - s) >= INET6_ADDRSTRLEN) return -EINVAL;
    char host[INET6_ADDRSTRLEN];
    memcpy(host, s, (size_t)(slash - s));
    host[slash - s] = 0;
    if (inet_pton(af, host, ip) != 1) return -EINVAL;
    const char *p = slash + 1;
    if (*p < '0' || *p > '9' || strlen(p) > 3) return -EINVAL;
    int v = 0;
    for (; *p; p++) {
        if (*p < '0' || *p > '9') return -EINVAL;
        v = v * 10 + (*p - '0');
    }
    if (v < 1 || v > maxp) return -EINVAL;
    *prefix = v;
    return 0;
}

static int parse_addr4(const cJSON *iface, struct tund_config *c, struct errmsg *err)
{
    const char *s;
    /* A client may leave it out (or say "auto"): the server assigns one (addrpool.h). */
    int rc = get_string(iface, "address", "interface.address", c->role == RPH_ROLE_SERVER, &s, err);
    if (rc < 0) return rc;
    if (rc == 1 || strcmp(s, "auto") == 0) {
        if (c->role == RPH_ROLE_SERVER)
            return errmsg_fail(err, -EINVAL,
                               "\"interface.address\" must be a fixed address on a server (its "
                               "prefix is what clients get addresses from), got \"auto\"");
        c->addr_auto = true;
        snprintf(c->address, sizeof c->address, "auto");
        return 0;
    }
    if (split_prefix(s, AF_INET, c->addr4, 32, &c->prefix4) < 0)
        return errmsg_fail(err, -EINVAL,
                           "\"interface.address\" must be an IPv4 address with a prefix length "
                           "1..32 like \"10.77.0.1/24\", got \"%.64s\"",
                           s);
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
    if (bad)
        return errmsg_fail(err, -EINVAL,
                           "\"interface.address\" must be a host address, \"%s\" is %s", s, bad);
    char ip[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, c->addr4, ip, sizeof ip);
    snprintf(c->address, sizeof c->address, "%s/%d", ip, c->prefix4);
    return 0;
}

static int parse_addr6(const cJSON *iface, struct tund_config *c, struct errmsg *err)
{
    const char *s;
    int rc = get_string(iface, "address6", "interface.address6", false, &s, err);
    if (rc < 0) return rc;
    if (rc == 1) {
        c->has_addr6 = false;
        c->address6[0] = 0;
        return 0;
    }
    if (c->addr_auto)
        return errmsg_fail(err, -EINVAL,
                           "\"interface.address6\" cannot go with an automatic \"address\": "
                           "the server assigns IPv6 too when it has an IPv6 prefix");
    if (split_prefix(s, AF_INET6, c->addr6, 128, &c->prefix6) < 0)
        return errmsg_fail(err, -EINVAL,
                           "\"interface.address6\" must be an IPv6 address with a prefix length "
                           "1..128 like \"fd77::1/64\", got \"%.64s\"",
                           s);
    static const uint8_t zero[16];
    static const uint8_t one[16] = {[15] = 1};
    const char *bad = NULL;
    if (memcmp(c->addr6, zero, 16) == 0)
        bad = "the unspecified address";
    else if (memcmp(c->addr6, one, 16) == 0)
        bad = "the loopback address";
    else if (c->addr6[0] == 0xff)
        bad = "a multicast address";
    if (bad)
        return errmsg_fail(err, -EINVAL,
                           "\"interface.address6\" must be a host address, \"%s\" is %s", s, bad);
    char ip[INET6_ADDRSTRLEN];
    inet_ntop(AF_INET6, c->addr6, ip, sizeof ip);
    snprintf(c->address6, sizeof c->address6, "%s/%d", ip, c->prefix6);
    c->has_addr6 = true;
    return 0;
}

static int parse_interface(const cJSON *root, struct tund_config *c, struct errmsg *err)
{
    const cJSON *iface = cJSON_GetObjectItemCaseSensitive(root, "interface");
    if (!iface)
        return errmsg_fail(err, -EINVAL,
                           "\"interface\" is required (an object with \"name\" and "
                           "\"address\")");
    if (!cJSON_IsObject(iface)) return errmsg_fail(err, -EINVAL, "\"interface\" must be an object");
    if (cfg_check_keys(iface, "interface", iface_keys, err) < 0) return -EINVAL;
    int rc;
    if ((rc = parse_ifname(iface, c, err)) || (rc = parse_addr4(iface, c, err)) ||
        (rc = parse_addr6(iface, c, err)))
        return rc;
    if ((rc = get_int(iface, "mtu", "interface.mtu", 576, 9000, TUND_DEFAULT_MTU, &c->mtu, err)))
        return rc;
    /* Linux turns IPv6 off on a link whose MTU is below the IPv6 minimum. */
    if (c->has_addr6 && c->mtu < 1280)
        return errmsg_fail(err, -EINVAL,
                           "\"interface.mtu\" must be at least 1280 (the IPv6 minimum) when "
                           "\"interface.address6\" is set, got %d",
                           c->mtu);
    return 0;
}

static int parse_seal(const cJSON *root, struct tund_config *c, struct errmsg *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, "seal");
    c->seal = false;
    if (!v || cJSON_IsFalse(v)) return 0;
    if (!cJSON_IsObject(v))
        return errmsg_fail(err, -EINVAL,
                           "\"seal\" must be false or {\"key_file\": \"/etc/ruphin/NAME.key\"}");
    static const char *const keys[] = {"key_file", "relay", NULL};
    if (cfg_check_keys(v, "seal", keys, err) < 0) return -EINVAL;
    /* On unless switched off: a holepuncherd without the relay just drops RelayData. */
    const cJSON *rl = cJSON_GetObjectItemCaseSensitive(v, "relay");
    if (rl && !cJSON_IsBool(rl))
        return errmsg_fail(err, -EINVAL, "\"seal.relay\" must be true or false");
    c->seal_relay = !rl || cJSON_IsTrue(rl);
    const cJSON *kf = cJSON_GetObjectItemCaseSensitive(v, "key_file");
    if (!cJSON_IsString(kf) || !kf->valuestring[0])
        return errmsg_fail(err, -EINVAL,
                           "\"seal.key_file\" must be the path of a key file (make one with "
                           "`ruphinctl genkey`)");
    if (strlen(kf->valuestring) >= sizeof c->seal_key_file)
        return errmsg_fail(err, -EINVAL, "\"seal.key_file\" is longer than %zu bytes",
                           sizeof c->seal_key_file - 1);
    /* A config that asks for sealing must never silently run in the clear. */
    if (!rph_seal_available())
        return errmsg_fail(err, -EINVAL,
                           "\"seal\": this build has no libsodium, so it cannot seal; "
                           "rebuild with -DRUPHIN_SODIUM=ON or set \"seal\": false");
    /* The key itself is read by tund_config_resolve, never here: SIGHUP parses too. */
    snprintf(c->seal_key_file, sizeof c->seal_key_file, "%s", kf->valuestring);
    c->seal = true;
    return 0;
}

/* "port_mapping": ask the router for one (NAT-PMP); by default when sealed, where peers learn
 * the mapped endpoint as a candidate. */
static int parse_port_mapping(const cJSON *root, struct tund_config *c, struct errmsg *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, "port_mapping");
    if (v && !cJSON_IsBool(v))
        return errmsg_fail(err, -EINVAL, "\"port_mapping\" must be true or false");
    c->port_mapping = v ? cJSON_IsTrue(v) : c->seal;
    return 0;
}

/* "mesh": a sealed server introduces its clients to each other so that they talk straight to
 * each other (docs/PROTOCOL.md "Mesh"); a sealed client takes such introductions. Default on
 * when sealed; plaintext has no node keys to vouch for a member with, so it cannot be on. */
static int parse_mesh(const cJSON *root, struct tund_config *c, struct errmsg *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, "mesh");
    if (v && !cJSON_IsBool(v)) return errmsg_fail(err, -EINVAL, "\"mesh\" must be true or false");
    if (v && cJSON_IsTrue(v) && !c->seal)
        return errmsg_fail(err, -EINVAL,
                           "\"mesh\": true needs \"seal\" (members are vouched for by their node "
                           "keys, which a plaintext tunnel does not have)");
    c->mesh = v ? cJSON_IsTrue(v) : c->seal;
    return 0;
}

/* A name usable as one path component: the default paths are built from it. */
static bool plain_name(const char *s)
{
    return s[0] && !strchr(s, '/') && strcmp(s, ".") != 0 && strcmp(s, "..") != 0;
}

static int parse_state_dir(const cJSON *root, struct tund_config *c, struct errmsg *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, "state_dir");
    c->state_dir[0] = 0;
    c->state_dir_set = false;
    if (!v) {
        /* Replaced by one named after the config file when there is a file (tund_config_load). */
        if (c->seal && plain_name(c->session_str))
            snprintf(c->state_dir, sizeof c->state_dir, TUND_STATE_DIR_BASE "/%s", c->session_str);
        return 0;
    }
    if (!c->seal)
        return errmsg_fail(err, -EINVAL,
                           "\"state_dir\" needs \"seal\": it holds the node key, and a plaintext "
                           "tunnel has none");
    if (!cJSON_IsString(v) || !v->valuestring[0] || strlen(v->valuestring) >= sizeof c->state_dir)
        return errmsg_fail(err, -EINVAL, "\"state_dir\" must be a directory path (1..%zu bytes)",
                           sizeof c->state_dir - 1);
    for (const char *p = v->valuestring; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            return errmsg_fail(err, -EINVAL, "\"state_dir\" must not contain control characters");
    snprintf(c->state_dir, sizeof c->state_dir, "%s", v->valuestring);
    c->state_dir_set = true;
    return 0;
}

static int parse_members(const cJSON *root, struct tund_config *c, struct errmsg *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, "members");
    c->n_members = 0;
    if (!v) return 0;
    if (!c->seal)
        return errmsg_fail(err, -EINVAL,
                           "\"members\" needs \"seal\": plaintext peers have no node keys to "
                           "admit by");
    if (!cJSON_IsArray(v))
        return errmsg_fail(err, -EINVAL,
                           "\"members\" must be an array of node public keys (base64, as "
                           "`ruphinctl pubkey` prints them)");
    int n = cJSON_GetArraySize(v);
    if (n > TUND_MEMBERS_MAX)
        return errmsg_fail(err, -EINVAL, "\"members\" may list at most %d node keys, got %d",
                           TUND_MEMBERS_MAX, n);
    const cJSON *it;
    size_t i = 0;
    cJSON_ArrayForEach(it, v)
    {
        if (!cJSON_IsString(it) || rph_key_from_base64(it->valuestring, c->members[i]) < 0) {
            if (cJSON_IsString(it))
                return errmsg_fail(err, -EINVAL,
                                   "\"members\"[%zu] must be a node public key (44 characters of "
                                   "base64, as `ruphinctl pubkey` prints), got \"%.64s\"",
                                   i, it->valuestring);
            return errmsg_fail(
                err, -EINVAL, "\"members\"[%zu] must be a node public key (a string of base64)", i);
        }
        for (size_t j = 0; j < i; j++)
            if (memcmp(c->members[j], c->members[i], 32) == 0)
                return errmsg_fail(err, -EINVAL, "\"members\"[%zu] duplicates \"members\"[%zu]", i,
                                   j);
        i++;
    }
    c->n_members = i;
    return 0;
}

static int parse_user(const cJSON *root, struct tund_config *c, struct errmsg *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, "user");
    c->user[0] = 0;
    if (!v) return 0;
    if (!cJSON_IsString(v) || !v->valuestring[0] || strlen(v->valuestring) >= sizeof c->user)
        return errmsg_fail(err, -EINVAL, "\"user\" must be a user name (1..%zu characters)",
                           sizeof c->user - 1);
    /* Looked up by tund_config_resolve: the user database may be remote (NSS). */
    snprintf(c->user, sizeof c->user, "%s", v->valuestring);
    return 0;
}

static int parse_control_socket(const cJSON *root, struct tund_config *c, struct errmsg *err)
{
    const char *s;
    int rc = get_string(root, "control_socket", "control_socket", false, &s, err);
    if (rc < 0) return rc;
    if (rc == 1) {
        /* The default path is built from the session, so it must be a plain file name. */
        if (strchr(c->session_str, '/') || strcmp(c->session_str, ".") == 0 ||
            strcmp(c->session_str, "..") == 0) {
            return errmsg_fail(err, -EINVAL,
                               "\"control_socket\" must be set: session \"%s\" cannot be used in "
                               "the default path /run/ruphin/<session>.sock",
                               c->session_str);
        }
        snprintf(c->control_socket, sizeof c->control_socket, "/run/ruphin/%s.sock",
                 c->session_str);
        return 0;
    }
    if (s[0] != '/')
        return errmsg_fail(err, -EINVAL,
                           "\"control_socket\" must be an absolute path, got \"%.64s\"", s);
    size_t n = strlen(s);
    if (n >= TUND_SOCKPATH_MAX)
        return errmsg_fail(err, -EINVAL,
                           "\"control_socket\" must be shorter than %d bytes (a unix socket "
                           "path), got %zu",
                           TUND_SOCKPATH_MAX, n);
    if (s[n - 1] == '/')
        return errmsg_fail(err, -EINVAL,
                           "\"control_socket\" must name a file, got the directory \"%s\"", s);
    memcpy(c->control_socket, s, n + 1);
    return 0;
}

static int parse_timers(const cJSON *root, struct tund_config *c, struct errmsg *err)
{
    int rc;
    if ((rc = get_int(root, "keepalive_interval", "keepalive_interval", 1, 3600,
                      TUND_DEFAULT_KEEPALIVE, &c->keepalive_interval, err)) ||
        (rc = get_int(root, "peer_timeout", "peer_timeout", 2, 86400, TUND_DEFAULT_PEER_TIMEOUT,
                      &c->peer_timeout, err)))
        return rc;
    /* A peer that is dropped before its next keepalive is due would flap forever. */
    if (c->peer_timeout <= c->keepalive_interval)
        return errmsg_fail(err, -EINVAL,
                           "\"peer_timeout\" must be greater than \"keepalive_interval\" (%d), "
                           "got %d",
                           c->keepalive_interval, c->peer_timeout);
    return 0;
}

/* "name": this member's name in the session, a DNS label; the host name's first label by
 * default (lowercased). */
static int parse_name(const cJSON *root, struct tund_config *c, struct errmsg *err)
{
    const char *s;
    int rc = get_string(root, "name", "name", false, &s, err);
    if (rc < 0) return rc;
    if (rc == 0) {
        if (!name_valid(s, strlen(s)))
            return errmsg_fail(err, -EINVAL,
                               "\"name\" must be a DNS label: 1..63 of a-z, 0-9 and \"-\", not "
                               "starting or ending with \"-\", got \"%.70s\"",
                               s);
        snprintf(c->name, sizeof c->name, "%s", s);
        c->name_set = true;
        return 0;
    }
    char host[256] = "";
    if (gethostname(host, sizeof host - 1) < 0) host[0] = 0;
    if (name_from_host(host, c->name) < 0)
        return errmsg_fail(err, -EINVAL,
                           "\"name\" is not set and the host name \"%.64s\" does not make a "
                           "valid name (a DNS label: a-z, 0-9, \"-\"); set \"name\"",
                           host);
    return 0;
}

/* Automatic addresses are kept per node key, and only sealed tunnels have node keys. */
static int check_auto(const struct tund_config *c, struct errmsg *err)
{
    if (c->addr_auto && !c->seal)
        return errmsg_fail(err, -EINVAL,
                           "\"interface.address\" is automatic (absent or \"auto\"), which needs "
                           "\"seal\": the server keeps a client's address per node key, and a "
                           "plaintext tunnel has none; set \"seal\" or a fixed \"address\"");
    return 0;
}

/* "dns": {"domain": "office.lan.arpa"}: the responder for the members' names (lan_dns.h). */
static int parse_dns(const cJSON *root, struct tund_config *c, struct errmsg *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, "dns");
    if (!v) return 0;
    if (!cJSON_IsObject(v))
        return errmsg_fail(err, -EINVAL,
                           "\"dns\" must be an object: {\"domain\": \"office.lan.arpa\"}");
    static const char *const keys[] = {"domain", NULL};
    if (cfg_check_keys(v, "dns", keys, err) < 0) return -EINVAL;
    const char *s;
    int rc = get_string(v, "domain", "dns.domain", true, &s, err);
    if (rc < 0) return rc;
    return dns_domain_parse(s, c->dns_domain, err);
}

/* Port 53 and systemd-resolved take root: an automatic address comes after the daemon became
 * "user", when neither is possible any more. */
static int check_dns(const struct tund_config *c, struct errmsg *err)
{
    if (c->dns_domain[0] && c->user[0] && c->addr_auto)
        return errmsg_fail(err, -EINVAL,
                           "\"dns\" with \"user\" needs a fixed \"interface.address\": an "
                           "automatic address arrives after the daemon switched to \"%s\", and "
                           "listening on port 53 there takes root; drop \"user\" or set an "
                           "\"address\"",
                           c->user);
    return 0;
}

static int parse_log_level(const cJSON *root, struct tund_config *c, struct errmsg *err)
{
    c->log_level = LOG_LVL_INFO;
    return cfg_get_log_level(root, "log_level", &c->log_level, err) < 0 ? -EINVAL : 0;
}

int tund_config_parse(const cJSON *root, struct tund_config *out, struct errmsg *err)
{
    if (!cJSON_IsObject(root))
        return errmsg_fail(err, -EINVAL, "the top level must be a JSON object");
    if (cfg_check_keys(root, NULL, top_keys, err) < 0) return -EINVAL;
    struct tund_config c;
    memset(&c, 0, sizeof c);
    int port = 0;
    int rc;
    /* In the order docs/CONFIG.md lists the keys, so the first problem reported is stable. */
    if ((rc = parse_holepuncher(root, &c, err)) || (rc = parse_session(root, &c, err)) ||
        (rc = parse_role(root, &c, err)) || (rc = parse_interface(root, &c, err)) ||
        (rc = parse_timers(root, &c, err)) || (rc = parse_seal(root, &c, err)) ||
        (rc = parse_state_dir(root, &c, err)) || (rc = parse_members(root, &c, err)) ||
        (rc = parse_control_socket(root, &c, err)) || (rc = parse_log_level(root, &c, err)) ||
        (rc = get_int(root, "port", "port", 0, 65535, 0, &port, err)) ||
        (rc = parse_user(root, &c, err)) || (rc = parse_name(root, &c, err)) ||
        (rc = parse_port_mapping(root, &c, err)) || (rc = parse_mesh(root, &c, err)) ||
        (rc = check_auto(&c, err)) || (rc = parse_dns(root, &c, err)) || (rc = check_dns(&c, err)))
        return rc;
    c.port = (uint16_t)port;
    *out = c;
    return 0;
}

/* A relative key_file is taken from the config file's directory, not from the working
 * directory, so --check in one place and the daemon started from / agree. */
static int anchor_key_file(struct tund_config *c, const char *config_path, struct errmsg *err)
{
    if (!c->seal || c->seal_key_file[0] == '/') return 0;
    const char *slash = strrchr(config_path, '/');
    if (!slash) return 0; /* the config is in the working directory: the path is right as is */
    int dirlen = (int)(slash - config_path);
    char joined[sizeof c->seal_key_file + 1];
    int n = snprintf(joined, sizeof joined, "%.*s/%s", dirlen, config_path, c->seal_key_file);
    if (n < 0 || (size_t)n >= sizeof c->seal_key_file)
        return errmsg_fail(
            err, -EINVAL,
            "\"seal.key_file\" \"%s\" with the config's directory is longer than %zu "
            "bytes",
            c->seal_key_file, sizeof c->seal_key_file - 1);
    memcpy(c->seal_key_file, joined, (size_t)n + 1);
    return 0;
}

/* The default state directory is named after the config file, as systemd's StateDirectory=
 * ruphin/%i is for ruphin-tund@NAME reading /etc/ruphin/NAME.json; a relative one is taken
 * from the config file's directory, like key_file. */
static int anchor_state_dir(struct tund_config *c, const char *config_path, struct errmsg *err)
{
    if (!c->seal) return 0;
    const char *slash = strrchr(config_path, '/');
    int n;
    if (!c->state_dir_set) {
        const char *base = slash ? slash + 1 : config_path;
        size_t len = strlen(base);
        if (len > 5 && strcmp(base + len - 5, ".json") == 0) len -= 5;
        char name[256];
        snprintf(name, sizeof name, "%.*s", (int)len, base);
        if (!plain_name(name)) return 0; /* keep the session's */
        n = snprintf(c->state_dir, sizeof c->state_dir, TUND_STATE_DIR_BASE "/%s", name);
    } else if (c->state_dir[0] == '/' || !slash) {
        return 0;
    } else {
        char joined[sizeof c->state_dir + 1];
        n = snprintf(joined, sizeof joined, "%.*s/%s", (int)(slash - config_path), config_path,
                     c->state_dir);
        if (n >= 0 && (size_t)n < sizeof c->state_dir) memcpy(c->state_dir, joined, (size_t)n + 1);
    }
    if (n < 0 || (size_t)n >= sizeof c->state_dir)
        return errmsg_fail(err, -EINVAL,
                           "\"state_dir\" with the config's directory or name is longer than "
                           "%zu bytes",
                           sizeof c->state_dir - 1);
    return 0;
}

static int parse_file(const cJSON *root, const char *path, void *out, struct errmsg *err)
{
    struct tund_config c;
    int rc = tund_config_parse(root, &c, err);
    if (rc == 0) rc = anchor_key_file(&c, path, err);
    if (rc == 0) rc = anchor_state_dir(&c, path, err);
    if (rc == 0) *(struct tund_config *)out = c;
    return rc;
}

struct resolve_target {
    struct tund_config *c;
    enum tund_resolve_mode mode;
};

static int parse_and_resolve_file(const cJSON *root, const char *path, void *out,
                                  struct errmsg *err)
{
    struct resolve_target *t = out;
    int rc = parse_file(root, path, t->c, err);
    return rc < 0 ? rc : tund_config_resolve(t->c, t->mode, err);
}

int tund_config_load(const char *path, struct tund_config *out, struct errmsg *err)
{
    return cfg_load(path, parse_file, out, err);
}

int tund_config_load_resolved(const char *path, struct tund_config *out,
                              enum tund_resolve_mode mode, struct errmsg *err)
{
    struct resolve_target t = {out, mode};
    return cfg_load(path, parse_and_resolve_file, &t, err);
}

/* ---- the resolve step: everything that asks the system */

int tund_config_resolve_holepuncher(struct tund_config *c, struct errmsg *err)
{
    c->holepuncher_pending = false;
    c->holepuncher_why[0] = 0;
    if (c->holepuncher_addr.family) return 0; /* numeric, taken by the parser */
    struct errmsg why;
    int rc = hostport_resolve(c->holepuncher, &c->holepuncher_addr, &why);
    if (rc < 0) {
        memset(&c->holepuncher_addr, 0, sizeof c->holepuncher_addr);
        if (rc == -EAGAIN) {
            c->holepuncher_pending = true;
            snprintf(c->holepuncher_why, sizeof c->holepuncher_why, "%.*s",
                     (int)sizeof c->holepuncher_why - 1, why.msg);
            return errmsg_fail(err, rc, "\"holepuncher\": cannot resolve \"%s\" now: %s",
                               c->holepuncher, why.msg);
        }
        return errmsg_fail(err, rc, "\"holepuncher\": \"%s\": %s", c->holepuncher, why.msg);
    }
    rc = check_holepuncher_addr(c, err);
    if (rc < 0) memset(&c->holepuncher_addr, 0, sizeof c->holepuncher_addr);
    return rc;
}

/* A name that does not resolve now is not a config error: at boot the network or the resolver
 * may not be up yet. It is left pending (holepuncher_pending) for the caller to retry; only a
 * malformed name, or one resolving to an address no holepuncher can have, fails here. */
static int resolve_holepuncher(struct tund_config *c, enum tund_resolve_mode mode,
                               struct errmsg *err)
{
    (void)mode;
    int rc = tund_config_resolve_holepuncher(c, err);
    return rc == -EAGAIN ? 0 : rc;
}

static int read_key(struct tund_config *c, enum tund_resolve_mode mode, struct errmsg *err)
{
    (void)mode;
    if (!c->seal) return 0;
    char why[512];
    int fd = open(c->seal_key_file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        int e = errno;
        return errmsg_fail(err, -e, "\"seal.key_file\": key file %s: %s", c->seal_key_file,
                           strerror(e));
    }
    /* Whoever owns the file can replace the key: root, the daemon or the user it drops to
     * (looked up before this step). The mode and the rest are the library's checks. */
    struct stat st;
    struct errmsg owner;
    uid_t user = c->user[0] && c->uid != 0 ? c->uid : NODEKEY_NO_USER;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
        nodekey_owner_check("key file", c->seal_key_file, st.st_uid, user, &owner) < 0) {
        close(fd);
        return errmsg_fail(err, -EPERM, "\"seal.key_file\": %s", owner.msg);
    }
    int rc = rph_key_load_fd(fd, c->seal_key_file, c->seal_key, why, sizeof why);
    close(fd);
    if (rc < 0) {
        tund_config_wipe_key(c);
        /* Library codes (not a key, no libsodium) are the config's fault: -EINVAL. */
        return errmsg_fail(err, rc > -1000 ? rc : -EINVAL, "\"seal.key_file\": %s", why);
    }
    return 0;
}

/* The node key: loaded, or made at first start; --check only looks (a start makes it). */
static int read_node_key(struct tund_config *c, enum tund_resolve_mode mode, struct errmsg *err)
{
    c->has_node_key = false;
    c->node_key_created = false;
    if (!c->seal) return 0;
    if (!c->state_dir[0])
        return errmsg_fail(
            err, -EINVAL,
            "\"state_dir\" must be set: session \"%s\" cannot name the default " TUND_STATE_DIR_BASE
            "/<session>",
            c->session_str);
    struct nodekey k;
    struct errmsg why;
    bool have = false;
    int rc = rph_noise_global_init(); /* the random numbers of a new key */
    if (rc < 0) return errmsg_fail(err, -EINVAL, "\"state_dir\": %s", rph_strerror(rc));
    if (mode == TUND_RESOLVE_START) {
        rc = nodekey_load_or_create(c->state_dir, &k, &c->node_key_created, &why);
        have = rc == 0;
    } else {
        rc = nodekey_check(c->state_dir, &k, &have, &why);
    }
    if (rc < 0) return errmsg_fail(err, rc > -1000 ? rc : -EINVAL, "\"state_dir\": %s", why.msg);
    if (have) {
        memcpy(c->node_sk, k.sk, sizeof c->node_sk);
        memcpy(c->node_pk, k.pk, sizeof c->node_pk);
        c->has_node_key = true;
    }
    nodekey_wipe(&k);
    return 0;
}

static int lookup_user(struct tund_config *c, enum tund_resolve_mode mode, struct errmsg *err)
{
    (void)mode;
    if (!c->user[0]) return 0;
    struct passwd *pw = getpwnam(c->user);
    if (!pw) return errmsg_fail(err, -ENOENT, "\"user\": no such user \"%.64s\"", c->user);
    if (pw->pw_uid == 0)
        return errmsg_fail(err, -EINVAL, "\"user\" \"%.64s\" is root; name an unprivileged user",
                           c->user);
    c->uid = pw->pw_uid;
    c->gid = pw->pw_gid;
    return 0;
}

int tund_config_resolve(struct tund_config *c, enum tund_resolve_mode mode, struct errmsg *err)
{
    int (*const steps[])(struct tund_config *, enum tund_resolve_mode, struct errmsg *) = {
        resolve_holepuncher, lookup_user, read_key, read_node_key}; /* read_key needs the uid */
    int first = 0;
    /* Every step runs, so --check names every problem at once, not one per run. */
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        struct errmsg one;
        int rc = steps[i](c, mode, &one);
        if (rc >= 0) continue;
        if (first == 0) {
            first = rc;
            errmsg_set(err, "%s", one.msg);
        } else {
            errmsg_append(err, "; %s", one.msg);
        }
    }
    if (first < 0) {
        tund_config_wipe_key(c);
        c->has_node_key = false;
    }
    return first;
}

void tund_config_wipe_key(struct tund_config *c)
{
    rph_seal_wipe(c->seal_key, sizeof c->seal_key);
    rph_seal_wipe(c->node_sk, sizeof c->node_sk);
}

/* ---- what a reload changes */

typedef void (*value_fn)(const struct tund_config *c, char *buf, size_t cap);

static void v_holepuncher(const struct tund_config *c, char *b, size_t n)
{
    snprintf(b, n, "%s", c->holepuncher);
}
static void v_session(const struct tund_config *c, char *b, size_t n)
{
    snprintf(b, n, "%s", c->session_str);
}
static void v_role(const struct tund_config *c, char *b, size_t n)
{
    snprintf(b, n, "%s", c->role == RPH_ROLE_SERVER ? "server" : "client");
}
static void v_ifname(const struct tund_config *c, char *b, size_t n)
{
    snprintf(b, n, "%s", c->ifname);
}
static void v_address(const struct tund_config *c, char *b, size_t n)
{
    snprintf(b, n, "%s", c->address);
}
static void v_name(const struct tund_config *c, char *b, size_t n)
{
    snprintf(b, n, "%s", c->name);
}
static void v_address6(const struct tund_config *c, char *b, size_t n)
{
    snprintf(b, n, "%s", c->has_addr6 ? c->address6 : "none");
}
static void v_mtu(const struct tund_config *c, char *b, size_t n)
{
    snprintf(b, n, "%d", c->mtu);
}
static void v_keepalive(const struct tund_config *c, char *b, size_t n)
{
    snprintf(b, n, "%d", c->keepalive_interval);
}
static void v_peer_timeout(const struct tund_config *c, char *b, size_t n)
{
    snprintf(b, n, "%d", c->peer_timeout);
}
static void v_seal(const struct tund_config *c, char *b, size_t n)
{
    snprintf(b, n, "%s", c->seal ? c->seal_key_file : "false");
}
static void v_relay(const struct tund_config *c, char *b, size_t n)
{
    snprintf(b, n, "%s", c->seal && c->seal_relay ? "true" : "false");
}
static void v_state_dir(const struct tund_config *c, char *b, size_t n)
{
    snprintf(b, n, "%s", c->seal ? c->state_dir : "none");
}
/* The short forms (8 base64 characters) of the node keys, enough to tell two lists apart. */
static void v_members(const struct tund_config *c, char *b, size_t n)
{
    snprintf(b, n, "%s", c->n_members ? "" : "none");
    size_t off = 0;
    for (size_t i = 0; i < c->n_members && off + 10 < n; i++) {
        char k[NODEKEY_B64_LEN + 1];
        nodekey_public_base64(c->members[i], k, sizeof k);
        off += (size_t)snprintf(b + off, n - off, "%s%.8s", i ? "," : "", k);
    }
}
static void v_control_socket(const struct tund_config *c, char *b, size_t n)
{
    snprintf(b, n, "%s", c->control_socket);
}
static void v_log_level(const struct tund_config *c, char *b, size_t n)
{
    snprintf(b, n, "%s", log_level_name(c->log_level));
}
static void v_port(const struct tund_config *c, char *b, size_t n)
{
    snprintf(b, n, "%u", (unsigned)c->port);
}
static void v_port_mapping(const struct tund_config *c, char *b, size_t n)
{
    snprintf(b, n, "%s", c->port_mapping ? "true" : "false");
}
static void v_mesh(const struct tund_config *c, char *b, size_t n)
{
    snprintf(b, n, "%s", c->mesh ? "true" : "false");
}
static void v_dns(const struct tund_config *c, char *b, size_t n)
{
    snprintf(b, n, "%s", c->dns_domain[0] ? c->dns_domain : "none");
}
static void v_user(const struct tund_config *c, char *b, size_t n)
{
    snprintf(b, n, "%s", c->user[0] ? c->user : "none");
}

size_t tund_config_diff(const struct tund_config *running, const struct tund_config *next,
                        tund_config_change_fn fn, void *ctx)
{
    /* In the order of docs/CONFIG.md; only log_level can change under a running tunnel. */
    static const struct {
        const char *key;
        bool live;
        value_fn value;
    } keys[] = {
        {"holepuncher", false, v_holepuncher},
        {"session", false, v_session},
        {"role", false, v_role},
        {"interface.name", false, v_ifname},
        {"interface.address", false, v_address},
        {"interface.address6", false, v_address6},
        {"interface.mtu", false, v_mtu},
        {"keepalive_interval", false, v_keepalive},
        {"peer_timeout", false, v_peer_timeout},
        {"seal.key_file", false, v_seal},
        {"seal.relay", false, v_relay},
        {"state_dir", false, v_state_dir},
        {"members", false, v_members},
        {"control_socket", false, v_control_socket},
        {"log_level", true, v_log_level},
        {"port", false, v_port},
        {"user", false, v_user},
        {"name", false, v_name},
        {"port_mapping", false, v_port_mapping},
        {"dns.domain", false, v_dns},
        {"mesh", false, v_mesh},
    };
    size_t changed = 0;
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        char was[TUND_MEMBERS_MAX * 9 + TUND_HOLEPUNCHER_MAX], now[sizeof was];
        keys[i].value(running, was, sizeof was);
        keys[i].value(next, now, sizeof now);
        if (strcmp(was, now) == 0) continue;
        changed++;
        fn(ctx, keys[i].key, was, now, keys[i].live);
    }
    return changed;
}
