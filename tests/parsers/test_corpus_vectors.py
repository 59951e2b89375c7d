"""Reference vectors of other audit parsers, for the records armorwatch handles."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from armorwatch.parsers import schema as S
from armorwatch.parsers.result import ParseResult
from armorwatch.parsers.stream import parse_bytes

pytestmark = pytest.mark.corpus


def _parse(data: bytes) -> ParseResult:
    return parse_bytes(data, S.SOURCE_SAMPLE, year=2022)


def _rows(r: ParseResult) -> list[dict[str, Any]]:
    return [{k: v for k, v in row.items() if v is not None} for row in r.records.to_pylist()]


def _int_or_unset(value: str) -> int:
    return 4294967295 if value == "unset" else int(value)


class TestLinuxAuditParser:
    def test_avc_vectors(self, corpora: Path) -> None:
        """The AVC bodies hillu/linux-audit-parser asserts are the fields we extract."""
        d = corpora / "linux-audit-parser-rs"
        cols = {"denied": S.PERMS, "granted": S.PERMS}
        for line in (d / "expected-avc.jsonl").read_text().splitlines():
            vec = json.loads(line)
            if "expected_body" not in vec:
                continue
            (row,) = _rows(_parse((d / vec["file"]).read_bytes()))
            for item in vec["expected_body"]:
                key, kind, value = re.fullmatch(r"(\w+): (\w+):<(.*)>", item).groups()  # type: ignore[union-attr]
                col = cols.get(key, key)
                if key == "permissive":
                    assert (value == "1") == row[S.PERMISSIVE]
                elif kind == "Num":
                    assert int(value) == row[col]
                elif kind == "List":
                    assert value.split() == row[col]
                    assert key == row[S.SERESULT]
                else:
                    assert value == row[col]

    def test_every_line_parses_without_reject(self, corpora: Path) -> None:
        """All single-record lines (ENRICHED tails, policyload notices) parse; none is rejected."""
        files = sorted((corpora / "linux-audit-parser-rs").glob("line-*.txt"))
        assert 56 == len(files)  # the README says 57 files: 56 lines + expected-avc.jsonl
        results = [_parse(f.read_bytes()) for f in files]
        assert 0 == sum(r.rejects.num_rows for r in results)
        assert 3 == sum(r.records.num_rows for r in results)  # 2 SELinux AVC + 1 STATUS


class TestGoLibaudit:
    def test_auparse_avc_data(self, corpora: Path) -> None:
        """Every AVC line of go-libaudit's auparse goldens gives its data fields."""
        d = corpora / "go-libaudit" / "auparse" / "testdata"
        checked = 0
        for golden in sorted(d.glob("*.golden")):
            for obj in json.loads(golden.read_text()):
                if not obj or obj.get("record_type") != "avc":
                    continue
                (row,) = _rows(_parse(b"type=AVC msg=" + obj["raw_msg"].encode()))
                data = obj["data"]
                assert obj["sequence"] == row[S.SERIAL]
                for key, value in data.items():
                    if key == "seperms":
                        assert value.split(",") == row[S.PERMS]
                    elif key in ("dev", "ino"):
                        continue  # not MAC fields
                    elif key == "pid":
                        assert int(value) == row[S.PID]
                    else:
                        assert value == row[key]
                checked += 1
        assert 2 == checked

    def test_aucoalesce_apparmor_events(self, corpora: Path) -> None:
        """The multi-record AppArmor events coalesce to go-libaudit's process fields."""
        yaml = pytest.importorskip("yaml")
        d = corpora / "go-libaudit" / "aucoalesce" / "testdata"
        tests = yaml.safe_load((d / "ubuntu-16.04-linux-4.13.0.yaml").read_text())["tests"]
        golden = {
            g["test_name"]: g["event"]
            for g in json.loads((d / "ubuntu-16.04-linux-4.13.0.json.golden").read_text())
        }
        for name in ("AVC_AppArmor", "AVC_AppArmor_unlink"):
            raw = tests[name].encode()
            rows = _rows(_parse(raw))
            event = golden[name]
            assert raw.count(b"type=AVC ") == len(rows)
            assert list(range(len(rows))) == [r[S.ORDINAL] for r in rows]
            for row in rows:
                assert event["sequence"] == row[S.SERIAL]
                assert event["process"]["title"] == row[S.PROCTITLE]
                assert event["process"].get("cwd") == row.get(S.CWD)
                assert _int_or_unset(event["user"]["ids"]["uid"]) == row[S.UID]
                assert _int_or_unset(event["user"]["ids"]["auid"]) == row[S.AUID]
                assert event["data"]["operation"] == row[S.OPERATION]
            if "exe" in event["process"] and b"exe=" in raw:
                assert event["process"]["exe"] == rows[0][S.EXE]


