// SPDX-License-Identifier: MIT
// ruphin-tund's config: the shipped examples parse, every bad value is named in the error, the
// resolve step (DNS, key file, user) is apart from parsing, and the session key is wiped.
#include <criterion/criterion.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../src/common/hostport.h"
#include "../src/tun/config.h"
#include "../src/tun/name.h"

#define MINIMAL                                                                                    \
    "{\"holepuncher\": \"203.0.113.10:7700\", \"session\": \"office\", \"role\": \"server\","      \
    " \"interface\": {\"name\": \"rph0\", \"address\": \"10.77.0.1/24\"}}"

static int parse_text(const char *text, struct tund_config *c, struct errmsg *err)
{
    cJSON *root = cJSON_Parse(text);
    cr_assert_not_null(root, "test JSON does not parse: %s", text);
    int rc = tund_config_parse(root, c, err);
    cJSON_Delete(root);
    return rc;
}

/* MINIMAL with one key set to value (JSON text), or removed when value is NULL. key may be
 * "interface.x". */
static int parse_with(const char *key, const char *value, struct tund_config *c, struct errmsg *err)
{
    cJSON *root = cJSON_Parse(MINIMAL);
    cJSON *obj = root;
    const char *dot = strchr(key, '.');
    if (dot) {
        obj = cJSON_GetObjectItemCaseSensitive(root, "interface");
        key = dot + 1;
    }
    cJSON_DeleteItemFromObjectCaseSensitive(obj, key);
    if (value) {
        cJSON *v = cJSON_Parse(value);
        cr_assert_not_null(v, "test value does not parse: %s", value);
        cJSON_AddItemToObject(obj, key, v);
    }
    int rc = tund_config_parse(root, c, err);
    cJSON_Delete(root);
    return rc;
}

static const char *src_path(const char *rel, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s/%s", RUPHIN_SOURCE_DIR, rel);
    return buf;
}

/* A fresh key file (mode 0600) in a temp dir; returns its path (static buffer). */
static const char *temp_key(mode_t mode, const char *content)
{
    static char path[64];
    snprintf(path, sizeof path, "/tmp/rph-key-XXXXXX");
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, content, strlen(content)), (ssize_t)strlen(content));
    fchmod(fd, mode);
    close(fd);
    return path;
}

#define GOOD_KEY "q83vEjRWeJq83vEjRWeJq83vEjRWeJq83vEjRWeJq80=\n"

/* An example config, its key_file pointed at a temp key: the examples are sealed. */
static int load_example(const char *rel, struct tund_config *c, struct errmsg *err)
{
    char path[512];
    FILE *f = fopen(src_path(rel, path, sizeof path), "r");
    cr_assert_not_null(f, "%s", path);
    static char text[4096];
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = 0;
    cJSON *root = cJSON_Parse(text);
    cr_assert_not_null(root);
    cJSON *seal = cJSON_GetObjectItemCaseSensitive(root, "seal");
    cr_assert(cJSON_IsObject(seal), "example %s is not sealed", rel);
    const char *key = temp_key(0600, GOOD_KEY);
    cJSON_ReplaceItemInObjectCaseSensitive(seal, "key_file", cJSON_CreateString(key));
    int rc = tund_config_parse(root, c, err);
    if (rc == 0) rc = tund_config_resolve(c, TUND_RESOLVE_CHECK, err);
    cJSON_Delete(root);
    unlink(key);
    return rc;
}

/* MINIMAL with one key set, parsed (which must pass), then resolved. */
static int resolve_with(const char *key, const char *value, struct tund_config *c,
                        struct errmsg *err)
{
    int rc = parse_with(key, value, c, err);
    cr_assert_eq(rc, 0, "%s = %s: parse failed: %s", key, value ? value : "(absent)", err->msg);
    return tund_config_resolve(c, TUND_RESOLVE_CHECK, err);
}

static bool all_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i]) return false;
    return true;
}

Test(tund_config, sealed_key_file_is_read_by_resolve_and_checked)
{
    struct tund_config c;
    struct errmsg err = {0};
    char v[256];
    const char *k = temp_key(0600, GOOD_KEY);
    snprintf(v, sizeof v, "{\"key_file\": \"%s\"}", k);
    /* Parsing never reads the key: the file may even be gone when a reload parses. */
    cr_assert_eq(parse_with("seal", v, &c, &err), 0, "%s", err.msg);
    cr_assert(c.seal);
    cr_assert_str_eq(c.seal_key_file, k);
    cr_assert(all_zero(c.seal_key, sizeof c.seal_key));
    cr_assert_eq(tund_config_resolve(&c, TUND_RESOLVE_CHECK, &err), 0, "%s", err.msg);
    cr_assert_eq(c.seal_key[0], 0xab);
    cr_assert_eq(c.seal_key[31], 0xcd);
    chmod(k, 0644);
    cr_assert_eq(resolve_with("seal", v, &c, &err), -EPERM);
    cr_assert(strstr(err.msg, "seal.key_file") && strstr(err.msg, "chmod 600"), "%s", err.msg);
    unlink(k);
    cr_assert_eq(resolve_with("seal", v, &c, &err), -ENOENT);
    cr_assert(strstr(err.msg, "No such file"), "%s", err.msg);
    k = temp_key(0600, "not a key\n");
    snprintf(v, sizeof v, "{\"key_file\": \"%s\"}", k);
    cr_assert_eq(resolve_with("seal", v, &c, &err), -EINVAL);
    cr_assert(strstr(err.msg, "not a key"), "%s", err.msg);
    unlink(k);
}

/* Whoever owns the key file can replace the key: only root, the daemon's uid and the "user" it
 * drops to may. Needs root to give a file away. */
