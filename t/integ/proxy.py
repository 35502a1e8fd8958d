"""The port proxy, ANY /proxy/{port}/{rest}: a backend this test starts (plain, chunked, SSE,
close-delimited, big bodies both ways, WebSocket), refused and bad ports, and the daemon
itself through /proxy/{its own port}/..."""
import base64
import gzip
import hashlib
import http.client
import http.server
import json
import os
import socket
import socketserver
import struct
import tempfile
import threading
import time

from execd_test import (SANITIZED, Daemon, RssSampler, fd_count, free_port, raw_exchange,
                        raw_request, read_to_close, rss_kb, run_tests, wait_for, without_pings)
from wsclient import frame_bytes

TOKEN = "proxy-secret"
seen = []  # request heads the backend received: (method, path, headers)


def read_body(h):
    if "chunked" in h.headers.get("Transfer-Encoding", ""):
        out = hashlib.sha256()
        n = 0
        while True:
            size = int(h.rfile.readline().split(b";")[0], 16)
            if size == 0:
                while h.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass
                return n, out.hexdigest()
            left = size
            while left:
                data = h.rfile.read(min(left, 1 << 20))
                out.update(data)
                left -= len(data)
            n += size
            h.rfile.readline()
    left = int(h.headers.get("Content-Length") or 0)
    out = hashlib.sha256()
    n = left
    while left:
        data = h.rfile.read(min(left, 1 << 20))
        out.update(data)
        left -= len(data)
    return n, out.hexdigest()


