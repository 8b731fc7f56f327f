// SPDX-License-Identifier: MIT
// Control socket tests on a private event_base, with raw unix clients and the ruphinctl binary.
#include <criterion/criterion.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <event2/event.h>

#include "../src/tun/control.h"

#define RUPHINCTL RUPHIN_BIN_DIR "/ruphinctl"

static const char STATUS[] =
    "{\"interface\":\"rph0\",\"role\":\"server\",\"session\":\"office\","
    "\"address\":\"10.77.0.1/24\",\"address6\":\"fd77::1/64\",\"listen\":\"0.0.0.0:41234\","
    "\"keepalive_interval_s\":25,\"peer_timeout_s\":120,"
    "\"version\":\"0.1.0\",\"holepuncher\":{\"address\":\"203.0.113.10:7700\","
    "\"state\":\"registered\",\"last_contact_ago_s\":1.2},"
    "\"peers\":[{\"overlay\":\"10.77.0.2\",\"overlay6\":\"fd77::2\","
    "\"endpoint\":\"203.0.113.2:40000\",\"state\":\"up\",\"last_handshake_ago_s\":2.1,"
    "\"address_verdict\":{\"accepted\":true,\"code\":0,\"reason\":\"accepted\","
    "\"address\":\"10.77.0.2/24\"},\"announced\":[\"10.77.0.2/24\",\"fd77::2/64\"],"
    "\"allowed_ips\":[\"10.77.0.2/32\",\"fd77::2/128\"],"
    "\"last_rx_ago_s\":0.1,\"rx_packets\":1,\"rx_bytes\":2,\"tx_packets\":3,\"tx_bytes\":4,"
    "\"drops\":{\"spoofed_source\":3}},"
    "{\"overlay\":null,\"endpoint\":\"198.51.100.7:5000\",\"state\":\"punching\","
    "\"last_handshake_ago_s\":null,\"last_rx_ago_s\":125.4,\"rx_packets\":10,"
    "\"rx_bytes\":1536,\"tx_packets\":4000,\"tx_bytes\":5242880,"
    "\"drops\":{\"spoofed_source\":0}},"
    "{\"overlay\":null,\"endpoint\":\"198.51.100.8:5001\",\"state\":\"refused\","
    "\"address_verdict\":{\"accepted\":false,\"code\":1,\"reason\":\"held by another member\","
    "\"address\":\"10.77.0.2/24\"},\"announced\":[],\"allowed_ips\":[],"
    "\"last_handshake_ago_s\":3,\"last_rx_ago_s\":0.5,\"rx_packets\":0,\"rx_bytes\":0,"
    "\"tx_packets\":0,\"tx_bytes\":0,\"drops\":{\"spoofed_source\":0}}],"
    "\"drops\":{\"no_route\":0,\"malformed\":0,\"unknown_peer\":0,\"spoofed_source\":0,"
    "\"too_big\":0,\"tun_write\":0,\"udp_send\":7}}";

static const char STATUS_TEXT[] =
    "interface: rph0 (server, session \"office\")\n"
    "  address: 10.77.0.1/24, fd77::1/64\n"
    "  listening: 0.0.0.0:41234\n"
    "  keepalive: every 25 s (a peer silent for 120 s is down)\n"
    "  holepuncher: 203.0.113.10:7700, registered, last contact 1.2 s ago\n"
    "\n"
    "peer: 10.77.0.2, fd77::2\n"
    "  endpoint: 203.0.113.2:40000\n"
    "  state: up\n"
    "  announced: 10.77.0.2/24, fd77::2/64\n"
    "  allowed ips: 10.77.0.2/32, fd77::2/128\n"
    "  latest handshake: 2.1 s ago\n"
    "  last packet: 0.1 s ago\n"
    "  transfer: 2 B received (1 packets), 4 B sent (3 packets)\n"
    "  drops: spoofed_source 3\n"
    "\n"
    "peer: (no overlay address yet)\n"
    "  endpoint: 198.51.100.7:5000\n"
    "  state: punching\n"
    "  latest handshake: never\n"
    "  last packet: 2 min 5 s ago\n"
    "  transfer: 1.50 KiB received (10 packets), 5.00 MiB sent (4000 packets)\n"
    "  drops: spoofed_source 0\n"
    "\n"
    "peer: (no overlay address yet)\n"
    "  endpoint: 198.51.100.8:5001\n"
    "  state: refused (the server refused overlay address 10.77.0.2/24: held by another member)\n"
    "  announced: (none)\n"
    "  allowed ips: (none)\n"
    "  latest handshake: 3.0 s ago\n"
    "  last packet: 0.5 s ago\n"
    "  transfer: 0 B received (0 packets), 0 B sent (0 packets)\n"
    "  drops: spoofed_source 0\n"
    "\n"
    "drops: no_route 0, malformed 0, unknown_peer 0, spoofed_source 0, too_big 0, tun_write 0, "
    "udp_send 7\n";

