// SPDX-License-Identifier: MIT
// ruphinctl: asks a running ruphin-tund for its status over the control socket and shows it;
// makes session keys and prints node public keys.
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "errmsg.h"
#include "members.h"
#include "nodekey.h"
#include "ruphin/error.h"
#include "ruphin/noise.h"
#include "ruphin/seal.h"

#define SOCKET_DIR "/run/ruphin"
#define TIMEOUT_MS 2000
/* Far above any real status document; only a broken peer would send more. */
#define ANSWER_MAX (16u << 20)

enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2 };

static void usage(FILE *f)
{
    fputs("Usage: ruphinctl [-s SOCKET] status [--json]\n"
          "       ruphinctl [-s SOCKET] members [--json]\n"
          "       ruphinctl genkey [FILE]\n"
          "       ruphinctl pubkey [STATE_DIR | KEY_FILE]\n",
          f);
}

static void help(void)
{
    usage(stdout);
    fputs("Shows the state of a running ruphin-tund: its interface, holepuncher and peers.\n"
          "\n"
          "  -s, --socket SOCKET  the daemon's control socket (default: every *.sock in\n"
          "                       " SOCKET_DIR ", where ruphin-tund puts <session>.sock;\n"
          "                       ruphin-tund's own default is /run/ruphin/<session>.sock)\n"
          "  --json               print the daemon's JSON status document as it is\n"
          "  members              the members this daemon knows, itself first: name, overlay\n"
          "                       addresses, node key, path, state, RTT, last seen (with\n"
          "                       --json: {\"members\": [...]})\n"
          "  genkey [FILE]        make a new random session key (base64) for \"seal\":\n"
          "                       {\"key_file\": FILE}; written to FILE with mode 0600 (never\n"
          "                       over an existing file), or to standard output\n"
          "  pubkey [STATE_DIR]   print the node public key of a ruphin-tund (for the\n"
          "                       \"members\" of its peers' configs) from STATE_DIR/node.key,\n"
          "                       e.g. /var/lib/ruphin/office, from a key file, or from a\n"
          "                       private key in base64 on standard input (as `wg pubkey`)\n"
          "  -h, --help           show this help and exit\n"
          "  -V, --version        show the version and exit\n"
          "\n"
          "Exit status: 0 success, 1 the daemon could not be asked or answered an error,\n"
          "2 usage error.\n",
          stdout);
}

static int usage_error(const char *msg, const char *arg)
{
    fprintf(stderr, "ruphinctl: %s%s%s\n", msg, arg ? ": " : "", arg ? arg : "");
    usage(stderr);
    fputs("Try 'ruphinctl --help' for more.\n", stderr);
    return EXIT_USAGE;
}

