/* SPDX-License-Identifier: MIT */
/* `ruphinctl members`: the members a ruphin-tund knows (itself and its peers), made from its
 * status document: name, overlay addresses, node key, path, RTT, last seen. */
#ifndef RUPHIN_CTL_MEMBERS_H
#define RUPHIN_CTL_MEMBERS_H

#include <cjson/cJSON.h>

/* {"members": [...]}, ourselves first (docs/CONFIG.md "ruphinctl members"); NULL: no memory. */
cJSON *members_from_status(const cJSON *st);
/* One line per member, as a table. */
void members_print(const cJSON *members);

#endif
