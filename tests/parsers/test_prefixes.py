"""Issue 15: records behind any prefix parse, trust stays where the framing proves it,
bare AVC lines are AVC, STATUS ns= is kept and every decision gets a mediation class."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from armorwatch.parsers import fast
from armorwatch.parsers import records as R
from armorwatch.parsers import schema as S
from armorwatch.parsers.result import HostInfo
from armorwatch.parsers.stream import parse_bytes

ENGINES = ["python", "c"] if fast.available() else ["python"]
ARMORWATCH = Path(sys.executable).with_name("armorwatch")
REC = (
    b'type=1400 audit(1617788957.120:45): apparmor="DENIED" operation="open" profile="p" '
    b'name="/etc/x" pid=7 comm="a" requested_mask="r" denied_mask="r" fsuid=0 ouid=0'
)


def one(line: bytes, **kw: bool) -> R.Line:
    """``records.classify_line`` of one line in 2021."""
    return R.classify_line(line, 2021, **kw)


class TestRejectReasons:
    def test_glued_prefix_names_the_prefix(self) -> None:
        """A record glued to text before it is rejected as an unrecognised prefix."""
        res = one(b"GARBAGE" + REC.replace(b"type=1400 ", b"type=AVC msg="))
        assert (R.REJECT, R.R_BAD_PREFIX) == (res.kind, res.reason)

    def test_broken_header_after_a_known_prefix_is_a_header_fault(self) -> None:
        """A dmesg -T line whose audit(…) is broken is rejected for its header."""
        res = one(
            b"[Wed Apr  7 09:49:17 2021] audit: type=1400 audit(16177=1.1:2): "
            b'apparmor="DENIED" operation="open" profile="p" pid=1'
        )
        assert (R.REJECT, R.R_BAD_HEADER) == (res.kind, res.reason)

    @pytest.mark.parametrize(
        "prefix",
        [
            b"[Wed Apr  7 09:49:17 2021] audit: ",
            b"[Mi Apr  7 09:49:17 2021] audit: ",
            b"[2021-04-07T09:49:17,123456+00:00] audit: ",
            b"<5>[ 12.5] audit: ",
            b"Wed Apr  7 09:49:17 2021 kern.notice kernel: [ 12.5] audit: ",
            b"Apr  7 09:49:17 gw kern.notice kernel: audit: ",
            b"kernel: audit: ",
            b"/var/log/kern.log:Apr  7 09:49:17 gw kernel: audit: ",
            b"some agent said: ",
        ],
    )
    def test_intact_header_behind_any_prefix_is_a_record(self, prefix: bytes) -> None:
        """An intact audit record after a prefix at a token boundary is a record, its time
        from the audit header."""
        res = one(prefix + REC)
        assert (R.MAC, 1617788957120, 45) == (res.kind, res.ts, res.serial)


class TestTrust:
    @pytest.mark.parametrize(
        "prefix",
        [
            b"[Wed Apr  7 09:49:17 2021] audit: ",
            b"<5>audit: ",
            b"Wed Apr  7 09:49:17 2021 kern.notice kernel: ",
            b"Apr  7 09:49:17 gw kern.notice kernel: ",
            b"kernel: audit: ",
        ],
    )
    def test_kernel_framings_stay_kernel(self, prefix: bytes) -> None:
        """dmesg -T, printk level 5, logread/rsyslog kern facility and kernel: are kernel."""
        res = one(prefix + REC)
        assert (S.ORIGIN_KERNEL, None) == (res.cols[S.ORIGIN], res.cols.get(S.SUSPECT))

    @pytest.mark.parametrize(
        "line",
        [
            b"/var/log/kern.log:Apr  7 09:49:17 gw kernel: audit: " + REC,
            b"audit.log:" + REC.replace(b"type=1400 ", b"type=AVC msg="),
            b"forwarded by agent: " + REC,
            b"<13>Apr  7 09:49:17 gw kernel: audit: " + REC,
            b"Wed Apr  7 09:49:17 2021 user.notice kernel: audit: " + REC,
            b"Apr  7 09:49:17 gw user.notice kernel: audit: " + REC,
            b"AVC " + REC.split(b": ", 1)[1],
        ],
    )
    def test_unproven_framings_are_unverified_and_suspect(self, line: bytes) -> None:
        """grep -H, unknown prefixes, user facilities and bare AVC text never pass for the
        kernel: origin unverified, marked suspect, not grouped into an event."""
        res = one(line)
        assert res.kind == R.MAC
        assert (S.ORIGIN_UNVERIFIED, S.SUSPECT_UNPROVEN, True) == (
            res.cols[S.ORIGIN],
            res.cols[S.SUSPECT],
            res.alone,
        )

    def test_kernel_tag_false_still_applies_to_new_tag_framings(self) -> None:
        """In a general syslog file a bare kernel: or logread kern line is unverified."""
        for prefix in (b"kernel: audit: ", b"Wed Apr  7 09:49:17 2021 kern.notice kernel: "):
            res = one(prefix + REC, kernel_tag=False)
            assert (S.ORIGIN_UNVERIFIED, S.SUSPECT_UNVERIFIED) == (
                res.cols[S.ORIGIN],
                res.cols[S.SUSPECT],
            )

    @pytest.mark.parametrize("engine", ENGINES)
    def test_unproven_lines_never_enrich_kernel_records(self, engine: str) -> None:
        """A SYSCALL behind an unknown prefix gives no exe to the kernel record it names."""
        data = (
            b'type=AVC msg=audit(1617788957.120:45): apparmor="DENIED" operation="open" '
            b'profile="p" name="/x" pid=7 comm="a" requested_mask="r" denied_mask="r"\n'
            b"junk: type=SYSCALL msg=audit(1617788957.120:45): arch=c000003e syscall=257 "
            b'success=no exit=-13 pid=7 uid=0 auid=0 comm="a" exe="/usr/bin/forged"\n'
            b"type=PROCTITLE msg=audit(1617788957.120:45): proctitle=61\n"
        )
        rows = parse_bytes(data, "t", framing="audit", engine=engine).records.to_pylist()
        assert [(S.ORIGIN_KERNEL, None)] == [(r[S.ORIGIN], r[S.EXE]) for r in rows]


class TestRecordTypesAndColumns:
    def test_bare_avc_is_avc(self) -> None:
        """`journalctl -o cat`'s "AVC apparmor=…" is an AVC record, not a USER_AVC."""
        res = one(b"AVC " + REC.split(b": ", 1)[1])
        assert ("AVC", "AVC") == (res.record_type, res.cols[S.RECORD_TYPE])

    @pytest.mark.parametrize("engine", ENGINES)
    def test_status_ns_is_kept(self, engine: str) -> None:
        """ns= of a STATUS profile_load lands in the ns column in both engines."""
        data = (
            b'type=AVC msg=audit(1700000000.000:1): apparmor="STATUS" operation="profile_load"'
            b' profile="unconfined" name="bwrap" pid=5 comm="apparmor_parser" ns="glycin"\n'
        )
        rows = parse_bytes(data, "t", framing="audit", engine=engine).records.to_pylist()
        assert [("glycin", None)] == [(r[S.NS], r[S.MEDIATION_CLASS]) for r in rows]

    @pytest.mark.parametrize(
        ("fields", "expected"),
        [
            (b'operation="open" name="/x" requested_mask="r" denied_mask="r"', "file"),
            (b'operation="exec" name="/bin/sh" requested_mask="x" denied_mask="x"', "file"),
            (b'operation="change_hat" name="HAT" info="unconfined"', "file"),
            (b'operation="capable" capability=12 capname="net_admin"', "cap"),
            (b'operation="connect" family="inet" sock_type="stream" protocol=6', "net"),
            (b'operation="connect" family="unix" sock_type="stream" protocol=0', "unix"),
            (b'operation="create" family="netlink" sock_type="raw"', "net"),
            (b'operation="signal" signal=kill peer="unconfined"', "signal"),
            (b'operation="ptrace" peer="unconfined" requested_mask="read"', "ptrace"),
            (b'operation="mount" fstype="tmpfs" srcname="tmpfs" name="/run"', "mount"),
            (b'operation="dbus_method_call" bus="system" path="/" member="Hello"', "dbus"),
            (b'operation="userns_create"', "namespace"),
            (b'operation="something_new" capname="chown"', "cap"),
            (b'operation="open" class="posix_mqueue" name="/q"', "posix_mqueue"),
        ],
    )
    def test_mediation_class_is_derived(self, fields: bytes, expected: str) -> None:
        """Records without class= get the class libapparmor/aa-logprof derive; class= wins."""
        line = b'type=AVC msg=audit(1.000:1): apparmor="DENIED" profile="p" pid=1 ' + fields
        for engine in ENGINES:
            rows = parse_bytes(line + b"\n", "t", framing="audit", engine=engine).records
            assert [expected] == rows.column(S.MEDIATION_CLASS).to_pylist(), engine


