#include "runtime.h"

#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common.h"
#include "fsutil.h"
#include "jupyter/kernel.h"
#include "log.h"
#include "procstat.h"
#include "strbuf.h"

static int remove_entry(const char *path, const struct stat *st EXECD_UNUSED, int type,
                        struct FTW *ftw EXECD_UNUSED)
{
    int rc = type == FTW_DP ? rmdir(path) : unlink(path);
    if (rc < 0 && errno != ENOENT)
        log_warn("cannot remove %s: %s", path, strerror(errno));
    return 0;
}

int runtime_remove_tree(const char *path)
{
    return nftw(path, remove_entry, 32, FTW_DEPTH | FTW_PHYS);
}

/* Kernels of a previous instance run in their own session: kill them before their files go. */
static void kill_kernels(const char *state_dir)
{
    struct strbuf kdir = STRBUF_INIT;
    strbuf_printf(&kdir, "%s/kernels", state_dir);
    DIR *d = opendir(kdir.data);
    if (d == NULL) {
        if (errno != ENOENT)
            log_warn("cannot read %s: %s", kdir.data, strerror(errno));
        strbuf_free(&kdir);
        return;
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        struct strbuf k = STRBUF_INIT;
        strbuf_printf(&k, "%s/%s", kdir.data, e->d_name);
        if (kernel_remove_dir(k.data) < 0)
            log_warn("leftover kernel %s not fully removed", k.data);
        strbuf_free(&k);
    }
    closedir(d);
    strbuf_free(&kdir);
}

int runtime_prepare(const char *dir)
{
    if (fsutil_mkdir_p(dir, 0700) < 0) {
        log_error("cannot create runtime directory %s: %s", dir, strerror(errno));
        return -1;
    }
    struct stat st;
    if (lstat(dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
        log_error("runtime directory %s is not a directory", dir);
        return -1;
    }
    if (st.st_uid != geteuid()) {
        log_error("runtime directory %s belongs to uid %u, not to us", dir, (unsigned)st.st_uid);
        return -1;
    }
    if (chmod(dir, 0700) < 0) {
        log_error("cannot chmod runtime directory %s: %s", dir, strerror(errno));
        return -1;
    }
    DIR *d = opendir(dir);
    if (d == NULL) {
        log_error("cannot read runtime directory %s: %s", dir, strerror(errno));
        return -1;
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] != 'w' || strspn(e->d_name + 1, "0123456789") != strlen(e->d_name + 1))
            continue;
        struct strbuf p = STRBUF_INIT;
        strbuf_printf(&p, "%s/%s", dir, e->d_name);
        log_info("removing state of a previous instance: %s", p.data);
        kill_kernels(p.data);
        runtime_remove_tree(p.data);
        strbuf_free(&p);
    }
    closedir(d);
    return 0;
}

int runtime_kill_descendants(void)
{
    pid_t self = getpid();
    int killed = 0;
    /* Orphans are re-parented to us (subreaper), so one level of children
     * covers them; repeat to catch children forked while we scan. */
    for (int round = 0; round < 3; round++) {
        DIR *d = opendir("/proc");
        if (d == NULL)
            return killed;
        int found = 0;
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            pid_t pid = (pid_t)atoi(e->d_name);
            struct procstat st;
            if (pid <= 0 || pid == self || procstat_read(pid, &st) < 0 || st.ppid != self)
                continue;
            if (kill(pid, SIGKILL) == 0) {
                found++;
                killed++;
            }
        }
        closedir(d);
        if (found == 0)
            break;
    }
    return killed;
}
