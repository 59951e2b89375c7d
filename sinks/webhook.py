"""Alert delivery over HTTP webhooks: signed, retried, persistent and SSRF-guarded.

``WebhookSink`` takes alert *messages* (plain JSON-able mappings built by
``jobs.alerts``; this package does not import jobs) and delivers each to one receiver:

- **Durable first.** ``send_alert`` renders the body once and commits it to a bounded
  SQLite outbox (``sinks.outbox``) before it returns: that return is the ack. A full
  outbox blocks the caller (backpressure). A restart resumes delivery from the file.
- **Standard Webhooks headers.** ``webhook-id`` (the message id, the same on every retry
  and after restarts), ``webhook-timestamp`` (unix seconds of the attempt) and
  ``webhook-signature`` = ``v1,`` + base64(HMAC-SHA256(secret, f"{id}.{ts}.{body}")).
  The secret comes from ``secret_file`` / ``secret_env``; a ``whsec_`` prefix means
  base64 as in the spec, anything else is used as its UTF-8 bytes.
- **Retries.** Exponential backoff with ±``jitter`` from ``backoff_base``, capped at
  ``backoff_max``; ``429`` waits for ``Retry-After`` (seconds or HTTP date, capped);
  ``3xx`` is a failure and is never followed; ``410 Gone`` disables the endpoint (kept
  across restarts) and dead-letters what is pending; timeouts per request. After
  ``max_attempts`` a message moves to the dead-letter table (``stats.dead_lettered``).
- **SSRF guard on the resolved address.** Only ``http``/``https``. The connection is
  made by a network backend that resolves the host itself, refuses the connection if any
  resolved address is loopback, link-local (incl. 169.254.169.254), private, CGNAT,
  multicast, reserved or otherwise not globally routable (or the cloud metadata
  addresses, always), and then connects to exactly the address it checked, so DNS
  rebinding cannot slip past. ``allow_cidrs`` admits internal receivers and tests.
  Environment proxies are ignored (``trust_env=False``) for the same reason.
- **Sanitised per target.** Every string in the message goes through
  ``parsers.sanitize`` for the preset's target (``for_json`` or ``for_slack``).

Errors::

    sinks.errors.SinkError
    ├── TransientSinkError   the outbox could not be written (disk full, locked)
    └── TerminalSinkError    bad configuration (scheme, secret), used after close
    AddressBlocked (OSError)  raised inside a connection attempt; the message is
                              dead-lettered at once and counted in ``stats.blocked``
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import email.utils
import hashlib
import hmac
import ipaddress
import logging
import os
import random
import socket
import sqlite3
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import httpcore
import httpx
import orjson

from armorwatch.parsers import sanitize
from armorwatch.sinks.base import SinkBase
from armorwatch.sinks.errors import TerminalSinkError, TransientSinkError
from armorwatch.sinks.outbox import Outbox, OutboxItem

log = logging.getLogger(__name__)

PRESETS: Final = ("json", "slack")
_DISABLED_KEY: Final = "disabled"
# Cloud metadata endpoints: refused even when an allow-list covers them.
_METADATA: Final = (
    ipaddress.ip_address("169.254.169.254"),
    ipaddress.ip_address("fd00:ec2::254"),
)
_CGNAT: Final = ipaddress.ip_network("100.64.0.0/10")
_SLACK_TEXT_MAX: Final = 2900  # Slack section text limit is 3000 characters

Resolver = Callable[[str, int], Awaitable[list[str]]]
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class WebhookConfig:
    """Settings of one webhook endpoint."""

    url: str = field(repr=False)
    """Receiver URL (http or https). Not printed: Slack URLs embed a token."""
    preset: str = "json"
    """Body format: ``json`` (the stable alert schema) or ``slack`` (incoming webhook)."""
    secret_file: Path | None = None
    """File holding the signing secret (``whsec_<base64>`` or raw text)."""
    secret_env: str | None = None
    """Environment variable holding the signing secret (used when secret_file is unset)."""
    state_dir: Path = Path("state/webhook")
    """Directory of the persistent outbox (``outbox.sqlite``)."""
    timeout: float = 15.0
    """Seconds for connect, write and read of one attempt."""
    max_attempts: int = 12
    """Attempts before a message is dead-lettered."""
    backoff_base: float = 5.0
    """Seconds before the first retry; doubles on each further failure."""
    backoff_max: float = 3600.0
    """Upper bound of one backoff delay, seconds."""
    jitter: float = 0.2
    """Relative random spread of each backoff delay (0.2 = ±20%)."""
    retry_after_max: float = 3600.0
    """Upper bound on a receiver's 429 Retry-After, seconds."""
    outbox_capacity: int = 10_000
    """Pending messages before ``send_alert`` blocks."""
    allow_cidrs: tuple[str, ...] = ()
    """Networks the SSRF guard admits although not public (tests, internal receivers)."""


