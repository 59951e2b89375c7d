"""What the parser trusts: forged-looking records are marked, journald's own fields win."""

from __future__ import annotations

import orjson
import pytest

from armorwatch.parsers import fast
from armorwatch.parsers import schema as S
from armorwatch.parsers.result import HostInfo
from armorwatch.parsers.stream import parse_bytes

ENGINES = ["python", *(["c"] if fast.available() else [])]

AVC = (
    b"type=AVC msg=audit(1700000000.101:%d): apparmor=\"DENIED\" operation=\"open\" "
    b"class=\"file\" profile=\"/usr/sbin/ntpd\" name=%s pid=812 comm=\"ntpd\" "
    b"requested_mask=\"r\" denied_mask=\"r\" fsuid=0 ouid=0%s\n"
)


def avc(serial: int, name: bytes = b'"/etc/shadow"', extra: bytes = b"") -> bytes:
    """One kernel AVC line as auditd writes it (no node=)."""
    return AVC % (serial, name, extra)


def parse(data: bytes, engine: str, source: str = S.SOURCE_AUDITLOG, **kw: object) -> list[dict]:
    """The records of ``data`` as dicts, by the given engine."""
    return parse_bytes(data, source, engine=engine, **kw).records.to_pylist()  # type: ignore[arg-type]


@pytest.mark.parametrize("engine", ENGINES)
class TestSuspectRecords:
    def test_plain_kernel_record_is_not_suspect(self, engine: str) -> None:
        """An ordinary kernel AVC has no suspect reason."""
        (row,) = parse(avc(1), engine)
        assert (S.ORIGIN_KERNEL, None) == (row[S.ORIGIN], row[S.SUSPECT])

    def test_repeated_key_keeps_the_first_value_and_is_suspect(self, engine: str) -> None:
        """A forged second apparmor="ALLOWED" neither wins nor passes unnoticed."""
        (row,) = parse(avc(1, extra=b' apparmor="ALLOWED"'), engine)
        assert (S.AA_DENIED, S.SUSPECT_DUPLICATE_FIELD) == (row[S.APPARMOR], row[S.SUSPECT])

    def test_repeated_int_key_is_suspect(self, engine: str) -> None:
        """pid= twice in one record is not something the kernel writes."""
        (row,) = parse(avc(1, extra=b" pid=1"), engine)
        assert (812, S.SUSPECT_DUPLICATE_FIELD) == (row[S.PID], row[S.SUSPECT])

    def test_different_keys_of_one_column_are_not_suspect(self, engine: str) -> None:
        """requested_mask= and requested= feed one column; that alone is no forgery."""
        (row,) = parse(avc(1, extra=b' requested="w"'), engine)
        assert ("r", None) == (row[S.REQUESTED_MASK], row[S.SUSPECT])

    def test_nul_in_a_hex_path_is_suspect(self, engine: str) -> None:
        """name=2F746D702F00657463 (/tmp/ NUL etc) cannot come from the kernel."""
        (row,) = parse(avc(1, name=b"2F746D702F00657463"), engine)
        assert S.SUSPECT_NUL_IN_PATH == row[S.SUSPECT]

    def test_user_avc_of_a_kernel_class_is_suspect(self, engine: str) -> None:
        """A USER_AVC claiming class="file" is an imitation of a kernel record."""
        line = (
            b"type=USER_AVC msg=audit(1700000000.101:5): pid=4242 uid=1000 auid=1000 ses=3 "
            b"msg='apparmor=\"DENIED\" operation=\"open\" class=\"file\" "
            b"profile=\"/usr/sbin/sshd\" name=\"/etc/shadow\" pid=1 comm=\"sshd\" "
            b"requested_mask=\"r\" denied_mask=\"r\" "
            b"fsuid=0 ouid=0 exe=\"/usr/bin/evil\" sauid=1000 hostname=? addr=? terminal=?'\n"
        )
        (row,) = parse(line, engine)
        assert (S.ORIGIN_USERSPACE, S.SUSPECT_FROM_USERSPACE) == (row[S.ORIGIN], row[S.SUSPECT])

    def test_dbus_user_avc_is_trusted(self, engine: str) -> None:
        """dbus-daemon's own USER_AVC (class dbus) is how dbus mediation is logged."""
        line = (
            b"type=USER_AVC msg=audit(1700000000.101:6): pid=811 uid=103 auid=4294967295 "
            b"ses=4294967295 subj=unconfined msg='apparmor=\"DENIED\" "
            b"operation=\"dbus_method_call\" "
            b" bus=\"system\" path=\"/org/freedesktop/hostname1\" interface=\"org.freedesktop.DBus"
            b".Properties\" member=\"GetAll\" mask=\"send\" name=\"org.freedesktop.hostname1\" "
            b"pid=2360 label=\"/usr/bin/x\" peer_pid=2365 peer_label=\"unconfined\" "
            b" exe=\"/usr/bin/dbus-daemon\" sauid=103 hostname=? addr=? terminal=?'\n"
        )
        (row,) = parse(line, engine)
        assert (S.ORIGIN_USERSPACE, None) == (row[S.ORIGIN], row[S.SUSPECT])


