// SPDX-License-Identifier: MIT
// holepuncherd: the ruphin rendezvous daemon; options, config check, then the event loop.
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "config.h"
#include "daemon.h"
#include "jsoncfg.h"
#include "log.h"

enum { EXIT_RUNTIME = 1, EXIT_USAGE = 2 };

static void usage(FILE *f)
{
    fprintf(f, "Usage: holepuncherd -c FILE [--check]\n"
               "The ruphin rendezvous server: introduces the peers of a session to each other so\n"
               "that they can punch through their NATs. Runs in the foreground, logs to stderr.\n"
               "\n"
               "  -c, --config FILE  JSON config (keys: listen, session_ttl, max_sessions,\n"
               "                     log_level)\n"
               "      --check        validate the config, print \"config FILE: ok\" and exit\n"
               "  -h, --help         show this help and exit\n"
               "  -V, --version      show the version and exit\n"
               "\n"
               "Signals: SIGTERM, SIGINT stop; SIGHUP reloads session_ttl, max_sessions and\n"
               "log_level from FILE (listen needs a restart).\n"
               "Exit status: 0 clean stop, 1 runtime failure, 2 usage or config error.\n");
}

int main(int argc, char **argv)
{
    enum { OPT_CHECK = 256 };
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"check", no_argument, NULL, OPT_CHECK},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    const char *path = NULL;
    bool check = false;
    int c;
    while ((c = getopt_long(argc, argv, "c:hV", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            path = optarg;
            break;
        case OPT_CHECK:
            check = true;
            break;
        case 'h':
            usage(stdout);
            return 0;
        case 'V':
            printf("holepuncherd %s\n", RUPHIN_VERSION);
            return 0;
        default:
            fprintf(stderr, "Try 'holepuncherd --help'.\n");
            return EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "holepuncherd: unexpected argument \"%s\"\nTry 'holepuncherd --help'.\n",
                argv[optind]);
        return EXIT_USAGE;
    }
    if (!path) {
        fprintf(stderr, "holepuncherd: a config file is required (-c FILE)\n"
                        "Try 'holepuncherd --help'.\n");
        return EXIT_USAGE;
    }

    struct hpd_config cfg;
    struct errmsg err;
    if (hpd_config_load(path, &cfg, &err) < 0) {
        fprintf(stderr, "holepuncherd: %s\n", err.msg);
        return EXIT_USAGE;
    }
    if (check) {
        printf("config %s: ok\n", path);
        return 0;
    }

    log_init("holepuncherd");
    log_set_level(cfg.log_level);
    struct hpd_daemon *d = NULL;
    if (hpd_daemon_new(path, &cfg, &d, &err) < 0) {
        log_error("%s", err.msg);
        return EXIT_RUNTIME;
    }
    int r = hpd_daemon_run(d);
    hpd_daemon_free(d);
    return r < 0 ? EXIT_RUNTIME : 0;
}
