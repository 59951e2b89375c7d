"""RFC 3164 dates carry no year: the parser takes it from the audit timestamps it has seen."""

from __future__ import annotations

from datetime import UTC, datetime

from armorwatch.parsers import schema as S
from armorwatch.parsers.stream import parse_bytes

KERN = (
    b"Nov 23 06:45:05 web-02 kernel: [ 12.5] audit: type=1400 audit(1763880305.100:7): "
    b'apparmor="DENIED" operation="capable" class="cap" profile="/usr/sbin/cupsd" pid=1 '
    b'comm="cupsd" capability=12 capname="net_admin"\n'
    b"Nov 23 06:45:06 web-02 kernel: [ 13.0] kauditd_printk_skb: 7 callbacks suppressed\n"
)


class TestSyslogYear:
    def test_loss_line_takes_the_year_of_the_audit_records(self) -> None:
        """A loss line after a 2025 audit record is dated 2025, not the current year."""
        loss = parse_bytes(KERN, S.SOURCE_KERNLOG, framing="syslog").loss
        ts = loss.column(S.TS)[0].as_py()
        assert datetime(2025, 11, 23, 6, 45, 6, tzinfo=UTC) == ts

    def test_explicit_year_wins(self) -> None:
        """A year given to the parser is used as is."""
        loss = parse_bytes(KERN, S.SOURCE_KERNLOG, framing="syslog", year=2019).loss
        assert 2019 == loss.column(S.TS)[0].as_py().year
