// SPDX-License-Identifier: MIT
// holepuncherd as a program: the real binary on a loopback port, driven by the library's
// passive peers and by raw datagrams, plus its options, signals and exit codes.
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ruphin/error.h"
#include "ruphin/passive.h"

#define HPD_BIN RUPHIN_BIN_DIR "/holepuncherd"

static char dir[64];
static char cfg_path[128], log_path[128], out_path[128], err_path[128];
static pid_t child = -1;
static uint16_t port;

/* ---- helpers ---- */

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* A port that was free a moment ago; start_daemon retries if someone takes it meanwhile. */
static uint16_t free_port(void)
{
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    cr_assert_eq(bind(fd, (struct sockaddr *)&sin, sizeof sin), 0);
    socklen_t sl = sizeof sin;
    getsockname(fd, (struct sockaddr *)&sin, &sl);
    close(fd);
    return ntohs(sin.sin_port);
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "%s: %s", path, strerror(errno));
    fputs(text, f);
    fclose(f);
}

/* The whole file as a string (empty when missing); the caller frees it. */
static char *read_text(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) return strdup("");
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    size_t got;
    while ((got = fread(buf + n, 1, cap - n - 1, f)) > 0) {
        n += got;
        if (cap - n < 2) buf = realloc(buf, cap *= 2);
    }
    fclose(f);
    buf[n] = 0;
    return buf;
}

static bool file_contains(const char *path, const char *needle)
{
    char *t = read_text(path);
    bool found = strstr(t, needle) != NULL;
    free(t);
    return found;
}

