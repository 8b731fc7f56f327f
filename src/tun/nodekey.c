// SPDX-License-Identifier: MIT
// Loading and first-start creation of the node key file, refusing files and directories that
// anyone but root or this daemon's user could read or replace.
#include "nodekey.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ruphin/error.h"
#include "ruphin/noise.h"
#include "ruphin/seal.h"

void nodekey_wipe(struct nodekey *k)
{
    rph_seal_wipe(k, sizeof *k);
}

int nodekey_public_base64(const uint8_t pk[32], char *out, size_t cap)
{
    return rph_key_to_base64(pk, out, cap);
}

int nodekey_owner_check(const char *what, const char *path, uid_t owner, uid_t user,
                        struct errmsg *e)
{
    if (owner == 0 || owner == geteuid() || (user != NODEKEY_NO_USER && owner == user)) return 0;
    if (user == NODEKEY_NO_USER || user == geteuid())
        return errmsg_fail(e, -EPERM,
                           "%s %s: owned by uid %u, which is neither root nor this daemon's uid %u",
                           what, path, (unsigned)owner, (unsigned)geteuid());
    return errmsg_fail(e, -EPERM,
                       "%s %s: owned by uid %u, which is neither root, this daemon's uid %u nor "
                       "the uid %u of its \"user\"",
                       what, path, (unsigned)owner, (unsigned)geteuid(), (unsigned)user);
}

int nodekey_load(const char *path, struct nodekey *k, struct errmsg *e)
{
    /* O_NONBLOCK: a FIFO in its place must not hang the start (fstat refuses it next). */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        int err = errno;
        if (err == ELOOP)
            return errmsg_fail(e, -ELOOP, "node key %s: is a symbolic link; refusing to follow it",
                               path);
        return errmsg_fail(e, -err, "node key %s: %s", path, strerror(err));
    }
    struct stat st;
    int r = 0;
    if (fstat(fd, &st) < 0) {
        r = -errno;
        errmsg_set(e, "node key %s: stat: %s", path, strerror(-r));
    } else if (!S_ISREG(st.st_mode)) {
        r = errmsg_fail(e, RPH_E_INVALID, "node key %s: not a regular file", path);
    } else if (st.st_mode & 077) {
        r = errmsg_fail(e, -EPERM,
                        "node key %s: mode %04o lets group or others at the private key; "
                        "run: chmod 600 %s",
                        path, (unsigned)(st.st_mode & 07777), path);
    } else {
        r = nodekey_owner_check("node key", path, st.st_uid, NODEKEY_NO_USER, e);
    }
    if (r < 0) {
        close(fd);
        return r;
    }
    char text[128];
    ssize_t n = read(fd, text, sizeof text - 1);
    int read_errno = errno;
    close(fd);
    if (n < 0)
        return errmsg_fail(e, -read_errno, "node key %s: read: %s", path, strerror(read_errno));
    text[n] = 0;
    r = rph_key_from_base64(text, k->sk);
    rph_seal_wipe(text, sizeof text);
    if (r == 0) r = rph_noise_public_key(k->pk, k->sk);
    if (r < 0) {
        nodekey_wipe(k);
        if (r == RPH_E_NOTSUP) return errmsg_fail(e, r, "node key %s: %s", path, rph_strerror(r));
        return errmsg_fail(e, r,
                           "node key %s: not a key (expected 44 characters of base64 for 32 "
                           "bytes and a newline)",
                           path);
    }
    return 0;
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return -errno;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return -errno;
    int r = fsync(fd) < 0 ? -errno : 0;
    close(fd);
    return r;
}

/* Writes a new key to path through tmp; -EEXIST if another process made path meanwhile. */
static int create_key(const char *dir, const char *path, const char *tmp, struct nodekey *k,
                      struct errmsg *e)
{
    int r = rph_noise_keygen(k->sk, k->pk);
    if (r < 0) return errmsg_fail(e, r, "node key %s: %s", path, rph_strerror(r));
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0 && errno == EEXIST) {
        /* Left by a start with our pid that died before its rename: ours to replace, as
         * only root or our uid can write the directory. */
        unlink(tmp);
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    }
    if (fd < 0) {
        r = -errno;
        return errmsg_fail(e, r, "node key %s: create %s: %s", path, tmp, strerror(-r));
    }
    char text[NODEKEY_B64_LEN + 2];
    const char *step = "write";
    r = rph_key_to_base64(k->sk, text, sizeof text);
    if (r == 0) {
        text[NODEKEY_B64_LEN] = '\n';
        /* fchmod: the mode must not depend on the umask we were started with. */
        if (fchmod(fd, 0600) < 0) r = -errno, step = "chmod";
    }
    if (r == 0) r = write_all(fd, text, NODEKEY_B64_LEN + 1);
    if (r == 0 && fsync(fd) < 0) r = -errno, step = "fsync";
    rph_seal_wipe(text, sizeof text);
    if (close(fd) < 0 && r == 0) r = -errno, step = "close";
    if (r == 0) {
        step = "rename";
        /* NOREPLACE: two daemons starting at once must not each run with a key the other
         * overwrote; the loser loads the winner's key instead. */
        if (renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RENAME_NOREPLACE) < 0) {
            r = -errno;
            if (r == -EINVAL || r == -ENOSYS) r = rename(tmp, path) < 0 ? -errno : 0;
        }
    }
    if (r == 0) {
        if ((r = fsync_dir(dir)) < 0) step = "fsync of the directory";
        if (r == 0) return 0;
    } else {
        unlink(tmp);
    }
    nodekey_wipe(k);
    if (r == -EEXIST) return r;
    return errmsg_fail(e, r, "node key %s: %s: %s", path, step, strerror(-r));
}

