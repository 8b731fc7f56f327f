// SPDX-License-Identifier: MIT
// The node key file: made once at first start (0600, atomic, WireGuard's format), loaded after,
// and refused with a message naming the file when its mode, owner, type or contents are wrong.
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../src/tun/nodekey.h"
#include "ruphin/error.h"
#include "ruphin/noise.h"
#include "ruphin/seal.h"

static char dir[64], keyfile[128];

static void setup(void)
{
    cr_assert_eq(rph_noise_global_init(), 0);
    strcpy(dir, "/tmp/ruphin-nodekey-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    snprintf(keyfile, sizeof keyfile, "%s/node.key", dir);
}

static void teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    cr_assert_eq(system(cmd), 0);
}

TestSuite(nodekey, .init = setup, .fini = teardown);

static void write_file(const char *path, const char *text, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    cr_assert_eq(chmod(path, mode), 0);
}

static size_t read_file(const char *path, char *buf, size_t cap)
{
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f);
    size_t n = fread(buf, 1, cap - 1, f);
    fclose(f);
    buf[n] = 0;
    return n;
}

static int entries(const char *path)
{
    DIR *d = opendir(path);
    cr_assert_not_null(d);
    int n = 0;
    for (struct dirent *de; (de = readdir(d));)
        n += strcmp(de->d_name, ".") && strcmp(de->d_name, "..");
    closedir(d);
    return n;
}

Test(nodekey, created_at_first_start_then_loaded)
{
    struct nodekey k, again;
    struct errmsg e = {{0}};
    bool created = false;
    cr_assert_eq(nodekey_load_or_create(dir, &k, &created, &e), 0, "%s", e.msg);
    cr_assert(created);
    struct stat st;
    cr_assert_eq(lstat(keyfile, &st), 0);
    cr_assert(S_ISREG(st.st_mode));
    cr_assert_eq(st.st_mode & 07777, 0600);
    cr_assert_eq(entries(dir), 1, "a temporary file was left behind");

    /* WireGuard's format: base64 of the private key and a newline; the public key derived. */
    char text[128];
    cr_assert_eq(read_file(keyfile, text, sizeof text), NODEKEY_B64_LEN + 1);
    cr_assert_eq(text[NODEKEY_B64_LEN], '\n');
    uint8_t sk[32], pk[32];
    cr_assert_eq(rph_key_from_base64(text, sk), 0);
    cr_assert_eq(memcmp(sk, k.sk, 32), 0);
    cr_assert_eq(rph_noise_public_key(pk, sk), 0);
    cr_assert_eq(memcmp(pk, k.pk, 32), 0);

    cr_assert_eq(nodekey_load_or_create(dir, &again, &created, &e), 0, "%s", e.msg);
    cr_assert_not(created);
    cr_assert_eq(memcmp(&again, &k, sizeof k), 0);
    char text2[128];
    read_file(keyfile, text2, sizeof text2);
    cr_assert_str_eq(text, text2);

    /* Two nodes get two keys. */
    struct nodekey other;
    char dir2[160];
    snprintf(dir2, sizeof dir2, "%s/other", dir);
    cr_assert_eq(nodekey_load_or_create(dir2, &other, &created, &e), 0, "%s", e.msg);
    cr_assert(created);
    cr_assert_neq(memcmp(other.sk, k.sk, 32), 0);
    nodekey_wipe(&k);
    static const struct nodekey zero;
    cr_assert_eq(memcmp(&k, &zero, sizeof k), 0);
}

Test(nodekey, state_dir_made_private_when_missing)
{
    char sub[160];
    snprintf(sub, sizeof sub, "%s/state", dir);
    struct nodekey k;
    struct errmsg e = {{0}};
    cr_assert_eq(nodekey_load_or_create(sub, &k, NULL, &e), 0, "%s", e.msg);
    struct stat st;
    cr_assert_eq(stat(sub, &st), 0);
    cr_assert_eq(st.st_mode & 077, 0);
    /* Missing parents are made too (like /var/lib/ruphin without systemd's StateDirectory=),
     * open to read as /var/lib is; only the state directory itself is private. */
    char parent[160];
    snprintf(parent, sizeof parent, "%s/no", dir);
    snprintf(sub, sizeof sub, "%s/no/such", dir);
    umask(077);
    cr_assert_eq(nodekey_load_or_create(sub, &k, NULL, &e), 0, "%s", e.msg);
    umask(022);
    cr_assert_eq(stat(parent, &st), 0);
    cr_assert_eq(st.st_mode & 0777, 0755);
    cr_assert_eq(stat(sub, &st), 0);
    cr_assert_eq(st.st_mode & 0777, 0700);
    /* A state directory under a file cannot be made, and the error names it. */
    snprintf(sub, sizeof sub, "%s/state/node.key/x", dir);
    cr_assert_eq(nodekey_load_or_create(sub, &k, NULL, &e), -ENOTDIR);
    cr_assert(strstr(e.msg, sub), "%s", e.msg);
}

