"""jobs.apparmor_rules / generalize / abstractions / validate: rule text from single events."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from armorwatch.jobs import apparmor_rules as R
from armorwatch.jobs import generalize
from armorwatch.jobs.abstractions import Policy
from armorwatch.jobs.validate import ApparmorParser
from armorwatch.parsers import schema as S

PARSER = ApparmorParser.find()
needs_parser = pytest.mark.skipif(PARSER is None, reason="apparmor_parser is not installed")


def ev(**kw: Any) -> dict[str, Any]:
    """An event keyed by schema column names (keyword names are the column constants)."""
    return {getattr(S, k.upper().rstrip("_")): v for k, v in kw.items()}


def text(event: dict[str, Any], **kw: Any) -> str:
    """The raw rule text of one event (fails the test on Skip)."""
    got = R.build(event, **kw)
    assert isinstance(got, R.Raw), got
    return got.text


class TestEscaping:
    @pytest.mark.parametrize(
        ("name", "expected"),
        [
            ("/srv/data/[archive]/a*b{1}.txt", "/srv/data/\\[archive\\]/a\\*b\\{1\\}.txt"),
            ("/a?b", "/a\\?b"),
            ("/a!b", "/a\\!b"),
            ("/a\\b", "/a\\x5cb"),
            ('/a"b', '"/a\\"b"'),
            ("/tmp/my doc.txt", '"/tmp/my doc.txt"'),
            ("/tmp/tab\there", '"/tmp/tab\\x09here"'),
            ("/memfd:xshmfence (deleted)", '"/memfd:xshmfence (deleted)"'),
            ("/home/alice/Müsik/song.mp3", "/home/alice/Müsik/song.mp3"),
            ("/tmp/a\nb", "\"/tmp/a\\x0ab\""),
            ("/tmp/a\u202eb", "/tmp/a\\xe2\\x80\\xaeb"),
            ("/x, /** rwx", '"/x, /\\*\\* rwx"'),
        ],
    )
    def test_path_token(self, name: str, expected: str) -> None:
        """Each AARE special is backslash-escaped, whitespace/odd characters force quotes."""
        assert expected == R.path_token(name)

    @given(st.text(min_size=1, max_size=40))
    def test_any_name_stays_one_token(self, name: str) -> None:
        """Whatever the log holds, the token has no raw newline, comma-rule or open quote."""
        tok = R.path_token("/" + name)
        assert "\n" not in tok and "\r" not in tok
        if tok.startswith('"'):
            inner = tok[1:-1]
            assert tok.endswith('"') and '"' not in inner.replace('\\"', "")
        else:
            assert "," not in tok and " " not in tok

    def test_hostile_peer_cannot_add_a_rule(self) -> None:
        """A peer label carrying rule syntax is quoted into one value."""
        rule = text(ev(operation="signal", denied_mask="send", signal="term",
                       peer="x, /** rwx,"))
        assert 'signal send set=term peer="x, /\\*\\* rwx,",' == rule


class TestLabels:
    def test_plain(self) -> None:
        """A plain profile name is one label with one path component."""
        assert [R.Label(None, ("/usr/sbin/nginx",))] == R.split_label("/usr/sbin/nginx")

    def test_hat_goes_to_child(self) -> None:
        """``a//b`` is the child ``b`` of ``a``."""
        assert [R.Label(None, ("/usr/sbin/apache2", "phpsysinfo"))] == R.split_label(
            "/usr/sbin/apache2//phpsysinfo"
        )

    def test_stack_is_not_a_child(self) -> None:
        """``a//&b`` names the two stacked profiles, never a child called ``&b``."""
        got = R.split_label("docker-default//&lxc-container-default")
        assert [("docker-default",), ("lxc-container-default",)] == [x.path for x in got]
        assert ("docker-default", "lxc-container-default") == got[0].stack

    def test_namespace(self) -> None:
        """``:ns:profile`` keeps the namespace apart from the name."""
        got = R.split_label(":lxd-c1_<var-snap-lxd-common-lxd>:snap.lxd.hook")
        assert [R.Label("lxd-c1_<var-snap-lxd-common-lxd>", ("snap.lxd.hook",))] == got
        assert ":lxd-c1_<var-snap-lxd-common-lxd>:snap.lxd.hook" == got[0].name

    def test_null_child_counts_for_parent(self) -> None:
        """A complain-mode ``a//null-x`` child is attributed to ``a``."""
        got = R.split_label("/usr/bin/backup-agent//null-/tmp/x")
        assert [("/usr/bin/backup-agent",)] == [x.path for x in got]
        assert "/tmp/x" == got[0].null_child

    def test_unconfined_and_mode_suffix(self) -> None:
        """``unconfined`` confines nothing; a ``(enforce)`` suffix is dropped."""
        assert [] == R.split_label("unconfined")
        assert [("/usr/bin/x",)] == [x.path for x in R.split_label("/usr/bin/x (enforce)")]


