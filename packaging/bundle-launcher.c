/*
 * The single-file execd: this launcher, followed by a ustar archive of the
 * bundle directory (execd and lib/, see packaging/bundle.sh) and a 64-byte
 * trailer "EXECD-BUNDLE-1  " + payload size (20 decimal digits) + bundle id
 * (28 characters). OpenSandbox injects one file into an arbitrary image; this
 * file unpacks the bundle once into a private directory and executes the real
 * daemon from there, so /proc/self/exe (which the master re-executes for its
 * workers) is the real binary and its libraries resolve from $ORIGIN/lib.
 *
 * The directory is .execd-<id>-<euid>, tried beside this file first (the
 * volume OpenSandbox copied it to), then in $EXECD_BUNDLE_DIR, $TMPDIR, /tmp,
 * /var/tmp and /dev/shm. The archive is unpacked into a fresh mkdtemp
 * directory and renamed into place, so a directory with the final name is
 * always complete; one owned by another user or open to others is not used.
 * A location where the daemon cannot be executed (noexec) is skipped.
 *
 * Needs nothing but libc.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

#define TRAILER_SIZE 64
#define TRAILER_MAGIC "EXECD-BUNDLE-1  "
#define MAGIC_LEN 16
#define SIZE_LEN 20
#define ID_LEN 28
#define TAR_BLOCK 512
#define MAX_ENTRIES 256

struct bundle {
    int fd; /* this file */
    off_t payload_off;
    off_t payload_len;
    char id[ID_LEN + 1];
};

/* Paths created in the temporary directory, to remove them on failure. */
struct created {
    char *path[MAX_ENTRIES];
    int n;
};

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("execd bundle: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static int read_trailer(struct bundle *b)
{
    b->fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
    if (b->fd < 0) {
        fail("cannot open /proc/self/exe (is /proc mounted?): %s", strerror(errno));
        return -1;
    }
    struct stat st;
    char t[TRAILER_SIZE + 1];
    if (fstat(b->fd, &st) < 0 || st.st_size < TRAILER_SIZE ||
        pread(b->fd, t, TRAILER_SIZE, st.st_size - TRAILER_SIZE) != TRAILER_SIZE) {
        fail("cannot read the bundle trailer: %s", errno ? strerror(errno) : "file too short");
        return -1;
    }
    t[TRAILER_SIZE] = '\0';
    if (memcmp(t, TRAILER_MAGIC, MAGIC_LEN) != 0) {
        fail("no bundle attached to this launcher");
        return -1;
    }
    b->payload_len = 0;
    for (int i = MAGIC_LEN; i < MAGIC_LEN + SIZE_LEN; i++) {
        if (t[i] < '0' || t[i] > '9') {
            fail("malformed bundle trailer");
            return -1;
        }
        b->payload_len = b->payload_len * 10 + (t[i] - '0');
    }
    memcpy(b->id, t + MAGIC_LEN + SIZE_LEN, ID_LEN);
    b->id[ID_LEN] = '\0';
    for (int i = 0; i < ID_LEN; i++) {
        char c = b->id[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || c == '.' || c == '-')) {
            fail("malformed bundle id");
            return -1;
        }
    }
    b->payload_off = st.st_size - TRAILER_SIZE - b->payload_len;
    if (b->payload_off < 0) {
        fail("malformed bundle trailer");
        return -1;
    }
    return 0;
}

/* An octal tar header field. */
static long long tar_octal(const char *field, size_t len)
{
    long long v = 0;
    for (size_t i = 0; i < len && field[i] != '\0' && field[i] != ' '; i++) {
        if (field[i] < '0' || field[i] > '7')
            return -1;
        v = v * 8 + (field[i] - '0');
    }
    return v;
}

/* A relative path without "." or ".." components. */
static int safe_path(const char *p)
{
    if (*p == '\0' || *p == '/')
        return 0;
    for (const char *c = p; *c != '\0';) {
        size_t len = strcspn(c, "/");
        if ((len == 1 && c[0] == '.') || (len == 2 && c[0] == '.' && c[1] == '.'))
            return 0;
        c += len;
        c += *c == '/';
    }
    return 1;
}

static int copy_range(int in, off_t off, int out, off_t len)
{
    while (len > 0) {
        ssize_t n = sendfile(out, in, &off, (size_t)(len > (1 << 30) ? (1 << 30) : len));
        if (n <= 0)
            return -1;
        len -= n;
    }
    return 0;
}