Test(tund_config, a_key_file_owned_by_someone_else_is_refused)
{
    if (geteuid() != 0) cr_skip_test("needs root (chown)");
    struct passwd *nobody = getpwnam("nobody");
    cr_assert_not_null(nobody, "the test needs the user \"nobody\"");
    struct tund_config c;
    struct errmsg err = {0};
    char v[256];
    const char *k = temp_key(0600, GOOD_KEY);
    snprintf(v, sizeof v, "{\"key_file\": \"%s\"}", k);
    cr_assert_eq(chown(k, 12345, 12345), 0);
    cr_assert_eq(resolve_with("seal", v, &c, &err), -EPERM);
    char want[256];
    snprintf(want, sizeof want,
             "\"seal.key_file\": key file %s: owned by uid 12345, which is neither root nor "
             "this daemon's uid 0",
             k);
    cr_assert(strstr(err.msg, want), "%s", err.msg);
    cr_assert(all_zero(c.seal_key, sizeof c.seal_key));
    /* The user the daemon drops to may own it, and no one else: the message names that uid. */
    char with_user[512];
    snprintf(with_user, sizeof with_user,
             "{\"holepuncher\": \"203.0.113.10:7700\", \"session\": \"office\","
             " \"role\": \"server\", \"interface\": {\"name\": \"rph0\","
             " \"address\": \"10.77.0.1/24\"}, \"seal\": %s, \"user\": \"nobody\"}",
             v);
    cr_assert_eq(parse_text(with_user, &c, &err), 0, "%s", err.msg);
    cr_assert_eq(tund_config_resolve(&c, TUND_RESOLVE_CHECK, &err), -EPERM);
    snprintf(want, sizeof want, "nor the uid %u of its \"user\"", (unsigned)nobody->pw_uid);
    cr_assert(strstr(err.msg, "owned by uid 12345") && strstr(err.msg, want), "%s", err.msg);
    cr_assert_eq(chown(k, nobody->pw_uid, nobody->pw_gid), 0);
    cr_assert_eq(parse_text(with_user, &c, &err), 0, "%s", err.msg);
    cr_assert_eq(tund_config_resolve(&c, TUND_RESOLVE_CHECK, &err), 0, "%s", err.msg);
    cr_assert_eq(c.seal_key[0], 0xab);
    /* Without "user", nobody is just someone else. */
    cr_assert_eq(resolve_with("seal", v, &c, &err), -EPERM);
    cr_assert(strstr(err.msg, "owned by uid"), "%s", err.msg);
    /* Root's file is fine, and so is the mode check's message on a group-readable one. */
    cr_assert_eq(chown(k, 0, 0), 0);
    cr_assert_eq(resolve_with("seal", v, &c, &err), 0, "%s", err.msg);
    chmod(k, 0640);
    cr_assert_eq(resolve_with("seal", v, &c, &err), -EPERM);
    cr_assert(strstr(err.msg, "chmod 600"), "%s", err.msg);
    unlink(k);
}

Test(tund_config, wipe_zeroes_the_session_key)
{
    struct tund_config c;
    struct errmsg err = {0};
    char v[256];
    const char *k = temp_key(0600, GOOD_KEY);
    snprintf(v, sizeof v, "{\"key_file\": \"%s\"}", k);
    cr_assert_eq(resolve_with("seal", v, &c, &err), 0, "%s", err.msg);
    unlink(k);
    cr_assert_not(all_zero(c.seal_key, sizeof c.seal_key));
    tund_config_wipe_key(&c);
    cr_assert(all_zero(c.seal_key, sizeof c.seal_key));
}

Test(tund_config, a_failed_resolve_leaves_no_key_behind)
{
    /* The key reads fine, the user does not exist: the key must not stay in the struct. */
    char text[512];
    const char *k = temp_key(0600, GOOD_KEY);
    snprintf(text, sizeof text,
             "{\"holepuncher\": \"203.0.113.10:7700\", \"session\": \"office\","
             " \"role\": \"server\", \"interface\": {\"name\": \"rph0\","
             " \"address\": \"10.77.0.1/24\"}, \"seal\": {\"key_file\": \"%s\"},"
             " \"user\": \"no-such-user-rph\"}",
             k);
    struct tund_config c;
    struct errmsg err = {0};
    cr_assert_eq(parse_text(text, &c, &err), 0, "%s", err.msg);
    cr_assert_eq(tund_config_resolve(&c, TUND_RESOLVE_CHECK, &err), -ENOENT);
    unlink(k);
    cr_assert(strstr(err.msg, "no such user"), "%s", err.msg);
    cr_assert(all_zero(c.seal_key, sizeof c.seal_key));
}

/* A malformed name, never handed to a resolver: a label longer than 63 characters. */
#define NO_SUCH_HOST                                                                               \
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.invalid:7700"

Test(tund_config, a_malformed_holepuncher_name_passes_parse_and_fails_resolve)
{
    struct tund_config c;
    struct errmsg err = {0};
    cr_assert_eq(parse_with("holepuncher", "\"" NO_SUCH_HOST "\"", &c, &err), 0, "%s", err.msg);
    cr_assert_eq(c.holepuncher_addr.family, 0, "a name is not looked up while parsing");
    cr_assert_str_eq(c.holepuncher, NO_SUCH_HOST);
    /* A config error (exit 2), not a name to wait for. */
    cr_assert_eq(tund_config_resolve(&c, TUND_RESOLVE_CHECK, &err), -EINVAL);
    cr_assert(!c.holepuncher_pending);
    cr_assert(strstr(err.msg, "\"holepuncher\": \"" NO_SUCH_HOST "\": a label of host name"), "%s",
              err.msg);
    cr_assert(strstr(err.msg, "longer than 63 characters"), "%s", err.msg);
}

/* The syntax check decides what is malformed (a config error) and what is only not resolvable
 * now (retried): it asks no resolver. */
