"""packaging/bootstrap.sh, OpenSandbox's container entrypoint contract: EXECD_ENVS
created, the pre-script sourced, the entry command beside the daemon, SIGTERM
forwarded to it (the Go daemon's regression test #793), exit statuses."""
import os
import shutil
import signal
import subprocess
import tempfile

from execd_test import (EXECD_BIN, SRCDIR, children_of, free_port, parse_events, run_tests, texts,
                        wait_for)

BOOTSTRAP = os.path.join(SRCDIR, "packaging", "bootstrap.sh")


class Bootstrap:
    """bootstrap.sh started with the real daemon, configured through its
    environment (the script starts it without arguments)."""

    def __init__(self, args=(), env=None, shell="sh"):
        self.tmp = tempfile.mkdtemp(prefix="execd-bootstrap-")
        self.port = free_port()
        self.log_path = os.path.join(self.tmp, "out.log")
        full = dict(os.environ)
        full.pop("EXECD_ACCESS_TOKEN", None)
        full.update({
            "EXECD": EXECD_BIN,
            "EXECD_ENVS": os.path.join(self.tmp, "opensandbox", ".env"),
            "EXECD_PORT": str(self.port),
            "EXECD_LISTEN": "127.0.0.1",
            "EXECD_WORKERS": "1",
            "EXECD_KERNEL_POOL": "",
            "EXECD_RUNTIME_DIR": os.path.join(self.tmp, "rt"),
        })
        full.update(env or {})
        self.env = full
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen([shell, BOOTSTRAP] + list(args), env=full, cwd=self.tmp,
                                     stdin=subprocess.DEVNULL, stdout=self.log,
                                     stderr=subprocess.STDOUT, start_new_session=True)

    def output(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def daemon_pid(self):
        """The daemon: the script's child running EXECD_BIN."""
        for pid in children_of(self.proc.pid):
            try:
                if os.readlink("/proc/%d/exe" % pid) == os.path.realpath(EXECD_BIN):
                    return pid
            except OSError:
                pass
        return None

    def run(self, command):
        import http.client
        import json
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            c.request("POST", "/command", json.dumps({"command": command}))
            r = c.getresponse()
            body = r.read()
            return parse_events(body) if r.status == 200 else []
        finally:
            c.close()

    def ready(self):
        try:
            return any(e.get("type") == "execution_complete" for e in self.run("true"))
        except OSError:
            return False

    def wait(self, timeout=20):
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
            return None

    def close(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self.log.close()
        shutil.rmtree(self.tmp, True)


def write_script(path, text):
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, 0o755)


# The Go repository's tests/sigterm_forward.sh, in Python: the helper traps TERM,
# writes a marker and exits; SIGTERM to the bootstrap PID must reach it.
HELPER = """#!/bin/sh
trap 'echo received > "$1/sigterm_received"; exit 0' TERM
touch "$1/started"
while :; do sleep 0.05; done
"""


def test_sigterm_forwarded(t):
    # One run per shell the script may be started with.
    for shell in ("sh", "bash"):
        tmp = tempfile.mkdtemp(prefix="execd-bootstrap-helper-")
        try:
            helper = os.path.join(tmp, "helper.sh")
            write_script(helper, HELPER)
            b = Bootstrap(shell=shell, env={"BOOTSTRAP_SHELL": "bash",
                                            "BOOTSTRAP_CMD": "%s %s" % (helper, tmp)})
            try:
                started = wait_for(lambda: os.path.exists(os.path.join(tmp, "started")), 10)
                t.ok(started, "%s: the entry command started" % shell, b.output())
                t.ok(wait_for(b.ready, 10), "%s: the daemon serves beside it" % shell, b.output())
                daemon = b.daemon_pid()
                b.proc.send_signal(signal.SIGTERM)
                marker = os.path.join(tmp, "sigterm_received")
                t.ok(wait_for(lambda: os.path.exists(marker), 3),
                     "%s: SIGTERM reached the entry command within 3 s" % shell, b.output())
                code = b.wait()
                t.eq(code, 0, "%s: exit status is the daemon's after a clean stop" % shell)
                t.ok(daemon is not None and not os.path.exists("/proc/%d" % daemon),
                     "%s: the daemon was stopped too" % shell, b.output())
            finally:
                b.close()
        finally:
            shutil.rmtree(tmp, True)


def test_envs_and_pre_script(t):
    tmp = tempfile.mkdtemp(prefix="execd-bootstrap-pre-")
    try:
        pre = os.path.join(tmp, "pre.sh")
        with open(pre, "w") as f:
            # Sourced: its export reaches the daemon; it can also fill EXECD_ENVS.
            f.write('export FROM_PRE=pre-value\necho "FROM_FILE=file-value" >> "$EXECD_ENVS"\n')
        b = Bootstrap(env={"EXECD_BOOTSTRAP_PRE_SCRIPT": pre, "BOOTSTRAP_CMD": "sleep 30"})
        try:
            envs = b.env["EXECD_ENVS"]
            t.ok(wait_for(b.ready, 10), "the daemon starts", b.output())
            t.ok(os.path.isfile(envs), "EXECD_ENVS and its directory are created")
            events = b.run("echo $FROM_PRE $FROM_FILE ${EXECD_ENVS-unset}")
            t.eq(texts(events, "stdout"), ["pre-value file-value unset"],
                 "the pre-script's exports and the EXECD_ENVS file reach commands "
                 "(the daemon's EXECD_* settings do not)")
            b.proc.send_signal(signal.SIGTERM)
            t.eq(b.wait(), 0, "SIGTERM: exit 0")
        finally:
            b.close()
        b = Bootstrap(env={"EXECD_BOOTSTRAP_PRE_SCRIPT": os.path.join(tmp, "missing.sh"),
                           "BOOTSTRAP_CMD": "true"})
        try:
            t.eq(b.wait(), 0, "a missing pre-script is a warning, not a failure")
            t.ok("missing.sh is not a readable file" in b.output(), "and it is reported", b.output())
        finally:
            b.close()
    finally:
        shutil.rmtree(tmp, True)


def test_entry_command_forms(t):
    cases = [
        ((), {"BOOTSTRAP_CMD": "exit 7"}, 7, "BOOTSTRAP_CMD through the shell"),
        (("-c", "true && exit 5"), {}, 5, "-c with a chained command"),
        (("sh", "-c", "exit 3"), {}, 3, "argv run as is"),
        ((), {"BOOTSTRAP_CMD": "exit 4", "BOOTSTRAP_SHELL": "sh"}, 4, "BOOTSTRAP_SHELL"),
        ((), {}, 0, "no command: a shell, which ends at once without input"),
    ]
    for args, env, want, desc in cases:
        b = Bootstrap(args, env)
        try:
            code = b.wait()
            t.eq(code, want, "%s: the command's exit status" % desc)
            out = b.output()
            t.ok("bootstrap: starting" in out, "%s: the daemon was started" % desc, out)
        finally:
            b.close()
    # The daemon is stopped when the command ends on its own.
    b = Bootstrap(env={"BOOTSTRAP_CMD": "sleep 1"})
    try:
        t.ok(wait_for(b.ready, 10), "the daemon serves while the command runs", b.output())
        daemon = b.daemon_pid()
        t.eq(b.wait(), 0, "the command's status once it ends")
        t.ok(daemon is not None and not os.path.exists("/proc/%d" % daemon),
             "the daemon was stopped with it")
    finally:
        b.close()


def test_script_is_posix(t):
    if shutil.which("dash") is None:
        t.skip("the script parses with dash", "dash not installed")
        return
    p = subprocess.run(["dash", "-n", BOOTSTRAP], capture_output=True, text=True)
    t.eq((p.returncode, p.stderr), (0, ""), "the script parses with dash (POSIX sh)")


run_tests([test_sigterm_forwarded, test_envs_and_pre_script, test_entry_command_forms,
           test_script_is_posix])
