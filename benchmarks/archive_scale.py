"""`stance predict --engine ray` vs `--engine local` on a synthetic archive: sentences/s after start-up, start-up
and tear-down, peak memory of the whole process tree (driver, Ray's GCS and raylet, actors), identical labels.

    python benchmarks/archive_scale.py models/minilm --sentences 200000 --shards 20 --precision bf16

The archive is `stance data synth` output (built from the corpus, dates and sources), made once under --work.
Each engine runs as `python -m stance predict ...` in a subprocess; its tree's memory is sampled every 0.2 s
from /proc (PSS, so pages shared between processes, torch's libraries say, count once). "After start-up" is
from the moment the first shard began to the moment the last one ended, read from the run's manifest.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def tree(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, []))
    return out


def pss_bytes(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1]) * 1024
                    break
        except OSError:
            continue
    return total


def run(cmd: list[str]) -> dict:
    peak = [0, 0]  # bytes, processes
    start = time.time()
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)

    def sample() -> None:
        while proc.poll() is None:
            pids = tree(proc.pid)
            peak[0], peak[1] = max(peak[0], pss_bytes(pids)), max(peak[1], len(pids))
            time.sleep(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, err = proc.communicate()
    end = time.time()
    sampler.join()
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{err}")
    return {"start": start, "end": end, "peak_pss_gb": round(peak[0] / 1e9, 2), "processes": peak[1]}


def labels(folder: Path) -> dict[str, list[str]]:
    return {
        p.name: [json.loads(line)["label"] for line in p.read_text().splitlines()]
        for p in sorted(folder.glob("*.jsonl"))
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("model_dir")
    parser.add_argument("--sentences", type=int, default=200_000)
    parser.add_argument("--shards", type=int, default=20)
    parser.add_argument("--precision", default="bf16")
    parser.add_argument("--work", default="/tmp/stance-scale")
    parser.add_argument("--engines", default="local,ray")
    parser.add_argument("--actors", type=int, help="ray: actors in the pool (default: stance's choice)")
    args = parser.parse_args()
    work = Path(args.work)
    archive = work / f"archive-{args.sentences}-{args.shards}"
    stance = [sys.executable, "-m", "stance"]
    if not archive.is_dir():
        synth = ["data", "synth", str(archive), "--sentences", str(args.sentences), "--shards", str(args.shards)]
        subprocess.run([*stance, *synth], check=True, cwd=REPO)
    results = {}
    for engine in args.engines.split(","):
        out = work / f"out-{engine}"
        shutil.rmtree(out, ignore_errors=True)
        cmd = [*stance, "predict", args.model_dir, "-i", str(archive), "-o", str(out), "--engine", engine, "-q"]
        extra = ["--actors", str(args.actors)] if engine == "ray" and args.actors else []
        r = run([*cmd, "--precision", args.precision, *extra])
        shards = json.loads((out / "_manifest.json").read_text())["shards"].values()
        first = min(s["started"] for s in shards)
        last = max(s["started"] + s["seconds"] for s in shards)
        n = sum(s["records"] for s in shards)
        results[engine] = {
            "sentences": n,
            "wall_s": round(r["end"] - r["start"], 1),
            "sentences_per_s_after_startup": round(n / (last - first), 1),
            "sentences_per_s_overall": round(n / (r["end"] - r["start"]), 1),
            "startup_s": round(first - r["start"], 1),
            "teardown_s": round(r["end"] - last, 1),
            "peak_pss_gb": r["peak_pss_gb"],
            "processes": r["processes"],
        }
        print(json.dumps({engine: results[engine]}), flush=True)
    if {"local", "ray"} <= set(results):
        local, ray = labels(work / "out-local"), labels(work / "out-ray")
        same = sum(a == b for name in local for a, b in zip(local[name], ray.get(name, []), strict=False))
        identical = all((work / "out-local" / n).read_bytes() == (work / "out-ray" / n).read_bytes() for n in local)
        ratio = results["ray"]["sentences_per_s_after_startup"] / results["local"]["sentences_per_s_after_startup"]
        print(
            json.dumps(
                {
                    "ray_over_local_after_startup": round(ratio, 3),
                    "labels_equal": f"{same}/{sum(len(v) for v in local.values())}",
                    "files_byte_identical": identical,
                }
            )
        )


if __name__ == "__main__":
    main()