/* The one place a failure reaches the user: "ruphinctl: MSG"; returns EXIT_FAIL. */
static int fail(const struct errmsg *e)
{
    fprintf(stderr, "ruphinctl: %s\n", e->msg);
    return EXIT_FAIL;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits for ev on fd until the deadline: 1 ready, 0 timed out, -1 error (errno set). */
static int wait_fd(int fd, short ev, int64_t deadline)
{
    for (;;) {
        int64_t left = deadline - now_ms();
        if (left <= 0) return 0;
        struct pollfd p = {.fd = fd, .events = ev};
        int rc = poll(&p, 1, (int)left);
        if (rc < 0 && errno == EINTR) continue;
        if (rc <= 0) return rc;
        return 1;
    }
}

/* Sends req and reads the answer line (or up to the daemon's close). 0 with *out (malloc'd,
 * NUL terminated), or a negative errno with err naming the socket and what failed. */
static int query(const char *path, const char *req, char **out, size_t *outlen, struct errmsg *err)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    memcpy(sa.sun_path, path, strlen(path) + 1);
    int64_t deadline = now_ms() + TIMEOUT_MS;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return errmsg_fail(err, -errno, "socket: %s", strerror(errno));
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        int e = errno;
        const char *hint = (e == ENOENT || e == ECONNREFUSED) ? " (is ruphin-tund running?)"
                           : e == EACCES ? " (run as root or as a member of the socket's group)"
                           : e == EAGAIN ? " (ruphin-tund is busy; try again)"
                                         : "";
        close(fd);
        return errmsg_fail(err, -e, "cannot connect to %s: %s%s", path, strerror(e), hint);
    }
    size_t off = 0, rlen = strlen(req);
    while (off < rlen) {
        ssize_t n = send(fd, req + off, rlen - off, MSG_NOSIGNAL);
        if (n >= 0) {
            off += (size_t)n;
            continue;
        }
        if (errno == EINTR) continue;
        if ((errno == EAGAIN || errno == EWOULDBLOCK) && wait_fd(fd, POLLOUT, deadline) > 0)
            continue;
        int e = errno;
        close(fd);
        return errmsg_fail(err, -e, "sending to %s: %s", path,
                           e == EAGAIN ? "timed out" : strerror(e));
    }
    size_t len = 0, cap = 4096;
    char *buf = malloc(cap);
    int rc = -ENOMEM;
    if (!buf) {
        errmsg_set(err, "out of memory");
        goto out;
    }
    for (;;) {
        if (len + 1 >= cap) {
            if (cap >= ANSWER_MAX) {
                rc = errmsg_fail(err, -EMSGSIZE, "answer from %s is larger than %u MiB", path,
                                 ANSWER_MAX >> 20);
                goto out;
            }
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                rc = errmsg_fail(err, -ENOMEM, "out of memory");
                goto out;
            }
            buf = nb;
            cap *= 2;
        }
        ssize_t n = recv(fd, buf + len, cap - len - 1, 0);
        if (n > 0) {
            /* The answer is one line; stop there rather than rely on the close that follows
             * (which may even come as a reset). */
            bool eol = memchr(buf + len, '\n', (size_t)n) != NULL;
            len += (size_t)n;
            if (eol) break;
            continue;
        }
        if (n == 0) break;
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            int w = wait_fd(fd, POLLIN, deadline);
            if (w > 0) continue;
            if (w == 0) {
                rc = errmsg_fail(err, -ETIMEDOUT, "no answer from %s within %d s", path,
                                 TIMEOUT_MS / 1000);
                goto out;
            }
        }
        rc = errmsg_fail(err, -errno, "reading from %s: %s", path, strerror(errno));
        goto out;
    }
    buf[len] = 0;
    if (len == 0) {
        rc = errmsg_fail(err, -ENODATA, "%s closed the connection without an answer", path);
        goto out;
    }
    close(fd);
    *out = buf;
    *outlen = len;
    return 0;
out:
    close(fd);
    free(buf);
    return rc;
}

/* Strings from the socket go to a terminal: control characters must not reach it. */
static void scrub(cJSON *j)
{
    for (; j; j = j->next) {
        if (cJSON_IsString(j) && j->valuestring) {
            for (char *p = j->valuestring; *p; p++)
                if ((unsigned char)*p < 0x20 || *p == 0x7f) *p = '?';
        }
        scrub(j->child);
    }
}

static const char *str(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) && v->valuestring ? v->valuestring : NULL;
}

static const char *str_or(const cJSON *o, const char *key, const char *def)
{
    const char *s = str(o, key);
    return s ? s : def;
}

static bool num(const cJSON *o, const char *key, double *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsNumber(v)) return false;
    *out = v->valuedouble;
    return true;
}

static double num_or(const cJSON *o, const char *key)
{
    double v = 0;
    return num(o, key, &v) ? v : 0;
}

