"""The one Arrow schema of armorwatch, and every column name, written once.

Everything downstream (ingest, sinks, jobs, the CLI) refers to columns through the
constants below and to tables through ``MAC_SCHEMA`` / ``LOSS_SCHEMA`` /
``REJECT_SCHEMA``; nothing else types a column name or infers a schema.

Column names follow the kernel / libapparmor field names so analysts recognise them.
Low-cardinality strings are dictionary-encoded. Bump ``SCHEMA_VERSION`` whenever a
column is added, removed or retyped; sinks key their migrations on it.

Each column's description is written once too, beside its type (``MAC_FIELDS``,
``LOSS_FIELDS``, ``REJECT_FIELDS``): ``described`` gives a schema with them as Arrow field
metadata and ``descriptions`` renders them; the store's column comments come from there.

pyarrow is imported on first use of an Arrow object of this module (``MAC_SCHEMA``,
``MAC_FIELDS``, ``empty_batch``, ...: PEP 562), not by importing it: the names, values and
``COLUMNS`` are plain strings, so the readers of the store (``armorwatch report``, whose
peak RSS pyarrow's libraries would grow by ~55 MB) never load it. The types are written
as short names beside each column (``_ARROW_TYPES`` maps them to Arrow types).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    import pyarrow as pa

# v2: parent, task, magic_token, ioctlcmd; v3: suspect, rid by raw; v4: ns, mediation_class;
# v5: the Kubernetes attribution columns (K8S_FIELDS); v6: PROFILE_STATE_SCHEMA (the
# profile_state table: stores of v5 lack it, so their readers' views would not resolve)
SCHEMA_VERSION: Final = 6
SCHEMA_VERSION_KEY: Final = b"armorwatch.schema_version"

# --- column names (each described once, in MAC_FIELDS below) --------------------------
# identity and position of the record
TS: Final = "ts"
SERIAL: Final = "serial"
ORDINAL: Final = "ordinal"
HOST: Final = "host"
MACHINE_ID: Final = "machine_id"
BOOT_ID: Final = "boot_id"
SOURCE: Final = "source"
RECORD_TYPE: Final = "record_type"
ORIGIN: Final = "origin"
SUSPECT: Final = "suspect"
LSM: Final = "lsm"
# AppArmor
APPARMOR: Final = "apparmor"
OPERATION: Final = "operation"
CLASS: Final = "class"
# derived by records.derive_class when class= is not logged: never null for a permission
# decision, so summaries and reports show no blank class
MEDIATION_CLASS: Final = "mediation_class"
PROFILE: Final = "profile"
LABEL: Final = "label"
PROFILE_NS: Final = "profile_ns"
PROFILE_STACK: Final = "profile_stack"
PROFILE_PARENT: Final = "profile_parent"
PROFILE_CHILD: Final = "profile_child"
PEER: Final = "peer"
PEER_LABEL: Final = "peer_label"
PEER_PID: Final = "peer_pid"
NAME: Final = "name"
NAME2: Final = "name2"
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
NS: Final = "ns"
# SELinux
SCONTEXT: Final = "scontext"
TCONTEXT: Final = "tcontext"
TCLASS: Final = "tclass"
PERMS: Final = "perms"
SERESULT: Final = "seresult"
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
PARENT: Final = "parent"
TASK: Final = "task"
MAGIC_TOKEN: Final = "magic_token"
IOCTLCMD: Final = "ioctlcmd"
# the original line(s), byte-exact
RAW: Final = "raw"
# Kubernetes attribution, filled on the node after parsing (ingest.kubernetes): the pid's
# cgroup names the container, the kubelet's pod list names its pod
CONTAINER_ID: Final = "container_id"
POD_NAMESPACE: Final = "pod_namespace"
POD_NAME: Final = "pod_name"
CONTAINER_NAME: Final = "container_name"
POD_APPARMOR_PROFILE: Final = "pod_apparmor_profile"
K8S_LOOKUP: Final = "k8s_lookup"

# loss / reject tables
KIND: Final = "kind"
COUNT: Final = "count"
DETAIL: Final = "detail"
REASON: Final = "reason"
OFFSET: Final = "offset"
# profile state table (ts, host, boot_id, namespace and profile are the names above)
MODE: Final = "mode"

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
# K8S_LOOKUP: how the attribution of a record went (null: attribution is off)
K8S_ATTRIBUTED: Final = "attributed"
K8S_NOT_IN_CONTAINER: Final = "not_in_container"  # the pid's cgroup is no container's
K8S_POD_UNKNOWN: Final = "pod_unknown"  # a container the kubelet does not list
# its pod is listed (by the uid in the cgroup path), the container not yet: just started
K8S_CONTAINER_UNLISTED: Final = "container_unlisted"
K8S_KUBELET_UNAVAILABLE: Final = "kubelet_unavailable"  # pods API failed: pod fields null
K8S_PID_EXITED: Final = "pid_exited"  # gone before the lookup: never guessed
K8S_PID_REUSED: Final = "pid_reused"  # the pid now belongs to a process started later
K8S_PROC_UNREADABLE: Final = "proc_unreadable"  # /proc/<pid> exists but cannot be read
K8S_NO_PID: Final = "no_pid"
K8S_OTHER_HOST: Final = "other_host"  # a record another host wrote (node=): not our pids

# Column types by name (``_ARROW_TYPES`` makes them Arrow types on first use): low-
# cardinality strings are dictionary-encoded, times are milliseconds in UTC.
_DICT: Final = "dictionary"
_TS: Final = "timestamp"
_LIST_STR: Final = "list_string"

# Filled by the collector on a Kubernetes node (``[collect.kubernetes]``), null elsewhere.
_K8S_SPEC: Final[tuple[tuple[str, str, str], ...]] = (
    (
        CONTAINER_ID,
        _DICT,
        "container the subject pid ran in, from /proc/PID/cgroup (containerd, CRI-O, "
        "Docker id); null outside a container or when the lookup failed (see k8s_lookup)",
    ),
    (POD_NAMESPACE, _DICT, "namespace of the container's pod (kubelet pods API)"),
    (POD_NAME, _DICT, "name of the container's pod (kubelet pods API)"),
    (CONTAINER_NAME, _DICT, "name of the container in its pod spec (init containers too)"),
    (
        POD_APPARMOR_PROFILE,
        _DICT,
        "AppArmor profile the pod spec asked for this container: localhost/NAME, "
        "runtime/default or unconfined (securityContext.appArmorProfile of the container, "
        "else of the pod, else the beta annotation); null when it asked for none. "
        "Compare with profile: the one that decided",
    ),
    (
        K8S_LOOKUP,
        _DICT,
        "how attribution went: attributed, container_unlisted (pod known, its status does "
        "not list the just-started container yet: container_name null), not_in_container, "
        "pod_unknown, kubelet_unavailable, pid_exited (gone before the lookup), pid_reused "
        "(the pid now runs a process started after the record), proc_unreadable, no_pid, "
        "other_host; null when attribution is off",
    ),
)
K8S_COLUMNS: Final[tuple[str, ...]] = tuple(n for n, _, _ in _K8S_SPEC)

_MAC_SPEC: Final[tuple[tuple[str, str, str], ...]] = (
    (TS, _TS, "event time from audit(SEC.MSEC:SERIAL) or the log framing, UTC"),
    (
        SERIAL,
        "uint64",
        "audit serial, restarts at each boot; null when the framing carries none",
    ),
    (
        ORDINAL,
        "uint16",
        "index of this MAC record among those the parser grouped into one audit event "
        "(0-based; informational, not part of the key)",
    ),
    (HOST, _DICT, "host name (node= or the collector's host)"),
    (MACHINE_ID, _DICT, "/etc/machine-id of the host"),
    (BOOT_ID, _DICT, "boot id of the host; audit serials restart at each boot"),
    (
        SOURCE,
        _DICT,
        "log the record came from: audit.log, kern.log, syslog, dmesg, journald, sample",
    ),
    (RECORD_TYPE, _DICT, "audit record type: AVC, USER_AVC, APPARMOR_DENIED, ..."),
    (
        ORIGIN,
        _DICT,
        "kernel (written by the kernel), userspace (USER_AVC text, journald entries of a "
        "non-kernel transport) or unverified (a kernel: line of a general syslog file, a "
        "record behind a prefix that proves nothing: grep -H output, unknown text, bare "
        "AVC lines)",
    ),
    (
        SUSPECT,
        _DICT,
        "why the record looks forged (a kernel-mediated class from userspace, a repeated "
        "field, a NUL in a path, an unverified kernel: line); null when nothing does. "
        "Alerts, reports and suggestions use only rows where it is null",
    ),
    (LSM, _DICT, "apparmor or selinux"),
    (
        APPARMOR,
        _DICT,
        "AppArmor outcome: DENIED, ALLOWED (complain mode), AUDIT, STATUS, HINT, ERROR, KILL",
    ),
    (OPERATION, _DICT, "AppArmor operation= (open, exec, connect, profile_load, ...)"),
    (
        CLASS,
        _DICT,
        "AppArmor class= (file, net, unix, signal, ptrace, dbus, capability, mount, ...)",
    ),
    (
        MEDIATION_CLASS,
        _DICT,
        "mediation class: class= when logged, else derived from operation and fields as "
        "libapparmor/aa-logprof do (file, cap, net, unix, signal, ptrace, mount, dbus, "
        "namespace, io_uring, rlimits); SELinux: tclass. Null only for policy loads "
        "(STATUS) and records without a hint (schema v4)",
    ),
    (PROFILE, _DICT, "AppArmor profile= (the confined subject)"),
    (LABEL, _DICT, "AppArmor label= (newer kernels)"),
    (PROFILE_NS, _DICT, "namespace part of a :ns:profile label"),
    (PROFILE_STACK, _LIST_STR, "the parts of a stacked label a//&b"),
    (PROFILE_PARENT, _DICT, "a of a hat or child profile a//b"),
    (PROFILE_CHILD, _DICT, "b of a hat or child profile a//b (innermost)"),
    (PEER, _DICT, "AppArmor peer= (signal, ptrace, unix peer profile)"),
    (PEER_LABEL, _DICT, "AppArmor peer_label="),
    (PEER_PID, "int64", "AppArmor peer_pid="),
    (
        NAME,
        "string",
        "object name= (path, mount point, profile name for STATUS), byte-exact after hex decoding",
    ),
    (NAME2, "string", "target= (exec, change_hat/change_profile, link target)"),
    (REQUESTED_MASK, _DICT, "AppArmor requested_mask= (r, w, x, ...)"),
    (DENIED_MASK, _DICT, "AppArmor denied_mask="),
    (FSUID, "int64", "filesystem uid of the subject"),
    (OUID, "int64", "owner uid of the object"),
    (PID, "int64", "process id of the subject"),
    (COMM, _DICT, "command name of the subject (comm=)"),
    (EXE, _DICT, "executable of the subject (from SYSCALL or the AVC)"),
    (INFO, _DICT, "AppArmor info= text"),
    (ERROR, "int32", "AppArmor error= (negative errno)"),
    (CAPABILITY, "int32", "capability number"),
    (CAPNAME, _DICT, "capability name (sys_admin, net_raw, ...)"),
    (FAMILY, _DICT, "network family (inet, unix, ...)"),
    (SOCK_TYPE, _DICT, "socket type (stream, dgram, ...)"),
    (PROTOCOL, _DICT, "network protocol"),
    (ADDR, "string", "unix socket address"),
    (PEER_ADDR, "string", "peer unix socket address"),
    (LADDR, "string", "local IP address"),
    (LPORT, "int32", "local port"),
    (FADDR, "string", "foreign IP address"),
    (FPORT, "int32", "foreign port"),
    (SIGNAL, _DICT, "signal name (signal class)"),
    (BUS, _DICT, "D-Bus bus (system, session)"),
    (PATH, "string", "D-Bus object path, or the SELinux path="),
    (INTERFACE, _DICT, "D-Bus interface"),
    (MEMBER, _DICT, "D-Bus member"),
    (FSTYPE, _DICT, "filesystem type (mount class)"),
    (FLAGS, "string", "mount flags"),
    (SRCNAME, "string", "mount source"),
    (NAMESPACE, _DICT, "AppArmor policy namespace"),
    (EXECPATH, "string", "AppArmor execpath="),
    (ATTRIBUTE, "string", "AppArmor attribute= (change_onexec, ...)"),
    (
        NS,
        _DICT,
        "ns= of an AppArmor STATUS record: the policy namespace a profile was loaded into"
        " (schema v4)",
    ),
    (SCONTEXT, _DICT, "SELinux source context"),
    (TCONTEXT, _DICT, "SELinux target context"),
    (TCLASS, _DICT, "SELinux target class"),
    (PERMS, _LIST_STR, "SELinux permissions of the AVC ({ read write })"),
    (SERESULT, _DICT, "SELinux result: denied or granted"),
    (PERMISSIVE, "bool_", "SELinux permissive=1 (logged, not enforced)"),
    (SENDER_PID, "int64", "USER_AVC: pid of the real sender (kernel-written prefix)"),
    (SENDER_UID, "int64", "USER_AVC: uid of the real sender"),
    (SENDER_AUID, "int64", "USER_AVC: login uid of the real sender"),
    (SYSCALL, _DICT, "syscall of the event (from its SYSCALL record)"),
    (UID, "int64", "uid of the subject (from SYSCALL)"),
    (AUID, "int64", "login uid of the subject (from SYSCALL)"),
    (CWD, "string", "working directory (from the CWD record)"),
    (PROCTITLE, "string", "command line (from PROCTITLE, decoded)"),
    (PARENT, "int64", "parent= (pid of the parent task)"),
    (TASK, "int64", "task= (legacy change_hat records)"),
    (MAGIC_TOKEN, "int64", "magic_token= (legacy change_hat token)"),
    (IOCTLCMD, "int64", "SELinux extended-permission ioctl command (ioctlcmd=0x42 is 66)"),
    (RAW, "binary", "the original line(s), byte-exact"),
    *_K8S_SPEC,
)

# Arrow field-metadata key of a column's description (the store's column comment).
DESCRIPTION_KEY: Final = b"description"


COLUMNS: Final[tuple[str, ...]] = tuple(n for n, _, _ in _MAC_SPEC)

# (host, boot_id, ts, serial, record_type, raw) identifies one MAC record fleet-wide: the
# record's own bytes inside its audit(ts:serial), never its position in the event, so an
# event split by a rotation, a pause or a clock step still keeps every record (stores use
# md5(raw)). Two byte-identical records of one audit(ts:serial) in one boot are one record.
KEY_COLUMNS: Final = (HOST, BOOT_ID, TS, SERIAL, RECORD_TYPE, RAW)

# Counted loss the pipeline could not prevent (kernel lost=, rotated away unread,
# journald suppression, parser rejects, opt-in drops): a record, alertable.
_LOSS_SPEC: Final[tuple[tuple[str, str, str], ...]] = (
    (TS, _TS, "when the loss was observed, UTC"),
    (HOST, "string", "host that lost records"),
    (BOOT_ID, "string", "boot of that host"),
    (SOURCE, "string", "log the loss was counted in"),
    (
        KIND,
        "string",
        "kernel_lost, callbacks_suppressed, journald_suppressed, journal_cursor_gap, "
        "rotated_away_unread, truncated, parse_reject, dropped, source_blind",
    ),
    (
        COUNT,
        "int64",
        "records (or lines) lost; for kind truncated: bytes known destroyed unread (exact "
        "under a writer without O_APPEND, else a lower bound; detail says whether lines "
        "are countable)",
    ),
    (DETAIL, "string", "free text: file, cursor, reason"),
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
_REJECT_SPEC: Final[tuple[tuple[str, str, str], ...]] = (
    (SOURCE, "string", "log the line came from"),
    (HOST, "string", "host the line came from"),
    (REASON, "string", "why the parser rejected it"),
    (RAW, "binary", "the line, byte-exact"),
)

# What the collector itself read from securityfs (ingest.securityfs), never from log text:
# one row per profile loaded at one reading. Sent when the set changed and every
# [collect.profile_state] resend_s anyway, so an unchanged host still says "still loaded".
_PROFILE_STATE_SPEC: Final[tuple[tuple[str, str, str], ...]] = (
    (TS, _TS, "when the collector read the loaded profiles from securityfs, UTC"),
    (HOST, "string", "host whose kernel had the profile loaded (the collector's host)"),
    (BOOT_ID, "string", "boot of that host"),
    (
        NAMESPACE,
        "string",
        "AppArmor policy namespace the profile is loaded in: root (the host's own), else the "
        "container's (nested ones as a//b)",
    ),
    (PROFILE, "string", "profile name as the kernel lists it (a//b for a hat or child)"),
    (
        MODE,
        "string",
        "the kernel's mode of the profile: enforce, complain, kill, unconfined, prompt, ...",
    ),
)

_SPECS: Final = {
    "K8S": _K8S_SPEC,
    "MAC": _MAC_SPEC,
    "LOSS": _LOSS_SPEC,
    "REJECT": _REJECT_SPEC,
    "PROFILE_STATE": _PROFILE_STATE_SPEC,
}

if TYPE_CHECKING:  # built on first use by _arrow() (module __getattr__, PEP 562)
    K8S_FIELDS: tuple[tuple[str, pa.DataType, str], ...]
    MAC_FIELDS: tuple[tuple[str, pa.DataType, str], ...]
    LOSS_FIELDS: tuple[tuple[str, pa.DataType, str], ...]
    REJECT_FIELDS: tuple[tuple[str, pa.DataType, str], ...]
    PROFILE_STATE_FIELDS: tuple[tuple[str, pa.DataType, str], ...]
    # The schemas batches travel in carry no descriptions: every Kafka message and IPC
    # stream repeats its schema, and ~7 KB of prose in each would tell a consumer nothing.
    MAC_SCHEMA: pa.Schema
    LOSS_SCHEMA: pa.Schema
    REJECT_SCHEMA: pa.Schema
    PROFILE_STATE_SCHEMA: pa.Schema

_ARROW_NAMES: Final = frozenset(
    [f"{k}_FIELDS" for k in _SPECS] + [f"{k}_SCHEMA" for k in _SPECS if k != "K8S"]
)
_ARROW: dict[str, Any] = {}
"""The Arrow objects, once built: the ``*_FIELDS`` / ``*_SCHEMA`` names, ``_DESCRIBED``."""


def _arrow() -> dict[str, Any]:
    """Build the module's Arrow objects (importing pyarrow) once; they become module
    globals too, so later lookups cost nothing."""
    if _ARROW:
        return _ARROW
    import pyarrow as pa

    types = {
        _DICT: pa.dictionary(pa.int32(), pa.string()),
        _TS: pa.timestamp("ms", tz="UTC"),
        _LIST_STR: pa.list_(pa.string()),
    }
    meta = {SCHEMA_VERSION_KEY: str(SCHEMA_VERSION).encode()}

    def typed(spec: Iterable[tuple[str, str, str]]) -> tuple[tuple[str, pa.DataType, str], ...]:
        return tuple((n, types[t] if t in types else getattr(pa, t)(), d) for n, t, d in spec)

    def schema(fields: Iterable[tuple[str, pa.DataType, str]], described: bool) -> pa.Schema:
        return pa.schema(
            [
                pa.field(n, t, metadata={DESCRIPTION_KEY: d.encode()} if described else None)
                for n, t, d in fields
            ],
            metadata=meta,
        )

    built: dict[str, Any] = {}
    for kind, spec in _SPECS.items():
        built[f"{kind}_FIELDS"] = typed(spec)
        if kind != "K8S":
            built[f"{kind}_SCHEMA"] = schema(built[f"{kind}_FIELDS"], described=False)
    # The same schemas with each column's description as Arrow field metadata
    # (DESCRIPTION_KEY), by column names: what documents a table built from one of them.
    built["_DESCRIBED"] = {
        tuple(n for n, _, _ in fields): schema(fields, described=True)
        for fields in (built[f"{k}_FIELDS"] for k in ("MAC", "LOSS", "REJECT", "PROFILE_STATE"))
    }
    globals().update(built)
    _ARROW.update(built)
    return _ARROW


def __getattr__(name: str) -> Any:
    """The Arrow objects (``MAC_SCHEMA``, ``MAC_FIELDS``, ...), built on first use."""
    if name in _ARROW_NAMES:
        return _arrow()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def described(schema: pa.Schema) -> pa.Schema:
    """``schema`` (MAC, LOSS, REJECT or PROFILE_STATE) with each column's description as
    field metadata."""
    try:
        return _arrow()["_DESCRIBED"][tuple(schema.names)]
    except KeyError:
        raise ValueError(f"no descriptions for columns {schema.names}") from None


def descriptions(schema: pa.Schema) -> dict[str, str]:
    """Column name -> description, rendered from the field metadata of ``described(schema)``."""
    return {f.name: (f.metadata or {})[DESCRIPTION_KEY].decode() for f in described(schema)}


def schema_version(schema: pa.Schema) -> int | None:
    """The SCHEMA_VERSION stamped in a schema's metadata, or None when absent."""
    meta = schema.metadata or {}
    value = meta.get(SCHEMA_VERSION_KEY)
    return int(value) if value is not None else None


