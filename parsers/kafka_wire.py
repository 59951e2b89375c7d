"""The Kafka wire format's names and the client security settings, shared by both ends.

``sinks.kafka.KafkaSink`` writes what ``ingest.kafka.KafkaSource`` reads; the two may not
import each other, so the header names and the TLS/SASL settings live here, once. Pure:
``client_kwargs`` validates and assembles aiokafka keyword arguments, and the caller
hands in the few things that touch files or the environment (building the SSL context,
reading a secret file, the environment mapping).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from armorwatch.parsers import schema as S

HEADER_SCHEMA_VERSION = S.SCHEMA_VERSION_KEY.decode()
"""The schema version a message's batch was written with."""
HEADER_KIND = "armorwatch.kind"
"""``KIND_RECORDS`` (MAC_SCHEMA) or ``KIND_LOSS`` (LOSS_SCHEMA)."""
HEADER_PART = "armorwatch.part"
"""``i/n`` of a batch split to fit the message size limit."""
HEADER_ROWS = "armorwatch.rows"
"""Rows in the message's batch."""
HEADER_META_PREFIX = "armorwatch.meta."
"""Prefix of one header per ``Envelope.meta`` item (host, source, checkpoint)."""
HEADER_REASON = "armorwatch.dead_letter_reason"
"""Why a dead-lettered message was refused (added by the consumer)."""
KIND_RECORDS = "records"
KIND_LOSS = "loss"

PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")


class KafkaSettingsError(ValueError):
    """Security settings that cannot be used: an unknown value or a missing secret."""


@dataclass(frozen=True)
class KafkaSecurity:
    """TLS and SASL settings handed to aiokafka; secrets come from files or env."""

    security_protocol: str = "PLAINTEXT"
    """PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL."""
    ssl_cafile: Path | None = None
    """CA bundle that signs the brokers' certificates (system CAs when unset)."""
    ssl_certfile: Path | None = None
    """Client certificate for mutual TLS."""
    ssl_keyfile: Path | None = None
    """Private key of the client certificate."""
    ssl_keyfile_password_file: Path | None = field(default=None, repr=False)
    """File holding the private key's password."""
    ssl_keyfile_password_env: str | None = field(default=None, repr=False)
    """Environment variable holding the private key's password."""
    ssl_check_hostname: bool = True
    """Verify that the broker certificate names the host we connected to."""
    sasl_mechanism: str = "PLAIN"
    """PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (used with SASL_* protocols)."""
    sasl_username: str | None = None
    """SASL user name."""
    sasl_password_file: Path | None = field(default=None, repr=False)
    """File holding the SASL password (e.g. a systemd credential)."""
    sasl_password_env: str | None = field(default=None, repr=False)
    """Environment variable holding the SASL password."""


def client_kwargs(
    sec: KafkaSecurity,
    ssl_context: Callable[..., Any],
    read_text: Callable[[Path], str],
    environ: Mapping[str, str],
) -> dict[str, Any]:
    """aiokafka keyword arguments for ``sec``.

    ``ssl_context`` is called like ``aiokafka.helpers.create_ssl_context`` (cafile,
    certfile, keyfile, password) only for SSL protocols; ``read_text`` reads a secret
    file and ``environ`` holds secret variables, each asked only for a secret in use.
    Raises KafkaSettingsError for an unknown protocol or mechanism and a missing secret;
    the secret's value is never part of a message.
    """
    if sec.security_protocol not in PROTOCOLS:
        raise KafkaSettingsError(f"security_protocol must be one of {PROTOCOLS}")
    kw: dict[str, Any] = {"security_protocol": sec.security_protocol}
    if sec.security_protocol in ("SSL", "SASL_SSL"):
        password = None
        if sec.ssl_certfile is not None:
            password = _secret(
                sec.ssl_keyfile_password_file,
                sec.ssl_keyfile_password_env,
                "ssl key password",
                read_text,
                environ,
            )
        ctx = ssl_context(
            cafile=_str(sec.ssl_cafile),
            certfile=_str(sec.ssl_certfile),
            keyfile=_str(sec.ssl_keyfile),
            password=password,
        )
        ctx.check_hostname = sec.ssl_check_hostname
        kw["ssl_context"] = ctx
    if sec.security_protocol.startswith("SASL_"):
        if sec.sasl_mechanism not in SASL_MECHANISMS:
            raise KafkaSettingsError(f"sasl_mechanism must be one of {SASL_MECHANISMS}")
        kw["sasl_mechanism"] = sec.sasl_mechanism
        kw["sasl_plain_username"] = sec.sasl_username
        kw["sasl_plain_password"] = _secret(
            sec.sasl_password_file, sec.sasl_password_env, "SASL password", read_text, environ
        )
    return kw


def _str(path: Path | None) -> str | None:
    return str(path) if path else None


def _secret(
    path: Path | None,
    env: str | None,
    what: str,
    read_text: Callable[[Path], str],
    environ: Mapping[str, str],
) -> str | None:
    """The secret from ``path`` (trailing newline stripped) or variable ``env``."""
    if path is not None:
        try:
            return read_text(path).rstrip("\r\n")
        except OSError as e:
            raise KafkaSettingsError(f"cannot read {what} file {path}: {e.strerror}") from None
    if env is not None:
        value = environ.get(env)
        if value is None:
            raise KafkaSettingsError(f"{what} environment variable {env} is not set")
        return value
    return None
