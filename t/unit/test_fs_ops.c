/*
 * The filesystem operations on a real temporary tree: names with spaces and
 * non-ASCII characters, symlinks, and permission failures (as an
 * unprivileged user in a forked child when the tests run as root).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <json-c/json.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "files/fs_err.h"
#include "files/fs_ops.h"

static char root[64];

static int setup(void **state)
{
    (void)state;
    umask(022);
    strcpy(root, "/tmp/execd-fsops-XXXXXX");
    if (mkdtemp(root) == NULL)
        return -1;
    /* traversable by the unprivileged child of the permission tests */
    return chmod(root, 0755);
}

static int teardown(void **state)
{
    (void)state;
    struct fs_err err = FS_ERR_INIT;
    int rc = fsops_rmrf(root, &err);
    if (rc != 0)
        fprintf(stderr, "# teardown: %s\n", err.msg.data);
    fs_err_free(&err);
    return rc;
}

/* Paths under the temporary root; a few live at once. */
static const char *P(const char *name)
{
    static char buf[8][1024];
    static int next;
    char *p = buf[next++ % 8];
    snprintf(p, sizeof(buf[0]), "%s/%s", root, name);
    return p;
}

static void write_file(const char *path, const char *data, size_t len, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, len), (ssize_t)len);
    assert_int_equal(close(fd), 0);
    assert_int_equal(chmod(path, mode), 0);
}

static void put(const char *name, const char *data)
{
    write_file(P(name), data, strlen(data), 0644);
}

static void mk(const char *name)
{
    assert_int_equal(mkdir(P(name), 0755), 0);
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    struct strbuf sb = STRBUF_INIT;
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
        strbuf_append(&sb, buf, n);
    fclose(f);
    if (len != NULL)
        *len = sb.len;
    return strbuf_detach(&sb);
}

static void expect_content(const char *path, const char *want)
{
    char *got = slurp(path, NULL);
    assert_string_equal(got, want);
    free(got);
}

static bool exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

static mode_t mode_of(const char *path)
{
    struct stat st;
    assert_int_equal(lstat(path, &st), 0);
    return st.st_mode & 07777;
}

static void expect_err(const struct fs_err *err, int status, const char *code, const char *needle)
{
    if (err->status != status || strcmp(err->code, code) != 0 ||
        (needle != NULL && strstr(err->msg.data, needle) == NULL))
        fprintf(stderr, "# got %d %s \"%s\", want %d %s ~\"%s\"\n", err->status, err->code,
                err->msg.data, status, code, needle ? needle : "");
    assert_int_equal(err->status, status);
    assert_string_equal(err->code, code);
    if (needle != NULL)
        assert_non_null(strstr(err->msg.data, needle));
}

/* The "path" fields of a JSON array of FileInfo, one per line, relative to root. */
static char *paths_of(const char *json)
{
    json_object *a = json_tokener_parse(json);
    assert_non_null(a);
    assert_true(json_object_is_type(a, json_type_array));
    struct strbuf sb = STRBUF_INIT;
    size_t rl = strlen(root);
    for (size_t i = 0; i < json_object_array_length(a); i++) {
        json_object *o = json_object_array_get_idx(a, i), *p, *t;
        assert_true(json_object_object_get_ex(o, "path", &p));
        assert_true(json_object_object_get_ex(o, "type", &t));
        const char *s = json_object_get_string(p);
        assert_true(strncmp(s, root, rl) == 0);
        strbuf_printf(&sb, "%s:%s\n", s[rl] == '/' ? s + rl + 1 : s + rl,
                      json_object_get_string(t));
    }
    json_object_put(a);
    return strbuf_detach(&sb);
}

/* ---- info ---- */

static void test_info(void **state)
{
    (void)state;
    mk("info");
    put("info/b.txt", "bb");
    put("info/a 文件.txt", "a");
    assert_int_equal(symlink("b.txt", P("info/link")), 0);

    const char *keys[] = {"~/b", "$X/a", "~/b", "link"};
    const char *paths[] = {P("info/b.txt"), P("info/a 文件.txt"), P("info/b.txt"), P("info/link")};
    struct strbuf out = STRBUF_INIT;
    struct fs_err err = FS_ERR_INIT;
    assert_int_equal(fsops_info(keys, paths, 4, &out, &err), 0);

    json_object *o = json_tokener_parse(out.data);
    assert_non_null(o);
    /* keys sorted bytewise, once each; values carry the expanded path */
    const char *want_keys[] = {"$X/a", "link", "~/b"};
    size_t i = 0;
    json_object_object_foreach(o, key, val)
    {
        assert_true(i < 3);
        assert_string_equal(key, want_keys[i]);
        json_object *p, *t;
        assert_true(json_object_object_get_ex(val, "path", &p));
        assert_true(json_object_object_get_ex(val, "type", &t));
        if (i == 0)
            assert_string_equal(json_object_get_string(p), P("info/a 文件.txt"));
        if (i == 1)
            assert_string_equal(json_object_get_string(t), "symlink");
        i++;
    }
    assert_int_equal(i, 3);
    json_object_put(o);

    /* none requested: {} */
    strbuf_reset(&out);
    assert_int_equal(fsops_info(NULL, NULL, 0, &out, &err), 0);
    assert_string_equal(out.data, "{}");

    /* the first failure in request order is the one reported; out untouched */
    const char *bad_keys[] = {"ok", "m1", "m2"};
    const char *bad_paths[] = {P("info/b.txt"), P("info/missing1"), P("info/missing2")};
    strbuf_reset(&out);
    assert_int_equal(fsops_info(bad_keys, bad_paths, 3, &out, &err), -1);
    assert_int_equal(out.len, 0);
    expect_err(&err, 404, "FILE_NOT_FOUND", "missing1");
    fs_err_free(&err);
    strbuf_free(&out);
}

