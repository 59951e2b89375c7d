"""Memory-safety fuzzing of the compiled scanner under AddressSanitizer + UBSan.

The parser's C scanner (``parsers/_fastscan.c``) reads hostile bytes, so it is built a
second time with ``-fsanitize=address,undefined`` into a scratch directory, put in
front of ``parsers.__path__`` (the installed build is left alone), and fed random bytes,
mutated real lines and chunk splits. An out-of-bounds read, use-after-free, leak-free
misuse or undefined behaviour aborts the process with the sanitizer's report.

    .venv/bin/python tests/fuzz/asan_fastscan.py [--runs N] [--seed S]

This re-executes itself with ``LD_PRELOAD`` set to gcc's libasan (ASan must be loaded
first in a Python process). ``test_asan.py`` runs a short campaign in the suite.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "parsers" / "_fastscan.c"
SAMPLES = ROOT / "armorwatch" / "samples"
# UBSan checks stay recoverable so KNOWN_UB can be suppressed; halt_on_error stops on any other
FLAGS = ["-fsanitize=address,undefined", "-g", "-O1", "-fno-omit-frame-pointer"]


def build(out_dir: Path) -> Path:
    """Compile the scanner with sanitizers as ``out_dir/parsers/_fastscan<EXT>``."""
    pkg = out_dir / "parsers"
    pkg.mkdir(parents=True, exist_ok=True)
    target = pkg / ("_fastscan" + str(sysconfig.get_config_var("EXT_SUFFIX")))
    cmd = ["gcc", "-shared", "-fPIC", *FLAGS, f"-I{sysconfig.get_paths()['include']}",
           str(SOURCE), "-o", str(target)]  # fmt: skip
    subprocess.run(cmd, check=True)
    return pkg


def seeds() -> list[bytes]:
    """Sample lines of every framing, plus a few hand-made hostile ones."""
    lines = []
    for name in ("audit.log", "kern.log", "journal.json"):
        path = SAMPLES / name
        if path.is_file():
            lines += [ln for ln in path.read_bytes().splitlines() if ln.strip()]
    lines += [
        b'type=AVC msg=audit(1.1:1): apparmor="DENIED" name=' + b"41" * 5000,
        b'type=USER_AVC msg=audit(1.1:2): pid=1 uid=0 auid=0 ses=1 msg=\'apparmor="DENIED"',
        b'type=AVC msg=audit(1.1:3): apparmor="DENIED" profile="' + b"\\" * 300,
        b"type=SYSCALL msg=audit(1.1:3): exe=" + b"F" * 4097 + b"\x1dARCH=x86_64",
        b"node= type= msg=audit(:): =",
        # the scanner stops at a DAEMON_START (Parser.feed's boot change), also right
        # after a USER_AVC whose msg=' may go on
        b"type=DAEMON_START msg=audit(1.1:4): op=start ver=3.1.2 format=raw res=success",
        b"node=h type=DAEMON_START msg=audit(",
        b"type=DAEMON_START msg=audit(",
        # journalctl -o short of the audit transport (no audit id, the date's time)
        b'Dec 03 10:00:01 web-01 audit[1]: AVC apparmor="DENIED" operation="open" profile="p" '
        b'name="/x" pid=1 comm="c"',
        b"Dec  3 10:00:01.1234567 h audit: USER_AVC pid=1 uid=0 msg='apparmor=\"DENIED\" "
        b'operation="dbus_method_call" pid=2 label="l" exe="/x" sauid=0\'',
        b"2025-12-03T10:00:01+01:00 h audit[1]: AVC avc:  denied  { read } for pid=1 "
        b"scontext=a tcontext=b tclass=file",
        b"Dec 99 99:99:99.9 h audit[99999999999999999999]: AVC apparmor=\"DENIED\" pid=1",
        b"9999-12-31T99:99:99-99:99 h audit: AVC apparmor=\"DENIED\" operation=\"x\" pid=1",
    ]
    return lines


def mutate(rng: random.Random, pool: list[bytes]) -> bytes:
    """A few lines with random byte edits."""
    data = bytearray(b"\n".join(rng.choice(pool) for _ in range(rng.randint(1, 4))) + b"\n")
    for _ in range(rng.randint(0, 8)):
        pos = rng.randint(0, len(data))
        op = rng.random()
        if op < 0.3:
            data[pos:pos] = rng.randbytes(rng.randint(1, 16))
        elif op < 0.5:
            data[pos:pos] = rng.choice([b'"', b"'", b"=", b" ", b"\x1d", b"\n", b"\x00", b":",
                                        b"(", b")", b"msg='", b"audit(", b"\\"])  # fmt: skip
        elif op < 0.7:
            del data[pos : pos + rng.randint(1, 64)]
        elif op < 0.8:
            del data[pos:]
        elif pos < len(data):
            data[pos] = rng.randrange(256)
    return bytes(data)


# Known findings, each tracked by a strict xfail in test_asan.py, suppressed in campaigns
# so they can look for new ones. Remove an entry when its xfail flips.
KNOWN_UB: list[str] = []  # fixed: buf_put's memcpy(NULL, src, 0) (value starting with bad UTF-8)


def one_input(path: Path) -> int:
    """Feed one file's bytes through Parser(engine="c") whole, then byte by byte."""
    from armorwatch.parsers import schema as S
    from armorwatch.parsers.stream import Parser

    data = path.read_bytes()
    for step in (max(1, len(data)), 1):
        parser = Parser(S.SOURCE_AUDITLOG, framing="audit", engine="c")  # type: ignore[call-arg]
        for pos in range(0, len(data), step):
            parser.feed(data[pos : pos + step], pos)
        parser.flush()
    print("done: 1 input, no sanitizer report")
    return 0


