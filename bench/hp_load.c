// SPDX-License-Identifier: MIT
// Load generator for holepuncherd (bench/holepuncher.sh): Register/Join/HelloReq rates, session
// fills for memory figures, and Register->RegisterAck->Join->PeerInfo handshake latency.
//
//   hp_load -t 127.0.0.1:7700 rate -m hello -d 5          the most it answers (closed window)
//   hp_load -t 127.0.0.1:7700 rate -m register -r 100000 -p   paced load, handshake latency
//   hp_load -t 127.0.0.1:7700 fill -n 1000000 -x mem      a million sessions, each acknowledged
//
// Requests go out in batches with sendmmsg and answers are counted with recvmmsg. Each request
// carries a source address from a large pool in 127.0.0.0/8 (IP_PKTINFO), as a public
// holepuncher sees many clients; from one address its per-source limit would answer only a few
// dozen Register/Join a second. A session always uses the same source address, so refreshes
// are refreshes, not take-overs. Run it inside a network namespace of its own (only lo).
// Output: one JSON object on stdout.
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "ruphin/addr.h"
#include "ruphin/wire.h"

#define MAXB 256
/* With the window full and no answer for this long, what is in flight counts as lost. Not
 * shorter: a daemon descheduled for a few ms is late, not lossy, and resending would only
 * pile more onto its queue. hp_load never sleeps while it waits: it spins on its own CPU, so
 * its wake-up latency is in neither the rates nor the handshake times. */
#define STALL_MS 50
#define MSGBUF 64
#define POOL_BITS 20 /* each source pool is a /12 of 127.0.0.0/8 */
#define POOL_LOAD_SERVER 0x7f100000u
#define POOL_PROBE_SERVER 0x7f200000u
#define POOL_LOAD_CLIENT 0x7f300000u
#define POOL_PROBE_CLIENT 0x7f400000u
#define POOL_HELLO 0x7f500000u

struct opts {
    struct sockaddr_in target;
    const char *mode; /* rate, fill, reflect */
    enum rph_type msg;
    double seconds;
    uint32_t sessions; /* rate: sessions cycled through */
    uint32_t offset;   /* fill: first session index */
    uint32_t count;    /* fill: how many sessions */
    uint32_t sources;  /* source addresses per pool */
    uint32_t window;   /* requests in flight (closed loop) */
    uint32_t batch;    /* requests per sendmmsg */
    uint64_t rate;     /* paced requests per second; 0: a closed window */
    bool probe;
    double probe_ms;
    const char *prefix;
    int watch_pid; /* the daemon whose CPU time is sampled over the run, or 0 */
    int watch_cpu; /* the CPU whose busy time is sampled, or -1 */
};

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void die(const char *what)
{
    fprintf(stderr, "hp_load: %s: %s\n", what, strerror(errno));
    exit(1);
}

static int open_sock(uint16_t *port)
{
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) die("socket");
    int big = 16 << 20;
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof big) < 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
    if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &big, sizeof big) < 0)
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
    struct sockaddr_in any = {.sin_family = AF_INET};
    if (bind(fd, (struct sockaddr *)&any, sizeof any) < 0) die("bind");
    socklen_t sl = sizeof any;
    if (getsockname(fd, (struct sockaddr *)&any, &sl) < 0) die("getsockname");
    *port = ntohs(any.sin_port);
    return fd;
}

/* The i-th source address of a pool (never the pool's .0). */
static uint32_t pool_addr(uint32_t pool, uint32_t i, uint32_t n)
{
    return pool + 1 + (i % n);
}

static void session_of(struct rph_session *s, const char *prefix, uint32_t i)
{
    char id[RPH_SESSION_MAX + 1];
    int n = snprintf(id, sizeof id, "%.10s%08" PRIx32, prefix, i);
    rph_session_set(s, id, (size_t)n);
}

/* The index in a session ID made by session_of, or -1. */
static int64_t index_of(const struct rph_session *s)
{
    if (s->len < 8) return -1;
    char hex[9];
    memcpy(hex, s->id + s->len - 8, 8);
    hex[8] = 0;
    char *end;
    unsigned long v = strtoul(hex, &end, 16);
    return *end ? -1 : (int64_t)v;
}

/* ---- batches ---- */

