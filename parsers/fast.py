"""Arrow side of the C fast path (``parsers._fastscan``): scan results → MAC_SCHEMA batch.

The C scanner appends each MAC record's values to per-column buffers; here they are
wrapped without copying (``pa.Array.from_buffers``) and finished with vectorised Arrow
work that runs once per *distinct* value, not per line: dictionary encoding, protocol and
socket-type names, and label splitting (namespace / stack / parent / child) computed on the
profile dictionary and broadcast with ``take``. Lines the scanner does not handle come back
as "slow" lines and go through the reference path (``parsers.records``).

Also here: ``JournalLines``, which turns ``journalctl -o json`` entries into lines the
scanner reads (and its rows back into the entries' identity and bytes).
"""

from __future__ import annotations

import functools
import importlib
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

import orjson
import pyarrow as pa

if TYPE_CHECKING:
    import pyarrow.compute as pc
else:

    class _Kernels:
        """The pyarrow.compute functions used here, called as pyarrow.compute calls them
        (same kernels, same default options) through ``pyarrow._compute``: importing
        pyarrow.compute itself builds a Python wrapper for each of its ~300 functions,
        ~0.2 G instructions (0.03-0.05 s) of every process that parses anything.
        pyarrow._compute itself is imported at the first call (a command that parses
        nothing does not pay its ~50M instructions either)."""

        def __getattr__(self, name: str) -> Any:  # the element-wise ones: add, equal, ...
            kernel = {"or_": "or", "and_": "and"}.get(name, name)

            def call(*args: Any) -> Any:
                return _ac().call_function(kernel, list(args))

            setattr(self, name, call)
            return call

        @staticmethod
        def cast(arr: Any, target_type: Any) -> Any:
            return _ac().call_function("cast", [arr], _ac().CastOptions.safe(target_type))

        @staticmethod
        def take(data: Any, indices: Any) -> Any:
            return _ac().call_function("take", [data, indices], _ac().TakeOptions(boundscheck=True))

        @staticmethod
        def fill_null(values: Any, fill_value: Any) -> Any:
            if not isinstance(fill_value, pa.Scalar):
                fill_value = pa.scalar(fill_value, type=values.type)
            elif values.type != fill_value.type:
                fill_value = pa.scalar(fill_value.as_py(), type=values.type)
            return _ac().call_function("coalesce", [values, fill_value])

        @staticmethod
        def dictionary_encode(arr: Any) -> Any:
            return _ac().call_function("dictionary_encode", [arr], _ac().DictionaryEncodeOptions())

        @staticmethod
        def filter(values: Any, mask: Any) -> Any:
            return _ac().call_function("filter", [values, mask], _ac().FilterOptions())

        @staticmethod
        def is_in(values: Any, value_set: Any) -> Any:
            return _ac().call_function("is_in", [values], _ac().SetLookupOptions(value_set))

        @staticmethod
        def index_in(values: Any, value_set: Any) -> Any:
            return _ac().call_function("index_in", [values], _ac().SetLookupOptions(value_set))

        @staticmethod
        def any(values: Any) -> Any:
            return _ac().call_function("any", [values], _ac().ScalarAggregateOptions())

    @functools.cache
    def _ac() -> Any:
        return importlib.import_module("pyarrow._compute")

    pc = _Kernels()

from armorwatch.parsers import fields as F
from armorwatch.parsers import records as R
from armorwatch.parsers import schema as S
from armorwatch.parsers.result import HostInfo

_fastscan: Any
try:
    _fastscan = importlib.import_module("armorwatch.parsers._fastscan")
except ImportError:  # no compiler at install time: the pure-Python path does everything
    _fastscan = None

# C column name → schema column (string columns the C side fills)
_DICT: Final = pa.dictionary(pa.int32(), pa.string())


SCAN_UNTRUSTED_TAG: Final = 1
"""``scan`` flag: a syslog ``kernel:`` tag proves nothing (``Parser(kernel_tag=False)``):
the kernel records behind one get origin unverified (``_user`` = 2)."""


SCAN_INFER_YEAR: Final = 2
"""``scan`` flag: RFC 3164 dates take the year of the last audit time read
(``Parser(year=None)``), else always ``year``."""


