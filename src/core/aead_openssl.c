// SPDX-License-Identifier: MIT
// The transport AEAD on OpenSSL 3's EVP_chacha20_poly1305, which has AVX-512 code for both
// halves. Each thread keeps one context for sealing and one for opening, set up once; a packet
// costs a re-key (EVP_CipherInit_ex with key and nonce only) and the update calls.
#include "aead_openssl.h"

#include "ruphin/error.h"

#ifdef RUPHIN_HAVE_OPENSSL
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdlib.h>

struct ctx_pair {
    EVP_CIPHER_CTX *seal, *open;
};

static _Thread_local struct ctx_pair *mine;
/* Frees a thread's pair when the thread ends; the key exists only for that. */
static pthread_key_t pair_key;
static pthread_once_t pair_key_once = PTHREAD_ONCE_INIT;
static int pair_key_err;

static void pair_free(void *p)
{
    struct ctx_pair *x = p;
    if (!x) return;
    EVP_CIPHER_CTX_free(x->seal);
    EVP_CIPHER_CTX_free(x->open);
    free(x);
}

static void pair_key_make(void)
{
    pair_key_err = pthread_key_create(&pair_key, pair_free);
}

static struct ctx_pair *pair(void)
{
    if (mine) return mine;
    pthread_once(&pair_key_once, pair_key_make);
    if (pair_key_err) return NULL;
    struct ctx_pair *x = calloc(1, sizeof *x);
    if (!x) return NULL;
    const EVP_CIPHER *cipher = EVP_chacha20_poly1305();
    x->seal = EVP_CIPHER_CTX_new();
    x->open = EVP_CIPHER_CTX_new();
    /* The cipher is bound here, once; per packet only key and nonce change. */
    if (!cipher || !x->seal || !x->open ||
        EVP_CipherInit_ex(x->seal, cipher, NULL, NULL, NULL, 1) != 1 ||
        EVP_CipherInit_ex(x->open, cipher, NULL, NULL, NULL, 0) != 1 ||
        EVP_CIPHER_CTX_get_iv_length(x->seal) != 12 || pthread_setspecific(pair_key, x) != 0) {
        pair_free(x);
        ERR_clear_error();
        return NULL;
    }
    mine = x;
    return x;
}

int rph_aead_openssl_ready(void)
{
    return pair() ? 0 : RPH_E_CRYPTO;
}

/* EVP_CipherUpdate takes an int length: longer input goes in pieces (the cipher streams).
 * out NULL feeds additional data. */
static int update(EVP_CIPHER_CTX *ctx, uint8_t *out, const uint8_t *in, size_t len)
{
    while (len > 0) {
        int n = len > (size_t)1 << 30 ? 1 << 30 : (int)len, outl = 0;
        if (EVP_CipherUpdate(ctx, out, &outl, in, n) != 1) return -1;
        if (out) {
            if (outl != n) return -1;
            out += n;
        }
        in += n;
        len -= (size_t)n;
    }
    return 0;
}

int rph_aead_openssl_seal(uint8_t *c, uint8_t tag[16], const uint8_t *m, size_t mlen,
                          const uint8_t *ad, size_t adlen, const uint8_t nonce[12],
                          const uint8_t key[32])
{
    struct ctx_pair *x = pair();
    EVP_CIPHER_CTX *ctx = x ? x->seal : NULL;
    uint8_t none[16];
    int outl = 0;
    if (!ctx || EVP_CipherInit_ex(ctx, NULL, NULL, key, nonce, 1) != 1 ||
        update(ctx, NULL, ad, adlen) < 0 || update(ctx, c, m, mlen) < 0 ||
        EVP_CipherFinal_ex(ctx, none, &outl) != 1 || outl != 0 ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, 16, tag) != 1) {
        /* Nothing half-sealed goes out, even to a caller that ignores the error. */
        OPENSSL_cleanse(c, mlen);
        OPENSSL_cleanse(tag, 16);
        ERR_clear_error();
        return RPH_E_CRYPTO;
    }
    return 0;
}

int rph_aead_openssl_open(uint8_t *m, const uint8_t *c, size_t clen, const uint8_t tag[16],
                          const uint8_t *ad, size_t adlen, const uint8_t nonce[12],
                          const uint8_t key[32])
{
    struct ctx_pair *x = pair();
    EVP_CIPHER_CTX *ctx = x ? x->open : NULL;
    uint8_t none[16];
    int outl = 0, r = RPH_E_CRYPTO;
    /* OpenSSL decrypts while it authenticates and compares the tag at the end, so the
     * plaintext is in m before the verdict: on any failure it is wiped before returning. */
    if (ctx && EVP_CipherInit_ex(ctx, NULL, NULL, key, nonce, 0) == 1 &&
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, 16, (void *)tag) == 1 &&
        update(ctx, NULL, ad, adlen) == 0 && update(ctx, m, c, clen) == 0) {
        if (EVP_CipherFinal_ex(ctx, none, &outl) == 1 && outl == 0) return 0;
        r = RPH_E_AUTH;
    }
    OPENSSL_cleanse(m, clen);
    ERR_clear_error();
    return r;
}

#else /* built without OpenSSL */

int rph_aead_openssl_ready(void)
{
    return RPH_E_NOTSUP;
}
int rph_aead_openssl_seal(uint8_t *c, uint8_t tag[16], const uint8_t *m, size_t mlen,
                          const uint8_t *ad, size_t adlen, const uint8_t nonce[12],
                          const uint8_t key[32])
{
    (void)c, (void)tag, (void)m, (void)mlen, (void)ad, (void)adlen, (void)nonce, (void)key;
    return RPH_E_NOTSUP;
}
int rph_aead_openssl_open(uint8_t *m, const uint8_t *c, size_t clen, const uint8_t tag[16],
                          const uint8_t *ad, size_t adlen, const uint8_t nonce[12],
                          const uint8_t key[32])
{
    (void)m, (void)c, (void)clen, (void)tag, (void)ad, (void)adlen, (void)nonce, (void)key;
    return RPH_E_NOTSUP;
}

#endif