struct txbatch {
    struct mmsghdr m[MAXB];
    struct iovec iov[MAXB];
    uint8_t buf[MAXB][MSGBUF];
    union {
        char c[CMSG_SPACE(sizeof(struct in_pktinfo))];
        struct cmsghdr align;
    } ctl[MAXB];
    struct sockaddr_in dst;
    unsigned n;
};

static void tx_reset(struct txbatch *b, const struct sockaddr_in *dst)
{
    b->dst = *dst;
    b->n = 0;
}

static void tx_add(struct txbatch *b, const struct rph_msg *msg, uint32_t src)
{
    unsigned i = b->n;
    int len = rph_wire_encode(msg, b->buf[i], MSGBUF);
    if (len < 0) {
        fprintf(stderr, "hp_load: cannot encode a %s\n", rph_type_name(msg->type));
        exit(1);
    }
    b->iov[i] = (struct iovec){.iov_base = b->buf[i], .iov_len = (size_t)len};
    memset(&b->m[i], 0, sizeof b->m[i]);
    struct msghdr *h = &b->m[i].msg_hdr;
    h->msg_name = &b->dst;
    h->msg_namelen = sizeof b->dst;
    h->msg_iov = &b->iov[i];
    h->msg_iovlen = 1;
    h->msg_control = b->ctl[i].c;
    h->msg_controllen = sizeof b->ctl[i].c;
    struct cmsghdr *c = CMSG_FIRSTHDR(h);
    c->cmsg_level = IPPROTO_IP;
    c->cmsg_type = IP_PKTINFO;
    c->cmsg_len = CMSG_LEN(sizeof(struct in_pktinfo));
    struct in_pktinfo pi = {.ipi_ifindex = 0, .ipi_spec_dst.s_addr = htonl(src)};
    memcpy(CMSG_DATA(c), &pi, sizeof pi);
    b->n++;
}

/* Sends what the batch holds; returns how many went out (the rest are dropped: counted by the
 * caller as never sent). */
static unsigned tx_flush(struct txbatch *b, int fd)
{
    unsigned done = 0;
    while (done < b->n) {
        int r = sendmmsg(fd, b->m + done, b->n - done, MSG_DONTWAIT);
        if (r < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) break;
            die("sendmmsg");
        }
        done += (unsigned)r;
    }
    b->n = 0;
    return done;
}

struct rxbatch {
    struct mmsghdr m[MAXB];
    struct iovec iov[MAXB];
    uint8_t buf[MAXB][MSGBUF];
    struct sockaddr_in from[MAXB];
};

/* Receives up to MAXB datagrams without blocking; returns the count. */
static int rx_recv(struct rxbatch *b, int fd)
{
    for (int i = 0; i < MAXB; i++) {
        b->iov[i] = (struct iovec){.iov_base = b->buf[i], .iov_len = MSGBUF};
        memset(&b->m[i], 0, sizeof b->m[i]);
        b->m[i].msg_hdr.msg_iov = &b->iov[i];
        b->m[i].msg_hdr.msg_iovlen = 1;
        b->m[i].msg_hdr.msg_name = &b->from[i];
        b->m[i].msg_hdr.msg_namelen = sizeof b->from[i];
    }
    for (;;) {
        int n = recvmmsg(fd, b->m, MAXB, MSG_DONTWAIT, NULL);
        if (n >= 0) return n;
        if (errno == EINTR || errno == ECONNREFUSED) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
        die("recvmmsg");
    }
}

static int rx_decode(struct rxbatch *b, int i, struct rph_msg *m)
{
    return rph_wire_decode(b->buf[i], b->m[i].msg_len, m);
}

/* ---- CPU use of the daemon and of its CPU over the measured interval ---- */

/* utime + stime of a process (all threads), in clock ticks; -1 if unreadable. */
static long long proc_ticks(int pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')');
    if (!p) return -1;
    unsigned long long ut, st;
    /* After ") ": state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime
     * stime. */
    if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
        return -1;
    return (long long)(ut + st);
}

/* Busy (user, nice, system, irq, softirq) ticks of one CPU; -1 if unreadable. */
static long long cpu_busy(int cpu)
{
    FILE *f = fopen("/proc/stat", "r");
    if (!f) return -1;
    char line[512], want[16];
    snprintf(want, sizeof want, "cpu%d ", cpu);
    long long r = -1;
    while (fgets(line, sizeof line, f)) {
        unsigned long long v[8];
        if (strncmp(line, want, strlen(want)) != 0) continue;
        if (sscanf(line + strlen(want), "%llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1],
                   &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]) == 8)
            r = (long long)(v[0] + v[1] + v[2] + v[5] + v[6]);
        break;
    }
    fclose(f);
    return r;
}