_EMPTY_BATCHES: dict[int, tuple[pa.Schema, pa.RecordBatch]] = {}


def empty_batch(schema: pa.Schema | None = None) -> pa.RecordBatch:
    """A zero-row batch of ``schema`` (default ``MAC_SCHEMA``), built once per schema
    object (batches are immutable).

    Building one costs ~0.4 ms; a stream of junk asks for several per parser call.
    """
    import pyarrow as pa

    if schema is None:
        schema = _arrow()["MAC_SCHEMA"]
    hit = _EMPTY_BATCHES.get(id(schema))
    if hit is not None and hit[0] is schema:  # the schema itself is kept: its id stays its own
        return hit[1]
    batch = pa.RecordBatch.from_pylist([], schema=schema)
    if len(_EMPTY_BATCHES) < 64:  # bounded: callers that build schemas on the fly still work
        _EMPTY_BATCHES[id(schema)] = (schema, batch)
    return batch


def concat_batches(batches: Iterable[pa.RecordBatch], schema: pa.Schema) -> pa.RecordBatch:
    """One batch of ``schema`` holding the rows of ``batches`` in order (empty ones skipped)."""
    import pyarrow as pa

    batches = [b for b in batches if b.num_rows]
    if not batches:
        return empty_batch(schema)
    if len(batches) == 1:
        return batches[0]
    return pa.Table.from_batches(batches, schema=schema).combine_chunks().to_batches()[0]