class TestFileRules:
    def test_denied_not_requested(self) -> None:
        """The denied mask is used, not the requested one."""
        assert "/usr/lib/x.so m," == text(ev(operation="file_mmap", class_="file",
                                             name="/usr/lib/x.so", requested_mask="mr",
                                             denied_mask="m", fsuid=0, ouid=1))

    def test_create_delete_become_write_and_owner(self) -> None:
        """``c``/``d`` become ``w``; fsuid == ouid (also 0 == 0) adds ``owner``."""
        rule = text(ev(operation="mknod", class_="file", name="/run/myapp/myapp.pid",
                       denied_mask="cd", fsuid=0, ouid=0))
        assert "owner /run/myapp/myapp.pid w," == rule

    def test_x_dropped_beside_other_perms(self) -> None:
        """``rx`` gives ``r``: the exec event carries the x."""
        assert "/bin/true r," == text(ev(operation="open", class_="file", name="/bin/true",
                                         denied_mask="rx", fsuid=1, ouid=0))

    def test_append_dropped_with_write(self) -> None:
        """``a`` disappears when ``w`` is present; k and l stay in aa-logprof order."""
        assert "rwlk" == R.perms_text({"k", "a", "w", "r", "l"})
        assert "ra" == R.perms_text({"a", "r"})

    def test_link_ignores_target(self) -> None:
        """A link rule is ``l`` on the name, without ``-> target``."""
        rule = text(ev(operation="link", class_="file", name="/var/lib/myapp/current",
                       name2="/var/lib/myapp/v2", denied_mask="l", fsuid=5, ouid=5))
        assert "owner /var/lib/myapp/current l," == rule

    def test_old_owner_mask(self) -> None:
        """Old ``r::`` masks name the owner part directly."""
        assert "owner /bin/dash r," == text(ev(operation="inode_permission", name="/bin/dash",
                                               denied_mask="r::", fsuid=0))

    def test_unknown_mode_is_skipped(self) -> None:
        """A mode letter AppArmor does not have gives a Skip, never a rule."""
        got = R.build(ev(operation="open", class_="file", name="/x", denied_mask="rz"))
        assert isinstance(got, R.Skip) and "unknown mode" in got.reason

    def test_pathname_unix_socket_is_a_file_rule(self) -> None:
        """connect on a pathname socket (class=file) is a file rule."""
        rule = text(ev(operation="connect", class_="file", name="/run/systemd/journal/stdout",
                       denied_mask="wr", fsuid=0, ouid=1))
        assert "/run/systemd/journal/stdout rw," == rule

    def test_disconnected_path(self) -> None:
        """A disconnected path is skipped with the attach_disconnected hint."""
        got = R.build(ev(operation="open", class_="file", name="app/x", denied_mask="r",
                         info="Failed name lookup - disconnected path", error=-13))
        assert isinstance(got, R.Skip)

    def test_exec_ix_or_px(self) -> None:
        """exec gives ``mrix`` unless a profile with the target's name is loaded (``Px``)."""
        e = ev(operation="exec", class_="file", name="/usr/bin/curl", denied_mask="x")
        assert "/usr/bin/curl mrix," == text(e)
        assert "/usr/bin/curl Px," == text(e, exec_targets=frozenset({"/usr/bin/curl"}))


