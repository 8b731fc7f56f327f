// SPDX-License-Identifier: MIT
// UDP sockets for the library's modules: bind, buffer sizes, address mapping on send.
#include "udp.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static void set_buf(int fd, int opt, int force_opt, int bytes)
{
    if (bytes <= 0) return;
    /* The FORCE variant passes rmem_max/wmem_max when we are root; fall back quietly. */
    if (setsockopt(fd, SOL_SOCKET, force_opt, &bytes, sizeof bytes) < 0)
        setsockopt(fd, SOL_SOCKET, opt, &bytes, sizeof bytes);
}

static int open_bound(const struct rph_addr *any, int family, bool v6only, int sndbuf, int rcvbuf)
{
    int af = family == 6 ? AF_INET6 : AF_INET;
    int fd = socket(af, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -errno;
    if (af == AF_INET6) {
        int v = v6only ? 1 : 0;
        if (setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v, sizeof v) < 0 && !v6only) {
            int e = -errno; /* a dual-stack socket that is not one would lose IPv4 */
            close(fd);
            return e;
        }
    }
    set_buf(fd, SO_SNDBUF, SO_SNDBUFFORCE, sndbuf);
    set_buf(fd, SO_RCVBUF, SO_RCVBUFFORCE, rcvbuf);
    struct sockaddr_storage ss;
    socklen_t sl = rph_addr_to_sockaddr(any, &ss, family);
    if (bind(fd, (struct sockaddr *)&ss, sl) < 0) {
        int e = -errno;
        close(fd);
        return e;
    }
    return fd;
}

int rph_udp_open(const struct rph_addr *bind_addr, int family, int sndbuf, int rcvbuf)
{
    struct rph_addr any = {0};
    if (bind_addr && bind_addr->family) {
        any = *bind_addr;
        family = bind_addr->family;
    } else {
        any.family = (uint8_t)family;
        if (bind_addr) any.port = bind_addr->port;
    }
    return open_bound(&any, family, true, sndbuf, rcvbuf);
}

int rph_udp_open_dual(uint16_t port, int sndbuf, int rcvbuf)
{
    struct rph_addr any = {.family = 6, .port = port};
    return open_bound(&any, 6, false, sndbuf, rcvbuf);
}

void rph_udp_tiny_replies(int fd)
{
    /* With DF set the kernel writes IP ID 0 instead of hashing one from a shared table: 4.5 %
     * of holepuncherd's time at full load. Its replies are at most 131 bytes (SealedPeerInfo),
     * far below any path MTU. IPv6 has no ID, and a failure only costs that time. */
    if (rph_udp_family(fd) != 4) return;
    int v = IP_PMTUDISC_PROBE;
    (void)setsockopt(fd, IPPROTO_IP, IP_MTU_DISCOVER, &v, sizeof v);
}

int rph_udp_family(int fd)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) < 0) return -errno;
    return ss.ss_family == AF_INET6 ? 6 : 4;
}

int rph_udp_local(int fd, struct rph_addr *out)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) < 0) return -errno;
    /* Keep the family of the socket even for "::", unlike from_sockaddr's v4 mapping. */
    return rph_addr_from_sockaddr(out, (struct sockaddr *)&ss, sl);
}

int rph_udp_send(int fd, int family, const struct rph_addr *to, const void *buf, size_t len)
{
    struct sockaddr_storage ss;
    socklen_t sl = rph_addr_to_sockaddr(to, &ss, family);
    for (;;) {
        ssize_t n = sendto(fd, buf, len, 0, (struct sockaddr *)&ss, sl);
        if (n >= 0) return 0;
        if (errno == EINTR) continue;
        return -errno;
    }
}
