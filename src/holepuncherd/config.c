// SPDX-License-Identifier: MIT
// Parses and checks holepuncherd's config; every error names the key and what is wrong.
#include "config.h"

#include <errno.h>
#include <math.h>
#include <string.h>

#include "ruphin/error.h"

static const char *const allowed_keys[] = {"listen",
                                           "session_ttl",
                                           "max_sessions",
                                           "log_level",
                                           "rate_limit_per_source",
                                           "rate_limit_burst",
                                           "max_sessions_per_source",
                                           "relay",
                                           NULL};

static int parse_listen(const cJSON *root, struct hpd_config *out, struct errmsg *err)
{
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(root, "listen");
    if (!arr) return errmsg_fail(err, -EINVAL, "\"listen\" is required (e.g. [\"0.0.0.0:7700\"])");
    if (!cJSON_IsArray(arr))
        return errmsg_fail(err, -EINVAL, "\"listen\" must be an array of \"address:port\" strings");
    int n = cJSON_GetArraySize(arr);
    if (n == 0) return errmsg_fail(err, -EINVAL, "\"listen\" must not be empty");
    if (n > HPD_MAX_LISTEN)
        return errmsg_fail(err, -EINVAL, "\"listen\" holds %d addresses, at most %d allowed", n,
                           HPD_MAX_LISTEN);
    out->n_listen = 0;
    const cJSON *it;
    int i = 0;
    cJSON_ArrayForEach(it, arr)
    {
        struct rph_addr a;
        if (!cJSON_IsString(it) || !it->valuestring)
            return errmsg_fail(err, -EINVAL, "\"listen\"[%d] must be a string \"address:port\"", i);
        /* Numeric only: a name would resolve at start and could change under a running daemon. */
        if (rph_addr_parse(it->valuestring, &a) < 0)
            return errmsg_fail(err, -EINVAL,
                               "\"listen\"[%d] \"%.64s\" is not a numeric \"a.b.c.d:port\" or "
                               "\"[v6]:port\"",
                               i, it->valuestring);
        /* Port 0 would pick a random port that no client could be told about. */
        if (a.port == 0)
            return errmsg_fail(err, -EINVAL, "\"listen\"[%d] \"%.64s\": port must be 1..65535", i,
                               it->valuestring);
        for (size_t j = 0; j < out->n_listen; j++) {
            if (rph_addr_equal(&out->listen[j], &a))
                return errmsg_fail(err, -EINVAL,
                                   "\"listen\"[%d] \"%.64s\" duplicates \"listen\"[%zu]", i,
                                   it->valuestring, j);
        }
        out->listen[out->n_listen++] = a;
        i++;
    }
    return 0;
}

/* An integer key of the "relay" object; errors name it "relay.KEY". 0, 1 when absent. */
static int relay_int(const cJSON *obj, const char *key, long min, long max, long *out,
                     struct errmsg *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v) return 1;
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) ||
        v->valuedouble < (double)min || v->valuedouble > (double)max)
        return errmsg_fail(err, -EINVAL, "\"relay.%s\" must be an integer %ld..%ld", key, min, max);
    *out = (long)v->valuedouble;
    return 0;
}

/* "relay": {"enabled": false, "max_sessions": 1000, "max_kbps_per_session": 20000} */
static int parse_relay(const cJSON *root, struct hpd_config *c, struct errmsg *err)
{
    const cJSON *obj = cJSON_GetObjectItemCaseSensitive(root, "relay");
    if (!obj) return 0;
    if (!cJSON_IsObject(obj))
        return errmsg_fail(err, -EINVAL,
                           "\"relay\" must be an object, e.g. {\"enabled\": true, "
                           "\"max_sessions\": 1000, \"max_kbps_per_session\": 20000}");
    static const char *const keys[] = {"enabled", "max_sessions", "max_kbps_per_session", NULL};
    if (cfg_check_keys(obj, "relay", keys, err) < 0) return -EINVAL;
    const cJSON *en = cJSON_GetObjectItemCaseSensitive(obj, "enabled");
    if (en && !cJSON_IsBool(en))
        return errmsg_fail(err, -EINVAL, "\"relay.enabled\" must be true or false");
    if (en) c->relay_enabled = cJSON_IsTrue(en);
    long v;
    int r = relay_int(obj, "max_sessions", 1, HPD_RELAY_SESSIONS_MAX, &v, err);
    if (r < 0) return r;
    if (r == 0) c->relay_max_sessions = (size_t)v;
    r = relay_int(obj, "max_kbps_per_session", 0, HPD_RELAY_KBPS_MAX, &v, err);
    if (r < 0) return r;
    if (r == 0) c->relay_max_kbps = (uint32_t)v;
    return 0;
}