class Backend(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def send(self, status, body, ctype="application/json", extra=()):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def chunk(self, data):
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def handle_any(self):
        seen.append((self.command, self.path, [(k, v) for k, v in self.headers.items()]))
        path = self.path.split("?")[0]
        if path.startswith("/echo") or path == "/upload":
            n, digest = read_body(self)
            body = json.dumps({"method": self.command, "path": self.path, "length": n,
                               "sha256": digest, "headers": self.headers.items()}).encode()
            self.send(200, body)
        elif path == "/forbidden":
            self.send(403, b"no entry", "text/plain", [("X-Backend", "yes")])
        elif path == "/nocontent":
            self.send_response(204)
            self.end_headers()
        elif path == "/chunked":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for part in (b"one,", b"two,", b"three"):
                self.chunk(part)
            self.wfile.write(b"0\r\n\r\n")
        elif path == "/gzip-chunked":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "gzip, chunked")
            self.end_headers()
            self.chunk(gzip.compress(b"squeezed"))
            self.wfile.write(b"0\r\n\r\n")
        elif path == "/sse":
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for i in range(3):
                self.chunk(b"data: %d\n\n" % i)
                time.sleep(0.6)
            self.wfile.write(b"0\r\n\r\n")
        elif path == "/close":
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(b"until the end")
            self.wfile.flush()
            time.sleep(0.2)
            self.wfile.write(b" of the connection")
            self.close_connection = True
        elif path == "/big":
            n = int(self.path.split("=")[1])
            self.send_response(200)
            self.send_header("Content-Length", str(n))
            self.end_headers()
            block = b"x" * (1 << 20)
            while n:
                k = min(n, len(block))
                self.wfile.write(block[:k])
                n -= k
        elif path == "/short":
            self.send_response(200)
            self.send_header("Content-Length", "1000")
            self.end_headers()
            self.wfile.write(b"only ten.." )
            self.close_connection = True
        elif path == "/slow":
            time.sleep(3)
            self.send(200, b"slow")
        elif path == "/ws":
            self.websocket()
        else:
            self.send(404, b"nothing here", "text/plain")

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = handle_any

    def websocket(self):
        key = self.headers["Sec-WebSocket-Key"]
        accept = base64.b64encode(hashlib.sha1(
            (key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()).decode()
        self.send_response(101)
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        self.send_header("Sec-WebSocket-Accept", accept)
        self.end_headers()
        self.wfile.flush()
        while True:
            op, payload = ws_read(self.rfile)
            if op is None or op == 8:
                ws_write(self.wfile, 8, b"", mask=False)
                break
            ws_write(self.wfile, op, payload.upper(), mask=False)
        self.close_connection = True


def ws_write(f, op, payload, mask=True):
    f.write(frame_bytes(op, payload, mask=mask))
    f.flush()


def ws_read(f):
    h = f.read(2)
    if len(h) < 2:
        return None, None
    n = h[1] & 0x7F
    if n == 126:
        n = struct.unpack("!H", f.read(2))[0]
    elif n == 127:
        n = struct.unpack("!Q", f.read(8))[0]
    key = f.read(4) if h[1] & 0x80 else None
    data = f.read(n)
    if key:
        data = bytes(b ^ key[i % 4] for i, b in enumerate(data))
    return h[0] & 0x0F, data


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True


backend = Server(("127.0.0.1", 0), Backend)
BPORT = backend.server_address[1]
threading.Thread(target=backend.serve_forever, daemon=True).start()


def echo(d, method="GET", path="/echo", body=None, headers=None):
    status, hdrs, data = d.request(method, "/proxy/%d%s" % (BPORT, path), body, headers)
    return status, hdrs, json.loads(data) if status == 200 else data


def header(hlist, name):
    return [v for k, v in hlist if k.lower() == name.lower()]


def test_forwarding(t):
    with Daemon(token=TOKEN) as d:
        before = len(seen)
        c = http.client.HTTPConnection("127.0.0.1", d.port, timeout=10)
        c.request("GET", "/proxy/%d/echo" % BPORT)
        r = c.getresponse()
        r.read()
        t.eq(r.status, 401, "no token: 401 before anything is proxied")
        t.eq(len(seen), before, "the backend saw nothing of it")

        st, _, got = echo(d, path="/echo/a%2Fb/c?x=1&y=%2F", headers={
            "X-Forwarded-Host": "evil", "X-Forwarded-For": "10.1.2.3",
            "Connection": "X-Hop", "X-Hop": "1", "Keep-Alive": "5", "TE": "trailers",
            "Proxy-Authorization": "Basic eA==", "X-Custom": "kept"})
        t.eq(st, 200, "GET through the proxy")
        t.eq(got["path"], "/echo/a%2Fb/c?x=1&y=%2F", "path and query reach the backend as sent")
        h = got["headers"]
        t.eq(header(h, "X-Forwarded-For"), ["10.1.2.3, 127.0.0.1"], "X-Forwarded-For gets the client appended")
        t.eq(header(h, "X-Forwarded-Proto"), ["http"], "X-Forwarded-Proto: http")
        t.eq(header(h, "X-Forwarded-Host"), [], "no X-Forwarded-Host")
        t.eq([header(h, n) for n in ("X-Hop", "Keep-Alive", "TE", "Proxy-Authorization")],
             [[], [], [], []], "hop-by-hop fields (and those Connection names) are removed")
        t.eq(header(h, "X-Custom"), ["kept"], "other fields pass")
        t.eq(header(h, "Host"), ["127.0.0.1:%d" % d.port], "the original Host is kept")
        t.eq(header(h, "X-EXECD-ACCESS-TOKEN"), [], "the access token is not handed to the port")

        st, hdrs, body = d.request("GET", "/proxy/%d/forbidden" % BPORT)
        t.eq((st, body, hdrs.get("x-backend")), (403, b"no entry", "yes"),
             "the backend's status, headers and body pass unchanged")
        st, hdrs, body = d.request("HEAD", "/proxy/%d/echo" % BPORT)
        t.eq((st, body), (200, b""), "HEAD: no body")
        st, _, body = d.request("DELETE", "/proxy/%d/nocontent" % BPORT)
        t.eq((st, body), (204, b""), "204 from the backend")

        payload = os.urandom(300000)
        st, _, got = echo(d, "POST", "/echo", payload)
        t.eq((got["method"], got["length"], got["sha256"]),
             ("POST", len(payload), hashlib.sha256(payload).hexdigest()), "a sized body is forwarded")
        c = http.client.HTTPConnection("127.0.0.1", d.port, timeout=10)
        c.request("PUT", "/proxy/%d/echo" % BPORT, body=iter([payload[:1000], payload[1000:]]),
                  headers={"X-EXECD-ACCESS-TOKEN": TOKEN}, encode_chunked=True)
        got = json.loads(c.getresponse().read())
        t.eq((got["method"], got["length"], got["sha256"]),
             ("PUT", len(payload), hashlib.sha256(payload).hexdigest()), "a chunked body is forwarded")

        # One connection, several exchanges (chunked, close-delimited, sized).
        c.request("GET", "/proxy/%d/chunked" % BPORT, headers={"X-EXECD-ACCESS-TOKEN": TOKEN})
        r = c.getresponse()
        t.eq((r.status, r.getheader("Transfer-Encoding"), r.read()),
             (200, "chunked", b"one,two,three"), "a chunked answer")
        # http.client knows only a bare "chunked": read this one raw.
        raw = raw_exchange(d.port, b"GET /proxy/%d/gzip-chunked HTTP/1.1\r\nHost: x\r\n"
                           b"X-EXECD-ACCESS-TOKEN: %s\r\nConnection: close\r\n\r\n"
                           % (BPORT, TOKEN.encode()))
        head, _, body = raw.partition(b"\r\n\r\n")
        t.ok(b"\r\nTransfer-Encoding: gzip, chunked\r\n" in head,
             "the backend's transfer codings are passed on with the body they describe", head)
        size, _, rest = body.partition(b"\r\n")
        t.eq(gzip.decompress(rest[:int(size, 16)]), b"squeezed", "and the body is unchanged")
        c.request("GET", "/proxy/%d/close" % BPORT, headers={"X-EXECD-ACCESS-TOKEN": TOKEN})
        r = c.getresponse()
        t.eq((r.status, r.getheader("Transfer-Encoding"), r.read()),
             (200, "chunked", b"until the end of the connection"),
             "an answer that ends with the backend's connection is re-chunked")
        c.request("GET", "/proxy/%d/echo" % BPORT, headers={"X-EXECD-ACCESS-TOKEN": TOKEN})
        r = c.getresponse()
        t.eq(r.status, 200, "the client connection is still usable after those")
        r.read()
        c.close()


def test_streaming(t):
    with Daemon() as d:
        c = d.conn(10)
        start = time.time()
        c.request("GET", "/proxy/%d/sse" % BPORT)
        r = c.getresponse()
        t.eq(r.getheader("Content-Type"), "text/event-stream", "SSE content type passes")
        first = r.read1(100)
        t1 = time.time() - start
        rest = b""
        while True:
            data = r.read1(100)
            if not data:
                break
            rest += data
        t.ok(first.startswith(b"data: 0") and t1 < 0.5,
             "the first event arrives at once (%.2f s), not with the rest" % t1, first)
        t.eq(first + rest, b"data: 0\n\ndata: 1\n\ndata: 2\n\n", "every event arrives")

        # A slow backend does not hold up other exchanges.
        slow = threading.Thread(target=d.request, args=("GET", "/proxy/%d/slow" % BPORT))
        slow.start()
        time.sleep(0.2)
        start = time.time()
        st, _, _ = echo(d)
        took = time.time() - start
        t.ok(st == 200 and took < 1.0, "another request is answered while one waits (%.2f s)" % took)
        slow.join()

        c = d.conn(10)
        c.request("GET", "/proxy/%d/short" % BPORT)
        r = c.getresponse()
        try:
            r.read()
            cut = False
        except http.client.IncompleteRead:
            cut = True
        t.ok(cut, "a backend that dies mid-answer: the client sees a short body")

        status, _, body = d.request("GET", "/proxy/%d/x" % free_port())
        t.eq((status, body), (502, b"Bad Gateway"), "a refused port: 502 Bad Gateway")
        # Refused while the request was read: the 502 goes out whole and the connection
        # closes (it used to stay open for good, its descriptor with it; found by fuzz_http).
        fds = fd_count(d.proc.pid)
        for method, body in (("GET", b""), ("POST", b"x" * 1000)):
            s = raw_request(d, method, "/proxy/%d/x" % free_port(), body, timeout=10)
            answer = read_to_close(s)
            s.setblocking(False)
            try:
                closed = s.recv(1) == b""
            except BlockingIOError:
                closed = False
            s.close()
            t.ok(answer.startswith(b"HTTP/1.1 502 ") and answer.endswith(b"Bad Gateway") and closed,
                 "a refused %s: 502, then the daemon closes the connection" % method,
                 answer[-300:])
        t.ok(wait_for(lambda: fd_count(d.proc.pid) <= fds, 5),
             "no descriptor left in the master (%d before, %d after)" % (fds, fd_count(d.proc.pid)))
        status, hdrs, body = d.request("GET", "/proxy/notaport/x")
        t.eq((status, body, hdrs.get("content-type")), (502, b"Bad Gateway", "text/plain; charset=utf-8"),
             "a port that is not a number: 502")
        for path in ("/proxy/", "/proxy//x"):
            status, hdrs, body = d.request("GET", path)
            t.eq((status, body), (400, b"port is required"), "%s: 400 port is required" % path)


def test_big_bodies(t):
    with Daemon() as d:
        master = d.proc.pid
        n = 256 << 20
        c = d.conn(60)
        c.request("GET", "/proxy/%d/big?n=%d" % (BPORT, n))
        r = c.getresponse()
        got = len(r.read(1 << 20))
        time.sleep(1.0)  # a client that reads slowly: the backend must wait, not the master's memory
        rss = rss_kb(master)
        while True:
            data = r.read(1 << 20)
            if not data:
                break
            got += len(data)
        t.eq(got, n, "a 256 MiB download through the proxy arrives whole")
        if SANITIZED:  # shadow memory: ceilings do not apply
            t.skip("master RSS while the client does not read", "sanitizer build")
        else:
            t.ok(rss < 40000, "master RSS while the client does not read: %d kB" % rss)

        payload = os.urandom(1 << 20) * 64
        sampler = RssSampler([master], interval=0.05)
        st, _, got = echo(d, "POST", "/upload", payload)
        rss_max = sampler.stop()[master]
        t.eq((st, got["length"], got["sha256"]), (200, len(payload), hashlib.sha256(payload).hexdigest()),
             "a 64 MiB upload through the proxy arrives whole")
        if SANITIZED:
            t.skip("master RSS during the upload", "sanitizer build")
        else:
            t.ok(rss_max < 60000, "master RSS during the upload: %d kB" % rss_max)


def test_websocket(t):
    with Daemon(token=TOKEN) as d:
        s = socket.create_connection(("127.0.0.1", d.port), timeout=10)
        key = base64.b64encode(os.urandom(16)).decode()
        s.sendall(("GET /proxy/%d/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                   "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n"
                   "X-EXECD-ACCESS-TOKEN: %s\r\n\r\n" % (BPORT, key, TOKEN)).encode())
        f = s.makefile("rwb")
        status = f.readline()
        heads = []
        while True:
            line = f.readline()
            if line in (b"\r\n", b""):
                break
            heads.append(line.decode().strip().lower())
        t.ok(status.startswith(b"HTTP/1.1 101"), "WebSocket upgrade: 101", status)
        t.ok("upgrade: websocket" in heads and "connection: upgrade" in heads,
             "Upgrade and Connection reach the client", heads)
        ws_write(f, 1, b"hello")
        t.eq(ws_read(f), (1, b"HELLO"), "a frame goes through the tunnel and back")
        big = os.urandom(300000)
        ws_write(f, 2, big)
        t.eq(ws_read(f), (2, big.upper()), "a 300 kB frame both ways")
        st, _, _ = d.request("GET", "/ping")
        t.eq(st, 200, "the daemon serves others meanwhile")
        t.ok(wait_for(lambda: "execd_connections_open 2\n" in d.request("GET", "/metrics/daemon")[2].decode()
                      and "execd_proxy_connections_open 1\n" in d.request("GET", "/metrics/daemon")[2].decode()),
             "the tunnel is a client connection (-max-connections counts it)")
        ws_write(f, 8, b"")
        t.eq(ws_read(f)[0], 8, "the close frame comes back")
        t.eq(f.read(), b"", "then the connection closes")
        s.close()
        text = d.request("GET", "/metrics/daemon")[2].decode()
        t.ok(wait_for(lambda: "execd_proxy_connections_open 0" in
                      d.request("GET", "/metrics/daemon")[2].decode()),
             "no proxied connection is left open", text[-600:])


def test_own_port(t):
    scratch = tempfile.mkdtemp(prefix="execd-proxy-")
    with Daemon() as d:
        base = "/proxy/%d" % d.port
        st, hdrs, events, raw = d.stream(base + "/command", {"command": "echo through"})
        t.eq(st, 200, "POST /proxy/PORT/command streams")
        t.eq([e.get("text") for e in without_pings(events) if e["type"] == "stdout"], ["through"],
             "the command's output as on the direct route")
        t.eq(hdrs.get("content-type"), "text/event-stream", "stream headers as on the direct route")
        st, _, body = d.request("GET", base + "/metrics")
        t.ok(st == 200 and "cpu_count" in json.loads(body), "GET /proxy/PORT/metrics")

        target = os.path.join(scratch, "f.bin")
        data = os.urandom(100000)
        boundary = "xyzzy"
        body = ("--%s\r\nContent-Disposition: form-data; name=\"metadata\"; filename=\"metadata\"\r\n\r\n"
                "%s\r\n--%s\r\nContent-Disposition: form-data; name=\"file\"; filename=\"f\"\r\n"
                "Content-Type: application/octet-stream\r\n\r\n" % (
                    boundary, json.dumps({"path": target}), boundary)).encode() + data + \
            ("\r\n--%s--\r\n" % boundary).encode()
        st, _, _ = d.request("POST", base + "/files/upload", body,
                             {"Content-Type": "multipart/form-data; boundary=" + boundary})
        t.eq(st, 200, "upload through /proxy/PORT")
        with open(target, "rb") as f:
            t.eq(f.read(), data, "the uploaded file is complete")
        st, hdrs, body = d.request("GET", base + "/files/download?path=" + target,
                                   headers={"Range": "bytes=10-19"})
        t.eq((st, body, hdrs.get("content-range")), (206, data[10:20], "bytes 10-19/100000"),
             "download with Range through /proxy/PORT")
        st, _, body = d.request("GET", base)
        t.eq(st, 404, "/proxy/PORT alone is the daemon's /")
        log = d.logs()
        t.ok("/proxy/%d/command" % d.port in log, "the access log shows the path as requested")
    os.system("rm -rf " + scratch)


run_tests([test_forwarding, test_streaming, test_big_bodies, test_websocket, test_own_port])
