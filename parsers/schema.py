"""The one Arrow schema of armorwatch, and every column name, written once.

Everything downstream (ingest, sinks, jobs, the CLI) refers to columns through the
constants below and to tables through ``MAC_SCHEMA`` / ``LOSS_SCHEMA`` /
``REJECT_SCHEMA``; nothing else types a column name or infers a schema.

Column names follow the kernel / libapparmor field names so analysts recognise them.
Low-cardinality strings are dictionary-encoded. Bump ``SCHEMA_VERSION`` whenever a
column is added, removed or retyped; sinks key their migrations on it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final

import pyarrow as pa

# v2: parent, task, magic_token, ioctlcmd; v3: suspect, rid by raw; v4: ns, mediation_class
SCHEMA_VERSION: Final = 4
SCHEMA_VERSION_KEY: Final = b"armorwatch.schema_version"

# --- column names -----------------------------------------------------------------
# identity and position of the record
TS: Final = "ts"  # event time from audit(SEC.MSEC:SERIAL) or the log framing, UTC, ms
SERIAL: Final = "serial"  # audit serial, per boot; null when the framing carries none
ORDINAL: Final = "ordinal"  # index of this MAC record among those of one event (0-based)
HOST: Final = "host"
MACHINE_ID: Final = "machine_id"
BOOT_ID: Final = "boot_id"
SOURCE: Final = "source"  # audit.log | kern.log | syslog | dmesg | journald | ...
RECORD_TYPE: Final = "record_type"  # AVC, USER_AVC, APPARMOR_DENIED, ...
ORIGIN: Final = "origin"  # kernel | userspace | unverified (see ORIGIN_* below)
SUSPECT: Final = "suspect"  # why the record looks forged (SUSPECT_* below); null = nothing
LSM: Final = "lsm"  # apparmor | selinux
# AppArmor
APPARMOR: Final = "apparmor"  # DENIED | ALLOWED | AUDIT | STATUS | HINT | ERROR | KILL
OPERATION: Final = "operation"
CLASS: Final = "class"
# the AppArmor mediation class: class= when logged, else derived from operation and fields
# the way libapparmor/aa-logprof do (records.derive_class); SELinux: tclass. Never null
# for a permission decision, so summaries and reports show no blank class.
MEDIATION_CLASS: Final = "mediation_class"
PROFILE: Final = "profile"
LABEL: Final = "label"
PROFILE_NS: Final = "profile_ns"  # namespace part of a ':ns:profile' label
PROFILE_STACK: Final = "profile_stack"  # the parts of a stacked label 'a//&b'
PROFILE_PARENT: Final = "profile_parent"  # 'a' of a hat/child 'a//b'
PROFILE_CHILD: Final = "profile_child"  # 'b' of a hat/child 'a//b' (innermost)
PEER: Final = "peer"
PEER_LABEL: Final = "peer_label"
PEER_PID: Final = "peer_pid"
NAME: Final = "name"
NAME2: Final = "name2"  # target= (exec, change_hat/profile, link)
REQUESTED_MASK: Final = "requested_mask"
DENIED_MASK: Final = "denied_mask"
FSUID: Final = "fsuid"
OUID: Final = "ouid"
PID: Final = "pid"
COMM: Final = "comm"
EXE: Final = "exe"
INFO: Final = "info"
ERROR: Final = "error"
CAPABILITY: Final = "capability"
CAPNAME: Final = "capname"
FAMILY: Final = "family"
SOCK_TYPE: Final = "sock_type"
PROTOCOL: Final = "protocol"
ADDR: Final = "addr"
PEER_ADDR: Final = "peer_addr"
LADDR: Final = "laddr"
LPORT: Final = "lport"
FADDR: Final = "faddr"
FPORT: Final = "fport"
SIGNAL: Final = "signal"
BUS: Final = "bus"
PATH: Final = "path"
INTERFACE: Final = "interface"
MEMBER: Final = "member"
FSTYPE: Final = "fstype"
FLAGS: Final = "flags"
SRCNAME: Final = "srcname"
NAMESPACE: Final = "namespace"
EXECPATH: Final = "execpath"
ATTRIBUTE: Final = "attribute"
NS: Final = "ns"  # ns= of a STATUS record: the policy namespace a profile was loaded into
# SELinux
SCONTEXT: Final = "scontext"
TCONTEXT: Final = "tcontext"
TCLASS: Final = "tclass"
PERMS: Final = "perms"
SERESULT: Final = "seresult"  # denied | granted
PERMISSIVE: Final = "permissive"
# USER_AVC: the kernel-written prefix identifies the real sender
SENDER_PID: Final = "sender_pid"
SENDER_UID: Final = "sender_uid"
SENDER_AUID: Final = "sender_auid"
# enrichment from the other records of the same event (SYSCALL, CWD, PROCTITLE)
SYSCALL: Final = "syscall"
UID: Final = "uid"
AUID: Final = "auid"
CWD: Final = "cwd"
PROCTITLE: Final = "proctitle"
# v2: fields libapparmor reports (test_multi) and SELinux extended permissions
PARENT: Final = "parent"  # parent= (pid of the parent task)
TASK: Final = "task"  # task= (legacy change_hat records)
MAGIC_TOKEN: Final = "magic_token"  # magic_token= (legacy change_hat token)
IOCTLCMD: Final = "ioctlcmd"  # SELinux xperm ioctl command (ioctlcmd=0x42 -> 66)
# the original line(s), byte-exact
RAW: Final = "raw"

# loss / reject tables
KIND: Final = "kind"
COUNT: Final = "count"
DETAIL: Final = "detail"
REASON: Final = "reason"
OFFSET: Final = "offset"

# --- values of low-cardinality columns, written once ---------------------------------
SOURCE_AUDITLOG: Final = "audit.log"
SOURCE_KERNLOG: Final = "kern.log"
SOURCE_SYSLOG: Final = "syslog"
SOURCE_DMESG: Final = "dmesg"
SOURCE_JOURNALD: Final = "journald"
SOURCE_SAMPLE: Final = "sample"
ORIGIN_KERNEL: Final = "kernel"
ORIGIN_USERSPACE: Final = "userspace"
# a "kernel:" line of a general syslog file (/var/log/syslog, messages): any local user can
# write one with `logger -t kernel`, so it is not proven to come from the kernel
ORIGIN_UNVERIFIED: Final = "unverified"
# Why a record looks forged, written once. A record with a non-null SUSPECT never drives an
# alert, a report section or a suggested rule; it is counted and alerted on by itself.
SUSPECT_FROM_USERSPACE: Final = "kernel-mediated record written from userspace"
SUSPECT_UNVERIFIED: Final = "kernel: line of a general syslog file (origin unverified)"
# a record whose framing cannot prove kernel origin: found after a prefix the parser does
# not read (grep -H output, any unknown text), a bare "AVC apparmor=…" line, a syslog
# facility or printk level of user space ("user.notice kernel:", "<13>")
SUSPECT_UNPROVEN: Final = "record after an unrecognised prefix or framing (origin unverified)"
SUSPECT_DUPLICATE_FIELD: Final = "field repeated in one record (the kernel writes each once)"
SUSPECT_NUL_IN_PATH: Final = "NUL byte inside a kernel path"
# classes mediated in userspace (dbus-daemon/dbus-broker, systemd, SELinux userspace object
# managers): their records legitimately arrive as USER_AVC text
USERSPACE_CLASSES: Final = frozenset({"dbus", "service", "system", "passwd", "nscd", "x_drawable"})
LSM_APPARMOR: Final = "apparmor"
LSM_SELINUX: Final = "selinux"
AA_DENIED: Final = "DENIED"
AA_ALLOWED: Final = "ALLOWED"
AA_AUDIT: Final = "AUDIT"
AA_STATUS: Final = "STATUS"
AA_HINT: Final = "HINT"
AA_ERROR: Final = "ERROR"
AA_KILL: Final = "KILL"
SE_DENIED: Final = "denied"
SE_GRANTED: Final = "granted"

_DICT = pa.dictionary(pa.int32(), pa.string())
_TS = pa.timestamp("ms", tz="UTC")

MAC_FIELDS: Final[tuple[tuple[str, pa.DataType], ...]] = (
    (TS, _TS),
    (SERIAL, pa.uint64()),
    (ORDINAL, pa.uint16()),
    (HOST, _DICT),
    (MACHINE_ID, _DICT),
    (BOOT_ID, _DICT),
    (SOURCE, _DICT),
    (RECORD_TYPE, _DICT),
    (ORIGIN, _DICT),
    (SUSPECT, _DICT),
    (LSM, _DICT),
    (APPARMOR, _DICT),
    (OPERATION, _DICT),
    (CLASS, _DICT),
    (MEDIATION_CLASS, _DICT),
    (PROFILE, _DICT),
    (LABEL, _DICT),
    (PROFILE_NS, _DICT),
    (PROFILE_STACK, pa.list_(pa.string())),
    (PROFILE_PARENT, _DICT),
    (PROFILE_CHILD, _DICT),
    (PEER, _DICT),
    (PEER_LABEL, _DICT),
    (PEER_PID, pa.int64()),
    (NAME, pa.string()),
    (NAME2, pa.string()),
    (REQUESTED_MASK, _DICT),
    (DENIED_MASK, _DICT),
    (FSUID, pa.int64()),
    (OUID, pa.int64()),
    (PID, pa.int64()),
    (COMM, _DICT),
    (EXE, _DICT),
    (INFO, _DICT),
    (ERROR, pa.int32()),
    (CAPABILITY, pa.int32()),
    (CAPNAME, _DICT),
    (FAMILY, _DICT),
    (SOCK_TYPE, _DICT),
    (PROTOCOL, _DICT),
    (ADDR, pa.string()),
    (PEER_ADDR, pa.string()),
    (LADDR, pa.string()),
    (LPORT, pa.int32()),
    (FADDR, pa.string()),
    (FPORT, pa.int32()),
    (SIGNAL, _DICT),
    (BUS, _DICT),
    (PATH, pa.string()),
    (INTERFACE, _DICT),
    (MEMBER, _DICT),
    (FSTYPE, _DICT),
    (FLAGS, pa.string()),
    (SRCNAME, pa.string()),
    (NAMESPACE, _DICT),
    (EXECPATH, pa.string()),
    (ATTRIBUTE, pa.string()),
    (NS, _DICT),
    (SCONTEXT, _DICT),
    (TCONTEXT, _DICT),
    (TCLASS, _DICT),
    (PERMS, pa.list_(pa.string())),
    (SERESULT, _DICT),
    (PERMISSIVE, pa.bool_()),
    (SENDER_PID, pa.int64()),
    (SENDER_UID, pa.int64()),
    (SENDER_AUID, pa.int64()),
    (SYSCALL, _DICT),
    (UID, pa.int64()),
    (AUID, pa.int64()),
    (CWD, pa.string()),
    (PROCTITLE, pa.string()),
    (PARENT, pa.int64()),
    (TASK, pa.int64()),
    (MAGIC_TOKEN, pa.int64()),
    (IOCTLCMD, pa.int64()),
    (RAW, pa.binary()),
)

_META = {SCHEMA_VERSION_KEY: str(SCHEMA_VERSION).encode()}

MAC_SCHEMA: Final = pa.schema([pa.field(n, t) for n, t in MAC_FIELDS], metadata=_META)
COLUMNS: Final[tuple[str, ...]] = tuple(n for n, _ in MAC_FIELDS)

# (host, boot_id, ts, serial, record_type, raw) identifies one MAC record fleet-wide: the
# record's own bytes inside its audit(ts:serial), never its position in the event, so an
# event split by a rotation, a pause or a clock step still keeps every record (stores use
# md5(raw)). Two byte-identical records of one audit(ts:serial) in one boot are one record.
KEY_COLUMNS: Final = (HOST, BOOT_ID, TS, SERIAL, RECORD_TYPE, RAW)

# Counted loss the pipeline could not prevent (kernel lost=, rotated away unread,
# journald suppression, parser rejects, opt-in drops): a record, alertable.
LOSS_SCHEMA: Final = pa.schema(
    [
        pa.field(TS, _TS),
        pa.field(HOST, pa.string()),
        pa.field(BOOT_ID, pa.string()),
        pa.field(SOURCE, pa.string()),
        pa.field(KIND, pa.string()),
        pa.field(COUNT, pa.int64()),
        pa.field(DETAIL, pa.string()),
    ],
    metadata=_META,
)

# Loss kinds, written once.
LOSS_KERNEL_LOST: Final = "kernel_lost"
LOSS_CALLBACKS_SUPPRESSED: Final = "callbacks_suppressed"
LOSS_JOURNALD_SUPPRESSED: Final = "journald_suppressed"
LOSS_JOURNAL_CURSOR_GAP: Final = "journal_cursor_gap"
LOSS_ROTATED_AWAY: Final = "rotated_away_unread"
LOSS_TRUNCATED: Final = "truncated"
LOSS_PARSE_REJECT: Final = "parse_reject"
LOSS_DROPPED: Final = "dropped"
LOSS_SOURCE_BLIND: Final = "source_blind"

# Lines the parser could not use, kept byte-exact for the dead-letter file.
REJECT_SCHEMA: Final = pa.schema(
    [
        pa.field(SOURCE, pa.string()),
        pa.field(HOST, pa.string()),
        pa.field(REASON, pa.string()),
        pa.field(RAW, pa.binary()),
    ],
    metadata=_META,
)


def schema_version(schema: pa.Schema) -> int | None:
    """The SCHEMA_VERSION stamped in a schema's metadata, or None when absent."""
    meta = schema.metadata or {}
    value = meta.get(SCHEMA_VERSION_KEY)
    return int(value) if value is not None else None