@dataclass
class WebhookStats:
    """Counters read by the metrics endpoint."""

    submitted: int = 0
    """Messages accepted into the outbox."""
    duplicates: int = 0
    """Messages ignored because their id was already pending or dead-lettered."""
    attempts: int = 0
    """HTTP attempts made."""
    delivered: int = 0
    """Messages the receiver accepted (2xx)."""
    retries: int = 0
    """Failed attempts rescheduled."""
    rate_limited: int = 0
    """429 responses."""
    blocked: int = 0
    """Connections refused by the SSRF guard."""
    dead_lettered: int = 0
    """Messages moved to the dead-letter table."""
    disabled: int = 0
    """1 when the endpoint answered 410 Gone and is disabled."""


class AddressBlocked(OSError):
    """The SSRF guard refused to connect to a resolved address."""


def load_secret(config: WebhookConfig) -> bytes | None:
    """The signing key from ``secret_file`` / ``secret_env``, or None when neither is set."""
    raw: str | None = None
    if config.secret_file is not None:
        try:
            raw = config.secret_file.read_text("utf-8").strip()
        except OSError as e:
            raise TerminalSinkError(f"cannot read webhook secret_file: {e.strerror}") from None
    elif config.secret_env is not None:
        raw = os.environ.get(config.secret_env)
        if raw is None:
            raise TerminalSinkError(f"webhook secret_env {config.secret_env} is not set")
        raw = raw.strip()
    if raw is None:
        return None
    if raw.startswith("whsec_"):
        try:
            key = base64.b64decode(raw[len("whsec_") :] + "==", validate=False)
        except ValueError:
            raise TerminalSinkError("webhook secret after whsec_ is not base64") from None
    else:
        key = raw.encode("utf-8")
    if not key:
        raise TerminalSinkError("webhook secret is empty")
    return key


def sign(key: bytes, msg_id: str, timestamp: str, body: bytes) -> str:
    """The ``webhook-signature`` value: ``v1,`` + base64 HMAC-SHA256 of ``id.ts.body``."""
    mac = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256)
    return "v1," + base64.b64encode(mac.digest()).decode("ascii")


def backoff(attempt: int, base: float, cap: float, jitter: float, rand: float) -> float:
    """Delay before retry number ``attempt`` (1-based); ``rand`` uniform in [0, 1)."""
    delay = min(cap, base * (2 ** (attempt - 1)))
    return max(0.0, delay * (1.0 + jitter * (2.0 * rand - 1.0)))


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - now)


class AddressGuard:
    """Decides whether a resolved address may be connected to."""

    def __init__(self, allow_cidrs: Iterable[str] = ()) -> None:
        try:
            self._allow = tuple(ipaddress.ip_network(c, strict=False) for c in allow_cidrs)
        except ValueError as e:
            raise TerminalSinkError(f"webhook allow_cidrs: {e}") from None

    def refusal(self, address: str) -> str | None:
        """Why ``address`` is refused, or None when it may be used."""
        try:
            ip: IPAddress = ipaddress.ip_address(address.split("%", 1)[0])
        except ValueError:
            return f"{address!r} is not an IP address"
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        if ip in _METADATA:
            return f"{ip} is a cloud metadata address"
        if any(ip in net for net in self._allow):
            return None
        if ip.is_loopback:
            return f"{ip} is loopback"
        if ip.is_link_local:
            return f"{ip} is link-local"
        if ip.is_multicast:
            return f"{ip} is multicast"
        if isinstance(ip, ipaddress.IPv4Address) and ip in _CGNAT:
            return f"{ip} is carrier-grade NAT space"
        if ip.is_private:
            return f"{ip} is private"
        if not ip.is_global:
            return f"{ip} is not a public address"
        return None