Test(tund_config, host_name_syntax)
{
    struct errmsg err;
    const char *good[] = {"hp.example.com", "hp.example.com.", "a",
                          "x-1.example",    "_srv.example",    "203.0.113.10"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        cr_assert_eq(hostport_check_name(good[i], &err), 0, "%s: %s", good[i], err.msg);
    struct {
        const char *name, *why;
    } bad[] = {
        {"hp..example", "empty label"},
        {".hp", "empty label"},
        {"-hp.example", "starts or ends with '-'"},
        {"hp-.example", "starts or ends with '-'"},
        {"hp example", "holds ' '"},
        {"hp/x", "holds '/'"},
        {"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.x", "longer than 63"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_assert_eq(hostport_check_name(bad[i].name, &err), -EINVAL, "%s", bad[i].name);
        cr_assert(strstr(err.msg, bad[i].why), "%s: %s", bad[i].name, err.msg);
    }
}

Test(tund_config, resolve_names_every_problem)
{
    const char *text =
        "{\"holepuncher\": \"" NO_SUCH_HOST "\", \"session\": \"office\","
        " \"role\": \"server\", \"interface\": {\"name\": \"rph0\","
        " \"address\": \"10.77.0.1/24\"},"
        " \"seal\": {\"key_file\": \"/nonexistent/office.key\"}, \"user\": \"root\"}";
    struct tund_config c;
    struct errmsg err = {0};
    cr_assert_eq(parse_text(text, &c, &err), 0, "%s", err.msg);
    cr_assert_lt(tund_config_resolve(&c, TUND_RESOLVE_CHECK, &err), 0);
    cr_assert(strstr(err.msg, "\"holepuncher\": \"" NO_SUCH_HOST "\""), "%s", err.msg);
    cr_assert(strstr(err.msg, "; \"seal.key_file\": key file /nonexistent/office.key"), "%s",
              err.msg);
    cr_assert(strstr(err.msg, "; \"user\" \"root\" is root"), "%s", err.msg);
}

Test(tund_config, example_server_parses)
{
    struct tund_config c;
    struct errmsg err = {0};
    int rc = load_example("config/tund-server.json", &c, &err);
    cr_assert_eq(rc, 0, "%s", err.msg);
    cr_assert_str_eq(c.holepuncher, "203.0.113.10:7700");
    cr_assert_eq(c.holepuncher_addr.family, 4);
    cr_assert_eq(c.holepuncher_addr.port, 7700);
    const uint8_t hp[4] = {203, 0, 113, 10};
    cr_assert_arr_eq(c.holepuncher_addr.ip, hp, 4);
    cr_assert_eq(c.session.len, 6);
    cr_assert_arr_eq(c.session.id, "office", 6);
    cr_assert_str_eq(c.session_str, "office");
    cr_assert_eq(c.role, RPH_ROLE_SERVER);
    cr_assert_str_eq(c.ifname, "rph0");
    const uint8_t a4[4] = {10, 77, 0, 1};
    cr_assert_arr_eq(c.addr4, a4, 4);
    cr_assert_eq(c.prefix4, 24);
    cr_assert_str_eq(c.address, "10.77.0.1/24");
    cr_assert_not(c.has_addr6);
    cr_assert_str_eq(c.address6, "");
    cr_assert_eq(c.mtu, 1340);
    cr_assert_eq(c.keepalive_interval, 10);
    cr_assert_eq(c.peer_timeout, 30);
    cr_assert(c.seal);
    cr_assert_str_eq(c.control_socket, "/run/ruphin/office.sock");
    cr_assert_eq(c.log_level, LOG_LVL_INFO);
    cr_assert_eq(c.port, 0);
}

Test(tund_config, example_client_parses)
{
    struct tund_config c;
    struct errmsg err = {0};
    int rc = load_example("config/tund-client.json", &c, &err);
    cr_assert_eq(rc, 0, "%s", err.msg);
    cr_assert_eq(c.role, RPH_ROLE_CLIENT);
    cr_assert_str_eq(c.address, "10.77.0.2/24");
    cr_assert_str_eq(c.session_str, "office");
    cr_assert_str_eq(c.holepuncher, "203.0.113.10:7700");
}

Test(tund_config, defaults)
{
    struct tund_config c;
    struct errmsg err = {0};
    cr_assert_eq(parse_text(MINIMAL, &c, &err), 0, "%s", err.msg);
    cr_assert_eq(c.mtu, 1340);
    cr_assert_eq(c.keepalive_interval, 10);
    cr_assert_eq(c.peer_timeout, 30);
    cr_assert_not(c.seal);
    cr_assert_not(c.has_addr6);
    cr_assert_str_eq(c.control_socket, "/run/ruphin/office.sock");
    cr_assert_eq(c.log_level, LOG_LVL_INFO);
    cr_assert_eq(c.port, 0);
}

Test(tund_config, every_key_set)
{
    const char *text =
        "{\"holepuncher\": \"[2001:db8::10]:7700\", \"session\": \"lab-2\", \"role\": \"client\","
        " \"interface\": {\"name\": \"tun_lab.1\", \"address\": \"192.168.50.6/30\","
        " \"address6\": \"fd77:0:0::2/64\", \"mtu\": 1280},"
        " \"keepalive_interval\": 1, \"peer_timeout\": 2, \"seal\": false,"
        " \"control_socket\": \"/tmp/lab.sock\", \"log_level\": \"debug\", \"port\": 51820}";
    struct tund_config c;
    struct errmsg err = {0};
    cr_assert_eq(parse_text(text, &c, &err), 0, "%s", err.msg);
    cr_assert_eq(c.holepuncher_addr.family, 6);
    cr_assert_eq(c.holepuncher_addr.port, 7700);
    cr_assert_eq(c.role, RPH_ROLE_CLIENT);
    cr_assert_str_eq(c.ifname, "tun_lab.1");
    cr_assert_str_eq(c.address, "192.168.50.6/30");
    cr_assert(c.has_addr6);
    cr_assert_str_eq(c.address6, "fd77::2/64"); /* canonical form */
    cr_assert_eq(c.prefix6, 64);
    uint8_t want6[16];
    inet_pton(AF_INET6, "fd77::2", want6);
    cr_assert_arr_eq(c.addr6, want6, 16);
    cr_assert_eq(c.mtu, 1280);
    cr_assert_eq(c.keepalive_interval, 1);
    cr_assert_eq(c.peer_timeout, 2);
    cr_assert_str_eq(c.control_socket, "/tmp/lab.sock");
    cr_assert_eq(c.log_level, LOG_LVL_DEBUG);
    cr_assert_eq(c.port, 51820);
}

Test(tund_config, holepuncher_host_name_resolves)
{
    /* localhost comes from /etc/hosts: no DNS traffic. */
    struct tund_config c;
    struct errmsg err = {0};
    cr_assert_eq(resolve_with("holepuncher", "\"localhost:7700\"", &c, &err), 0, "%s", err.msg);
    cr_assert(rph_addr_is_loopback(&c.holepuncher_addr));
    cr_assert_eq(c.holepuncher_addr.port, 7700);
    cr_assert_str_eq(c.holepuncher, "localhost:7700");
}

struct bad_case {
    const char *key;   /* "interface.mtu" style */
    const char *value; /* JSON text; NULL removes the key */
    const char *want;  /* a substring the message must hold (besides the key) */
};

static const struct bad_case bad_cases[] = {
    {"holepuncher", NULL, "is required"},
    {"holepuncher", "42", "must be a string"},
    {"holepuncher", "\"203.0.113.10\"", "missing \":port\""},
    {"holepuncher", "\"203.0.113.10:0\"", "port must be a number 1..65535"},
    {"holepuncher", "\"203.0.113.10:70000\"", "port must be a number 1..65535"},
    {"holepuncher", "\"2001:db8::1:7700\"", "needs brackets"},
    {"holepuncher", "\"0.0.0.0:7700\"", "unspecified"},
    {"session", NULL, "is required"},
    {"session", "\"\"", "must be 1..20 bytes, got 0"},
    {"session", "\"abcdefghijklmnopqrstu\"", "must be 1..20 bytes, got 21"},
    {"session", "\"a\\tb\"", "control characters"},
    {"session", "7", "must be a string"},
    {"role", NULL, "is required"},
    {"role", "\"peer\"", "must be \"server\" or \"client\", got \"peer\""},
    {"role", "true", "must be a string"},
    {"interface", NULL, "is required"},
    {"interface", "\"rph0\"", "must be an object"},
    {"interface.name", NULL, "is required"},
    {"interface.name", "\"\"", "must be 1..15 characters, got 0"},
    {"interface.name", "\"abcdefghijklmnop\"", "must be 1..15 characters, got 16"},
    {"interface.name", "\"rph 0\"", "may contain only"},
    {"interface.name", "\"rph/0\"", "may contain only"},
    {"interface.name", "\"..\"", "cannot be"},
    {"interface.address", NULL, "is required"},
    {"interface.address", "\"10.77.0.1\"", "prefix length"},
    {"interface.address", "\"10.77.0.1/33\"", "prefix length"},
    {"interface.address", "\"10.77.0.1/0\"", "prefix length"},
    {"interface.address", "\"10.77.0.1/+24\"", "prefix length"},
    {"interface.address", "\"10.77.0/24\"", "prefix length"},
    {"interface.address", "\"fd77::1/64\"", "IPv4 address"},
    {"interface.address", "\"10.77.0.0/24\"", "network address"},
    {"interface.address", "\"10.77.0.255/24\"", "broadcast address"},
    {"interface.address", "\"127.0.0.2/8\"", "loopback"},
    {"interface.address", "\"239.1.1.1/8\"", "multicast"},
    {"interface.address6", "\"fd77::1\"", "prefix length"},
    {"interface.address6", "\"fd77::1/129\"", "prefix length"},
    {"interface.address6", "\"10.77.0.1/24\"", "IPv6 address"},
    {"interface.address6", "\"::/64\"", "unspecified"},
    {"interface.address6", "\"ff02::1/64\"", "multicast"},
    {"interface.address6", "64", "must be a string"},
    {"interface.mtu", "70000", "must be an integer 576..9000, got 70000"},
    {"interface.mtu", "575", "must be an integer 576..9000, got 575"},
    {"interface.mtu", "1400.5", "must be an integer 576..9000"},
    {"interface.mtu", "\"1400\"", "must be a number"},
    {"interface.colour", "\"blue\"", "unknown key"},
    {"keepalive_interval", "0", "must be an integer 1..3600, got 0"},
    {"keepalive_interval", "3601", "must be an integer 1..3600, got 3601"},
    {"keepalive_interval", "null", "must be a number"},
    {"peer_timeout", "1", "must be an integer 2..86400, got 1"},
    {"peer_timeout", "86401", "must be an integer 2..86400, got 86401"},
    {"peer_timeout", "10", "must be greater than \"keepalive_interval\" (10), got 10"},
    {"seal", "true", "must be false or {\"key_file\""},
    {"seal", "{\"key_file\": 7}", "must be the path of a key file"},
    {"seal", "{\"keyfile\": \"/x\"}", "unknown key"},
    {"seal", "\"no\"", "must be false"},
    {"control_socket", "\"run/office.sock\"", "must be an absolute path"},
    {"control_socket", "\"/run/ruphin/\"", "must name a file"},
    {"control_socket", "[]", "must be a string"},
    {"log_level", "\"verbose\"", "must be \"error\", \"warn\", \"info\" or \"debug\""},
    {"log_level", "3", "must be a string"},
    {"port", "-1", "must be an integer 0..65535, got -1"},
    {"port", "65536", "must be an integer 0..65535, got 65536"},
    {"port", "1.5", "must be an integer 0..65535"},
    {"holepunch", "\"203.0.113.10:7700\"", "unknown key"},
    {"user", "7", "must be a user name"},
    {"interface.address", "\"auto\"", "must be a fixed address on a server"},
    {"name", "\"Laptop\"", "must be a DNS label"},
    {"name", "\"-laptop\"", "must be a DNS label"},
    {"name", "\"lap top\"", "must be a DNS label"},
    {"name", "\"\"", "must be a DNS label"},
    {"name", "7", "must be a string"},
};

Test(tund_config, each_bad_value_names_its_key)
{
    for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++) {
        const struct bad_case *b = &bad_cases[i];
        struct tund_config c;
        memset(&c, 0x5a, sizeof c);
        struct tund_config before = c;
        struct errmsg err = {0};
        int rc = parse_with(b->key, b->value, &c, &err);
        cr_expect_eq(rc, -EINVAL, "%s = %s: accepted", b->key, b->value ? b->value : "(absent)");
        /* "seal" errors may name the sub-key ("seal.key_file"): match the opening quote. */
        char quoted[64];
        snprintf(quoted, sizeof quoted, strcmp(b->key, "seal") ? "\"%s\"" : "\"%s", b->key);
        cr_expect(strstr(err.msg, quoted), "%s = %s: message does not name the key: %s", b->key,
                  b->value ? b->value : "(absent)", err.msg);
        cr_expect(strstr(err.msg, b->want), "%s = %s: message lacks \"%s\": %s", b->key,
                  b->value ? b->value : "(absent)", b->want, err.msg);
        /* The file's name is the loader's to add, once. */
        cr_expect(strncmp(err.msg, "config", 6) != 0, "message style: %s", err.msg);
        cr_expect(memcmp(&c, &before, sizeof c) == 0, "%s: out written on failure", b->key);
    }
}

/* Values only the resolve step can refuse: parsing them must pass. */
static const struct bad_case resolve_cases[] = {
    {"seal", "{\"key_file\": \"/nonexistent/office.key\"}", "No such file or directory"},
    {"user", "\"no-such-user-rph\"", "no such user"},
    {"user", "\"root\"", "is root"},
};

Test(tund_config, each_value_resolve_refuses_names_its_key)
{
    for (size_t i = 0; i < sizeof resolve_cases / sizeof resolve_cases[0]; i++) {
        const struct bad_case *b = &resolve_cases[i];
        struct tund_config c;
        struct errmsg err = {0};
        cr_expect_lt(resolve_with(b->key, b->value, &c, &err), 0, "%s = %s: accepted", b->key,
                     b->value);
        char quoted[64];
        snprintf(quoted, sizeof quoted, "\"%s", b->key);
        cr_expect(strstr(err.msg, quoted) && strstr(err.msg, b->want), "%s = %s: %s", b->key,
                  b->value, err.msg);
    }
}

Test(tund_config, mtu_message_is_exact)
{
    struct tund_config c;
    struct errmsg err = {0};
    cr_assert_eq(parse_with("interface.mtu", "70000", &c, &err), -EINVAL);
    cr_assert_str_eq(err.msg, "\"interface.mtu\" must be an integer 576..9000, got 70000");
}

Test(tund_config, ipv6_needs_mtu_1280)
{
    const char *text =
        "{\"holepuncher\": \"203.0.113.10:7700\", \"session\": \"office\", \"role\": \"server\","
        " \"interface\": {\"name\": \"rph0\", \"address\": \"10.77.0.1/24\","
        " \"address6\": \"fd77::1/64\", \"mtu\": 1000}}";
    struct tund_config c;
    struct errmsg err = {0};
    cr_assert_eq(parse_text(text, &c, &err), -EINVAL);
    cr_assert(strstr(err.msg, "\"interface.mtu\" must be at least 1280"), "%s", err.msg);
}

Test(tund_config, peer_timeout_checked_against_keepalive)
{
    const char *ok = "{\"holepuncher\": \"203.0.113.10:7700\", \"session\": \"office\","
                     " \"role\": \"server\", \"interface\": {\"name\": \"rph0\","
                     " \"address\": \"10.77.0.1/24\"}, \"keepalive_interval\": 60,"
                     " \"peer_timeout\": 61}";
    const char *bad = "{\"holepuncher\": \"203.0.113.10:7700\", \"session\": \"office\","
                      " \"role\": \"server\", \"interface\": {\"name\": \"rph0\","
                      " \"address\": \"10.77.0.1/24\"}, \"keepalive_interval\": 60}";
    struct tund_config c;
    struct errmsg err = {0};
    cr_assert_eq(parse_text(ok, &c, &err), 0, "%s", err.msg);
    cr_assert_eq(c.peer_timeout, 61);
    /* The default peer_timeout (30) is below this keepalive. */
    cr_assert_eq(parse_text(bad, &c, &err), -EINVAL);
    cr_assert(strstr(err.msg, "\"peer_timeout\" must be greater than \"keepalive_interval\" (60)"),
              "%s", err.msg);
}

Test(tund_config, session_with_slash_needs_explicit_socket)
{
    struct tund_config c;
    struct errmsg err = {0};
    cr_assert_eq(parse_with("session", "\"a/b\"", &c, &err), -EINVAL);
    cr_assert(strstr(err.msg, "\"control_socket\" must be set"), "%s", err.msg);

    const char *text =
        "{\"holepuncher\": \"203.0.113.10:7700\", \"session\": \"a/b\", \"role\": \"server\","
        " \"interface\": {\"name\": \"rph0\", \"address\": \"10.77.0.1/24\"},"
        " \"control_socket\": \"/run/ruphin/ab.sock\"}";
    cr_assert_eq(parse_text(text, &c, &err), 0, "%s", err.msg);
    cr_assert_str_eq(c.session_str, "a/b");
}

Test(tund_config, control_socket_length)
{
    char value[160];
    struct tund_config c;
    struct errmsg err = {0};
    /* 107 bytes is the longest path sun_path holds with its NUL. */
    snprintf(value, sizeof value, "\"/%0106d\"", 0);
    cr_assert_eq(parse_with("control_socket", value, &c, &err), 0, "%s", err.msg);
    cr_assert_eq(strlen(c.control_socket), 107);
    snprintf(value, sizeof value, "\"/%0107d\"", 0);
    cr_assert_eq(parse_with("control_socket", value, &c, &err), -EINVAL);
    cr_assert(strstr(err.msg, "\"control_socket\" must be shorter than 108 bytes"), "%s", err.msg);
}

Test(tund_config, unknown_key_rejected)
{
    const char *text =
        "{\"holepuncher\": \"203.0.113.10:7700\", \"session\": \"office\", \"role\": \"server\","
        " \"interface\": {\"name\": \"rph0\", \"address\": \"10.77.0.1/24\"}, \"mtu\": 1400}";
    struct tund_config c;
    struct errmsg err = {0};
    cr_assert_eq(parse_text(text, &c, &err), -EINVAL);
    cr_assert_str_eq(err.msg, "unknown key \"mtu\"");
}

Test(tund_config, top_level_must_be_object)
{
    struct tund_config c;
    struct errmsg err = {0};
    cr_assert_eq(parse_text("[1, 2]", &c, &err), -EINVAL);
    cr_assert(strstr(err.msg, "must be a JSON object"), "%s", err.msg);
}

static char *write_temp(const char *text)
{
    char *path = strdup("/tmp/test_tund_config_XXXXXX");
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    return path;
}

Test(tund_config, missing_file)
{
    struct tund_config c;
    struct errmsg err = {0};
    cr_assert_eq(tund_config_load("/nonexistent/ruphin/tund.json", &c, &err), -ENOENT);
    cr_assert(strstr(err.msg, "/nonexistent/ruphin/tund.json"), "%s", err.msg);
    cr_assert(strstr(err.msg, "No such file or directory"), "%s", err.msg);
}

Test(tund_config, invalid_json_names_the_line)
{
    char *path = write_temp("{\n  \"session\": \"office\",\n  \"role\": server\n}\n");
    struct tund_config c;
    struct errmsg err = {0};
    int rc = tund_config_load(path, &c, &err);
    unlink(path);
    cr_assert_eq(rc, -EINVAL);
    cr_assert(strstr(err.msg, path), "%s", err.msg);
    cr_assert(strstr(err.msg, "line 3"), "%s", err.msg);
    free(path);
}

Test(tund_config, load_error_names_file_and_key)
{
    char *path = write_temp(
        "{\"holepuncher\": \"203.0.113.10:7700\", \"session\": \"office\", \"role\": \"server\",\n"
        " \"interface\": {\"name\": \"rph0\", \"address\": \"10.77.0.1/24\", \"mtu\": 70000}}\n");
    struct tund_config c;
    struct errmsg err = {0};
    int rc = tund_config_load(path, &c, &err);
    unlink(path);
    cr_assert_eq(rc, -EINVAL);
    char want[256];
    snprintf(want, sizeof want,
             "config %s: \"interface.mtu\" must be an integer 576..9000, got 70000", path);
    cr_assert_str_eq(err.msg, want);
    free(path);
}

Test(tund_config, a_relative_key_file_is_taken_from_the_config_directory)
{
    char dir[] = "/tmp/rph-conf-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    char cfg_path[128], key_path[128], sub[128];
    snprintf(sub, sizeof sub, "%s/keys", dir);
    cr_assert_eq(mkdir(sub, 0700), 0);
    snprintf(key_path, sizeof key_path, "%s/keys/office.key", dir);
    snprintf(cfg_path, sizeof cfg_path, "%s/office.json", dir);
    int fd = open(key_path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, GOOD_KEY, strlen(GOOD_KEY)), (ssize_t)strlen(GOOD_KEY));
    close(fd);
    FILE *f = fopen(cfg_path, "w");
    cr_assert_not_null(f);
    fputs("{\"holepuncher\": \"203.0.113.10:7700\", \"session\": \"office\", \"role\": \"server\","
          " \"interface\": {\"name\": \"rph0\", \"address\": \"10.77.0.1/24\"},"
          " \"seal\": {\"key_file\": \"keys/office.key\"}}",
          f);
    fclose(f);
    /* Wherever it runs from, the daemon finds the key beside its config. */
    char cwd[512];
    cr_assert_not_null(getcwd(cwd, sizeof cwd));
    cr_assert_eq(chdir("/"), 0);
    struct tund_config c;
    struct errmsg err = {0};
    int rc = tund_config_load_resolved(cfg_path, &c, TUND_RESOLVE_CHECK, &err);
    struct tund_config parsed;
    int rc2 = tund_config_load(cfg_path, &parsed, &err);
    cr_assert_eq(chdir(cwd), 0);
    unlink(key_path);
    unlink(cfg_path);
    rmdir(sub);
    rmdir(dir);
    cr_assert_eq(rc, 0, "%s", err.msg);
    cr_assert_str_eq(c.seal_key_file, key_path);
    cr_assert_eq(c.seal_key[0], 0xab);
    /* A reload (parse only) anchors it the same way, so it compares equal. */
    cr_assert_eq(rc2, 0, "%s", err.msg);
    cr_assert_str_eq(parsed.seal_key_file, key_path);
    cr_assert(all_zero(parsed.seal_key, sizeof parsed.seal_key));
}

