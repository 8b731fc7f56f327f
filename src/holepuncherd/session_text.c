// SPDX-License-Identifier: MIT
// Escapes session IDs for log lines, so a hostile ID cannot forge lines or control the terminal.
#include "session_text.h"

#include <stdio.h>

#include "ruphin/seal.h"

char *hpd_session_text(const struct rph_session *s, char *buf, size_t cap)
{
    if (cap == 0) return buf;
    size_t o = 0;
    size_t n = s->len <= RPH_SESSION_MAX ? s->len : RPH_SESSION_MAX;
    /* A sealed session's ID is a 20-byte hash: show its key fingerprint (sealed:4d8b12ef), the
     * one ruphin-tund logs at start and shows in `ruphinctl status`, not escapes. */
    size_t odd = 0;
    for (size_t i = 0; i < n; i++)
        odd += s->id[i] < 0x20 || s->id[i] >= 0x7f;
    if (n == RPH_SESSION_MAX && odd > 2 && cap >= sizeof "sealed:" + RPH_SEAL_FINGERPRINT_LEN) {
        char fp[RPH_SEAL_FINGERPRINT_LEN];
        snprintf(buf, cap, "sealed:%s", rph_seal_fingerprint(s, fp));
        return buf;
    }
    /* Keep room for the closing quote and the terminator. */
#define PUT(c)                                                                                     \
    do {                                                                                           \
        if (o + 2 < cap) buf[o++] = (c);                                                           \
    } while (0)
    PUT('"');
    for (size_t i = 0; i < n; i++) {
        unsigned char c = s->id[i];
        if (c == '"' || c == '\\') {
            PUT('\\');
            PUT((char)c);
        } else if (c >= 0x20 && c < 0x7f) {
            PUT((char)c);
        } else if (o + 6 <= cap) {
            snprintf(buf + o, cap - o, "\\x%02x", c);
            o += 4;
        }
    }
#undef PUT
    if (o + 1 < cap) buf[o++] = '"';
    buf[o] = 0;
    return buf;
}
