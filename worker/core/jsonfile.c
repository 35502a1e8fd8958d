#include "core/jsonfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "fsutil.h"

int jsonfile_save(const char *path, json_object *o, struct strbuf *err)
{
    size_t len;
    const char *text = json_object_to_json_string_length(
        o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len);
    struct strbuf tmp = STRBUF_INIT;
    strbuf_printf(&tmp, "%s.tmp", path);
    int fd = open(tmp.data, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    int rc = fd < 0 ? -1 : fsutil_write_all(fd, text, len);
    if (fd >= 0 && close(fd) < 0)
        rc = -1;
    if (rc == 0)
        rc = rename(tmp.data, path);
    if (rc < 0) {
        strbuf_printf(err, "cannot write %s: %s", path, strerror(errno));
        unlink(tmp.data);
    }
    strbuf_free(&tmp);
    return rc;
}
