"""``armorwatch suggest`` on forged and hostile input (issue 19): no rule from a NUL name or
a forged-looking record, exact bytes for names that are not UTF-8, bounded work on huge names.

The audit.log files are written the way the kernel and auditd write them: one AVC record a
line, untrusted strings in double quotes when clean and as upper-case hex otherwise.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from armorwatch.cli import main
from armorwatch.jobs import apparmor_rules as R
from armorwatch.jobs import generalize
from armorwatch.jobs.abstractions import Policy
from armorwatch.jobs.validate import ApparmorParser
from armorwatch.parsers import fields as F
from armorwatch.parsers import schema as S
from tests.jobs.conftest import build_store

PARSER = ApparmorParser.find()
needs_parser = pytest.mark.skipif(PARSER is None, reason="apparmor_parser is not installed")
APP = "/usr/bin/app"


def avc(serial: int, name_field: str, *, profile: str = APP, operation: str = "open",
        mask: str = "r", extra: str = "") -> str:
    """One AppArmor AVC line of audit.log; ``name_field`` is written as given (quoted or hex)."""
    return (
        f"node=web-01 type=AVC msg=audit(1763882115.{serial:03d}:{serial}): "
        f'apparmor="DENIED" operation="{operation}" class="file" profile="{profile}" '
        f'name={name_field} pid={2000 + serial} comm="app" requested_mask="{mask}" '
        f'denied_mask="{mask}" fsuid=1000 ouid=0{extra}\n'
    )


def kernel_hex(name: bytes) -> str:
    """A name as the kernel logs one holding a byte outside 0x21-0x7e: upper-case hex."""
    return name.hex().upper()


def store_from_log(tmp_path: Path, text: str) -> Path:
    """``armorwatch run`` on an audit.log holding ``text``; returns the store it wrote."""
    log = tmp_path / "audit.log"
    log.write_bytes(text.encode("ascii"))
    db = tmp_path / "store.duckdb"
    assert 0 == main(["run", str(log), "--db", str(db), "--no-report"])
    return db


def suggest_json(db: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> dict[str, Any]:
    """``armorwatch suggest --format json`` on ``db`` (validated when a parser exists)."""
    capsys.readouterr()
    assert 0 == main(["suggest", "--db", str(db), "--format", "json", *extra])
    data: dict[str, Any] = json.loads(capsys.readouterr().out or "{}")
    return data


def rules(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every suggested AppArmor rule of every profile, by rule text."""
    return {r["rule"]: r for p in data.get("profiles", []) for r in p["rules"]}


def emitted(data: dict[str, Any]) -> list[str]:
    """The rules written as active lines."""
    return [t for t, r in rules(data).items() if r["emitted"]]


def skipped(data: dict[str, Any]) -> list[str]:
    """The reasons of every skipped event group."""
    return [s["reason"] for p in data.get("profiles", []) for s in p["skipped"]]


def row_store(tmp_path: Path, rows: list[dict[str, Any]]) -> Path:
    """A store file holding ``rows`` (schema constants as keys), written by the real store."""
    con = build_store([S.batch_from_rows(rows)], tmp_path)
    con.close()
    path = tmp_path / "store.duckdb"
    if not path.is_file():
        pytest.skip("sinks.duckdb is not available: no store file to open")
    return path


def file_row(serial: int, name: str, raw_name: str, **kw: Any) -> dict[str, Any]:
    """A kernel file denial of APP as the parser stores it (``raw_name``: the name= token)."""
    base: dict[str, Any] = {
        S.TS: dt.datetime(2025, 11, 23, 10, 0, serial % 60, tzinfo=dt.UTC),
        S.SERIAL: serial, S.ORDINAL: 0, S.HOST: "web-01", S.BOOT_ID: "b1",
        S.SOURCE: S.SOURCE_AUDITLOG, S.RECORD_TYPE: "AVC", S.ORIGIN: S.ORIGIN_KERNEL,
        S.LSM: S.LSM_APPARMOR, S.APPARMOR: S.AA_DENIED, S.OPERATION: "open",
        S.CLASS: "file", S.PROFILE: APP, S.NAME: name, S.PID: 2000 + serial,
        S.COMM: "app", S.REQUESTED_MASK: "r", S.DENIED_MASK: "r", S.FSUID: 1000, S.OUID: 0,
        S.RAW: avc(serial, raw_name).encode("ascii"),
    }
    base.update(kw)
    return base


