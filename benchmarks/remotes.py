"""Side-by-side benchmark of push and pull, tether vs DVC, on the same data.

    python benchmarks/remotes.py [--dvc PATH] [--work DIR] [--small N] [--big-mib M] [--no-s3]

Data: the core benchmark's (benchmarks/mkdata.py: 20,000 small files and
4 x 256 MiB). For each tool: a git repo with both folders added and committed,
then `push` to a local folder remote, `pull` in a fresh `git clone`, the same
against S3 on one real SeaweedFS server (tests/s3server.py), an incremental
push after changing 10 files, and the peak memory (max RSS) of push and pull.
DVC needs `dvc` and `dvc-s3` in its own venv. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from pathlib import Path

from common import settle

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
MKDATA = HERE / "mkdata.py"
TETHER = [sys.executable, "-m", "tether"]


def run(cmd: list[str], cwd: Path) -> None:
    subprocess.run(cmd, cwd=cwd, check=True, stdout=subprocess.DEVNULL)


def timed(cmd: list[str], cwd: Path, warm: list[Path], drop: bool = True) -> tuple[float, int]:
    """Seconds and peak RSS (MB) of one command, after :func:`common.settle`."""
    settle(warm, drop)
    t = time.perf_counter()
    proc = subprocess.run(
        ["/usr/bin/time", "-f", "%M", *cmd], cwd=cwd, check=False, capture_output=True, text=True
    )
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed in {cwd}:\n{proc.stderr}")
    secs = time.perf_counter() - t
    rss_kb = int(proc.stderr.strip().splitlines()[-1])
    return secs, rss_kb // 1024


def setup(name: str, tool: list[str], work: Path, data: Path) -> Path:
    repo = work / name
    shutil.rmtree(repo, ignore_errors=True)
    repo.mkdir(parents=True)
    run(["git", "init", "-q"], repo)
    if tool == TETHER:
        run([*tool, "-q", "init"], repo)
    else:
        run([*tool, "init", "-q"], repo)
        run([*tool, "config", "cache.type", "copy"], repo)
    shutil.copytree(data / "small", repo / "small")
    shutil.copytree(data / "big", repo / "big")
    run([*tool, "add", "small", "big"], repo)
    run(["git", "add", "-A"], repo)
    run(["git", "commit", "-qm", "data"], repo)
    return repo


def remote_add(tool: list[str], repo: Path, name: str, url: str, s3: dict[str, str] | None) -> None:
    dvc = tool != TETHER
    run([*tool, "remote", "add", *(["-d", "-f"] if dvc else ["--default", "-f"]), name, url], repo)
    if s3:
        key = "endpointurl" if dvc else "endpoint_url"
        run([*tool, "remote", "modify", name, key, s3["endpoint"]], repo)
        run([*tool, "remote", "modify", "--local", name, "access_key_id", s3["key"]], repo)
        run([*tool, "remote", "modify", "--local", name, "secret_access_key", s3["secret"]], repo)
    run(["git", "add", "-A"], repo)
    run(["git", "commit", "-qm", f"remote {name}", "--allow-empty"], repo)


def round_trip(
    tool: list[str], repo: Path, work: Path, label: str, s3: dict[str, str] | None
) -> dict[str, tuple[float, int]]:
    """Push, then pull into a fresh clone; each step starts with its inputs in
    memory (the repo; the remote folder or the S3 server's files)."""
    store = work / "seaweedfs" if s3 else work / f"remote-{repo.name}"
    out = {f"push ({label})": timed([*tool, "push"], repo, [repo])}
    clone = work / f"{repo.name}-clone-{label}"
    shutil.rmtree(clone, ignore_errors=True)
    run(["git", "clone", "-q", str(repo), str(clone)], work)
    if s3:
        name = "s3"
        run([*tool, "remote", "modify", "--local", name, "access_key_id", s3["key"]], clone)
        run([*tool, "remote", "modify", "--local", name, "secret_access_key", s3["secret"]], clone)
    if tool != TETHER:
        run([*tool, "config", "cache.type", "copy"], clone)
    out[f"pull, fresh clone ({label})"] = timed([*tool, "pull"], clone, [store, clone])
    shutil.rmtree(clone)
    return out


def incremental(tool: list[str], repo: Path) -> tuple[float, int]:
    files = sorted((repo / "small").rglob("*.bin"))[:10]
    for f in files:
        f.chmod(0o644)
        f.write_bytes(f.read_bytes() + b"changed")
    run([*tool, "add", "small"], repo)
    return timed([*tool, "push"], repo, [], drop=False)  # as right after `add`: caches warm


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dvc", default=shutil.which("dvc") or "/tmp/dvcenv/bin/dvc")
    ap.add_argument("--work", default="/tmp/tether-bench-remotes")
    ap.add_argument("--small", type=int, default=20000)
    ap.add_argument("--big-mib", type=int, default=256)
    ap.add_argument("--no-s3", action="store_true")
    args = ap.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    data = work / "data"
    if not (data / "small").exists():
        run([sys.executable, str(MKDATA), "small", str(data / "small"), str(args.small)], work)
        run([sys.executable, str(MKDATA), "big", str(data / "big"), "4", str(args.big_mib)], work)
    tools = {"tether": TETHER}
    if args.dvc and Path(args.dvc).is_file():
        tools["dvc"] = [args.dvc]
    server = None
    if not args.no_s3:
        from tests.s3server import ACCESS_KEY, BUCKET, SECRET_KEY, SeaweedFS

        shutil.rmtree(work / "seaweedfs", ignore_errors=True)  # a fresh, empty bucket
        server = SeaweedFS(work / "seaweedfs")
        server.start()
    results: dict[str, dict[str, tuple[float, int]]] = {}
    try:
        for name, tool in tools.items():
            repo = setup(name, tool, work, data)
            res: dict[str, tuple[float, int]] = {}
            shutil.rmtree(work / f"remote-{name}", ignore_errors=True)
            (
                work / f"remote-{name}"
            ).mkdir()  # empty: tether refuses a remote folder that is not there
            remote_add(tool, repo, "local", str(work / f"remote-{name}"), None)
            res.update(round_trip(tool, repo, work, "local folder", None))
            res["incremental push, 10 files (local folder)"] = incremental(tool, repo)
            if server is not None:
                s3 = {"endpoint": server.endpoint, "key": ACCESS_KEY, "secret": SECRET_KEY}
                remote_add(tool, repo, "s3", f"s3://{BUCKET}/{name}", s3)
                res.update(round_trip(tool, repo, work, "S3", s3))
                res["incremental push, 10 files (S3)"] = incremental(tool, repo)
            results[name] = res
            shutil.rmtree(repo)
            shutil.rmtree(work / f"remote-{name}", ignore_errors=True)
    finally:
        if server is not None:
            server.stop()
    print("| step | tether (s) | tether peak MB | dvc (s) | dvc peak MB | dvc / tether |")
    print("| --- | --- | --- | --- | --- | --- |")
    for step, (secs, rss) in results["tether"].items():
        d = results.get("dvc", {}).get(step)
        ratio = f"{d[0] / secs:.1f}x" if d else "-"
        dvc_cols = f"{d[0]:.2f} | {d[1]}" if d else "- | -"
        print(f"| {step} | {secs:.2f} | {rss} | {dvc_cols} | {ratio} |")


if __name__ == "__main__":
    main()
