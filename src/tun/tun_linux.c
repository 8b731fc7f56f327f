// SPDX-License-Identifier: MIT
// TUN device setup on Linux: /dev/net/tun for the device, rtnetlink through libmnl (never `ip`)
// for the rest.
#include "tun_linux.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <linux/if_addr.h>
#include <linux/if_tun.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#include <libmnl/libmnl.h>

#define TUN_PATH "/dev/net/tun"

static int open_flags(struct tun_dev *t, const char *name, short extra, struct errmsg *err)
{
    t->fd = -1;
    t->vnet = false;
    t->offload = false;
    t->name[0] = 0;
    t->ifindex = 0;
    size_t n = strlen(name);
    if (n == 0 || n >= IFNAMSIZ)
        return errmsg_fail(err, -EINVAL, "interface name \"%s\" must be 1..%d characters", name,
                           IFNAMSIZ - 1);
    /* TUNSETIFF on the name of an existing persistent TUN would quietly attach to it. */
    if (if_nametoindex(name) != 0)
        return errmsg_fail(err, -EEXIST, "interface %s already exists", name);

    int fd = open(TUN_PATH, O_RDWR | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        int e = errno;
        const char *hint =
            (e == ENOENT || e == ENODEV || e == ENXIO) ? " (is the tun module loaded?)" : "";
        return errmsg_fail(err, -e, TUN_PATH ": %s%s", strerror(e), hint);
    }
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    ifr.ifr_flags = (short)(IFF_TUN | IFF_NO_PI | extra);
    memcpy(ifr.ifr_name, name, n);
    if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
        int e = errno;
        close(fd);
        if (e == EPERM)
            return errmsg_fail(
                err, -EPERM,
                "creating %s needs CAP_NET_ADMIN (run as root or grant the capability)", name);
        if (e == EBUSY) /* a TUN of that name appeared since the check, held by someone */
            return errmsg_fail(err, -EEXIST, "interface %s already exists", name);
        return errmsg_fail(err, -e, "creating %s: %s", name, strerror(e));
    }
    /* Closes the race with the check above: a persistent TUN created in between. */
    struct ifreq got;
    memset(&got, 0, sizeof got);
    if (ioctl(fd, TUNGETIFF, &got) == 0 && (got.ifr_flags & IFF_PERSIST)) {
        close(fd);
        return errmsg_fail(err, -EEXIST, "interface %s already exists", name);
    }
    unsigned idx = if_nametoindex(ifr.ifr_name);
    if (idx == 0) {
        int e = errno;
        close(fd);
        return errmsg_fail(err, -e, "created %s but cannot find its index: %s", name, strerror(e));
    }
    t->fd = fd;
    snprintf(t->name, sizeof t->name, "%s", ifr.ifr_name);
    t->ifindex = (int)idx;
    t->vnet = (extra & IFF_VNET_HDR) != 0;
    return 0;
}

int tun_open(struct tun_dev *t, const char *name, struct errmsg *err)
{
    return open_flags(t, name, 0, err);
}

int tun_open_offload(struct tun_dev *t, const char *name, struct errmsg *err)
{
    int r = open_flags(t, name, IFF_VNET_HDR, err);
    if (r < 0) return r;
    /* Checksum offload and TSO: the kernel hands over 64 KB TCP super-packets. Without them
     * (an old kernel) packets still come with a virtio header, just never large. */
    unsigned off = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6;
    t->offload = ioctl(t->fd, TUNSETOFFLOAD, off) == 0;
    return 0;
}

/* One rtnetlink conversation: each request waits for its ack before the next goes out. */
struct rtnl {
    struct mnl_socket *nl;
    unsigned portid;
    unsigned seq;
    _Alignas(struct nlmsghdr) char req[256]; /* every attribute write is checked against it */
    _Alignas(struct nlmsghdr) char rx[8192]; /* libmnl's advice for a receive buffer */
};

/* The kernel's answer to one request. */
struct ack {
    int error;        /* 0 or a negative errno */
    char detail[256]; /* the kernel's own explanation (extended ack), or "" */
};

