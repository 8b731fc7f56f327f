// SPDX-License-Identifier: MIT
// Strict JSON config helpers shared by holepuncherd and ruphin-tund.
#include "jsoncfg.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Reads and parses the file; 0 with *out a JSON object, or a negative errno with err set
 * (without the file's name: cfg_load puts it before every message). */
static int read_json(const char *path, cJSON **out, struct errmsg *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        int e = errno;
        return errmsg_fail(err, -e, "cannot open: %s", strerror(e));
    }
    /* Configs are small; a cap keeps a wrong path (a device, a huge file) from eating memory. */
    enum { MAX = 1 << 20 };
    char *buf = malloc(MAX + 1);
    if (!buf) {
        fclose(f);
        return errmsg_fail(err, -ENOMEM, "out of memory");
    }
    size_t n = fread(buf, 1, MAX + 1, f);
    int rerr = ferror(f);
    fclose(f);
    if (rerr) {
        free(buf);
        return errmsg_fail(err, -EIO, "read error");
    }
    if (n > MAX) {
        free(buf);
        return errmsg_fail(err, -EFBIG, "larger than 1 MiB");
    }
    buf[n] = 0;
    const char *end = NULL;
    /* n + 1: cJSON wants the terminating NUL inside the length to prove nothing trails. */
    cJSON *j = cJSON_ParseWithLengthOpts(buf, n + 1, &end, 1);
    if (!j) {
        size_t off = end ? (size_t)(end - buf) : 0;
        if (off > n) off = n;
        int line = 1, col = 1;
        for (size_t i = 0; i < off; i++) {
            if (buf[i] == '\n') {
                line++;
                col = 1;
            } else {
                col++;
            }
        }
        free(buf);
        return errmsg_fail(err, -EINVAL, "invalid JSON near line %d column %d", line, col);
    }
    free(buf);
    if (!cJSON_IsObject(j)) {
        cJSON_Delete(j);
        return errmsg_fail(err, -EINVAL, "the top level must be a JSON object");
    }
    *out = j;
    return 0;
}

int cfg_load(const char *path, cfg_parse_fn parse, void *out, struct errmsg *err)
{
    cJSON *root = NULL;
    int rc = read_json(path, &root, err);
    if (rc == 0) {
        rc = parse(root, path, out, err);
        cJSON_Delete(root);
    }
    /* The one place a config error gets its file's name. */
    if (rc < 0) errmsg_prefix(err, "config %s", path);
    return rc < 0 ? rc : 0;
}

int cfg_check_keys(const cJSON *obj, const char *where, const char *const *allowed,
                   struct errmsg *err)
{
    const cJSON *it;
    cJSON_ArrayForEach(it, obj)
    {
        bool ok = false;
        for (const char *const *a = allowed; *a; a++) {
            if (it->string && strcmp(it->string, *a) == 0) ok = true;
        }
        if (!ok)
            return errmsg_fail(err, -EINVAL, "unknown key \"%s%s%s\"", where ? where : "",
                               where ? "." : "", it->string ? it->string : "?");
    }
    return 0;
}

int cfg_get_string(const cJSON *obj, const char *key, const char **out, struct errmsg *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v) return 1;
    if (!cJSON_IsString(v) || !v->valuestring)
        return errmsg_fail(err, -EINVAL, "\"%s\" must be a string", key);
    *out = v->valuestring;
    return 0;
}

int cfg_get_int(const cJSON *obj, const char *key, long min, long max, long *out,
                struct errmsg *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v) return 1;
    if (!cJSON_IsNumber(v)) return errmsg_fail(err, -EINVAL, "\"%s\" must be a number", key);
    double d = v->valuedouble;
    if (d != floor(d) || d < (double)min || d > (double)max)
        return errmsg_fail(err, -EINVAL, "\"%s\" must be an integer %ld..%ld, got %g", key, min,
                           max, d);
    *out = (long)d;
    return 0;
}

int cfg_get_bool(const cJSON *obj, const char *key, bool *out, struct errmsg *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v) return 1;
    if (!cJSON_IsBool(v)) return errmsg_fail(err, -EINVAL, "\"%s\" must be true or false", key);
    *out = cJSON_IsTrue(v);
    return 0;
}

int cfg_get_log_level(const cJSON *obj, const char *key, enum log_level *out, struct errmsg *err)
{
    const char *s;
    int rc = cfg_get_string(obj, key, &s, err);
    if (rc != 0) return rc;
    if (log_parse_level(s, out) < 0) {
        char names[64];
        return errmsg_fail(err, -EINVAL, "\"%s\" must be %s, got \"%.64s\"", key,
                           log_level_choices(names, sizeof names), s);
    }
    return 0;
}
