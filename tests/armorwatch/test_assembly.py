"""`armorwatch.assembly`: one config model, one loader rule, one source registry."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from armorwatch.assembly import settings, sources
from armorwatch.assembly.settings import CollectConfig, FileInput, PipelineConfig
from armorwatch.config import ConfigError, from_mapping
from armorwatch.ingest.auditd_file import AuditdFileSource
from armorwatch.ingest.journal_json import JournalJsonFileSource
from armorwatch.ingest.journald import JournaldSource
from armorwatch.ingest.kernlog import KernLogSource


def write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "armorwatch.toml"
    path.write_text(body)
    return path


class TestLoader:
    def test_one_file_configures_every_command(self, tmp_path: Path) -> None:
        """[collect], [process], [run] and [report] load from one file into one model."""
        path = write(
            tmp_path,
            '[collect]\nsources = ["kernlog"]\n[process.store]\npath = "p.duckdb"\n'
            '[run]\nreport_dir = "r"\n[report]\nsince = "7d"\n',
        )
        config = settings.load(path)
        assert (("kernlog",), Path("p.duckdb"), Path("r"), "7d") == (
            config.collect.sources,
            config.process.store.path,
            config.run.report_dir,
            config.report.since,
        )

    def test_no_file_is_the_defaults(self) -> None:
        """Without --config every table has its defaults."""
        assert PipelineConfig() == settings.load(None)

    def test_unknown_table_is_an_error_for_every_command(self, tmp_path: Path) -> None:
        """A top-level table no command reads is named, with the file, like any unknown key."""
        path = write(tmp_path, "[collect]\n[colect]\nsources = []\n")
        with pytest.raises(ConfigError, match=r"armorwatch\.toml: unknown key\(s\) colect"):
            settings.load(path)

    def test_unknown_nested_key_names_its_path(self, tmp_path: Path) -> None:
        """A typo inside a command's table is reported with its dotted path."""
        path = write(tmp_path, "[run.store]\npth = 'x'\n")
        with pytest.raises(ConfigError, match=r"run\.store\.pth"):
            settings.load(path)


class TestStoreShape:
    @pytest.mark.parametrize("table", ["collect", "run", "process"])
    def test_db_is_short_for_store_path(self, tmp_path: Path, table: str) -> None:
        """`db = PATH` in any command's table sets its store's path."""
        config = settings.load(write(tmp_path, f'[{table}]\ndb = "x.duckdb"\n'))
        assert Path("x.duckdb") == getattr(config, table).store.path

    def test_db_and_store_path_together_are_an_error(self) -> None:
        """Setting the store's path twice is refused, naming both spellings."""
        with pytest.raises(ConfigError, match=r"collect\.db and collect\.store\.path"):
            from_mapping(CollectConfig, {"db": "a", "store": {"path": "b"}}, "collect.")

    def test_db_beside_other_store_settings(self) -> None:
        """`db` joins a [collect.store] table that sets other keys."""
        config = from_mapping(CollectConfig, {"db": "a", "store": {"batch_rows": 7}})
        assert (Path("a"), 7) == (config.store.path, config.store.batch_rows)


class TestSourceRegistry:
    def test_collect_aliases_become_canonical(self) -> None:
        """`audit` and `syslog` (run's words) name auditd and kernlog in [collect] too."""
        config = CollectConfig(sources=("audit", "syslog", "auditd"))
        assert ("auditd", "kernlog") == config.sources

    def test_collect_refuses_a_file_only_kind(self) -> None:
        """journal-json is read once by `run`; collect says so instead of ignoring it."""
        with pytest.raises(ConfigError, match=r"collect\.sources: .*journal-json.*`run`"):
            CollectConfig(sources=("journal-json",))

    def test_file_kind_refuses_journald(self) -> None:
        """journald is followed through journalctl, not read from a file."""
        with pytest.raises(ConfigError, match="journalctl"):
            FileInput(Path("x.json"), kind="journald")

    @pytest.mark.parametrize(
        ("name", "kind"),
        [
            ("audit.log", "auditd"),
            ("kern.log", "kernlog"),
            ("syslog.1", "kernlog"),
            ("dmesg.txt", "kernlog"),
            ("export.json", "journal-json"),
            ("syslog-journal.txt", "journal-json"),
            ("whatever", "auditd"),
        ],
    )
    def test_auto_kind_from_the_file_name(self, name: str, kind: str) -> None:
        """`auto` picks the kind from the file name; journal beats syslog; else audit.log."""
        assert kind == FileInput(Path(name)).kind

    def test_every_kind_builds_its_source(self, tmp_path: Path) -> None:
        """The registry builds followed sources from [collect.NAME] and files read once."""
        config = CollectConfig()
        followed = [sources.follow_source(n, config.source_settings(n)) for n in sources.FOLLOWED]
        files = [
            sources.file_source(k, tmp_path / "f", f"input{i}")
            for i, k in enumerate(("auditd", "kernlog", "journal-json"))
        ]
        assert [AuditdFileSource, KernLogSource, JournaldSource] == [type(s) for s in followed]
        assert [AuditdFileSource, KernLogSource, JournalJsonFileSource] == [
            type(s) for s in files
        ]
        assert ["auditd", "kernlog", "journald", "input0"] == [
            s.name for s in [*followed, files[0]]
        ]


class TestReadme:
    def test_readme_config_examples_load(self) -> None:
        """README's [run] and [collect] examples load through the one loader."""
        readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
        blocks = [b.split("```", 1)[0] for b in readme.split("```toml\n")[1:]]
        examples = [b for b in blocks if b.startswith(("[run]", "[collect]"))]
        assert 2 == len(examples)
        for body in examples:
            assert isinstance(from_mapping(PipelineConfig, tomllib.loads(body)), PipelineConfig)
