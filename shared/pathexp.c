#include "pathexp.h"

#include <ctype.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char *pathexp_getenv(const char *name, void *arg __attribute__((unused)))
{
    return getenv(name);
}

static bool is_special_var(char c)
{
    return strchr("*#$@!?-", c) != NULL || isdigit((unsigned char)c);
}

static bool is_name_char(char c)
{
    return c == '_' || isalnum((unsigned char)c);
}

/*
 * Parses the variable name after a '$' the way Go's os.Expand does.
 * Sets name and name_len (0 = no name) and returns how many bytes after
 * the '$' were consumed.
 */
static size_t shell_name(const char *s, const char **name, size_t *name_len)
{
    *name = s;
    *name_len = 0;
    if (s[0] == '{') {
        if (s[1] != '\0' && is_special_var(s[1]) && s[2] == '}') {
            *name = s + 1;
            *name_len = 1;
            return 3;
        }
        for (size_t i = 1; s[i] != '\0'; i++) {
            if (s[i] == '}') {
                if (i == 1)
                    return 2; /* "${}": bad syntax, eaten */
                *name = s + 1;
                *name_len = i - 1;
                return i + 1;
            }
        }
        return 1; /* no closing brace: the '{' is eaten */
    }
    if (is_special_var(s[0])) {
        *name_len = 1;
        return 1;
    }
    size_t i = 0;
    while (is_name_char(s[i]))
        i++;
    *name_len = i;
    return i;
}

/* Adds name to the sorted, de-duplicated, comma-joined list of undefined names. */
static void note_missing(struct strbuf *missing, const char *name, size_t len)
{
    const char *list = missing->data ? missing->data : "";
    const char *insert_at = list + missing->len;

    for (const char *p = list; *p != '\0';) {
        const char *end = strchr(p, ',');
        size_t cur = end ? (size_t)(end - p) : strlen(p);
        size_t min = cur < len ? cur : len;
        int cmp = memcmp(p, name, min);
        if (cmp == 0 && cur == len)
            return;
        if (cmp > 0 || (cmp == 0 && cur > len)) {
            insert_at = p;
            break;
        }
        p += cur + (end ? 1 : 0);
    }

    struct strbuf merged = STRBUF_INIT;
    size_t head = (size_t)(insert_at - list);
    strbuf_append(&merged, list, head);
    if (head > 0 && merged.data[head - 1] != ',')
        strbuf_append_char(&merged, ',');
    strbuf_append(&merged, name, len);
    if (head < missing->len) {
        strbuf_append_char(&merged, ',');
        strbuf_append(&merged, list + head, missing->len - head);
    }
    strbuf_free(missing);
    *missing = merged;
}

void pathexp_vars(const char *in, pathexp_lookup_fn lookup, void *arg, struct strbuf *out,
                  struct strbuf *missing)
{
    for (const char *p = in; *p != '\0'; p++) {
        if (*p != '$' || p[1] == '\0') {
            strbuf_append_char(out, *p);
            continue;
        }
        const char *name;
        size_t name_len;
        size_t used = shell_name(p + 1, &name, &name_len);
        if (name_len == 0) {
            if (used == 0)
                strbuf_append_char(out, '$');
            p += used;
            continue;
        }
        char *key = strndup(name, name_len);
        if (key == NULL)
            abort();
        const char *val = lookup(key, arg);
        if (val != NULL)
            strbuf_append_str(out, val);
        else if (missing != NULL)
            note_missing(missing, name, name_len);
        free(key);
        p += used;
    }
}

static const char *home_dir(pathexp_lookup_fn lookup, void *arg)
{
    const char *home = lookup("HOME", arg);
    if (home != NULL && home[0] != '\0')
        return home;
    struct passwd *pw = getpwuid(getuid());
    return pw != NULL ? pw->pw_dir : "/";
}

int pathexp_expand(const char *in, pathexp_lookup_fn lookup, void *arg, struct strbuf *out,
                   struct strbuf *err)
{
    struct strbuf tmp = STRBUF_INIT;
    struct strbuf missing = STRBUF_INIT;

    strbuf_reset(out);
    pathexp_vars(in, lookup, arg, &tmp, &missing);
    if (missing.len > 0) {
        strbuf_reset(err);
        strbuf_printf(err, "path references undefined environment variables: %s", missing.data);
        strbuf_free(&missing);
        strbuf_free(&tmp);
        return -1;
    }

    const char *s = tmp.data ? tmp.data : "";
    if (s[0] == '~' && (s[1] == '\0' || s[1] == '/' || s[1] == '\\')) {
        strbuf_append_str(out, home_dir(lookup, arg));
        if (s[1] != '\0') {
            strbuf_append_char(out, '/');
            strbuf_append_str(out, s + 2);
        }
    } else {
        strbuf_append_str(out, s);
    }
    strbuf_free(&tmp);
    return 0;
}

struct segment {
    const char *p;
    size_t len;
};

static bool is_dotdot(const struct segment *s)
{
    return s->len == 2 && s->p[0] == '.' && s->p[1] == '.';
}

void pathexp_clean(const char *in, struct strbuf *out)
{
    bool rooted = in[0] == '/';
    struct segment *segs = malloc((strlen(in) / 2 + 2) * sizeof(*segs));
    size_t n = 0;

    if (segs == NULL)
        abort();
    for (const char *p = in; *p != '\0';) {
        while (*p == '/')
            p++;
        if (*p == '\0')
            break;
        struct segment seg = {p, 0};
        while (*p != '\0' && *p != '/')
            p++;
        seg.len = (size_t)(p - seg.p);
        if (seg.len == 1 && seg.p[0] == '.')
            continue;
        if (is_dotdot(&seg)) {
            if (n > 0 && !is_dotdot(&segs[n - 1]))
                n--;
            else if (!rooted)
                segs[n++] = seg;
            continue;
        }
        segs[n++] = seg;
    }

    strbuf_reset(out);
    if (rooted)
        strbuf_append_char(out, '/');
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            strbuf_append_char(out, '/');
        strbuf_append(out, segs[i].p, segs[i].len);
    }
    if (out->len == 0)
        strbuf_append_char(out, '.');
    free(segs);
}

int pathexp_expand_abs(const char *in, pathexp_lookup_fn lookup, void *arg, struct strbuf *out,
                       struct strbuf *err)
{
    struct strbuf expanded = STRBUF_INIT;
    if (pathexp_expand(in, lookup, arg, &expanded, err) < 0) {
        strbuf_free(&expanded);
        return -1;
    }
    const char *e = expanded.data ? expanded.data : "";
    struct strbuf joined = STRBUF_INIT;
    if (e[0] != '/') {
        char cwd[4096];
        if (getcwd(cwd, sizeof(cwd)) == NULL) {
            strbuf_reset(err);
            strbuf_append_str(err, "cannot determine the working directory");
            strbuf_free(&expanded);
            return -1;
        }
        strbuf_printf(&joined, "%s/%s", cwd, e);
    } else {
        strbuf_append_str(&joined, e);
    }
    pathexp_clean(joined.data, out);
    strbuf_free(&joined);
    strbuf_free(&expanded);
    return 0;
}
