"""Parse throughput, side by side in one run: libapparmor C ``parse_record`` vs our parser.

``make bench`` (= ``.venv/bin/python bench/run.py``) generates (once, cached in
``bench/.data/``) the realistic 1M-line audit.log of ``bench/gen_auditlog.py``, builds
the C harness ``bench/c/aa_parse.c`` with gcc into ``bench/.build/``, then runs, for each
of ``--runs`` rounds and interleaved so machine drift hits every row alike:

* **C**: libapparmor ``parse_record``/``free_record`` on the pre-filtered candidate lines;
* **read floor**: Python reading the same file in the same chunks and counting lines;
* **ours, 1 core**: ``parsers.stream.Parser.feed`` on raw chunks (``--chunk-mib``, never
  the whole file) plus ``flush``, in one process;
* **ours, 2 cores**: two such processes over the two halves of the file (split at a line
  boundary), started together; time = the slower half;
* with ``--framing kern`` (the kernel's kern.log rendering of the same records),
  ``--framing journald`` (``journalctl -o json`` entries of journald's audit transport,
  ``to_journal``) or ``--framing short`` (``journalctl -o short`` lines of those entries,
  ``gen_auditlog.to_short``: no audit id, so no event grouping), also C and ours on one
  core over the audit.log rendering, in the same rounds, so the path is compared with the
  audit.log path per MAC record on the same machine state (for journald and short the C
  row reads the audit.log rendering: libapparmor reads no JSON, nor a record without its
  audit(…) header);
* with ``--cli`` (audit.log framing), whole processes on one core (``taskset -c 0``),
  start-up included: ``armorwatch parse --format arrow -o /dev/null FILE`` against the C
  harness over the same file (its process wall time: start, read, ``parse_record``), with
  Python's bytecode cached as an installed package has it (``cli_env``), and the same
  command on an empty file (start-up alone, printed below the table);

Every measured program runs in its own process: it loads, reports ready, and starts the
clock only when told to go, so interpreter start and imports are not in the time (the C
loop is timed the same way, inside the program). Peak RSS is the child's own
``VmHWM`` (summed over the two processes of the 2-core row).
The table reports medians; "speed vs C" is C time / our time (≥ 1.0 means at least as
fast as C), on wall-clock time of the timed loop. "CPU vs C" is the same ratio on the
process's CPU time (user + system; for the 2-process row the sum of both, i.e.
core-seconds), which holds up better than wall time when other jobs load the machine.
Output: a Markdown table for README (stdout) and, with ``--json``, the raw numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

import gen_auditlog  # noqa: E402

HEADER = "/usr/include/aalogparse/aalogparse.h"
MIB = 1 << 20


# --- the journald rendering -------------------------------------------------------------
JOURNAL_HOST = {
    "_HOSTNAME": "web-01",
    "_MACHINE_ID": "0f1e2d3c4b5a69788796a5b4c3d2e1f0",
    "_BOOT_ID": "a1b2c3d4e5f60718293a4b5c6d7e8f90",
}


def to_journal(line: str, n: int) -> str:
    """An audit.log line as ``journalctl -o json`` prints the entry journald's audit
    transport stored for it (``n``: the entry's number, for the cursor): the record type
    and id as fields, MESSAGE the type and body; the ENRICHED tail is auditd's, so dropped."""
    rtype, _, rest = line[5:].partition(" msg=")
    rest = rest.split(gen_auditlog.GS, 1)[0]
    stamp, _, body = rest[6:].partition("): ")
    sec_ms, serial = stamp.split(":")
    us = str(int(sec_ms.replace(".", "")) * 1000)
    entry = {
        "__CURSOR": f"s=6d1c3c0a;i={n:x};b={JOURNAL_HOST['_BOOT_ID']};m={n:x};t={us};x=0",
        "__REALTIME_TIMESTAMP": us,
        "__MONOTONIC_TIMESTAMP": str(int(us) - gen_auditlog.BOOT_TS * 1_000_000),
        **JOURNAL_HOST,
        "_TRANSPORT": "audit",
        "SYSLOG_FACILITY": "4",
        "SYSLOG_IDENTIFIER": "audit",
        "_AUDIT_TYPE": str(gen_auditlog.TYPE_NUMS[rtype]),
        "_AUDIT_TYPE_NAME": rtype,
        "_AUDIT_ID": serial,
        "_SOURCE_REALTIME_TIMESTAMP": us,
        "MESSAGE": f"{rtype} {body}",
    }
    return json.dumps(entry, ensure_ascii=False, separators=(",", ":"))


def ensure_journal(audit_path: Path) -> Path:
    """The journald rendering of a generated audit.log, written next to it once."""
    path = audit_path.with_name(audit_path.stem.replace("audit", "journal", 1) + ".json")
    if path.is_file() and path.stat().st_mtime >= audit_path.stat().st_mtime:
        return path
    tmp = path.with_suffix(".tmp")
    with open(audit_path, encoding="latin-1") as src, open(tmp, "w", encoding="utf-8") as out:
        for n, line in enumerate(src):
            out.write(to_journal(line.rstrip("\n"), n) + "\n")
    tmp.replace(path)
    return path


# --- the measured child processes ------------------------------------------------------
def _vm_hwm_kib() -> int:
    """Peak RSS of this process image in KiB (VmHWM).

    Not ru_maxrss: on Linux that survives exec and so includes the parent's memory that
    the forked child shared before exec.
    """
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return -1


def _child(args: argparse.Namespace) -> int:
    """Run one measured job over [start, end) of the file; JSON result on stdout."""
    impl, path, start, end, chunk = args.child, args.file, args.start, args.end, args.chunk
    if impl == "ours":
        try:
            from armorwatch.parsers import schema as S
            from armorwatch.parsers.stream import Parser
        except Exception as exc:  # the parser may not exist yet on a fresh branch
            error = f"armorwatch.parsers.stream not importable: {exc!r}"
            print(json.dumps({"error": error}), flush=True)
            return 0
        import pyarrow.compute as pc

        if args.framing in ("kern", "short"):
            parser = Parser(S.SOURCE_KERNLOG, framing="syslog", year=2025)
        elif args.framing == "journald":
            parser = Parser(S.SOURCE_JOURNALD, framing="journald", year=2025)
        else:
            parser = Parser(S.SOURCE_AUDITLOG, framing="audit")
    print("ready", flush=True)
    if sys.stdin.readline().strip() != "go":
        return 2
    out: dict[str, Any] = {"bytes": end - start}
    c0 = time.process_time()
    t0 = time.perf_counter()
    with open(path, "rb", buffering=0) as f:
        f.seek(start)
        left = end - start
        if impl == "floor":
            lines = 0
            while left > 0:
                data = f.read(min(chunk, left))
                if not data:
                    break
                left -= len(data)
                lines += data.count(b"\n")
            out["lines"] = lines
        else:
            records = rejects = lines = 0
            offset = start
            lsm_columns = []  # counted after the clock stops: bookkeeping is not parsing

            def count(res: Any) -> None:
                nonlocal records, rejects, lines
                records += res.records.num_rows
                rejects += res.rejects.num_rows
                lines += res.lines
                lsm_columns.append(res.records.column(S.LSM))

            while left > 0:
                data = f.read(min(chunk, left))
                if not data:
                    break
                left -= len(data)
                count(parser.feed(data, offset))
                offset += len(data)
            count(parser.flush())
            out.update(records=records, rejects=rejects, lines=lines)
    out["seconds"] = time.perf_counter() - t0
    out["cpu_seconds"] = time.process_time() - c0
    out["vmhwm_kib"] = _vm_hwm_kib()
    if impl == "ours":
        out["apparmor"] = sum(
            pc.sum(pc.equal(col, S.LSM_APPARMOR)).as_py() or 0 for col in lsm_columns if len(col)
        )
    print(json.dumps(out), flush=True)
    return 0


@dataclass
class Sample:
    """One measured run of one row."""

    seconds: float
    cpu: float
    wall: float
    rss_mib: float
    result: dict[str, Any] = field(default_factory=dict)


def _wait(proc: subprocess.Popen[str]) -> None:
    """Reap ``proc``; a failed child fails the benchmark."""
    if proc.wait() != 0:
        raise RuntimeError(f"{proc.args!r} exited with {proc.returncode}")


def run_children(
    impl: str, path: Path, ranges: list[tuple[int, int]], chunk: int, framing: str = "audit"
) -> Sample:
    """Start one child per range, let them all go at once, and collect their results."""
    t_start = time.perf_counter()
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                str(Path(__file__)),
                "--child",
                impl,
                "--file",
                str(path),
                "--start",
                str(a),
                "--end",
                str(b),
                "--chunk",
                str(chunk),
                "--framing",
                framing,
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        for a, b in ranges
    ]
    results: list[dict[str, Any]] = []
    try:
        for p in procs:
            assert p.stdout is not None
            first = p.stdout.readline().strip()
            if first != "ready":
                results.append(json.loads(first) if first.startswith("{") else {"error": first})
        if results:
            for p in procs:
                p.kill()
                p.wait()
            return Sample(0.0, 0.0, 0.0, 0.0, results[0])
        for p in procs:
            assert p.stdin is not None
            p.stdin.write("go\n")
            p.stdin.flush()
        for p in procs:
            assert p.stdout is not None
            results.append(json.loads(p.stdout.readline()))
        for p in procs:
            _wait(p)
    finally:
        for p in procs:
            if p.returncode is None:
                p.kill()
                p.wait()
    wall = time.perf_counter() - t_start
    merged: dict[str, Any] = {}
    for r in results:
        for k, v in r.items():
            merged[k] = max(merged.get(k, 0), v) if k == "seconds" else merged.get(k, 0) + v
    rss = merged["vmhwm_kib"] / 1024
    return Sample(merged["seconds"], merged["cpu_seconds"], wall, rss, merged)


