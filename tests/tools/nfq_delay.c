// SPDX-License-Identifier: MIT
// nfq_delay: adds a fixed one-way delay to the packets of one NFQUEUE (this kernel has no netem),
// for the uplinks of the e2e NAT test bed (tests/e2e/nat_lib.sh).
//
//   nfq_delay -q NUM -d MS [-m MAXPKTS]
//
// Binds NFQUEUE NUM in the current network namespace, prints "ready queue=NUM delay_ms=MS" once
// bound, and gives each queued packet its NF_ACCEPT verdict MS milliseconds after it arrived. The
// delay is the same for every packet, so deadlines come in arrival order and a FIFO of packet IDs
// is the whole schedule. At most MAXPKTS packets wait (default 4096, the kernel queue is sized to
// match); a packet beyond that is dropped, as a full router buffer does, and logged. SIGTERM or
// SIGINT: every waiting packet is accepted at once (none lost), one summary line, exit 0.
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <libnetfilter_queue/libnetfilter_queue.h>
#include <linux/netfilter.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifndef RUPHIN_VERSION
#define RUPHIN_VERSION "unknown"
#endif

struct held {
    uint32_t id;
    uint64_t due_us;
};

struct delay {
    struct nfq_q_handle *qh;
    struct held *ring;
    size_t cap, head, len;
    uint64_t delay_us;
    uint64_t accepted, dropped, max_len;
};

static volatile sig_atomic_t stop_signal;

