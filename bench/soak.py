#!/usr/bin/env python3
"""Soak: a long mixed load on one daemon while its resources are sampled.

100,000 commands, 10,000 code runs, 10,000 bash session runs, 2,000 uploads each
downloaded back and compared, and 2,000 PTY sessions (each runs a command followed over
its WebSocket, then is deleted), times --scale, shuffled and sent by --clients threads on
kept-alive connections (each client with its own code context and bash session). Every
--interval seconds the sampler records the master's and each worker's descriptor count and
RSS, the zombies among the daemon's descendants and the number of files under the runtime
directory.

Pass/fail: every request answered as expected, no worker replaced, no worker or kernel
death in the daemon's log, no zombie left, and the resources flat: the last sample (after
the load and a settle) against the one at half the load, within a small slack
(descriptors +4, RSS +10% +2 MiB, runtime files +5% +20). Finished command records (one
file each under the runtime directory) pile up past their cap of 10,000 per worker until
the retention sweep, every 60 s, drops the excess: they are counted apart, and the last
sample waits for a sweep after the load, when each worker must hold at most the cap. Exit
status 0 when everything held, 1 otherwise.

    python3 bench/soak.py                 # the full run (RESULTS.md)
    python3 bench/soak.py --scale 0.01    # a quick one
"""
import argparse
import http.client
import json
import os
import queue
import random
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "t", "lib"))
import execd_test  # noqa: E402
from execd_test import Daemon, children_of, fd_count, rss_kb, state_of  # noqa: E402
from wsclient import PtyClient, new_session  # noqa: E402

FULL = {"command": 100000, "code": 10000, "upload": 2000, "session": 10000, "pty": 2000}
RECORDS_CAP = 10000  # finished command records a worker keeps (worker/command/cmdstore.c)
SWEEP_S = 60  # how often a worker drops the records beyond the cap (worker/command/command.c)
FILE_NAMES = 50  # uploads rotate over this many files, so the directory stays bounded
BOUNDARY = "soak-boundary-7f3a"


def fds(pid):
    """Descriptors of pid, -1 when it is gone (a worker replaced between two looks)."""
    try:
        return fd_count(pid)
    except OSError:
        return -1


def descendants(pid):
    out, todo = [], [pid]
    while todo:
        for child in children_of(todo.pop()):
            out.append(child)
            todo.append(child)
    return out


def worker_slots(d):
    """{slot: pid} of the daemon's workers."""
    return {d.worker_slot(pid): pid for pid in d.workers()}


def file_counts(top):
    """Files under the runtime directory other than command records, and the command
    records (RUNTIME/wN/commands/ID) per worker directory."""
    other, records = 0, {}
    for path, _, files in os.walk(top):
        if os.path.basename(path) == "commands":
            records[os.path.basename(os.path.dirname(path))] = len(files)
        else:
            other += len(files)
    return other, records


class Sampler(threading.Thread):
    def __init__(self, d, interval, progress):
        super().__init__(daemon=True)
        self.d, self.interval, self.progress = d, interval, progress
        self.samples = []
        self.stop = threading.Event()

    def sample(self):
        master = self.d.proc.pid
        zombies = sum(1 for p in descendants(master) if state_of(p) == "Z")
        other, records = file_counts(self.d.runtime_dir)
        s = {"t": round(time.time() - self.progress["start"], 1), "done": self.progress["done"],
             "master_fds": fds(master), "master_rss_kb": rss_kb(master), "workers": {},
             "zombies": zombies, "runtime_files": other, "records": records}
        for slot, pid in sorted(worker_slots(self.d).items()):
            s["workers"][slot] = {"pid": pid, "fds": fds(pid), "rss_kb": rss_kb(pid)}
        self.samples.append(s)
        return s

    def run(self):
        while not self.stop.wait(self.interval):
            print_sample(self.sample())