struct cpu_sample {
    long long pid_ticks, cpu_ticks;
};

static struct cpu_sample cpu_sample(const struct opts *o)
{
    struct cpu_sample c = {-1, -1};
    if (o->watch_pid > 0) c.pid_ticks = proc_ticks(o->watch_pid);
    if (o->watch_cpu >= 0) c.cpu_ticks = cpu_busy(o->watch_cpu);
    return c;
}

/* ,"daemon_cpu_pct":..,"cpu_busy_pct":..,"answered_per_cpu_s":.. for the interval. */
static void cpu_print(const struct cpu_sample *a, const struct cpu_sample *b, double secs,
                      uint64_t answered)
{
    double hz = (double)sysconf(_SC_CLK_TCK);
    if (a->pid_ticks >= 0 && b->pid_ticks >= 0)
        printf(",\"daemon_cpu_pct\":%.0f",
               100.0 * (double)(b->pid_ticks - a->pid_ticks) / hz / secs);
    if (a->cpu_ticks >= 0 && b->cpu_ticks >= 0) {
        double busy = (double)(b->cpu_ticks - a->cpu_ticks) / hz;
        printf(",\"cpu_busy_pct\":%.0f", 100.0 * busy / secs);
        if (busy > 0) printf(",\"answered_per_cpu_s\":%.0f", (double)answered / busy);
    }
}

/* ---- handshake probe: Register -> RegisterAck, then Join -> PeerInfo to both sides ---- */

/* One probe handshake at a time, driven from the load loop (no thread: a second thread on the
 * generator's core would add its own scheduling delay to every sample). */
struct probe {
    bool on;
    int fs, fc;
    uint16_t ps_port, pc_port;
    char prefix[RPH_SESSION_MAX]; /* "P" + the run's prefix: its own sessions */
    uint64_t interval_ns, next_ns, t0, t1;
    enum { P_IDLE, P_WAIT_ACK, P_WAIT_INFO } state;
    bool got_c, got_s;
    uint32_t seq, src_s, src_c;
    struct rph_session sess;
    uint32_t *reg_us, *join_us, *hs_us;
    size_t n, cap;
    uint64_t lost;
    double interval_ms;
};

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of n sorted samples. */
static uint32_t pct(const uint32_t *v, size_t n, double p)
{
    if (!n) return 0;
    size_t k = (size_t)((p / 100.0) * (double)n + 0.999999);
    if (k < 1) k = 1;
    if (k > n) k = n;
    return v[k - 1];
}

static bool is_peerinfo_for(const struct rph_msg *m, uint32_t ip, uint16_t port)
{
    uint32_t want = htonl(ip);
    return m->type == RPH_PEER_INFO && m->peer.family == 4 && m->peer.port == port &&
           memcmp(m->peer.ip, &want, 4) == 0;
}

static void probe_init(struct probe *p, const struct opts *o, uint64_t start)
{
    memset(p, 0, sizeof *p);
    p->on = true;
    p->fs = open_sock(&p->ps_port);
    p->fc = open_sock(&p->pc_port);
    snprintf(p->prefix, sizeof p->prefix, "P%.9s", o->prefix);
    p->interval_ms = o->probe_ms;
    p->interval_ns = (uint64_t)(o->probe_ms * 1e6);
    p->next_ns = start;
    p->cap = (size_t)(o->seconds * 1000.0 / o->probe_ms) + 16;
    p->reg_us = calloc(p->cap, sizeof *p->reg_us);
    p->join_us = calloc(p->cap, sizeof *p->join_us);
    p->hs_us = calloc(p->cap, sizeof *p->hs_us);
    if (!p->reg_us || !p->join_us || !p->hs_us) die("calloc");
}

static void probe_send(struct probe *p, const struct opts *o, enum rph_type type, int fd,
                       uint32_t src)
{
    static struct txbatch tx;
    struct rph_msg req = {.type = type, .session = p->sess};
    tx_reset(&tx, &o->target);
    tx_add(&tx, &req, src);
    tx_flush(&tx, fd);
}