Test(tund_config, a_missing_key_file_fails_the_load_naming_both_files)
{
    char *path = write_temp(
        "{\"holepuncher\": \"203.0.113.10:7700\", \"session\": \"office\", \"role\": \"server\","
        " \"interface\": {\"name\": \"rph0\", \"address\": \"10.77.0.1/24\"},"
        " \"seal\": {\"key_file\": \"/nonexistent/office.key\"}}");
    struct tund_config c;
    struct errmsg err = {0};
    int validated = tund_config_load(path, &c, &err);
    int resolved = tund_config_load_resolved(path, &c, TUND_RESOLVE_CHECK, &err);
    unlink(path);
    cr_assert_eq(validated, 0, "validation does not open the key file");
    cr_assert_eq(resolved, -ENOENT);
    char want[256];
    snprintf(want, sizeof want,
             "config %s: \"seal.key_file\": key file /nonexistent/office.key: No such file", path);
    cr_assert_eq(strncmp(err.msg, want, strlen(want)), 0, "%s", err.msg);
    free(path);
}

struct change {
    char key[32], was[64], now[64];
    bool live;
};
struct changes {
    struct change c[16];
    size_t n;
};

static void record_change(void *ctx, const char *key, const char *was, const char *now, bool live)
{
    struct changes *ch = ctx;
    cr_assert_lt(ch->n, 16);
    struct change *c = &ch->c[ch->n++];
    snprintf(c->key, sizeof c->key, "%s", key);
    snprintf(c->was, sizeof c->was, "%s", was);
    snprintf(c->now, sizeof c->now, "%s", now);
    c->live = live;
}