async def system_resolver(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (getaddrinfo, TCP)."""
    infos = await asyncio.get_running_loop().getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
    )
    return [str(info[4][0]) for info in infos]


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """Resolves, checks every address, then connects to the checked one (pinned)."""

    def __init__(self, guard: AddressGuard, resolver: Resolver) -> None:
        self._guard = guard
        self._resolver = resolver
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        """Open a TCP stream to ``host`` only if all of its addresses pass the guard."""
        try:
            addresses = await asyncio.wait_for(self._resolver(host, port), timeout)
        except (OSError, TimeoutError) as e:
            raise httpcore.ConnectError(f"cannot resolve {host!r}: {e}") from e
        if not addresses:
            raise httpcore.ConnectError(f"{host!r} resolved to no address")
        # Any refused address refuses the name: a mixed answer is a rebinding tell.
        for address in addresses:
            why = self._guard.refusal(address)
            if why is not None:
                # Say how to admit an internal receiver on purpose (never a metadata address).
                hint = (
                    ""
                    if "metadata" in why
                    else "; to send there on purpose, allow its network: allow_cidrs in the "
                    "webhook config, or --allow CIDR with `armorwatch alerts test`"
                )
                raise AddressBlocked(f"refused {host!r}: {why}{hint}")
        return await self._inner.connect_tcp(
            addresses[0], port, timeout, local_address, socket_options
        )

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.AsyncNetworkStream:
        """Unix sockets are never a webhook target."""
        raise AddressBlocked("unix sockets are refused")

    async def sleep(self, seconds: float) -> None:
        """Delegate to the default backend."""
        await self._inner.sleep(seconds)


class GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx transport whose connection pool dials through ``GuardedBackend``."""

    def __init__(self, guard: AddressGuard, resolver: Resolver, max_connections: int = 4) -> None:
        super().__init__(trust_env=False)
        # httpx does not expose network_backend, so the pool is rebuilt with it; the rest
        # of AsyncHTTPTransport (request/response mapping, error mapping) is reused as is.
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            max_connections=max_connections,
            network_backend=GuardedBackend(guard, resolver),
        )


def render(message: Mapping[str, Any], preset: str) -> bytes:
    """The request body for ``message``, every string escaped for the preset's target."""
    if preset == "json":
        return orjson.dumps(_escape_tree(message, sanitize.for_json), option=orjson.OPT_SORT_KEYS)
    if preset == "slack":
        esc = sanitize.for_slack
        head = esc(sanitize.truncate(str(message.get("summary", "")), _SLACK_TEXT_MAX))
        lines = [
            "• "
            + esc(sanitize.truncate(str(a.get("summary", "")), 300))
            # how to act: the command that shows the records behind the alert, an example
            # record and the rule that would allow it
            + (f"\n  `{esc(str(a['investigate']))}`" if a.get("investigate") else "")
            + _slack_evidence(a, esc)
            for a in message.get("alerts", ())
            if isinstance(a, Mapping)
        ]
        detail = sanitize.truncate("\n".join(lines), _SLACK_TEXT_MAX) if lines else ""
        blocks: list[dict[str, Any]] = [
            {"type": "section", "text": {"type": "mrkdwn", "text": head or "armorwatch alert"}}
        ]
        if detail:
            blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": detail}})
        return orjson.dumps({"text": head, "blocks": blocks})
    raise TerminalSinkError(f"unknown webhook preset {preset!r}; one of {', '.join(PRESETS)}")


def _slack_evidence(alert: Mapping[str, Any], esc: Callable[[str], str]) -> str:
    """The example record (pid, comm, exe, raw line) and suggested rule of one alert, as
    Slack lines; empty when the alert has none."""
    out = ""
    ex = alert.get("example")
    if isinstance(ex, Mapping):
        who = " ".join(f"{k}={ex[k]}" for k in ("pid", "comm", "exe") if ex.get(k) is not None)
        if who:
            out += f"\n  e.g. {esc(sanitize.truncate(who, 200))}"
        if ex.get("raw"):
            out += f"\n  `{esc(sanitize.truncate(str(ex['raw']), 300))}`"
    if alert.get("suggested_rule"):
        out += f"\n  rule: `{esc(sanitize.truncate(str(alert['suggested_rule']), 200))}`"
    return out


