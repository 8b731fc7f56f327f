// SPDX-License-Identifier: MIT
// holepuncherd's config: the shipped example parses, and each bad value is refused with a
// message that names the key (or the file, when there is no key to name).
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../src/holepuncherd/config.h"

static struct errmsg err;
static struct hpd_config cfg;

/* Parses text; returns what hpd_config_parse returned (invalid JSON fails the test). */
static int parse(const char *text)
{
    cJSON *j = cJSON_Parse(text);
    cr_assert_not_null(j, "test JSON does not parse: %s", text);
    memset(&err, 0, sizeof err);
    int r = hpd_config_parse(j, &cfg, &err);
    cJSON_Delete(j);
    return r;
}

static void expect_error(const char *text, const char *needle)
{
    cr_assert_eq(parse(text), -EINVAL, "accepted: %s", text);
    cr_assert_not_null(strstr(err.msg, needle), "message for %s does not name %s: %s", text, needle,
                       err.msg);
}

static char tmp_path[64];

static void write_tmp(const char *text)
{
    strcpy(tmp_path, "/tmp/hpd-config-XXXXXX");
    int fd = mkstemp(tmp_path);
    cr_assert_geq(fd, 0);
    size_t n = strlen(text);
    cr_assert_eq(write(fd, text, n), (ssize_t)n);
    close(fd);
}

Test(hpd_config, shipped_example_parses)
{
    int r = hpd_config_load(RUPHIN_SOURCE_DIR "/config/holepuncherd.json", &cfg, &err);
    cr_assert_eq(r, 0, "%s", err.msg);
    cr_assert_eq(cfg.n_listen, 2);
    struct rph_addr v4, v6;
    rph_addr_parse("0.0.0.0:7700", &v4);
    rph_addr_parse("[::]:7700", &v6);
    cr_assert(rph_addr_equal(&cfg.listen[0], &v4));
    cr_assert(rph_addr_equal(&cfg.listen[1], &v6));
    cr_assert_eq(cfg.session_ttl_s, 60);
    cr_assert_eq(cfg.max_sessions, 100000);
    cr_assert_eq(cfg.max_sessions_per_source, 32);
    /* Shipped on (issue 13): every pair of NATs connects; the limits bound what it costs. */
    cr_assert(cfg.relay_enabled);
    cr_assert_eq(cfg.relay_max_sessions, 1000);
    cr_assert_eq(cfg.relay_max_kbps, 20000);
    cr_assert_eq(cfg.log_level, LOG_LVL_INFO);
}

Test(hpd_config, defaults_apply_to_omitted_keys)
{
    cr_assert_eq(parse("{\"listen\": [\"127.0.0.1:7700\"]}"), 0, "%s", err.msg);
    cr_assert_eq(cfg.n_listen, 1);
    cr_assert_eq(cfg.listen[0].port, 7700);
    cr_assert_eq(cfg.session_ttl_s, HPD_TTL_DEFAULT);
    cr_assert_eq(cfg.max_sessions, HPD_MAX_SESSIONS_DEFAULT);
    cr_assert_eq(cfg.log_level, LOG_LVL_INFO);
}

Test(hpd_config, limits_at_the_edges_of_their_ranges_are_accepted)
{
    cr_assert_eq(parse("{\"listen\": [\"[::1]:1\"], \"session_ttl\": 5, \"max_sessions\": 1, "
                       "\"log_level\": \"debug\"}"),
                 0, "%s", err.msg);
    cr_assert_eq(cfg.session_ttl_s, 5);
    cr_assert_eq(cfg.max_sessions, 1);
    cr_assert_eq(cfg.log_level, LOG_LVL_DEBUG);
    cr_assert_eq(parse("{\"listen\": [\"127.0.0.1:65535\"], \"session_ttl\": 86400, "
                       "\"max_sessions\": 10000000, \"log_level\": \"error\"}"),
                 0, "%s", err.msg);
    cr_assert_eq(cfg.session_ttl_s, 86400);
    cr_assert_eq(cfg.max_sessions, 10000000);
}

