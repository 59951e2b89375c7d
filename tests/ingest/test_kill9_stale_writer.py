"""Issue 19: kill -9 of a real `armorwatch collect` during a replay with copytruncate
rotations loses only the lines written inside a copy-to-truncate window, and under a
writer without O_APPEND (each truncated file starts with a NUL hole) every such
truncation is a `truncated` row counting exactly the window's bytes."""

from __future__ import annotations

import os
import random
import re
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from armorwatch.parsers import schema as S
from armorwatch.sinks.store import open_store
from tests.harness.checker import Verdict, check, stored_serials
from tests.harness.replayer import PROFILE, Ledger, Replayer, paced
from tests.harness.soak import CONFIG
from tests.harness.soak import start_collector as collect

EVENTS = 12_000
TRUNCATE_EVERY = 600
WINDOW = 2
BLOCKS = 5


@dataclass(frozen=True)
class Run:
    """What one kill -9 replay wrote, destroyed and stored."""

    verdict: Verdict
    window: frozenset[int]
    kills: int
    copytruncated: list[tuple[int, int]]
    """(bytes the copy holds, size when truncated) per copytruncate."""
    losses: list[tuple[str, int, str]]
    """(kind, count, detail) of the store's loss rows."""


def kill9_copytruncate_run(tmp_path: Path, *, o_append: bool, seed: int) -> Run:
    """Replay EVENTS with a copytruncate every TRUNCATE_EVERY events (WINDOW events in
    each copy-to-truncate gap) while `armorwatch collect` is SIGKILLed at random points
    and restarted, then one `collect --once` catches up."""
    logdir = tmp_path / "log"
    logdir.mkdir()
    ledger_path = tmp_path / "ledger"
    replayer = Replayer(logdir, Ledger(ledger_path), num_logs=1000, o_append=o_append)
    cfg = tmp_path / "collect.toml"
    cfg.write_text(CONFIG.format(log=replayer.log))
    state, db = tmp_path / "state", tmp_path / "store.duckdb"
    rng = random.Random(seed)

    kills = 0

    def write() -> None:
        # BLOCKS parts, each begun only after one more kill: however slowly the
        # collector starts on this machine, kills land all through the replay. Truncations
        # fall mid-block (half a period off the block ends): the writer then always goes on
        # after one, so the collector can measure it. One followed by a pause longer than
        # the collector's wait is reported as a lower bound instead (README), which a
        # truncation right before the writer waits for a kill would make timing-dependent.
        written = 0
        for block in range(BLOCKS):
            while kills < block:
                time.sleep(0.01)
            for n in paced(EVENTS // BLOCKS, rate=1000, batch=50):
                replayer.write(n)
                written += n
                if (written + TRUNCATE_EVERY // 2) % TRUNCATE_EVERY < n:
                    replayer.rotate("copytruncate", window_events=WINDOW)
        replayer.ledger.close()
        replayer.close()

    writer = threading.Thread(target=write, name="replayer")
    writer.start()
    checkpoint = state / "collect.checkpoint.json"
    try:
        while writer.is_alive():
            started = time.time()
            proc = collect(cfg, state, db)
            # Kill a collector at work, not one still importing (startup takes ~1-2 s):
            # after its first checkpoint, at a random point.
            deadline = time.monotonic() + 15
            while writer.is_alive() and time.monotonic() < deadline:
                if checkpoint.exists() and checkpoint.stat().st_mtime >= started:
                    break
                time.sleep(0.02)
            time.sleep(rng.uniform(0.0, 1.0))
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            kills += 1
    finally:
        writer.join()
    final = collect(cfg, state, db, "--once")
    _out, err = final.communicate(timeout=120)
    assert 0 == final.returncode, err.decode(errors="replace")
    window = frozenset(replayer.ledger.window)
    con = open_store(db, read_only=True)
    try:
        losses = con.execute(f'SELECT "{S.KIND}", "{S.COUNT}", "{S.DETAIL}" FROM loss').fetchall()
    finally:
        con.close()
    verdict = check(Ledger.read(ledger_path), stored_serials(db, PROFILE), window)
    return Run(verdict, window, kills, replayer.copytruncated, losses)


def truncated_at(losses: list[tuple[str, int, str]]) -> dict[int, set[int]]:
    """Measured truncated rows by the size the file had when truncated: their counts."""
    out: dict[int, set[int]] = {}
    for kind, count, detail in losses:
        m = re.search(r"truncated at byte (\d+)", detail)
        if kind == S.LOSS_TRUNCATED and m:
            out.setdefault(int(m.group(1)), set()).add(count)
    return out


@pytest.mark.integration
class TestKill9Copytruncate:
    def test_stale_writer_loses_only_window_lines_and_counts_their_bytes(
        self, tmp_path: Path
    ) -> None:
        """kill -9 at random points while a writer without O_APPEND is copytruncated 20
        times: only the window events are missing, none is stored twice, and every
        truncation the writer wrote after is a row counting exactly the window's bytes."""
        run = kill9_copytruncate_run(tmp_path, o_append=False, seed=19)
        v = run.verdict
        assert run.kills >= BLOCKS - 1
        assert 20 == len(run.copytruncated)
        assert 20 * WINDOW == len(run.window)
        assert ((), (), 0) == (v.lost, v.unexpected, v.duplicates_final)
        assert EVENTS + 20 * WINDOW == v.written
        assert not {k for k, _c, _d in run.losses} - {S.LOSS_TRUNCATED}
        measured = truncated_at(run.losses)
        want = {at: {at - held} for held, at in run.copytruncated}
        assert want == {at: measured.get(at) for at in want}
        assert set(measured) <= {at for _held, at in run.copytruncated}

    def test_o_append_writer_loses_only_window_lines(self, tmp_path: Path) -> None:
        """The same replay with an O_APPEND writer: only the window events are missing
        and none is stored twice; truncated rows never claim more than the windows held."""
        run = kill9_copytruncate_run(tmp_path, o_append=True, seed=19)
        v = run.verdict
        assert run.kills >= BLOCKS - 1
        assert ((), (), 0) == (v.lost, v.unexpected, v.duplicates_final)
        assert EVENTS + 20 * WINDOW == v.written
        # Where an O_APPEND writer was is recorded nowhere: rows are lower bounds, and a
        # truncation met only while catching up through the copies has none (README).
        assert not {k for k, _c, _d in run.losses} - {S.LOSS_TRUNCATED}
        assert sum(c for _k, c, _d in run.losses) <= sum(a - h for h, a in run.copytruncated)