/* Unpacks the archive into the directory dirfd; records what it made. */
static int unpack(const struct bundle *b, int dirfd, struct created *made)
{
    off_t pos = b->payload_off, end = b->payload_off + b->payload_len;
    char h[TAR_BLOCK];
    while (pos + TAR_BLOCK <= end) {
        if (pread(b->fd, h, TAR_BLOCK, pos) != TAR_BLOCK) {
            fail("reading the bundle: %s", strerror(errno));
            return -1;
        }
        pos += TAR_BLOCK;
        if (h[0] == '\0')
            return 0; /* the archive's end blocks */
        char name[264];
        if (h[345] != '\0')
            snprintf(name, sizeof(name), "%.155s/%.100s", h + 345, h);
        else
            snprintf(name, sizeof(name), "%.100s", h);
        char *p = name;
        while (p[0] == '.' && p[1] == '/')
            p += 2;
        size_t plen = strlen(p);
        while (plen > 0 && p[plen - 1] == '/')
            p[--plen] = '\0';
        long long size = tar_octal(h + 124, 12), mode = tar_octal(h + 100, 8);
        if (size < 0 || mode < 0 || pos + size > end) {
            fail("corrupt bundle entry %s", p);
            return -1;
        }
        if (plen == 0 || strcmp(p, ".") == 0) {
            pos += (size + TAR_BLOCK - 1) / TAR_BLOCK * TAR_BLOCK;
            continue;
        }
        if (!safe_path(p) || made->n == MAX_ENTRIES) {
            fail("refusing bundle entry %s", p);
            return -1;
        }
        if (h[156] == '5') {
            if (mkdirat(dirfd, p, 0700) < 0) {
                fail("mkdir %s: %s", p, strerror(errno));
                return -1;
            }
        } else if (h[156] == '0' || h[156] == '\0') {
            int out =
                openat(dirfd, p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, (mode_t)(mode & 0755));
            if (out < 0) {
                fail("create %s: %s", p, strerror(errno));
                return -1;
            }
            int rc = copy_range(b->fd, pos, out, (off_t)size);
            int saved = errno;
            if (close(out) < 0 && rc == 0) {
                saved = errno;
                rc = -1;
            }
            if (rc < 0) {
                made->path[made->n++] = strdup(p);
                fail("write %s: %s", p, strerror(saved));
                return -1;
            }
        } else {
            fail("unsupported bundle entry type for %s", p);
            return -1;
        }
        made->path[made->n++] = strdup(p);
        pos += (size + TAR_BLOCK - 1) / TAR_BLOCK * TAR_BLOCK;
    }
    return 0;
}

/* Removes what unpack made, children before their directories. */
static void remove_made(int dirfd, struct created *made)
{
    for (int i = made->n - 1; i >= 0; i--) {
        if (made->path[i] == NULL)
            continue;
        if (unlinkat(dirfd, made->path[i], 0) < 0 && errno == EISDIR)
            unlinkat(dirfd, made->path[i], AT_REMOVEDIR);
        free(made->path[i]);
    }
    made->n = 0;
}

/* An unpacked bundle this user may trust: its own, closed to others. */
static int usable(const char *dir)
{
    struct stat st;
    char exe[PATH_MAX];
    if (lstat(dir, &st) < 0 || !S_ISDIR(st.st_mode) || st.st_uid != geteuid() ||
        (st.st_mode & 077) != 0)
        return 0;
    snprintf(exe, sizeof(exe), "%s/execd", dir);
    return lstat(exe, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == geteuid();
}

/* Unpacks into parent/final unless it is there already. 0: final is usable. */
static int install(const struct bundle *b, const char *parent, const char *final)
{
    if (usable(final))
        return 0;
    char tmp[PATH_MAX];
    if (snprintf(tmp, sizeof(tmp), "%s/.execd-unpack-XXXXXX", parent) >= (int)sizeof(tmp) ||
        mkdtemp(tmp) == NULL)
        return -1;
    int dirfd = open(tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dirfd < 0) {
        rmdir(tmp);
        return -1;
    }
    struct created made = {.n = 0};
    int rc = unpack(b, dirfd, &made);
    if (rc == 0 && rename(tmp, final) == 0) {
        for (int i = 0; i < made.n; i++)
            free(made.path[i]);
        close(dirfd);
        return 0;
    }
    /* Failed, or another launcher renamed its copy into place first. */
    remove_made(dirfd, &made);
    close(dirfd);
    rmdir(tmp);
    return usable(final) ? 0 : -1;
}

static int dirname_of_self(char *out, size_t len)
{
    ssize_t n = readlink("/proc/self/exe", out, len - 1);
    if (n <= 0)
        return -1;
    out[n] = '\0';
    char *slash = strrchr(out, '/');
    if (slash == NULL)
        return -1;
    if (slash == out)
        slash[1] = '\0';
    else
        *slash = '\0';
    return 0;
}

int main(int argc, char **argv)
{
    (void)argc;
    struct bundle b;
    if (read_trailer(&b) < 0)
        return 127;
    char self_dir[PATH_MAX];
    const char *parents[] = {
        dirname_of_self(self_dir, sizeof(self_dir)) == 0 ? self_dir : NULL,
        getenv("EXECD_BUNDLE_DIR"),
        getenv("TMPDIR"),
        "/tmp",
        "/var/tmp",
        "/dev/shm",
    };
    for (size_t i = 0; i < sizeof(parents) / sizeof(parents[0]); i++) {
        if (parents[i] == NULL || parents[i][0] != '/')
            continue;
        char final[PATH_MAX], exe[PATH_MAX];
        if (snprintf(final, sizeof(final), "%s/.execd-%s-%u", parents[i], b.id,
                     (unsigned)geteuid()) >= (int)sizeof(final) ||
            snprintf(exe, sizeof(exe), "%s/execd", final) >= (int)sizeof(exe))
            continue;
        if (install(&b, parents[i], final) < 0)
            continue;
        execv(exe, argv);
        fail("cannot execute %s: %s; trying elsewhere", exe, strerror(errno));
    }
    fail("no directory to unpack into and execute from (set EXECD_BUNDLE_DIR to a writable, "
         "executable directory)");
    return 127;
}
