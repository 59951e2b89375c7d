"""One ``journalctl -o json`` entry as a classified line, with the identity it carries.

journald's trusted fields (``_HOSTNAME``, ``_MACHINE_ID``, ``_BOOT_ID``, the source time,
``_TRANSPORT``) win over anything the message text says. The audit transport's message
is the record body without its header (the type and serial are fields); some journald
versions keep the whole audit line instead.
"""

from __future__ import annotations

import re
from typing import Final

import orjson

from armorwatch.parsers import records as R
from armorwatch.parsers import schema as S
from armorwatch.parsers.result import HostInfo

_SUPPRESSED: Final = re.compile(rb"Suppressed (?P<n>\d+) messages from (?P<what>.*)")


def parse_entry(line: bytes, year: int, default: HostInfo) -> tuple[R.Line | None, HostInfo]:
    """The entry ``line`` as a Line (None: nothing to group; a REJECT when it is broken
    JSON that looks like a MAC record), with the identity it carries (``default`` where
    it carries none). ``year`` fills RFC 3164 dates of the message text."""
    try:
        entry = orjson.loads(line)
    except orjson.JSONDecodeError:
        if b"apparmor=" in line or b"avc:" in line:
            return R.Line(kind=R.REJECT, reason=R.R_BAD_JSON), default
        return None, default
    if not isinstance(entry, dict):
        return None, default
    msg = entry.get("MESSAGE")
    if isinstance(msg, list):  # journalctl renders non-UTF-8 messages as byte arrays
        try:
            msg_b = bytes(msg)
        except (ValueError, TypeError):
            return None, default
    elif isinstance(msg, str):
        msg_b = msg.encode("utf-8", "surrogateescape")
    else:
        return None, default
    host = HostInfo(
        host=_str(entry.get("_HOSTNAME")) or default.host,
        machine_id=_str(entry.get("_MACHINE_ID")) or default.machine_id,
        boot_id=_str(entry.get("_BOOT_ID")) or default.boot_id,
    )
    src_us = entry.get("_SOURCE_REALTIME_TIMESTAMP") or entry.get("__REALTIME_TIMESTAMP")
    ts = int(src_us) // 1000 if isinstance(src_us, str) and src_us.isdigit() else None
    transport = entry.get("_TRANSPORT")
    ident = entry.get("SYSLOG_IDENTIFIER")
    if ident == "systemd-journald" and transport in ("journal", "driver", None):
        sm = _SUPPRESSED.match(msg_b)
        if sm is not None:
            parsed = R.Line(
                kind=R.LOSS,
                reason=S.LOSS_JOURNALD_SUPPRESSED,
                count=int(sm.group("n")),
                detail=sm.group("what").decode("utf-8", "backslashreplace"),
                ts=ts,
            )
            return parsed, host
        return None, host
    if transport == "audit":
        rtype = _str(entry.get("_AUDIT_TYPE_NAME"))
        if rtype is None:
            rtype = R.TYPE_NAMES.get(str(entry.get("_AUDIT_TYPE")), "UNKNOWN")
        serial_s = _str(entry.get("_AUDIT_ID"))
        serial = int(serial_s) if serial_s and serial_s.isdigit() else None
        body = msg_b
        if body.startswith(rtype.encode() + b" "):
            body = body[len(rtype) + 1 :]
        if R.AUDIT_HDR.match(body) is not None:  # some journald versions keep the whole line
            parsed = R.classify_line(body, year, trusted_kernel=True)
        else:
            parsed = R.audit_record(rtype, body, ts, serial, None, True)
    else:
        parsed = R.classify_line(msg_b, year, trusted_kernel=transport == "kernel")
    if parsed.ts is None or (
        ts is not None and parsed.kind == R.MAC and parsed.cols.get(S.SUSPECT) is not None
    ):
        # a forged record's audit(…) time is the forger's choice; journald's is not
        parsed.ts = ts
    # a MESSAGE starting "node=web-01 type=AVC …" from host h42 is h42's
    parsed.node = host.host if _str(entry.get("_HOSTNAME")) else parsed.node or host.host
    if parsed.kind == R.MAC:
        # journalctl prints an entry's fields in a different order on every run, so the
        # entry with its keys sorted is the record's bytes (the store keys on them)
        parsed.cols[S.RAW] = orjson.dumps(entry, option=orjson.OPT_SORT_KEYS)
    return parsed, host


def _str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
