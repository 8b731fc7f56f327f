// SPDX-License-Identifier: MIT
// Fuzzes both daemons' config loaders on JSON text: no crash, every error has a message, and
// ruphin-tund's parse step reads nothing (the resolve step alone reads the key file).
#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "../src/holepuncherd/config.h"
#include "../src/tun/config.h"
#include "harness.h"
#include "hostport.h"
#include "ruphin/seal.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The key every readable key file holds. */
static const char KEY_B64[] = "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=";
static uint8_t key[32];

/* The loader reads "seal.key_file": the fuzzer may only pick among these, made at start. */
enum { KF_GOOD, KF_OPEN, KF_JUNK, KF_DIR, KF_MISSING, KF_LINK, KF_COUNT };
static char tmpdir[64];
static char key_files[KF_COUNT][128];
static char cfg_path[128]; /* the input as a file, for hpd_config_load */

static void write_file(const char *path, const char *text, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    FZ_CHECK(fd >= 0);
    FZ_CHECK(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
    FZ_CHECK(fchmod(fd, mode) == 0);
    close(fd);
}

static void cleanup(void)
{
    static const char *const names[] = {"good.key", "open.key", "junk.key", "link.key",
                                        "config.json"};
    char p[160];
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        snprintf(p, sizeof p, "%s/%s", tmpdir, names[i]);
        unlink(p);
    }
    snprintf(p, sizeof p, "%s/dir.key", tmpdir);
    rmdir(p);
    rmdir(tmpdir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    fz_rng_install();
    snprintf(tmpdir, sizeof tmpdir, "/tmp/ruphin-fuzz-config-XXXXXX");
    FZ_CHECK(mkdtemp(tmpdir) != NULL);
    static const char *const names[KF_COUNT] = {"good.key", "open.key",    "junk.key",
                                                "dir.key",  "missing.key", "link.key"};
    for (int i = 0; i < KF_COUNT; i++)
        snprintf(key_files[i], sizeof key_files[i], "%s/%s", tmpdir, names[i]);
    snprintf(cfg_path, sizeof cfg_path, "%s/config.json", tmpdir);
    char text[64];
    snprintf(text, sizeof text, "%s\n", KEY_B64);
    write_file(key_files[KF_GOOD], text, 0600);
    write_file(key_files[KF_OPEN], text, 0644);
    write_file(key_files[KF_JUNK], "not a key\n", 0600);
    FZ_CHECK(mkdir(key_files[KF_DIR], 0700) == 0);
    FZ_CHECK(symlink(key_files[KF_GOOD], key_files[KF_LINK]) == 0);
    atexit(cleanup);
    if (rph_seal_available()) FZ_CHECK(rph_key_from_base64(KEY_B64, key) == 0);
    return 0;
}

static bool numeric_host(const char *h)
{
    uint8_t ip[16];
    return inet_pton(AF_INET, h, ip) == 1 || inet_pton(AF_INET6, h, ip) == 1;
}

/* tund's resolve step looks "holepuncher" up with getaddrinfo: keep names (DNS) out. */
static void tame_holepuncher(cJSON *it)
{
    if (!cJSON_IsString(it) || !it->valuestring || strlen(it->valuestring) > TUND_HOLEPUNCHER_MAX)
        return;
    char host[256];
    unsigned port;
    struct errmsg why;
    if (hostport_split(it->valuestring, host, sizeof host, &port, &why) < 0) return;
    if (numeric_host(host)) return;
    char repl[32];
    snprintf(repl, sizeof repl, "192.0.2.1:%u", port);
    FZ_CHECK(cJSON_SetValuestring(it, repl) != NULL);
}

/* The resolve step opens "seal.key_file": point it at one of ours, chosen by the original text. */
static void tame_seal(cJSON *seal)
{
    if (!cJSON_IsObject(seal)) return;
    cJSON *kf;
    cJSON_ArrayForEach(kf, seal)
    {
        if (!kf->string || strcmp(kf->string, "key_file") != 0) continue;
        if (!cJSON_IsString(kf) || !kf->valuestring || !kf->valuestring[0]) continue;
        size_t pick = (size_t)(fz_hash(kf->valuestring, strlen(kf->valuestring)) % KF_COUNT);
        FZ_CHECK(cJSON_SetValuestring(kf, key_files[pick]) != NULL);
    }
}

/* The resolve step looks into "state_dir" (--check mode: it only reads): keep it in ours. */
static void tame_state_dir(cJSON *it)
{
    if (cJSON_IsString(it) && it->valuestring) FZ_CHECK(cJSON_SetValuestring(it, tmpdir) != NULL);
}

static void tame(cJSON *root)
{
    if (!cJSON_IsObject(root)) return;
    cJSON *it;
    cJSON_ArrayForEach(it, root)
    {
        if (!it->string) continue;
        if (strcmp(it->string, "holepuncher") == 0) tame_holepuncher(it);
        if (strcmp(it->string, "seal") == 0) tame_seal(it);
        if (strcmp(it->string, "state_dir") == 0) tame_state_dir(it);
    }
}

static void check_err(const struct errmsg *err)
{
    size_t n = strnlen(err->msg, sizeof err->msg);
    FZ_CHECK(n > 0 && n < sizeof err->msg);
}

static void check_parsed(const struct tund_config *c)
{
    FZ_CHECK(c->holepuncher_addr.family == 0 || c->holepuncher_addr.family == 4 ||
             c->holepuncher_addr.family == 6);
    if (c->holepuncher_addr.family) FZ_CHECK(c->holepuncher_addr.port != 0);
    FZ_CHECK(strnlen(c->holepuncher, sizeof c->holepuncher) < sizeof c->holepuncher);
    FZ_CHECK(c->session.len >= 1 && c->session.len <= RPH_SESSION_MAX);
    FZ_CHECK(strlen(c->session_str) == c->session.len);
    FZ_CHECK(memcmp(c->session_str, c->session.id, c->session.len) == 0);
    FZ_CHECK(c->role == RPH_ROLE_SERVER || c->role == RPH_ROLE_CLIENT);
    size_t ifl = strnlen(c->ifname, sizeof c->ifname);
    FZ_CHECK(ifl >= 1 && ifl <= TUND_IFNAME_MAX);
    /* An automatic address (a sealed client without "address") has none until the server
     * assigns one; every other config has its prefix. */
    if (c->addr_auto)
        FZ_CHECK(c->role == RPH_ROLE_CLIENT && c->seal && c->prefix4 == 0 && !c->has_addr6);
    else
        FZ_CHECK(c->prefix4 >= 1 && c->prefix4 <= 32);
    if (c->has_addr6) FZ_CHECK(c->prefix6 >= 1 && c->prefix6 <= 128 && c->mtu >= 1280);
    FZ_CHECK(c->mtu >= 576 && c->mtu <= 9000);
    FZ_CHECK(c->keepalive_interval >= 1 && c->peer_timeout > c->keepalive_interval);
    FZ_CHECK(c->control_socket[0] == '/');
    FZ_CHECK(strnlen(c->control_socket, sizeof c->control_socket) < sizeof c->control_socket);
    FZ_CHECK(c->log_level >= LOG_LVL_ERROR && c->log_level <= LOG_LVL_DEBUG);
    FZ_CHECK(c->n_members <= TUND_MEMBERS_MAX);
    FZ_CHECK(c->seal || (c->n_members == 0 && !c->state_dir_set)); /* node keys: sealed only */
    FZ_CHECK(strnlen(c->state_dir, sizeof c->state_dir) < sizeof c->state_dir);
    for (size_t i = 0; i < c->n_members; i++) /* parse never admits a duplicate key */
        for (size_t j = 0; j < i; j++)
            FZ_CHECK(memcmp(c->members[i], c->members[j], 32) != 0);
}

static bool all_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i]) return false;
    return true;
}

