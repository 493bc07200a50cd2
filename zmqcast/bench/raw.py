"""The baseline: raw pyzmq DEALER -> ROUTER between two processes on one host.

Throughput is measured the way the zmqcast scenarios are: from the first send to
the last receipt, on the host's monotonic clock, which both processes share.
The peer process is ``python -m zmqcast.bench.raw MODE ENDPOINT COUNT`` and
prints one JSON line with what it saw.
"""

from __future__ import annotations

import subprocess
import sys
import time

import orjson
import zmq

from zmqcast.bench.stats import percentile


def _peer(mode: str, endpoint: str, count: int) -> None:
    """Run the receiving side: count frames (``sink``) or echo them (``echo``)."""
    ctx = zmq.Context()
    sock = ctx.socket(zmq.ROUTER)
    sock.setsockopt(zmq.RCVHWM, 0)
    sock.bind(endpoint)
    print("ready", flush=True)
    first = last = 0.0
    for i in range(count):
        ident, body = sock.recv_multipart(copy=False)
        if mode == "echo":
            sock.send_multipart([ident, body], copy=False)
        last = time.monotonic()
        if i == 0:
            first = last
    print(orjson.dumps({"first": first, "last": last}).decode(), flush=True)
    sock.close(linger=1000)
    ctx.term()


def _start_peer(mode: str, endpoint: str, count: int) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "zmqcast.bench.raw", mode, endpoint, str(count)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    if proc.stdout.readline().strip() != "ready":
        raise RuntimeError("the raw pyzmq peer did not start")
    return proc


def raw_throughput(endpoint: str, messages: int, size: int) -> float:
    """Frames per second, one way, first send to last receipt."""
    proc = _start_peer("sink", endpoint, messages)
    ctx = zmq.Context()
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.SNDHWM, 0)
    sock.connect(endpoint)
    body = b"x" * size
    start = time.monotonic()
    for _ in range(messages):
        sock.send(body)
    out, _ = proc.communicate(timeout=300)
    sock.close(linger=0)
    ctx.term()
    seen = orjson.loads(out.strip().splitlines()[-1])
    return messages / max(float(seen["last"]) - start, 1e-9)


def raw_rtt(endpoint: str, rounds: int, size: int) -> tuple[float, float]:
    """Round-trip p50 and p99 in seconds, one request outstanding at a time."""
    proc = _start_peer("echo", endpoint, rounds)
    ctx = zmq.Context()
    sock = ctx.socket(zmq.DEALER)
    sock.connect(endpoint)
    body = b"x" * size
    samples = []
    for _ in range(rounds):
        t = time.monotonic()
        sock.send(body)
        sock.recv()
        samples.append(time.monotonic() - t)
    proc.communicate(timeout=60)
    sock.close(linger=0)
    ctx.term()
    samples = samples[min(100, rounds // 10) :]  # warm-up
    return percentile(samples, 0.5), percentile(samples, 0.99)


if __name__ == "__main__":
    _peer(sys.argv[1], sys.argv[2], int(sys.argv[3]))
