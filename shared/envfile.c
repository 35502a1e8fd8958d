#include "envfile.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Env files are small; anything larger is not an env file. */
#define ENVFILE_MAX (1024 * 1024)

static void trim(const char **s, size_t *len)
{
    while (*len > 0 && isspace((unsigned char)**s)) {
        (*s)++;
        (*len)--;
    }
    while (*len > 0 && isspace((unsigned char)(*s)[*len - 1]))
        (*len)--;
}

int envfile_parse(const char *text, pathexp_lookup_fn lookup, void *arg, struct envmap *out)
{
    int skipped = 0;
    struct strbuf raw = STRBUF_INIT;
    struct strbuf value = STRBUF_INIT;

    for (const char *line = text; line != NULL && *line != '\0';) {
        const char *nl = strchr(line, '\n');
        size_t len = nl ? (size_t)(nl - line) : strlen(line);
        const char *next = nl ? nl + 1 : NULL;

        trim(&line, &len);
        const char *eq = memchr(line, '=', len);
        if (len == 0 || line[0] == '#') {
            line = next;
            continue;
        }
        size_t key_len = eq ? (size_t)(eq - line) : 0;
        const char *key = line;
        trim(&key, &key_len);
        if (eq == NULL || key_len == 0) {
            skipped++;
            line = next;
            continue;
        }
        const char *v = eq + 1;
        size_t v_len = len - (size_t)(v - line);
        trim(&v, &v_len);

        strbuf_reset(&raw);
        strbuf_append(&raw, v, v_len);
        strbuf_reset(&value);
        pathexp_vars(raw.data, lookup, arg, &value, NULL);
        envmap_set_n(out, key, key_len, value.data ? value.data : "", value.len);
        line = next;
    }
    strbuf_free(&raw);
    strbuf_free(&value);
    return skipped;
}

static int read_small_file(const char *path, struct strbuf *out, struct strbuf *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        strbuf_printf(err, "cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    char buf[8192];
    for (;;) {
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            strbuf_printf(err, "cannot read %s: %s", path, strerror(errno));
            close(fd);
            return -1;
        }
        if (n == 0)
            break;
        if (out->len + (size_t)n > ENVFILE_MAX) {
            strbuf_printf(err, "%s is larger than %d bytes", path, ENVFILE_MAX);
            close(fd);
            return -1;
        }
        strbuf_append(out, buf, (size_t)n);
    }
    close(fd);
    return 0;
}

int envfile_load(const char *path, struct envmap *out, struct strbuf *err)
{
    strbuf_reset(err);
    if (path == NULL || path[0] == '\0')
        return -1;

    struct strbuf resolved = STRBUF_INIT;
    struct strbuf text = STRBUF_INIT;
    int rc = -1;

    if (pathexp_expand(path, pathexp_getenv, NULL, &resolved, err) == 0 &&
        read_small_file(resolved.data, &text, err) == 0) {
        int skipped = envfile_parse(text.data ? text.data : "", pathexp_getenv, NULL, out);
        if (skipped > 0)
            strbuf_printf(err, "%s: %d malformed line(s) skipped", resolved.data, skipped);
        rc = 0;
    }
    strbuf_free(&resolved);
    strbuf_free(&text);
    return rc;
}
