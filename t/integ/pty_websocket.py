"""The PTY WebSocket as RFC 6455 asks: fragments with control frames between them, client
close echoed, protocol violations closed with 1002 (1007 for bad UTF-8, 1009 for too big),
the server's ping, a client that never reads (the shell pauses, memory stays bounded, the
write deadline drops it), and a fast producer that does not starve other clients."""
import socket
import struct
import threading
import time

from execd_test import SANITIZED, Daemon, rss_kb, run_tests, wait_for
from wsclient import (OP_BINARY, OP_CLOSE, OP_CONT, OP_PING, OP_PONG, OP_TEXT, Closed,
                      PtyClient, frame_bytes, new_session)

RSS_GROWTH_MAX_KB = 48 * 1024 if not SANITIZED else 1 << 40


def violation(t, d, sid, data, code, what):
    c = PtyClient(d, sid)
    c.send_raw(data)
    got = c.wait_close(5)
    t.eq(got, code, "%s: closed with %s" % (what, code))
    t.ok(c.eof(), "%s: then the connection ends" % what)


def test_fragments_and_control(t):
    with Daemon() as d:
        sid = new_session(d)
        c = PtyClient(d, sid)
        text = b'{"type":"stdin","data":"echo frag_$((3+4))\\n"}'
        c.send(OP_TEXT, text[:10], fin=False)
        c.send(OP_PING, b"between")
        c.send(OP_CONT, text[10:20], fin=False)
        c.send(OP_PONG, b"unsolicited")
        c.send(OP_CONT, text[20:], fin=True)
        t.ok(c.until(lambda c: b"frag_7" in c.out), "a fragmented text message is whole")
        frames = []
        c.send(OP_PING, b"p2")
        deadline = time.time() + 5
        while time.time() < deadline:
            fin, op, payload = c.recv_frame(5)
            frames.append((op, payload))
            if op == OP_PONG and payload == b"p2":
                break
        t.ok((OP_PONG, b"p2") in frames, "a ping is answered with its payload")
        data = b"\x00echo bin_frag_$((5+5))\n"
        c.send(OP_BINARY, data[:3], fin=False)
        c.send(OP_CONT, data[3:], fin=True)
        t.ok(c.until(lambda c: b"bin_frag_10" in c.out), "a fragmented binary message too")
        c.close(4000, b"bye")
        t.eq(c.wait_close(), 4000, "the client's close code is echoed")
        t.ok(c.eof(), "and the server closes the connection")
        c = PtyClient(d, sid)
        t.ok(c.connected(), "the session is free again")
        c.close()


def test_violations(t):
    with Daemon() as d:
        sid = new_session(d)
        violation(t, d, sid, frame_bytes(OP_TEXT, b"{}", mask=False), 1002, "an unmasked frame")
        violation(t, d, sid, frame_bytes(OP_TEXT, b"{}", rsv=4), 1002, "a reserved bit")
        violation(t, d, sid, frame_bytes(0x3, b"x"), 1002, "an unknown opcode")
        violation(t, d, sid, frame_bytes(OP_CONT, b"x"), 1002, "a continuation of nothing")
        violation(t, d, sid, frame_bytes(OP_TEXT, b"a", fin=False) + frame_bytes(OP_BINARY, b"b"),
                  1002, "a new message inside a fragmented one")
        violation(t, d, sid, frame_bytes(OP_PING, b"x", fin=False), 1002, "a fragmented ping")
        violation(t, d, sid, frame_bytes(OP_PING, b"p" * 126), 1002, "a ping over 125 bytes")
        violation(t, d, sid, frame_bytes(OP_CLOSE, b"\x03"), 1002, "a close with one byte")
        violation(t, d, sid, frame_bytes(OP_CLOSE, struct.pack(">H", 1005)), 1002,
                  "a close with a reserved code")
        violation(t, d, sid, frame_bytes(OP_TEXT, b'{"type":"\xc0\xaf"}'), 1007,
                  "a text message that is not UTF-8")
        violation(t, d, sid, frame_bytes(OP_BINARY, b"\x00" * 16, length=2 << 20), 1009,
                  "a frame announcing 2 MiB")
        big = b"\x00" + b"x" * (600 * 1024)
        violation(t, d, sid, frame_bytes(OP_BINARY, big, fin=False) + frame_bytes(OP_CONT, big),
                  1009, "a message of 1.2 MiB in two fragments")
        c = PtyClient(d, sid)
        c.type("echo survived_$((1+2))")
        t.ok(c.until(lambda c: b"survived_3" in c.out), "the session outlives its clients' errors")
        c.close()