Test(hpd_config, eight_listen_addresses_are_accepted)
{
    cr_assert_eq(parse("{\"listen\": [\"127.0.0.1:1\", \"127.0.0.1:2\", \"127.0.0.1:3\", "
                       "\"127.0.0.1:4\", \"127.0.0.1:5\", \"127.0.0.1:6\", \"127.0.0.1:7\", "
                       "\"[::1]:8\"]}"),
                 0, "%s", err.msg);
    cr_assert_eq(cfg.n_listen, 8);
    cr_assert_eq(cfg.listen[7].family, 6);
}

Test(hpd_config, listen_must_be_a_non_empty_array_of_numeric_addresses)
{
    expect_error("{\"listen\": \"0.0.0.0:7700\"}", "\"listen\"");
    expect_error("{\"listen\": []}", "\"listen\"");
    expect_error("{}", "\"listen\"");
    expect_error("{\"listen\": [7700]}", "\"listen\"");
    expect_error("{\"listen\": [\"example.org:7700\"]}", "\"listen\"");
    expect_error("{\"listen\": [\"0.0.0.0\"]}", "\"listen\"");
    expect_error("{\"listen\": [\"::1:7700\"]}", "\"listen\"");
    expect_error("{\"listen\": [\"0.0.0.0:70000\"]}", "\"listen\"");
    expect_error("{\"listen\": [\"0.0.0.0:0\"]}", "\"listen\"");
    expect_error("{\"listen\": [\"1.1.1.1:1\", \"1.1.1.1:2\", \"1.1.1.1:3\", \"1.1.1.1:4\", "
                 "\"1.1.1.1:5\", \"1.1.1.1:6\", \"1.1.1.1:7\", \"1.1.1.1:8\", \"1.1.1.1:9\"]}",
                 "\"listen\"");
}

Test(hpd_config, a_bad_listen_entry_is_quoted_with_its_index)
{
    expect_error("{\"listen\": [\"127.0.0.1:7700\", \"not-an-address\"]}", "\"listen\"[1]");
    cr_assert_not_null(strstr(err.msg, "not-an-address"), "%s", err.msg);
}

Test(hpd_config, duplicate_listen_addresses_are_refused)
{
    expect_error("{\"listen\": [\"0.0.0.0:7700\", \"[::]:7700\", \"0.0.0.0:7700\"]}", "duplicates");
    cr_assert_not_null(strstr(err.msg, "\"listen\"[2]"), "%s", err.msg);
    /* The same endpoint spelled as an IPv4-mapped IPv6 address is the same socket. */
    expect_error("{\"listen\": [\"127.0.0.1:7700\", \"[::ffff:127.0.0.1]:7700\"]}", "\"listen\"");
}

Test(hpd_config, session_ttl_out_of_range_is_refused)
{
    expect_error("{\"listen\": [\"0.0.0.0:7700\"], \"session_ttl\": 0}", "\"session_ttl\"");
    expect_error("{\"listen\": [\"0.0.0.0:7700\"], \"session_ttl\": 4}", "\"session_ttl\"");
    expect_error("{\"listen\": [\"0.0.0.0:7700\"], \"session_ttl\": 86401}", "\"session_ttl\"");
    expect_error("{\"listen\": [\"0.0.0.0:7700\"], \"session_ttl\": \"60\"}", "\"session_ttl\"");
}

Test(hpd_config, max_sessions_must_be_a_positive_integer)
{
    expect_error("{\"listen\": [\"0.0.0.0:7700\"], \"max_sessions\": -1}", "\"max_sessions\"");
    expect_error("{\"listen\": [\"0.0.0.0:7700\"], \"max_sessions\": 1.5}", "\"max_sessions\"");
    expect_error("{\"listen\": [\"0.0.0.0:7700\"], \"max_sessions\": 0}", "\"max_sessions\"");
    expect_error("{\"listen\": [\"0.0.0.0:7700\"], \"max_sessions\": 10000001}",
                 "\"max_sessions\"");
    expect_error("{\"listen\": [\"0.0.0.0:7700\"], \"max_sessions\": true}", "\"max_sessions\"");
}

Test(hpd_config, log_level_must_be_a_known_word)
{
    expect_error("{\"listen\": [\"0.0.0.0:7700\"], \"log_level\": \"loud\"}", "\"log_level\"");
    cr_assert_not_null(strstr(err.msg, "loud"), "%s", err.msg);
    /* The names come from log.c's one table. */
    cr_assert_not_null(strstr(err.msg, "must be \"error\", \"warn\", \"info\" or \"debug\""), "%s",
                       err.msg);
    cr_assert_str_eq(log_level_name(LOG_LVL_WARN), "warn");
    cr_assert_str_eq(log_level_name((enum log_level)9), "?");
    expect_error("{\"listen\": [\"0.0.0.0:7700\"], \"log_level\": 3}", "\"log_level\"");
}

