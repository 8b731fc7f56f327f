// SPDX-License-Identifier: MIT
// The running holepuncherd: sockets on a libevent loop, signals, the expiry timer, reload.
#ifndef HOLEPUNCHERD_DAEMON_H
#define HOLEPUNCHERD_DAEMON_H

#include <stddef.h>

#include "config.h"
#include "errmsg.h"

struct hpd_daemon;

/* Binds the listen addresses and sets up the loop. 0, or a negative code with msg naming
 * what failed (e.g. the address that cannot be bound). config_path is re-read on SIGHUP. */
int hpd_daemon_new(const char *config_path, const struct hpd_config *cfg, struct hpd_daemon **out,
                   struct errmsg *msg);
/* Serves until SIGTERM or SIGINT, then logs the final counters; 0 or a negative code. */
int hpd_daemon_run(struct hpd_daemon *d);
/* Re-reads the config file and applies what can change without a restart (SIGHUP does this).
 * 0, or a negative errno when the file is broken and the running config was kept. */
int hpd_daemon_reload(struct hpd_daemon *d);
void hpd_daemon_free(struct hpd_daemon *d);

#endif
