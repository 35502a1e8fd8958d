"""Compatibility: the official JS SDK (@alibaba-group/opensandbox, pinned) against the daemon.

Needs Node.js >= 20 and the npm registry; the SDK is installed once into t/sdk/node_modules.
"""
import json
import os
import re
import shutil
import subprocess

from execd_test import SRCDIR, Daemon, run_tests

SDK = "@alibaba-group/opensandbox@0.1.11"
SDK_DIR = os.path.join(SRCDIR, "t", "sdk")


def node_ok():
    node = shutil.which("node")
    if node is None or shutil.which("npm") is None:
        return "node/npm not installed"
    version = subprocess.run([node, "--version"], capture_output=True, text=True).stdout.strip()
    m = re.match(r"v(\d+)", version)
    if not m or int(m.group(1)) < 20:
        return "the SDK needs Node.js >= 20 (found %s)" % version
    return None


def install_sdk():
    marker = os.path.join(SDK_DIR, "node_modules", "@alibaba-group", "opensandbox", "package.json")
    if os.path.exists(marker):
        return None
    p = subprocess.run(["npm", "install", "--no-save", "--no-audit", "--no-fund", "--prefix", SDK_DIR, SDK],
                       capture_output=True, text=True, timeout=300)
    if p.returncode != 0:
        return "npm install %s failed: %s" % (SDK, p.stderr[-500:])
    return None


def test_commands(t):
    why = node_ok()
    if why:
        t.skip("JS SDK commands", why)
        return
    err = install_sdk()
    t.ok(err is None, "the SDK installs from the npm registry", err)
    if err:
        return
    with Daemon() as d:
        env = dict(os.environ, EXECD_URL="http://127.0.0.1:%d" % d.port)
        p = subprocess.run(["node", os.path.join(SDK_DIR, "commands.mjs")], capture_output=True,
                           text=True, env=env, timeout=120, cwd=SDK_DIR)
        t.eq(p.returncode, 0, "the SDK script ran", )
        if p.returncode != 0:
            t.diag(p.stdout[-2000:] + p.stderr[-2000:])
            return
        out = json.loads(p.stdout.strip().splitlines()[-1])
        t.eq(out["healthy"], True, "health.ping() is true")
        fg = out["fg"]
        t.ok(re.fullmatch(r"[0-9a-f]{32}", fg["id"] or "") is not None, "the SDK got the command id")
        t.eq(fg["stdout"], ["hello", "a", "\n", "b"], "stdout as the SDK sees it")
        t.eq(fg["stderr"], ["oops"], "stderr as the SDK sees it")
        t.eq((fg["exitCode"], fg["complete"], fg["error"]), (0, True, None), "exit code 0 and complete")
        t.eq(out["failed"], {"exitCode": 3, "ename": "CommandExecError", "evalue": "3"},
             "a failing command: the SDK infers exit code 3")
        t.eq(out["withOpts"], ["hi-from-sdk", "/tmp"], "envs, working directory and timeout options")
        t.eq(out["handlerStdout"], ["streamed"], "onStdout handlers are called")
        t.eq(out["bgStatus"], {"running": False, "exitCode": 0, "hasStarted": True},
             "background status through the SDK")
        t.eq(out["bgLogs"], {"content": "l1\nl2\n", "cursor": 6}, "background logs and the tail cursor")
        t.eq(out["bgLogsAgain"], {"content": "", "cursor": 6}, "reading again from the cursor")
        t.ok("not found" in out["unknownStatus"], "unknown status ids raise", out["unknownStatus"])
        t.eq(out["interrupted"], {"exitCode": -1, "evalue": "-1"}, "interrupt by the init id")


run_tests([test_commands])
