"""docker-compose.yml: valid against the Compose Specification, and wired to real files.

No container engine runs in CI, so the file is checked statically: the official JSON
schema (tests/data/compose-spec.json, see its NOTICE), the mounted files exist, the
configs load into the commands' dataclasses, and the webhook receiver answers.
"""

from __future__ import annotations

import copy
import http.client
import json
import re
import subprocess
import sys
import time
import urllib.parse
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

    def test_services_are_kafka_postgres_collector_processor_webhook(
        self, compose: dict[str, Any]
    ) -> None:
        """The five services exist; Kafka (KRaft) and PostgreSQL are the official images."""
        services = compose["services"]
        assert {"kafka", "postgres", "collector", "processor", "webhook"} == set(services)
        assert services["kafka"]["image"].startswith("apache/kafka:")
        assert "broker,controller" == services["kafka"]["environment"]["KAFKA_PROCESS_ROLES"]
        assert services["postgres"]["image"].startswith("postgres:")

    def test_postgres_is_healthchecked_and_keeps_its_data(self, compose: dict[str, Any]) -> None:
        """pg_isready gates the processors; the cluster lives in a named volume."""
        pg = compose["services"]["postgres"]
        assert "pg_isready" in " ".join(pg["healthcheck"]["test"])
        assert "postgres-data:/var/lib/postgresql/data" in pg["volumes"]
        assert "postgres-data" in compose["volumes"]
        depends = compose["services"]["processor"]["depends_on"]
        assert "service_healthy" == depends["postgres"]["condition"]

    def test_two_processors_write_one_lake(self, compose: dict[str, Any]) -> None:
        """Two replicas of one processor config (one consumer group) share one named data
        volume, and the topic has a partition for each of them."""
        proc = compose["services"]["processor"]
        assert 2 == proc["deploy"]["replicas"]
        named = [v.split(":") for v in proc["volumes"] if not v.startswith("./")]
        assert [["lake-data", "/data"]] == named
        assert "lake-data" in compose["volumes"]
        collect = load_toml(ROOT / "deploy" / "compose" / "collector.toml")["collect"]
        assert collect["kafka"]["partitions"] >= proc["deploy"]["replicas"]

    def test_catalog_password_is_shared_by_environment_only(self, compose: dict[str, Any]) -> None:
        """The processors get the postgres password as PGPASSWORD from the same variable;
        no config file holds it."""
        services = compose["services"]
        assert (
            services["postgres"]["environment"]["POSTGRES_PASSWORD"]
            == services["processor"]["environment"]["PGPASSWORD"]
        )
        lines = (ROOT / "deploy" / "compose" / "processor.toml").read_text().splitlines()
        text = "\n".join(ln for ln in lines if not ln.lstrip().startswith("#"))
        assert not re.search(r"password|postgresql://[^@/]*:[^@/]*@", text, re.IGNORECASE)

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

    def test_processor_store_is_the_postgres_service_lake(self, compose: dict[str, Any]) -> None:
        """The store URL names the postgres service's database and user, and a data path
        inside the volume every processor mounts."""
        data = load_toml(ROOT / "deploy" / "compose" / "processor.toml")
        url = urllib.parse.urlsplit(data["process"]["store"]["path"])
        env = compose["services"]["postgres"]["environment"]
        assert ("postgresql", "postgres") == (url.scheme, url.hostname)
        assert (env["POSTGRES_USER"], env["POSTGRES_DB"]) == (url.username, url.path.strip("/"))
        (data_path,) = urllib.parse.parse_qs(url.query)["data_path"]
        mounts = [v.split(":")[1] for v in compose["services"]["processor"]["volumes"]]
        assert any(data_path.startswith(m + "/") for m in mounts if not m.startswith("/etc"))

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
