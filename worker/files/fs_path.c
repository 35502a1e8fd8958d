#include "files/fs_path.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

void fspath_push(struct strbuf *path, const char *name)
{
    if (path->len == 0 || path->data[path->len - 1] != '/')
        strbuf_append_char(path, '/');
    strbuf_append_str(path, name);
}

void fspath_cut(struct strbuf *path, size_t len)
{
    path->len = len;
    if (path->data != NULL)
        path->data[len] = '\0';
}

void fspath_dir(const char *path, struct strbuf *out)
{
    const char *slash = strrchr(path, '/');
    strbuf_reset(out);
    if (slash == NULL)
        strbuf_append_char(out, '.');
    else
        strbuf_append(out, path, slash == path ? 1 : (size_t)(slash - path));
}

int fspath_sync_dir(const char *file)
{
    struct strbuf dir = STRBUF_INIT;
    fspath_dir(file, &dir);
    int fd = open(dir.data, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int rc = fd < 0 ? -1 : fsync(fd);
    if (fd >= 0) {
        int e = errno;
        close(fd);
        errno = e;
    }
    strbuf_free(&dir);
    return rc;
}
