"""Wiring of continuous alerting: stored envelopes → ``jobs.alerts`` → ``sinks.webhook``.

``AlertingObserver`` is an observer for ``armorwatch.pipeline.InProcessTransport``
(``observers=[observer]``) and for the Kafka processor: it is awaited with each envelope
*after* the store acknowledged it, evaluates the rules on that batch, and hands every
notification due to the ``WebhookSink`` outbox (durable) before recording it as sent in
the alert state. A background task checks dead-man timers every ``tick_s``.

Order on each notification: outbox commit, then group state commit. A crash between
the two re-plans the same notification id after restart and the outbox ignores it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from armorwatch.config import ConfigError, from_mapping, load_toml
from jobs.alerts import (
    AlertEngine,
    AlertError,
    AlertRules,
    AlertState,
    Notification,
    default_rules_text,
)
from parsers.envelope import Envelope
from sinks.webhook import WebhookConfig, WebhookSink

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AlertingConfig:
    """The ``[alerts]`` table of a pipeline config."""

    rules_file: Path | None = None
    """TOML rules file; None uses the bundled jobs/alert_rules.toml."""
    state_dir: Path = Path("state/alerts")
    """Directory of the alert state (groups, signatures, heartbeats)."""
    tick_s: float = 10.0
    """Seconds between dead-man checks."""
    webhook: WebhookConfig | None = None
    """Where notifications go; None only logs them."""


def load_rules(path: Path | None = None) -> AlertRules:
    """Rules from a TOML file, or the bundled defaults; ConfigError names what is wrong."""
    data: dict[str, Any] = load_toml(path) if path else tomllib.loads(default_rules_text())
    try:
        return from_mapping(AlertRules, data)
    except AlertError as e:
        raise ConfigError(f"{path or 'default rules'}: {e}") from None
    except ConfigError as e:
        raise ConfigError(f"{path or 'default rules'}: {e}") from None


class AlertingObserver:
    """Evaluates alert rules on each stored envelope and delivers what is due."""

    def __init__(
        self,
        engine: AlertEngine,
        sink: WebhookSink | None,
        *,
        tick_s: float = 10.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.engine = engine
        self.sink = sink
        self._tick_s = tick_s
        self._clock = clock
        self._lock = asyncio.Lock()
        self._ticker: asyncio.Task[None] | None = None
        self.sent: list[Notification] = []
        """Notifications handed off by this process (the latest 100; for CLI and tests)."""

    async def __call__(self, envelope: Envelope) -> None:
        """Observer entry point: evaluate one stored envelope."""
        async with self._lock:
            planned = await asyncio.to_thread(
                self.engine.observe, envelope.records, envelope.loss, self._clock()
            )
            await self._deliver(planned)

    async def tick(self) -> None:
        """Run the dead-man check once."""
        async with self._lock:
            planned = await asyncio.to_thread(self.engine.tick, self._clock())
            await self._deliver(planned)

    async def start(self) -> None:
        """Start the periodic dead-man check."""
        if self._ticker is None:
            self._ticker = asyncio.create_task(self._tick_loop(), name="alerts-deadman")

    async def close(self) -> None:
        """Stop the ticker, close the sink, the window and the state."""
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
            self._ticker = None
        if self.sink is not None:
            await self.sink.close()
        self.engine.close()
        self.engine.state.close()

    async def _tick_loop(self) -> None:
        while True:
            await asyncio.sleep(self._tick_s)
            try:
                await self.tick()
            except Exception:
                log.exception("The dead-man alert check failed.")

    async def _deliver(self, planned: list[tuple[str, Notification]]) -> None:
        for key, notification in planned:
            if self.sink is not None:
                await self.sink.send_alert(notification.as_message())
            else:
                log.warning("Alert (no webhook configured): %r", notification.summary)
            self.engine.grouper.commit(key, notification)
            self.sent.append(notification)
            del self.sent[:-100]


async def open_alerting(config: AlertingConfig) -> AlertingObserver:
    """Build and start the observer (rules, state, webhook sink) from its config."""
    rules = load_rules(config.rules_file)
    state = AlertState(config.state_dir / "alerts.sqlite")
    sink = None
    if config.webhook is not None:
        sink = WebhookSink(config.webhook)
        await sink.open()
    observer = AlertingObserver(AlertEngine(rules, state), sink, tick_s=config.tick_s)
    await observer.start()
    return observer
