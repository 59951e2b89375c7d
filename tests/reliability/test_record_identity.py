"""Each record is stored exactly once, however its event is grouped, split, cut or replayed.

The store keys a record by (host, boot_id, ts, serial, record_type, md5(raw)): its own bytes
inside its audit(ts:serial), never its position in the event. These tests write audit.log
the way auditd does (no node= by default, SYSCALL/PROCTITLE/EOE after the AVCs) and break
the grouping every way the world does: clock steps, interleaved hosts, rotations and pauses
inside an event, crashes and replays, reboots that restart serials.
"""

from __future__ import annotations

import asyncio
import itertools
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from armorwatch.ingest.auditd_file import AuditdFileConfig, AuditdFileSource
from armorwatch.ingest.checkpoint import CheckpointStore
from armorwatch.ingest.collector import Collector, CollectorConfig
from armorwatch.parsers import fast
from armorwatch.parsers import schema as S
from armorwatch.parsers.envelope import Envelope
from armorwatch.parsers.result import HostInfo
from armorwatch.parsers.stream import Parser
from armorwatch.pipeline import InProcessTransport
from armorwatch.sinks.duckdb import DuckDBConfig, DuckDBSink
from armorwatch.sinks.store import open_store

CORPORA = Path(__file__).resolve().parents[2].parent / "shared" / "corpora"
HOST = HostInfo("h1", "m" * 32, "b" * 32)


def avc(ts: float, serial: int, name: str, node: str | None = None) -> bytes:
    """A kernel AppArmor AVC record line as auditd's RAW format writes it."""
    prefix = f"node={node} " if node else ""
    return (
        f'{prefix}type=AVC msg=audit({ts:.3f}:{serial}): apparmor="DENIED" operation="open" '
        f'class="file" profile="/usr/sbin/ntpd" name="{name}" pid=812 comm="ntpd" '
        f'requested_mask="r" denied_mask="r" fsuid=0 ouid=0\n'
    ).encode()


def tail(ts: float, serial: int, node: str | None = None) -> list[bytes]:
    """The SYSCALL, PROCTITLE and EOE records that end an event."""
    prefix = f"node={node} " if node else ""
    h = f"{prefix}type=%s msg=audit({ts:.3f}:{serial}): "
    return [
        (h % "SYSCALL").encode()
        + b"arch=c000003e syscall=257 success=no exit=-13 a0=ffffff9c a1=7ffd1 a2=0 a3=0 "
        b"items=0 ppid=1 pid=812 auid=4294967295 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 "
        b'sgid=0 fsgid=0 tty=(none) ses=4294967295 comm="ntpd" exe="/usr/sbin/ntpd" '
        b"subj=unconfined key=(null)\n",
        (h % "PROCTITLE").encode() + b"proctitle=6E747064\n",
        (h % "EOE").encode() + b"\n",
    ]


DAEMON_START = (
    b"type=DAEMON_START msg=audit(%d.000:%d): op=start ver=3.1.2 format=raw "
    b"kernel=6.1.0-13-amd64 auid=4294967295 pid=%d uid=0 ses=4294967295 "
    b"subj=unconfined res=success\n"
)


def stored(db: Path, sql: str = "SELECT count(*), count(DISTINCT raw) FROM records") -> tuple:
    """One row of a read-only query on the store."""
    con = open_store(db, read_only=True)
    try:
        row = con.execute(sql).fetchone()
        assert row is not None
        return tuple(row)
    finally:
        con.close()


def run_cli(tmp: Path, *files: Path) -> subprocess.CompletedProcess[str]:
    """`armorwatch run FILES --db tmp/s.duckdb` as a user runs it."""
    exe = Path(sys.executable).with_name("armorwatch")
    return subprocess.run(
        [str(exe), "run", *map(str, files), "--db", str(tmp / "s.duckdb"),
         "--report-dir", str(tmp / "report")],
        capture_output=True, text=True, timeout=120, cwd=tmp,
    )  # fmt: skip