_EMPTY_BATCHES: dict[int, tuple[pa.Schema, pa.RecordBatch]] = {}


def empty_batch(schema: pa.Schema = MAC_SCHEMA) -> pa.RecordBatch:
    """A zero-row batch of ``schema``, built once per schema object (batches are immutable).

    Building one costs ~0.4 ms; a stream of junk asks for several per parser call.
    """
    hit = _EMPTY_BATCHES.get(id(schema))
    if hit is not None and hit[0] is schema:  # the schema itself is kept: its id stays its own
        return hit[1]
    batch = pa.RecordBatch.from_pylist([], schema=schema)
    if len(_EMPTY_BATCHES) < 64:  # bounded: callers that build schemas on the fly still work
        _EMPTY_BATCHES[id(schema)] = (schema, batch)
    return batch


def concat_batches(batches: Iterable[pa.RecordBatch], schema: pa.Schema) -> pa.RecordBatch:
    """One batch of ``schema`` holding the rows of ``batches`` in order (empty ones skipped)."""
    batches = [b for b in batches if b.num_rows]
    if not batches:
        return empty_batch(schema)
    if len(batches) == 1:
        return batches[0]
    return pa.Table.from_batches(batches, schema=schema).combine_chunks().to_batches()[0]


def batch_from_rows(
    rows: Iterable[Mapping[str, Any]], schema: pa.Schema = MAC_SCHEMA
) -> pa.RecordBatch:
    """Build a batch from dict rows (missing keys are null); for tests and slow paths.

    Unknown keys are an error, so a typo never silently becomes a null column.
    """
    rows = list(rows)
    names = set(schema.names)
    for row in rows:
        unknown = set(row) - names
        if unknown:
            raise KeyError(f"unknown column(s) {sorted(unknown)}; see parsers/schema.py")
    return pa.RecordBatch.from_pylist(rows, schema=schema)


def conform(batch: pa.RecordBatch, schema: pa.Schema = MAC_SCHEMA) -> pa.RecordBatch:
    """Cast a batch with the same column names to ``schema`` exactly (types, order, metadata)."""
    if batch.schema.equals(schema, check_metadata=True):
        return batch
    if batch.schema.names != schema.names:
        raise ValueError(
            f"columns differ from schema v{SCHEMA_VERSION}: {batch.schema.names} != {schema.names}"
        )
    arrays = [batch.column(i).cast(f.type) for i, f in enumerate(schema)]
    return pa.RecordBatch.from_arrays(arrays, schema=schema)