/* ---- delete ---- */

static void test_delete_file(void **state)
{
    (void)state;
    struct fs_err err = FS_ERR_INIT;
    mk("del");
    mk("del/dir");
    put("del/my file ✓.txt", "x");
    put("del/target", "t");
    assert_int_equal(symlink("target", P("del/link")), 0);
    assert_int_equal(symlink("dir", P("del/dirlink")), 0);
    assert_int_equal(symlink("nowhere", P("del/dangling")), 0);

    assert_int_equal(fsops_delete_file(P("del/my file ✓.txt"), &err), 0);
    assert_false(exists(P("del/my file ✓.txt")));
    assert_int_equal(fsops_delete_file(P("del/my file ✓.txt"), &err), 0); /* missing: fine */

    /* a link is removed, not its target */
    assert_int_equal(fsops_delete_file(P("del/link"), &err), 0);
    assert_false(exists(P("del/link")));
    assert_true(exists(P("del/target")));
    /* a dangling link is removed too (Go left it) */
    assert_int_equal(fsops_delete_file(P("del/dangling"), &err), 0);
    assert_false(exists(P("del/dangling")));

    assert_int_equal(fsops_delete_file(P("del/dir"), &err), -1);
    expect_err(&err, 500, "RUNTIME_ERROR", "path is a directory");
    assert_true(strncmp(err.msg.data, "error removing file ", 20) == 0);
    assert_int_equal(fsops_delete_file(P("del/dirlink"), &err), -1);
    expect_err(&err, 500, "RUNTIME_ERROR", "path is a directory");
    assert_true(exists(P("del/dirlink")));
    fs_err_free(&err);
}

/* ---- permissions ---- */

static void test_mode_parse(void **state)
{
    (void)state;
    mode_t m;
    assert_int_equal(fsops_mode_parse(755, &m), 0);
    assert_int_equal(m, 0755);
    assert_int_equal(fsops_mode_parse(644, &m), 0);
    assert_int_equal(m, 0644);
    assert_int_equal(fsops_mode_parse(7, &m), 0);
    assert_int_equal(m, 07);
    assert_int_equal(fsops_mode_parse(0, &m), 0);
    assert_int_equal(m, 0);
    assert_int_equal(fsops_mode_parse(4755, &m), 0); /* special bits dropped */
    assert_int_equal(m, 0755);
    assert_int_equal(fsops_mode_parse(37777777777LL, &m), 0); /* 32 bits */
    assert_int_equal(m, 0777);
    assert_int_equal(fsops_mode_parse(77777777777LL, &m), -1); /* 33 bits */
    assert_int_equal(fsops_mode_parse(758, &m), -1);
    assert_int_equal(fsops_mode_parse(9, &m), -1);
    assert_int_equal(fsops_mode_parse(-644, &m), -1);
    assert_int_equal(fsops_mode_parse(INT64_MAX, &m), -1);
}

