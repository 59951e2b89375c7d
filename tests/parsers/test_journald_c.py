"""journald JSON entries translated in C (``_fastscan.journal``/``canon``) exactly as the
Python translation (``fast.JournalLines._translate``, orjson) does, and both engines
agreeing on journals full of entries the C pass must leave to Python."""

from __future__ import annotations

import itertools
import json
import re
import subprocess
import sys

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from armorwatch.parsers import fast, stream
from armorwatch.parsers import schema as S
from armorwatch.parsers.result import HostInfo
from armorwatch.parsers.stream import Parser, parse_bytes
from tests.parsers.test_golden import render

needs_c = pytest.mark.skipif(not fast.available(), reason="parsers._fastscan is not built")
HOST = HostInfo(host="h", machine_id="m", boot_id="b")
AVC = (
    'apparmor="DENIED" operation="open" profile="/usr/bin/x" name="/etc/shadow" pid=12 '
    'comm="x" requested_mask="r" denied_mask="r" fsuid=0 ouid=0'
)
DBUS = (
    'pid=1 uid=0 auid=0 ses=1 msg=\'apparmor="DENIED" operation="dbus_method_call" '
    'bus="system" path="/x" interface="org.x" member="Y" mask="send" name="org.x" '
    'pid=42 label="snap.x" peer_pid=1 peer_label="unconfined"\''
)


def entry(
    rtype: str | None = "AVC", serial: object = "7", body: str = AVC, **fields: object
) -> dict:
    """A journald audit-transport entry as ``journalctl -o json`` has it."""
    e: dict[str, object] = {
        "__CURSOR": "s=1;i=2",
        "__REALTIME_TIMESTAMP": "1700000000123456",
        "_HOSTNAME": "j1",
        "_BOOT_ID": "b" * 32,
        "_MACHINE_ID": "m" * 32,
        "_TRANSPORT": "audit",
        "_AUDIT_TYPE": "1400",
        "_AUDIT_TYPE_NAME": rtype,
        "_AUDIT_ID": serial,
        "MESSAGE": f"{rtype} {body}",
    }
    for k, v in fields.items():
        if v is None:
            e.pop(k, None)
        else:
            e[k] = v
    return e


def dump(e: dict, style: int = 0) -> bytes:
    """``e`` as one line: orjson's compact form, or json's with spaces and \\u escapes."""
    if style == 0:
        return orjson.dumps(e)
    return json.dumps(e, ensure_ascii=style == 1).encode()


