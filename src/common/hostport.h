/* SPDX-License-Identifier: MIT */
/* "host:port" / "[v6]:port" parsing and name resolution for the daemons' configs. */
#ifndef RUPHIN_COMMON_HOSTPORT_H
#define RUPHIN_COMMON_HOSTPORT_H

#include <stddef.h>

#include "ruphin/addr.h"

/* Splits "host:port", "[v6]:port"; host may be a name. 0 or -EINVAL with a reason in why. */
int hostport_split(const char *s, char *host, size_t hostcap, unsigned *port, const char **why);
/* Resolves (getaddrinfo, UDP: may block on DNS) to the first address; 0, or -EINVAL for a
 * malformed value or -ENOENT for a name that does not resolve, with why set. */
int hostport_resolve(const char *s, struct rph_addr *out, const char **why);

#endif