static char dir[64];
static char sock_path[100];
static struct event_base *base;

struct daemon_state {
    const char *doc; /* what the status function returns; NULL for "unavailable" */
    int calls;
};

static char *status_fn(void *ctx)
{
    struct daemon_state *d = ctx;
    d->calls++;
    return d->doc ? strdup(d->doc) : NULL;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void setup(void)
{
    strcpy(dir, "/tmp/test_control_XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    snprintf(sock_path, sizeof sock_path, "%s/tund.sock", dir);
    base = event_base_new();
    cr_assert_not_null(base);
    signal(SIGPIPE, SIG_IGN);
}

static void teardown(void)
{
    event_base_free(base);
    nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

TestSuite(control, .init = setup, .fini = teardown, .timeout = 30);

/* Collects what a descriptor yields until EOF, while the loop also serves the socket. */
struct sink {
    int fd;
    struct event *ev;
    char buf[65536];
    size_t len;
    bool eof;
    int *open_sinks;
};

static void sink_cb(evutil_socket_t fd, short what, void *arg)
{
    struct sink *s = arg;
    if (what & EV_TIMEOUT) {
        event_base_loopexit(base, NULL);
        return;
    }
    ssize_t n = read(fd, s->buf + s->len, sizeof s->buf - 1 - s->len);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
    if (n > 0) {
        s->len += (size_t)n;
        if (s->len < sizeof s->buf - 1) return;
    }
    s->eof = true;
    event_del(s->ev);
    if (--*s->open_sinks == 0) event_base_loopexit(base, NULL);
}

/* Runs the loop until every sink reached EOF (or 10 s passed). */
static void drain(struct sink *sinks, size_t n)
{
    int open_sinks = (int)n;
    struct timeval limit = {.tv_sec = 10};
    for (size_t i = 0; i < n; i++) {
        sinks[i].open_sinks = &open_sinks;
        fcntl(sinks[i].fd, F_SETFL, O_NONBLOCK);
        sinks[i].ev = event_new(base, sinks[i].fd, EV_READ | EV_PERSIST, sink_cb, &sinks[i]);
        event_add(sinks[i].ev, &limit);
    }
    event_base_dispatch(base);
    for (size_t i = 0; i < n; i++) {
        event_free(sinks[i].ev);
        sinks[i].buf[sinks[i].len] = 0;
        cr_assert(sinks[i].eof, "no EOF within 10 s; got so far: %s", sinks[i].buf);
    }
}

static struct sockaddr_un sun_of(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    cr_assert_lt(strlen(path), sizeof sa.sun_path);
    memcpy(sa.sun_path, path, strlen(path) + 1);
    return sa;
}

static int connect_to(const char *path)
{
    struct sockaddr_un sa = sun_of(path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    cr_assert_geq(fd, 0);
    cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0, "connect %s: %s", path,
                 strerror(errno));
    return fd;
}

/* Sends req (len bytes) as a raw client, optionally half-closes, and returns the answer. */
static char *talk(const char *req, size_t len, bool shut_wr)
{
    int fd = connect_to(sock_path);
    cr_assert_eq(send(fd, req, len, MSG_NOSIGNAL), (ssize_t)len);
    if (shut_wr) shutdown(fd, SHUT_WR);
    struct sink s = {.fd = fd};
    drain(&s, 1);
    close(fd);
    return strdup(s.buf);
}

struct ctl_result {
    int status; /* exit code, or -1 when killed */
    char out[65536], err[65536];
};

/* Runs ruphinctl with args while the loop serves the control socket. */
static void run_ctl(struct ctl_result *r, const char *const *args)
{
    cr_assert_eq(access(RUPHINCTL, X_OK), 0, RUPHINCTL " is missing: build the ruphinctl target");
    int o[2], e[2];
    cr_assert_eq(pipe(o), 0);
    cr_assert_eq(pipe(e), 0);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        dup2(o[1], 1);
        dup2(e[1], 2);
        close(o[0]);
        close(e[0]);
        char *argv[16] = {"ruphinctl"};
        int n = 1;
        for (; args[n - 1] && n < 15; n++)
            argv[n] = (char *)args[n - 1];
        argv[n] = NULL;
        execv(RUPHINCTL, argv);
        _exit(127);
    }
    close(o[1]);
    close(e[1]);
    struct sink s[2] = {{.fd = o[0]}, {.fd = e[0]}};
    drain(s, 2);
    close(o[0]);
    close(e[0]);
    int st;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    r->status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    memcpy(r->out, s[0].buf, s[0].len + 1);
    memcpy(r->err, s[1].buf, s[1].len + 1);
}

static struct control *start(struct daemon_state *d)
{
    struct errmsg err = {""};
    struct control *c = control_new(base, sock_path, status_fn, d, &err);
    cr_assert_not_null(c, "control_new: %s", err.msg);
    return c;
}

Test(control, status_request_gets_json_line)
{
    struct daemon_state d = {.doc = STATUS};
    struct control *c = start(&d);
    char *a = talk("status\n", 7, false);
    char want[sizeof STATUS + 1];
    snprintf(want, sizeof want, "%s\n", STATUS);
    cr_assert_str_eq(a, want);
    cr_assert_eq(d.calls, 1);
    free(a);
    /* CRLF and a request without newline before EOF work too. */
    a = talk("status\r\n", 8, false);
    cr_assert_str_eq(a, want);
    free(a);
    a = talk("status", 6, true);
    cr_assert_str_eq(a, want);
    free(a);
    control_free(c);
}

static void assert_error_answer(const char *a, const char *want)
{
    size_t n = strlen(a);
    cr_assert(n > 0 && a[n - 1] == '\n', "answer is not one line: %s", a);
    cJSON *j = cJSON_Parse(a);
    cr_assert_not_null(j, "answer is not JSON: %s", a);
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(j, "error");
    cr_assert(cJSON_IsString(e), "no \"error\": %s", a);
    cr_assert(strstr(e->valuestring, want), "error lacks \"%s\": %s", want, a);
    cJSON_Delete(j);
}

Test(control, junk_gets_error_json)
{
    struct daemon_state d = {.doc = STATUS};
    struct control *c = start(&d);
    char *a = talk("stats\n", 6, false);
    assert_error_answer(a, "unknown request \"stats\"");
    free(a);
    /* Bytes that are not text must not break the JSON of the answer. */
    a = talk("\x01\xff\"\\x\n", 6, false);
    assert_error_answer(a, "unknown request \"??\"\\x\"");
    free(a);
    a = talk("\n", 1, false);
    assert_error_answer(a, "empty request");
    free(a);
    a = talk("status\0x\n", 9, false);
    assert_error_answer(a, "NUL");
    free(a);
    cr_assert_eq(d.calls, 0);
    control_free(c);
}

Test(control, long_request_is_cut_off)
{
    struct daemon_state d = {.doc = STATUS};
    struct control *c = start(&d);
    char big[4096];
    memset(big, 'a', sizeof big);
    /* The client's 4 KiB fit the socket buffer; the daemon reads 256 and answers. */
    char *a = talk(big, sizeof big, false);
    assert_error_answer(a, "longer than 256 bytes");
    free(a);
    /* 255 characters and the newline are still a request (an unknown one). */
    memset(big, 'a', 255);
    big[255] = '\n';
    a = talk(big, 256, false);
    assert_error_answer(a, "unknown request");
    free(a);
    control_free(c);
}

Test(control, status_unavailable)
{
    struct daemon_state d = {.doc = NULL};
    struct control *c = start(&d);
    char *a = talk("status\n", 7, false);
    assert_error_answer(a, "status is unavailable");
    free(a);
    control_free(c);
}

Test(control, socket_mode_parent_dir_and_cleanup)
{
    struct daemon_state d = {.doc = STATUS};
    snprintf(sock_path, sizeof sock_path, "%s/run/ruphin/office.sock", dir);
    mode_t old = umask(077); /* the modes must not depend on the daemon's umask */
    struct control *c = start(&d);
    umask(old);
    struct stat st;
    char parent[128];
    snprintf(parent, sizeof parent, "%s/run/ruphin", dir);
    cr_assert_eq(stat(parent, &st), 0);
    cr_assert(S_ISDIR(st.st_mode));
    cr_assert_eq(st.st_mode & 07777, 0755, "parent mode %o", st.st_mode & 07777);
    cr_assert_eq(lstat(sock_path, &st), 0);
    cr_assert(S_ISSOCK(st.st_mode));
    cr_assert_eq(st.st_mode & 07777, 0660, "socket mode %o", st.st_mode & 07777);
    control_free(c);
    cr_assert_eq(lstat(sock_path, &st), -1, "socket file left behind");
    cr_assert_eq(errno, ENOENT);
}

Test(control, stale_socket_is_replaced)
{
    /* A socket file whose daemon is gone: bound, never listening, closed. */
    struct sockaddr_un sa = sun_of(sock_path);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    close(fd);
    struct stat st;
    cr_assert_eq(lstat(sock_path, &st), 0);

    struct daemon_state d = {.doc = STATUS};
    struct control *c = start(&d);
    char *a = talk("status\n", 7, false);
    cr_assert_eq(strncmp(a, STATUS, sizeof STATUS - 1), 0, "%s", a);
    free(a);
    control_free(c);
}

Test(control, live_socket_is_not_taken_over)
{
    struct daemon_state d = {.doc = STATUS};
    struct control *c = start(&d);
    struct errmsg err = {""};
    struct control *c2 = control_new(base, sock_path, status_fn, &d, &err);
    cr_assert_null(c2);
    char want[256];
    snprintf(want, sizeof want, "control socket %s is in use by another ruphin-tund", sock_path);
    cr_assert_str_eq(err.msg, want);
    /* The first daemon still answers on its socket. */
    char *a = talk("status\n", 7, false);
    cr_assert_eq(strncmp(a, STATUS, sizeof STATUS - 1), 0, "%s", a);
    free(a);
    control_free(c);
}

Test(control, refuses_path_that_is_not_a_socket)
{
    FILE *f = fopen(sock_path, "w");
    fputs("precious\n", f);
    fclose(f);
    struct daemon_state d = {.doc = STATUS};
    struct errmsg err = {""};
    cr_assert_null(control_new(base, sock_path, status_fn, &d, &err));
    cr_assert(strstr(err.msg, "exists and is not a socket"), "%s", err.msg);
    struct stat st;
    cr_assert_eq(stat(sock_path, &st), 0);
    cr_assert(S_ISREG(st.st_mode), "the file was removed");
}

Test(control, bad_paths)
{
    struct daemon_state d = {.doc = STATUS};
    struct errmsg err = {""};
    char path[200];
    cr_assert_null(control_new(base, "relative.sock", status_fn, &d, &err));
    cr_assert(strstr(err.msg, "absolute path"), "%s", err.msg);
    snprintf(path, sizeof path, "%s/%0120d", dir, 0);
    cr_assert_null(control_new(base, path, status_fn, &d, &err));
    cr_assert(strstr(err.msg, "under 108 bytes"), "%s", err.msg);
    /* A parent that is a file. */
    char file[128];
    snprintf(file, sizeof file, "%s/plain", dir);
    fclose(fopen(file, "w"));
    snprintf(path, sizeof path, "%s/plain/x.sock", dir);
    cr_assert_null(control_new(base, path, status_fn, &d, &err));
    cr_assert(strstr(err.msg, "control socket"), "%s", err.msg);
}

Test(control, many_clients_at_once)
{
    struct daemon_state d = {.doc = STATUS};
    struct control *c = start(&d);
    enum { N = CONTROL_MAX_CLIENTS + 8 };
    struct sink s[N];
    memset(s, 0, sizeof s);
    /* All connect before any sends, so the first CONTROL_MAX_CLIENTS hold every slot. The
     * loop runs between connects: the listen backlog is smaller than N. */
    for (int i = 0; i < N; i++) {
        s[i].fd = connect_to(sock_path);
        event_base_loop(base, EVLOOP_NONBLOCK);
    }
    for (int i = 0; i < N; i++)
        send(s[i].fd, "status\n", 7, MSG_NOSIGNAL);
    drain(s, N);
    int ok = 0;
    for (int i = 0; i < N; i++) {
        if (strncmp(s[i].buf, STATUS, sizeof STATUS - 1) == 0)
            ok++;
        else
            assert_error_answer(s[i].buf, "busy");
        close(s[i].fd);
    }
    cr_assert_eq(ok, CONTROL_MAX_CLIENTS, "%d of %d served", ok, N);
    /* Slots free again once answered. */
    char *a = talk("status\n", 7, false);
    cr_assert_eq(strncmp(a, STATUS, sizeof STATUS - 1), 0, "%s", a);
    free(a);
    control_free(c);
}

Test(control, silent_client_is_dropped_and_others_served)
{
    struct daemon_state d = {.doc = STATUS};
    struct control *c = start(&d);
    int idle = connect_to(sock_path); /* never sends: must not hold up the next client */
    char *a = talk("status\n", 7, false);
    cr_assert_eq(strncmp(a, STATUS, sizeof STATUS - 1), 0, "%s", a);
    free(a);
    close(idle);
    control_free(c); /* frees the idle client too (ASan would see a leak otherwise) */
}

Test(control, idle_client_times_out)
{
    struct daemon_state d = {.doc = STATUS};
    struct control *c = start(&d);
    struct sink s = {.fd = connect_to(sock_path)};
    struct timeval t0, t1;
    gettimeofday(&t0, NULL);
    drain(&s, 1); /* EOF arrives when the daemon gives up on us */
    gettimeofday(&t1, NULL);
    double took = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_usec - t0.tv_usec) / 1e6;
    cr_assert_str_eq(s.buf, "");
    cr_assert(took > CONTROL_CLIENT_TIMEOUT_S - 0.5 && took < CONTROL_CLIENT_TIMEOUT_S + 2,
              "dropped after %.1f s", took);
    close(s.fd);
    control_free(c);
}

Test(control, half_sent_request_times_out)
{
    /* Part of a request and then silence holds a slot only for the timeout. */
    struct daemon_state d = {.doc = STATUS};
    struct control *c = start(&d);
    struct sink s = {.fd = connect_to(sock_path)};
    cr_assert_eq(send(s.fd, "sta", 3, MSG_NOSIGNAL), 3);
    struct timeval t0, t1;
    gettimeofday(&t0, NULL);
    drain(&s, 1);
    gettimeofday(&t1, NULL);
    double took = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_usec - t0.tv_usec) / 1e6;
    cr_assert_str_eq(s.buf, "");
    cr_assert(took > CONTROL_CLIENT_TIMEOUT_S - 0.5 && took < CONTROL_CLIENT_TIMEOUT_S + 2,
              "dropped after %.1f s", took);
    cr_assert_eq(d.calls, 0);
    close(s.fd);
    control_free(c);
}

