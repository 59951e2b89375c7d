"""Supported Pythons, the lock files, the Containerfile (static checks: no image is built here)."""

from __future__ import annotations

import re
import shlex
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
LOCK = DEPLOY / "requirements.lock"
TESTLOCK = DEPLOY / "requirements-test.lock"
CONTAINERFILE = DEPLOY / "Containerfile"
CATALOG = "armorwatch-postgres"  # k8s/postgres-statefulset.yaml: the lake catalog, its own image
SUPPORTED = ["3.11", "3.12", "3.13"]


def pins(path: Path) -> dict[str, str]:
    """A lock file as {canonical name: version} (markers and comments dropped)."""
    out = {}
    for line in path.read_text().splitlines():
        m = re.match(r"^([A-Za-z0-9_.\-]+)==([^\s;]+)", line)
        if m:
            out[canonicalize_name(m.group(1))] = m.group(2)
    return out


class TestPythons:
    def test_requires_python_allows_3_11_to_3_13(self) -> None:
        """requires-python admits every supported version and has no upper cap."""
        spec = SpecifierSet(PYPROJECT["project"]["requires-python"])
        assert [True, True, True, False] == [
            spec.contains(v) for v in [*(f"{s}.0" for s in SUPPORTED), "3.10.12"]
        ]

    def test_classifiers_and_nox_sessions_name_the_same_versions(self) -> None:
        """The trove classifiers and the nox sessions list exactly the supported versions."""
        classifiers = [
            c.rsplit(" :: ", 1)[1]
            for c in PYPROJECT["project"]["classifiers"]
            if re.fullmatch(r"Programming Language :: Python :: 3\.\d+", c)
        ]
        noxfile = (ROOT / ".ci" / "noxfile.py").read_text()
        assert (SUPPORTED, f"PYTHONS = {SUPPORTED!r}".replace("'", '"')) == (
            classifiers,
            next(ln for ln in noxfile.splitlines() if ln.startswith("PYTHONS = ")),
        )


class TestLock:
    @pytest.mark.parametrize(
        ("lock", "extra"), [(LOCK, None), (TESTLOCK, "test")], ids=["runtime", "test"]
    )
    def test_pins_every_dependency_inside_its_range(self, lock: Path, extra: str | None) -> None:
        """Each direct dependency is pinned, at a version pyproject's range admits."""
        reqs = [Requirement(r) for r in PYPROJECT["project"]["dependencies"]]
        if extra:
            reqs += [Requirement(r) for r in PYPROJECT["project"]["optional-dependencies"][extra]]
        locked = pins(lock)
        outside = [
            (r.name, locked.get(canonicalize_name(r.name)))
            for r in reqs
            if not r.specifier.contains(locked.get(canonicalize_name(r.name), "0.0.0a0"))
        ]
        assert [] == outside

    def test_runtime_and_test_locks_agree(self) -> None:
        """The test lock holds every runtime pin at the same version (tests run what ships)."""
        runtime, test = pins(LOCK), pins(TESTLOCK)
        assert {} == {n: (v, test.get(n)) for n, v in runtime.items() if test.get(n) != v}

    def test_duckdb_is_pinned_to_the_version_the_lake_extensions_serve(self) -> None:
        """duckdb is locked to the release the DuckLake/SQLite/PostgreSQL extension wheels
        were built for (they load offline only into that exact version)."""
        locked = pins(LOCK)
        exts = {n: v for n, v in locked.items() if n.startswith("duckdb-ext-")}
        assert {"duckdb-ext-ducklake", "duckdb-ext-sqlite", "duckdb-ext-postgres"} <= set(exts)
        assert {locked["duckdb"]} == {v.rsplit(".", 1)[0] for v in exts.values()}

    @pytest.mark.parametrize("lock", [LOCK, TESTLOCK], ids=["runtime", "test"])
    def test_every_pin_carries_its_hashes(self, lock: Path) -> None:
        """Each pin is followed by sha256 hashes: pip installs only the files that were locked."""
        text = lock.read_text()
        entries = re.split(r"\n(?=[A-Za-z0-9_.\-]+==)", text.split("\n", 2)[2])
        unhashed = [e.split()[0] for e in entries if "==" in e and "--hash=sha256:" not in e]
        assert ([], True) == (unhashed, len(pins(lock)) > 10)

    def test_make_installs_from_the_lock(self) -> None:
        """make's venv, the installer and the image install the lock, then the package alone."""
        makefile = (ROOT / "Makefile").read_text()
        installer = (DEPLOY / "install.sh").read_text()
        assert "pip install -q -r $(TESTLOCK)" in makefile
        assert "pip install -q --no-deps -e ." in makefile
        assert '-r "$DEPLOY/requirements.lock"' in installer
        # the package alone, built from a staged copy of its sources (not the checkout's build/)
        assert '--no-deps --force-reinstall "$stage"' in installer
        assert "armorwatch ingest parsers sinks jobs | tar -C \"$stage\" -xf -" in installer