static const char *fmt_bytes(double b, char *buf, size_t cap)
{
    static const char *const units[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    if (b < 1024) {
        snprintf(buf, cap, "%.0f B", b);
        return buf;
    }
    int u = -1;
    while (b >= 1024 && u < 5) {
        b /= 1024;
        u++;
    }
    snprintf(buf, cap, "%.2f %s", b, units[u]);
    return buf;
}

/* "1.2 s ago", "3 min 4 s ago", ...; NULL when the key is null or missing (never). */
static const char *fmt_ago(const cJSON *o, const char *key, char *buf, size_t cap)
{
    double s;
    if (!num(o, key, &s)) return NULL;
    if (s < 0) s = 0;
    if (s < 60) {
        snprintf(buf, cap, "%.1f s ago", s);
    } else if (s < 3600) {
        snprintf(buf, cap, "%d min %d s ago", (int)(s / 60), (int)s % 60);
    } else if (s < 86400) {
        snprintf(buf, cap, "%d h %d min ago", (int)(s / 3600), (int)s % 3600 / 60);
    } else if (s < 1e15) {
        long long whole = (long long)s;
        snprintf(buf, cap, "%lld d %lld h ago", whole / 86400, whole % 86400 / 3600);
    } else {
        snprintf(buf, cap, "%.0f d ago", s / 86400);
    }
    return buf;
}

/* "name value, name value" for the numbers in a drops object. */
static void print_drops(const char *indent, const cJSON *drops)
{
    if (!cJSON_IsObject(drops)) return;
    printf("%sdrops:", indent);
    const char *sep = " ";
    const cJSON *d;
    cJSON_ArrayForEach(d, drops)
    {
        if (!cJSON_IsNumber(d) || !d->string) continue;
        printf("%s%s %.0f", sep, d->string, d->valuedouble);
        sep = ", ";
    }
    printf("\n");
}

/* "name a, b" for an array of strings; "name (none)" when empty; nothing when absent. */
static void print_list(const char *name, const cJSON *arr)
{
    if (!cJSON_IsArray(arr)) return;
    printf("%s", name);
    const char *sep = "";
    const cJSON *e;
    cJSON_ArrayForEach(e, arr)
    {
        if (!cJSON_IsString(e)) continue;
        printf("%s%s", sep, e->valuestring);
        sep = ", ";
    }
    printf("%s\n", *sep ? "" : "(none)");
}

/* " over IPv4", ...: a status's path_kind in words; "" when absent (an older daemon). */
static const char *path_kind_text(const char *kind)
{
    if (!kind) return "";
    if (strcmp(kind, "direct-ipv4") == 0) return " over IPv4";
    if (strcmp(kind, "direct-ipv6") == 0) return " over IPv6";
    if (strcmp(kind, "direct-lan") == 0) return " over the LAN";
    if (strcmp(kind, "direct-mapped") == 0) return " through its router's port mapping";
    return "";
}

static void print_peer(const cJSON *p)
{
    char b1[32], b2[32], t[48];
    const char *ov = str(p, "overlay"), *ov6 = str(p, "overlay6");
    /* A peer is known by its endpoint before it has said which overlay address it uses. */
    /* On a client the server is marked; the others are the members it introduced (mesh). */
    const char *kind = str(p, "kind");
    const char *what = kind && strcmp(kind, "member") == 0   ? "member"
                       : kind && strcmp(kind, "server") == 0 ? "server"
                                                             : "peer";
    if (ov || ov6)
        printf("\n%s: %s%s%s\n", what, ov ? ov : "", ov && ov6 ? ", " : "", ov6 ? ov6 : "");
    else
        printf("\n%s: (no overlay address yet)\n", what);
    const char *pn = str(p, "name");
    if (pn) printf("  name: %s\n", pn);
    /* Sealed only (the key is absent in plaintext); null until a handshake proved it. */
    const cJSON *pk = cJSON_GetObjectItemCaseSensitive(p, "public_key");
    if (pk) printf("  public key: %s\n", str_or(p, "public_key", "(not proven yet)"));
    printf("  endpoint: %s\n", str_or(p, "endpoint", "(none)"));
    /* Absent from an older daemon's status: no line. */
    const char *path = str(p, "path");
    if (path) {
        const char *since = fmt_ago(p, "path_since_ago_s", t, sizeof t);
        const cJSON *idle = cJSON_GetObjectItemCaseSensitive(p, "idle");
        if (strcmp(path, "via-server") == 0 && cJSON_IsTrue(idle))
            printf("  path: via the server (idle: the direct path rests until traffic wakes "
                   "it)%s%s\n",
                   since ? ", changed " : "", since ? since : "");
        else if (strcmp(path, "via-server") == 0)
            printf("  path: via the server (no direct path works yet)%s%s\n",
                   since ? ", changed " : "", since ? since : "");
        else if (strcmp(path, "relayed") == 0)
            printf("  path: relayed through the holepuncher (it knows the peer as %s)%s%s\n",
                   str_or(p, "relay_endpoint", "?"), since ? ", changed " : "", since ? since : "");
        else
            printf("  path: direct%s%s%s\n", path_kind_text(str(p, "path_kind")),
                   since ? ", changed " : "", since ? since : "");
    }
    double rtt = 0;
    if (num(p, "rtt_ms", &rtt)) printf("  round trip: %.0f ms\n", rtt);
    const char *state = str_or(p, "state", "?");
    const cJSON *vd = cJSON_GetObjectItemCaseSensitive(p, "address_verdict");
    if (strcmp(state, "refused") == 0 && cJSON_IsObject(vd))
        printf("  state: refused (the server refused overlay address %s: %s%s%s%s)\n",
               str_or(vd, "address", "?"), str_or(vd, "reason", "?"),
               str(vd, "holder") ? " (member \"" : "", str_or(vd, "holder", ""),
               str(vd, "holder") ? "\")" : "");
    else
        printf("  state: %s\n", state);
    print_list("  announced: ", cJSON_GetObjectItemCaseSensitive(p, "announced"));
    print_list("  allowed ips: ", cJSON_GetObjectItemCaseSensitive(p, "allowed_ips"));
    const char *hs = fmt_ago(p, "last_handshake_ago_s", t, sizeof t);
    printf("  latest handshake: %s\n", hs ? hs : "never");
    const char *rx = fmt_ago(p, "last_rx_ago_s", t, sizeof t);
    printf("  last packet: %s\n", rx ? rx : "never");
    double rxp = 0, rxb = 0, txp = 0, txb = 0;
    num(p, "rx_packets", &rxp);
    num(p, "rx_bytes", &rxb);
    num(p, "tx_packets", &txp);
    num(p, "tx_bytes", &txb);
    printf("  transfer: %s received (%.0f packets), %s sent (%.0f packets)\n",
           fmt_bytes(rxb, b1, sizeof b1), rxp, fmt_bytes(txb, b2, sizeof b2), txp);
    print_drops("  ", cJSON_GetObjectItemCaseSensitive(p, "drops"));
}

static void print_status(const cJSON *st)
{
    char t[48];
    printf("interface: %s (%s, session \"%s\")\n", str_or(st, "interface", "?"),
           str_or(st, "role", "?"), str_or(st, "session", "?"));
    const char *a6 = str(st, "address6");
    const cJSON *au = cJSON_GetObjectItemCaseSensitive(st, "address_auto");
    printf("  address: %s%s%s%s\n",
           cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(st, "address"))
               ? "none yet (waiting for the server to assign one)"
               : str_or(st, "address", "?"),
           a6 ? ", " : "", a6 ? a6 : "",
           cJSON_IsTrue(au) && str(st, "address") ? " (assigned by the server)" : "");
    const char *nm = str(st, "name"), *asked = str(st, "name_asked");
    if (nm)
        printf("  name: %s%s%s%s\n", nm, asked ? " (asked for \"" : "", asked ? asked : "",
               asked ? "\", which another member has)" : "");
    const char *pk = str(st, "public_key");
    if (pk) printf("  public key: %s\n", pk);
    const char *fams = str(st, "listen_families");
    printf("  listening: %s%s\n", str_or(st, "listen", "?"),
           fams && strcmp(fams, "ipv4+ipv6") == 0 ? " (IPv4 and IPv6)" : "");
    const cJSON *sealed = cJSON_GetObjectItemCaseSensitive(st, "sealed");
    if (cJSON_IsBool(sealed)) printf("  sealed: %s\n", cJSON_IsTrue(sealed) ? "yes" : "no");
    double ka, pt;
    if (num(st, "keepalive_interval_s", &ka) && num(st, "peer_timeout_s", &pt))
        printf("  keepalive: every %.0f s (a peer silent for %.0f s is down)\n", ka, pt);
    const char *fp = str(st, "key_fingerprint");
    if (fp) printf("  key fingerprint: %s\n", fp);
    const cJSON *members = cJSON_GetObjectItemCaseSensitive(st, "members");
    if (cJSON_IsArray(members))
        printf("  members: %d node keys (no other node is a peer)\n", cJSON_GetArraySize(members));
    const cJSON *dns = cJSON_GetObjectItemCaseSensitive(st, "dns");
    if (cJSON_IsObject(dns)) {
        const cJSON *l = cJSON_GetObjectItemCaseSensitive(dns, "listening"), *a;
        if (!cJSON_IsArray(l)) l = NULL;
        printf("  dns: *.%s", str_or(dns, "domain", "?"));
        int n = 0;
        cJSON_ArrayForEach(a, l)
        {
            if (cJSON_IsString(a)) printf("%s%s", n++ ? ", " : " on ", a->valuestring);
        }
        if (n)
            printf(" port %.0f, %.0f queries answered\n", num_or(dns, "port"),
                   num_or(dns, "queries"));
        else
            printf(", not listening yet (no overlay address)\n");
    }
    const cJSON *hp = cJSON_GetObjectItemCaseSensitive(st, "holepuncher");
    if (cJSON_IsObject(hp)) {
        const char *addr = str_or(hp, "address", "?"), *ep = str(hp, "endpoint");
        /* The resolved endpoint is only news when the config named the host. */
        bool show_ep = ep && strcmp(ep, addr) != 0;
        const char *ago = fmt_ago(hp, "last_contact_ago_s", t, sizeof t);
        double hp_rtt = 0;
        bool has_rtt = num(hp, "rtt_ms", &hp_rtt);
        printf("  holepuncher: %s%s%s%s, %s, %s%s", addr, show_ep ? " (" : "", show_ep ? ep : "",
               show_ep ? ")" : "", str_or(hp, "state", "?"),
               ago ? "last contact " : "no contact yet", ago ? ago : "");
        if (has_rtt)
            printf(", round trip %.0f ms\n", hp_rtt);
        else
            printf("\n");
    }
    const cJSON *pm = cJSON_GetObjectItemCaseSensitive(st, "port_mapping");
    if (cJSON_IsObject(pm)) {
        const char *ext = str(pm, "external"), *gw = str(pm, "gateway"),
                   *why = str(pm, "last_error");
        double life = 0, ren = 0;
        num(pm, "lifetime_s", &life);
        num(pm, "renewals", &ren);
        if (ext)
            printf("  port mapping: %s (NAT-PMP gateway %s, lifetime %.0f s, renewed %.0f times)\n",
                   ext, gw ? gw : "?", life, ren);
        else
            printf("  port mapping: none (%s%s%s)\n", str_or(pm, "state", "?"), why ? ": " : "",
                   why ? why : "");
    }
    const cJSON *off = cJSON_GetObjectItemCaseSensitive(st, "offload");
    if (cJSON_IsObject(off)) {
        const cJSON *on = cJSON_GetObjectItemCaseSensitive(off, "enabled");
        if (cJSON_IsTrue(on))
            printf("  offload: on; %.0f TSO packets in (IPv4 %.0f, IPv6 %.0f) split into %.0f "
                   "datagrams, %.0f GSO sends; %.0f coalesced packets out (IPv4 %.0f, IPv6 %.0f) "
                   "from %.0f segments\n",
                   num_or(off, "tso4_in") + num_or(off, "tso6_in"), num_or(off, "tso4_in"),
                   num_or(off, "tso6_in"), num_or(off, "tso_segments"), num_or(off, "gso_sends"),
                   num_or(off, "coalesced4_out") + num_or(off, "coalesced6_out"),
                   num_or(off, "coalesced4_out"), num_or(off, "coalesced6_out"),
                   num_or(off, "coalesced_segments"));
        else if (cJSON_IsBool(on))
            printf("  offload: off (the TUN device took no TSO/checksum offload)\n");
    }
    const cJSON *mesh = cJSON_GetObjectItemCaseSensitive(st, "mesh");
    if (cJSON_IsObject(mesh)) {
        bool on = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(mesh, "enabled"));
        double fw = 0;
        if (num(mesh, "forwarded_packets", &fw))
            printf("  mesh: %s; %.0f introductions sent; forwarded between clients: %.0f packets "
                   "(%.0f bytes)\n",
                   on ? "on (clients talk straight to each other)" : "off (a hub)",
                   num_or(mesh, "introductions_sent"), fw, num_or(mesh, "forwarded_bytes"));
        else
            printf("  mesh: %s; %.0f introductions received\n", on ? "on" : "off",
                   num_or(mesh, "introductions_received"));
    }
    const cJSON *peers = cJSON_GetObjectItemCaseSensitive(st, "peers");
    if (!cJSON_IsArray(peers)) peers = NULL;
    const cJSON *p;
    cJSON_ArrayForEach(p, peers)
    {
        if (cJSON_IsObject(p)) print_peer(p);
    }
    const cJSON *drops = cJSON_GetObjectItemCaseSensitive(st, "drops");
    if (cJSON_IsObject(drops)) {
        printf("\n");
        print_drops("", drops);
    }
}