def available() -> bool:
    """Whether the compiled scanner is importable."""
    return _fastscan is not None


def has_binary(buf: bytes) -> bool:
    """Whether ``buf`` holds a byte ``records.is_binary`` judges binary (in C when built)."""
    if _fastscan is None:
        return R.is_binary(buf)
    return bool(_fastscan.has_binary(buf))


def scan(
    head: bytes,
    data: bytes,
    start: int,
    end: int,
    final: bool,
    prev_max_ts: int,
    window_ms: int,
    flags: int = 0,
    daemon_from: int = -1,
    ncarry: int = 0,
    year: int = 0,
) -> dict[str, Any]:
    """One pass of the C scanner over ``head + data[start:end]`` (complete lines; the
    chunk itself is not copied). See parsers/_fastscan.c for the result's keys.

    ``daemon_from`` >= 0: the scan stops before the first DAEMON_START line at or after
    that position (``result["daemon"]``, else -1), as if the buffer ended there.

    ``ncarry``: the first bytes of ``head`` that are lines carried from the previous call
    (their audit times taught the year there). ``year``: the year an RFC 3164 date takes at
    the buffer's start (``Parser.year``; with ``SCAN_INFER_YEAR`` it then follows the audit
    times read, as ``Parser._classify`` learns it); 0 leaves journal-short lines
    (``DATE HOST audit[PID]: AVC …``) to the Python path."""
    assert _fastscan is not None
    result: dict[str, Any] = _fastscan.scan(
        head, data, start, end, final, prev_max_ts, window_ms, flags, daemon_from, ncarry, year
    )
    return result


def _derived(arr: pa.DictionaryArray, per_value: list[str | None]) -> pa.DictionaryArray:
    """A dictionary column whose value is ``per_value[i]`` where ``arr``'s index is i."""
    uniq = list(dict.fromkeys(v for v in per_value if v is not None))
    pos = {v: i for i, v in enumerate(uniq)}
    remap = pa.array([pos.get(v) if v is not None else None for v in per_value], pa.int32())
    return pa.DictionaryArray.from_arrays(pc.take(remap, arr.indices), pa.array(uniq, pa.string()))


def _remap(arr: pa.DictionaryArray, fn: Callable[[str], str]) -> pa.DictionaryArray:
    """Apply ``fn`` to each distinct value of a dictionary column (nulls stay null)."""
    return _derived(arr, [fn(v) for v in arr.dictionary.to_pylist()])


def _const(value: str | None, n: int) -> pa.Array:
    if value is None:
        return pa.nulls(n, _DICT)
    indices = pc.fill_null(pa.nulls(n, pa.int32()), _k(0, pa.int32()))
    return pa.DictionaryArray.from_arrays(indices, pa.array([value], pa.string()))


@functools.lru_cache(maxsize=512)
def _k(value: object, typ: pa.DataType = pa.int64()) -> pa.Scalar:
    """A cached Arrow scalar. A Python literal given to pyarrow.compute costs ~40 us a call
    (pyarrow tries to import numpy for it, and fails again each time without numpy)."""
    return pa.scalar(value, typ)


