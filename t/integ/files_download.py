"""GET /files/download (api-contract §7.8): headers, Content-Disposition, Range (206, 416s),
conditional requests, errors, and a 1 GiB download sent with sendfile (master RSS flat)."""
import email.utils
import os
import time

from execd_test import Daemon, run_tests
from files_common import Block, RssSampler, Scratch, q


def dl(d, path, headers=None):
    return d.request("GET", "/files/download?path=" + q(path), headers=headers)


def test_headers(t):
    with Scratch() as s, Daemon() as d:
        f = s.write("plain name.txt", b"0123456789")
        st, h, body = dl(d, f)
        t.eq((st, body), (200, b"0123456789"), "the whole file")
        t.eq(h.get("content-type"), "application/octet-stream", "Content-Type")
        t.eq(h.get("content-length"), "10", "Content-Length")
        t.eq(h.get("accept-ranges"), "bytes", "Accept-Ranges")
        t.eq(h.get("content-disposition"), 'attachment; filename="plain name.txt"',
             "Content-Disposition of an ASCII name (spaces kept)")
        mtime = int(os.stat(f).st_mtime)
        t.eq(h.get("last-modified"), email.utils.formatdate(mtime, usegmt=True), "Last-Modified")
        g = s.write("测试.txt", b"x")
        st, h, _ = dl(d, g)
        t.eq(h.get("content-disposition"),
             "attachment; filename=\"%E6%B5%8B%E8%AF%95.txt\"; filename*=UTF-8''%E6%B5%8B%E8%AF%95.txt",
             "Content-Disposition of a non-ASCII name (percent-encoded, RFC 5987)")
        e = s.write("empty", b"")
        st, h, body = dl(d, e)
        t.eq((st, h.get("content-length"), body), (200, "0", b""), "an empty file")
        os.symlink(f, s("link"))
        st, h, body = dl(d, s("link"))
        t.eq((st, body, h.get("content-disposition")),
             (200, b"0123456789", 'attachment; filename="link"'), "a symlink is followed")


def test_range(t):
    with Scratch() as s, Daemon() as d:
        f = s.write("r.bin", bytes(range(100)))

        def rng(spec):
            st, h, body = dl(d, f, {"Range": spec})
            return st, h.get("content-range"), h.get("content-length"), body

        t.eq(rng("bytes=0-9"), (206, "bytes 0-9/100", "10", bytes(range(10))), "bytes=a-b")
        t.eq(rng("bytes=95-"), (206, "bytes 95-99/100", "5", bytes(range(95, 100))), "bytes=a-")
        t.eq(rng("bytes=-3"), (206, "bytes 97-99/100", "3", bytes([97, 98, 99])), "bytes=-n")
        t.eq(rng("bytes=90-200"), (206, "bytes 90-99/100", "10", bytes(range(90, 100))),
             "an end past the file is clamped")
        t.eq(rng("bytes=200-300, 5-6"), (206, "bytes 5-6/100", "2", bytes([5, 6])),
             "the first satisfiable range is served")
        st, cr, _, body = rng("bytes=100-")
        t.eq((st, cr, body), (416, "bytes */100", b"invalid range: failed to overlap\n"),
             "nothing satisfiable: 416 with Content-Range bytes */size")
        st, h, body = dl(d, f, {"Range": "items=1-2"})
        t.eq((st, h.get("content-type"), body),
             (416, "application/json; charset=utf-8", b'{"code":"UNKNOWN","message":"invalid range"}'),
             "a malformed Range: 416 JSON with a correct length")
        st, _, _ = dl(d, f, {"Range": "bytes=5-2"})
        t.eq(st, 416, "end before start is malformed")
        e = s.write("empty", b"")
        st, _, body = dl(d, e, {"Range": "bytes=0-"})
        t.eq((st, body), (200, b""), "a range on an empty file is a plain 200 (as Go)")