static const char *detail_sep(const struct ack *a)
{
    return a->detail[0] ? ": " : "";
}

static int ext_ack_attr(const struct nlattr *a, void *data)
{
    struct ack *ack = data;
    if (mnl_attr_get_type(a) == NLMSGERR_ATTR_MSG && mnl_attr_validate(a, MNL_TYPE_NUL_STRING) == 0)
        snprintf(ack->detail, sizeof ack->detail, "%s", mnl_attr_get_str(a));
    return MNL_CB_OK;
}

/* NLMSG_ERROR, which is also the positive ack: records the result instead of letting libmnl
 * turn it into errno, so the extended-ack text can travel with it. */
static int on_ack(const struct nlmsghdr *h, void *data)
{
    struct ack *ack = data;
    size_t plen = mnl_nlmsg_get_payload_len(h);
    if (plen < sizeof(struct nlmsgerr)) {
        errno = EBADMSG;
        return MNL_CB_ERROR;
    }
    const struct nlmsgerr *e = mnl_nlmsg_get_payload(h);
    ack->error = e->error <= 0 ? e->error : -e->error;
    if (ack->error < 0 && (h->nlmsg_flags & NLM_F_ACK_TLVS)) {
        /* The TLVs follow the echoed request, of which NLM_F_CAPPED means only the header. */
        size_t off = sizeof *e;
        if (!(h->nlmsg_flags & NLM_F_CAPPED)) {
            if (e->msg.nlmsg_len < sizeof(struct nlmsghdr)) return MNL_CB_STOP;
            off += e->msg.nlmsg_len - sizeof(struct nlmsghdr);
        }
        if (MNL_ALIGN(off) <= plen) (void)mnl_attr_parse(h, (unsigned)off, ext_ack_attr, ack);
    }
    return MNL_CB_STOP;
}

static int rtnl_open(struct rtnl *r, struct errmsg *err)
{
    r->seq = 0;
    r->nl = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC);
    if (!r->nl) {
        int e = errno;
        return errmsg_fail(err, -e, "rtnetlink socket: %s", strerror(e));
    }
    if (mnl_socket_bind(r->nl, 0, MNL_SOCKET_AUTOPID) < 0) {
        int e = errno;
        mnl_socket_close(r->nl);
        return errmsg_fail(err, -e, "rtnetlink bind: %s", strerror(e));
    }
    r->portid = mnl_socket_get_portid(r->nl);
    int one = 1;
    /* Best effort: older kernels lack these and just give plainer errors. */
    mnl_socket_setsockopt(r->nl, NETLINK_EXT_ACK, &one, sizeof one);
    mnl_socket_setsockopt(r->nl, NETLINK_CAP_ACK, &one, sizeof one);
    struct timeval tv = {.tv_sec = 2};
    setsockopt(mnl_socket_get_fd(r->nl), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return 0;
}

/* A new request in r->req: header and the zeroed fixed struct of its type. */
static void *rtnl_req(struct rtnl *r, uint16_t type, uint16_t flags, size_t fixed)
{
    struct nlmsghdr *h = mnl_nlmsg_put_header(r->req);
    h->nlmsg_type = type;
    h->nlmsg_flags = (uint16_t)(NLM_F_REQUEST | NLM_F_ACK | flags);
    h->nlmsg_seq = ++r->seq;
    return mnl_nlmsg_put_extra_header(h, fixed);
}

/* Sends the request in r->req and waits for its ack: 0 or a negative errno (ack->error, with
 * ack->detail when the kernel explained). */
