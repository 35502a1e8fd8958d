"""HTTP basics: ping, routing errors, auth, body validation and limits."""
import json

from execd_test import Daemon, raw_exchange, run_tests, texts, wait_for


def test_ping(t):
    with Daemon() as d:
        status, hdrs, body = d.request("GET", "/ping")
        t.eq(status, 200, "GET /ping is 200")
        t.eq(hdrs.get("content-length"), "0", "empty 200 carries Content-Length: 0")
        t.eq(body, b"", "ping body is empty")
        t.ok("content-type" not in hdrs, "empty 200 carries no Content-Type", hdrs)
        c = d.conn()
        for i in range(3):
            c.request("GET", "/ping")
            r = c.getresponse()
            t.ok(r.status == 200 and r.read() == b"" and r.getheader("Content-Type") is None,
                 "kept-alive empty 200 #%d without Content-Type" % i)
        c.close()


def test_routing_errors(t):
    with Daemon() as d:
        status, hdrs, body = d.json("GET", "/no/such/route")
        t.eq(status, 404, "unknown route is 404")
        t.ok(hdrs.get("content-type", "").startswith("application/json"), "404 is JSON")
        t.ok(isinstance(body, dict) and body.get("code") and body.get("message"),
             "404 body has code and message", body)
        status, hdrs, body = d.json("PUT", "/ping")
        t.eq(status, 405, "wrong method on a known path is 405")
        t.ok("GET" in hdrs.get("allow", ""), "405 lists the allowed methods", hdrs)
        t.ok(isinstance(body, dict) and body.get("code") == "METHOD_NOT_ALLOWED", "405 is JSON", body)
        status, _, _ = d.request("GET", "/ping/")
        t.eq(status, 200, "a trailing slash is tolerated")


def test_auth(t):
    with Daemon(token="s3cret-token-value") as d:
        status, hdrs, body = d.request("GET", "/ping", headers={"X-EXECD-ACCESS-TOKEN": "wrong"})
        t.eq(status, 401, "wrong token is 401")
        t.eq(body, b'{"error":"Unauthorized: invalid or missing header X-EXECD-ACCESS-TOKEN"}',
             "401 body is the contract's")
        c = d.conn()
        c.request("GET", "/ping")
        r = c.getresponse()
        r.read()
        t.eq(r.status, 401, "missing token is 401")
        c.request("GET", "/nope")
        r = c.getresponse()
        r.read()
        t.eq(r.status, 401, "unknown routes need the token too")
        c.close()
        status, _, _ = d.request("GET", "/ping")
        t.eq(status, 200, "right token passes")
        status, _, _ = d.request("GET", "/ping", headers={"x-execd-access-token": "s3cret-token-value"})
        t.eq(status, 200, "header name is case-insensitive")
        t.ok("s3cret-token-value" not in d.logs(), "the token never appears in the log")


def bad(t, d, body, needle, desc):
    status, _, resp = d.json("POST", "/command", body)
    ok = status == 400 and isinstance(resp, dict) and resp.get("code") == "INVALID_REQUEST_BODY"
    t.ok(ok and needle in resp.get("message", ""), desc, (status, resp))


def test_body_validation(t):
    with Daemon() as d:
        bad(t, d, "{not json", "error parsing request", "malformed JSON is 400")
        bad(t, d, "", "empty", "empty body is 400")
        bad(t, d, "[1,2]", "object", "a JSON array is 400")
        bad(t, d, {}, "command", "missing command is 400 naming the field")
        bad(t, d, {"command": ""}, "command", "empty command is 400")
        bad(t, d, {"command": 5}, "command", "command of the wrong type is 400")
        bad(t, d, {"command": "true", "timeout": "5"}, "timeout", "timeout as a string is 400")
        bad(t, d, {"command": "true", "timeout": -1}, "timeout", "negative timeout is 400")
        bad(t, d, {"command": "true", "timeout": 1.5}, "timeout", "fractional timeout is 400")
        bad(t, d, {"command": "true", "uid": -1}, "uid", "negative uid is 400")
        bad(t, d, {"command": "true", "gid": 0}, "uid is required", "gid without uid is 400")
        bad(t, d, {"command": "true", "background": "yes"}, "background", "background of the wrong type is 400")
        bad(t, d, {"command": "true", "envs": {"A": 1}}, "envs.A", "non-string env value is 400")
        bad(t, d, {"command": "true", "envs": []}, "envs", "envs of the wrong type is 400")
        bad(t, d, {"command": "true", "cwd": "/definitely/not/here"}, "does not exist",
            "missing cwd is 400")
        bad(t, d, {"command": "true", "cwd": "/etc/passwd"}, "not a directory", "cwd that is a file is 400")
        bad(t, d, {"command": "true", "cwd": "$UNDEFINED_VAR_X/a"}, "UNDEFINED_VAR_X",
            "cwd with an undefined variable is 400")
        status, _, events, _ = d.stream("/command", '{"command":"echo ran"} trailing garbage')
        t.eq((status, texts(events, "stdout"), events[-1]["type"] if events else None),
             (200, ["ran"], "execution_complete"), "bytes after the first JSON value are ignored")
        status, _, events, _ = d.stream("/command", '{"command":"echo ran","unknown":1,"cwd":null}')
        t.eq((status, texts(events, "stdout"), events[-1]["type"] if events else None),
             (200, ["ran"], "execution_complete"), "unknown fields and null values are accepted")


