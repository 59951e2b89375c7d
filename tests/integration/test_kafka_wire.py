"""The Kafka wire format without a broker: IPC encode/decode, splitting, poison, secrets."""

from __future__ import annotations

import dataclasses
import os

import pyarrow as pa
import pytest

from ingest import kafka as ik
from parsers import schema as S
from parsers.envelope import Envelope
from sinks import kafka as sk
from sinks.errors import TerminalSinkError


def rows(n: int, raw_bytes: int = 40, host: str = "h1") -> pa.RecordBatch:
    """``n`` MAC records with distinct keys and ``raw_bytes`` of incompressible raw."""
    return S.batch_from_rows(
        [
            {
                S.HOST: host,
                S.BOOT_ID: "b1",
                S.SERIAL: i,
                S.RECORD_TYPE: "AVC",
                S.ORDINAL: 0,
                S.PROFILE: f"/usr/bin/p{i % 13}",
                S.COMM: f"c{i}",
                S.RAW: os.urandom(raw_bytes),
            }
            for i in range(n)
        ]
    )


class TestEncode:
    def test_roundtrip_keeps_rows_headers_and_key(self) -> None:
        """An envelope's records and loss come back equal, keyed by host, with headers."""
        loss = S.batch_from_rows(
            [{S.HOST: "h1", S.KIND: S.LOSS_KERNEL_LOST, S.COUNT: 3}], S.LOSS_SCHEMA
        )
        env = Envelope(records=rows(10), loss=loss, meta={"host": "h1", "source": "audit.log"})
        messages, splits = sk.encode_envelope(env, sk.KafkaConfig())
        assert 0 == splits
        assert [b"h1", b"h1"] == [m.key for m in messages]
        decoded = [ik.decode(m.value) for m in messages]
        assert env.records.equals(decoded[0])
        assert loss.equals(decoded[1])
        headers = dict(messages[0].headers)
        assert str(S.SCHEMA_VERSION).encode() == headers[S.SCHEMA_VERSION_KEY.decode()]
        assert b"records" == headers[sk.HEADER_KIND]
        assert b"audit.log" == headers[sk.HEADER_META_PREFIX + "source"]

    def test_oversize_batch_is_split_never_dropped(self) -> None:
        """A batch above max_message_bytes becomes several messages holding every row."""
        batch = rows(2000, raw_bytes=200)
        config = sk.KafkaConfig(max_message_bytes=64 * 1024, compression="none")
        messages, splits = sk.encode_envelope(Envelope(records=batch), config)
        assert 1 == splits
        assert all(len(m.value) <= config.max_message_bytes for m in messages)
        back = pa.Table.from_batches([ik.decode(m.value) for m in messages])
        assert batch.to_pylist() == back.to_pylist()
        assert [f"{i + 1}/{len(messages)}".encode() for i in range(len(messages))] == [
            dict(m.headers)[sk.HEADER_PART] for m in messages
        ]

    def test_one_row_above_the_limit_is_a_terminal_error(self) -> None:
        """A single row that cannot fit raises instead of being dropped."""
        config = sk.KafkaConfig(max_message_bytes=16 * 1024, compression="none")
        with pytest.raises(TerminalSinkError, match="one row"):
            sk.encode_envelope(Envelope(records=rows(1, raw_bytes=20_000)), config)

    def test_arrow_zstd_is_smaller_than_uncompressed(self) -> None:
        """The default IPC zstd compression shrinks a realistic batch."""
        raw = b'type=AVC apparmor="DENIED" ' * 8
        batch = S.batch_from_rows([{S.HOST: "h", S.SERIAL: i, S.RAW: raw} for i in range(500)])
        sizes = {}
        for c in ("none", "arrow-zstd"):
            messages, _ = sk.encode_envelope(Envelope(records=batch), sk.KafkaConfig(compression=c))
            sizes[c] = len(messages[0].value)
        assert sizes["arrow-zstd"] * 3 < sizes["none"]