Test(nodekey, check_makes_nothing)
{
    char sub[160];
    snprintf(sub, sizeof sub, "%s/state", dir);
    struct nodekey k;
    struct errmsg e = {{0}};
    bool found = true;
    /* Missing directory: fine for --check (a start makes it), and still missing after. */
    cr_assert_eq(nodekey_check(sub, &k, &found, &e), 0, "%s", e.msg);
    cr_assert_not(found);
    struct stat st;
    cr_assert_eq(stat(sub, &st), -1);
    cr_assert_eq(mkdir(sub, 0700), 0);
    cr_assert_eq(nodekey_check(sub, &k, &found, &e), 0, "%s", e.msg);
    cr_assert_not(found);
    char key[200];
    snprintf(key, sizeof key, "%s/node.key", sub);
    cr_assert_eq(stat(key, &st), -1);
    /* Once a start made it, check loads the same key. */
    struct nodekey made;
    cr_assert_eq(nodekey_load_or_create(sub, &made, NULL, &e), 0, "%s", e.msg);
    cr_assert_eq(nodekey_check(sub, &k, &found, &e), 0, "%s", e.msg);
    cr_assert(found);
    cr_assert_eq(memcmp(k.pk, made.pk, 32), 0);
    /* And refuses what a start refuses. */
    cr_assert_eq(chmod(sub, 0777), 0);
    cr_assert_eq(nodekey_check(sub, &k, &found, &e), -EPERM);
    cr_assert(strstr(e.msg, "chmod go-w"), "%s", e.msg);
    cr_assert_eq(chmod(sub, 0700), 0);
    cr_assert_eq(chmod(key, 0644), 0);
    cr_assert_eq(nodekey_check(sub, &k, &found, &e), -EPERM);
    cr_assert(strstr(e.msg, "chmod 600"), "%s", e.msg);
}

Test(nodekey, stale_temporary_file_of_our_pid_replaced)
{
    char tmp[200];
    snprintf(tmp, sizeof tmp, "%s/.node.key.tmp.%ld", dir, (long)getpid());
    write_file(tmp, "half-written junk", 0600);
    struct nodekey k;
    struct errmsg e = {{0}};
    bool created;
    cr_assert_eq(nodekey_load_or_create(dir, &k, &created, &e), 0, "%s", e.msg);
    cr_assert(created);
    cr_assert_eq(entries(dir), 1);
    struct nodekey again;
    cr_assert_eq(nodekey_load(keyfile, &again, &e), 0, "%s", e.msg);
    cr_assert_eq(memcmp(&again, &k, sizeof k), 0);
}

/* An existing key file that is refused must be left exactly as it was. */
static void refused(const char *want_code_text, int want, const char *text_before)
{
    struct nodekey k;
    struct errmsg e = {{0}};
    bool created = true;
    int r = nodekey_load_or_create(dir, &k, &created, &e);
    cr_assert_eq(r, want, "got %d (%s)", r, e.msg);
    cr_assert_not(created);
    cr_assert(strstr(e.msg, keyfile), "message does not name the file: %s", e.msg);
    cr_assert(strstr(e.msg, want_code_text), "message does not say '%s': %s", want_code_text,
              e.msg);
    if (text_before) {
        char now[256];
        read_file(keyfile, now, sizeof now);
        cr_assert_str_eq(now, text_before);
    }
}

Test(nodekey, group_or_world_accessible_refused)
{
    struct nodekey k;
    struct errmsg e = {{0}};
    cr_assert_eq(nodekey_load_or_create(dir, &k, NULL, &e), 0, "%s", e.msg);
    char text[128];
    read_file(keyfile, text, sizeof text);
    static const mode_t modes[] = {0640, 0604, 0660, 0644, 0610, 0601, 0602, 0620};
    static const char *const names[] = {"mode 0640", "mode 0604", "mode 0660", "mode 0644",
                                        "mode 0610", "mode 0601", "mode 0602", "mode 0620"};
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
        cr_assert_eq(chmod(keyfile, modes[i]), 0);
        refused(names[i], -EPERM, text);
    }
    /* 0400 (read-only for the owner) is fine. */
    cr_assert_eq(chmod(keyfile, 0400), 0);
    cr_assert_eq(nodekey_load_or_create(dir, &k, NULL, &e), 0, "%s", e.msg);
}