def batch_from_rows(
    rows: Iterable[Mapping[str, Any]], schema: pa.Schema | None = None
) -> pa.RecordBatch:
    """Build a batch of ``schema`` (default ``MAC_SCHEMA``) from dict rows (missing keys
    are null); for tests and slow paths.

    Unknown keys are an error, so a typo never silently becomes a null column.
    """
    import pyarrow as pa

    if schema is None:
        schema = _arrow()["MAC_SCHEMA"]
    rows = list(rows)
    names = set(schema.names)
    for row in rows:
        unknown = set(row) - names
        if unknown:
            raise KeyError(f"unknown column(s) {sorted(unknown)}; see parsers/schema.py")
    return pa.RecordBatch.from_pylist(rows, schema=schema)


def conform(batch: pa.RecordBatch, schema: pa.Schema | None = None) -> pa.RecordBatch:
    """Cast a batch with the same column names to ``schema`` (default ``MAC_SCHEMA``)
    exactly (types, order, metadata)."""
    import pyarrow as pa

    if schema is None:
        schema = _arrow()["MAC_SCHEMA"]
    if batch.schema.equals(schema, check_metadata=True):
        return batch
    if batch.schema.names != schema.names:
        raise ValueError(
            f"columns differ from schema v{SCHEMA_VERSION}: {batch.schema.names} != {schema.names}"
        )
    arrays = [batch.column(i).cast(f.type) for i, f in enumerate(schema)]
    return pa.RecordBatch.from_arrays(arrays, schema=schema)