static void test_chmod(void **state)
{
    (void)state;
    struct fs_err err = FS_ERR_INIT;
    mk("perm");
    put("perm/f 测试", "x");
    const char *f = P("perm/f 测试");

    struct fsops_perm p = {644, NULL, NULL};
    assert_int_equal(chmod(f, 0600), 0);
    assert_int_equal(fsops_chmod(f, &p, &err), 0);
    assert_int_equal(mode_of(f), 0644);
    p.mode = 0; /* unchanged */
    assert_int_equal(fsops_chmod(f, &p, &err), 0);
    assert_int_equal(mode_of(f), 0644);
    p.mode = 1700;
    assert_int_equal(fsops_chmod(f, &p, &err), 0);
    assert_int_equal(mode_of(f), 0700);

    p.mode = 758;
    assert_int_equal(fsops_chmod(f, &p, &err), -1);
    expect_err(&err, 500, "RUNTIME_ERROR", "invalid mode 758");
    assert_int_equal(mode_of(f), 0700);

    /* a missing file is a 500 here, not a 404 (as in Go) */
    p.mode = 644;
    assert_int_equal(fsops_chmod(P("perm/missing"), &p, &err), -1);
    expect_err(&err, 500, "RUNTIME_ERROR", "error changing permissions for ");
    assert_non_null(strstr(err.msg.data, "no such file or directory"));

    /* unknown owner: an error, and nothing was changed */
    assert_int_equal(chmod(f, 0600), 0);
    struct fsops_perm bad = {644, "no-such-user-execd", NULL};
    assert_int_equal(fsops_chmod(f, &bad, &err), -1);
    expect_err(&err, 500, "RUNTIME_ERROR", "unknown user no-such-user-execd");
    assert_int_equal(mode_of(f), 0600);
    struct fsops_perm badg = {0, NULL, "no-such-group-execd"};
    assert_int_equal(fsops_chmod(f, &badg, &err), -1);
    expect_err(&err, 500, "RUNTIME_ERROR", "unknown group no-such-group-execd");

    if (geteuid() == 0) {
        struct stat st;
        /* numeric ids */
        struct fsops_perm num = {0, "12345", "23456"};
        assert_int_equal(fsops_chmod(f, &num, &err), 0);
        assert_int_equal(lstat(f, &st), 0);
        assert_int_equal(st.st_uid, 12345);
        assert_int_equal(st.st_gid, 23456);
        /* neither owner nor group: no chown at all (Go chowned to the daemon) */
        struct fsops_perm none = {640, "", NULL};
        assert_int_equal(fsops_chmod(f, &none, &err), 0);
        assert_int_equal(lstat(f, &st), 0);
        assert_int_equal(st.st_uid, 12345);
        assert_int_equal(st.st_gid, 23456);
        assert_int_equal(st.st_mode & 0777, 0640);
        /* by name: only the given one changes */
        struct passwd *pw = getpwnam("nobody");
        if (pw != NULL) {
            struct fsops_perm byname = {0, "nobody", NULL};
            assert_int_equal(fsops_chmod(f, &byname, &err), 0);
            assert_int_equal(lstat(f, &st), 0);
            assert_int_equal(st.st_uid, pw->pw_uid);
            assert_int_equal(st.st_gid, 23456);
        }
        struct group *gr = getgrnam("root");
        if (gr != NULL) {
            struct fsops_perm byname = {0, NULL, "root"};
            assert_int_equal(fsops_chmod(f, &byname, &err), 0);
            assert_int_equal(lstat(f, &st), 0);
            assert_int_equal(st.st_gid, gr->gr_gid);
        }
        /* "4294967295" would mean "unchanged" to chown(2): refused */
        struct fsops_perm minus1 = {0, "4294967295", NULL};
        assert_int_equal(fsops_chmod(f, &minus1, &err), -1);
        expect_err(&err, 500, "RUNTIME_ERROR", "unknown user 4294967295");
    } else {
        printf("# SKIP chown by numeric id and by name, and no chown without owner or group: needs "
               "root\n");
    }
    fs_err_free(&err);
}

/* ---- mv ---- */

static void test_mv(void **state)
{
    (void)state;
    struct fs_err err = FS_ERR_INIT;
    mk("mv");
    put("mv/src file.txt", "payload");

    /* parents of dest are created 0755 */
    assert_int_equal(fsops_mv(P("mv/src file.txt"), P("mv/新/deep er/dest.txt"), &err), 0);
    assert_false(exists(P("mv/src file.txt")));
    expect_content(P("mv/新/deep er/dest.txt"), "payload");
    assert_int_equal(mode_of(P("mv/新")), 0755);
    assert_int_equal(mode_of(P("mv/新/deep er")), 0755);

    /* missing source: 404 */
    assert_int_equal(fsops_mv(P("mv/nope"), P("mv/x"), &err), -1);
    expect_err(&err, 404, "FILE_NOT_FOUND", "source path not found: ");

    /* an existing destination is refused, both stay */
    put("mv/a", "A");
    put("mv/b", "B");
    assert_int_equal(fsops_mv(P("mv/a"), P("mv/b"), &err), -1);
    expect_err(&err, 500, "RUNTIME_ERROR", "destination path already exists: ");
    expect_content(P("mv/a"), "A");
    expect_content(P("mv/b"), "B");
    /* ...even when it is a dangling symlink */
    assert_int_equal(symlink("nowhere", P("mv/dangling")), 0);
    assert_int_equal(fsops_mv(P("mv/a"), P("mv/dangling"), &err), -1);
    expect_err(&err, 500, "RUNTIME_ERROR", "destination path already exists");

    /* directories move whole; a dangling symlink is a source like any other */
    mk("mv/dir");
    put("mv/dir/inner", "i");
    assert_int_equal(fsops_mv(P("mv/dir"), P("mv/dir2"), &err), 0);
    expect_content(P("mv/dir2/inner"), "i");
    assert_int_equal(fsops_mv(P("mv/dangling"), P("mv/moved-link"), &err), 0);
    char target[64];
    ssize_t n = readlink(P("mv/moved-link"), target, sizeof(target) - 1);
    assert_int_equal(n, 7);

    /* the destination's parent cannot be created */
    assert_int_equal(fsops_mv(P("mv/a"), P("mv/b/sub/c"), &err), -1);
    expect_err(&err, 500, "RUNTIME_ERROR", "failed to create destination directory: mkdir ");
    assert_non_null(strstr(err.msg.data, "not a directory"));

    /* a directory into itself */
    assert_int_equal(fsops_mv(P("mv/dir2"), P("mv/dir2/sub"), &err), -1);
    expect_err(&err, 500, "RUNTIME_ERROR", "failed to rename file: rename ");
    fs_err_free(&err);
}

