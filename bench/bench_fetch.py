"""Benchmark: traces per second `tracelens fetch` pulls from moto in server mode on loopback.

Puts N traces (two segment documents each) with PutTraceSegments, then times
``fetch_traces`` (GetTraceSummaries + BatchGetTraces, five ids per call) at a few
concurrency levels. moto answers in-process Python, so this measures the fetcher's own
overhead plus moto's, not AWS's latency or throttling.

    .venv/bin/python bench/bench_fetch.py [--traces 3000] [--concurrency 1,4,8]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

BASE = 1_700_000_000


def main() -> None:
    """Start moto, load traces, time fetches."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--traces", type=int, default=3000)
    parser.add_argument("--concurrency", default="1,4,8")
    args = parser.parse_args()
    os.environ.update(
        {
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_DEFAULT_REGION": "us-east-1",
        }
    )
    import logging

    import boto3
    from botocore.config import Config
    from moto.server import ThreadedMotoServer

    from tracelens.acquire.fetch import fetch_traces

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    client = boto3.client(
        "xray",
        endpoint_url=f"http://{host}:{port}",
        config=Config(retries={"mode": "standard", "max_attempts": 1}, max_pool_connections=16),
    )
    rng = random.Random(0)
    docs = []
    for i in range(args.traces):
        start = BASE + i * 0.1
        trace_id = f"1-{int(start):08x}-{rng.getrandbits(96):024x}"
        svc, fn = f"{rng.getrandbits(64):016x}", f"{rng.getrandbits(64):016x}"
        arn = "arn:aws:lambda:us-east-1:123456789012:function:orders"
        docs.append(
            {
                "id": svc,
                "name": "orders",
                "trace_id": trace_id,
                "start_time": start,
                "end_time": start + 0.3,
                "origin": "AWS::Lambda",
                "resource_arn": arn,
                "aws": {"request_id": f"req-{i}"},
            }
        )
        docs.append(
            {
                "id": fn,
                "name": "orders",
                "trace_id": trace_id,
                "parent_id": svc,
                "start_time": start + 0.01,
                "end_time": start + 0.29,
                "origin": "AWS::Lambda::Function",
                "aws": {"function_arn": arn},
                "subsegments": [
                    {
                        "id": f"{rng.getrandbits(64):016x}",
                        "name": "Invocation",
                        "start_time": start + 0.02,
                        "end_time": start + 0.28,
                    }
                ],
            }
        )
    t0 = time.perf_counter()
    for i in range(0, len(docs), 50):
        client.put_trace_segments(TraceSegmentDocuments=[json.dumps(d) for d in docs[i : i + 50]])
    print(f"put {args.traces} traces ({len(docs)} documents) in {time.perf_counter() - t0:.1f}s")
    window = (
        datetime.fromtimestamp(BASE - 60, UTC),
        datetime.fromtimestamp(BASE + args.traces, UTC),
    )
    for concurrency in (int(c) for c in args.concurrency.split(",")):
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            summary = fetch_traces(
                client=client,
                start=window[0],
                end=window[1],
                out_dir=Path(tmp),
                filter_expression=None,
                functions=(),
                concurrency=concurrency,
            )
            elapsed = time.perf_counter() - t0
        assert summary.fetched == args.traces, summary
        print(
            json.dumps(
                {
                    "concurrency": concurrency,
                    "traces": summary.fetched,
                    "api_calls": summary.api_calls,
                    "seconds": round(elapsed, 2),
                    "traces_per_second": round(summary.fetched / elapsed),
                }
            )
        )
    server.stop()


if __name__ == "__main__":
    main()
