"""POST /code with language sql against a real MariaDB server started for this test: the
event sequence, cell rendering (unicode, NULL, dates, decimals, binary), empty results,
DDL/DML counts, errors, the default database, several result sets, the row and size caps,
a 1M-row result in bounded memory, a Unix socket with a password file, and a slow
statement not blocking its worker."""
import os
import threading
import time

from execd_test import SANITIZED, Daemon, run_tests
from sql_common import (SqlStream, daemon, error_of, is_uuid, kinds, needing_server, rows,
                        run_sql, server, table)


def test_select_cells(t):
    with daemon() as d:
        status, ev = run_sql(d, "SELECT 'héllo 日本 😀' AS s, NULL AS n, DATE '2024-01-02' AS d, "
                                "1.50 AS dc, TIMESTAMP '2024-01-02 03:04:05.123' AS ts, "
                                "TIME '-01:02:03' AS tm, 42 AS i, -7.25e3 AS f, x'00ff' AS b, "
                                "x'4142' AS b2, '<a&b>\"\\\\' AS esc, '' AS empty")
        t.eq(status, 200, "a SELECT streams")
        t.eq(kinds(ev), ["init", "execution_count", "result", "execution_complete"],
             "init, execution_count, result, execution_complete")
        t.ok(is_uuid(ev[0]["text"]), "init carries a dashed uuid")
        t.eq(ev[1].get("execution_count"), 1, "execution_count is 1")
        t.eq(list(ev[2]["results"].keys()), ["text"], "the result's bundle is {text}")
        t.eq(table(ev), {"columns": ["s", "n", "d", "dc", "ts", "tm", "i", "f", "b", "b2", "esc",
                                     "empty"],
                         "rows": [["héllo 日本 😀", None, "2024-01-02", "1.50",
                                   "2024-01-02 03:04:05.123", "-01:02:03", "42", "-7250",
                                   "0x00FF", "AB", "<a&b>\"\\", ""]]},
             "cells are strings (text, dates, decimals, numbers), NULL is null, bytes that are "
             "not UTF-8 are hex")
        t.ok("\\u003c" in ev[2]["results"]["text"], "the text escapes < > & as the Go daemon")


def test_empty_and_counts(t):
    with daemon() as d:
        _, ev = run_sql(d, "CREATE TABLE people (id INT PRIMARY KEY, name VARCHAR(40), "
                           "born DATE, score DECIMAL(6,2))")
        t.eq(table(ev), {"columns": ["affected_rows"], "rows": [[0]]}, "DDL: affected_rows 0")
        t.eq(kinds(ev), ["init", "execution_count", "result", "execution_complete"],
             "DDL: the same sequence as a query")
        _, ev = run_sql(d, "INSERT INTO people VALUES (1,'alice','1990-05-01',12.5),"
                           "(2,'bob',NULL,NULL),(3,'Zoë','2001-12-31',99.99)")
        t.eq(table(ev), {"columns": ["affected_rows"], "rows": [[3]]},
             "INSERT: the count as a JSON number")
        _, ev = run_sql(d, "UPDATE people SET score = 1 WHERE id >= 2")
        t.eq(table(ev)["rows"], [[2]], "UPDATE: rows changed")
        _, ev = run_sql(d, "SELECT * FROM people WHERE id > 100")
        t.eq(table(ev), {"columns": ["id", "name", "born", "score"]},
             "an empty result has columns and no rows key (as the Go daemon)")
        t.eq(rows(d, "SELECT name, born, score FROM people ORDER BY id"),
             [["alice", "1990-05-01", "12.50"], ["bob", None, "1.00"],
              ["Zoë", "2001-12-31", "1.00"]], "rows of a table")
        t.eq(rows(d, "  /* comment */ WITH w AS (SELECT COUNT(*) c FROM people) SELECT c FROM w"),
             [["3"]], "WITH returns rows")
        t.eq(rows(d, "(SELECT 1) UNION ALL (SELECT 2)"), [["1"], ["2"]],
             "a parenthesized query returns rows")
        t.eq(rows(d, "SHOW TABLES"), [["people"]], "SHOW returns rows")
        t.eq(rows(d, "SELECT 7;"), [["7"]], "a trailing semicolon is fine")
        _, ev = run_sql(d, "DELETE FROM people")
        t.eq(table(ev)["rows"], [[3]], "DELETE: rows deleted")
        _, ev = run_sql(d, "DROP TABLE people")
        t.eq(table(ev)["rows"], [[0]], "DROP TABLE")


