"""Limits on long-lived interpreters (issue 9): -max-kernels bounds code contexts and warm
kernels, -max-sessions bounds bash sessions; past either a creation gets 503
TOO_MANY_REQUESTS with Retry-After, and a deleted one frees its slot."""
import subprocess
import tempfile
import threading

from execd_test import (EXECD_BIN, HAVE_IPYKERNEL, Daemon, cmdline, processes_with, run_tests,
                        wait_for)


def execd_t(args, env=None, conf=None, tmp=None):
    """execd -t with args; returns (exit code, output)."""
    argv = [EXECD_BIN, "-t"] + args
    if conf is not None:
        path = "%s/execd.conf" % tmp
        with open(path, "w") as f:
            f.write(conf)
        argv += ["-c", path]
    p = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=10)
    return p.returncode, p.stdout + p.stderr


def test_bad_values(t):
    cases = [
        (["-max-kernels", "-1"], None, None, "-max-kernels", "-max-kernels -1"),
        (["-max-kernels", "abc"], None, None, "not an integer", "-max-kernels abc"),
        (["-max-sessions", "-1"], None, None, "-max-sessions", "-max-sessions -1"),
        (["-max-sessions", "many"], None, None, "not an integer", "-max-sessions many"),
        ([], {"EXECD_MAX_KERNELS": "abc"}, None, "EXECD_MAX_KERNELS", "EXECD_MAX_KERNELS=abc"),
        ([], None, "[jupyter]\nmax_kernels = -5\n", "[jupyter] max_kernels", "ini max_kernels"),
        ([], None, "[sessions]\nmax_sessions = x\n", "[sessions] max_sessions",
         "ini max_sessions"),
        (["-max-kernels", "2", "-kernel-pool", "python:1,bash:1"], None, None, "no room",
         "a warm pool that fills -max-kernels"),
    ]
    with tempfile.TemporaryDirectory() as tmp:
        for args, env, conf, needle, desc in cases:
            full = {"PATH": "/usr/bin:/bin"}
            full.update(env or {})
            code, out = execd_t(args, full, conf, tmp)
            t.ok(code == 2 and needle in out, "%s: execd -t exits 2 naming it" % desc, (code, out))
        for args in (["-max-kernels", "0", "-max-sessions", "0"], ["-max-kernels", "3"],
                     ["-max-kernels", "2", "-kernel-pool", "python:1"]):
            code, out = execd_t(args, {"PATH": "/usr/bin:/bin"})
            t.eq(code, 0, "execd -t accepts %s" % " ".join(args))


def is_limit_answer(t, got, what):
    """got: (status, headers, body) of a refused creation."""
    status, hdrs, body = got
    t.eq(status, 503, "%s: 503" % what)
    t.eq(hdrs.get("retry-after"), "1", "%s: with Retry-After: 1" % what)
    t.ok(isinstance(body, dict) and body.get("code") == "TOO_MANY_REQUESTS" and
         isinstance(body.get("message"), str), "%s: the contract's error JSON" % what, body)
    return body.get("message", "") if isinstance(body, dict) else ""


def fill(t, d, create, id_key, what, flag, logged):
    """Creates two of what under "flag 2", then checks that a third is refused; returns the
    ids of the two."""
    ids = []
    for _ in range(2):
        status, _, body = create(d)
        t.eq(status, 200, "a %s below the limit is created" % what)
        ids.append(body[id_key])
    message = is_limit_answer(t, create(d), "%s 2: a third %s" % (flag, what))
    t.ok(flag in message and "2" in message, "the message names the limit", message)
    t.ok(logged in d.logs(), "the refusal is logged")
    return ids


def create_session(d):
    return d.json("POST", "/session", {})


def test_session_limit(t):
    with Daemon("-max-sessions", "2") as d:
        ids = fill(t, d, create_session, "session_id", "session", "-max-sessions",
                   "session limit reached")
        t.eq(d.request("POST", "/session/%s/run" % ids[0], {"command": "echo hi"})[0], 200,
             "runs in existing sessions go on")
        t.eq(d.request("DELETE", "/session/%s" % ids[0])[0], 200, "a session is deleted")
        t.eq(create_session(d)[0], 200, "its slot is free: the next creation succeeds")
    with Daemon("-max-sessions", "0") as d:
        t.ok(all(create_session(d)[0] == 200 for _ in range(3)), "-max-sessions 0: no limit")


def create_context(d, language="python"):
    return d.json("POST", "/code/context", {"language": language}, timeout=120)


def kernel_count(d):
    return len([p for p in processes_with(d.runtime_dir) if b"ipykernel" in cmdline(p)])


def test_kernel_limit(t):
    if not HAVE_IPYKERNEL:
        t.skip("the kernel limit", "/usr/bin/python3 has no ipykernel")
        return
    with Daemon("-max-kernels", "2") as d:
        ids = fill(t, d, create_context, "id", "context", "-max-kernels", "kernel limit reached")
        is_limit_answer(t, d.json("POST", "/code", {"context": {"language": "python"},
                                                   "code": "print(1)"}),
                        "a first run without a context id (it would create the default)")
        is_limit_answer(t, create_context(d, "bash"),
                        "a bash context (a kernel or a session shell) counts too")
        t.eq(create_session(d)[0], 200, "sessions have their own limit")
        run = {"context": {"id": ids[0], "language": "python"}, "code": "print(6 * 7)"}
        status, _, raw = d.request("POST", "/code", run, timeout=120)
        t.ok(status == 200 and b"42" in raw, "runs in existing contexts go on", (status, raw))
        t.eq(d.request("DELETE", "/code/contexts/%s" % ids[0])[0], 200, "a context is deleted")
        status, _, body = create_context(d)
        t.eq(status, 200, "its slot is free: the next creation succeeds")
        t.ok(kernel_count(d) <= 2, "never more kernels than the limit", kernel_count(d))


def test_warm_pool_counts(t):
    if not HAVE_IPYKERNEL:
        t.skip("the warm pool's share", "/usr/bin/python3 has no ipykernel")
        return
    with Daemon("-max-kernels", "2", "-kernel-pool", "python:1") as d:
        status, _, _ = create_context(d)
        t.eq(status, 200, "one context beside the warm kernel")
        is_limit_answer(t, create_context(d), "-max-kernels 2 with one warm kernel: a second")
        t.ok(wait_for(lambda: kernel_count(d) == 2, 60),
             "the pool replaced the kernel it handed out", kernel_count(d))
        t.eq(kernel_count(d), 2, "the context's kernel and the warm one, no more")


def test_concurrent_creations(t):
    if not HAVE_IPYKERNEL:
        t.skip("concurrent creations", "/usr/bin/python3 has no ipykernel")
        return
    with Daemon("-max-kernels", "2") as d:
        results = []

        def one():
            results.append(create_context(d)[0])

        threads = [threading.Thread(target=one) for _ in range(6)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        t.eq(sorted(results), [200, 200, 503, 503, 503, 503],
             "6 creations at once under -max-kernels 2: creations in flight count")
        t.ok(kernel_count(d) <= 2, "never more kernels than the limit", kernel_count(d))


run_tests([test_bad_values, test_session_limit, test_kernel_limit, test_warm_pool_counts,
           test_concurrent_creations])
