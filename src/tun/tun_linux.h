// SPDX-License-Identifier: MIT
// The Linux TUN device of ruphin-tund: create it, give it addresses, MTU and link up.
#ifndef RUPHIN_TUN_TUN_LINUX_H
#define RUPHIN_TUN_TUN_LINUX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "errmsg.h"

struct tun_dev {
    int fd; /* non-blocking; IFF_TUN | IFF_NO_PI: each read/write is one bare IP packet */
    char name[16];
    int ifindex;
    bool vnet;    /* every read/write starts with a struct virtio_net_hdr */
    bool offload; /* TSO4/TSO6 and checksum offload are on */
};

/* Creates a new, non-persistent TUN interface called name. Refuses (-EEXIST, "interface rph0
 * already exists") to take over an interface that is already there. 0 or a negative errno
 * with err set; t->fd is -1 on failure. */
int tun_open(struct tun_dev *t, const char *name, struct errmsg *err);
/* The same with IFF_VNET_HDR and, where the kernel allows, TSO and checksum offload. */
int tun_open_offload(struct tun_dev *t, const char *name, struct errmsg *err);
/* Sets the MTU, adds addr4/prefix4 and (when addr6 is not NULL) addr6/prefix6, then brings
 * the link up, all over rtnetlink (libmnl). 0 or a negative errno with err set, naming the
 * step and the kernel's error ("adding 10.77.0.1/24 to rph0: File exists"). */
int tun_configure(struct tun_dev *t, const uint8_t addr4[4], int prefix4, const uint8_t *addr6,
                  int prefix6, int mtu, struct errmsg *err);
/* addr4 may be NULL too: a client waiting for its automatic address starts with none. */
/* Adds (add) or removes one address (family 4 or 6) at runtime: an automatic address
 * assigned or changed. 0 or a negative errno with err naming the address and the error. */
int tun_address(struct tun_dev *t, bool add, int family, const uint8_t *addr, int prefix,
                struct errmsg *err);
/* Closes the fd, which removes the interface with its addresses and routes. Safe to repeat. */
void tun_close(struct tun_dev *t);

#endif
