"""`make bundle`: execd with its non-glibc libraries, as a directory and as one
self-unpacking file, runs in a root file system that holds nothing but glibc
(a chroot this test builds), answers /ping there and, once bash is copied in,
runs a command."""
import os
import shutil
import subprocess
import tempfile

import execd_test
from execd_test import Daemon, run_tests, texts, wait_for

BUILDDIR = os.environ.get("EXECD_BUILDDIR") or os.path.join(execd_test.SRCDIR)
BUNDLE_DIR = os.path.join(BUILDDIR, "execd-bundle")
ONEFILE = os.path.join(BUILDDIR, "execd-bundle.run")
GLIBC_SONAMES = ("libc.so.", "libm.so.", "libpthread.so.", "libdl.so.", "librt.so.",
                 "libresolv.so.", "ld-linux")


def sub_make_env():
    """The environment for a make run from within `make check`."""
    env = dict(os.environ)
    for var in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES"):
        env.pop(var, None)
    return env


def ldd(path):
    """[(soname, resolved path)] and the program interpreter."""
    out = subprocess.run(["ldd", path], capture_output=True, text=True, check=True).stdout
    libs, interp = [], None
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[1] == "=>" and parts[2].startswith("/"):
            libs.append((parts[0], parts[2]))
        elif parts and parts[0].startswith("/") and "ld-linux" in parts[0]:
            interp = parts[0]
    return libs, interp


def copy_into(root, path):
    """Copies path (symlinks resolved) to the same path under root."""
    dest = os.path.join(root, path.lstrip("/"))
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    shutil.copy2(os.path.realpath(path), dest)


def glibc_root(root, binary):
    """A root file system with glibc's libraries and loader only."""
    libs, interp = ldd(binary)
    libc_dir = os.path.dirname(next(p for n, p in libs if n.startswith("libc.so.")))
    names = []
    try:
        listed = subprocess.run(["dpkg", "-L", "libc6"], capture_output=True, text=True,
                                check=True).stdout.split()
        names = [p for p in listed if os.path.dirname(p) in (libc_dir, "/lib64") and ".so" in p
                 and os.path.isfile(p)]
    except (OSError, subprocess.CalledProcessError):
        names = [p for n, p in libs if n.startswith(GLIBC_SONAMES)]
    for p in names:
        copy_into(root, p)
    # The loader at the path the binaries name, whichever directory dpkg lists.
    copy_into(root, interp)
    for d in ("proc", "dev", "opt/opensandbox"):
        os.makedirs(os.path.join(root, d), exist_ok=True)
    open(os.path.join(root, "dev", "null"), "w").close()


def chroot_wrapper(root, tmp, program):
    """A script that runs program inside root in a private mount namespace, with
    /proc (the master re-executes /proc/self/exe), /dev/null and the test's
    temporary directory (the daemon's runtime dir) mounted. Each step execs the
    next, so the daemon keeps the script's pid and gets the test's signals."""
    tmpdir = tempfile.gettempdir()
    os.makedirs(os.path.join(root, tmpdir.lstrip("/")), exist_ok=True)
    path = os.path.join(tmp, "in-chroot-%d.sh" % len(os.listdir(tmp)))
    with open(path, "w") as f:
        f.write("""#!/bin/sh
exec %s --mount /bin/sh -c '
  set -e
  root=$1 tmpdir=$2 program=$3
  shift 3
  mount -t proc proc "$root/proc"
  mount --bind /dev/null "$root/dev/null"
  mount --bind "$tmpdir" "$root$tmpdir"
  exec %s "$root" "$program" "$@"' sh '%s' '%s' '%s' "$@"
""" % (shutil.which("unshare"), shutil.which("chroot"), root, tmpdir, program))
    os.chmod(path, 0o755)
    return path


def chroot_daemon(root, tmp, program, wait):
    """A Daemon whose binary is program inside root."""
    saved = execd_test.EXECD_BIN
    execd_test.EXECD_BIN = chroot_wrapper(root, tmp, program)
    try:
        return Daemon(env={"PATH": "/usr/bin:/bin"}, wait=wait)
    finally:
        execd_test.EXECD_BIN = saved