static void on_signal(int sig)
{
    stop_signal = sig;
}

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void logline(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void logline(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("nfq_delay: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static int verdict(struct delay *d, uint32_t id, uint32_t v)
{
    if (nfq_set_verdict(d->qh, id, v, 0, NULL) < 0) {
        logline("verdict for packet %u failed: %s", id, strerror(errno));
        return -errno;
    }
    return 0;
}

static int on_packet(struct nfq_q_handle *qh, struct nfgenmsg *msg, struct nfq_data *nfa, void *arg)
{
    (void)qh;
    (void)msg;
    struct delay *d = arg;
    struct nfqnl_msg_packet_hdr *ph = nfq_get_msg_packet_hdr(nfa);
    if (!ph) return 0;
    uint32_t id = ntohl(ph->packet_id);
    if (d->len == d->cap) {
        d->dropped++;
        logline("queue full (%zu packets waiting): packet %u dropped", d->len, id);
        return verdict(d, id, NF_DROP) < 0 ? -1 : 0;
    }
    d->ring[(d->head + d->len) % d->cap] =
        (struct held){.id = id, .due_us = now_us() + d->delay_us};
    d->len++;
    if (d->len > d->max_len) d->max_len = d->len;
    return 0;
}

// release_due: accept every packet whose time has come (all of them with ALL set).
static int release_due(struct delay *d, int all)
{
    uint64_t now = now_us();
    while (d->len > 0) {
        struct held *h = &d->ring[d->head];
        if (!all && h->due_us > now) break;
        int r = verdict(d, h->id, NF_ACCEPT);
        if (r < 0) return r;
        d->accepted++;
        d->head = (d->head + 1) % d->cap;
        d->len--;
    }
    return 0;
}

static void usage(FILE *f)
{
    fprintf(
        f,
        "usage: nfq_delay -q NUM -d MS [-m MAXPKTS]\n"
        "  -q, --queue NUM      the NFQUEUE number to bind (0..65535)\n"
        "  -d, --delay MS       delay added to each packet, milliseconds (0..10000)\n"
        "  -m, --max-queue N    packets held at most (1..1000000, default 4096); more are dropped\n"
        "  -h, --help | -V, --version\n"
        "Prints \"ready ...\" once bound; on SIGTERM/SIGINT accepts what waits and exits 0.\n");
}

// parse_num: a decimal integer in [lo, hi], or -1.
static long parse_num(const char *s, long lo, long hi)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) return -1;
    return v;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"queue", required_argument, NULL, 'q'},     {"delay", required_argument, NULL, 'd'},
        {"max-queue", required_argument, NULL, 'm'}, {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},         {NULL, 0, NULL, 0}};
    long queue = -1, delay_ms = -1, maxq = 4096;
    int c;
    while ((c = getopt_long(argc, argv, "q:d:m:hV", opts, NULL)) != -1) {
        switch (c) {
        case 'q':
            if ((queue = parse_num(optarg, 0, 65535)) < 0) {
                logline("--queue must be 0..65535, got '%s'", optarg);
                return 2;
            }
            break;
        case 'd':
            if ((delay_ms = parse_num(optarg, 0, 10000)) < 0) {
                logline("--delay must be 0..10000 ms, got '%s'", optarg);
                return 2;
            }
            break;
        case 'm':
            if ((maxq = parse_num(optarg, 1, 1000000)) < 0) {
                logline("--max-queue must be 1..1000000, got '%s'", optarg);
                return 2;
            }
            break;
        case 'h':
            usage(stdout);
            return 0;
        case 'V':
            printf("nfq_delay %s\n", RUPHIN_VERSION);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind != argc) {
        logline("unexpected argument '%s'", argv[optind]);
        return 2;
    }
    if (queue < 0 || delay_ms < 0) {
        logline("%s is required (see --help)", queue < 0 ? "--queue" : "--delay");
        return 2;
    }

    struct delay d = {.cap = (size_t)maxq, .delay_us = (uint64_t)delay_ms * 1000u};
    d.ring = calloc(d.cap, sizeof *d.ring);
    if (!d.ring) {
        logline("cannot allocate a queue of %ld packets", maxq);
        return 1;
    }
    struct nfq_handle *h = nfq_open();
    if (!h) {
        logline("nfq_open failed: %s (root, and the nfnetlink_queue module?)", strerror(errno));
        free(d.ring);
        return 1;
    }
    int rc = 1;
    d.qh = nfq_create_queue(h, (uint16_t)queue, on_packet, &d);
    if (!d.qh) {
        logline("cannot bind queue %ld: %s (another program bound to it?)", queue, strerror(errno));
        goto out_close;
    }
    // Only the packet ID is needed: the kernel keeps the packet until its verdict.
    if (nfq_set_mode(d.qh, NFQNL_COPY_META, 0) < 0 ||
        nfq_set_queue_maxlen(d.qh, (uint32_t)maxq) < 0) {
        logline("cannot configure queue %ld: %s", queue, strerror(errno));
        goto out_queue;
    }
    // Room for a full queue's worth of notifications, so bursts are delayed rather than dropped.
    nfnl_rcvbufsiz(nfq_nfnlh(h), 8u << 20);
    int fd = nfq_fd(h);

    // Signals are blocked except inside ppoll, so one that arrives between checks is not lost.
    sigset_t block, orig;
    sigemptyset(&block);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGINT);
    sigprocmask(SIG_BLOCK, &block, &orig);
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);

    logline("ready queue=%ld delay_ms=%ld max_queue=%ld", queue, delay_ms, maxq);
    char buf[65536] __attribute__((aligned));
    while (!stop_signal) {
        struct timespec ts, *tp = NULL;
        if (d.len > 0) {
            uint64_t due = d.ring[d.head].due_us, now = now_us();
            uint64_t wait = due > now ? due - now : 0;
            ts.tv_sec = (time_t)(wait / 1000000u);
            ts.tv_nsec = (long)(wait % 1000000u) * 1000;
            tp = &ts;
        }
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int n = ppoll(&pfd, 1, tp, &orig);
        if (n < 0 && errno != EINTR) {
            logline("ppoll failed: %s", strerror(errno));
            goto out_release;
        }
        if (n > 0) {
            for (;;) {
                ssize_t got = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
                if (got < 0) {
                    if (errno == EAGAIN || errno == EINTR) break;
                    // ENOBUFS: the kernel could not hand us some packets and dropped them (a
                    // full buffer, as on a real link); say so and carry on.
                    logline("recv failed: %s", strerror(errno));
                    if (errno == ENOBUFS) break;
                    goto out_release;
                }
                nfq_handle_packet(h, buf, (int)got);
            }
        }
        if (release_due(&d, 0) < 0) goto out_release;
    }
    rc = 0;
out_release:
    release_due(&d, 1);
    logline("stop%s%s: accepted=%llu dropped=%llu max_waiting=%llu", stop_signal ? " on " : "",
            stop_signal ? strsignal(stop_signal) : "", (unsigned long long)d.accepted,
            (unsigned long long)d.dropped, (unsigned long long)d.max_len);
out_queue:
    nfq_destroy_queue(d.qh);
out_close:
    nfq_close(h);
    free(d.ring);
    return rc;
}