def run_c(binary: Path, path: Path) -> Sample:
    """One run of the C harness."""
    t0 = time.perf_counter()
    proc = subprocess.Popen([str(binary), str(path)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    result = json.loads(proc.stdout.read())
    _wait(proc)
    wall = time.perf_counter() - t0
    return Sample(
        result["seconds"], result["cpu_seconds"], wall, result["vmhwm_kib"] / 1024, result
    )


def _one_core() -> list[str]:
    """``taskset -c 0`` when there is one (the whole-process rows run on one core)."""
    return ["taskset", "-c", "0"] if shutil.which("taskset") else []


def run_process(argv: list[str], env: dict[str, str] | None = None) -> Sample:
    """One whole process, start-up included: wall time from spawn to exit, and its CPU time
    (user + system) from the kernel's accounting. No peak RSS: ru_maxrss would count the
    memory this parent shared with the child before exec (see ``_vm_hwm_kib``)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    _pid, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"{argv!r} exited with {proc.returncode}")
    return Sample(wall, usage.ru_utime + usage.ru_stime, wall, float("nan"))


def cli_env(build_dir: Path) -> dict[str, str]:
    """The environment of the ``armorwatch parse`` process: bytecode cached, as an installed
    package has it. With PYTHONDONTWRITEBYTECODE (set in some dev shells) every start would
    compile the project's modules from source again (0.01-0.03 s of CPU), which no
    installed ``armorwatch`` pays; the cache goes to ``build_dir``, not the source tree."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(build_dir / "pycache")
    return env


def build_c(build_dir: Path) -> Path | None:
    """Compile bench/c/aa_parse.c against libapparmor; None when it cannot be built."""
    src = HERE / "c" / "aa_parse.c"
    binary = build_dir / "aa_parse"
    if not Path(HEADER).is_file() or shutil.which("gcc") is None:
        return None
    if binary.is_file() and binary.stat().st_mtime >= src.stat().st_mtime:
        return binary
    build_dir.mkdir(parents=True, exist_ok=True)
    subprocess.run(["gcc", "-O2", "-Wall", "-o", str(binary), str(src), "-lapparmor"], check=True)
    return binary


def halves(path: Path) -> list[tuple[int, int]]:
    """Two byte ranges of the file split at the first line boundary after the middle."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        f.seek(size // 2)
        f.readline()
        mid = f.tell()
    return [(0, mid), (mid, size)]


def libapparmor_version() -> str:
    """The Debian package version of libapparmor-dev, when dpkg knows it."""
    try:
        out = subprocess.run(
            ["dpkg-query", "-W", "-f=${Version}", "libapparmor-dev"],
            capture_output=True,
            text=True,
            check=False,
        )
        return out.stdout.strip() or "?"
    except OSError:
        return "?"


def cpu_model() -> str:
    """The CPU model name from /proc/cpuinfo."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


# --- the parent ------------------------------------------------------------------------
ROWS = {
    "c": "libapparmor C `parse_record`, pre-filtered lines",
    "floor": "Python read floor: {chunk} MiB chunks, count lines",
    "ours1": "**armorwatch `parsers.stream`, 1 core**",
    "ours2": "**armorwatch `parsers.stream`, 2 processes**",
    # --framing kern: the audit.log rendering of the same records, in the same rounds
    "audit_c": "libapparmor C `parse_record`, audit.log rendering",
    "audit1": "armorwatch `parsers.stream`, 1 core, audit.log rendering",
    # --cli: whole processes on one core, start-up included
    "cli_c": "libapparmor C harness, whole process (1 core)",
    "cli": "**`armorwatch parse --format arrow`, whole process (1 core)**",
}


def summarize(
    name: str,
    samples: list[Sample],
    lines: int,
    size: int,
    aa_lines: int,
    c_time: float | None,
    c_cpu: float | None,
) -> dict[str, Any]:
    """Median time and derived rates of one row."""
    secs = statistics.median(s.seconds for s in samples)
    cpu = statistics.median(s.cpu for s in samples)
    res = samples[-1].result
    return {
        "row": name,
        "runs": len(samples),
        "seconds": secs,
        "seconds_all": [round(s.seconds, 4) for s in samples],
        "cpu": cpu,
        "cpu_all": [round(s.cpu, 4) for s in samples],
        "wall": statistics.median(s.wall for s in samples),
        "mlines_s": lines / secs / 1e6,
        "mb_s": size / secs / 1e6,
        "aa_k_s": aa_lines / secs / 1e3,
        "records": res.get("valid", res.get("records")),
        "rejects": res.get("invalid", res.get("rejects")),
        "rss_mib": max(s.rss_mib for s in samples),
        "ratio": (c_time / secs) if c_time else None,
        "ratio_cpu": (c_cpu / cpu) if c_cpu and cpu else None,
        "result": res,
    }


def table(rows: list[dict[str, Any]], chunk_mib: int) -> str:
    """The Markdown table for README."""
    out = [
        "| approach | time (s) | CPU (s) | Mlines/s | MB/s | AA/s (k) | records out | rejected | "
        "peak RSS (MiB) | speed vs C | CPU vs C |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        label = ROWS[r["row"]].format(chunk=chunk_mib)
        rec = "—" if r["records"] is None else f"{r['records']:,}"
        rej = "—" if r["rejects"] is None else f"{r['rejects']:,}"
        ratio = "—" if r["ratio"] is None else f"{r['ratio']:.2f}×"
        ratio_cpu = "—" if r["ratio_cpu"] is None else f"{r['ratio_cpu']:.2f}×"
        rss = "—" if r["rss_mib"] != r["rss_mib"] else f"{r['rss_mib']:.0f}"  # NaN: not known
        out.append(
            f"| {label} | {r['seconds']:.3f} | {r['cpu']:.3f} | {r['mlines_s']:.3f} | "
            f"{r['mb_s']:.1f} | {r['aa_k_s']:.1f} | {rec} | {rej} | {rss} | "
            f"{ratio} | {ratio_cpu} |"
        )
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="libapparmor C vs armorwatch parser, one run")
    ap.add_argument("--lines", type=int, default=1_000_000, help="lines in the generated log")
    ap.add_argument("--runs", type=int, default=3, help="rounds; the table shows medians")
    ap.add_argument("--quick", action="store_true", help="100k lines, 1 run")
    ap.add_argument("--seed", type=int, default=1, help="generator seed")
    ap.add_argument("--chunk-mib", type=int, default=16, help="read size of our parser")
    ap.add_argument(
        "--framing",
        choices=["audit", "kern", "journald", "short"],
        default="audit",
        help="audit.log (default), the kernel's kern.log rendering of the same records, "
        "journald's JSON entries of them or `journalctl -o short`'s lines of those entries "
        "(then the audit.log rendering is measured in the same rounds too)",
    )
    ap.add_argument(
        "--cli",
        action="store_true",
        help="also time `armorwatch parse --format arrow` and the C harness as whole "
        "processes on one core (start-up included)",
    )
    ap.add_argument("--file", type=Path, help="benchmark this file instead of a generated one")
    ap.add_argument(
        "--data-dir", type=Path, default=gen_auditlog.DATA_DIR, help="cache of generated logs"
    )
    ap.add_argument("--build-dir", type=Path, default=HERE / ".build", help="C build dir")
    ap.add_argument(
        "--only",
        default="c,floor,ours1,ours2,audit_c,audit1,cli_c,cli,cli0",
        help="rows to run (comma list; audit_c/audit1 need --framing kern, cli_c/cli --cli; "
        "cli0 = the cli command on an empty file, start-up alone, printed below the table)",
    )
    ap.add_argument("--json", type=Path, help="also write the raw numbers here")
    # the measured child (internal)
    ap.add_argument("--child", choices=["ours", "floor"], help=argparse.SUPPRESS)
    ap.add_argument("--start", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--end", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--chunk", type=int, default=16 * MIB, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        return _child(args)
    if args.quick:
        args.lines, args.runs = 100_000, 1
    chunk = args.chunk_mib * MIB
    only = set(args.only.split(","))

    if args.file:
        path, expected = args.file, None
        size = path.stat().st_size
    else:
        t0 = time.perf_counter()
        gen_framing = "audit" if args.framing == "journald" else args.framing
        name = gen_auditlog.default_path(args.lines, args.seed, gen_framing).name
        path, stats = gen_auditlog.ensure(args.lines, args.seed, args.data_dir / name, gen_framing)
        if args.framing == "journald":
            path = ensure_journal(path)
        print(f"# data: {path} ({time.perf_counter() - t0:.1f} s to ensure)", file=sys.stderr)
        expected = stats.apparmor + stats.selinux
        size = path.stat().st_size
    with open(path, "rb") as f:  # warm the page cache and count lines once
        lines = sum(block.count(b"\n") for block in iter(lambda: f.read(chunk), b""))
    # the audit.log rendering of the same records, for the kern.log comparison
    audit_path: Path | None = None
    if args.framing != "audit" and not args.file and {"c", "audit_c", "audit1"} & only:
        audit_path, _ = gen_auditlog.ensure(
            args.lines,
            args.seed,
            args.data_dir / gen_auditlog.default_path(args.lines, args.seed).name,
        )
        with open(audit_path, "rb") as f:
            for _block in iter(lambda: f.read(chunk), b""):
                pass
    cli = args.cli and args.framing == "audit"
    c_on_audit = args.framing in ("journald", "short")
    exe = str(Path(sys.executable).with_name("armorwatch"))

    binary = build_c(args.build_dir) if "c" in only else None
    if "c" in only and binary is None:
        print("# libapparmor-dev or gcc missing: no C row", file=sys.stderr)

    env = cli_env(args.build_dir)
    cli_argv = [*_one_core(), exe, "parse", "--format", "arrow", "-o", os.devnull]
    empty = args.build_dir / "empty.log"
    startup: list[Sample] = []  # the same command on an empty file: start-up and exit
    if cli and {"cli", "cli0"} & only:
        args.build_dir.mkdir(parents=True, exist_ok=True)
        empty.write_bytes(b"")
        run_process([*cli_argv, str(empty)], env)  # untimed: writes the bytecode cache

    load_before = os.getloadavg()[0]
    samples: dict[str, list[Sample]] = {k: [] for k in ROWS}
    errors: dict[str, str] = {}
    whole = [(0, size)]
    for i in range(args.runs):
        if binary is not None:
            # libapparmor reads no JSON (nor records without an audit id): for journald
            # and short, C reads the audit.log rendering
            samples["c"].append(run_c(binary, audit_path if c_on_audit and audit_path else path))
        if audit_path is not None:
            if binary is not None and "audit_c" in only:
                samples["audit_c"].append(run_c(binary, audit_path))
            if "audit1" in only and "audit1" not in errors:
                s = run_children("ours", audit_path, [(0, audit_path.stat().st_size)], chunk)
                if "error" in s.result:
                    errors["audit1"] = s.result["error"]
                else:
                    samples["audit1"].append(s)
        if cli:
            if binary is not None and "cli_c" in only:
                samples["cli_c"].append(run_process([*_one_core(), str(binary), str(path)]))
            if "cli" in only:
                samples["cli"].append(run_process([*cli_argv, str(path)], env))
            if "cli0" in only:
                startup.append(run_process([*cli_argv, str(empty)], env))
        for key, impl, ranges in (
            ("floor", "floor", whole),
            ("ours1", "ours", whole),
            ("ours2", "ours", halves(path)),
        ):
            if key not in only or key in errors:
                continue
            s = run_children(impl, path, ranges, chunk, args.framing)
            if "error" in s.result:
                errors[key] = s.result["error"]
                continue
            samples[key].append(s)
        done = ", ".join(f"{k} {v[-1].seconds:.3f}s" for k, v in samples.items() if v)
        print(f"# run {i + 1}/{args.runs}: {done}", file=sys.stderr)

    aa_lines = samples["c"][-1].result["candidates"] if samples["c"] else None
    if aa_lines is None:
        aa_lines = stats.apparmor if not args.file else 0

    def med(key: str, attr: str) -> float | None:
        return statistics.median(getattr(s, attr) for s in samples[key]) if samples[key] else None

    c_time, c_cpu = med("c", "seconds"), med("c", "cpu")
    # each row against C over the same file (the audit.log rows against C on audit.log)
    anchor = {"audit_c": "audit_c", "audit1": "audit_c", "cli_c": "cli_c", "cli": "cli_c"}
    a_lines, a_size = lines, size
    if audit_path is not None:
        a_size = audit_path.stat().st_size
        with open(audit_path, "rb") as f:
            a_lines = sum(block.count(b"\n") for block in iter(lambda: f.read(chunk), b""))
    rows = []
    for k, v in samples.items():
        if not v:
            continue
        ref = anchor.get(k)
        rt, rc = (med(ref, "seconds"), med(ref, "cpu")) if ref else (c_time, c_cpu)
        audit_file = k.startswith("audit") or (k == "c" and c_on_audit)
        n, sz = (a_lines, a_size) if audit_file else (lines, size)
        rows.append(summarize(k, v, n, sz, aa_lines, rt, rc))

    print(
        f"\nFile ({args.framing} framing): {lines:,} lines, {size / 1e6:.1f} MB, "
        f"{aa_lines:,} AppArmor lines"
        + (f", {expected:,} MAC records expected" if expected is not None else "")
        + f". Median of {args.runs} run(s), page cache warm, {os.cpu_count()} CPUs "
        f"({cpu_model()}), Python {platform.python_version()}, "
        f"libapparmor {libapparmor_version()}.\n"
    )
    print(table(rows, args.chunk_mib))
    by_row = {r["row"]: r for r in rows}
    if "ours1" in by_row and "audit1" in by_row and expected:
        # per MAC record, CPU time (the same records in both files)
        kern_us = by_row["ours1"]["cpu"] / expected * 1e6
        audit_us = by_row["audit1"]["cpu"] / expected * 1e6
        print(
            f"\nPer MAC record, 1 core, CPU: {args.framing} {kern_us:.2f} µs, audit.log "
            f"{audit_us:.2f} µs: the {args.framing} path runs at {audit_us / kern_us:.2f}× the "
            "audit.log path's speed (wall: "
            f"{by_row['audit1']['seconds'] / by_row['ours1']['seconds']:.2f}×)."
        )
    if "cli" in by_row:
        print(
            "\nWhole processes (cli rows): time = spawn to exit, start-up included, "
            "bytecode cached (`cli_env`); their ratios are against the C harness's whole "
            "process."
        )
    if startup:
        print(
            "Start-up alone (the same command on an empty file, same rounds): median "
            f"{statistics.median(s.cpu for s in startup):.3f} s of CPU, "
            f"{statistics.median(s.seconds for s in startup):.3f} s wall."
        )
    load_after = os.getloadavg()[0]
    print(
        "\nEvery run (s): "
        + "; ".join(f"{r['row']} " + ", ".join(f"{t:.3f}" for t in r["seconds_all"]) for r in rows)
        + f". 1-min load average {load_before:.2f} before, {load_after:.2f} after."
    )
    for key, err in errors.items():
        print(f"\n{ROWS[key].format(chunk=args.chunk_mib)}: not measured: {err}")
    if expected is not None:
        for r in rows:
            if r["row"].startswith("ours") and r["records"] != expected:
                print(
                    f"\nnote: {r['row']} produced {r['records']:,} records, "
                    f"{expected:,} expected ({r['rejects']:,} rejected)"
                )
    if samples["c"]:
        c_valid = samples["c"][-1].result["valid"]
        for r in rows:
            if r["row"].startswith("ours") and r["result"].get("apparmor") != c_valid:
                print(
                    f"\nnote: {r['row']} produced {r['result'].get('apparmor'):,} AppArmor "
                    f"records, libapparmor {c_valid:,}"
                )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(
            json.dumps(
                {
                    "file": str(path),
                    "lines": lines,
                    "bytes": size,
                    "apparmor_lines": aa_lines,
                    "expected_records": expected,
                    "runs": args.runs,
                    "chunk_mib": args.chunk_mib,
                    "cpus": os.cpu_count(),
                    "cpu": cpu_model(),
                    "load_before": load_before,
                    "load_after": load_after,
                    "rows": rows,
                    "errors": errors,
                },
                indent=1,
            )
            + "\n"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