@pytest.mark.corpus
def test_every_corpus_file_keeps_every_record(corpora: Path) -> None:
    """Every corpus file parses, and its records have distinct store keys (host, boot_id,
    ts, serial, record_type, md5(raw)): the store keeps each one."""
    # byte-identical serial-less lines (journald's "audit[pid]: AVC …") in one second: the
    # key cannot tell them apart (issue 15 closing note)
    known = {"hotsos-fake-data-root/openstack/sos_commands/logs/journalctl_--no-pager": 1}
    collapsed = {}
    total = 0
    for path in sorted(p for p in corpora.rglob("*") if p.is_file()):
        res = parse_bytes(path.read_bytes(), S.SOURCE_SAMPLE, HostInfo("h", "m", "b"), year=2025)
        cols = res.records.select(list(S.KEY_COLUMNS)).to_pylist()
        keys = {
            tuple(hashlib.md5(v).digest() if isinstance(v, bytes) else v for v in row.values())
            for row in cols
        }
        total += len(cols)
        if len(keys) != len(cols):
            collapsed[str(path.relative_to(corpora))] = len(cols) - len(keys)
    assert total > 10_000
    assert known == collapsed


def test_cli_parses_a_dmesg_t_file(tmp_path: Path) -> None:
    """`armorwatch parse` on a `dmesg -T` file gives every record (time from the audit
    header, kernel origin) and no rejected line."""
    dmesg = tmp_path / "dmesg.txt"
    dmesg.write_bytes(
        b"[Wed Apr  7 09:49:10 2021] Linux version 5.11.0-13-generic (buildd@lcy01-amd64)\n"
        b"[Wed Apr  7 09:49:17 2021] audit: type=1400 audit(1617788957.120:45): "
        b'apparmor="STATUS" operation="profile_load" profile="unconfined" name="bwrap" '
        b'pid=5 comm="apparmor_parser" ns="glycin"\n'
        b"[Wed Apr  7 09:49:18 2021] audit: type=1400 audit(1617788958.121:46): "
        b'apparmor="DENIED" operation="open" profile="snap.firefox.firefox" '
        b'name="/proc/pressure/cpu" pid=2466 comm="firefox" requested_mask="r" '
        b'denied_mask="r" fsuid=1000 ouid=0\n'
        b"[Wed Apr  7 09:49:19 2021] audit: type=1400 audit(1617788959.122:47): "
        b'apparmor="DENIED" operation="connect" profile="snap.firefox.firefox" pid=2466 '
        b'comm="firefox" family="unix" sock_type="stream" protocol=0 requested_mask="send" '
        b'denied_mask="send" addr=none peer_addr="@/tmp/.X11-unix/X0"\n'
    )
    out = tmp_path / "out.jsonl"
    res = subprocess.run(
        [str(ARMORWATCH), "parse", "--host", "laptop", "-o", str(out), str(dmesg)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert 0 == res.returncode, res.stderr
    assert "3 records, 0 rejected lines" in res.stderr
    rows = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    assert [
        ("2021-04-07T09:49:17.120000Z", 45, S.ORIGIN_KERNEL, None, "glycin"),
        ("2021-04-07T09:49:18.121000Z", 46, S.ORIGIN_KERNEL, "file", None),
        ("2021-04-07T09:49:19.122000Z", 47, S.ORIGIN_KERNEL, "unix", None),
    ] == sorted(
        (r[S.TS], r[S.SERIAL], r[S.ORIGIN], r.get(S.MEDIATION_CLASS), r.get(S.NS)) for r in rows
    )
