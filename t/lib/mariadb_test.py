"""A private MariaDB server for the SQL tests and benchmarks: mariadb-install-db into a
temporary data directory, mariadbd on its own Unix socket and TCP port (127.0.0.1), stopped
when the test ends. Nothing here touches a system server (its data, socket or port 3306).

Needs the server and client of Debian's mariadb-server-core and mariadb-client-core
(packaging/deps.sh installs them; mariadb-server brings them too); MISSING says why not
when they are not installed, and tests then skip with that message.
"""
import atexit
import os
import shutil
import signal
import subprocess
import tempfile
import time

from execd_test import free_port


def _find(name):
    for d in os.environ.get("PATH", "").split(os.pathsep) + ["/usr/sbin", "/usr/bin", "/sbin"]:
        p = os.path.join(d, name)
        if os.access(p, os.X_OK):
            return p
    return None


MARIADBD = _find("mariadbd")
INSTALL_DB = _find("mariadb-install-db")
CLIENT = _find("mariadb")
MISSING = None if MARIADBD and INSTALL_DB and CLIENT else (
    "MariaDB is not installed: apt-get install mariadb-server-core mariadb-client-core "
    "(packaging/deps.sh does)")

# Small files and no fsync: a test server holds a few rows and starts in well under a second.
SERVER_OPTIONS = ["--skip-name-resolve", "--innodb-log-file-size=4M",
                  "--innodb-buffer-pool-size=16M", "--innodb-flush-log-at-trx-commit=0",
                  "--innodb-doublewrite=0", "--innodb-undo-tablespaces=0"]


class MariaDB:
    """One mariadbd. port: its TCP port (a free one by default); start=False: installed only."""

    def __init__(self, port=None, start=True):
        self.port = port or free_port()
        self.dir = tempfile.mkdtemp(prefix="execd-mariadb-")
        atexit.register(shutil.rmtree, self.dir, True)
        self.datadir = os.path.join(self.dir, "data")
        self.socket = os.path.join(self.dir, "mysqld.sock")
        self.log = os.path.join(self.dir, "error.log")
        self.proc = None
        user = ["--user=root"] if os.geteuid() == 0 else []
        p = subprocess.run([INSTALL_DB, "--no-defaults", "--datadir=" + self.datadir,
                            "--auth-root-authentication-method=normal", "--skip-test-db"]
                           + user + SERVER_OPTIONS, capture_output=True, text=True, timeout=120)
        if p.returncode != 0:
            raise RuntimeError("mariadb-install-db failed:\n" + p.stdout[-2000:] + p.stderr[-2000:])
        atexit.register(self.stop)
        if start:
            self.start()

    def start(self, timeout=30):
        user = ["--user=root"] if os.geteuid() == 0 else []
        self.proc = subprocess.Popen(
            [MARIADBD, "--no-defaults", "--datadir=" + self.datadir, "--socket=" + self.socket,
             "--port=%d" % self.port, "--bind-address=127.0.0.1", "--log-error=" + self.log,
             "--pid-file=" + os.path.join(self.dir, "mysqld.pid"), "--tmpdir=" + self.dir]
            + user + SERVER_OPTIONS,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("mariadbd exited with %s:\n%s" % (self.proc.returncode,
                                                                     self.errors()))
            if self.sql("SELECT 1", check=False).returncode == 0:
                return
            time.sleep(0.05)
        raise RuntimeError("mariadbd did not come up:\n" + self.errors())

    def stop(self, timeout=30):
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def kill(self):
        """A crash: SIGKILL, no goodbye to the clients."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def errors(self):
        try:
            with open(self.log, errors="replace") as f:
                return f.read()[-3000:]
        except OSError:
            return ""

    def sql(self, query, check=True, database=None):
        """Runs query with the mariadb client as root over the socket; returns the process
        (stdout: tab-separated rows, no header)."""
        argv = [CLIENT, "--no-defaults", "-uroot", "--socket=" + self.socket, "-N", "-B",
                "-e", query]
        if database:
            argv.append(database)
        p = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        if check and p.returncode != 0:
            raise RuntimeError("%s: %s" % (query, p.stderr))
        return p

    def args(self):
        """execd flags that point the SQL executor at this server over TCP."""
        return ["-sql-host", "127.0.0.1", "-sql-port", str(self.port)]