Test(control, request_in_pieces)
{
    struct daemon_state d = {.doc = STATUS};
    struct control *c = start(&d);
    int fd = connect_to(sock_path);
    const char *parts[] = {"s", "ta", "tus", "\n"};
    for (size_t i = 0; i < 4; i++) {
        cr_assert_eq(send(fd, parts[i], strlen(parts[i]), MSG_NOSIGNAL), (ssize_t)strlen(parts[i]));
        event_base_loop(base, EVLOOP_NONBLOCK); /* the daemon sees each piece on its own */
    }
    struct sink s = {.fd = fd};
    drain(&s, 1);
    cr_assert_eq(strncmp(s.buf, STATUS, sizeof STATUS - 1), 0, "%s", s.buf);
    cr_assert_eq(d.calls, 1);
    close(fd);
    control_free(c);
}

Test(control, burst_of_connections_before_the_loop_runs)
{
    /* More connections wait at once than the listener takes in one go: it yields and comes
     * back, and every one is served. */
    struct daemon_state d = {.doc = STATUS};
    struct control *c = start(&d);
    enum { N = 16 };
    struct sink s[N];
    memset(s, 0, sizeof s);
    for (int i = 0; i < N; i++) {
        s[i].fd = connect_to(sock_path);
        send(s[i].fd, "status\n", 7, MSG_NOSIGNAL);
    }
    drain(s, N);
    for (int i = 0; i < N; i++) {
        cr_assert_eq(strncmp(s[i].buf, STATUS, sizeof STATUS - 1), 0, "client %d: %s", i, s[i].buf);
        close(s[i].fd);
    }
    char *a = talk("status\n", 7, false);
    cr_assert_eq(strncmp(a, STATUS, sizeof STATUS - 1), 0, "%s", a);
    free(a);
    control_free(c);
}