class TestOtherClasses:
    @pytest.mark.parametrize(
        ("event", "expected"),
        [
            (ev(operation="capable", class_="cap", capname="net_bind_service"),
             "capability net_bind_service,"),
            (ev(operation="capable", name="setuid"), "capability setuid,"),
            (ev(operation="create", class_="net", family="inet", sock_type="stream",
                protocol="6", requested_mask="create", denied_mask="create"),
             "network (create) inet stream,"),
            (ev(operation="connect", class_="net", family="inet6", sock_type="stream",
                protocol="6", requested_mask="connect", denied_mask="connect",
                laddr="::1", lport=45678, faddr="::1", fport=5432),
             "network (connect) inet6 stream ip=::1 port=45678 peer=(ip=::1 port=5432),"),
            (ev(operation="bind", class_="net", family="inet", sock_type="dgram",
                protocol="17", requested_mask="bind", denied_mask="bind",
                laddr="0.0.0.0", lport=123, faddr="1.2.3.4", fport=9),
             "network (bind) inet dgram ip=0.0.0.0 port=123,"),
            (ev(operation="connect", class_="net", family="unix", sock_type="stream",
                protocol="0", requested_mask="send receive connect",
                denied_mask="send receive connect", addr="none",
                peer_addr="@/tmp/.X11-unix/X0"),
             "unix (connect, receive, send) type=stream peer=(addr=@/tmp/.X11-unix/X0),"),
            (ev(operation="bind", class_="net", family="unix", sock_type="stream",
                denied_mask="bind", addr="@myapp-control"),
             "unix (bind) type=stream addr=@myapp-control,"),
            (ev(operation="signal", class_="signal", denied_mask="send", signal="kill",
                peer=":lxd-c1_<var-snap-lxd-common-lxd>:unconfined"),
             "signal send set=kill peer=:lxd-c1_<var-snap-lxd-common-lxd>:unconfined,"),
            (ev(operation="ptrace", denied_mask="tracedby", peer="/usr/bin/gdb"),
             "ptrace tracedby peer=/usr/bin/gdb,"),
            (ev(operation="dbus_method_call", bus="system", path="/org/freedesktop/login1",
                interface="org.freedesktop.login1.Manager", member="Inhibit",
                denied_mask="send", name="org.freedesktop.login1", peer_label="unconfined"),
             "dbus send bus=system path=/org/freedesktop/login1 "
             "interface=org.freedesktop.login1.Manager member=Inhibit peer=(label=unconfined),"),
            (ev(operation="dbus_bind", bus="session", name="org.example.MyApp",
                denied_mask="bind"),
             "dbus bind bus=session name=org.example.MyApp,"),
            (ev(operation="dbus_eavesdrop", bus="session", denied_mask="eavesdrop"),
             "dbus eavesdrop bus=session,"),
            (ev(operation="mount", class_="mount", name="/mnt/data/", fstype="ext4",
                srcname="/dev/sdb1", flags="rw, nosuid, nodev"),
             "mount fstype=ext4 options=(nodev, nosuid, rw) /dev/sdb1 -> /mnt/data/,"),
            (ev(operation="mount", class_="mount", name="/srv/ro/", flags="ro, remount"),
             "mount options=(remount, ro) -> /srv/ro/,"),
            (ev(operation="umount", class_="mount", name="/mnt/a/"), "umount /mnt/a/,"),
            (ev(operation="pivotroot", name="/var/lib/ctr/rootfs/",
                srcname="/var/lib/ctr/rootfs/.pivot_root/"),
             "pivot_root oldroot=/var/lib/ctr/rootfs/.pivot_root/ /var/lib/ctr/rootfs/,"),
            (ev(operation="change_profile", name2="sshd-user"), "change_profile -> sshd-user,"),
            (ev(operation="userns_create", class_="namespace", denied_mask="userns_create"),
             "userns create,"),
            (ev(operation="uring_sqpoll", class_="io_uring", denied_mask="sqpoll"),
             "io_uring sqpoll,"),
            (ev(operation="uring_override", class_="io_uring", denied_mask="override_creds",
                peer_label="/usr/bin/myapp"),
             "io_uring override_creds label=/usr/bin/myapp,"),
            (ev(operation="create", class_="posix_mqueue", name="/myapp-queue",
                denied_mask="create"),
             "mqueue create type=posix /myapp-queue,"),
            (ev(operation="open", class_="sysv_mqueue", name="123", denied_mask="open"),
             "mqueue open type=sysv 123,"),
        ],
    )
    def test_rule(self, event: dict[str, Any], expected: str) -> None:
        """Each class renders as aa-logprof 5.0.2 does (design/rule-suggestion.md §4.3)."""
        assert expected == text(event)

    def test_network_has_older_form(self) -> None:
        """Network rules with access lists carry the 3.0.x fallback without them."""
        got = R.build(ev(operation="create", class_="net", family="inet", sock_type="stream",
                         protocol="6", requested_mask="create", denied_mask="create"))
        assert isinstance(got, R.Raw) and "network inet stream," == got.fallback

    @pytest.mark.parametrize(
        "event",
        [
            ev(operation="ptrace", denied_mask="read"),  # no peer
            ev(operation="ptrace", peer="unconfined"),  # no mask
            ev(operation="signal", denied_mask="send", signal="term", peer="a//null-/bin/x"),
            ev(operation="connect", class_="net", family="unix", sock_type="stream"),
            ev(operation="capable", capname="not a cap"),
            ev(operation="change_hat", name2="a//HAT"),
            ev(operation="mount", class_="mount", name="/m/", flags="rw, x,y z)"),
        ],
    )
    def test_skipped(self, event: dict[str, Any]) -> None:
        """Events aa-logprof ignores (or that hold unexpected tokens) give no rule."""
        assert isinstance(R.build(event), R.Skip)


