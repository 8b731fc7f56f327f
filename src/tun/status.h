/* SPDX-License-Identifier: MIT */
/* The status document of `ruphinctl status`, built from the tunnel's read-only view. */
#ifndef RUPHIN_TUN_STATUS_H
#define RUPHIN_TUN_STATUS_H

#include <stdint.h>

struct tunnel;

/* The document as malloc'd JSON text (docs/CONFIG.md "Status"), or NULL when out of memory. */
char *status_json(const struct tunnel *t, uint64_t now_ms);

#endif
