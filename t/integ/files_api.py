"""File and directory API (api-contract §7-§8): info, delete, permissions, mv, search, replace,
directories list/create/delete; paths, FileInfo, errors; permission denied as a non-root daemon;
blocking work stays off the master's loop."""
import json
import os
import re
import threading
import time

import execd_test
from execd_test import Daemon, run_tests
from files_common import NOBODY, Scratch, q, wrapper_as_nobody

TIME_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?(Z|[+-]\d\d:\d\d)$")
KEYS = ["path", "type", "size", "modified_at", "created_at", "owner", "group", "mode"]
ODD = "dir with spaces/测试 ü.txt"


def err(t, got, status, code, needle, desc):
    st, body = got
    ok = st == status and isinstance(body, dict) and body.get("code") == code and \
        needle in body.get("message", "")
    t.ok(ok, desc, (st, body))


def get(d, path):
    st, _, body = d.json("GET", path)
    return st, body


def call(d, method, path, body=None):
    st, _, resp = d.json(method, path, body)
    return st, resp


def info_query(*paths):
    return "/files/info?" + "&".join("path=" + q(p) for p in paths)


def test_info(t):
    with Scratch() as s, Daemon() as d:
        f = s.write("a.txt", "hello", mode=0o640)
        s.write(ODD, "x")
        os.symlink("a.txt", s("link"))
        st, body = get(d, info_query(f, s(ODD), s("link"), s()))
        t.eq(st, 200, "GET /files/info with several paths")
        fi = body.get(f, {})
        t.eq(list(fi.keys()), KEYS, "FileInfo has the contract's keys in order")
        t.eq((fi["path"], fi["type"], fi["size"], fi["mode"], fi["owner"], fi["group"]),
             (f, "file", 5, 640, "root", "root"), "file: path, type, size, mode digits, owner, group")
        t.ok(TIME_RE.match(fi["modified_at"]) and TIME_RE.match(fi["created_at"]),
             "times are RFC 3339", fi)
        t.eq(body[s(ODD)]["path"], s(ODD), "non-ASCII and spaces in names")
        t.eq((body[s("link")]["type"], body[s("link")]["size"]), ("symlink", 5),
             "a symlink is described, not followed")
        t.eq((body[s()]["type"], body[s()]["size"]), ("directory", os.lstat(s()).st_size),
             "a directory reports its inode size")
        st, body = get(d, "/files/info")
        t.eq((st, body), (200, {}), "no path gives {}")

    with Scratch() as s:
        s.write("in-home.txt", "h")
        with Daemon(env={"HOME": s(), "MYDIR": s()}) as d:
            st, body = get(d, info_query("~/in-home.txt", "$MYDIR/in-home.txt",
                                         "${MYDIR}/in-home.txt", s("x", "..", "in-home.txt")))
            t.eq(st, 200, "~, $VAR and ${VAR} expand")
            t.eq(sorted(body.keys()), sorted(["~/in-home.txt", "$MYDIR/in-home.txt",
                                              "${MYDIR}/in-home.txt", s("x", "..", "in-home.txt")]),
                 "keys are the paths as requested")
            t.eq({v["path"] for v in body.values()}, {s("in-home.txt")},
                 "every FileInfo path is the expanded, cleaned absolute path")
            err(t, get(d, info_query(s("in-home.txt"), "$NOPE_B/x", "$NOPE_A")), 500,
                "RUNTIME_ERROR", "path references undefined environment variables: NOPE_B",
                "an undefined variable is an error naming it")
            err(t, get(d, info_query(s("missing"))), 404, "FILE_NOT_FOUND",
                "file not found. file not found: %s: lstat %s: no such file or directory" %
                (s("missing"), s("missing")), "a missing path is 404 with Go's message")