def _suspect(user: pa.Array, cols: dict[str, pa.Array]) -> pa.Array:
    """SUSPECT of the scanned rows: a USER_AVC of a kernel-mediated class is an imitation,
    and a kernel record behind a ``kernel:`` tag that proves nothing (``_user`` 2) is
    unverified.

    (Repeated fields and NUL bytes in paths send a line to the Python path, which marks
    them; ``records.kernel_mediated`` decides the class here too.)
    """
    n = len(user)
    if n == 0 or not pc.any(pc.not_equal(user, _k(0))).as_py():
        return pa.nulls(n, pa.string())
    unverified = pc.equal(user, _k(2))
    user = pc.if_else(unverified, _k(0), user)
    if not pc.any(pc.not_equal(user, _k(0))).as_py():
        return pc.if_else(unverified, _k(S.SUSPECT_UNVERIFIED, pa.string()), _k(None, pa.string()))
    # each distinct (class, tclass, operation) among the USER_AVC rows is judged once;
    # rows are matched by a key made of dictionary indices, never read one by one
    parts = [cols[name] for name in (S.CLASS, S.TCLASS, S.OPERATION)]
    values = [[None, *d.dictionary.to_pylist()] for d in parts]
    key: Any = None
    for d, v in zip(parts, values, strict=True):
        i = pc.add(pc.cast(pc.fill_null(d.indices, _k(-1, pa.int32())), pa.int64()), _k(1))
        key = i if key is None else pc.add(pc.multiply(key, _k(len(v))), i)
    is_user = pc.not_equal(user, _k(0))
    forged = []
    for k in pc.unique(pc.filter(key, is_user)).to_pylist():
        k, o = divmod(k, len(values[2]))
        c, t = divmod(k, len(values[1]))
        row = {S.CLASS: values[0][c], S.TCLASS: values[1][t], S.OPERATION: values[2][o]}
        if R.kernel_mediated(row):
            forged.append((c * len(values[1]) + t) * len(values[2]) + o)
    mask = pc.and_(is_user, pc.is_in(key, pa.array(forged, pa.int64())))
    out = pc.if_else(mask, _k(S.SUSPECT_FROM_USERSPACE, pa.string()), _k(None, pa.string()))
    return pc.if_else(unverified, _k(S.SUSPECT_UNVERIFIED, pa.string()), out)


