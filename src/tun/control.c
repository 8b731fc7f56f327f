// SPDX-License-Identifier: MIT
// The control socket on libevent (evconnlistener, bufferevent): one request line in, one JSON
// line out, never blocking.
#include "control.h"

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "log.h"

struct client {
    struct control *ctl;
    struct client *prev, *next;
    struct bufferevent *bev;
};

/* Connections taken in a row before the listener yields to the rest of the loop, so a flood
 * of connections cannot starve the data path. */
#define ACCEPT_BATCH 16

struct control {
    struct event_base *base;
    char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    dev_t dev;
    ino_t ino;
    struct evconnlistener *lis;
    struct event *resume_ev; /* re-enables the listener after a yield or a pause */
    int batch;               /* accepted since the listener was last (re-)enabled */
    control_status_fn fn;
    void *ctx;
    struct client *clients;
    size_t n_clients;
};

static const struct timeval client_timeout = {.tv_sec = CONTROL_CLIENT_TIMEOUT_S};

/* {"error": msg}, or a fixed text if even that cannot be built. */
static char *error_json(const char *msg)
{
    char *out = NULL;
    cJSON *o = cJSON_CreateObject();
    if (o && cJSON_AddStringToObject(o, "error", msg)) out = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return out ? out : strdup("{\"error\":\"out of memory\"}");
}

static void client_free(struct client *cl)
{
    struct control *c = cl->ctl;
    if (cl->prev)
        cl->prev->next = cl->next;
    else
        c->clients = cl->next;
    if (cl->next) cl->next->prev = cl->prev;
    c->n_clients--;
    bufferevent_free(cl->bev); /* closes the socket */
    free(cl);
}

/* The request text for an error message: printable ASCII only, so the answer stays JSON
 * that any reader can print. */
static void sanitize(const char *in, char *out, size_t cap)
{
    size_t j = 0, n = strlen(in);
    for (size_t i = 0; i < n && j + 4 < cap; i++)
        out[j++] = (in[i] >= 0x20 && in[i] < 0x7f) ? in[i] : '?';
    if (j + 4 >= cap && j < n) {
        memcpy(out + j, "...", 3);
        j += 3;
    }
    out[j] = 0;
}

/* The answer to request r (NUL-terminated, newline removed), or to error when not NULL. */
static char *answer(struct control *c, char *r, const char *error)
{
    if (error) return error_json(error);
    size_t n = strlen(r);
    while (n > 0 && (r[n - 1] == '\r' || r[n - 1] == ' ' || r[n - 1] == '\t'))
        r[--n] = 0;
    if (strcmp(r, "status") == 0) {
        char *doc = c->fn(c->ctx);
        return doc ? doc : error_json("status is unavailable");
    }
    if (n == 0) return error_json("empty request; the one request is \"status\"");
    char shown[48], msg[128];
    sanitize(r, shown, sizeof shown);
    snprintf(msg, sizeof msg, "unknown request \"%s\"; the one request is \"status\"", shown);
    return error_json(msg);
}

/* Queues the one-line answer; the write callback frees the client once it is out. */
static void client_respond(struct client *cl, char *req, const char *error)
{
    char *doc = answer(cl->ctl, req, error);
    /* The answer must be one line. Raw newlines in JSON text can only be whitespace between
     * tokens (inside strings they are escaped), so blanking them keeps the document intact. */
    for (char *p = doc; p && *p; p++)
        if (*p == '\n' || *p == '\r') *p = ' ';
    bufferevent_disable(cl->bev, EV_READ);
    struct evbuffer *out = bufferevent_get_output(cl->bev);
    int rc = doc ? evbuffer_add(out, doc, strlen(doc)) : -1;
    free(doc);
    if (rc < 0 || evbuffer_add(out, "\n", 1) < 0) client_free(cl);
}

/* Takes the request out of the input buffer: the first len bytes, a newline after them
 * dropped. NULL when it holds a NUL byte. */
static char *take_request(struct evbuffer *in, size_t len, bool newline, char *req)
{
    evbuffer_remove(in, req, len);
    req[len] = 0;
    if (newline) evbuffer_drain(in, 1);
    return memchr(req, 0, len) ? NULL : req;
}

static void client_read_cb(struct bufferevent *bev, void *arg)
{
    struct client *cl = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    char req[CONTROL_REQUEST_MAX + 1];
    /* The read high-water mark keeps at most CONTROL_REQUEST_MAX bytes in the buffer. */
    struct evbuffer_ptr nl = evbuffer_search(in, "\n", 1, NULL);
    if (nl.pos >= 0 && (size_t)nl.pos < CONTROL_REQUEST_MAX) {
        char *r = take_request(in, (size_t)nl.pos, true, req);
        client_respond(cl, r, r ? NULL : "request contains a NUL byte");
    } else if (evbuffer_get_length(in) >= CONTROL_REQUEST_MAX) {
        client_respond(cl, NULL, "request longer than 256 bytes; the one request is \"status\"");
    }
}

