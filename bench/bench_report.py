"""Fleet report benchmark: ``armorwatch report --since 7d`` on a generated 5-host, 8-day fleet.

``.venv/bin/python bench/bench_report.py [--lines N] [--hosts H] [--days D] [--json]
[--ready-rules N]``

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

Measured 2026-12-03 00:37–00:40 UTC, load average 4.9–6.1: the ready profiles' rules in
one ``suggest(profiles=[...])`` pass instead of one call each. This fleet has 1 ready
profile, so the report is unchanged: two interleaved pairs, before 10.5–11.4 s wall,
9.2–9.7 s CPU, 424–453 MB; after 12.3–12.7 s wall, 10.6–11.4 s CPU, 449–451 MB (noise
of the shared box), files byte-identical but the generation time. ``--ready-rules 20``
(the report's maximum: the 20 profiles with most denials, in child processes) measures
the part that changed: one call each 22.8–33.7 s wall, 18.6–25.4 s CPU, 264–265 MB; one
pass 7.5–9.6 s wall, 7.1–7.8 s CPU, 301–321 MB (the union of their rows is built at
once); the 18 snippets equal. What remains above 300 MB, by RSS per step: ~140 MB after
opening the store (imports, DuckDB, the lake extensions), the window's ``suggest`` +90 MB
at its peak (its ``suggest_events`` grouping in DuckDB ~120 MB on its own, the builder's
Python objects ~55 MB traced at ``finish``), then ``queries.pod_mismatches`` +80 MB.

Measured 2026-12-03 04:10–04:12 UTC, three interleaved pairs, load average 2.9–3.3: the
report without pyarrow/aiokafka/asyncio imports, its DuckDB connection on one thread with
the allocator's background thread, ``suggest_events`` reading ``records`` directly, the
window's TEMP tables dropped before rule suggestion: before 8.4–13.5 s wall, 9.3–9.6 s
CPU, 399–408 MB peak RSS; after 7.1–13.9 s wall, 7.7–8.8 s CPU, 281–288 MB; sizes
unchanged (index.html 0.11 MB, report.json 4.36 MB), files byte-identical but the
generation time. The store was re-stored in this worktree (the catalog names its data
path). Peak now, per step in-process: ~185 MB with the store open, +35–55 MB the window's
tables, +80 MB rule suggestion at its peak.
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


READY_CHILD = """
import pickle, sys
from armorwatch.sinks.store import open_store
from armorwatch.jobs.report import suggestions as SU
from armorwatch.jobs.suggest import suggest
db, mode, n, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
con = open_store(db, read_only=True)
names = [r[0] for r in con.execute(
    "SELECT coalesce(profile, label) AS p, count(*) AS n FROM denials WHERE lsm = 'apparmor' "
    "GROUP BY ALL ORDER BY n DESC, p LIMIT ?", [n]).fetchall()]
if mode == "each":  # the report before: one suggest(profile=p) call a profile
    got = SU._first_snippets(
        {p: SU._snippets(suggest(con, since=None, profile=p)) for p in names})
else:
    got = SU.rules_to_enforce(con, names)
with open(out, "wb") as f:
    pickle.dump(got, f)
"""


def ready_rules(db: Path, n: int) -> dict[str, object]:
    """The report's whole-history rules for the ``n`` profiles with most denials, one
    ``suggest`` call each (as before) and in one pass (``rules_to_enforce``), each in a
    child process: CPU (its parser runs included), peak RSS, and whether they are equal."""
    got: dict[str, object] = {}
    results = []
    for mode in ("each", "one"):
        out = db.parent / f"ready-{mode}.pickle"
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-c", READY_CHILD, str(db), mode, str(n), str(out)]
        )
        _, status, usage = os.wait4(proc.pid, 0)
        if status != 0:
            raise SystemExit(f"ready-rules child ({mode}) failed (wait status {status})")
        got[f"{mode}_s"] = round(time.perf_counter() - t0, 2)
        got[f"{mode}_cpu_s"] = round(usage.ru_utime + usage.ru_stime, 2)
        got[f"{mode}_peak_rss_mb"] = round(usage.ru_maxrss / 1024, 1)
        results.append(out.read_bytes())
    got["identical"] = results[0] == results[1]
    got["load_1m"] = f"{os.getloadavg()[0]:.1f}"
    return got


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--lines", type=int, default=200_000, help="lines in the fleet (200k)")
    ap.add_argument("--hosts", type=int, default=5)
    ap.add_argument("--days", type=int, default=8)
    ap.add_argument("--since", default="7d", help="report window (7d)")
    ap.add_argument("--json", action="store_true", help="print raw numbers as JSON")
    ap.add_argument(
        "--ready-rules",
        type=int,
        metavar="N",
        help="instead: whole-history rules of the N profiles with most denials, one "
        "suggest call each vs one pass (the report's ready profiles, at most 20)",
    )
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
    if args.ready_rules:
        print(json.dumps(ready_rules(db, args.ready_rules)))
        return 0
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