static int cmd_status(const char *path, bool json, bool members)
{
    char *raw = NULL; /* set by a successful query */
    size_t len = 0;
    struct errmsg err;
    if (query(path, "status\n", &raw, &len, &err) < 0) return fail(&err);
    char *nl = memchr(raw, '\n', len);
    if (nl) len = (size_t)(nl - raw); /* anything after the line is not ours to show */
    cJSON *st = cJSON_ParseWithLength(raw, len);
    if (!cJSON_IsObject(st)) {
        cJSON_Delete(st);
        free(raw);
        errmsg_set(&err, "malformed answer from %s: not a JSON object", path);
        return fail(&err);
    }
    scrub(st);
    const char *error = str(st, "error");
    int rc = EXIT_OK;
    if (error) {
        errmsg_set(&err, "ruphin-tund answered: %s", error);
        rc = fail(&err);
    }
    if (members && !error) {
        cJSON *m = members_from_status(st);
        char *text = json && m ? cJSON_PrintUnformatted(m) : NULL;
        if (text) {
            puts(text);
            cJSON_free(text);
        } else if (m) {
            members_print(m);
        }
        cJSON_Delete(m);
    } else if (json) {
        while (len > 0 && raw[len - 1] == '\r')
            len--;
        fwrite(raw, 1, len, stdout);
        fputc('\n', stdout);
    } else if (!error) {
        print_status(st);
    }
    cJSON_Delete(st);
    free(raw);
    return rc;
}