Test(tund_config, diff_names_each_changed_key_and_whether_it_applies_live)
{
    struct tund_config running, next;
    struct errmsg err = {0};
    cr_assert_eq(parse_text(MINIMAL, &running, &err), 0, "%s", err.msg);
    struct changes ch = {0};
    cr_assert_eq(parse_text(MINIMAL, &next, &err), 0, "%s", err.msg);
    cr_assert_eq(tund_config_diff(&running, &next, record_change, &ch), 0);
    const char *text =
        "{\"holepuncher\": \"hp.example.net:7700\", \"session\": \"office\", \"role\": \"server\","
        " \"interface\": {\"name\": \"rph0\", \"address\": \"10.77.0.1/24\", \"mtu\": 1280},"
        " \"log_level\": \"debug\"}";
    cr_assert_eq(parse_text(text, &next, &err), 0, "%s", err.msg);
    cr_assert_eq(tund_config_diff(&running, &next, record_change, &ch), 3);
    cr_assert_str_eq(ch.c[0].key, "holepuncher");
    cr_assert_str_eq(ch.c[0].was, "203.0.113.10:7700");
    cr_assert_str_eq(ch.c[0].now, "hp.example.net:7700");
    cr_assert_not(ch.c[0].live);
    cr_assert_str_eq(ch.c[1].key, "interface.mtu");
    cr_assert_str_eq(ch.c[1].was, "1340");
    cr_assert_str_eq(ch.c[1].now, "1280");
    cr_assert_not(ch.c[1].live);
    cr_assert_str_eq(ch.c[2].key, "log_level");
    cr_assert_str_eq(ch.c[2].was, "info");
    cr_assert_str_eq(ch.c[2].now, "debug");
    cr_assert(ch.c[2].live);
}