/* ---- mkdir ---- */

static void test_mkdir(void **state)
{
    (void)state;
    struct fs_err err = FS_ERR_INIT;
    struct fsops_perm keep = {0, NULL, NULL}, m700 = {700, NULL, NULL};

    assert_int_equal(fsops_mkdir(P("mkd/a b/ç"), &m700, &err), 0);
    assert_int_equal(mode_of(P("mkd")), 0755); /* 0777 & ~umask */
    assert_int_equal(mode_of(P("mkd/a b")), 0755);
    assert_int_equal(mode_of(P("mkd/a b/ç")), 0700); /* the leaf gets the mode */

    /* existing: fine, and the Permission still applies to it */
    struct fsops_perm m750 = {750, NULL, NULL};
    assert_int_equal(fsops_mkdir(P("mkd/a b/ç"), &m750, &err), 0);
    assert_int_equal(mode_of(P("mkd/a b/ç")), 0750);
    assert_int_equal(fsops_mkdir(P("mkd/plain"), &keep, &err), 0);
    assert_int_equal(mode_of(P("mkd/plain")), 0755);
    /* trailing and doubled slashes */
    assert_int_equal(fsops_mkdir(P("mkd//x//y/"), &keep, &err), 0);
    assert_true(exists(P("mkd/x/y")));

    /* under a file */
    put("mkd/file", "");
    assert_int_equal(fsops_mkdir(P("mkd/file/sub"), &keep, &err), -1);
    expect_err(&err, 500, "RUNTIME_ERROR", "error accessing file: mkdir ");
    assert_non_null(strstr(err.msg.data, "/mkd/file: not a directory"));
    assert_int_equal(fsops_mkdir(P("mkd/file"), &keep, &err), -1);
    expect_err(&err, 500, "RUNTIME_ERROR", "not a directory");

    /* a bad mode fails after the directory exists (as Go) */
    struct fsops_perm bad = {789, NULL, NULL};
    assert_int_equal(fsops_mkdir(P("mkd/badmode"), &bad, &err), -1);
    expect_err(&err, 500, "RUNTIME_ERROR", "invalid mode 789");

    if (geteuid() == 0) {
        struct fsops_perm own = {0, "12345", "12345"};
        struct stat st;
        assert_int_equal(fsops_mkdir(P("mkd/owned/leaf"), &own, &err), 0);
        assert_int_equal(lstat(P("mkd/owned/leaf"), &st), 0);
        assert_int_equal(st.st_uid, 12345);
        assert_int_equal(lstat(P("mkd/owned"), &st), 0);
        assert_int_equal(st.st_uid, 0); /* the leaf only */
    } else {
        printf("# SKIP mkdir with an owner chowns the leaf only: needs root\n");
    }

    fs_err_free(&err);
}

/* ---- rm -rf ---- */

static void test_rmrf(void **state)
{
    (void)state;
    struct fs_err err = FS_ERR_INIT;
    mk("keep");
    put("keep/precious", "do not delete");
    mk("rm");
    mk("rm/a");
    mk("rm/a/b");
    mk("rm/a/b/c d");
    put("rm/a/b/c d/文件", "x");
    put("rm/a/f", "x");
    assert_int_equal(symlink(P("keep"), P("rm/a/b/to-keep")), 0);
    assert_int_equal(symlink("nowhere", P("rm/a/dangling")), 0);
    assert_int_equal(mkfifo(P("rm/a/fifo"), 0600), 0);

    assert_int_equal(fsops_rmrf(P("rm"), &err), 0);
    assert_false(exists(P("rm")));
    expect_content(P("keep/precious"), "do not delete"); /* links were not followed */

    assert_int_equal(fsops_rmrf(P("rm"), &err), 0); /* missing: fine */
    put("plain", "p");
    assert_int_equal(fsops_rmrf(P("plain"), &err), 0); /* also plain files */
    assert_false(exists(P("plain")));

    /* a symlink given with a trailing slash: the link goes, the target stays */
    assert_int_equal(symlink(P("keep"), P("keeplink")), 0);
    struct strbuf withslash = STRBUF_INIT;
    strbuf_printf(&withslash, "%s/", P("keeplink"));
    assert_int_equal(fsops_rmrf(withslash.data, &err), 0);
    assert_false(exists(P("keeplink")));
    expect_content(P("keep/precious"), "do not delete");
    strbuf_free(&withslash);

    assert_int_equal(fsops_rmrf("/", &err), -1);
    expect_err(&err, 500, "RUNTIME_ERROR", "refusing to remove /");
    assert_int_equal(fsops_rmrf("//", &err), -1);
    expect_err(&err, 500, "RUNTIME_ERROR", "refusing to remove /");
    assert_int_equal(fsops_rmrf(P("keep/."), &err), -1);
    expect_err(&err, 500, "RUNTIME_ERROR", "error removing directory ");
    assert_int_equal(fsops_rmrf(P("keep/.."), &err), -1);
    expect_err(&err, 500, "RUNTIME_ERROR", "invalid argument");
    assert_int_equal(fsops_rmrf("", &err), 0);

    /* wide and deep */
    struct strbuf deep = STRBUF_INIT;
    strbuf_append_str(&deep, P("wide"));
    assert_int_equal(mkdir(deep.data, 0755), 0);
    for (int i = 0; i < 300; i++) {
        char name[32];
        snprintf(name, sizeof(name), "/f%03d", i);
        struct strbuf f = STRBUF_INIT;
        strbuf_printf(&f, "%s%s", deep.data, name);
        write_file(f.data, "", 0, 0644);
        strbuf_free(&f);
    }
    for (int i = 0; i < 60; i++) {
        strbuf_append_str(&deep, "/d");
        assert_int_equal(mkdir(deep.data, 0755), 0);
    }
    assert_int_equal(fsops_rmrf(P("wide"), &err), 0);
    assert_false(exists(P("wide")));
    strbuf_free(&deep);
    fs_err_free(&err);
}