/* Starts a handshake when one is due, gives up on one older than 250 ms. */
static void probe_kick(struct probe *p, const struct opts *o, uint64_t t)
{
    if (!p->on) return;
    if (p->state != P_IDLE && t - p->t0 > 250000000u) {
        p->lost++;
        p->state = P_IDLE;
    }
    if (p->state != P_IDLE || t < p->next_ns || p->n >= p->cap) return;
    p->next_ns += p->interval_ns;
    if (p->next_ns < t) p->next_ns = t + p->interval_ns;
    p->seq++;
    p->src_s = pool_addr(POOL_PROBE_SERVER, p->seq, o->sources);
    p->src_c = pool_addr(POOL_PROBE_CLIENT, p->seq, o->sources);
    session_of(&p->sess, p->prefix, p->seq);
    p->t0 = now_ns();
    p->state = P_WAIT_ACK;
    p->got_c = p->got_s = false;
    probe_send(p, o, RPH_REGISTER, p->fs, p->src_s);
}

static void probe_poll(struct probe *p, const struct opts *o)
{
    static struct rxbatch rx;
    if (!p->on) return;
    for (int k = 0; k < 2; k++) {
        int n = rx_recv(&rx, k ? p->fc : p->fs);
        for (int i = 0; i < n; i++) {
            struct rph_msg m;
            if (rx_decode(&rx, i, &m) < 0) continue;
            if (!k && p->state == P_WAIT_ACK && m.type == RPH_REGISTER_ACK &&
                rph_session_equal(&m.session, &p->sess)) {
                p->t1 = now_ns();
                p->state = P_WAIT_INFO;
                probe_send(p, o, RPH_JOIN, p->fc, p->src_c);
            } else if (p->state == P_WAIT_INFO) {
                if (!k && is_peerinfo_for(&m, p->src_c, p->pc_port)) p->got_s = true;
                if (k && is_peerinfo_for(&m, p->src_s, p->ps_port)) p->got_c = true;
            }
        }
    }
    if (p->state == P_WAIT_INFO && p->got_c && p->got_s) {
        uint64_t t2 = now_ns();
        p->reg_us[p->n] = (uint32_t)((p->t1 - p->t0) / 1000);
        p->join_us[p->n] = (uint32_t)((t2 - p->t1) / 1000);
        p->hs_us[p->n] = (uint32_t)((t2 - p->t0) / 1000);
        p->n++;
        p->state = P_IDLE;
    }
}

/* Prints the samples and releases the probe. */
static void probe_print(struct probe *p)
{
    qsort(p->reg_us, p->n, sizeof *p->reg_us, cmp_u32);
    qsort(p->join_us, p->n, sizeof *p->join_us, cmp_u32);
    qsort(p->hs_us, p->n, sizeof *p->hs_us, cmp_u32);
    printf(",\"probe\":{\"handshakes\":%zu,\"lost\":%" PRIu64 ",\"interval_ms\":%.3f,"
           "\"register_p50_us\":%u,\"register_p99_us\":%u,"
           "\"join_p50_us\":%u,\"join_p99_us\":%u,"
           "\"handshake_p50_us\":%u,\"handshake_p99_us\":%u,\"handshake_max_us\":%u}",
           p->n, p->lost, p->interval_ms, pct(p->reg_us, p->n, 50), pct(p->reg_us, p->n, 99),
           pct(p->join_us, p->n, 50), pct(p->join_us, p->n, 99), pct(p->hs_us, p->n, 50),
           pct(p->hs_us, p->n, 99), p->n ? p->hs_us[p->n - 1] : 0);
    close(p->fs);
    close(p->fc);
    free(p->reg_us);
    free(p->join_us);
    free(p->hs_us);
}

/* ---- fill: register sessions [offset, offset + count) until each one is acknowledged ---- */

struct counts {
    uint64_t sent, answered, other, written_off, stalls, dropped, skipped;
};

/* Registers sessions of prefix o->prefix from fd (server side); returns how many were acked.
 * With pr on, probe handshakes are timed meanwhile (e.g. across the table's growth). */