class TestLaurel:
    def test_avc_apparmor_record(self, corpora: Path) -> None:
        """Laurel's AVC record golden: the STATUS fields plus SYSCALL exe/uid (SYSCALL first)."""
        d = corpora / "laurel"
        expected = json.loads((d / "record-avc-apparmor.json").read_text())
        (row,) = _rows(_parse((d / "record-avc-apparmor.txt").read_bytes()))
        (avc,) = expected["AVC"]
        for key, value in avc.items():
            assert value == row[key]
        sc = expected["SYSCALL"]
        assert (sc["exe"], sc["uid"], sc["auid"], sc["SYSCALL"]) == (
            row[S.EXE],
            row[S.UID],
            row[S.AUID],
            row[S.SYSCALL],
        )

    def test_no_other_laurel_file_is_a_mac_record(self, corpora: Path) -> None:
        """Laurel's other events (execve, login, subj_apparmor=…) yield no record and no reject."""
        files = [p for p in (corpora / "laurel").rglob("*.txt") if "avc-apparmor" not in p.name]
        results = [_parse(f.read_bytes()) for f in files]
        assert (0, 0) == (
            sum(r.records.num_rows for r in results),
            sum(r.rejects.num_rows for r in results),
        )


class TestSepolgen:
    def test_audit_vectors(self, corpora: Path) -> None:
        """sepolgen's per-line AVC expectations: contexts, class, permissions, comm, ioctlcmd."""
        d = corpora / "selinux-sepolgen-audit2allow"
        checked = 0
        for line in (d / "test_audit-vectors.jsonl").read_text().splitlines():
            vec = json.loads(line)
            if "input" not in vec:
                continue
            rows = _rows(_parse(vec["input"].encode()))
            exp = vec["expected"]
            if not rows:
                continue
            row = rows[0]
            for side, col in (("scontext", S.SCONTEXT), ("tcontext", S.TCONTEXT)):
                if side in exp:
                    c = exp[side]
                    assert ":".join([c["user"], c["role"], c["type"], c["level"]]) == row[col]
            if "tclass" in exp:
                assert exp["tclass"] == row[S.TCLASS]
            if "accesses" in exp:
                assert exp["accesses"] == row[S.PERMS]
            if "comm" in exp:
                assert exp["comm"] == row[S.COMM]
            if "denial" in exp:
                assert (S.SE_DENIED if exp["denial"] else S.SE_GRANTED) == row[S.SERESULT]
            if "ioctlcmd" in exp:
                assert exp["ioctlcmd"] == row.get(S.IOCTLCMD)
            checked += 1
        assert checked >= 6

    @pytest.mark.parametrize(
        ("path", "records"),
        [
            ("python/sepolgen/tests/audit.txt", 21),
            ("python/sepolgen/tests/test_data/short.log", 6),
            ("python/sepolgen/tests/test_data/audit.log", 1805 + 10),
            ("python/sepolgen/tests/test_data/httpd.log", 3529 + 3335),
            ("python/audit2allow/test.log", 17),
        ],
    )
    def test_record_counts(self, corpora: Path, path: str, records: int) -> None:
        """Every AVC and USER_AVC denial of sepolgen's logs is a record; nothing is rejected."""
        r = _parse((corpora / "selinux-sepolgen-audit2allow" / path).read_bytes())
        assert (records, 0) == (r.records.num_rows, r.rejects.num_rows)


class TestRealVolume:
    @pytest.mark.parametrize(
        ("path", "records", "loss"),
        [
            ("hotsos-fake-data-root/openstack/var/log/kern.log", 1302, 15),
            ("hotsos-fake-data-root/openstack/var/log/syslog", 797, 0),
            ("hotsos-fake-data-root/openstack/sos_commands/kernel/dmesg", 805, 0),
            ("hotsos-fake-data-root/openstack/sos_commands/logs/journalctl_--no-pager", 3056, 15),
            ("hotsos-fake-data-root/kubernetes/var/log/kern.log", 204, 5),
            ("hotsos-fake-data-root/kubernetes/sos_commands/kernel/dmesg", 204, 5),
            ("loghub-linux/Linux_2k.log", 0, 0),
        ],
    )
    def test_every_apparmor_line_is_a_record(
        self, corpora: Path, path: str, records: int, loss: int
    ) -> None:
        """Each apparmor= line of the real captures is one record, with no rejects."""
        data = (corpora / path).read_bytes()
        assert records == sum(1 for line in data.splitlines() if b"apparmor=" in line)
        r = _parse(data)
        assert (records, 0, loss) == (r.records.num_rows, r.rejects.num_rows, r.loss.num_rows)

    def test_journal_short_format_has_no_audit_id_for_audit_transport(self, corpora: Path) -> None:
        """journalctl's `audit[pid]: AVC …` lines carry no serial; the printk ones do."""
        path = "hotsos-fake-data-root/openstack/sos_commands/logs/journalctl_--no-pager"
        rows = _rows(_parse((corpora / path).read_bytes()))
        assert (1739, 1317) == (
            sum(1 for r in rows if S.SERIAL not in r),
            sum(1 for r in rows if S.SERIAL in r),
        )


class TestAppArmorD:
    def test_systemd_journal_export(self, corpora: Path) -> None:
        """The journald export of dbus-daemon AppArmor messages: 13 user-space records."""
        r = _parse((corpora / "apparmor.d-aa-log" / "systemd.log").read_bytes())
        rows = _rows(r)
        assert 13 == len(rows)
        assert {S.ORIGIN_USERSPACE} == {row[S.ORIGIN] for row in rows}
