#include "jupyter/kspec.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common.h"
#include "log.h"
#include "xalloc.h"

/* kernel.json files are tiny; anything bigger is not a kernelspec. */
#define SPEC_MAX_BYTES (1024 * 1024)
#define DEBIAN_PYTHON "/usr/bin/python3"
#define COLORS_OPT "--InteractiveShell.colors"

void kspec_strv_free(char **v)
{
    if (v == NULL)
        return;
    for (char **p = v; *p != NULL; p++)
        free(*p);
    free(v);
}

/* A growable NULL-terminated string array. */
struct strv {
    char **v;
    size_t len, cap;
};

static void strv_push(struct strv *sv, char *s)
{
    if (sv->len + 2 > sv->cap) {
        sv->cap = sv->cap ? sv->cap * 2 : 8;
        sv->v = xrealloc(sv->v, sv->cap * sizeof(char *));
    }
    sv->v[sv->len++] = s;
    sv->v[sv->len] = NULL;
}

void kspec_free(struct kspec *spec)
{
    if (spec == NULL)
        return;
    free(spec->name);
    free(spec->resource_dir);
    kspec_strv_free(spec->argv);
    free(spec->display_name);
    free(spec->language);
    envmap_free(&spec->env);
    free(spec);
}

static json_object *read_json(const char *path, struct strbuf *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        strbuf_printf(err, "open %s: %s", path, strerror(errno));
        return NULL;
    }
    struct strbuf data = STRBUF_INIT;
    char buf[8192];
    ssize_t n;
    while ((n = read(fd, buf, sizeof(buf))) > 0 && data.len < SPEC_MAX_BYTES)
        strbuf_append(&data, buf, (size_t)n);
    int rerr = errno;
    close(fd);
    if (n < 0) {
        strbuf_printf(err, "read %s: %s", path, strerror(rerr));
        strbuf_free(&data);
        return NULL;
    }
    if (data.len >= SPEC_MAX_BYTES) {
        strbuf_printf(err, "%s: too large", path);
        strbuf_free(&data);
        return NULL;
    }
    enum json_tokener_error jerr = json_tokener_success;
    json_object *obj = json_tokener_parse_verbose(data.data ? data.data : "", &jerr);
    strbuf_free(&data);
    if (obj == NULL) {
        strbuf_printf(err, "%s: invalid JSON: %s", path, json_tokener_error_desc(jerr));
        return NULL;
    }
    if (!json_object_is_type(obj, json_type_object)) {
        strbuf_printf(err, "%s: not a JSON object", path);
        json_object_put(obj);
        return NULL;
    }
    return obj;
}

static const char *opt_string(json_object *obj, const char *key)
{
    json_object *v;
    if (!json_object_object_get_ex(obj, key, &v) || !json_object_is_type(v, json_type_string))
        return NULL;
    return json_object_get_string(v);
}

/* "metadata": {"execd": {"transport": ...}}: how this kernel must be reached. */
static int load_metadata(struct kspec *spec, json_object *obj, const char *path, struct strbuf *err)
{
    json_object *meta, *ours, *transport;
    if (!json_object_object_get_ex(obj, "metadata", &meta) ||
        !json_object_is_type(meta, json_type_object) ||
        !json_object_object_get_ex(meta, "execd", &ours) ||
        !json_object_is_type(ours, json_type_object) ||
        !json_object_object_get_ex(ours, "transport", &transport))
        return 0;
    const char *s =
        json_object_is_type(transport, json_type_string) ? json_object_get_string(transport) : "";
    if (kspec_transport_parse(s, &spec->transport) < 0) {
        strbuf_printf(err, "%s: metadata.execd.transport must be auto, ipc or tcp", path);
        return -1;
    }
    return 0;
}

static int load_argv(struct kspec *spec, json_object *obj, const char *path, struct strbuf *err)
{
    json_object *argv;
    if (!json_object_object_get_ex(obj, "argv", &argv) ||
        !json_object_is_type(argv, json_type_array) || json_object_array_length(argv) == 0) {
        strbuf_printf(err, "%s: 'argv' must be a non-empty array", path);
        return -1;
    }
    struct strv sv = {0};
    size_t n = json_object_array_length(argv);
    for (size_t i = 0; i < n; i++) {
        json_object *a = json_object_array_get_idx(argv, i);
        if (!json_object_is_type(a, json_type_string)) {
            strbuf_printf(err, "%s: argv[%zu] is not a string", path, i);
            kspec_strv_free(sv.v);
            return -1;
        }
        strv_push(&sv, xstrdup(json_object_get_string(a)));
    }
    spec->argv = sv.v;
    spec->argc = sv.len;
    return 0;
}