def instructions(path: Path) -> list[tuple[str, str]]:
    """A Containerfile as [(INSTRUCTION, arguments)], continuation lines joined."""
    out: list[tuple[str, str]] = []
    pending = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        word, _, rest = (pending + line).partition(" ")
        out.append((word.upper(), " ".join(rest.split())))
        pending = ""
    assert not pending, "dangling line continuation"
    return out


def stages(path: Path) -> list[list[tuple[str, str]]]:
    """The instructions grouped by FROM."""
    out: list[list[tuple[str, str]]] = []
    for ins in instructions(path):
        if ins[0] == "FROM":
            out.append([])
        out[-1].append(ins)
    return out


def built_tag() -> str:
    """The image tag of the build command documented in the Containerfile's header."""
    m = re.search(r"podman build -f deploy/Containerfile -t (\S+) \.", CONTAINERFILE.read_text())
    assert m is not None
    return m.group(1)


class TestContainerfile:
    def test_compose_builds_the_same_image(self) -> None:
        """docker-compose.yml builds every armorwatch service from the Containerfile (the lock)."""
        compose = (ROOT / "docker-compose.yml").read_text()
        dockerfiles = re.findall(r"^\s*dockerfile:\s*(\S+)", compose, re.M)
        assert ["deploy/Containerfile"] * 2 == dockerfiles

    def test_only_known_instructions(self) -> None:
        """Every line is a Containerfile instruction (a typo would fail the build)."""
        known = {"FROM", "RUN", "COPY", "WORKDIR", "USER", "ENTRYPOINT", "CMD", "ENV"}
        assert set() == {word for word, _ in instructions(CONTAINERFILE)} - known

    def test_runtime_stage_has_apparmor_parser_and_no_compiler(self) -> None:
        """The final image installs Debian's apparmor (apparmor_parser) and no gcc."""
        runs = " ".join(a for w, a in stages(CONTAINERFILE)[-1] if w == "RUN")
        assert re.search(r"apt-get install -y --no-install-recommends apparmor\b", runs)
        assert "gcc" not in runs

    def test_installs_the_lock_then_the_package_without_resolving(self) -> None:
        """The runtime stage copies the lock, installs it, then the wheel with --no-deps."""
        final = stages(CONTAINERFILE)[-1]
        copies = [a for w, a in final if w == "COPY"]
        runs = [a for w, a in final if w == "RUN"]
        assert "deploy/requirements.lock /tmp/requirements.lock" in copies
        assert any("pip install --no-cache-dir -r /tmp/requirements.lock" in r for r in runs)
        assert any("pip install --no-cache-dir --no-deps /wheels/*.whl" in r for r in runs)

    def test_base_image_python_is_supported(self) -> None:
        """Every stage starts from an official python image of a supported version."""
        bases = [a.split()[0] for w, a in instructions(CONTAINERFILE) if w == "FROM"]
        versions = [re.fullmatch(r"python:(3\.\d+)-slim-\w+", b) for b in bases]
        assert [] == [
            b for b, v in zip(bases, versions, strict=True) if not v or v[1] not in SUPPORTED
        ]

    def test_copied_sources_exist(self) -> None:
        """Every COPY from the build context names a file or directory in the repository."""
        missing = []
        for word, args in instructions(CONTAINERFILE):
            if word != "COPY" or args.startswith("--from"):
                continue
            *sources, _dest = shlex.split(args)
            missing += [s for s in sources if not (ROOT / s).exists()]
        assert [] == missing

    def test_runs_as_the_manifests_user(self) -> None:
        """USER is the uid:gid the Kubernetes manifests run as (runAsUser/runAsGroup); the
        catalog's PostgreSQL runs its own image as that image's user."""
        (user,) = [a for w, a in instructions(CONTAINERFILE) if w == "USER"]
        ids = set()
        for path in (DEPLOY / "k8s").glob("*.yaml"):
            for doc in yaml.safe_load_all(path.read_text()):
                if doc["metadata"]["name"] == CATALOG:
                    continue
                spec = doc.get("spec", {})
                spec = spec.get("jobTemplate", {}).get("spec", spec)
                ctx = spec.get("template", {}).get("spec", {}).get("securityContext")
                if ctx:
                    ids.add(f"{ctx['runAsUser']}:{ctx['runAsGroup']}")
        assert {user} == ids

    def test_manifests_run_the_image_it_builds(self) -> None:
        """Each manifest's image is the documented tag, whose version is the package's (the
        lake catalog's StatefulSet runs PostgreSQL 15, the major the tests run)."""
        images = set()
        for path in (DEPLOY / "k8s").glob("*.yaml"):
            images |= set(re.findall(r"^\s*image:\s*(\S+)", path.read_text(), re.M))
        assert "postgres:15" in images
        images.discard("postgres:15")
        tag = built_tag()
        assert ({tag}, PYPROJECT["project"]["version"]) == (images, tag.rsplit(":", 1)[1])
        assert (
            f"podman build -f deploy/Containerfile -t {tag} ." in (ROOT / "README.md").read_text()
        )
