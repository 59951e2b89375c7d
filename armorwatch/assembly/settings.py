"""The one config model: a TOML file → ``PipelineConfig``, one frozen table per command.

One file may configure several commands (``[collect]``, ``[process]``, ``[run]``,
``[report]``); each command reads its own table, and the whole file is checked with the
rule every table follows: an unknown key, or an unknown top-level table, is an error
naming its dotted path. The store is ``store`` (``sinks.duckdb.DuckDBConfig``) in every
table; ``db = PATH`` stays accepted as short for ``store.path``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from armorwatch.alerting import AlertingConfig
from armorwatch.assembly import sources
from armorwatch.config import ConfigError, from_mapping, load_toml
from armorwatch.ingest.auditd_file import AuditdFileConfig
from armorwatch.ingest.collector import CollectorConfig
from armorwatch.ingest.journald import JournaldConfig
from armorwatch.ingest.kafka import KafkaSourceConfig
from armorwatch.ingest.kernlog import KernLogConfig
from armorwatch.ingest.kubernetes import KubernetesConfig
from armorwatch.jobs.report import ReportConfig
from armorwatch.pipeline import InProcessConfig
from armorwatch.profile_state import ProfileStateConfig
from armorwatch.sinks.duckdb import DuckDBConfig, UpkeepConfig
from armorwatch.sinks.kafka import KafkaConfig

STORE_ALIASES: dict[str, str] = {"db": "store.path"}
"""``db = PATH`` (the key ``collect`` and ``run`` had) is short for ``store.path``."""


@dataclass(frozen=True)
class CollectConfig:
    """What ``armorwatch collect`` reads and where it delivers (TOML table ``[collect]``)."""

    CONFIG_ALIASES: ClassVar[dict[str, str]] = STORE_ALIASES

    sources: tuple[str, ...] = ()
    """Sources to read: auditd, kernlog, journald. Empty: the authoritative one (--detect)."""
    state_dir: Path = Path("/var/lib/armorwatch")
    """Checkpoint and dead-letter directory."""
    store: DuckDBConfig = field(default_factory=DuckDBConfig)
    """The local DuckDB store records go to (default sink; ``db = PATH`` sets its path)."""
    dead_letter: Path | None = None
    """Dead-letter file for rejected lines; default ``<state_dir>/deadletter.jsonl``."""
    host: str | None = None
    """Host name stamped on records; default: the kernel's host name."""
    auditd: AuditdFileConfig = field(default_factory=AuditdFileConfig)
    """audit.log tailing."""
    kernlog: KernLogConfig = field(default_factory=KernLogConfig)
    """kern.log / syslog tailing."""
    journald: JournaldConfig = field(default_factory=JournaldConfig)
    """journalctl following."""
    collector: CollectorConfig = field(default_factory=CollectorConfig)
    """Queues, batching, retries, de-duplication."""
    transport: InProcessConfig = field(default_factory=InProcessConfig)
    """The in-process transport to the local store."""
    kafka: KafkaConfig | None = None
    """Ship to Kafka (``[collect.kafka]`` or --kafka) instead of the local DuckDB file."""
    alerts: AlertingConfig | None = None
    """Continuous alerting on each delivered envelope (``[collect.alerts]``); None: off."""
    profile_state: ProfileStateConfig = field(default_factory=ProfileStateConfig)
    """Loaded AppArmor profiles as metrics (``[collect.profile_state]``); off by default."""
    kubernetes: KubernetesConfig | None = None
    """Attribute records to containers and pods (``[collect.kubernetes]``); None: off."""

    def __post_init__(self) -> None:
        # Aliases become canonical names here, so everything after speaks one vocabulary.
        try:
            names = tuple(dict.fromkeys(sources.followed(n) for n in self.sources))
        except ConfigError as e:
            raise ConfigError(f"collect.sources: {e}") from None
        object.__setattr__(self, "sources", names)

    def source_settings(self, name: str) -> Any:
        """The ``[collect.NAME]`` settings of the followed kind ``name``."""
        return getattr(self, name)


@dataclass(frozen=True)
class ProcessConfig:
    """What ``armorwatch process`` consumes and where it stores (TOML table ``[process]``)."""

    CONFIG_ALIASES: ClassVar[dict[str, str]] = STORE_ALIASES

    kafka: KafkaSourceConfig = field(default_factory=KafkaSourceConfig)
    """Consumer settings (``[process.kafka]``, TLS/SASL under ``[process.kafka.security]``)."""
    store: DuckDBConfig = field(default_factory=DuckDBConfig)
    """DuckDB store settings (``[process.store]``)."""
    upkeep: UpkeepConfig = field(default_factory=UpkeepConfig)
    """Scheduled upkeep of the store while processing (``[process.upkeep]``: dedup window,
    retention, compaction; ``interval_s = 0`` turns it off)."""
    alerts: AlertingConfig | None = None
    """Continuous alerting on each stored batch (``[process.alerts]``); None: off."""


@dataclass(frozen=True)
class FileInput:
    """One log file read once (TOML: ``[[run.inputs]]``)."""

    path: Path
    """The file: audit.log, kern.log/syslog/messages, dmesg output or journalctl -o json."""
    kind: str = sources.AUTO
    """auditd (alias audit) | kernlog (alias syslog) | journal-json | auto (from the file
    name: ``*journal*``/``*json*`` → journal-json, ``kern*``/``syslog``/``messages``/``dmesg``
    → kernlog, else auditd)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", sources.file_kind(self.kind, self.path))


@dataclass(frozen=True)
class RunConfig:
    """What ``armorwatch run`` reads and where it writes (TOML table ``[run]``)."""

    CONFIG_ALIASES: ClassVar[dict[str, str]] = STORE_ALIASES

    inputs: tuple[FileInput, ...] = ()
    """Log files to read once; empty means the bundled sample logs."""
    store: DuckDBConfig = field(default_factory=DuckDBConfig)
    """The store (``db = PATH`` sets its path; re-running is idempotent)."""
    report_dir: Path = Path("armorwatch-report")
    """Where the report (HTML, Markdown, JSON) and suggested rules are written."""
    dead_letter: Path = Path("armorwatch-deadletter.jsonl")
    """Where lines the parser rejected are kept, raw bytes included."""
    transport: InProcessConfig = field(default_factory=InProcessConfig)
    """In-process transport settings."""
    host: str | None = None
    """Host name for records whose framing names none (audit.log without node=);
    None = this machine's host name."""


@dataclass(frozen=True)
class PipelineConfig:
    """A whole config file: one table per command that has settings."""

    collect: CollectConfig = field(default_factory=CollectConfig)
    process: ProcessConfig = field(default_factory=ProcessConfig)
    run: RunConfig = field(default_factory=RunConfig)
    report: ReportConfig = field(default_factory=ReportConfig)


def load(path: Path | None) -> PipelineConfig:
    """The config file at ``path`` (every table checked), or the defaults for None."""
    if path is None:
        return PipelineConfig()
    data = load_toml(path)
    try:
        return from_mapping(PipelineConfig, data)
    except ConfigError as e:
        raise ConfigError(f"{path}: {e}") from None
