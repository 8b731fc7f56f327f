// SPDX-License-Identifier: MIT
// The README's libruphin example as a program, built against the installed libruphin-dev.
#include <stdio.h>
#include <string.h>

#include <ruphin/ruphin.h>

int main(int argc, char **argv)
{
    const char *hp = argc > 1 ? argv[1] : "203.0.113.10:7700";
    const char *session = argc > 2 ? argv[2] : "office";

    struct rph_peer_config c;
    rph_peer_config_defaults(&c, RPH_ROLE_CLIENT);
    if (rph_addr_parse(hp, &c.holepuncher) < 0) {
        fprintf(stderr, "not an address: %s\n", hp);
        return 2;
    }
    rph_session_set(&c.session, session, strlen(session));
    int err;
    struct rph_passive_client *cl = rph_passive_client_create(&c, &err); /* Join, PeerInfo, punch */
    if (!cl) {
        fprintf(stderr, "join: %s\n", rph_strerror(err));
        return 1;
    }
    struct rph_addr server;
    char a[RPH_ADDR_STRLEN] = "?";
    if (rph_passive_client_server_addr(cl, &server) == 0) rph_addr_format(&server, a, sizeof a);
    printf("joined session \"%s\" via %s; server at %s\n", session, hp, a);

    rph_passive_client_send(cl, "hello", 5);
    char buf[2048];
    ssize_t n = rph_passive_client_wait_for_data(cl, 1000, buf, sizeof buf);
    printf("wait_for_data: %s\n", n >= 0 ? "got data" : rph_strerror((int)n));
    rph_passive_client_free(cl);
    return 0;
}
