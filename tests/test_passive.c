// SPDX-License-Identifier: MIT
// The passive modules on loopback: a holepuncher, a server and two clients in one process,
// each driven from its own thread by the blocking calls, as a crate user would.
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ruphin/error.h"
#include "ruphin/passive.h"

static struct rph_passive_holepuncher *hp;
static struct rph_addr hp_addr;
static pthread_t hp_thread;
static atomic_int hp_result = 1;

static void *serve_hp(void *arg)
{
    (void)arg;
    int r = 0;
    /* Bounded: at most 30 s of serving, or until LocalInterrupt. */
    for (int i = 0; i < 300 && r == 0; i++)
        r = rph_passive_holepuncher_serve(hp, 100);
    atomic_store(&hp_result, r);
    return NULL;
}

static void start_hp(void)
{
    struct rph_addr bind = {.family = 4, .ip = {127, 0, 0, 1}};
    struct rph_holepuncher_config c;
    rph_holepuncher_config_defaults(&c);
    c.allow_local_interrupt = true;
    int err = 0;
    hp = rph_passive_holepuncher_create(&bind, &c, &err);
    cr_assert_not_null(hp, "holepuncher: %s", rph_strerror(err));
    rph_passive_holepuncher_local_addr(hp, &hp_addr);
    pthread_create(&hp_thread, NULL, serve_hp, NULL);
}

static void stop_hp(void)
{
    /* LocalInterrupt from loopback stops serve(), as in the crate. */
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_storage ss;
    socklen_t sl = rph_addr_to_sockaddr(&hp_addr, &ss, 4);
    sendto(fd, "\x00\x04\x00\x01", 4, 0, (struct sockaddr *)&ss, sl);
    close(fd);
    pthread_join(hp_thread, NULL);
    rph_passive_holepuncher_free(hp);
}

static struct rph_peer_config cfg(enum rph_role role, const char *session)
{
    struct rph_peer_config c;
    rph_peer_config_defaults(&c, role);
    c.holepuncher = hp_addr;
    rph_session_set(&c.session, session, strlen(session));
    return c;
}

static atomic_int server_stop;

/* Echo server: answers each payload with "echo:" + payload, until told to stop. */
static void *echo(void *arg)
{
    struct rph_passive_server *s = arg;
    uint8_t buf[2048], reply[2100];
    while (!atomic_load(&server_stop)) {
        struct rph_addr from;
        ssize_t n = rph_passive_server_wait_for_data(s, 100, buf, sizeof buf, &from);
        if (n < 0) continue;
        memcpy(reply, "echo:", 5);
        memcpy(reply + 5, buf, (size_t)n);
        rph_passive_server_send(s, &from, reply, (size_t)n + 5);
    }
    return NULL;
}

Test(passive, server_and_two_clients_through_a_holepuncher_on_loopback, .timeout = 30)
{
    start_hp();
    struct rph_peer_config sc = cfg(RPH_ROLE_SERVER, "office-lan");
    int err = 0;
    struct rph_passive_server *s = rph_passive_server_create(&sc, &err);
    cr_assert_not_null(s, "server: %s", rph_strerror(err));
    pthread_t st;
    atomic_store(&server_stop, 0);
    pthread_create(&st, NULL, echo, s);

    struct rph_peer_config cc = cfg(RPH_ROLE_CLIENT, "office-lan");
    struct rph_passive_client *c1 = rph_passive_client_create(&cc, &err);
    cr_assert_not_null(c1, "client 1: %s", rph_strerror(err));
    struct rph_passive_client *c2 = rph_passive_client_create(&cc, &err);
    cr_assert_not_null(c2, "client 2: %s", rph_strerror(err));

    char buf[2100];
    cr_assert_eq(rph_passive_client_send(c1, "hello", 5), 0);
    ssize_t n = rph_passive_client_wait_for_data(c1, 3000, buf, sizeof buf);
    cr_assert_eq(n, 10, "client 1 got %zd (%s)", n, n < 0 ? rph_strerror((int)n) : "");
    cr_assert_arr_eq(buf, "echo:hello", 10);

    /* A full-MTU payload, beyond the crate's 1024-byte limit. */
    static char big[1400];
    memset(big, 'x', sizeof big);
    rph_passive_client_send(c2, big, sizeof big);
    n = rph_passive_client_wait_for_data(c2, 3000, buf, sizeof buf);
    cr_assert_eq(n, 1405);

    /* Nothing more is coming: the wait times out. */
    n = rph_passive_client_wait_for_data(c1, 200, buf, sizeof buf);
    cr_assert_eq(n, RPH_E_TIMEOUT);

    atomic_store(&server_stop, 1);
    pthread_join(st, NULL);
    rph_passive_client_free(c1);
    rph_passive_client_free(c2);
    rph_passive_server_free(s);
    stop_hp();
    cr_assert_eq(atomic_load(&hp_result), RPH_E_INTERRUPTED);
}

Test(passive, joining_an_unknown_session_fails_with_not_found, .timeout = 30)
{
    start_hp();
    struct rph_peer_config cc = cfg(RPH_ROLE_CLIENT, "nosuch");
    int err = 0;
    struct rph_passive_client *c = rph_passive_client_create(&cc, &err);
    cr_assert_null(c);
    cr_assert_eq(err, RPH_E_NOT_FOUND, "got %s", rph_strerror(err));
    stop_hp();
}

Test(passive, no_holepuncher_times_out, .timeout = 30)
{
    /* A bound socket nobody reads: the Register goes nowhere. */
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001)};
    bind(fd, (struct sockaddr *)&sin, sizeof sin);
    socklen_t sl = sizeof sin;
    getsockname(fd, (struct sockaddr *)&sin, &sl);
    struct rph_peer_config sc;
    rph_peer_config_defaults(&sc, RPH_ROLE_SERVER);
    rph_addr_from_sockaddr(&sc.holepuncher, (struct sockaddr *)&sin, sl);
    rph_session_set(&sc.session, "x", 1);
    sc.handshake_timeout_ms = 1000;
    int err = 0;
    struct rph_passive_server *s = rph_passive_server_create(&sc, &err);
    cr_assert_null(s);
    cr_assert_eq(err, RPH_E_TIMEOUT);
    close(fd);
}