/* ---- node keys: state_dir and members */

#define SEALED_WITH(extra)                                                                         \
    "{\"holepuncher\": \"203.0.113.10:7700\", \"session\": \"office\", \"role\": \"server\","      \
    " \"interface\": {\"name\": \"rph0\", \"address\": \"10.77.0.1/24\"},"                         \
    " \"seal\": {\"key_file\": \"office.key\"}" extra "}"

#define PK_A "q83vEjRWeJq83vEjRWeJq83vEjRWeJq83vEjRWeJq80="
#define PK_B "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="

/* A temp directory holding NAME.json (text) and office.key; the config's path in cfg. */
static void conf_dir(char *dir, size_t dcap, const char *name, const char *text, char *cfg,
                     size_t ccap)
{
    snprintf(dir, dcap, "/tmp/rph-nk-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    char key[160];
    snprintf(key, sizeof key, "%s/office.key", dir);
    int fd = open(key, O_WRONLY | O_CREAT | O_EXCL, 0600);
    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, GOOD_KEY, strlen(GOOD_KEY)), (ssize_t)strlen(GOOD_KEY));
    close(fd);
    snprintf(cfg, ccap, "%s/%s", dir, name);
    FILE *f = fopen(cfg, "w");
    cr_assert_not_null(f);
    fputs(text, f);
    fclose(f);
}

static void rm_rf(const char *dir)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    cr_assert_eq(system(cmd), 0);
}

Test(tund_config, state_dir_defaults_to_the_config_name)
{
    char dir[64], cfg[160];
    conf_dir(dir, sizeof dir, "branch-7.json", SEALED_WITH(""), cfg, sizeof cfg);
    struct tund_config c;
    struct errmsg err = {0};
    int rc = tund_config_load(cfg, &c, &err);
    rm_rf(dir);
    cr_assert_eq(rc, 0, "%s", err.msg);
    /* ruphin-tund@branch-7 reads /etc/ruphin/branch-7.json; systemd made ruphin/branch-7. */
    cr_assert_str_eq(c.state_dir, "/var/lib/ruphin/branch-7");
    cr_assert_not(c.state_dir_set);
    /* Parsed without a file, the session names it. */
    cr_assert_eq(parse_text(SEALED_WITH(""), &c, &err), 0, "%s", err.msg);
    cr_assert_str_eq(c.state_dir, "/var/lib/ruphin/office");
    /* Plaintext has no node key, so no state directory either. */
    cr_assert_eq(parse_text(MINIMAL, &c, &err), 0, "%s", err.msg);
    cr_assert_not(c.seal);
    cr_assert_eq(c.n_members, 0);
}

Test(tund_config, a_relative_state_dir_is_taken_from_the_config_directory)
{
    char dir[64], cfg[160], want[200];
    conf_dir(dir, sizeof dir, "office.json", SEALED_WITH(", \"state_dir\": \"state/office\""), cfg,
             sizeof cfg);
    struct tund_config c;
    struct errmsg err = {0};
    char cwd[512];
    cr_assert_not_null(getcwd(cwd, sizeof cwd));
    cr_assert_eq(chdir("/"), 0);
    int rc = tund_config_load(cfg, &c, &err);
    cr_assert_eq(chdir(cwd), 0);
    snprintf(want, sizeof want, "%s/state/office", dir);
    rm_rf(dir);
    cr_assert_eq(rc, 0, "%s", err.msg);
    cr_assert_str_eq(c.state_dir, want);
    cr_assert(c.state_dir_set);
}