static void client_write_cb(struct bufferevent *bev, void *arg)
{
    /* Called when the output buffer ran empty, which only happens once the answer is out. */
    (void)bev;
    client_free(arg);
}

static void client_event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct client *cl = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    size_t len = evbuffer_get_length(in);
    /* A client that shut down its side without a newline still gets its answer. */
    if ((what & BEV_EVENT_EOF) && (what & BEV_EVENT_READING) && len > 0) {
        char req[CONTROL_REQUEST_MAX + 1];
        char *r = take_request(in, len, false, req);
        client_respond(cl, r, r ? NULL : "request contains a NUL byte");
        return;
    }
    /* Otherwise: gone, broken, or silent for CONTROL_CLIENT_TIMEOUT_S (BEV_EVENT_TIMEOUT). */
    client_free(cl);
}

static void accept_one(struct control *c, int fd)
{
    if (c->n_clients >= CONTROL_MAX_CLIENTS) {
        static const char busy[] = "{\"error\":\"busy: too many control clients at once\"}\n";
        ssize_t n = send(fd, busy, sizeof busy - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
        (void)n;
        close(fd);
        return;
    }
    struct client *cl = calloc(1, sizeof *cl);
    struct bufferevent *bev =
        cl ? bufferevent_socket_new(c->base, fd, BEV_OPT_CLOSE_ON_FREE) : NULL;
    if (!bev) {
        free(cl);
        close(fd);
        return;
    }
    cl->ctl = c;
    cl->bev = bev;
    cl->next = c->clients;
    if (c->clients) c->clients->prev = cl;
    c->clients = cl;
    c->n_clients++;
    bufferevent_setcb(bev, client_read_cb, client_write_cb, client_event_cb, cl);
    /* Reading stops at CONTROL_REQUEST_MAX bytes: a longer request is refused from those. */
    bufferevent_setwatermark(bev, EV_READ, 0, CONTROL_REQUEST_MAX);
    bufferevent_set_timeouts(bev, &client_timeout, &client_timeout);
    if (bufferevent_enable(bev, EV_READ) < 0) client_free(cl);
}

static void accept_cb(struct evconnlistener *lis, evutil_socket_t fd, struct sockaddr *sa,
                      int salen, void *arg)
{
    (void)sa;
    (void)salen;
    struct control *c = arg;
    accept_one(c, fd);
    if (++c->batch >= ACCEPT_BATCH) {
        /* libevent accepts until the backlog is empty; yield, and come back on the loop's
         * next turn, after the events that are already due. */
        static const struct timeval now = {0};
        evconnlistener_disable(lis);
        evtimer_add(c->resume_ev, &now);
    }
}

static void accept_error_cb(struct evconnlistener *lis, void *arg)
{
    struct control *c = arg;
    int e = errno;
    log_warn("control socket %s: accept: %s", c->path, strerror(e));
    if (e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM) {
        /* The pending connection stays readable: without a pause this would spin. */
        static const struct timeval second = {.tv_sec = 1};
        evconnlistener_disable(lis);
        evtimer_add(c->resume_ev, &second);
    }
}

static void resume_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct control *c = arg;
    c->batch = 0;
    evconnlistener_enable(c->lis);
}

/* mkdir -p of path's directory; new directories get mode 0755 whatever the umask. */
static int make_parents(const char *path, struct errmsg *err)
{
    char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
    snprintf(dir, sizeof dir, "%s", path);
    char *last = strrchr(dir, '/');
    if (!last || last == dir) return 0;
    *last = 0;
    for (char *p = dir + 1;; p++) {
        bool end = *p == 0;
        if (*p == '/' || end) {
            *p = 0;
            if (mkdir(dir, 0755) == 0) {
                if (chmod(dir, 0755) < 0)
                    return errmsg_fail(err, -errno, "control socket: chmod %s: %s", dir,
                                       strerror(errno));
            } else if (errno != EEXIST) {
                return errmsg_fail(err, -errno, "control socket: creating directory %s: %s", dir,
                                   strerror(errno));
            }
            if (end) break;
            *p = '/';
        }
    }
    return 0;
}

/* 0 when path is free (a stale socket file is removed), a negative errno with err set
 * otherwise. */
