// SPDX-License-Identifier: MIT
// Re-tries the listen binds one by one after a failed start, to name the address at fault.
#include "listen_probe.h"

#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

int hpd_listen_probe(const struct rph_addr *listen, size_t n, int *err)
{
    int fds[16];
    size_t open = 0;
    int culprit = -1;
    if (n > sizeof fds / sizeof fds[0]) n = sizeof fds / sizeof fds[0];
    for (size_t i = 0; i < n && culprit < 0; i++) {
        int af = listen[i].family == 6 ? AF_INET6 : AF_INET;
        int fd = socket(af, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            *err = -errno;
            culprit = (int)i;
            break;
        }
        if (af == AF_INET6) {
            int one = 1;
            setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
        }
        struct sockaddr_storage ss;
        socklen_t sl = rph_addr_to_sockaddr(&listen[i], &ss, listen[i].family);
        if (bind(fd, (struct sockaddr *)&ss, sl) < 0) {
            *err = -errno;
            culprit = (int)i;
            close(fd);
            break;
        }
        fds[open++] = fd;
    }
    for (size_t i = 0; i < open; i++)
        close(fds[i]);
    return culprit;
}
