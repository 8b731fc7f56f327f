// SPDX-License-Identifier: MIT
// TUN device setup on Linux: /dev/net/tun for the device, rtnetlink (never `ip`) for the rest.
#include "tun_linux.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <linux/if_addr.h>
#include <linux/if_tun.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#define TUN_PATH "/dev/net/tun"

static int fail(char *err, size_t errlen, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail(char *err, size_t errlen, int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (err && errlen) vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return rc;
}

static int open_flags(struct tun_dev *t, const char *name, short extra, char *err, size_t errlen)
{
    t->fd = -1;
    t->vnet = false;
    t->offload = false;
    t->name[0] = 0;
    t->ifindex = 0;
    size_t n = strlen(name);
    if (n == 0 || n >= IFNAMSIZ)
        return fail(err, errlen, -EINVAL, "interface name \"%s\" must be 1..%d characters", name,
                    IFNAMSIZ - 1);
    /* TUNSETIFF on the name of an existing persistent TUN would quietly attach to it. */
    if (if_nametoindex(name) != 0)
        return fail(err, errlen, -EEXIST, "interface %s already exists", name);

    int fd = open(TUN_PATH, O_RDWR | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        int e = errno;
        const char *hint =
            (e == ENOENT || e == ENODEV || e == ENXIO) ? " (is the tun module loaded?)" : "";
        return fail(err, errlen, -e, TUN_PATH ": %s%s", strerror(e), hint);
    }
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    ifr.ifr_flags = (short)(IFF_TUN | IFF_NO_PI | extra);
    memcpy(ifr.ifr_name, name, n);
    if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
        int e = errno;
        close(fd);
        if (e == EPERM)
            return fail(err, errlen, -EPERM,
                        "creating %s needs CAP_NET_ADMIN (run as root or grant the capability)",
                        name);
        if (e == EBUSY) /* a TUN of that name appeared since the check, held by someone */
            return fail(err, errlen, -EEXIST, "interface %s already exists", name);
        return fail(err, errlen, -e, "creating %s: %s", name, strerror(e));
    }
    /* Closes the race with the check above: a persistent TUN created in between. */
    struct ifreq got;
    memset(&got, 0, sizeof got);
    if (ioctl(fd, TUNGETIFF, &got) == 0 && (got.ifr_flags & IFF_PERSIST)) {
        close(fd);
        return fail(err, errlen, -EEXIST, "interface %s already exists", name);
    }
    unsigned idx = if_nametoindex(ifr.ifr_name);
    if (idx == 0) {
        int e = errno;
        close(fd);
        return fail(err, errlen, -e, "created %s but cannot find its index: %s", name, strerror(e));
    }
    t->fd = fd;
    snprintf(t->name, sizeof t->name, "%s", ifr.ifr_name);
    t->ifindex = (int)idx;
    t->vnet = (extra & IFF_VNET_HDR) != 0;
    return 0;
}

int tun_open(struct tun_dev *t, const char *name, char *err, size_t errlen)
{
    return open_flags(t, name, 0, err, errlen);
}

int tun_open_offload(struct tun_dev *t, const char *name, char *err, size_t errlen)
{
    int r = open_flags(t, name, IFF_VNET_HDR, err, errlen);
    if (r < 0) return r;
    /* Checksum offload and TSO: the kernel hands over 64 KB TCP super-packets. Without them
     * (an old kernel) packets still come with a virtio header, just never large. */
    unsigned off = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6;
    t->offload = ioctl(t->fd, TUNSETOFFLOAD, off) == 0;
    return 0;
}

/* One rtnetlink request: header, a fixed struct, then attributes. */
struct nlreq {
    struct nlmsghdr h;
    union {
        struct ifinfomsg ifi;
        struct ifaddrmsg ifa;
    } u;
    char attrs[128];
};

static void add_attr(struct nlreq *r, unsigned short type, const void *data, size_t len)
{
    struct rtattr *a = (struct rtattr *)((char *)r + NLMSG_ALIGN(r->h.nlmsg_len));
    a->rta_type = type;
    a->rta_len = (unsigned short)RTA_LENGTH(len);
    memcpy(RTA_DATA(a), data, len);
    r->h.nlmsg_len = NLMSG_ALIGN(r->h.nlmsg_len) + RTA_ALIGN(a->rta_len);
}

