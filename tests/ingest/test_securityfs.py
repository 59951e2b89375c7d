"""ingest.securityfs and armorwatch.profile_state on a fake securityfs tree written here."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from armorwatch import metrics as M
from armorwatch.config import ConfigError
from armorwatch.ingest.securityfs import (
    ROOT_NAMESPACE,
    LoadedProfile,
    SecurityfsError,
    parse_profiles,
    read_profiles,
)
from armorwatch.profile_state import ProfileStateConfig, ProfileStatePoller, polling

# As the kernel prints it from the root namespace (child namespaces' profiles included).
FLAT = """\
/usr/sbin/cupsd (enforce)
/usr/sbin/cupsd//third_party (enforce)
nvidia_modprobe (complain)
firefox (unconfined)
lsb_release (kill)
/usr/bin/claude-helper (prompt)
:lxd-web_<var-lib-lxd>:/usr/bin/nginx (enforce)
:lxd-web_<var-lib-lxd>://nginx//php (complain)
garbage line without a mode
"""


def write_tree(root: Path, flat: str | None = FLAT) -> Path:
    """A fake /sys/kernel/security/apparmor: the flat file and a policy/ tree."""
    root.mkdir(parents=True, exist_ok=True)
    if flat is not None:
        (root / "profiles").write_text(flat)

    def profile(base: Path, dirname: str, name: str, mode: str) -> Path:
        d = base / "profiles" / dirname
        d.mkdir(parents=True)
        (d / "name").write_text(name + "\n")
        (d / "mode").write_text(mode + "\n")
        return d

    policy = root / "policy"
    profile(policy, "usr.sbin.cupsd.1", "/usr/sbin/cupsd", "enforce")
    ns = policy / "namespaces" / "lxd-web_<var-lib-lxd>"
    nginx = profile(ns, "nginx.3", "/usr/bin/nginx", "enforce")
    profile(nginx, "php.4", "nginx//php", "complain")
    # A namespace only the tree shows (e.g. the flat file was read before it was made).
    nested = ns / "namespaces" / "inner"
    profile(nested, "sshd.7", "/usr/sbin/sshd", "complain")
    return root


def test_flat_file_every_mode_and_namespace_prefix() -> None:
    """Each `name (mode)` line becomes a profile; `:ns:` prefixes become the namespace."""
    profiles, bad = parse_profiles(FLAT)
    assert 1 == bad
    assert {(p.name, p.mode) for p in profiles if p.namespace == ROOT_NAMESPACE} == {
        ("/usr/sbin/cupsd", "enforce"),
        ("/usr/sbin/cupsd//third_party", "enforce"),
        ("nvidia_modprobe", "complain"),
        ("firefox", "unconfined"),
        ("lsb_release", "kill"),
        ("/usr/bin/claude-helper", "prompt"),
    }
    assert [p for p in profiles if p.namespace != ROOT_NAMESPACE] == [
        LoadedProfile("lxd-web_<var-lib-lxd>", "/usr/bin/nginx", "enforce"),
        LoadedProfile("lxd-web_<var-lib-lxd>", "nginx//php", "complain"),
    ]


def test_names_with_spaces_and_parentheses_keep_the_last_group_as_mode() -> None:
    """A profile name may hold spaces and parentheses; only the final `(mode)` is the mode."""
    profiles, bad = parse_profiles("my app (v2) (complain)\n\n")
    assert (profiles, bad) == ([LoadedProfile(ROOT_NAMESPACE, "my app (v2)", "complain")], 0)


def test_read_merges_flat_file_and_namespace_tree(tmp_path: Path) -> None:
    """Both views are read; each (namespace, profile) appears once, the host's namespace first."""
    profiles, bad = read_profiles(write_tree(tmp_path / "apparmor"))
    assert 1 == bad
    assert 9 == len(profiles)
    assert LoadedProfile("lxd-web_<var-lib-lxd>//inner", "/usr/sbin/sshd", "complain") in profiles
    assert 1 == sum(p.name == "/usr/bin/nginx" for p in profiles)
    assert profiles == sorted(profiles, key=lambda p: (p.namespace != ROOT_NAMESPACE, p))