class TestAareRegex:
    @pytest.mark.parametrize(
        ("pattern", "path", "expected"),
        [
            ("/a/*", "/a/b", True),
            ("/a/*", "/a/b/c", False),
            ("/a/**", "/a/b/c", True),
            ("/a/{b,c}/d", "/a/c/d", True),
            ("/a/[0-9]*", "/a/42", True),
            ("/a/[^0-9]*", "/a/42", False),
            ("/a/\\*", "/a/*", True),
            ("/a/\\*", "/a/b", False),
            ("/home//*//x", "/home/u/x", True),
        ],
    )
    def test_matches(self, pattern: str, path: str, expected: bool) -> None:
        """Globs, alternations, classes, escapes and doubled slashes behave like AppArmor's."""
        assert expected == R.path_matches(pattern, path)


class TestGeneralize:
    @pytest.mark.parametrize(
        ("path", "owner", "expected"),
        [
            ("/proc/4711/cmdline", True, "@{PROC}/@{pid}/cmdline"),
            ("/proc/4711/task/4712/stat", False, "@{PROC}/@{pid}/task/@{tid}/stat"),
            ("/proc/loadavg", False, "@{PROC}/loadavg"),
            ("/home/alice/.config/app/settings.json", True, "@{HOME}/.config/app/settings.json"),
            ("/home/alice/.config/app/settings.json", False,
             "/home/alice/.config/app/settings.json"),
            ("/run/user/1000/bus", True, "/run/user/@{uid}/bus"),
            ("/opt/myapp/lib/libcrypto.so.3.0.2", False, "/opt/myapp/lib/libcrypto.so.*"),
            ("/usr/lib/libfoo-2.13.so", False, "/usr/lib/libfoo-*.so"),
            ("/var/lib/x/3f2a9c1e-1b2c-4d5e-8f90-1234567890ab/db", False,
             f"/var/lib/x/{generalize.UUID_AARE}/db"),
            ("/var/cache/x/9f86d081884c7d659a2f/data", False, "/var/cache/x/[0-9a-f]*/data"),
            ("/srv/pgdata/pg_wal/000000010000000000000003", True, "/srv/pgdata/pg_wal/[0-9]*"),
            ("/tmp/tmpk3j_x9a2", True, "/tmp/tmp*"),
            ("/tmp/myapp.XyZ123", True, "/tmp/myapp.*"),
            ("/tmp/report.txt", True, "/tmp/report.txt"),
            ("/etc/ssl/private/site-0.key", False, "/etc/ssl/private/site-0.key"),
            ("/tmp/a b[1]", False, "/tmp/a b\\[1\\]"),
        ],
    )
    def test_narrow(self, path: str, owner: bool, expected: str) -> None:
        """Only components known to vary are rewritten; @{HOME} only for owner rules."""
        assert expected == generalize.narrow(path, owner).pattern

    def test_broader_needs_several_paths(self) -> None:
        """One or two paths never widen to a directory glob; three do (extension kept)."""
        assert generalize.broader(["/etc/app/a.conf", "/etc/app/b.conf"]) is None
        got = generalize.broader(["/etc/app/a.conf", "/etc/app/b.conf", "/etc/app/c.conf"])
        assert got is not None and "/etc/app/*.conf" == got[0]
        got = generalize.broader(["/etc/app/a", "/etc/app/b.conf", "/etc/app/c.conf"])
        assert got is not None and "/etc/app/*" == got[0]

    def test_broader_subtrees(self) -> None:
        """Three distinct sub-directories under a deep enough ancestor give ``/**``."""
        got = generalize.broader(["/srv/www/a/x", "/srv/www/b/y", "/srv/www/c/z"])
        assert got is not None and "/srv/www/**" == got[0]
        assert generalize.broader(["/a/x", "/b/y", "/c/z"]) is None
        assert generalize.broader(["/x", "/y", "/z"]) is None