/* ---- list ---- */

static char *list(const char *name, int depth, struct fs_err *err)
{
    struct strbuf out = STRBUF_INIT;
    if (fsops_list(P(name), depth, &out, err) != 0) {
        assert_int_equal(out.len, 0);
        strbuf_free(&out);
        return NULL;
    }
    char *paths = paths_of(out.data);
    strbuf_free(&out);
    return paths;
}

static void test_list(void **state)
{
    (void)state;
    struct fs_err err = FS_ERR_INIT;
    /* created in a non-lexical order */
    mk("ls");
    put("ls/charlie.txt", "c");
    mk("ls/alpha");
    put("ls/alpha/y.txt", "y");
    put("ls/alpha/x.txt", "x");
    mk("ls/alpha/deeper");
    put("ls/alpha/deeper/too-deep.txt", "z");
    put("ls/bravo.txt", "b");
    mk("ls/target");
    put("ls/target/t.txt", "t");
    assert_int_equal(symlink("target", P("ls/link")), 0);
    put("ls/Zed", ""); /* uppercase sorts first */
    put("ls/éa", "");  /* non-ASCII sorts last, bytewise */
    put("ls/a b", "");

    char *got = list("ls", 1, &err);
    assert_string_equal(got, "ls/Zed:file\nls/a b:file\nls/alpha:directory\nls/bravo.txt:file\n"
                             "ls/charlie.txt:file\nls/link:symlink\nls/target:directory\n"
                             "ls/éa:file\n");
    free(got);

    got = list("ls", 2, &err);
    assert_string_equal(got, "ls/Zed:file\nls/a b:file\nls/alpha:directory\n"
                             "ls/alpha/deeper:directory\nls/alpha/x.txt:file\nls/alpha/y.txt:file\n"
                             "ls/bravo.txt:file\nls/charlie.txt:file\nls/link:symlink\n"
                             "ls/target:directory\nls/target/t.txt:file\nls/éa:file\n");
    free(got);

    got = list("ls", 3, &err);
    assert_non_null(strstr(got, "ls/alpha/deeper/too-deep.txt:file\n"));
    assert_null(strstr(got, "ls/link/")); /* never through the link */
    free(got);

    got = list("ls", 0, &err);
    assert_string_equal(got, "");
    free(got);

    assert_null(list("ls/link", 1, &err));
    expect_err(&err, 400, "INVALID_REQUEST_BODY",
               "path is a symbolic link, refusing to traverse: ");
    assert_null(list("ls/bravo.txt", 1, &err));
    expect_err(&err, 400, "INVALID_REQUEST_BODY", "path is not a directory: ");
    assert_null(list("ls/missing", 1, &err));
    expect_err(&err, 404, "FILE_NOT_FOUND", "file not found. lstat ");
    assert_null(list("ls", -1, &err));
    expect_err(&err, 400, "INVALID_REQUEST_BODY", "depth");

    /* the root "/" lists as "/x", not "//x" */
    struct strbuf out = STRBUF_INIT;
    assert_int_equal(fsops_list("/", 1, &out, &err), 0);
    assert_non_null(strstr(out.data, "\"path\":\"/tmp\""));
    assert_null(strstr(out.data, "\"//"));
    strbuf_free(&out);
    fs_err_free(&err);
}

/* ---- search ---- */

static char *search(const char *name, const char *pattern, struct fs_err *err)
{
    struct strbuf out = STRBUF_INIT;
    strbuf_append_str(&out, "keep"); /* the result is appended; errors leave this alone */
    int rc = fsops_search(P(name), pattern, &out, err);
    assert_true(strncmp(out.data, "keep", 4) == 0);
    if (rc != 0) {
        assert_int_equal(out.len, 4);
        strbuf_free(&out);
        return NULL;
    }
    char *paths = paths_of(out.data + 4);
    strbuf_free(&out);
    return paths;
}

