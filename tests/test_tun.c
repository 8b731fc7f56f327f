// SPDX-License-Identifier: MIT
// Real TUN devices, each test in a forked child's own network namespace (needs root).
#include <criterion/criterion.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <linux/capability.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../src/tun/tun_linux.h"

#define SKIP 77

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            snprintf(msg, cap, __VA_ARGS__);                                                       \
            return 1;                                                                              \
        }                                                                                          \
    } while (0)

typedef int (*netns_fn)(char *msg, size_t cap);

/* Runs fn in a child inside new namespaces (CLONE_NEWNET plus extra); fn reports a failure
 * as a message and exit code 1, or SKIP. */
static void in_netns(netns_fn fn, int extra)
{
    if (geteuid() != 0) cr_skip_test("needs root for network namespaces and CAP_NET_ADMIN");
    int p[2];
    cr_assert_eq(pipe(p), 0);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        close(p[0]);
        char msg[512] = "";
        int rc;
        if (unshare(CLONE_NEWNET | extra) < 0) {
            snprintf(msg, sizeof msg, "unshare: %s", strerror(errno));
            rc = SKIP;
        } else {
            rc = fn(msg, sizeof msg);
        }
        ssize_t n = write(p[1], msg, strlen(msg));
        (void)n;
        _exit(rc);
    }
    close(p[1]);
    char msg[512];
    size_t len = 0;
    ssize_t n;
    while ((n = read(p[0], msg + len, sizeof msg - 1 - len)) > 0)
        len += (size_t)n;
    msg[len] = 0;
    close(p[0]);
    int st;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    cr_assert(WIFEXITED(st), "child died (signal %d)", WIFSIGNALED(st) ? WTERMSIG(st) : 0);
    if (WEXITSTATUS(st) == SKIP) cr_skip_test("%s", msg);
    cr_assert_eq(WEXITSTATUS(st), 0, "%s", msg);
}

static bool ipv6_enabled(void)
{
    FILE *f = fopen("/proc/sys/net/ipv6/conf/default/disable_ipv6", "r");
    if (!f) return false;
    int v = 1;
    if (fscanf(f, "%d", &v) != 1) v = 1;
    fclose(f);
    return v == 0;
}

/* Sends a UDP datagram to dst and waits for the kernel to route it into the TUN: proves the
 * address, the prefix route and the link state together. 0 when it came out of t->fd. */
static int udp_reaches_tun(const struct tun_dev *t, int family, const char *dst, char *msg,
                           size_t cap)
{
    struct sockaddr_storage ss = {0};
    socklen_t sl;
    if (family == AF_INET) {
        struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
        s4->sin_family = AF_INET;
        s4->sin_port = htons(9);
        inet_pton(AF_INET, dst, &s4->sin_addr);
        sl = sizeof *s4;
    } else {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons(9);
        inet_pton(AF_INET6, dst, &s6->sin6_addr);
        sl = sizeof *s6;
    }
    int s = socket(family, SOCK_DGRAM, 0);
    CHECK(s >= 0, "socket: %s", strerror(errno));
    ssize_t sent = sendto(s, "ruphin", 6, 0, (struct sockaddr *)&ss, sl);
    int e = errno;
    close(s);
    CHECK(sent == 6, "sendto %s: %s", dst, strerror(e));
    uint8_t want[16];
    inet_pton(family, dst, want);
    /* The kernel may queue its own packets first (IPv6 router solicitations, MLD). */
    for (int tries = 0; tries < 20; tries++) {
        struct pollfd p = {.fd = t->fd, .events = POLLIN};
        CHECK(poll(&p, 1, 1000) == 1, "nothing came out of %s for %s", t->name, dst);
        uint8_t pkt[2048];
        ssize_t n = read(t->fd, pkt, sizeof pkt);
        CHECK(n > 0, "read %s: %s", t->name, strerror(errno));
        if (family == AF_INET && n >= 28 && pkt[0] >> 4 == 4 && pkt[9] == 17 &&
            memcmp(pkt + 16, want, 4) == 0)
            return 0;
        if (family == AF_INET6 && n >= 48 && pkt[0] >> 4 == 6 && pkt[6] == 17 &&
            memcmp(pkt + 24, want, 16) == 0)
            return 0;
    }
    snprintf(msg, cap, "the datagram to %s never came out of %s", dst, t->name);
    return 1;
}

