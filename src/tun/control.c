// SPDX-License-Identifier: MIT
// The control socket on libevent: one request line in, one JSON line out, never blocking.
#include "control.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <event2/event.h>

#include "log.h"

struct client {
    struct control *ctl;
    struct client *prev, *next;
    int fd;
    struct event *ev;
    char req[CONTROL_REQUEST_MAX + 1];
    size_t req_len;
    char *resp; /* NULL while the request is still being read */
    size_t resp_len, resp_off;
};

struct control {
    struct event_base *base;
    char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    int fd;
    dev_t dev;
    ino_t ino;
    struct event *accept_ev;
    struct event *resume_ev; /* re-arms accepting after running out of descriptors */
    control_status_fn fn;
    void *ctx;
    struct client *clients;
    size_t n_clients;
};

static const struct timeval client_timeout = {.tv_sec = CONTROL_CLIENT_TIMEOUT_S};

static struct control *fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static struct control *fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (err && errlen) vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return NULL;
}

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
    if (cl->ev) event_free(cl->ev);
    close(cl->fd);
    free(cl->resp);
    free(cl);
}

static void client_cb(evutil_socket_t fd, short what, void *arg);

/* Sends what the socket takes now; the rest waits for EV_WRITE. Frees the client when done. */
static void client_flush(struct client *cl)
{
    while (cl->resp_off < cl->resp_len) {
        ssize_t n = send(cl->fd, cl->resp + cl->resp_off, cl->resp_len - cl->resp_off,
                         MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) return;
            client_free(cl); /* the client went away: nothing to tell it */
            return;
        }
        cl->resp_off += (size_t)n;
    }
    client_free(cl);
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

static void client_respond(struct client *cl, const char *error)
{
    char *doc = NULL;
    if (error) {
        doc = error_json(error);
    } else {
        char *r = cl->req;
        size_t n = strlen(r);
        while (n > 0 && (r[n - 1] == '\r' || r[n - 1] == ' ' || r[n - 1] == '\t'))
            r[--n] = 0;
        if (strcmp(r, "status") == 0) {
            doc = cl->ctl->fn(cl->ctl->ctx);
            if (!doc) doc = error_json("status is unavailable");
        } else if (n == 0) {
            doc = error_json("empty request; the one request is \"status\"");
        } else {
            char shown[48], msg[128];
            sanitize(r, shown, sizeof shown);
            snprintf(msg, sizeof msg, "unknown request \"%s\"; the one request is \"status\"",
                     shown);
            doc = error_json(msg);
        }
    }
    /* The answer must be one line. Raw newlines in JSON text can only be whitespace between
     * tokens (inside strings they are escaped), so blanking them keeps the document intact. */
    for (char *p = doc; p && *p; p++)
        if (*p == '\n' || *p == '\r') *p = ' ';
    size_t len = doc ? strlen(doc) : 0;
    char *resp = doc ? realloc(doc, len + 2) : NULL;
    if (!resp) {
        free(doc);
        client_free(cl);
        return;
    }
    resp[len] = '\n';
    resp[len + 1] = 0;
    cl->resp = resp;
    cl->resp_len = len + 1;
    /* From now on the socket is only watched for room to write. */
    event_free(cl->ev);
    cl->ev = event_new(cl->ctl->base, cl->fd, EV_WRITE | EV_PERSIST, client_cb, cl);
    if (!cl->ev || event_add(cl->ev, &client_timeout) < 0) {
        client_free(cl);
        return;
    }
    client_flush(cl);
}

static void client_read(struct client *cl)
{
    for (;;) {
        ssize_t n = recv(cl->fd, cl->req + cl->req_len, CONTROL_REQUEST_MAX - cl->req_len, 0);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK) client_free(cl);
            return;
        }
        if (n == 0) {
            /* A client that shut down its side without a newline still gets its answer. */
            if (cl->req_len == 0) {
                client_free(cl);
                return;
            }
            cl->req[cl->req_len] = 0;
            client_respond(cl,
                           memchr(cl->req, 0, cl->req_len) ? "request contains a NUL byte" : NULL);
            return;
        }
        char *nl = memchr(cl->req + cl->req_len, '\n', (size_t)n);
        cl->req_len += (size_t)n;
        if (nl) {
            *nl = 0;
            client_respond(cl, strlen(cl->req) != (size_t)(nl - cl->req)
                                   ? "request contains a NUL byte"
                                   : NULL);
            return;
        }
        if (cl->req_len >= CONTROL_REQUEST_MAX) {
            client_respond(cl, "request longer than 256 bytes; the one request is \"status\"");
            return;
        }
    }
}

static void client_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    struct client *cl = arg;
    if (what & EV_TIMEOUT) {
        client_free(cl);
        return;
    }
    if (cl->resp)
        client_flush(cl);
    else
        client_read(cl);
}

static void resume_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct control *c = arg;
    event_add(c->accept_ev, NULL);
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
    if (!cl) {
        close(fd);
        return;
    }
    cl->ctl = c;
    cl->fd = fd;
    cl->next = c->clients;
    if (c->clients) c->clients->prev = cl;
    c->clients = cl;
    c->n_clients++;
    cl->ev = event_new(c->base, fd, EV_READ | EV_PERSIST, client_cb, cl);
    if (!cl->ev || event_add(cl->ev, &client_timeout) < 0) client_free(cl);
}