class TestThroughRun:
    def test_clock_step_inside_an_event_keeps_both_avcs(self, tmp_path: Path) -> None:
        """An AVC 300 s ahead, then an event with two AVCs at the earlier time: 3 stored."""
        log = tmp_path / "audit.log"
        t = 1700000000.101
        log.write_bytes(
            avc(t + 300, 500, "/etc/ssl/private/k.pem")
            + avc(t, 42, "/etc/shadow")
            + avc(t, 42, "/etc/gshadow")
            + b"".join(tail(t, 42))
        )
        res = run_cli(tmp_path, log)
        assert (0, "") == (res.returncode, res.stderr)
        assert (3, 3) == stored(tmp_path / "s.duckdb")

    def test_interleaved_hosts_with_equal_serials_are_all_kept(self, tmp_path: Path) -> None:
        """Two hosts' events with the same serial, records interleaved: every AVC stored."""
        log = tmp_path / "audit.log"
        t = 1700000000.5
        lines = []
        for serial in range(1, 6):
            lines += [avc(t, serial, "/a", "web-01"), avc(t, serial, "/a", "web-02")]
            lines += [avc(t, serial, "/b", "web-01")]
            lines += tail(t, serial, "web-02") + tail(t, serial, "web-01")
            t += 0.001
        log.write_bytes(b"".join(lines))
        res = run_cli(tmp_path, log)
        assert 0 == res.returncode, res.stderr
        assert (15, 15) == stored(tmp_path / "s.duckdb")

    def test_serial_reset_after_reboot_with_clock_set_back(self, tmp_path: Path) -> None:
        """audit(T:42), DAEMON_START, reboot, clock set back, audit(T:42) again: both kept."""
        log = tmp_path / "audit.log"
        t = 1700000000.101
        boot1 = DAEMON_START % (1699999990, 1, 600) + avc(t, 42, "/etc/shadow") + b"".join(
            tail(t, 42)
        )
        boot2 = DAEMON_START % (1699999990, 1, 611) + avc(t, 42, "/etc/shadow") + b"".join(
            tail(t, 42)
        )
        log.write_bytes(boot1 + boot2)
        assert 0 == run_cli(tmp_path, log).returncode
        assert (2, 2) == stored(
            tmp_path / "s.duckdb", "SELECT count(*), count(DISTINCT boot_id) FROM records"
        )
        assert 0 == run_cli(tmp_path, log).returncode  # a replay adds nothing
        assert (2,) == stored(tmp_path / "s.duckdb", "SELECT count(*) FROM records")

    def test_journald_entries_reread_in_another_field_order_are_stored_once(
        self, tmp_path: Path
    ) -> None:
        """journalctl prints fields in a new order on every run: a re-read adds nothing."""
        import orjson

        def entries(reverse: bool) -> bytes:
            out = b""
            for serial in range(1, 6):
                entry = {
                    "__CURSOR": f"s=1;i={serial}",
                    "__REALTIME_TIMESTAMP": f"17000000{serial:02d}101000",
                    "_BOOT_ID": "0123456789abcdef0123456789abcdef",
                    "_HOSTNAME": "h1",
                    "_TRANSPORT": "audit",
                    "_AUDIT_TYPE": "1400",
                    "_AUDIT_ID": str(serial),
                    "MESSAGE": avc(1700000000.101, serial, "/etc/shadow").decode().strip(),
                }
                items = sorted(entry.items(), reverse=reverse)
                out += orjson.dumps(dict(items)) + b"\n"
            return out

        log = tmp_path / "journal.json"
        log.write_bytes(entries(reverse=False))
        assert 0 == run_cli(tmp_path, log).returncode
        log.write_bytes(entries(reverse=True))
        assert 0 == run_cli(tmp_path, log).returncode
        assert (5, 5) == stored(tmp_path / "s.duckdb")

    @pytest.mark.corpus
    def test_sepolgen_interleaved_log_stores_every_record(self, tmp_path: Path) -> None:
        """sepolgen's audit2allow test.log (hosts interleaved): stored == parsed."""
        src = CORPORA / "selinux-sepolgen-audit2allow"
        logs = sorted(src.rglob("test.log")) if src.is_dir() else []
        if not logs:
            pytest.skip("../shared/corpora/selinux-sepolgen-audit2allow absent")
        from armorwatch.parsers.stream import parse_bytes

        parsed = parse_bytes(logs[0].read_bytes(), S.SOURCE_AUDITLOG, HOST)
        assert 0 == run_cli(tmp_path, logs[0]).returncode
        n = parsed.records.num_rows
        assert (n, n) == stored(
            tmp_path / "s.duckdb",
            "SELECT count(*), count(DISTINCT (host, boot_id, ts, serial, record_type, raw)) "
            "FROM records",
        )


