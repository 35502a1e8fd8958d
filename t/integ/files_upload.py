"""POST /files/upload (api-contract §7.7): SDK-shaped bodies, pairing, every malformed body,
write semantics (temp file + rename, modes, owners, symlinks), chunked bodies, interrupted and
concurrent uploads, and a 1 GiB upload with bounded memory."""
import json
import os
import signal
import threading
import time

from execd_test import Daemon, read_all, run_tests, wait_for
from files_common import (NOBODY, Block, RssSampler, Scratch, file_part, meta_part, multipart,
                          open_files_in, part, raw_request, temp_leftovers, upload)

ODD = "dir with spaces/测试 ü.bin"


def umask_mode():
    mask = os.umask(0)
    os.umask(mask)
    return 0o777 & ~mask


def err(t, got, status, code, needle, desc):
    st, body = got
    ok = st == status and isinstance(body, dict) and body.get("code") == code and \
        needle in body.get("message", "")
    t.ok(ok, desc, (st, body))


def test_sdk_shapes(t):
    with Scratch() as s, Daemon() as d:
        # Python SDK: one request, metadata (file part, nulls, mode 755) then file, per entry.
        st, body = upload(d, [meta_part(s("py", "one.txt"), mode=755), file_part("first", s("py", "one.txt")),
                              meta_part(s("py", ODD), mode=640), file_part(b"\x00\xffbin", "x")])
        t.eq((st, body), (200, None), "Python SDK shape: several pairs in one request")
        t.eq(open(s("py", "one.txt")).read(), "first", "first file written")
        t.eq(open(s("py", ODD), "rb").read(), b"\x00\xffbin", "binary content, non-ASCII path")
        t.eq((os.stat(s("py", "one.txt")).st_mode & 0o777, os.stat(s("py", ODD)).st_mode & 0o777),
             (0o755, 0o640), "metadata modes applied")
        # JS SDK: one pair per request, mode omitted, file named by its base name.
        meta = part("metadata", json.dumps({"path": s("js", "two.txt")}), filename="metadata",
                    ctype="application/json")
        st, _ = upload(d, [meta, part("file", "second", filename="two.txt",
                                      ctype="text/plain; charset=utf-8")])
        t.eq(st, 200, "JS SDK shape")
        t.eq(os.stat(s("js", "two.txt")).st_mode & 0o777, umask_mode(),
             "without a mode a new file gets 0777 & ~umask")
        t.eq(temp_leftovers(s("py")) + temp_leftovers(s("js")), [], "no temporary file is left")


def test_pairing(t):
    with Scratch() as s, Daemon() as d:
        st, _ = upload(d, [meta_part(s("plain.txt"), plain=True), file_part("P")])
        t.ok(st == 200 and open(s("plain.txt")).read() == "P",
             "a plain (non-file) metadata field works (Go saw only file parts)")
        st, _ = upload(d, [meta_part(s("both.txt"), plain=True), part("file", "B")])
        t.ok(st == 200 and open(s("both.txt")).read() == "B", "a plain file field works too")
        st, _ = upload(d, [file_part("F1"), file_part("F2"), part("other", "ignored"),
                           meta_part(s("f1.txt")), meta_part(s("f2.txt"))])
        t.ok(st == 200 and open(s("f1.txt")).read() == "F1" and open(s("f2.txt")).read() == "F2",
             "files before their metadata pair by index (spooled, then moved)")
        st, _ = upload(d, [meta_part(s("g1.txt")), file_part("G1"), file_part("G2"),
                           meta_part(s("g2.txt"))])
        t.ok(st == 200 and open(s("g1.txt")).read() == "G1" and open(s("g2.txt")).read() == "G2",
             "mixed order pairs by index")
        t.eq(temp_leftovers(s()), [], "no temporary file is left")


