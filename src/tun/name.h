/* SPDX-License-Identifier: MIT */
/* Member names (config "name"): DNS labels, the host name as a default, and the suffix that
 * makes a duplicate unique in a session ("laptop-2"). No I/O but gethostname. */
#ifndef RUPHIN_TUN_NAME_H
#define RUPHIN_TUN_NAME_H

#include <stdbool.h>
#include <stddef.h>

#define NAME_LABEL_MAX 63

/* A DNS label as ruphin-tund takes it: 1..63 of [a-z0-9-], not starting or ending with '-'. */
bool name_valid(const char *s, size_t len);
/* The default name: the host name's first label, lowercased, other characters made '-' (none
 * leading, trailing or twice). 0, or -1 when nothing is left (an empty host name). */
int name_from_host(const char *host, char out[NAME_LABEL_MAX + 1]);
/* out = base with "-N" (N >= 2) appended, base cut so the whole fits 63 and does not end in
 * '-' before the suffix. */
void name_suffixed(const char *base, unsigned n, char out[NAME_LABEL_MAX + 1]);
/* Is granted what was given for wanted: wanted itself, or wanted with a "-N" suffix? */
bool name_grants(const char *granted, const char *wanted);
/* The first of wanted, wanted-2, wanted-3, ... that taken() says is free: 0, or -1 when 999
 * are all taken. */
typedef bool (*name_taken_fn)(void *ctx, const char *name);
int name_unique(const char *wanted, name_taken_fn taken, void *ctx, char out[NAME_LABEL_MAX + 1]);

#endif
