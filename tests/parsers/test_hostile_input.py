"""Bounded work on hostile input (issue 19): line caps, junk, empty bodies, odd-length hex.

Every case runs under both engines and several chunkings, and must give the same result.
"""

from __future__ import annotations

import os
import random

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from armorwatch.parsers import fast
from armorwatch.parsers import records as R
from armorwatch.parsers import schema as S
from armorwatch.parsers.result import HostInfo
from armorwatch.parsers.stream import JUNK_REPORT_BYTES, Parser
from tests.parsers.test_golden import render

ENGINES = ["python", "c"] if fast.available() else ["python"]
HOST = HostInfo(host="h", machine_id="m", boot_id="b")
AVC = (
    b'type=AVC msg=audit(1700000000.101:11): apparmor="DENIED" operation="open" '
    b'profile="/usr/bin/p" name=%s pid=42 comm="p" requested_mask="r" denied_mask="r" '
    b"fsuid=0 ouid=0\n"
)


def parse(data: bytes, engine: str, size: int, framing: str = "auto") -> list[str]:
    """Golden-style lines of ``data`` fed in ``size``-byte pieces."""
    p = Parser(S.SOURCE_AUDITLOG, HOST, framing, year=2025, engine=engine)
    results = [p.feed(data[i : i + size], i) for i in range(0, len(data), size)]
    results.append(p.flush())
    return render(results)


def agreed(data: bytes, framing: str = "auto") -> list[str]:
    """The result of ``data``, checked equal under every engine and chunking (the junk
    reports only in their totals: they are cut where a MiB has gathered)."""
    expected = parse(data, "python", len(data) or 1, framing)
    for size in (len(data) or 1, 4096, 997):
        python = parse(data, "python", size, framing)
        for engine in ENGINES:
            assert python == parse(data, engine, size, framing), (engine, size)
        assert junk_total(expected) == junk_total(python), size
    return expected


def junk_total(lines: list[str]) -> list[str]:
    """``lines`` with the junk reports summed into one (lines, bytes) entry."""
    out, n, size = [], 0, 0
    for line in lines:
        obj = orjson.loads(line).get("loss") or {}
        if "bytes of binary data" in obj.get("detail", ""):
            n += obj["count"]
            size += int(obj["detail"].split(" bytes of")[0].rsplit(" ", 1)[1])
        else:
            out.append(line)
    return [*out, f"junk {n} {size}"] if n else out


def kinds(lines: list[str]) -> list[tuple[str, str | None]]:
    """(kind, reason or record type) of each golden line."""
    out: list[tuple[str, str | None]] = []
    for line in lines:
        obj = orjson.loads(line)
        kind, row = next(iter(obj.items()))
        out.append((kind, row.get("reason") or row.get("record_type") or row.get("kind")))
    return out


def max_size_name() -> bytes:
    """An unquoted hex name that makes the AVC exactly the kernel's 8,970-byte limit."""
    room = 8970 - len((AVC % b"").rstrip(b"\n"))
    return (b"2F20" * room)[: room - room % 2]


