"""Fleet report benchmark: ``armorwatch report --since 7d`` on a generated 5-host, 8-day fleet.

``.venv/bin/python bench/bench_report.py [--lines N] [--hosts H] [--days D] [--json]``

The fleet: ``bench/gen_auditlog.py`` writes one realistic audit.log per host (different
seeds, ``--lines / --hosts`` lines each); its timestamps are stretched over ``--days``
days and every line gets ``node=HOST`` as auditd's ``name_format`` writes it. The last
two hosts stop three days before the end (the silent hosts the report must show).
``armorwatch run --no-report`` stores them (not timed), then ``armorwatch report`` runs
as a child process: wall time, its CPU time (user + system, its parser runs included),
the box's load average, its peak RSS (``ru_maxrss`` of the child) and the sizes of
index.html, the profile pages and report.json are measured. Files are cached in
``bench/.data/`` (gitignored).

Measured 2026-12-03 00:11–00:13 UTC on the DuckLake store (fleet.lake), three interleaved
pairs, load average 5.0–6.3 on the 2 shared cores (wall time follows the load): before
the report's one narrow read of the records (``report_scope.sql``, ``report_history.sql``)
18.3–33.6 s wall, 13.1–16.1 s CPU, 388–413 MB peak RSS; after, 12.6–19.1 s wall,
11.5–12.5 s CPU, 340–366 MB; sizes unchanged (index.html 0.11 MB, largest page 0.11 MB,
report.json 4.4 MB, report.md 0.41 MB), the files byte-identical but the generation time.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

import gen_auditlog  # noqa: E402

CLI = ROOT / ".venv" / "bin" / "armorwatch"
STAMP = re.compile(rb"audit\((\d+)\.(\d+):")


def fleet(lines: int, hosts: int, days: int) -> tuple[Path, list[Path]]:
    """The per-host audit.logs (cached) and the directory they are in."""
    out = (
        gen_auditlog.DATA_DIR / f"fleet-{lines}-{hosts}h-{days}d-v{gen_auditlog.GENERATOR_VERSION}"
    )
    out.mkdir(parents=True, exist_ok=True)
    per = lines // hosts
    span = days * 86400
    files = []
    for i in range(hosts):
        host = f"host-{i + 1:02d}"
        dest = out / f"{host}.audit.log"
        files.append(dest)
        if dest.is_file():
            continue
        src, _ = gen_auditlog.ensure(per, seed=100 + i)
        data = src.read_bytes().splitlines()
        secs = [int(m.group(1)) for ln in data[-50:] if (m := STAMP.search(ln))]
        last = max(secs) - gen_auditlog.BASE_TS or 1
        # silent hosts: their logs end three days before the others'
        stretch = (span - (3 * 86400 if i >= hosts - 2 else 0)) / last
        prefix = f"node={host} ".encode()

        def shift(m: re.Match[bytes], stretch: float = stretch) -> bytes:
            sec = gen_auditlog.BASE_TS + int((int(m.group(1)) - gen_auditlog.BASE_TS) * stretch)
            return b"audit(%d.%s:" % (sec, m.group(2))

        tmp = dest.with_suffix(".tmp")
        with open(tmp, "wb") as f:
            for ln in data:
                f.write(prefix + STAMP.sub(shift, ln) + b"\n")
        tmp.replace(dest)
    return out, files


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--lines", type=int, default=200_000, help="lines in the fleet (200k)")
    ap.add_argument("--hosts", type=int, default=5)
    ap.add_argument("--days", type=int, default=8)
    ap.add_argument("--since", default="7d", help="report window (7d)")
    ap.add_argument("--json", action="store_true", help="print raw numbers as JSON")
    args = ap.parse_args(argv)
    out, files = fleet(args.lines, args.hosts, args.days)
    db = out / "fleet.lake"  # a DuckLake catalog (fleet.duckdb caches are old single-file stores)
    if not db.is_file():
        subprocess.run(
            [
                str(CLI),
                "run",
                "--no-report",
                "--db",
                str(db),
                "--log-format",
                "json",
                "--log-level",
                "WARNING",
                *map(str, files),
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    report_dir = out / "report"
    load_before = os.getloadavg()[0]
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [
            str(CLI),
            "report",
            "--db",
            str(db),
            "--since",
            args.since,
            "-o",
            str(report_dir),
            "--log-format",
            "json",
            "--log-level",
            "WARNING",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    stdout = proc.stdout.read() if proc.stdout else ""
    # wait4: the peak RSS of this child only (RUSAGE_CHILDREN would include `run`)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - t0
    if status != 0:
        raise SystemExit(f"armorwatch report failed (wait status {status})")
    rss_kb = usage.ru_maxrss
    pages = list((report_dir / "profiles").glob("*.html"))
    result = {
        "lines": args.lines,
        "hosts": args.hosts,
        "days": args.days,
        "since": args.since,
        "report_s": round(seconds, 2),
        # CPU of the report and the apparmor_parser runs it waited for: on a shared box
        # wall time grows with the load, this much less
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
        "load_1m": f"{load_before:.1f} before, {os.getloadavg()[0]:.1f} after",
        "peak_rss_mb": round(rss_kb / 1024, 1),
        "index_html_mb": round((report_dir / "index.html").stat().st_size / 1e6, 3),
        "profile_pages": len(pages),
        "largest_profile_page_mb": round(
            max((p.stat().st_size for p in pages), default=0) / 1e6, 3
        ),
        "report_json_mb": round((report_dir / "report.json").stat().st_size / 1e6, 3),
        "report_md_mb": round((report_dir / "report.md").stat().st_size / 1e6, 3),
        "summary": stdout.splitlines()[0] if stdout else "",
    }
    if args.json:
        print(json.dumps(result))
    else:
        for k, v in result.items():
            print(f"{k:26} {v}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