static int load_env(struct kspec *spec, json_object *obj, const char *path, struct strbuf *err)
{
    json_object *env;
    if (!json_object_object_get_ex(obj, "env", &env) || env == NULL)
        return 0;
    if (!json_object_is_type(env, json_type_object)) {
        strbuf_printf(err, "%s: 'env' must be an object", path);
        return -1;
    }
    json_object_object_foreach(env, key, value)
    {
        if (value == NULL || !json_object_is_type(value, json_type_string)) {
            strbuf_printf(err, "%s: env '%s' must be a string", path, key);
            return -1;
        }
        envmap_set(&spec->env, key, json_object_get_string(value));
    }
    return 0;
}

struct kspec *kspec_load(const char *resource_dir, const char *name, struct strbuf *err)
{
    struct strbuf path = STRBUF_INIT;
    strbuf_printf(&path, "%s/kernel.json", resource_dir);
    json_object *obj = read_json(path.data, err);
    if (obj == NULL) {
        strbuf_free(&path);
        return NULL;
    }
    struct kspec *spec = xcalloc(1, sizeof(*spec));
    envmap_init(&spec->env);
    spec->name = xstrdup(name);
    for (char *p = spec->name; *p != '\0'; p++)
        *p = (char)tolower((unsigned char)*p);
    spec->resource_dir = xstrdup(resource_dir);

    const char *s;
    int rc = load_argv(spec, obj, path.data, err);
    if (rc == 0)
        rc = load_env(spec, obj, path.data, err);
    if (rc == 0)
        rc = load_metadata(spec, obj, path.data, err);
    if (rc == 0) {
        s = opt_string(obj, "display_name");
        spec->display_name = xstrdup(s != NULL ? s : spec->name);
        s = opt_string(obj, "language");
        spec->language = xstrdup(s != NULL ? s : "");
        s = opt_string(obj, "interrupt_mode");
        if (s == NULL || strcmp(s, "signal") == 0) {
            spec->interrupt_mode = KSPEC_INTERRUPT_SIGNAL;
        } else if (strcmp(s, "message") == 0) {
            spec->interrupt_mode = KSPEC_INTERRUPT_MESSAGE;
        } else {
            strbuf_printf(err, "%s: unknown interrupt_mode '%s'", path.data, s);
            rc = -1;
        }
    }
    json_object_put(obj);
    strbuf_free(&path);
    if (rc < 0) {
        kspec_free(spec);
        return NULL;
    }
    return spec;
}

/* ---- search path ------------------------------------------------------- */

static const char *home_dir(void)
{
    const char *h = getenv("HOME");
    if (h != NULL && h[0] != '\0')
        return h;
    struct passwd *pw = getpwuid(getuid());
    return pw != NULL ? pw->pw_dir : NULL;
}

char **kspec_default_dirs(void)
{
    struct strv sv = {0};
    struct strbuf b = STRBUF_INIT;

    const char *jp = getenv("JUPYTER_PATH");
    for (const char *p = jp; p != NULL && *p != '\0';) {
        const char *colon = strchr(p, ':');
        size_t len = colon != NULL ? (size_t)(colon - p) : strlen(p);
        if (len > 0) {
            strbuf_reset(&b);
            strbuf_printf(&b, "%.*s/kernels", (int)len, p);
            strv_push(&sv, xstrdup(b.data));
        }
        p = colon != NULL ? colon + 1 : NULL;
    }

    const char *data = getenv("JUPYTER_DATA_DIR");
    const char *xdg = getenv("XDG_DATA_HOME");
    const char *home = home_dir();
    strbuf_reset(&b);
    if (data != NULL && data[0] != '\0')
        strbuf_printf(&b, "%s/kernels", data);
    else if (xdg != NULL && xdg[0] != '\0')
        strbuf_printf(&b, "%s/jupyter/kernels", xdg);
    else if (home != NULL)
        strbuf_printf(&b, "%s/.local/share/jupyter/kernels", home);
    if (b.len > 0)
        strv_push(&sv, xstrdup(b.data));

    strv_push(&sv, xstrdup("/usr/local/share/jupyter/kernels"));
    strv_push(&sv, xstrdup("/usr/share/jupyter/kernels"));
    strbuf_free(&b);
    return sv.v;
}

/* ---- discovery and selection ------------------------------------------- */

static bool has_name(const struct kspec_list *list, const char *name)
{
    for (size_t i = 0; i < list->len; i++)
        if (strcmp(list->items[i]->name, name) == 0)
            return true;
    return false;
}

static void list_push(struct kspec_list *list, struct kspec *spec)
{
    struct kspec **grown = xrealloc(list->items, (list->len + 1) * sizeof(*grown));
    list->items = grown;
    list->items[list->len++] = spec;
}