def _mediation_class(cols: dict[str, pa.Array], n: int) -> pa.Array:
    """MEDIATION_CLASS of the scanned rows: class=, else tclass, else
    ``records.derive_class`` called once per distinct (operation, family, field bits).

    Worked out on dictionary indices: no row's text is decoded or encoded again."""
    cls: pa.DictionaryArray = cols[S.CLASS]
    tcls: pa.DictionaryArray = cols[S.TCLASS]
    if tcls.null_count == n:  # (the scanner's dictionaries hold only values rows have)
        given = cls
    elif cls.null_count == n:
        given = tcls
    else:
        given = pc.dictionary_encode(
            pc.coalesce(pc.cast(cls, pa.string()), pc.cast(tcls, pa.string()))
        )
    if given.null_count == 0:  # every record says its class (today's kernels): nothing to derive
        return given
    lsm_aa = pc.equal(cols[S.LSM].indices, _k(0, pa.int32()))  # dictionary [apparmor, selinux]
    need = pc.and_(pc.is_null(given), lsm_aa)
    op: pa.DictionaryArray = cols[S.OPERATION]
    fam: pa.DictionaryArray = cols[S.FAMILY]
    bits: Any = None
    for bit, names in R.CLASS_BITS:
        present = pc.is_valid(cols[names[0]])
        for name in names[1:]:
            present = pc.or_(present, pc.is_valid(cols[name]))
        term = pc.if_else(present, _k(bit), _k(0))
        bits = term if bits is None else pc.add(bits, term)
    nfam = len(fam.dictionary) + 1
    opi = pc.add(pc.cast(pc.fill_null(op.indices, _k(-1, pa.int32())), pa.int64()), _k(1))
    fami = pc.add(pc.cast(pc.fill_null(fam.indices, _k(-1, pa.int32())), pa.int64()), _k(1))
    key = pc.add(pc.multiply(pc.add(pc.multiply(opi, _k(nfam)), fami), _k(64)), bits)
    uniq = pc.unique(pc.filter(key, need))
    ops = [None, *op.dictionary.to_pylist()]
    fams = [None, *fam.dictionary.to_pylist()]
    values = given.dictionary.to_pylist()
    at = {v: i for i, v in enumerate(values)}
    remap: list[int | None] = []
    for k in uniq.to_pylist():
        cls_k = R.derive_class(ops[k // 64 // nfam], fams[k // 64 % nfam], k % 64)
        if cls_k is not None and cls_k not in at:
            at[cls_k] = len(values)
            values.append(cls_k)
        remap.append(None if cls_k is None else at[cls_k])
    derived = pc.if_else(
        need,
        pc.take(pa.array(remap, pa.int32()), pc.index_in(key, uniq)),
        _k(None, pa.int32()),
    )
    return pa.DictionaryArray.from_arrays(
        pc.coalesce(given.indices, derived), pa.array(values, pa.string())
    )


def to_batch(
    res: dict[str, Any],
    *,
    source: str,
    host: str | None,
    machine_id: str | None,
    boot_id: str | None,
    slow_events: set[int] | None = None,
    slow_mac: dict[int, list[int]] | None = None,
) -> tuple[pa.RecordBatch, dict[tuple[int, int], int]]:
    """The MAC_SCHEMA batch of the rows the scanner built, and the ordinals of slow rows.

    ``slow_events`` are events that had lines the Python path judged, ``slow_mac`` the
    member indices of those that became MAC records: ordinals count MAC records only.
    """
    n = int(res["rows"])
    ordinals: dict[tuple[int, int], int] = {}
    if n == 0:
        for ev, members in (slow_mac or {}).items():
            for rank, m in enumerate(sorted(members)):
                ordinals[(ev, m)] = rank
        return S.empty_batch(S.MAC_SCHEMA), ordinals
    strs: dict[str, pa.Array] = {}
    dicts: dict[str, pa.DictionaryArray] = {}
    for item in res["str"]:
        if len(item) == 6:  # dictionary column: indices + distinct values, built in C
            name, idx, valid, data, offs, nd = item
            values = (
                pa.Array.from_buffers(
                    pa.string(), nd, [None, pa.py_buffer(offs), pa.py_buffer(data)]
                )
                if nd
                else pa.array([], pa.string())
            )
            indices = pa.Array.from_buffers(pa.int32(), n, [pa.py_buffer(valid), pa.py_buffer(idx)])
            # (the scanner's indices are in range: not checked again, as from_buffers)
            dicts[name] = pa.DictionaryArray.from_arrays(indices, values, safe=False)
        else:
            name, data, offs, valid = item
            typ = pa.binary() if name == S.RAW else pa.string()
            strs[name] = pa.Array.from_buffers(
                typ, n, [pa.py_buffer(valid), pa.py_buffer(offs), pa.py_buffer(data)]
            )
    ints: dict[str, pa.Array] = {
        name: pa.Array.from_buffers(pa.int64(), n, [pa.py_buffer(valid), pa.py_buffer(vals)])
        for name, vals, valid in res["int"]
    }
    p_offs, p_valid, c_data, c_offs = res["perms"]
    items = (len(c_offs) // 4 - 1) if c_offs else 0
    child = pa.Array.from_buffers(
        pa.string(), items, [None, pa.py_buffer(c_offs), pa.py_buffer(c_data)]
    )
    perms = pa.Array.from_buffers(
        pa.list_(pa.string()),
        n,
        [pa.py_buffer(p_valid), pa.py_buffer(p_offs)],
        children=[child],
    )

    cols: dict[str, pa.Array] = {}
    cols.update(strs)
    cols.update(dicts)
    if host is not None:
        h = dicts[S.HOST]
        values = h.dictionary.to_pylist()
        at = values.index(host) if host in values else len(values)
        if at == len(values):
            values.append(host)
        cols[S.HOST] = pa.DictionaryArray.from_arrays(
            pc.fill_null(h.indices, pa.scalar(at, pa.int32())), pa.array(values, pa.string())
        )
    cols[S.PROTOCOL] = _remap(dicts[S.PROTOCOL], F.protocol_name)
    cols[S.SOCK_TYPE] = _remap(dicts[S.SOCK_TYPE], F.numeric_name)

    # labels: split each distinct profile once, broadcast by the profile's indices
    prof = dicts[S.PROFILE]
    parts = [F.split_label(v) for v in prof.dictionary.to_pylist()]
    cols[S.PROFILE_NS] = _derived(prof, [p[0] for p in parts])
    cols[S.PROFILE_PARENT] = _derived(prof, [p[2] for p in parts])
    cols[S.PROFILE_CHILD] = _derived(prof, [p[3] for p in parts])
    cols[S.PROFILE_STACK] = pc.take(
        pa.array([p[1] for p in parts], pa.list_(pa.string())), prof.indices
    )

    cols[S.ORIGIN] = pa.DictionaryArray.from_arrays(
        pc.cast(ints["_user"], pa.int32()),
        pa.array([S.ORIGIN_KERNEL, S.ORIGIN_USERSPACE, S.ORIGIN_UNVERIFIED], pa.string()),
    )
    cols[S.SUSPECT] = _suspect(ints["_user"], cols)
    cols[S.LSM] = pa.DictionaryArray.from_arrays(
        pc.cast(ints["_selinux"], pa.int32()),
        pa.array([S.LSM_APPARMOR, S.LSM_SELINUX], pa.string()),
    )
    cols[S.MEDIATION_CLASS] = _mediation_class(cols, n)
    ordinal = ints[S.ORDINAL]
    if slow_events:
        ev = ints["_event"].to_pylist()
        mem = ints["_member"].to_pylist()
        by_event: dict[int, list[int]] = {e: list((slow_mac or {}).get(e, [])) for e in slow_events}
        for e, m in zip(ev, mem, strict=True):
            if e in by_event:
                by_event[e].append(m)
        for e, ms in by_event.items():
            for rank, m in enumerate(sorted(ms)):
                ordinals[(e, m)] = rank
        old = ordinal.to_pylist()
        ordinal = pa.array(
            [ordinals.get((e, m), o) for e, m, o in zip(ev, mem, old, strict=True)], pa.int64()
        )
    cols[S.ORDINAL] = ordinal
    for name in S.COLUMNS:
        if name in ints and name not in cols:
            cols[name] = ints[name]
    cols[S.PERMS] = perms
    cols[S.RAW] = strs[S.RAW]

    arrays = []
    for field in S.MAC_SCHEMA:
        name = field.name
        if name == S.SOURCE:
            arrays.append(_const(source, n))
        elif name == S.MACHINE_ID:
            arrays.append(_const(machine_id, n))
        elif name == S.BOOT_ID:
            arrays.append(_const(boot_id, n))
        elif name in S.K8S_COLUMNS:  # filled after parsing, on a Kubernetes node
            arrays.append(pa.nulls(n, field.type))
        elif field.type == _DICT:
            col = cols[name]
            arrays.append(col if isinstance(col, pa.DictionaryArray) else pc.dictionary_encode(col))
        elif name == S.PERMISSIVE:
            arrays.append(pc.not_equal(cols[name], _k(0)))
        else:
            col = cols[name]
            arrays.append(col if col.type == field.type else pc.cast(col, field.type))
    return pa.RecordBatch.from_arrays(arrays, schema=S.MAC_SCHEMA), ordinals


# --- journald entries as scanner lines --------------------------------------------------
# record types the scanner reads by name as parsers.journald hands them to audit_record
# (a number or UNKNOWN[n] it would map to a name the Python path does not)
_SCAN_TYPE: Final = re.compile(r"[A-Z][A-Z0-9_]*")
_KERNEL_AUDIT: Final = b"audit: type="
_AUDIT_STARTS: Final = (b"type=", b"node=", b"host=")  # where AUDIT_HDR can match


def _str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _one_line(body: bytes) -> bool:
    """Whether ``body`` stays one scanner line that is read as the Python path reads it
    (no line end; no ``msg='…`` the scanner would try to continue on the next line)."""
    return (
        b"\n" not in body
        and b"\r" not in body
        and not (b"msg='" in body and body.count(b"'") % 2 == 1)
    )


class JournalLines:
    """``journalctl -o json`` entries as lines the C scanner reads, and back.

    An audit-transport entry with an audit id and a time becomes
    ``[ 0.SEQ] node=JK type=T msg=audit(SEC.MSEC:ID): BODY`` (its time is journald's, as
    ``parsers.journald.parse_entry`` gives it), a kernel-transport ``audit: type=…``
    message ``[ 0.SEQ] node=JK type=…``. K numbers the entry's (host, boot): events group
    per host and boot, as in the Python path. SEQ numbers the line, so every scanned line
    leads back to its entry. Any other line (other transports, USER_AVC text relayed by
    the kernel, a whole audit line in MESSAGE, broken JSON, …) becomes ``{SEQ``, which the
    scanner hands back: the Python path judges the original line.
    """

    MAX_NODES: Final = 4096

    def __init__(self) -> None:
        self.carry = b""
        """Scanner lines of events still open, scanned again with the next lines."""
        self.carried = 0
        """How many lines ``carry`` holds."""
        # SEQ -> (stream offset, original line, (host, machine id, boot id)); the entry
        # itself is not kept (100k dicts alive would keep the cyclic GC busy)
        self._tab: dict[int, tuple[int, bytes, tuple[str | None, ...]]] = {}
        self._seq = 0
        self._nodes: dict[tuple[str | None, str | None], int] = {}
        # rtype -> (its bytes, whether the scanner reads it by that name)
        self._types: dict[str, tuple[bytes | None, bool]] = {}
        # lines translated in C (build_buf): (first SEQ, entries, buffer, its stream
        # offset, line starts, line lengths, identity index (-1: none), identities)
        self._blocks: list[tuple[int, int, bytes, int, Any, Any, Any, list[Any]]] = []

    @staticmethod
    def _open_last(buf: bytes, start: int, end: int) -> bool:
        """Whether the last line of ``buf[start:end]`` is a USER_AVC that may go on."""
        last = buf[buf.rfind(b"\n", start, end - 1) + 1 : end]
        return b"msg='" in last and last.count(b"'") % 2 == 1

    def build_buf(
        self,
        buf: bytes,
        base: int,
        final: bool,
        default: HostInfo,
        more: tuple[bytes, int, int, int] | None = None,
    ) -> bytes | None:
        """``build`` of the lines of ``buf`` (stream offset ``base``) and of ``more``
        (DATA, START, END, stream offset of DATA[0]: lines that follow, not copied), in C,
        when ``LineBuffer.lines`` would cut them at their newlines alone (else None,
        nothing changed: a line may continue a USER_AVC). ``_fastscan.journal``
        translates the entries it reads with certainty and leaves the others
        (placeholders ``{SEQ``) to ``_translate``."""
        pieces = [(buf, 0, len(buf), base)]
        if more is not None and more[2] > more[1]:
            pieces.append(more)
        if not final:
            last_buf, start, end, _at = pieces[-1]
            if self._open_last(last_buf, start, end):
                return None
        seq_before, blocks_before = self._seq, len(self._blocks)
        out = self.carry  # each piece's lines are written after it (the big one not copied)
        for k, (data, start, end, at) in enumerate(pieces):
            got = self._journal(data, start, end, at, k > 0, default, out)
            if got is None:  # undo the pieces before (their nodes stay numbered)
                self._seq = seq_before
                del self._blocks[blocks_before:]
                for q in [q for q in self._tab if q >= seq_before]:
                    del self._tab[q]
                return None
            out = got
        return out

    def _journal(
        self,
        buf: bytes,
        start: int,
        end: int,
        base: int,
        cont: bool,
        default: HostInfo,
        prefix: bytes,
    ) -> bytes | None:
        """``prefix`` + the scanner lines of ``buf[start:end]`` (``base``: stream offset
        of buf[0])."""
        seq0 = self._seq
        got = _fastscan.journal(
            buf,
            start,
            end,
            seq0,
            self._nodes,
            self.MAX_NODES,
            default.host,
            default.machine_id,
            default.boot_id,
            R.MAX_JSON_LINE,
            cont,
            prefix,
        )
        if got is None:
            return None
        out, n, starts, lens, index, idents, deferred = got
        self._seq += n
        self._blocks.append(
            (
                seq0,
                n,
                buf,
                base,
                memoryview(starts).cast("q"),
                memoryview(lens).cast("q"),
                memoryview(index).cast("i"),
                idents,
            )
        )
        if deferred:
            pieces: list[bytes] = []
            last = 0
            for seq, pos, size, at_out in deferred:
                line = buf[pos : pos + size]
                syn, ident = self._translate(line, seq, default)
                self._tab[seq] = (base + pos, line, ident)
                placeholder = b"{%d" % seq
                if syn != placeholder:
                    pieces += (out[last:at_out], syn, b"\n")
                    last = at_out + len(placeholder) + 1
            if pieces:
                pieces.append(out[last:])
                out = b"".join(pieces)
        return out

    def _entry(self, seq: int) -> tuple[int, bytes, tuple[str | None, ...]]:
        """(stream offset, original line, identity) of the entry numbered ``seq``."""
        got = self._tab.get(seq)
        if got is not None:
            return got
        for seq0, n, buf, base, starts, lens, index, idents in self._blocks:
            if seq0 <= seq < seq0 + n:
                i = seq - seq0
                s = starts[i]
                k = index[i]
                return base + s, buf[s : s + lens[i]], idents[k] if k >= 0 else ()
        raise KeyError(seq)

    def build(self, lines: list[tuple[int, bytes]], default: HostInfo) -> bytes:
        """The scanner's buffer: the carried lines, then one line per (offset, line)."""
        parts = [self.carry] if self.carry else []
        for at, line in lines:
            if not line:
                parts.append(b"\n")
                continue
            seq = self._seq
            self._seq += 1
            syn, ident = self._translate(line, seq, default)
            self._tab[seq] = (at, line, ident)
            parts.append(syn + b"\n")
        return b"".join(parts)

    def _translate(
        self, line: bytes, seq: int, default: HostInfo
    ) -> tuple[bytes, tuple[str | None, ...]]:
        fallback = (b"{%d" % seq, ())
        if len(line) > R.MAX_JSON_LINE or line[:1] != b"{":
            return fallback
        try:
            entry = orjson.loads(line)
        except orjson.JSONDecodeError:
            return fallback
        if not isinstance(entry, dict):
            return fallback
        get = entry.get
        msg = get("MESSAGE")
        transport = get("_TRANSPORT")
        if transport not in ("audit", "kernel"):
            return fallback
        if msg.__class__ is str:
            msg_b = msg.encode("utf-8", "surrogateescape")
        elif isinstance(msg, list):  # journalctl's rendering of a message that is not UTF-8
            try:
                msg_b = bytes(msg)
            except (ValueError, TypeError):
                return fallback
        else:
            return fallback
        hostname = _str(get("_HOSTNAME"))
        ident = (
            hostname or default.host,
            _str(get("_MACHINE_ID")) or default.machine_id,
            _str(get("_BOOT_ID")) or default.boot_id,
        )
        node = self._nodes.get((ident[0], ident[2]))
        if node is None:
            if len(self._nodes) >= self.MAX_NODES:
                return fallback
            node = self._nodes[(ident[0], ident[2])] = len(self._nodes)
        if transport == "kernel":
            # classify_line(trusted_kernel=True) of "audit: type=…"
            if not msg_b.startswith(_KERNEL_AUDIT):
                return fallback
            return self._whole(msg_b[7:], seq, node, fallback[0]), ident
        rtype = _str(get("_AUDIT_TYPE_NAME"))
        if rtype is None:
            rtype = R.TYPE_NAMES.get(str(get("_AUDIT_TYPE")), "UNKNOWN")
        known = self._types.get(rtype)
        if known is None:
            try:
                enc: bytes | None = rtype.encode()
            except UnicodeEncodeError:
                enc = None
            ok = bool(_SCAN_TYPE.fullmatch(rtype)) and not rtype.startswith("UNKNOWN")
            if len(self._types) > self.MAX_NODES:
                self._types.clear()
            known = self._types[rtype] = (enc, ok)
        rt, scannable = known
        if rt is None:
            return fallback
        body = msg_b[len(rt) + 1 :] if msg_b.startswith(rt + b" ") else msg_b
        if body[:5] in _AUDIT_STARTS:
            hm = R.AUDIT_HDR.match(body)
            if hm is not None:
                # a whole audit line in MESSAGE: read as classify_line reads it (its node=
                # names the host only when the entry has no _HOSTNAME)
                if hm.group("node") and not hostname:
                    return fallback
                return self._whole(body[hm.start("type") - 5 :], seq, node, fallback[0]), ident
        serial = get("_AUDIT_ID")
        src_us = get("_SOURCE_REALTIME_TIMESTAMP") or get("__REALTIME_TIMESTAMP")
        if (
            serial.__class__ is not str
            or not (serial.isascii() and serial.isdigit())
            or src_us.__class__ is not str
            or not (src_us.isascii() and src_us.isdigit())
        ):
            return fallback
        ms = int(src_us) // 1000
        head = b"[ 0.%d] node=J%d type=%s msg=audit(%d.%03d:%s): " % (
            seq,
            node,
            rt if scannable else b"APPARMOR_PY",
            ms // 1000,
            ms % 1000,
            serial.encode(),
        )
        if scannable and _one_line(body):
            return head + body, ident
        if rtype in R.ENRICH_TYPES or rtype in R.SINGLE_TYPES:
            return fallback
        # a record the scanner does not read: still a member of its event (so that the
        # ordinals agree), handed back to the Python path (an APPARMOR type always is)
        return head.replace(b" type=%s " % rt, b" type=APPARMOR_PY ", 1), ident

    @staticmethod
    def _whole(rest: bytes, seq: int, node: int, fallback: bytes) -> bytes:
        """The scanner line of an audit record with its own header (``type=…``), read as
        ``classify_line(trusted_kernel=True)`` reads it. A USER_AVC takes journald's time
        when suspect: left to the Python path, as is a record that is not one line."""
        rtok = rest[5:].split(b" ", 1)[0]
        if rtok in (b"1107", b"USER_AVC") or rtok.startswith(b"UNKNOWN") or not _one_line(rest):
            return fallback
        return b"[ 0.%d] node=J%d " % (seq, node) + rest

    def _seq_at(self, buf: bytes, start: int) -> int:
        if buf[start : start + 1] == b"{":
            end = buf.find(b"\n", start)
            return int(buf[start + 1 : end])
        return int(buf[start + 4 : buf.find(b"]", start)])

    def source(self, buf: bytes, start: int) -> tuple[bytes, int]:
        """The original line of the scanner line at ``buf[start]``, and its stream offset."""
        at, line, _ident = self._entry(self._seq_at(buf, start))
        return line, at

    def stamp(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        """The scanned rows with their entry's host, machine id, boot id and canonical
        bytes (the entry with its keys sorted, as parse_entry keeps it)."""
        if not batch.num_rows:
            return batch
        # rows of the newest C-translated lines are read in C (canon_rows) and take
        # their identity by index; others (carried, left to Python) come one by one
        seq0, nb, buf, _base, starts, lens, index, idents = (
            self._blocks[-1] if self._blocks else (0, 0, b"", 0, b"", b"", b"", [])
        )
        n = batch.num_rows
        raw = batch.column(S.RAW)
        offs = memoryview(raw.buffers()[1])[raw.offset * 4 : (raw.offset + n + 1) * 4]
        sel_b, who_b, slow = _fastscan.journal_rows(
            offs, raw.buffers()[2], n, seq0, nb, index, self._tab
        )
        sel = memoryview(sel_b).cast("q")
        who = memoryview(bytearray(who_b)).cast("i")
        extra: list[bytes] = []
        idents = list(idents)
        for r, q in slow:
            _at, line, ident = self._entry(q)
            extra.append(line)
            who[r] = len(idents)
            idents.append(ident)
        got = _fastscan.canon_rows(buf, starts, lens, sel, extra)
        if got is None:  # an entry canon does not read: orjson for every row
            lines = iter(extra)
            rendered = [
                orjson.dumps(
                    orjson.loads(buf[starts[i] : starts[i] + lens[i]] if i >= 0 else next(lines)),
                    option=orjson.OPT_SORT_KEYS,
                )
                for i in sel
            ]
            raw_col = pa.array(rendered, pa.binary())
        else:
            raw_col = pa.Array.from_buffers(
                pa.binary(), n, [None, pa.py_buffer(got[1]), pa.py_buffer(got[0])]
            )
        at = pa.Array.from_buffers(pa.int32(), n, [None, pa.py_buffer(who)])
        for k, name in enumerate((S.HOST, S.MACHINE_ID, S.BOOT_ID)):
            col = pc.dictionary_encode(pc.take(pa.array([t[k] for t in idents], pa.string()), at))
            i = batch.schema.get_field_index(name)
            batch = batch.set_column(i, batch.schema.field(i), col)
        i = batch.schema.get_field_index(S.RAW)
        return batch.set_column(i, batch.schema.field(i), raw_col)

    def keep(self, buf: bytes, carry: list[tuple[int, int]]) -> None:
        """After a scan: keep the lines of the events still open (and only their entries)."""
        seqs = [self._seq_at(buf, s) for s, _n in carry]
        self.carry = b"".join(buf[s : s + n] + b"\n" for s, n in carry)
        self.carried = len(carry)
        self._tab = {q: self._entry(q) for q in seqs}
        self._blocks = []
