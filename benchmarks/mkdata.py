"""Deterministic benchmark data: many small files and a few large ones.

    python benchmarks/mkdata.py small DIR COUNT        # COUNT files of 512 B-4 KiB in 100 folders
    python benchmarks/mkdata.py big DIR COUNT MIB      # COUNT files of MIB MiB each

The same arguments always give the same bytes (fixed seeds), so runs on
different days and machines time the same data.
"""

from __future__ import annotations

import os
import random
import sys


def small(root: str, n: int, seed: int = 1) -> None:
    rnd = random.Random(seed)
    for i in range(n):
        d = os.path.join(root, f"d{i % 100:02d}")
        os.makedirs(d, exist_ok=True)
        size = rnd.randint(512, 4096)
        with open(os.path.join(d, f"f{i:06d}.bin"), "wb") as f:
            f.write(rnd.randbytes(size))


def big(root: str, count: int, mib: int, seed: int = 2) -> None:
    rnd = random.Random(seed)
    os.makedirs(root, exist_ok=True)
    chunk = rnd.randbytes(1 << 20)
    for i in range(count):
        with open(os.path.join(root, f"part{i}.bin"), "wb") as f:
            for j in range(mib):
                # vary each MiB so nothing dedups trivially
                f.write(j.to_bytes(8, "little") + i.to_bytes(8, "little") + chunk[16:])


def main(argv: list[str]) -> None:
    kind, root, count = argv[0], argv[1], int(argv[2])
    if kind == "small":
        small(root, count)
    elif kind == "big":
        big(root, count, int(argv[3]))
    else:
        sys.exit(f"unknown kind {kind!r}: small or big")


if __name__ == "__main__":
    main(sys.argv[1:])
