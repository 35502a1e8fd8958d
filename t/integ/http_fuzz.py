"""Seeded random requests against every route: malformed and mistyped JSON, odd paths and
queries, broken HTTP framing, mutated multipart bodies, clients that leave mid-stream. The
daemon must answer each complete request with a contract status (JSON error bodies), never
crash or hang, and end with the descriptors and children it started with.

Every path it touches lies in a scratch directory (also the daemon's cwd and HOME)."""
import collections
import json
import os
import random
import tempfile

from execd_test import Daemon, fd_count, raw_connect, read_all, remove_tree, run_tests, wait_for, zombies_of
from files_common import file_part, meta_part, multipart, part

SEED = int(os.environ.get("EXECD_FUZZ_SEED", "20261127"))
CASES = int(os.environ.get("EXECD_FUZZ_CASES", "400"))
STATUSES = {200, 206, 304, 400, 401, 404, 405, 409, 412, 413, 416, 431, 500, 503}


class Scene:
    """The scratch tree, rebuilt now and then (cases delete and move things)."""

    def __init__(self):
        self.root = tempfile.mkdtemp(prefix="execd-fuzz-")
        self.home = os.path.join(self.root, "home")
        self.build()

    def build(self):
        for name in os.listdir(self.root):
            remove_tree(os.path.join(self.root, name))
        os.makedirs(os.path.join(self.root, "d", "sub"))
        os.makedirs(self.home)
        for name, data in (("a.txt", "alpha beta alpha\n"), ("d/b.py", "x = 1\n"),
                           ("d/sub/测试 ü.txt", "unicode\n")):
            with open(os.path.join(self.root, name), "w") as f:
                f.write(data)
        os.symlink("a.txt", os.path.join(self.root, "link"))
        os.symlink("missing", os.path.join(self.root, "dangling"))

    def paths(self):
        r = self.root
        return [r + "/a.txt", r + "/d", r + "/d/sub", r + "/d/b.py", r + "/link", r + "/dangling",
                r + "/missing/x", r + "/d/sub/测试 ü.txt", r + "/new dir/n.txt", "$NOPE/x",
                "${NOPE}", "$HOME/h.txt", "~/h2.txt", "rel.txt", "", r + "/" + "x" * 300,
                r + "/" + "y/" * 2100, r + "/a.txt/under-a-file", r + "/nul\x00byte",
                r + "/not-utf8-\udcff", r + "/lone-\ud800"]


def pick(rng, pool):
    return pool[rng.randrange(len(pool))]


def scalar(rng):
    return pick(rng, [None, True, 0, -1, 2 ** 63, 1.5, "", "x", [], {}, "🙂", "a\x00b"])


def maybe(rng, value):
    """The value, sometimes a wrong-typed one, sometimes absent (None means: drop the key)."""
    r = rng.random()
    if r < 0.15:
        return scalar(rng)
    if r < 0.25:
        return None
    return value


def obj(rng, fields):
    out = {}
    for key, value in fields.items():
        v = maybe(rng, value)
        if v is not None:
            out[key] = v
    if rng.random() < 0.1:
        out["unknown_" + str(rng.randrange(100))] = scalar(rng)
    return out


def perm(rng):
    return obj(rng, {"mode": pick(rng, [0, 644, 755, 7777, 999, 8]),
                     "owner": pick(rng, [None, "root", "nobody", "no-such-user", "65534"]),
                     "group": pick(rng, [None, "root", "nogroup", "no-such-group", "0"])})