static int rtnl_talk(struct rtnl *r, struct ack *ack)
{
    const struct nlmsghdr *h = (const struct nlmsghdr *)r->req;
    ack->error = -EPROTO;
    ack->detail[0] = 0;
    if (mnl_socket_sendto(r->nl, h, h->nlmsg_len) < 0) return ack->error = -errno;
    mnl_cb_t ctl[NLMSG_ERROR + 1] = {[NLMSG_ERROR] = on_ack};
    for (;;) {
        ssize_t n = mnl_socket_recvfrom(r->nl, r->rx, sizeof r->rx);
        if (n < 0) {
            if (errno == EINTR) continue;
            return ack->error = errno == EAGAIN ? -ETIMEDOUT : -errno;
        }
        int rc =
            mnl_cb_run2(r->rx, (size_t)n, r->seq, r->portid, NULL, ack, ctl, MNL_ARRAY_SIZE(ctl));
        if (rc == MNL_CB_STOP) return ack->error;
        if (rc < 0) return ack->error = -errno;
    }
}

/* An attribute that did not fit r->req: refused before anything is sent. */
static int too_long(struct ack *ack)
{
    ack->detail[0] = 0;
    return ack->error = -EMSGSIZE;
}

static int set_mtu(struct rtnl *r, int ifindex, int mtu, struct ack *ack)
{
    struct ifinfomsg *ifi = rtnl_req(r, RTM_NEWLINK, 0, sizeof *ifi);
    ifi->ifi_family = AF_UNSPEC;
    ifi->ifi_index = ifindex;
    struct nlmsghdr *h = (struct nlmsghdr *)r->req;
    if (!mnl_attr_put_u32_check(h, sizeof r->req, IFLA_MTU, (uint32_t)mtu)) return too_long(ack);
    return rtnl_talk(r, ack);
}

static int add_addr(struct rtnl *r, int ifindex, int family, const uint8_t *ip, int prefix,
                    struct ack *ack)
{
    size_t len = family == AF_INET ? 4 : 16;
    struct ifaddrmsg *ifa = rtnl_req(r, RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, sizeof *ifa);
    ifa->ifa_family = (uint8_t)family;
    ifa->ifa_prefixlen = (uint8_t)prefix;
    ifa->ifa_scope = RT_SCOPE_UNIVERSE;
    ifa->ifa_index = (unsigned)ifindex;
    struct nlmsghdr *h = (struct nlmsghdr *)r->req;
    /* As `ip addr add` does: local and address equal means "no point-to-point peer", and the
     * kernel then routes the whole prefix into the device. */
    bool ok = mnl_attr_put_check(h, sizeof r->req, IFA_LOCAL, len, ip) &&
              mnl_attr_put_check(h, sizeof r->req, IFA_ADDRESS, len, ip);
    if (family == AF_INET6) {
        /* Nothing else lives on this link, and a tentative address would drop the first
         * packets until DAD finished. */
        ifa->ifa_flags = IFA_F_NODAD;
        ok = ok && mnl_attr_put_u32_check(h, sizeof r->req, IFA_FLAGS, IFA_F_NODAD);
    }
    if (!ok) return too_long(ack);
    return rtnl_talk(r, ack);
}

static int link_up(struct rtnl *r, int ifindex, struct ack *ack)
{
    struct ifinfomsg *ifi = rtnl_req(r, RTM_NEWLINK, 0, sizeof *ifi);
    ifi->ifi_family = AF_UNSPEC;
    ifi->ifi_index = ifindex;
    ifi->ifi_flags = IFF_UP;
    ifi->ifi_change = IFF_UP;
    return rtnl_talk(r, ack);
}