Test(hpd_config, unknown_keys_are_refused)
{
    expect_error("{\"listen\": [\"0.0.0.0:7700\"], \"session_tll\": 60}", "\"session_tll\"");
}

Test(hpd_config, the_top_level_must_be_an_object)
{
    cr_assert_eq(parse("[\"0.0.0.0:7700\"]"), -EINVAL);
}

Test(hpd_config, invalid_json_is_refused_naming_the_file)
{
    write_tmp("{\"listen\": [\"0.0.0.0:7700\"],\n  \"session_ttl\": 60,,\n}\n");
    int r = hpd_config_load(tmp_path, &cfg, &err);
    unlink(tmp_path);
    cr_assert_eq(r, -EINVAL);
    cr_assert_not_null(strstr(err.msg, tmp_path), "%s", err.msg);
    cr_assert_not_null(strstr(err.msg, "invalid JSON"), "%s", err.msg);
}

Test(hpd_config, a_missing_file_is_refused_naming_the_file)
{
    const char *path = "/nonexistent/holepuncherd.json";
    cr_assert_eq(hpd_config_load(path, &cfg, &err), -ENOENT);
    cr_assert_not_null(strstr(err.msg, path), "%s", err.msg);
}

Test(hpd_config, errors_from_a_file_name_the_file_and_the_key)
{
    write_tmp("{\"listen\": [\"0.0.0.0:7700\"], \"session_ttl\": 0}\n");
    int r = hpd_config_load(tmp_path, &cfg, &err);
    unlink(tmp_path);
    cr_assert_eq(r, -EINVAL);
    char want[128];
    snprintf(want, sizeof want, "config %s: \"session_ttl\"", tmp_path);
    cr_assert_eq(strncmp(err.msg, want, strlen(want)), 0, "%s", err.msg);
}

Test(hpd_config, a_valid_file_loads)
{
    write_tmp("{\"listen\": [\"127.0.0.1:7700\"], \"log_level\": \"warn\"}");
    int r = hpd_config_load(tmp_path, &cfg, &err);
    unlink(tmp_path);
    cr_assert_eq(r, 0, "%s", err.msg);
    cr_assert_eq(cfg.log_level, LOG_LVL_WARN);
}

Test(hpd_config, listen_sets_compare_in_any_order)
{
    struct hpd_config a, b;
    cr_assert_eq(parse("{\"listen\": [\"0.0.0.0:7700\", \"[::]:7700\"]}"), 0);
    a = cfg;
    cr_assert_eq(parse("{\"listen\": [\"[::]:7700\", \"0.0.0.0:7700\"], \"session_ttl\": 9}"), 0);
    b = cfg;
    cr_assert(hpd_config_same_listen(&a, &b));
    cr_assert_eq(parse("{\"listen\": [\"0.0.0.0:7701\", \"[::]:7700\"]}"), 0);
    cr_assert_not(hpd_config_same_listen(&a, &cfg));
    cr_assert_eq(parse("{\"listen\": [\"0.0.0.0:7700\"]}"), 0);
    cr_assert_not(hpd_config_same_listen(&a, &cfg));
}