static int create_configure_close(char *msg, size_t cap)
{
    struct tun_dev t;
    struct errmsg err = {""};
    int rc = tun_open(&t, "rph0", &err);
    CHECK(rc == 0, "tun_open: %d %s", rc, err.msg);
    CHECK(strcmp(t.name, "rph0") == 0, "name %s", t.name);
    CHECK(t.ifindex > 0 && (unsigned)t.ifindex == if_nametoindex("rph0"), "ifindex %d", t.ifindex);
    CHECK(fcntl(t.fd, F_GETFL) & O_NONBLOCK, "fd is blocking");
    CHECK(fcntl(t.fd, F_GETFD) & FD_CLOEXEC, "fd lacks FD_CLOEXEC");
    struct ifreq q;
    memset(&q, 0, sizeof q);
    CHECK(ioctl(t.fd, TUNGETIFF, &q) == 0, "TUNGETIFF: %s", strerror(errno));
    CHECK((q.ifr_flags & (IFF_TUN | IFF_NO_PI | IFF_PERSIST)) == (IFF_TUN | IFF_NO_PI),
          "flags 0x%x", q.ifr_flags);

    const uint8_t a4[4] = {10, 77, 0, 1};
    uint8_t a6[16];
    inet_pton(AF_INET6, "fd77::1", a6);
    bool v6 = ipv6_enabled();
    rc = tun_configure(&t, a4, 24, v6 ? a6 : NULL, 64, 1400, &err);
    CHECK(rc == 0, "tun_configure: %d %s", rc, err.msg);

    int s = socket(AF_INET, SOCK_DGRAM, 0);
    memset(&q, 0, sizeof q);
    strcpy(q.ifr_name, "rph0");
    CHECK(ioctl(s, SIOCGIFMTU, &q) == 0 && q.ifr_mtu == 1400, "mtu %d", q.ifr_mtu);
    CHECK(ioctl(s, SIOCGIFFLAGS, &q) == 0 && (q.ifr_flags & IFF_UP), "not up: 0x%x", q.ifr_flags);
    CHECK(ioctl(s, SIOCGIFADDR, &q) == 0, "SIOCGIFADDR: %s", strerror(errno));
    struct sockaddr_in *sin = (struct sockaddr_in *)&q.ifr_addr;
    CHECK(memcmp(&sin->sin_addr, a4, 4) == 0, "address %s", inet_ntoa(sin->sin_addr));
    CHECK(ioctl(s, SIOCGIFNETMASK, &q) == 0, "SIOCGIFNETMASK: %s", strerror(errno));
    CHECK(sin->sin_addr.s_addr == htonl(0xffffff00), "netmask %s", inet_ntoa(sin->sin_addr));
    close(s);

    if (v6) {
        struct ifaddrs *ifs, *i;
        bool found = false;
        CHECK(getifaddrs(&ifs) == 0, "getifaddrs: %s", strerror(errno));
        for (i = ifs; i; i = i->ifa_next) {
            if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET6 || strcmp(i->ifa_name, "rph0"))
                continue;
            const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)i->ifa_addr;
            const struct sockaddr_in6 *m6 = (const struct sockaddr_in6 *)i->ifa_netmask;
            static const uint8_t mask64[16] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
            if (memcmp(&s6->sin6_addr, a6, 16) == 0 && m6 &&
                memcmp(&m6->sin6_addr, mask64, 16) == 0)
                found = true;
        }
        freeifaddrs(ifs);
        CHECK(found, "fd77::1/64 is not on rph0");
    }

    if (udp_reaches_tun(&t, AF_INET, "10.77.0.2", msg, cap)) return 1;
    if (v6 && udp_reaches_tun(&t, AF_INET6, "fd77::2", msg, cap)) return 1;

    /* The name is taken now, by us and by any other interface. */
    struct tun_dev t2;
    rc = tun_open(&t2, "rph0", &err);
    CHECK(rc == -EEXIST, "second tun_open: %d %s", rc, err.msg);
    CHECK(strcmp(err.msg, "interface rph0 already exists") == 0, "message: %s", err.msg);
    CHECK(t2.fd == -1, "fd left set on failure");
    rc = tun_open(&t2, "lo", &err);
    CHECK(rc == -EEXIST && strcmp(err.msg, "interface lo already exists") == 0, "lo: %d %s", rc,
          err.msg);

    tun_close(&t);
    CHECK(t.fd == -1, "fd not reset");
    CHECK(if_nametoindex("rph0") == 0, "rph0 still exists after tun_close");
    tun_close(&t); /* harmless */

    /* The name is free again. */
    rc = tun_open(&t, "rph0", &err);
    CHECK(rc == 0, "reopen: %d %s", rc, err.msg);
    tun_close(&t);
    return 0;
}