Test(control, client_leaving_before_its_answer)
{
    /* An answer larger than the socket buffers, to a client already gone: the write fails
     * with EPIPE, which must neither kill the process (SIGPIPE) nor keep the slot. */
    signal(SIGPIPE, SIG_DFL);
    size_t big = 4 << 20;
    char *doc = malloc(big + 16);
    cr_assert_not_null(doc);
    memcpy(doc, "{\"pad\":\"", 8);
    memset(doc + 8, 'x', big);
    memcpy(doc + 8 + big, "\"}", 3);
    struct daemon_state d = {.doc = doc};
    struct control *c = start(&d);
    for (int i = 0; i < CONTROL_MAX_CLIENTS + 1; i++) {
        int fd = connect_to(sock_path);
        cr_assert_eq(send(fd, "status\n", 7, MSG_NOSIGNAL), 7);
        event_base_loop(base, EVLOOP_NONBLOCK);
        close(fd);
        event_base_loop(base, EVLOOP_NONBLOCK);
    }
    /* Every slot is free again: the next client is served, not told "busy". */
    d.doc = STATUS;
    char *a = talk("status\n", 7, false);
    cr_assert_eq(strncmp(a, STATUS, sizeof STATUS - 1), 0, "%s", a);
    free(a);
    control_free(c);
    free(doc);
}

