"""The faster paths of rule suggestion give what the slower ones gave: ``BatchChecker``
(many files per parser run) against ``ApparmorParser.check`` (bisection), and the event
grouping's evidence (example line, hosts, comms, sample keys) on ties."""

from __future__ import annotations

import datetime as dt
import stat
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import duckdb
import pytest

from armorwatch.jobs import suggest as SG
from armorwatch.jobs.suggest.batch import BatchChecker
from armorwatch.jobs.validate import ApparmorParser
from armorwatch.parsers import schema as S

PARSER = ApparmorParser.find()
needs_parser = pytest.mark.skipif(PARSER is None, reason="apparmor_parser is not installed")
T0 = dt.datetime(2025, 11, 23, 10, 0, tzinfo=dt.UTC)
Store = Callable[[Iterable[Mapping[str, Any]]], duckdb.DuckDBPyConnection]

# Good ones, syntax errors, a semantic (merge) error naming the profile, a child block,
# rules the 3.0 parser does not know, and a path that looks like a check profile's name.
BODIES = [
    "  capability chown,",
    "  /etc/shadow rr",
    "  /tmp/x r,",
    "  capability not_a_cap,",
    "  network inet stream,",
    "  /bin/x ix,\n  /bin/x px,",
    '  profile "x y" {\n  /etc/shadow rr\n  }',
    '  profile "x y" {\n  /etc/x r,\n  }',
    "  /tmp/aw_check_1 rw,",
    "  network (connect) inet stream ip=10.0.0.1 port=80,",
    "  io_uring override_creds,",
    *[f"  /srv/data/{i}/** r," for i in range(40)],
    *[f"  network (send) inet dgram port={i}," for i in range(40)],
]


@needs_parser
def test_batch_checker_equals_bisection() -> None:
    """Same verdict and the same message for every snippet, in a few parser runs."""
    assert PARSER is not None
    slow = ApparmorParser(PARSER.path)
    fast = ApparmorParser(PARSER.path)
    want = slow.check(list(BODIES))
    assert want == BatchChecker(fast).check(list(BODIES))
    assert any(w is None for w in want) and any(w is not None for w in want)
    assert fast.stats.calls < slow.stats.calls
    assert (fast.stats.snippets, fast.stats.failures) == (
        slow.stats.snippets, slow.stats.failures)


@needs_parser
def test_batch_checker_all_good_is_one_run() -> None:
    """A batch that compiles costs one parser run, as before."""
    assert PARSER is not None
    p = ApparmorParser(PARSER.path)
    assert [None, None] == BatchChecker(p).check(["  /etc/a r,", "  capability chown,"])
    assert 1 == p.stats.calls


def test_batch_checker_falls_back_to_bisection(tmp_path: Path) -> None:
    """A parser whose output names no file (and prints no success lines) is bisected:
    the result is still exactly the bisection's."""
    fake = tmp_path / "apparmor_parser"
    fake.write_text(
        "#!/bin/sh\n"
        "rc=0\n"
        'for a in "$@"; do\n'
        '  case "$a" in -*) continue;; esac\n'
        '  if grep -q BAD "$a"; then echo "something went wrong" >&2; rc=1; fi\n'
        "done\n"
        "exit $rc\n"
    )
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    bodies = ["  /ok r,", "  BAD one", "  /ok2 r,", "  BAD two", *[f"  /f{i} r," for i in range(9)]]
    want = ApparmorParser(str(fake)).check(list(bodies))
    assert want == BatchChecker(ApparmorParser(str(fake))).check(list(bodies))
    assert [False, True, False, True] == [w is not None for w in want[:4]]


def row(pid: int, host: str, ts: dt.datetime, serial: int, comm: str | None, raw: bytes
        ) -> dict[str, Any]:
    """One AppArmor file denial of /usr/bin/app on /etc/app.conf."""
    return {
        S.TS: ts, S.SERIAL: serial, S.ORDINAL: 0, S.HOST: host, S.BOOT_ID: "b1",
        S.SOURCE: S.SOURCE_AUDITLOG, S.RECORD_TYPE: "AVC", S.ORIGIN: S.ORIGIN_KERNEL,
        S.LSM: S.LSM_APPARMOR, S.APPARMOR: S.AA_DENIED, S.PID: pid, S.COMM: comm,
        S.OPERATION: "open", S.CLASS: "file", S.PROFILE: "/usr/bin/app",
        S.NAME: "/etc/app.conf", S.REQUESTED_MASK: "r", S.DENIED_MASK: "r",
        S.FSUID: 1, S.OUID: 0, S.RAW: raw,
    }


def test_grouping_evidence_on_ties(make_rows_store: Store) -> None:
    """The newest line is the example (ties: the higher serial, then the greater bytes);
    hosts and comms are sorted and distinct, NULL comms left out, processes distinct;
    sample keys oldest first."""
    late = T0 + dt.timedelta(minutes=5)
    con = make_rows_store([
        row(0, "web-02", T0, 7, "b", b"node=web-02 old"),
        row(1, "web-01", late, 9, None, b"node=web-01 newest, serial 9"),
        row(2, "web-03", late, 9, "a", b"node=web-03 newest, serial 9"),
        row(1, "web-01", late, 8, "b", b"node=web-01 newest, serial 8"),  # same process
    ])
    (ps,) = SG.suggest(con, validate=False).profiles
    (rule,) = ps.rules
    ev = rule.evidence
    assert "node=web-03 newest, serial 9" == ev.example
    assert (["web-01", "web-02", "web-03"], ["a", "b"], 4) == (ev.hosts, ev.comms, ev.events)
    assert (3, 4) == (ev.processes, rule.covers["events"])
    keys = [(k["host"], k["serial"]) for k in rule.covers["sample_keys"]]
    assert [("web-02", 7), ("web-01", 8), ("web-01", 9), ("web-03", 9)] == keys
