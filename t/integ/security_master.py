"""Hostile clients against the master (issue 9, part A): header floods, unauthenticated
bodies, where the access token can leak (children's environments, /proc/PID/cmdline) and
the token file."""
import os
import shutil
import signal
import socket
import subprocess
import tempfile

from execd_test import (Daemon, EXECD_BIN, SANITIZED, read_to_close, run_tests, rss_kb, texts,
                        wait_for)

TOKEN = "s3cret-token-of-the-test"


def connect(d, timeout=10):
    s = socket.create_connection(("127.0.0.1", d.port))
    s.settimeout(timeout)
    return s


def flat_rss(t, grown_kb, limit_kb, desc):
    if SANITIZED:
        t.skip(desc, "sanitizer build")
    else:
        t.ok(grown_kb < limit_kb, "%s (+%d KiB at most)" % (desc, grown_kb))


def flood_headers(s, total, pid):
    """Sends header lines until total bytes went out or the server stops reading; returns
    the bytes sent and pid's highest RSS meanwhile."""
    line = b"X-a: b\r\n"
    block = line * (65536 // len(line))
    sent, peak = 0, 0
    try:
        while sent < total:
            s.sendall(block)
            sent += len(block)
            peak = max(peak, rss_kb(pid))
        s.sendall(b"\r\n")
    except OSError:
        pass
    return sent, peak


def test_header_flood(t):
    with Daemon(token=TOKEN) as d:
        master = d.proc.pid
        before = rss_kb(master)
        s = connect(d)
        s.sendall(b"GET /ping HTTP/1.1\r\nHost: x\r\n")
        sent, peak = flood_headers(s, 20 << 20, master)
        answer = read_to_close(s)
        s.close()
        t.ok(answer.startswith(b"HTTP/1.1 431 "), "20 MB of header lines without a token: 431",
             answer[:200])
        t.ok(sent < (20 << 20), "the master stops reading the flood (%d bytes went out)" % sent)
        flat_rss(t, peak - before, 8 * 1024, "master RSS stays flat")
        t.eq(d.request("GET", "/ping")[0], 200, "the daemon serves on")


def head_with(n_headers, value=b"v"):
    return (b"GET /ping HTTP/1.1\r\nHost: x\r\n" +
            b"".join(b"X-h%d: %s\r\n" % (i, value) for i in range(n_headers - 1)) + b"\r\n")


def exchange(d, payload):
    s = connect(d, 5)
    try:
        s.sendall(payload)
    except OSError:
        pass
    answer = read_to_close(s)
    s.close()
    return answer


def test_header_limits(t):
    with Daemon() as d:
        t.ok(exchange(d, head_with(100)).startswith(b"HTTP/1.1 200 "), "100 header fields pass")
        t.ok(exchange(d, head_with(101)).startswith(b"HTTP/1.1 431 "), "101 header fields: 431")
        big = head_with(10, b"v" * 7500)
        t.ok(exchange(d, big).startswith(b"HTTP/1.1 431 "), "67 KiB of header fields: 431")
        t.eq(d.request("GET", "/ping")[0], 200, "the daemon serves on")
    with Daemon("-max-headers", "5", "-max-header-size", "200") as d:
        t.ok(exchange(d, head_with(5)).startswith(b"HTTP/1.1 200 "), "-max-headers 5: 5 pass")
        t.ok(exchange(d, head_with(6)).startswith(b"HTTP/1.1 431 "), "-max-headers 5: 6 get 431")
        t.ok(exchange(d, head_with(2, b"v" * 200)).startswith(b"HTTP/1.1 431 "),
             "-max-header-size 200: a 200-byte value gets 431")


def test_unauthenticated_body(t):
    with Daemon(token=TOKEN) as d:
        master = d.proc.pid
        before = rss_kb(master)
        s = connect(d, 5)
        s.sendall(b"POST /command HTTP/1.1\r\nHost: x\r\nContent-Length: 16000000\r\n\r\n")
        head = b""
        try:
            head = s.recv(4096)
        except OSError:
            pass
        t.ok(head.startswith(b"HTTP/1.1 401 "), "401 right after the headers, before the body",
             head[:200])
        t.ok(b"Connection: close" in head, "and the connection closes", head[:300])
        peak = before
        try:
            for _ in range(15000000 // 65536):
                s.sendall(b"x" * 65536)
                peak = max(peak, rss_kb(master))
        except OSError:
            pass
        s.close()
        flat_rss(t, peak - before, 4 * 1024, "the body is not buffered")
        up = connect(d, 5)
        up.sendall(b"POST /files/upload HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n"
                   b"Content-Type: multipart/form-data; boundary=b\r\n\r\n")
        try:
            head = up.recv(4096)
        except OSError:
            head = b""
        up.close()
        t.ok(head.startswith(b"HTTP/1.1 401 "), "an upload without the token: 401 at once",
             head[:200])
        t.eq(d.request("GET", "/ping")[0], 200, "the daemon serves on")


HAVE_IPYKERNEL = os.system("/usr/bin/python3 -c 'import ipykernel' >/dev/null 2>&1") == 0
LEAKY = ("EXECD_", "JUPYTER_TOKEN=")


def leaked(lines):
    return [l for l in lines if l.startswith(LEAKY)]


def test_children_environment(t):
    envfile = os.path.join(os.environ.get("TMPDIR", "/tmp"), "execd-sec-envs-%d" % os.getpid())
    with open(envfile, "w") as f:
        f.write("FROM_ENVS_FILE=yes\n")
    env = {"EXECD_ACCESS_TOKEN": TOKEN, "JUPYTER_TOKEN": "jt", "EXECD_ENVS": envfile,
           "EXECD_LOG_LEVEL": "6", "FROM_DAEMON": "kept"}
    try:
        with Daemon("-kernel-pool", "", env=env, token=TOKEN, token_flag=False) as d:
            _, _, ev, _ = d.run("env")
            out = texts(ev, "stdout")
            t.eq(leaked(out), [], "a command sees no EXECD_* and no JUPYTER_TOKEN")
            t.ok("FROM_ENVS_FILE=yes" in out and "FROM_DAEMON=kept" in out,
                 "the EXECD_ENVS file and the rest of the daemon's environment still reach it", out)
            if os.geteuid() == 0:
                _, _, ev, _ = d.run("env", uid=65534)
                out = texts(ev, "stdout")
                t.ok(out and not leaked(out), "nor as uid 65534", out)
            else:
                t.skip("nor as uid 65534", "needs root")
            for w in d.workers():
                with open("/proc/%d/environ" % w, "rb") as f:
                    names = [v.decode() for v in f.read().split(b"\0")]
                t.eq(leaked(names), [], "worker %d's own environment has none either" % w)
            if HAVE_IPYKERNEL:
                src = ("import os\nprint([k for k in os.environ if k.startswith('EXECD_') "
                       "or k == 'JUPYTER_TOKEN'], os.environ.get('FROM_ENVS_FILE'))")
                _, _, ev, _ = d.stream("/code", {"context": {"language": "python"}, "code": src},
                                       timeout=120)
                t.eq(texts(ev, "stdout"), ["[] yes\n"], "nor does a kernel")
            else:
                t.skip("nor does a kernel", "ipykernel not installed")
    finally:
        os.unlink(envfile)


def test_token_not_in_cmdline(t):
    for form in (["-access-token", TOKEN], ["-access-token=" + TOKEN]):
        with Daemon(*form, token=TOKEN, token_flag=False) as d:
            with open("/proc/%d/cmdline" % d.proc.pid, "rb") as f:
                cmdline = f.read()
            t.ok(TOKEN.encode() not in cmdline and cmdline.startswith(b"execd: master"),
                 "%s: the token is not in /proc/PID/cmdline" % form[0], cmdline)
            d.send(signal.SIGHUP)
            t.ok(wait_for(lambda: d.logs().count(") ready") >= 4, 10),
                 "SIGHUP reloads", d.logs()[-800:])
            t.eq(d.request("GET", "/ping")[0], 200, "after a reload the token still works")
            t.eq(d.request("GET", "/ping", headers={"X-EXECD-ACCESS-TOKEN": "*"})[0], 401,
                 "and the wiped value is no token")


def write_token(path, text, mode):
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)


def run_execd(args, timeout=10):
    env = dict(os.environ)
    env.pop("EXECD_ACCESS_TOKEN", None)
    p = subprocess.run([EXECD_BIN, "-workers", "1", "-listen", "127.0.0.1", "-port", "1"] + args,
                       capture_output=True, text=True, env=env, timeout=timeout)
    return p.returncode, p.stdout + p.stderr


def test_token_file(t):
    tmp = tempfile.mkdtemp(prefix="execd-token-")
    path = os.path.join(tmp, "token")
    try:
        write_token(path, TOKEN + "\n", 0o600)
        with Daemon("-access-token-file", path, token=TOKEN, token_flag=False) as d:
            t.eq(d.request("GET", "/ping")[0], 200,
                 "the token from the file works (its trailing newline stripped)")
            t.eq(d.request("GET", "/ping", headers={"X-EXECD-ACCESS-TOKEN": "x"})[0], 401,
                 "another token gets 401")
            write_token(path, "second-token", 0o600)
            d.send(signal.SIGHUP)
            d.token = "second-token"
            t.ok(wait_for(lambda: d.request("GET", "/ping")[0] == 200, 10),
                 "SIGHUP re-reads the file")
            write_token(path, "third-token", 0o644)
            d.send(signal.SIGHUP)
            t.ok(wait_for(lambda: "not reloaded" in d.logs(), 10),
                 "a reload with a readable file is refused", d.logs()[-500:])
            t.eq(d.request("GET", "/ping")[0], 200, "and the token stays")
        write_token(path, TOKEN, 0o644)
        code, out = run_execd(["-access-token-file", path])
        t.ok(code == 2 and "chmod 600" in out, "a 0644 token file: exit 2", (code, out))
        write_token(path, TOKEN, 0o640)
        code, out = run_execd(["-access-token-file", path])
        t.ok(code == 2 and "group or others" in out, "a 0640 token file: exit 2", (code, out))
        write_token(path, "\n", 0o600)
        code, out = run_execd(["-access-token-file", path])
        t.ok(code == 2 and "one line" in out, "an empty token file: exit 2", (code, out))
        code, out = run_execd(["-access-token-file", os.path.join(tmp, "missing")])
        t.ok(code == 2 and "cannot open" in out, "a missing token file: exit 2", (code, out))
        write_token(path, TOKEN, 0o600)
        code, out = run_execd(["-access-token-file", path, "-access-token", "x"])
        t.ok(code == 2 and "both" in out, "a token and a token file: exit 2", (code, out))
        if os.geteuid() == 0:
            os.chown(path, 65534, 65534)
            code, out = run_execd(["-access-token-file", path])
            t.ok(code == 2 and "owned by uid 0" in out, "a file of another user: exit 2",
                 (code, out))
        else:
            t.skip("a file of another user: exit 2", "needs root")
    finally:
        shutil.rmtree(tmp, True)


def test_no_token_warning(t):
    warning = "no access token: anyone who reaches"
    with Daemon("-listen", "0.0.0.0") as d:
        t.ok(warning in d.logs(), "no token on 0.0.0.0: a warning at startup", d.logs()[:800])
    with Daemon() as d:
        t.ok(warning not in d.logs(), "no warning on a loopback address")
    with Daemon("-listen", "0.0.0.0", token=TOKEN) as d:
        t.ok(warning not in d.logs(), "no warning with a token")


run_tests([test_header_flood, test_header_limits, test_unauthenticated_body,
           test_children_environment, test_token_not_in_cmdline, test_token_file,
           test_no_token_warning])