Test(control, answer_is_one_line)
{
    /* A pretty-printed document still goes out as a single line. */
    struct daemon_state d = {.doc = "{\n\t\"interface\":\t\"rph0\",\r\n\t\"note\": \"a\\nb\"\n}"};
    struct control *c = start(&d);
    char *a = talk("status\n", 7, false);
    size_t n = strlen(a);
    cr_assert(n > 0 && a[n - 1] == '\n' && !memchr(a, '\n', n - 1), "not one line: %s", a);
    cJSON *j = cJSON_Parse(a);
    cr_assert_not_null(j, "%s", a);
    cr_assert_str_eq(cJSON_GetObjectItemCaseSensitive(j, "note")->valuestring, "a\nb");
    cJSON_Delete(j);
    free(a);
    control_free(c);
}

Test(control, ruphinctl_json)
{
    struct daemon_state d = {.doc = STATUS};
    struct control *c = start(&d);
    struct ctl_result *r = malloc(sizeof *r);
    run_ctl(r, (const char *const[]){"-s", sock_path, "status", "--json", NULL});
    cr_assert_eq(r->status, 0, "exit %d: %s", r->status, r->err);
    char want[sizeof STATUS + 1];
    snprintf(want, sizeof want, "%s\n", STATUS);
    cr_assert_str_eq(r->out, want);
    cr_assert_str_eq(r->err, "");
    free(r);
    control_free(c);
}