Test(tun, create_configure_clash_close)
{
    in_netns(create_configure_close, 0);
}

static int refuses_persistent_tun(char *msg, size_t cap)
{
    /* A persistent TUN that nobody holds: TUNSETIFF alone would silently attach to it. */
    int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        snprintf(msg, cap, "/dev/net/tun: %s", strerror(errno));
        return SKIP;
    }
    struct ifreq q;
    memset(&q, 0, sizeof q);
    q.ifr_flags = IFF_TUN | IFF_NO_PI;
    strcpy(q.ifr_name, "rph9");
    CHECK(ioctl(fd, TUNSETIFF, &q) == 0, "TUNSETIFF: %s", strerror(errno));
    CHECK(ioctl(fd, TUNSETPERSIST, 1) == 0, "TUNSETPERSIST: %s", strerror(errno));
    close(fd);

    struct tun_dev t;
    struct errmsg err = {""};
    int rc = tun_open(&t, "rph9", &err);
    CHECK(rc == -EEXIST && strcmp(err.msg, "interface rph9 already exists") == 0, "got %d %s", rc,
          err.msg);
    CHECK(t.fd == -1, "fd left set");
    return 0;
}

Test(tun, refuses_existing_persistent_tun)
{
    in_netns(refuses_persistent_tun, 0);
}

static int needs_cap_net_admin(char *msg, size_t cap)
{
    /* Still root (so /dev/net/tun opens), but without CAP_NET_ADMIN. */
    struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3};
    struct __user_cap_data_struct d[2];
    CHECK(syscall(SYS_capget, &h, d) == 0, "capget: %s", strerror(errno));
    d[CAP_NET_ADMIN / 32].effective &= ~(1u << (CAP_NET_ADMIN % 32));
    d[CAP_NET_ADMIN / 32].permitted &= ~(1u << (CAP_NET_ADMIN % 32));
    CHECK(syscall(SYS_capset, &h, d) == 0, "capset: %s", strerror(errno));
    struct tun_dev t;
    struct errmsg err = {""};
    int rc = tun_open(&t, "rph0", &err);
    CHECK(rc == -EPERM, "got %d %s", rc, err.msg);
    CHECK(strcmp(err.msg,
                 "creating rph0 needs CAP_NET_ADMIN (run as root or grant the capability)") == 0,
          "message: %s", err.msg);
    CHECK(t.fd == -1, "fd left set");
    return 0;
}

Test(tun, without_cap_net_admin)
{
    in_netns(needs_cap_net_admin, 0);
}

static int no_tun_device(char *msg, size_t cap)
{
    /* Hide /dev/net/tun under an empty tmpfs, in this child's mount namespace only. */
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
        mount("tmpfs", "/dev/net", "tmpfs", 0, "size=16k") < 0) {
        snprintf(msg, cap, "cannot hide /dev/net: %s", strerror(errno));
        return SKIP;
    }
    struct tun_dev t;
    struct errmsg err = {""};
    int rc = tun_open(&t, "rph0", &err);
    CHECK(rc == -ENOENT, "got %d %s", rc, err.msg);
    CHECK(strcmp(err.msg, "/dev/net/tun: No such file or directory (is the tun module loaded?)") ==
              0,
          "message: %s", err.msg);
    return 0;
}

Test(tun, missing_dev_net_tun)
{
    in_netns(no_tun_device, CLONE_NEWNS);
}

static int bad_names(char *msg, size_t cap)
{
    struct tun_dev t;
    struct errmsg err = {""};
    int rc = tun_open(&t, "", &err);
    CHECK(rc == -EINVAL, "empty name: %d %s", rc, err.msg);
    rc = tun_open(&t, "abcdefghijklmnop", &err);
    CHECK(rc == -EINVAL && strstr(err.msg, "1..15"), "long name: %d %s", rc, err.msg);
    /* Not open: configure refuses instead of touching ifindex 0. */
    const uint8_t a4[4] = {10, 77, 0, 1};
    rc = tun_configure(&t, a4, 24, NULL, 0, 1400, &err);
    CHECK(rc == -EBADF, "configure on closed: %d %s", rc, err.msg);
    return 0;
}

Test(tun, bad_names_and_closed_device)
{
    in_netns(bad_names, 0);
}