static void test_search(void **state)
{
    (void)state;
    struct fs_err err = FS_ERR_INIT;
    mk("se");
    put("se/alpha.txt", "a");
    put("se/beta.log", "b");
    mk("se/sub");
    put("se/sub/gamma.txt", "g");
    put("se/sub/main.py", "p");
    mk("se/sub/dir.txt"); /* a directory that matches: never returned */
    put("se/sub/dir.txt/inside.txt", "i");
    mk("se/other");
    put("se/other/x.txt", "x");
    assert_int_equal(symlink("other", P("se/link.txt")), 0); /* returned, not followed */
    put("se/报告 final.txt", "r");

    char *got = search("se", "*.txt", &err);
    assert_string_equal(got, "se/alpha.txt:file\nse/link.txt:symlink\nse/other/x.txt:file\n"
                             "se/sub/dir.txt/inside.txt:file\nse/sub/gamma.txt:file\n"
                             "se/报告 final.txt:file\n");
    free(got);

    /* default "**": every non-directory */
    got = search("se", NULL, &err);
    assert_string_equal(got,
                        "se/alpha.txt:file\nse/beta.log:file\nse/link.txt:symlink\n"
                        "se/other/x.txt:file\nse/sub/dir.txt/inside.txt:file\n"
                        "se/sub/gamma.txt:file\nse/sub/main.py:file\nse/报告 final.txt:file\n");
    free(got);
    got = search("se", "", &err);
    assert_non_null(strstr(got, "se/beta.log"));
    free(got);

    /* base names only */
    got = search("se", "sub/*.py", &err);
    assert_string_equal(got, "");
    free(got);
    got = search("se", "**/*.py", &err);
    assert_string_equal(got, "se/sub/main.py:file\n");
    free(got);
    got = search("se", "报告*", &err);
    assert_string_equal(got, "se/报告 final.txt:file\n");
    free(got);
    got = search("se", "{alpha,beta}.*", &err);
    assert_string_equal(got, "se/alpha.txt:file\nse/beta.log:file\n");
    free(got);

    /* a file root is tested itself; a symlinked root is one entry */
    got = search("se/alpha.txt", "*.txt", &err);
    assert_string_equal(got, "se/alpha.txt:file\n");
    free(got);
    got = search("se/alpha.txt", "*.log", &err);
    assert_string_equal(got, "");
    free(got);
    got = search("se/link.txt", "**", &err);
    assert_string_equal(got, "se/link.txt:symlink\n");
    free(got);

    assert_null(search("se/missing", "*", &err));
    expect_err(&err, 404, "FILE_NOT_FOUND", "file not found. stat ");
    assert_null(search("se", "[", &err));
    expect_err(&err, 500, "RUNTIME_ERROR",
               "error searching files. invalid pattern [: syntax error in pattern");
    mk("se-empty");
    assert_null(search("se-empty", "a{", &err)); /* checked even with nothing to test */
    expect_err(&err, 500, "RUNTIME_ERROR", "invalid pattern a{");
    /* a missing root wins over a bad pattern, as in Go */
    assert_null(search("se/missing", "[", &err));
    expect_err(&err, 404, "FILE_NOT_FOUND", NULL);
    fs_err_free(&err);
}

/* ---- replace ---- */

static int64_t replace(const char *path, const char *old, const char *repl, struct fs_err *err)
{
    int64_t n = -1;
    if (fsops_replace(path, old, strlen(old), repl, strlen(repl), &n, err) != 0)
        return -1;
    return n;
}

static void test_replace(void **state)
{
    (void)state;
    struct fs_err err = FS_ERR_INIT;
    struct stat before, after;
    mk("rp");
    write_file(P("rp/content 文件.txt"), "hello world", 11, 0640);
    const char *f = P("rp/content 文件.txt");
    if (geteuid() == 0)
        assert_int_equal(chown(f, 12345, 23456), 0);
    assert_int_equal(lstat(f, &before), 0);

    assert_int_equal(replace(f, "world", "universe", &err), 1);
    expect_content(f, "hello universe");
    assert_int_equal(lstat(f, &after), 0);
    assert_int_equal(after.st_mode & 07777, 0640);
    assert_int_equal(after.st_uid, before.st_uid);
    assert_int_equal(after.st_gid, before.st_gid);
    assert_true(after.st_ino != before.st_ino); /* a new file renamed into place */

    /* non-overlapping, leftmost first; shorter, longer and empty replacements */
    write_file(f, "aaaaa", 5, 0640);
    assert_int_equal(replace(f, "aa", "b", &err), 2);
    expect_content(f, "bba");
    assert_int_equal(replace(f, "b", "", &err), 2);
    expect_content(f, "a");
    assert_int_equal(replace(f, "a", "αβγ", &err), 1);
    expect_content(f, "αβγ");

    /* no occurrence: untouched */
    assert_int_equal(lstat(f, &before), 0);
    assert_int_equal(replace(f, "zzz", "y", &err), 0);
    assert_int_equal(lstat(f, &after), 0);
    assert_true(after.st_ino == before.st_ino);
    assert_true(after.st_mtim.tv_sec == before.st_mtim.tv_sec &&
                after.st_mtim.tv_nsec == before.st_mtim.tv_nsec);

    /* no temporary file is left behind */
    struct strbuf out = STRBUF_INIT;
    assert_int_equal(fsops_list(P("rp"), 1, &out, &err), 0);
    char *names = paths_of(out.data);
    assert_string_equal(names, "rp/content 文件.txt:file\n");
    free(names);
    strbuf_free(&out);

    /* errors: missing (404) is checked before an empty old (400) */
    assert_int_equal(replace(P("rp/missing"), "", "x", &err), -1);
    expect_err(&err, 404, "FILE_NOT_FOUND", "file not found. stat ");
    assert_int_equal(replace(f, "", "x", &err), -1);
    expect_err(&err, 400, "INVALID_REQUEST_BODY", "old content must not be empty");
    assert_int_equal(replace(P("rp"), "a", "b", &err), -1);
    expect_err(&err, 500, "RUNTIME_ERROR", "is a directory");
    assert_int_equal(mkfifo(P("rp/fifo"), 0600), 0);
    assert_int_equal(replace(P("rp/fifo"), "a", "b", &err), -1);
    expect_err(&err, 500, "RUNTIME_ERROR", "not a regular file");
    fs_err_free(&err);
}