static void check_tund(cJSON *root)
{
    struct tund_config c;
    struct errmsg err;
    memset(&c, 0x5a, sizeof c);
    err.msg[0] = 0;
    /* Untamed: parsing must not look anything up, whatever the input names. */
    int rc = tund_config_parse(root, &c, &err);
    if (rc < 0) {
        FZ_CHECK(rc == -EINVAL);
        check_err(&err);
        return;
    }
    FZ_CHECK(rc == 0);
    check_parsed(&c);
    FZ_CHECK(all_zero(c.seal_key, sizeof c.seal_key)); /* no key is read while parsing */
    FZ_CHECK(c.uid == 0 && c.gid == 0);                /* nor a user looked up */

    /* The resolve step on the tamed input: our key files, numeric hosts. */
    tame(root);
    memset(&c, 0x5a, sizeof c);
    FZ_CHECK(tund_config_parse(root, &c, &err) == 0);
    rc = tund_config_resolve(&c, TUND_RESOLVE_CHECK, &err);
    if (rc < 0) {
        check_err(&err);
        FZ_CHECK(all_zero(c.seal_key, sizeof c.seal_key)); /* a failed resolve keeps no key */
        FZ_CHECK(all_zero(c.node_sk, sizeof c.node_sk) && !c.has_node_key);
        return;
    }
    FZ_CHECK(rc == 0);
    FZ_CHECK(c.holepuncher_addr.family == 4 || c.holepuncher_addr.family == 6);
    FZ_CHECK(c.holepuncher_addr.port != 0);
    if (c.seal) {
        /* Only the private, well-formed key file may be accepted. */
        FZ_CHECK(strcmp(c.seal_key_file, key_files[KF_GOOD]) == 0);
        FZ_CHECK(memcmp(c.seal_key, key, sizeof key) == 0);
        tund_config_wipe_key(&c);
        FZ_CHECK(all_zero(c.seal_key, sizeof c.seal_key));
        FZ_CHECK(all_zero(c.node_sk, sizeof c.node_sk));
    }
}