def _escape_tree(value: Any, esc: Callable[[str], str]) -> Any:
    if isinstance(value, str):
        return esc(value)
    if isinstance(value, Mapping):
        return {esc(str(k)): _escape_tree(v, esc) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_escape_tree(v, esc) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, float):
        return value
    if isinstance(value, int):  # orjson raises above 64 bits
        return value if -(2**63) <= value < 2**64 else str(value)
    return esc(str(value))


class WebhookSink(SinkBase):
    """Delivers alert messages to one HTTP endpoint, at least once, from a durable outbox."""

    def __init__(
        self,
        config: WebhookConfig,
        *,
        resolver: Resolver = system_resolver,
        clock: Callable[[], float] = time.time,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.config = config
        self.stats = WebhookStats()
        self._resolver = resolver
        self._clock = clock
        self._rng = rng
        self._outbox: Outbox | None = None
        self._client: httpx.AsyncClient | None = None
        self._secret: bytes | None = None
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._space = asyncio.Event()
        self._idle = asyncio.Event()
        self._closed = False

    @property
    def pending(self) -> int:
        """Messages waiting in the outbox."""
        return self._outbox.pending() if self._outbox is not None else 0

    @property
    def disabled(self) -> bool:
        """Whether a 410 Gone disabled the endpoint."""
        return bool(self.stats.disabled)

    async def open(self) -> None:
        """Check the config, read the secret, open the outbox and start delivering."""
        if self._task is not None:
            return
        if self._closed:
            raise TerminalSinkError("webhook sink reopened after close")
        cfg = self.config
        url = httpx.URL(cfg.url)
        if url.scheme not in ("http", "https") or not url.host:
            raise TerminalSinkError("webhook url must be http:// or https:// with a host")
        if cfg.preset not in PRESETS:
            raise TerminalSinkError(f"unknown webhook preset {cfg.preset!r}")
        if cfg.max_attempts < 1 or cfg.outbox_capacity < 1:
            raise TerminalSinkError("webhook max_attempts and outbox_capacity must be >= 1")
        self._secret = load_secret(cfg)
        if self._secret is None and cfg.preset == "json":
            log.warning("Webhook has no secret_file/secret_env: requests go out unsigned.")
        try:
            self._outbox = Outbox(cfg.state_dir / "outbox.sqlite")
        except sqlite3.Error as e:
            raise TerminalSinkError(f"cannot open webhook outbox: {e}") from e
        if self._outbox.get_meta(_DISABLED_KEY):
            self.stats.disabled = 1
        self._client = httpx.AsyncClient(
            transport=GuardedTransport(AddressGuard(cfg.allow_cidrs), self._resolver),
            timeout=httpx.Timeout(cfg.timeout),
            follow_redirects=False,
            trust_env=False,
        )
        self._task = asyncio.create_task(self._run(), name="webhook-delivery")

    async def send_alert(self, message: Mapping[str, Any]) -> bool:
        """Commit one message to the outbox (the ack); False if its id was already there.

        Blocks while the outbox is full. With the endpoint disabled (410) the message
        goes straight to the dead-letter table, counted, so nothing is lost silently.
        """
        if self._closed or self._outbox is None:
            raise TerminalSinkError("send_alert on a webhook sink that is not open")
        msg_id = str(message.get("id") or "")
        if not msg_id:
            raise TerminalSinkError("alert message has no id")
        body = render(message, self.config.preset)
        while self._outbox.pending() >= self.config.outbox_capacity and not self._closed:
            self._space.clear()
            await self._space.wait()
        try:
            added = self._outbox.put(msg_id, body, self._clock())
            if added and self.disabled:
                self._outbox.bury(msg_id, 0, "endpoint disabled by 410 Gone", self._clock())
                self.stats.dead_lettered += 1
        except sqlite3.Error as e:
            raise TransientSinkError(f"webhook outbox write failed: {e}") from e
        if not added:
            self.stats.duplicates += 1
            return False
        self.stats.submitted += 1
        self._idle.clear()
        self._wake.set()
        return True

    async def drain(self, timeout: float) -> bool:
        """Wait until nothing is pending (or the endpoint is disabled); False on timeout."""
        deadline = time.monotonic() + timeout
        while self.pending and not self.disabled:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self._idle.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._idle.wait(), min(left, 0.05))
        return True

    async def close(self) -> None:
        """Stop delivering (pending messages stay in the outbox) and release resources."""
        if self._closed:
            return
        self._closed = True
        self._space.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._client is not None:
            await self._client.aclose()
        if self._outbox is not None:
            self._outbox.close()

    async def _run(self) -> None:
        assert self._outbox is not None
        while True:
            self._wake.clear()
            item = None if self.disabled else self._outbox.next_due()
            if item is None:
                self._idle.set()
                await self._wake.wait()
                continue
            delay = item.next_at - self._clock()
            if delay > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), delay)
                continue
            try:
                await self._attempt(item)
            except sqlite3.Error:
                # The outbox is unwritable (disk full?): keep the message, try again later.
                log.exception("Webhook outbox update failed; retrying in 1 s.")
                await asyncio.sleep(1.0)

    async def _attempt(self, item: OutboxItem) -> None:
        assert self._outbox is not None and self._client is not None
        attempt = item.attempts + 1
        self.stats.attempts += 1
        ts = str(int(self._clock()))
        headers = {
            "content-type": "application/json",
            "user-agent": "armorwatch-webhook",
            "webhook-id": item.id,
            "webhook-timestamp": ts,
        }
        if self._secret is not None:
            headers["webhook-signature"] = sign(self._secret, item.id, ts, item.body)
        try:
            # Streamed and never read: a hostile receiver cannot make us buffer its body.
            async with self._client.stream(
                "POST", self.config.url, content=item.body, headers=headers
            ) as resp:
                status = resp.status_code
                retry_after = resp.headers.get("retry-after")
        except AddressBlocked as e:
            self.stats.blocked += 1
            log.error("Webhook %s refused by the SSRF guard: %s.", item.id, e)
            self._bury(item, attempt, f"blocked: {e}")
            return
        except httpx.HTTPError as e:
            self._failed(item, attempt, f"{type(e).__name__}: {e}", None)
            return
        if 200 <= status < 300:
            self._outbox.delivered(item.id, self._clock())
            self.stats.delivered += 1
            self._space.set()
        elif status == 410:
            self._disable(item)
        elif status == 429:
            self.stats.rate_limited += 1
            wait = parse_retry_after(retry_after, self._clock())
            if wait is not None:
                wait = min(wait, self.config.retry_after_max)
            self._failed(item, attempt, "HTTP 429", wait)
        else:
            self._failed(item, attempt, f"HTTP {status}", None)

    def _failed(self, item: OutboxItem, attempt: int, error: str, wait: float | None) -> None:
        assert self._outbox is not None
        cfg = self.config
        if attempt >= cfg.max_attempts:
            log.error("Webhook %s dead-lettered after %d attempts: %s.", item.id, attempt, error)
            self._bury(item, attempt, error)
            return
        if wait is None:
            wait = backoff(attempt, cfg.backoff_base, cfg.backoff_max, cfg.jitter, self._rng())
        self._outbox.retry(item.id, attempt, self._clock() + wait, error)
        self.stats.retries += 1
        log.warning(
            "Webhook %s attempt %d failed (%s); retry in %.2f s.", item.id, attempt, error, wait
        )

    def _bury(self, item: OutboxItem, attempt: int, error: str) -> None:
        assert self._outbox is not None
        self._outbox.bury(item.id, attempt, error, self._clock())
        self.stats.dead_lettered += 1
        self._space.set()

    def _disable(self, item: OutboxItem) -> None:
        assert self._outbox is not None
        log.error("Webhook endpoint answered 410 Gone; disabled, pending alerts dead-lettered.")
        self._outbox.set_meta(_DISABLED_KEY, "410")
        self.stats.disabled = 1
        self.stats.dead_lettered += self._outbox.bury_all(
            "endpoint disabled by 410 Gone", self._clock()
        )
        self._space.set()
        self._idle.set()