class TestLineCap:
    def test_a_full_size_kernel_record_parses_in_every_framing(self) -> None:
        """A record at the kernel's 8,970-byte limit parses as audit.log, kern.log and journald."""
        line = AVC % max_size_name()
        assert 8969 <= len(line.rstrip(b"\n")) <= 8970
        kern = b"Nov 23 07:00:00 " + b"h" * 253 + b" kernel: [123456.789012] audit: " + line
        entry = {
            "_TRANSPORT": "kernel",
            "_HOSTNAME": "h",
            "__REALTIME_TIMESTAMP": "1700000000101000",
            # journalctl renders a message that is not clean text as an array of byte values
            "MESSAGE": list(line.rstrip(b"\n")),
        }
        journal = orjson.dumps(entry) + b"\n"
        assert len(journal) > R.MAX_LINE
        assert [("record", "AVC")] == kinds(agreed(line))
        assert [("record", "AVC")] == kinds(agreed(kern))
        assert [("record", "AVC")] == kinds(agreed(journal, "journald"))

    def test_a_line_over_the_cap_is_rejected_with_its_bytes(self) -> None:
        """One byte over 16 KiB is a reject naming the cap, its bytes kept; the next line parses."""
        name = b'"/' + b"a" * (R.MAX_LINE - len(AVC % b'"/"') + 2) + b'"'
        long_line = AVC % name
        assert len(long_line) - 1 == R.MAX_LINE + 1
        out = agreed(long_line + AVC % b'"/etc/x"')
        assert [("record", "AVC"), ("reject", R.R_TOO_LONG)] == kinds(out)
        raw = orjson.loads(out[1])["reject"]["raw"]
        assert long_line.rstrip(b"\n").decode() == raw
        assert "16 KiB" in R.R_TOO_LONG

    def test_a_million_character_name_is_rejected_quickly(self) -> None:
        """The issue's 1,000,000-character name: rejected (first MiB kept), not parsed."""
        line = AVC % (b'"/' + b"x" * 1_000_000 + b'"')
        p = Parser(S.SOURCE_AUDITLOG, HOST, engine=ENGINES[-1])
        r = p.feed(line, 0)
        assert (0, [R.R_TOO_LONG]) == (r.records.num_rows, r.rejects.column(S.REASON).to_pylist())
        assert line.rstrip(b"\n") == r.rejects.column(S.RAW)[0].as_py()

    def test_over_the_cap_text_without_keywords_is_nothing(self) -> None:
        """A long line of another program (no keyword, no binary byte) is not kept or counted."""
        assert [] == agreed(b"x" * (R.MAX_LINE + 10) + b"\n")

    def test_a_journald_entry_over_its_cap_is_rejected(self) -> None:
        """A JSON entry over 128 KiB carrying an AVC is rejected with the JSON cap as reason."""
        entry = {
            "_TRANSPORT": "kernel",
            "MESSAGE": (AVC % b'"/x"').decode(),
            "PAD": "p" * R.MAX_JSON_LINE,
        }
        out = agreed(orjson.dumps(entry) + b"\n")
        assert [("reject", R.R_TOO_LONG_JSON)] == kinds(out)
        assert "128 KiB" in R.R_TOO_LONG_JSON


class TestEmptyBody:
    @pytest.mark.parametrize(
        "line",
        [
            b"type=AVC msg=audit(1700000000.101:11): \n",
            b"type=AVC msg=audit(1700000000.101:11):     \t \n",
            b"type=AVC msg=audit(1700000000.101:11):\n",
            b"type=1400 audit(1700000000.101:11): \n",
            b"type=USER_AVC msg=audit(1700000000.101:11): \n",
            b"type=APPARMOR_DENIED msg=audit(1700000000.101:11): \n",
            b"Nov 23 07:00:00 h kernel: [1.5] audit: type=1400 audit(1700000000.101:11): \n",
        ],
    )
    def test_empty_mac_record_is_rejected(self, line: bytes) -> None:
        """An AVC (USER_AVC, APPARMOR_*) line with an empty body is a reject, not a silent drop."""
        assert [("reject", R.R_EMPTY_BODY)] == kinds(agreed(line))

    def test_empty_body_of_another_type_is_nothing(self) -> None:
        """Only MAC record types are judged: an empty SYSCALL body is no reject."""
        assert [] == agreed(b"type=SYSCALL msg=audit(1700000000.101:11): \n")


class TestOddLengthHex:
    @pytest.mark.parametrize("value", [b"2F657", b"A", b"123", b"2F746D702F6"])
    def test_odd_length_hex_is_rejected(self, value: bytes) -> None:
        """An unquoted name of upper-case hex digits of odd length, of any length, is malformed."""
        assert [("reject", R.R_BAD_HEX)] == kinds(agreed(AVC % value))

    def test_odd_length_hex_in_selinux_is_rejected(self) -> None:
        """The same rule holds for SELinux records (comm= is hex-encoded by the kernel too)."""
        line = (
            b"type=AVC msg=audit(1700000000.101:12): avc:  denied  { read } for  pid=1 "
            b'comm=2F657 name="x" scontext=u:r:t:s0 tcontext=u:r:t:s0 tclass=file\n'
        )
        assert [("reject", R.R_BAD_HEX)] == kinds(agreed(line))

    @pytest.mark.parametrize(
        ("value", "stored"),
        [
            (b"2F746D702F20", "/tmp/ "),  # even hex of bytes the kernel escapes: decoded
            (b"2F657463", "2F657463"),  # even hex of clean bytes: the kernel would have quoted
            (b"none", "none"),  # the kernel's own unquoted words are never hex
            (b"2f657", "2f657"),  # lower case: the kernel writes upper-case hex only
        ],
    )
    def test_other_unquoted_values_are_kept(self, value: bytes, stored: str) -> None:
        """Even-length hex decodes only when it must; words and lower case stay verbatim."""
        out = agreed(AVC % value)
        assert [stored] == [orjson.loads(x)["record"]["name"] for x in out]


