// SPDX-License-Identifier: MIT
// Parses and checks holepuncherd's config; every error names the key and what is wrong.
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "ruphin/error.h"

static const char *const allowed_keys[] = {"listen",    "session_ttl",           "max_sessions",
                                           "log_level", "rate_limit_per_source", "rate_limit_burst",
                                           NULL};

static int parse_listen(const cJSON *root, struct hpd_config *out, struct cfg_err *err)
{
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(root, "listen");
    if (!arr) {
        cfg_errorf(err, "config: \"listen\" is required (e.g. [\"0.0.0.0:7700\"])");
        return -1;
    }
    if (!cJSON_IsArray(arr)) {
        cfg_errorf(err, "config: \"listen\" must be an array of \"address:port\" strings");
        return -1;
    }
    int n = cJSON_GetArraySize(arr);
    if (n == 0) {
        cfg_errorf(err, "config: \"listen\" must not be empty");
        return -1;
    }
    if (n > HPD_MAX_LISTEN) {
        cfg_errorf(err, "config: \"listen\" holds %d addresses, at most %d allowed", n,
                   HPD_MAX_LISTEN);
        return -1;
    }
    out->n_listen = 0;
    const cJSON *it;
    int i = 0;
    cJSON_ArrayForEach(it, arr)
    {
        struct rph_addr a;
        if (!cJSON_IsString(it) || !it->valuestring) {
            cfg_errorf(err, "config: \"listen\"[%d] must be a string \"address:port\"", i);
            return -1;
        }
        /* Numeric only: a name would resolve at start and could change under a running daemon. */
        if (rph_addr_parse(it->valuestring, &a) < 0) {
            cfg_errorf(err,
                       "config: \"listen\"[%d] \"%.64s\" is not a numeric \"a.b.c.d:port\" or "
                       "\"[v6]:port\"",
                       i, it->valuestring);
            return -1;
        }
        /* Port 0 would pick a random port that no client could be told about. */
        if (a.port == 0) {
            cfg_errorf(err, "config: \"listen\"[%d] \"%.64s\": port must be 1..65535", i,
                       it->valuestring);
            return -1;
        }
        for (size_t j = 0; j < out->n_listen; j++) {
            if (rph_addr_equal(&out->listen[j], &a)) {
                cfg_errorf(err, "config: \"listen\"[%d] \"%.64s\" duplicates \"listen\"[%zu]", i,
                           it->valuestring, j);
                return -1;
            }
        }
        out->listen[out->n_listen++] = a;
        i++;
    }
    return 0;
}

int hpd_config_parse(const cJSON *root, struct hpd_config *out, struct cfg_err *err)
{
    struct hpd_config c;
    memset(&c, 0, sizeof c);
    c.session_ttl_s = HPD_TTL_DEFAULT;
    c.max_sessions = HPD_MAX_SESSIONS_DEFAULT;
    c.rate_per_s = 20;
    c.rate_burst = 40;
    c.log_level = LOG_LVL_INFO;

    if (!cJSON_IsObject(root)) {
        cfg_errorf(err, "config: the top level must be a JSON object");
        return -1;
    }
    if (cfg_check_keys(root, NULL, allowed_keys, err) < 0) return -1;
    if (parse_listen(root, &c, err) < 0) return -1;

    long v;
    int r = cfg_get_int(root, "session_ttl", HPD_TTL_MIN, HPD_TTL_MAX, &v, err);
    if (r < 0) return -1;
    if (r == 0) c.session_ttl_s = (uint32_t)v;
    r = cfg_get_int(root, "max_sessions", HPD_MAX_SESSIONS_MIN, HPD_MAX_SESSIONS_MAX, &v, err);
    if (r < 0) return -1;
    if (r == 0) c.max_sessions = (size_t)v;
    r = cfg_get_int(root, "rate_limit_per_source", 0, 1000000, &v, err);
    if (r < 0) return -1;
    if (r == 0) c.rate_per_s = (uint32_t)v;
    r = cfg_get_int(root, "rate_limit_burst", 1, 1000000, &v, err);
    if (r < 0) return -1;
    if (r == 0) c.rate_burst = (uint32_t)v;
    if (c.rate_per_s && c.rate_burst < c.rate_per_s) {
        cfg_errorf(
            err,
            "config: \"rate_limit_burst\" (%u) must be at least \"rate_limit_per_source\" (%u)",
            c.rate_burst, c.rate_per_s);
        return -1;
    }

    const char *lvl;
    r = cfg_get_string(root, "log_level", &lvl, err);
    if (r < 0) return -1;
    if (r == 0 && log_parse_level(lvl, &c.log_level) < 0) {
        cfg_errorf(err, "config: \"log_level\" must be error, warn, info or debug, got \"%.32s\"",
                   lvl);
        return -1;
    }
    *out = c;
    return 0;
}

int hpd_config_load(const char *path, struct hpd_config *out, struct cfg_err *err)
{
    cJSON *root = NULL;
    if (cfg_load_file(path, &root, err) < 0) return -1;
    int r = hpd_config_parse(root, out, err);
    cJSON_Delete(root);
    if (r < 0) {
        /* The parser does not know the file; put its name where "config:" stands. */
        static const char prefix[] = "config: ";
        if (strncmp(err->msg, prefix, sizeof prefix - 1) == 0) {
            char msg[sizeof err->msg];
            snprintf(msg, sizeof msg, "%s", err->msg + sizeof prefix - 1);
            cfg_errorf(err, "config %s: %s", path, msg);
        }
        return -1;
    }
    return 0;
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
