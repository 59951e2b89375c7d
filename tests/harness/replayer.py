"""A replayer that writes audit.log like auditd does, and the ledger of what it wrote.

Every event is an AppArmor AVC plus its SYSCALL and PROCTITLE records sharing one
``audit(ts:serial)``; serials are unique and increasing within a boot, and the AVC's
``name=`` embeds the serial so a stored row can be traced back to its line. The
ledger gets a serial only after the event's three lines are flushed to the log.

Rotation, as the real writers do it:

- ``auditd``: rename ``audit.log.(N-1)`` → ``.N`` … ``audit.log`` → ``.1`` (dropping
  anything beyond ``num_logs``), then create a new ``audit.log``;
- ``create`` (logrotate): the same renames, then the writer reopens a new file;
- ``copytruncate`` (logrotate): copy ``audit.log`` → ``.1``, then truncate in place. A
  stale writer (no ``O_APPEND``) keeps writing at its old offset, leaving a hole of NUL
  bytes; events written between the copy and the truncation are in the race window
  every tailer documents, and the ledger marks them as such.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

PROFILE = "/usr/sbin/replayd"


def event_lines(serial: int, ts: float) -> bytes:
    """The three records of one event (AVC, SYSCALL, PROCTITLE), newline-terminated."""
    stamp = f"audit({ts:.3f}:{serial})"
    return (
        f'type=AVC msg={stamp}: apparmor="DENIED" operation="open" class="file" '
        f'profile="{PROFILE}" name="/srv/replay/{serial}" pid=4242 comm="replayd" '
        f'requested_mask="r" denied_mask="r" fsuid=33 ouid=0\n'
        f"type=SYSCALL msg={stamp}: arch=c000003e syscall=257 success=no exit=-13 "
        f"a0=ffffff9c a1=7ffd1 a2=0 a3=0 items=0 ppid=1 pid=4242 auid=4294967295 uid=33 "
        f'gid=33 euid=33 suid=33 fsuid=33 egid=33 sgid=33 fsgid=33 tty=(none) ses=4294967295 '
        f'comm="replayd" exe="/usr/sbin/replayd" subj={PROFILE} key=(null)\n'
        f"type=PROCTITLE msg={stamp}: proctitle=7265706C617964002D66\n"
    ).encode()


@dataclass
class Ledger:
    """Serials written, one per line, appended and flushed as events reach the log."""

    path: Path
    window: set[int] = field(default_factory=set)
    """Serials written inside a copytruncate race window (loss there is documented)."""

    def __post_init__(self) -> None:
        self._f = self.path.open("a", buffering=1)

    def add(self, serial: int) -> None:
        """Record that ``serial`` is on disk."""
        self._f.write(f"{serial}\n")

    def close(self) -> None:
        """Flush and close the ledger file."""
        self._f.close()

    @staticmethod
    def read(path: Path) -> list[int]:
        """Serials in a ledger file, in write order."""
        return [int(x) for x in path.read_text().split()]


class Replayer:
    """Writes events into ``directory/audit.log`` and rotates it like auditd or logrotate."""

    def __init__(
        self,
        directory: Path,
        ledger: Ledger,
        *,
        first_serial: int = 1,
        start_ts: float = 1_764_000_000.0,
        num_logs: int = 5,
        o_append: bool = True,
    ) -> None:
        self.directory = directory
        self.log = directory / "audit.log"
        self.ledger = ledger
        self.serial = first_serial
        self.ts = start_ts
        self.num_logs = num_logs
        self.o_append = o_append
        self.rotations = 0
        self.truncations = 0
        self.copytruncated: list[tuple[int, int]] = []
        """Per copytruncate: (bytes the copy holds, file size when truncated); the bytes
        in between are the race window's, destroyed."""
        self._fd = self._open()

    def _open(self) -> int:
        flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if self.o_append else 0)
        fd = os.open(self.log, flags, 0o600)
        if not self.o_append:
            os.lseek(fd, 0, os.SEEK_END)
        return fd

    def write(self, events: int = 1) -> list[int]:
        """Write ``events`` events, each flushed before its serial enters the ledger."""
        written = []
        for _ in range(events):
            data = event_lines(self.serial, self.ts)
            os.write(self._fd, data)
            self.ledger.add(self.serial)
            written.append(self.serial)
            self.serial += 1
            self.ts += 0.001
        return written

    def write_partial(self, serial_text: bytes) -> None:
        """Write bytes with no newline: a line the tailer must hold until it completes."""
        os.write(self._fd, serial_text)

    def _shift(self) -> None:
        """audit.log.(N-1) → .N, …, audit.log.1 → .2; beyond num_logs is deleted."""
        oldest = self.directory / f"audit.log.{self.num_logs - 1}"
        if oldest.exists():
            oldest.unlink()
        for n in range(self.num_logs - 2, 0, -1):
            src = self.directory / f"audit.log.{n}"
            if src.exists():
                src.rename(self.directory / f"audit.log.{n + 1}")

    def rotate(self, mode: str = "auditd", window_events: int = 0) -> None:
        """Rotate as ``auditd``, logrotate ``create`` or logrotate ``copytruncate``."""
        self.rotations += 1
        self._shift()
        if mode in ("auditd", "create"):
            self.log.rename(self.directory / "audit.log.1")
            os.close(self._fd)
            self._fd = self._open()
            return
        if mode != "copytruncate":
            raise ValueError(f"unknown rotation mode {mode!r}")
        shutil.copyfile(self.log, self.directory / "audit.log.1")
        held = (self.directory / "audit.log.1").stat().st_size
        # Events written after the copy and before the truncation exist in neither file.
        self.ledger.window.update(self.write(window_events))
        self.copytruncated.append((held, self.log.stat().st_size))
        os.truncate(self.log, 0)
        self.truncations += 1

    def truncate(self) -> None:
        """Truncate in place (an operator's `: > audit.log`)."""
        os.truncate(self.log, 0)
        self.truncations += 1

    def delete_and_recreate(self) -> None:
        """Delete the live file and start a new one (its inode may be reused)."""
        os.close(self._fd)
        self.log.unlink()
        self._fd = self._open()

    def reboot(self) -> None:
        """Serials restart at 1, as the kernel's do after a reboot."""
        self.serial = 1

    def close(self) -> None:
        """Close the log file descriptor."""
        os.close(self._fd)


def paced(total: int, rate: float, batch: int = 50) -> Iterator[int]:
    """Yield batch sizes summing to ``total`` at about ``rate`` events per second."""
    start = time.monotonic()
    done = 0
    while done < total:
        n = min(batch, total - done)
        yield n
        done += n
        ahead = done / rate - (time.monotonic() - start)
        if ahead > 0:
            time.sleep(ahead)
