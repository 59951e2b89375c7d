"""WebhookSink against a real HTTP receiver on 127.0.0.1: signing, retries, outbox, SSRF."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import orjson
import pytest
import standardwebhooks
from hypothesis import given, settings
from hypothesis import strategies as st

from armorwatch.sinks.errors import TerminalSinkError
from armorwatch.sinks.outbox import Outbox
from armorwatch.sinks.webhook import (
    AddressGuard,
    WebhookConfig,
    WebhookSink,
    backoff,
    parse_retry_after,
    render,
    sign,
)
from tests.sinks.webhook_server import receiver

SECRET = "whsec_" + base64.b64encode(b"armorwatch-test-secret-0123456789").decode()
LOOPBACK = ("127.0.0.1/32",)


def message(n: int = 1, summary: str = "3 denials of /etc/shadow") -> dict[str, Any]:
    """A minimal alert message as jobs.alerts builds it."""
    return {
        "schema": "armorwatch.alert/1",
        "id": f"msg_test{n}",
        "status": "firing",
        "summary": summary,
        "group": {"host": "web-01", "profile": "/usr/sbin/nginx"},
        "alerts": [{"rule": "sensitive", "summary": summary, "count": 3}],
    }


def config(tmp_path: Path, url: str, **kw: Any) -> WebhookConfig:
    """A fast-retrying config with the secret in a file and loopback allowed."""
    secret = tmp_path / "secret"
    if not secret.exists():
        secret.write_text(SECRET + "\n")
    values: dict[str, Any] = {
        "url": url,
        "secret_file": secret,
        "state_dir": tmp_path / "state",
        "backoff_base": 0.05,
        "backoff_max": 1.0,
        "timeout": 2.0,
        "allow_cidrs": LOOPBACK,
    }
    values.update(kw)
    return WebhookConfig(**values)


@asynccontextmanager
async def opened(cfg: WebhookConfig, **kw: Any) -> AsyncIterator[WebhookSink]:
    """An open WebhookSink, closed on exit."""
    sink = WebhookSink(cfg, **kw)
    await sink.open()
    try:
        yield sink
    finally:
        await sink.close()


async def wait_until(cond: Callable[[], bool], timeout: float = 10.0) -> bool:
    """Poll ``cond`` without blocking the event loop."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not cond():
        if loop.time() > end:
            return False
        await asyncio.sleep(0.01)
    return True


class TestSignature:
    def test_reference_verifies(self, tmp_path: Path) -> None:
        """A body signed by the sink verifies with the standardwebhooks reference library."""
        body = render(message(), "json")
        sig = sign(base64.b64decode(SECRET[6:]), "msg_1", "1700000000", body)
        ref = standardwebhooks.Webhook(SECRET)
        from datetime import UTC, datetime

        expected = ref.sign("msg_1", datetime.fromtimestamp(1700000000, tz=UTC), body.decode())
        assert expected == sig

    @pytest.mark.integration
    async def test_delivered_request_verifies(self, tmp_path: Path) -> None:
        """A request as received verifies with the reference and carries the stable schema."""
        with receiver() as rx:
            async with opened(config(tmp_path, rx.url)) as sink:
                assert True is await sink.send_alert(message())
                assert await rx.until(1)
            req = rx.requests[0]
        ref = standardwebhooks.Webhook(SECRET)
        payload = ref.verify(req.body, req.headers)
        assert "msg_test1" == req.headers["webhook-id"]
        assert "armorwatch.alert/1" == payload["schema"]
        tampered = req.body.replace(b"web-01", b"web-02")
        with pytest.raises(standardwebhooks.webhooks.WebhookVerificationError):
            ref.verify(tampered, req.headers)

    @pytest.mark.integration
    async def test_env_secret_raw_text(self, tmp_path: Path, monkeypatch: Any) -> None:
        """A secret without the whsec_ prefix from the environment signs with its UTF-8 bytes."""
        monkeypatch.setenv("AW_TEST_SECRET", "plain-secret")
        with receiver() as rx:
            cfg = config(tmp_path, rx.url, secret_file=None, secret_env="AW_TEST_SECRET")
            async with opened(cfg) as sink:
                await sink.send_alert(message())
                assert await rx.until(1)
        req = rx.requests[0]
        ref = standardwebhooks.Webhook(b"plain-secret")
        assert None is ref.verify(req.body, req.headers, json_parse=False)
        assert "plain-secret" not in repr(cfg)

    def test_url_not_in_repr(self, tmp_path: Path) -> None:
        """The URL (a token for Slack) never appears in the config's repr."""
        cfg = config(tmp_path, "https://hooks.example.com/services/T0/B0/SECRETTOKEN")
        assert "SECRETTOKEN" not in repr(cfg)