class TestNul:
    def test_nul_name_gives_no_rule(self, tmp_path: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
        """``name=2F746D702F00657463`` (/tmp/<NUL>etc) as the kernel would hex it: no rule."""
        db = store_from_log(tmp_path, avc(100, "2F746D702F00657463")
                            + avc(101, '"/srv/ok"'))
        data = suggest_json(db, capsys, "--no-validate")
        assert ["/srv/ok r,"] == list(rules(data))
        assert any(S.SUSPECT_NUL_IN_PATH in r for r in skipped(data))  # and says why

    def test_nul_name_unflagged_still_gives_no_rule(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Defence in depth: a NUL name the parser did not flag is skipped by the rule builder."""
        db = row_store(tmp_path, [file_row(1, "/tmp/\x00etc", "2F746D702F00657463")])
        data = suggest_json(db, capsys, "--no-validate")
        assert {} == rules(data)
        assert any("NUL byte in name" in r for r in skipped(data))


class TestExactBytes:
    @needs_parser
    def test_ff_fe_name_gives_byte_rule_that_compiles_and_replays(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Bytes FF FE give ``\\xff\\xfe`` (not ``\\x5cxff``); it compiles and covers the event."""
        db = store_from_log(tmp_path, avc(100, kernel_hex(b"/tmp/\xff\xfe")))
        data = suggest_json(db, capsys)
        got = rules(data)
        assert ["/tmp/\\xff\\xfe r,"] == list(got)
        rule = got["/tmp/\\xff\\xfe r,"]
        assert (R.FILE, "compiled", True) == (rule["kind"], rule["status"], rule["emitted"])
        assert 1 == rule["covers"]["events"]
        assert ["compiled"] == [p["snippet_status"] for p in data["profiles"]]

    @needs_parser
    def test_apparmor_parser_reads_the_escape_as_the_byte(self, tmp_path: Path) -> None:
        """apparmor_parser -Q -K compiles ``/tmp/\\xff\\xfe`` into the path bytes FF FE."""
        assert PARSER is not None
        src = tmp_path / "t.aa"
        src.write_text("profile t {\n  /tmp/\\xff\\xfe r,\n}\n")
        out = subprocess.run([PARSER.path, "-Q", "-K", "--dump=rule-exprs", str(src)],
                             capture_output=True, check=False, timeout=60)
        assert 0 == out.returncode
        assert b"aare: /tmp/\xff\xfe " in out.stdout + out.stderr

    def test_bytes_and_look_alike_text_stay_apart(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Bytes FF FE and the ASCII text ``\\xff\\xfe`` (stored alike) give two rules, each
        replaying only its own event."""
        db = store_from_log(tmp_path, avc(100, kernel_hex(b"/tmp/\xff\xfe"))
                            + avc(101, '"/tmp/\\xff\\xfe"')
                            + avc(102, '"/tmp/\\xff\\xfe"'))
        got = rules(suggest_json(db, capsys, "--no-validate"))
        assert {"/tmp/\\xff\\xfe r,": 1, "/tmp/\\x5cxff\\x5cxfe r,": 2} == {
            t: r["covers"]["events"] for t, r in got.items()}

    @given(st.binary(min_size=1, max_size=24))
    def test_any_bytes_round_trip_and_match(self, tail: bytes) -> None:
        """Any name bytes the kernel hex-encodes come back exact from the raw token, and
        the escaped literal matches exactly them."""
        raw = b"/srv/" + tail.replace(b"\x00", b"") + b"\xff"
        name = R.exact_name(F.text(raw), kernel_hex(raw))
        assert isinstance(name, str)
        assert raw == name.encode("utf-8", "surrogateescape")
        assert R.path_matches(R.aare(name), name)
        R.aare(name).encode("utf-8")  # no lone surrogate is left: the rule is valid UTF-8

    def test_unrecoverable_bytes_give_no_rule(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A backslash name whose raw line does not back it up is skipped, not guessed."""
        db = row_store(tmp_path, [file_row(1, "/tmp/\\xff", '"/tmp/other"')])
        data = suggest_json(db, capsys, "--no-validate")
        assert {} == rules(data)
        assert any("exact bytes" in r for r in skipped(data))


class TestForged:
    def test_duplicate_field_record_gives_no_rule(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A record repeating a field (the kernel writes each once) suggests nothing."""
        db = store_from_log(tmp_path, avc(100, '"/etc/shadow"', extra=' apparmor="ALLOWED"')
                            + avc(101, '"/srv/ok"'))
        assert ["/srv/ok r,"] == list(rules(suggest_json(db, capsys, "--no-validate")))

    @pytest.mark.parametrize("reason", [S.SUSPECT_FROM_USERSPACE, S.SUSPECT_UNVERIFIED,
                                        S.SUSPECT_DUPLICATE_FIELD, S.SUSPECT_NUL_IN_PATH])
    def test_suspect_records_give_no_rule(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str], reason: str
    ) -> None:
        """Any suspect AppArmor or SELinux record is left out; the clean ones still count."""
        se = {S.LSM: S.LSM_SELINUX, S.APPARMOR: None, S.SERESULT: S.SE_DENIED,
              S.SCONTEXT: "system_u:system_r:httpd_t:s0", S.TCONTEXT: "u:r:shadow_t:s0",
              S.TCLASS: "file", S.PERMS: ["read"], S.RECORD_TYPE: "AVC"}
        db = row_store(tmp_path, [
            file_row(1, "/etc/shadow", '"/etc/shadow"', **{S.SUSPECT: reason}),
            file_row(2, "/srv/ok", '"/srv/ok"'),
            file_row(3, "/x", '"/x"', **se, **{S.SUSPECT: reason}),
            file_row(4, "/x", '"/y"', **se),
        ])
        data = suggest_json(db, capsys, "--no-validate")
        assert ["/srv/ok r,"] == list(rules(data))
        assert any(reason in r for r in skipped(data))
        assert [("allow httpd_t shadow_t:file read;", 1)] == [
            (s["rule"], s["evidence"]["events"]) for s in data["selinux"]]

    def test_forged_profile_load_does_not_give_px(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """An exec target gets Px only from a genuine profile_load, never a suspect one."""
        def load(serial: int, name: str) -> str:
            return (f"node=web-01 type=AVC msg=audit(1763882115.{serial:03d}:{serial}): "
                    f'apparmor="STATUS" operation="profile_load" profile="unconfined" '
                    f'name="{name}" pid=9901 comm="apparmor_parser"\n')
        forged = load(5, "/usr/bin/forged").replace('comm="apparmor_parser"',
                                                     'comm="apparmor_parser" comm="x"')
        log = (load(4, "/usr/bin/helper") + forged
               + avc(10, '"/usr/bin/helper"', operation="exec", mask="x")
               + avc(11, '"/usr/bin/forged"', operation="exec", mask="x"))
        got = rules(suggest_json(store_from_log(tmp_path, log), capsys, "--no-validate"))
        assert {"/usr/bin/helper Px,", "/usr/bin/forged mrix,"} == set(got)


class TestBoundedWork:
    @pytest.mark.timeout(120)
    def test_million_character_name_finishes(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A 1,000,000-character name (longer than any kernel record) is skipped, quickly."""
        name = "/" + "a" * 999_999
        db = row_store(tmp_path, [file_row(1, name, f'"{name}"'),
                                  file_row(2, "/srv/ok", '"/srv/ok"')])
        data = suggest_json(db, capsys)
        assert ["/srv/ok r,"] == list(rules(data))
        assert any("longer than a kernel audit record" in r for r in skipped(data))

    @pytest.mark.timeout(60)
    def test_matchers_are_linear_in_the_name(self) -> None:
        """Without the length guard, the coverage, regex and generalisation steps take a
        1M-character name in linear time (each was quadratic before)."""
        n = 1_000_000
        path = "/" + "a" * (n - 1)
        grants = Policy.load(Path("/etc/apparmor.d")).grants(path + ".so", owner=False)
        assert all(p <= frozenset("mrwalkx") for p in grants.values())
        assert R.path_matches(R.aare(path), path)
        assert not R.path_matches("/" + "[" * n, "/x")  # no ']' anywhere: each '[' literal
        assert "/a" * (n // 2) == R.literal_prefix("/a" * (n // 2) + "*")
        so = "/usr/lib/x" + "1." * (n // 2) + "x.so"  # every digit starts a failing .so match
        assert R.aare(so) == generalize.narrow(so, owner=False).pattern