def test_tree_only_when_the_flat_file_is_absent(tmp_path: Path) -> None:
    """Without the flat file, the policy/ tree alone is the answer."""
    profiles, bad = read_profiles(write_tree(tmp_path / "apparmor", flat=None))
    assert 0 == bad
    assert {(p.namespace, p.name, p.mode) for p in profiles} == {
        (ROOT_NAMESPACE, "/usr/sbin/cupsd", "enforce"),
        ("lxd-web_<var-lib-lxd>", "/usr/bin/nginx", "enforce"),
        ("lxd-web_<var-lib-lxd>", "nginx//php", "complain"),
        ("lxd-web_<var-lib-lxd>//inner", "/usr/sbin/sshd", "complain"),
    }


def test_missing_securityfs_is_an_error(tmp_path: Path) -> None:
    """No securityfs (or AppArmor off) is a SecurityfsError naming the path."""
    with pytest.raises(SecurityfsError, match="not there"):
        read_profiles(tmp_path / "nothing")


def test_unreadable_flat_file_is_an_error(tmp_path: Path) -> None:
    """A profiles 'file' that cannot be read (here: a directory) is a SecurityfsError."""
    (tmp_path / "apparmor" / "profiles").mkdir(parents=True)
    with pytest.raises(SecurityfsError, match="cannot read"):
        read_profiles(tmp_path / "apparmor")


def scrape(srv: M.MetricsServer) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """GET /metrics over HTTP → {(sample name, sorted labels): value}."""
    text = httpx.get(f"http://127.0.0.1:{srv.port}/metrics", timeout=10).text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for fam in text_string_to_metric_families(text)
        for s in fam.samples
    }


def test_poller_exports_profiles_over_http(tmp_path: Path) -> None:
    """A scrape shows one loaded=1 series per profile, counts by mode and up=1."""
    poller = ProfileStatePoller(write_tree(tmp_path / "apparmor"), clock=lambda: 1700000000.0)
    assert poller.poll()
    srv = M.MetricsServer("127.0.0.1:0")
    try:
        srv.registry.register(poller)
        got = scrape(srv)
    finally:
        srv.close()
    loaded = {k[1]: v for k, v in got.items() if k[0] == "apparmor_profile_loaded"}
    assert 9 == len(loaded)
    assert 1 == loaded[(("mode", "kill"), ("namespace", "root"), ("profile", "lsb_release"))]
    by_mode = {dict(k[1])["mode"]: v for k, v in got.items() if k[0] == "apparmor_profiles_loaded"}
    assert {"enforce": 3, "complain": 3, "unconfined": 1, "kill": 1, "prompt": 1} == by_mode
    assert 1 == got[("armorwatch_profile_state_up", ())]
    assert 1700000000.0 == got[("armorwatch_profile_state_last_success_timestamp_seconds", ())]
    assert 1 == got[("armorwatch_profile_state_unparsed_lines", ())]
    assert 1 == got[("armorwatch_profile_state_polls_total", ())]


def test_series_are_capped_but_counted(tmp_path: Path) -> None:
    """Past max_series, profiles are not exported one by one but still counted by mode."""
    root = tmp_path / "apparmor"
    root.mkdir()
    (root / "profiles").write_text("".join(f"p{i:03d} (enforce)\n" for i in range(50)))
    poller = ProfileStatePoller(root, max_series=10)
    poller.poll()
    fams = {f.name: f for f in poller.families()}
    assert 10 == len(fams["apparmor_profile_loaded"].samples)
    assert [50] == [s.value for s in fams["apparmor_profiles_loaded"].samples]
    assert 40 == fams["armorwatch_profile_state_not_exported"].samples[0].value


