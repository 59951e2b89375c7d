"""docker-compose.yml: valid against the Compose Specification, and wired to real files.

No container engine runs in CI, so the file is checked statically: the official JSON
schema (tests/data/compose-spec.json, see its NOTICE), the mounted files exist, the
configs load into the commands' dataclasses, and the webhook receiver answers.
"""

from __future__ import annotations

import copy
import http.client
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from armorwatch.commands.collect import CollectConfig
from armorwatch.commands.process import ProcessConfig
from armorwatch.config import from_mapping, load_toml
from tests.conftest import ROOT, free_port

COMPOSE = ROOT / "docker-compose.yml"
SCHEMA = ROOT / "tests" / "data" / "compose-spec.json"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    """The parsed docker-compose.yml."""
    return yaml.safe_load(COMPOSE.read_text())


@pytest.fixture(scope="module")
def validator() -> jsonschema.protocols.Validator:
    """A validator for the Compose Specification schema."""
    schema = json.loads(SCHEMA.read_text())
    # The file declares draft 2019-09 under a URL spelling jsonschema does not map.
    jsonschema.Draft201909Validator.check_schema(schema)
    return jsonschema.Draft201909Validator(schema)


def mounts(service: dict[str, Any]) -> list[tuple[Path, str]]:
    """(host path, container path) of the service's bind mounts of local files."""
    out = []
    for v in service.get("volumes", []):
        src, dst = v.split(":")[:2]
        if src.startswith("./"):
            out.append((ROOT / src, dst))
    return out


class TestComposeFile:
    def test_valid_against_the_compose_specification(
        self, compose: dict[str, Any], validator: jsonschema.protocols.Validator
    ) -> None:
        """docker-compose.yml has no schema errors."""
        assert [] == [e.message for e in validator.iter_errors(compose)]

    def test_schema_rejects_a_misspelt_key(
        self, compose: dict[str, Any], validator: jsonschema.protocols.Validator
    ) -> None:
        """The check has teeth: an unknown service key is an error."""
        broken = copy.deepcopy(compose)
        broken["services"]["kafka"]["enviroment"] = {}
        assert not validator.is_valid(broken)

    def test_services_are_kafka_collector_processor_webhook(
        self, compose: dict[str, Any]
    ) -> None:
        """The four services exist and Kafka is the official image in KRaft mode."""
        services = compose["services"]
        assert {"kafka", "collector", "processor", "webhook"} == set(services)
        assert services["kafka"]["image"].startswith("apache/kafka:")
        assert "broker,controller" == services["kafka"]["environment"]["KAFKA_PROCESS_ROLES"]

    def test_mounted_files_exist(self, compose: dict[str, Any]) -> None:
        """Every bind-mounted local path and the Dockerfile are in the repository."""
        missing = [
            str(src)
            for svc in compose["services"].values()
            for src, _ in mounts(svc)
            if not src.exists()
        ]
        missing += [
            svc["build"]["dockerfile"]
            for svc in compose["services"].values()
            if "build" in svc and not (ROOT / svc["build"]["dockerfile"]).is_file()
        ]
        assert [] == missing

    def test_collector_config_loads_and_reads_the_mounted_samples(
        self, compose: dict[str, Any]
    ) -> None:
        """collector.toml is a valid [collect] table whose log paths are mounted files."""
        data = load_toml(ROOT / "deploy" / "compose" / "collector.toml")
        config = from_mapping(CollectConfig, data["collect"], "collect.")
        assert config.kafka is not None
        assert "kafka:9092" == config.kafka.bootstrap_servers
        inside = {
            dst + "/" + f.name: f
            for src, dst in mounts(compose["services"]["collector"])
            if src.is_dir()
            for f in src.iterdir()
        }
        assert inside[str(config.auditd.path)].is_file()
        assert inside[str(config.kernlog.path)].is_file()
        assert ["collect", "--config", "/etc/armorwatch/collector.toml"] == compose["services"][
            "collector"
        ]["command"]

    def test_processor_config_loads(self, compose: dict[str, Any]) -> None:
        """processor.toml is a valid [process] table consuming the collector's topic."""
        data = load_toml(ROOT / "deploy" / "compose" / "processor.toml")
        config = from_mapping(ProcessConfig, data["process"], "process.")
        collect = load_toml(ROOT / "deploy" / "compose" / "collector.toml")["collect"]
        assert (collect["kafka"]["topic"],) == config.kafka.topics
        assert Path("/data/armorwatch.duckdb") == config.store.path

    def test_webhook_receiver_answers_204(self) -> None:
        """The receiver script accepts a POST with 204."""
        port = free_port()
        script = ROOT / "deploy" / "compose" / "webhook_receiver.py"
        proc = subprocess.Popen(
            [sys.executable, str(script)],
            env={"PORT": str(port)},
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 10
            while True:
                try:
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                    conn.request("POST", "/armorwatch", body=b"{}", headers={"webhook-id": "x"})
                    status = conn.getresponse().status
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)
            assert 204 == status
        finally:
            proc.kill()
            proc.wait()
