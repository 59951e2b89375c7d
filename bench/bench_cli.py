"""Whole-process CLI timings (start-up included), side by side with the interpreter alone.

What a user feels: each row starts a fresh ``armorwatch`` process, interleaved over
``--runs`` rounds so machine drift hits every row alike; the anchor is ``python -c pass``
with the same interpreter. Prints a Markdown table of medians (seconds, and the time
above the anchor). ``parse`` and ``run`` read the bundled samples.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from importlib import resources
from pathlib import Path


def rows(tmp: Path) -> list[tuple[str, list[str]]]:
    """(label, argv) of every measured command."""
    exe = str(Path(sys.executable).with_name("armorwatch"))
    samples = resources.files("armorwatch").joinpath("samples")
    audit = str(samples.joinpath("audit.log"))
    return [
        ("anchor: python -c pass", [sys.executable, "-c", "pass"]),
        ("armorwatch --version", [exe, "--version"]),
        ("armorwatch --help", [exe, "--help"]),
        ("armorwatch parse samples/audit.log", [exe, "parse", audit, "-o", str(tmp / "o.jsonl")]),
        ("armorwatch query --list", [exe, "query", "--list"]),
        ("armorwatch run (4 samples, no report)",
         [exe, "run", "--db", str(tmp / "s.duckdb"), "--no-report"]),
    ]  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        table = rows(tmp)
        times: dict[str, list[float]] = {label: [] for label, _ in table}
        for _ in range(args.runs):
            for label, argv in table:
                for f in tmp.glob("s.duckdb*"):
                    f.unlink()
                t0 = time.perf_counter()
                subprocess.run(argv, cwd=tmp, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, check=True)  # fmt: skip
                times[label].append(time.perf_counter() - t0)
    anchor = statistics.median(times[table[0][0]])
    print(f"load average {os.getloadavg()[0]:.1f}, {args.runs} runs, medians\n")
    print("| command | seconds | above the interpreter |")
    print("|---|---:|---:|")
    for label, _ in table:
        m = statistics.median(times[label])
        print(f"| {label} | {m:.3f} | {m - anchor:+.3f} |")


if __name__ == "__main__":
    main()