def test_errors(t):
    with Scratch() as s, Daemon() as d:
        target = s.write("target.txt", "original")

        def bad(parts, status, code, needle, desc, ctype=None, raw=None):
            if ctype is not None:
                st, _, body = d.json("POST", "/files/upload", raw if raw is not None else b"x",
                                     {"Content-Type": ctype})
                got = (st, body)
            else:
                got = upload(d, parts)
            err(t, got, status, code, needle, desc)

        bad(None, 400, "INVALID_FILE", "multipart form is empty", "not multipart",
            ctype="application/json")
        bad(None, 400, "INVALID_FILE", "multipart form is empty", "multipart without a boundary",
            ctype="multipart/form-data")
        bad(None, 400, "INVALID_FILE", "multipart form is empty", "an empty body",
            ctype="multipart/form-data; boundary=zz", raw=b"")
        bad(None, 400, "INVALID_FILE_METADATA", "metadata file is missing",
            "a valid empty form", ctype="multipart/form-data; boundary=zz", raw=b"--zz--\r\n")
        bad([file_part("x")], 400, "INVALID_FILE_METADATA", "metadata file is missing",
            "no metadata part")
        bad([meta_part(target)], 400, "INVALID_FILE_CONTENT", "file is missing", "no file part")
        bad([meta_part(target), meta_part(s("b")), file_part("x")], 400, "INVALID_FILE",
            "metadata and file count mismatch: 2 vs 1", "count mismatch")
        bad([part("metadata", "{nope", filename="metadata"), file_part("x")], 400,
            "INVALID_FILE_METADATA", "invalid metadata format.", "metadata that is not JSON")
        bad([part("metadata", "[1]", filename="metadata"), file_part("x")], 400,
            "INVALID_FILE_METADATA", "invalid metadata format.", "metadata that is not an object")
        bad([part("metadata", '{"path":""}', filename="metadata"), file_part("x")], 400,
            "INVALID_FILE_METADATA", "metadata path is empty", "an empty path")
        bad([part("metadata", '{"mode":644}', filename="metadata"), file_part("x")], 400,
            "INVALID_FILE_METADATA", "metadata path is empty", "no path")
        bad([part("metadata", json.dumps({"path": target, "mode": "644"})), file_part("x")], 400,
            "INVALID_FILE_METADATA", "field 'mode' must be an integer", "a string mode")
        bad([meta_part(target), file_part("new"), part("metadata", "{", filename="metadata"),
             file_part("x")], 400, "INVALID_FILE_METADATA", "invalid metadata format.",
            "the second pair's metadata is bad")
        t.eq(open(target).read(), "original", "... and nothing was written, not even pair one")
        ctype, body = multipart([meta_part(target), file_part("truncated")])
        bad(None, 400, "INVALID_FILE", "invalid multipart form: unexpected end",
            "a truncated body (no closing boundary)", ctype=ctype, raw=body[:-12])
        bad(None, 400, "INVALID_FILE", "invalid multipart form",
            "malformed part headers", ctype="multipart/form-data; boundary=zz",
            raw=b"--zz\r\nContent-Disposition form-data\r\n\r\nx\r\n--zz--\r\n")
        bad([meta_part("$NO_SUCH_VAR_X/f"), file_part("x")], 500, "RUNTIME_ERROR",
            "path references undefined environment variables: NO_SUCH_VAR_X",
            "an undefined variable in the metadata path")
        os.makedirs(s("adir"))
        bad([meta_part(s("adir")), file_part("x")], 500, "RUNTIME_ERROR",
            "error writing file %s. open: is a directory" % s("adir"), "a directory as target")
        bad([meta_part(s("target.txt", "sub")), file_part("x")], 500, "RUNTIME_ERROR",
            "not a directory", "a file in the way of the parent directories")
        bad([meta_part(s("c.txt"), owner="no-such-user-xyz"), file_part("x")], 500,
            "RUNTIME_ERROR", "error chmoding file %s. unknown user no-such-user-xyz" % s("c.txt"),
            "an unknown owner")
        t.ok(not os.path.exists(s("c.txt")), "... and the file was not put in place")
        t.eq(open(target).read(), "original", "the target is untouched by every failure")
        t.eq(temp_leftovers(s()), [], "no temporary file is left")
    with Daemon(token="tok-upload") as d:
        ctype, body = multipart([meta_part("/tmp/never"), file_part("x")])
        st, _, _ = d.request("POST", "/files/upload", body, {"Content-Type": ctype,
                                                            "X-EXECD-ACCESS-TOKEN": "wrong"})
        t.ok(st == 401 and not os.path.exists("/tmp/never"), "without the token: 401, nothing written")