def test_body_limits(t):
    with Daemon("-max-body-size", "1K") as d:
        big = json.dumps({"command": "echo " + "x" * 5000})
        status, hdrs, body = d.json("POST", "/command", big)
        t.eq(status, 413, "a Content-Length over the limit is 413")
        t.ok(isinstance(body, dict) and body.get("code") == "REQUEST_BODY_TOO_LARGE", "413 is JSON", body)
        chunked = b"POST /command HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        for _ in range(10):
            chunked += b"200\r\n" + b"x" * 0x200 + b"\r\n"
        chunked += b"0\r\n\r\n"
        resp = raw_exchange(d.port, chunked)
        t.ok(resp.startswith(b"HTTP/1.1 413"), "a chunked body over the limit is 413", resp[:200])
        status, _, _ = d.request("GET", "/ping")
        t.eq(status, 200, "the daemon is healthy afterwards")
        status, _, events, _ = d.run("echo small")
        t.eq((status, texts(events, "stdout"), events[-1]["type"] if events else None),
             (200, ["small"], "execution_complete"), "bodies under the limit still work")


def test_keepalive_and_log(t):
    with Daemon() as d:
        c = d.conn()
        for i in range(3):
            c.request("GET", "/ping")
            r = c.getresponse()
            r.read()
        c.request("POST", "/command", body=json.dumps({"command": "echo x"}))
        r = c.getresponse()
        body = r.read()
        c.request("GET", "/ping")
        r2 = c.getresponse()
        r2.read()
        t.ok((r.status, r2.status) == (200, 200) and b'"text":"x"' in body and b"execution_complete" in body,
             "one connection serves several requests, streams included", body[-300:])
        c.close()
        log = d.logs()
        t.ok("GET /ping 200" in log and "ms" in log, "each request is logged with status and duration", log[-500:])
        t.ok("POST /command 200" in log and " id=" in log, "stream requests log their execution id")


def test_many_streams_on_one_connection(t):
    """A stream's end and the socket's write event in one loop turn used to race: libevhtp
    re-armed writing on the idle connection and then closed it (seen after ~60 requests)."""
    with Daemon() as d:
        c = d.conn()
        body = json.dumps({"command": "echo hi"})
        done, last = 0, b""
        try:
            for _ in range(400):
                c.request("POST", "/command", body=body)
                r = c.getresponse()
                last = r.read()
                if b'"execution_complete"' in last:
                    done += 1
            # A worker's asynchronous error answer on the same connection.
            cid = json.loads(last.split(b"\n")[0])["text"]
            c.request("DELETE", "/command?id=" + cid)
            r = c.getresponse()
            r.read()
            t.eq(r.status, 500, "an interrupt of a finished command answers 500 on the same connection")
        except OSError as e:
            t.diag("connection failed after %d requests: %r" % (done, e))
        c.close()
        t.eq(done, 400, "400 streams back to back on one kept-alive connection")
        logged = wait_for(lambda: "DELETE /command 500" in d.logs(), 5)
        t.ok(logged, "an asynchronous error answer is logged with its status", d.logs()[-300:])


def test_unparsable(t):
    """What libevhtp cannot parse is answered as Go does (431 / 400), then the connection closes."""
    with Daemon() as d:
        big = raw_exchange(d.port, b"GET /ping HTTP/1.1\r\nHost: x\r\nX-Big: " + b"v" * 9000 +
                           b"\r\n\r\n")
        t.ok(big.startswith(b"HTTP/1.1 431 ") and big.endswith(b"431 Request Header Fields Too Large"),
             "a 9000-byte header line: 431", big[:200])
        bad = raw_exchange(d.port, b"GET /ping HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n")
        t.ok(bad.startswith(b"HTTP/1.1 400 ") and b"Connection: close" in bad,
             "a malformed header line: 400", bad[:200])
        chunk = raw_exchange(d.port, b"POST /command HTTP/1.1\r\nHost: x\r\n"
                             b"Transfer-Encoding: chunked\r\n\r\nzz\r\n")
        t.ok(chunk.startswith(b"HTTP/1.1 400 "), "a malformed chunk size: 400", chunk[:200])
        two = raw_exchange(d.port, b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n"
                           b"GET /ping HTTP/1.1\r\nX-Big: " + b"v" * 9000 + b"\r\n\r\n")
        t.eq(two.count(b"HTTP/1.1 "), 2, "after a good answer on the same connection too")
        t.eq(d.request("GET", "/ping")[0], 200, "the daemon serves on")
        t.ok("unparsable request" in d.logs(), "the refusals are logged")


run_tests([test_ping, test_many_streams_on_one_connection, test_routing_errors, test_unparsable,
           test_auth, test_body_validation, test_body_limits, test_keepalive_and_log])
