"""A real HTTP receiver on 127.0.0.1 for webhook tests and the alert-latency benchmark.

``Receiver`` runs ``http.server.ThreadingHTTPServer`` in a thread, records every request
(time, headers, body) and answers from a script: a list of ``(status, headers)`` used in
order, then ``default``.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Received:
    """One request the receiver saw."""

    at: float
    """time.monotonic() when the body was read."""
    wall: float
    """time.time() when the body was read."""
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """Scripted responses and the requests seen."""

    script: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    default: tuple[int, dict[str, str]] = (200, {})
    delay: float = 0.0
    requests: list[Received] = field(default_factory=list)
    port: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    arrived: threading.Condition = field(default_factory=threading.Condition)

    @property
    def url(self) -> str:
        """Base URL of the receiver."""
        return f"http://127.0.0.1:{self.port}/hook"

    def wait_for(self, n: int, timeout: float = 10.0) -> bool:
        """Block the calling thread until ``n`` requests arrived; False on timeout."""
        with self.arrived:
            return self.arrived.wait_for(lambda: len(self.requests) >= n, timeout)

    async def until(self, n: int, timeout: float = 10.0) -> bool:
        """Wait (without blocking the event loop) until ``n`` requests arrived."""
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while len(self.requests) < n:
            if loop.time() > end:
                return False
            await asyncio.sleep(0.005)
        return True


def _handler(rx: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length)
            if rx.delay:
                time.sleep(rx.delay)
            with rx.lock:
                status, headers = rx.script.pop(0) if rx.script else rx.default
            rec = Received(
                time.monotonic(),
                time.time(),
                self.path,
                {k.lower(): v for k, v in self.headers.items()},
                body,
            )
            with rx.arrived:
                rx.requests.append(rec)
                rx.arrived.notify_all()
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


@contextmanager
def receiver(
    script: list[tuple[int, dict[str, str]]] | None = None,
    default: tuple[int, dict[str, str]] = (200, {}),
    delay: float = 0.0,
) -> Iterator[Receiver]:
    """A running receiver on a free 127.0.0.1 port, shut down on exit."""
    rx = Receiver(script=list(script or []), default=default, delay=delay)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(rx))
    server.daemon_threads = True
    rx.port = int(server.server_address[1])
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield rx
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
