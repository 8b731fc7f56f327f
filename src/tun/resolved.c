// SPDX-License-Identifier: MIT
// systemd-resolved over D-Bus with libsystemd's sd-bus (resolved.h): the calls go out
// asynchronously and their replies are read on the tunnel's event loop, so a slow bus never
// holds up packets.
#include "resolved.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "log.h"

#ifdef RUPHIN_HAVE_LIBSYSTEMD
#include <systemd/sd-bus.h>
#endif

struct resolved {
    struct event_base *base;
    char domain[DNS_DOMAIN_MAX + 1];
    char ifname[16];
    int ifindex;   /* the link told to resolved; 0: none */
    bool present;  /* org.freedesktop.resolve1 was on the system bus at start */
    char why[160]; /* why not, for the hint */
#ifdef RUPHIN_HAVE_LIBSYSTEMD
    sd_bus *bus;
    struct event *bus_ev;
#endif
};

static void hint(const struct resolved *r, const struct dns_addrs *a)
{
    char ip[INET6_ADDRSTRLEN];
    if (a->has4)
        inet_ntop(AF_INET, a->addr4, ip, sizeof ip);
    else
        inet_ntop(AF_INET6, a->addr6, ip, sizeof ip);
    log_info("dns: %s, so nothing routes *.%s here by itself: add \"server=/%s/%s\" to dnsmasq, "
             "or \"nameserver %s\" as the first line of /etc/resolv.conf (other names get REFUSED "
             "and go to the next nameserver); `dig @%s NAME.%s` works as it is",
             r->why, r->domain, r->domain, ip, ip, ip, r->domain);
}

#ifdef RUPHIN_HAVE_LIBSYSTEMD
#define RESOLVE1 "org.freedesktop.resolve1"
#define RESOLVE1_PATH "/org/freedesktop/resolve1"
#define RESOLVE1_MANAGER "org.freedesktop.resolve1.Manager"

static void on_bus(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct resolved *r = arg;
    /* Each call handles at most one message: until there are none. */
    while (sd_bus_process(r->bus, NULL) > 0)
        ;
}

/* A reply to one of the calls: an error is logged (once per call, so per address change). */
static int on_reply(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
    (void)ret_error;
    const char *what = userdata;
    const sd_bus_error *e = sd_bus_message_get_error(m);
    if (e)
        log_warn("dns: systemd-resolved refused %s: %s%s", what, e->message ? e->message : e->name,
                 sd_bus_error_has_name(e, SD_BUS_ERROR_ACCESS_DENIED)
                     ? " (it takes root, or CAP_NET_ADMIN)"
                     : "");
    return 0;
}

/* The last call: when it went through, the link is set up. */
static int on_domains_reply(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
    struct resolved *r = userdata;
    if (sd_bus_message_is_method_error(m, NULL))
        return on_reply(m, (void *)"SetLinkDomains", ret_error);
    log_info("dns: systemd-resolved sends queries for *.%s to this daemon on link %s", r->domain,
             r->ifname);
    return 0;
}

/* resolved configures the links of its own network namespace: a daemon in another one (a
 * container, a test's namespace) has a link of the same index there that is not its own. */
static bool other_netns(struct resolved *r)
{
    sd_bus_message *reply = NULL;
    uint32_t pid = 0;
    int rc = sd_bus_call_method(r->bus, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                                "org.freedesktop.DBus", "GetConnectionUnixProcessID", NULL, &reply,
                                "s", RESOLVE1);
    if (rc >= 0) rc = sd_bus_message_read(reply, "u", &pid);
    sd_bus_message_unref(reply);
    if (rc < 0 || pid == 0) return false; /* cannot tell: assume ours, as nearly always */
    char path[64];
    snprintf(path, sizeof path, "/proc/%u/ns/net", (unsigned)pid);
    struct stat theirs, ours;
    if (stat(path, &theirs) < 0 || stat("/proc/self/ns/net", &ours) < 0) return false;
    if (theirs.st_dev == ours.st_dev && theirs.st_ino == ours.st_ino) return false;
    snprintf(r->why, sizeof r->why,
             "systemd-resolved (PID %u) runs in another network namespace than this daemon",
             (unsigned)pid);
    return true;
}

static void start_bus(struct resolved *r)
{
    int rc = sd_bus_open_system(&r->bus);
    if (rc < 0) {
        snprintf(r->why, sizeof r->why, "no system bus (%s)", strerror(-rc));
        r->bus = NULL;
        return;
    }
    sd_bus_set_method_call_timeout(r->bus, 2 * 1000 * 1000);
    sd_bus_error e = SD_BUS_ERROR_NULL;
    sd_bus_message *reply = NULL;
    int has = 0;
    rc = sd_bus_call_method(r->bus, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                            "org.freedesktop.DBus", "NameHasOwner", &e, &reply, "s", RESOLVE1);
    if (rc >= 0) rc = sd_bus_message_read(reply, "b", &has);
    sd_bus_message_unref(reply);
    if (rc < 0)
        snprintf(r->why, sizeof r->why, "the system bus did not answer (%s)",
                 e.message ? e.message : strerror(-rc));
    else if (!has)
        snprintf(r->why, sizeof r->why,
                 "systemd-resolved is not running (no " RESOLVE1 " on the system bus)");
    sd_bus_error_free(&e);
    if (rc >= 0 && has && other_netns(r)) has = 0;
    if (rc < 0 || !has) {
        r->bus = sd_bus_flush_close_unref(r->bus);
        return;
    }
    r->bus_ev = event_new(r->base, sd_bus_get_fd(r->bus), EV_READ | EV_PERSIST, on_bus, r);
    if (!r->bus_ev || event_add(r->bus_ev, NULL) < 0) {
        snprintf(r->why, sizeof r->why, "out of memory");
        r->bus = sd_bus_flush_close_unref(r->bus);
        return;
    }
    r->present = true;
}

