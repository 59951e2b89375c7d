"""The C scanner and the pure-Python path give identical results."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from parsers import fast
from parsers import schema as S
from parsers.result import HostInfo
from parsers.stream import Parser
from tests.parsers.test_golden import DATA, render

ROOT = Path(__file__).resolve().parents[2]
AUDIT_ID = re.compile(rb"audit\((\d+\.\d+):(\d+)\)")
needs_c = pytest.mark.skipif(not fast.available(), reason="parsers._fastscan is not built")
HOST = HostInfo(host="h", machine_id="m", boot_id="b")


def parse(data: bytes, engine: str, size: int) -> list[str]:
    """Golden-style lines of ``data`` fed in ``size``-byte pieces with ``engine``."""
    p = Parser(S.SOURCE_AUDITLOG, HOST, year=2025, engine=engine)
    results = [p.feed(data[i : i + size], i) for i in range(0, len(data), size)]
    results.append(p.flush())
    return render(results)


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A 20k-line realistic audit.log from the benchmark's generator."""
    out = tmp_path_factory.mktemp("gen") / "audit.log"
    subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "gen_auditlog.py"),
            "--lines",
            "20000",
            "-o",
            str(out),
        ],
        check=True,
        capture_output=True,
    )
    return out.read_bytes()


@needs_c
class TestEnginesAgree:
    def test_generated_audit_log(self, generated: bytes) -> None:
        """On a realistic 20k-line audit.log both engines give the same records, any chunking."""
        expected = parse(generated, "python", 1 << 20)
        assert 5000 < len(expected)
        assert expected == parse(generated, "c", 1 << 20)
        assert expected == parse(generated, "c", 7919)

    def test_c_engine_is_used_for_audit_framing(self) -> None:
        """An audit.log-framed stream runs on the C scanner under engine='auto'."""
        p = Parser(S.SOURCE_AUDITLOG)
        p.feed((DATA / "classes.log").read_bytes(), 0)
        assert p._use_c is True

    @pytest.mark.parametrize("case", sorted(p.stem for p in DATA.glob("*.log")))
    def test_bad_bytes_never_raise(self, case: str) -> None:
        """Every golden case with its lines cut short still parses the same in both engines."""
        lines = (DATA / f"{case}.log").read_bytes().splitlines(keepends=True)
        cut = b"".join(line[: max(1, len(line) * 2 // 3)] + b"\n" for line in lines)
        assert parse(cut, "python", 997) == parse(cut, "c", 997)

    @settings(
        max_examples=int(os.environ.get("AW_HYPOTHESIS_EXAMPLES", "40")),
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(
        st.lists(
            st.sampled_from(
                [
                    line
                    for case in ("classes", "grouping", "hex", "selinux", "bad", "forged")
                    for line in (DATA / f"{case}.log").read_bytes().splitlines(keepends=True)
                    # audit.log framing only: a syslog line's time inside an audit.log
                    # stream is seen by the Python path's event clock, not by the scanner
                    if line.startswith((b"type=", b"node=", b"audit.log:", b"{"))
                ]
            ),
            min_size=1,
            max_size=30,
        ),
        st.integers(min_value=23, max_value=400),
        st.binary(max_size=6),
    )
    def test_random_mixes(self, lines: list[bytes], size: int, junk: bytes) -> None:
        """Random mixes of records, chunk sizes and junk bytes: same result, no exception.

        As in any real log, one audit id has one time: the lines' times are rewritten
        from their serials (the engines group a reused id with another time differently).
        """
        data = (
            AUDIT_ID.sub(
                lambda m: (
                    b"audit(%d.%03d:%s)" % (1700000000 + 3 * int(m[2]), int(m[2]) % 1000, m[2])
                ),
                b"".join(lines),
            )
            + junk
        )
        assert parse(data, "python", size) == parse(data, "c", size)

    def test_safe_offset_stops_before_an_open_event(self) -> None:
        """With the C engine too, safe_offset waits for the event's PROCTITLE."""
        avc = (
            b'type=AVC msg=audit(10.000:7): apparmor="DENIED" operation="open" '
            b'profile="p" name="/x" pid=1 comm="c" requested_mask="r" denied_mask="r"\n'
        )
        sc = b'type=SYSCALL msg=audit(10.000:7): syscall=2 exe="/bin/c" uid=0 auid=7\n'
        pt = b"type=PROCTITLE msg=audit(10.000:7): proctitle=6300782079\n"
        p = Parser(S.SOURCE_AUDITLOG, engine="c")
        r1 = p.feed(avc + sc, 0)
        assert (0, 0) == (r1.records.num_rows, r1.safe_offset)
        r2 = p.feed(pt, len(avc + sc))
        assert (1, len(avc + sc + pt)) == (r2.records.num_rows, r2.safe_offset)
        assert ["c x y"] == r2.records.column(S.PROCTITLE).to_pylist()


class TestFallback:
    def test_engine_c_without_the_build_is_an_error(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Asking for the C engine when it is not built fails loudly instead of silently."""
        monkeypatch.setattr(fast, "_fastscan", None)
        with pytest.raises(ValueError):
            Parser(S.SOURCE_AUDITLOG, engine="c")

    def test_auto_falls_back_to_python(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Without the build, engine='auto' parses with the Python path."""
        monkeypatch.setattr(fast, "_fastscan", None)
        p = Parser(S.SOURCE_AUDITLOG)
        r = p.feed((DATA / "classes.log").read_bytes(), 0)
        assert (False, True) == (p._use_c, r.records.num_rows + p.flush().records.num_rows > 30)

    def test_the_build_is_declared(self) -> None:
        """pyproject.toml declares the scanner as an optional extension of the package."""
        spec = importlib.util.find_spec("parsers._fastscan")
        with (ROOT / "pyproject.toml").open("rb") as f:
            modules = tomllib.load(f)["tool"]["setuptools"]["ext-modules"]
        assert [("parsers._fastscan", True)] == [(m["name"], m["optional"]) for m in modules]
        assert (spec is not None) == fast.available()


class TestDrainAndStats:
    @pytest.mark.parametrize("engine", ["python", "c"] if fast.available() else ["python"])
    def test_drain_emits_open_events_and_keeps_the_partial_line(self, engine: str) -> None:
        """drain() emits an event still waiting for its PROCTITLE; a partial line stays held."""
        avc = (
            b'type=AVC msg=audit(10.000:7): apparmor="DENIED" operation="open" '
            b'profile="p" name="/x" pid=1 comm="c" requested_mask="r" denied_mask="r"\n'
        )
        p = Parser(S.SOURCE_AUDITLOG, engine=engine)
        assert 0 == p.feed(avc + b"type=SYSC", 0).records.num_rows
        drained = p.drain()
        assert (1, len(avc)) == (drained.records.num_rows, drained.safe_offset)
        assert (1, 1) == (p.stats.records, p.stats.lines)

    @needs_c
    def test_carry_is_bounded(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Open events beyond the carry limit are ended instead of growing the carry."""
        from parsers import stream

        monkeypatch.setattr(stream, "MAX_CARRY_BYTES", 200)
        line = (
            b'type=AVC msg=audit(10.000:%d): apparmor="DENIED" operation="open" '
            b'profile="p" name="/x" pid=1 comm="c" requested_mask="r" denied_mask="r"\n'
        )
        p = Parser(S.SOURCE_AUDITLOG, engine="c")
        first = b"".join(line % i for i in range(3))
        assert 0 == p.feed(first, 0).records.num_rows
        second = p.feed(line % 3, len(first))
        assert (3, len(first)) == (second.records.num_rows, second.safe_offset)
