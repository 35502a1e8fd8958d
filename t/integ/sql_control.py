"""The SQL executor under control and failure, against real MariaDB servers started for this
test: interrupt (DELETE /code?id=<init id>), the statement timeout, a client that leaves, no
server at all (then one starts), a server restarted or killed between and during requests,
and a daemon stopping while a statement runs."""
import signal
import socket
import time

from execd_test import Daemon, free_port, run_tests, wait_for
from sql_common import (MariaDB, SqlStream, daemon, error_of, kinds, needing_server, rows,
                        run_sql, server)


def running_statements(db, marker):
    """Statements of the server's process list whose text holds marker."""
    p = db.sql("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE INFO LIKE '%%%s%%' "
               "AND ID <> CONNECTION_ID()" % marker)
    return int(p.stdout.strip())


def test_interrupt(t):
    db = server()
    with daemon(workers=1) as d:
        s = SqlStream(d, "SELECT SLEEP(30) AS interrupt_me")
        sid = s.init_id()
        t.ok(wait_for(lambda: running_statements(db, "interrupt_me") == 1, 10),
             "the statement runs on the server")
        start = time.time()
        status, hdrs, body = d.request("DELETE", "/code?id=" + sid)
        t.eq((status, body), (200, b""), "DELETE /code?id=<init id>: 200")
        ev = s.result(10)
        took = time.time() - start
        t.eq(kinds(ev), ["init", "error"], "the stream ends with an error event")
        t.eq(error_of(ev)["ename"], "DBQueryError", "DBQueryError")
        t.eq(error_of(ev)["evalue"], "Query execution was interrupted", "evalue says interrupted")
        t.ok(took < 2, "promptly (%.2fs)" % took)
        t.eq(running_statements(db, "interrupt_me"), 0, "the server no longer runs it")
        t.eq(rows(d, "SELECT 'next'"), [["next"]], "the next request works")
        status, _, body = d.json("DELETE", "/code?id=" + sid)
        t.eq((status, body.get("code")), (500, "RUNTIME_ERROR"), "a finished execution: 500")

        rows(d, "CREATE TABLE IF NOT EXISTS slow (v INT)")
        s = SqlStream(d, "INSERT INTO slow SELECT SLEEP(30)")
        sid = s.init_id()
        wait_for(lambda: running_statements(db, "INSERT INTO slow") == 1, 10)
        status, _, _ = d.request("DELETE", "/command?id=" + sid)
        ev = s.result(10)
        t.eq((status, error_of(ev)["ename"]), (200, "DBExecError"),
             "DELETE /command?id= interrupts too (one handler); a statement: DBExecError")
        rows(d, "DROP TABLE slow")


def test_timeout(t):
    db = server()
    with daemon("-sql-statement-timeout", "700ms", workers=1) as d:
        start = time.time()
        status, ev = run_sql(d, "SELECT SLEEP(10) AS time_me_out")
        took = time.time() - start
        err = error_of(ev)
        t.eq(kinds(ev), ["init", "error"], "a statement over the timeout ends with an error")
        t.ok(err["ename"] == "DBQueryError" and "sql-statement-timeout" in err["evalue"],
             "naming the setting", err)
        t.ok(0.6 < took < 3, "after about the timeout (%.2fs)" % took)
        t.eq(running_statements(db, "time_me_out"), 0, "the server no longer runs it")
        t.eq(rows(d, "SELECT SLEEP(0.2), 'quick'"), [["0", "quick"]],
             "a statement within the timeout completes")


def test_client_leaves(t):
    db = server()
    db.sql("CREATE TABLE IF NOT EXISTS sandbox.left_behind (v INT)")
    with daemon(workers=1) as d:
        s = SqlStream(d, "INSERT INTO left_behind SELECT SLEEP(1) + 7")
        s.init_id()
        s.close()
        t.ok(wait_for(lambda: db.sql("SELECT COUNT(*) FROM sandbox.left_behind").stdout.strip()
                      == "1", 10),
             "a client that leaves does not stop its statement (it may be writing)")
        t.eq(rows(d, "SELECT v FROM left_behind"), [["7"]], "and the worker goes on")
    db.sql("DROP TABLE sandbox.left_behind")


