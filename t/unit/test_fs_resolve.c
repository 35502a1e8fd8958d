/*
 * Path resolution of the changing file operations (files/fs_resolve.h) on a real tree:
 * links followed or refused by owner, links to nowhere, loops, mkdir -p, relative paths.
 * The ownership cases need root (links are chowned to another user).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "files/fs_err.h"
#include "files/fs_ops.h"
#include "files/fs_resolve.h"

#define OTHER_UID 12345

static char root[64];

static int setup(void **state)
{
    (void)state;
    umask(022);
    strcpy(root, "/tmp/execd-fsres-XXXXXX");
    return mkdtemp(root) != NULL ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    struct fs_err err = FS_ERR_INIT;
    int rc = fsops_rmrf(root, &err);
    fs_err_free(&err);
    return rc;
}

static const char *P(const char *name)
{
    static char buf[4][1024];
    static int next;
    char *p = buf[next++ % 4];
    snprintf(p, sizeof(buf[0]), "%s/%s", root, name);
    return p;
}

static void mk(const char *name, uid_t uid)
{
    assert_int_equal(mkdir(P(name), 0755), 0);
    assert_int_equal(lchown(P(name), uid, uid), 0);
}

static void put(const char *name, uid_t uid)
{
    int fd = open(P(name), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(close(fd), 0);
    assert_int_equal(lchown(P(name), uid, uid), 0);
}

static void link_as(const char *target, const char *name, uid_t uid)
{
    assert_int_equal(symlink(target, P(name)), 0);
    assert_int_equal(lchown(P(name), uid, uid), 0);
}

/* The inode of what r names (lstat), to compare with the expected path's. */
static ino_t ino_of(const struct fsres *r)
{
    struct stat st;
    assert_int_equal(fstatat(r->dir, r->name, &st, AT_SYMLINK_NOFOLLOW), 0);
    return st.st_ino;
}

static ino_t ino_at(const char *path)
{
    struct stat st;
    assert_int_equal(lstat(path, &st), 0);
    return st.st_ino;
}

/* Resolves path (parent, then the last link) into r; the result of the pair. */
static int resolve(const char *path, struct fsres *r, struct strbuf *why)
{
    strbuf_reset(why);
    fsres_free(r);
    int rc = fsres_parent(path, "test", 0, r, why);
    return rc == 0 ? fsres_follow(r, "test", path, why) : rc;
}

static void test_plain_and_trusted(void **state)
{
    (void)state;
    struct fsres r = FSRES_INIT;
    struct strbuf why = STRBUF_INIT;
    mk("a", 0);
    put("a/f", 0);
    link_as("a", "la", 0);
    link_as("f", "a/lf", 0);
    assert_int_equal(resolve(P("a/f"), &r, &why), 0);
    assert_string_equal(r.name, "f");
    assert_int_equal(ino_of(&r), ino_at(P("a/f")));
    /* a trusted link on the way and at the end: followed */
    assert_int_equal(resolve(P("la/lf"), &r, &why), 0);
    assert_int_equal(ino_of(&r), ino_at(P("a/f")));
    /* the root, trailing slashes, dots */
    assert_int_equal(resolve("/", &r, &why), 0);
    assert_string_equal(r.name, ".");
    assert_int_equal(resolve(P("a/./f//"), &r, &why), 0);
    assert_int_equal(ino_of(&r), ino_at(P("a/f")));
    assert_int_equal(resolve(P("a/../a/f"), &r, &why), 0);
    assert_int_equal(ino_of(&r), ino_at(P("a/f")));
    /* relative to the working directory */
    char cwd[1024];
    assert_non_null(getcwd(cwd, sizeof(cwd)));
    assert_int_equal(chdir(root), 0);
    assert_int_equal(resolve("la/f", &r, &why), 0);
    assert_int_equal(ino_of(&r), ino_at(P("a/f")));
    assert_int_equal(chdir(cwd), 0);
    /* missing parts */
    assert_int_equal(resolve(P("a/missing/f"), &r, &why), -1);
    assert_int_equal(errno, ENOENT);
    assert_true(strncmp(why.data, "test /", 6) == 0);
    assert_non_null(strstr(why.data, "/a/missing/f: no such file or directory"));
    fsres_free(&r);
    strbuf_free(&why);
}