Test(tund_config, check_does_not_make_the_node_key_and_a_start_does)
{
    char dir[64], cfg[160], state[160], key[200];
    conf_dir(dir, sizeof dir, "office.json", SEALED_WITH(", \"state_dir\": \"state\""), cfg,
             sizeof cfg);
    snprintf(state, sizeof state, "%s/state", dir);
    snprintf(key, sizeof key, "%s/state/node.key", dir);
    struct tund_config c;
    struct errmsg err = {0};
    struct stat st;
    cr_assert_eq(tund_config_load_resolved(cfg, &c, TUND_RESOLVE_CHECK, &err), 0, "%s", err.msg);
    cr_assert_not(c.has_node_key);
    cr_assert_eq(stat(state, &st), -1, "--check made the state directory");
    cr_assert_eq(tund_config_load_resolved(cfg, &c, TUND_RESOLVE_START, &err), 0, "%s", err.msg);
    cr_assert(c.has_node_key && c.node_key_created);
    cr_assert_eq(stat(key, &st), 0);
    cr_assert_eq(st.st_mode & 0777, 0600);
    cr_assert_not(all_zero(c.node_sk, 32));
    uint8_t pk[32];
    memcpy(pk, c.node_pk, 32);
    tund_config_wipe_key(&c);
    cr_assert(all_zero(c.node_sk, 32) && all_zero(c.seal_key, 32));
    /* Found again by both, unchanged. */
    cr_assert_eq(tund_config_load_resolved(cfg, &c, TUND_RESOLVE_START, &err), 0, "%s", err.msg);
    cr_assert(c.has_node_key && !c.node_key_created);
    cr_assert_eq(memcmp(c.node_pk, pk, 32), 0);
    cr_assert_eq(tund_config_load_resolved(cfg, &c, TUND_RESOLVE_CHECK, &err), 0, "%s", err.msg);
    cr_assert(c.has_node_key);
    cr_assert_eq(memcmp(c.node_pk, pk, 32), 0);
    /* A bad key file fails --check too, naming state_dir and the file; no key is kept. */
    cr_assert_eq(chmod(key, 0640), 0);
    int rc = tund_config_load_resolved(cfg, &c, TUND_RESOLVE_CHECK, &err);
    rm_rf(dir);
    cr_assert_eq(rc, -EPERM);
    cr_assert(strstr(err.msg, "\"state_dir\": node key") && strstr(err.msg, key), "%s", err.msg);
    cr_assert(all_zero(c.node_sk, 32) && !c.has_node_key);
}

Test(tund_config, members_are_node_keys)
{
    struct tund_config c;
    struct errmsg err = {0};
    cr_assert_eq(parse_text(SEALED_WITH(", \"members\": [\"" PK_A "\", \"" PK_B "\"]"), &c, &err),
                 0, "%s", err.msg);
    cr_assert_eq(c.n_members, 2);
    cr_assert_eq(c.members[0][0], 0xab);
    cr_assert_eq(c.members[1][31], 0x1f);
    cr_assert_eq(parse_text(SEALED_WITH(", \"members\": []"), &c, &err), 0, "%s", err.msg);
    cr_assert_eq(c.n_members, 0);

    cr_assert_eq(parse_text(SEALED_WITH(", \"members\": [\"" PK_A "\", \"10.77.0.2\"]"), &c, &err),
                 -EINVAL);
    cr_assert_str_eq(err.msg, "\"members\"[1] must be a node public key (44 characters of base64, "
                              "as `ruphinctl pubkey` prints), got \"10.77.0.2\"");
    cr_assert_eq(
        parse_text(SEALED_WITH(", \"members\": [\"" PK_A "\", \"" PK_B "\", \"" PK_A "\"]"), &c,
                   &err),
        -EINVAL);
    cr_assert_str_eq(err.msg, "\"members\"[2] duplicates \"members\"[0]");
    cr_assert_eq(parse_text(SEALED_WITH(", \"members\": [7]"), &c, &err), -EINVAL);
    cr_assert(strstr(err.msg, "\"members\"[0] must be a node public key"), "%s", err.msg);
    cr_assert_eq(parse_text(SEALED_WITH(", \"members\": \"" PK_A "\""), &c, &err), -EINVAL);
    cr_assert(strstr(err.msg, "\"members\" must be an array"), "%s", err.msg);
    /* 31 bytes is not a key. */
    cr_assert_eq(
        parse_text(SEALED_WITH(", \"members\": [\"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHg==\"]"),
                   &c, &err),
        -EINVAL);
}

Test(tund_config, plaintext_refuses_node_key_settings)
{
    struct tund_config c;
    struct errmsg err = {0};
    cr_assert_eq(parse_with("members", "[\"" PK_A "\"]", &c, &err), -EINVAL);
    cr_assert(strstr(err.msg, "\"members\" needs \"seal\""), "%s", err.msg);
    cr_assert_eq(parse_with("state_dir", "\"/var/lib/ruphin/x\"", &c, &err), -EINVAL);
    cr_assert(strstr(err.msg, "\"state_dir\" needs \"seal\""), "%s", err.msg);
}

Test(tund_config, a_reload_names_changed_members_and_state_dir)
{
    struct tund_config a, b;
    struct errmsg err = {0};
    cr_assert_eq(parse_text(SEALED_WITH(", \"members\": [\"" PK_A "\"]"), &a, &err), 0);
    cr_assert_eq(parse_text(SEALED_WITH(", \"members\": [\"" PK_B "\"], \"state_dir\": \"/srv/x\""),
                            &b, &err),
                 0);
    struct changes ch = {0};
    cr_assert_eq(tund_config_diff(&a, &b, record_change, &ch), 2);
    cr_assert_str_eq(ch.c[0].key, "state_dir");
    cr_assert_str_eq(ch.c[0].now, "/srv/x");
    cr_assert_str_eq(ch.c[1].key, "members");
    cr_assert_str_eq(ch.c[1].was, "q83vEjRW");
    cr_assert_str_eq(ch.c[1].now, "AAECAwQF");
    cr_assert_not(ch.c[1].live);
}

#define AUTO_CLIENT(iface, seal)                                                                   \
    "{\"holepuncher\": \"203.0.113.10:7700\", \"session\": \"office\", \"role\": \"client\","      \
    " \"interface\": {\"name\": \"rph0\"" iface "}, \"seal\": " seal "}"

