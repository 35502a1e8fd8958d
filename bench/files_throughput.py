#!/usr/bin/env python3
"""Download and upload throughput of one big file: execd vs nginx, same run, same file, curl.

Download: `curl -o /dev/null` of GET /files/download (execd) and of a static location
(nginx, sendfile on). Upload: `curl -F metadata=... -F file=@FILE` to POST /files/upload
(execd: multipart, streamed to a temporary file, fsync'd, renamed) and `curl -T FILE` to a
WebDAV PUT location (nginx: raw body to a temporary file, renamed, no fsync). Rounds
alternate between the two servers; the medians are compared. Needs nginx (Debian's has
the DAV module) and curl.
"""
import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "t", "lib"))
from execd_test import Daemon, free_port  # noqa: E402

# One nginx process (also used by proxy_throughput.py): http is the rest of its http block,
# locations its server's locations.
NGINX_CONF = """
{user}
worker_processes 1;
daemon on;
pid {dir}/nginx.pid;
error_log {dir}/error.log;
events {{ worker_connections 256; }}
http {{
    access_log off;
    {http}
    server {{
        listen 127.0.0.1:{port};
        {locations}
    }}
}}
"""


def start_nginx(nginx, directory, port, http, locations):
    """Starts nginx with its configuration and files in directory ("{dir}" in http and
    locations); returns its stop command."""
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, "nginx.conf")
    with open(path, "w") as f:
        f.write(NGINX_CONF.format(user="user root;" if os.geteuid() == 0 else "", dir=directory,
                                  port=port, http=http.replace("{dir}", directory),
                                  locations=locations.replace("{dir}", directory)))
    subprocess.run([nginx, "-c", path, "-p", directory], check=True)
    return [nginx, "-c", path, "-p", directory, "-s", "stop"]


def curl(args):
    """Runs curl; returns (HTTP status, seconds of transfer)."""
    out = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code} %{time_total}"] +
                         args, capture_output=True, text=True, check=True).stdout.split()
    return int(out[0]), float(out[1])


def wait_port(port, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("nothing listens on port %d" % port)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--size-mib", type=int, default=1024)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--dir", default=None, help="scratch directory (default: a new one in /tmp)")
    args = ap.parse_args()
    if shutil.which("nginx") is None and not os.path.exists("/usr/sbin/nginx"):
        sys.exit("nginx is not installed (apt-get install nginx)")
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"

    work = tempfile.mkdtemp(prefix="execd-bench-files-", dir=args.dir)
    data = os.path.join(work, "data")
    ngx = os.path.join(work, "nginx")
    for d in (data, ngx, os.path.join(ngx, "body"), os.path.join(ngx, "put")):
        os.makedirs(d)
    src = os.path.join(data, "big.bin")
    with open(src, "wb") as f:
        block = os.urandom(1 << 20)
        for _ in range(args.size_mib):
            f.write(block)
    size = os.path.getsize(src)
    port = free_port()
    stop = start_nginx(nginx, ngx, port,
                       "sendfile on; client_max_body_size 0; client_body_temp_path {dir}/body;",
                       "location /get/ { alias %s/; }\n"
                       "location /put/ { root {dir}; dav_methods PUT; create_full_put_path on; }"
                       % data)
    results = {k: [] for k in ("execd-get", "nginx-get", "execd-put", "nginx-put")}
    try:
        wait_port(port)
        with Daemon("-log-level", "3") as d:
            base = "http://127.0.0.1:%d" % d.port
            ngx_base = "http://127.0.0.1:%d" % port
            for rnd in range(args.rounds):
                order = [("execd", "nginx"), ("nginx", "execd")][rnd % 2]
                for who in order:
                    if who == "execd":
                        st, sec = curl([base + "/files/download?path=" + src])
                    else:
                        st, sec = curl([ngx_base + "/get/big.bin"])
                    assert st == 200, (who, "get", st)
                    results[who + "-get"].append(size / sec)
                for who in order:
                    if who == "execd":
                        dest = os.path.join(work, "up-execd.bin")
                        st, sec = curl(["-F", 'metadata={"path":"%s"}' % dest,
                                        "-F", "file=@" + src, base + "/files/upload"])
                    else:
                        dest = os.path.join(ngx, "put", "up-nginx.bin")
                        st, sec = curl(["-T", src, ngx_base + "/put/up-nginx.bin"])
                    assert st in (200, 201, 204), (who, "put", st)
                    assert os.path.getsize(dest) == size, (who, "short upload")
                    results[who + "-put"].append(size / sec)
                    os.unlink(dest)
                print("round %d: %s" % (rnd + 1, ", ".join(
                    "%s %.0f MiB/s" % (k, v[-1] / 2**20) for k, v in results.items())), flush=True)
    finally:
        subprocess.run(stop)
        shutil.rmtree(work, ignore_errors=True)

    med = {k: statistics.median(v) / 2**20 for k, v in results.items()}
    print("\n%d MiB file, %d rounds, medians:" % (args.size_mib, args.rounds))
    for op in ("get", "put"):
        ratio = med["execd-" + op] / med["nginx-" + op]
        print("  %-8s execd %7.0f MiB/s   nginx %7.0f MiB/s   ratio %.2f %s" % (
            "download" if op == "get" else "upload", med["execd-" + op], med["nginx-" + op], ratio,
            "(target >= 0.80: %s)" % ("ok" if ratio >= 0.8 else "MISSED")))


if __name__ == "__main__":
    main()