def json_body(rng, sc, route):
    p = lambda: pick(rng, sc.paths())
    if route == "/command":
        return obj(rng, {"command": pick(rng, ["echo hi", "true", "exit 3", "printf 'a\\rb\\r\\n'",
                                               "sleep 0.2", "", "echo $HOME; pwd", "yes | head -5000"]),
                         "cwd": pick(rng, [sc.root, sc.root + "/d", "~", "$NOPE", sc.root + "/a.txt",
                                           sc.root + "/missing"]),
                         "background": pick(rng, [False, True]),
                         "timeout": pick(rng, [0, 1, 50, -5, 10 ** 15]),
                         "uid": pick(rng, [0, 65534, 4000000000]),
                         "gid": pick(rng, [0, 65534]),
                         "envs": pick(rng, [{}, {"A": "1"}, {"A": 1}, {"": "x"}, {"B=C": "d"}])})
    if route == "/code":
        return obj(rng, {"code": pick(rng, ["1+1", "print('x')", "", "raise ValueError('v')", "echo sh"]),
                         "context": pick(rng, [{"id": "nope"}, {"language": "nosuch"}, {"id": 5},
                                               {"language": ""}, {}])})
    if route == "/code/context":
        return obj(rng, {"language": pick(rng, ["nosuch", "", "bash", 7]), "cwd": p()})
    if route in ("/files/permissions", "/directories"):
        return {p(): perm(rng) for _ in range(rng.randrange(4))}
    if route == "/files/mv":
        return [obj(rng, {"src": p(), "dest": p()}) for _ in range(rng.randrange(4))]
    if route == "/files/replace":
        return {p(): obj(rng, {"old": pick(rng, ["alpha", "", "zzz", "x = 1"]),
                               "new": pick(rng, ["", "omega", "€" * 3])})
                for _ in range(rng.randrange(4))}
    return {}


def encode_body(rng, value):
    """The JSON, or one of the ways a body can be broken."""
    r = rng.random()
    if r < 0.07:
        return b""
    if r < 0.14:
        return json.dumps(value).encode()[:-1] or b"{"
    if r < 0.18:
        return pick(rng, [b"[]", b"null", b"1", b'"s"', b"\xff\xfe{}", b"{\"a\":}", b"{} {}"])
    if r < 0.2:
        return b"[" * 20000 + b"]" * 20000
    return json.dumps(value).encode()


def query(rng, sc, keys):
    parts = []
    for key in keys:
        for _ in range(pick(rng, [0, 1, 1, 1, 2])):
            v = pick(rng, sc.paths() + ["%zz", "%00", "1", "-1", "abc", "**", "[", "{a,b}",
                                        "!(x)", "*.txt", "true"])
            enc = "".join(c if c.isascii() and (c.isalnum() or c in "/._-") else "%%%02X" % b
                          for c in v for b in c.encode("utf-8", "surrogatepass"))
            enc = v if v.startswith("%") else enc
            parts.append(key + "=" + enc)
    return "?" + "&".join(parts) if parts else ""


ROUTES = [
    ("GET", "/ping", []), ("POST", "/command", None), ("DELETE", "/command", ["id"]),
    ("GET", "/command/status/{id}", []), ("GET", "/command/{id}/logs", ["cursor"]),
    ("POST", "/code", None), ("DELETE", "/code", ["id"]), ("POST", "/code/context", None),
    ("GET", "/code/contexts", ["language"]), ("DELETE", "/code/contexts", ["language"]),
    ("GET", "/code/contexts/{id}", []), ("DELETE", "/code/contexts/{id}", []),
    ("GET", "/files/info", ["path"]), ("DELETE", "/files", ["path"]),
    ("POST", "/files/permissions", None), ("POST", "/files/mv", None),
    ("GET", "/files/search", ["path", "pattern"]), ("POST", "/files/replace", ["verbose"]),
    ("GET", "/files/download", ["path"]), ("GET", "/directories/list", ["path", "depth"]),
    ("POST", "/directories", None), ("DELETE", "/directories", ["path"]),
    ("POST", "/files/upload", None), ("PUT", "/files/info", []), ("GET", "/nope", []),
]


def upload_body(rng, sc):
    parts = [meta_part(pick(rng, sc.paths())), file_part(os.urandom(rng.randrange(1, 200000)))]
    if rng.random() < 0.3:
        parts.append(part("metadata", pick(rng, ["{", "[]", '{"path":""}', '{"path":5}'])))
    ctype, body = multipart(parts)
    r = rng.random()
    if r < 0.2:
        cut = rng.randrange(len(body))
        body = body[:cut]
    elif r < 0.4:
        body = bytearray(body)
        for _ in range(rng.randrange(1, 20)):
            body[rng.randrange(len(body))] = rng.randrange(256)
        body = bytes(body)
    if rng.random() < 0.1:
        ctype = pick(rng, ["multipart/form-data", "text/plain", "multipart/form-data; boundary="])
    return ctype, body


