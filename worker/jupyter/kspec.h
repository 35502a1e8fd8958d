/*
 * Jupyter kernelspecs, found and read the way jupyter_client does: every
 * directory of the search path holds <name>/kernel.json; a name seen in an
 * earlier directory hides later ones. Selection by language follows the Go
 * daemon's rule (skip the spec named "python3") made deterministic: among
 * several specs of one language the lexically smallest name wins, and
 * "python3" only when it is the only spec of that language.
 */
#ifndef EXECD_KSPEC_H
#define EXECD_KSPEC_H

#include <stdbool.h>
#include <stddef.h>

#include "envmap.h"
#include "strbuf.h"

enum kspec_interrupt {
    KSPEC_INTERRUPT_SIGNAL,  /* SIGINT to the kernel's process group (default) */
    KSPEC_INTERRUPT_MESSAGE, /* interrupt_request on the control channel */
};

/* The ZeroMQ transport a kernel is started with (see kernel_transport()). */
enum kspec_transport {
    KSPEC_TRANSPORT_AUTO, /* ipc for kernels known to serve it (ipykernel), else tcp */
    KSPEC_TRANSPORT_IPC,
    KSPEC_TRANSPORT_TCP,
};

struct kspec {
    char *name;         /* directory name, lower-cased (jupyter_client does too) */
    char *resource_dir; /* the directory holding kernel.json */
    char **argv;        /* NULL-terminated, untemplated, argc >= 1 */
    size_t argc;
    char *display_name;
    char *language;
    struct envmap env; /* kernel.json "env", overlaid on the kernel's environment */
    enum kspec_interrupt interrupt_mode;
    /* kernel.json "metadata": {"execd": {"transport": "ipc"|"tcp"}}; AUTO when absent */
    enum kspec_transport transport;
};

struct kspec_list {
    struct kspec **items; /* sorted by name */
    size_t len;
};

/* Reads <resource_dir>/kernel.json. Returns NULL with a reason in err. */
struct kspec *kspec_load(const char *resource_dir, const char *name, struct strbuf *err);
void kspec_free(struct kspec *spec);

/*
 * The search path, most important first: each JUPYTER_PATH entry + /kernels,
 * the user data dir (JUPYTER_DATA_DIR, else $XDG_DATA_HOME/jupyter, else
 * ~/.local/share/jupyter) + /kernels, /usr/local/share/jupyter/kernels,
 * /usr/share/jupyter/kernels. NULL-terminated; free with kspec_strv_free.
 */
char **kspec_default_dirs(void);

/* Every loadable spec under dirs (NULL-terminated); unreadable ones are logged and skipped. */
void kspec_discover(char *const *dirs, struct kspec_list *out);
void kspec_list_free(struct kspec_list *list);

/*
 * The spec for language: specs whose language equals it exactly (as the Go
 * daemon compares); "python3" is skipped when another candidate exists; the
 * lexically smallest name wins. NULL when nothing matches.
 */
const struct kspec *kspec_select(const struct kspec_list *list, const char *language);
/* Removes spec from list and hands it to the caller. */
struct kspec *kspec_take(struct kspec_list *list, const struct kspec *spec);
/* Discovery over the default dirs plus selection. NULL with a reason in err. */
struct kspec *kspec_find(const char *language, struct strbuf *err);

/* ipykernel (argv runs ipykernel_launcher or "-m ipykernel"). */
bool kspec_is_ipykernel(const struct kspec *spec);

/* "auto", "ipc", "tcp" <-> the enum. kspec_transport_parse returns -1 for anything else. */
int kspec_transport_parse(const char *s, enum kspec_transport *out);
const char *kspec_transport_name(enum kspec_transport t);
/*
 * The transport to start spec with: the spec's own metadata wins, then the
 * daemon's setting (forced unless AUTO), then AUTO's rule: ipc for
 * ipykernel, which is known to serve it, tcp for every other kernel (tslab,
 * IJava on JeroMQ and others do not serve Jupyter's ipc endpoints).
 */
enum kspec_transport kspec_pick_transport(const struct kspec *spec, enum kspec_transport setting);

/*
 * The command line to run: {connection_file} and {resource_dir} substituted in
 * every argument; argv[0] "python", "python3" or "python3.N" mapped to
 * /usr/bin/python3 (Debian's, which has ipykernel); another bare name looked up
 * in path_env (a PATH value; NULL: the daemon's PATH). For ipykernel,
 * --InteractiveShell.colors=NoColor is appended when nocolor is set and argv
 * does not already choose colours. Returns a NULL-terminated array (free with
 * kspec_strv_free) whose first element is absolute, or NULL with a reason in err.
 */
char **kspec_argv(const struct kspec *spec, const char *connection_file, const char *path_env,
                  bool nocolor, struct strbuf *err);
void kspec_strv_free(char **v);

#endif
