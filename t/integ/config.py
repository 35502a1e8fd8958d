"""Configuration: Go-style flags, environment, ini file, precedence, errors."""
import json
import os
import subprocess
import tempfile

from execd_test import EXECD_BIN, Daemon, free_port, run_tests


def run_execd(args, env=None, timeout=5):
    full = dict(os.environ)
    full.pop("EXECD_ACCESS_TOKEN", None)
    full.update(env or {})
    p = subprocess.run([EXECD_BIN] + args, capture_output=True, text=True, env=full, timeout=timeout)
    return p.returncode, p.stdout + p.stderr


def test_help_and_errors(t):
    code, out = run_execd(["-h"])
    t.eq(code, 0, "-h exits 0")
    t.ok("-port" in out and "-access-token" in out and "EXECD_API_GRACE_SHUTDOWN" in out,
         "usage lists flags and their environment variables")
    cases = [
        (["-nope"], {}, "flag provided but not defined: -nope", "unknown flag"),
        (["-port", "abc"], {}, "-port", "non-numeric port"),
        (["-port", "70000"], {}, "out of range", "port out of range"),
        (["-port"], {}, "flag needs an argument", "flag without value"),
        (["-log-format", "xml"], {}, "text or json", "bad log format"),
        (["-graceful-shutdown-timeout", "5"], {}, "duration", "duration without unit"),
        (["-max-body-size", "10X"], {}, "size", "bad size"),
        ([], {"EXECD_API_GRACE_SHUTDOWN": "soon"}, "EXECD_API_GRACE_SHUTDOWN", "bad env value"),
        (["stray"], {}, "unexpected argument", "positional argument"),
        (["-c", "/no/such/file.conf"], {}, "cannot open config file", "missing config file"),
    ]
    for args, env, needle, desc in cases:
        code, out = run_execd(args, env)
        t.ok(code == 2 and needle in out, "%s: exit 2 naming the setting" % desc, (code, out))
    with tempfile.NamedTemporaryFile("w", suffix=".conf", delete=False) as f:
        f.write("[server]\nport = 99999\n")
    code, out = run_execd(["-c", f.name])
    t.ok(code == 2 and "[server] port" in out, "bad ini value: exit 2 naming section and key", out)
    with open(f.name, "w") as g:
        g.write("[server]\nprot = 1\n")
    code, out = run_execd(["-c", f.name])
    t.ok(code == 2 and "unknown setting [server] prot" in out, "unknown ini key: exit 2", out)
    os.unlink(f.name)


def ping_ok(port, token=None):
    import http.client
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        c.request("GET", "/ping", headers={"X-EXECD-ACCESS-TOKEN": token} if token else {})
        r = c.getresponse()
        r.read()
        return r.status
    except OSError:
        return None


def test_precedence(t):
    ini_port, env_port, flag_port = free_port(), free_port(), free_port()
    conf = "[server]\nport = %d\naccess_token = from-file\n" % ini_port
    d = Daemon("--port=%d" % flag_port, config=conf, env={"EXECD_PORT": str(env_port)},
               token="from-file", token_flag=False, port=flag_port)
    try:
        t.eq(ping_ok(flag_port, "from-file"), 200, "flag beats env and file (--name=value form)")
        t.eq(ping_ok(env_port), None, "the env port is not used")
    finally:
        d.stop()
    d = Daemon(config=conf, env={"EXECD_PORT": str(env_port), "EXECD_ACCESS_TOKEN": "from-env"},
               token="from-env", token_flag=False, port=env_port)
    try:
        t.eq(ping_ok(env_port, "from-env"), 200, "env beats the file (port and token)")
        t.eq(ping_ok(env_port, "from-file"), 401, "the file's token is overridden")
    finally:
        d.stop()
    d = Daemon(config=conf, token="from-file", token_flag=False, port=ini_port)
    try:
        t.eq(ping_ok(ini_port, "from-file"), 200, "the file beats the defaults")
    finally:
        d.stop()
    d = Daemon("-access-token=from-flag", env={"EXECD_ACCESS_TOKEN": "from-env"}, token="from-flag",
               token_flag=False)
    try:
        t.eq(ping_ok(d.port, "from-flag"), 200, "-access-token overrides EXECD_ACCESS_TOKEN")
    finally:
        d.stop()


def test_compat_flags(t):
    with Daemon("-jupyter-host", "http://127.0.0.1:8888", "-jupyter-token", "x",
                "-jupyter-idle-poll-interval", "0", "-graceful-shutdown-timeout", "1500ms",
                "-log-level", "7") as d:
        t.ok("-jupyter-host is ignored" in d.logs(), "Go's Jupyter flags are accepted with a warning")
        t.eq(d.request("GET", "/ping")[0], 200, "the daemon runs with every Go flag given")


def test_shipped_conf_is_the_defaults(t):
    path = os.path.join(os.environ.get("EXECD_SRCDIR", "."), "conf", "execd.conf")
    with Daemon(config=open(path).read()) as d:
        t.eq(d.request("GET", "/ping")[0], 200, "conf/execd.conf loads as is")
    _, usage = run_execd(["-h"])
    text = open(path).read()
    missing = []
    for line in usage.splitlines():
        line = line.strip()
        if line.startswith("-") and line != "-c FILE":
            flag = line.split()[0][1:]
            if "flag -" + flag not in text and "flags -" + flag not in text:
                missing.append(flag)
    t.eq(missing, [], "conf/execd.conf documents every setting")


def test_log_format_json(t):
    """-log-format json: every line of the log, the workers' included, is one JSON object."""
    with Daemon("-log-format", "json", log_file=True) as d:
        d.run("sleep 60", timeout=100)  # a worker logs the timeout's kill
        d.request("GET", "/ping")
        d.stop()
        lines = d.logs().splitlines()
    parsed = []
    for line in lines:
        try:
            parsed.append(json.loads(line))
        except ValueError:
            parsed.append(None)
    t.ok(lines and all(isinstance(p, dict) for p in parsed), "every log line is a JSON object",
         [line for line, p in zip(lines, parsed) if not isinstance(p, dict)][:5])
    good = [p for p in parsed if isinstance(p, dict)]
    t.ok(good and all({"time", "level", "proc", "msg"} <= set(p) for p in good),
         "with time, level, proc and msg", good[:2])
    msgs = [p["msg"] for p in good]
    t.ok(any("GET /ping 200" in m for m in msgs), "the access log too")
    t.ok(any(p["proc"].startswith("worker") and "timeout" in p["msg"] for p in good),
         "and the workers' lines", sorted({p["proc"] for p in good}))


run_tests([test_help_and_errors, test_precedence, test_compat_flags, test_shipped_conf_is_the_defaults,
           test_log_format_json])