def test_delete(t):
    with Scratch() as s, Daemon() as d:
        a, b = s.write("a", "1"), s.write(ODD, "2")
        os.makedirs(s("dir"))
        os.symlink(s("dir"), s("dirlink"))
        os.symlink(s("gone"), s("dangling"))
        st, _ = call(d, "DELETE", "/files?path=%s&path=%s&path=%s" % (q(a), q(b), q(s("nope"))))
        t.eq(st, 200, "DELETE /files removes files; a missing path is fine")
        t.ok(not os.path.exists(a) and not os.path.exists(b), "both files are gone")
        err(t, call(d, "DELETE", "/files?path=" + q(s("dir"))), 500, "RUNTIME_ERROR",
            "error removing file %s. path is a directory: %s" % (s("dir"), s("dir")),
            "a directory is refused with Go's message")
        err(t, call(d, "DELETE", "/files?path=" + q(s("dirlink"))), 500, "RUNTIME_ERROR",
            "path is a directory", "a symlink to a directory counts as a directory")
        st, _ = call(d, "DELETE", "/files?path=" + q(s("dangling")))
        t.ok(st == 200 and not os.path.lexists(s("dangling")), "a dangling symlink is removed")
        c = s.write("c", "3")
        st, body = call(d, "DELETE", "/files?path=%s&path=%s&path=%s" %
                        (q(c), q(s("dir")), q(s("dirlink"))))
        t.ok(st == 500 and s("dir") in body["message"] and not os.path.exists(c) and
             os.path.lexists(s("dirlink")),
             "items run in order: the failing one is named, earlier ones stay applied", body)
        st, _ = call(d, "DELETE", "/files")
        t.eq(st, 200, "no path is 200")


def test_permissions(t):
    with Scratch() as s, Daemon() as d:
        f = s.write("f", "x", mode=0o644)
        st, _ = call(d, "POST", "/files/permissions", {f: {"mode": 600}})
        t.ok(st == 200 and os.stat(f).st_mode & 0o777 == 0o600, "mode 600 is applied")
        st, _ = call(d, "POST", "/files/permissions", {f: {"mode": 0, "owner": None, "group": None}})
        t.ok(st == 200 and os.stat(f).st_mode & 0o777 == 0o600, "mode 0 leaves the mode alone")
        os.chown(f, NOBODY.pw_uid, NOBODY.pw_gid)
        st, _ = call(d, "POST", "/files/permissions", {f: {"mode": 640}})
        fs = os.stat(f)
        t.ok(st == 200 and (fs.st_uid, fs.st_gid) == (NOBODY.pw_uid, NOBODY.pw_gid),
             "without owner and group nothing is chowned (Go chowned to the daemon's user)")
        os.chown(f, 0, 0)
        st, _ = call(d, "POST", "/files/permissions", {f: {"owner": "nobody", "group": "nogroup"}})
        fs = os.stat(f)
        t.ok(st == 200 and (fs.st_uid, fs.st_gid) == (NOBODY.pw_uid, NOBODY.pw_gid),
             "owner and group by name")
        os.chown(f, 0, 0)
        st, _ = call(d, "POST", "/files/permissions", {f: {"owner": "4242"}})
        t.ok(st == 200 and os.stat(f).st_uid == 4242 and os.stat(f).st_gid == 0,
             "a numeric owner string is a uid; only the owner changes")
        st, _ = call(d, "POST", "/files/permissions", {f: {"group": 4343}})
        t.ok(st == 200 and os.stat(f).st_gid == 4343, "a JSON number is a gid")
        err(t, call(d, "POST", "/files/permissions", {f: {"owner": "no-such-user-xyz"}}), 500,
            "RUNTIME_ERROR", "error changing permissions for %s. unknown user no-such-user-xyz" % f,
            "an unknown user is an error")
        err(t, call(d, "POST", "/files/permissions", {s("missing"): {"mode": 644}}), 500,
            "RUNTIME_ERROR", "error changing permissions for %s" % s("missing"),
            "a missing file is a 500 (as Go)")
        err(t, call(d, "POST", "/files/permissions", {f: {"mode": 789}}), 500, "RUNTIME_ERROR",
            "invalid mode 789", "digits 8 and 9 are refused")
        err(t, call(d, "POST", "/files/permissions", {f: {"mode": "755"}}), 400,
            "INVALID_REQUEST_BODY", "field 'mode' must be an integer", "a string mode is 400")
        err(t, call(d, "POST", "/files/permissions", [1]), 400, "INVALID_REQUEST_BODY",
            "must be a JSON object", "a non-object body is 400")
        st, _, _ = d.request("POST", "/files/permissions", "{")
        t.eq(st, 400, "malformed JSON is 400")
        st, _, _ = d.request("POST", "/files/permissions", "null")
        t.eq(st, 200, "a null body is a no-op")
        g = s.write("g", "y", mode=0o644)
        st, body = call(d, "POST", "/files/permissions",
                        {g: {"mode": 700}, s("missing2"): {"mode": 700}, f: {"mode": 604}})
        t.ok(st == 500 and s("missing2") in body["message"] and os.stat(g).st_mode & 0o777 == 0o700
             and os.stat(f).st_mode & 0o777 != 0o604,
             "in order; the failing path is named; later items are not applied", body)


