"""A WebSocket client (RFC 6455) over a raw socket, for the PTY tests: it can send what a
well-behaved client would not (unmasked, oversized, fragmented control frames, bad UTF-8),
and a PTY session helper on top (api-contract §10.4). Standard library only."""
import base64
import hashlib
import json
import os
import socket
import struct
import time

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA


class HandshakeError(Exception):
    def __init__(self, status, headers, body):
        Exception.__init__(self, "handshake answered %s: %r" % (status, body[:200]))
        self.status = status
        self.headers = headers
        self.body = body


class Closed(Exception):
    """The server closed: code (None when the TCP connection ended without a close frame)."""

    def __init__(self, code, reason=b""):
        Exception.__init__(self, "closed with %r %r" % (code, reason))
        self.code = code
        self.reason = reason


def frame_bytes(opcode, payload=b"", fin=True, mask=True, rsv=0, length=None, key=None):
    """One client frame; length overrides the payload length written in the header."""
    n = len(payload) if length is None else length
    head = bytes([(0x80 if fin else 0) | (rsv << 4) | opcode])
    m = 0x80 if mask else 0
    if n < 126:
        head += bytes([m | n])
    elif n < 65536:
        head += bytes([m | 126]) + struct.pack(">H", n)
    else:
        head += bytes([m | 127]) + struct.pack(">Q", n)
    if not mask:
        return head + payload
    key = key or os.urandom(4)
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


class WsClient:
    def __init__(self, port, path, headers=None, timeout=10, connect=True):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.auto_pong = True
        self.pings = 0
        self.close_code = None
        if connect:
            self.handshake(path, headers)

    # ---- the opening handshake -------------------------------------------------------

    def handshake(self, path, headers=None, key=None):
        key = key or base64.b64encode(os.urandom(16)).decode()
        h = {"Host": "127.0.0.1", "Upgrade": "websocket", "Connection": "Upgrade",
             "Sec-WebSocket-Key": key, "Sec-WebSocket-Version": "13"}
        for k, v in (headers or {}).items():
            if v is None:
                h.pop(k, None)
            else:
                h[k] = v
        req = "GET %s HTTP/1.1\r\n" % path + "".join("%s: %s\r\n" % kv for kv in h.items())
        self.sock.sendall(req.encode() + b"\r\n")
        status, hdrs, body = self._read_response()
        if status != 101:
            raise HandshakeError(status, hdrs, body)
        want = base64.b64encode(hashlib.sha1(key.encode() + GUID).digest()).decode()
        if hdrs.get("sec-websocket-accept") != want:
            raise HandshakeError(status, hdrs, b"bad Sec-WebSocket-Accept")
        return hdrs

    def _read_response(self):
        while b"\r\n\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise HandshakeError(None, {}, self.buf)
            self.buf += chunk
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        hdrs = {}
        for line in lines[1:]:
            k, v = line.split(":", 1)
            hdrs[k.strip().lower()] = v.strip()
        body = b""
        if status != 101:
            n = int(hdrs.get("content-length", "0"))
            while len(self.buf) < n:
                chunk = self.sock.recv(65536)
                if not chunk:
                    break
                self.buf += chunk
            body, self.buf = self.buf[:n], self.buf[n:]
        return status, hdrs, body

    # ---- frames ------------------------------------------------------------------------

    def send_raw(self, data):
        self.sock.sendall(data)

    def send(self, opcode, payload=b"", **kw):
        self.sock.sendall(frame_bytes(opcode, payload, **kw))

    def send_text(self, text):
        self.send(OP_TEXT, text.encode() if isinstance(text, str) else text)

    def send_json(self, obj):
        self.send_text(json.dumps(obj))

    def send_binary(self, data):
        self.send(OP_BINARY, data)

    def close(self, code=1000, reason=b""):
        try:
            self.send(OP_CLOSE, struct.pack(">H", code) + reason)
        except OSError:
            pass

    def _need(self, n, deadline):
        while len(self.buf) < n:
            left = deadline - time.time()
            if left <= 0:
                raise socket.timeout("no frame in time")
            self.sock.settimeout(left)
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                raise Closed(None)
            self.buf += chunk

    def recv_frame(self, timeout=10):
        """(fin, opcode, payload) of the next server frame (which must be unmasked)."""
        deadline = time.time() + timeout
        self._need(2, deadline)
        b0, b1 = self.buf[0], self.buf[1]
        if b1 & 0x80:
            raise AssertionError("server frame is masked")
        n, off = b1 & 0x7F, 2
        if n == 126:
            self._need(4, deadline)
            n, off = struct.unpack(">H", self.buf[2:4])[0], 4
        elif n == 127:
            self._need(10, deadline)
            n, off = struct.unpack(">Q", self.buf[2:10])[0], 10
        self._need(off + n, deadline)
        payload = self.buf[off:off + n]
        self.buf = self.buf[off + n:]
        return bool(b0 & 0x80), b0 & 0x0F, payload

    def recv(self, timeout=10):
        """The next data message (opcode, payload); pings are answered, a close raises."""
        deadline = time.time() + timeout
        parts, first = [], None
        while True:
            fin, op, payload = self.recv_frame(max(0.001, deadline - time.time()))
            if op == OP_PING:
                self.pings += 1
                if self.auto_pong:
                    self.send(OP_PONG, payload)
                continue
            if op == OP_PONG:
                continue
            if op == OP_CLOSE:
                code = struct.unpack(">H", payload[:2])[0] if len(payload) >= 2 else None
                self.close_code = code
                raise Closed(code, payload[2:])
            if op != OP_CONT:
                first = op
            parts.append(payload)
            if fin:
                return first, b"".join(parts)

    def wait_close(self, timeout=10):
        """Reads until the server's close frame: its code (None: the TCP end came first)."""
        deadline = time.time() + timeout
        try:
            while True:
                self.recv(max(0.001, deadline - time.time()))
        except Closed as c:
            return c.code

    def eof(self, timeout=5, reset_ok=False):
        """Whether the server closed the TCP connection within timeout (what is still
        unread is discarded); a reset counts when reset_ok."""
        deadline = time.time() + timeout
        try:
            while time.time() < deadline:
                self.sock.settimeout(max(0.001, deadline - time.time()))
                if not self.sock.recv(1 << 20):
                    return True
        except ConnectionResetError:
            return reset_ok
        except OSError:
            return False
        return False

    def shutdown(self):
        try:
            self.sock.close()
        except OSError:
            pass


