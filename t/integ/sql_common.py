"""Helpers for the SQL executor's integration tests (t/integ/sql_*.py): each test file runs
its own MariaDB server (t/lib/mariadb_test.py) and daemons pointed at it."""
import json
import re

from execd_test import Daemon, Stream, without_pings
from mariadb_test import MISSING, MariaDB

UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


_server = None


def server():
    """The test file's MariaDB server, started on first use."""
    global _server
    if _server is None:
        _server = MariaDB()
    return _server


def daemon(*args, **kw):
    """A daemon whose SQL executor uses server() over TCP."""
    return Daemon(*(server().args() + list(args)), **kw)


def run_sql(d, code, timeout=120):
    """POST /code with language sql; returns (status, events without pings)."""
    status, _, events, _ = d.stream("/code", {"context": {"language": "sql"}, "code": code},
                                    timeout=timeout)
    return status, without_pings(events)


def kinds(events):
    return [e["type"] for e in events]


def table(events):
    """The JSON object in the result event's text, or None."""
    res = [e for e in events if e["type"] == "result"]
    return json.loads(res[0]["results"]["text"]) if res else None


def error_of(events):
    errs = [e for e in events if e["type"] == "error"]
    return errs[0]["error"] if errs else None


def rows(d, code):
    """The rows of a query that must succeed."""
    status, ev = run_sql(d, code)
    if status != 200 or table(ev) is None:
        raise AssertionError("%s: %d %r" % (code, status, ev))
    return table(ev).get("rows", [])


def is_uuid(s):
    return re.fullmatch(UUID, s or "") is not None


class SqlStream(Stream):
    """A statement whose events are read as they arrive (for interrupts and disconnects)."""

    def __init__(self, d, code, timeout=120):
        super().__init__(d, "/code", {"context": {"language": "sql"}, "code": code}, timeout)

    def result(self, timeout=60):
        return without_pings(self.finish(timeout))


def needing_server(tests):
    """tests as they are, or each one skipped with the reason when mariadb-server is missing."""
    if MISSING is None:
        return tests
    return [lambda t, name=fn.__name__: t.skip(name, MISSING) for fn in tests]