def test_bundle(t):
    if os.geteuid() != 0:
        t.skip("the bundle runs in a libc-only chroot", "needs root (chroot, mounts)")
        return
    missing = [p for p in ("patchelf", "unshare", "chroot", "ldd", "objdump")
               if shutil.which(p) is None]
    if missing:
        t.skip("the bundle runs in a libc-only chroot",
               "%s not installed (packaging/deps.sh installs them)" % ", ".join(missing))
        return
    p = subprocess.run(["make", "bundle"], cwd=BUILDDIR, env=sub_make_env(),
                       capture_output=True, text=True, timeout=300)
    if not t.ok(p.returncode == 0, "make bundle", p.stdout[-3000:] + p.stderr[-3000:]):
        return
    with open(os.path.join(BUNDLE_DIR, "GLIBC")) as f:
        glibc = f.read().strip()
    t.diag("the bundle needs glibc >= %s" % glibc)
    t.ok(glibc.count(".") == 1, "the oldest glibc it runs on is recorded", glibc)

    libs, _ = ldd(os.path.join(BUNDLE_DIR, "execd"))
    outside = [(n, p) for n, p in libs if not n.startswith(GLIBC_SONAMES)
               and not p.startswith(os.path.join(BUNDLE_DIR, "lib") + "/")]
    t.eq(outside, [], "every non-glibc library resolves inside the bundle")

    tmp = tempfile.mkdtemp(prefix="execd-bundle-test-")
    root = os.path.join(tmp, "root")
    try:
        os.makedirs(root)
        glibc_root(root, os.path.join(BUNDLE_DIR, "execd"))
        # The root is really that bare: the daemon as built does not start there.
        shutil.copy2(execd_test.EXECD_BIN, os.path.join(root, "opt", "execd-as-built"))
        p = subprocess.run([chroot_wrapper(root, tmp, "/opt/execd-as-built"), "-h"],
                           capture_output=True, text=True, timeout=30)
        t.ok(p.returncode != 0 and "shared libraries" in p.stderr,
             "the daemon as built cannot start in the libc-only root", (p.returncode, p.stderr))
        shutil.copytree(BUNDLE_DIR, os.path.join(root, "opt", "execd-bundle"))
        shutil.copy2(ONEFILE, os.path.join(root, "opt", "opensandbox", "execd"))
        for program, desc in (("/opt/execd-bundle/execd", "the bundle directory"),
                              ("/opt/opensandbox/execd", "the single file")):
            with chroot_daemon(root, tmp, program, wait=False) as d:
                up = wait_for(lambda: d.proc.poll() is not None or _ping(d) == 200, 15)
                t.ok(up and d.proc.poll() is None, "%s: the daemon answers /ping in a "
                     "libc-only root" % desc, d.logs())
                workers = wait_for(lambda: d.ready_workers() >= 2, 10)
                t.ok(workers, "%s: its workers (re-executed /proc/self/exe) start" % desc,
                     d.logs())
                t.eq(d.stop(), 0, "%s: SIGTERM stops it with status 0" % desc)
        unpacked = [n for n in os.listdir(os.path.join(root, "opt", "opensandbox"))
                    if n.startswith(".execd-")]
        t.eq(len(unpacked), 1, "the single file unpacked itself once, beside itself")

        # With bash (and the libraries bash needs) copied in, commands run.
        bash_libs, _ = ldd("/bin/bash")
        copy_into(root, "/bin/bash")
        for _, path in bash_libs:
            copy_into(root, path)
        with chroot_daemon(root, tmp, "/opt/opensandbox/execd", wait=True) as d:
            status, _, events, _ = d.run("echo hello from $BASH_VERSION")
            out = texts(events, "stdout")
            t.ok(status == 200 and len(out) == 1 and out[0].startswith("hello from "),
                 "the single file runs a command with the root's bash", (status, events))
    finally:
        shutil.rmtree(tmp, True)


def _ping(d):
    try:
        return d.request("GET", "/ping", timeout=2)[0]
    except OSError:
        return None


run_tests([test_bundle])