static void test_untrusted(void **state)
{
    (void)state;
    struct fsres r = FSRES_INIT;
    struct strbuf why = STRBUF_INIT;
    if (geteuid() != 0) {
        skip();
        return;
    }
    mk("rootdir", 0);
    put("rootdir/secret", 0);
    mk("home", OTHER_UID);
    put("home/own", OTHER_UID);
    mk("home/owndir", OTHER_UID);
    link_as(P("rootdir"), "home/to-rootdir", OTHER_UID);
    link_as(P("rootdir/secret"), "home/to-secret", OTHER_UID);
    link_as("own", "home/to-own", OTHER_UID);
    link_as("owndir", "home/to-owndir", OTHER_UID);
    link_as("to-rootdir", "home/chain", OTHER_UID);
    link_as(P("rootdir/none"), "home/dangling", OTHER_UID);

    /* another user's link to root's directory or file: refused, with the reason */
    assert_int_equal(resolve(P("home/to-rootdir/secret"), &r, &why), -1);
    assert_int_equal(errno, EPERM);
    assert_non_null(strstr(why.data, "not following symlink "));
    assert_non_null(strstr(why.data, "home/to-rootdir: it belongs to uid 12345"));
    assert_int_equal(resolve(P("home/to-secret"), &r, &why), -1);
    assert_int_equal(errno, EPERM);
    assert_int_equal(resolve(P("home/chain/secret"), &r, &why), -1);
    assert_int_equal(errno, EPERM);
    /* ... to its own file or directory: followed */
    assert_int_equal(resolve(P("home/to-own"), &r, &why), 0);
    assert_int_equal(ino_of(&r), ino_at(P("home/own")));
    assert_int_equal(resolve(P("home/to-owndir/x"), &r, &why), 0);
    assert_string_equal(r.name, "x");
    /* ... to nowhere: the link itself, never what it names */
    assert_int_equal(resolve(P("home/dangling"), &r, &why), 0);
    assert_true(r.dangling);
    assert_int_equal(ino_of(&r), ino_at(P("home/dangling")));
    fsres_free(&r);
    strbuf_free(&why);
}

static void test_loops_and_mkdir(void **state)
{
    (void)state;
    struct fsres r = FSRES_INIT;
    struct strbuf why = STRBUF_INIT;
    link_as("loop2", "loop1", 0);
    link_as("loop1", "loop2", 0);
    assert_int_equal(resolve(P("loop1/x"), &r, &why), -1);
    assert_int_equal(errno, ELOOP);
    assert_int_equal(resolve(P("loop1"), &r, &why), -1);
    assert_int_equal(errno, ELOOP);

    /* mkdir -p of the parents (not of the last component) */
    fsres_free(&r);
    assert_int_equal(fsres_parent(P("new/deep/leaf"), "test", 0700, &r, &why), 0);
    assert_string_equal(r.name, "leaf");
    struct stat st;
    assert_int_equal(stat(P("new/deep"), &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(st.st_mode & 0777, 0700);
    assert_int_equal(lstat(P("new/deep/leaf"), &st), -1);
    /* never through a link to nowhere */
    fsres_free(&r);
    link_as(P("nowhere"), "dl", 0);
    assert_int_equal(fsres_parent(P("dl/x/leaf"), "test", 0700, &r, &why), -1);
    assert_int_equal(errno, ENOENT);
    assert_int_equal(lstat(P("nowhere"), &st), -1);
    /* a file in the way */
    int fd = open(P("file"), O_WRONLY | O_CREAT, 0600);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(fsres_parent(P("file/x/leaf"), "test", 0700, &r, &why), -1);
    assert_int_equal(errno, ENOTDIR);
    assert_non_null(strstr(why.data, "mkdir "));
    assert_non_null(strstr(why.data, "/file: not a directory"));
    fsres_free(&r);
    strbuf_free(&why);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_and_trusted),
        cmocka_unit_test(test_untrusted),
        cmocka_unit_test(test_loops_and_mkdir),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
