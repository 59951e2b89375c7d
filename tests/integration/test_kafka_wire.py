"""The Kafka wire format without a broker: IPC encode/decode, splitting, poison, secrets."""

from __future__ import annotations

import asyncio
import os
import typing
from pathlib import Path

import pyarrow as pa
import pytest
from aiokafka.helpers import create_ssl_context

from armorwatch.ingest import kafka as ik
from armorwatch.ingest.errors import SourceError
from armorwatch.parsers import kafka_wire as wire
from armorwatch.parsers import schema as S
from armorwatch.parsers.envelope import Envelope
from armorwatch.sinks import kafka as sk
from armorwatch.sinks.errors import TerminalSinkError


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
        assert b"records" == headers[wire.HEADER_KIND]
        assert b"audit.log" == headers[wire.HEADER_META_PREFIX + "source"]

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
            dict(m.headers)[wire.HEADER_PART] for m in messages
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
    def test_both_sides_take_the_one_security_class(self) -> None:
        """The producer's and the consumer's settings nest the shared KafkaSecurity."""
        assert (
            wire.KafkaSecurity
            is typing.get_type_hints(sk.KafkaConfig)["security"]
            is typing.get_type_hints(ik.KafkaSourceConfig)["security"]
        )

    def test_sasl_password_from_file_reaches_aiokafka_not_repr(self, tmp_path) -> None:
        """The SASL password is read from its file, passed on, and absent from repr."""
        secret = tmp_path / "pw"
        secret.write_text("s3cr3t-value\n")
        sec = wire.KafkaSecurity(
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

    def test_sasl_password_from_env(self) -> None:
        """The SASL password comes from the named environment variable, over SASL_SSL."""
        sec = wire.KafkaSecurity(
            security_protocol="SASL_SSL", sasl_username="aw", sasl_password_env="AW_TEST_PW"
        )
        kw = wire.client_kwargs(sec, create_ssl_context, Path.read_text, {"AW_TEST_PW": "from-env"})
        assert "from-env" == kw["sasl_plain_password"]
        assert kw["ssl_context"].check_hostname

    def test_missing_secret_env_is_an_error_naming_the_variable(self) -> None:
        """An unset password variable fails closed with the variable's name."""
        sec = wire.KafkaSecurity(security_protocol="SASL_PLAINTEXT", sasl_password_env="AW_NOPE_X")
        with pytest.raises(TerminalSinkError, match="AW_NOPE_X"):
            sk.client_kwargs(sec)


    def test_repr_hides_every_secret_setting(self) -> None:
        """Neither side's config repr shows a password file, variable or key password."""
        sec = wire.KafkaSecurity(
            security_protocol="SASL_SSL",
            ssl_keyfile_password_file=Path("/run/keypw-file"),
            ssl_keyfile_password_env="AW_KEYPW_VAR",
            sasl_password_file=Path("/run/saslpw-file"),
            sasl_password_env="AW_SASLPW_VAR",
        )
        for config in (sk.KafkaConfig(security=sec), ik.KafkaSourceConfig(security=sec)):
            text = repr(config)
            assert not any(s in text for s in ("keypw", "KEYPW", "saslpw", "SASLPW"))

    def test_consumer_refuses_unusable_settings_as_a_source_error(self) -> None:
        """KafkaSource.start turns a bad protocol into SourceError before any connection."""

        class NoSink:
            """A sink the refused consumer never reaches."""

            async def send(self, envelope: Envelope) -> None:
                raise AssertionError("not reached")

            async def close(self) -> None:
                pass

        config = ik.KafkaSourceConfig(security=wire.KafkaSecurity(security_protocol="TLS"))
        with pytest.raises(SourceError, match="security_protocol"):
            asyncio.run(ik.KafkaSource(config, NoSink()).start())


class TestSharedClientKwargs:
    """parsers.kafka_wire.client_kwargs with fakes for its file, SSL and environment I/O."""

    @staticmethod
    def no_file(path: Path) -> str:
        """A reader for secret files that do not exist."""
        raise FileNotFoundError(2, "No such file or directory", str(path))

    def test_unused_secrets_are_never_read(self) -> None:
        """PLAINTEXT asks neither the file reader nor the environment for a secret."""
        sec = wire.KafkaSecurity(sasl_password_file=Path("/nope"), sasl_password_env="AW_X")
        assert {"security_protocol": "PLAINTEXT"} == wire.client_kwargs(
            sec, create_ssl_context, self.no_file, {}
        )

    def test_unreadable_secret_file_names_the_file_not_the_secret(self) -> None:
        """A missing SASL password file is a KafkaSettingsError naming what and where."""
        sec = wire.KafkaSecurity(
            security_protocol="SASL_PLAINTEXT", sasl_password_file=Path("/run/aw/pw")
        )
        with pytest.raises(wire.KafkaSettingsError, match="SASL password file /run/aw/pw"):
            wire.client_kwargs(sec, create_ssl_context, self.no_file, {})

    def test_ssl_context_gets_the_files_and_the_key_password(self) -> None:
        """The SSL factory receives the paths and the key password; check_hostname follows."""
        calls: list[dict[str, object]] = []

        class Context:
            """Stands in for ssl.SSLContext."""

            check_hostname = True

        def factory(**kw: object) -> Context:
            calls.append(kw)
            return Context()

        sec = wire.KafkaSecurity(
            security_protocol="SSL",
            ssl_cafile=Path("/ca.pem"),
            ssl_certfile=Path("/c.pem"),
            ssl_keyfile=Path("/k.pem"),
            ssl_keyfile_password_env="AW_KEYPW",
            ssl_check_hostname=False,
        )
        kw = wire.client_kwargs(sec, factory, self.no_file, {"AW_KEYPW": "kp"})
        assert [
            {"cafile": "/ca.pem", "certfile": "/c.pem", "keyfile": "/k.pem", "password": "kp"}
        ] == calls
        assert kw["ssl_context"].check_hostname is False
        assert "sasl_mechanism" not in kw

    def test_unknown_mechanism_is_refused(self) -> None:
        """A SASL mechanism outside PLAIN/SCRAM is a KafkaSettingsError."""
        sec = wire.KafkaSecurity(security_protocol="SASL_PLAINTEXT", sasl_mechanism="GSSAPI")
        with pytest.raises(wire.KafkaSettingsError, match="sasl_mechanism"):
            wire.client_kwargs(sec, create_ssl_context, self.no_file, {})


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
