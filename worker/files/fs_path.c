#include "files/fs_path.h"

#include <string.h>

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
