"""A command run with its standard error on a pseudo-terminal (progress bars draw only there)."""

from __future__ import annotations

import fcntl
import os
import pty
import select
import struct
import subprocess
import termios
from collections.abc import Sequence


def stderr_on_terminal(
    argv: Sequence[str], columns: int = 120, timeout: float = 120.0
) -> tuple[int, bytes]:
    """Run ``argv`` (stdout discarded) with stderr on a ``columns``-wide terminal: its exit
    code and what it wrote there. Killed when silent for ``timeout`` seconds."""
    leader, follower = pty.openpty()
    # a new pseudo-terminal is 0 columns wide, and tqdm draws nothing in 0 columns
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
    with subprocess.Popen(list(argv), stdout=subprocess.DEVNULL, stderr=follower) as proc:
        os.close(follower)
        chunks = []
        while True:
            ready, _, _ = select.select([leader], [], [], timeout)
            if not ready:
                proc.kill()
                break
            try:
                data = os.read(leader, 4096)
            except OSError:  # EIO: the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
        rc = proc.wait(timeout=timeout)
    os.close(leader)
    return rc, b"".join(chunks)
