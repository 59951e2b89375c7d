"""A notification says how to act: who did it, the line as logged, the rule that would
allow it, the command to investigate, durations in human units; at the real receiver."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import orjson
import pytest

from armorwatch.cli import main
from armorwatch.parsers import schema as S
from armorwatch.parsers.envelope import Envelope
from tests.jobs.alert_data import record, store
from tests.jobs.test_alerts_cli import alerting_pipeline
from tests.sinks.webhook_server import receiver

RAW = (
    b'type=AVC msg=audit(1763874806.159:2203): apparmor="DENIED" operation="open" '
    b'class="file" profile="/usr/sbin/nginx" name="/etc/shadow" pid=4242 comm="nginx" '
    b'requested_mask="r" denied_mask="r" fsuid=33 ouid=0 \x1b[31m'
)
WHO: dict[str, Any] = {
    S.PID: 4242,
    S.EXE: "/usr/sbin/nginx",
    S.REQUESTED_MASK: "r",
    S.DENIED_MASK: "r",
    S.FSUID: 33,
    S.OUID: 0,
}


def shadow_reads(n: int, **extra: Any) -> list[dict[str, Any]]:
    """``n`` denied reads of /etc/shadow by nginx (pid 4242), one a second."""
    return [record(i, name="/etc/shadow", **{**WHO, **extra}) for i in range(n)]


@pytest.mark.integration
class TestActionableWebhook:
    def test_alerts_test_sends_who_what_and_the_rule(self, tmp_path: Path) -> None:
        """`alerts test --webhook` bodies carry pid, comm, exe, the raw line (escaped),
        the AppArmor rule and the investigate command, as received over HTTP."""
        store(tmp_path, shadow_reads(3, raw=RAW)).close()
        db = str(tmp_path / "store.duckdb")
        with receiver() as rx:
            argv = ["alerts", "test", "--db", db, "--webhook", rx.url, "--allow", "127.0.0.1/32"]
            assert 0 == main(argv)
        bodies = [orjson.loads(r.body) for r in rx.requests]
        assert b"\x1b" not in b"".join(r.body for r in rx.requests)
        [alert] = [a for b in bodies for a in b["alerts"] if a["rule"] == "sensitive-access"]
        example = alert["example"]
        assert (4242, "nginx", "/usr/sbin/nginx") == (
            example["pid"],
            example["comm"],
            example["exe"],
        )
        assert example["raw"].startswith("type=AVC msg=audit(1763874806.159:2203)")
        assert example["raw"].endswith("\\x1b[31m")  # sanitised for JSON, not dropped
        assert "/etc/shadow r," == alert["suggested_rule"]
        assert alert["investigate"].startswith("armorwatch query raw-lines ")

    async def test_pipeline_notification_names_the_process(self, tmp_path: Path) -> None:
        """Through the processor's path the notification names pid, comm and exe and the
        rule (its window keeps no raw bytes: the investigate command shows them)."""
        with receiver() as rx:
            async with alerting_pipeline(tmp_path, rx.url) as (sink, observer, transport):
                rows = shadow_reads(3, raw=RAW)
                await transport.send(Envelope(records=S.batch_from_rows(rows)))
                await observer.flush()
            assert await sink.drain(5.0)
            await asyncio.sleep(0.1)
            await observer.close()
        bodies = [orjson.loads(r.body) for r in rx.requests]
        [alert] = [a for b in bodies for a in b["alerts"] if a["rule"] == "sensitive-access"]
        assert (4242, "nginx", "/usr/sbin/nginx") == tuple(
            alert["example"][k] for k in ("pid", "comm", "exe")
        )
        assert "/etc/shadow r," == alert["suggested_rule"]
        assert alert["investigate"].startswith("armorwatch query raw-lines ")


class TestDurations:
    def test_durations_read_as_people_say_them(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A burst's window reads "in 5 min", not "300s" or "5m"."""
        store(tmp_path, [record(i * 0.1) for i in range(150)]).close()
        assert 0 == main(["alerts", "test", "--db", str(tmp_path / "store.duckdb")])
        out = capsys.readouterr().out
        assert "150 denials in 5 min" in out, out
