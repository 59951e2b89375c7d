"""The report's "ready to enforce" from the modes read on the hosts, and "asked for X,
denied by Y", through `armorwatch report` and `armorwatch query` on a real store."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from armorwatch.cli import main
from armorwatch.parsers import schema as S
from armorwatch.parsers.envelope import Envelope
from armorwatch.parsers.result import HostInfo
from armorwatch.profile_state import ProfileStatePoller
from armorwatch.sinks.duckdb import DuckDBConfig, DuckDBSink
from tests.jobs.test_report import END, aa

D = timedelta(days=1)
H = timedelta(hours=1)


def records() -> list[dict[str, Any]]:
    """Four complain-mode profiles quiet for ten days, and three pods' denials."""
    rows = []
    for profile in ("readapp", "guessapp", "doneapp", "staleapp"):
        rows.append(aa(END - 10 * D, "web-01", profile, f"/srv/{profile}.db", S.AA_ALLOWED))
        rows.append(aa(END - 2 * H, "web-01", profile, f"/srv/{profile}.db", S.AA_ALLOWED))
    pods = (
        ("web", "localhost/k8s-web", "cri-containerd.apparmor.d"),  # asked for, not loaded
        ("db", "localhost/k8s-db", "k8s-db"),  # got what it asked for
        ("cache", "runtime/default", "cri-containerd.apparmor.d"),  # the runtime's default
        ("dbg", "unconfined", "k8s-web"),  # asked for none, denied by one
    )
    for pod, asked, profile in pods:
        row = aa(END - 3 * H, "node-1", profile, f"/data/{pod}")
        rows.append(
            {
                **row,
                S.POD_NAMESPACE: "shop",
                S.POD_NAME: f"{pod}-0",
                S.CONTAINER_NAME: pod,
                S.POD_APPARMOR_PROFILE: asked,
                S.K8S_LOOKUP: S.K8S_ATTRIBUTED,
            }
        )
    return [{**r, S.SERIAL: i + 1} for i, r in enumerate(rows)]


def write_profiles(root: Path, text: str) -> Path:
    """A fake /sys/kernel/security/apparmor/profiles, as the kernel prints it."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "profiles").write_text(text)
    return root


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Records plus readings of web-01's securityfs: one inside the window (readapp
    complain, doneapp enforce) and one before it (staleapp enforce: too old to count)."""
    tmp = tmp_path_factory.mktemp("modes")
    path = tmp / "store.duckdb"
    readings = (
        (END - 3 * D, "staleapp (enforce)\n"),
        (END - H, "readapp (complain)\ndoneapp (enforce)\n"),
    )

    async def write() -> None:
        async with DuckDBSink(DuckDBConfig(path=path)) as sink:
            await sink.send(Envelope(records=S.batch_from_rows(records())))
            for at, text in readings:
                poller = ProfileStatePoller(
                    write_profiles(tmp / "aa", text),
                    clock=lambda at=at: at.timestamp(),  # type: ignore[misc]
                    sink=sink,
                    host=HostInfo("web-01", None, "b1"),
                )
                assert poller.poll() and await poller.send_due()

    asyncio.run(write())
    yield path


@pytest.fixture(scope="module")
def report(db: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """`armorwatch report` over the store: the HTML, the Markdown (unescaped), the JSON."""
    out = tmp_path_factory.mktemp("out") / "report"
    assert 0 == main(["report", "--db", str(db), "-o", str(out), "--format", "md,json,html"])
    return {
        "html": (out / "index.html").read_text(),
        # Markdown escapes its punctuation (report.md's finaliser): compare the text
        "md": (out / "report.md").read_text().replace("\\", ""),
        "json": json.loads((out / "report.json").read_bytes()),
    }


def test_ready_uses_the_mode_read_from_the_host(report: dict[str, Any]) -> None:
    """readapp: mode read from web-01 in the window; guessapp and staleapp (reading older
    than the window start): inferred from ALLOWED records, and said so."""
    ready = {c["subject"]: c for c in report["json"]["ready"]}
    assert {"readapp", "guessapp", "staleapp"} == set(ready)
    read_at = (END - H).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert f"mode: complain (read from web-01 at {read_at})" == ready["readapp"]["mode_note"]
    for subject in ("guessapp", "staleapp"):
        assert "mode: complain (inferred from ALLOWED records)" == ready[subject]["mode_note"]
    assert f"Its mode: complain (read from web-01 at {read_at})." in report["md"]
    assert "Its mode: complain (inferred from ALLOWED records)." in report["md"]


def test_a_profile_read_in_enforce_mode_is_never_ready(report: dict[str, Any]) -> None:
    """doneapp, read in enforce mode, is neither ready nor learning: the report says why."""
    data = report["json"]
    assert "doneapp" not in {c["subject"] for c in data["ready"] + data["learning"]}
    assert ["doneapp"] == [c["subject"] for c in data["enforced"]]
    assert 3 == data["summary"]["ready_to_enforce"]
    md = report["md"]
    ready_section = md[md.index("## Profiles ready") : md.index("## Profiles whose denials grew")]
    assert "### doneapp" not in ready_section and "### readapp" in ready_section
    assert (
        "Not listed, out of complain mode on every host read: doneapp (mode: enforce"
        in ready_section
    )


def test_report_lists_pods_denied_by_another_profile(report: dict[str, Any]) -> None:
    """'Asked for X, denied by Y': the pod whose profile was not the one it asked for, and the
    unconfined one; not those that got theirs or the runtime's default."""
    got = {(m["pod_name"], m["asked"], m["denied_by"]) for m in report["json"]["pod_mismatches"]}
    assert {
        ("web-0", "localhost/k8s-web", "cri-containerd.apparmor.d"),
        ("dbg-0", "unconfined", "k8s-web"),
    } == got
    assert (
        "shop/web-0 container web asked for localhost/k8s-web, denied by "
        "cri-containerd.apparmor.d (1 denial)"
    ) in report["md"]
    html = report["html"]
    assert "<h3>Asked for one profile, denied by another</h3>" in html
    section = html[html.index("<h3>Asked for one profile") : html.index('<section id="grew">')]
    assert "<td>localhost/k8s-web</td>" in section and "shop/dbg-0" in section
    assert "k8s-db" not in section and "shop/cache-0" not in section


def test_html_says_where_the_mode_comes_from(report: dict[str, Any]) -> None:
    """The HTML's ready list says the mode's source and names the enforced profile apart."""
    html = report["html"]
    read_at = (END - H).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert f"Its mode: complain (read from web-01 at {read_at}).</p>" in html
    assert "Its mode: complain (inferred from ALLOWED records).</p>" in html
    assert "Not listed, out of complain mode on every host read: doneapp (mode: enforce" in html


def test_saved_query_lists_the_mismatches(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`armorwatch query pod-profile-mismatch` lists the same pods, as JSON."""
    argv = ["query", "pod-profile-mismatch", "--db", str(db), "--format", "json"]
    assert 0 == main([*argv, "--param", "since=7d"])
    out = capsys.readouterr().out
    rows = [json.loads(line) for line in out.splitlines()]  # one JSON object a line
    assert {("web-0", "cri-containerd.apparmor.d"), ("dbg-0", "k8s-web")} == {
        (r["pod_name"], r["denied_by"]) for r in rows
    }