def lines() -> list[bytes]:
    """Entries of every kind the C pass reads or must leave to ``_translate``."""
    kern = "audit: type=1400 audit(1700000000.5:9): " + AVC
    es = [
        entry(),
        entry(serial="8", _SOURCE_REALTIME_TIMESTAMP="1700000001000999"),
        entry(serial="9", _SOURCE_REALTIME_TIMESTAMP=""),  # falsy: __REALTIME_TIMESTAMP
        entry(serial="10", _SOURCE_REALTIME_TIMESTAMP=[]),
        entry(serial="11", _SOURCE_REALTIME_TIMESTAMP=[49]),  # a list: no time
        entry(serial="12", __REALTIME_TIMESTAMP="12x"),
        entry(serial="13", _HOSTNAME="web-é"),
        entry(serial="14", _HOSTNAME=""),
        entry(serial="15", _HOSTNAME=None, _BOOT_ID=None),
        entry(serial="16", _HOSTNAME=["a"]),
        entry(serial="17", _HOSTNAME='a"b'),  # an escape in a trusted field
        entry(serial="x18"),
        entry(serial=None),
        entry(serial="019"),
        entry("USER_AVC", "20", DBUS),
        entry("SYSCALL", "7", 'arch=c000003e syscall=2 success=no exe="/usr/bin/x" uid=0 auid=7'),
        entry("PROCTITLE", "7", "proctitle=2F7573722F62696E2F78"),
        entry("AVC", "21", AVC + "\n second line"),
        entry("AVC", "22", "msg='unterminated " + AVC),
        entry("AVC", "23", "type=AVC msg=audit(1700000000.1:23): " + AVC),
        entry("AVC", "24", "node=n1 type=AVC msg=audit(1700000000.1:24): " + AVC),
        entry("AVC", "25", AVC, MESSAGE=list(("AVC " + AVC + ' x="\xff"').encode("latin-1"))),
        entry("AVC", "26", AVC, MESSAGE=[300, 1]),
        entry("AVC", "27", AVC, MESSAGE=None),
        entry("AVC", "28", AVC, MESSAGE=AVC.replace("/etc", "/é\x01\t/etc")),
        entry("AVC", "29", AVC, MESSAGE="AVC " + AVC + ' name2="\x00"'),
        entry("avc", "30"),
        entry("UNKNOWN[1400]", "31"),
        entry("SELINUX_ERR", "32", "op=security_compute_sid invalid_context=x"),
        entry(None, "33", AVC, _AUDIT_TYPE_NAME=None),
        entry(
            "AVC",
            "34",
            'avc:  denied  { read } for  pid=1 comm="x" name="y" '
            "scontext=u:r:a:s0 tcontext=u:r:b:s0 tclass=file permissive=0",
        ),
        entry("AVC", "35", _TRANSPORT="journal"),
        entry("AVC", "36", _TRANSPORT="syslog", MESSAGE="kernel: audit: type=1400 x"),
        entry("AVC", "37", _TRANSPORT=None),
        entry("AVC", "38", _TRANSPORT="kernel", MESSAGE=kern),
        entry("AVC", "39", _TRANSPORT="kernel", MESSAGE=kern.replace("1400", "1107")),
        entry("AVC", "40", _TRANSPORT="kernel", MESSAGE="audit: type=USER_AVC x"),
        entry("AVC", "41", _TRANSPORT="kernel", MESSAGE="audit: type=UNKNOWN[1400] x"),
        entry("AVC", "42", _TRANSPORT="kernel", MESSAGE="apparmor: something"),
        entry("AVC", "43", _TRANSPORT="kernel", MESSAGE="audit: type=1400"),
        entry("AVC", "44", _HOSTNAME="j2", _BOOT_ID="c" * 32),
        entry("AVC", "45", _MACHINE_ID=None),
        entry(
            "AVC",
            "46",
            SYSLOG_IDENTIFIER="systemd-journald",
            MESSAGE="Suppressed 12 messages from audit",
        ),
        entry("AVC", "47", _AUDIT_TYPE_NAME=""),
        entry("AVC", "48", EXTRA=None, OTHER="x\\y\u2028\U0001f600"),
    ]
    out = []
    for i, e in enumerate(es):
        out.append(dump(e, i % 3))
    # text that is not (plain) JSON, or JSON the C pass leaves to orjson
    base = dump(entry(serial="50"))
    out += [
        b"",
        b"not json apparmor=",
        b'{"MESSAGE": 5, "_TRANSPORT": "audit"}',
        b'{"_TRANSPORT":"audit","_TRANSPORT":"kernel","MESSAGE":"audit: type=1400 x"}',
        b"[1, 2]",
        base[:-1],
        base + b" x",
        base.replace(b'"j1"', b'"\\ud800"'),
        base.replace(b'"j1"', b'"\\ud83d\\ude00"'),
        base.replace(b'"j1"', b'"j\\u0031"'),
        base.replace(b'"s=1;i=2"', b'"\\x"'),
        base.replace(b'"s=1;i=2"', b'"\xff"'),
        base.replace(b'"s=1;i=2"', b'"a\x01"'),
        base.replace(b'"s=1;i=2"', b"1.5"),
        base.replace(b'"s=1;i=2"', b"true"),
        base.replace(b'"s=1;i=2"', b'{"a":1}'),
        base.replace(b'"s=1;i=2"', b"[01]"),
        base.replace(b'"s=1;i=2"', b"null"),
        base + b"\r",
        b"{" + b'"A":"' + b"a" * (130 << 10) + b'",' + base[1:],
    ]
    return out


