"""Helpers for the code-interpreting integration tests (t/integ/code_*.py)."""
from execd_test import HAVE_IPYKERNEL, Daemon, Stream, cmdline, parent_of, processes_with  # noqa: F401

# The code tests run with the daemon's default warm pool (python:1).
Daemon.kernel_pool = None

SLEEPER = "import time\nprint('started', flush=True)\ntime.sleep(%s)\n"


def run_code(d, src, language="python", ctx_id=None, timeout=120):
    """POST /code; returns (status, headers, events, raw)."""
    ctx = {}
    if language is not None:
        ctx["language"] = language
    if ctx_id is not None:
        ctx["id"] = ctx_id
    return d.stream("/code", {"context": ctx, "code": src}, timeout=timeout)


def create_context(d, language="python", cwd=None, timeout=120):
    body = {"language": language}
    if cwd is not None:
        body["cwd"] = cwd
    return d.json("POST", "/code/context", body, timeout=timeout)


def of_type(events, kind):
    return [e for e in events if e.get("type") == kind]


def stdout_text(events):
    return "".join(e.get("text", "") for e in of_type(events, "stdout"))


def kernel_pids(d, marker=None):
    """Kernel processes of daemon d (their connection file lives in its runtime dir)."""
    pids = []
    for pid in processes_with(marker or d.runtime_dir):
        argv = cmdline(pid)
        if b"ipykernel" in argv and d.runtime_dir.encode() in argv:
            pids.append(pid)
    return pids


def kernel_of(d, ctx_id):
    pids = kernel_pids(d, ctx_id)
    return pids[0] if pids else None


class CodeStream(Stream):
    """A /code request whose events are read as they arrive."""

    def __init__(self, d, src, ctx_id=None, language="python", timeout=120):
        ctx = {"language": language}
        if ctx_id is not None:
            ctx["id"] = ctx_id
        super().__init__(d, "/code", {"context": ctx, "code": src}, timeout)

    def wait_started(self, timeout=60):
        return self.wait(lambda ev: "started" in stdout_text(ev), timeout)


def gate(d, name):
    """(path, python code) of a cell that waits until the test creates path."""
    path = "%s/%s" % (d.tmp, name)
    return path, ("import os, time\nwhile not os.path.exists(%r): time.sleep(0.02)\n" % path)


def release(path):
    open(path, "w").close()
