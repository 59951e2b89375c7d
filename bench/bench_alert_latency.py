"""Alert latency on loopback: a denial written to the pipeline → the webhook received.

Runs, in one process and one run, side by side:

* **anchor: webhook only** — ``WebhookSink.send_alert`` (outbox commit + signed POST) of
  a ready notification → the receiver's ``do_POST``;
* **end to end** — ``InProcessTransport.send`` of an envelope holding one sensitive
  denial (``/etc/shadow``, a fresh host so it is a new alert group) → stored by
  ``DuckDBSink`` → ``AlertingObserver`` evaluates the bundled rules → ``WebhookSink`` →
  the receiver on 127.0.0.1. Background batches of ordinary denials (``--noise`` rows
  per probe, already-known signatures) keep the store and the window busy.

Times are ``time.monotonic()`` in the same process (the receiver is a thread), so no
clock skew. Output: a Markdown table (p50 / p99 / max in ms, and the ratio of the
end-to-end p50 to the anchor's) and, with ``--json FILE``, the raw latencies.

    .venv/bin/python bench/bench_alert_latency.py --probes 200
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import orjson  # noqa: E402

from armorwatch.alerting import AlertingObserver, load_rules  # noqa: E402
from armorwatch.jobs.alerts import AlertEngine, AlertState  # noqa: E402
from armorwatch.parsers import schema as S  # noqa: E402
from armorwatch.parsers.envelope import Envelope  # noqa: E402
from armorwatch.pipeline import InProcessTransport  # noqa: E402
from armorwatch.sinks.duckdb import DuckDBConfig, DuckDBSink  # noqa: E402
from armorwatch.sinks.webhook import WebhookConfig, WebhookSink  # noqa: E402
from tests.sinks.webhook_server import receiver  # noqa: E402

T0 = datetime(2025, 11, 20, 12, 0, tzinfo=UTC)


class Rows:
    """Denial rows with unique audit serials and advancing event time."""

    def __init__(self) -> None:
        self.serial = 0
        self.t = 0.0

    def row(self, host: str, name: str, profile: str = "/usr/sbin/nginx") -> dict[str, Any]:
        self.serial += 1
        self.t += 0.001
        return {
            S.TS: T0 + timedelta(seconds=self.t),
            S.SERIAL: self.serial,
            S.ORDINAL: 0,
            S.HOST: host,
            S.BOOT_ID: "b",
            S.SOURCE: S.SOURCE_AUDITLOG,
            S.RECORD_TYPE: "AVC",
            S.ORIGIN: S.ORIGIN_KERNEL,
            S.LSM: S.LSM_APPARMOR,
            S.APPARMOR: S.AA_DENIED,
            S.OPERATION: "open",
            S.CLASS: "file",
            S.PROFILE: profile,
            S.NAME: name,
            S.COMM: "nginx",
        }


def pct(values: list[float], p: float) -> float:
    """The p-th percentile (nearest rank) of values."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


async def anchor(tmp: Path, probes: int) -> list[float]:
    """Webhook-only latency: send_alert → received."""
    out = []
    with receiver() as rx:
        cfg = WebhookConfig(url=rx.url, state_dir=tmp / "anchor", allow_cidrs=("127.0.0.1/32",))
        sink = WebhookSink(cfg)
        await sink.open()
        for i in range(probes):
            start = time.monotonic()
            await sink.send_alert({"id": f"anchor_{i}", "summary": "x", "alerts": []})
            assert await rx.until(i + 1, 10.0)
            out.append(rx.requests[i].at - start)
            await asyncio.sleep(0.005)
        await sink.close()
    return out


async def end_to_end(tmp: Path, probes: int, noise: int) -> tuple[list[float], dict[str, Any]]:
    """Pipeline latency: transport.send of a sensitive denial → webhook received."""
    rows = Rows()
    latencies = []
    with receiver() as rx:
        sink = WebhookSink(
            WebhookConfig(url=rx.url, state_dir=tmp / "wh", allow_cidrs=("127.0.0.1/32",))
        )
        await sink.open()
        observer = AlertingObserver(
            AlertEngine(load_rules(), AlertState(tmp / "alerts.sqlite")), sink
        )
        store = DuckDBSink(DuckDBConfig(path=tmp / "bench.duckdb"))
        async with InProcessTransport(store, observers=[observer]) as transport:
            # Warm-up: the noise signatures become known (their first-seen alerts go out).
            warm = [rows.row("noise-01", f"/srv/www/{i % 50}.html") for i in range(noise)]
            await transport.send(Envelope(records=S.batch_from_rows(warm)))
            await observer.flush()
            await asyncio.sleep(0.5)
            base = len(rx.requests)
            for i in range(probes):
                noise_rows = [rows.row("noise-01", f"/srv/www/{j % 50}.html") for j in range(noise)]
                await transport.send(Envelope(records=S.batch_from_rows(noise_rows)))
                host = f"probe-{i:04d}"
                probe = S.batch_from_rows([rows.row(host, "/etc/shadow")])
                start = time.monotonic()
                await transport.send(Envelope(records=probe))
                deadline = time.monotonic() + 10.0
                got = None
                while got is None and time.monotonic() < deadline:
                    for req in rx.requests[base:]:
                        if orjson.loads(req.body)["group"].get("host") == host:
                            got = req.at
                            break
                    else:
                        await asyncio.sleep(0.002)
                if got is None:
                    raise RuntimeError(f"probe {host} never arrived")
                latencies.append(got - start)
        stats = {
            "evaluations": observer.engine.stats.evaluations,
            "batches": observer.engine.stats.batches,
            "rows": observer.engine.stats.rows,
            "webhook_delivered": sink.stats.delivered,
            "observer_errors": transport.observer_errors,
        }
        await observer.close()
    return latencies, stats


def row(name: str, values: list[float], anchor_p50: float) -> str:
    ms = [v * 1000 for v in values]
    p50 = statistics.median(ms)
    return (
        f"| {name} | {len(ms)} | {p50:.1f} | {pct(ms, 99):.1f} | {max(ms):.1f} | "
        f"{p50 / (anchor_p50 * 1000):.1f}x |"
    )


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="aw-bench-alerts-") as tmp:
        a = await anchor(Path(tmp), args.probes)
        e, stats = await end_to_end(Path(tmp), args.probes, args.noise)
    return {"anchor": a, "end_to_end": e, "stats": stats}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--probes", type=int, default=100, help="probe denials per row")
    parser.add_argument("--noise", type=int, default=500, help="noise rows sent before each probe")
    parser.add_argument("--json", type=Path, help="write the raw latencies here")
    args = parser.parse_args()
    result = asyncio.run(main_async(args))
    a50 = statistics.median(result["anchor"])
    print("| path | probes | p50 ms | p99 ms | max ms | p50 vs anchor |")
    print("|---|---:|---:|---:|---:|---:|")
    print(row("anchor: WebhookSink.send_alert → received", result["anchor"], a50))
    print(row("denial sent → stored → evaluated → received", result["end_to_end"], a50))
    print(f"\n{result['stats']}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