/* Through a symlink the target is edited; a hard-linked file keeps its inode. */
static void test_replace_links(void **state)
{
    (void)state;
    struct fs_err err = FS_ERR_INIT;
    struct stat st, st2;
    mk("rl");
    put("rl/real", "one two one");
    assert_int_equal(symlink("real", P("rl/sym")), 0);
    assert_int_equal(replace(P("rl/sym"), "one", "1", &err), 2);
    assert_int_equal(lstat(P("rl/sym"), &st), 0);
    assert_true(S_ISLNK(st.st_mode));
    expect_content(P("rl/real"), "1 two 1");

    assert_int_equal(link(P("rl/real"), P("rl/hard")), 0);
    assert_int_equal(lstat(P("rl/real"), &st), 0);
    assert_int_equal(replace(P("rl/hard"), "two", "2", &err), 1);
    assert_int_equal(lstat(P("rl/real"), &st2), 0);
    assert_true(st.st_ino == st2.st_ino);
    assert_int_equal(st2.st_nlink, 2);
    expect_content(P("rl/real"), "1 2 1");
    fs_err_free(&err);
}

/* The streaming matcher against a naive one, on data that stresses it. */
static char *naive_replace(const char *s, size_t n, const char *old, size_t ol, const char *repl,
                           size_t *out_len, int64_t *count)
{
    struct strbuf sb = STRBUF_INIT;
    *count = 0;
    for (size_t i = 0; i < n;) {
        if (i + ol <= n && memcmp(s + i, old, ol) == 0) {
            strbuf_append_str(&sb, repl);
            (*count)++;
            i += ol;
        } else {
            strbuf_append_char(&sb, s[i++]);
        }
    }
    *out_len = sb.len;
    return strbuf_detach(&sb);
}

static void test_replace_matches_naive(void **state)
{
    (void)state;
    struct fs_err err = FS_ERR_INIT;
    unsigned seed = 12345;
    const char *f = P("naive");
    for (int iter = 0; iter < 400; iter++) {
        /* small alphabets make borders (aab in aaab...) common */
        size_t n = (size_t)(rand_r(&seed) % 300), ol = 1 + (size_t)(rand_r(&seed) % 6);
        char data[300], old[8], repl[8];
        for (size_t i = 0; i < n; i++)
            data[i] = "ab"[rand_r(&seed) % 2];
        for (size_t i = 0; i < ol; i++)
            old[i] = "ab"[rand_r(&seed) % 2];
        old[ol] = '\0';
        size_t rl = (size_t)(rand_r(&seed) % 4);
        for (size_t i = 0; i < rl; i++)
            repl[i] = "abX"[rand_r(&seed) % 3];
        repl[rl] = '\0';

        write_file(f, data, n, 0644);
        size_t wl;
        int64_t wc;
        char *want = naive_replace(data, n, old, ol, repl, &wl, &wc);
        int64_t got = replace(f, old, repl, &err);
        assert_int_equal(got, wc);
        size_t gl;
        char *content = slurp(f, &gl);
        assert_int_equal(gl, wl);
        assert_memory_equal(content, want, wl);
        free(content);
        free(want);
    }

    /* larger than the I/O buffer, occurrences across buffer boundaries */
    struct strbuf big = STRBUF_INIT;
    while (big.len < 300000)
        strbuf_append_str(&big, "0123456789needle");
    write_file(f, big.data, big.len, 0644);
    size_t wl;
    int64_t wc;
    char *want = naive_replace(big.data, big.len, "9needle0", 8, "<>", &wl, &wc);
    assert_int_equal(replace(f, "9needle0", "<>", &err), wc);
    size_t gl;
    char *content = slurp(f, &gl);
    assert_int_equal(gl, wl);
    assert_memory_equal(content, want, wl);
    free(content);
    free(want);
    strbuf_free(&big);
    fs_err_free(&err);
}

