"""`armorwatch parse`: formats, stdin, summary, exit codes."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from armorwatch.cli import main
from armorwatch.parsers import schema as S

SAMPLES = Path(__file__).resolve().parents[2] / "armorwatch" / "samples"


class TestParseCommand:
    def test_jsonl_keys_are_columns_and_nulls_are_omitted(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Each JSON line uses schema column names only and omits null columns."""
        out = tmp_path / "o.jsonl"
        assert 0 == main(["parse", "-o", str(out), str(SAMPLES / "kern.log")])
        rows = [orjson.loads(line) for line in out.read_bytes().splitlines()]
        assert 13 == len(rows)
        assert set().union(*rows) <= set(S.COLUMNS)
        assert all(None not in r.values() for r in rows)
        assert "13 records, 0 rejected lines" in capsys.readouterr().err

    def test_rejects_do_not_fail_the_run(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A file with a truncated record exits 0, counts it, and writes it to --rejects."""
        out, rej = tmp_path / "o.jsonl", tmp_path / "r.jsonl"
        argv = ["parse", "-o", str(out), "--rejects", str(rej), str(SAMPLES / "audit.log")]
        assert 0 == main(argv)
        assert "74 records, 1 rejected lines" in capsys.readouterr().err
        assert [S.REASON in r for r in map(orjson.loads, rej.read_bytes().splitlines())] == [True]

    def test_arrow_and_parquet_have_the_schema(self, tmp_path: Path) -> None:
        """--format arrow and parquet write MAC_SCHEMA with the same rows."""
        a, p = tmp_path / "o.arrow", tmp_path / "o.parquet"
        src = str(SAMPLES / "journal.json")
        assert 0 == main(["parse", "--format", "arrow", "-o", str(a), src])
        assert 0 == main(["parse", "--format", "parquet", "-o", str(p), src])
        table = pa.ipc.open_stream(a.read_bytes()).read_all()
        assert table.schema.equals(S.MAC_SCHEMA)
        assert table.num_rows == pq.read_table(p).num_rows == 10

    def test_stdin(
        self, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """FILE '-' reads standard input."""
        data = (SAMPLES / "kern.log").read_bytes()
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
        assert 0 == main(["parse", "-"])
        assert 13 == len(capsys.readouterr().out.splitlines())

    def test_missing_file_is_exit_2(self, tmp_path: Path) -> None:
        """An unreadable input is an I/O error: exit 2."""
        assert 2 == main(["parse", str(tmp_path / "absent.log")])

    def test_bad_format_is_a_usage_error(self) -> None:
        """An unknown --format is a usage error (argparse exits 2)."""
        with pytest.raises(SystemExit) as e:
            main(["parse", "--format", "csv", "x"])
        assert 2 == e.value.code

    def test_named_pipe_gives_the_same_arrow_bytes_as_the_file(self, tmp_path: Path) -> None:
        """A FIFO fed in 4 KiB writes by another process gives the regular file's exact bytes."""
        data = (SAMPLES / "audit.log").read_bytes() * 4  # > a 64 KiB pipe buffer
        (tmp_path / "file").mkdir()
        src = tmp_path / "file" / "audit.log"
        src.write_bytes(data)
        fifo = tmp_path / "audit.log"
        os.mkfifo(fifo)
        a, b = tmp_path / "file.arrow", tmp_path / "fifo.arrow"
        common = ["parse", "--format", "arrow", "--host", "h1"]
        assert 0 == main([*common, "-o", str(a), str(src)])
        dd = ["dd", f"if={src}", f"of={fifo}", "bs=4096", "status=none"]
        writer = subprocess.Popen(dd)
        try:
            assert 0 == main([*common, "-o", str(b), str(fifo)])
            assert 0 == writer.wait(timeout=60)
        finally:  # a failed read would leave dd blocked on the FIFO
            writer.kill()
            writer.wait()
        assert a.read_bytes() == b.read_bytes()
        assert pa.ipc.open_stream(b.read_bytes()).read_all().num_rows > 0


class TestProcessExit:
    def test_the_program_ends_without_teardown_and_loses_nothing(self, tmp_path: Path) -> None:
        """As a program, `parse` ends with os._exit after its exit handlers and a flush
        (cli._exit_now): the same Arrow bytes as in-process, on a file and on a pipe,
        the stderr summary and the JSON log handler's output all there, exit 0."""
        src = str(SAMPLES / "audit.log")
        common = ["parse", "--format", "arrow", "--host", "h1"]
        ref = tmp_path / "ref.arrow"
        assert 0 == main([*common, "-o", str(ref), src])  # in-process: main returns
        out = tmp_path / "out.arrow"
        program = [sys.executable, "-m", "armorwatch.cli", *common, "--log-format", "json"]
        done = subprocess.run([*program, "-o", str(out), src], capture_output=True, timeout=120)
        assert 0 == done.returncode, done.stderr
        assert ref.read_bytes() == out.read_bytes()
        assert b"armorwatch parse: " in done.stderr and b" records, " in done.stderr
        piped = subprocess.run([*program, src], capture_output=True, timeout=120)
        assert 0 == piped.returncode
        assert ref.read_bytes() == piped.stdout
