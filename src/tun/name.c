// SPDX-License-Identifier: MIT
// Member names: validation, the host-name default and duplicate suffixes (name.h).
#include "name.h"

#include <stdio.h>
#include <string.h>

bool name_valid(const char *s, size_t len)
{
    if (len < 1 || len > NAME_LABEL_MAX || s[0] == '-' || s[len - 1] == '-') return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return false;
    }
    return true;
}

int name_from_host(const char *host, char out[NAME_LABEL_MAX + 1])
{
    /* "Laptop.example.org" -> "laptop", "my_box" -> "my-box": a host name need not be a DNS
     * label, and the default should still work. */
    size_t n = 0;
    for (const char *c = host; *c && *c != '.' && n < NAME_LABEL_MAX; c++) {
        char ch = *c >= 'A' && *c <= 'Z' ? (char)(*c - 'A' + 'a') : *c;
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9');
        if (!ok && (n == 0 || out[n - 1] == '-')) continue; /* no leading or double '-' */
        out[n++] = ok ? ch : '-';
    }
    while (n > 0 && out[n - 1] == '-')
        n--;
    out[n] = 0;
    return name_valid(out, n) ? 0 : -1;
}

void name_suffixed(const char *base, unsigned n, char out[NAME_LABEL_MAX + 1])
{
    char sfx[16];
    int sl = snprintf(sfx, sizeof sfx, "-%u", n);
    size_t keep = strlen(base);
    if (keep + (size_t)sl > NAME_LABEL_MAX) keep = NAME_LABEL_MAX - (size_t)sl;
    /* A cut base must not end in '-' ("a--2" is a valid label, but not a readable one). */
    while (keep > 1 && base[keep - 1] == '-')
        keep--;
    snprintf(out, NAME_LABEL_MAX + 1, "%.*s%s", (int)keep, base, sfx);
}

bool name_grants(const char *granted, const char *wanted)
{
    if (strcmp(granted, wanted) == 0) return true;
    for (unsigned n = 2; n < 1000; n++) {
        char s[NAME_LABEL_MAX + 1];
        name_suffixed(wanted, n, s);
        if (strcmp(s, granted) == 0) return true;
        /* Suffixes are tried in order; one that long is not ours unless it matched. */
        if (strlen(s) != strlen(granted) && n > 99) break;
    }
    return false;
}

int name_unique(const char *wanted, name_taken_fn taken, void *ctx, char out[NAME_LABEL_MAX + 1])
{
    if (!taken(ctx, wanted)) {
        snprintf(out, NAME_LABEL_MAX + 1, "%s", wanted);
        return 0;
    }
    for (unsigned n = 2; n < 1000; n++) {
        name_suffixed(wanted, n, out);
        if (!taken(ctx, out)) return 0;
    }
    return -1;
}