Test(nodekey, symbolic_link_and_non_files_refused)
{
    char real[160];
    snprintf(real, sizeof real, "%s/real.key", dir);
    write_file(real, "hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo=\n", 0600);
    cr_assert_eq(symlink(real, keyfile), 0);
    refused("symbolic link", -ELOOP, NULL);
    cr_assert_eq(unlink(keyfile), 0);
    cr_assert_eq(mkdir(keyfile, 0700), 0);
    refused("not a regular file", RPH_E_INVALID, NULL);
}

Test(nodekey, bad_contents_refused_not_overwritten)
{
    static const char *const bad[] = {
        "",
        "\n",
        "not base64 at all, but forty-four chars long\n",
        "hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTm=\n",   /* 43 characters */
        "hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmoA\n",  /* 44, not 32 bytes */
        "hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo=x\n", /* trailing garbage */
        "hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo=\nhSDwCYkwp1R0i33ctD73Wg2/"
        "Og0mOBr066SpjqqbTmo=\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        write_file(keyfile, bad[i], 0600);
        refused("not a key", RPH_E_INVALID, bad[i]);
    }
    /* Surrounding whitespace, as an editor may leave it, is fine. */
    write_file(keyfile, "  dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCo=\r\n\n", 0600);
    struct nodekey k;
    struct errmsg e = {{0}};
    cr_assert_eq(nodekey_load_or_create(dir, &k, NULL, &e), 0, "%s", e.msg);
}

/* RFC 7748 section 6.1: Alice's private key and public key, the latter as `wg pubkey` prints. */
Test(nodekey, public_key_known_answer)
{
    write_file(keyfile, "dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCo=\n", 0600);
    struct nodekey k;
    struct errmsg e = {{0}};
    cr_assert_eq(nodekey_load(keyfile, &k, &e), 0, "%s", e.msg);
    char b64[NODEKEY_B64_LEN + 1];
    cr_assert_eq(nodekey_public_base64(k.pk, b64, sizeof b64), 0);
    cr_assert_str_eq(b64, "hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo=");
    cr_assert_eq(nodekey_public_base64(k.pk, b64, NODEKEY_B64_LEN), RPH_E_NOSPACE);
}

Test(nodekey, unsafe_state_dir_refused)
{
    cr_assert_eq(chmod(dir, 0777), 0);
    struct nodekey k;
    struct errmsg e = {{0}};
    cr_assert_eq(nodekey_load_or_create(dir, &k, NULL, &e), -EPERM);
    cr_assert(strstr(e.msg, dir) && strstr(e.msg, "mode 0777"), "%s", e.msg);
    cr_assert_eq(entries(dir), 0, "a key was written into an unsafe directory");
    cr_assert_eq(chmod(dir, 0720), 0);
    cr_assert_eq(nodekey_load_or_create(dir, &k, NULL, &e), -EPERM);
    cr_assert_eq(chmod(dir, 0755), 0);
    cr_assert_eq(nodekey_load_or_create(dir, &k, NULL, &e), 0, "%s", e.msg);
    char file[160];
    snprintf(file, sizeof file, "%s/file", dir);
    write_file(file, "x", 0600);
    cr_assert_eq(nodekey_load_or_create(file, &k, NULL, &e), -ENOTDIR);
    cr_assert(strstr(e.msg, file), "%s", e.msg);
}

/* Ownership needs root to give a file away; as another user this checks nothing, so skip. */
Test(nodekey, foreign_owner_refused)
{
    if (geteuid() != 0) cr_skip_test("needs root to chown a file to another uid");
    struct nodekey k;
    struct errmsg e = {{0}};
    cr_assert_eq(nodekey_load_or_create(dir, &k, NULL, &e), 0, "%s", e.msg);
    char text[128];
    read_file(keyfile, text, sizeof text);
    cr_assert_eq(chown(keyfile, 12345, 12345), 0);
    refused("owned by uid 12345", -EPERM, text);
    cr_assert_eq(chown(keyfile, 0, 0), 0);
    cr_assert_eq(nodekey_load_or_create(dir, &k, NULL, &e), 0, "%s", e.msg);
    /* A state directory someone else owns could be emptied and refilled by them. */
    cr_assert_eq(chown(dir, 12345, 12345), 0);
    cr_assert_eq(nodekey_load_or_create(dir, &k, NULL, &e), -EPERM);
    cr_assert(strstr(e.msg, dir) && strstr(e.msg, "uid 12345"), "%s", e.msg);
}