def named(buf: bytes, nodes: dict) -> list[bytes]:
    """The lines of ``buf`` with each ``node=JN`` replaced by the (host, boot) it numbers."""
    names = {b"node=J%d " % n: b"node=%r " % (key,) for key, n in nodes.items()}
    return [re.sub(rb"node=J\d+ ", lambda m: names[m.group(0)], line) for line in buf.split(b"\n")]


@needs_c
def test_translation_in_c_is_the_python_translation() -> None:
    """For every entry, the C pass gives the scanner the very line (and the entry the same
    stream offset, bytes and identity) that the Python translation gives."""
    data = lines()
    for order in (data, data[::-1], data[1::2] + data[::2]):
        buf = b"\n".join(order) + b"\n"
        py, c = fast.JournalLines(), fast.JournalLines()
        cut = stream.LineBuffer().lines(buf, 1000, True)
        want = py.build(cut, HOST)
        got = c.build_buf(buf, 1000, True, HOST)
        # node numbers are the order (host, boot) pairs were met in: entries left to
        # Python meet theirs after the C pass; each pair still has one number
        assert py._nodes.keys() == c._nodes.keys()
        assert named(want, py._nodes) == named(got or b"", c._nodes)
        handed_back = {int(line[1:]) for line in want.split(b"\n") if line[:1] == b"{"}
        assert py._seq == c._seq
        for seq in range(py._seq):
            assert py._tab[seq][:2] == c._entry(seq)[:2]
            if seq not in handed_back:  # (the identity of a scanned entry's rows)
                assert py._tab[seq][2] == c._entry(seq)[2]


@needs_c
def test_a_possible_continuation_leaves_the_cut_to_python() -> None:
    """A line that starts with a space, or a last line that is an open USER_AVC, makes
    the C pass decline: LineBuffer cuts such a buffer."""
    jl = fast.JournalLines()
    assert jl.build_buf(dump(entry()) + b"\n continued\n", 0, True, HOST) is None
    assert jl.build_buf(b"x\n" + b"msg='a\n", 0, False, HOST) is None
    assert jl._seq == 0


@needs_c
def test_canon_is_orjson_with_sorted_keys() -> None:
    """``canon`` gives orjson's sorted rendering byte for byte, or None (then orjson)."""
    done = 0
    for line in lines():
        got = fast._fastscan.canon(line)
        if got is None:
            continue
        done += 1
        assert got == orjson.dumps(orjson.loads(line), option=orjson.OPT_SORT_KEYS)
    assert done > 40