def test_errors(t):
    with daemon() as d:
        status, ev = run_sql(d, "SELECT FROM nowhere")
        err = error_of(ev)
        t.eq(status, 200, "a failing statement still streams (init went out)")
        t.eq(kinds(ev), ["init", "error"], "init then error, no execution_complete")
        t.eq((err["ename"], err["traceback"]), ("DBQueryError", None),
             "a failing query: DBQueryError, traceback null")
        t.ok(err["evalue"].startswith("Error 1064 (42000): You have an error in your SQL syntax"),
             "evalue as the Go driver writes it", err["evalue"])
        _, ev = run_sql(d, "INSERT INTO missing_table VALUES (1)")
        err = error_of(ev)
        t.eq(err["ename"], "DBExecError", "a failing statement that is not a query: DBExecError")
        t.ok(err["evalue"].startswith("Error 1146 (42S02): Table 'sandbox.missing_table' doesn't "
                                      "exist"), "its evalue", err["evalue"])
        _, ev = run_sql(d, "SELECT 1; SELECT 2")
        t.eq(error_of(ev)["ename"], "DBQueryError", "one statement per request (as the Go daemon)")
        t.eq(rows(d, "SELECT 'still fine'"), [["still fine"]], "the next request works")
        status, _, body = d.json("POST", "/code", {"context": {"language": "sql"}, "code": ""})
        t.eq((status, body.get("code")), (400, "INVALID_REQUEST_BODY"), "empty code: 400")


def test_database(t):
    db = server()
    db.sql("DROP DATABASE IF EXISTS sandbox")
    with daemon(workers=1) as d:
        t.eq(rows(d, "SELECT DATABASE()"), [["sandbox"]], "the default database, sandbox...")
        t.ok("sandbox" in db.sql("SHOW DATABASES").stdout.split(), "... was created")
        rows(d, "USE mysql")
        t.eq(rows(d, "SELECT DATABASE()"), [["sandbox"]],
             "each request starts in it, whatever an earlier USE chose")
    with daemon("-sql-database", "other db`x", workers=1) as d:
        t.eq(rows(d, "SELECT DATABASE()"), [["other db`x"]], "a configured name, quoted")
    with daemon("-sql-database", "", workers=1) as d:
        t.eq(rows(d, "SELECT DATABASE()"), [[None]], "an empty setting: no default database")


def test_config_chain(t):
    db = server()
    ini = "[sql]\nhost = 127.0.0.1\nport = %d\ndatabase = from_ini\n" % db.port
    with Daemon(config=ini, workers=1) as d:
        t.eq(rows(d, "SELECT DATABASE()"), [["from_ini"]], "[sql] in the config file")
    with Daemon(config=ini, env={"EXECD_SQL_DATABASE": "from_env"}, workers=1) as d:
        t.eq(rows(d, "SELECT DATABASE()"), [["from_env"]], "the environment over the file")
    with Daemon("-sql-database", "from_flag", config=ini, env={"EXECD_SQL_DATABASE": "from_env"},
                workers=1) as d:
        t.eq(rows(d, "SELECT DATABASE()"), [["from_flag"]], "a flag over both")


def test_several_results(t):
    with daemon(workers=1) as d:
        rows(d, "CREATE PROCEDURE two_sets() BEGIN SELECT 1 AS a; SELECT 2 AS b, 3 AS c; END")
        _, ev = run_sql(d, "CALL two_sets()")
        t.eq(table(ev), {"columns": ["a"], "rows": [["1"]]},
             "a procedure's first result set is the result; the others are read and dropped")
        t.eq(rows(d, "SELECT 'next'"), [["next"]], "the connection is in sync afterwards")
        rows(d, "DROP PROCEDURE two_sets")


def test_caps(t):
    with daemon("-sql-max-rows", "10", workers=1) as d:
        _, ev = run_sql(d, "SELECT seq FROM seq_1_to_100000")
        res = table(ev)
        t.eq((len(res["rows"]), res.get("truncated")), (10, True),
             "-sql-max-rows: the first rows and \"truncated\": true")
        t.eq(kinds(ev), ["init", "execution_count", "result", "stderr", "execution_complete"],
             "and a stderr marker")
        t.ok("sql-max-rows" in [e for e in ev if e["type"] == "stderr"][0]["text"],
             "the marker names the setting")
        _, ev = run_sql(d, "SELECT seq FROM seq_1_to_10")
        t.eq((len(table(ev)["rows"]), table(ev).get("truncated")), (10, None),
             "exactly max rows: not truncated")
        t.eq(rows(d, "SELECT 'after'"), [["after"]], "the next request works")
    with daemon("-sql-max-result-size", "1K", workers=1) as d:
        _, ev = run_sql(d, "SELECT seq, REPEAT('x', 100) FROM seq_1_to_1000")
        res = table(ev)
        t.ok(res.get("truncated") is True and 0 < len(res["rows"]) < 10,
             "-sql-max-result-size: cut before the row that would pass it", len(res["rows"]))
        t.ok(len(ev[2]["results"]["text"]) <= 1024 + 40, "the text stays within the size")
        t.ok("sql-max-result-size" in [e for e in ev if e["type"] == "stderr"][0]["text"],
             "the marker names the setting")


