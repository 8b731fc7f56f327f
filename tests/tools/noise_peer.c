// SPDX-License-Identifier: MIT
// Test driver: one side of a libruphin Noise handshake spoken over stdin/stdout in hex lines,
// so tests/tools/noise_interop.py can run it against an independent implementation.
//
// usage: noise_peer ik|xx|xx0 initiator|responder S_SK E_SK PSK RS|- PROLOGUE|-   (keys in hex)
// Commands, one a line; each answers one line, "ok ..." or "err CODE TEXT":
//   write HEX|-   our next handshake message with this payload  -> ok MESSAGE
//   read HEX      the peer's next handshake message               -> ok PAYLOAD|-
//   rs            the remote static key                           -> ok KEY
//   split         c1 c2 h as the spec names them                  -> ok C1 C2 H
//   send HEX|-    a transport message to the peer (empty AD)      -> ok CIPHERTEXT
//   recv HEX      a transport message from the peer               -> ok PAYLOAD|-
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ruphin/error.h"
#include "ruphin/noise.h"

#define LINE_MAX_LEN (2 * RPH_NOISE_MAX_MSG + 64)

static char line[LINE_MAX_LEN];
static uint8_t in[RPH_NOISE_MAX_MSG], out[RPH_NOISE_MAX_MSG];

static int nibble(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Hex text (or "-" for nothing) to bytes; -1 if it is not hex or does not fit. */
static long unhex(const char *s, uint8_t *b, size_t cap)
{
    if (strcmp(s, "-") == 0) return 0;
    size_t n = strlen(s);
    if (n % 2 || n / 2 > cap) return -1;
    for (size_t i = 0; i < n; i++) {
        int v = nibble(s[i]);
        if (v < 0) return -1;
        if (i % 2 == 0)
            b[i / 2] = (uint8_t)(v << 4);
        else
            b[i / 2] |= (uint8_t)v;
    }
    return (long)(n / 2);
}

static void put_hex(const uint8_t *b, size_t n)
{
    if (n == 0) fputs("-", stdout);
    for (size_t i = 0; i < n; i++)
        printf("%02x", b[i]);
}

static int key_arg(const char *s, uint8_t k[32])
{
    return unhex(s, k, 32) == 32 ? 0 : -1;
}

static void reply(int r, const uint8_t *b)
{
    if (r < 0) {
        printf("err %d %s\n", r, rph_strerror(r));
    } else {
        fputs("ok ", stdout);
        put_hex(b, (size_t)r);
        putchar('\n');
    }
    fflush(stdout);
}

int main(int argc, char **argv)
{
    if (argc != 8) {
        fprintf(stderr, "usage: noise_peer ik|xx|xx0 initiator|responder S_SK E_SK PSK RS|- "
                        "PROLOGUE|-\n");
        return 2;
    }
    enum rph_noise_pattern pat = strcmp(argv[1], "ik") == 0    ? RPH_NOISE_IKPSK2
                                 : strcmp(argv[1], "xx0") == 0 ? RPH_NOISE_XXPSK0
                                                               : RPH_NOISE_XXPSK3;
    bool initiator = strcmp(argv[2], "initiator") == 0;
    uint8_t s_sk[32], e_sk[32], psk[32], rs[32];
    static uint8_t prologue[4096];
    long plen = unhex(argv[7], prologue, sizeof prologue);
    bool has_rs = strcmp(argv[6], "-") != 0;
    if (key_arg(argv[3], s_sk) || key_arg(argv[4], e_sk) || key_arg(argv[5], psk) ||
        (has_rs && key_arg(argv[6], rs)) || plen < 0) {
        fprintf(stderr, "noise_peer: a key is not 64 hex digits, or the prologue is not hex\n");
        return 2;
    }
    if (rph_noise_global_init() != 0) return 1;
    struct rph_noise_hs hs;
    int r =
        rph_noise_init(&hs, pat, initiator, prologue, (size_t)plen, s_sk, has_rs ? rs : NULL, psk);
    if (r == 0) r = rph_noise_set_ephemeral(&hs, e_sk);
    if (r != 0) {
        fprintf(stderr, "noise_peer: init: %s\n", rph_strerror(r));
        return 1;
    }
    struct rph_noise_keys keys;
    struct rph_noise_cipher send_cs, recv_cs;
    bool split = false;

    while (fgets(line, sizeof line, stdin)) {
        line[strcspn(line, "\r\n")] = 0;
        char *arg = strchr(line, ' ');
        if (arg) *arg++ = 0;
        long n = arg ? unhex(arg, in, sizeof in) : 0;
        if (n < 0) {
            printf("err 0 not hex\n");
            fflush(stdout);
            continue;
        }
        if (strcmp(line, "write") == 0) {
            reply(rph_noise_write_message(&hs, in, (size_t)n, out, sizeof out), out);
        } else if (strcmp(line, "read") == 0) {
            reply(rph_noise_read_message(&hs, in, (size_t)n, out, sizeof out), out);
        } else if (strcmp(line, "rs") == 0) {
            const uint8_t *k = rph_noise_remote_static(&hs);
            reply(k ? 32 : RPH_E_NOKEY, k);
        } else if (strcmp(line, "split") == 0) {
            r = rph_noise_split(&hs, &keys);
            if (r < 0) {
                reply(r, NULL);
                continue;
            }
            split = true;
            rph_noise_cipher_init(&send_cs, keys.send);
            rph_noise_cipher_init(&recv_cs, keys.recv);
            fputs("ok ", stdout);
            put_hex(initiator ? keys.send : keys.recv, 32);
            putchar(' ');
            put_hex(initiator ? keys.recv : keys.send, 32);
            putchar(' ');
            put_hex(keys.hash, 32);
            putchar('\n');
            fflush(stdout);
        } else if (strcmp(line, "send") == 0 && split) {
            reply(rph_noise_encrypt(&send_cs, NULL, 0, in, (size_t)n, out, sizeof out), out);
        } else if (strcmp(line, "recv") == 0 && split) {
            reply(rph_noise_decrypt(&recv_cs, NULL, 0, in, (size_t)n, out, sizeof out), out);
        } else {
            reply(RPH_E_UNEXPECTED, NULL);
        }
    }
    rph_noise_wipe(&hs);
    return 0;
}
