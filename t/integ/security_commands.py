"""Hardening of the command executor against hostile workloads (issue 9, worker side):
identities, bounded records, exit statuses nobody saw, process groups whose leader is gone."""
import glob
import os
import pwd
import signal
import subprocess
import tempfile
import time

from execd_test import Daemon, Stream, run_tests, texts, wait_for

NOBODY = pwd.getpwnam("nobody")


def needs_root(t, what):
    if os.geteuid() != 0:
        t.skip(what, "needs root")
        return True
    return False


def status(d, cid):
    code, _, body = d.json("GET", "/command/status/" + cid)
    return body if code == 200 else {}


def test_gid_clears_groups(t):
    if needs_root(t, "a given gid clears the supplementary groups"):
        return
    with Daemon() as d:
        # root's own group list holds gid 0: with a gid given, Go calls setgroups(0).
        _, _, ev, _ = d.run("id -u; id -g; id -G", uid=0, gid=NOBODY.pw_gid, cwd="/")
        t.eq(texts(ev, "stdout"), ["0", str(NOBODY.pw_gid), str(NOBODY.pw_gid)],
             "uid 0 with a gid: that gid and no supplementary group (as Go)")
        _, _, ev, _ = d.run("id -G", uid=0, cwd="/")
        t.ok("0" in texts(ev, "stdout")[0].split(), "without a gid the user's groups stay",
             texts(ev, "stdout"))


def test_record_content_capped(t):
    big = "true " + "#" * (2 << 20)
    with Daemon(workers=1) as d:
        _, _, ev, _ = d.run(big, background=True)
        cid = ev[0]["text"]
        wait_for(lambda: status(d, cid).get("running") is False, 10)
        content = status(d, cid).get("content", "")
        t.ok(len(content.encode()) <= 4096 + 3 and content.startswith("true ###") and
             content.endswith("\u2026"), "a 2 MB command: its record keeps 4 KiB and a marker",
             len(content))
        records = glob.glob(os.path.join(d.runtime_dir, "w0", "commands", cid + ".json"))
        t.ok(records and os.path.getsize(records[0]) < 16384, "... on disk too",
             [os.path.getsize(r) for r in records])
        if os.geteuid() == 0:
            locked = tempfile.mkdtemp(prefix="execd-locked-")
            try:
                os.chmod(locked, 0o700)
                _, _, ev, _ = d.run(big, background=True, uid=NOBODY.pw_uid, cwd=locked)
                t.ok(ev[-1].get("type") == "error" and "permission denied" in str(ev[-1]),
                     "a background command that cannot start (chdir as nobody)", ev[-1:])
                st = status(d, ev[0]["text"])
                t.ok(st["exit_code"] == 255 and len(st["content"]) < 4100,
                     "its record: exit_code 255 (as Go) and not the 2 MB command", len(st["content"]))
                sizes = [os.path.getsize(p) for p in
                         glob.glob(os.path.join(d.runtime_dir, "w0", "commands", "*.json"))]
                t.ok(max(sizes) < 16384, "... on disk either", sizes)
            finally:
                os.rmdir(locked)
        else:
            t.skip("a spawn failure's record is capped", "needs root (chdir as nobody)")


def test_unknown_status_is_not_255(t):
    with Daemon(workers=1, expect_worker_deaths=True) as d:
        # It ends as soon as its worker is gone: before any replacement exists.
        _, _, ev, _ = d.run("while kill -0 $PPID; do sleep 0.01; done; exit 7", background=True)
        cid = ev[0]["text"]
        worker = d.workers()[0]
        os.kill(worker, signal.SIGKILL)
        t.ok(wait_for(lambda: d.workers() and worker not in d.workers(), 10),
             "the worker running it was killed and replaced")
        t.ok(wait_for(lambda: status(d, cid).get("running") is False, 15), "the command is finished")
        st = status(d, cid)
        # With the master keeping the status for the next worker it is the real one (7); where
        # nobody saw it the record says so instead of inventing 255.
        ok = st.get("exit_code") == 7 or ("exit_code" not in st and
                                           st.get("error") == "exit status unknown")
        t.ok(ok and st.get("exit_code") != 255,
             "its status is the real exit code or 'exit status unknown', never 255", st)


def zombie_or_gone(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            stat = f.read()
        return stat[stat.rindex(")") + 2] == "Z"
    except OSError:
        return True


def take_pid(pid):
    """A new process group leader with pid `pid` (ns_last_pid), or None if pid is taken."""
    for _ in range(20):
        with open("/proc/sys/kernel/ns_last_pid", "w") as f:
            f.write(str(pid - 1))
        p = subprocess.Popen(["sleep", "30"], start_new_session=True)
        if p.pid == pid:
            return p
        p.kill()
        p.wait()
        if os.path.exists("/proc/%d" % pid):
            return None
    return None


def test_group_signal_after_leader(t):
    if needs_root(t, "no signal reaches a process group whose leader was reaped"):
        return
    if not os.access("/proc/sys/kernel/ns_last_pid", os.W_OK):
        t.skip("no signal reaches a process group whose leader was reaped", "no ns_last_pid")
        return
    with Daemon(workers=1) as d:
        # The leader exits at once; a process of another session keeps the output pipe
        # open (and writing), so the command drains for a while after its leader is gone.
        s = Stream(d, "/command", {"command": "echo $$; setsid sh -c 'for i in $(seq 30); do "
                                              "echo x; sleep 0.05; done' &"})
        s.wait(lambda ev: texts(ev, "stdout"))
        leader = int(texts(s.events, "stdout")[0])
        t.ok(wait_for(lambda: zombie_or_gone(leader), 5), "the leader exited")
        decoy = take_pid(leader)
        if decoy is None:
            t.ok(zombie_or_gone(leader) and os.path.exists("/proc/%d" % leader),
                 "the leader's pid stays taken while the command drains (no reuse)")
        else:
            d.send(signal.SIGUSR2)  # forwarded to every running foreground command's group
            time.sleep(0.5)
            alive = decoy.poll() is None
            decoy.kill()
            decoy.wait()
            t.ok(alive, "a forwarded signal does not reach an unrelated group that got the "
                        "leader's pid as its pgid")
        ev = s.finish()
        t.eq(ev[-1].get("type"), "execution_complete", "the command completes")


run_tests([test_gid_clears_groups, test_record_content_capped, test_unknown_status_is_not_255,
           test_group_signal_after_leader])