@needs_c
@pytest.mark.parametrize("size", [1 << 20, 4099, 333])
def test_engines_agree_on_a_mixed_journal(size: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Both engines give the same records, rejects and loss on the mixed entries (events
    with SYSCALL/PROCTITLE, other transports, broken JSON), in any chunking."""
    monkeypatch.setattr(stream, "JOURNAL_MIN_SCAN", 0)
    data = b"".join(
        line + b"\n" for line in itertools.chain(lines(), lines()[::-1]) if len(line) < 100_000
    )
    # text lines that LineBuffer joins (a USER_AVC over several lines) between entries
    data += b"type=USER_AVC msg=audit(1.2:3): pid=1 msg='apparmor=\"DENIED\"\n a=1'\n" + data

    def run(engine: str) -> list[str]:
        p = Parser(S.SOURCE_JOURNALD, HOST, "journald", engine=engine)
        results = [p.feed(data[i : i + size], i) for i in range(0, len(data), size)]
        return render([*results, p.flush()])

    want = run("python")
    assert len(want) > 20
    assert want == run("c")
    assert want == render([parse_bytes(data, S.SOURCE_JOURNALD, HOST, "journald", engine="c")])


def test_importing_the_parser_does_not_import_pyarrow_compute() -> None:
    """``parsers.stream`` (and so ``parsers.fast``) loads pyarrow.compute only when it
    parses: a command that parses nothing does not pay for that import."""
    code = (
        "import sys, parsers.stream; assert 'pyarrow.compute' not in sys.modules; "
        "from parsers import schema as S; "
        "parsers.stream.parse_bytes(b'x', S.SOURCE_AUDITLOG); print('ok')"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "ok"


_TEXT = st.text(st.characters(codec="utf-8"), max_size=12) | st.sampled_from(
    ["", "audit", "kernel", "AVC", "1700000000123456", "7", 'a"b', "x\\y", "\x00", "msg='"]
)
_FIELDS = [
    "_HOSTNAME", "_BOOT_ID", "_MACHINE_ID", "_TRANSPORT", "_AUDIT_ID", "_AUDIT_TYPE_NAME",
    "_SOURCE_REALTIME_TIMESTAMP", "__REALTIME_TIMESTAMP", "MESSAGE", "X",
]  # fmt: skip
_VALUE = _TEXT | st.none() | st.lists(st.integers(0, 300), max_size=4)


@needs_c
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    fields=st.dictionaries(
        st.sampled_from(_FIELDS),
        _VALUE,
        max_size=4,
    ),
    style=st.integers(0, 2),
    cut=st.integers(0, 400),
    junk=st.sampled_from([b"", b"\\", b'"', b"\xff", b"\x01", b"}", b",", b"\\u00e9", b"\\ud800"]),
)
def test_c_and_python_translate_generated_entries_alike(
    fields: dict, style: int, cut: int, junk: bytes
) -> None:
    """Generated entries (odd values, wrong types, bytes spliced in anywhere): the C pass
    and the Python translation give the same scanner lines and identities."""
    good = dump(entry(**fields), style)
    bad = good[:cut] + junk + good[cut:]
    buf = good + b"\n" + bad + b"\n" + good + b"\n"
    py, c = fast.JournalLines(), fast.JournalLines()
    want = py.build(stream.LineBuffer().lines(buf, 0, True), HOST)
    got = c.build_buf(buf, 0, True, HOST)
    assert got is not None
    assert named(want, py._nodes) == named(got, c._nodes)
    handed_back = {int(line[1:]) for line in want.split(b"\n") if line[:1] == b"{"}
    for seq in range(py._seq):
        if seq not in handed_back:
            assert py._tab[seq][2] == c._entry(seq)[2]
    for line in (good, bad):
        canon = fast._fastscan.canon(line)
        if canon is not None:
            assert canon == orjson.dumps(orjson.loads(line), option=orjson.OPT_SORT_KEYS)


@needs_c
def test_message_text_never_overrides_trusted_fields() -> None:
    """Text inside MESSAGE that looks like journald's fields or another host's header does
    not change the row's host, and an entry of the syslog transport that claims to be the
    kernel's audit record never becomes a kernel record (scanned or not)."""
    body = AVC + ' _HOSTNAME="evil" node=evil'
    forged = entry(
        "AVC",
        "60",
        _TRANSPORT="syslog",
        MESSAGE="kernel: audit: type=1400 audit(1700000000.200:3): " + AVC,
    )
    data = b"".join(
        dump(e) + b"\n"
        for e in (entry("AVC", "61", body, _HOSTNAME="web-01"), forged, entry("AVC", "62"))
    )
    for engine in ("python", "c"):
        rows = parse_bytes(data, S.SOURCE_JOURNALD, HOST, "journald", engine=engine).records
        got = [(r[S.HOST], r[S.ORIGIN]) for r in rows.to_pylist()]
        assert ("web-01", S.ORIGIN_KERNEL) in got
        assert all(h != "evil" for h, _o in got)
        assert all(o != S.ORIGIN_KERNEL for h, o in got if h not in ("web-01", "j1"))
        assert len(got) == 3