Test(control, ruphinctl_plain)
{
    struct daemon_state d = {.doc = STATUS};
    struct control *c = start(&d);
    struct ctl_result *r = malloc(sizeof *r);
    run_ctl(r, (const char *const[]){"status", "-s", sock_path, NULL});
    cr_assert_eq(r->status, 0, "exit %d: %s", r->status, r->err);
    cr_assert_str_eq(r->out, STATUS_TEXT);
    free(r);
    control_free(c);
}

Test(control, ruphinctl_minimal_and_odd_documents)
{
    /* Fields missing or of the wrong type are shown as unknown, never crash. */
    struct daemon_state d = {
        .doc = "{\"interface\":7,\"peers\":{\"x\":1},\"holepuncher\":{\"state\":\"joining\","
               "\"last_contact_ago_s\":null},\"drops\":[1,2]}"};
    struct control *c = start(&d);
    struct ctl_result *r = malloc(sizeof *r);
    run_ctl(r, (const char *const[]){"-s", sock_path, "status", NULL});
    cr_assert_eq(r->status, 0, "exit %d: %s", r->status, r->err);
    cr_assert_str_eq(r->out, "interface: ? (?, session \"?\")\n"
                             "  address: ?\n"
                             "  listening: ?\n"
                             "  holepuncher: ?, joining, no contact yet\n");
    free(r);
    control_free(c);
}

Test(control, ruphinctl_malformed_answer)
{
    struct daemon_state d = {.doc = "{\"interface\": \"rph0\", "};
    struct control *c = start(&d);
    struct ctl_result *r = malloc(sizeof *r);
    run_ctl(r, (const char *const[]){"-s", sock_path, "status", NULL});
    cr_assert_eq(r->status, 1);
    cr_assert(strstr(r->err, "malformed answer"), "%s", r->err);
    cr_assert_str_eq(r->out, "");
    run_ctl(r, (const char *const[]){"-s", sock_path, "status", "--json", NULL});
    cr_assert_eq(r->status, 1);
    cr_assert(strstr(r->err, "malformed answer"), "%s", r->err);
    free(r);
    control_free(c);
}