/* Writes a new key to file (never over an existing one), or to stdout when file is NULL. */
static int genkey(const char *file, struct errmsg *err)
{
    uint8_t key[RPH_KEY_LEN];
    char text[RPH_KEY_B64_LEN + 2];
    int r = rph_key_generate(key);
    if (r == 0) r = rph_key_to_base64(key, text, sizeof text);
    rph_seal_wipe(key, sizeof key);
    if (r < 0) return errmsg_fail(err, r, "genkey: %s", rph_strerror(RPH_E_NOTSUP));
    strcat(text, "\n");
    if (!file) {
        fputs(text, stdout);
        rph_seal_wipe(text, sizeof text);
        return 0;
    }
    /* O_EXCL: a typo must never overwrite the key every peer of a session shares. */
    int fd = open(file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        int e = errno;
        rph_seal_wipe(text, sizeof text);
        return errmsg_fail(err, -e, "genkey: %s: %s", file, strerror(e));
    }
    ssize_t n = write(fd, text, strlen(text));
    int werr = n == (ssize_t)strlen(text) ? 0 : (n < 0 ? errno : EIO);
    if (close(fd) < 0 && !werr) werr = errno;
    rph_seal_wipe(text, sizeof text);
    if (werr) {
        unlink(file);
        return errmsg_fail(err, -werr, "genkey: writing %s: %s", file, strerror(werr));
    }
    fprintf(stderr, "ruphinctl: wrote a new key to %s (mode 0600); copy it to every peer\n", file);
    return 0;
}