static void scan_dir(const char *dir, struct kspec_list *out)
{
    DIR *d = opendir(dir);
    if (d == NULL) {
        if (errno != ENOENT && errno != ENOTDIR)
            log_warn("kernelspecs: cannot read %s: %s", dir, strerror(errno));
        return;
    }
    struct strbuf path = STRBUF_INIT, err = STRBUF_INIT, lname = STRBUF_INIT;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        strbuf_reset(&lname);
        for (const char *p = e->d_name; *p != '\0'; p++)
            strbuf_append_char(&lname, (char)tolower((unsigned char)*p));
        /* The first directory that has a name wins, as in jupyter_client. */
        if (has_name(out, lname.data))
            continue;
        strbuf_reset(&path);
        strbuf_printf(&path, "%s/%s/kernel.json", dir, e->d_name);
        struct stat st;
        if (stat(path.data, &st) < 0 || !S_ISREG(st.st_mode))
            continue;
        strbuf_reset(&path);
        strbuf_printf(&path, "%s/%s", dir, e->d_name);
        strbuf_reset(&err);
        struct kspec *spec = kspec_load(path.data, e->d_name, &err);
        if (spec == NULL) {
            log_warn("kernelspec %s skipped: %s", path.data, err.data);
            continue;
        }
        list_push(out, spec);
    }
    closedir(d);
    strbuf_free(&path);
    strbuf_free(&err);
    strbuf_free(&lname);
}

static int by_name(const void *a, const void *b)
{
    const struct kspec *const *x = a, *const *y = b;
    return strcmp((*x)->name, (*y)->name);
}

void kspec_discover(char *const *dirs, struct kspec_list *out)
{
    out->items = NULL;
    out->len = 0;
    for (size_t i = 0; dirs != NULL && dirs[i] != NULL; i++)
        scan_dir(dirs[i], out);
    if (out->len > 1)
        qsort(out->items, out->len, sizeof(*out->items), by_name);
}

void kspec_list_free(struct kspec_list *list)
{
    for (size_t i = 0; i < list->len; i++)
        kspec_free(list->items[i]);
    free(list->items);
    list->items = NULL;
    list->len = 0;
}

const struct kspec *kspec_select(const struct kspec_list *list, const char *language)
{
    const struct kspec *best = NULL, *python3 = NULL;
    if (language == NULL || language[0] == '\0')
        return NULL;
    /* The list is sorted by name, so the first eligible match is the lexical winner. */
    for (size_t i = 0; i < list->len; i++) {
        const struct kspec *s = list->items[i];
        if (strcmp(s->language, language) != 0)
            continue;
        if (strcmp(s->name, "python3") == 0) {
            python3 = s;
            continue;
        }
        if (best == NULL)
            best = s;
    }
    return best != NULL ? best : python3;
}

struct kspec *kspec_take(struct kspec_list *list, const struct kspec *spec)
{
    for (size_t i = 0; i < list->len; i++) {
        if (list->items[i] != spec)
            continue;
        struct kspec *s = list->items[i];
        memmove(&list->items[i], &list->items[i + 1], (list->len - i - 1) * sizeof(s));
        list->len--;
        return s;
    }
    return NULL;
}

struct kspec *kspec_find(const char *language, struct strbuf *err)
{
    char **dirs = kspec_default_dirs();
    struct kspec_list list;
    kspec_discover(dirs, &list);
    kspec_strv_free(dirs);
    struct kspec *spec = kspec_take(&list, kspec_select(&list, language));
    kspec_list_free(&list);
    if (spec == NULL)
        strbuf_printf(err, "no kernel specs found for language '%s'", language);
    return spec;
}

/* ---- command line ---------------------------------------------------------- */

bool kspec_is_ipykernel(const struct kspec *spec)
{
    for (size_t i = 0; i < spec->argc; i++) {
        const char *a = spec->argv[i];
        if (strcmp(a, "ipykernel_launcher") == 0 || strcmp(a, "ipykernel") == 0 ||
            strstr(a, "ipykernel_launcher.py") != NULL)
            return true;
    }
    return false;
}

int kspec_transport_parse(const char *s, enum kspec_transport *out)
{
    static const enum kspec_transport all[] = {KSPEC_TRANSPORT_AUTO, KSPEC_TRANSPORT_IPC,
                                               KSPEC_TRANSPORT_TCP};
    for (size_t i = 0; i < ARRAY_SIZE(all); i++) {
        if (strcmp(s, kspec_transport_name(all[i])) == 0) {
            *out = all[i];
            return 0;
        }
    }
    return -1;
}