def test_mv(t):
    with Scratch() as s, Daemon() as d:
        a = s.write("a.txt", "A")
        os.makedirs(s("dir", "sub"))
        st, _ = call(d, "POST", "/files/mv", [{"src": a, "dest": s("new", "deep", ODD)},
                                             {"src": s("dir"), "dest": s("dir2")}])
        t.ok(st == 200 and open(s("new", "deep", ODD)).read() == "A" and os.path.isdir(s("dir2", "sub")),
             "files and directories move; missing parents of dest are created")
        b = s.write("b", "B")
        err(t, call(d, "POST", "/files/mv", [{"src": b, "dest": s("dir2")}]), 500, "RUNTIME_ERROR",
            "error accessing file: destination path already exists: %s" % s("dir2"),
            "an existing destination is refused")
        err(t, call(d, "POST", "/files/mv", [{"src": s("nope"), "dest": s("x")}]), 404,
            "FILE_NOT_FOUND", "source path not found: %s" % s("nope"), "a missing source is 404")
        err(t, call(d, "POST", "/files/mv", [{"src": b}]), 400, "INVALID_REQUEST_BODY",
            "item 0", "an item without dest is 400")
        err(t, call(d, "POST", "/files/mv", {"src": b, "dest": s("y")}), 400,
            "INVALID_REQUEST_BODY", "must be a JSON array", "an object body is 400")
        st, body = call(d, "POST", "/files/mv", [{"src": b, "dest": s("b2")},
                                                {"src": s("nope"), "dest": s("x")}])
        t.ok(st == 404 and s("nope") in body["message"] and os.path.exists(s("b2")),
             "in order: the failing item is named, earlier moves stay", body)


def test_search(t):
    with Scratch() as s, Daemon() as d:
        for name in ["a.txt", "b.py", "src/c.py", "src/deep/d.py", "src/deep/e.txt", ".hidden.py",
                     "测试.py", "with space.py"]:
            s.write(name, "x")
        os.makedirs(s("emptydir.py"))
        os.makedirs(s("other"))
        s.write("other/f.py", "x")
        os.symlink(s("other"), s("src", "linkdir.py"))
        os.symlink(s("a.txt"), s("filelink.txt"))

        def names(pattern, root=None):
            path = "/files/search?path=" + q(root or s())
            if pattern is not None:
                path += "&pattern=" + q(pattern)
            st, body = get(d, path)
            return st, [os.path.relpath(e["path"], s()) for e in body] if st == 200 else body

        t.eq(names("*.py"), (200, [".hidden.py", "b.py", "other/f.py", "src/c.py", "src/deep/d.py",
                                  "src/linkdir.py", "with space.py", "测试.py"]),
             "base names match; lexical walk; no directories; symlinks listed, not followed")
        t.eq(names("**/*.py"), names("*.py"), "**/*.py equals *.py on base names")
        t.eq(names("src/*.py"), (200, []), "a pattern with a directory never matches")
        st, all_entries = names(None)
        t.ok(len(all_entries) == 11, "the default pattern is ** (every non-directory)", all_entries)
        t.eq(names("{a,e}.txt"), (200, ["a.txt", "src/deep/e.txt"]), "{a,b} alternatives")
        t.eq(names("[!a]*.txt"), (200, ["filelink.txt", "src/deep/e.txt"]), "[!x] classes")
        st, body = get(d, "/files/search?path=" + q(s("filelink.txt")) + "&pattern=*.txt")
        t.eq((st, [e["type"] for e in body]), (200, ["symlink"]),
             "a symlinked root is one entry, not followed")
        err(t, get(d, "/files/search?path=" + q(s("nope"))), 404, "FILE_NOT_FOUND", "nope",
            "a missing root is 404")
        err(t, get(d, "/files/search?pattern=*"), 400, "MISSING_QUERY",
            "missing query parameter 'path'", "path is required")
        err(t, get(d, "/files/search?path=" + q(s()) + "&pattern=" + q("[")), 500, "RUNTIME_ERROR",
            "error searching files. invalid pattern", "an invalid pattern is 500")