def print_sample(s):
    workers = " ".join("w%d %d/%dM" % (k, w["fds"], w["rss_kb"] // 1024)
                       for k, w in s["workers"].items())
    print("%7.1fs %8d done | master %d fds %dM | %s | zombies %d | runtime files %d + %d records"
          % (s["t"], s["done"], s["master_fds"], s["master_rss_kb"] // 1024, workers,
             s["zombies"], s["runtime_files"], sum(s["records"].values())), flush=True)


class Client:
    """One thread's kept-alive connection; each call checks its answer."""

    def __init__(self, d, files_dir, n):
        self.d = d
        # Each client has its own file names: a download must give back exactly its upload.
        self.files_dir = os.path.join(files_dir, "c%d" % n)
        os.makedirs(self.files_dir)
        self.conn = d.conn(timeout=120)
        # A context runs one execution at a time: each client has its own, from the start.
        status, raw = self.request("POST", "/code/context", json.dumps({"language": "python"}),
                                   {"Content-Type": "application/json"})
        if status != 200:
            raise RuntimeError("cannot create a code context: %d %r" % (status, raw[-300:]))
        self.context = json.loads(raw)["id"]
        # A bash session per client as well; each run shows the variable the last one set.
        status, raw = self.request("POST", "/session", "", {"Content-Type": "application/json"})
        if status != 200:
            raise RuntimeError("cannot create a session: %d %r" % (status, raw[-300:]))
        self.session_id = json.loads(raw)["session_id"]
        self.session_x = ""

    def request(self, method, path, body=None, headers=None):
        for attempt in (0, 1):
            try:
                self.conn.request(method, path, body=body, headers=self.d.headers(headers))
                r = self.conn.getresponse()
                return r.status, r.read()
            except (http.client.HTTPException, OSError):
                # A connection the server closed while idle: once more on a new one.
                self.conn.close()
                self.conn = self.d.conn(timeout=120)
                if attempt:
                    raise

    def command(self, i):
        fail = i % 10 == 0
        cmd = "echo soak-%d >&2; exit 3" % i if fail else "echo soak-%d" % i
        status, raw = self.request("POST", "/command", json.dumps({"command": cmd}),
                                   {"Content-Type": "application/json"})
        want = b'"type":"error"' if fail else b'"type":"execution_complete"'
        return status == 200 and want in raw and (b"soak-%d" % i) in raw

    def code(self, i):
        body = {"code": "x = %d\nprint(x * 2)" % i,
                "context": {"id": self.context, "language": "python"}}
        status, raw = self.request("POST", "/code", json.dumps(body),
                                   {"Content-Type": "application/json"})
        ok = status == 200 and (b'"text":"%d' % (i * 2)) in raw
        if not ok:
            print("code %d: %d %r" % (i, status, raw[-300:]), flush=True)
        return ok

    def session(self, i):
        body = {"command": "echo soak-$x; x=%d" % i}
        status, raw = self.request("POST", "/session/%s/run" % self.session_id, json.dumps(body),
                                   {"Content-Type": "application/json"})
        ok = (status == 200 and (b'"text":"soak-%s"' % self.session_x.encode()) in raw
              and b'"type":"execution_complete"' in raw)
        if not ok:
            print("session %d: %d %r" % (i, status, raw[-300:]), flush=True)
        self.session_x = str(i)
        return ok

    def pty(self, i):
        """A PTY session running one command, followed over its WebSocket, then deleted."""
        sid = new_session(self.d, {"command": "echo pty-%d" % i})
        c = PtyClient(self.d, sid)
        try:
            ended = c.until(lambda c: c.exit_code is not None, 60)
        finally:
            c.shutdown()
        seen = c.out + (c.replay[1] if c.replay else b"")
        status, _ = self.request("DELETE", "/pty/" + sid)
        ok = ended and c.exit_code == 0 and (b"pty-%d" % i) in seen and status == 200
        if not ok:
            print("pty %d: exit %r, delete %d, %r" % (i, c.exit_code, status, seen[-200:]),
                  flush=True)
        return ok

    def upload(self, i):
        path = os.path.join(self.files_dir, "f%d" % (i % FILE_NAMES))
        data = os.urandom(4096 + i % 4096)
        meta = json.dumps({"path": path}).encode()
        body = b"".join([
            b"--" + BOUNDARY.encode() + b"\r\n",
            b'Content-Disposition: form-data; name="metadata"\r\n\r\n', meta, b"\r\n",
            b"--" + BOUNDARY.encode() + b"\r\n",
            b'Content-Disposition: form-data; name="file"; filename="f"\r\n',
            b"Content-Type: application/octet-stream\r\n\r\n", data, b"\r\n",
            b"--" + BOUNDARY.encode() + b"--\r\n"])
        status, raw = self.request("POST", "/files/upload", body,
                                   {"Content-Type": "multipart/form-data; boundary=" + BOUNDARY})
        if status != 200:
            return False
        status, got = self.request("GET", "/files/download?path=" + path)
        return status == 200 and got == data


def run_load(ops, clients, progress, failures):
    """Runs ops on the clients, one thread each."""
    q = queue.Queue()
    for op in ops:
        q.put(op)

    def worker(c):
        while True:
            try:
                kind, i = q.get_nowait()
            except queue.Empty:
                return
            try:
                ok = getattr(c, kind)(i)
            except Exception as e:  # noqa: BLE001 - any failure is counted and shown
                ok = False
                print("%s %d: %r" % (kind, i, e), flush=True)
            with progress["lock"]:
                progress["done"] += 1
                if not ok:
                    failures[kind] = failures.get(kind, 0) + 1

    threads = [threading.Thread(target=worker, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def flat(mid, end):
    """Names of the resources that grew from mid to end beyond the slack."""
    grew = []
    if end["master_fds"] > mid["master_fds"] + 4:
        grew.append("master fds %d -> %d" % (mid["master_fds"], end["master_fds"]))
    if end["master_rss_kb"] > mid["master_rss_kb"] * 1.1 + 2048:
        grew.append("master RSS %d -> %d kB" % (mid["master_rss_kb"], end["master_rss_kb"]))
    for slot, w in end["workers"].items():
        m = mid["workers"].get(slot)
        if m is None:
            continue
        if w["fds"] > m["fds"] + 4:
            grew.append("worker %d fds %d -> %d" % (slot, m["fds"], w["fds"]))
        if w["rss_kb"] > m["rss_kb"] * 1.1 + 2048:
            grew.append("worker %d RSS %d -> %d kB" % (slot, m["rss_kb"], w["rss_kb"]))
    if end["runtime_files"] > mid["runtime_files"] * 1.05 + 20:
        grew.append("runtime files %d -> %d" % (mid["runtime_files"], end["runtime_files"]))
    for w, n in sorted(end["records"].items()):
        if n > RECORDS_CAP:
            grew.append("%s holds %d command records, cap %d" % (w, n, RECORDS_CAP))
    return grew


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scale", type=float, default=1.0, help="fraction of the full counts")
    ap.add_argument("--clients", type=int, default=4, help="concurrent client connections")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--interval", type=float, default=10.0, help="seconds between samples")
    ap.add_argument("--json", help="write every sample and the summary to this file")
    args = ap.parse_args()

    counts = {k: max(1, int(v * args.scale)) for k, v in FULL.items()}
    ops = [(kind, i) for kind, n in counts.items() for i in range(n)]
    random.Random(9).shuffle(ops)

    Daemon.kernel_pool = None  # the default warm pool: code runs need a python kernel
    with Daemon(workers=args.workers, token="soak-token") as d:
        files_dir = os.path.join(d.tmp, "files")
        os.makedirs(files_dir)
        progress = {"done": 0, "start": time.time(), "lock": threading.Lock()}
        failures = {}
        slots_before = worker_slots(d)
        sampler = Sampler(d, args.interval, progress)
        print("soak: %s, %d clients, %d workers; runtime dir %s" % (
            ", ".join("%d %s" % (n, k) for k, n in counts.items()), args.clients, args.workers,
            d.runtime_dir), flush=True)
        print_sample(sampler.sample())
        sampler.start()

        clients = [Client(d, files_dir, n) for n in range(args.clients)]
        half = len(ops) // 2
        run_load(ops[:half], clients, progress, failures)
        mid = sampler.sample()
        run_load(ops[half:], clients, progress, failures)
        took = time.time() - progress["start"]
        time.sleep(SWEEP_S + 5)  # the last streams end, a retention sweep passes
        sampler.stop.set()
        sampler.join()
        end = sampler.sample()
        print_sample(end)
        slots_after = worker_slots(d)
        samples = sampler.samples

    grew = flat(mid, end)
    zombies_max = max(s["zombies"] for s in samples)
    replaced = slots_after != slots_before
    deaths = execd_test.unexpected_deaths  # from the daemon's log, once it stopped
    ok = not failures and not grew and end["zombies"] == 0 and not replaced and not deaths
    print()
    print("operations: %d in %.0f s (%.0f/s); failed: %s" % (
        len(ops), took, len(ops) / took, failures or "none"))
    print("workers replaced: %s" % ("yes %s -> %s" % (slots_before, slots_after)
                                     if replaced else "no"))
    print("worker or kernel deaths in the log: %s" % ("; ".join(deaths) or "none"))
    print("zombies: %d at the end, %d at most in a sample" % (end["zombies"], zombies_max))
    print("mid -> end: master %d -> %d fds, %d -> %d kB; runtime files %d -> %d" % (
        mid["master_fds"], end["master_fds"], mid["master_rss_kb"], end["master_rss_kb"],
        mid["runtime_files"], end["runtime_files"]))
    for slot, w in end["workers"].items():
        m = mid["workers"].get(slot, w)
        print("              worker %d %d -> %d fds, %d -> %d kB" % (
            slot, m["fds"], w["fds"], m["rss_kb"], w["rss_kb"]))
    print("command records: %d at most in a sample; at the end %s (cap %d per worker)" % (
        max(sum(s["records"].values()) for s in samples),
        ", ".join("%s %d" % kv for kv in sorted(end["records"].items())), RECORDS_CAP))
    print("flat: %s" % ("yes" if not grew else "NO: " + "; ".join(grew)))
    print("result: %s" % ("PASS" if ok else "FAIL"))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"counts": counts, "seconds": took, "failures": failures, "mid": mid,
                       "end": end, "samples": samples, "grew": grew, "pass": ok}, f, indent=1)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
