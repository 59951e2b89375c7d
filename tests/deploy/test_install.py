"""`make install` into a temporary root (DESTDIR), then the installed tree is checked and run."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PREFIX = "/opt/aw"  # not the default, so the units' rewrite is exercised
UNITS = [
    "armorwatch-collector.service",
    "armorwatch-processor.service",
    "armorwatch-report.service",
    "armorwatch-report.timer",
]
EDITED = "# an operator's edited config\n[collect]\n"
TMPFILES = "usr/lib/tmpfiles.d/armorwatch.conf"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("make") is None, reason="make missing"),
]


@pytest.fixture(scope="module")
def dest(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A root `make install DESTDIR=... PREFIX=/opt/aw` filled (an edited config already there)."""
    root = tmp_path_factory.mktemp("destdir")
    (root / "etc" / "armorwatch").mkdir(parents=True)
    (root / "etc" / "armorwatch" / "collector.toml").write_text(EDITED)
    run = subprocess.run(
        ["make", "-s", "install", f"DESTDIR={root}", f"PREFIX={PREFIX}", f"PY={sys.executable}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert 0 == run.returncode, run.stdout + run.stderr
    return root


def installed(dest: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """The installed CLI, run by the venv's python (its #! names the final PREFIX)."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    venv = dest / PREFIX.lstrip("/")
    return subprocess.run(
        [str(venv / "bin" / "python"), str(venv / "bin" / "armorwatch"), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_lays_down_units_users_dirs_profile_and_configs(dest: Path) -> None:
    """Units, sysusers.d, tmpfiles.d, the AppArmor profile and the example configs land."""
    expected = [f"etc/systemd/system/{u}" for u in UNITS] + [
        "usr/lib/sysusers.d/armorwatch.conf",
        "usr/lib/tmpfiles.d/armorwatch.conf",
        "etc/apparmor.d/armorwatch-collector",
        "etc/armorwatch/processor.toml",
        "etc/armorwatch/report.toml",
        f"{PREFIX.lstrip('/')}/bin/armorwatch",
    ]
    assert [] == [p for p in expected if not (dest / p).is_file()]


def test_an_edited_config_is_kept(dest: Path) -> None:
    """An existing, different config stays; the shipped one lands beside it as .new."""
    etc = dest / "etc" / "armorwatch"
    shipped = (ROOT / "deploy" / "config" / "collector.toml").read_text()
    assert (EDITED, shipped) == (
        (etc / "collector.toml").read_text(),
        (etc / "collector.toml.new").read_text(),
    )


def test_units_and_scripts_name_the_final_prefix(dest: Path) -> None:
    """ExecStart and the venv's #! lines name PREFIX, never the staging directory."""
    units = dest / "etc" / "systemd" / "system"
    starts = [
        ln.split("=", 1)[1].split()[0]
        for u in UNITS
        for ln in (units / u).read_text().splitlines()
        if ln.startswith("ExecStart=")
    ]
    assert [f"{PREFIX}/bin/armorwatch"] * 3 == starts
    script = dest / PREFIX.lstrip("/") / "bin" / "armorwatch"
    assert f"#!{PREFIX}/bin/python" == script.read_text().splitlines()[0]
    bin_dir = dest / PREFIX.lstrip("/") / "bin"
    scripts = [p for p in bin_dir.iterdir() if p.is_file() and not p.is_symlink()]
    assert [] == [p.name for p in scripts if str(dest) in p.read_text("latin-1")]


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze missing")
def test_installed_units_verify(dest: Path, tmp_path: Path) -> None:
    """systemd-analyze verify --root accepts the installed units and their ExecStart binary."""
    # A root with the installed units and script plus the host's own units (sysinit.target
    # and friends, which verify resolves inside --root); the venv itself is not copied.
    root = tmp_path / "root"
    shutil.copytree("/usr/lib/systemd/system", root / "usr/lib/systemd/system", symlinks=True)
    shutil.copytree(dest / "etc/systemd/system", root / "etc/systemd/system")
    script = Path(PREFIX.lstrip("/")) / "bin" / "armorwatch"
    (root / script).parent.mkdir(parents=True)
    shutil.copy2(dest / script, root / script)
    units = [str(root / "etc/systemd/system" / u) for u in UNITS]

    def verify() -> tuple[int, list[str]]:
        run = subprocess.run(
            ["systemd-analyze", "verify", f"--root={root}", *units],
            capture_output=True,
            text=True,
            timeout=120,
        )
        return run.returncode, [ln for ln in run.stderr.splitlines() if "armorwatch" in ln]

    assert (0, []) == verify()
    (root / script).unlink()  # the check is real: without the binary verify complains
    code, complaints = verify()
    assert (1, 3) == (code, len(complaints))


@pytest.mark.skipif(shutil.which("systemd-sysusers") is None, reason="systemd-sysusers missing")
def test_sysusers_and_tmpfiles_apply(dest: Path, tmp_path: Path) -> None:
    """systemd-sysusers makes the user, systemd-tmpfiles the directories, in a copy of the root."""
    root = tmp_path / "root"
    shutil.copytree(dest / "usr", root / "usr")
    (root / "etc").mkdir()
    users = subprocess.run(
        ["systemd-sysusers", f"--root={root}", str(root / "usr/lib/sysusers.d/armorwatch.conf")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert 0 == users.returncode, users.stderr
    passwd = [ln.split(":") for ln in (root / "etc" / "passwd").read_text().splitlines()]
    assert [("/var/lib/armorwatch", "/usr/sbin/nologin")] == [
        (p[5], p[6]) for p in passwd if p[0] == "armorwatch"
    ]
    dirs = subprocess.run(
        ["systemd-tmpfiles", f"--root={root}", "--create", str(root / TMPFILES)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert 0 == dirs.returncode, dirs.stderr
    modes = {
        d: oct((root / d).stat().st_mode & 0o777)
        for d in ("etc/armorwatch", "etc/armorwatch/credentials", "var/lib/armorwatch")
    }
    assert {
        "etc/armorwatch": "0o755",
        "etc/armorwatch/credentials": "0o700",
        "var/lib/armorwatch": "0o750",
    } == modes


def test_installed_cli_runs_the_samples(dest: Path, tmp_path: Path) -> None:
    """The installed armorwatch (not the checkout) prints its version and runs the samples."""
    version = installed(dest, "--version", cwd=tmp_path)
    assert (0, "armorwatch 0.1.0") == (version.returncode, version.stdout.strip())
    run = installed(dest, "run", cwd=tmp_path)
    assert 0 == run.returncode, run.stderr
    assert "103 MAC records read: 103 stored new" in run.stdout
    assert (tmp_path / "armorwatch.duckdb").is_file()
    assert (tmp_path / "armorwatch-report" / "index.html").is_file()


def test_installed_package_is_the_built_one_with_the_c_scanner(dest: Path, tmp_path: Path) -> None:
    """The venv imports its own armorwatch.parsers, with the compiled scanner, and installs
    no top-level parsers/ingest/sinks/jobs package."""
    venv = dest / PREFIX.lstrip("/")
    code = (
        "import importlib.util as u, armorwatch.parsers._fastscan as f; print(f.__file__);"
        " print([n for n in ('parsers', 'ingest', 'sinks', 'jobs') if u.find_spec(n)])"
    )
    probe = subprocess.run(
        [str(venv / "bin" / "python"), "-c", code],
        cwd=tmp_path,
        env={k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert 0 == probe.returncode, probe.stderr
    module, top_level = probe.stdout.splitlines()
    assert module.startswith(str(venv)) and "[]" == top_level
