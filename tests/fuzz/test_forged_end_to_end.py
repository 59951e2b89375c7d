"""Forged records end to end (reliability.md G7): parser → DuckDB store → rule suggestion.

1,000 forged USER_AVC lines (file, capability, network and exec claims written by an
unprivileged sender) and 1,000 journald entries imitating kernel AVCs from userspace
transports (``logger -t kernel`` is ``_TRANSPORT=syslog``) go through the real parser
and ``DuckDBSink`` next to a few genuine kernel AVCs. None of the forged ones may be
stored as ``origin=kernel``, and rule suggestion must offer nothing for the profiles
they name, while it does for the genuine profile (the control).
"""

from __future__ import annotations

import random
from pathlib import Path

import orjson

from armorwatch.jobs.suggest import suggest
from armorwatch.parsers import schema as S
from armorwatch.parsers.envelope import Envelope
from armorwatch.parsers.stream import parse_bytes
from armorwatch.sinks.duckdb import DuckDBConfig, DuckDBSink

FORGED_USER = "/usr/sbin/forged-by-user-avc"
FORGED_JOURNAL = "/usr/sbin/forged-by-journald"
GENUINE = "/usr/sbin/genuine-daemon"

CLAIMS = [
    'operation="open" profile="{p}" name="/etc/shadow" pid={pid} comm="sshd" '
    'requested_mask="r" denied_mask="r" fsuid=0 ouid=0',
    'operation="capable" profile="{p}" pid={pid} comm="sshd" capability=21 capname="sys_admin"',
    'operation="create" profile="{p}" pid={pid} comm="sshd" family="inet" sock_type="raw" '
    'protocol=1 requested_mask="create" denied_mask="create"',
    'operation="exec" profile="{p}" name="/bin/sh" pid={pid} comm="sshd" requested_mask="x" '
    'denied_mask="x" fsuid=0 ouid=0 target="{p}//null-/bin/sh"',
]


def forged_user_avcs(rng: random.Random, n: int) -> bytes:
    """USER_AVC lines whose msg claims kernel-class AppArmor denials."""
    out = []
    for i in range(n):
        claim = rng.choice(CLAIMS).format(p=FORGED_USER, pid=rng.randint(1, 999))
        out.append(
            f"type=USER_AVC msg=audit(1762300800.{i % 1000:03d}:{5000 + i}): "
            f"pid={rng.randint(1000, 60000)} uid=1000 auid=1000 ses=2 "
            f"msg='apparmor=\"DENIED\" {claim}'"
        )
    return ("\n".join(out) + "\n").encode()


def forged_journal(rng: random.Random, n: int) -> bytes:
    """journalctl -o json entries of kernel-looking AVCs from userspace transports."""
    out = []
    for i in range(n):
        claim = rng.choice(CLAIMS).format(p=FORGED_JOURNAL, pid=rng.randint(1, 999))
        entry = {
            "__REALTIME_TIMESTAMP": str(1762300900_000000 + i * 1000),
            "_HOSTNAME": "h1",
            "_BOOT_ID": "b" * 32,
            "_TRANSPORT": rng.choice(["syslog", "journal", "stdout"]),
            "SYSLOG_IDENTIFIER": "kernel",
            "_PID": str(rng.randint(1000, 60000)),
            "_UID": "1000",
            "MESSAGE": f"audit: type=1400 audit(1762300900.{i % 1000:03d}:{9000 + i}): "
            f'apparmor="DENIED" {claim}',
        }
        out.append(orjson.dumps(entry))
    return b"\n".join(out) + b"\n"


def genuine(n: int) -> bytes:
    """Kernel AVCs in audit.log (the control: these must be suggested)."""
    return b"".join(
        b'type=AVC msg=audit(1762301000.%03d:%d): apparmor="DENIED" operation="open" '
        b'profile="%s" name="/srv/data/file%d" pid=77 comm="genuine-daemon" '
        b'requested_mask="r" denied_mask="r" fsuid=0 ouid=0\n' % (i, 20000 + i, GENUINE.encode(), i)
        for i in range(5)
    )


class TestForgedEndToEnd:
    async def test_forged_records_never_kernel_never_suggested(self, tmp_path: Path) -> None:
        """2,000 forged records: none stored as kernel, no rule suggested for them."""
        rng = random.Random(9)
        streams = [
            (forged_user_avcs(rng, 1000), "audit", S.SOURCE_AUDITLOG),
            (forged_journal(rng, 1000), "journald", S.SOURCE_JOURNALD),
            (genuine(5), "audit", S.SOURCE_AUDITLOG),
        ]
        db = tmp_path / "store.duckdb"
        async with DuckDBSink(DuckDBConfig(path=db)) as sink:
            for data, framing, source in streams:
                result = parse_bytes(data, source, framing=framing)
                await sink.send(Envelope(records=result.records, loss=result.loss))
            con = sink.connection()
            by_origin = dict(
                con.execute(
                    "SELECT origin, count(*) FROM records WHERE profile IN (?, ?) GROUP BY 1",
                    [FORGED_USER, FORGED_JOURNAL],
                ).fetchall()
            )
            result = suggest(con, validate=False)
            # a profile may be listed with its skipped (forged) evidence, but no rule
            suggested = {p.profile for p in result.profiles if p.rules or p.includes}
            skipped = {p.profile for p in result.profiles if p.skipped}
        assert 0 == by_origin.get(S.ORIGIN_KERNEL, 0)
        assert {S.ORIGIN_USERSPACE: 2000} == by_origin  # kept, marked as userspace
        assert GENUINE in suggested
        assert set() == suggested & {FORGED_USER, FORGED_JOURNAL}
        assert {FORGED_USER, FORGED_JOURNAL} <= skipped  # and says why it offers none