static int claim_path(const char *path, const struct sockaddr_un *sa, struct errmsg *err)
{
    struct stat st;
    if (lstat(path, &st) < 0) {
        if (errno == ENOENT) return 0;
        return errmsg_fail(err, -errno, "control socket %s: %s", path, strerror(errno));
    }
    /* Not ours to delete: a typo in control_socket must not eat a file. */
    if (!S_ISSOCK(st.st_mode))
        return errmsg_fail(err, -EEXIST, "control socket %s: the path exists and is not a socket",
                           path);
    int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (probe < 0)
        return errmsg_fail(err, -errno, "control socket %s: socket: %s", path, strerror(errno));
    int rc = connect(probe, (const struct sockaddr *)sa, sizeof *sa);
    int e = errno;
    close(probe);
    /* EAGAIN: the listener's backlog is full, so someone is listening. */
    if (rc == 0 || e == EAGAIN || e == EINPROGRESS)
        return errmsg_fail(err, -EADDRINUSE, "control socket %s is in use by another ruphin-tund",
                           path);
    if (e != ECONNREFUSED)
        return errmsg_fail(err, -e, "control socket %s: cannot tell whether it is in use: %s", path,
                           strerror(e));
    /* Nobody listens: a daemon died without cleaning up. */
    if (unlink(path) < 0 && errno != ENOENT)
        return errmsg_fail(err, -errno, "control socket %s: removing the stale socket: %s", path,
                           strerror(errno));
    log_info("control socket %s: removed a stale socket file", path);
    return 0;
}

/* The listening socket at sa, mode 0660: its descriptor, or -1 with err set. */
static int listen_at(const struct sockaddr_un *sa, struct errmsg *err)
{
    const char *path = sa->sun_path;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        errmsg_set(err, "control socket %s: socket: %s", path, strerror(errno));
        return -1;
    }
    if (bind(fd, (const struct sockaddr *)sa, sizeof *sa) < 0) {
        if (errno == EADDRINUSE)
            errmsg_set(err, "control socket %s is in use by another ruphin-tund", path);
        else
            errmsg_set(err, "control socket %s: bind: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    /* Before listen() nobody can connect, so there is no moment with the wrong mode. */
    if (chmod(path, 0660) < 0) {
        errmsg_set(err, "control socket %s: chmod: %s", path, strerror(errno));
    } else if (listen(fd, 16) < 0) {
        errmsg_set(err, "control socket %s: listen: %s", path, strerror(errno));
    } else {
        return fd;
    }
    close(fd);
    unlink(path);
    return -1;
}

struct control *control_new(struct event_base *base, const char *path, control_status_fn fn,
                            void *ctx, struct errmsg *err)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    size_t n = strlen(path);
    if (path[0] != '/' || n >= sizeof sa.sun_path) {
        errmsg_set(err, "control socket %s: must be an absolute path under %zu bytes", path,
                   sizeof sa.sun_path);
        return NULL;
    }
    if (!fn) {
        errmsg_set(err, "control socket %s: no status function", path);
        return NULL;
    }
    memcpy(sa.sun_path, path, n + 1);
    if (make_parents(path, err) < 0 || claim_path(path, &sa, err) < 0) return NULL;

    /* bufferevent writes with writev, which has no MSG_NOSIGNAL: a client that leaves before
     * its answer is out must not kill the daemon. */
    signal(SIGPIPE, SIG_IGN);

    struct control *c = calloc(1, sizeof *c);
    if (!c) {
        errmsg_set(err, "control socket %s: out of memory", path);
        return NULL;
    }
    c->base = base;
    c->fn = fn;
    c->ctx = ctx;
    memcpy(c->path, path, n + 1);
    int fd = listen_at(&sa, err);
    if (fd < 0) {
        free(c);
        return NULL;
    }
    struct stat st;
    if (lstat(path, &st) < 0) {
        errmsg_set(err, "control socket %s: %s", path, strerror(errno));
        close(fd);
        unlink(path);
        free(c);
        return NULL;
    }
    c->dev = st.st_dev;
    c->ino = st.st_ino;
    /* Backlog 0: listen_at already listens. From here the listener owns fd. */
    c->lis = evconnlistener_new(base, accept_cb, c, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC,
                                0, fd);
    c->resume_ev = evtimer_new(base, resume_cb, c);
    if (!c->lis || !c->resume_ev) {
        errmsg_set(err, "control socket %s: cannot add it to the event loop", path);
        if (!c->lis) close(fd);
        control_free(c);
        return NULL;
    }
    evconnlistener_set_error_cb(c->lis, accept_error_cb);
    return c;
}

void control_free(struct control *c)
{
    if (!c) return;
    while (c->clients)
        client_free(c->clients);
    if (c->lis) evconnlistener_free(c->lis); /* closes the socket */
    if (c->resume_ev) event_free(c->resume_ev);
    /* After a restart another daemon may own the path now; leave its socket alone. */
    struct stat st;
    if (lstat(c->path, &st) == 0 && st.st_dev == c->dev && st.st_ino == c->ino) unlink(c->path);
    free(c);
}