def test_write_semantics(t):
    with Scratch() as s, Daemon(env={"UPLOAD_DIR": s()}) as d:
        old = s.write("old.txt", "old content", mode=0o604)
        os.chown(old, NOBODY.pw_uid, NOBODY.pw_gid)
        st, _ = upload(d, [meta_part(old), file_part("new content")])
        ost = os.stat(old)
        t.ok(st == 200 and open(old).read() == "new content", "an existing file is replaced")
        t.eq((ost.st_mode & 0o777, ost.st_uid, ost.st_gid), (0o604, NOBODY.pw_uid, NOBODY.pw_gid),
             "it keeps its mode and owner when the metadata has none (no chown to the daemon)")
        st, _ = upload(d, [meta_part(s("owned.txt"), owner="nobody", group="65534", mode=600),
                           file_part("x")])
        ost = os.stat(s("owned.txt"))
        t.eq((st, ost.st_mode & 0o777, ost.st_uid, ost.st_gid),
             (200, 0o600, NOBODY.pw_uid, NOBODY.pw_gid), "owner by name, group by id, mode")
        real = s.write("real.txt", "before")
        os.symlink("real.txt", s("link.txt"))
        st, _ = upload(d, [meta_part(s("link.txt")), file_part("through")])
        t.ok(st == 200 and os.path.islink(s("link.txt")) and open(real).read() == "through",
             "a symlinked target is written through; the link stays")
        st, _ = upload(d, [meta_part("$UPLOAD_DIR/a/b/c/deep.txt"), file_part("deep")])
        t.ok(st == 200 and open(s("a", "b", "c", "deep.txt")).read() == "deep",
             "$VAR expands; missing parent directories are created")
        st, _ = upload(d, [meta_part(s("empty.txt")), file_part(b"")])
        t.ok(st == 200 and os.path.getsize(s("empty.txt")) == 0, "an empty file")
        body = os.urandom(3 * 1024 * 1024 + 17)
        body = body.replace(b"\r\n--", b"\r\n-X")
        st, _ = upload(d, [meta_part(s("chunked.bin")), file_part(body)], chunked=True)
        t.ok(st == 200 and open(s("chunked.bin"), "rb").read() == body,
             "a chunked request body (3 MiB of random bytes)")
        tricky = b"\r\n--execd-test-boundary-4\r\n--execd-test-boundary-42x\r\n" * 1000
        st, _ = upload(d, [meta_part(s("tricky.bin")), file_part(tricky)])
        t.ok(st == 200 and open(s("tricky.bin"), "rb").read() == tricky,
             "data that nearly contains the boundary")
        t.eq(temp_leftovers(s()), [], "no temporary file is left")


def test_keepalive(t):
    """One connection: uploads (good and bad), pings and downloads in turn."""
    with Scratch() as s, Daemon() as d:
        c = d.conn()
        seen = []
        for i, good in enumerate([True, False, True]):
            parts = [meta_part(s("k%d" % i)), file_part(b"%d" % i * 300000)]
            if not good:
                parts = parts[:1]
            ctype, body = multipart(parts)
            c.request("POST", "/files/upload", body=body, headers={"Content-Type": ctype})
            r = c.getresponse()
            r.read()
            c.request("GET", "/ping")
            p = c.getresponse()
            p.read()
            seen.append((r.status, p.status))
        c.request("GET", "/files/download?path=" + s("k2"))
        r = c.getresponse()
        data = r.read()
        c.close()
        t.eq(seen, [(200, 200), (400, 200), (200, 200)],
             "uploads, a failed one included, keep the connection usable")
        t.eq(data, b"2" * 300000, "and a download on it afterwards")