async def follow(log: Path, db: Path, state: Path, steps: list[tuple[str, object]]) -> None:
    """Run the real collector on ``log`` while ``steps`` write, rotate and pause."""
    source = AuditdFileSource(AuditdFileConfig(path=log, poll_interval=0.01, rotate_wait=0.5))
    store = DuckDBSink(DuckDBConfig(path=db))
    await store.open()
    config = CollectorConfig(idle_flush=0.5, checkpoint_interval=0.0)
    async with InProcessTransport(store) as channel:
        collector = Collector([source], channel, CheckpointStore(state / "cp.json"), HOST, config)
        task = asyncio.create_task(collector.run(follow=True))
        for kind, arg in steps:
            if kind == "write":
                with log.open("ab") as f:
                    f.write(arg)  # type: ignore[arg-type]
            elif kind == "rotate":  # auditd: rename, then a new file
                log.rename(log.with_name(log.name + ".1"))
                log.touch()
            elif kind == "sleep":
                await asyncio.sleep(arg)  # type: ignore[arg-type]
        await asyncio.sleep(1.5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


class TestThroughTheCollector:
    async def test_rotation_between_two_records_of_one_event(self, tmp_path: Path) -> None:
        """auditd rotates after the first AVC of an event: the second is stored too."""
        t = 1700000000.101
        log = tmp_path / "audit.log"
        log.touch()
        steps: list[tuple[str, object]] = [
            ("write", avc(t, 7, "/etc/shadow")),
            ("sleep", 0.3),
            ("rotate", None),
            ("write", avc(t, 7, "/etc/gshadow") + b"".join(tail(t, 7))),
        ]
        await follow(log, tmp_path / "s.duckdb", tmp_path, steps)
        assert (2, 2) == stored(tmp_path / "s.duckdb")

    @pytest.mark.parametrize("gap", [0.3, 1.5])
    async def test_records_of_one_event_written_apart(self, tmp_path: Path, gap: float) -> None:
        """A second AVC of the same event after an idle drain is stored, not dropped."""
        t = 1700000000.101
        log = tmp_path / "audit.log"
        log.touch()
        steps: list[tuple[str, object]] = []
        for serial in range(1, 6):
            steps += [("write", avc(t, serial, "/etc/shadow")), ("sleep", gap)]
            steps += [("write", avc(t, serial, "/etc/gshadow") + b"".join(tail(t, serial)))]
        await follow(log, tmp_path / "s.duckdb", tmp_path, steps)
        assert (10, 10) == stored(tmp_path / "s.duckdb")


# --- property: any interleaving, cut, pause and crash stores each record once ------------
@st.composite
def streams(draw: st.DrawFn) -> tuple[list[bytes], list[int], dict[int, str], str]:
    """Lines of several events in any order, rotation points, pauses/crashes, an engine."""
    n_events = draw(st.integers(1, 6))
    lines: list[bytes] = []
    base = 1700000000.0
    for serial in range(1, n_events + 1):
        ts = base + draw(st.sampled_from([0.0, 0.001, 1.0, 3.0, 300.0, -300.0]))
        node = draw(st.sampled_from([None, None, "web-02"]))
        names = draw(st.lists(st.sampled_from(["/a", "/b", "/c", "/etc/shadow"]), min_size=1,
                              max_size=3, unique=True))  # fmt: skip
        lines += [avc(ts, serial, name, node) for name in names] + tail(ts, serial, node)
        if draw(st.booleans()) and serial == 2:
            lines.append(DAEMON_START % (1700000100, 1, 4242))
    order = draw(st.permutations(range(len(lines))))
    shuffled = [lines[i] for i in order] if draw(st.booleans()) else lines
    cuts = sorted(set(draw(st.lists(st.integers(1, len(lines)), max_size=3))))
    actions = draw(st.dictionaries(st.integers(0, len(lines) - 1),
                                   st.sampled_from(["pause", "crash"]), max_size=4))  # fmt: skip
    engine = draw(st.sampled_from(["python", "c"] if fast.available() else ["python"]))
    return shuffled, cuts, actions, engine


def pipeline(lines: list[bytes], cuts: list[int], actions: dict[int, str], engine: str) -> list:
    """What reaches the store when a collector reads ``lines`` split into rotated files.

    Mirrors ``ingest.collector``: one parser per file, the open events drained at a pause,
    the checkpoint (file, safe offset, boot id) taken from what was acknowledged. A crash
    acknowledges only the first half of what is pending and restarts from the checkpoint.
    """
    bounds = [0, *cuts, len(lines)]
    files = [lines[a:b] for a, b in itertools.pairwise(bounds) if b > a]
    first_line = [sum(len(f) for f in files[:i]) for i in range(len(files))]
    acked: list[pa.RecordBatch] = []
    cp = (0, 0, HOST.boot_id)
    crashed: set[int] = set()
    while True:
        seg, offset, boot = cp
        pending: list[tuple[pa.RecordBatch, tuple[int, int, str | None]]] = []
        restart = False
        for s in range(seg, len(files)):
            parser = Parser(S.SOURCE_AUDITLOG, HostInfo(HOST.host, HOST.machine_id, boot),
                            engine=engine)  # fmt: skip
            pos = 0
            for i, line in enumerate(files[s]):
                if pos + len(line) <= (offset if s == seg else 0):
                    pos += len(line)
                    continue
                res = parser.feed(line, pos)
                pos += len(line)
                pending.append((res.records, (s, res.safe_offset or 0, parser.boot_id)))
                action = actions.get(first_line[s] + i)
                if action == "pause":
                    res = parser.drain()
                    pending.append((res.records, (s, res.safe_offset or 0, parser.boot_id)))
                elif action == "crash" and first_line[s] + i not in crashed:
                    crashed.add(first_line[s] + i)
                    keep = pending[: len(pending) // 2]
                    acked += [b for b, _ in keep]
                    if keep:
                        cp = keep[-1][1]
                    restart = True
                    break
            if restart:
                break
            res = parser.flush()
            boot = parser.boot_id
            pending.append((res.records, (s + 1, 0, boot)))
        if not restart:
            acked += [b for b, _ in pending]
            return acked


# 25 examples: each creates a store and commits per batch (2-9 s on a busy 2-core
# machine); the collector's own cut points and restarts are explored by the property
# tests of tests/ingest (test_statemachine.py, test_truncation_loss.py).
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(streams())
def test_any_order_cut_pause_and_crash_stores_each_record_once(
    tmp_path_factory: pytest.TempPathFactory,
    case: tuple[list[bytes], list[int], dict[int, str], str],
) -> None:
    """Whatever the order, rotation points, pauses and crashes, every AVC is stored once."""
    lines, cuts, actions, engine = case
    batches = [b for b in pipeline(lines, cuts, actions, engine) if b.num_rows]
    db = tmp_path_factory.mktemp("p") / "s.duckdb"

    async def store() -> None:
        async with DuckDBSink(DuckDBConfig(path=db)) as sink:
            for b in batches:
                await sink.send(Envelope(b))

    asyncio.run(store())
    want = {line.rstrip(b"\n") for line in lines if b" type=AVC " in b" " + line}
    con = open_store(db, read_only=True)
    try:
        rows = [bytes(r[0]) for r in con.execute("SELECT raw FROM records").fetchall()]
    finally:
        con.close()
    assert sorted(want) == sorted(rows)