Test(tund_config, automatic_address_and_name)
{
    struct tund_config c;
    struct errmsg err;
    const char *sealed = "{\"key_file\": \"/etc/ruphin/office.key\"}";
    char text[512];
    snprintf(text, sizeof text, AUTO_CLIENT("", "%s"), sealed);
    cr_assert_eq(parse_text(text, &c, &err), 0, "%s", err.msg);
    cr_assert(c.addr_auto);
    cr_assert_str_eq(c.address, "auto");
    cr_assert(name_valid(c.name, strlen(c.name)), "default name \"%s\"", c.name);
    snprintf(text, sizeof text, AUTO_CLIENT(", \"address\": \"auto\"", "%s"), sealed);
    cr_assert_eq(parse_text(text, &c, &err), 0, "%s", err.msg);
    cr_assert(c.addr_auto);
    /* Plaintext has no node keys to keep an address for. */
    cr_assert_eq(parse_text(AUTO_CLIENT("", "false"), &c, &err), -EINVAL);
    cr_assert(strstr(err.msg, "needs \"seal\""), "%s", err.msg);
    snprintf(text, sizeof text, AUTO_CLIENT(", \"address6\": \"fd77::2/64\"", "%s"), sealed);
    cr_assert_eq(parse_text(text, &c, &err), -EINVAL);
    cr_assert(strstr(err.msg, "\"interface.address6\" cannot go with an automatic"), "%s", err.msg);
    /* A fixed address and a name as written. */
    cr_assert_eq(parse_with("name", "\"hq-1\"", &c, &err), 0, "%s", err.msg);
    cr_assert_str_eq(c.name, "hq-1");
    cr_assert(!c.addr_auto);
}

Test(tund_config, port_mapping_defaults_to_sealed_and_must_be_a_bool)
{
    struct tund_config c;
    struct errmsg err = {0};
    cr_assert_eq(parse_text(MINIMAL, &c, &err), 0, "%s", err.msg);
    cr_assert_not(c.seal);
    cr_assert_not(c.port_mapping, "plaintext asks for no port mapping by default");
    const char *on = "{\"holepuncher\": \"203.0.113.10:7700\", \"session\": \"office\","
                     " \"role\": \"server\", \"port_mapping\": true,"
                     " \"interface\": {\"name\": \"rph0\", \"address\": \"10.77.0.1/24\"}}";
    cr_assert_eq(parse_text(on, &c, &err), 0, "%s", err.msg);
    cr_assert(c.port_mapping);
    const char *sealed = "{\"holepuncher\": \"203.0.113.10:7700\", \"session\": \"office\","
                         " \"role\": \"server\", \"seal\": {\"key_file\": \"/etc/ruphin/o.key\"},"
                         " \"interface\": {\"name\": \"rph0\", \"address\": \"10.77.0.1/24\"}}";
    cr_assert_eq(parse_text(sealed, &c, &err), 0, "%s", err.msg);
    cr_assert(c.port_mapping, "sealed asks for a port mapping by default");
    const char *bad = "{\"holepuncher\": \"203.0.113.10:7700\", \"session\": \"office\","
                      " \"role\": \"server\", \"port_mapping\": \"yes\","
                      " \"interface\": {\"name\": \"rph0\", \"address\": \"10.77.0.1/24\"}}";
    cr_assert_lt(parse_text(bad, &c, &err), 0);
    cr_assert(strstr(err.msg, "\"port_mapping\" must be true or false"), "%s", err.msg);
}

Test(tund_config, mesh_defaults_to_sealed_and_needs_seal)
{
    struct tund_config c;
    struct errmsg err = {0};
    cr_assert_eq(parse_text(MINIMAL, &c, &err), 0, "%s", err.msg);
    cr_assert_not(c.mesh, "plaintext: a hub");
    const char *sealed = "{\"holepuncher\": \"203.0.113.10:7700\", \"session\": \"office\","
                         " \"role\": \"server\", \"seal\": {\"key_file\": \"/etc/ruphin/o.key\"},"
                         " %s \"interface\": {\"name\": \"rph0\", \"address\": \"10.77.0.1/24\"}}";
    char text[512];
    snprintf(text, sizeof text, sealed, "");
    cr_assert_eq(parse_text(text, &c, &err), 0, "%s", err.msg);
    cr_assert(c.mesh, "sealed: a mesh by default");
    snprintf(text, sizeof text, sealed, "\"mesh\": false,");
    cr_assert_eq(parse_text(text, &c, &err), 0, "%s", err.msg);
    cr_assert_not(c.mesh);
    snprintf(text, sizeof text, sealed, "\"mesh\": 1,");
    cr_assert_lt(parse_text(text, &c, &err), 0);
    cr_assert(strstr(err.msg, "\"mesh\" must be true or false"), "%s", err.msg);
    const char *plain = "{\"holepuncher\": \"203.0.113.10:7700\", \"session\": \"office\","
                        " \"role\": \"server\", \"mesh\": true,"
                        " \"interface\": {\"name\": \"rph0\", \"address\": \"10.77.0.1/24\"}}";
    cr_assert_eq(parse_text(plain, &c, &err), -EINVAL);
    cr_assert(strstr(err.msg, "\"mesh\": true needs \"seal\""), "%s", err.msg);
}

Test(tund_config, dns_domain)
{
    struct tund_config c;
    struct errmsg err;
    cr_assert_eq(parse_with("dns", NULL, &c, &err), 0, "%s", err.msg);
    cr_assert_str_eq(c.dns_domain, "", "no \"dns\": no responder");
    cr_assert_eq(parse_with("dns", "{\"domain\": \"Office.LAN.arpa.\"}", &c, &err), 0, "%s",
                 err.msg);
    cr_assert_str_eq(c.dns_domain, "office.lan.arpa");
    const struct {
        const char *value, *says;
    } bad[] = {
        {"\"office.lan.arpa\"", "\"dns\" must be an object"},
        {"{}", "\"dns.domain\" is required"},
        {"{\"domain\": 7}", "dns.domain"},
        {"{\"domain\": \"a..b\"}", "\"dns.domain\" \"a..b\": each label"},
        {"{\"domain\": \"a_b.lan\"}", "may contain only"},
        {"{\"domain\": \"x.lan\", \"ttl\": 5}", "ttl"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_assert_eq(parse_with("dns", bad[i].value, &c, &err), -EINVAL, "%s", bad[i].value);
        cr_assert(strstr(err.msg, bad[i].says), "%s: %s", bad[i].value, err.msg);
    }
    /* An automatic address comes after the switch to "user": port 53 is out of reach then. */
    char text[640];
    snprintf(text, sizeof text,
             AUTO_CLIENT("", "{\"key_file\": \"/etc/ruphin/office.key\"}, \"user\": \"nobody\", "
                             "\"dns\": {\"domain\": \"lan\"}"));
    cr_assert_eq(parse_text(text, &c, &err), -EINVAL);
    cr_assert(strstr(err.msg, "\"dns\" with \"user\" needs a fixed"), "%s", err.msg);
    /* A change is named by a reload and takes a restart. */
    struct tund_config a, b;
    cr_assert_eq(parse_with("dns", "{\"domain\": \"a.lan\"}", &a, &err), 0);
    cr_assert_eq(parse_with("dns", "{\"domain\": \"b.lan\"}", &b, &err), 0);
    struct changes ch = {0};
    cr_assert_eq(tund_config_diff(&a, &b, record_change, &ch), 1);
    cr_assert_str_eq(ch.c[0].key, "dns.domain");
    cr_assert_str_eq(ch.c[0].was, "a.lan");
    cr_assert(!ch.c[0].live);
}