def test_interrupted(t):
    with Scratch() as s, Daemon() as d:
        target = s.write("target.bin", "original")
        ctype, body = multipart([meta_part(target), file_part(os.urandom(4 << 20))])
        head = ("POST /files/upload HTTP/1.1\r\nHost: x\r\nContent-Type: %s\r\n"
                "Content-Length: %d\r\n\r\n" % (ctype, len(body))).encode()
        sock = raw_request(d.port, head, [body[:len(body) // 2]])
        held = wait_for(lambda: open_files_in(d.workers(), s()), 30)
        t.ok(held and len(held) == 1 and held[0].endswith("(deleted)") and temp_leftovers(s()) == [],
             "mid-upload: the data goes to an unnamed temporary file (O_TMPFILE)", held)
        sock.close()
        t.ok(wait_for(lambda: temp_leftovers(s()) == [], 10),
             "the client went away: the temporary file is removed")
        t.eq(open(target).read(), "original", "the target is untouched")
        # A complete file part, but the body ends before the closing boundary.
        sock = raw_request(d.port, head, [body[:-10]])
        wait_for(lambda: open_files_in(d.workers(), s()), 30)
        sock.close()
        t.ok(wait_for(lambda: temp_leftovers(s()) == [], 10), "nothing left either way")
        t.eq(open(target).read(), "original", "the target is still untouched")
        chead = ("POST /files/upload HTTP/1.1\r\nHost: x\r\nContent-Type: %s\r\n"
                 "Transfer-Encoding: chunked\r\n\r\n" % ctype).encode()
        piece = body[:1 << 20]
        sock = raw_request(d.port, chead, [b"%x\r\n" % len(piece) + piece + b"\r\n"])
        wait_for(lambda: open_files_in(d.workers(), s()), 30)
        sock.close()
        t.ok(wait_for(lambda: temp_leftovers(s()) == [], 10), "an interrupted chunked body too")
        t.eq(open(target).read(), "original", "the target is untouched")
        sock = raw_request(d.port, chead, [b"%x\r\n" % len(piece) + piece + b"\r\n",
                                           b"zz-not-a-chunk-size\r\n"])
        sock.settimeout(30)
        answer = read_all(sock)
        sock.close()
        t.ok(answer.startswith(b"HTTP/1.1 400 ") and b"Connection: close" in answer,
             "broken chunked framing mid-body: 400, then the connection is closed", answer[:200])
        t.ok(wait_for(lambda: temp_leftovers(s()) == [], 10), "... and nothing is left")
        st, _ = upload(d, [meta_part(target), file_part("after")])
        t.ok(st == 200 and open(target).read() == "after", "the daemon uploads normally afterwards")
    with Scratch() as s, Daemon("-keepalive-timeout", "1s") as d:
        target = s.write("target.bin", "original")
        ctype, body = multipart([meta_part(target), file_part(os.urandom(1 << 20))])
        head = ("POST /files/upload HTTP/1.1\r\nHost: x\r\nContent-Type: %s\r\n"
                "Content-Length: %d\r\n\r\n" % (ctype, len(body))).encode()
        sock = raw_request(d.port, head, [body[:100000]])
        sock.settimeout(60)
        try:
            closed = sock.recv(65536) == b""
        except ConnectionResetError:
            closed = True
        except OSError:  # the 60 s passed: not dropped
            closed = False
        sock.close()
        t.ok(closed, "a client idle mid-body is dropped after the idle timeout")
        t.ok(wait_for(lambda: temp_leftovers(s()) == [], 10), "... and its temporary file removed")
        t.eq(open(target).read(), "original", "the target is untouched")


def test_worker_killed(t):
    """A worker killed mid-upload leaves no file behind: the data was in an unnamed file."""
    with Scratch() as s, Daemon(workers=1, expect_worker_deaths=True) as d:
        target = s.write("target.bin", "original")
        ctype, body = multipart([meta_part(target), file_part(os.urandom(4 << 20))])
        head = ("POST /files/upload HTTP/1.1\r\nHost: x\r\nContent-Type: %s\r\n"
                "Content-Length: %d\r\n\r\n" % (ctype, len(body))).encode()
        sock = raw_request(d.port, head, [body[:len(body) // 2]])
        worker = d.workers()[0]
        t.ok(wait_for(lambda: open_files_in([worker], s()) != [], 10),
             "the worker is writing the upload")
        os.kill(worker, signal.SIGKILL)
        t.ok(wait_for(lambda: "(pid %d) died" % worker in d.logs(), 30), "the master sees the worker die")
        sock.sendall(body[len(body) // 2:])  # the rest is read and dropped: no reset
        sock.settimeout(60)
        answer = read_all(sock, until=lambda data: b"}" in data)
        sock.close()
        t.ok(answer.startswith(b"HTTP/1.1 500 ") and b'"code":"RUNTIME_ERROR"' in answer,
             "after the whole body, the client gets a 500 JSON error (the master survives)",
             answer[:300])
        t.eq((sorted(os.listdir(s())), open(target).read()), (["target.bin"], "original"),
             "nothing is left beside the untouched target")
        t.ok(wait_for(lambda: d.ready_workers() == 2, 30), "a new worker is started")
        got = upload(d, [meta_part(target), file_part("after")])
        t.ok(got[0] == 200 and open(target).read() == "after", "the next upload succeeds", got)
        t.ok(b"POST /files/upload 500 " in open(d.stdout_path, "rb").read(),
             "the access log records the 500")


def test_concurrent_same_path(t):
    with Scratch() as s, Daemon(workers=2) as d:
        target = s("same.bin")
        size = 2 << 20
        contents = [bytes([65 + i]) * size for i in range(8)]
        results = []

        def one(i):
            results.append(upload(d, [meta_part(target), file_part(contents[i])])[0])

        threads = [threading.Thread(target=one, args=(i,)) for i in range(8)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        t.eq(results, [200] * 8, "eight concurrent uploads to one path all succeed")
        data = open(target, "rb").read()
        t.ok(data in contents, "the target is exactly one of them, never a mix")
        t.eq(temp_leftovers(s()), [], "no temporary file is left")


def test_big_upload(t):
    blocks = 1024
    with Scratch() as s, Daemon() as d:
        target = s("big.bin")
        gen = Block()
        boundary = "big-upload-boundary"
        mh, mc = meta_part(target)
        pre = (b"--" + boundary.encode() + b"\r\n" + mh + b"\r\n" + mc + b"\r\n--" +
               boundary.encode() + b"\r\n" + b'Content-Disposition: form-data; name="file"; '
               b'filename="big.bin"\r\nContent-Type: application/octet-stream\r\n\r\n')
        post = b"\r\n--" + boundary.encode() + b"--\r\n"
        length = len(pre) + blocks * Block.SIZE + len(post)

        def body():
            yield pre
            for i in range(blocks):
                yield gen.get(i)
            yield post

        sampler = RssSampler(d.pids())
        t0 = time.time()
        c = d.conn(600)
        c.request("POST", "/files/upload", body=body(), headers={
            "Content-Type": "multipart/form-data; boundary=" + boundary,
            "Content-Length": str(length)})
        r = c.getresponse()
        r.read()
        c.close()
        took = time.time() - t0
        peak = sampler.finish()
        t.eq(r.status, 200, "a 1 GiB upload succeeds")
        t.diag("1 GiB in %.1fs (%.0f MiB/s); peak RSS KiB: %s" % (took, blocks / took, peak))
        t.eq(gen.check_file(target, blocks), None, "the stored file is byte-exact")
        master = d.pids()[0]
        t.below(max(peak.values()), 64 * 1024, "master and worker RSS stay under 64 MiB (%s)" % peak)
        t.below(peak[master], 32 * 1024, "master RSS stays under 32 MiB (%d KiB)" % peak[master])
        t.eq(temp_leftovers(s()), [], "no temporary file is left")


def test_flow_control(t):
    """A stalled worker (a disk that does not keep up): the master stops reading the client
    instead of buffering, and keeps answering /ping."""
    blocks = 256
    with Scratch() as s, Daemon(workers=1) as d:
        gen = Block()
        target = s("stalled.bin")
        ctype, head = multipart([meta_part(target)])
        head = head[:head.rindex(b"--execd-test-boundary-42--")]
        pre = head + b'--execd-test-boundary-42\r\nContent-Disposition: form-data; name="file"; ' \
            b'filename="f"\r\n\r\n'
        post = b"\r\n--execd-test-boundary-42--\r\n"
        sent = [0]

        def body():
            yield pre
            for i in range(blocks):
                sent[0] += 1
                yield gen.get(i)
            yield post

        result = []

        def send():
            c = d.conn(300)
            c.request("POST", "/files/upload", body=body(), headers={
                "Content-Type": ctype, "Content-Length": str(len(pre) + blocks * Block.SIZE + len(post))})
            r = c.getresponse()
            r.read()
            result.append(r.status)
            c.close()

        master, worker = d.pids()[0], d.workers()[0]
        th = threading.Thread(target=send)
        th.start()
        wait_for(lambda: sent[0] >= 16, 30)
        os.kill(worker, signal.SIGSTOP)
        try:
            sampler = RssSampler([master])
            time.sleep(0.5)
            at_stop = sent[0]
            pings = []
            for _ in range(10):
                t0 = time.time()
                st, _, _ = d.request("GET", "/ping")
                pings.append((st, time.time() - t0))
                time.sleep(0.1)
            stalled = sent[0] - at_stop
            peak = sampler.finish()[master]
        finally:
            os.kill(worker, signal.SIGCONT)
        th.join()
        t.ok(all(p[0] == 200 for p in pings), "/ping answers while the worker is stopped", pings)
        t.ok(stalled <= 8, "the client is held back (%d MiB more sent while stopped)" % stalled)
        t.below(peak, 24 * 1024, "master RSS stays under 24 MiB while stalled (%d KiB)" % peak)
        t.eq(result, [200], "the upload completes once the worker runs again")
        t.eq(gen.check_file(target, blocks), None, "byte-exact")


run_tests([test_sdk_shapes, test_pairing, test_errors, test_write_semantics, test_keepalive,
           test_interrupted, test_worker_killed, test_concurrent_same_path, test_flow_control,
           test_big_upload])