static uint64_t fill(const struct opts *o, int fd, uint32_t offset, uint32_t count, double max_s,
                     struct counts *c, struct probe *pr)
{
    static struct rxbatch rx;
    static struct txbatch tx;
    uint8_t *acked = calloc((count + 7) / 8, 1);
    if (!acked) die("calloc");
    uint64_t nacked = 0, inflight = 0, last_rx = now_ns();
    uint32_t cursor = 0;
    uint64_t end = now_ns() + (uint64_t)(max_s * 1e9);
    while (nacked < count && now_ns() < end) {
        int n = rx_recv(&rx, fd);
        for (int i = 0; i < n; i++) {
            struct rph_msg m;
            int64_t k;
            if (rx_decode(&rx, i, &m) < 0 || m.type != RPH_REGISTER_ACK ||
                (k = index_of(&m.session)) < offset || k >= (int64_t)offset + count) {
                c->other++;
                continue;
            }
            uint32_t j = (uint32_t)(k - offset);
            if (inflight) inflight--;
            if (acked[j / 8] & (1u << (j % 8))) continue;
            acked[j / 8] |= (uint8_t)(1u << (j % 8));
            nacked++;
            c->answered++;
        }
        uint64_t t = now_ns();
        if (n) last_rx = t;
        if (pr) {
            probe_kick(pr, o, t);
            probe_poll(pr, o);
        }
        if (inflight && t - last_rx > STALL_MS * 1000000ull) {
            /* Nothing for a while: what is in flight was lost; send it again. */
            c->written_off += inflight;
            c->stalls++;
            inflight = 0;
            last_rx = t;
        }
        if (inflight < o->window) {
            tx_reset(&tx, &o->target);
            uint32_t want = o->window - (uint32_t)inflight;
            if (want > o->batch) want = o->batch;
            /* One pass over the range; the next pass (for what got lost) starts only when
             * nothing is in flight any more, so nothing is sent twice while it is on its way. */
            if (cursor == count && inflight == 0) cursor = 0;
            while (tx.n < want && cursor < count) {
                uint32_t j = cursor++;
                if (acked[j / 8] & (1u << (j % 8))) continue;
                struct rph_msg req = {.type = RPH_REGISTER};
                session_of(&req.session, o->prefix, offset + j);
                tx_add(&tx, &req, pool_addr(POOL_LOAD_SERVER, offset + j, o->sources));
            }
            unsigned s = tx_flush(&tx, fd);
            c->sent += s;
            inflight += s;
        }
    }
    free(acked);
    return nacked;
}

/* ---- rate: a closed window of requests (the most it answers), or paced at -r per second ---- */

static enum rph_type answer_type(enum rph_type t)
{
    return t == RPH_REGISTER ? RPH_REGISTER_ACK : t == RPH_JOIN ? RPH_PEER_INFO : RPH_HELLO_RESP;
}