KERNEL_LINE = (
    b"Nov 14 22:13:20 web-01 kernel: [ 42.000000] audit: type=1400 audit(1700000000.101:7): "
    b'apparmor="DENIED" operation="open" class="file" profile="/usr/sbin/ntpd" '
    b'name="/etc/shadow" pid=812 comm="ntpd" requested_mask="r" denied_mask="r" fsuid=0 ouid=0\n'
)


class TestSyslogOrigin:
    def test_kern_log_kernel_tag_is_trusted(self) -> None:
        """In kern.log a kernel: line is the kernel's (glibc maps user LOG_KERN to LOG_USER)."""
        (row,) = parse(KERNEL_LINE, "python", S.SOURCE_KERNLOG, framing="syslog")
        assert (S.ORIGIN_KERNEL, None) == (row[S.ORIGIN], row[S.SUSPECT])

    def test_general_syslog_kernel_tag_is_unverified(self) -> None:
        """In /var/log/syslog anyone can `logger -t kernel`: the origin is unverified."""
        (row,) = parse(
            KERNEL_LINE, "python", S.SOURCE_KERNLOG, framing="syslog", kernel_tag=False
        )
        assert (S.ORIGIN_UNVERIFIED, S.SUSPECT_UNVERIFIED) == (row[S.ORIGIN], row[S.SUSPECT])


def journal_entry(message: bytes, **fields: str) -> bytes:
    """One `journalctl -o json` line with the trusted fields journald adds."""
    entry = {
        "__CURSOR": "s=1;i=1",
        "__REALTIME_TIMESTAMP": "1700000000101000",
        "_BOOT_ID": "0123456789abcdef0123456789abcdef",
        "_MACHINE_ID": "fedcba9876543210fedcba9876543210",
        "_HOSTNAME": "h42",
        "MESSAGE": message.decode(),
        **fields,
    }
    return orjson.dumps(entry) + b"\n"


class TestJournaldFieldsWin:
    def test_node_in_the_message_does_not_override_hostname(self) -> None:
        """MESSAGE "node=web-01 type=AVC …" from host h42 is stored as h42's record."""
        msg = b"node=web-01 " + avc(9).rstrip(b"\n")
        data = journal_entry(msg, _TRANSPORT="audit", _AUDIT_TYPE="1400", _AUDIT_ID="9")
        (row,) = parse(data, "python", S.SOURCE_JOURNALD, framing="journald")
        assert ("h42", "0123456789abcdef0123456789abcdef") == (row[S.HOST], row[S.BOOT_ID])

    def test_logger_t_kernel_is_userspace_and_suspect(self) -> None:
        """`logger -t kernel` (syslog transport, uid 1000) imitates a kernel record."""
        msg = KERNEL_LINE.split(b"kernel: ", 1)[1].rstrip(b"\n")
        data = journal_entry(
            msg, _TRANSPORT="syslog", _UID="1000", SYSLOG_IDENTIFIER="kernel", _COMM="logger"
        )
        (row,) = parse(data, "python", S.SOURCE_JOURNALD, framing="journald")
        assert (S.ORIGIN_USERSPACE, S.SUSPECT_FROM_USERSPACE, "h42") == (
            row[S.ORIGIN],
            row[S.SUSPECT],
            row[S.HOST],
        )


@pytest.mark.parametrize("engine", ENGINES)
class TestBootsFromDaemonStart:
    DAEMON_START = (
        b"type=DAEMON_START msg=audit(1700000500.000:%d): op=start ver=3.1.2 format=enriched "
        b"kernel=6.1.0-13-amd64 auid=4294967295 pid=%d uid=0 ses=4294967295 res=success\n"
    )

    def boots(self, engine: str, data: bytes, chunk: int) -> list[tuple[int, str | None]]:
        """(serial, boot_id) of each record, fed in chunks of ``chunk`` bytes."""
        from armorwatch.parsers.stream import Parser

        p = Parser(S.SOURCE_AUDITLOG, HostInfo("h1", None, "b" * 32), engine=engine)
        out = []
        for i in range(0, len(data), chunk):
            out += p.feed(data[i : i + chunk], i).records.to_pylist()
        out += p.flush().records.to_pylist()
        return sorted((r[S.SERIAL], r[S.BOOT_ID]) for r in out)

    def test_serial_reset_after_reboot_gets_a_new_boot_id(self, engine: str) -> None:
        """The same audit(ts:serial) before and after a DAEMON_START are two boots."""
        data = avc(42) + self.DAEMON_START % (1, 600) + avc(42)
        got = self.boots(engine, data, len(data))
        assert 2 == len(got)
        assert "b" * 32 == got[0][1] or "b" * 32 == got[1][1]
        assert got[0][1] != got[1][1]

    def test_boot_ids_do_not_depend_on_chunking(self, engine: str) -> None:
        """Whatever the chunk size, every record gets the same boot id."""
        data = avc(1) + self.DAEMON_START % (1, 600) + avc(2) + self.DAEMON_START % (2, 700)
        data += avc(3)
        whole = self.boots(engine, data, len(data))
        assert 3 == len({b for _, b in whole})
        for size in (1, 7, 29, 64, 200):
            assert whole == self.boots(engine, data, size)