class TestRendering:
    def test_json_escapes_log_strings(self) -> None:
        """ESC, bidi overrides, line separators and lone surrogates are escaped in JSON."""
        evil = "/tmp/\x1b[31mred\u202efdp.exe\u2028x\udcff"
        body = render(message(summary=evil), "json")
        for raw in (b"\x1b", "\u202e".encode(), "\u2028".encode()):
            assert raw not in body
        assert "/tmp/\\x1b[31mred\\u202efdp.exe\\u2028x\\xff" == orjson.loads(body)["summary"]

    def test_slack_neutralises_mentions(self) -> None:
        """Slack control sequences from a log become entities."""
        body = orjson.loads(render(message(summary="<!channel> & <http://x|y>"), "slack"))
        assert "&lt;!channel&gt; &amp; &lt;http://x|y&gt;" == body["text"]
        assert "<" not in body["blocks"][1]["text"]["text"]

    def test_slack_carries_the_example_and_rule(self) -> None:
        """A Slack alert shows its example record (pid, comm, exe, escaped raw line) and rule."""
        msg = message()
        msg["alerts"][0].update(
            example={"ts": "2025-11-23T02:30:33Z", "pid": 812, "comm": "nginx",
                     "exe": "/usr/sbin/nginx", "raw": 'type=AVC msg=<!here> name="/etc/shadow"'},
            suggested_rule="/etc/shadow r,",
        )  # fmt: skip
        text = orjson.loads(render(msg, "slack"))["blocks"][1]["text"]["text"]
        assert "e.g. pid=812 comm=nginx exe=/usr/sbin/nginx" in text
        assert "msg=&lt;!here&gt;" in text and "<!here>" not in text
        assert "rule: `/etc/shadow r,`" in text