static int run_rate(const struct opts *o)
{
    static struct rxbatch rx;
    static struct txbatch tx;
    uint16_t port_c, port_s;
    int fc = open_sock(&port_c), fs = open_sock(&port_s);
    struct counts c = {0}, pre = {0};
    uint64_t server_peerinfos = 0;
    double pre_s = 0;
    bool load = o->msg != RPH_LOCAL_INTERRUPT; /* -m none: the probe alone */
    if (o->msg == RPH_JOIN || o->msg == RPH_REGISTER) {
        /* Join: the sessions must exist, registered from the server side. Register: the
         * measured ones are the steady state, refreshes (from the same address and port);
         * new sessions are what fill measures. */
        uint64_t t = now_ns();
        uint64_t got = fill(o, o->msg == RPH_JOIN ? fs : fc, 0, o->sessions, 60.0, &pre, NULL);
        pre_s = (double)(now_ns() - t) / 1e9;
        if (got < o->sessions) {
            fprintf(stderr, "hp_load: only %" PRIu64 " of %u sessions registered\n", got,
                    o->sessions);
            return 1;
        }
    }
    struct cpu_sample cs0 = cpu_sample(o);
    uint64_t t0 = now_ns(), end = t0 + (uint64_t)(o->seconds * 1e9);
    struct probe pr = {0};
    if (o->probe) probe_init(&pr, o, t0);
    enum rph_type want = answer_type(o->msg);
    /* Paced: send in chunks of about 50 us worth of requests. */
    uint64_t chunk = o->rate ? o->rate / 20000 : o->batch;
    if (chunk < 1) chunk = 1;
    if (chunk > o->batch) chunk = o->batch;
    uint64_t inflight = 0, next = 0, last_rx = t0;
    uint64_t t;
    while ((t = now_ns()) < end) {
        probe_kick(&pr, o, t);
        int n = rx_recv(&rx, fc);
        for (int i = 0; i < n; i++) {
            struct rph_msg m;
            if (rx_decode(&rx, i, &m) == 0 && m.type == want)
                c.answered++;
            else
                c.other++;
            if (inflight) inflight--;
        }
        if (n) last_rx = t;
        if (o->msg == RPH_JOIN) {
            /* The PeerInfo toward each session's server (not counted as the answer). */
            int k;
            while ((k = rx_recv(&rx, fs)) > 0)
                server_peerinfos += (uint64_t)k;
        }
        probe_poll(&pr, o);
        if (!load) continue;
        uint64_t room = inflight < o->window ? o->window - inflight : 0;
        if (o->rate) {
            /* Open loop: requests are due at the rate whether or not answers came back. */
            uint64_t due_total = (uint64_t)((double)(t - t0) * (double)o->rate / 1e9);
            uint64_t done = c.sent + c.dropped + c.skipped;
            uint64_t owed = due_total > done ? due_total - done : 0;
            /* Fallen behind (descheduled, or the prefill's tail): skip what is more than a
             * window late rather than send it in one burst the daemon has to queue. */
            if (owed > o->window) {
                c.skipped += owed - o->window;
                owed = o->window;
            }
            if (owed < chunk) continue;
            room = owed;
        }
        if (room) {
            tx_reset(&tx, &o->target);
            while (tx.n < o->batch && tx.n < room) {
                uint32_t i =
                    (uint32_t)(next++ % (o->msg == RPH_HELLO_REQ ? UINT32_MAX : o->sessions));
                struct rph_msg req = {.type = o->msg};
                uint32_t src;
                if (o->msg == RPH_HELLO_REQ) {
                    src = pool_addr(POOL_HELLO, i, o->sources);
                } else {
                    session_of(&req.session, o->prefix, i);
                    src = pool_addr(o->msg == RPH_JOIN ? POOL_LOAD_CLIENT : POOL_LOAD_SERVER, i,
                                    o->sources);
                }
                tx_add(&tx, &req, src);
            }
            unsigned want_n = tx.n;
            unsigned s = tx_flush(&tx, fc);
            c.sent += s;
            c.dropped += want_n - s;
            inflight += s;
        } else if (t - last_rx > STALL_MS * 1000000ull) {
            /* Nothing for a while with the window full: what is in flight was lost. */
            c.written_off += inflight;
            c.stalls++;
            inflight = 0;
            last_rx = t;
        }
    }
    double secs = (double)(t - t0) / 1e9;
    struct cpu_sample cs1 = cpu_sample(o);
    printf("{\"mode\":\"rate\",\"msg\":\"%s\",\"seconds\":%.3f,\"sent\":%" PRIu64
           ",\"answered\":%" PRIu64 ",\"other\":%" PRIu64 ",\"written_off\":%" PRIu64
           ",\"stalls\":%" PRIu64 ",\"not_sent\":%" PRIu64 ",\"skipped\":%" PRIu64
           ",\"answered_per_s\":%.0f,\"sent_per_s\":%.0f,"
           "\"paced_per_s\":%" PRIu64 ",\"window\":%u,\"batch\":%u,\"sources\":%u,\"sessions\":%u",
           load ? rph_type_name(o->msg) : "none", secs, c.sent, c.answered, c.other, c.written_off,
           c.stalls, c.dropped, c.skipped, (double)c.answered / secs, (double)c.sent / secs,
           o->rate, o->window, o->batch, o->sources, o->sessions);
    if (o->msg == RPH_JOIN) printf(",\"server_peerinfos\":%" PRIu64, server_peerinfos);
    if (o->msg == RPH_JOIN || o->msg == RPH_REGISTER) printf(",\"prefill_seconds\":%.3f", pre_s);
    cpu_print(&cs0, &cs1, secs, c.answered);
    if (o->probe) probe_print(&pr);
    printf("}\n");
    close(fc);
    close(fs);
    return 0;
}

/* ---- reflect: a minimal batched responder, to measure hp_load's own ceiling ---- */

/* Stands in for holepuncherd: answers HelloReq, Register and Join with what holepuncherd would
 * send the sender (nothing stored, nothing logged), reading and writing in batches. Whatever
 * hp_load reaches against it bounds what it can measure. */