def build(rng, sc):
    """(raw request bytes, complete: whether an answer is owed, is_stream)."""
    method, route, qkeys = pick(rng, ROUTES)
    path = route.replace("{id}", pick(rng, ["nope", "0", "%2e%2e", "x" * 300, "测试"]))
    headers = {"Host": "fuzz"}
    if route == "/files/upload" and method == "POST":
        ctype, body = upload_body(rng, sc)
        headers["Content-Type"] = ctype
    elif qkeys is None:
        body = encode_body(rng, json_body(rng, sc, route))
        headers["Content-Type"] = "application/json"
    else:
        path += query(rng, sc, qkeys)
        body = b""
    if rng.random() < 0.1:
        path += pick(rng, ["/", "//", "?&&=", "#frag", "?%"])
    complete = True
    framing = rng.random()
    if framing < 0.08 and body:
        # chunked, possibly with broken framing
        step = max(1, len(body) // 3)
        chunks = b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + step]), body[i:i + step])
                          for i in range(0, len(body), step))
        body = chunks + pick(rng, [b"0\r\n\r\n", b"zz\r\n", b"0\r\n\r\n"])
        headers["Transfer-Encoding"] = "chunked"
        complete = body.endswith(b"0\r\n\r\n")
    else:
        length = len(body)
        if framing < 0.12:
            length += rng.randrange(1, 100)  # the client promises more than it sends
            complete = False
        if body or method == "POST":
            headers["Content-Length"] = str(length)
    if rng.random() < 0.05:
        headers["X-Junk"] = "v" * rng.randrange(1, 20000)
    head = "%s %s HTTP/1.1\r\n" % (method, path)
    head += "".join("%s: %s\r\n" % kv for kv in headers.items()) + "\r\n"
    raw = head.encode("utf-8", "surrogateescape") + body
    stream = method == "POST" and route in ("/command", "/code")
    return raw, complete, stream


def garbage(rng):
    return pick(rng, [
        os.urandom(rng.randrange(1, 300)),
        b"GET /ping HTTP/9.9\r\n\r\n",
        b"GET /ping\r\n\r\n",
        b"BREW /ping HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET " + b"/a" * 40000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
        b"POST /command HTTP/1.1\r\nContent-Length: -1\r\n\r\n{}",
        b"POST /command HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n{}",
        b"POST /command HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 2\r\n\r\n{}",
        b"POST /command HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 2\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
        b"GET /ping HTTP/1.1\r\n" + b"X: y\r\n" * 5000 + b"\r\n",
        b"\r\n\r\n\r\n",
    ])


def read_answer(sock, timeout):
    """Everything the daemon sends until it closes, the answer is complete, or it stays silent
    for timeout seconds."""
    sock.settimeout(timeout)
    return read_all(sock, until=finished)


def finished(data):
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        return False
    lower = head.lower()
    if b"transfer-encoding: chunked" in lower:
        return body.endswith(b"0\r\n\r\n")
    for line in lower.split(b"\r\n"):
        if line.startswith(b"content-length:"):
            return len(body) >= int(line.split(b":")[1])
    return False


def check_answer(data, complete):
    """Returns a problem description, or None."""
    if not data:
        return "no answer to a complete request" if complete else None
    line = data.split(b"\r\n", 1)[0]
    try:
        status = int(line.split()[1])
    except (IndexError, ValueError):
        return "not an HTTP status line: %r" % line[:80]
    if status not in STATUSES:
        return "unexpected status %d" % status
    head, _, body = data.partition(b"\r\n\r\n")
    if status >= 400 and body and b"application/json" in head.lower() and finished(data):
        try:
            err = json.loads(body)
        except ValueError:
            return "error body is not JSON: %r" % body[:80]
        if not isinstance(err, dict) or ("code" not in err and "error" not in err):
            return "error body without code: %r" % body[:80]
    if complete and not finished(data) and status != 413:
        return "answer cut short (status %d)" % status
    return None


