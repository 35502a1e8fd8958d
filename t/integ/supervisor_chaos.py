"""Workers SIGKILLed at random moments while streams, background commands, uploads,
downloads and searches run concurrently: every request still ends with a well-formed answer
(a complete result, or a JSON error), the master survives, and nothing is left behind."""
import http.client
import json
import os
import random
import signal
import threading
import time

from execd_test import Daemon, fd_count, parse_events, run_tests, wait_for
from files_common import Scratch, file_part, meta_part, multipart, temp_leftovers

KILLS = 4
BIG = 8 << 20
TREE = 500


def req(d, method, path, body=None, headers=None):
    c = http.client.HTTPConnection("127.0.0.1", d.port, timeout=60)
    try:
        c.request(method, path, body=body, headers=d.headers(headers or {}))
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


def json_error(status, body):
    """A failure the contract allows while a worker dies: 500/503 with a JSON error body."""
    try:
        err = json.loads(body)
    except ValueError:
        return False
    return status in (500, 503) and isinstance(err, dict) and "code" in err


def stream_or_error(status, body):
    if status != 200:
        return json_error(status, body)
    events = parse_events(body)
    return bool(events) and events[0]["type"] == "init" and \
        events[-1]["type"] in ("execution_complete", "error")


def run_stream(d, rng, s):
    st, body = req(d, "POST", "/command",
                   json.dumps({"command": "for i in $(seq 1 30); do echo $i; sleep 0.01; done"}))
    return stream_or_error(st, body), (st, body[-200:])


def run_background(d, rng, s):
    st, body = req(d, "POST", "/command",
                   json.dumps({"command": "echo bg; sleep 0.2", "background": True}))
    return stream_or_error(st, body), (st, body[-200:])


def run_upload(d, rng, s):
    data = os.urandom(rng.randrange(1, 4) << 20)
    ctype, body = multipart([meta_part(s("up-%d.bin" % rng.randrange(3))), file_part(data)])
    st, answer = req(d, "POST", "/files/upload", body, {"Content-Type": ctype})
    return (st == 200 and answer == b"") or json_error(st, answer), (st, answer[:200])


def run_download(d, rng, s):
    st, body = req(d, "GET", "/files/download?path=" + s("big.bin"))
    return (st == 200 and len(body) == BIG) or json_error(st, body), (st, len(body))


def run_search(d, rng, s):
    st, body = req(d, "GET", "/files/search?path=%s&pattern=*.txt" % s("tree"))
    if st == 200:
        return len(json.loads(body)) == TREE, len(body)
    return json_error(st, body), (st, body[:200])


def test_chaos(t):
    with Scratch() as s, Daemon(expect_worker_deaths=True) as d:
        with open(s("big.bin"), "wb") as f:
            f.write(os.urandom(BIG))
        os.mkdir(s("tree"))
        for i in range(TREE):
            open(s("tree/f%d.txt" % i), "w").close()
        master = d.pids()[0]
        fds_before = fd_count(master)
        stop = threading.Event()
        results, problems = {}, []
        lock = threading.Lock()

        def loop(name, fn, seed):
            rng = random.Random(seed)
            while not stop.is_set():
                start = time.time()
                try:
                    ok, detail = fn(d, rng, s)
                except Exception as e:  # a reset or a timeout is a failure here
                    ok, detail = False, repr(e)
                with lock:
                    n, slowest = results.get(name, (0, 0.0))
                    results[name] = (n + 1, round(max(slowest, time.time() - start), 2))
                    if not ok:
                        problems.append((name, detail))

        work = [("stream", run_stream), ("stream", run_stream), ("background", run_background),
                ("upload", run_upload), ("upload", run_upload), ("download", run_download),
                ("search", run_search)]
        threads = [threading.Thread(target=loop, args=(n, f, i)) for i, (n, f) in enumerate(work)]
        for th in threads:
            th.start()
        rng = random.Random(2026)
        killed = []
        for _ in range(KILLS):
            time.sleep(rng.uniform(1.5, 3))
            workers = d.workers()
            if workers:
                victim = rng.choice(workers)
                os.kill(victim, signal.SIGKILL)
                killed.append(victim)
        time.sleep(1)
        stop.set()
        for th in threads:
            th.join(120)
        t.diag("requests, slowest (s) per kind: %s; workers killed: %d" % (results, len(killed)))
        t.ok(not any(th.is_alive() for th in threads), "no request hangs")
        t.eq(problems, [], "every request ended with a complete answer or a JSON error")
        t.ok(d.proc.poll() is None, "the master survived %d worker kills" % len(killed))
        t.ok(wait_for(lambda: d.ready_workers() == 2 + len(killed), 30), "every slot has a worker again")
        st, body = req(d, "POST", "/command", json.dumps({"command": "echo after"}))
        t.ok(st == 200 and b"after" in body, "commands run afterwards", body[-200:])
        t.ok(wait_for(lambda: fd_count(master) <= fds_before, 10),
             "the master holds no more descriptors than before")
        t.ok(wait_for(lambda: temp_leftovers(s()) == [], 10), "no temporary upload file is left")


run_tests([test_chaos])