static int call_dns(struct resolved *r, int ifindex, const struct dns_addrs *a)
{
    sd_bus_message *m = NULL;
    int rc = sd_bus_message_new_method_call(r->bus, &m, RESOLVE1, RESOLVE1_PATH, RESOLVE1_MANAGER,
                                            "SetLinkDNS");
    if (rc >= 0) rc = sd_bus_message_append(m, "i", ifindex);
    if (rc >= 0) rc = sd_bus_message_open_container(m, 'a', "(iay)");
    if (rc >= 0 && a->has4)
        rc = sd_bus_message_append(m, "(iay)", AF_INET, 4, a->addr4[0], a->addr4[1], a->addr4[2],
                                   a->addr4[3]);
    if (rc >= 0 && a->has6) {
        rc = sd_bus_message_open_container(m, 'r', "iay");
        if (rc >= 0) rc = sd_bus_message_append(m, "i", AF_INET6);
        if (rc >= 0) rc = sd_bus_message_append_array(m, 'y', a->addr6, 16);
        if (rc >= 0) rc = sd_bus_message_close_container(m);
    }
    if (rc >= 0) rc = sd_bus_message_close_container(m);
    if (rc >= 0) rc = sd_bus_call_async(r->bus, NULL, m, on_reply, (void *)"SetLinkDNS", 0);
    sd_bus_message_unref(m);
    return rc;
}
#endif

struct resolved *resolved_new(struct event_base *base, const char *domain)
{
    struct resolved *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    r->base = base;
    snprintf(r->domain, sizeof r->domain, "%s", domain);
#ifdef RUPHIN_HAVE_LIBSYSTEMD
    start_bus(r);
#else
    snprintf(r->why, sizeof r->why, "this build has no libsystemd to tell systemd-resolved");
#endif
    return r;
}

void resolved_set(struct resolved *r, int ifindex, const char *ifname, const struct dns_addrs *a)
{
    if (!r || ifindex <= 0 || (!a->has4 && !a->has6)) return;
    snprintf(r->ifname, sizeof r->ifname, "%s", ifname);
    if (!r->present) {
        hint(r, a);
        return;
    }
#ifdef RUPHIN_HAVE_LIBSYSTEMD
    char route[DNS_DOMAIN_MAX + 2];
    snprintf(route, sizeof route, "%s", r->domain);
    /* Routing-only ("~"), and never the default route: only names under the domain come
     * here, everything else resolves as before. Our answers are unsigned: no DNSSEC on it. */
    int rc = call_dns(r, ifindex, a);
    if (rc >= 0)
        rc = sd_bus_call_method_async(r->bus, NULL, RESOLVE1, RESOLVE1_PATH, RESOLVE1_MANAGER,
                                      "SetLinkDefaultRoute", on_reply,
                                      (void *)"SetLinkDefaultRoute", "ib", ifindex, 0);
    if (rc >= 0)
        rc = sd_bus_call_method_async(r->bus, NULL, RESOLVE1, RESOLVE1_PATH, RESOLVE1_MANAGER,
                                      "SetLinkDNSSEC", on_reply, (void *)"SetLinkDNSSEC", "is",
                                      ifindex, "no");
    if (rc >= 0)
        rc = sd_bus_call_method_async(r->bus, NULL, RESOLVE1, RESOLVE1_PATH, RESOLVE1_MANAGER,
                                      "SetLinkDomains", on_domains_reply, r, "ia(sb)", ifindex, 1,
                                      route, 1);
    if (rc >= 0) rc = sd_bus_flush(r->bus);
    if (rc < 0) {
        log_warn("dns: telling systemd-resolved about %s: %s", ifname, strerror(-rc));
        return;
    }
    r->ifindex = ifindex;
#endif
}

void resolved_free(struct resolved *r)
{
    if (!r) return;
#ifdef RUPHIN_HAVE_LIBSYSTEMD
    if (r->bus && r->ifindex > 0) {
        /* Synchronous: we are stopping, and the link goes with us anyway (resolved forgets a
         * removed link's settings), so a failure here is only worth a debug line. */
        sd_bus_error e = SD_BUS_ERROR_NULL;
        int rc = sd_bus_call_method(r->bus, RESOLVE1, RESOLVE1_PATH, RESOLVE1_MANAGER, "RevertLink",
                                    &e, NULL, "i", r->ifindex);
        if (rc < 0)
            log_debug("dns: systemd-resolved RevertLink %s: %s", r->ifname,
                      e.message ? e.message : strerror(-rc));
        else
            log_info("dns: systemd-resolved forgot *.%s on %s", r->domain, r->ifname);
        sd_bus_error_free(&e);
    }
    if (r->bus_ev) event_free(r->bus_ev);
    if (r->bus) sd_bus_flush_close_unref(r->bus);
#endif
    free(r);
}