const char *kspec_transport_name(enum kspec_transport t)
{
    switch (t) {
    case KSPEC_TRANSPORT_IPC:
        return "ipc";
    case KSPEC_TRANSPORT_TCP:
        return "tcp";
    case KSPEC_TRANSPORT_AUTO:
        break;
    }
    return "auto";
}

enum kspec_transport kspec_pick_transport(const struct kspec *spec, enum kspec_transport setting)
{
    if (spec->transport != KSPEC_TRANSPORT_AUTO)
        return spec->transport;
    if (setting != KSPEC_TRANSPORT_AUTO)
        return setting;
    return kspec_is_ipykernel(spec) ? KSPEC_TRANSPORT_IPC : KSPEC_TRANSPORT_TCP;
}

/* Replaces {connection_file} and {resource_dir}; other {names} stay as they are. */
static char *template_arg(const char *arg, const char *connection_file, const char *resource_dir)
{
    static const struct {
        const char *pat;
        size_t len;
    } pats[] = {{"{connection_file}", 17}, {"{resource_dir}", 14}};
    const char *vals[] = {connection_file, resource_dir};
    struct strbuf out = STRBUF_INIT;
    for (const char *p = arg; *p != '\0';) {
        size_t i;
        for (i = 0; i < ARRAY_SIZE(pats); i++)
            if (strncmp(p, pats[i].pat, pats[i].len) == 0)
                break;
        if (i < ARRAY_SIZE(pats)) {
            strbuf_append_str(&out, vals[i]);
            p += pats[i].len;
        } else {
            strbuf_append_char(&out, *p++);
        }
    }
    return strbuf_detach(&out);
}

static bool is_bare_python(const char *a)
{
    if (strcmp(a, "python") == 0 || strcmp(a, "python3") == 0)
        return true;
    if (strncmp(a, "python3.", 8) != 0 || a[8] == '\0')
        return false;
    for (const char *p = a + 8; *p != '\0'; p++)
        if (!isdigit((unsigned char)*p))
            return false;
    return true;
}

static char *search_path(const char *name, const char *path_env)
{
    if (path_env == NULL)
        path_env = getenv("PATH");
    if (path_env == NULL || path_env[0] == '\0')
        path_env = "/usr/local/bin:/usr/bin:/bin";
    struct strbuf cand = STRBUF_INIT;
    for (const char *dir = path_env; dir != NULL && *dir != '\0';) {
        const char *colon = strchr(dir, ':');
        size_t len = colon != NULL ? (size_t)(colon - dir) : strlen(dir);
        if (len > 0) {
            strbuf_reset(&cand);
            strbuf_printf(&cand, "%.*s/%s", (int)len, dir, name);
            if (access(cand.data, X_OK) == 0 && cand.data[0] == '/')
                return strbuf_detach(&cand);
        }
        dir = colon != NULL ? colon + 1 : NULL;
    }
    strbuf_free(&cand);
    return NULL;
}

static char *resolve_exe(const char *arg0, const char *path_env, struct strbuf *err)
{
    if (arg0[0] == '/')
        return xstrdup(arg0);
    if (is_bare_python(arg0) && access(DEBIAN_PYTHON, X_OK) == 0)
        return xstrdup(DEBIAN_PYTHON);
    if (strchr(arg0, '/') != NULL) {
        /* Relative with a directory part: relative to the daemon's cwd, as execvp would. */
        char cwd[4096];
        if (getcwd(cwd, sizeof(cwd)) != NULL) {
            struct strbuf b = STRBUF_INIT;
            strbuf_printf(&b, "%s/%s", cwd, arg0);
            return strbuf_detach(&b);
        }
    }
    char *found = search_path(arg0, path_env);
    if (found == NULL)
        strbuf_printf(err, "kernel executable '%s' not found in PATH", arg0);
    return found;
}

char **kspec_argv(const struct kspec *spec, const char *connection_file, const char *path_env,
                  bool nocolor, struct strbuf *err)
{
    struct strv sv = {0};
    char *exe = resolve_exe(spec->argv[0], path_env, err);
    if (exe == NULL)
        return NULL;
    strv_push(&sv, exe);
    bool colors_set = false;
    for (size_t i = 1; i < spec->argc; i++) {
        strv_push(&sv, template_arg(spec->argv[i], connection_file, spec->resource_dir));
        if (strncmp(spec->argv[i], COLORS_OPT, strlen(COLORS_OPT)) == 0)
            colors_set = true;
    }
    if (nocolor && !colors_set && kspec_is_ipykernel(spec))
        strv_push(&sv, xstrdup(COLORS_OPT "=NoColor"));
    return sv.v;
}
