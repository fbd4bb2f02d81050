"""Load on `stance serve`: C concurrent clients send N one-sentence requests to POST /predict on loopback;
requests/s, p50/p99 latency and failures, against batched offline prediction of the same sentences (one
`Predictor.predict` call, the same precision), on this machine.

    python benchmarks/serve_load.py models/minilm --clients 16 --requests 2000 --precision fp32

Bounded: N requests at most, and --timeout seconds for the whole run (the server is stopped either way).
"""

from __future__ import annotations

import argparse
import http.client
import json
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(model_dir: str, precision: str, port: int) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "stance", "serve", model_dir, "--port", str(port), "--precision", precision]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1):
                return proc
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("the server did not start")


def client(port: int, sentences: list[str], out: list, stop_at: float) -> None:
    """One client: one keep-alive connection, one request at a time (as a real client library does)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    for text in sentences:
        if time.time() > stop_at:
            out.append((None, "timeout"))
            continue
        body = json.dumps({"texts": [text]})
        start = time.perf_counter()
        try:
            conn.request("POST", "/predict", body, {"Content-Type": "application/json"})
            response = conn.getresponse()
            payload = response.read()
            if response.status != 200:
                raise OSError(f"HTTP {response.status}: {payload[:100]!r}")
            json.loads(payload)
            out.append((time.perf_counter() - start, None))
        except OSError as exc:
            out.append((None, str(exc)))
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("model_dir")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--precision", default="fp32")
    parser.add_argument("--timeout", type=float, default=300.0)
    args = parser.parse_args()
    rows = [json.loads(line) for line in (REPO / "data/dev_real.jsonl").read_text().splitlines()]
    sentences = [rows[i % len(rows)]["text"] for i in range(args.requests)]

    from inference import Predictor

    predictor = Predictor.load(args.model_dir, precision=args.precision)
    predictor.predict(sentences[:64])  # warm-up
    start = time.perf_counter()
    offline = predictor.predict(sentences)
    offline_rate = len(offline) / (time.perf_counter() - start)
    del predictor

    port = free_port()
    proc = start_server(args.model_dir, args.precision, port)
    try:
        client(port, sentences[:32], [], time.time() + 60)  # warm-up
        results: list = []
        share = [sentences[i :: args.clients] for i in range(args.clients)]
        stop_at = time.time() + args.timeout
        threads = [threading.Thread(target=client, args=(port, s, results, stop_at)) for s in share]
        start = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - start
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    latencies = sorted(x for x, err in results if err is None)
    failures = [err for _, err in results if err is not None]
    served = len(latencies) / wall
    print(
        json.dumps(
            {
                "model_dir": args.model_dir,
                "precision": args.precision,
                "clients": args.clients,
                "requests": len(results),
                "failed": len(failures),
                "requests_per_s": round(served, 1),
                "p50_ms": round(1000 * statistics.median(latencies), 1),
                "p99_ms": round(1000 * latencies[int(0.99 * (len(latencies) - 1))], 1),
                "offline_batched_per_s": round(offline_rate, 1),
                "share_of_offline": round(served / offline_rate, 3),
            }
        )
    )


if __name__ == "__main__":
    main()
