"""The snapshot-copy keys of the pre-lake store are errors that say what replaced them."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest

from armorwatch.config import ConfigError, from_mapping
from armorwatch.sinks.duckdb import DuckDBConfig

ROOT = Path(__file__).resolve().parents[2]


class TestSnapshotKeysRemoved:
    @pytest.mark.parametrize(
        ("table", "key", "value", "argv"),
        [
            ("process", "snapshot_interval_s", "60.0", ["process", "--kafka", "127.0.0.1:1"]),
            ("run", "snapshot_path", '"/tmp/snap.duckdb"', ["run", "/dev/null"]),
        ],
    )
    def test_cli_refuses_the_key_in_one_line(
        self, tmp_path: Path, table: str, key: str, value: str, argv: list[str]
    ) -> None:
        """A config with a snapshot key stops the command with one line (exit 2) naming the
        dotted key and what replaced the snapshot copy; nothing is opened."""
        db = tmp_path / "a.duckdb"
        config = tmp_path / "armorwatch.toml"
        config.write_text(f'[{table}.store]\npath = "{db}"\n{key} = {value}\n')
        cmd = [sys.executable, "-m", "armorwatch.cli", argv[0], "--config", str(config), *argv[1:]]
        run = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=60)
        assert 2 == run.returncode
        lines = run.stderr.strip().splitlines()
        assert 1 == len(lines), run.stderr
        assert f"{table}.store.{key} was removed: readers read the lake itself" in lines[0]
        assert not db.exists()

    def test_fields_are_gone(self) -> None:
        """DuckDBConfig has no snapshot field left; from_mapping refuses both old keys."""
        names = {f.name for f in dataclasses.fields(DuckDBConfig)}
        assert [] == sorted(n for n in names if n.startswith("snapshot_"))
        for key in ("snapshot_path", "snapshot_interval_s"):
            with pytest.raises(ConfigError, match=rf"^store\.{key} was removed: "):
                from_mapping(DuckDBConfig, {key: 1}, "store.")