/* ---- permission failures, as an unprivileged user ---- */

static int run_unprivileged(int (*fn)(void))
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        if (geteuid() == 0 && (setgroups(0, NULL) != 0 || setgid(65534) != 0 || setuid(65534) != 0))
            _exit(99);
        _exit(fn());
    }
    int status;
    if (waitpid(pid, &status, 0) != pid)
        return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 100;
}

/* Each check returns 0 or its number; no cmocka in the child. */
static int check(int id, int rc, const struct fs_err *err, int status, const char *needle)
{
    if (rc != -1 || err->status != status || strstr(err->msg.data, needle) == NULL) {
        fprintf(stderr, "# unprivileged check %d: rc %d, %d \"%s\"\n", id, rc, err->status,
                err->msg.data ? err->msg.data : "");
        return id;
    }
    return 0;
}

static int child_denied(void)
{
    struct fs_err err = FS_ERR_INIT;
    struct strbuf out = STRBUF_INIT;
    struct fsops_perm p644 = {644, NULL, NULL};
    int bad = 0;

    if (!bad)
        bad = check(1, fsops_list(P("deny"), 2, &out, &err), &err, 500, "error listing directory ");
    if (!bad && strstr(err.msg.data, "/deny/locked: permission denied") == NULL)
        bad = 2;
    if (!bad)
        bad = check(3, fsops_search(P("deny"), "*", &out, &err), &err, 500,
                    "error searching files. error accessing path ");
    if (!bad && strstr(err.msg.data, "permission denied") == NULL)
        bad = 4;
    if (!bad)
        bad = check(5, fsops_replace(P("deny/secret"), "a", 1, "b", 1, NULL, &err), &err, 500,
                    "error accessing file: open ");
    if (!bad)
        bad = check(6, fsops_rmrf(P("deny/ro"), &err), &err, 500, "permission denied");
    if (!bad)
        bad = check(
            7,
            fsops_info((const char *[]){"k"}, (const char *[]){P("deny/locked/x")}, 1, &out, &err),
            &err, 500, "error accessing file: ");
    /* someone else's file (only testable when we started as root) */
    if (!bad && getuid() == 65534)
        bad = check(8, fsops_chmod(P("deny/secret"), &p644, &err), &err, 500,
                    "operation not permitted");
    if (!bad)
        bad = check(9, fsops_mkdir(P("deny/ro/new"), &p644, &err), &err, 500, "permission denied");
    if (!bad)
        bad = check(10, fsops_delete_file(P("deny/ro/f"), &err), &err, 500, "permission denied");
    if (!bad)
        bad = check(11, fsops_mv(P("deny/ro/f"), P("deny/ro/g"), &err), &err, 500,
                    "permission denied");
    /* a writable file in an unwritable directory: rewritten in place */
    if (!bad) {
        int64_t n = 0;
        if (fsops_replace(P("deny/ro/writable"), "old", 3, "new", 3, &n, &err) != 0 || n != 1) {
            fprintf(stderr, "# in-place replace: %s\n", err.msg.data ? err.msg.data : "");
            bad = 12;
        }
    }
    if (!bad && out.len != 0)
        bad = 13; /* failures never leave output behind */
    fs_err_free(&err);
    strbuf_free(&out);
    return bad;
}

static void test_permission_denied(void **state)
{
    (void)state;
    /* Root runs the checks as nobody in a child; anyone else runs them as themselves. */
    mk("deny");
    mk("deny/locked");
    put("deny/locked/x", "x");
    write_file(P("deny/secret"), "a", 1, 0);
    mk("deny/ro");
    put("deny/ro/f", "f");
    write_file(P("deny/ro/writable"), "old text", 8, 0666);
    assert_int_equal(chmod(P("deny/locked"), 0), 0);
    assert_int_equal(chmod(P("deny/ro"), 0555), 0);

    int rc = run_unprivileged(child_denied);

    assert_int_equal(chmod(P("deny/locked"), 0755), 0);
    assert_int_equal(chmod(P("deny/ro"), 0755), 0);
    assert_int_equal(chmod(P("deny/secret"), 0600), 0);
    assert_int_equal(rc, 0);
    expect_content(P("deny/ro/writable"), "new text");
    expect_content(P("deny/secret"), "a");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_info),
        cmocka_unit_test(test_delete_file),
        cmocka_unit_test(test_mode_parse),
        cmocka_unit_test(test_chmod),
        cmocka_unit_test(test_mv),
        cmocka_unit_test(test_mkdir),
        cmocka_unit_test(test_rmrf),
        cmocka_unit_test(test_list),
        cmocka_unit_test(test_search),
        cmocka_unit_test(test_replace),
        cmocka_unit_test(test_replace_links),
        cmocka_unit_test(test_replace_matches_naive),
        cmocka_unit_test(test_permission_denied),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
