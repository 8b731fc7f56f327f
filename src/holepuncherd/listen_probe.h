// SPDX-License-Identifier: MIT
// Finds which listen address the library could not bind, so the error can name it
// (rph_ev_holepuncher_new reports only the errno).
#ifndef HOLEPUNCHERD_LISTEN_PROBE_H
#define HOLEPUNCHERD_LISTEN_PROBE_H

#include <stddef.h>

#include "ruphin/addr.h"

/* Binds the addresses in order as the library does (IPv6 v6-only), keeping each bound while
 * trying the next, then closes them all. Returns the index of the first that fails with its
 * negative errno in *err, or -1 when all of them bind. */
int hpd_listen_probe(const struct rph_addr *listen, size_t n, int *err);

#endif