def journal_seeds() -> list[bytes]:
    """journalctl -o json entries (the sample's), plus hostile ones for the C JSON reader."""
    path = SAMPLES / "journal.json"
    lines = [ln for ln in path.read_bytes().splitlines() if ln.strip()] if path.is_file() else []
    avc = b'type=1400 audit(1.1:7): apparmor=\\"DENIED\\" operation=\\"open\\" name=\\"/a\\"'
    head = b'{"_TRANSPORT":"audit","_HOSTNAME":"h","_BOOT_ID":"b","__REALTIME_TIMESTAMP":"1",'
    lines += [
        head + b'"MESSAGE":"' + avc + b'"}',
        head + b'"MESSAGE":[' + b",".join(str(b).encode() for b in avc[:60]) + b"]}",
        head + b'"MESSAGE":"\\u0000\\ud800\\u00e9' + b"\\" * 301 + b'"}',
        head + b'"MESSAGE":"' + b"A" * 140_000 + b'"}',
        b'{"MESSAGE":' + b"[" * 50 + b"]" * 50 + b"}",
        b'{"_TRANSPORT":"kernel","MESSAGE":"audit: ' + avc + b'","_HOSTNAME":"x","_HOSTNAME":"y"}',
    ]
    return lines


def campaign(runs: int, seed: int) -> int:
    """Feed ``runs`` inputs through Parser(engine="c") in random chunkings: odd ones as
    journald JSON (every chunk through the C JSON reader), even ones as audit/kernel logs."""
    from armorwatch.parsers import schema as S
    from armorwatch.parsers import stream
    from armorwatch.parsers.stream import Parser

    stream.JOURNAL_MIN_SCAN = 0  # the C journald pass takes chunks of any size
    rng = random.Random(seed)
    pool, journal = seeds(), journal_seeds()
    for i in range(runs):
        if i % 2 and journal:
            data = mutate(rng, journal)
            parser = Parser(S.SOURCE_JOURNALD, framing="journald", engine="c")  # type: ignore[call-arg]
        else:
            data = mutate(rng, pool) if rng.random() < 0.8 else rng.randbytes(rng.randint(0, 3000))
            parser = Parser(S.SOURCE_AUDITLOG, framing="audit", engine="c")  # type: ignore[call-arg]
        pos = 0
        while pos < len(data):
            step = rng.choice([1, 7, 64, 4096, len(data)])
            parser.feed(data[pos : pos + step], pos)
            pos += step
        parser.flush()
        if i % 1000 == 0:
            print(f"{i} inputs", file=sys.stderr, flush=True)
    print(f"done: {runs} inputs, no sanitizer report")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--runs", type=int, default=20_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--input", type=Path, help="feed only this file's bytes")
    ap.add_argument("--no-suppress", action="store_true", help="report the KNOWN_UB too")
    ap.add_argument("--inner", type=Path, help=argparse.SUPPRESS)  # the re-executed child
    args = ap.parse_args()
    if args.inner:
        import armorwatch.parsers as parsers

        parsers.__path__.insert(0, str(args.inner))
        from armorwatch.parsers import fast

        loaded = getattr(fast, "_fastscan", None)
        if loaded is None or not str(getattr(loaded, "__file__", "")).startswith(str(args.inner)):
            print(f"sanitized scanner not loaded: {loaded!r}", file=sys.stderr)
            return 2
        if "libasan" not in Path("/proc/self/maps").read_text():
            print("libasan is not loaded", file=sys.stderr)
            return 2
        return one_input(args.input) if args.input else campaign(args.runs, args.seed)
    if not SOURCE.is_file() or shutil.which("gcc") is None:
        print("no parsers/_fastscan.c or no gcc", file=sys.stderr)
        return 2
    libasan = subprocess.run(["gcc", "-print-file-name=libasan.so"], capture_output=True,
                             text=True, check=True).stdout.strip()  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="asan-fastscan-") as tmp:
        pkg = build(Path(tmp))
        ubsan = "print_stacktrace=1:halt_on_error=1:report_error_type=1"
        if not args.no_suppress:
            supp = Path(tmp) / "ubsan.supp"
            supp.write_text("\n".join(KNOWN_UB) + "\n")
            ubsan += f":suppressions={supp}"
        env = dict(
            os.environ,
            LD_PRELOAD=libasan,
            UBSAN_OPTIONS=ubsan,
            ASAN_OPTIONS="detect_leaks=0:abort_on_error=1",
        )  # CPython's own leaks
        cmd = [sys.executable, __file__, "--runs", str(args.runs), "--seed", str(args.seed),
               "--inner", str(pkg)]  # fmt: skip
        if args.input:
            cmd += ["--input", str(args.input.resolve())]
        return subprocess.run(cmd, env=env, cwd=ROOT, check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
