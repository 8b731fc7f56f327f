// SPDX-License-Identifier: MIT
// ruphin-tund: command line, config, signals, and the event loop around the tunnel.
#include <errno.h>
#include <event2/event.h>
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <grp.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "control.h"
#include "errmsg.h"
#include "log.h"
#include "nodekey.h"
#include "notify.h"
#include "resolve_wait.h"
#include "ruphin/clock.h"
#include "status.h"
#include "tun_linux.h"
#include "tunnel.h"
#include "watch.h"

static void usage(FILE *f)
{
    fprintf(f, "Usage: ruphin-tund -c FILE [--check]\n"
               "An IP tunnel between machines behind NATs, over a ruphin hole-punched UDP path.\n\n"
               "  -c, --config FILE  the JSON config (see ruphin-tund.json(5), docs/CONFIG.md)\n"
               "      --check        check the config as a start would (host name, key file,\n"
               "                     state directory, user) and exit; makes no node key\n"
               "  -h, --help         this text\n"
               "  -V, --version      print the version\n\n"
               "Runs in the foreground. SIGTERM/SIGINT stop it and remove the interface;\n"
               "SIGHUP re-reads the config, applies log_level and logs what needs a restart.\n"
               "Exit status: 0 ok, 1 runtime failure, 2 usage or config error.\n");
}

struct app {
    struct event_base *base;
    const char *path;
    struct tund_config running; /* what runs, to compare a reload with; holds no key */
};

/* After the interface is up nothing needs root: the data path uses open descriptors, and
 * closing the TUN descriptor removes the interface. So drop to cfg->user and every capability. */
static int drop_privileges(const struct tund_config *cfg)
{
    if (!cfg->user[0]) return 0;
    if (setgroups(0, NULL) < 0 || setgid(cfg->gid) < 0 || setuid(cfg->uid) < 0) {
        log_error("switching to user %s: %s", cfg->user, strerror(errno));
        return -1;
    }
    if (setuid(0) == 0) { /* must not be possible any more */
        log_error("switching to user %s: root could be regained", cfg->user);
        return -1;
    }
    log_info("running as user %s (uid %u), no capabilities left", cfg->user, (unsigned)cfg->uid);
    return 0;
}

/* The interface, configured: addresses, MTU, link up. tun->fd is -1 on failure. */
static int open_device(struct tun_dev *tun, const struct tund_config *cfg, struct errmsg *err)
{
    int r = tun_open_offload(tun, cfg->ifname, err);
    if (r < 0) return r;
    /* An automatic address comes later, from the server (naming.c). */
    r = tun_configure(tun, cfg->addr_auto ? NULL : cfg->addr4, cfg->prefix4,
                      cfg->has_addr6 ? cfg->addr6 : NULL, cfg->prefix6, cfg->mtu, err);
    if (r < 0) tun_close(tun);
    return r;
}

static char *on_status(void *ctx)
{
    return status_json(ctx, rph_now_ms());
}

static void on_stop(evutil_socket_t sig, short what, void *arg)
{
    (void)what;
    struct app *a = arg;
    log_info("%s: stopping", sig == SIGTERM ? "SIGTERM" : "SIGINT");
    notify_stopping();
    event_base_loopbreak(a->base);
}

static void log_change(void *ctx, const char *key, const char *was, const char *now, bool live)
{
    (void)ctx;
    if (live)
        log_info("reload: \"%s\" changed from \"%s\" to \"%s\": applied", key, was, now);
    else
        log_warn("reload: \"%s\" changed from \"%s\" to \"%s\": needs a restart, keeping \"%s\"",
                 key, was, now, was);
}

/* Parse only: a reload neither resolves names (that would block the data path on DNS) nor
 * reads the key file; a changed key in the same file takes a restart. */
