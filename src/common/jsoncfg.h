/* SPDX-License-Identifier: MIT */
/* Helpers for strict JSON configs: typed getters whose errors name the key and the problem,
 * and the loader that names the file in every error about it. */
#ifndef RUPHIN_COMMON_JSONCFG_H
#define RUPHIN_COMMON_JSONCFG_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "errmsg.h"
#include "log.h"

/* Checks root (a JSON object) into out; 0, or a negative errno (-EINVAL for a bad value) with
 * err naming the key, without any file name: the loader adds it. */
typedef int (*cfg_parse_fn)(const cJSON *root, const char *path, void *out, struct errmsg *err);

/* Reads path (at most 1 MiB), parses it as a JSON object and hands it to parse. Every error,
 * the file's own or parse's, reads "config PATH: ...". 0, -EINVAL for a bad config, or the
 * negative errno of a file that cannot be read. */
int cfg_load(const char *path, cfg_parse_fn parse, void *out, struct errmsg *err);

/* The getters return 0, 1 when the key is absent (out untouched), or -EINVAL with err set. */
/* -EINVAL when obj holds a key not in the NULL-terminated list (catches typos). */
int cfg_check_keys(const cJSON *obj, const char *where, const char *const *allowed,
                   struct errmsg *err);
int cfg_get_string(const cJSON *obj, const char *key, const char **out, struct errmsg *err);
int cfg_get_int(const cJSON *obj, const char *key, long min, long max, long *out,
                struct errmsg *err);
int cfg_get_bool(const cJSON *obj, const char *key, bool *out, struct errmsg *err);
/* "log_level": absent leaves *out as it is; anything but a level name log.c knows is -EINVAL. */
int cfg_get_log_level(const cJSON *obj, const char *key, enum log_level *out, struct errmsg *err);

#endif
