"""`armorwatch process` stops on SIGTERM when its broker is gone, as systemd and Kubernetes expect.

A processor is stopped with SIGTERM and killed after a grace period (systemd's
TimeoutStopSec, Kubernetes' terminationGracePeriodSeconds, 30 s by default). One that
waits for a broker that is not there is killed mid-commit instead of closing cleanly.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from armorwatch.parsers.envelope import Envelope
from armorwatch.sinks.store import open_store
from tests.conftest import ROOT, free_port, start_broker
from tests.integration.test_kafka import records, send

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

GRACE_S = 15.0
"""How long the test lets the processor take after SIGTERM (half the usual grace period)."""


def processor(bootstrap: str, topic: str, db: Path, log: Path) -> subprocess.Popen[bytes]:
    """`armorwatch process` as systemd runs it, its stderr in ``log``."""
    argv = [sys.executable, "-m", "armorwatch.cli", "process", "--kafka", bootstrap,
            "--topic", topic, "--group", f"g-{topic}", "--db", str(db),
            "--dead-letter-file", str(db.with_suffix(".poison.jsonl"))]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with log.open("wb") as err:
        return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=err, env=env)


def wait_for(log: Path, text: str, timeout: float = 60.0) -> None:
    """Until ``text`` appears in the processor's log."""
    deadline = time.monotonic() + timeout
    while text not in log.read_text(errors="replace"):
        assert time.monotonic() < deadline, f"no {text!r} in:\n{log.read_text()}"
        time.sleep(0.1)


def stopped_in(proc: subprocess.Popen[bytes]) -> tuple[float, int | None]:
    """SIGTERM, then the seconds until it exited (killed after GRACE_S) and its code."""
    t0 = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    try:
        rc = proc.wait(GRACE_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return time.monotonic() - t0, None
    return time.monotonic() - t0, rc


def test_sigterm_while_no_broker_ever_answered(tmp_path: Path) -> None:
    """A processor started before its broker exists stops on SIGTERM during its retries."""
    log = tmp_path / "process.log"
    proc = processor(f"127.0.0.1:{free_port()}", "aw-none", tmp_path / "s.lake", log)
    wait_for(log, "Kafka is not reachable")
    time.sleep(2.0)  # into the back-off between attempts
    took, rc = stopped_in(proc)
    assert (0, True) == (rc, took < GRACE_S), log.read_text()


def test_sigterm_after_the_broker_was_killed_keeps_what_was_stored(tmp_path: Path) -> None:
    """With its broker SIGKILLed, a processor stops on SIGTERM and what it stored stays."""
    broker = start_broker()
    topic = f"aw-{uuid.uuid4().hex[:10]}"
    db, log = tmp_path / "s.lake", tmp_path / "process.log"
    try:
        send(broker.bootstrap, topic, Envelope(records=records(0, 30)))
        proc = processor(broker.bootstrap, topic, db, log)
        try:
            wait_for(log, "Assigned partitions")
            time.sleep(3.0)  # the batch is stored and committed
        finally:
            broker.process.kill()
            broker.process.wait()
        time.sleep(2.0)  # the client notices the broker is gone
        took, rc = stopped_in(proc)
    finally:
        if broker.process.poll() is None:
            broker.process.kill()
    assert (0, True) == (rc, took < GRACE_S), f"{took:.1f} s, rc {rc}\n{log.read_text()}"
    con = open_store(str(db), read_only=True)
    try:
        assert (30,) == con.execute("SELECT count(*) FROM records").fetchone()
    finally:
        con.close()
