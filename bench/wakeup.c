// SPDX-License-Identifier: MIT
// wakeup: what waking a sleeping process costs on this machine, the floor under any userspace
// tunnel's latency. Two processes ping-pong a 64-byte UDP datagram over loopback, each blocked
// in poll() between turns, one round trip every 10 ms (as bench/tunnel.sh's pings), first on
// different CPUs, then both on one. Prints a markdown table; not a test.
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_us(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e6 + (double)t.tv_nsec / 1e3;
}

static void pin(int cpu)
{
    cpu_set_t s;
    CPU_ZERO(&s);
    CPU_SET(cpu, &s);
    if (sched_setaffinity(0, sizeof s, &s) < 0) {
        fprintf(stderr, "wakeup: cpu %d: %s\n", cpu, strerror(errno));
        exit(1);
    }
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Median and p99 round trip in microseconds, the echoing child on cpu_b. */
static int run(int cpu_a, int cpu_b, int rounds, double *med, double *p99)
{
    int a = socket(AF_INET, SOCK_DGRAM, 0), b = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    struct sockaddr_in sb = sa;
    socklen_t sl = sizeof sa;
    if (a < 0 || b < 0 || bind(a, (struct sockaddr *)&sa, sizeof sa) < 0 ||
        bind(b, (struct sockaddr *)&sb, sizeof sb) < 0 ||
        getsockname(a, (struct sockaddr *)&sa, &sl) < 0 ||
        getsockname(b, (struct sockaddr *)&sb, &sl) < 0 ||
        connect(a, (struct sockaddr *)&sb, sizeof sb) < 0 ||
        connect(b, (struct sockaddr *)&sa, sizeof sa) < 0) {
        fprintf(stderr, "wakeup: loopback sockets: %s\n", strerror(errno));
        return -1;
    }
    pid_t child = fork();
    if (child < 0) return -1;
    if (child == 0) {
        pin(cpu_b);
        char buf[128];
        for (int i = 0; i < rounds; i++) {
            struct pollfd p = {b, POLLIN, 0};
            if (poll(&p, 1, 2000) <= 0) _exit(1);
            ssize_t n = recv(b, buf, sizeof buf, 0);
            if (n <= 0 || send(b, buf, (size_t)n, 0) != n) _exit(1);
        }
        _exit(0);
    }
    pin(cpu_a);
    double *rtt = calloc((size_t)rounds, sizeof *rtt);
    char buf[128] = {0};
    int ok = 0;
    for (int i = 0; i < rounds; i++) {
        usleep(10000);
        double t0 = now_us();
        struct pollfd p = {a, POLLIN, 0};
        if (send(a, buf, 64, 0) != 64 || poll(&p, 1, 2000) <= 0 || recv(a, buf, sizeof buf, 0) <= 0)
            break;
        rtt[ok++] = now_us() - t0;
    }
    int st = 0;
    if (ok < rounds) kill(child, SIGTERM);
    waitpid(child, &st, 0);
    close(a);
    close(b);
    if (ok < rounds) {
        fprintf(stderr, "wakeup: only %d of %d round trips\n", ok, rounds);
        free(rtt);
        return -1;
    }
    qsort(rtt, (size_t)ok, sizeof *rtt, cmp);
    *med = rtt[ok / 2];
    *p99 = rtt[(ok * 99) / 100];
    free(rtt);
    return 0;
}

int main(int argc, char **argv)
{
    int rounds = argc > 1 ? atoi(argv[1]) : 200;
    if (argc > 2 || rounds < 10 || rounds > 100000) {
        fprintf(stderr, "usage: wakeup [ROUNDS, 10..100000; default 200]\n");
        return 2;
    }
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    printf("| processes | round trip median | p99 |\n|---|---|---|\n");
    double med, p99;
    if (ncpu > 1) {
        if (run(0, 1, rounds, &med, &p99) < 0) return 1;
        printf("| on different CPUs (0, 1) | %.1f µs | %.1f µs |\n", med, p99);
    }
    if (run(0, 0, rounds, &med, &p99) < 0) return 1;
    printf("| both on CPU 0 | %.1f µs | %.1f µs |\n", med, p99);
    return 0;
}