def test_replace(t):
    with Scratch() as s, Daemon(env={"HOME": "/root"}) as d:
        f = s.write(ODD, "hello world, hello moon", mode=0o640)
        g = s.write("g.txt", "aaaa")
        ino = os.stat(f).st_ino
        st, body = call(d, "POST", "/files/replace?verbose=true",
                        {f: {"old": "hello", "new": "bye"}, g: {"old": "aa", "new": "b"}})
        t.eq((st, body), (200, {f: {"replacedCount": 2}, g: {"replacedCount": 2}}),
             "verbose counts, keyed by the paths as given")
        t.eq((open(f).read(), open(g).read()), ("bye world, bye moon", "bb"), "all occurrences")
        t.ok(os.stat(f).st_mode & 0o777 == 0o640 and os.stat(f).st_ino != ino,
             "the mode is kept; the file was replaced by a rename (atomic)")
        st, hdrs, raw = d.request("POST", "/files/replace", {g: {"old": "b", "new": "c"}})
        t.ok(st == 200 and raw == b"" and hdrs.get("content-length") == "0",
             "without verbose=true the body is empty")
        st, _, raw = d.request("POST", "/files/replace?verbose=1", {g: {"old": "c", "new": "d"}})
        t.eq((st, raw), (200, b""), "only the exact string true is verbose")
        err(t, call(d, "POST", "/files/replace", {s("nope"): {"old": "a", "new": "b"}}), 404,
            "FILE_NOT_FOUND", s("nope"), "a missing file is 404")
        err(t, call(d, "POST", "/files/replace", {g: {"old": "", "new": "b"}}), 400,
            "INVALID_REQUEST_BODY", "old content must not be empty", "an empty old is 400")
        err(t, call(d, "POST", "/files/replace", {g: "x"}), 400, "INVALID_REQUEST_BODY",
            "expected {", "a malformed item is 400")


def test_list(t):
    with Scratch() as s, Daemon() as d:
        for name in ["alpha/x.txt", "alpha/y.txt", "alpha/deep/z.txt", "bravo.txt", "charlie.txt"]:
            s.write(name, "x")
        os.makedirs(s("target", "inner"))
        os.symlink(s("target"), s("delta"))

        def listing(depth=None, root=None):
            path = "/directories/list?path=" + q(root or s())
            if depth is not None:
                path += "&depth=" + str(depth)
            st, body = get(d, path)
            if st != 200:
                return st, body
            return st, [(os.path.relpath(e["path"], s()), e["type"]) for e in body]

        t.eq(listing(), (200, [("alpha", "directory"), ("bravo.txt", "file"),
                               ("charlie.txt", "file"), ("delta", "symlink"),
                               ("target", "directory")]), "depth 1 (default): children only")
        t.eq(listing(2), (200, [("alpha", "directory"), ("alpha/deep", "directory"),
                                ("alpha/x.txt", "file"), ("alpha/y.txt", "file"),
                                ("bravo.txt", "file"), ("charlie.txt", "file"),
                                ("delta", "symlink"), ("target", "directory"),
                                ("target/inner", "directory")]),
             "depth 2: lexical, depth-first; the symlink is listed, not followed")
        t.eq(listing(0), (200, []), "depth 0 is []")
        err(t, get(d, "/directories/list?path=" + q(s("delta"))), 400, "INVALID_REQUEST_BODY",
            "path is a symbolic link, refusing to traverse: %s" % s("delta"), "a symlink root is 400")
        err(t, get(d, "/directories/list?path=" + q(s("bravo.txt"))), 400, "INVALID_REQUEST_BODY",
            "path is not a directory", "a file root is 400")
        err(t, get(d, "/directories/list?path=" + q(s("nope"))), 404, "FILE_NOT_FOUND", "nope",
            "a missing root is 404")
        err(t, get(d, "/directories/list"), 400, "MISSING_QUERY", "missing query parameter 'path'",
            "path is required")
        err(t, get(d, "/directories/list?path=%s&depth=abc" % q(s())), 400, "INVALID_REQUEST_BODY",
            "invalid query parameter 'depth': abc", "depth=abc is 400")
        err(t, get(d, "/directories/list?path=%s&depth=-1" % q(s())), 400, "INVALID_REQUEST_BODY",
            "invalid query parameter 'depth': -1", "depth=-1 is 400")


