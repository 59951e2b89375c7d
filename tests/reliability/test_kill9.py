"""kill -9 of the collector process at random points, 20+ times: lost = 0, D_final = 0."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.harness.soak import run_soak


@pytest.mark.integration
class TestCollectorKill9:
    def test_twenty_kills_during_rotating_replay(self, tmp_path: Path) -> None:
        """Twenty SIGKILLs during a replay with auditd rotations lose and double nothing."""
        result = run_soak(tmp_path, events=15_000, rate=2_500, kills=20, rotate_every=1_500)
        v = result.verdict
        assert 20 == result.kills
        assert result.rotations >= 9
        assert ((), (), 0) == (v.lost, v.unexpected, v.duplicates_final)
        assert v.written >= 15_000