/* The node public key from a state directory (its node.key), a key file, or a private key in
 * base64 on stdin when from is NULL; printed in base64 as `wg pubkey` does. */
static int pubkey(const char *from, struct errmsg *err)
{
    struct nodekey k;
    int r = rph_noise_global_init();
    if (r < 0) return errmsg_fail(err, r, "pubkey: %s", rph_strerror(r));
    struct stat st;
    if (!from) {
        char text[128];
        size_t n = fread(text, 1, sizeof text - 1, stdin);
        text[n] = 0;
        r = rph_key_from_base64(text, k.sk);
        rph_seal_wipe(text, sizeof text);
        if (r == 0) r = rph_noise_public_key(k.pk, k.sk);
        if (r < 0)
            return errmsg_fail(err, r,
                               "pubkey: standard input is not a private key (44 characters of "
                               "base64, as in node.key)");
    } else if (stat(from, &st) == 0 && S_ISDIR(st.st_mode)) {
        bool found;
        struct errmsg why;
        if ((r = nodekey_check(from, &k, &found, &why)) < 0)
            return errmsg_fail(err, r, "pubkey: %s", why.msg);
        if (!found)
            return errmsg_fail(err, -ENOENT,
                               "pubkey: no %s/" NODEKEY_FILE " yet (ruphin-tund makes it at its "
                               "first start with a sealed config)",
                               from);
    } else {
        struct errmsg why;
        if ((r = nodekey_load(from, &k, &why)) < 0)
            return errmsg_fail(err, r, "pubkey: %s", why.msg);
    }
    char b64[NODEKEY_B64_LEN + 1];
    r = nodekey_public_base64(k.pk, b64, sizeof b64);
    nodekey_wipe(&k);
    if (r < 0) return errmsg_fail(err, r, "pubkey: %s", rph_strerror(r));
    printf("%s\n", b64);
    return 0;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* No -s: every tunnel on this machine, like `wg show`. */
static int status_all(bool json, bool members)
{
    DIR *d = opendir(SOCKET_DIR);
    char *paths[64];
    size_t n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)) && n < 64) {
        size_t l = strlen(e->d_name);
        if (l < 6 || strcmp(e->d_name + l - 5, ".sock") != 0) continue;
        if (asprintf(&paths[n], "%s/%s", SOCKET_DIR, e->d_name) < 0) break;
        n++;
    }
    if (d) closedir(d);
    if (n == 0) {
        struct errmsg err;
        errmsg_set(&err, "no control socket in " SOCKET_DIR
                         " (is ruphin-tund running? else name it with -s)");
        return fail(&err);
    }
    qsort(paths, n, sizeof paths[0], by_name);
    int rc = EXIT_OK;
    if (json && n > 1) {
        fprintf(stderr, "ruphinctl: %zu tunnels run here; choose one with -s for --json:\n", n);
        for (size_t i = 0; i < n; i++)
            fprintf(stderr, "  %s\n", paths[i]);
        rc = EXIT_USAGE;
    } else {
        for (size_t i = 0; i < n; i++) {
            if (i) putchar('\n');
            if (cmd_status(paths[i], json, members) != EXIT_OK) rc = EXIT_FAIL;
        }
    }
    for (size_t i = 0; i < n; i++)
        free(paths[i]);
    return rc;
}

