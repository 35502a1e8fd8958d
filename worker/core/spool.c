#include "core/spool.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/evsplit.h"

/* An event larger than a pop's max is read from the file in steps of this. */
#define READ_STEP (1024 * 1024)

void spool_init(struct spool *s, const char *dir, size_t mem_max)
{
    memset(s, 0, sizeof(*s));
    s->dir = dir;
    s->mem_max = mem_max;
    s->fd = -1;
}

void spool_free(struct spool *s)
{
    strbuf_free(&s->mem);
    if (s->fd >= 0)
        close(s->fd);
    s->fd = -1;
    s->mem_off = 0;
    s->rd = s->wr = 0;
}

void spool_clear(struct spool *s)
{
    strbuf_reset(&s->mem);
    s->mem_off = 0;
    if (s->fd >= 0 && s->wr > 0 && ftruncate(s->fd, 0) < 0) {
        /* Keeping a stale file would only waste disk: start a fresh one next time. */
        close(s->fd);
        s->fd = -1;
    }
    s->rd = s->wr = 0;
}

bool spool_empty(const struct spool *s)
{
    return s->mem.len == s->mem_off && s->rd == s->wr;
}

uint64_t spool_len(const struct spool *s)
{
    return (uint64_t)(s->mem.len - s->mem_off) + (s->wr - s->rd);
}

static int open_file(struct spool *s, struct strbuf *err)
{
    struct strbuf path = STRBUF_INIT;
    strbuf_printf(&path, "%s/.spool-XXXXXX", s->dir);
    int fd = mkostemp(path.data, O_CLOEXEC);
    if (fd < 0) {
        strbuf_printf(err, "cannot create a spool file in %s: %s", s->dir, strerror(errno));
        strbuf_free(&path);
        return -1;
    }
    /* Nobody else needs a name for it, and it disappears with its last descriptor. */
    if (unlink(path.data) < 0) {
        strbuf_printf(err, "cannot unlink %s: %s", path.data, strerror(errno));
        close(fd);
        strbuf_free(&path);
        return -1;
    }
    strbuf_free(&path);
    s->fd = fd;
    return 0;
}

static int write_at(int fd, const char *data, size_t len, uint64_t off, struct strbuf *err)
{
    size_t done = 0;
    while (done < len) {
        ssize_t n = pwrite(fd, data + done, len - done, (off_t)(off + done));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            strbuf_printf(err, "cannot write the spool file: %s",
                          n < 0 ? strerror(errno) : "short write");
            return -1;
        }
        done += (size_t)n;
    }
    return 0;
}

int spool_push(struct spool *s, const char *data, size_t len, struct strbuf *err)
{
    if (len == 0)
        return 0;
    bool file_active = s->wr > s->rd;
    size_t in_mem = s->mem.len - s->mem_off;
    if (!file_active && in_mem + len <= s->mem_max) {
        /* Reclaim what was popped once it is most of the buffer. */
        if (s->mem_off > 0 && s->mem_off >= in_mem) {
            strbuf_consume(&s->mem, s->mem_off);
            s->mem_off = 0;
        }
        strbuf_append(&s->mem, data, len);
        return 0;
    }
    /* Once the file holds events, newer ones go there too, to keep the order. */
    if (s->fd < 0 && open_file(s, err) < 0)
        return -1;
    if (write_at(s->fd, data, len, s->wr, err) < 0)
        return -1;
    s->wr += len;
    return 0;
}

/* Appends file bytes [off, off+len) to out. */
static int read_at(int fd, struct strbuf *out, uint64_t off, size_t len, struct strbuf *err)
{
    strbuf_reserve(out, len);
    size_t done = 0;
    while (done < len) {
        ssize_t n = pread(fd, out->data + out->len, len - done, (off_t)(off + done));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            strbuf_printf(err, "cannot read the spool file: %s",
                          n < 0 ? strerror(errno) : "unexpected end of file");
            out->data[out->len] = '\0';
            return -1;
        }
        out->len += (size_t)n;
        done += (size_t)n;
    }
    out->data[out->len] = '\0';
    return 0;
}

static long pop_file(struct spool *s, struct strbuf *out, size_t max, struct strbuf *err)
{
    size_t start = out->len;
    uint64_t avail = s->wr - s->rd;
    size_t want = avail < max ? (size_t)avail : max;
    if (read_at(s->fd, out, s->rd, want, err) < 0) {
        out->len = start;
        out->data[start] = '\0';
        return -1;
    }
    size_t n = evsplit_last(out->data + start, want);
    /* One event bigger than max: read on until it ends. */
    while (n == 0 && want < avail) {
        size_t more = avail - want < READ_STEP ? (size_t)(avail - want) : READ_STEP;
        if (read_at(s->fd, out, s->rd + want, more, err) < 0) {
            out->len = start;
            out->data[start] = '\0';
            return -1;
        }
        /* From the last byte already read: the terminator may straddle the two reads. */
        const char *from = out->data + start + want - 1;
        const char *end = memmem(from, more + 1, "\n\n", 2);
        want += more;
        if (end != NULL)
            n = (size_t)(end - (out->data + start)) + 2;
    }
    if (n == 0)
        n = want; /* not framed (cannot happen with whole pushes): hand it over as is */
    out->len = start + n;
    out->data[out->len] = '\0';
    s->rd += n;
    if (s->rd == s->wr) {
        s->rd = s->wr = 0;
        if (ftruncate(s->fd, 0) < 0) {
            close(s->fd);
            s->fd = -1;
        }
    }
    return (long)n;
}

long spool_pop(struct spool *s, struct strbuf *out, size_t max, struct strbuf *err)
{
    if (max == 0)
        max = 1; /* "at least one event" */
    size_t in_mem = s->mem.len - s->mem_off;
    if (in_mem > 0) {
        const char *p = s->mem.data + s->mem_off;
        size_t n = evsplit_prefix(p, in_mem, max);
        strbuf_append(out, p, n);
        s->mem_off += n;
        if (s->mem_off == s->mem.len) {
            strbuf_reset(&s->mem);
            s->mem_off = 0;
        }
        return (long)n;
    }
    if (s->fd < 0 || s->rd == s->wr)
        return 0;
    return pop_file(s, out, max, err);
}