class TestRetries:
    def test_backoff_schedule(self) -> None:
        """Delays double from the base, stay within the jitter band and are capped."""
        assert [1.0, 2.0, 4.0, 8.0, 10.0] == [backoff(a, 1.0, 10.0, 0.2, 0.5) for a in range(1, 6)]
        assert 0.8 == backoff(1, 1.0, 10.0, 0.2, 0.0)
        assert 1.2 == pytest.approx(backoff(1, 1.0, 10.0, 0.2, 0.999999), rel=1e-5)

    def test_retry_after_forms(self) -> None:
        """Retry-After is read as delta-seconds or as an HTTP date."""
        assert 7.0 == parse_retry_after("7", 0.0)
        assert 60.0 == parse_retry_after("Thu, 01 Jan 1970 00:01:00 GMT", 0.0)
        assert None is parse_retry_after("soon", 0.0)

    @pytest.mark.integration
    async def test_5xx_then_success_same_id(self, tmp_path: Path) -> None:
        """Two 503s then 200: three attempts, one webhook-id, growing gaps."""
        with receiver(script=[(503, {}), (503, {})]) as rx:
            async with opened(config(tmp_path, rx.url, jitter=0.0)) as sink:
                await sink.send_alert(message())
                assert await rx.until(3)
                assert await wait_until(lambda: sink.stats.delivered == 1)
                assert 2 == sink.stats.retries
        ids = {r.headers["webhook-id"] for r in rx.requests}
        assert {"msg_test1"} == ids
        gap1 = rx.requests[1].at - rx.requests[0].at
        gap2 = rx.requests[2].at - rx.requests[1].at
        assert gap1 >= 0.045
        assert gap2 >= 0.095

    @pytest.mark.integration
    async def test_429_retry_after_honoured(self, tmp_path: Path) -> None:
        """A 429 with Retry-After: 1 delays the retry by about a second despite a tiny base."""
        with receiver(script=[(429, {"Retry-After": "1"})]) as rx:
            async with opened(config(tmp_path, rx.url, backoff_base=0.01)) as sink:
                await sink.send_alert(message())
                assert await rx.until(2)
                assert 1 == sink.stats.rate_limited
        assert rx.requests[1].at - rx.requests[0].at >= 0.95

    @pytest.mark.integration
    async def test_dead_letter_after_max_attempts(self, tmp_path: Path) -> None:
        """Always-500 moves the message to the dead-letter table after max_attempts."""
        with receiver(default=(500, {})) as rx:
            cfg = config(tmp_path, rx.url, max_attempts=3, backoff_base=0.01)
            async with opened(cfg) as sink:
                await sink.send_alert(message())
                assert await wait_until(lambda: sink.stats.dead_lettered == 1)
                assert 0 == sink.pending
        assert 3 == len(rx.requests)
        box = Outbox(cfg.state_dir / "outbox.sqlite")
        assert [("msg_test1", 3, "HTTP 500")] == [(i, a, e) for i, _, a, e in box.dead_items()]
        box.close()

    @pytest.mark.integration
    async def test_timeout_is_retried(self, tmp_path: Path) -> None:
        """A receiver slower than the timeout counts as a failed attempt and is retried."""
        with receiver(delay=0.4) as rx:
            cfg = config(tmp_path, rx.url, timeout=0.1, max_attempts=2, backoff_base=0.01)
            async with opened(cfg) as sink:
                await sink.send_alert(message())
                assert await wait_until(lambda: sink.stats.dead_lettered == 1)
                assert 1 == sink.stats.retries

    @pytest.mark.integration
    async def test_redirect_not_followed(self, tmp_path: Path) -> None:
        """A 302 to another URL (metadata or internal) is a failure; the target is never hit."""
        with receiver() as target:
            with receiver(default=(302, {"Location": target.url})) as rx:
                cfg = config(tmp_path, rx.url, max_attempts=2, backoff_base=0.01)
                async with opened(cfg) as sink:
                    await sink.send_alert(message())
                    assert await wait_until(lambda: sink.stats.dead_lettered == 1)
            assert 0 == len(target.requests)
        assert 2 == len(rx.requests)

    @pytest.mark.integration
    async def test_410_disables_endpoint(self, tmp_path: Path) -> None:
        """410 Gone disables the endpoint, across restarts; later alerts are dead-lettered."""
        with receiver(script=[(410, {})]) as rx:
            cfg = config(tmp_path, rx.url)
            async with opened(cfg) as sink:
                await sink.send_alert(message(1))
                assert await wait_until(lambda: sink.disabled)
            async with opened(cfg) as sink:
                assert sink.disabled
                await sink.send_alert(message(2))
                await asyncio.sleep(0.2)
                assert 1 == sink.stats.dead_lettered
        assert 1 == len(rx.requests)


class TestOutbox:
    @pytest.mark.integration
    async def test_restart_loses_nothing(self, tmp_path: Path) -> None:
        """Alerts pending while the receiver fails are all delivered after a restart."""
        with receiver(default=(503, {})) as down:
            cfg = config(tmp_path, down.url, backoff_base=0.3, jitter=0.0)
            async with opened(cfg) as sink:
                for n in range(5):
                    await sink.send_alert(message(n))
                assert await down.until(1)
                assert 5 == sink.pending
        with receiver() as up:
            cfg = config(tmp_path, up.url, backoff_base=0.3, jitter=0.0)
            async with opened(cfg) as sink:
                assert await up.until(5)
                assert await sink.drain(5.0)
        assert {f"msg_test{n}" for n in range(5)} == {r.headers["webhook-id"] for r in up.requests}

    @pytest.mark.integration
    async def test_duplicate_id_ignored(self, tmp_path: Path) -> None:
        """Submitting the same message id twice delivers it once."""
        with receiver() as rx:
            async with opened(config(tmp_path, rx.url)) as sink:
                assert True is await sink.send_alert(message())
                assert await sink.drain(5.0)
                assert False is await sink.send_alert(message())
                assert (1, 1) == (sink.stats.submitted, sink.stats.duplicates)
        assert 1 == len(rx.requests)

    @pytest.mark.integration
    async def test_full_outbox_blocks(self, tmp_path: Path) -> None:
        """With the outbox at capacity, send_alert waits instead of dropping."""
        with receiver(default=(503, {})) as rx:
            cfg = config(tmp_path, rx.url, outbox_capacity=2, backoff_base=30.0)
            async with opened(cfg) as sink:
                await sink.send_alert(message(1))
                await sink.send_alert(message(2))
                with pytest.raises(TimeoutError):
                    await asyncio.wait_for(sink.send_alert(message(3)), 0.3)
                assert 2 == sink.pending