static int run_reflect(const struct opts *o)
{
    static struct rxbatch rx;
    static struct mmsghdr out[MAXB];
    static struct iovec oiov[MAXB];
    static uint8_t obuf[MAXB][MSGBUF];
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) die("socket");
    int big = 4 << 20;
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof big) < 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
    if (bind(fd, (struct sockaddr *)&o->target, sizeof o->target) < 0) die("bind");
    uint64_t end = now_ns() + (uint64_t)(o->seconds * 1e9), answered = 0;
    while (now_ns() < end) {
        struct pollfd pf = {.fd = fd, .events = POLLIN};
        if (poll(&pf, 1, 100) <= 0) continue;
        int n = rx_recv(&rx, fd);
        int k = 0;
        for (int i = 0; i < n; i++) {
            struct rph_msg m, a = {0};
            if (rx_decode(&rx, i, &m) < 0) continue;
            if (m.type == RPH_HELLO_REQ) {
                a.type = RPH_HELLO_RESP;
            } else if (m.type == RPH_REGISTER) {
                a.type = RPH_REGISTER_ACK;
                a.session = m.session;
            } else if (m.type == RPH_JOIN) {
                a.type = RPH_PEER_INFO;
                rph_addr_from_sockaddr(&a.peer, (struct sockaddr *)&rx.from[i], sizeof rx.from[i]);
            } else {
                continue;
            }
            int len = rph_wire_encode(&a, obuf[k], MSGBUF);
            if (len < 0) continue;
            oiov[k] = (struct iovec){.iov_base = obuf[k], .iov_len = (size_t)len};
            memset(&out[k], 0, sizeof out[k]);
            out[k].msg_hdr.msg_name = &rx.from[i];
            out[k].msg_hdr.msg_namelen = sizeof rx.from[i];
            out[k].msg_hdr.msg_iov = &oiov[k];
            out[k].msg_hdr.msg_iovlen = 1;
            k++;
        }
        for (int done = 0; done < k;) {
            int r = sendmmsg(fd, out + done, (unsigned)(k - done), 0);
            if (r < 0) {
                if (errno == EINTR) continue;
                break;
            }
            done += r;
            answered += (uint64_t)r;
        }
    }
    printf("{\"mode\":\"reflect\",\"answered\":%" PRIu64 "}\n", answered);
    close(fd);
    return 0;
}

static int run_fill(const struct opts *o)
{
    uint16_t port;
    int fd = open_sock(&port);
    struct counts c = {0};
    struct cpu_sample cs0 = cpu_sample(o);
    uint64_t t0 = now_ns();
    struct probe pr = {0};
    if (o->probe) probe_init(&pr, o, t0);
    uint64_t got = fill(o, fd, o->offset, o->count, o->seconds, &c, o->probe ? &pr : NULL);
    double secs = (double)(now_ns() - t0) / 1e9;
    struct cpu_sample cs1 = cpu_sample(o);
    printf("{\"mode\":\"fill\",\"offset\":%u,\"count\":%u,\"acked\":%" PRIu64 ",\"sent\":%" PRIu64
           ",\"written_off\":%" PRIu64 ",\"seconds\":%.3f,\"acked_per_s\":%.0f",
           o->offset, o->count, got, c.sent, c.written_off, secs, (double)got / secs);
    cpu_print(&cs0, &cs1, secs, got);
    if (o->probe) probe_print(&pr);
    printf("}\n");
    close(fd);
    return got == o->count ? 0 : 1;
}

static void usage(FILE *f)
{
    fprintf(
        f,
        "usage: hp_load -t ADDR:PORT MODE [options]\n"
        "  rate -m register|join|hello|none  requests for -d seconds; counts the answers\n"
        "  fill -n COUNT [-o OFFSET]         register COUNT sessions, each until acknowledged\n"
        "  reflect                           answer on ADDR:PORT in batches, as a stand-in\n"
        "                                    for holepuncherd (hp_load's own ceiling)\n"
        "options:\n"
        "  -d SECONDS   duration (rate) or time limit (fill); default 5\n"
        "  -r RATE      rate: pace the requests at RATE per second (default: a closed\n"
        "               window of -w requests in flight, i.e. as fast as it answers)\n"
        "  -s SESSIONS  sessions cycled through (rate register/join); default 65536\n"
        "  -S SOURCES   source addresses per pool (< 1048576); default 1048575\n"
        "  -w WINDOW    requests in flight; default 512\n"
        "  -b BATCH     requests per sendmmsg (<= 256); default 64\n"
        "  -p           also time probe handshakes (Register->Ack, Join->PeerInfo x2); rate, fill\n"
        "  -i MS        probe interval; default 2\n"
        "  -x PREFIX    session ID prefix (<= 10 chars); default \"s\"\n"
        "  -W PID       report the CPU use of process PID (the daemon) over the run\n"
        "  -C CPU       report how busy CPU number CPU was over the run\n");
}

