#include "pty/ring.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

#define RING_MAGIC 0x70747972696e6731ull /* "ptyring1" */

/* The start of the mapping; the bytes follow it. */
struct ring_hdr {
    uint64_t magic;
    uint64_t capacity;
    uint64_t total;      /* bytes ever appended */
    uint64_t valid_from; /* no byte before this offset is intact */
};

static size_t map_len_for(size_t capacity)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    return (sizeof(struct ring_hdr) + capacity + page - 1) / page * page;
}

static int map(struct ring *r, int fd, size_t len, struct strbuf *err)
{
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) {
        strbuf_printf(err, "mmap of the replay buffer: %s", strerror(errno));
        close(fd);
        return -1;
    }
    r->hdr = p;
    r->data = (unsigned char *)p + sizeof(struct ring_hdr);
    r->map_len = len;
    r->fd = fd;
    return 0;
}

int ring_create(struct ring *r, size_t capacity, struct strbuf *err)
{
    memset(r, 0, sizeof(*r));
    r->fd = -1;
    int fd = memfd_create("execd-pty-ring", MFD_CLOEXEC);
    size_t len = map_len_for(capacity);
    if (fd < 0 || ftruncate(fd, (off_t)len) < 0) {
        strbuf_printf(err, "replay buffer: %s", strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    if (map(r, fd, len, err) < 0)
        return -1;
    r->capacity = capacity;
    r->hdr->capacity = capacity;
    r->hdr->magic = RING_MAGIC;
    return 0;
}

int ring_attach(struct ring *r, int fd, struct strbuf *err)
{
    memset(r, 0, sizeof(*r));
    r->fd = -1;
    struct stat st;
    struct ring_hdr hdr;
    if (fstat(fd, &st) < 0 || pread(fd, &hdr, sizeof(hdr), 0) != (ssize_t)sizeof(hdr) ||
        hdr.magic != RING_MAGIC || hdr.capacity == 0 ||
        (uint64_t)st.st_size < sizeof(hdr) + hdr.capacity) {
        strbuf_append_str(err, "not a replay buffer");
        close(fd);
        return -1;
    }
    if (map(r, fd, (size_t)st.st_size, err) < 0)
        return -1;
    r->capacity = (size_t)hdr.capacity;
    return 0;
}

uint64_t ring_total(const struct ring *r)
{
    return r->hdr != NULL ? __atomic_load_n(&r->hdr->total, __ATOMIC_ACQUIRE) : 0;
}

uint64_t ring_oldest(const struct ring *r)
{
    if (r->hdr == NULL)
        return 0;
    uint64_t total = ring_total(r);
    uint64_t oldest = total > r->capacity ? total - r->capacity : 0;
    uint64_t valid = __atomic_load_n(&r->hdr->valid_from, __ATOMIC_ACQUIRE);
    if (valid > oldest)
        oldest = valid < total ? valid : total;
    return oldest;
}

/* Copies len bytes to position at (mod capacity), wrapping around the end. */
static void put(struct ring *r, uint64_t at, const unsigned char *src, size_t len)
{
    size_t pos = (size_t)(at % r->capacity);
    size_t first = len < r->capacity - pos ? len : r->capacity - pos;
    memcpy(r->data + pos, src, first);
    memcpy(r->data, src + first, len - first);
}

void ring_append(struct ring *r, const void *data, size_t len)
{
    if (r->hdr == NULL || len == 0)
        return;
    const unsigned char *src = data;
    uint64_t total = r->hdr->total;
    uint64_t end = total + len;
    size_t skip = len > r->capacity ? len - r->capacity : 0;
    /* What the copy overwrites stops being valid before it is touched. */
    uint64_t oldest = end > r->capacity ? end - r->capacity : 0;
    if (oldest > r->hdr->valid_from)
        __atomic_store_n(&r->hdr->valid_from, oldest, __ATOMIC_RELEASE);
    put(r, total + skip, src + skip, len - skip);
    __atomic_store_n(&r->hdr->total, end, __ATOMIC_RELEASE);
}

uint64_t ring_read(const struct ring *r, uint64_t from, struct strbuf *out)
{
    uint64_t total = ring_total(r);
    uint64_t oldest = ring_oldest(r);
    if (from < oldest)
        from = oldest;
    if (from >= total)
        return total;
    size_t len = (size_t)(total - from);
    size_t pos = (size_t)(from % r->capacity);
    size_t first = len < r->capacity - pos ? len : r->capacity - pos;
    strbuf_append(out, r->data + pos, first);
    strbuf_append(out, r->data, len - first);
    return from;
}

void ring_close(struct ring *r)
{
    if (r->hdr != NULL && munmap(r->hdr, r->map_len) < 0)
        log_error("cannot unmap a replay buffer: %s", strerror(errno));
    if (r->fd >= 0)
        close(r->fd);
    r->hdr = NULL;
    r->data = NULL;
    r->fd = -1;
}