def test_conditional(t):
    with Scratch() as s, Daemon() as d:
        f = s.write("c.txt", b"abc")
        os.utime(f, (1700000000, 1700000000))
        lm = email.utils.formatdate(1700000000, usegmt=True)
        st, h, body = dl(d, f, {"If-Modified-Since": lm})
        t.eq((st, body, h.get("last-modified"), h.get("content-type")), (304, b"", lm, None),
             "If-Modified-Since: 304 without a body or Content-Type")
        st, _, body = dl(d, f, {"If-Modified-Since": email.utils.formatdate(1699999999, usegmt=True)})
        t.eq((st, body), (200, b"abc"), "modified since: 200")
        st, _, _ = dl(d, f, {"If-Modified-Since": "Tuesday, 14-Nov-23 22:13:20 GMT"})
        t.eq(st, 304, "the RFC 850 date form")
        st, _, _ = dl(d, f, {"If-Modified-Since": "garbage"})
        t.eq(st, 200, "an unparsable date is ignored")
        st, _, _ = dl(d, f, {"If-Unmodified-Since": email.utils.formatdate(1699999999, usegmt=True)})
        t.eq(st, 412, "If-Unmodified-Since older than the file: 412")
        st, _, _ = dl(d, f, {"If-Unmodified-Since": lm})
        t.eq(st, 200, "If-Unmodified-Since equal: 200")


def test_errors(t):
    with Scratch() as s, Daemon() as d:
        st, _, body = d.json("GET", "/files/download")
        t.eq((st, body.get("code"), body.get("message")),
             (400, "MISSING_QUERY", "missing query parameter 'path'"), "path is required")
        st, _, body = d.json("GET", "/files/download?path=" + q(s("nope")))
        t.eq((st, body.get("code")), (404, "FILE_NOT_FOUND"), "a missing file is 404")
        t.ok("open %s: no such file or directory" % s("nope") in body.get("message"), "its message", body)
        st, h, body = d.json("GET", "/files/download?path=" + q(s()))
        t.eq((st, h.get("content-type"), body),
             (400, "application/json; charset=utf-8",
              {"code": "INVALID_REQUEST_BODY", "message": "path is a directory: " + s()}),
             "a directory is a clean 400 JSON (Go sent a broken 200)")
        os.mkfifo(s("fifo"))
        t0 = time.time()
        st, _, body = d.json("GET", "/files/download?path=" + q(s("fifo")))
        t.ok(st == 400 and "not a regular file" in body.get("message", "") and time.time() - t0 < 5,
             "a FIFO is refused at once (never blocks the worker)", body)


def test_big_download(t):
    blocks = 1024
    with Scratch() as s, Daemon() as d:
        gen = Block()
        path = s("big.bin")
        gen.write_file(path, blocks)
        master = d.pids()[0]
        sampler = RssSampler([master])
        t0 = time.time()
        c = d.conn(600)
        c.request("GET", "/files/download?path=" + q(path))
        r = c.getresponse()
        ok, i = r.status == 200, 0
        while ok and i < blocks:
            chunk = r.read(Block.SIZE)
            ok = chunk == gen.get(i)
            i += 1
        ok = ok and r.read(1) == b""
        c.close()
        took = time.time() - t0
        peak = sampler.finish()
        t.ok(ok and r.getheader("content-length") == str(blocks * Block.SIZE),
             "a 1 GiB download is byte-exact with the right Content-Length")
        t.diag("1 GiB in %.1fs (%.0f MiB/s); master peak RSS %d KiB" % (took, blocks / took,
                                                                         peak[master]))
        t.below(peak[master], 24 * 1024, "master RSS stays under 24 MiB (sendfile; %d KiB)" % peak[master])
        st, h, body = d.request("GET", "/files/download?path=" + q(path),
                                headers={"Range": "bytes=%d-%d" % (700 * Block.SIZE,
                                                                   700 * Block.SIZE + 15)})
        t.eq((st, body), (206, gen.get(700)[:16]), "a range deep in the big file")


run_tests([test_headers, test_range, test_conditional, test_errors, test_big_download])