int main(int argc, char **argv)
{
    struct opts o = {.seconds = 5,
                     .sessions = 65536,
                     .sources = (1u << POOL_BITS) - 1,
                     .window = 512,
                     .batch = 64,
                     .probe_ms = 2,
                     .prefix = "s",
                     .msg = RPH_HELLO_REQ,
                     .watch_cpu = -1};
    const char *target = NULL;
    int opt;
    while ((opt = getopt(argc, argv, "t:m:d:r:s:S:w:b:pi:x:n:o:W:C:h")) != -1) {
        switch (opt) {
        case 't':
            target = optarg;
            break;
        case 'm':
            if (!strcmp(optarg, "register"))
                o.msg = RPH_REGISTER;
            else if (!strcmp(optarg, "join"))
                o.msg = RPH_JOIN;
            else if (!strcmp(optarg, "hello"))
                o.msg = RPH_HELLO_REQ;
            else if (!strcmp(optarg, "none"))
                o.msg = RPH_LOCAL_INTERRUPT; /* stands for "no load" */
            else {
                usage(stderr);
                return 2;
            }
            break;
        case 'd':
            o.seconds = atof(optarg);
            break;
        case 'r':
            o.rate = strtoull(optarg, NULL, 10);
            break;
        case 's':
            o.sessions = (uint32_t)strtoul(optarg, NULL, 10);
            break;
        case 'S':
            o.sources = (uint32_t)strtoul(optarg, NULL, 10);
            break;
        case 'w':
            o.window = (uint32_t)strtoul(optarg, NULL, 10);
            break;
        case 'b':
            o.batch = (uint32_t)strtoul(optarg, NULL, 10);
            break;
        case 'p':
            o.probe = true;
            break;
        case 'i':
            o.probe_ms = atof(optarg);
            break;
        case 'x':
            o.prefix = optarg;
            break;
        case 'n':
            o.count = (uint32_t)strtoul(optarg, NULL, 10);
            break;
        case 'o':
            o.offset = (uint32_t)strtoul(optarg, NULL, 10);
            break;
        case 'W':
            o.watch_pid = atoi(optarg);
            break;
        case 'C':
            o.watch_cpu = atoi(optarg);
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (!target || optind != argc - 1) {
        usage(stderr);
        return 2;
    }
    o.mode = argv[optind];
    struct rph_addr ta;
    if (rph_addr_parse(target, &ta) < 0 || ta.family != 4) {
        fprintf(stderr, "hp_load: -t wants an IPv4 \"a.b.c.d:port\", got \"%s\"\n", target);
        return 2;
    }
    o.target.sin_family = AF_INET;
    o.target.sin_port = htons(ta.port);
    memcpy(&o.target.sin_addr, ta.ip, 4);
    if (o.seconds <= 0 || o.seconds > 600 || o.batch < 1 || o.batch > MAXB || o.window < 1 ||
        o.sources < 1 || o.sources >= (1u << POOL_BITS) || o.sessions < 1 || o.probe_ms < 0.1 ||
        o.rate > 100000000u || strlen(o.prefix) > 10) {
        fprintf(stderr, "hp_load: an option is out of range (see -h)\n");
        return 2;
    }
    if (!strcmp(o.mode, "rate")) {
        if (o.msg == RPH_LOCAL_INTERRUPT && !o.probe) {
            fprintf(stderr, "hp_load: -m none needs -p\n");
            return 2;
        }
        return run_rate(&o);
    }
    if (!strcmp(o.mode, "reflect")) return run_reflect(&o);
    if (!strcmp(o.mode, "fill")) {
        if (o.count < 1) {
            fprintf(stderr, "hp_load: fill needs -n COUNT\n");
            return 2;
        }
        return run_fill(&o);
    }
    usage(stderr);
    return 2;
}