def new_session(d, body=None):
    """POST /pty on daemon d (body: cwd, command); the new session's id."""
    status, _, data = d.json("POST", "/pty", body if body is not None else {})
    assert status == 201, (status, data)
    return data["session_id"]


class PtyClient(WsClient):
    """A client of GET /pty/{id}/ws: output bytes and the text frames, as they arrive."""

    def __init__(self, d, sid, query="", headers=None, timeout=10, wait_connected=True):
        h = dict(d.headers())
        h.update(headers or {})
        WsClient.__init__(self, d.port, "/pty/%s/ws%s" % (sid, query), headers=h, timeout=timeout)
        self.out = b""         # stdout (PTY mode: the whole terminal)
        self.err = b""         # stderr (pipe mode)
        self.replay = None     # (offset, bytes) of the replay frame
        self.texts = []        # text frames, decoded
        self.order = []        # what came, in order: "replay", "connected", "out", ...
        self.exit_code = None
        self.largest = 0       # the longest output frame's payload
        if wait_connected:
            self.until(lambda c: c.connected(), timeout)

    def connected(self):
        return any(t.get("type") == "connected" for t in self.texts)

    def pump(self, timeout=10):
        op, payload = self.recv(timeout)
        if op == OP_TEXT:
            t = json.loads(payload)
            self.texts.append(t)
            self.order.append(t.get("type"))
            if t.get("type") == "exit":
                self.exit_code = t.get("exit_code")
        elif payload[:1] == b"\x01":
            self.out += payload[1:]
            self.order.append("out")
            self.largest = max(self.largest, len(payload) - 1)
        elif payload[:1] == b"\x02":
            self.err += payload[1:]
            self.order.append("err")
        elif payload[:1] == b"\x03":
            self.replay = (struct.unpack(">Q", payload[1:9])[0], payload[9:])
            self.order.append("replay")
        else:
            raise AssertionError("unexpected binary frame %r" % payload[:16])

    def until(self, pred, timeout=10):
        """Reads until pred(self) holds; returns True, or False at the deadline."""
        deadline = time.time() + timeout
        while not pred(self):
            left = deadline - time.time()
            if left <= 0:
                return False
            try:
                self.pump(left)
            except socket.timeout:
                return False
        return True

    def stdin(self, data):
        self.send_binary(b"\x00" + (data.encode() if isinstance(data, str) else data))

    def type(self, line):
        self.stdin(line + "\n")

    def errors(self):
        return [t for t in self.texts if t.get("type") == "error"]