def test_the_cap_keeps_the_hosts_own_profiles(tmp_path: Path) -> None:
    """Container namespaces' profiles are the ones cut, though their names sort first."""
    root = tmp_path / "apparmor"
    root.mkdir()
    containers = "".join(f":lxd-c{i}:p{i} (enforce)\n" for i in range(5))
    (root / "profiles").write_text(containers + "sshd (enforce)\n/usr/sbin/cupsd (complain)\n")
    poller = ProfileStatePoller(root, max_series=2)
    poller.poll()
    fams = {f.name: f for f in poller.families()}
    kept = sorted(s.labels["profile"] for s in fams["apparmor_profile_loaded"].samples)
    assert ["/usr/sbin/cupsd", "sshd"] == kept


def test_failure_sets_up_zero_logs_once_and_recovers(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A missing tree makes up=0 and logs one warning however often it fails; it recovers."""
    root = tmp_path / "apparmor"
    poller = ProfileStatePoller(root)
    with caplog.at_level(logging.INFO, logger="armorwatch.profile_state"):
        assert not poller.poll()
        assert not poller.poll()
        fams = {f.name: f for f in poller.families()}
        assert 0 == fams["armorwatch_profile_state_up"].samples[0].value
        assert 2 == fams["armorwatch_profile_state_errors"].samples[0].value
        assert [] == fams["apparmor_profile_loaded"].samples
        write_tree(root)
        assert poller.poll()
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert 1 == len(warnings)
    assert any("again" in r.getMessage() for r in caplog.records)


def test_unloaded_profile_disappears_at_next_poll(tmp_path: Path) -> None:
    """The exported set is the last reading: an unloaded profile is gone, not stale."""
    root = tmp_path / "apparmor"
    root.mkdir()
    (root / "profiles").write_text("a (enforce)\nb (enforce)\n")
    poller = ProfileStatePoller(root)
    poller.poll()
    (root / "profiles").write_text("a (complain)\n")
    poller.poll()
    fams = {f.name: f for f in poller.families()}
    assert [({"namespace": "root", "profile": "a", "mode": "complain"}, 1)] == [
        (s.labels, s.value) for s in fams["apparmor_profile_loaded"].samples
    ]


async def test_polling_registers_polls_periodically_and_unregisters(tmp_path: Path) -> None:
    """`polling` polls on its interval while open, exports on the endpoint, then stops."""
    root = tmp_path / "apparmor"
    root.mkdir()
    (root / "profiles").write_text("a (enforce)\n")
    srv = M.MetricsServer("127.0.0.1:0")
    try:
        async with polling(srv, ProfileStateConfig(interval_s=0.05, root=root)) as poller:
            assert poller is not None
            for _ in range(100):
                await asyncio.sleep(0.05)
                if poller.stats.polls >= 2:
                    break
            assert poller.stats.polls >= 2
            got = await asyncio.to_thread(scrape, srv)
            assert 1 == got[("apparmor_profiles_loaded", (("mode", "enforce"),))]
        polls = poller.stats.polls
        await asyncio.sleep(0.2)
        assert polls == poller.stats.polls
        assert not any(k[0].startswith("apparmor_profile") for k in scrape(srv))
    finally:
        srv.close()


async def test_polling_off_without_endpoint_or_with_zero_interval(tmp_path: Path) -> None:
    """Interval 0 or no endpoint is a no-op; a negative interval is a ConfigError."""
    srv = M.MetricsServer("127.0.0.1:0")
    try:
        async with polling(srv, ProfileStateConfig(interval_s=0, root=tmp_path)) as p0:
            assert p0 is None
        async with polling(None, ProfileStateConfig(interval_s=60, root=tmp_path)) as p1:
            assert p1 is None
        with pytest.raises(ConfigError, match=r"profile_state\.interval_s"):
            ProfileStateConfig(interval_s=-1, root=tmp_path)
    finally:
        srv.close()
