"""Benchmark: the highest datagram rate `tracelens listen` takes on loopback with nothing lost.

A sender process sends N daemon datagrams (header + a ~1 KB segment document, the size the
SDK emits for a small Lambda segment) at a paced rate; the listener runs in this process.
A rate passes when every datagram was received and written (no kernel drops, no queue
drops). Rates increase until one fails.

    .venv/bin/python bench/bench_listen.py [--seconds 2] [--rates 5000,10000,20000,...]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tracelens.acquire.udp import Listener

SENDER = r"""
import json, socket, sys, time
host, port, n, rate = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
header = b'{"format":"json","version":1}\n'
def doc(i):
    return header + json.dumps({
        "name": "orders-handler", "id": f"{i:016x}",
        "trace_id": f"1-6553f100-{i:024x}", "start_time": 1700000000.0 + i / 1000,
        "end_time": 1700000000.2 + i / 1000, "origin": "AWS::Lambda::Function",
        "aws": {"account_id": "123456789012", "function_arn":
                "arn:aws:lambda:us-east-1:123456789012:function:orders-handler",
                "xray": {"sdk": "X-Ray for Python", "sdk_version": "2.15.0"}},
        "annotations": {"message_id": "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0",
                        "event_source": "aws:sqs", "receive_count": 1},
        "subsegments": [{"id": f"{i + 1:016x}", "name": "Invocation",
                         "start_time": 1700000000.01, "end_time": 1700000000.19,
                         "subsegments": [{"id": f"{i + 2:016x}", "name": "DynamoDB",
                                          "namespace": "aws", "start_time": 1700000000.02,
                                          "end_time": 1700000000.05,
                                          "aws": {"operation": "PutItem",
                                                  "table_name": "orders",
                                                  "region": "us-east-1", "retries": 0}}]}],
    }).encode()
payloads = [doc(i) for i in range(n)]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
start = time.perf_counter()
for i, p in enumerate(payloads):
    due = start + i / rate
    while True:
        now = time.perf_counter()
        if now >= due:
            break
        if due - now > 0.002:
            time.sleep(0.001)
    s.sendto(p, (host, port))
elapsed = time.perf_counter() - start
print(json.dumps({"sent": n, "seconds": elapsed, "size": len(payloads[0])}))
"""


def trial(rate: int, seconds: float) -> dict[str, float]:
    """Send ``rate * seconds`` datagrams at ``rate``/s; return counts and achieved rate."""
    n = int(rate * seconds)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "listen.ndjson"
        listener = Listener(("127.0.0.1", 0), out, None, None, None).start()
        host, port = listener.address
        proc = subprocess.run(
            [sys.executable, "-c", SENDER, host, str(port), str(n), str(rate)],
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
        )
        sender = json.loads(proc.stdout)
        deadline = time.monotonic() + 10
        last = -1
        while time.monotonic() < deadline:  # wait for the writer to settle
            time.sleep(0.2)
            done = listener.written + listener.malformed + listener.dropped
            if done >= n or done == last:
                break
            last = done
        listener.stop()
        summary = listener.wait()
        lines = sum(1 for _ in out.open("rb"))
    return {
        "target_rate": rate,
        "achieved_send_rate": round(n / sender["seconds"]),
        "datagram_bytes": sender["size"],
        "sent": n,
        "received": summary.received,
        "written": summary.written,
        "lines_in_file": lines,
        "dropped_queue": summary.dropped,
        "lost_in_kernel": n - summary.received,
        "rcvbuf": summary.rcvbuf,
    }


def main() -> None:
    """Run increasing rates and print the highest loss-free one."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--rates", default="5000,10000,20000,30000,40000,60000,80000")
    args = parser.parse_args()
    best = 0
    best_achieved = 0
    for rate in (int(r) for r in args.rates.split(",")):
        result = trial(rate, args.seconds)
        ok = result["lines_in_file"] == result["sent"] == result["written"]
        print(json.dumps({**result, "loss_free": ok}), flush=True)
        if not ok:
            break
        best = rate
        best_achieved = int(result["achieved_send_rate"])
    print(
        f"highest loss-free rate: {best} datagrams/s target "
        f"({best_achieved} datagrams/s achieved by the sender)"
    )


if __name__ == "__main__":
    main()
