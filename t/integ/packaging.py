"""The Debian package (`make deb`, unpacked with dpkg -x into a scratch root),
`make install`, the man pages and the shipped configuration file."""
import gzip
import os
import re
import shutil
import stat
import subprocess
import tempfile

from execd_test import EXECD_BIN, SRCDIR, Daemon, run_tests

BUILDDIR = os.environ.get("EXECD_BUILDDIR") or SRCDIR


def sub_make_env():
    """The environment for a make run from within `make check`."""
    env = dict(os.environ)
    for var in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES"):
        env.pop(var, None)
    return env


def version():
    with open(os.path.join(BUILDDIR, "autoconf.h")) as f:
        return re.search(r'#define PACKAGE_VERSION "([^"]+)"', f.read()).group(1)


def settings():
    """(flag, env, section, key) for every setting `execd -h` lists."""
    out = subprocess.run([EXECD_BIN, "-h"], capture_output=True, text=True, check=True).stdout
    found = re.findall(r"^  -(\S+) value\n.*env (\w+), ini \[(\w+)\] (\w+)\)$", out, re.M)
    assert found, out
    return found


def read(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt") as f:
        return f.read()


def test_man_pages(t):
    page8 = read(os.path.join(SRCDIR, "docs", "man", "execd.8.in"))
    page5 = read(os.path.join(SRCDIR, "docs", "man", "execd.conf.5.in"))
    missing8, missing5 = [], []
    for flag, env, section, key in settings():
        if "\\-" + flag not in page8 or env not in page8:
            missing8.append(flag)
        body = page5.split('.SH "[%s]"' % section, 1)
        if len(body) < 2 or not re.search(r"^\.BR .*\b%s\b" % re.escape(key),
                                          body[1].split("\n.SH ", 1)[0], re.M):
            missing5.append("[%s] %s" % (section, key))
        elif env not in page5:
            missing5.append(env)
    t.eq(missing8, [], "execd(8) documents every flag with its environment variable")
    t.eq(missing5, [], "execd.conf(5) documents every key in its section")
    for word in ("SIGHUP", "SIGUSR1", "SIGQUIT", "SIGTERM", "EXIT STATUS", "NOTIFY_SOCKET"):
        t.ok(word in page8, "execd(8) covers %s" % word)
    if shutil.which("groff") is None:
        t.skip("the man pages format without warnings", "groff not installed")
        return
    for page in ("execd.8", "execd.conf.5"):
        p = subprocess.run(["groff", "-man", "-ww", "-z", "-Tutf8",
                            os.path.join(BUILDDIR, page)], capture_output=True, text=True)
        t.eq((p.returncode, p.stderr), (0, ""), "%s formats without warnings" % page)


def test_shipped_conf(t):
    text = read(os.path.join(SRCDIR, "conf", "execd.conf"))
    active = [line for line in text.splitlines() if re.match(r"^\s*[a-z_]+\s*=", line)]
    t.eq(active, [], "conf/execd.conf sets nothing: every default is commented out")
    # Uncommented, the file is valid and holds the documented defaults.
    uncommented = re.sub(r"(?m)^;([a-z_]+ =)", r"\1", text)
    with Daemon(config=uncommented) as d:
        t.eq(d.request("GET", "/ping")[0], 200, "the defaults, uncommented, load as is")
    keys = set(re.findall(r"(?m)^;([a-z_]+) =", text))
    want = {key for _, _, _, key in settings()}
    t.eq(sorted(want - keys), [], "every setting has a commented default line")


def test_make_install(t):
    dest = tempfile.mkdtemp(prefix="execd-install-")
    try:
        p = subprocess.run(["make", "install", "DESTDIR=" + dest], cwd=BUILDDIR,
                           env=sub_make_env(), capture_output=True, text=True, timeout=300)
        if not t.ok(p.returncode == 0, "make install DESTDIR=...", p.stdout[-2000:] + p.stderr):
            return
        files = []
        for d, _, names in os.walk(dest):
            files += [os.path.join(d, n)[len(dest):] for n in names]
        for suffix in ("/execd", "/execd.conf", "/man8/execd.8", "/man5/execd.conf.5"):
            t.ok(any(f.endswith(suffix) for f in files), "make install installs *%s" % suffix,
                 files)
        page = next(f for f in files if f.endswith("/man8/execd.8"))
        t.ok("execd %s" % version() in read(dest + page),
             "the installed man page carries the version from configure.ac")
    finally:
        shutil.rmtree(dest, True)


def test_deb(t):
    missing = [p for p in ("dpkg-buildpackage", "dh", "dpkg-deb") if shutil.which(p) is None]
    if missing:
        t.skip("make deb builds the package",
               "%s not installed: packaging/deps.sh installs dpkg-dev and debhelper"
               % ", ".join(missing))
        return
    arch = subprocess.run(["dpkg", "--print-architecture"], capture_output=True, text=True,
                          check=True).stdout.strip()
    deb = os.path.join(BUILDDIR, "execd_%s_%s.deb" % (version(), arch))
    p = subprocess.run(["make", "deb"], cwd=BUILDDIR, env=sub_make_env(),
                       capture_output=True, text=True, timeout=900)
    if not t.ok(p.returncode == 0 and os.path.isfile(deb), "make deb builds %s" % deb,
                p.stdout[-4000:] + p.stderr[-4000:]):
        return

    def field(name):
        return subprocess.run(["dpkg-deb", "-f", deb, name], capture_output=True, text=True,
                              check=True).stdout.strip()

    t.eq(field("Package"), "execd", "package name")
    t.eq(field("Version"), version(), "package version is configure.ac's")

    root = tempfile.mkdtemp(prefix="execd-deb-")
    try:
        subprocess.run(["dpkg", "-x", deb, root], check=True)
        control = os.path.join(root, "DEBIAN")
        subprocess.run(["dpkg-deb", "-e", deb, control], check=True)

        def path(p):
            return os.path.join(root, p.lstrip("/"))

        binary = path("/usr/sbin/execd")
        t.ok(os.access(binary, os.X_OK), "/usr/sbin/execd is installed")
        run = subprocess.run([binary, "-h"], capture_output=True, text=True)
        t.ok(run.returncode == 0 and "-access-token" in run.stdout, "and runs")

        t.eq(read(path("/etc/execd/execd.conf")), read(os.path.join(SRCDIR, "conf", "execd.conf")),
             "/etc/execd/execd.conf is conf/execd.conf")
        conffiles = read(os.path.join(control, "conffiles")).split()
        t.ok("/etc/execd/execd.conf" in conffiles and "/etc/logrotate.d/execd" in conffiles,
             "the configuration and the logrotate snippet are conffiles", conffiles)

        unit = read(path("/lib/systemd/system/execd.service"))
        for line in ("Type=notify", "ExecStart=/usr/sbin/execd -c /etc/execd/execd.conf",
                     "ExecReload=/bin/kill -HUP $MAINPID", "KillMode=mixed", "WatchdogSec=",
                     "Restart=on-failure", "LimitNOFILE=", "OOMScoreAdjust=-"):
            t.ok(re.search(r"(?m)^" + re.escape(line), unit), "the unit has %s" % line)
        t.ok("execd.service" in read(os.path.join(control, "postinst")),
             "the unit is enabled by the maintainer scripts (dh_installsystemd)")

        mode = stat.S_IMODE(os.stat(path("/var/lib/execd")).st_mode)
        t.eq(oct(mode), oct(0o700), "/var/lib/execd has mode 0700")
        rotate = read(path("/etc/logrotate.d/execd"))
        t.ok("/var/log/execd/" in rotate and "SIGUSR1" in rotate,
             "logrotate snippet rotates /var/log/execd and signals SIGUSR1")
        for page, title in (("/usr/share/man/man8/execd.8.gz", "EXECD 8"),
                            ("/usr/share/man/man5/execd.conf.5.gz", "EXECD.CONF 5")):
            text = read(path(page))
            t.ok(".TH %s" % title in text and "execd %s" % version() in text,
                 "%s with the package version" % page)
        for doc in ("copyright", "changelog.gz", "CHANGELOG.md"):
            # dh_compress gzips documents over 4 KiB (Debian policy 12.3).
            t.ok(any(os.path.exists(path("/usr/share/doc/execd/" + doc + gz)) for gz in ("", ".gz")),
                 "doc: %s" % doc)

        if shutil.which("lintian") is None:
            t.skip("lintian is clean", "lintian not installed")
        else:
            lint = subprocess.run(["lintian", deb], capture_output=True, text=True, timeout=600)
            tags = [line for line in lint.stdout.splitlines() if re.match(r"^[EW]: ", line)]
            t.eq(tags, [], "lintian reports no error or warning")
    finally:
        shutil.rmtree(root, True)


run_tests([test_man_pages, test_shipped_conf, test_make_install, test_deb], timeout=1800)