def test_not_utf8(t):
    """Paths and values that are not UTF-8 come back in error messages as U+FFFD (valid JSON)."""
    sc = Scene()
    bad = sc.root.encode() + b"/missing\xff/f\xfe.txt"
    try:
        with Daemon(env={"HOME": sc.home}, cwd=sc.root) as d:
            b = "execd-test-boundary-42"
            upload = (b"--%s\r\nContent-Disposition: form-data; name=\"metadata\"\r\n\r\n"
                      b"{\"path\":\"%s/a.txt/\xff\"}\r\n--%s\r\nContent-Disposition: form-data; "
                      b"name=\"file\"; filename=\"x\"\r\n\r\nhello\r\n--%s--\r\n"
                      % (b.encode(), sc.root.encode(), b.encode(), b.encode()))
            cases = [
                ("GET", "/files/download?path=" + urlquote(sc.root.encode() + b"/d\xff"), None, {}),
                ("POST", "/files/mv", b'[{"src":"%s","dest":"%s/z"}]' % (bad, sc.root.encode()), {}),
                ("POST", "/command", b'{"command":"true","cwd":"%s"}' % bad, {}),
                ("POST", "/code/context", b'{"language":"no\xffsuch"}', {}),
                ("POST", "/files/replace", b'{"%s":{"old":"a","new":"b"}}' % bad, {}),
                ("POST", "/files/upload", upload,
                 {"Content-Type": "multipart/form-data; boundary=" + b}),
            ]
            for method, path, body, headers in cases:
                st, _, raw = d.request(method, path, body, headers)
                try:
                    parsed = json.loads(raw)
                except ValueError:
                    parsed = None
                t.ok(st >= 400 and isinstance(parsed, dict) and "\ufffd" in parsed.get("message", ""),
                     "%s %s: a JSON error with U+FFFD for the bad bytes" % (method, path.split("?")[0]),
                     (st, raw[:200]))
    finally:
        remove_tree(sc.root)


def urlquote(raw):
    return "".join(chr(c) if chr(c).isascii() and (chr(c).isalnum() or chr(c) in "/._-")
                   else "%%%02X" % c for c in raw)


def test_fuzz(t):
    rng = random.Random(SEED)
    sc = Scene()
    env = {"HOME": sc.home}
    try:
        with Daemon("-kernelspec-wait", "0s", "-max-body-size", "1M", env=env, cwd=sc.root) as d:
            master = d.pids()[0]
            workers = sorted(d.workers())
            fds_before = fd_count(master)
            problems = []
            seen = collections.Counter()
            for n in range(CASES):
                if n % 50 == 0:
                    sc.build()
                if rng.random() < 0.08:
                    raw, complete, stream = garbage(rng), False, False
                else:
                    raw, complete, stream = build(rng, sc)
                sock = raw_connect(d.port)
                try:
                    sock.sendall(raw)
                except OSError:
                    complete = False  # the daemon closed early (e.g. 413 on the headers)
                leave_early = stream and rng.random() < 0.3
                data = read_answer(sock, 0.05 if leave_early else (1.0 if not complete else 15))
                sock.close()
                if leave_early:
                    continue
                seen[data.split(b" ", 2)[1].decode() if data[:5] == b"HTTP/" else "none"] += 1
                why = check_answer(data, complete)
                if why:
                    problems.append((n, why, raw[:160]))
                if d.proc.poll() is not None:
                    problems.append((n, "the daemon exited (%s)" % d.proc.returncode, raw[:160]))
                    break
            t.diag("answers by status: %s" % dict(sorted(seen.items())))
            t.eq(problems, [], "%d random requests (seed %d): every answer is well-formed" % (CASES, SEED))
            t.ok(d.proc.poll() is None, "the daemon is still running")
            st, _, _ = d.request("GET", "/ping")
            t.eq(st, 200, "and answers /ping")
            st, _, body = d.request("POST", "/command", {"command": "echo still-fine"})
            t.ok(st == 200 and b"still-fine" in body, "and runs commands", body[:200])
            t.ok(wait_for(lambda: fd_count(master) <= fds_before, 10),
                 "the master holds no more descriptors than before (%d -> %d)"
                 % (fds_before, fd_count(master)))
            t.ok(wait_for(lambda: zombies_of(master) == [], 10), "no zombie children", zombies_of(master))
            t.eq(sorted(d.workers()), workers, "no worker died: the two it started with serve on")
    finally:
        remove_tree(sc.root)


run_tests([test_not_utf8, test_fuzz])
