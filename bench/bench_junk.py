"""Throughput on junk (issue 19): random bytes through the parser and `armorwatch parse`.

    .venv/bin/python bench/bench_junk.py [--mb 50]

Prints MB/s (wall and CPU) of ``parsers.stream.Parser`` on N MB of random bytes, fed in
8 MiB chunks (as `armorwatch parse` reads) and cut at NUL bytes (as the file tailer hands
them to the collector), for the Python path and the C scanner, then the wall time of
`armorwatch parse` on the same file (interpreter start-up included).
"""

from __future__ import annotations

import argparse
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from armorwatch.parsers import fast  # noqa: E402
from armorwatch.parsers.stream import Parser  # noqa: E402


def feed_all(data: bytes, engine: str, pieces: list[bytes]) -> tuple[float, float, int]:
    """(wall s, CPU s, junk lines) of one parser fed ``pieces`` (contiguous offsets)."""
    framing = "audit" if engine == "c" else "auto"
    p = Parser("audit.log", framing=framing, engine=engine)
    t, c = time.perf_counter(), time.process_time()
    off = 0
    for piece in pieces:
        p.feed(piece, off)
        off += len(piece)
    p.flush()
    return time.perf_counter() - t, time.process_time() - c, p.stats.junk_lines


def main() -> int:
    """Run the measurements and print one line each."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=int, default=50, help="megabytes of random bytes (default 50)")
    args = ap.parse_args()
    size = args.mb * 1_000_000
    data = random.Random(19).randbytes(size)
    chunks = [data[i : i + (8 << 20)] for i in range(0, size, 8 << 20)]
    nul = [piece + b"\n" for piece in data.split(b"\x00") if piece]
    engines = ["python", "c"] if fast.available() else ["python"]
    for name, pieces in (("8 MiB chunks", chunks), (f"{len(nul)} NUL-cut pieces", nul)):
        for engine in engines:
            wall, cpu, junk = feed_all(data, engine, pieces)
            mb = sum(map(len, pieces)) / 1e6
            print(
                f"Parser {engine:6} {name:22}: {mb / wall:7.1f} MB/s wall, {mb / cpu:7.1f} MB/s "
                f"CPU, {junk} junk lines"
            )
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "junk.bin"
        path.write_bytes(data)
        exe = Path(sys.executable).with_name("armorwatch")
        t = time.perf_counter()
        res = subprocess.run(
            [str(exe), "parse", "-o", "/dev/null", str(path)], capture_output=True, text=True
        )
        wall = time.perf_counter() - t
        print(
            f"armorwatch parse: {size / 1e6 / wall:.1f} MB/s wall ({wall:.2f} s), "
            f"{res.stderr.strip()}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