class TestDecode:
    def test_garbage_is_poison(self) -> None:
        """Bytes that are no IPC stream raise PoisonMessage."""
        with pytest.raises(ik.PoisonMessage, match="not an Arrow IPC stream"):
            ik.decode(b"\x00garbage")

    def test_other_schema_version_is_poison(self) -> None:
        """A batch stamped with another schema version raises PoisonMessage."""
        meta = {S.SCHEMA_VERSION_KEY: str(S.SCHEMA_VERSION + 1).encode()}
        batch = rows(2)
        other = pa.RecordBatch.from_arrays(batch.columns, schema=batch.schema.with_metadata(meta))
        with pytest.raises(ik.PoisonMessage, match="schema version"):
            ik.decode(sk.encode_batch(other, pa.ipc.IpcWriteOptions()))

    def test_other_columns_are_poison(self) -> None:
        """A batch of our version but foreign columns raises PoisonMessage."""
        meta = {S.SCHEMA_VERSION_KEY: str(S.SCHEMA_VERSION).encode()}
        batch = pa.record_batch({"x": [1]}).replace_schema_metadata(meta)
        with pytest.raises(ik.PoisonMessage, match="columns"):
            ik.decode(sk.encode_batch(batch, pa.ipc.IpcWriteOptions()))


class TestSecurity:
    def test_both_sides_take_the_same_security_settings(self) -> None:
        """ingest.kafka and sinks.kafka declare identical KafkaSecurity fields."""
        names = [(f.name, str(f.type), f.default) for f in dataclasses.fields(sk.KafkaSecurity)]
        assert names == [
            (f.name, str(f.type), f.default) for f in dataclasses.fields(ik.KafkaSecurity)
        ]

    def test_sasl_password_from_file_reaches_aiokafka_not_repr(self, tmp_path) -> None:
        """The SASL password is read from its file, passed on, and absent from repr."""
        secret = tmp_path / "pw"
        secret.write_text("s3cr3t-value\n")
        sec = sk.KafkaSecurity(
            security_protocol="SASL_PLAINTEXT",
            sasl_mechanism="SCRAM-SHA-512",
            sasl_username="aw",
            sasl_password_file=secret,
        )
        kw = sk.client_kwargs(sec)
        assert ("SCRAM-SHA-512", "aw", "s3cr3t-value") == (
            kw["sasl_mechanism"], kw["sasl_plain_username"], kw["sasl_plain_password"]
        )
        config = sk.KafkaConfig(security=sec)
        assert "s3cr3t" not in repr(config)
        assert "pw" not in repr(config)

    def test_sasl_password_from_env(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """The consumer reads the SASL password from the named environment variable."""
        monkeypatch.setenv("AW_TEST_PW", "from-env")
        sec = ik.KafkaSecurity(
            security_protocol="SASL_SSL", sasl_username="aw", sasl_password_env="AW_TEST_PW"
        )
        kw = ik.client_kwargs(sec)
        assert "from-env" == kw["sasl_plain_password"]
        assert kw["ssl_context"].check_hostname

    def test_missing_secret_env_is_an_error_naming_the_variable(self) -> None:
        """An unset password variable fails closed with the variable's name."""
        sec = sk.KafkaSecurity(security_protocol="SASL_PLAINTEXT", sasl_password_env="AW_NOPE_X")
        with pytest.raises(TerminalSinkError, match="AW_NOPE_X"):
            sk.client_kwargs(sec)


class TestProcessConfig:
    def test_toml_with_security_table_loads(self, tmp_path) -> None:
        """[process.kafka.security] builds the nested settings; paths become Paths."""
        from armorwatch.commands.process import ProcessConfig
        from armorwatch.config import from_mapping, load_toml

        path = tmp_path / "p.toml"
        path.write_text(
            '[process.kafka]\nbootstrap_servers = "k:9093"\ntopics = ["t"]\n'
            '[process.kafka.security]\nsecurity_protocol = "SASL_SSL"\n'
            'sasl_mechanism = "SCRAM-SHA-256"\nsasl_username = "aw"\n'
            'sasl_password_file = "/run/credentials/aw/kafka"\n'
            '[process.store]\npath = "/data/x.duckdb"\n'
        )
        config = from_mapping(ProcessConfig, load_toml(path)["process"], "process.")
        sec = config.kafka.security
        assert ("SASL_SSL", ("t",)) == (sec.security_protocol, config.kafka.topics)
        assert "/run/credentials/aw/kafka" == str(sec.sasl_password_file)
        assert "credentials" not in repr(config)

    def test_unknown_key_is_an_error(self) -> None:
        """A misspelt consumer key names its dotted path."""
        from armorwatch.commands.process import ProcessConfig
        from armorwatch.config import ConfigError, from_mapping

        with pytest.raises(ConfigError, match=r"process\.kafka\.group"):
            from_mapping(ProcessConfig, {"kafka": {"group": "x"}}, "process.")