@pytest.fixture
def tiny_policy(tmp_path: Path) -> Policy:
    """A small policy directory: tunables with variables, three abstractions."""
    (tmp_path / "tunables").mkdir()
    (tmp_path / "tunables" / "global").write_text(
        "include <tunables/home>\n@{etc_ro}=/etc/ /usr/etc/\n"
    )
    (tmp_path / "tunables" / "home").write_text(
        "@{HOMEDIRS}=/home/\n@{HOME}=@{HOMEDIRS}/*/ /root/\n"
    )
    ab = tmp_path / "abstractions"
    ab.mkdir()
    (ab / "names").write_text(
        "  # comment\n  @{etc_ro}/hosts r,\n  @{etc_ro}/passwd r,\n  include <abstractions/net>\n"
    )
    (ab / "net").write_text("  network inet dgram,\n  capability net_bind_service,\n")
    (ab / "helpers").write_text(
        "  owner @{HOME}/.cache/** rw,\n  deny /etc/shadow r,\n"
        "  profile nested {\n    /** rwk,\n  }\n"
    )
    return Policy.load(tmp_path)


class TestAbstractions:
    def test_variables_expand(self, tiny_policy: Policy) -> None:
        """Variables are expanded (unlike aa-logprof), so @{etc_ro}/hosts covers /etc/hosts."""
        assert ["names"] == tiny_policy.covering(R.FILE, paths=["/etc/hosts"],
                                                 perms=frozenset("r"))
        assert tiny_policy.matches("@{HOME}/x", "/root/x")
        assert tiny_policy.matches("@{HOME}/x", "/home/u/x")

    def test_includes_followed(self, tiny_policy: Policy) -> None:
        """Rules of included abstractions count for the including one."""
        assert ["names", "net"] == tiny_policy.covering(R.CAPABILITY, cap="net_bind_service")
        assert ["names", "net"] == tiny_policy.covering(R.NETWORK, network=("inet", "dgram"))

    def test_owner_deny_and_nested_blocks(self, tiny_policy: Policy) -> None:
        """Owner rules cover only owner accesses; deny rules and nested profiles never cover."""
        cache = ["/home/u/.cache/x"]
        assert ["helpers"] == tiny_policy.covering(R.FILE, paths=cache, perms=frozenset("w"),
                                                   owner=True)
        assert [] == tiny_policy.covering(R.FILE, paths=cache, perms=frozenset("w"))
        assert [] == tiny_policy.covering(R.FILE, paths=["/etc/shadow"], perms=frozenset("r"))
        assert [] == tiny_policy.covering(R.FILE, paths=["/srv/x"], perms=frozenset("r"))

    @pytest.mark.skipif(not Path("/etc/apparmor.d/abstractions/nameservice").is_file(),
                        reason="the apparmor package's abstractions are not installed")
    def test_installed_nameservice(self) -> None:
        """The installed nameservice abstraction covers /etc/hosts and /etc/passwd reads."""
        pol = Policy.load(Path("/etc/apparmor.d"))
        got = pol.covering(R.FILE, paths=["/etc/hosts", "/etc/passwd"], perms=frozenset("r"))
        assert "nameservice" in got