Test(control, ruphinctl_daemon_error)
{
    struct daemon_state d = {.doc = NULL};
    struct control *c = start(&d);
    struct ctl_result *r = malloc(sizeof *r);
    run_ctl(r, (const char *const[]){"-s", sock_path, "status", NULL});
    cr_assert_eq(r->status, 1);
    cr_assert(strstr(r->err, "ruphin-tund answered: status is unavailable"), "%s", r->err);
    free(r);
    control_free(c);
}

Test(control, ruphinctl_no_daemon)
{
    struct ctl_result *r = malloc(sizeof *r);
    run_ctl(r, (const char *const[]){"-s", sock_path, "status", NULL});
    cr_assert_eq(r->status, 1);
    char want[256];
    snprintf(want, sizeof want,
             "ruphinctl: cannot connect to %s: No such file or directory (is ruphin-tund "
             "running?)\n",
             sock_path);
    cr_assert_str_eq(r->err, want);
    free(r);
}

Test(control, ruphinctl_times_out)
{
    /* Listening, but nobody ever answers. */
    struct sockaddr_un sa = sun_of(sock_path);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    cr_assert_eq(listen(fd, 4), 0);
    struct ctl_result *r = malloc(sizeof *r);
    run_ctl(r, (const char *const[]){"-s", sock_path, "status", NULL});
    close(fd);
    cr_assert_eq(r->status, 1);
    cr_assert(strstr(r->err, "no answer from"), "%s", r->err);
    cr_assert(strstr(r->err, "within 2 s"), "%s", r->err);
    free(r);
}

/* A server that answers but keeps the connection open. */
static int held_fd = -1;

static void answer_and_hold(evutil_socket_t lfd, short what, void *arg)
{
    (void)what;
    (void)arg;
    held_fd = accept(lfd, NULL, NULL);
    char line[sizeof STATUS + 1];
    snprintf(line, sizeof line, "%s\n", STATUS);
    send(held_fd, line, strlen(line), MSG_NOSIGNAL);
}

Test(control, ruphinctl_does_not_wait_for_close)
{
    struct sockaddr_un sa = sun_of(sock_path);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    cr_assert_eq(listen(fd, 4), 0);
    struct event *ev = event_new(base, fd, EV_READ, answer_and_hold, NULL);
    event_add(ev, NULL);
    struct ctl_result *r = malloc(sizeof *r);
    struct timeval t0, t1;
    gettimeofday(&t0, NULL);
    run_ctl(r, (const char *const[]){"-s", sock_path, "status", NULL});
    gettimeofday(&t1, NULL);
    cr_assert_eq(r->status, 0, "exit %d: %s", r->status, r->err);
    cr_assert_str_eq(r->out, STATUS_TEXT);
    cr_assert_lt(t1.tv_sec - t0.tv_sec, 2, "waited for the close");
    free(r);
    event_free(ev);
    close(held_fd);
    close(fd);
}

Test(control, ruphinctl_usage)
{
    struct ctl_result *r = malloc(sizeof *r);
    run_ctl(r, (const char *const[]){"--version", NULL});
    cr_assert_eq(r->status, 0);
    cr_assert_str_eq(r->out, "ruphinctl " RUPHIN_VERSION "\n");
    run_ctl(r, (const char *const[]){"--help", NULL});
    cr_assert_eq(r->status, 0);
    cr_assert(strstr(r->out, "Usage: ruphinctl [-s SOCKET] status [--json]"), "%s", r->out);
    const char *const *bad[] = {
        (const char *const[]){NULL},
        (const char *const[]){"show", NULL},
        (const char *const[]){"status", "extra", NULL},
        (const char *const[]){"--frobnicate", "status", NULL},
        (const char *const[]){"status", "-s", NULL},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        run_ctl(r, bad[i]);
        cr_expect_eq(r->status, 2, "case %zu: exit %d", i, r->status);
        cr_expect(strstr(r->err, "Usage:"), "case %zu: %s", i, r->err);
        cr_expect_str_eq(r->out, "", "case %zu", i);
    }
    free(r);
}