int tun_configure(struct tun_dev *t, const uint8_t addr4[4], int prefix4, const uint8_t *addr6,
                  int prefix6, int mtu, struct errmsg *err)
{
    if (t->fd < 0 || t->ifindex <= 0)
        return errmsg_fail(err, -EBADF, "configuring %s: the device is not open", t->name);
    if ((addr4 && (prefix4 < 1 || prefix4 > 32)) || (addr6 && (prefix6 < 1 || prefix6 > 128)) ||
        mtu < 68)
        return errmsg_fail(err, -EINVAL, "configuring %s: bad prefix length or MTU", t->name);
    struct rtnl *r = malloc(sizeof *r);
    if (!r) return errmsg_fail(err, -ENOMEM, "configuring %s: out of memory", t->name);
    int rc = rtnl_open(r, err);
    if (rc < 0) {
        free(r);
        return rc;
    }

    char ip[INET6_ADDRSTRLEN];
    struct ack ack;
    if ((rc = set_mtu(r, t->ifindex, mtu, &ack)) < 0) {
        errmsg_set(err, "setting MTU %d on %s: %s%s%s", mtu, t->name, strerror(-rc),
                   detail_sep(&ack), ack.detail);
        goto out;
    }
    if (addr4 && (rc = add_addr(r, t->ifindex, AF_INET, addr4, prefix4, &ack)) < 0) {
        inet_ntop(AF_INET, addr4, ip, sizeof ip);
        errmsg_set(err, "adding %s/%d to %s: %s%s%s", ip, prefix4, t->name, strerror(-rc),
                   detail_sep(&ack), ack.detail);
        goto out;
    }
    if (addr6 && (rc = add_addr(r, t->ifindex, AF_INET6, addr6, prefix6, &ack)) < 0) {
        inet_ntop(AF_INET6, addr6, ip, sizeof ip);
        /* The kernel answers EACCES when IPv6 is switched off for the device. */
        const char *hint = rc == -EACCES ? (ack.detail[0] ? " (see sysctl net.ipv6.conf.default."
                                                            "disable_ipv6)"
                                                          : " (is IPv6 disabled? see sysctl "
                                                            "net.ipv6.conf.default.disable_ipv6)")
                           : rc == -EAFNOSUPPORT ? " (this kernel has no IPv6)"
                                                 : "";
        errmsg_set(err, "adding %s/%d to %s: %s%s%s%s", ip, prefix6, t->name, strerror(-rc),
                   detail_sep(&ack), ack.detail, hint);
        goto out;
    }
    if ((rc = link_up(r, t->ifindex, &ack)) < 0) {
        errmsg_set(err, "bringing %s up: %s%s%s", t->name, strerror(-rc), detail_sep(&ack),
                   ack.detail);
        goto out;
    }
    rc = 0;
out:
    mnl_socket_close(r->nl);
    free(r);
    return rc;
}

int tun_address(struct tun_dev *t, bool add, int family, const uint8_t *addr, int prefix,
                struct errmsg *err)
{
    char ip[INET6_ADDRSTRLEN];
    inet_ntop(family == 4 ? AF_INET : AF_INET6, addr, ip, sizeof ip);
    if (t->fd < 0 || t->ifindex <= 0)
        return errmsg_fail(err, -EBADF, "%s %s/%d: the device is not open",
                           add ? "adding" : "removing", ip, prefix);
    struct rtnl *r = malloc(sizeof *r);
    if (!r) return errmsg_fail(err, -ENOMEM, "configuring %s: out of memory", t->name);
    int rc = rtnl_open(r, err);
    if (rc < 0) {
        free(r);
        return rc;
    }
    struct ack ack;
    int af = family == 4 ? AF_INET : AF_INET6;
    if (add) {
        rc = add_addr(r, t->ifindex, af, addr, prefix, &ack);
    } else {
        size_t len = family == 4 ? 4 : 16;
        struct ifaddrmsg *ifa = rtnl_req(r, RTM_DELADDR, 0, sizeof *ifa);
        ifa->ifa_family = (uint8_t)af;
        ifa->ifa_prefixlen = (uint8_t)prefix;
        ifa->ifa_index = (unsigned)t->ifindex;
        struct nlmsghdr *h = (struct nlmsghdr *)r->req;
        rc = mnl_attr_put_check(h, sizeof r->req, IFA_LOCAL, len, addr) ? rtnl_talk(r, &ack)
                                                                        : too_long(&ack);
    }
    if (rc < 0)
        errmsg_set(err, "%s %s/%d %s %s: %s%s%s", add ? "adding" : "removing", ip, prefix,
                   add ? "to" : "from", t->name, strerror(-rc), detail_sep(&ack), ack.detail);
    mnl_socket_close(r->nl);
    free(r);
    return rc;
}

void tun_close(struct tun_dev *t)
{
    if (t->fd >= 0) close(t->fd);
    t->fd = -1;
    t->ifindex = 0;
}
