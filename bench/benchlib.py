"""What the latency benchmarks share: percentiles and one timed streaming request."""
import json
import time

COMPLETE = b'"type":"execution_complete"'


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p / 100))]


def timed_stream(conn, path, body, until=(COMPLETE,)):
    """POSTs body (a dict, or JSON text) on a kept-alive connection and reads the whole
    stream. Returns the seconds until one of the until markers had been read; raises when
    the answer is not a 200 stream holding one."""
    if not isinstance(body, str):
        body = json.dumps(body)
    start = time.perf_counter()
    conn.request("POST", path, body=body, headers={"Content-Type": "application/json"})
    resp = conn.getresponse()
    buf = b""
    took = None
    while True:
        chunk = resp.read1(65536)
        if not chunk:
            break
        buf += chunk
        if took is None and any(m in buf for m in until):
            took = time.perf_counter() - start
    if resp.status != 200 or took is None:
        raise RuntimeError("unexpected answer %d: %r" % (resp.status, buf[:300]))
    return took, buf
