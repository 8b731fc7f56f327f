// SPDX-License-Identifier: MIT
// Inner IP header parsing for routing and the source-address check.
#include "ippkt.h"

int ippkt_parse(const uint8_t *pkt, size_t len, struct ippkt *out)
{
    if (len < 1) return -1;
    int v = pkt[0] >> 4;
    if (v == 4) {
        if (len < 20) return -1;
        size_t ihl = (size_t)(pkt[0] & 0x0f) * 4;
        size_t total = ((size_t)pkt[2] << 8) | pkt[3];
        if (ihl < 20 || total < ihl || total > len) return -1;
        out->version = 4;
        out->src = pkt + 12;
        out->dst = pkt + 16;
        return 0;
    }
    if (v == 6) {
        if (len < 40) return -1;
        size_t payload = ((size_t)pkt[4] << 8) | pkt[5];
        if (40 + payload > len) return -1;
        out->version = 6;
        out->src = pkt + 8;
        out->dst = pkt + 24;
        return 0;
    }
    return -1;
}
