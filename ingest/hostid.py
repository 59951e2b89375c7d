"""Host identity stamped on every batch: host name, /etc/machine-id, boot_id.

Audit serials restart at every boot, so the boot_id is part of the record key.
"""

from __future__ import annotations

import socket
from pathlib import Path

from armorwatch.parsers.result import HostInfo

MACHINE_ID_PATHS = (Path("/etc/machine-id"), Path("/var/lib/dbus/machine-id"))
BOOT_ID_PATH = Path("/proc/sys/kernel/random/boot_id")


def _read_id(path: Path) -> str | None:
    try:
        text = path.read_text(encoding="ascii", errors="replace").strip()
    except OSError:
        return None
    # boot_id has dashes; machine-id does not. Store both in the 32-hex form journald uses.
    text = text.replace("-", "").lower()
    return text or None


def host_info(
    host: str | None = None,
    machine_id_paths: tuple[Path, ...] = MACHINE_ID_PATHS,
    boot_id_path: Path = BOOT_ID_PATH,
) -> HostInfo:
    """This host's identity; ``host`` overrides the kernel host name."""
    machine_id = None
    for path in machine_id_paths:
        machine_id = _read_id(path)
        if machine_id:
            break
    return HostInfo(
        host=host or socket.gethostname() or None,
        machine_id=machine_id,
        boot_id=_read_id(boot_id_path),
    )
