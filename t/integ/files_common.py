"""Helpers for the file API integration tests (t/integ/files_*.py)."""
import json
import os
import pwd
import stat
import tempfile
import time
import urllib.parse

import execd_test
from execd_test import RssSampler, raw_connect, remove_tree  # noqa: F401 (RssSampler: for the files tests)

NOBODY = pwd.getpwnam("nobody")


def q(path):
    """A path as a query value (every byte escaped but '/')."""
    return urllib.parse.quote(path, safe="/")


def part(name, content, filename=None, ctype=None):
    """One multipart part: (headers, bytes)."""
    disp = 'form-data; name="%s"' % name
    if filename is not None:
        disp += '; filename="%s"' % filename
    headers = "Content-Disposition: %s\r\n" % disp
    if ctype is not None:
        headers += "Content-Type: %s\r\n" % ctype
    if isinstance(content, str):
        content = content.encode()
    return headers.encode(), content


def meta_part(path, plain=False, **perm):
    """A metadata part as the Python SDK sends it (a file part), or a plain field."""
    body = {"path": path, "owner": None, "group": None}
    body.update(perm)
    if plain:
        return part("metadata", json.dumps(body))
    return part("metadata", json.dumps(body), filename="metadata", ctype="application/json")


def file_part(content, filename="blob"):
    return part("file", content, filename=filename, ctype="application/octet-stream")


def multipart(parts, boundary="execd-test-boundary-42"):
    """(content type, body) of a multipart/form-data body."""
    out = b""
    for headers, content in parts:
        out += b"--" + boundary.encode() + b"\r\n" + headers + b"\r\n" + content + b"\r\n"
    out += b"--" + boundary.encode() + b"--\r\n"
    return "multipart/form-data; boundary=" + boundary, out


def upload(d, parts, chunked=False, timeout=120):
    """POST /files/upload; returns (status, json body or None)."""
    ctype, body = multipart(parts)
    headers = {"Content-Type": ctype}
    if chunked:
        # http.client sends an iterable body with chunked transfer encoding.
        step = 7777
        payload = (body[i:i + step] for i in range(0, len(body), step))
        headers["Transfer-Encoding"] = "chunked"
        c = d.conn(timeout)
        try:
            c.request("POST", "/files/upload", body=payload, headers=d.headers(headers),
                      encode_chunked=True)
            r = c.getresponse()
            data = r.read()
            return r.status, json.loads(data) if data else None
        finally:
            c.close()
    status, _, data = d.request("POST", "/files/upload", body, headers, timeout)
    return status, json.loads(data) if data else None


def open_files_in(pids, directory):
    """Files under directory that the processes hold open (unnamed ones included)."""
    found = []
    for pid in pids:
        fd_dir = "/proc/%d/fd" % pid
        try:
            fds = os.listdir(fd_dir)
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(os.path.join(fd_dir, fd))
            except OSError:
                continue
            if target.startswith(directory.rstrip("/") + "/"):
                found.append(target)
    return found


def temp_leftovers(directory):
    """Temporary upload files left in a directory."""
    try:
        return [n for n in os.listdir(directory) if ".execd-upload-" in n]
    except OSError:
        return []


class Block:
    """Deterministic big content: 1 MiB blocks, each stamped with its index."""

    SIZE = 1 << 20

    def __init__(self):
        self.base = os.urandom(self.SIZE)

    def get(self, i):
        return b"%016d" % i + self.base[16:]

    def write_file(self, path, blocks):
        with open(path, "wb") as f:
            for i in range(blocks):
                f.write(self.get(i))

    def check_file(self, path, blocks):
        """None when path holds exactly the blocks, else what is wrong."""
        with open(path, "rb") as f:
            for i in range(blocks):
                if f.read(self.SIZE) != self.get(i):
                    return "block %d differs" % i
            if f.read(1):
                return "the file is longer"
        return None


class Scratch:
    """A scratch directory tree; readable by nobody when world is set."""

    def __init__(self, world=False):
        self.path = tempfile.mkdtemp(prefix="execd-files-")
        if world:
            os.chmod(self.path, 0o777)

    def __call__(self, *names):
        return os.path.join(self.path, *names)

    def write(self, name, content, mode=None):
        p = self(name)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "wb" if isinstance(content, bytes) else "w") as f:
            f.write(content)
        if mode is not None:
            os.chmod(p, mode)
        return p

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        remove_tree(self.path)


def wrapper_as_nobody(dirpath):
    """An EXECD_BIN wrapper that starts the daemon as nobody (tests run as root)."""
    script = os.path.join(dirpath, "execd-as-nobody")
    with open(script, "w") as f:
        f.write("""#!/bin/sh
# The runtime dir sits in the harness's 0700 temp dir: open the way for nobody.
rt=""
prev=""
for a in "$@"; do
    [ "$prev" = "-runtime-dir" ] && rt="$a"
    prev="$a"
done
if [ -n "$rt" ]; then
    mkdir -p "$rt" && chown %d:%d "$rt" && chmod 0711 "$(dirname "$rt")"
fi
exec setpriv --reuid=%d --regid=%d --clear-groups %s "$@"
""" % (NOBODY.pw_uid, NOBODY.pw_gid, NOBODY.pw_uid, NOBODY.pw_gid, execd_test.EXECD_BIN))
    os.chmod(script, stat.S_IRWXU | stat.S_IRGRP | stat.S_IXGRP | stat.S_IROTH | stat.S_IXOTH)
    return script


def raw_request(port, head, body_parts, pause=0.0):
    """Sends a request by hand (pieces of body, optional pauses); returns the socket."""
    s = raw_connect(port, head)
    for piece in body_parts:
        s.sendall(piece)
        if pause:
            time.sleep(pause)
    return s
