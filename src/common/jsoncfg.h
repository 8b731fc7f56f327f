/* SPDX-License-Identifier: MIT */
/* Helpers for strict JSON configs: typed getters whose errors name the key and the problem. */
#ifndef RUPHIN_COMMON_JSONCFG_H
#define RUPHIN_COMMON_JSONCFG_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

/* All getters return 0, 1 when the key is absent (out untouched), or -1 with err filled. */
struct cfg_err {
    char msg[512];
};

/* Reads and parses a file; -1 with err naming the file, or the line of the syntax error. */
int cfg_load_file(const char *path, cJSON **out, struct cfg_err *err);
/* -1 when obj holds a key not in the NULL-terminated list (catches typos). */
int cfg_check_keys(const cJSON *obj, const char *where, const char *const *allowed,
                   struct cfg_err *err);
int cfg_get_string(const cJSON *obj, const char *key, const char **out, struct cfg_err *err);
int cfg_get_int(const cJSON *obj, const char *key, long min, long max, long *out,
                struct cfg_err *err);
int cfg_get_bool(const cJSON *obj, const char *key, bool *out, struct cfg_err *err);
void cfg_errorf(struct cfg_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
