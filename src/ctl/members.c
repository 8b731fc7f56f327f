// SPDX-License-Identifier: MIT
// The member list of `ruphinctl members` (members.h), derived from the status document so that
// the daemon answers one question and both views agree.
#include "members.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static const char *s_of(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static void copy(cJSON *to, const char *key, const cJSON *from, const char *fkey)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(from, fkey);
    cJSON_AddItemToObject(to, key,
                          v && !cJSON_IsInvalid(v) ? cJSON_Duplicate(v, 1) : cJSON_CreateNull());
}

static void add_addr(cJSON *arr, const char *a)
{
    if (!a) return;
    /* Overlay addresses without the prefix length: what one pings. */
    char b[64];
    snprintf(b, sizeof b, "%s", a);
    char *slash = strchr(b, '/');
    if (slash) *slash = 0;
    cJSON_AddItemToArray(arr, cJSON_CreateString(b));
}

/* A listed member that is also a peer (the mesh introduced it): shown once, as the peer. */
static bool is_member_peer(const cJSON *peers, const char *pk)
{
    const cJSON *p;
    if (!pk) return false;
    cJSON_ArrayForEach(p, peers)
    {
        const char *k = s_of(p, "kind"), *ppk = s_of(p, "public_key");
        if (k && strcmp(k, "member") == 0 && ppk && strcmp(ppk, pk) == 0) return true;
    }
    return false;
}

cJSON *members_from_status(const cJSON *st)
{
    cJSON *root = cJSON_CreateObject();
    cJSON *list = cJSON_AddArrayToObject(root, "members");
    const char *role = s_of(st, "role");
    bool server = role && strcmp(role, "server") == 0;
    cJSON *me = cJSON_CreateObject();
    copy(me, "name", st, "name");
    cJSON_AddBoolToObject(me, "self", true);
    cJSON_AddStringToObject(me, "role", role ? role : "?");
    cJSON *a = cJSON_AddArrayToObject(me, "addresses");
    add_addr(a, s_of(st, "address"));
    add_addr(a, s_of(st, "address6"));
    copy(me, "public_key", st, "public_key");
    cJSON_AddStringToObject(me, "endpoint", s_of(st, "listen") ? s_of(st, "listen") : "?");
    cJSON_AddStringToObject(me, "state", "self");
    cJSON_AddNullToObject(me, "rtt_ms");
    cJSON_AddNumberToObject(me, "last_seen_ago_s", 0);
    cJSON_AddItemToArray(list, me);
    const cJSON *peers = cJSON_GetObjectItemCaseSensitive(st, "peers");
    if (!cJSON_IsArray(peers)) peers = NULL;
    const cJSON *p;
    cJSON_ArrayForEach(p, peers)
    {
        if (!cJSON_IsObject(p)) continue;
        cJSON *m = cJSON_CreateObject();
        copy(m, "name", p, "name");
        cJSON_AddBoolToObject(m, "self", false);
        /* A server's peers are its clients; a client's are its server and the members its
         * server introduced (the mesh: other clients, reached straight or via the server). */
        const char *kind = s_of(p, "kind");
        bool member = kind && strcmp(kind, "member") == 0;
        cJSON_AddStringToObject(m, "role", server || member ? "client" : "server");
        a = cJSON_AddArrayToObject(m, "addresses");
        add_addr(a, s_of(p, "overlay"));
        add_addr(a, s_of(p, "overlay6"));
        copy(m, "public_key", p, "public_key");
        const char *path = s_of(p, "path");
        if (member && path && strcmp(path, "via-server") == 0)
            cJSON_AddStringToObject(m, "endpoint", "via the server");
        else
            copy(m, "endpoint", p, "endpoint");
        copy(m, "state", p, "state");
        /* The daemon reports a round-trip time where it measures one. */
        copy(m, "rtt_ms", p, "rtt_ms");
        copy(m, "last_seen_ago_s", p, "last_rx_ago_s");
        cJSON_AddItemToArray(list, m);
    }
    /* A client: the other members its server listed, reached through the server. */
    const cJSON *listed = cJSON_GetObjectItemCaseSensitive(st, "session_members");
    if (!cJSON_IsArray(listed)) listed = NULL;
    cJSON_ArrayForEach(p, listed)
    {
        if (!cJSON_IsObject(p) || is_member_peer(peers, s_of(p, "public_key"))) continue;
        cJSON *m = cJSON_CreateObject();
        copy(m, "name", p, "name");
        cJSON_AddBoolToObject(m, "self", false);
        cJSON_AddStringToObject(m, "role", "client");
        a = cJSON_AddArrayToObject(m, "addresses");
        const cJSON *x, *arr = cJSON_GetObjectItemCaseSensitive(p, "addresses");
        if (!cJSON_IsArray(arr)) arr = NULL;
        cJSON_ArrayForEach(x, arr)
        {
            if (cJSON_IsString(x)) add_addr(a, x->valuestring);
        }
        copy(m, "public_key", p, "public_key");
        cJSON_AddStringToObject(m, "endpoint", "via the server");
        cJSON_AddStringToObject(m, "state", "listed");
        cJSON_AddNullToObject(m, "rtt_ms");
        cJSON_AddNullToObject(m, "last_seen_ago_s");
        copy(m, "listed_ago_s", p, "listed_ago_s");
        cJSON_AddItemToArray(list, m);
    }
    return root;
}

void members_print(const cJSON *members)
{
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(members, "members");
    printf("%-20s %-7s %-32s %-9s %-24s %-9s %-8s %s\n", "NAME", "ROLE", "ADDRESSES", "NODE KEY",
           "PATH", "STATE", "RTT", "LAST SEEN");
    const cJSON *m;
    cJSON_ArrayForEach(m, list)
    {
        char addrs[96] = "", rtt[24] = "-", seen[32] = "-";
        const cJSON *a, *arr = cJSON_GetObjectItemCaseSensitive(m, "addresses");
        cJSON_ArrayForEach(a, arr)
        {
            if (!cJSON_IsString(a)) continue;
            size_t l = strlen(addrs);
            snprintf(addrs + l, sizeof addrs - l, "%s%s", l ? "," : "", a->valuestring);
        }
        const cJSON *r = cJSON_GetObjectItemCaseSensitive(m, "rtt_ms");
        if (cJSON_IsNumber(r)) snprintf(rtt, sizeof rtt, "%.1f ms", r->valuedouble);
        const cJSON *ls = cJSON_GetObjectItemCaseSensitive(m, "last_seen_ago_s");
        const cJSON *self = cJSON_GetObjectItemCaseSensitive(m, "self");
        if (cJSON_IsTrue(self))
            snprintf(seen, sizeof seen, "(this node)");
        else if (cJSON_IsNumber(ls))
            snprintf(seen, sizeof seen, "%.1f s ago", ls->valuedouble);
        else if (cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(m, "listed_ago_s")))
            snprintf(seen, sizeof seen, "(listed %.1f s ago)",
                     cJSON_GetObjectItemCaseSensitive(m, "listed_ago_s")->valuedouble);
        const char *name = s_of(m, "name"), *pk = s_of(m, "public_key");
        char key[12] = "-";
        if (pk) snprintf(key, sizeof key, "%.8s", pk);
        printf("%-20s %-7s %-32s %-9s %-24s %-9s %-8s %s\n", name ? name : "?",
               s_of(m, "role") ? s_of(m, "role") : "?", addrs[0] ? addrs : "-", key,
               s_of(m, "endpoint") ? s_of(m, "endpoint") : "-",
               s_of(m, "state") ? s_of(m, "state") : "-", rtt, seen);
    }
}
