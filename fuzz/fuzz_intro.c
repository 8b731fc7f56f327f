// SPDX-License-Identifier: MIT
// Fuzzes the mesh's introduction message (tag 0x09, src/tun/intro.c): whatever decodes encodes
// back to exactly its own bytes (one encoding per message), and decoded fields keep the rules
// the client relies on (bounded candidate counts, families, no port 0).
#include <stdint.h>
#include <string.h>

#include "../src/tun/intro.h"
#include "harness.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct intro in;
    const char *why = NULL;
    if (intro_decode(data, size, &in, &why) < 0) {
        FZ_CHECK(why != NULL);
        return 0;
    }
    FZ_CHECK(in.n_lan <= INTRO_MAX_CAND && in.n_v6 <= INTRO_MAX_CAND);
    if (!in.left) {
        FZ_CHECK(in.addrs.has4 || in.addrs.has6);
        FZ_CHECK(in.endpoint.family == 0 || in.endpoint.port != 0);
        for (size_t i = 0; i < in.n_lan; i++)
            FZ_CHECK(in.lan[i].family == 4 && in.lan[i].port);
        for (size_t i = 0; i < in.n_v6; i++)
            FZ_CHECK(in.v6[i].family == 6 && in.v6[i].port);
    }
    uint8_t again[INTRO_MAX_LEN];
    size_t n = intro_encode(&in, again);
    FZ_CHECK(n == size);
    FZ_CHECK(memcmp(again, data, n) == 0);
    return 0;
}