def test_no_server(t):
    port = free_port()
    with Daemon("-sql-host", "127.0.0.1", "-sql-port", str(port), workers=1) as d:
        start = time.time()
        status, ev = run_sql(d, "SELECT 1")
        err = error_of(ev)
        t.eq((status, kinds(ev)), (200, ["init", "error"]), "no server: init then an error event")
        t.eq(err["ename"], "DBInitError", "DBInitError")
        t.ok("Can't connect to server on '127.0.0.1'" in err["evalue"], "a clear message",
             err["evalue"])
        t.ok(time.time() - start < 2, "at once")
        _, ev = run_sql(d, "SELECT 1")
        t.eq(error_of(ev)["ename"], "DBInitError", "still none: the same error")
        MariaDB(port=port)
        t.eq(rows(d, "SELECT 'up'"), [["up"]],
             "once a server is up, the next request connects (no one-shot initialization)")


def test_server_restart(t):
    db = server()
    with daemon(workers=2) as d:
        for _ in range(4):
            rows(d, "SELECT 1")  # both workers have a pooled connection now
        db.stop()
        db.start()
        got = [rows(d, "SELECT 'after restart'") for _ in range(4)]
        t.eq(got, [[["after restart"]]] * 4,
             "a server restarted between requests: every request succeeds (stale connections "
             "are noticed and replaced)")
        t.eq(rows(d, "SELECT DATABASE()"), [["sandbox"]], "in the default database")
        db.kill()
        db.start()
        t.eq(rows(d, "SELECT 'after crash'"), [["after crash"]], "a server killed and restarted too")

        s = SqlStream(d, "SELECT SLEEP(30)")
        s.init_id()
        time.sleep(0.3)
        db.kill()
        start = time.time()
        ev = s.result(15)
        err = error_of(ev)
        t.ok(err is not None and err["ename"] == "DBQueryError" and "2013" in err["evalue"],
             "the server dying under a statement: an error event at once (%.2fs)"
             % (time.time() - start), ev)
        _, ev = run_sql(d, "SELECT 1")
        t.eq(error_of(ev)["ename"], "DBInitError", "while it is down: DBInitError")
        db.start()
        t.eq(rows(d, "SELECT 'back'"), [["back"]], "and back once it is up")


def test_interrupt_while_connecting(t):
    # A listener that never answers: the handshake waits (up to the 10 s connect timeout).
    mute = socket.socket()
    mute.bind(("127.0.0.1", 0))
    mute.listen(8)
    try:
        with Daemon("-sql-host", "127.0.0.1", "-sql-port", str(mute.getsockname()[1]),
                    workers=1) as d:
            s = SqlStream(d, "SELECT 1")
            sid = s.init_id()
            time.sleep(0.3)
            start = time.time()
            status, _, _ = d.request("DELETE", "/code?id=" + sid)
            ev = s.result(10)
            err = error_of(ev)
            t.eq(status, 200, "an execution still connecting can be interrupted")
            t.ok(err["ename"] == "DBInitError" and "interrupted while connecting" in err["evalue"],
                 "DBInitError, interrupted while connecting", err)
            t.ok(time.time() - start < 2, "promptly")
            start = time.time()
            _, ev = run_sql(d, "SELECT 1", timeout=30)
            err = error_of(ev)
            t.ok(err["ename"] == "DBInitError" and 9 < time.time() - start < 15,
                 "a server that never answers: DBInitError after the 10 s connect timeout "
                 "(%.1fs)" % (time.time() - start), err)
    finally:
        mute.close()


def test_shutdown_stops_statement(t):
    db = server()
    d = daemon(workers=1)
    s = SqlStream(d, "SELECT SLEEP(60) AS stop_with_daemon")
    s.init_id()
    wait_for(lambda: running_statements(db, "stop_with_daemon") == 1, 10)
    start = time.time()
    code = d.stop(signal.SIGTERM)
    t.ok(code == 0 and time.time() - start < 5,
         "SIGTERM with a statement running: the daemon exits promptly (%.2fs)"
         % (time.time() - start))
    ev = s.result(5)
    t.ok(ev and ev[-1]["type"] == "error", "the stream ended with an error event", ev)
    t.ok(wait_for(lambda: running_statements(db, "stop_with_daemon") == 0, 5),
         "the statement was stopped on the server")


run_tests(needing_server([test_interrupt, test_timeout, test_client_leaves, test_no_server,
                          test_server_restart, test_interrupt_while_connecting,
                          test_shutdown_stops_statement]), timeout=600)
