"""Overhead of running stages as Ray tasks (`repro --executor ray`).

    python benchmarks/ray_exec.py [--work DIR] [--stages N] [--fanout M] [--s3]

On a local Ray cluster (``ray.init(num_cpus=2)``) with a local-folder default
remote (``--s3``: a SeaweedFS S3 server started here, as the tests use),
stages with no inputs that each write 1 KiB:

- per stage, sequential: ``repro --executor ray`` of N such stages, divided by
  N, against ``repro`` running them here (after one warm-up stage that starts
  the Ray worker);
- fan-out: M independent stages sent at once through the executor
  (``prepare`` all, ``submit`` all, then ``wait`` and ``finish`` each), divided
  by M: the scheduling overhead per item when stages run concurrently;
- foreach: one ``foreach`` stage of M items run by ``repro -j J --executor
  ray`` (the scheduler sending J at a time), wall time divided by M: what a
  user's fan-out costs per item, end to end.

Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

ONE_KIB = "head -c 1024 /dev/zero > {out}"


def _repo(root: Path, n: int, prefix: str) -> Path:
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=root, check=True)
    lines = ["schema: 1", "stages:"]
    for i in range(n):
        lines += [f"  {prefix}{i}:", f"    cmd: {ONE_KIB.format(out=f'o{i}.bin')}"]
        lines += [f"    outs: [o{i}.bin]"]
    (root / "tether.yaml").write_text("\n".join(lines) + "\n")
    remote = root.parent / f"{root.name}-remote"
    shutil.rmtree(remote, ignore_errors=True)
    remote.mkdir()
    return remote


def _tether(root: Path, *args: str) -> float:
    from tether.cli.app import invoke

    cwd = Path.cwd()
    os.chdir(root)
    try:
        t = time.perf_counter()
        code = invoke(list(args), catch_bugs=False)
        took = time.perf_counter() - t
    finally:
        os.chdir(cwd)
    if code != 0:
        raise SystemExit(f"tether {' '.join(args)} failed ({code})")
    return took


S3: dict[str, str] = {}  # url, endpoint_url, access_key_id, secret_access_key with --s3


def _setup(root: Path, n: int, prefix: str) -> None:
    remote = _repo(root, n, prefix)
    _tether(root, "init")
    if not S3:
        _tether(root, "remote", "add", "origin", str(remote), "--default")
        return
    _tether(root, "remote", "add", "origin", f"{S3['url']}/{root.name}", "--default")
    for option in ("endpoint_url", "access_key_id", "secret_access_key"):
        _tether(root, "remote", "modify", "--local", "origin", option, S3[option])


def sequential(work: Path, n: int) -> dict[str, float]:
    local, on_ray = work / "local", work / "ray"
    _setup(local, n, "s")
    _setup(on_ray, n + 1, "s")
    _tether(on_ray, "repro", "--executor", "ray", "s0")  # starts the worker
    here = _tether(local, "repro")
    ray = _tether(on_ray, "repro", "--executor", "ray")
    return {"local": here / n, "ray": ray / n}


def fanout(work: Path, m: int) -> dict[str, float]:
    from tether.pipeline.outputs import load
    from tether.pipeline.ray_exec import RayExecutor
    from tether.repo import Repo
    from tether.workspace import tracked

    root = work / "fanout"
    _setup(root, m, "f")
    cwd = Path.cwd()
    os.chdir(root)
    try:
        repo = Repo.find()
        graph = load(repo, tracked.all_pointers(repo))
        stages = [graph.stages[name] for name in graph.order()]
        ex = RayExecutor(repo)
        t = time.perf_counter()
        jobs = [ex.prepare(s) for s in stages]
        prepared = time.perf_counter()
        refs = [ex.submit(s, j) for s, j in zip(stages, jobs, strict=True)]
        for s, ref in zip(stages, refs, strict=True):
            ex.finish(s, ex.wait(s, ref))
        total = time.perf_counter() - t
    finally:
        os.chdir(cwd)
    missing = [s.name for s in stages if not (root / s.outs[0].path).exists()]
    if missing:
        raise SystemExit(f"fan-out: {len(missing)} outputs missing")
    return {"prepare": (prepared - t) / m, "total": total / m, "seconds": total}


def foreach(work: Path, m: int, jobs: int) -> dict[str, float]:
    root = work / "foreach"
    _setup(root, 0, "x")
    items = ", ".join(str(i) for i in range(m))
    (root / "tether.yaml").write_text(
        "schema: 1\nstages:\n  fan:\n"
        f"    foreach: [{items}]\n"
        "    do:\n"
        f"      cmd: {ONE_KIB.format(out='o${item}.bin')}\n"
        "      outs:\n        - o${item}.bin\n"
    )
    took = _tether(root, "repro", "-j", str(jobs), "--executor", "ray")
    missing = [i for i in range(m) if not (root / f"o{i}.bin").exists()]
    if missing:
        raise SystemExit(f"foreach: {len(missing)} outputs missing")
    return {"total": took / m, "seconds": took}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--work", type=Path, default=None)
    p.add_argument("--stages", type=int, default=10)
    p.add_argument("--fanout", type=int, default=100)
    p.add_argument("--s3", action="store_true")
    p.add_argument("--jobs", type=int, default=8, help="repro -j for the foreach run")
    args = p.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="tether-ray-bench-"))
    server = None
    if args.s3:
        sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
        from tests.s3server import ACCESS_KEY, BUCKET, SECRET_KEY, SeaweedFS

        server = SeaweedFS(work / "seaweedfs")
        server.start()
        S3.update(
            url=f"s3://{BUCKET}/bench-{os.getpid()}",
            endpoint_url=server.endpoint,
            access_key_id=ACCESS_KEY,
            secret_access_key=SECRET_KEY,
        )
    import ray

    t = time.perf_counter()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    started = time.perf_counter() - t
    try:
        seq = sequential(work, args.stages)
        fan = fanout(work, args.fanout)
        each = foreach(work, args.fanout, args.jobs)
    finally:
        ray.shutdown()
        if server is not None:
            server.stop()
        shutil.rmtree(work, ignore_errors=True)
    remote = "SeaweedFS S3" if args.s3 else "local folder"
    print(f"| measure ({remote} remote) | seconds |\n| --- | --- |")
    print(f"| local cluster start | {started:.2f} |")
    print(f"| per stage, `repro` here ({args.stages} stages) | {seq['local']:.3f} |")
    print(f"| per stage, `repro --executor ray` ({args.stages} stages) | {seq['ray']:.3f} |")
    print(f"| overhead per stage (ray - here) | {seq['ray'] - seq['local']:.3f} |")
    print(f"| fan-out of {args.fanout}: total | {fan['seconds']:.2f} |")
    print(f"| fan-out: per item (push + submit + fetch + checkout) | {fan['total']:.3f} |")
    print(f"| fan-out: of which storing and pushing inputs, per item | {fan['prepare']:.3f} |")
    print(f"| `repro -j {args.jobs} --executor ray`, foreach of {args.fanout}: total | "
          f"{each['seconds']:.2f} |")  # fmt: skip
    print(f"| foreach: per item, end to end | {each['total']:.3f} |")


if __name__ == "__main__":
    main()
