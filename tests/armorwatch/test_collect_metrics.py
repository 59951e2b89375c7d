"""`armorwatch collect --metrics-addr`: the collector's counters are scraped over HTTP."""

from __future__ import annotations

from pathlib import Path

import pytest

from armorwatch import metrics
from armorwatch.assembly.daemons import collect
from armorwatch.cli import build_parser
from armorwatch.commands.collect import load_config, summary
from tests.armorwatch.test_metrics import scrape

SAMPLE = Path(__file__).resolve().parents[2] / "armorwatch" / "samples" / "audit.log"


@pytest.mark.integration
class TestCollectMetrics:
    async def test_once_run_is_scraped(self, tmp_path: Path) -> None:
        """After collecting the sample once, records, rejects and source lag are exposed."""
        cfg = tmp_path / "c.toml"
        cfg.write_text(f'[collect]\nsources = ["auditd"]\n[collect.auditd]\npath = "{SAMPLE}"\n')
        args = build_parser().parse_args(
            [
                *("collect", "--config", str(cfg), "--once", "--host", "node-7"),
                *("--state-dir", str(tmp_path / "st"), "--db", str(tmp_path / "c.duckdb")),
            ]
        )
        config = load_config(args)
        endpoint = metrics.MetricsServer("127.0.0.1:0")
        try:
            stats = await collect(config, config.sources, follow=False, endpoint=endpoint)
            got = scrape(endpoint)
        finally:
            endpoint.close()
        stored = sum(v for (name, _), v in got.items() if name == "armorwatch_records_total")
        assert "collected 74 MAC records" in summary(stats, config.sources)
        assert 74.0 == stored
        assert 1.0 == sum(v for (n, _), v in got.items() if n == "armorwatch_rejects_total")
        assert "node-7" == config.host