/* The kernel's own explanation (extended ack), when it sent one. */
static const char *ext_ack_msg(const struct nlmsghdr *h)
{
    if (!(h->nlmsg_flags & NLM_F_ACK_TLVS)) return NULL;
    const struct nlmsgerr *e = NLMSG_DATA(h);
    size_t off = NLMSG_HDRLEN + sizeof *e;
    if (!(h->nlmsg_flags & NLM_F_CAPPED)) off += e->msg.nlmsg_len - NLMSG_HDRLEN;
    off = NLMSG_ALIGN(off);
    while (off + sizeof(struct nlattr) <= h->nlmsg_len) {
        const struct nlattr *a = (const struct nlattr *)((const char *)h + off);
        if (a->nla_len < sizeof *a || off + a->nla_len > h->nlmsg_len) break;
        const char *s = (const char *)a + NLA_HDRLEN;
        size_t slen = a->nla_len - NLA_HDRLEN;
        if ((a->nla_type & NLA_TYPE_MASK) == NLMSGERR_ATTR_MSG && slen > 0 && s[slen - 1] == 0)
            return s;
        off += NLA_ALIGN(a->nla_len);
    }
    return NULL;
}

/* Sends r and waits for its ack: 0 or a negative errno, with *detail set to the kernel's
 * extended-ack text (into buf) when it gave one. */
static int nl_talk(int fd, struct nlreq *r, uint32_t seq, char *buf, size_t cap,
                   const char **detail)
{
    *detail = NULL;
    r->h.nlmsg_seq = seq;
    struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
    if (sendto(fd, r, r->h.nlmsg_len, 0, (struct sockaddr *)&kernel, sizeof kernel) < 0)
        return -errno;
    char rx[8192] __attribute__((aligned(NLMSG_ALIGNTO)));
    for (;;) {
        ssize_t n = recv(fd, rx, sizeof rx, 0);
        if (n < 0) {
            if (errno == EINTR) continue;
            return errno == EAGAIN ? -ETIMEDOUT : -errno;
        }
        /* NLMSG_OK/NLMSG_NEXT by hand: the macros mix signed and unsigned lengths. */
        for (size_t off = 0; off + NLMSG_HDRLEN <= (size_t)n;) {
            struct nlmsghdr *h = (struct nlmsghdr *)(rx + off);
            if (h->nlmsg_len < NLMSG_HDRLEN || h->nlmsg_len > (size_t)n - off) break;
            off += NLMSG_ALIGN(h->nlmsg_len);
            if (h->nlmsg_seq != seq || h->nlmsg_type != NLMSG_ERROR) continue;
            if (h->nlmsg_len < NLMSG_LENGTH(sizeof(struct nlmsgerr))) return -EPROTO;
            const struct nlmsgerr *e = NLMSG_DATA(h);
            if (e->error == 0) return 0;
            const char *m = ext_ack_msg(h);
            if (m) {
                snprintf(buf, cap, "%s", m);
                *detail = buf;
            }
            return e->error;
        }
    }
}

static void req_init(struct nlreq *r, uint16_t type, uint16_t flags, size_t fixed)
{
    memset(r, 0, sizeof *r);
    r->h.nlmsg_len = (uint32_t)NLMSG_LENGTH(fixed);
    r->h.nlmsg_type = type;
    r->h.nlmsg_flags = (uint16_t)(NLM_F_REQUEST | NLM_F_ACK | flags);
}

static void req_addr(struct nlreq *r, int family, const uint8_t *ip, int prefix, int ifindex)
{
    size_t len = family == AF_INET ? 4 : 16;
    req_init(r, RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, sizeof r->u.ifa);
    r->u.ifa.ifa_family = (uint8_t)family;
    r->u.ifa.ifa_prefixlen = (uint8_t)prefix;
    r->u.ifa.ifa_scope = RT_SCOPE_UNIVERSE;
    r->u.ifa.ifa_index = (unsigned)ifindex;
    /* As `ip addr add` does: local and address equal means "no point-to-point peer", and the
     * kernel then routes the whole prefix into the device. */
    add_attr(r, IFA_LOCAL, ip, len);
    add_attr(r, IFA_ADDRESS, ip, len);
    if (family == AF_INET6) {
        /* Nothing else lives on this link, and a tentative address would drop the first
         * packets until DAD finished. */
        uint32_t flags = IFA_F_NODAD;
        r->u.ifa.ifa_flags = IFA_F_NODAD;
        add_attr(r, IFA_FLAGS, &flags, sizeof flags);
    }
}