static void on_hup(evutil_socket_t sig, short what, void *arg)
{
    (void)sig;
    (void)what;
    struct app *a = arg;
    struct tund_config next;
    struct errmsg err;
    notify_reloading();
    if (tund_config_load(a->path, &next, &err) < 0) {
        log_error("reload: %s; keeping the running config", err.msg);
        notify_ready();
        return;
    }
    /* Applied first, so a line it lets through is logged at the new level. */
    log_set_level(next.log_level);
    if (tund_config_diff(&a->running, &next, log_change, NULL) == 0)
        log_info("reload: config %s unchanged", a->path);
    a->running.log_level = next.log_level;
    notify_ready();
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
                                         {"check", no_argument, NULL, 'k'},
                                         {"help", no_argument, NULL, 'h'},
                                         {"version", no_argument, NULL, 'V'},
                                         {0, 0, 0, 0}};
    const char *path = NULL;
    int check = 0, o;
    log_init("ruphin-tund");
    while ((o = getopt_long(argc, argv, "c:hV", opts, NULL)) != -1) {
        switch (o) {
        case 'c':
            path = optarg;
            break;
        case 'k':
            check = 1;
            break;
        case 'h':
            usage(stdout);
            return 0;
        case 'V':
            printf("ruphin-tund %s\n", RUPHIN_VERSION);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (!path || optind != argc) {
        fprintf(stderr, "ruphin-tund: %s\n", path ? "unexpected argument" : "missing -c FILE");
        usage(stderr);
        return 2;
    }
    struct tund_config cfg;
    struct errmsg cerr;
    /* --check must leave the disk as it found it: it looks for the node key, never makes one. */
    if (tund_config_load_resolved(path, &cfg, check ? TUND_RESOLVE_CHECK : TUND_RESOLVE_START,
                                  &cerr) < 0) {
        log_error("%s", cerr.msg);
        return 2;
    }
    if (check) {
        tund_config_wipe_key(&cfg);
        if (cfg.holepuncher_pending)
            log_warn("\"holepuncher\": \"%s\" does not resolve now (%s); a start waits for it, "
                     "retrying",
                     cfg.holepuncher, cfg.holepuncher_why);
        printf("config %s: ok\n", path);
        return 0;
    }
    log_set_level(cfg.log_level);
    signal(SIGPIPE, SIG_IGN);
    if (cfg.has_node_key) {
        char pk[NODEKEY_B64_LEN + 1];
        nodekey_public_base64(cfg.node_pk, pk, sizeof pk);
        log_info("node public key %s (%s %s/" NODEKEY_FILE ")%s", pk,
                 cfg.node_key_created ? "made now in" : "from", cfg.state_dir,
                 cfg.n_members || cfg.role != RPH_ROLE_SERVER
                     ? ""
                     : "; no \"members\": any holder of the session key may join");
    }
    if (!cfg.seal)
        log_warn("sealing is off (\"seal\": false): packets cross the network in clear and "
                 "anyone who knows the session name can join it");

    struct app app = {.path = path};
    app.base = event_base_new();
    if (!app.base) {
        tund_config_wipe_key(&cfg);
        log_error("event loop: cannot create");
        return 1;
    }
    struct errmsg err = {""};
    struct tunnel *t = NULL;
    struct tun_dev tun;
    int r = open_device(&tun, &cfg, &err);
    /* The device is checked at once; the name may take until the network is up. */
    if (r == 0 && cfg.holepuncher_pending && (r = resolve_wait(app.base, &cfg, &err)) != 0) {
        tund_config_wipe_key(&cfg);
        tun_close(&tun);
        event_base_free(app.base);
        if (r > 0) {
            log_info("interface %s removed; bye", cfg.ifname);
            return 0;
        }
        log_error("%s", err.msg);
        return r == -EINVAL ? 2 : 1;
    }
    if (r == 0) r = tunnel_new(&t, &cfg, app.base, &tun, &err);
    /* The tunnel holds the keys derived from it now (or failed): no copy of the session key
     * outlives this line. */
    tund_config_wipe_key(&cfg);
    app.running = cfg;
    struct control *ctl = NULL;
    if (r == 0) {
        ctl = control_new(app.base, cfg.control_socket, on_status, t, &err);
        if (!ctl) r = -EADDRINUSE;
    }
    if (r < 0) {
        log_error("%s", err.msg[0] ? err.msg : strerror(-r));
        tunnel_close(t);
        event_base_free(app.base);
        return 1;
    }
    log_info("interface %s up: %s%s%s, mtu %d; %s of session \"%s\" (%s%s) via holepuncher %s",
             cfg.ifname, cfg.address, cfg.has_addr6 ? " " : "", cfg.address6, cfg.mtu,
             cfg.role == RPH_ROLE_SERVER ? "server" : "client", cfg.session_str,
             cfg.seal ? "sealed, key " : "plaintext", cfg.seal ? tunnel_key_fingerprint(t) : "",
             cfg.holepuncher);
    if (drop_privileges(&cfg) < 0) {
        control_free(ctl);
        tunnel_close(t);
        event_base_free(app.base);
        return 1;
    }
    struct event *ev_int = evsignal_new(app.base, SIGINT, on_stop, &app);
    struct event *ev_term = evsignal_new(app.base, SIGTERM, on_stop, &app);
    struct event *ev_hup = evsignal_new(app.base, SIGHUP, on_hup, &app);
    event_add(ev_int, NULL);
    event_add(ev_term, NULL);
    event_add(ev_hup, NULL);
    notify_ready(); /* the interface is up and the control socket listens */
    struct watch *watch = watch_new(app.base, t);
    int rc = event_base_dispatch(app.base) < 0 ? 1 : 0;
    watch_free(watch);
    control_free(ctl);
    tunnel_goodbye(t); /* the peers free our slot now, not after peer_timeout */
    tunnel_close(t);
    log_info("interface %s removed; bye", cfg.ifname);
    event_free(ev_int);
    event_free(ev_term);
    event_free(ev_hup);
    event_base_free(app.base);
    return rc;
}