class TestSSRF:
    @pytest.mark.parametrize(
        "address",
        [
            "127.0.0.1",
            "::1",
            "169.254.169.254",
            "fd00:ec2::254",
            "10.0.0.5",
            "172.16.3.4",
            "192.168.1.1",
            "100.64.0.1",
            "224.0.0.1",
            "ff02::1",
            "fe80::1",
            "0.0.0.0",
            "::ffff:127.0.0.1",
            "fc00::1",
        ],
    )
    def test_refused_addresses(self, address: str) -> None:
        """Loopback, link-local, private, CGNAT, multicast and metadata addresses are refused."""
        assert None is not AddressGuard().refusal(address)

    def test_public_allowed_and_allow_list(self) -> None:
        """A public address passes; an allow-list admits loopback but never metadata."""
        assert None is AddressGuard().refusal("93.184.216.34")
        guard = AddressGuard(["127.0.0.0/8", "169.254.0.0/16"])
        assert None is guard.refusal("127.0.0.1")
        assert None is not guard.refusal("169.254.169.254")

    @pytest.mark.parametrize("url", ["file:///etc/shadow", "gopher://127.0.0.1:70/", "ftp://x/"])
    async def test_schemes_refused(self, tmp_path: Path, url: str) -> None:
        """Only http and https URLs are accepted."""
        with pytest.raises(TerminalSinkError):
            await WebhookSink(config(tmp_path, url)).open()

    @pytest.mark.integration
    @pytest.mark.parametrize("host", ["localhost", "2130706433", "127.1", "[::ffff:127.0.0.1]"])
    async def test_loopback_names_blocked(self, tmp_path: Path, host: str) -> None:
        """Names and numeric forms resolving to loopback are refused without the allow-list."""
        with receiver() as rx:
            cfg = config(tmp_path, f"http://{host}:{rx.port}/hook", allow_cidrs=())
            async with opened(cfg) as sink:
                await sink.send_alert(message())
                assert await wait_until(lambda: sink.stats.blocked == 1)
                assert 1 == sink.stats.dead_lettered
        assert 0 == len(rx.requests)

    @pytest.mark.integration
    async def test_dns_rebinding_checked_per_connection(self, tmp_path: Path) -> None:
        """A name that first resolves to an allowed address and then to another is refused."""
        answers = iter([["127.0.0.1"], ["127.0.0.2"]])

        async def rebinding(host: str, port: int) -> list[str]:
            return next(answers)

        with receiver() as rx:
            cfg = config(tmp_path, f"http://rebind.test:{rx.port}/hook")
            async with opened(cfg, resolver=rebinding) as sink:
                await sink.send_alert(message(1))
                assert await wait_until(lambda: sink.stats.delivered == 1)
                # The receiver speaks HTTP/1.0 and closes: the next message dials anew.
                await sink.send_alert(message(2))
                assert await wait_until(lambda: sink.stats.blocked == 1)
        assert 1 == len(rx.requests)

    @pytest.mark.integration
    async def test_mixed_answer_refused(self, tmp_path: Path) -> None:
        """A name resolving to a public and a private address is refused as a whole."""

        async def mixed(host: str, port: int) -> list[str]:
            return ["127.0.0.1", "10.0.0.5"]

        with receiver() as rx:
            cfg = config(tmp_path, f"http://mixed.test:{rx.port}/hook")
            async with opened(cfg, resolver=mixed) as sink:
                await sink.send_alert(message())
                assert await wait_until(lambda: sink.stats.blocked == 1)
        assert 0 == len(rx.requests)


class TestRenderingProperty:
    @given(st.text(max_size=200), st.text(max_size=50))
    @settings(max_examples=300, deadline=None)
    def test_no_raw_controls(self, summary: str, profile: str) -> None:
        """Any log text yields bodies without raw controls or bidi, and Slack text without <>&."""
        msg = message(summary=summary)
        msg["group"] = {"host": "h", "profile": profile}
        for preset in ("json", "slack"):
            text = render(msg, preset).decode("utf-8")
            assert not any(
                ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 or c in "\u2028\u2029\u202e\u2066"
                for c in text
            )
        slack = orjson.loads(render(msg, "slack"))
        assert not set("<>") & set(slack["text"])