def test_server_ping_and_slow_client(t):
    with Daemon() as d:
        idle_sid = new_session(d)
        idle = PtyClient(d, idle_sid)
        idle_start = time.time()

        # A client that never reads while the shell writes as fast as it can.
        sid = new_session(d)
        c = PtyClient(d, sid)
        pids = d.pids()
        base = {p: rss_kb(p) for p in pids}
        c.type("cat /dev/zero | tr '\\0' y")
        # The socket buffers fill first (a few MB on loopback), then the worker stops reading.
        samples = [-1]
        deadline = time.time() + 30
        while time.time() < deadline:
            time.sleep(1)
            samples.append(d.json("GET", "/pty/" + sid)[2]["output_offset"])
            if samples[-1] == samples[-2]:
                break
        stalled = time.time()
        peaks = {p: rss_kb(p) for p in pids}
        first, second = samples[-2], samples[-1]
        t.ok(second == first, "the shell's output is not read while the client reads nothing "
             "(offsets %s)" % samples[1:])
        t.ok(first < 32 << 20, "little was produced (%d bytes)" % first)
        growth = max(peaks[p] - base[p] for p in pids)
        t.ok(growth < RSS_GROWTH_MAX_KB, "master and worker memory stayed bounded (+%d KiB)" % growth)
        time.sleep(max(0.0, 12 - (time.time() - stalled)))
        t.ok(c.eof(10, reset_ok=True), "the client is dropped after the 10 s write deadline")
        t.ok(d.json("GET", "/pty/" + sid)[2]["running"], "the shell keeps running")
        r = PtyClient(d, sid, "?since=%d" % second)
        r.send_json({"type": "signal", "signal": "SIGINT"})
        r.type("echo reattached_$((2*21))")
        t.ok(r.until(lambda c: b"reattached_42" in c.out, 30), "a new client attaches and goes on")
        r.close()

        left = 31.5 - (time.time() - idle_start)
        if left > 0:
            time.sleep(left)
        try:
            idle.send(OP_PING, b"probe")  # answered: recv returns once its pong is read
            idle.until(lambda c: False, 1)
            got = idle.pings
        except Closed:
            got = -1
        t.ok(got >= 1, "an idle client gets a ping within 30 s (%d)" % got)
        idle.type("echo idle_ok_$((1+1))")
        t.ok(idle.until(lambda c: b"idle_ok_2" in c.out), "and stays connected")
        idle.close()


def test_stdin_not_taken(t):
    with Daemon() as d:
        sid = new_session(d)
        # Pipe mode: a terminal in canonical mode would drop what overflows its line.
        c = PtyClient(d, sid, "?pty=0")
        c.stdin(b"exec sleep 600\n")  # nobody reads stdin any more
        time.sleep(0.5)
        pids = d.pids()
        base = {p: rss_kb(p) for p in pids}
        sent = [0]
        chunk = b"\x00" + b"k" * (64 * 1024)

        def flood():
            try:
                while sent[0] < (32 << 20):
                    c.send(OP_BINARY, chunk)
                    sent[0] += len(chunk)
            except OSError:
                pass

        th = threading.Thread(target=flood, daemon=True)
        th.start()
        time.sleep(3)
        first = sent[0]
        time.sleep(1)
        growth = max(rss_kb(p) - base[p] for p in pids)
        t.ok(sent[0] == first and first < (32 << 20),
             "stdin the shell does not take stops the client (%d bytes sent, then no more)"
             % first)
        t.ok(growth < RSS_GROWTH_MAX_KB, "master and worker memory stayed bounded (+%d KiB)"
             % growth)
        status, _, _ = d.request("DELETE", "/pty/" + sid)
        t.eq(status, 200, "the session can still be deleted")
        c.shutdown()
        th.join(5)


def test_counts_as_a_connection(t):
    with Daemon("-max-connections", "2") as d:
        a = PtyClient(d, new_session(d))
        b = PtyClient(d, new_session(d))
        time.sleep(0.2)
        s = socket.create_connection(("127.0.0.1", d.port), timeout=5)
        s.sendall(b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n")
        s.settimeout(1)
        try:
            early = s.recv(100)
        except socket.timeout:
            early = b""
        t.eq(early, b"", "two WebSockets hold both connections of -max-connections 2")
        a.close()
        a.wait_close()
        s.settimeout(5)
        t.ok(s.recv(100).startswith(b"HTTP/1.1 200"), "one closes: the waiting request is served")
        s.close()
        b.close()


def test_fast_producer_does_not_starve(t):
    with Daemon() as d:
        sid = new_session(d)
        fast = PtyClient(d, sid)
        got = [0]
        stop = threading.Event()

        def drain():
            while not stop.is_set():
                try:
                    _, payload = fast.recv(5)
                    got[0] += len(payload)
                except Exception:
                    return

        th = threading.Thread(target=drain)
        th.start()
        fast.type("yes")
        time.sleep(1)
        other = PtyClient(d, new_session(d))
        worst = 0.0
        for i in range(20):
            start = time.time()
            other.type("echo k%d_$((%d+1))" % (i, i))
            want = ("k%d_%d" % (i, i + 1)).encode()
            other.until(lambda c: want in c.out, 10)
            worst = max(worst, time.time() - start)
            s = time.time()
            d.request("GET", "/ping")
            worst = max(worst, time.time() - s)
        t.ok(got[0] > 1 << 20, "the fast session streams (%d bytes in the meantime)" % got[0])
        # Starved, they would wait for the producer (seconds); served in turn, milliseconds.
        t.ok(worst < (3.0 if SANITIZED else 1.0),
             "other clients are served promptly (worst %.3f s)" % worst)
        fast.send_json({"type": "signal", "signal": "SIGINT"})
        stop.set()
        th.join()
        fast.shutdown()
        other.close()


run_tests([test_fragments_and_control, test_violations, test_server_ping_and_slow_client,
           test_stdin_not_taken, test_counts_as_a_connection, test_fast_producer_does_not_starve])