static int kernel_refusal_is_reported(char *msg, size_t cap)
{
    struct tun_dev t;
    struct errmsg err = {""};
    int rc = tun_open(&t, "rph0", &err);
    CHECK(rc == 0, "tun_open: %d %s", rc, err.msg);
    const uint8_t a4[4] = {10, 77, 0, 1};
    /* 100000 is above any MTU the kernel allows on a TUN (65535). */
    rc = tun_configure(&t, a4, 24, NULL, 0, 100000, &err);
    CHECK(rc == -EINVAL, "got %d %s", rc, err.msg);
    CHECK(strncmp(err.msg, "setting MTU 100000 on rph0: Invalid argument", 44) == 0, "message: %s",
          err.msg);
    tun_close(&t);
    return 0;
}

Test(tun, kernel_refusal_is_reported)
{
    in_netns(kernel_refusal_is_reported, 0);
}

static int ipv6_disabled_is_explained(char *msg, size_t cap)
{
    /* A sysctl of this namespace only: new devices here get IPv6 switched off. */
    FILE *f = fopen("/proc/sys/net/ipv6/conf/default/disable_ipv6", "w");
    if (!f || fputs("1\n", f) < 0 || fclose(f) != 0) {
        snprintf(msg, cap, "cannot switch IPv6 off in the namespace: %s", strerror(errno));
        return SKIP;
    }
    struct tun_dev t;
    struct errmsg err = {""};
    int rc = tun_open(&t, "rph0", &err);
    CHECK(rc == 0, "tun_open: %d %s", rc, err.msg);
    const uint8_t a4[4] = {10, 77, 0, 1};
    uint8_t a6[16];
    inet_pton(AF_INET6, "fd77::1", a6);
    rc = tun_configure(&t, a4, 24, a6, 64, 1400, &err);
    CHECK(rc == -EACCES, "got %d %s", rc, err.msg);
    CHECK(strstr(err.msg, "adding fd77::1/64 to rph0: Permission denied") &&
              strstr(err.msg, "disable_ipv6"),
          "message: %s", err.msg);
    tun_close(&t);
    return 0;
}

Test(tun, ipv6_disabled_is_explained)
{
    in_netns(ipv6_disabled_is_explained, 0);
}

static int address_clash_names_kernel_error(char *msg, size_t cap)
{
    struct tun_dev t;
    struct errmsg err = {""};
    int rc = tun_open(&t, "rph0", &err);
    CHECK(rc == 0, "tun_open: %d %s", rc, err.msg);
    const uint8_t a4[4] = {10, 77, 0, 1};
    rc = tun_configure(&t, a4, 24, NULL, 0, 1400, &err);
    CHECK(rc == 0, "tun_configure: %d %s", rc, err.msg);
    /* The address is there now: the kernel's EEXIST comes back in the ack, named. */
    rc = tun_configure(&t, a4, 24, NULL, 0, 1280, &err);
    CHECK(rc == -EEXIST, "second configure: %d %s", rc, err.msg);
    CHECK(strncmp(err.msg, "adding 10.77.0.1/24 to rph0: File exists", 40) == 0, "message: %s",
          err.msg);
    /* The step before it (the MTU) went through on the same netlink socket. */
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    struct ifreq q;
    memset(&q, 0, sizeof q);
    strcpy(q.ifr_name, "rph0");
    CHECK(ioctl(s, SIOCGIFMTU, &q) == 0 && q.ifr_mtu == 1280, "mtu %d", q.ifr_mtu);
    close(s);
    tun_close(&t);
    return 0;
}

Test(tun, address_clash_names_kernel_error)
{
    in_netns(address_clash_names_kernel_error, 0);
}

static int extended_ack_text_is_kept(char *msg, size_t cap)
{
    struct tun_dev t;
    struct errmsg err = {""};
    int rc = tun_open(&t, "rph0", &err);
    CHECK(rc == 0, "tun_open: %d %s", rc, err.msg);
    const uint8_t a4[4] = {10, 77, 0, 1};
    rc = tun_configure(&t, a4, 24, NULL, 0, 100000, &err);
    CHECK(rc == -EINVAL, "got %d %s", rc, err.msg);
    /* Kernels since 4.19 explain a refused MTU in an extended ack; older ones say nothing. */
    const char *plain = "setting MTU 100000 on rph0: Invalid argument";
    size_t n = strlen(plain);
    CHECK(strncmp(err.msg, plain, n) == 0, "message: %s", err.msg);
    CHECK(strlen(err.msg) > n + 2 && strncmp(err.msg + n, ": ", 2) == 0,
          "no extended-ack text in: %s", err.msg);
    CHECK(strcasestr(err.msg + n, "mtu"), "extended-ack text does not name the MTU: %s", err.msg);
    tun_close(&t);
    return 0;
}

Test(tun, extended_ack_text_is_kept)
{
    in_netns(extended_ack_text_is_kept, 0);
}