int main(int argc, char **argv)
{
    const char *sock = NULL, *cmd = NULL, *arg = NULL;
    bool json = false, options_done = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!options_done && a[0] == '-' && a[1]) {
            if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
                help();
                return EXIT_OK;
            } else if (strcmp(a, "-V") == 0 || strcmp(a, "--version") == 0) {
                printf("ruphinctl %s\n", RUPHIN_VERSION);
                return EXIT_OK;
            } else if (strcmp(a, "-s") == 0 || strcmp(a, "--socket") == 0) {
                if (i + 1 >= argc) return usage_error("option needs a socket path", a);
                sock = argv[++i];
            } else if (strncmp(a, "--socket=", 9) == 0) {
                sock = a + 9;
            } else if (strncmp(a, "-s", 2) == 0) {
                sock = a + 2;
            } else if (strcmp(a, "--json") == 0) {
                json = true;
            } else if (strcmp(a, "--") == 0) {
                options_done = true;
            } else {
                return usage_error("unknown option", a);
            }
        } else if (!cmd) {
            cmd = a;
        } else if (!arg && (strcmp(cmd, "genkey") == 0 || strcmp(cmd, "pubkey") == 0)) {
            arg = a;
        } else {
            return usage_error("unexpected argument", a);
        }
    }
    if (!cmd) return usage_error("missing command", NULL);
    struct errmsg err;
    if (strcmp(cmd, "genkey") == 0) {
        if (genkey(arg, &err) < 0) return fail(&err);
        if (fflush(stdout) != 0) return EXIT_FAIL;
        return EXIT_OK;
    }
    if (strcmp(cmd, "pubkey") == 0) {
        if (pubkey(arg, &err) < 0) return fail(&err);
        if (fflush(stdout) != 0) return EXIT_FAIL;
        return EXIT_OK;
    }
    bool members = strcmp(cmd, "members") == 0;
    if (strcmp(cmd, "status") != 0 && !members) return usage_error("unknown command", cmd);
    if (!sock) return status_all(json, members);
    if (sock[0] == 0) return usage_error("empty socket path", NULL);
    if (strlen(sock) >= sizeof(((struct sockaddr_un *)0)->sun_path))
        return usage_error("socket path longer than 107 bytes", sock);
    int rc = cmd_status(sock, json, members);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        errmsg_set(&err, "writing output: %s", strerror(errno));
        return fail(&err);
    }
    return rc;
}
