// SPDX-License-Identifier: MIT
// Strict JSON config helpers shared by holepuncherd and ruphin-tund.
#include "jsoncfg.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void cfg_errorf(struct cfg_err *err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
}

int cfg_load_file(const char *path, cJSON **out, struct cfg_err *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        cfg_errorf(err, "config %s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    /* Configs are small; a cap keeps a wrong path (a device, a huge file) from eating memory. */
    enum { MAX = 1 << 20 };
    char *buf = malloc(MAX + 1);
    if (!buf) {
        fclose(f);
        cfg_errorf(err, "config %s: out of memory", path);
        return -1;
    }
    size_t n = fread(buf, 1, MAX + 1, f);
    int rerr = ferror(f);
    fclose(f);
    if (rerr) {
        free(buf);
        cfg_errorf(err, "config %s: read error", path);
        return -1;
    }
    if (n > MAX) {
        free(buf);
        cfg_errorf(err, "config %s: larger than 1 MiB", path);
        return -1;
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
        cfg_errorf(err, "config %s: invalid JSON near line %d column %d", path, line, col);
        free(buf);
        return -1;
    }
    free(buf);
    if (!cJSON_IsObject(j)) {
        cJSON_Delete(j);
        cfg_errorf(err, "config %s: the top level must be a JSON object", path);
        return -1;
    }
    *out = j;
    return 0;
}

int cfg_check_keys(const cJSON *obj, const char *where, const char *const *allowed,
                   struct cfg_err *err)
{
    const cJSON *it;
    cJSON_ArrayForEach(it, obj)
    {
        bool ok = false;
        for (const char *const *a = allowed; *a; a++) {
            if (it->string && strcmp(it->string, *a) == 0) ok = true;
        }
        if (!ok) {
            cfg_errorf(err, "config: unknown key \"%s%s%s\"", where ? where : "", where ? "." : "",
                       it->string ? it->string : "?");
            return -1;
        }
    }
    return 0;
}

int cfg_get_string(const cJSON *obj, const char *key, const char **out, struct cfg_err *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v) return 1;
    if (!cJSON_IsString(v) || !v->valuestring) {
        cfg_errorf(err, "config: \"%s\" must be a string", key);
        return -1;
    }
    *out = v->valuestring;
    return 0;
}

int cfg_get_int(const cJSON *obj, const char *key, long min, long max, long *out,
                struct cfg_err *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v) return 1;
    if (!cJSON_IsNumber(v)) {
        cfg_errorf(err, "config: \"%s\" must be a number", key);
        return -1;
    }
    double d = v->valuedouble;
    if (d != floor(d) || d < (double)min || d > (double)max) {
        cfg_errorf(err, "config: \"%s\" must be an integer %ld..%ld, got %g", key, min, max, d);
        return -1;
    }
    *out = (long)d;
    return 0;
}

int cfg_get_bool(const cJSON *obj, const char *key, bool *out, struct cfg_err *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v) return 1;
    if (!cJSON_IsBool(v)) {
        cfg_errorf(err, "config: \"%s\" must be true or false", key);
        return -1;
    }
    *out = cJSON_IsTrue(v);
    return 0;
}
