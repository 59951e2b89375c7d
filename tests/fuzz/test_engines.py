"""Differential fuzz: the compiled scanner and the pure-Python reference path agree.

``Parser(engine="c")`` (``parsers/_fastscan.c``) reads hostile bytes in C, so any
disagreement with ``engine="python"`` on the same input is a bug in one of them, and a
crash is a memory-safety bug. Random bytes, mutated real lines and the benchmark file
go through both; records, rejects, loss and line counts must be identical.
Skips when the parser has no ``engine`` switch or the scanner is not built.
"""

from __future__ import annotations

import importlib.util
import inspect
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from armorwatch.parsers import schema as S
from armorwatch.parsers import stream
from armorwatch.parsers.stream import Parser
from tests.fuzz.test_hostile import SEEDS, SPECIAL, mutated

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))

import gen_auditlog  # noqa: E402


def _compiled() -> bool:
    if "engine" not in inspect.signature(Parser).parameters:
        return False
    try:
        from armorwatch.parsers import fast
    except ImportError:
        return False
    return bool(fast.available())


pytestmark = pytest.mark.skipif(not _compiled(), reason="no compiled parser engine")

AUDIT_SEEDS = [s for s in SEEDS if s.startswith((b"type=", b"node="))]
# issue 15: records behind dmesg -T, printk, logread, grep -H, ausearch -i and unknown prefixes
PREFIXED = [
    ln
    for ln in (ROOT / "tests" / "data" / "audit" / "prefixes.log").read_bytes().splitlines()
    if ln
]
DIFF = settings(
    max_examples=400,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def run(
    engine: str,
    data: bytes,
    chunk: int | None = None,
    framing: str = "audit",
    kernel_tag: bool = True,
    year: int | None = None,
) -> dict[str, Any]:
    """Everything one engine returns for ``data`` fed in ``chunk``-byte pieces."""
    parser = Parser(
        S.SOURCE_AUDITLOG, framing=framing, engine=engine, kernel_tag=kernel_tag, year=year
    )
    out: dict[str, Any] = {"records": [], "rejects": [], "loss": [], "lines": 0}
    step = chunk or max(1, len(data))
    results = [parser.feed(data[i : i + step], i) for i in range(0, len(data), step)]
    results.append(parser.flush())
    for res in results:
        out["records"] += res.records.to_pylist()
        out["rejects"] += res.rejects.to_pylist()
        out["loss"] += res.loss.to_pylist()
        out["lines"] += res.lines
    return out


def _key(row: dict[str, Any]) -> tuple[Any, ...]:
    return (row[S.SERIAL] or 0, row[S.ORDINAL] or 0, row[S.RAW])


def assert_same(data: bytes, chunk: int | None = None, **framing: Any) -> None:
    """Both engines give the same records, rejected lines, loss and line count.

    Records are compared as a set keyed by (serial, ordinal, raw): events may finish in a
    different order. Rejects are compared by their raw bytes (the reason text may differ).
    ``framing``: ``run``'s framing, kernel_tag and year.
    """
    python, compiled = run("python", data, chunk, **framing), run("c", data, chunk, **framing)
    assert python["lines"] == compiled["lines"]
    assert python["loss"] == compiled["loss"]
    assert sorted(r[S.RAW] for r in python["rejects"]) == sorted(
        r[S.RAW] for r in compiled["rejects"]
    )
    by_key = {_key(r): r for r in compiled["records"]}
    assert len(python["records"]) == len(compiled["records"])
    for a in python["records"]:
        b = by_key.get(_key(a))
        assert b is not None, f"only the Python engine emitted {a[S.RAW]!r}"
        assert {k: v for k, v in a.items() if v != b[k]} == {
            k: v for k, v in b.items() if v != a[k]
        }


AUDITISH = st.lists(
    st.sampled_from([*SPECIAL, b"type=AVC msg=audit(1.2:3): ", b'apparmor="DENIED" ',
                     b"name=2F746D70 ", b'profile="p" ', b"pid=1 ", b"\n"])
    | st.binary(max_size=12),
    max_size=40,
).map(b"".join)  # fmt: skip


class TestEnginesAgree:
    @DIFF
    @given(data=mutated(AUDIT_SEEDS))
    def test_mutated_real_lines(self, data: bytes) -> None:
        """Mutated audit.log lines: same records, rejects and loss from both engines."""
        assert_same(data)

    @DIFF
    @given(data=mutated())
    def test_mutated_lines_of_every_framing(self, data: bytes) -> None:
        """kern.log and journald lines inside an audit.log stream: same output too."""
        assert_same(data)

    @DIFF
    @given(data=mutated([*PREFIXED, *AUDIT_SEEDS[:200]]))
    def test_mutated_prefixed_lines(self, data: bytes) -> None:
        """Prefixed records mixed into an audit.log stream: same output from both engines."""
        assert_same(data)

    @DIFF
    @given(data=AUDITISH)
    def test_audit_shaped_noise(self, data: bytes) -> None:
        """Byte soup built from audit.log tokens: same output from both engines."""
        assert_same(data)

    @DIFF
    @given(data=st.binary(max_size=2000))
    def test_random_bytes(self, data: bytes) -> None:
        """Random bytes: same output from both engines (and no crash in C)."""
        assert_same(data)

    def test_benchmark_file_in_odd_chunks(self, tmp_path: Path) -> None:
        """5k realistic lines fed in 7,919-byte pieces: identical output."""
        path = tmp_path / "audit.log"
        gen_auditlog.generate(path, lines=5_000, seed=21)
        assert_same(path.read_bytes(), chunk=7919)


KERN = (
    b"Nov 23 05:13:26 web-02 kernel: [ 1132.939032] audit: type=1400 "
    b'audit(1763874806.159:2203): apparmor="DENIED" operation="open" profile="/usr/bin/evince" '
    b'name="/x" pid=4410 comm="evince" requested_mask="r" denied_mask="r" fsuid=1000 ouid=1000\n'
)
JOURNAL = (
    b'{"_TRANSPORT": "audit", "_AUDIT_TYPE_NAME": "AVC", "_AUDIT_ID": "544", '
    b'"_SOURCE_REALTIME_TIMESTAMP": "1763882115101221", "MESSAGE": "AVC apparmor=\\"DENIED\\" '
    b'operation=\\"open\\" profile=\\"/usr/bin/p\\" name=\\"/x\\" pid=2011 comm=\\"p\\""}\n'
)


class TestForeignFramingInAuditStream:
    def test_same_event_lines_get_distinct_ordinals(self) -> None:
        """Two records sharing a serial get ordinals 0 and 1 from the compiled engine too."""
        got = sorted(r[S.ORDINAL] for r in run("c", KERN + KERN)["records"])
        assert [0, 1] == got

    def test_int_key_repeated_after_a_value_that_stored_nothing(self) -> None:
        """``pid=x … pid=1`` is a repeated field in both engines (found by the fuzzer)."""
        data = (
            b'type=AVC msg=audit(1763865974.059:18047): apparmor="ALLOWED" operation="capable"'
            b' class="cap" profile="/a" pid=le="/a" pid=4101 comm="a" capability=10\n'
        )
        assert_same(data)
        assert [S.SUSPECT_DUPLICATE_FIELD] == [r[S.SUSPECT] for r in run("c", data)["records"]]

    def test_json_line_in_audit_stream(self) -> None:
        """A JSON line in an audit.log stream gets the same treatment from both engines."""
        python, compiled = run("python", JOURNAL), run("c", JOURNAL)
        assert len(python["records"]) == len(compiled["records"])
        assert len(python["rejects"]) == len(compiled["rejects"])


class TestGroupSeparatorInUserText:
    def test_same_exe_from_both_engines(self) -> None:
        """Both engines read the same exe= from a USER_AVC whose text holds a 0x1d."""
        line = (
            b"type=USER_AVC msg=audit(1762300800.478:5): pid=1 uid=0 auid=0 ses=1 "
            b"msg='avc:  denied  { send_msg } for scontext=a tcontext=b tclass=dbus "
            b'exe=/x\x1dUID="root"\'\n'
        )
        python, compiled = run("python", line), run("c", line)
        assert [r[S.EXE] for r in python["records"]] == [r[S.EXE] for r in compiled["records"]]


# --- kernel-log framings through the scanner (issue 15) -------------------------------


def kern_variants(line: bytes, n: int) -> list[bytes]:
    """The kernel's renderings of one audit.log line: kern.log (RFC 3164 and ISO 8601),
    journalctl short, dmesg, dmesg -r, a bare ``kernel:`` tag; ``n`` picks host and uptime."""
    kern = gen_auditlog.to_kern(line.decode("latin-1"), host=f"h{n % 3}").encode("latin-1")
    date, rec = kern[:15], kern[kern.index(b"audit: ") :]
    up = b"[%6d.%06d] " % (n * 37 % 100000, n % 1000000)
    return [
        kern,
        b"2025-11-05T00:00:%02d.%06d+00:00 h%d kernel: " % (n % 60, n, n % 3) + up + rec,
        date.replace(b"  ", b" 0") + b" h1 kernel: " + rec,  # journalctl -o short
        up + rec,
        b"<5>" + up + rec,
        b"kernel: " + rec,
    ]


def _generated_lines(n: int) -> list[bytes]:
    """``n``-odd lines of generated auditd events (seed 5), whole events."""
    gen = gen_auditlog._Gen(seed=5)
    out: list[bytes] = []
    while len(out) < n:
        recs, _, _ = gen.event()
        out += [r.encode("latin-1") for r in "\n".join(recs).split("\n")]
    return out


KERN_SEEDS = [v for i, ln in enumerate(_generated_lines(120)) for v in kern_variants(ln, i)]
# what else a kernel log holds: printk loss reports, other programs' lines, other tags,
# unknown prefixes, logger -t kernel imitations (a general syslog file cannot tell them)
KERN_OTHER = [
    b"Nov  5 00:00:03 h1 kernel: [259203.1] kauditd_printk_skb: 7 callbacks suppressed",
    b"Nov  5 00:00:03 h1 kernel: [259203.2] audit: audit_lost=12 audit_rate_limit=0 "
    b"audit_backlog_limit=64",
    b"Nov  5 00:00:04 h1 kernel: [259204.3] usb 1-1: new high-speed USB device number 2",
    b"Nov  5 00:00:04 h1 systemd[1]: Started audit.service.",
    b'Nov  5 00:00:05 h1 dbus-daemon[812]: apparmor="DENIED" operation="dbus_method_call"'
    b' bus="system" path="/org/x" interface="org.x" member="Y" mask="send" name="org.x"'
    b' pid=4242 label="snap.x.y" peer_pid=1 peer_label="unconfined"',
    b'Nov  5 00:00:05 h1 someprog: type=1400 audit(1762300805.001:77): apparmor="DENIED" '
    b'operation="open" profile="/x" name="/etc/shadow" pid=1 comm="x" requested_mask="r" '
    b'denied_mask="r" fsuid=0 ouid=0',
    b"Nov  5 00:00:05 h1 user.notice kernel: type=1400 audit(1762300805.002:78): "
    b'apparmor="DENIED" operation="open" profile="/x" name="/y" pid=1 comm="x" '
    b'requested_mask="r" denied_mask="r" fsuid=0 ouid=0',
    b'<13>Nov  5 00:00:05 h1 kernel: type=1400 audit(1762300805.003:79): apparmor="DENIED" '
    b'operation="open" profile="/x" name="/y" pid=1 comm="x" requested_mask="r" '
    b'denied_mask="r" fsuid=0 ouid=0',
    b'[Wed Nov  5 00:00:06 2025] audit: type=1400 audit(1762300806.004:80): apparmor="DENIED"'
    b' operation="open" profile="/x" name="/y" pid=1 comm="x" requested_mask="r" '
    b'denied_mask="r" fsuid=0 ouid=0',
    b'Nov  5 00:00:06 h1 kernel: GARBAGEtype=1400 audit(1762300806.005:81): apparmor="DENIED"',
    b"Nov  5 00:00:06 h1 kernel: audit: type=1400 audit(1762300806.006:82): ",
    b'Feb 29 00:00:06 h1 kernel: audit: type=1400 audit(1762300806.007:83): apparmor="DENIED"'
    b' operation="open" profile="/x" name="/y" pid=1 comm="x" requested_mask="r" '
    b'denied_mask="r" fsuid=0 ouid=0',
]


class TestKernelLogEngines:
    """kern.log / syslog / dmesg / journalctl short lines: the scanner reads them itself."""

    @DIFF
    @given(data=mutated([*KERN_SEEDS, *KERN_OTHER]), kernel_tag=st.booleans())
    def test_mutated_kernel_log_lines(self, data: bytes, kernel_tag: bool) -> None:
        """Mutated kernel-log lines of every shape: same output from both engines."""
        assert_same(data, framing="syslog", kernel_tag=kernel_tag)

    @DIFF
    @given(
        lines=st.lists(st.sampled_from([*KERN_SEEDS, *KERN_OTHER, *AUDIT_SEEDS[:80]]), max_size=40),
        chunk=st.integers(min_value=17, max_value=900),
        kernel_tag=st.booleans(),
    )
    def test_mixed_lines_in_any_chunks(
        self, lines: list[bytes], chunk: int, kernel_tag: bool
    ) -> None:
        """Kernel-log and audit.log lines mixed, fed in any chunk size: same output."""
        assert_same(b"\n".join(lines) + b"\n", chunk, framing="syslog", kernel_tag=kernel_tag)

    @pytest.mark.parametrize("kernel_tag", [True, False])
    def test_generated_kern_log_in_odd_chunks(self, tmp_path: Path, kernel_tag: bool) -> None:
        """5k realistic kern.log lines fed in 7,919-byte pieces: identical output."""
        path = tmp_path / "kern.log"
        gen_auditlog.generate(path, lines=5_000, seed=22, framing="kern")
        assert_same(path.read_bytes(), chunk=7919, framing="syslog", kernel_tag=kernel_tag)

    def test_logger_kernel_lines_stay_suspect(self) -> None:
        """In a general syslog file a kernel: line proves nothing: both engines mark every
        record unverified and suspect, the scanner included."""
        data = b"\n".join(KERN_SEEDS[:60]) + b"\n"
        assert_same(data, framing="syslog", kernel_tag=False)
        rows = run("c", data, framing="syslog", kernel_tag=False)["records"]
        framed = [r for r in rows if b" kernel: " in r[S.RAW] and r[S.RECORD_TYPE] == "AVC"]
        assert framed
        assert {(S.ORIGIN_UNVERIFIED, S.SUSPECT_UNVERIFIED)} == {
            (r[S.ORIGIN], r[S.SUSPECT]) for r in framed
        }


# --- journalctl -o short of journald's audit transport through the scanner -------------


def short_variants(line: bytes, n: int) -> list[bytes]:
    """``journalctl -o short`` (and -o short-iso / short-precise) renderings of one audit.log
    line, as journald's audit transport prints it: no audit id, the syslog date's time."""
    short = gen_auditlog.to_short(line.decode("latin-1"), host=f"h{n % 3}").encode("latin-1")
    date, rest = short[:15], short[15:]
    iso = b"2025-11-05T%s+00:00" % date[7:]
    return [short, date + b".%06d" % n + rest, iso + rest, rest[1:] if n % 5 == 0 else short]


SHORT_SEEDS = [v for i, ln in enumerate(_generated_lines(120)) for v in short_variants(ln, i)]
SHORT_OTHER = [
    b"Nov 05 00:00:03 h1 audit[1]: AVC avc:  denied  { read } for  pid=1 comm=\"x\" "
    b"scontext=system_u:system_r:httpd_t:s0 tcontext=system_u:object_r:shadow_t:s0 "
    b"tclass=file permissive=0",
    b"Nov 05 00:00:03 h1 audit[1]: AVC avc:  received policyload notice (seqno=2)",
    b'Nov 05 00:00:03 h1 audit: AVC apparmor="STATUS" operation="profile_load" '
    b'profile="unconfined" name="/usr/bin/x" pid=1 comm="apparmor_parser"',
    b"Nov 05 00:00:04 h1 audit[812]: USER_AVC pid=812 uid=103 auid=4294967295 ses=4294967295 "
    b"subj=unconfined msg='apparmor=\"DENIED\" operation=\"dbus_signal\" bus=\"system\" "
    b'path="/x" interface="org.x" member="Y" name=":1.1" mask="receive" pid=1500 '
    b'label="snap.x.y" peer_pid=812 peer_label="unconfined"',
    b'                                 exe="/usr/bin/dbus-daemon" sauid=0 hostname=? addr=? '
    b"terminal=?'",
    b"Nov 05 00:00:04 h1 audit[1]: APPARMOR_DENIED operation=\"open\" pid=1 profile=\"p\"",
    b'Nov 05 00:00:04 h1 audit[1]: SYSCALL arch=c000003e syscall=2 apparmor="DENIED" pid=1',
    b"Nov 05 00:00:04 h1 audit[1]: AVC ",
    b"Dec 31 23:59:59 h1 audit[1]: AVC apparmor=\"DENIED\" operation=\"open\" profile=\"p\" "
    b'name="/y" pid=1 comm="x" requested_mask="r" denied_mask="r" fsuid=0 ouid=0',
]


class TestJournalShortEngines:
    """journalctl -o short lines of the audit transport: the scanner reads them itself.

    The stream's year is given: a line the scanner hands back (a repeated key: a suspect
    record) is not seen by its event clock within the chunk, as for any framed line it
    hands back, so the fuzz keeps the lines' times those of the audit records."""

    @DIFF
    @given(data=mutated([*SHORT_SEEDS, *SHORT_OTHER, *KERN_SEEDS[:60]]), kernel_tag=st.booleans())
    def test_mutated_short_lines(self, data: bytes, kernel_tag: bool) -> None:
        """Mutated journal-short lines (and kernel-log ones): same output from both engines."""
        assert_same(data, framing="syslog", kernel_tag=kernel_tag, year=2025)

    @DIFF
    @given(
        lines=st.lists(
            st.sampled_from([*SHORT_SEEDS, *SHORT_OTHER, *KERN_SEEDS, *AUDIT_SEEDS[:80]]),
            max_size=40,
        ),
        chunk=st.integers(min_value=17, max_value=900),
        kernel_tag=st.booleans(),
        year=st.sampled_from([2025, None]),
    )
    def test_mixed_lines_in_any_chunks(
        self, lines: list[bytes], chunk: int, kernel_tag: bool, year: int | None
    ) -> None:
        """Journal-short, kernel-log and audit.log lines mixed, fed in any chunk size, the
        year given or inferred (from the kern.log record first: not this year's)."""
        data = b"\n".join([KERN_SEEDS[0], *lines]) + b"\n"
        assert_same(data, chunk, framing="syslog", kernel_tag=kernel_tag, year=year)

    @pytest.mark.parametrize("kernel_tag", [True, False])
    def test_generated_short_log_in_odd_chunks(self, tmp_path: Path, kernel_tag: bool) -> None:
        """5k realistic journal-short lines fed in 7,919-byte pieces: identical output, and
        the scanner reads every line itself."""
        path = tmp_path / "short.log"
        gen_auditlog.generate(path, lines=5_000, seed=22, framing="short")
        data = path.read_bytes()
        assert_same(data, chunk=7919, framing="syslog", kernel_tag=kernel_tag, year=2025)
        from armorwatch.parsers import fast

        res = fast.scan(b"", data, 0, len(data), True, -(1 << 62), 2000, 0, -1, 0, 2025)
        assert ([], 5000) == (res["slow"], res["lines"])
        assert 1000 < res["rows"]


# --- journald JSON entries through the scanner -------------------------------------------

_spec = importlib.util.spec_from_file_location("bench_run", ROOT / "bench" / "run.py")
assert _spec is not None and _spec.loader is not None
bench_run = importlib.util.module_from_spec(_spec)
sys.modules["bench_run"] = bench_run
_spec.loader.exec_module(bench_run)


def _entry(message: str, **fields: str) -> bytes:
    """One ``journalctl -o json`` line: journald's trusted fields, then ``fields``."""
    entry = {
        "__REALTIME_TIMESTAMP": "1762300805123456",
        "_HOSTNAME": "h1",
        "_BOOT_ID": "b" * 32,
        "_MACHINE_ID": "m" * 32,
        **fields,
        "MESSAGE": message,
    }
    return orjson.dumps(entry)


_AVC = (
    'apparmor="DENIED" operation="open" class="file" profile="/usr/sbin/ntpd" '
    'name="/etc/shadow" pid=812 comm="ntpd" requested_mask="r" denied_mask="r" fsuid=0 ouid=0'
)
JOURNAL_SEEDS = [
    bench_run.to_journal(ln.decode("latin-1"), i).encode()
    for i, ln in enumerate(_generated_lines(150))
]
JOURNAL_OTHER = [
    # the kernel transport (no audit daemon, no journald audit socket)
    _entry("audit: type=1400 audit(1762300805.120:90): " + _AVC, _TRANSPORT="kernel"),
    _entry(
        "audit: type=1300 audit(1762300805.120:90): arch=c000003e syscall=257 "
        'success=no exit=-13 pid=812 uid=0 auid=0 comm="ntpd" exe="/usr/sbin/ntpd"',
        _TRANSPORT="kernel",
    ),
    _entry("audit: type=1327 audit(1762300805.120:90): proctitle=6E747064", _TRANSPORT="kernel"),
    _entry(
        "audit: type=1107 audit(1762300805.121:91): pid=1 uid=0 auid=0 ses=1 msg='" + _AVC + "'",
        _TRANSPORT="kernel",
    ),
    # audit transport: another host and boot, no id, a whole audit line, USER_AVC text
    _entry(
        "AVC " + _AVC,
        _TRANSPORT="audit",
        _AUDIT_TYPE_NAME="AVC",
        _AUDIT_ID="92",
        _HOSTNAME="h2",
        _BOOT_ID="c" * 32,
    ),
    _entry("AVC " + _AVC, _TRANSPORT="audit", _AUDIT_TYPE="1400"),
    _entry(
        "type=AVC msg=audit(1762300805.122:93): " + _AVC,
        _TRANSPORT="audit",
        _AUDIT_TYPE_NAME="AVC",
        _AUDIT_ID="93",
    ),
    _entry(
        "USER_AVC pid=1 uid=0 auid=0 ses=1 msg='" + _AVC.replace("ntpd", "dbus") + "'",
        _TRANSPORT="audit",
        _AUDIT_TYPE_NAME="USER_AVC",
        _AUDIT_ID="94",
    ),
    _entry(
        "AVC " + _AVC + ' apparmor="ALLOWED"',
        _TRANSPORT="audit",
        _AUDIT_TYPE_NAME="AVC",
        _AUDIT_ID="95",
    ),
    _entry("AVC ", _TRANSPORT="audit", _AUDIT_TYPE_NAME="AVC", _AUDIT_ID="96"),
    # other transports: a forged record, dbus-daemon's line, journald's own loss report
    _entry(
        "type=1400 audit(1762300805.123:97): " + _AVC,
        _TRANSPORT="syslog",
        SYSLOG_IDENTIFIER="kernel",
    ),
    _entry(
        'apparmor="DENIED" operation="dbus_method_call" bus="system" path="/x" '
        'interface="org.x" member="Y" mask="send" name="org.x" pid=4242 '
        'label="snap.x.y" peer_pid=1 peer_label="unconfined"',
        _TRANSPORT="syslog",
        SYSLOG_IDENTIFIER="dbus-daemon",
    ),
    _entry(
        "Suppressed 12 messages from audit.service",
        _TRANSPORT="driver",
        SYSLOG_IDENTIFIER="systemd-journald",
    ),
    b'{"MESSAGE": [65, 86, 67, 32, 97], "_TRANSPORT": "audit", "_AUDIT_ID": "98"}',
    b'{"MESSAGE": "AVC apparmor=\\"DENIED\\" operation=\\"open\\"", "_TRANSPORT": "audit"',
    b"Nov  5 00:00:03 h1 kernel: audit: type=1400 audit(1762300805.124:99): " + _AVC.encode(),
]


@pytest.fixture(scope="class")
def small_scans() -> Iterator[None]:
    """Chunks of 1,000 bytes and more go to the scanner (64 KiB by default), so small
    inputs run through both engines and switch between them."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(stream, "JOURNAL_MIN_SCAN", 1000)
        yield


@pytest.mark.usefixtures("small_scans")
class TestJournaldEngines:
    """journald entries: the scanner reads audit and kernel transport entries itself."""

    @DIFF
    @given(data=mutated([*JOURNAL_SEEDS, *JOURNAL_OTHER]))
    def test_mutated_journal_entries(self, data: bytes) -> None:
        """Mutated journald entries of every transport: same output from both engines."""
        assert_same(data, framing="journald")

    @DIFF
    @given(
        lines=st.lists(st.sampled_from([*JOURNAL_SEEDS, *JOURNAL_OTHER]), max_size=40),
        chunk=st.integers(min_value=17, max_value=3000),
        framing=st.sampled_from(["journald", "auto"]),
    )
    def test_mixed_entries_in_any_chunks(
        self, lines: list[bytes], chunk: int, framing: str
    ) -> None:
        """Entries mixed, fed in any chunk size, framing journald or auto: same output."""
        assert_same(b"\n".join(lines) + b"\n", chunk, framing=framing)

    def test_generated_journal_in_odd_chunks(self, tmp_path: Path) -> None:
        """5k realistic journald entries fed in 7,919-byte pieces: identical output."""
        path = tmp_path / "audit.log"
        gen_auditlog.generate(path, lines=5_000, seed=23)
        data = bench_run.ensure_journal(path).read_bytes()
        assert_same(data, chunk=7919, framing="journald")
        assert_same(data, framing="journald")