static int hpd_parse(const cJSON *root, struct hpd_config *c)
{
    struct errmsg err;
    err.msg[0] = 0;
    int rc = hpd_config_parse(root, c, &err);
    if (rc < 0) {
        FZ_CHECK(rc == -EINVAL);
        check_err(&err);
        return rc;
    }
    FZ_CHECK(rc == 0);
    FZ_CHECK(c->n_listen >= 1 && c->n_listen <= HPD_MAX_LISTEN);
    for (size_t i = 0; i < c->n_listen; i++) {
        FZ_CHECK(c->listen[i].family == 4 || c->listen[i].family == 6);
        FZ_CHECK(c->listen[i].port != 0);
        for (size_t j = 0; j < i; j++)
            FZ_CHECK(!rph_addr_equal(&c->listen[i], &c->listen[j]));
    }
    FZ_CHECK(c->session_ttl_s >= HPD_TTL_MIN && c->session_ttl_s <= HPD_TTL_MAX);
    FZ_CHECK(c->max_sessions >= HPD_MAX_SESSIONS_MIN && c->max_sessions <= HPD_MAX_SESSIONS_MAX);
    return 0;
}

/* The same text through the file loader must reach the same verdict (and name the file). */
static void check_hpd_file(const uint8_t *data, size_t size, int parsed_rc,
                           const struct hpd_config *parsed)
{
    int fd = open(cfg_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    FZ_CHECK(fd >= 0);
    FZ_CHECK(write(fd, data, size) == (ssize_t)size);
    close(fd);
    struct hpd_config c;
    struct errmsg err;
    err.msg[0] = 0;
    int rc = hpd_config_load(cfg_path, &c, &err);
    if (rc < 0) {
        check_err(&err);
        FZ_CHECK(strstr(err.msg, cfg_path) != NULL);
        FZ_CHECK(parsed_rc < 0);
        return;
    }
    FZ_CHECK(parsed_rc == 0);
    FZ_CHECK(hpd_config_same_listen(&c, parsed) && c.session_ttl_s == parsed->session_ttl_s &&
             c.max_sessions == parsed->max_sessions && c.log_level == parsed->log_level);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 65536) return 0;
    /* As cfg_load_file does: NUL-terminated, nothing may trail the JSON value. */
    char *text = malloc(size + 1);
    FZ_CHECK(text != NULL);
    memcpy(text, data, size);
    text[size] = 0;
    cJSON *root = cJSON_ParseWithLengthOpts(text, size + 1, NULL, 1);
    struct hpd_config hc;
    int hpd_rc = -1;
    if (root) {
        hpd_rc = hpd_parse(root, &hc);
        if (!cJSON_IsObject(root)) FZ_CHECK(hpd_rc < 0);
        check_tund(root);
        cJSON_Delete(root);
    }
    /* The file loader allocates 1 MiB a call (slow under ASan): one input in 32 takes it. */
    if (fz_hash(data, size) % 32 == 0) check_hpd_file(data, size, hpd_rc, &hc);
    free(text);
    return 0;
}
