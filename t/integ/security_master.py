"""Hostile clients against the master (issue 9, part A): header floods, unauthenticated
bodies, where the access token can leak (children's environments, /proc/PID/cmdline) and
the token file."""
import json
import os
import socket
import subprocess
import time

from execd_test import Daemon, EXECD_BIN, run_tests, rss_kb, texts, wait_for

TOKEN = "s3cret-token-of-the-test"


def connect(d, timeout=10):
    s = socket.create_connection(("127.0.0.1", d.port))
    s.settimeout(timeout)
    return s


def read_answer(s, limit=1 << 20):
    """Everything the server sends until it closes (or the socket's timeout)."""
    data = b""
    try:
        while len(data) < limit:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    except OSError:
        pass
    return data


def flood_headers(s, total, pid):
    """Sends header lines until total bytes went out or the server stops reading; returns
    the bytes sent and pid's highest RSS meanwhile."""
    line = b"X-a: b\r\n"
    block = line * (65536 // len(line))
    sent, peak = 0, 0
    try:
        while sent < total:
            s.sendall(block)
            sent += len(block)
            peak = max(peak, rss_kb(pid))
        s.sendall(b"\r\n")
    except OSError:
        pass
    return sent, peak


def test_header_flood(t):
    with Daemon(token=TOKEN) as d:
        master = d.proc.pid
        before = rss_kb(master)
        s = connect(d)
        s.sendall(b"GET /ping HTTP/1.1\r\nHost: x\r\n")
        sent, peak = flood_headers(s, 20 << 20, master)
        answer = read_answer(s)
        s.close()
        t.ok(answer.startswith(b"HTTP/1.1 431 "), "20 MB of header lines without a token: 431",
             answer[:200])
        t.ok(sent < (20 << 20), "the master stops reading the flood (%d bytes went out)" % sent)
        t.ok(peak - before < 8 * 1024, "master RSS stays flat (+%d KiB at most)" % (peak - before))
        t.eq(d.request("GET", "/ping")[0], 200, "the daemon serves on")


def head_with(n_headers, value=b"v"):
    return (b"GET /ping HTTP/1.1\r\nHost: x\r\n" +
            b"".join(b"X-h%d: %s\r\n" % (i, value) for i in range(n_headers - 1)) + b"\r\n")


def exchange(d, payload):
    s = connect(d, 5)
    try:
        s.sendall(payload)
    except OSError:
        pass
    answer = read_answer(s)
    s.close()
    return answer


def test_header_limits(t):
    with Daemon() as d:
        t.ok(exchange(d, head_with(100)).startswith(b"HTTP/1.1 200 "), "100 header fields pass")
        t.ok(exchange(d, head_with(101)).startswith(b"HTTP/1.1 431 "), "101 header fields: 431")
        big = head_with(10, b"v" * 7500)
        t.ok(exchange(d, big).startswith(b"HTTP/1.1 431 "), "67 KiB of header fields: 431")
        t.eq(d.request("GET", "/ping")[0], 200, "the daemon serves on")
    with Daemon("-max-headers", "5", "-max-header-size", "200") as d:
        t.ok(exchange(d, head_with(5)).startswith(b"HTTP/1.1 200 "), "-max-headers 5: 5 pass")
        t.ok(exchange(d, head_with(6)).startswith(b"HTTP/1.1 431 "), "-max-headers 5: 6 get 431")
        t.ok(exchange(d, head_with(2, b"v" * 200)).startswith(b"HTTP/1.1 431 "),
             "-max-header-size 200: a 200-byte value gets 431")


def test_unauthenticated_body(t):
    with Daemon(token=TOKEN) as d:
        master = d.proc.pid
        before = rss_kb(master)
        s = connect(d, 5)
        s.sendall(b"POST /command HTTP/1.1\r\nHost: x\r\nContent-Length: 16000000\r\n\r\n")
        head = b""
        try:
            head = s.recv(4096)
        except OSError:
            pass
        t.ok(head.startswith(b"HTTP/1.1 401 "), "401 right after the headers, before the body",
             head[:200])
        t.ok(b"Connection: close" in head, "and the connection closes", head[:300])
        peak = before
        try:
            for _ in range(15000000 // 65536):
                s.sendall(b"x" * 65536)
                peak = max(peak, rss_kb(master))
        except OSError:
            pass
        s.close()
        t.ok(peak - before < 4 * 1024, "the body is not buffered (+%d KiB at most)" % (peak - before))
        up = connect(d, 5)
        up.sendall(b"POST /files/upload HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n"
                   b"Content-Type: multipart/form-data; boundary=b\r\n\r\n")
        try:
            head = up.recv(4096)
        except OSError:
            head = b""
        up.close()
        t.ok(head.startswith(b"HTTP/1.1 401 "), "an upload without the token: 401 at once",
             head[:200])
        t.eq(d.request("GET", "/ping")[0], 200, "the daemon serves on")


run_tests([test_header_flood, test_header_limits, test_unauthenticated_body])