static int open_rtnl(char *err, size_t errlen)
{
    int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (fd < 0) return fail(err, errlen, -errno, "rtnetlink socket: %s", strerror(errno));
    int one = 1;
    /* Best effort: older kernels lack these and just give plainer errors. */
    setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof one);
    setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof one);
    struct timeval tv = {.tv_sec = 2};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
}

int tun_configure(struct tun_dev *t, const uint8_t addr4[4], int prefix4, const uint8_t *addr6,
                  int prefix6, int mtu, char *err, size_t errlen)
{
    if (t->fd < 0 || t->ifindex <= 0)
        return fail(err, errlen, -EBADF, "configuring %s: the device is not open", t->name);
    if (prefix4 < 1 || prefix4 > 32 || (addr6 && (prefix6 < 1 || prefix6 > 128)) || mtu < 68)
        return fail(err, errlen, -EINVAL, "configuring %s: bad prefix length or MTU", t->name);
    int fd = open_rtnl(err, errlen);
    if (fd < 0) return fd;

    char ip[INET6_ADDRSTRLEN], kmsg[256];
    const char *detail;
    struct nlreq r;
    uint32_t seq = 1;
    int rc;

    req_init(&r, RTM_NEWLINK, 0, sizeof r.u.ifi);
    r.u.ifi.ifi_family = AF_UNSPEC;
    r.u.ifi.ifi_index = t->ifindex;
    uint32_t m = (uint32_t)mtu;
    add_attr(&r, IFLA_MTU, &m, sizeof m);
    if ((rc = nl_talk(fd, &r, seq++, kmsg, sizeof kmsg, &detail)) < 0) {
        fail(err, errlen, rc, "setting MTU %d on %s: %s%s%s", mtu, t->name, strerror(-rc),
             detail ? ": " : "", detail ? detail : "");
        goto out;
    }

    req_addr(&r, AF_INET, addr4, prefix4, t->ifindex);
    if ((rc = nl_talk(fd, &r, seq++, kmsg, sizeof kmsg, &detail)) < 0) {
        inet_ntop(AF_INET, addr4, ip, sizeof ip);
        fail(err, errlen, rc, "adding %s/%d to %s: %s%s%s", ip, prefix4, t->name, strerror(-rc),
             detail ? ": " : "", detail ? detail : "");
        goto out;
    }

    if (addr6) {
        req_addr(&r, AF_INET6, addr6, prefix6, t->ifindex);
        if ((rc = nl_talk(fd, &r, seq++, kmsg, sizeof kmsg, &detail)) < 0) {
            inet_ntop(AF_INET6, addr6, ip, sizeof ip);
            /* The kernel answers EACCES when IPv6 is switched off for the device. */
            const char *hint = rc == -EACCES ? (detail ? " (see sysctl net.ipv6.conf.default."
                                                         "disable_ipv6)"
                                                       : " (is IPv6 disabled? see sysctl "
                                                         "net.ipv6.conf.default.disable_ipv6)")
                               : rc == -EAFNOSUPPORT ? " (this kernel has no IPv6)"
                                                     : "";
            fail(err, errlen, rc, "adding %s/%d to %s: %s%s%s%s", ip, prefix6, t->name,
                 strerror(-rc), detail ? ": " : "", detail ? detail : "", hint);
            goto out;
        }
    }

    req_init(&r, RTM_NEWLINK, 0, sizeof r.u.ifi);
    r.u.ifi.ifi_family = AF_UNSPEC;
    r.u.ifi.ifi_index = t->ifindex;
    r.u.ifi.ifi_flags = IFF_UP;
    r.u.ifi.ifi_change = IFF_UP;
    if ((rc = nl_talk(fd, &r, seq++, kmsg, sizeof kmsg, &detail)) < 0) {
        fail(err, errlen, rc, "bringing %s up: %s%s%s", t->name, strerror(-rc), detail ? ": " : "",
             detail ? detail : "");
        goto out;
    }
    rc = 0;
out:
    close(fd);
    return rc;
}

void tun_close(struct tun_dev *t)
{
    if (t->fd >= 0) close(t->fd);
    t->fd = -1;
    t->ifindex = 0;
}
