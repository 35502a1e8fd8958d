"""Ready means ready (issue 9, part A): the daemon answers only once its workers are up, a
request that finds no ready worker (a respawn) waits for one, 503 with Retry-After only past
-worker-wait; a background command whose worker was killed keeps its real exit status."""
import os
import signal
import socket
import time

from execd_test import Daemon, run_tests, texts, wait_for
from files_common import file_part, meta_part, upload


def ping_then_command(d, timeout=10):
    """As an SDK does: /ping until it answers, then at once a command on the same connection.
    Returns both status lines."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            s = socket.create_connection(("127.0.0.1", d.port))
            break
        except OSError:
            time.sleep(0.001)
    s.settimeout(5)
    s.sendall(b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n")
    ping = s.recv(4096)
    body = b'{"command":"true"}'
    s.sendall(b"POST /command HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s"
              % (len(body), body))
    command = s.recv(4096)
    s.close()
    return ping.split(b"\r\n")[0], command.split(b"\r\n")[0]


def test_ready_at_start(t):
    got = []
    for _ in range(5):
        with Daemon(workers=1, wait=False) as d:
            got.append(ping_then_command(d))
    t.eq(got, [(b"HTTP/1.1 200 OK", b"HTTP/1.1 200 OK")] * 5,
         "a command sent right after /ping first answers runs (5 starts)")


def kill_worker(d):
    """Kills the worker and returns once the master has seen it die (its log line): requests
    sent from then on find the slot respawning, which is what these tests are about."""
    victim = d.workers()[0]
    os.kill(victim, signal.SIGKILL)
    wait_for(lambda: "(pid %d) died:" % victim in d.logs(), 5, 0.002)
    return victim


def test_respawn(t):
    with Daemon(workers=1, expect_worker_deaths=True) as d:
        status, _, ev, _ = d.run("echo before")
        kill_worker(d)
        status, _, ev, _ = d.run("echo during")
        t.eq((status, texts(ev, "stdout")), (200, ["during"]),
             "a command sent while the only worker respawns waits for it and runs")
        _, _, ev, _ = d.run("sleep 30", background=True)
        cid = ev[0]["text"]
        kill_worker(d)
        status, _, body = d.json("GET", "/command/status/" + cid)
        t.eq(status, 200, "a status query for the respawning worker's command waits and answers")
        target = os.path.join(d.tmp, "uploaded")
        for size, desc in ((100, "a small upload"), (8 << 20, "an 8 MiB upload")):
            data = os.urandom(size)
            kill_worker(d)
            status, _ = upload(d, [meta_part(target), file_part(data)])
            with open(target, "rb") as f:
                ok = f.read() == data
            t.ok(status == 200 and ok,
                 "%s sent while the only worker respawns waits for it and is stored whole"
                 % desc, status)


def test_wait_bound(t):
    with Daemon("-worker-wait", "0", workers=1, expect_worker_deaths=True) as d:
        kill_worker(d)
        status, hdrs, body = d.json("POST", "/command", {"command": "true"})
        t.eq(status, 503, "-worker-wait 0: no ready worker is 503 at once")
        t.eq(hdrs.get("retry-after"), "1", "with Retry-After")
        t.ok(isinstance(body, dict) and body.get("code") == "SERVICE_UNAVAILABLE",
             "and the contract's error shape", body)
    with Daemon("-worker-wait", "300ms", workers=1, expect_worker_deaths=True) as d:
        for _ in range(4):  # the respawn backoff doubles: 100, 200, 400, then 800 ms
            wait_for(lambda: len(d.workers()) == 1, 10)
            kill_worker(d)
        start = time.time()
        status, hdrs, _ = d.json("POST", "/command", {"command": "true"})
        waited = time.time() - start
        t.ok(status == 503 and hdrs.get("retry-after") == "1" and 0.25 < waited < 0.8,
             "past -worker-wait: 503 with Retry-After (after %.2f s)" % waited, (status, hdrs))


def test_status_reaped_while_no_worker(t):
    """The command ends while its worker slot is empty (the respawn is delayed by backoff):
    the master reaps it, keeps the status and hands it to the replacement worker."""
    with Daemon(workers=1, expect_worker_deaths=True) as d:
        for _ in range(3):  # the next respawn comes after 800 ms or more
            wait_for(lambda: len(d.workers()) == 1, 10)
            kill_worker(d)
        wait_for(lambda: len(d.workers()) == 1, 10)
        wait_for(lambda: d.request("GET", "/ping")[0] == 200, 10)
        status, _, ev, _ = d.run("sleep 0.3; echo done; exit 7", background=True)
        t.eq(status, 200, "a background command starts")
        cid = ev[0]["text"]
        kill_worker(d)
        time.sleep(0.5)
        t.eq(len(d.workers()), 0, "it ends while its worker's slot is empty")

        def finished():
            status, _, body = d.json("GET", "/command/status/" + cid)
            return body if status == 200 and not body.get("running") else None
        body = wait_for(finished, 10, 0.1)
        t.ok(body and body.get("exit_code") == 7, "its status shows the real exit code, 7", body)
        status, _, logs = d.request("GET", "/command/%s/logs" % cid)
        t.eq(logs, b"done\n", "and its log is complete")


run_tests([test_ready_at_start, test_respawn, test_wait_bound, test_status_reaped_while_no_worker])