@pytest.mark.integration
@needs_parser
class TestValidate:
    def test_bisect_finds_exactly_the_bad_ones(self) -> None:
        """A batch with two bad snippets reports errors at exactly those positions."""
        assert PARSER is not None
        bodies = ["  capability chown,", "  /etc/shadow rr", "  /tmp/x r,",
                  "  capability not_a_cap,", "  network inet stream,"]
        got = PARSER.check(bodies)
        assert [False, True, False, True, False] == [e is not None for e in got]

    def test_newer_syntax_rejected_by_debian_parser(self) -> None:
        """Debian's 3.0.8 parser rejects userns/io_uring and network access lists."""
        assert PARSER is not None
        if "3.0" not in PARSER.version():
            pytest.skip("only meaningful for the 3.0.x parser")
        got = PARSER.check(["  userns create,", "  io_uring sqpoll,",
                            "  network (create) inet stream,"])
        assert [True, True, True] == [e is not None for e in got]

    def test_escaped_tokens_compile(self) -> None:
        """Every escaping/quoting form we emit is accepted by the parser."""
        assert PARSER is not None
        names = ["/srv/[a]/b*c{1}?!.txt", "/tmp/my doc.txt", '/a"b', "/a\\b", "/tmp/a\nb",
                 "/home/alice/Müsik/song.mp3", "/tmp/a\u202eb", "/x, /** rwx", "/t\tab"]
        bodies = [f"  {R.path_token(n)} r," for n in names]
        assert [None] * len(names) == PARSER.check(bodies)


_component = st.text(
    alphabet=st.characters(blacklist_characters="/\x00", blacklist_categories=("Cs",)),
    min_size=1, max_size=12,
)
_paths = st.lists(_component, min_size=1, max_size=5).map(lambda c: "/" + "/".join(c))
_shaped = st.sampled_from([
    "/proc/{n}/status", "/home/u{n}/.cache/x", "/run/user/{n}/bus", "/tmp/tmpA{n}bC9x",
    "/usr/lib/libz.so.{n}.2", "/var/lib/x/{n}/3f2a9c1e-1b2c-4d5e-8f90-1234567890ab",
]).flatmap(lambda f: st.integers(1, 99999).map(lambda n: f.format(n=n)))


@pytest.mark.skipif(not Path("/etc/apparmor.d/tunables/global").is_file(),
                    reason="the apparmor package's tunables are not installed")
class TestGeneralizeCovers:
    @given(st.one_of(_paths, _shaped), st.booleans())
    def test_narrow_matches_original(self, path: str, owner: bool) -> None:
        """The generalised pattern always allows the path it came from."""
        pol = Policy.load(Path("/etc/apparmor.d"))
        assert pol.matches(generalize.narrow(path, owner).pattern, path)

    @given(st.lists(_paths, min_size=3, max_size=8))
    def test_broader_matches_all(self, paths: list[str]) -> None:
        """A broader option, when offered, allows every path it was built from."""
        got = generalize.broader(paths)
        if got is not None:
            assert all(R.path_matches(got[0], p) for p in paths)


@pytest.mark.integration
@needs_parser
class TestEscapingCompiles:
    @settings(max_examples=5, deadline=None)
    @given(st.lists(_paths, min_size=20, max_size=40))
    def test_random_names_compile_and_match(self, paths: list[str]) -> None:
        """Random names (any Unicode, quotes, globs, controls) compile as escaped file rules."""
        assert PARSER is not None
        bodies = [f"  {R.path_token(p)} r," for p in paths]
        assert [None] * len(paths) == PARSER.check(bodies)

    @pytest.mark.parametrize(
        "make",
        [
            lambda t: f"  {t} r,",
            lambda t: f"  signal send set=term peer={t},",
            lambda t: f"  ptrace read peer={t},",
            # unix rules take abstract addresses (pathname sockets are file rules)
            lambda t: f"  unix (connect) type=stream peer=(addr={t.replace('/', '@', 1)}),",
            lambda t: f"  dbus send bus=system path={t} member={t} peer=(label={t}),",
            lambda t: f"  mount fstype=ext4 {t} -> {t},",
            lambda t: f"  pivot_root oldroot={t} {t},",
            lambda t: f"  change_profile -> {t},",
        ],
        ids=["file", "signal", "ptrace", "unix", "dbus", "mount", "pivot_root", "change_profile"],
    )
    def test_hostile_values_in_every_position(self, make: Any) -> None:
        """500 random hostile names compile as escaped values in each rule type."""
        assert PARSER is not None
        rnd = random.Random(7)
        alpha = [chr(c) for c in range(1, 0x7F)] + list("\\\\\"\"\u00a0é\u202e\u200b中😀\ufeff\x85")
        names = ["/" + "".join(rnd.choice(alpha) for _ in range(rnd.randint(1, 15)))
                 for _ in range(500)]
        bodies = [make(R.path_token(n)) for n in names]
        assert [] == [b for b, e in zip(bodies, PARSER.check(bodies), strict=True) if e]