class TestJunk:
    def test_random_bytes_are_counted_not_silent(self) -> None:
        """Random bytes give no record and no dead letter, but parse_reject loss per MiB."""
        data = random.Random(19).randbytes(3 << 20)
        out = agreed(data)
        loss = [orjson.loads(x)["loss"] for x in out]
        assert len(loss) == len(out) >= 2
        assert {S.LOSS_PARSE_REJECT} == {x["kind"] for x in loss}
        assert data.count(b"\n") * 0.9 < sum(x["count"] for x in loss) <= data.count(b"\n") + 1
        assert all("bytes of binary data" in x["detail"] for x in loss)

    def test_junk_reports_are_bounded(self) -> None:
        """One report per MiB of junk at most, however small the pieces it is fed in."""
        data = random.Random(7).randbytes(2 << 20)
        for engine in ENGINES:
            p = Parser(S.SOURCE_AUDITLOG, HOST, engine=engine)
            pieces = [x for x in data.split(b"\x00") if x]
            rows, off = 0, 0
            for piece in pieces:
                rows += p.feed(piece + b"\n", off).loss.num_rows
                off += len(piece) + 1
            rows += p.flush().loss.num_rows
            assert 1 <= rows <= len(data) // JUNK_REPORT_BYTES + 1
            assert p.stats.junk_lines > 1000

    def test_text_without_keywords_is_not_junk(self) -> None:
        """Lines of other programs (plain text, tabs, ESC colours, ENRICHED GS) are not junk."""
        data = b'hello\tworld\n\x1b[31mred\x1b[0m\nSYSCALL=openat\x1dAUID="a"\n' * 100
        assert [] == agreed(data)

    def test_junk_around_a_record_keeps_the_record(self) -> None:
        """A record between random lines parses; only the random lines are counted."""
        rnd = random.Random(3)
        junk = b"".join(rnd.randbytes(200).replace(b"\n", b"") + b"\x01\n" for _ in range(50))
        out = agreed(junk + AVC % b'"/etc/x"' + junk)
        assert [("loss", S.LOSS_PARSE_REJECT), ("record", "AVC")] == kinds(out)
        assert 100 == orjson.loads(out[0])["loss"]["count"]

    @settings(max_examples=int(os.environ.get("AW_HYPOTHESIS_EXAMPLES", "300")), deadline=None)
    @given(st.binary(max_size=300) | st.text(max_size=200).map(str.encode))
    def test_may_matter_never_hides_a_line(self, line: bytes) -> None:
        """A line may_matter() turns away classifies as nothing: the fast paths skip no record."""
        line = line.replace(b"\n", b" ")
        if not R.may_matter(line):
            assert R.Line() == R.classify_line(line, 2025)

    @settings(max_examples=int(os.environ.get("AW_HYPOTHESIS_EXAMPLES", "40")), deadline=None)
    @given(
        st.lists(
            st.sampled_from(
                [
                    AVC % b'"/etc/x"',
                    b"type=AVC msg=audit(1700000000.101:11): \n",
                    AVC % b"2F657",
                    b"\x00\x01junk\x02\n",
                    b"{\x00not json\n",
                    b"apparmor=\x01\n",
                    b"x" * (R.MAX_LINE + 1) + b"\x03\n",
                    b"plain text\n",
                ]
            ),
            max_size=12,
        ),
        # chunks of at least 7 bytes: a 16 KiB line fed byte by byte costs minutes
        st.integers(min_value=7, max_value=300),
    )
    def test_engines_agree_on_hostile_mixes(self, lines: list[bytes], size: int) -> None:
        """Mixes of junk, over-cap, empty and bad-hex lines: same result from both engines."""
        data = b"".join(lines)
        expected = parse(data, "python", size)
        for engine in ENGINES:
            assert expected == parse(data, engine, size)
            assert expected == parse(data, engine, len(data) or 1)


def test_empty_batch_is_built_once() -> None:
    """empty_batch returns one cached zero-row batch per schema (it is immutable)."""
    assert S.empty_batch(S.LOSS_SCHEMA) is S.empty_batch(S.LOSS_SCHEMA)
    assert 0 == S.empty_batch(S.MAC_SCHEMA).num_rows
    assert S.MAC_SCHEMA.equals(S.empty_batch().schema, check_metadata=True)