Test(hpd_config, rate_limits_parse_and_are_checked)
{
    struct hpd_config c;
    struct errmsg e = {0};
    cJSON *j = cJSON_Parse("{\"listen\": [\"127.0.0.1:7700\"], \"rate_limit_per_source\": 5, "
                           "\"rate_limit_burst\": 8}");
    cr_assert_eq(hpd_config_parse(j, &c, &e), 0, "%s", e.msg);
    cr_assert_eq(c.rate_per_s, 5);
    cr_assert_eq(c.rate_burst, 8);
    cJSON_Delete(j);
    j = cJSON_Parse("{\"listen\": [\"127.0.0.1:7700\"]}");
    cr_assert_eq(hpd_config_parse(j, &c, &e), 0);
    cr_assert_eq(c.rate_per_s, 20);
    cr_assert_eq(c.rate_burst, 40);
    cJSON_Delete(j);
    j = cJSON_Parse("{\"listen\": [\"127.0.0.1:7700\"], \"rate_limit_per_source\": 50, "
                    "\"rate_limit_burst\": 10}");
    cr_assert_eq(hpd_config_parse(j, &c, &e), -EINVAL);
    cr_assert(strstr(e.msg, "\"rate_limit_burst\""), "%s", e.msg);
    cJSON_Delete(j);
    j = cJSON_Parse("{\"listen\": [\"127.0.0.1:7700\"], \"rate_limit_per_source\": -1}");
    cr_assert_lt(hpd_config_parse(j, &c, &e), 0);
    cr_assert(strstr(e.msg, "\"rate_limit_per_source\""), "%s", e.msg);
    cJSON_Delete(j);
}

Test(hpd_config, max_sessions_per_source_parses_with_0_for_no_limit)
{
    cr_assert_eq(parse("{\"listen\": [\"127.0.0.1:7700\"]}"), 0, "%s", err.msg);
    cr_assert_eq(cfg.max_sessions_per_source, HPD_PER_SOURCE_DEFAULT);
    cr_assert_eq(parse("{\"listen\": [\"127.0.0.1:7700\"], \"max_sessions_per_source\": 0}"), 0);
    cr_assert_eq(cfg.max_sessions_per_source, 0);
    cr_assert_eq(parse("{\"listen\": [\"127.0.0.1:7700\"], \"max_sessions_per_source\": 5}"), 0);
    cr_assert_eq(cfg.max_sessions_per_source, 5);
    expect_error("{\"listen\": [\"127.0.0.1:7700\"], \"max_sessions_per_source\": -1}",
                 "\"max_sessions_per_source\"");
    expect_error("{\"listen\": [\"127.0.0.1:7700\"], \"max_sessions_per_source\": \"many\"}",
                 "\"max_sessions_per_source\"");
}

Test(hpd_config, relay_is_off_by_default_and_parses_strictly)
{
    cr_assert_eq(parse("{\"listen\": [\"0.0.0.0:7700\"]}"), 0, "%s", err.msg);
    cr_assert(!cfg.relay_enabled);
    cr_assert_eq(cfg.relay_max_sessions, 1000);
    cr_assert_eq(cfg.relay_max_kbps, 20000);
    cr_assert_eq(parse("{\"listen\": [\"0.0.0.0:7700\"], \"relay\": {\"enabled\": true, "
                       "\"max_sessions\": 5, \"max_kbps_per_session\": 0}}"),
                 0, "%s", err.msg);
    cr_assert(cfg.relay_enabled);
    cr_assert_eq(cfg.relay_max_sessions, 5);
    cr_assert_eq(cfg.relay_max_kbps, 0);
    cr_assert_eq(parse("{\"listen\": [\"0.0.0.0:7700\"], \"relay\": {}}"), 0, "%s", err.msg);
    cr_assert(!cfg.relay_enabled);
    expect_error("{\"listen\": [\"0.0.0.0:7700\"], \"relay\": true}",
                 "\"relay\" must be an object");
    expect_error("{\"listen\": [\"0.0.0.0:7700\"], \"relay\": {\"enabled\": 1}}",
                 "\"relay.enabled\" must be true or false");
    expect_error("{\"listen\": [\"0.0.0.0:7700\"], \"relay\": {\"max_sessions\": 0}}",
                 "\"relay.max_sessions\" must be an integer 1..1000000");
    expect_error("{\"listen\": [\"0.0.0.0:7700\"], \"relay\": {\"max_sessions\": 2.5}}",
                 "\"relay.max_sessions\"");
    expect_error("{\"listen\": [\"0.0.0.0:7700\"], \"relay\": {\"max_kbps_per_session\": -1}}",
                 "\"relay.max_kbps_per_session\" must be an integer 0..100000000");
    expect_error("{\"listen\": [\"0.0.0.0:7700\"], \"relay\": {\"max_kbps_per_session\": \"9\"}}",
                 "\"relay.max_kbps_per_session\"");
    expect_error("{\"listen\": [\"0.0.0.0:7700\"], \"relay\": {\"enable\": true}}",
                 "unknown key \"relay.enable\"");
}
