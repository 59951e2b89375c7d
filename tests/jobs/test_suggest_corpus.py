"""Rule suggestion against upstream expectations in ../shared/corpora (skipped when absent).

- apparmor-utils-test: ``test_create_rule_from_ev`` vectors (log line → aa-logprof rule)
  and the ``ping`` logprof case.
- apparmor-libapparmor-test_multi: ``.profile`` files (the rules aa-logprof writes for
  each ``.in`` line).
- apparmor-suggest: hex-decoding vectors, checked as rule tokens (escaping round-trips).
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import duckdb
import pytest

from armorwatch.jobs import apparmor_rules as R
from armorwatch.jobs import suggest as SG
from armorwatch.jobs.validate import ApparmorParser
from armorwatch.parsers import schema as S

pytestmark = pytest.mark.corpus

if importlib.util.find_spec("armorwatch.parsers.stream") is None:  # pragma: no cover - build order
    pytest.skip("parsers.stream is not available", allow_module_level=True)
from armorwatch.parsers.stream import parse_bytes  # noqa: E402

# Cases where we deliberately differ from aa-logprof's .profile output, and why.
PROFILE_DIFFERENCES = {
    # AUDIT records are not denials: our store's denials/complain_events exclude them.
    "testcase36": "AUDIT record",
    "testcase_userns_02": "AUDIT record",
    # We quote names with '(' (safer inside peer=(...) values); upstream leaves it bare.
    "unbalanced_parenthesis": "quoted",
}


def records(line: bytes) -> list[dict[str, Any]]:
    """MAC records the real parser makes from one log line."""
    data = line if line.endswith(b"\n") else line + b"\n"
    return parse_bytes(data, S.SOURCE_SYSLOG).records.to_pylist()  # type: ignore[no-any-return]


def raw_rules(rows: Iterable[Mapping[str, Any]], decisions_only: bool = True) -> set[str]:
    """aa-logprof's raw rules for DENIED/ALLOWED rows (any row with decisions_only=False)."""
    out = set()
    for r in rows:
        if not decisions_only or r.get(S.APPARMOR) in (S.AA_DENIED, S.AA_ALLOWED):
            got = R.build(r)
            if isinstance(got, R.Raw):
                out.add(got.text)
    return out


def utils_vectors(corpora: Path) -> list[dict[str, Any]]:
    """The 23 test_create_rule_from_ev cases."""
    path = corpora / "apparmor-utils-test" / "utils-test-inline-vectors.jsonl"
    rows = [json.loads(ln) for ln in path.read_text().splitlines() if ln.strip()]
    return [r for r in rows if r["function"] == "test_create_rule_from_ev"]


class TestUtilsVectors:
    def test_create_rule_from_ev(self, corpora: Path) -> None:
        """Every upstream log line gives exactly aa-logprof's rule text."""
        cases = utils_vectors(corpora)
        assert 23 == len(cases)
        expected = [c["expected_tuple"][1] for c in cases]
        # Upstream's create_rule_from_ev builds from any record (one case is an AUDIT one).
        actual = [sorted(raw_rules(records(c["input"].encode()), decisions_only=False))
                  for c in cases]
        assert [[e] for e in expected] == actual

    def test_ping_logprof(self, corpora: Path,
                          make_store: Callable[[Iterable[Any]], duckdb.DuckDBPyConnection],
                          ) -> None:
        """ping.auditlog: raw rule equals aa-logprof's; our @{pid} form covers its /proc/*."""
        log = (corpora / "apparmor-utils-test" / "logprof" / "ping.auditlog").read_bytes()
        batch = parse_bytes(log, S.SOURCE_AUDITLOG, framing="audit").records
        res = SG.suggest(make_store([batch]), validate=False)
        (ps,) = res.profiles
        (s,) = ps.rules
        allow = (corpora / "apparmor-utils-test" / "logprof" / "ping.allowlog").read_text()
        assert "Adding owner /proc/*/cmdline r, to profile ping." in allow
        assert ("ping", ["owner /proc/21622/cmdline r,"], "owner @{PROC}/@{pid}/cmdline r,") == (
            ps.profile, s.raw, s.rule)
        assert R.path_matches("/proc/*/cmdline", "/proc/21622/cmdline")


class TestLibapparmorProfiles:
    def test_profiles(self, corpora: Path) -> None:
        """Each .profile's rules equal ours for its .in line (documented differences aside)."""
        folder = corpora / "apparmor-libapparmor-test_multi"
        mismatches = {}
        checked = 0
        for prof in sorted(folder.glob("*.profile")):
            if prof.stem in PROFILE_DIFFERENCES:
                continue
            expected = {
                ln.strip() for ln in prof.read_text().splitlines()
                if ln.strip() and not ln.strip().endswith("{") and ln.strip() != "}"
            }
            got = raw_rules(records(prof.with_suffix(".in").read_bytes()))
            checked += 1
            if expected != got:
                mismatches[prof.stem] = (sorted(expected), sorted(got))
        assert {} == mismatches
        assert 139 == checked

    def test_differences_still_differ(self, corpora: Path) -> None:
        """The documented differences are real (so the list cannot go stale silently)."""
        folder = corpora / "apparmor-libapparmor-test_multi"
        for stem in PROFILE_DIFFERENCES:
            expected = {ln.strip() for ln in (folder / f"{stem}.profile").read_text().splitlines()
                        if ln.strip().endswith(",")}
            assert expected != raw_rules(records((folder / f"{stem}.in").read_bytes())), stem


class TestSuggestHexVectors:
    def test_decoded_names_round_trip(self, corpora: Path) -> None:
        """Decoded names (UTF-8, spaces, brackets, abstract sockets) survive escaping."""
        path = corpora / "apparmor-suggest" / "test_hexToString.vectors.jsonl"
        names = [json.loads(ln)["equal"] for ln in path.read_text().splitlines()
                 if ln.strip() and "equal" in json.loads(ln)]
        assert names
        for name in names:
            tok = R.path_token(name).strip('"').replace('\\"', '"')
            assert R.path_matches(tok, name), name

    @pytest.mark.integration
    def test_decoded_names_compile(self, corpora: Path) -> None:
        """Each decoded name compiles as a file rule or a unix address."""
        parser = ApparmorParser.find()
        if parser is None:
            pytest.skip("apparmor_parser is not installed")
        path = corpora / "apparmor-suggest" / "test_hexToString.vectors.jsonl"
        names = [json.loads(ln)["equal"] for ln in path.read_text().splitlines()
                 if ln.strip() and "equal" in json.loads(ln)]
        bodies = [f"  unix (connect) type=stream peer=(addr={R.path_token(n)}),"
                  if n.startswith("@") else f"  {R.path_token('/' + n.lstrip('/'))} r,"
                  for n in names]
        assert [None] * len(bodies) == parser.check(bodies)