static void accept_cb(evutil_socket_t lfd, short what, void *arg)
{
    (void)what;
    struct control *c = arg;
    /* A bounded batch, so a flood of connections cannot starve the data path. */
    for (int i = 0; i < 16; i++) {
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) {
            accept_one(c, fd);
            continue;
        }
        int e = errno;
        if (e == EINTR || e == ECONNABORTED) continue;
        if (e == EAGAIN || e == EWOULDBLOCK) return;
        log_warn("control socket %s: accept: %s", c->path, strerror(e));
        if (e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM) {
            /* The pending connection stays readable: without a pause this would spin. */
            struct timeval second = {.tv_sec = 1};
            event_del(c->accept_ev);
            evtimer_add(c->resume_ev, &second);
        }
        return;
    }
}

/* mkdir -p of path's directory; new directories get mode 0755 whatever the umask. */
static int make_parents(const char *path, char *err, size_t errlen)
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
                if (chmod(dir, 0755) < 0) {
                    fail(err, errlen, "control socket: chmod %s: %s", dir, strerror(errno));
                    return -1;
                }
            } else if (errno != EEXIST) {
                fail(err, errlen, "control socket: creating directory %s: %s", dir,
                     strerror(errno));
                return -1;
            }
            if (end) break;
            *p = '/';
        }
    }
    return 0;
}

/* 0 when path is free (a stale socket file is removed), -1 with err filled otherwise. */
static int claim_path(const char *path, const struct sockaddr_un *sa, char *err, size_t errlen)
{
    struct stat st;
    if (lstat(path, &st) < 0) {
        if (errno == ENOENT) return 0;
        fail(err, errlen, "control socket %s: %s", path, strerror(errno));
        return -1;
    }
    if (!S_ISSOCK(st.st_mode)) {
        /* Not ours to delete: a typo in control_socket must not eat a file. */
        fail(err, errlen, "control socket %s: the path exists and is not a socket", path);
        return -1;
    }
    int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (probe < 0) {
        fail(err, errlen, "control socket %s: socket: %s", path, strerror(errno));
        return -1;
    }
    int rc = connect(probe, (const struct sockaddr *)sa, sizeof *sa);
    int e = errno;
    close(probe);
    /* EAGAIN: the listener's backlog is full, so someone is listening. */
    if (rc == 0 || e == EAGAIN || e == EINPROGRESS) {
        fail(err, errlen, "control socket %s is in use by another ruphin-tund", path);
        return -1;
    }
    if (e != ECONNREFUSED) {
        fail(err, errlen, "control socket %s: cannot tell whether it is in use: %s", path,
             strerror(e));
        return -1;
    }
    /* Nobody listens: a daemon died without cleaning up. */
    if (unlink(path) < 0 && errno != ENOENT) {
        fail(err, errlen, "control socket %s: removing the stale socket: %s", path,
             strerror(errno));
        return -1;
    }
    log_info("control socket %s: removed a stale socket file", path);
    return 0;
}

struct control *control_new(struct event_base *base, const char *path, control_status_fn fn,
                            void *ctx, char *err, size_t errlen)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    size_t n = strlen(path);
    if (path[0] != '/' || n >= sizeof sa.sun_path)
        return fail(err, errlen, "control socket %s: must be an absolute path under %zu bytes",
                    path, sizeof sa.sun_path);
    if (!fn) return fail(err, errlen, "control socket %s: no status function", path);
    memcpy(sa.sun_path, path, n + 1);
    if (make_parents(path, err, errlen) < 0) return NULL;
    if (claim_path(path, &sa, err, errlen) < 0) return NULL;

    struct control *c = calloc(1, sizeof *c);
    if (!c) return fail(err, errlen, "control socket %s: out of memory", path);
    c->base = base;
    c->fn = fn;
    c->ctx = ctx;
    memcpy(c->path, path, n + 1);
    c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) {
        fail(err, errlen, "control socket %s: socket: %s", path, strerror(errno));
        free(c);
        return NULL;
    }
    if (bind(c->fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        if (errno == EADDRINUSE)
            fail(err, errlen, "control socket %s is in use by another ruphin-tund", path);
        else
            fail(err, errlen, "control socket %s: bind: %s", path, strerror(errno));
        close(c->fd);
        free(c);
        return NULL;
    }
    struct stat st;
    /* Before listen() nobody can connect, so there is no moment with the wrong mode. */
    if (chmod(path, 0660) < 0 || lstat(path, &st) < 0) {
        fail(err, errlen, "control socket %s: chmod: %s", path, strerror(errno));
        goto undo;
    }
    c->dev = st.st_dev;
    c->ino = st.st_ino;
    if (listen(c->fd, 16) < 0) {
        fail(err, errlen, "control socket %s: listen: %s", path, strerror(errno));
        goto undo;
    }
    c->accept_ev = event_new(base, c->fd, EV_READ | EV_PERSIST, accept_cb, c);
    c->resume_ev = evtimer_new(base, resume_cb, c);
    if (!c->accept_ev || !c->resume_ev || event_add(c->accept_ev, NULL) < 0) {
        fail(err, errlen, "control socket %s: cannot add it to the event loop", path);
        goto undo;
    }
    return c;
undo:
    if (c->accept_ev) event_free(c->accept_ev);
    if (c->resume_ev) event_free(c->resume_ev);
    close(c->fd);
    unlink(path);
    free(c);
    return NULL;
}

void control_free(struct control *c)
{
    if (!c) return;
    while (c->clients)
        client_free(c->clients);
    event_free(c->accept_ev);
    event_free(c->resume_ev);
    close(c->fd);
    /* After a restart another daemon may own the path now; leave its socket alone. */
    struct stat st;
    if (lstat(c->path, &st) == 0 && st.st_dev == c->dev && st.st_ino == c->ino) unlink(c->path);
    free(c);
}
