// SPDX-License-Identifier: MIT
// Return-routability cookies for sealed Register/Join: cookie = BLAKE2b-128(key = secret,
// family || address || port). Only a host that receives at that endpoint learns its cookie,
// so a request that carries it cannot have a spoofed source.
#include "hp_cookie.h"

#include <string.h>

#include "ruphin/be.h"
#include "ruphin/seal.h"

#ifdef RUPHIN_HAVE_SODIUM
#include <sodium.h>

static void rotate(struct hp_cookie *c, uint64_t now_ms)
{
    uint64_t epoch = now_ms / HP_COOKIE_EPOCH_MS;
    if (c->started && epoch == c->epoch) return;
    if (c->started && epoch == c->epoch + 1) {
        memcpy(c->prev, c->cur, sizeof c->prev);
    } else {
        /* First use, or more than one epoch passed: no old secret stays valid. */
        randombytes_buf(c->prev, sizeof c->prev);
    }
    randombytes_buf(c->cur, sizeof c->cur);
    c->epoch = epoch;
    c->started = true;
}

static void mac(const uint8_t key[32], const struct rph_addr *a, uint8_t out[RPH_COOKIE_LEN])
{
    uint8_t in[1 + 16 + 2];
    in[0] = a->family;
    memcpy(in + 1, a->ip, 16);
    rph_put16(in + 17, a->port);
    crypto_generichash(out, RPH_COOKIE_LEN, in, sizeof in, key, 32);
}

void hp_cookie_make(struct hp_cookie *c, const struct rph_addr *from, uint64_t now_ms,
                    uint8_t out[RPH_COOKIE_LEN])
{
    rotate(c, now_ms);
    mac(c->cur, from, out);
}

bool hp_cookie_check(struct hp_cookie *c, const struct rph_addr *from, uint64_t now_ms,
                     const uint8_t cookie[RPH_COOKIE_LEN])
{
    rotate(c, now_ms);
    uint8_t want[RPH_COOKIE_LEN];
    mac(c->cur, from, want);
    if (sodium_memcmp(want, cookie, RPH_COOKIE_LEN) == 0) return true;
    mac(c->prev, from, want);
    return sodium_memcmp(want, cookie, RPH_COOKIE_LEN) == 0;
}

#else

/* Without libsodium sealed requests are refused before any cookie is looked at. */
void hp_cookie_make(struct hp_cookie *c, const struct rph_addr *from, uint64_t now_ms,
                    uint8_t out[RPH_COOKIE_LEN])
{
    (void)c;
    (void)from;
    (void)now_ms;
    memset(out, 0, RPH_COOKIE_LEN);
}

bool hp_cookie_check(struct hp_cookie *c, const struct rph_addr *from, uint64_t now_ms,
                     const uint8_t cookie[RPH_COOKIE_LEN])
{
    (void)c;
    (void)from;
    (void)now_ms;
    (void)cookie;
    return false;
}

#endif

void hp_cookie_wipe(struct hp_cookie *c)
{
    rph_seal_wipe(c, sizeof *c);
}
