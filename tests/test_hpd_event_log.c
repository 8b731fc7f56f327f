// SPDX-License-Identifier: MIT
// holepuncherd's event lines that repeat: a session moved back and forth, a second server's
// refused Registers; each gets a line when it starts, not one per event.
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "../src/holepuncherd/event_log.h"
#include "log.h"
#include "ruphin/error.h"

static char logbuf[16384];

/* stderr into a file for the test (criterion runs each test in its own process). */
static FILE *capture(void)
{
    FILE *f = tmpfile();
    cr_assert_not_null(f);
    fflush(stderr);
    cr_assert_geq(dup2(fileno(f), 2), 0);
    return f;
}

static size_t count(FILE *f, const char *what)
{
    fflush(stderr);
    rewind(f);
    size_t n = fread(logbuf, 1, sizeof logbuf - 1, f);
    logbuf[n] = 0;
    size_t c = 0;
    for (const char *p = logbuf; (p = strstr(p, what)) != NULL; p += strlen(what))
        c++;
    return c;
}

static struct rph_addr A = {.family = 4, .ip = {203, 0, 113, 1}, .port = 1000};
static struct rph_addr B = {.family = 4, .ip = {198, 51, 100, 7}, .port = 40000};

Test(hpd_event_log, a_session_moving_back_and_forth_gets_one_line_a_minute)
{
    FILE *f = capture();
    log_init("holepuncherd");
    static struct hpd_event_log el;
    hpd_event_log_init(&el, 100);
    struct rph_session s, other;
    rph_session_set(&s, "office", 6);
    rph_session_set(&other, "home", 4);
    /* Two plaintext servers take turns, 20 moves in a row. */
    for (int i = 0; i < 20; i++) {
        struct rph_hp_event ev = {RPH_HP_MOVED, &s, i & 1 ? &A : &B, i & 1 ? &B : &A, 0};
        hpd_event_log_cb(&el, &ev);
    }
    cr_assert_eq(count(f, "session \"office\" moved from"), 1, "%s", logbuf);
    /* Another session's move is its own line. */
    struct rph_hp_event ev = {RPH_HP_MOVED, &other, &A, &B, 0};
    hpd_event_log_cb(&el, &ev);
    cr_assert_eq(count(f, "session \"home\" moved from"), 1, "%s", logbuf);
}

Test(hpd_event_log, refused_registers_of_a_second_server_are_rate_limited)
{
    FILE *f = capture();
    log_init("holepuncherd");
    static struct hpd_event_log el;
    hpd_event_log_init(&el, 100);
    struct rph_session s;
    uint8_t id[20];
    memset(id, 0x9c, sizeof id);
    rph_session_set(&s, id, sizeof id);
    for (int i = 0; i < 10; i++) {
        struct rph_hp_event ev = {RPH_HP_REFUSED, &s, &B, &A, RPH_E_HELD};
        hpd_event_log_cb(&el, &ev);
    }
    cr_assert_eq(count(f, "refused a Register from 198.51.100.7:40000 for session sealed:9c9c9c9c: "
                          "another server (203.0.113.1:1000, another node) holds it"),
                 1, "%s", logbuf);
}