def test_directories(t):
    with Scratch() as s, Daemon() as d:
        leaf = s("a", "b", ODD)
        st, _ = call(d, "POST", "/directories", {leaf: {"mode": 700, "owner": "nobody"}})
        ls = os.stat(leaf)
        t.ok(st == 200 and ls.st_mode & 0o777 == 0o700 and ls.st_uid == NOBODY.pw_uid,
             "mkdir -p; the permission applies to the leaf")
        t.ok(os.stat(s("a")).st_uid == 0, "intermediate directories are not chowned")
        st, _ = call(d, "POST", "/directories", {leaf: {"mode": 0}})
        t.ok(st == 200 and os.stat(leaf).st_mode & 0o777 == 0o700, "an existing directory is fine")
        f = s.write("file", "x")
        err(t, call(d, "POST", "/directories", {s("file", "sub"): {"mode": 755}}), 500,
            "RUNTIME_ERROR", "not a directory", "a file in the way is an error")
        os.makedirs(s("keep", "inside"))
        os.symlink(s("keep"), s("a", "link"))
        st, _ = call(d, "DELETE", "/directories?path=%s&path=%s&path=%s" %
                     (q(s("a")), q(f), q(s("missing"))))
        t.ok(st == 200 and not os.path.exists(s("a")) and not os.path.exists(f),
             "rm -rf: trees and plain files go; a missing path is fine")
        t.ok(os.path.isdir(s("keep", "inside")), "symlinks inside are removed, not followed")