int hpd_config_parse(const cJSON *root, struct hpd_config *out, struct errmsg *err)
{
    struct hpd_config c;
    memset(&c, 0, sizeof c);
    c.session_ttl_s = HPD_TTL_DEFAULT;
    c.max_sessions = HPD_MAX_SESSIONS_DEFAULT;
    c.rate_per_s = 20;
    c.rate_burst = 40;
    c.max_sessions_per_source = HPD_PER_SOURCE_DEFAULT;
    c.log_level = LOG_LVL_INFO;
    c.relay_enabled = false;
    c.relay_max_sessions = HPD_RELAY_SESSIONS_DEFAULT;
    c.relay_max_kbps = HPD_RELAY_KBPS_DEFAULT;

    if (!cJSON_IsObject(root))
        return errmsg_fail(err, -EINVAL, "the top level must be a JSON object");
    if (cfg_check_keys(root, NULL, allowed_keys, err) < 0) return -EINVAL;
    int r = parse_listen(root, &c, err);
    if (r < 0) return r;

    long v;
    r = cfg_get_int(root, "session_ttl", HPD_TTL_MIN, HPD_TTL_MAX, &v, err);
    if (r < 0) return r;
    if (r == 0) c.session_ttl_s = (uint32_t)v;
    r = cfg_get_int(root, "max_sessions", HPD_MAX_SESSIONS_MIN, HPD_MAX_SESSIONS_MAX, &v, err);
    if (r < 0) return r;
    if (r == 0) c.max_sessions = (size_t)v;
    r = cfg_get_int(root, "rate_limit_per_source", 0, 1000000, &v, err);
    if (r < 0) return r;
    if (r == 0) c.rate_per_s = (uint32_t)v;
    r = cfg_get_int(root, "rate_limit_burst", 1, 1000000, &v, err);
    if (r < 0) return r;
    if (r == 0) c.rate_burst = (uint32_t)v;
    if (c.rate_per_s && c.rate_burst < c.rate_per_s)
        return errmsg_fail(
            err, -EINVAL,
            "\"rate_limit_burst\" (%u) must be at least \"rate_limit_per_source\" (%u)",
            c.rate_burst, c.rate_per_s);

    r = cfg_get_int(root, "max_sessions_per_source", 0, HPD_MAX_SESSIONS_MAX, &v, err);
    if (r < 0) return r;
    if (r == 0) c.max_sessions_per_source = (uint32_t)v;

    r = parse_relay(root, &c, err);
    if (r < 0) return r;

    r = cfg_get_log_level(root, "log_level", &c.log_level, err);
    if (r < 0) return r;
    *out = c;
    return 0;
}

static int parse_file(const cJSON *root, const char *path, void *out, struct errmsg *err)
{
    (void)path;
    return hpd_config_parse(root, out, err);
}

int hpd_config_load(const char *path, struct hpd_config *out, struct errmsg *err)
{
    return cfg_load(path, parse_file, out, err);
}

bool hpd_config_same_listen(const struct hpd_config *a, const struct hpd_config *b)
{
    if (a->n_listen != b->n_listen) return false;
    for (size_t i = 0; i < a->n_listen; i++) {
        bool found = false;
        for (size_t j = 0; j < b->n_listen && !found; j++)
            found = rph_addr_equal(&a->listen[i], &b->listen[j]);
        if (!found) return false;
    }
    return true;
}
