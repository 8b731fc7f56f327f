// SPDX-License-Identifier: MIT
// Session IDs are arbitrary bytes from the network; this makes them safe to put in a log line.
#ifndef HOLEPUNCHERD_SESSION_TEXT_H
#define HOLEPUNCHERD_SESSION_TEXT_H

#include <stddef.h>

#include "ruphin/wire.h"

/* Quotes plus every byte as \xNN at worst, plus the terminator. */
#define HPD_SESSION_TEXT_MAX (2 + 4 * RPH_SESSION_MAX + 1)

/* Writes the ID in double quotes, printable ASCII as is, '"' and '\' and other bytes escaped
 * (\" \\ \xNN); returns buf. */
char *hpd_session_text(const struct rph_session *s, char *buf, size_t cap);

#endif