def test_permission_denied(t):
    """A daemon running as nobody: EACCES/EPERM are 500s with the system's text."""
    if os.geteuid() != 0:
        t.skip("a daemon running as nobody gets the system's permission errors", "needs root")
        return
    with Scratch(world=True) as s:
        os.makedirs(s("secret"), mode=0o700)
        s.write("secret/x.txt", "x")
        os.makedirs(s("open", "locked"))
        os.chmod(s("open", "locked"), 0o700)
        os.chmod(s("open"), 0o755)
        ro = s.write("open/root-only.txt", "x", mode=0o600)
        orig = execd_test.EXECD_BIN
        execd_test.EXECD_BIN = wrapper_as_nobody(s())
        try:
            with Daemon() as d:
                err(t, get(d, info_query(s("secret", "x.txt"))), 500, "RUNTIME_ERROR",
                    "permission denied", "lstat through an unreadable directory is 500")
                err(t, get(d, "/directories/list?path=" + q(s("secret"))), 500, "RUNTIME_ERROR",
                    "error listing directory %s" % s("secret"), "listing an unreadable directory")
                err(t, get(d, "/files/search?path=" + q(s("open"))), 500, "RUNTIME_ERROR",
                    "error searching files", "an unreadable subdirectory aborts the search")
                err(t, get(d, "/files/download?path=" + q(ro)), 500, "RUNTIME_ERROR",
                    "permission denied", "downloading an unreadable file")
                err(t, call(d, "DELETE", "/files?path=" + q(ro)), 500, "RUNTIME_ERROR",
                    "permission denied", "deleting in a directory we cannot write")
                t.ok(os.path.exists(ro), "the file is still there")
                err(t, call(d, "POST", "/files/permissions", {ro: {"mode": 777}}), 500,
                    "RUNTIME_ERROR", "operation not permitted", "chmod of another user's file")
                err(t, call(d, "POST", "/files/replace", {ro: {"old": "x", "new": "y"}}), 500,
                    "RUNTIME_ERROR", "permission denied", "replace in an unreadable file")
                err(t, call(d, "POST", "/directories", {s("secret", "new"): {"mode": 755}}), 500,
                    "RUNTIME_ERROR", "permission denied", "mkdir in an unwritable directory")
                err(t, call(d, "DELETE", "/directories?path=" + q(s("open", "locked"))), 500,
                    "RUNTIME_ERROR", "error removing directory", "rm -rf of an unreadable tree")
                err(t, call(d, "POST", "/files/mv", [{"src": ro, "dest": s("moved")}]), 500,
                    "RUNTIME_ERROR", "permission denied", "mv out of an unwritable directory")
                st, _ = call(d, "POST", "/directories", {s("made-by-nobody"): {"mode": 0}})
                t.ok(st == 200 and os.stat(s("made-by-nobody")).st_uid == NOBODY.pw_uid,
                     "what nobody may do works (the daemon runs as uid %d)" % NOBODY.pw_uid)
        finally:
            execd_test.EXECD_BIN = orig


def test_blocking_work_off_the_master(t):
    """A long search and rm -rf in the workers never stall /ping (answered by the master)."""
    with Scratch() as s, Daemon(workers=2) as d:
        for i in range(300):
            sub = s("tree", "d%03d" % i)
            os.makedirs(sub)
            for j in range(100):
                open(os.path.join(sub, "f%03d.txt" % j), "w").close()
        times = {}

        results = {}

        def slow(name, method, path):
            t0 = time.time()
            results[name] = d.request(method, path, timeout=300)
            times[name] = (t0, time.time())

        workers = [threading.Thread(target=slow, args=("search", "GET",
                                                       "/files/search?path=" + q(s("tree")))),
                   threading.Thread(target=slow, args=("rmrf", "DELETE",
                                                       "/directories?path=" + q(s("tree"))))]
        workers[0].start()
        time.sleep(0.05)
        workers[1].start()
        pings = []
        while any(w.is_alive() for w in workers):
            t0 = time.time()
            st, _, _ = d.request("GET", "/ping")
            pings.append((t0, time.time() - t0, st))
            time.sleep(0.01)
        for w in workers:
            w.join()
        busy_start = min(v[0] for v in times.values())
        busy_end = max(v[1] for v in times.values())
        both_start = max(v[0] for v in times.values())
        both_end = min(v[1] for v in times.values())
        during = [p for p in pings if busy_start <= p[0] <= busy_end]
        inside = [p for p in pings if both_start <= p[0] and p[0] + p[1] <= both_end]
        t.diag("busy for %.2fs; %d pings during, worst %.1f ms" %
               (busy_end - busy_start, len(during), 1000 * max([p[1] for p in during] or [0])))
        t.ok(all(p[2] == 200 for p in during), "every /ping during the filesystem work was answered")
        t.ok(len(inside) >= 2, "pings were sent and answered while both workers were busy", len(inside))
        t.ok(not os.path.exists(s("tree")), "the tree was removed")
        st, hdrs, raw = results["search"]
        found = json.loads(raw) if st == 200 else raw
        # The rm -rf runs meanwhile: entries that vanish are skipped, the rest is listed.
        t.ok(st == 200 and 0 < len(found) <= 30000 and hdrs.get("content-length") == str(len(raw)),
             "the concurrent search answered %d entries (%d bytes, sent as a file)" %
             (len(found), len(raw)), (st, len(found)))


run_tests([test_info, test_delete, test_permissions, test_mv, test_search, test_replace, test_list,
           test_directories, test_permission_denied, test_blocking_work_off_the_master])
