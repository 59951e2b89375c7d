"""Drive the real collector as a separate process under faults, then check the ledger.

``run_soak`` is the harness both the fast test (tests/reliability/test_kill9.py) and
``make soak`` use: a replayer writes auditd lines at ``rate`` events/s and rotates
like auditd every ``rotate_every`` seconds, while ``armorwatch collect`` is killed
with SIGKILL at random points and restarted; at the end one ``collect --once``
catches up and the checker compares the ledger with DuckDB.

    python -m tests.harness.soak --seconds 600 --rate 2000 --kills 60

prints the figures for README's reliability section.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from tests.harness.checker import Verdict, check, stored_serials
from tests.harness.replayer import PROFILE, Ledger, Replayer, paced

CONFIG = """
[collect]
sources = ["auditd"]
[collect.auditd]
path = "{log}"
poll_interval = 0.02
rotate_wait = 0.05
backfill = true
[collect.collector]
idle_flush = 0.1
checkpoint_interval = 0.0
"""


def start_collector(cfg: Path, state: Path, db: Path, *extra: str) -> subprocess.Popen[bytes]:
    """``armorwatch collect`` as a child process (same interpreter as the caller)."""
    return subprocess.Popen(
        [
            *(sys.executable, "-m", "armorwatch.cli", "collect", "--config", str(cfg)),
            *("--state-dir", str(state), "--db", str(db), *extra),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


@dataclass(frozen=True)
class SoakResult:
    """Load held, faults injected, and the checker's verdict."""

    seconds: float
    rate: float
    rotations: int
    kills: int
    verdict: Verdict


def run_soak(
    work: Path,
    *,
    events: int,
    rate: float,
    kills: int,
    rotate_every: int = 2000,
    kill_after: tuple[float, float] = (0.3, 1.2),
    seed: int = 1,
) -> SoakResult:
    """Write ``events`` at ``rate``/s with rotations; SIGKILL the collector ``kills`` times.

    The writer keeps going until both the events are written and the kills are done, so
    every kill lands while data is flowing.
    """
    logdir = work / "log"
    logdir.mkdir(parents=True)
    ledger_path = work / "ledger"
    replayer = Replayer(logdir, Ledger(ledger_path), num_logs=1000)
    cfg = work / "collect.toml"
    cfg.write_text(CONFIG.format(log=replayer.log))
    state, db = work / "state", work / "store.duckdb"
    rng = random.Random(seed)
    done_killing = threading.Event()

    def write() -> None:
        written = 0
        for n in paced(events, rate=rate, batch=max(1, int(rate // 20))):
            replayer.write(n)
            written += n
            if written % rotate_every < n:
                replayer.rotate("auditd")
        # Keep a trickle going until the last kill, so no kill hits an idle collector.
        while not done_killing.is_set():
            replayer.write(1)
            time.sleep(0.01)
        replayer.ledger.close()
        replayer.close()

    start = time.monotonic()
    writer = threading.Thread(target=write, name="replayer")
    writer.start()
    done = 0
    try:
        while done < kills:
            proc = start_collector(cfg, state, db)
            time.sleep(rng.uniform(*kill_after))
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            done += 1
    finally:
        done_killing.set()
        writer.join()
    final = start_collector(cfg, state, db, "--once")
    _out, err = final.communicate(timeout=600)
    if final.returncode != 0:
        raise RuntimeError(f"final collect failed: {err.decode(errors='replace')}")
    verdict = check(Ledger.read(ledger_path), stored_serials(db, PROFILE))
    return SoakResult(
        seconds=time.monotonic() - start,
        rate=rate,
        rotations=replayer.rotations,
        kills=done,
        verdict=verdict,
    )


def main() -> int:
    """Run a soak and print its figures; exit 1 when anything was lost or doubled."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--events", type=int, default=600_000, help="events to write")
    ap.add_argument("--rate", type=float, default=2000.0, help="events per second")
    ap.add_argument("--kills", type=int, default=60, help="SIGKILLs of the collector")
    ap.add_argument("--rotate-every", type=int, default=20_000, help="events between rotations")
    ap.add_argument("--kill-after", type=float, nargs=2, default=(2.0, 8.0), metavar=("MIN", "MAX"))
    ap.add_argument("--dir", type=Path, default=None, help="work directory (default: a temp dir)")
    args = ap.parse_args()
    work = args.dir or Path(tempfile.mkdtemp(prefix="armorwatch-soak-"))
    r = run_soak(
        work,
        events=args.events,
        rate=args.rate,
        kills=args.kills,
        rotate_every=args.rotate_every,
        kill_after=tuple(args.kill_after),
    )
    v = r.verdict
    print("| duration | load | rotations | kill -9 | written | stored rows | lost | D_final |")
    print("|---|---|---|---|---|---|---|---|")
    print(
        f"| {r.seconds:.0f} s | {r.rate:.0f} events/s (3 lines each) | {r.rotations} | {r.kills} "
        f"| {v.written} | {v.stored_rows} | {len(v.lost)} | {v.duplicates_final} |"
    )
    return 0 if not v.lost and not v.duplicates_final and not v.unexpected else 1


if __name__ == "__main__":
    sys.exit(main())
