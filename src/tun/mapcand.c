// SPDX-License-Identifier: MIT
// The mapped candidate message (tag 0x08): encode and decode; whether the endpoint is usable is
// the core's call (rph_peer_set_mapped_candidate).
#include "mapcand.h"

#include <string.h>

size_t mapcand_encode(const struct rph_addr *a, uint8_t out[MAPCAND_LEN])
{
    memset(out, 0, MAPCAND_LEN);
    out[0] = MAPCAND_TAG;
    out[1] = MAPCAND_VERSION;
    if (a && a->family == 4) {
        out[2] = 1;
        memcpy(out + 3, a->ip, 4);
        out[7] = (uint8_t)(a->port >> 8);
        out[8] = (uint8_t)a->port;
    }
    return MAPCAND_LEN;
}

int mapcand_decode(const uint8_t *buf, size_t len, bool *has, struct rph_addr *out,
                   const char **why)
{
    static const uint8_t zero[6];
    if (len < 1 || buf[0] != MAPCAND_TAG) return *why = "another tag", -1;
    if (len != MAPCAND_LEN) return *why = "not 9 bytes long", -1;
    if (buf[1] != MAPCAND_VERSION) return *why = "unknown version", -1;
    if (buf[2] & ~1u) return *why = "unknown flags", -1;
    *has = buf[2] & 1u;
    memset(out, 0, sizeof *out);
    if (!*has) {
        if (memcmp(buf + 3, zero, 6) != 0) return *why = "an endpoint without the flag", -1;
        return 0;
    }
    out->family = 4;
    memcpy(out->ip, buf + 3, 4);
    out->port = (uint16_t)(buf[7] << 8 | buf[8]);
    if (out->port == 0) return *why = "port 0", -1;
    return 0;
}