static size_t count_in_file(const char *path, const char *needle)
{
    char *t = read_text(path);
    size_t n = 0;
    for (const char *p = t; (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    free(t);
    return n;
}

static bool wait_for_log(const char *needle, int timeout_ms)
{
    for (int waited = 0; waited <= timeout_ms; waited += 20) {
        if (file_contains(log_path, needle)) return true;
        sleep_ms(20);
    }
    return false;
}

/* fork/exec with stdout and stderr to files. The child dies with us even if we crash. */
static pid_t spawn(char *const argv[], const char *stdout_path, const char *stderr_path)
{
    pid_t parent = getpid();
    pid_t pid = fork();
    cr_assert_geq(pid, 0, "fork: %s", strerror(errno));
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) _exit(127);
        int in = open("/dev/null", O_RDONLY);
        int out = open(stdout_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int err = open(stderr_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (in < 0 || out < 0 || err < 0) _exit(127);
        dup2(in, 0);
        dup2(out, 1);
        dup2(err, 2);
        execv(argv[0], argv);
        _exit(127);
    }
    return pid;
}

/* 0 with *status when pid exited within timeout_ms, -1 if it is still running. */
static int wait_exit(pid_t pid, int timeout_ms, int *status)
{
    for (int waited = 0; waited <= timeout_ms; waited += 10) {
        pid_t r = waitpid(pid, status, WNOHANG);
        if (r == pid) return 0;
        if (r < 0) return -1;
        sleep_ms(10);
    }
    return -1;
}

static bool child_alive(void)
{
    int status;
    return child > 0 && waitpid(child, &status, WNOHANG) == 0;
}

static int udp_socket(void)
{
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    cr_assert_geq(fd, 0);
    return fd;
}

static void send_to_hpd(int fd, const void *buf, size_t len)
{
    struct sockaddr_in sin = {
        .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    cr_assert_eq(sendto(fd, buf, len, 0, (struct sockaddr *)&sin, sizeof sin), (ssize_t)len,
                 "sendto: %s", strerror(errno));
}

/* One datagram within timeout_ms: its length, or -1 if none came. */
static ssize_t recv_within(int fd, void *buf, size_t cap, int timeout_ms)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (poll(&p, 1, timeout_ms) <= 0) return -1;
    return recv(fd, buf, cap, MSG_DONTWAIT);
}

/* Sends msg and expects exactly want back. */
static void expect_reply(const uint8_t *msg, size_t len, const uint8_t *want, size_t want_len)
{
    int fd = udp_socket();
    uint8_t buf[256];
    send_to_hpd(fd, msg, len);
    ssize_t n = recv_within(fd, buf, sizeof buf, 2000);
    close(fd);
    cr_assert_eq(n, (ssize_t)want_len, "answer of %zd bytes, expected %zu", n, want_len);
    cr_assert_arr_eq(buf, want, want_len);
}

static const uint8_t hello_req[] = {0x00, 0x04, 0x00, 0x08};
static const uint8_t hello_resp[] = {0x00, 0x04, 0x00, 0x09};

/* HelloReq gets HelloResp: the daemon is up and answering. */
static bool answers_hello(int timeout_ms)
{
    int fd = udp_socket();
    uint8_t buf[64];
    bool ok = false;
    for (int waited = 0; waited <= timeout_ms && !ok; waited += 100) {
        send_to_hpd(fd, hello_req, sizeof hello_req);
        ssize_t n = recv_within(fd, buf, sizeof buf, 100);
        ok = n == 4 && memcmp(buf, hello_resp, 4) == 0;
    }
    close(fd);
    return ok;
}

static void write_config(const char *extra)
{
    char text[512];
    snprintf(text, sizeof text, "{\"listen\": [\"127.0.0.1:%u\"]%s%s}\n", port, extra ? ", " : "",
             extra ? extra : "");
    write_file(cfg_path, text);
}

/* Starts holepuncherd on a free loopback port with `extra` config keys and waits until it
 * answers HelloReq. Retries on another port if one was taken between probe and bind. */
static void start_daemon(const char *extra)
{
    for (int attempt = 0; attempt < 5; attempt++) {
        port = free_port();
        write_config(extra);
        char *argv[] = {HPD_BIN, "-c", cfg_path, NULL};
        child = spawn(argv, out_path, log_path);
        for (int waited = 0; waited < 10000; waited += 100) {
            int status;
            if (waitpid(child, &status, WNOHANG) == child) {
                child = -1;
                break;
            }
            if (answers_hello(100)) return;
        }
        if (child > 0) {
            kill(child, SIGKILL);
            waitpid(child, NULL, 0);
            child = -1;
        }
    }
    char *log = read_text(log_path);
    cr_assert_fail("holepuncherd did not start; its log:\n%s", log);
}

/* SIGTERM, and the exit status. */
static int stop_daemon(void)
{
    int status = -1;
    cr_assert_eq(kill(child, SIGTERM), 0);
    int r = wait_exit(child, 10000, &status);
    if (r < 0) {
        kill(child, SIGKILL);
        waitpid(child, NULL, 0);
    }
    child = -1;
    cr_assert_eq(r, 0, "holepuncherd did not stop on SIGTERM");
    return status;
}

static void setup(void)
{
    strcpy(dir, "/tmp/hpd-itest-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    snprintf(cfg_path, sizeof cfg_path, "%s/holepuncherd.json", dir);
    snprintf(log_path, sizeof log_path, "%s/stderr.log", dir);
    snprintf(out_path, sizeof out_path, "%s/stdout.log", dir);
    snprintf(err_path, sizeof err_path, "%s/other.log", dir);
    child = -1;
}

/* Runs even when an assertion failed: never leave a daemon behind. */
static void teardown(void)
{
    if (child > 0) {
        kill(child, SIGKILL);
        waitpid(child, NULL, 0);
        child = -1;
    }
    const char *files[] = {cfg_path, log_path, out_path, err_path};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
        unlink(files[i]);
    rmdir(dir);
}

TestSuite(hpd, .init = setup, .fini = teardown, .timeout = 60);

/* ---- the protocol through the daemon ---- */

static atomic_int server_stop;
static char server_got[64];
static atomic_int server_got_len = -1;

/* The server's side: answers the client's punch (inside wait_for_data) and echoes payloads. */
static void *echo_server(void *arg)
{
    struct rph_passive_server *s = arg;
    uint8_t buf[2048], reply[2100];
    while (!atomic_load(&server_stop)) {
        struct rph_addr from;
        ssize_t n = rph_passive_server_wait_for_data(s, 100, buf, sizeof buf, &from);
        if (n < 0) continue;
        if (atomic_load(&server_got_len) < 0 && (size_t)n <= sizeof server_got) {
            memcpy(server_got, buf, (size_t)n);
            atomic_store(&server_got_len, (int)n);
        }
        memcpy(reply, "echo:", 5);
        memcpy(reply + 5, buf, (size_t)n);
        rph_passive_server_send(s, &from, reply, (size_t)n + 5);
    }
    return NULL;
}

static struct rph_peer_config peer_cfg(enum rph_role role, const char *session)
{
    struct rph_peer_config c;
    rph_peer_config_defaults(&c, role);
    c.holepuncher = (struct rph_addr){.family = 4, .ip = {127, 0, 0, 1}, .port = port};
    c.handshake_timeout_ms = 5000;
    rph_session_set(&c.session, session, strlen(session));
    return c;
}

Test(hpd, passive_server_and_client_handshake_and_exchange_data)
{
    start_daemon("\"log_level\": \"info\"");
    struct rph_peer_config sc = peer_cfg(RPH_ROLE_SERVER, "itest");
    int err = 0;
    struct rph_passive_server *s = rph_passive_server_create(&sc, &err);
    cr_assert_not_null(s, "server: %s", rph_strerror(err));
    pthread_t st;
    atomic_store(&server_stop, 0);
    atomic_store(&server_got_len, -1);
    pthread_create(&st, NULL, echo_server, s);

    struct rph_peer_config cc = peer_cfg(RPH_ROLE_CLIENT, "itest");
    struct rph_passive_client *c = rph_passive_client_create(&cc, &err);
    if (!c) {
        atomic_store(&server_stop, 1);
        pthread_join(st, NULL);
        rph_passive_server_free(s);
        cr_assert_fail("client: %s", rph_strerror(err));
    }
    cr_assert_eq(rph_passive_client_send(c, "ping", 4), 0);
    char buf[2100];
    ssize_t n = rph_passive_client_wait_for_data(c, 3000, buf, sizeof buf);
    atomic_store(&server_stop, 1);
    pthread_join(st, NULL);
    rph_passive_client_free(c);
    rph_passive_server_free(s);

    cr_assert_eq(atomic_load(&server_got_len), 4, "the server got %d bytes",
                 atomic_load(&server_got_len));
    cr_assert_arr_eq(server_got, "ping", 4);
    cr_assert_eq(n, 9, "the client got %zd (%s)", n, n < 0 ? rph_strerror((int)n) : "");
    cr_assert_arr_eq(buf, "echo:ping", 9);

    cr_assert(wait_for_log("session \"itest\" registered by 127.0.0.1:", 2000));
    cr_assert(wait_for_log("session \"itest\" joined by 127.0.0.1:", 2000));
    cr_assert(child_alive());
}

Test(hpd, join_for_an_unknown_session_gets_session_not_found)
{
    start_daemon(NULL);
    /* tests/vectors/ruphin-v1.txt: Join and SessionNotFound for session "nosuch". */
    static const uint8_t join[] = {0x00, 0x0a, 0x00, 0x03, 'n', 'o', 's', 'u', 'c', 'h'};
    static const uint8_t not_found[] = {0x00, 0x0a, 0x00, 0x07, 'n', 'o', 's', 'u', 'c', 'h'};
    expect_reply(join, sizeof join, not_found, sizeof not_found);
    cr_assert(wait_for_log("session \"nosuch\" not found", 2000));
}

Test(hpd, register_is_acknowledged_and_odd_session_bytes_are_escaped_in_the_log)
{
    start_daemon(NULL);
    /* Session a \x01 b " \ \n: a control byte, a quote, a backslash and a newline. */
    static const uint8_t reg[] = {0x00, 0x0a, 0x00, 0x02, 'a', 0x01, 'b', '"', '\\', '\n'};
    static const uint8_t ack[] = {0x00, 0x0a, 0x00, 0x06, 'a', 0x01, 'b', '"', '\\', '\n'};
    expect_reply(reg, sizeof reg, ack, sizeof ack);
    cr_assert(wait_for_log("session \"a\\x01b\\\"\\\\\\x0a\" registered by 127.0.0.1:", 2000),
              "log:\n%s", read_text(log_path));
}

Test(hpd, garbage_gets_no_answer_and_the_daemon_keeps_serving)
{
    start_daemon("\"log_level\": \"debug\"");
    static uint8_t big[60000];
    memset(big, 0xff, sizeof big);
    struct {
        const void *buf;
        size_t len;
    } garbage[] = {
        {"", 0},
        {"\x00", 1},
        {"\x00\x04\x00", 3},
        {"\x00\x04\x00\x02\x00", 5},  /* length field says 4, datagram is 5 */
        {"\x00\x04\x00\x63", 4},      /* unknown type */
        {"\x00\x04\x00\x01", 4},      /* LocalInterrupt: must not stop a daemon */
        {"\x00\x04\x00\x09", 4},      /* HelloResp */
        {"\x00\x05\x00\x06x", 5},     /* RegisterAck */
        {"\x00\x05\x00\x07x", 5},     /* SessionNotFound */
        {"\x00\x09\x00\x05hello", 9}, /* Data */
        {"\x00\x0b\x00\x04\x04\x7f\x00\x00\x01\x9e\xe6", 11}, /* PeerInfo */
        {"\x00\x0b\x00\x04\x05\x7f\x00\x00\x01\x9e\xe6", 11}, /* PeerInfo, bad family */
        {"\x00\x19\x00\x02"
         "abcdefghijklmnopqrstu",
         25}, /* 21-byte session ID */
        {big, sizeof big},
    };
    int fd = udp_socket();
    for (size_t i = 0; i < sizeof garbage / sizeof garbage[0]; i++)
        send_to_hpd(fd, garbage[i].buf, garbage[i].len);
    uint8_t buf[256];
    ssize_t n = recv_within(fd, buf, sizeof buf, 500);
    close(fd);
    cr_assert_eq(n, -1, "garbage got an answer of %zd bytes", n);
    cr_assert(child_alive(), "holepuncherd died on garbage");
    cr_assert(answers_hello(2000), "holepuncherd stopped answering after garbage");
    cr_assert(wait_for_log("dropped a datagram from 127.0.0.1:", 2000));
    cr_assert_eq(stop_daemon(), 0);
}

Test(hpd, refusals_of_a_full_table_are_logged_once_a_second_with_a_count)
{
    start_daemon("\"max_sessions\": 1");
    static const uint8_t reg0[] = {0x00, 0x06, 0x00, 0x02, 's', '0'};
    static const uint8_t ack0[] = {0x00, 0x06, 0x00, 0x06, 's', '0'};
    expect_reply(reg0, sizeof reg0, ack0, sizeof ack0);
    int fd = udp_socket();
    for (int i = 1; i <= 30; i++) {
        uint8_t reg[] = {
            0x00, 0x07, 0x00, 0x02, 'x', (uint8_t)('0' + i / 10), (uint8_t)('0' + i % 10)};
        send_to_hpd(fd, reg, sizeof reg);
    }
    uint8_t buf[64];
    /* Refused without an answer, so a server keeps retrying and never sees an ack. */
    cr_assert_eq(recv_within(fd, buf, sizeof buf, 300), -1);
    close(fd);
    cr_assert(wait_for_log("29 more sessions refused: table full (max_sessions 1)", 3000),
              "log:\n%s", read_text(log_path));
    /* One line names a refused session; the other 29 are only counted. */
    cr_assert_eq(count_in_file(log_path, "session \"x"), 1, "log:\n%s", read_text(log_path));
}

Test(hpd, sessions_expire_after_session_ttl, .timeout = 30)
{
    start_daemon("\"session_ttl\": 5");
    static const uint8_t reg[] = {0x00, 0x07, 0x00, 0x02, 'e', 'x', 'p'};
    static const uint8_t ack[] = {0x00, 0x07, 0x00, 0x06, 'e', 'x', 'p'};
    static const uint8_t join[] = {0x00, 0x07, 0x00, 0x03, 'e', 'x', 'p'};
    static const uint8_t not_found[] = {0x00, 0x07, 0x00, 0x07, 'e', 'x', 'p'};
    expect_reply(reg, sizeof reg, ack, sizeof ack);
    cr_assert(wait_for_log("session \"exp\" expired, server was 127.0.0.1:", 8000), "log:\n%s",
              read_text(log_path));
    expect_reply(join, sizeof join, not_found, sizeof not_found);
}

Test(hpd, sighup_applies_the_new_config_and_keeps_sessions)
{
    start_daemon("\"log_level\": \"info\"");
    static const uint8_t reg[] = {0x00, 0x08, 0x00, 0x02, 'k', 'e', 'e', 'p'};
    static const uint8_t ack[] = {0x00, 0x08, 0x00, 0x06, 'k', 'e', 'e', 'p'};
    /* Registered from one socket so that a re-register is a refresh, not a move. */
    int srv = udp_socket();
    uint8_t buf[64];
    send_to_hpd(srv, reg, sizeof reg);
    cr_assert_eq(recv_within(srv, buf, sizeof buf, 2000), (ssize_t)sizeof ack);
    cr_assert_arr_eq(buf, ack, sizeof ack);

    write_config("\"log_level\": \"debug\", \"session_ttl\": 120");
    kill(child, SIGHUP);
    cr_assert(wait_for_log("reloaded config", 3000), "log:\n%s", read_text(log_path));
    cr_assert(file_contains(log_path, "session_ttl 120 s"));
    cr_assert(file_contains(log_path, "sessions kept: 1"), "log:\n%s", read_text(log_path));
    /* debug is on now: a refresh is logged. */
    send_to_hpd(srv, reg, sizeof reg);
    cr_assert_eq(recv_within(srv, buf, sizeof buf, 2000), (ssize_t)sizeof ack);
    cr_assert(wait_for_log("session \"keep\" refreshed by", 2000), "log:\n%s", read_text(log_path));

    /* A broken config is refused and the running one kept. */
    write_file(cfg_path, "{\"listen\": [\"127.0.0.1:1\"], \"max_sessions\": -1}");
    kill(child, SIGHUP);
    cr_assert(wait_for_log("reload failed, keeping the running config", 3000));
    cr_assert(file_contains(log_path, "\"max_sessions\""));
    cr_assert(answers_hello(2000));

    /* Another listen list needs a restart: said so, and the old sockets stay. */
    uint16_t old = port;
    port = (uint16_t)(old == 65535 ? old - 1 : old + 1);
    write_config(NULL);
    port = old;
    kill(child, SIGHUP);
    cr_assert(wait_for_log("\"listen\" changed; it needs a restart", 3000));
    cr_assert(answers_hello(2000));

    /* The session survived all of it: a Join gets PeerInfo, and the server gets one too. */
    static const uint8_t join[] = {0x00, 0x08, 0x00, 0x03, 'k', 'e', 'e', 'p'};
    int cli = udp_socket();
    send_to_hpd(cli, join, sizeof join);
    ssize_t n = recv_within(cli, buf, sizeof buf, 2000);
    cr_assert_eq(n, 11, "join answered with %zd bytes", n);
    cr_assert_eq(buf[3], 4, "join answered with type %u, not PeerInfo", buf[3]);
    n = recv_within(srv, buf, sizeof buf, 2000);
    cr_assert_eq(n, 11);
    close(cli);
    close(srv);
    cr_assert_eq(stop_daemon(), 0);
}

/* ---- the program's surface ---- */

/* Runs holepuncherd with args to completion; returns its exit status (or -1 on a signal). */
static int run(char *const argv[])
{
    pid_t pid = spawn(argv, out_path, err_path);
    int status;
    if (wait_exit(pid, 10000, &status) < 0) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        cr_assert_fail("holepuncherd %s did not exit", argv[1]);
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

Test(hpd, sigterm_stops_it_with_status_0_and_final_counters)
{
    start_daemon(NULL);
    int status = stop_daemon();
    cr_assert(WIFEXITED(status), "killed by signal %d", WTERMSIG(status));
    cr_assert_eq(WEXITSTATUS(status), 0, "log:\n%s", read_text(log_path));
    cr_assert(file_contains(log_path, "stopped on SIGTERM"));
    cr_assert(file_contains(log_path, "hellos "), "log:\n%s", read_text(log_path));
}

Test(hpd, sigint_stops_it_with_status_0)
{
    start_daemon(NULL);
    cr_assert_eq(kill(child, SIGINT), 0);
    int status;
    cr_assert_eq(wait_exit(child, 10000, &status), 0);
    child = -1;
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    cr_assert(file_contains(log_path, "stopped on SIGINT"));
}

Test(hpd, startup_logs_the_listen_address_and_limits)
{
    start_daemon("\"max_sessions\": 42");
    char want[64];
    snprintf(want, sizeof want, "listening on 127.0.0.1:%u", port);
    cr_assert(wait_for_log(want, 2000), "log:\n%s", read_text(log_path));
    cr_assert(file_contains(log_path, "max_sessions 42"));
}

Test(hpd, a_taken_address_is_a_runtime_failure_naming_the_address)
{
    start_daemon(NULL);
    char *argv[] = {HPD_BIN, "-c", cfg_path, NULL};
    cr_assert_eq(run(argv), 1);
    char want[64];
    snprintf(want, sizeof want, "cannot bind 127.0.0.1:%u", port);
    cr_assert(file_contains(err_path, want), "stderr:\n%s", read_text(err_path));
    cr_assert(child_alive());
}

Test(hpd, check_accepts_a_good_config)
{
    port = 7700;
    write_config("\"session_ttl\": 30");
    char *argv[] = {HPD_BIN, "--check", "-c", cfg_path, NULL};
    cr_assert_eq(run(argv), 0, "stderr:\n%s", read_text(err_path));
    char want[160];
    snprintf(want, sizeof want, "config %s: ok", cfg_path);
    cr_assert(file_contains(out_path, want), "stdout:\n%s", read_text(out_path));
}

Test(hpd, check_refuses_a_bad_config_with_status_2_naming_the_key)
{
    port = 7700;
    write_config("\"session_ttl\": 0");
    char *argv[] = {HPD_BIN, "--check", "-c", cfg_path, NULL};
    cr_assert_eq(run(argv), 2);
    cr_assert(file_contains(err_path, "\"session_ttl\""), "stderr:\n%s", read_text(err_path));
}

Test(hpd, a_bad_config_stops_the_start_with_status_2)
{
    port = 7700;
    write_config("\"log_level\": \"loud\"");
    char *argv[] = {HPD_BIN, "-c", cfg_path, NULL};
    cr_assert_eq(run(argv), 2);
    cr_assert(file_contains(err_path, "\"log_level\""), "stderr:\n%s", read_text(err_path));
}

Test(hpd, version_and_help_exit_0)
{
    char *version[] = {HPD_BIN, "--version", NULL};
    cr_assert_eq(run(version), 0);
    cr_assert(file_contains(out_path, "holepuncherd " RUPHIN_VERSION "\n"), "stdout:\n%s",
              read_text(out_path));
    char *help[] = {HPD_BIN, "--help", NULL};
    cr_assert_eq(run(help), 0);
    cr_assert(file_contains(out_path, "Usage: holepuncherd"));
}

Test(hpd, usage_errors_exit_2)
{
    char *no_config[] = {HPD_BIN, NULL};
    cr_assert_eq(run(no_config), 2);
    char *bad_option[] = {HPD_BIN, "--frobnicate", NULL};
    cr_assert_eq(run(bad_option), 2);
    char *extra[] = {HPD_BIN, "-c", cfg_path, "surplus", NULL};
    cr_assert_eq(run(extra), 2);
    char *missing[] = {HPD_BIN, "-c", "/nonexistent/holepuncherd.json", NULL};
    cr_assert_eq(run(missing), 2);
    cr_assert(file_contains(err_path, "/nonexistent/holepuncherd.json"));
}

/* 2000 Joins of unknown sessions (no rate limit): a few "not found" lines a second and a
 * count of the rest, not 2000 lines. */
Test(hpd, a_flood_of_session_lines_is_throttled_with_a_count, .timeout = 30)
{
    start_daemon("\"log_level\": \"info\", \"rate_limit_per_source\": 0");
    int fd = udp_socket();
    uint8_t buf[64];
    for (int i = 0; i < 2000; i++) {
        uint8_t join[] = {0x00,
                          0x08,
                          0x00,
                          0x03,
                          'n',
                          (uint8_t)('0' + i / 1000),
                          (uint8_t)('0' + i / 100 % 10),
                          (uint8_t)('0' + i / 10 % 10)};
        join[7] = (uint8_t)('a' + i % 26); /* distinct enough; the IDs do not matter */
        send_to_hpd(fd, join, sizeof join);
        if (i % 64 == 0)
            while (recv_within(fd, buf, sizeof buf, 0) > 0) {
            }
    }
    close(fd);
    cr_assert(wait_for_log("similar suppressed (session not found)", 4000), "log:\n%.4000s",
              read_text(log_path));
    /* The held-back lines are all reported, within a second or two of the last. */
    size_t lines = 0, suppressed = 0;
    for (int waited = 0; waited < 4000; waited += 100) {
        char *log = read_text(log_path);
        lines = suppressed = 0;
        for (char *p = log; (p = strstr(p, "not found, join from")); p++)
            lines++;
        for (char *p = log; (p = strstr(p, "similar suppressed (session not found)")); p++) {
            /* the count is the number just before " similar" */
            char *num = p - 1;
            while (num > log && num[-1] >= '0' && num[-1] <= '9')
                num--;
            suppressed += strtoul(num, NULL, 10);
        }
        free(log);
        if (lines + suppressed >= 2000) break;
        sleep_ms(100);
    }
    cr_assert_eq(lines + suppressed, 2000, "%zu lines + %zu suppressed", lines, suppressed);
    cr_assert_leq(lines, 60, "%zu \"not found\" lines for 2000 Joins", lines);
    cr_assert_eq(stop_daemon(), 0);
    cr_assert(file_contains(log_path, "joins 2000 (sealed 0)"), "log:\n%.2000s",
              read_text(log_path));
}