def vm_hwm_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def test_million_rows(t):
    with daemon(workers=1) as d:
        worker = d.workers()[0]
        rows(d, "SELECT 1")
        base = vm_hwm_kb(worker)
        start = time.time()
        _, ev = run_sql(d, "SELECT seq FROM seq_1_to_1000000")
        took = time.time() - start
        res = table(ev)
        t.eq((len(res["rows"]), res["rows"][-1], res.get("truncated")), (1000000, ["1000000"], None),
             "a 1M-row result arrives whole (%.2fs, %d KB of text)"
             % (took, len(ev[2]["results"]["text"]) // 1024))
        grown = vm_hwm_kb(worker) - base
        t.diag("1M rows: worker peak RSS grew by %d KB" % grown)
        if not SANITIZED:
            t.ok(grown < 64 * 1024, "worker memory stays bounded (%d KB)" % grown)
        start = time.time()
        _, ev = run_sql(d, "SELECT seq, REPEAT('x', 200) FROM seq_1_to_1000000")
        took = time.time() - start
        res = table(ev)
        t.ok(res.get("truncated") is True and len(res["rows"]) < 100000,
             "a 1M-row result beyond the default 16M cap is cut (%d rows, %.2fs)"
             % (len(res["rows"]), took))
        grown = vm_hwm_kb(worker) - base
        t.diag("1M wide rows: worker peak RSS grew by %d KB" % grown)
        if not SANITIZED:
            t.ok(grown < 80 * 1024, "worker memory stays bounded by the cap (%d KB)" % grown)
        t.eq(rows(d, "SELECT 'after'"), [["after"]], "the next request works")


def test_socket_and_password(t):
    db = server()
    db.sql("CREATE USER IF NOT EXISTS 'app'@'localhost' IDENTIFIED BY 's3cret!'; "
           "GRANT ALL ON *.* TO 'app'@'localhost'")
    pwfile = os.path.join(db.dir, "password")
    with open(pwfile, "w") as f:
        f.write("s3cret!\n")
    app = ("-sql-socket", db.socket, "-sql-user", "app", "-sql-password-file", pwfile)
    with Daemon(*app, "-sql-host", "192.0.2.1", workers=1) as d:
        t.eq(rows(d, "SELECT CURRENT_USER()"), [["app@localhost"]],
             "-sql-socket (host ignored), -sql-user, -sql-password-file")
        t.ok("s3cret" not in d.logs(), "the password is not logged")
    # Each daemon's one worker connects anew (its pool is empty).
    for content, why, want in (("wrong\n", "a wrong password: DBInitError 1045", "1045"),
                               (None, "a missing password file: DBInitError naming it",
                                "password file")):
        if content is None:
            os.unlink(pwfile)
        else:
            with open(pwfile, "w") as f:
                f.write(content)
        with Daemon(*app, workers=1) as d:
            _, ev = run_sql(d, "SELECT 1")
            err = error_of(ev)
            t.ok(err and err["ename"] == "DBInitError" and want in err["evalue"], why, err)
            with open(pwfile, "w") as f:
                f.write("s3cret!")
            t.eq(rows(d, "SELECT 1"), [["1"]],
                 "the file is read again at the next connection (no newline needed)")


def test_slow_statement_does_not_block(t):
    with daemon(workers=1) as d:
        slow = SqlStream(d, "SELECT SLEEP(2)")
        slow.init_id()
        start = time.time()
        status, _, events = d.run("echo quick")[:3]
        t.ok(status == 200 and time.time() - start < 1,
             "a command on the same worker runs while a statement sleeps (%.2fs)"
             % (time.time() - start))
        results = []
        start = time.time()
        threads = [threading.Thread(target=lambda: results.append(rows(d, "SELECT SLEEP(1), 1")))
                   for _ in range(3)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        took = time.time() - start
        t.ok(len(results) == 3 and took < 1.9,
             "three 1 s statements on one worker run side by side (%.2fs)" % took)
        t.eq(slow.result()[-1]["type"], "execution_complete", "the slow one completes")


run_tests(needing_server([test_select_cells, test_empty_and_counts, test_errors, test_database,
                          test_config_chain, test_several_results, test_caps, test_million_rows,
                          test_socket_and_password, test_slow_statement_does_not_block]),
          timeout=600)
