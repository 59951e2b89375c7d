"""Rule suggestion benchmark: ``armorwatch suggest`` on a store of 200,000 denials.

``.venv/bin/python bench/bench_suggest.py [--denials N] [--profiles P] [--hosts H]
[--no-validate] [--json]``

The fleet: one audit.log (cached in ``bench/.data/``) of N AppArmor DENIED records over P
profiles and H hosts, each profile denied file reads/writes of ~60 paths (numbered logs,
per-user homes, /proc/<pid>, versioned libraries, so generalisation and broader options
have work), capabilities and network accesses, every line with ``node=HOST``.
``armorwatch run --no-report`` stores it (not timed); then ``armorwatch suggest --format
json -o DIR`` runs as a child process: its wall time, CPU time (its parser runs included),
the load average and its peak RSS (``ru_maxrss`` of that child, from ``wait4``), and the
profiles and rules it wrote, are reported.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DATA = HERE / ".data"
CLI = ROOT / ".venv" / "bin" / "armorwatch"
CAPS = ("chown", "setuid", "net_bind_service", "dac_override", "sys_nice", "kill")


def _line(rng: random.Random, i: int, profile: str, host: str) -> str:
    head = (f"node={host} type=AVC msg=audit({1763800000 + i // 10}.{i % 1000:03d}:{i}): "
            f'apparmor="DENIED" profile="{profile}" pid={1000 + i % 5000} comm="p" ')
    k = rng.random()
    if k < 0.08:
        cap = rng.choice(CAPS)
        return head + f'operation="capable" class="cap" capability=1 capname="{cap}"\n'
    if k < 0.12:
        return head + ('operation="create" class="net" family="inet" sock_type="stream" '
                       'protocol=6 requested_mask="create" denied_mask="create"\n')
    kinds = (
        f"/var/log/app/app-{rng.randrange(40)}.log",
        f"/home/user{rng.randrange(20)}/.cache/p/{rng.randrange(30)}",
        f"/proc/{rng.randrange(1, 30000)}/status",
        f"/usr/lib/x86_64-linux-gnu/libx{rng.randrange(8)}.so.{rng.randrange(3)}",
        f"/etc/p/conf.d/{rng.randrange(12)}.conf",
        f"/srv/data/{rng.randrange(60)}/index",
    )
    name = rng.choice(kinds)
    mask = "w" if name.startswith(("/var/log", "/home")) else "r"
    owner = 1000 if name.startswith("/home") else 0
    return head + (f'operation="open" class="file" name="{name}" requested_mask="{mask}" '
                   f'denied_mask="{mask}" fsuid={owner} ouid={owner}\n')


def auditlog(denials: int, profiles: int, hosts: int) -> Path:
    """The generated audit.log (cached by its parameters)."""
    path = DATA / f"suggest-{denials}-{profiles}p-{hosts}h-v1.log"
    if path.is_file():
        return path
    DATA.mkdir(parents=True, exist_ok=True)
    rng = random.Random(20)
    names = [f"/usr/sbin/daemon{p}" for p in range(profiles)]
    tmp = path.with_suffix(".tmp")
    with tmp.open("w") as f:
        for i in range(denials):
            host = f"host-{rng.randrange(hosts):02d}"
            f.write(_line(rng, i, names[rng.randrange(profiles)], host))
    tmp.replace(path)
    return path


def main(argv: list[str] | None = None) -> int:
    """Generate, store, time ``suggest``; print the figures."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--denials", type=int, default=200_000)
    ap.add_argument("--profiles", type=int, default=40)
    ap.add_argument("--hosts", type=int, default=50)
    ap.add_argument("--no-validate", action="store_true")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args(argv)
    log = auditlog(a.denials, a.profiles, a.hosts)
    work = DATA / f"suggest-run-{os.getpid()}"
    work.mkdir(parents=True)
    db = work / "store.duckdb"
    subprocess.run([str(CLI), "run", str(log), "--db", str(db), "--no-report"], check=True,
                   stdout=subprocess.DEVNULL)
    argv2 = [str(CLI), "suggest", "--db", str(db), "--format", "json", "-o", str(work / "out")]
    if a.no_validate:
        argv2.append("--no-validate")
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv2, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    data = json.loads((work / "out" / "suggestions.json").read_text())
    rules = sum(len(p["rules"]) for p in data["profiles"])
    result = {
        "denials": a.denials, "profiles_in": a.profiles, "hosts": a.hosts,
        "validated": not a.no_validate, "exit": proc.returncode,
        "wall_s": round(wall, 2),
        # CPU of suggest and the apparmor_parser runs it waited for (less load-bound)
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
        "load_1m": round(os.getloadavg()[0], 1),
        "peak_rss_mib": round(usage.ru_maxrss / 1024, 1),
        "profiles": len(data["profiles"]), "rules": rules,
        "active": sum(r["emitted"] for p in data["profiles"] for r in p["rules"]),
    }
    for f in sorted(work.rglob("*"), reverse=True):
        f.unlink() if f.is_file() else f.rmdir()
    work.rmdir()
    print(json.dumps(result) if a.json else
          "\n".join(f"{k:>14}: {v}" for k, v in result.items()))
    return 0 if proc.returncode == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