/* mkdir -p: missing parents get mode 0755 (like /var/lib), the state directory itself 0700,
 * whatever the umask. */
static int make_dirs(const char *dir)
{
    char buf[PATH_MAX];
    if (snprintf(buf, sizeof buf, "%s", dir) >= (int)sizeof buf) return -ENAMETOOLONG;
    for (char *p = buf + 1;; p++) {
        bool end = *p == 0;
        if (*p != '/' && !end) continue;
        *p = 0;
        mode_t mode = end ? 0700 : 0755;
        if (mkdir(buf, mode) == 0) {
            if (chmod(buf, mode) < 0) return -errno;
        } else if (errno != EEXIST) {
            return -errno;
        }
        if (end) return 0;
        *p = '/';
    }
}

/* 0 when dir is fit to hold the key, 1 when it is missing and create is false. */
static int check_state_dir(const char *dir, bool create, struct errmsg *e)
{
    struct stat st;
    if (stat(dir, &st) < 0 && errno == ENOENT) {
        if (!create) return 1;
        int r = make_dirs(dir);
        if (r < 0) return errmsg_fail(e, r, "state directory %s: mkdir: %s", dir, strerror(-r));
    }
    if (stat(dir, &st) < 0) {
        int err = errno;
        return errmsg_fail(e, -err, "state directory %s: %s", dir, strerror(err));
    }
    if (!S_ISDIR(st.st_mode))
        return errmsg_fail(e, -ENOTDIR, "state directory %s: not a directory", dir);
    if (st.st_mode & 022)
        return errmsg_fail(e, -EPERM,
                           "state directory %s: mode %04o lets group or others replace the node "
                           "key; run: chmod go-w %s",
                           dir, (unsigned)(st.st_mode & 07777), dir);
    return nodekey_owner_check("state directory", dir, st.st_uid, NODEKEY_NO_USER, e);
}

static int key_paths(const char *state_dir, char *path, char *tmp, struct errmsg *e)
{
    int n = snprintf(path, PATH_MAX, "%s/" NODEKEY_FILE, state_dir);
    int m = snprintf(tmp, PATH_MAX, "%s/." NODEKEY_FILE ".tmp.%ld", state_dir, (long)getpid());
    if (n < 0 || n >= PATH_MAX || m < 0 || m >= PATH_MAX)
        return errmsg_fail(e, -ENAMETOOLONG, "state directory %s: path too long", state_dir);
    return 0;
}

int nodekey_check(const char *state_dir, struct nodekey *k, bool *found, struct errmsg *e)
{
    *found = false;
    char path[PATH_MAX], tmp[PATH_MAX];
    int r = key_paths(state_dir, path, tmp, e);
    if (r < 0) return r;
    r = check_state_dir(state_dir, false, e);
    if (r != 0) return r < 0 ? r : 0;
    r = nodekey_load(path, k, e);
    if (r == -ENOENT) return 0;
    if (r == 0) *found = true;
    return r;
}

int nodekey_load_or_create(const char *state_dir, struct nodekey *k, bool *created,
                           struct errmsg *e)
{
    if (created) *created = false;
    char path[PATH_MAX], tmp[PATH_MAX];
    int r = key_paths(state_dir, path, tmp, e);
    if (r < 0) return r;
    r = check_state_dir(state_dir, true, e);
    if (r < 0) return r;
    r = nodekey_load(path, k, e);
    if (r != -ENOENT) return r;
    r = create_key(state_dir, path, tmp, k, e);
    if (r == -EEXIST) return nodekey_load(path, k, e);
    if (r == 0 && created) *created = true;
    return r;
}

const char *nodekey_short(bool has, const uint8_t pk[32], char out[NODEKEY_SHORT_LEN])
{
    char b64[NODEKEY_B64_LEN + 1];
    out[0] = 0;
    if (has && nodekey_public_base64(pk, b64, sizeof b64) == 0)
        snprintf(out, NODEKEY_SHORT_LEN, " (node %.8s)", b64);
    return out;
}
